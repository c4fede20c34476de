//! Grants that amount to cluster-admin or to a path towards it (least privilege, AC-6).
//!
//! Each check is a request that only a dangerous grant allows; a binding's role is tested
//! with [`rule_allows`](crate::rule_allows), so the report uses exactly the decision
//! semantics of the authorizer (a rule limited by `resourceNames` is not "all secrets").

use std::fmt;

use rampart_core::{Attributes, NonResourceAttributes, ResourceAttributes};
use serde::Serialize;

use crate::policy::{Policy, PolicyRule, RoleRef, Subject};
use crate::resolve::role_rules;
use crate::rules::rule_allows;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A path to more privilege under some conditions.
    Medium,
    /// A direct path to cluster-admin or to every secret in scope.
    High,
    /// Cluster-admin itself.
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

/// One dangerous grant through one binding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Risk {
    /// A stable identifier of the check, e.g. `secrets-read`.
    pub check: &'static str,
    /// How bad.
    pub severity: Severity,
    /// What the grant allows, in a sentence.
    pub description: &'static str,
    /// The NIST SP 800-53 control the finding bears on.
    pub control: &'static str,
    /// `ClusterRoleBinding` or `RoleBinding`.
    pub binding_kind: &'static str,
    /// The binding's name.
    pub binding_name: String,
    /// The namespace the grant holds in; empty means cluster-wide.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The role granted.
    pub role: RoleRef,
    /// Who holds it.
    pub subjects: Vec<Subject>,
    /// Whether it is exactly a binding of Kubernetes' default policy — same kind,
    /// namespace, name, role and subjects as kube-apiserver ships it — which operators
    /// usually accept. Judged by content, never by name: a `system:`-named backdoor or an
    /// extra subject on `cluster-admin` is not bootstrap.
    pub bootstrap: bool,
}

struct Check {
    id: &'static str,
    severity: Severity,
    description: &'static str,
    control: &'static str,
    /// Requests any of which the grant must allow; `None` namespace means "the binding's".
    probes: &'static [Probe],
    /// Only for grants that hold in this namespace (or cluster-wide).
    only_namespace: Option<&'static str>,
}

/// A request to try: verb, group, resource, subresource; or a non-resource path.
enum Probe {
    Resource(&'static str, &'static str, &'static str, &'static str),
    Url(&'static str, &'static str),
}

/// Names no rule lists: a grant that matches them is not limited by `resourceNames`.
const ANY_NAME: &str = "\u{0}rampart-any-object";

const WORKLOADS: &[Probe] = &[
    Probe::Resource("create", "", "pods", ""),
    Probe::Resource("create", "apps", "deployments", ""),
    Probe::Resource("create", "apps", "daemonsets", ""),
    Probe::Resource("create", "apps", "statefulsets", ""),
    Probe::Resource("create", "apps", "replicasets", ""),
    Probe::Resource("create", "batch", "jobs", ""),
    Probe::Resource("create", "batch", "cronjobs", ""),
    Probe::Resource("create", "", "replicationcontrollers", ""),
];

const CHECKS: &[Check] = &[
    Check {
        id: "cluster-admin",
        severity: Severity::Critical,
        description: "every verb on every resource of every API group",
        control: "AC-6",
        probes: &[Probe::Resource(
            "\u{0}any-verb",
            "\u{0}any-group",
            "\u{0}any-resource",
            "",
        )],
        only_namespace: None,
    },
    Check {
        id: "wildcard-verbs",
        severity: Severity::Medium,
        description: "all verbs, including ones added later (escalate, bind, impersonate)",
        control: "AC-6",
        probes: &[
            Probe::Resource("\u{0}any-verb", "", "pods", ""),
            Probe::Resource("\u{0}any-verb", "rbac.authorization.k8s.io", "roles", ""),
        ],
        only_namespace: None,
    },
    Check {
        id: "secrets-read",
        severity: Severity::High,
        description: "reads every secret in scope (service account tokens included)",
        control: "AC-6",
        probes: &[
            Probe::Resource("list", "", "secrets", ""),
            Probe::Resource("watch", "", "secrets", ""),
            Probe::Resource("get", "", "secrets", ""),
        ],
        only_namespace: None,
    },
    Check {
        id: "pod-exec",
        severity: Severity::High,
        description: "runs commands in or attaches to running pods",
        control: "AC-6",
        probes: &[
            Probe::Resource("create", "", "pods", "exec"),
            Probe::Resource("get", "", "pods", "exec"),
            Probe::Resource("create", "", "pods", "attach"),
            Probe::Resource("get", "", "pods", "attach"),
        ],
        only_namespace: None,
    },
    Check {
        id: "impersonate",
        severity: Severity::Critical,
        description: "acts as other users, groups or service accounts",
        control: "AC-6",
        probes: &[
            Probe::Resource("impersonate", "", "users", ""),
            Probe::Resource("impersonate", "", "groups", ""),
            Probe::Resource("impersonate", "", "serviceaccounts", ""),
            Probe::Resource(
                "impersonate",
                "authentication.k8s.io",
                "userextras",
                "scopes",
            ),
            Probe::Resource("impersonate", "authentication.k8s.io", "uids", ""),
        ],
        only_namespace: None,
    },
    Check {
        id: "bind-escalate",
        severity: Severity::Critical,
        description: "grants roles it does not hold (bind) or edits roles beyond its own permissions (escalate)",
        control: "AC-6",
        probes: &[
            Probe::Resource("bind", "rbac.authorization.k8s.io", "clusterroles", ""),
            Probe::Resource("bind", "rbac.authorization.k8s.io", "roles", ""),
            Probe::Resource("escalate", "rbac.authorization.k8s.io", "clusterroles", ""),
            Probe::Resource("escalate", "rbac.authorization.k8s.io", "roles", ""),
        ],
        only_namespace: None,
    },
    Check {
        id: "nodes-proxy",
        severity: Severity::Critical,
        description: "reaches the kubelet API of nodes (exec in any pod on them, bypassing audit)",
        control: "AC-6",
        probes: &[
            Probe::Resource("get", "", "nodes", "proxy"),
            Probe::Resource("create", "", "nodes", "proxy"),
        ],
        only_namespace: None,
    },
    Check {
        id: "kube-system-workloads",
        severity: Severity::Critical,
        description: "creates pods or workloads in kube-system, where they can mount privileged service accounts",
        control: "AC-6",
        probes: WORKLOADS,
        only_namespace: Some("kube-system"),
    },
    Check {
        id: "csr-approval",
        severity: Severity::High,
        description: "approves certificate signing requests (mints client certificates for any identity a signer allows)",
        control: "AC-6",
        probes: &[
            Probe::Resource(
                "update",
                "certificates.k8s.io",
                "certificatesigningrequests",
                "approval",
            ),
            Probe::Resource(
                "patch",
                "certificates.k8s.io",
                "certificatesigningrequests",
                "approval",
            ),
        ],
        only_namespace: None,
    },
    Check {
        id: "token-create",
        severity: Severity::High,
        description: "mints tokens for service accounts in scope",
        control: "AC-6",
        probes: &[Probe::Resource("create", "", "serviceaccounts", "token")],
        only_namespace: None,
    },
    Check {
        id: "rbac-write",
        severity: Severity::Medium,
        description: "writes roles or bindings (limited by the escalation check unless bind/escalate is also held)",
        control: "AC-6",
        probes: &[
            Probe::Resource("create", "rbac.authorization.k8s.io", "rolebindings", ""),
            Probe::Resource(
                "create",
                "rbac.authorization.k8s.io",
                "clusterrolebindings",
                "",
            ),
            Probe::Resource("update", "rbac.authorization.k8s.io", "clusterroles", ""),
            Probe::Resource("update", "rbac.authorization.k8s.io", "roles", ""),
        ],
        only_namespace: None,
    },
    Check {
        id: "admission-webhooks",
        severity: Severity::High,
        description: "writes admission webhook configurations (sees and rewrites every object in the cluster)",
        control: "AC-6",
        probes: &[
            Probe::Resource(
                "create",
                "admissionregistration.k8s.io",
                "mutatingwebhookconfigurations",
                "",
            ),
            Probe::Resource(
                "update",
                "admissionregistration.k8s.io",
                "mutatingwebhookconfigurations",
                "",
            ),
            Probe::Resource(
                "create",
                "admissionregistration.k8s.io",
                "validatingwebhookconfigurations",
                "",
            ),
        ],
        only_namespace: None,
    },
    Check {
        id: "non-resource-wildcard",
        severity: Severity::Medium,
        description: "every non-resource URL, including debugging endpoints",
        control: "AC-6",
        probes: &[Probe::Url("get", "/\u{0}any-path")],
        only_namespace: None,
    },
];

fn probe_allowed(rules: &[PolicyRule], probe: &Probe, namespace: &str) -> bool {
    let request = match probe {
        Probe::Resource(verb, group, resource, subresource) => {
            Attributes::Resource(ResourceAttributes {
                namespace: namespace.to_owned(),
                verb: (*verb).to_owned(),
                group: (*group).to_owned(),
                resource: (*resource).to_owned(),
                subresource: (*subresource).to_owned(),
                name: if *verb == "list" || *verb == "watch" || *verb == "create" {
                    String::new()
                } else {
                    ANY_NAME.to_owned()
                },
                ..ResourceAttributes::default()
            })
        }
        Probe::Url(verb, path) => Attributes::NonResource(NonResourceAttributes {
            path: (*path).to_owned(),
            verb: (*verb).to_owned(),
        }),
    };
    rules.iter().any(|rule| rule_allows(&request, rule))
}

/// Kubernetes' default policy as kube-apiserver creates it (its own golden files,
/// `plugin/pkg/auth/authorizer/rbac/bootstrappolicy/testdata`), built in and aggregated.
static DEFAULT_POLICY: std::sync::LazyLock<Policy> = std::sync::LazyLock::new(|| {
    let files = [
        (
            "cluster-roles.yaml",
            include_str!("../tests/fixtures/k8s-bootstrap-policy/cluster-roles.yaml"),
        ),
        (
            "controller-roles.yaml",
            include_str!("../tests/fixtures/k8s-bootstrap-policy/controller-roles.yaml"),
        ),
        (
            "namespace-roles.yaml",
            include_str!("../tests/fixtures/k8s-bootstrap-policy/namespace-roles.yaml"),
        ),
        (
            "cluster-role-bindings.yaml",
            include_str!("../tests/fixtures/k8s-bootstrap-policy/cluster-role-bindings.yaml"),
        ),
        (
            "controller-role-bindings.yaml",
            include_str!("../tests/fixtures/k8s-bootstrap-policy/controller-role-bindings.yaml"),
        ),
        (
            "namespace-role-bindings.yaml",
            include_str!("../tests/fixtures/k8s-bootstrap-policy/namespace-role-bindings.yaml"),
        ),
    ];
    let mut policy = Policy::new();
    for (name, text) in files {
        if let Ok(loaded) = crate::Loader::new().strict(true).load_str(name, text) {
            let part = loaded.policy;
            part.cluster_roles()
                .for_each(|r| policy.add_cluster_role(r.clone()));
            part.roles().for_each(|r| policy.add_role(r.clone()));
            part.cluster_role_bindings()
                .for_each(|b| policy.add_cluster_role_binding(b.clone()));
            part.role_bindings()
                .for_each(|b| policy.add_role_binding(b.clone()));
        }
    }
    let _ = policy.aggregate();
    policy
});

/// The rules a role grants, in one order, for comparing two policies.
fn sorted_rules(policy: &Policy, role_ref: &RoleRef, namespace: &str) -> Option<Vec<PolicyRule>> {
    let mut rules = role_rules(policy, role_ref, namespace).ok()?.to_vec();
    rules.sort();
    rules.dedup();
    Some(rules)
}

/// Whether a binding is exactly one of Kubernetes' defaults — the same name, role
/// reference and subjects (as a set), *and* the role it grants holds the same rules as the
/// shipped role: the one rule that decides [`Risk::bootstrap`]. A default binding whose
/// role was widened (`system:public-info-viewer` given `*/*`) is not bootstrap.
fn is_default_binding(
    policy: &Policy,
    namespace: &str,
    name: &str,
    role_ref: &RoleRef,
    subjects: &[Subject],
) -> bool {
    let shipped = &*DEFAULT_POLICY;
    let shipped_binding = if namespace.is_empty() {
        shipped
            .cluster_role_bindings()
            .find(|b| b.name == name)
            .map(|b| (&b.role_ref, &b.subjects))
    } else {
        shipped
            .role_bindings_in(namespace)
            .find(|b| b.name == name)
            .map(|b| (&b.role_ref, &b.subjects))
    };
    let Some((shipped_role, shipped_subjects)) = shipped_binding else {
        return false;
    };
    let set = |subjects: &[Subject]| {
        let mut set = subjects.to_vec();
        set.sort();
        set.dedup();
        set
    };
    shipped_role == role_ref
        && set(subjects) == set(shipped_subjects)
        && sorted_rules(policy, role_ref, namespace).is_some_and(|ours| {
            sorted_rules(shipped, role_ref, namespace).is_some_and(|theirs| ours == theirs)
        })
}

impl Policy {
    /// Every binding whose role allows one of the dangerous requests, most severe first.
    /// A grant through a RoleBinding is tested in that binding's namespace; non-resource
    /// checks apply to ClusterRoleBindings only, as RBAC does.
    pub fn risks(&self) -> Vec<Risk> {
        let mut risks = Vec::new();
        let cluster = self
            .cluster_role_bindings()
            .map(|b| ("ClusterRoleBinding", &b.name, "", &b.role_ref, &b.subjects));
        let namespaced = self.effective_role_bindings().map(|b| {
            (
                "RoleBinding",
                &b.name,
                b.namespace.as_str(),
                &b.role_ref,
                &b.subjects,
            )
        });
        for (kind, name, namespace, role_ref, subjects) in cluster.chain(namespaced) {
            let Ok(rules) = role_rules(self, role_ref, namespace) else {
                continue;
            };
            if subjects.is_empty() {
                continue;
            }
            for check in CHECKS {
                if check
                    .only_namespace
                    .is_some_and(|only| !namespace.is_empty() && namespace != only)
                {
                    continue;
                }
                let probe_namespace = check.only_namespace.unwrap_or(if namespace.is_empty() {
                    "any-namespace"
                } else {
                    namespace
                });
                let hit = check.probes.iter().any(|probe| {
                    (matches!(probe, Probe::Resource(..)) || namespace.is_empty())
                        && probe_allowed(rules, probe, probe_namespace)
                });
                if hit {
                    risks.push(Risk {
                        check: check.id,
                        severity: check.severity,
                        description: check.description,
                        control: check.control,
                        binding_kind: kind,
                        binding_name: name.clone(),
                        namespace: namespace.to_owned(),
                        role: role_ref.clone(),
                        subjects: subjects.clone(),
                        bootstrap: is_default_binding(self, namespace, name, role_ref, subjects),
                    });
                }
            }
        }
        risks.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.check.cmp(b.check))
                .then_with(|| a.namespace.cmp(&b.namespace))
                .then_with(|| a.binding_name.cmp(&b.binding_name))
        });
        risks
    }
}
