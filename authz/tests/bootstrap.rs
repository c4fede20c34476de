//! Kubernetes' default (bootstrap) RBAC policy, as the apiserver creates it, with realistic
//! requests from system components and users. Fixtures: `tests/fixtures/k8s-bootstrap-policy`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

mod support;

use std::path::PathBuf;

use rampart_authz::{Loader, Policy, RbacWrite, RoleRef, Severity, WriteOperation};
use rampart_core::{Authorizer, UserInfo};
use support::*;

fn bootstrap() -> Policy {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/k8s-bootstrap-policy");
    let mut loaded = Loader::new().load_paths(&[dir]).unwrap();
    assert!(loaded.notes.is_empty(), "{:?}", loaded.notes);
    let warnings = loaded.policy.aggregate();
    assert!(warnings.is_empty(), "{warnings:?}");
    loaded.policy
}

fn sa(namespace: &str, name: &str) -> UserInfo {
    UserInfo::new(format!("system:serviceaccount:{namespace}:{name}")).with_groups([
        "system:serviceaccounts".to_owned(),
        format!("system:serviceaccounts:{namespace}"),
        "system:authenticated".to_owned(),
    ])
}

#[test]
fn the_bootstrap_policy_loads_whole_and_aggregates() {
    let policy = bootstrap();
    assert_eq!(policy.counts(), [7, 69, 7, 50]);
    // admin ⊇ edit ⊇ view, computed from the aggregate-to-* labels.
    let rules = |name: &str| policy.cluster_role(name).unwrap().rules.clone();
    let (view, edit, admin) = (rules("view"), rules("edit"), rules("admin"));
    assert!(!view.is_empty());
    assert!(view.iter().all(|rule| edit.contains(rule)));
    assert!(edit.iter().all(|rule| admin.contains(rule)));
    assert!(admin.len() > edit.len() && edit.len() > view.len());
}

#[test]
fn system_components_get_what_they_need_and_no_more() {
    let both = Both::new(&bootstrap());
    let scheduler = UserInfo::new("system:kube-scheduler").with_groups(["system:authenticated"]);
    let lease = |verb: &str, name: &str| {
        resource(
            verb,
            "coordination.k8s.io",
            "leases",
            "",
            "kube-system",
            name,
        )
    };
    assert!(both.allowed(&scheduler, &lease("update", "kube-scheduler")));
    assert!(both.allowed(&scheduler, &lease("create", "")));
    // The ClusterRole limits update to its own lease; the kube-system Role allows the rest.
    let decision = both.decide(&scheduler, &lease("update", "kube-controller-manager"));
    assert!(decision.is_allowed());
    assert!(
        decision
            .reason()
            .contains("system::leader-locking-kube-scheduler"),
        "{}",
        decision.reason()
    );
    assert!(!both.allowed(
        &scheduler,
        &resource(
            "update",
            "coordination.k8s.io",
            "leases",
            "",
            "default",
            "kube-controller-manager"
        )
    ));
    assert!(both.allowed(
        &scheduler,
        &resource("create", "", "pods", "binding", "team-a", "web-0")
    ));
    assert!(!both.allowed(
        &scheduler,
        &resource("get", "", "secrets", "", "kube-system", "x")
    ));

    let deployments = sa("kube-system", "deployment-controller");
    assert!(both.allowed(
        &deployments,
        &resource("create", "apps", "replicasets", "", "team-a", "")
    ));
    assert!(both.allowed(
        &deployments,
        &resource("update", "apps", "deployments", "status", "team-a", "web")
    ));
    assert!(!both.allowed(&deployments, &resource("delete", "", "nodes", "", "", "n1")));

    let signer = sa("kube-system", "bootstrap-signer");
    assert!(both.allowed(
        &signer,
        &resource(
            "update",
            "",
            "configmaps",
            "",
            "kube-public",
            "cluster-info"
        )
    ));
    assert!(!both.allowed(
        &signer,
        &resource("update", "", "configmaps", "", "kube-public", "other")
    ));

    // Kubelets get only what system:authenticated gets from RBAC: the Node authorizer, not
    // RBAC, is what lets them read their pods (rbac-semantics §10).
    let kubelet =
        UserInfo::new("system:node:n1").with_groups(["system:nodes", "system:authenticated"]);
    assert!(!both.allowed(
        &kubelet,
        &resource("get", "", "pods", "", "team-a", "web-0")
    ));
    assert!(both.allowed(&kubelet, &url("get", "/healthz")));
}

#[test]
fn everyday_users_and_anonymous_requests() {
    let both = Both::new(&bootstrap());
    let alice = UserInfo::new("alice").with_groups(["system:authenticated"]);
    assert!(both.allowed(&alice, &url("get", "/version")));
    assert!(both.allowed(&alice, &url("get", "/apis/apps/v1")));
    assert!(both.allowed(
        &alice,
        &resource(
            "create",
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "",
            "",
            ""
        )
    ));
    assert!(!both.allowed(&alice, &resource("list", "", "pods", "", "default", "")));
    assert!(!both.allowed(&alice, &url("get", "/metrics")));

    let anonymous = UserInfo::new("system:anonymous").with_groups(["system:unauthenticated"]);
    assert!(both.allowed(&anonymous, &url("get", "/healthz")));
    assert!(both.allowed(&anonymous, &url("get", "/version/")));
    assert!(!both.allowed(&anonymous, &url("get", "/apis")));
    assert!(!both.allowed(&anonymous, &url("get", "/healthz/etcd")));

    let monitor = UserInfo::new("prometheus").with_groups(["system:monitoring"]);
    assert!(both.allowed(&monitor, &url("get", "/metrics")));
    assert!(both.allowed(&monitor, &url("get", "/readyz/etcd")));

    let issuer = sa("team-a", "default");
    assert!(both.allowed(&issuer, &url("get", "/.well-known/openid-configuration")));

    let root = UserInfo::new("root").with_groups(["system:masters"]);
    let decision = both.decide(&root, &resource("delete", "", "nodes", "", "", "n1"));
    assert_eq!(
        decision.reason(),
        r#"RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group "system:masters""#
    );
}

#[test]
fn aggregated_roles_bound_in_a_namespace() {
    let mut policy = bootstrap();
    policy.add_role_binding(binding(
        "team-a",
        "viewers",
        RoleRef::cluster_role("view"),
        &["Group:auditors"],
    ));
    policy.add_role_binding(binding(
        "team-a",
        "editors",
        RoleRef::cluster_role("edit"),
        &["User:bob"],
    ));
    policy.add_role_binding(binding(
        "team-a",
        "admins",
        RoleRef::cluster_role("admin"),
        &["User:carol"],
    ));
    let both = Both::new(&policy);
    let auditor = user("dan", "auditors,system:authenticated");
    let bob = user("bob", "system:authenticated");
    let carol = user("carol", "system:authenticated");

    assert!(both.allowed(
        &auditor,
        &resource("get", "", "pods", "", "team-a", "web-0")
    ));
    assert!(both.allowed(
        &auditor,
        &resource("get", "", "pods", "log", "team-a", "web-0")
    ));
    assert!(!both.allowed(
        &auditor,
        &resource("get", "", "secrets", "", "team-a", "db")
    ));
    assert!(!both.allowed(
        &auditor,
        &resource("get", "", "pods", "", "team-b", "web-0")
    ));

    assert!(both.allowed(
        &bob,
        &resource("create", "apps", "deployments", "", "team-a", "")
    ));
    assert!(both.allowed(&bob, &resource("get", "", "secrets", "", "team-a", "db")));
    assert!(both.allowed(
        &bob,
        &resource("create", "", "pods", "exec", "team-a", "web-0")
    ));
    assert!(!both.allowed(
        &bob,
        &resource(
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings",
            "",
            "team-a",
            ""
        )
    ));

    assert!(both.allowed(
        &carol,
        &resource(
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings",
            "",
            "team-a",
            ""
        )
    ));
    assert!(!both.allowed(
        &carol,
        &resource(
            "create",
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            "",
            "",
            ""
        )
    ));

    // Escalation: carol (admin in team-a) may bind `edit` there, since she holds every
    // permission of it; bob (edit) may not bind `admin`.
    let to_edit = binding("team-a", "x", RoleRef::cluster_role("edit"), &["User:eve"]);
    assert!(
        policy
            .may_write(
                &both.index,
                &carol,
                RbacWrite::RoleBinding(&to_edit),
                WriteOperation::Create,
                true
            )
            .is_ok()
    );
    let to_admin = binding("team-a", "y", RoleRef::cluster_role("admin"), &["User:eve"]);
    let denied = policy
        .may_write(
            &both.index,
            &bob,
            RbacWrite::RoleBinding(&to_admin),
            WriteOperation::Create,
            true,
        )
        .unwrap_err();
    assert!(denied.message.starts_with(r#"user "bob" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:"#), "{}", denied.message);
    assert!(!denied.missing.is_empty());
    // The same binding elsewhere: carol holds nothing in team-b.
    let elsewhere = binding("team-b", "x", RoleRef::cluster_role("edit"), &["User:eve"]);
    assert!(
        policy
            .may_write(
                &both.index,
                &carol,
                RbacWrite::RoleBinding(&elsewhere),
                WriteOperation::Create,
                true
            )
            .is_err()
    );
    // system:masters may write anything when the privileged group is honoured.
    let root = user("root", "system:masters");
    assert!(
        policy
            .may_write(
                &both.index,
                &root,
                RbacWrite::RoleBinding(&elsewhere),
                WriteOperation::Create,
                true
            )
            .is_ok()
    );
}

#[test]
fn who_can_and_rules_for_on_the_bootstrap_policy() {
    let policy = bootstrap();
    let who = policy.who_can(&resource("get", "", "secrets", "", "kube-system", "x"));
    assert!(who.errors.is_empty());
    let names: Vec<&str> = who
        .grantees
        .iter()
        .map(|g| g.subject.name.as_str())
        .collect();
    assert!(names.contains(&"system:masters"), "{names:?}");
    assert!(
        names.contains(&"system:kube-controller-manager"),
        "{names:?}"
    );
    assert!(!names.contains(&"system:authenticated"), "{names:?}");
    for grantee in &who.grantees {
        assert!(
            grantee.binding_kind == "ClusterRoleBinding"
                || grantee.binding_namespace == "kube-system"
        );
    }

    let alice = UserInfo::new("alice").with_groups(["system:authenticated"]);
    let rules = policy.rules_for(&alice, "default").rules;
    assert!(
        rules
            .iter()
            .any(|r| r.resources.contains(&"selfsubjectaccessreviews".to_owned()))
    );
    assert!(
        rules
            .iter()
            .any(|r| r.non_resource_urls.contains(&"/version".to_owned()))
    );
}

#[test]
fn risk_report_flags_the_dangerous_default_grants() {
    let mut policy = bootstrap();
    policy.add_role_binding(binding(
        "team-a",
        "oops",
        RoleRef::cluster_role("admin"),
        &["Group:contractors"],
    ));
    let risks = policy.risks();
    let has = |check: &str, binding: &str| {
        risks
            .iter()
            .any(|r| r.check == check && r.binding_name == binding)
    };
    assert!(has("cluster-admin", "cluster-admin"));
    assert!(
        risks
            .iter()
            .any(|r| r.check == "cluster-admin" && r.severity == Severity::Critical && r.bootstrap)
    );
    assert!(has("secrets-read", "oops"));
    assert!(has("pod-exec", "oops"));
    assert!(
        !has("cluster-admin", "oops"),
        "admin in one namespace is not cluster-admin"
    );
    assert!(has(
        "csr-approval",
        "system:controller:certificate-controller"
    ));
    assert!(
        has("token-create", "system:kube-controller-manager")
            || has(
                "token-create",
                "system:controller:service-account-controller"
            )
            || risks.iter().any(|r| r.check == "token-create")
    );
    let oops: Vec<_> = risks.iter().filter(|r| r.binding_name == "oops").collect();
    assert!(oops.iter().all(|r| !r.bootstrap && r.namespace == "team-a"));
    // Sorted most severe first.
    assert!(risks.windows(2).all(|w| w[0].severity >= w[1].severity));
    // Every Critical impersonation finding really allows impersonation.
    let authorizer = rampart_authz::RbacAuthorizer::new(&policy);
    for risk in risks
        .iter()
        .filter(|r| r.check == "impersonate" && r.binding_kind == "ClusterRoleBinding")
    {
        let subject = &risk.subjects[0];
        let who = if subject.kind == "Group" {
            UserInfo::new("probe").with_groups([subject.name.clone()])
        } else {
            UserInfo::new(subject.name.clone())
        };
        assert!(
            authorizer
                .authorize(&who, &resource("impersonate", "", "users", "", "", "x"))
                .is_allowed()
        );
    }
}

/// The apiserver's `escalate` check names the object only on update (the request's name
/// is empty on create), so `escalate` scoped by `resourceNames` never lets its holder
/// create a role with permissions they do not hold.
#[test]
fn a_resource_names_scoped_escalate_allows_updates_but_never_creates() {
    let mut policy = Policy::new();
    policy.add_cluster_role(cluster_role(
        "escalate-r1",
        vec![go_rule("escalate", "rbac.authorization.k8s.io", "roles", "").with_names(["r1"])],
    ));
    policy.add_role_binding(binding(
        "team",
        "escalators",
        RoleRef::cluster_role("escalate-r1"),
        &["User:dave"],
    ));
    let index = rampart_authz::RbacAuthorizer::new(&policy);
    let dave = user("dave", "");
    let powerful = role("team", "r1", vec![go_rule("*", "*", "*", "")]);
    let created = policy.may_write(
        &index,
        &dave,
        RbacWrite::Role(&powerful),
        WriteOperation::Create,
        true,
    );
    assert!(created.is_err(), "create: {created:?}");
    let updated = policy.may_write(
        &index,
        &dave,
        RbacWrite::Role(&powerful),
        WriteOperation::Update,
        true,
    );
    assert!(updated.is_ok(), "update: {updated:?}");
    let other = role("team", "r2", vec![go_rule("*", "*", "*", "")]);
    assert!(
        policy
            .may_write(
                &index,
                &dave,
                RbacWrite::Role(&other),
                WriteOperation::Update,
                true
            )
            .is_err()
    );
}

/// `bootstrap` is decided by content: a `system:`-named backdoor binding and an extra
/// subject on `cluster-admin` are reported as the operator's own grants.
#[test]
fn the_risk_report_cannot_be_hidden_from_by_a_default_looking_name() {
    let mut policy = bootstrap();
    let shipped: Vec<_> = policy
        .risks()
        .into_iter()
        .filter(|r| !r.bootstrap)
        .collect();
    assert!(
        shipped.is_empty(),
        "the default policy is all bootstrap: {shipped:?}"
    );
    policy.add_cluster_role_binding(cluster_binding(
        "system:controller:backdoor",
        "cluster-admin",
        &["User:mallory"],
    ));
    let mut admin = policy
        .cluster_role_bindings()
        .find(|b| b.name == "cluster-admin")
        .unwrap()
        .clone();
    admin.subjects.extend(subjects(&["User:eve"]));
    policy.add_cluster_role_binding(admin);
    let reported: Vec<String> = policy
        .risks()
        .into_iter()
        .filter(|r| !r.bootstrap)
        .map(|r| r.binding_name)
        .collect();
    assert!(
        reported.contains(&"system:controller:backdoor".to_owned()),
        "{reported:?}"
    );
    assert!(
        reported.contains(&"cluster-admin".to_owned()),
        "{reported:?}"
    );
}

/// An authenticator that knows one token, for composing with core's decorators.
struct OneUser;

impl rampart_core::Authenticator<rampart_core::BearerToken> for OneUser {
    fn authenticate<'a>(
        &'a self,
        _: &'a rampart_core::BearerToken,
        _: &'a rampart_core::RequestContext,
    ) -> rampart_core::AuthnFuture<'a> {
        Box::pin(async { Ok(rampart_core::Authenticated::new(UserInfo::new("carol"))) })
    }
}

/// Through the library path — an authenticator, core's `AuthenticatedGroup` after it, then
/// the authorizer — a user whose only permission comes from a binding to
/// `system:authenticated` is allowed, as in a cluster; without the core rule, not.
#[test]
fn a_binding_to_system_authenticated_applies_through_the_library_path() {
    use rampart_core::Authenticator as _;
    let policy = bootstrap();
    let both = Both::new(&policy);
    let review = resource(
        "create",
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "",
        "",
        "",
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let token = rampart_core::BearerToken::new(rampart_core::SecretString::from("t"));
    let context = rampart_core::RequestContext::new();
    let bare = runtime
        .block_on(OneUser.authenticate(&token, &context))
        .unwrap();
    assert!(!both.allowed(&bare.user, &review));
    let union = rampart_core::AuthenticatedGroup::new(OneUser);
    let carol = runtime
        .block_on(union.authenticate(&token, &context))
        .unwrap();
    assert!(both.allowed(&carol.user, &review));
}
