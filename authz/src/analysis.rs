//! Questions an operator asks of a policy: what may this user do here, who may do this,
//! may this user write this role or binding without escalating.

use std::collections::BTreeSet;
use std::fmt;

use rampart_core::{Attributes, Authorizer, ResourceAttributes, UserInfo};
use serde::Serialize;

use crate::policy::{
    ClusterRole, ClusterRoleBinding, Policy, PolicyRule, RBAC_GROUP, Role, RoleBinding, RoleRef,
    Subject,
};
use crate::resolve::{Visit, aggregate_errors, go_quote, role_rules, visit_bindings};
use crate::rules::rule_allows;

/// The group the apiserver lets do anything before RBAC is asked.
pub const PRIVILEGED_GROUP: &str = "system:masters";

/// The rules that apply to a user in a namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RulesFor {
    /// Every rule of every binding that applies, in visiting order (duplicates kept).
    pub rules: Vec<PolicyRule>,
    /// Bindings that apply but whose role does not resolve, as the apiserver words it.
    pub errors: Vec<String>,
}

/// One subject that may make a request, and the binding through which it may.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Grantee {
    /// The subject, with a service account's namespace filled in from its RoleBinding.
    pub subject: Subject,
    /// `ClusterRoleBinding` or `RoleBinding`.
    pub binding_kind: &'static str,
    /// The binding's name.
    pub binding_name: String,
    /// The binding's namespace (empty for a ClusterRoleBinding).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub binding_namespace: String,
    /// The role granted.
    pub role: RoleRef,
}

/// Who may make a request, as Kubernetes' `SubjectAccessEvaluator.AllowedSubjects` finds them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WhoCan {
    /// The subjects, with the binding that grants each, sorted and without duplicates.
    pub grantees: Vec<Grantee>,
    /// Role references that did not resolve.
    pub errors: Vec<String>,
}

/// Why writing a role or binding would be refused by the apiserver's escalation check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EscalationDenied {
    /// The apiserver's message.
    pub message: String,
    /// The permissions the user lacks (one verb, group, resource and name each).
    pub missing: Vec<PolicyRule>,
}

impl fmt::Display for EscalationDenied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EscalationDenied {}

/// Whether an RBAC write creates the object or updates one that exists: the apiserver's
/// `escalate` check names the object only on update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOperation {
    /// A POST to the collection: the request names no object.
    Create,
    /// A PUT or PATCH of a named object (including a create-on-update: a PUT or
    /// server-side apply of an object that does not exist yet names it too).
    Update,
}

/// An RBAC object someone wants to create or update.
#[derive(Clone, Copy, Debug)]
pub enum RbacWrite<'a> {
    /// A Role.
    Role(&'a Role),
    /// A ClusterRole.
    ClusterRole(&'a ClusterRole),
    /// A RoleBinding.
    RoleBinding(&'a RoleBinding),
    /// A ClusterRoleBinding.
    ClusterRoleBinding(&'a ClusterRoleBinding),
}

impl Policy {
    /// Every rule that applies to `user` in `namespace` (`RulesFor`): cluster-wide rules,
    /// plus the namespace's when `namespace` is not empty. What `kubectl auth can-i --list`
    /// shows.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> RulesFor {
        let mut found = RulesFor::default();
        visit_bindings(self, user, namespace, |visit| {
            match visit {
                Visit::Rules(_, rules) => found.rules.extend(rules.iter().cloned()),
                Visit::Error(error) => found.errors.push(error),
            }
            true
        });
        found
    }

    /// Every subject bound to a role that allows `request`: ClusterRoleBindings, and for a
    /// namespaced request the RoleBindings of its namespace. `system:masters` is not listed:
    /// it is not RBAC.
    pub fn who_can(&self, request: &Attributes) -> WhoCan {
        let mut grantees = BTreeSet::new();
        let mut errors = Vec::new();
        let mut consider = |rules: Result<&[PolicyRule], String>,
                            subjects: &[Subject],
                            kind: &'static str,
                            name: &str,
                            namespace: &str,
                            role: &RoleRef| {
            match rules {
                Err(error) => errors.push(error),
                Ok(rules) => {
                    if rules.iter().any(|rule| rule_allows(request, rule)) {
                        for subject in subjects {
                            let mut subject = subject.clone();
                            if subject.kind == Subject::SERVICE_ACCOUNT
                                && subject.namespace.is_empty()
                            {
                                namespace.clone_into(&mut subject.namespace);
                            }
                            grantees.insert(Grantee {
                                subject,
                                binding_kind: kind,
                                binding_name: name.to_owned(),
                                binding_namespace: namespace.to_owned(),
                                role: role.clone(),
                            });
                        }
                    }
                }
            }
        };
        for binding in self.cluster_role_bindings() {
            let rules = role_rules(self, &binding.role_ref, "");
            consider(
                rules,
                &binding.subjects,
                "ClusterRoleBinding",
                &binding.name,
                "",
                &binding.role_ref,
            );
        }
        let namespace = request.namespace();
        if !namespace.is_empty() {
            for binding in self.role_bindings_in(namespace) {
                let rules = role_rules(self, &binding.role_ref, namespace);
                consider(
                    rules,
                    &binding.subjects,
                    "RoleBinding",
                    &binding.name,
                    namespace,
                    &binding.role_ref,
                );
            }
        }
        WhoCan {
            grantees: grantees.into_iter().collect(),
            errors,
        }
    }

    /// Whether `user` holds every permission in `rules` in `namespace`
    /// (`ConfirmNoEscalation`).
    ///
    /// # Errors
    /// The permissions it lacks, in the apiserver's words.
    pub fn confirm_no_escalation(
        &self,
        user: &UserInfo,
        namespace: &str,
        rules: &[PolicyRule],
    ) -> Result<(), EscalationDenied> {
        let owned = self.rules_for(user, namespace);
        let missing = uncovered(&owned.rules, rules);
        if missing.is_empty() {
            return Ok(());
        }
        let descriptions: BTreeSet<String> = missing.iter().map(compact_string).collect();
        let mut message = format!(
            "user {} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
            go_quote(&user.username),
            go_quote_list(&user.groups),
            descriptions.into_iter().collect::<Vec<_>>().join("\n")
        );
        if !owned.errors.is_empty() {
            message.push_str(&format!(
                "; resolution errors: [{}]",
                aggregate_errors(&owned.errors)
            ));
        }
        Err(EscalationDenied { message, missing })
    }

    /// Whether the apiserver would let `user` create or update `object`, as its RBAC
    /// storage does: members of `system:masters` may when `privileged_group` is honoured;
    /// so may a user the `authorizer` allows to `escalate` (roles) or `bind` (bindings) it;
    /// otherwise the user must already hold every permission the object grants.
    ///
    /// # Errors
    /// Why the write would be refused.
    ///
    /// The `escalate` check names the object as the request does, as the apiserver's
    /// `RoleEscalationAuthorized` takes the name from the request info: empty on create
    /// (a POST to the collection), the object's name on update. So an `escalate` grant
    /// scoped by `resourceNames` lets its holder update those roles — and create them
    /// through an update (a PUT or server-side apply of a missing role, which RBAC
    /// objects allow), since that request names the object — but never POST them.
    /// The `bind` check names the referenced role, as `BindingAuthorized` does.
    pub fn may_write(
        &self,
        authorizer: &dyn Authorizer,
        user: &UserInfo,
        object: RbacWrite<'_>,
        operation: WriteOperation,
        honour_privileged_group: bool,
    ) -> Result<String, EscalationDenied> {
        if honour_privileged_group && user.in_group(PRIVILEGED_GROUP) {
            return Ok(format!("member of {PRIVILEGED_GROUP}"));
        }
        let request_name = |name: &'_ str| -> String {
            match operation {
                WriteOperation::Create => String::new(),
                WriteOperation::Update => name.to_owned(),
            }
        };
        let (verb, resource, namespace, name) = match object {
            RbacWrite::Role(role) => (
                "escalate",
                "roles",
                role.namespace.as_str(),
                request_name(&role.name),
            ),
            RbacWrite::ClusterRole(role) => {
                ("escalate", "clusterroles", "", request_name(&role.name))
            }
            RbacWrite::RoleBinding(binding) => bind_target(&binding.role_ref, &binding.namespace),
            RbacWrite::ClusterRoleBinding(binding) => bind_target(&binding.role_ref, ""),
        };
        let name = name.as_str();
        let special = Attributes::Resource(ResourceAttributes {
            namespace: namespace.to_owned(),
            verb: verb.to_owned(),
            group: RBAC_GROUP.to_owned(),
            resource: resource.to_owned(),
            name: name.to_owned(),
            ..ResourceAttributes::default()
        });
        let decision = authorizer.authorize(user, &special);
        if decision.is_allowed() && !resource.is_empty() {
            return Ok(format!("allowed to {verb} {resource} {}", go_quote(name)));
        }
        match object {
            RbacWrite::Role(role) => self
                .confirm_no_escalation(user, &role.namespace, &role.rules)
                .map(|()| held()),
            RbacWrite::ClusterRole(role) => {
                self.confirm_no_escalation(user, "", &role.rules)?;
                if role.aggregation.is_some() {
                    let full_authority = [
                        PolicyRule::resource(["*"], ["*"], ["*"]),
                        PolicyRule::non_resource(["*"], ["*"]),
                    ];
                    self.confirm_no_escalation(user, "", &full_authority)
                        .map_err(|denied| EscalationDenied {
                            message:
                                "must have cluster-admin privileges to use the aggregationRule"
                                    .to_owned(),
                            missing: denied.missing,
                        })?;
                }
                Ok(held())
            }
            RbacWrite::RoleBinding(binding) => {
                self.binding_escalation(user, &binding.role_ref, &binding.namespace)
            }
            RbacWrite::ClusterRoleBinding(binding) => {
                self.binding_escalation(user, &binding.role_ref, "")
            }
        }
    }

    fn binding_escalation(
        &self,
        user: &UserInfo,
        role_ref: &RoleRef,
        namespace: &str,
    ) -> Result<String, EscalationDenied> {
        let rules = role_rules(self, role_ref, namespace).map_err(|message| EscalationDenied {
            message,
            missing: Vec::new(),
        })?;
        self.confirm_no_escalation(user, namespace, rules)
            .map(|()| held())
    }
}

fn held() -> String {
    "already holds every permission granted".to_owned()
}

/// The `bind` check of a binding: (verb, resource, namespace, name); an unknown role kind
/// gets an empty resource, which no authorizer is asked about.
fn bind_target<'a>(
    role_ref: &'a RoleRef,
    namespace: &'a str,
) -> (&'static str, &'static str, &'a str, String) {
    let resource = match role_ref.kind.as_str() {
        "ClusterRole" => "clusterroles",
        "Role" => "roles",
        _ => "",
    };
    ("bind", resource, namespace, role_ref.name.clone())
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| go_quote(item)).collect();
    format!("[{}]", quoted.join(" "))
}

/// `rbacv1helpers.CompactString`.
fn compact_string(rule: &PolicyRule) -> String {
    let mut parts = Vec::new();
    for (label, values) in [
        ("APIGroups", &rule.api_groups),
        ("Resources", &rule.resources),
        ("NonResourceURLs", &rule.non_resource_urls),
        ("ResourceNames", &rule.resource_names),
        ("Verbs", &rule.verbs),
    ] {
        if !values.is_empty() {
            parts.push(format!("{label}:{}", go_quote_list(values)));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

/// `BreakdownRule`: one verb, group, resource and name per rule.
fn breakdown(rule: &PolicyRule) -> Vec<PolicyRule> {
    let mut subrules = Vec::new();
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for verb in &rule.verbs {
                let base = PolicyRule {
                    verbs: vec![verb.clone()],
                    api_groups: vec![group.clone()],
                    resources: vec![resource.clone()],
                    ..PolicyRule::default()
                };
                if rule.resource_names.is_empty() {
                    subrules.push(base);
                } else {
                    for name in &rule.resource_names {
                        subrules.push(PolicyRule {
                            resource_names: vec![name.clone()],
                            ..base.clone()
                        });
                    }
                }
            }
        }
    }
    for url in &rule.non_resource_urls {
        for verb in &rule.verbs {
            subrules.push(PolicyRule {
                verbs: vec![verb.clone()],
                non_resource_urls: vec![url.clone()],
                ..PolicyRule::default()
            });
        }
    }
    subrules
}

fn has(set: &[String], item: &str) -> bool {
    set.iter().any(|s| s == item)
}

fn has_all(set: &[String], items: &[String]) -> bool {
    items.iter().all(|item| has(set, item))
}

fn resource_covers_all(owner: &[String], requested: &[String]) -> bool {
    if has(owner, "*") || has_all(owner, requested) {
        return true;
    }
    requested.iter().all(|path| {
        has(owner, path)
            || path
                .split_once('/')
                .is_some_and(|(_, sub)| has(owner, &format!("*/{sub}")))
    })
}

fn non_resource_urls_cover_all(owner: &[String], requested: &[String]) -> bool {
    requested.iter().all(|path| {
        owner
            .iter()
            .any(|pattern| pattern == path || crate::rules::url_prefix_matches(pattern, path))
    })
}

/// `ruleCovers` from `policy_comparator.go`.
fn rule_covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let verbs = has(&owner.verbs, "*") || has_all(&owner.verbs, &sub.verbs);
    let groups = has(&owner.api_groups, "*") || has_all(&owner.api_groups, &sub.api_groups);
    let resources = resource_covers_all(&owner.resources, &sub.resources);
    let urls = non_resource_urls_cover_all(&owner.non_resource_urls, &sub.non_resource_urls);
    let names = if sub.resource_names.is_empty() {
        owner.resource_names.is_empty()
    } else {
        owner.resource_names.is_empty() || has_all(&owner.resource_names, &sub.resource_names)
    };
    verbs && groups && resources && names && urls
}

/// `validation.Covers`: the broken-down requested rules that no owner rule covers.
pub(crate) fn uncovered(owner: &[PolicyRule], requested: &[PolicyRule]) -> Vec<PolicyRule> {
    requested
        .iter()
        .flat_map(breakdown)
        .filter(|sub| !owner.iter().any(|rule| rule_covers(rule, sub)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from Kubernetes' `policy_comparator_test.go`, the ones that exercise each branch.
    #[test]
    fn covers_semantics() {
        let owner = [PolicyRule::resource(["*"], ["*"], ["*"])];
        assert!(
            uncovered(
                &owner,
                &[PolicyRule::resource(["get"], ["apps"], ["deployments"]).with_names(["x"])]
            )
            .is_empty()
        );
        // A wildcard resource rule does not cover non-resource URLs.
        assert_eq!(
            uncovered(&owner, &[PolicyRule::non_resource(["get"], ["/healthz"])]).len(),
            1
        );

        let owner = [PolicyRule::resource(["get", "list"], [""], ["pods"])];
        let missing = uncovered(
            &owner,
            &[PolicyRule::resource(
                ["get", "delete"],
                [""],
                ["pods", "pods/log"],
            )],
        );
        assert_eq!(missing.len(), 3, "{missing:?}");

        // `*/scale` covers `deployments/scale`; names: unrestricted owner covers named.
        let owner = [PolicyRule::resource(["get"], ["apps"], ["*/scale"])];
        assert!(
            uncovered(
                &owner,
                &[
                    PolicyRule::resource(["get"], ["apps"], ["deployments/scale"])
                        .with_names(["web"])
                ]
            )
            .is_empty()
        );
        // A named owner rule does not cover an unnamed request.
        let owner = [PolicyRule::resource(["get"], [""], ["secrets"]).with_names(["a"])];
        assert_eq!(
            uncovered(&owner, &[PolicyRule::resource(["get"], [""], ["secrets"])]).len(),
            1
        );
        assert!(
            uncovered(
                &owner,
                &[PolicyRule::resource(["get"], [""], ["secrets"]).with_names(["a"])]
            )
            .is_empty()
        );
        // Non-resource prefixes.
        let owner = [PolicyRule::non_resource(["get"], ["/api/*"])];
        assert!(
            uncovered(
                &owner,
                &[PolicyRule::non_resource(["get"], ["/api/v1", "/api/*"])]
            )
            .is_empty()
        );
        assert_eq!(
            uncovered(&owner, &[PolicyRule::non_resource(["get"], ["/api"])]).len(),
            1
        );
    }

    #[test]
    fn compact_string_matches_go() {
        let rule = PolicyRule::resource(["get", "list"], [""], ["pods"]);
        assert_eq!(
            compact_string(&rule),
            r#"{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}"#
        );
    }
}
