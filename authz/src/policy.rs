//! The RBAC objects as the authorizer sees them, converted once from k8s-openapi's types.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1 as rbac;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use serde::Serialize;

/// The API group of the RBAC objects.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// One rule of a role: Kubernetes' `PolicyRule`, with absent lists read as empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// Verbs; `*` means all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verbs: Vec<String>,
    /// API groups; `""` is the core group, `*` all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// Resources, `resource/subresource`, `*/subresource` or `*`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Object names the rule is limited to; empty means any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Non-resource URL paths; a trailing `*` is a prefix match.
    #[serde(rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

impl PolicyRule {
    /// A resource rule.
    pub fn resource<const V: usize, const G: usize, const R: usize>(
        verbs: [&str; V],
        api_groups: [&str; G],
        resources: [&str; R],
    ) -> Self {
        PolicyRule {
            verbs: verbs.map(str::to_owned).to_vec(),
            api_groups: api_groups.map(str::to_owned).to_vec(),
            resources: resources.map(str::to_owned).to_vec(),
            ..PolicyRule::default()
        }
    }

    /// A non-resource rule.
    pub fn non_resource<const V: usize, const U: usize>(verbs: [&str; V], urls: [&str; U]) -> Self {
        PolicyRule {
            verbs: verbs.map(str::to_owned).to_vec(),
            non_resource_urls: urls.map(str::to_owned).to_vec(),
            ..PolicyRule::default()
        }
    }

    /// Limits the rule to these object names.
    pub fn with_names<const N: usize>(mut self, names: [&str; N]) -> Self {
        self.resource_names = names.map(str::to_owned).to_vec();
        self
    }
}

impl From<&rbac::PolicyRule> for PolicyRule {
    fn from(rule: &rbac::PolicyRule) -> Self {
        PolicyRule {
            verbs: rule.verbs.clone(),
            api_groups: rule.api_groups.clone().unwrap_or_default(),
            resources: rule.resources.clone().unwrap_or_default(),
            resource_names: rule.resource_names.clone().unwrap_or_default(),
            non_resource_urls: rule.non_resource_urls.clone().unwrap_or_default(),
        }
    }
}

/// Who a binding grants to: Kubernetes' `Subject`, after API defaulting.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount` (compared case-sensitively; others never match).
    pub kind: String,
    /// The user, group or service account name.
    pub name: String,
    /// For service accounts: their namespace (empty: the binding's namespace).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The subject's API group; the authorizer does not read it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_group: String,
}

impl Subject {
    /// The `User` kind.
    pub const USER: &'static str = "User";
    /// The `Group` kind.
    pub const GROUP: &'static str = "Group";
    /// The `ServiceAccount` kind.
    pub const SERVICE_ACCOUNT: &'static str = "ServiceAccount";

    /// A user subject.
    pub fn user(name: &str) -> Self {
        Subject::new(Subject::USER, name, "", RBAC_GROUP)
    }

    /// A group subject.
    pub fn group(name: &str) -> Self {
        Subject::new(Subject::GROUP, name, "", RBAC_GROUP)
    }

    /// A service account subject.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Subject::new(Subject::SERVICE_ACCOUNT, name, namespace, "")
    }

    fn new(kind: &str, name: &str, namespace: &str, api_group: &str) -> Self {
        Subject {
            kind: kind.to_owned(),
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            api_group: api_group.to_owned(),
        }
    }
}

impl From<&rbac::Subject> for Subject {
    /// Converts and applies the API's defaulting (`pkg/apis/rbac/v1/defaults.go`).
    fn from(subject: &rbac::Subject) -> Self {
        let mut api_group = subject.api_group.clone().unwrap_or_default();
        if api_group.is_empty() && (subject.kind == Subject::USER || subject.kind == Subject::GROUP)
        {
            RBAC_GROUP.clone_into(&mut api_group);
        }
        Subject {
            kind: subject.kind.clone(),
            name: subject.name.clone(),
            namespace: subject.namespace.clone().unwrap_or_default(),
            api_group,
        }
    }
}

/// What a binding grants: Kubernetes' `RoleRef`, after API defaulting.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    /// `Role` or `ClusterRole` (anything else resolves to nothing).
    pub kind: String,
    /// The role's name.
    pub name: String,
    /// The role's API group; the authorizer does not read it.
    pub api_group: String,
}

impl RoleRef {
    /// A reference to a ClusterRole.
    pub fn cluster_role(name: &str) -> Self {
        RoleRef {
            kind: "ClusterRole".to_owned(),
            name: name.to_owned(),
            api_group: RBAC_GROUP.to_owned(),
        }
    }

    /// A reference to a Role in the binding's namespace.
    pub fn role(name: &str) -> Self {
        RoleRef {
            kind: "Role".to_owned(),
            ..RoleRef::cluster_role(name)
        }
    }
}

impl From<&rbac::RoleRef> for RoleRef {
    fn from(role_ref: &rbac::RoleRef) -> Self {
        let api_group = match role_ref.api_group.as_deref() {
            None | Some("") => RBAC_GROUP.to_owned(),
            Some(group) => group.to_owned(),
        };
        RoleRef {
            kind: role_ref.kind.clone(),
            name: role_ref.name.clone(),
            api_group,
        }
    }
}

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// The values for `In` / `NotIn`.
    pub values: Vec<String>,
}

/// A label selector of an aggregation rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels that must be present with these values.
    pub match_labels: BTreeMap<String, String>,
    /// Further requirements, all of which must hold.
    pub match_expressions: Vec<SelectorRequirement>,
}

impl From<&meta::LabelSelector> for LabelSelector {
    fn from(selector: &meta::LabelSelector) -> Self {
        LabelSelector {
            match_labels: selector.match_labels.clone().unwrap_or_default(),
            match_expressions: selector
                .match_expressions
                .iter()
                .flatten()
                .map(|requirement| SelectorRequirement {
                    key: requirement.key.clone(),
                    operator: requirement.operator.clone(),
                    values: requirement.values.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// A namespaced `Role`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its rules.
    pub rules: Vec<PolicyRule>,
}

/// A `ClusterRole`, possibly aggregated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterRole {
    /// Its name.
    pub name: String,
    /// Its labels (aggregation selects on them).
    pub labels: BTreeMap<String, String>,
    /// Its rules (for an aggregated role, as stored until aggregation runs).
    pub rules: Vec<PolicyRule>,
    /// `Some` for an aggregated role: its cluster role selectors, ORed.
    pub aggregation: Option<Vec<LabelSelector>>,
}

/// A `RoleBinding`: grants a role within its namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleBinding {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The role it grants.
    pub role_ref: RoleRef,
    /// To whom.
    pub subjects: Vec<Subject>,
}

impl RoleBinding {
    /// Whether this binding can grant anything. A RoleBinding grants only inside its
    /// namespace, so one without a namespace — which only code can build: the API server
    /// requires one — grants nothing anywhere (never cluster-wide). The index and the
    /// reference authorizer both ask this one function.
    pub fn grants_in_its_namespace(&self) -> bool {
        !self.namespace.is_empty()
    }
}

/// A `ClusterRoleBinding`: grants a cluster role everywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterRoleBinding {
    /// Its name.
    pub name: String,
    /// The role it grants.
    pub role_ref: RoleRef,
    /// To whom.
    pub subjects: Vec<Subject>,
}

fn name_of(metadata: &meta::ObjectMeta) -> String {
    metadata.name.clone().unwrap_or_default()
}

fn namespace_of(metadata: &meta::ObjectMeta) -> String {
    metadata.namespace.clone().unwrap_or_default()
}

fn rules_of(rules: Option<&Vec<rbac::PolicyRule>>) -> Vec<PolicyRule> {
    rules.into_iter().flatten().map(PolicyRule::from).collect()
}

fn subjects_of(subjects: Option<&Vec<rbac::Subject>>) -> Vec<Subject> {
    subjects.into_iter().flatten().map(Subject::from).collect()
}

impl From<&rbac::Role> for Role {
    fn from(role: &rbac::Role) -> Self {
        Role {
            namespace: namespace_of(&role.metadata),
            name: name_of(&role.metadata),
            rules: rules_of(role.rules.as_ref()),
        }
    }
}

impl From<&rbac::ClusterRole> for ClusterRole {
    fn from(role: &rbac::ClusterRole) -> Self {
        ClusterRole {
            name: name_of(&role.metadata),
            labels: role.metadata.labels.clone().unwrap_or_default(),
            rules: rules_of(role.rules.as_ref()),
            aggregation: role.aggregation_rule.as_ref().map(|rule| {
                rule.cluster_role_selectors
                    .iter()
                    .flatten()
                    .map(LabelSelector::from)
                    .collect()
            }),
        }
    }
}

impl From<&rbac::RoleBinding> for RoleBinding {
    fn from(binding: &rbac::RoleBinding) -> Self {
        RoleBinding {
            namespace: namespace_of(&binding.metadata),
            name: name_of(&binding.metadata),
            role_ref: RoleRef::from(&binding.role_ref),
            subjects: subjects_of(binding.subjects.as_ref()),
        }
    }
}

impl From<&rbac::ClusterRoleBinding> for ClusterRoleBinding {
    fn from(binding: &rbac::ClusterRoleBinding) -> Self {
        ClusterRoleBinding {
            name: name_of(&binding.metadata),
            role_ref: RoleRef::from(&binding.role_ref),
            subjects: subjects_of(binding.subjects.as_ref()),
        }
    }
}

/// A set of RBAC objects: what a cluster's RBAC authorizer would read from its caches.
///
/// Objects are keyed as in a cluster (kind, namespace, name) and kept in key order. Adding
/// an object whose key is present replaces it, as a watch update does; the manifest loader
/// reports such duplicates as errors before they get here.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub(crate) roles: BTreeMap<(String, String), Role>,
    pub(crate) cluster_roles: BTreeMap<String, ClusterRole>,
    pub(crate) role_bindings: BTreeMap<(String, String), RoleBinding>,
    pub(crate) cluster_role_bindings: BTreeMap<String, ClusterRoleBinding>,
}

fn key(namespace: &str, name: &str) -> (String, String) {
    (namespace.to_owned(), name.to_owned())
}

impl Policy {
    /// An empty policy.
    pub fn new() -> Self {
        Policy::default()
    }

    /// Adds or replaces a Role.
    pub fn add_role(&mut self, role: Role) {
        self.roles.insert(key(&role.namespace, &role.name), role);
    }

    /// Adds or replaces a ClusterRole.
    pub fn add_cluster_role(&mut self, role: ClusterRole) {
        self.cluster_roles.insert(role.name.clone(), role);
    }

    /// Adds or replaces a RoleBinding.
    pub fn add_role_binding(&mut self, binding: RoleBinding) {
        self.role_bindings
            .insert(key(&binding.namespace, &binding.name), binding);
    }

    /// Adds or replaces a ClusterRoleBinding.
    pub fn add_cluster_role_binding(&mut self, binding: ClusterRoleBinding) {
        self.cluster_role_bindings
            .insert(binding.name.clone(), binding);
    }

    /// Removes a Role; `true` if it was there.
    pub fn remove_role(&mut self, namespace: &str, name: &str) -> bool {
        self.roles.remove(&key(namespace, name)).is_some()
    }

    /// Removes a ClusterRole; `true` if it was there.
    pub fn remove_cluster_role(&mut self, name: &str) -> bool {
        self.cluster_roles.remove(name).is_some()
    }

    /// Removes a RoleBinding; `true` if it was there.
    pub fn remove_role_binding(&mut self, namespace: &str, name: &str) -> bool {
        self.role_bindings.remove(&key(namespace, name)).is_some()
    }

    /// Removes a ClusterRoleBinding; `true` if it was there.
    pub fn remove_cluster_role_binding(&mut self, name: &str) -> bool {
        self.cluster_role_bindings.remove(name).is_some()
    }

    /// The Roles, ordered by namespace and name.
    pub fn roles(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    /// The ClusterRoles, ordered by name.
    pub fn cluster_roles(&self) -> impl Iterator<Item = &ClusterRole> {
        self.cluster_roles.values()
    }

    /// The RoleBindings, ordered by namespace and name.
    pub fn role_bindings(&self) -> impl Iterator<Item = &RoleBinding> {
        self.role_bindings.values()
    }

    /// The RoleBindings of one namespace, ordered by name. Only those that can grant
    /// anything: see [`RoleBinding::grants_in_its_namespace`].
    pub fn role_bindings_in<'a>(
        &'a self,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a RoleBinding> {
        self.role_bindings
            .range(key(namespace, "")..)
            .take_while(move |((ns, _), _)| ns == namespace)
            .map(|(_, binding)| binding)
            .filter(|binding| binding.grants_in_its_namespace())
    }

    /// The RoleBindings that can grant anything, ordered by namespace and name.
    pub(crate) fn effective_role_bindings(&self) -> impl Iterator<Item = &RoleBinding> {
        self.role_bindings()
            .filter(|binding| binding.grants_in_its_namespace())
    }

    /// The ClusterRoleBindings, ordered by name.
    pub fn cluster_role_bindings(&self) -> impl Iterator<Item = &ClusterRoleBinding> {
        self.cluster_role_bindings.values()
    }

    /// A Role by namespace and name.
    pub fn role(&self, namespace: &str, name: &str) -> Option<&Role> {
        self.roles.get(&key(namespace, name))
    }

    /// A ClusterRole by name.
    pub fn cluster_role(&self, name: &str) -> Option<&ClusterRole> {
        self.cluster_roles.get(name)
    }

    /// How many objects of each kind: roles, cluster roles, role bindings, cluster role
    /// bindings.
    pub fn counts(&self) -> [usize; 4] {
        [
            self.roles.len(),
            self.cluster_roles.len(),
            self.role_bindings.len(),
            self.cluster_role_bindings.len(),
        ]
    }
}
