//! The compiled policy: Kubernetes' RBAC decisions in well under a microsecond.
//!
//! The apiserver visits every ClusterRoleBinding and every RoleBinding of the namespace for
//! each request. The index instead looks up the bindings of the request's user and groups
//! (by name, per scope), and inside each bound role only the rules filed under one of the
//! request's (API group, resource) keys. The final word on every candidate rule is
//! [`rule_allows`](crate::rule_allows), the same function the reference scan uses, so the
//! index can only differ from Kubernetes by missing a candidate, which the property tests
//! against [`ScanAuthorizer`](crate::ScanAuthorizer) look for.

use std::sync::Arc;

use rampart_core::{Attributes, Authorizer, Decision, ResourceAttributes, UserInfo};
use rustc_hash::FxHashMap;

use crate::policy::{ClusterRoleBinding, Policy, PolicyRule, RoleBinding, Subject};
use crate::resolve::{Source, aggregate_errors, applies_to, role_rules, service_account_username};
use crate::rules::{ALL, combined_resource, resource_rule_allows, rule_allows};

/// Kubernetes' RBAC authorizer over a compiled index of a [`Policy`].
///
/// Decisions and their reasons are those of the kube-apiserver's RBAC authorizer
/// (`RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to Group "z"`); anything not
/// allowed is [`Decision::NoOpinion`], which a caller denies unless another authorizer
/// allows. It answers for RBAC only: `system:masters` and the Node authorizer are not RBAC.
/// Cloning is cheap; the index is immutable and shared.
#[derive(Clone, Debug)]
pub struct RbacAuthorizer {
    index: Arc<Index>,
}

impl RbacAuthorizer {
    /// Compiles `policy` as given (aggregate it first if it came from manifests).
    pub fn new(policy: &Policy) -> Self {
        RbacAuthorizer {
            index: Arc::new(Index::build(policy)),
        }
    }

    /// Figures about the compiled index, for capacity planning.
    pub fn stats(&self) -> IndexStats {
        self.index.stats()
    }
}

impl Authorizer for RbacAuthorizer {
    fn authorize(&self, user: &UserInfo, request: &Attributes) -> Decision {
        self.index.decide(user, request)
    }
}

/// Sizes of a compiled index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IndexStats {
    /// Distinct roles compiled.
    pub roles: usize,
    /// Bindings indexed.
    pub bindings: usize,
    /// (subject, binding) pairs across all scopes.
    pub subject_entries: usize,
    /// (API group, resource) keys filed across all roles.
    pub rule_keys: usize,
}

/// A binding as the index keeps it.
#[derive(Debug)]
enum Binding {
    Cluster(ClusterRoleBinding),
    Namespaced(RoleBinding),
}

impl Binding {
    fn subjects(&self) -> &[Subject] {
        match self {
            Binding::Cluster(binding) => &binding.subjects,
            Binding::Namespaced(binding) => &binding.subjects,
        }
    }

    fn namespace(&self) -> &str {
        match self {
            Binding::Cluster(_) => "",
            Binding::Namespaced(binding) => &binding.namespace,
        }
    }

    /// The allow reason for each subject, as the apiserver words it; computed once at
    /// build time so that a decision only copies it.
    fn reasons(&self) -> Vec<String> {
        self.subjects()
            .iter()
            .map(|subject| {
                let source = match self {
                    Binding::Cluster(binding) => Source::Cluster(binding, subject),
                    Binding::Namespaced(binding) => Source::Namespaced(binding, subject),
                };
                format!("RBAC: allowed by {source}")
            })
            .collect()
    }
}

/// A role's rules, filed by (API group id, resource id) for lookup.
#[derive(Debug, Default)]
struct CompiledRole {
    rules: Vec<PolicyRule>,
    by_key: FxHashMap<u64, Vec<u32>>,
    non_resource: Vec<u32>,
}

/// The bindings that name each subject, in one scope.
#[derive(Debug, Default)]
struct Scope {
    by_user: FxHashMap<Box<str>, Vec<u32>>,
    by_group: FxHashMap<Box<str>, Vec<u32>>,
}

impl Scope {
    fn add(&mut self, subject: &Subject, binding_namespace: &str, binding: u32) {
        let (map, key) = match subject.kind.as_str() {
            Subject::USER => (&mut self.by_user, subject.name.clone()),
            Subject::GROUP => (&mut self.by_group, subject.name.clone()),
            Subject::SERVICE_ACCOUNT => {
                let namespace = if subject.namespace.is_empty() {
                    binding_namespace
                } else {
                    &subject.namespace
                };
                if namespace.is_empty() {
                    return;
                }
                (
                    &mut self.by_user,
                    service_account_username(namespace, &subject.name),
                )
            }
            _ => return,
        };
        let bindings = map.entry(key.into_boxed_str()).or_default();
        if bindings.last() != Some(&binding) {
            bindings.push(binding);
        }
    }

    /// The bindings of `user` in this scope, in binding order, possibly repeated.
    fn bindings_of<'a>(&'a self, user: &'a UserInfo) -> impl Iterator<Item = u32> + 'a {
        let own = self.by_user.get(user.username.as_str());
        let groups = user
            .groups
            .iter()
            .filter_map(|group| self.by_group.get(group.as_str()));
        own.into_iter().chain(groups).flatten().copied()
    }
}

#[derive(Debug, Default)]
struct Index {
    bindings: Vec<Binding>,
    /// Per binding: the compiled role it grants, or the apiserver's resolution error.
    grants: Vec<Result<u32, String>>,
    /// Per binding, per subject: the reason an allowed decision gives.
    reasons: Vec<Vec<String>>,
    roles: Vec<CompiledRole>,
    cluster: Scope,
    namespaces: FxHashMap<Box<str>, Scope>,
    group_ids: FxHashMap<Box<str>, u32>,
    resource_ids: FxHashMap<Box<str>, u32>,
    /// Resource ids of `*/SUB` entries, keyed by SUB.
    any_resource_sub_ids: FxHashMap<Box<str>, u32>,
}

/// Compiled roles by (kind, namespace, name).
type RoleIds<'p> = FxHashMap<(&'p str, &'p str, &'p str), u32>;

fn key(group: u32, resource: u32) -> u64 {
    (u64::from(group) << 32) | u64::from(resource)
}

fn intern(table: &mut FxHashMap<Box<str>, u32>, text: &str) -> u32 {
    let next = u32::try_from(table.len()).unwrap_or(u32::MAX);
    *table.entry(text.into()).or_insert(next)
}

impl Index {
    fn build(policy: &Policy) -> Index {
        let mut index = Index::default();
        let mut role_ids: RoleIds<'_> = FxHashMap::default();
        for binding in policy.cluster_role_bindings() {
            let grant = index.compile_grant(policy, &mut role_ids, &binding.role_ref, "");
            index.add_binding(Binding::Cluster(binding.clone()), grant);
        }
        for binding in policy.effective_role_bindings() {
            let grant =
                index.compile_grant(policy, &mut role_ids, &binding.role_ref, &binding.namespace);
            index.add_binding(Binding::Namespaced(binding.clone()), grant);
        }
        index
    }

    /// Resolves a role reference as the apiserver would and compiles the role once.
    fn compile_grant<'p>(
        &mut self,
        policy: &'p Policy,
        role_ids: &mut RoleIds<'p>,
        role_ref: &'p crate::policy::RoleRef,
        binding_namespace: &'p str,
    ) -> Result<u32, String> {
        let rules = role_rules(policy, role_ref, binding_namespace)?;
        let role_namespace = if role_ref.kind == "Role" {
            binding_namespace
        } else {
            ""
        };
        let role_key = (
            role_ref.kind.as_str(),
            role_namespace,
            role_ref.name.as_str(),
        );
        if let Some(&id) = role_ids.get(&role_key) {
            return Ok(id);
        }
        let id = u32::try_from(self.roles.len()).unwrap_or(u32::MAX);
        let compiled = self.compile_role(rules);
        self.roles.push(compiled);
        role_ids.insert(role_key, id);
        Ok(id)
    }

    fn compile_role(&mut self, rules: &[PolicyRule]) -> CompiledRole {
        let mut role = CompiledRole {
            rules: rules.to_vec(),
            ..CompiledRole::default()
        };
        for (position, rule) in rules.iter().enumerate() {
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            if !rule.non_resource_urls.is_empty() {
                role.non_resource.push(position);
            }
            for group in &rule.api_groups {
                let group_id = intern(&mut self.group_ids, group);
                for resource in &rule.resources {
                    let resource_id = intern(&mut self.resource_ids, resource);
                    if let Some(sub) = resource.strip_prefix("*/") {
                        self.any_resource_sub_ids.insert(sub.into(), resource_id);
                    }
                    let filed = role.by_key.entry(key(group_id, resource_id)).or_default();
                    if filed.last() != Some(&position) {
                        filed.push(position);
                    }
                }
            }
        }
        role
    }

    fn add_binding(&mut self, binding: Binding, grant: Result<u32, String>) {
        let id = u32::try_from(self.bindings.len()).unwrap_or(u32::MAX);
        let namespace = binding.namespace().to_owned();
        let scope = if namespace.is_empty() {
            &mut self.cluster
        } else {
            self.namespaces.entry(namespace.clone().into()).or_default()
        };
        for subject in binding.subjects() {
            scope.add(subject, &namespace, id);
        }
        self.reasons.push(binding.reasons());
        self.bindings.push(binding);
        self.grants.push(grant);
    }

    fn decide(&self, user: &UserInfo, request: &Attributes) -> Decision {
        let namespace_scope = match request.namespace() {
            "" => None,
            namespace => self.namespaces.get(namespace),
        };
        let bindings = self.cluster.bindings_of(user).chain(
            namespace_scope
                .into_iter()
                .flat_map(|scope| scope.bindings_of(user)),
        );
        let resource_keys = match request {
            Attributes::Resource(resource) => {
                let combined = combined_resource(resource);
                let keys = self.lookup_keys(resource, &combined);
                Some((resource, combined, keys))
            }
            Attributes::NonResource(_) => None,
        };
        let role_allows = |role: u32| match &resource_keys {
            Some((resource, combined, keys)) => {
                self.resource_allowed(role, keys, resource, combined)
            }
            None => self.non_resource_allowed(role, request),
        };
        let mut failed: Vec<u32> = Vec::new();
        for binding in bindings {
            match self.grants.get(binding as usize) {
                Some(Ok(role)) if role_allows(*role) => return self.allow(binding, user),
                Some(Err(_)) => failed.push(binding),
                _ => {}
            }
        }
        self.no_opinion(failed)
    }

    /// The (group, resource) keys under which a rule allowing `request` must be filed:
    /// groups {request group, `*`} × resources {combined, `*`, `*/SUB`}.
    fn lookup_keys(&self, request: &ResourceAttributes, combined: &str) -> Vec<u64> {
        let groups = [
            self.group_ids.get(request.group.as_str()),
            self.group_ids.get(ALL),
        ];
        let resources = [
            self.resource_ids.get(combined),
            self.resource_ids.get(ALL),
            if request.subresource.is_empty() {
                None
            } else {
                self.any_resource_sub_ids.get(request.subresource.as_str())
            },
        ];
        let mut keys = Vec::with_capacity(6);
        for group in groups.into_iter().flatten() {
            for resource in resources.into_iter().flatten() {
                let candidate = key(*group, *resource);
                if !keys.contains(&candidate) {
                    keys.push(candidate);
                }
            }
        }
        keys
    }

    fn resource_allowed(
        &self,
        role: u32,
        keys: &[u64],
        request: &ResourceAttributes,
        combined: &str,
    ) -> bool {
        let Some(role) = self.roles.get(role as usize) else {
            return false;
        };
        keys.iter()
            .filter_map(|key| role.by_key.get(key))
            .flatten()
            .filter_map(|position| role.rules.get(*position as usize))
            .any(|rule| resource_rule_allows(request, combined, rule))
    }

    fn non_resource_allowed(&self, role: u32, request: &Attributes) -> bool {
        let Some(role) = self.roles.get(role as usize) else {
            return false;
        };
        role.non_resource
            .iter()
            .filter_map(|position| role.rules.get(*position as usize))
            .any(|rule| rule_allows(request, rule))
    }

    /// Allows, naming the binding and its first subject that matches `user` (`appliesTo`).
    fn allow(&self, binding: u32, user: &UserInfo) -> Decision {
        let reason = self.bindings.get(binding as usize).and_then(|b| {
            let subject = applies_to(user, b.subjects(), b.namespace())?;
            self.reasons.get(binding as usize)?.get(subject)
        });
        Decision::Allow(
            reason
                .cloned()
                .unwrap_or_else(|| "RBAC: allowed".to_owned()),
        )
    }

    fn no_opinion(&self, mut failed: Vec<u32>) -> Decision {
        if failed.is_empty() {
            return Decision::NoOpinion(String::new());
        }
        failed.sort_unstable();
        failed.dedup();
        let errors: Vec<String> = failed
            .iter()
            .filter_map(|binding| self.grants.get(*binding as usize)?.as_ref().err().cloned())
            .collect();
        Decision::NoOpinion(format!("RBAC: {}", aggregate_errors(&errors)))
    }

    fn stats(&self) -> IndexStats {
        let scope_entries = |scope: &Scope| -> usize {
            scope
                .by_user
                .values()
                .chain(scope.by_group.values())
                .map(Vec::len)
                .sum()
        };
        IndexStats {
            roles: self.roles.len(),
            bindings: self.bindings.len(),
            subject_entries: scope_entries(&self.cluster)
                + self.namespaces.values().map(scope_entries).sum::<usize>(),
            rule_keys: self.roles.iter().map(|role| role.by_key.len()).sum(),
        }
    }
}
