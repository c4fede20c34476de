//! Kubernetes' own test cases for the RBAC authorizer, rule resolver, service account
//! usernames, the aggregation controller and the request-info parser, ported one for one.
//! Each test names the upstream file and function it comes from.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

mod support;

use std::collections::BTreeMap;

use rampart_authz::{
    AggregationWarning, ClusterRole, LabelSelector, Policy, PolicyRule, RequestInfoError,
    RequestInfoFactory, RoleRef, Subject, rule_allows, service_account_username,
};
use rampart_core::Attributes;
use support::*;

/// `plugin/pkg/auth/authorizer/rbac/rbac_test.go`, `TestAuthorizer`.
#[test]
fn rbac_test_authorizer() {
    // Case 0: a RoleBinding to a wildcard ClusterRole applies in its namespace only.
    let mut policy = Policy::new();
    policy.add_cluster_role(cluster_role("admin", vec![go_rule("*", "*", "*", "*")]));
    policy.add_role_binding(binding(
        "ns1",
        "b",
        RoleRef::cluster_role("admin"),
        &["User:admin", "Group:admins"],
    ));
    let both = Both::new(&policy);
    for (u, g, verb, res, ns) in [
        ("admin", "", "get", "Pods", "ns1"),
        ("admin", "", "watch", "Pods", "ns1"),
        ("admin", "group1", "watch", "Foobar", "ns1"),
        ("joe", "admins", "watch", "Foobar", "ns1"),
        ("joe", "group1,admins", "watch", "Foobar", "ns1"),
    ] {
        assert!(
            both.allowed(&user(u, g), &resource(verb, "", res, "", ns, "")),
            "{u} {verb} {res} {ns}"
        );
    }
    for (u, g, verb, res, ns) in [
        ("admin", "", "GET", "Pods", "ns2"),
        ("admin", "", "GET", "Nodes", ""),
        ("admin", "admins", "GET", "Pods", "ns2"),
        ("admin", "admins", "GET", "Nodes", ""),
    ] {
        assert!(
            !both.allowed(&user(u, g), &resource(verb, "", res, "", ns, "")),
            "{u} {verb} {res} {ns}"
        );
    }

    // Case 1: non-resource URLs through ClusterRoleBindings.
    let mut policy = Policy::new();
    policy.add_cluster_role(cluster_role(
        "non-resource-url-getter",
        vec![go_rule("get", "", "", "/apis")],
    ));
    policy.add_cluster_role(cluster_role(
        "non-resource-url",
        vec![go_rule("*", "", "", "/apis")],
    ));
    policy.add_cluster_role(cluster_role(
        "non-resource-url-prefix",
        vec![go_rule("get", "", "", "/apis/*")],
    ));
    policy.add_cluster_role_binding(cluster_binding(
        "b1",
        "non-resource-url-getter",
        &["User:foo", "Group:bar"],
    ));
    policy.add_cluster_role_binding(cluster_binding(
        "b2",
        "non-resource-url",
        &["User:admin", "Group:admin"],
    ));
    policy.add_cluster_role_binding(cluster_binding(
        "b3",
        "non-resource-url-prefix",
        &["User:prefixed", "Group:prefixed"],
    ));
    let both = Both::new(&policy);
    let named = |name: &str| rampart_core::UserInfo::new(name);
    let grouped = |group: &str| rampart_core::UserInfo::default().with_groups([group]);
    for (who, verb, path) in [
        (named("foo"), "get", "/apis"),
        (grouped("bar"), "get", "/apis"),
        (named("admin"), "get", "/apis"),
        (grouped("admin"), "get", "/apis"),
        (named("admin"), "watch", "/apis"),
        (grouped("admin"), "watch", "/apis"),
        (named("prefixed"), "get", "/apis/v1"),
        (grouped("prefixed"), "get", "/apis/v1"),
        (named("prefixed"), "get", "/apis/v1/foobar"),
        (grouped("prefixed"), "get", "/apis/v1/foorbar"),
    ] {
        assert!(
            both.allowed(&who, &url(verb, path)),
            "{who:?} {verb} {path}"
        );
    }
    for (who, verb, path) in [
        (named("foo"), "watch", "/apis"),
        (grouped("bar"), "watch", "/apis"),
        (named("foo"), "get", "/api/v1"),
        (grouped("bar"), "get", "/api/v1"),
        (named("admin"), "get", "/api/v1"),
        (grouped("admin"), "get", "/api/v1"),
        (named("prefixed"), "get", "/api/v1"),
        (grouped("prefixed"), "get", "/api/v1"),
    ] {
        assert!(
            !both.allowed(&who, &url(verb, path)),
            "{who:?} {verb} {path}"
        );
    }

    // Cases 2 and 3: subresource resolution.
    for (rule_resource, pass_sub, fail_sub) in
        [("pods", "", "status"), ("pods/status", "status", "")]
    {
        let mut policy = Policy::new();
        policy.add_cluster_role(cluster_role(
            "admin",
            vec![go_rule("*", "*", rule_resource, "*")],
        ));
        policy.add_role_binding(binding(
            "ns1",
            "b",
            RoleRef::cluster_role("admin"),
            &["User:admin", "Group:admins"],
        ));
        let both = Both::new(&policy);
        assert!(both.allowed(
            &user("admin", ""),
            &resource("get", "", "pods", pass_sub, "ns1", "")
        ));
        assert!(!both.allowed(
            &user("admin", ""),
            &resource("get", "", "pods", fail_sub, "ns1", "")
        ));
    }
}

/// `plugin/pkg/auth/authorizer/rbac/rbac_test.go`, `TestRuleMatches`.
#[test]
fn rbac_test_rule_matches() {
    let rule = |verbs: &[&str], groups: &[&str], resources: &[&str]| PolicyRule {
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        api_groups: groups.iter().map(|s| s.to_string()).collect(),
        resources: resources.iter().map(|s| s.to_string()).collect(),
        ..PolicyRule::default()
    };
    let req =
        |verb: &str, group: &str, res: &str, sub: &str| resource(verb, group, res, sub, "", "");
    let grid = |rule: &PolicyRule, expected: [bool; 8]| {
        let mut i = 0;
        for verb in ["verb1", "verb2"] {
            for (group, res) in [
                ("group1", "resource1"),
                ("group2", "resource1"),
                ("group1", "resource2"),
                ("group2", "resource2"),
            ] {
                assert_eq!(
                    rule_allows(&req(verb, group, res, ""), rule),
                    expected[i],
                    "{rule:?} {verb} {group} {res}"
                );
                i += 1;
            }
        }
    };
    grid(
        &rule(&["*"], &["group1"], &["resource1"]),
        [true, false, false, false, true, false, false, false],
    );
    grid(
        &rule(&["verb1"], &["*"], &["resource1"]),
        [true, true, false, false, false, false, false, false],
    );
    grid(
        &rule(&["verb1"], &["group1"], &["*"]),
        [true, false, true, false, false, false, false, false],
    );
    grid(
        &rule(
            &["verb1", "verb2"],
            &["group1", "group2"],
            &["resource1", "resource2"],
        ),
        [true; 8],
    );

    let sub = rule(&["*"], &["*"], &["resource1/subresource1"]);
    for verb in ["verb1", "verb2"] {
        assert!(rule_allows(
            &req(verb, "group1", "resource1", "subresource1"),
            &sub
        ));
        assert!(!rule_allows(
            &req(verb, "group2", "resource1", "subresource2"),
            &sub
        ));
        assert!(!rule_allows(
            &req(verb, "group1", "resource2", "subresource1"),
            &sub
        ));
        assert!(!rule_allows(
            &req(verb, "group2", "resource2", "subresource1"),
            &sub
        ));
    }

    let urls = |verbs: &[&str], urls: &[&str]| PolicyRule {
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        non_resource_urls: urls.iter().map(|s| s.to_string()).collect(),
        ..PolicyRule::default()
    };
    let star = urls(&["verb1"], &["*"]);
    for path in [
        "/foo",
        "/foo/bar",
        "/foo/baz",
        "/foo/bar/one",
        "/foo/baz/one",
    ] {
        assert!(rule_allows(&url("verb1", path), &star));
        assert!(!rule_allows(&url("verb2", path), &star));
    }
    let subpath = urls(&["verb1"], &["/foo/*"]);
    for (path, expected) in [
        ("/foo", false),
        ("/foo/bar", true),
        ("/foo/baz", true),
        ("/foo/bar/one", true),
        ("/foo/baz/one", true),
        ("/notfoo", false),
        ("/notfoo/bar", false),
        ("/notfoo/baz", false),
        ("/notfoo/bar/one", false),
        ("/notfoo/baz/one", false),
    ] {
        assert_eq!(
            rule_allows(&url("verb1", path), &subpath),
            expected,
            "{path}"
        );
    }
    let exact = urls(&["*"], &["/foo", "/foo/bar/one"]);
    for verb in ["verb1", "verb2"] {
        for (path, expected) in [
            ("/foo", true),
            ("/foo/bar", false),
            ("/foo/baz", false),
            ("/foo/bar/one", true),
            ("/foo/baz/one", false),
        ] {
            assert_eq!(
                rule_allows(&url(verb, path), &exact),
                expected,
                "{verb} {path}"
            );
        }
    }
}

/// `pkg/registry/rbac/validation/rule_test.go`, `TestDefaultRuleResolver`.
#[test]
fn rule_test_default_rule_resolver() {
    let read_pods = PolicyRule::resource(["GET", "WATCH"], ["v1"], ["pods"]);
    let read_services = PolicyRule::resource(["GET", "WATCH"], ["v1"], ["services"]);
    let write_nodes = PolicyRule::resource(["PUT", "CREATE", "UPDATE"], ["v1"], ["nodes"]);
    let admin = PolicyRule::resource(["*"], ["*"], ["*"]);
    let mut policy = Policy::new();
    policy.add_role(role(
        "namespace1",
        "readthings",
        vec![read_pods.clone(), read_services.clone()],
    ));
    policy.add_cluster_role(cluster_role("cluster-admin", vec![admin.clone()]));
    policy.add_cluster_role(cluster_role("write-nodes", vec![write_nodes]));
    policy.add_role_binding(binding(
        "namespace1",
        "b",
        RoleRef::role("readthings"),
        &["User:foobar", "Group:group1"],
    ));
    policy.add_cluster_role_binding(cluster_binding(
        "c",
        "cluster-admin",
        &["User:admin", "Group:admin"],
    ));

    let sorted = |mut rules: Vec<PolicyRule>| {
        rules.sort();
        rules
    };
    let foobar = rampart_core::UserInfo::new("foobar");
    assert_eq!(
        sorted(policy.rules_for(&foobar, "namespace1").rules),
        sorted(vec![read_pods, read_services])
    );
    assert!(policy.rules_for(&foobar, "namespace2").rules.is_empty());
    let foobar_admin = rampart_core::UserInfo::new("foobar").with_groups(["admin"]);
    assert_eq!(policy.rules_for(&foobar_admin, "").rules, vec![admin]);
    assert!(
        policy
            .rules_for(&rampart_core::UserInfo::default(), "")
            .rules
            .is_empty()
    );
}

/// `pkg/registry/rbac/validation/rule_test.go`, `TestAppliesTo`, through the authorizer.
#[test]
fn rule_test_applies_to() {
    let cases: &[(&[Subject], rampart_core::UserInfo, &str, bool, &str)] = &[
        (
            &[Subject::user("foobar")],
            user("foobar", "x"),
            "",
            true,
            "single subject that matches username",
        ),
        (
            &[Subject::user("barfoo"), Subject::user("foobar")],
            user("foobar", "x"),
            "",
            true,
            "multiple subjects, one that matches username",
        ),
        (
            &[Subject::user("barfoo"), Subject::user("foobar")],
            user("zimzam", "x"),
            "",
            false,
            "multiple subjects, none that match username",
        ),
        (
            &[Subject::user("barfoo"), Subject::group("foobar")],
            user("zimzam", "foobar"),
            "",
            true,
            "multiple subjects, one that match group",
        ),
        (
            &[Subject::user("barfoo"), Subject::group("foobar")],
            user("zimzam", "foobar"),
            "namespace1",
            true,
            "one that match group, should ignore namespace",
        ),
        (
            &[
                Subject::user("barfoo"),
                Subject::group("foobar"),
                Subject::service_account("kube-system", "default"),
            ],
            user("system:serviceaccount:kube-system:default", "x"),
            "default",
            true,
            "multiple subjects with a service account that matches",
        ),
        (
            &[Subject::user("*")],
            user("foobar", "x"),
            "default",
            false,
            "* user subject name doesn't match all users",
        ),
        (
            &[
                Subject::group("system:authenticated"),
                Subject::group("system:unauthenticated"),
            ],
            user("foobar", "system:authenticated"),
            "default",
            true,
            "binding to all authenticated and unauthenticated subjects matches authenticated user",
        ),
        (
            &[
                Subject::group("system:authenticated"),
                Subject::group("system:unauthenticated"),
            ],
            user("system:anonymous", "system:unauthenticated"),
            "default",
            true,
            "binding to all authenticated and unauthenticated subjects matches anonymous user",
        ),
    ];
    for (who, user, namespace, applies, name) in cases {
        // The binding is a RoleBinding in `namespace` when it has one, else a ClusterRoleBinding.
        let mut policy = Policy::new();
        policy.add_cluster_role(cluster_role(
            "r",
            vec![PolicyRule::resource(["get"], [""], ["pods"])],
        ));
        let mut request_namespace = "anywhere";
        if namespace.is_empty() {
            policy.add_cluster_role_binding(rampart_authz::ClusterRoleBinding {
                name: "b".into(),
                role_ref: RoleRef::cluster_role("r"),
                subjects: who.to_vec(),
            });
        } else {
            policy.add_role_binding(rampart_authz::RoleBinding {
                namespace: namespace.to_string(),
                name: "b".into(),
                role_ref: RoleRef::cluster_role("r"),
                subjects: who.to_vec(),
            });
            request_namespace = namespace;
        }
        let both = Both::new(&policy);
        assert_eq!(
            both.allowed(
                user,
                &resource("get", "", "pods", "", request_namespace, "")
            ),
            *applies,
            "{name}"
        );
    }
}

/// Whether a ClusterRoleBinding to the service account `namespace`/`name` applies to
/// `username`, asked through both authorizers.
fn service_account_binding_applies(namespace: &str, name: &str, username: &str) -> bool {
    let mut policy = Policy::new();
    policy.add_cluster_role(cluster_role(
        "r",
        vec![PolicyRule::resource(["get"], [""], ["pods"])],
    ));
    policy.add_cluster_role_binding(rampart_authz::ClusterRoleBinding {
        name: "b".into(),
        role_ref: RoleRef::cluster_role("r"),
        subjects: vec![Subject::service_account(namespace, name)],
    });
    Both::new(&policy).allowed(
        &rampart_core::UserInfo::new(username),
        &resource("get", "", "pods", "", "x", ""),
    )
}

/// `staging/src/k8s.io/apiserver/pkg/authentication/serviceaccount/util_test.go`,
/// `TestMatchUsername`, through a ClusterRoleBinding to the service account.
#[test]
fn service_account_match_username() {
    for (namespace, name, username, expected) in [
        ("foo", "bar", "foo", false),
        ("foo", "bar", "system:serviceaccount:", false),
        ("foo", "bar", "system:serviceaccount:foo", false),
        ("foo", "bar", "system:serviceaccount:foo:", false),
        ("foo", "bar", "system:serviceaccount:foo:bar", true),
        ("foo", "bar", "system:serviceaccount::bar", false),
        ("foo", "bar", "system:serviceaccount:bar", false),
        ("foo", "bar", ":bar", false),
        ("foo", "bar", "foo:bar", false),
        ("foo", "bar", "", false),
        ("foo2", "bar", "system:serviceaccount:foo:bar", false),
        ("foo", "bar2", "system:serviceaccount:foo:bar", false),
        ("foo:", "bar", "system:serviceaccount:foo:bar", false),
        ("foo", ":bar", "system:serviceaccount:foo:bar", false),
    ] {
        assert_eq!(
            service_account_binding_applies(namespace, name, username),
            expected,
            "{namespace}/{name} vs {username:?}"
        );
    }
}

/// `util_test.go`, `TestMakeUsername`: the made username always matches its own parts
/// (the error cases there are `SplitUsername`'s, which RBAC does not use), except that a
/// ClusterRoleBinding subject without a namespace matches nobody (rbac-semantics 3.4).
#[test]
fn service_account_make_username() {
    for (namespace, name) in [
        ("foo", "bar"),
        ("", ""),
        ("", "foo"),
        ("foo", ""),
        ("foo", "bar:baz"),
        ("foo ", "bar"),
        ("foo", "bar "),
    ] {
        let username = service_account_username(namespace, name);
        assert_eq!(
            service_account_binding_applies(namespace, name, &username),
            !namespace.is_empty(),
            "{namespace:?}/{name:?}"
        );
    }
    assert_eq!(
        service_account_username("myns", "myname"),
        "system:serviceaccount:myns:myname"
    );
}

fn labelled(name: &str, labels: &[(&str, &str)], rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        rules,
        aggregation: None,
    }
}

fn combined(selectors: &[&[(&str, &str)]], rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        name: "combined".into(),
        labels: BTreeMap::new(),
        rules,
        aggregation: Some(
            selectors
                .iter()
                .map(|labels| LabelSelector {
                    match_labels: labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    match_expressions: vec![],
                })
                .collect(),
        ),
    }
}

/// `pkg/controller/clusterroleaggregation/clusterroleaggregation_controller_test.go`,
/// `TestSyncClusterRole`.
#[test]
fn aggregation_controller_sync_cluster_role() {
    let tool = |verb: &str, resource: &str| PolicyRule {
        verbs: vec![verb.into()],
        resources: vec![resource.into()],
        ..PolicyRule::default()
    };
    let hammer = vec![tool("hammer", "nails"), tool("hammer", "wedges")];
    let chisel = vec![tool("chisel", "mortises")];
    let saw = vec![tool("saw", "boards")];
    let concat = |parts: &[&Vec<PolicyRule>]| {
        parts
            .iter()
            .flat_map(|p| p.iter().cloned())
            .collect::<Vec<_>>()
    };
    let bar: &[(&str, &str)] = &[("foo", "bar")];
    let not_bar: &[(&str, &str)] = &[("foo", "not-bar")];

    let cases: Vec<(&str, Vec<ClusterRole>, Vec<PolicyRule>)> = vec![
        (
            "remove dead rules",
            vec![
                labelled("hammer", bar, hammer.clone()),
                combined(&[bar], saw.clone()),
            ],
            hammer.clone(),
        ),
        (
            "strip rules",
            vec![
                labelled("hammer", not_bar, hammer.clone()),
                combined(&[bar], hammer.clone()),
            ],
            vec![],
        ),
        (
            "select properly and put in order",
            vec![
                labelled("hammer", bar, hammer.clone()),
                labelled("chisel", bar, chisel.clone()),
                labelled("saw", not_bar, saw.clone()),
                combined(&[bar], vec![]),
            ],
            concat(&[&chisel, &hammer]),
        ),
        (
            "select properly with multiple selectors",
            vec![
                labelled("hammer", bar, hammer.clone()),
                labelled("chisel", bar, chisel.clone()),
                labelled("saw", not_bar, saw.clone()),
                combined(&[bar, not_bar], vec![]),
            ],
            concat(&[&chisel, &hammer, &saw]),
        ),
        (
            "select properly remove duplicates",
            vec![
                labelled("hammer", bar, hammer.clone()),
                labelled("chisel", bar, chisel.clone()),
                labelled("saw", bar, saw.clone()),
                labelled("other-saw", not_bar, saw.clone()),
                combined(&[bar, not_bar], vec![]),
            ],
            concat(&[&chisel, &hammer, &saw]),
        ),
        (
            "no diff skip",
            vec![
                labelled("hammer", bar, hammer.clone()),
                combined(&[bar], hammer.clone()),
            ],
            hammer.clone(),
        ),
    ];
    for (name, roles, expected) in cases {
        let mut policy = Policy::new();
        for role in roles {
            policy.add_cluster_role(role);
        }
        let warnings = policy.aggregate();
        assert_eq!(
            policy.cluster_role("combined").unwrap().rules,
            expected,
            "{name}"
        );
        let dropped = warnings
            .iter()
            .any(|w| matches!(w, AggregationWarning::OwnRulesDropped { .. }));
        assert_eq!(dropped, name == "strip rules", "{name}: {warnings:?}");
    }
}

/// rbac-semantics §8.4–8.5: nesting to a fixpoint, cycles and invalid selectors reported.
#[test]
fn aggregation_nests_and_reports_what_has_no_single_answer() {
    let get = |resource: &str| PolicyRule::resource(["get"], [""], [resource]);
    let mut policy = Policy::new();
    policy.add_cluster_role(labelled("pods", &[("to-view", "true")], vec![get("pods")]));
    let mut view = combined(&[&[("to-view", "true")]], vec![]);
    view.name = "view".into();
    view.labels.insert("to-edit".into(), "true".into());
    let mut edit = combined(&[&[("to-edit", "true")]], vec![]);
    edit.name = "edit".into();
    edit.labels.insert("to-admin".into(), "true".into());
    let mut admin = combined(&[&[("to-admin", "true")]], vec![]);
    admin.name = "admin".into();
    // Inserted in an order where one pass in name order would not be enough.
    policy.add_cluster_role(admin);
    policy.add_cluster_role(edit);
    policy.add_cluster_role(view);
    assert!(policy.aggregate().is_empty());
    for name in ["view", "edit", "admin"] {
        assert_eq!(
            policy.cluster_role(name).unwrap().rules,
            vec![get("pods")],
            "{name}"
        );
    }

    let mut cyclic = Policy::new();
    let mut a = combined(&[&[("x", "b")]], vec![get("a")]);
    a.name = "a".into();
    a.labels.insert("x".into(), "a".into());
    let mut b = combined(&[&[("x", "a")]], vec![get("b")]);
    b.name = "b".into();
    b.labels.insert("x".into(), "b".into());
    cyclic.add_cluster_role(a);
    cyclic.add_cluster_role(b);
    let warnings = cyclic.aggregate();
    assert!(
        warnings.contains(&AggregationWarning::Cycle {
            roles: vec!["a".into(), "b".into()]
        }),
        "{warnings:?}"
    );

    let mut invalid = Policy::new();
    let mut bad = combined(&[], vec![get("kept")]);
    bad.aggregation = Some(vec![LabelSelector {
        match_labels: BTreeMap::new(),
        match_expressions: vec![rampart_authz::SelectorRequirement {
            key: "k".into(),
            operator: "In".into(),
            values: vec![],
        }],
    }]);
    invalid.add_cluster_role(bad);
    let warnings = invalid.aggregate();
    assert!(
        matches!(
            warnings.as_slice(),
            [AggregationWarning::InvalidSelector { .. }]
        ),
        "{warnings:?}"
    );
    assert_eq!(
        invalid.cluster_role("combined").unwrap().rules,
        vec![get("kept")]
    );
}

type InfoRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

/// `staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo_test.go`,
/// `TestGetAPIRequestInfo` (success cases): method, url, verb, prefix, group, version,
/// namespace, resource, subresource, name, parts.
const REQUEST_INFO_CASES: &[(&str, &str, InfoRow)] = &[
    (
        "GET",
        "/api/v1/namespaces",
        (
            "list",
            "api",
            "",
            "v1",
            "",
            "namespaces",
            "",
            "",
            "",
            &["namespaces"],
        ),
    ),
    (
        "GET",
        "/api/v1/namespaces/other",
        (
            "get",
            "api",
            "",
            "v1",
            "other",
            "namespaces",
            "",
            "other",
            "",
            &["namespaces", "other"],
        ),
    ),
    (
        "GET",
        "/api/v1/namespaces/other/pods",
        (
            "list",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "",
            "",
            &["pods"],
        ),
    ),
    (
        "GET",
        "/api/v1/namespaces/other/pods/foo",
        (
            "get",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "foo",
            "",
            &["pods", "foo"],
        ),
    ),
    (
        "HEAD",
        "/api/v1/namespaces/other/pods/foo",
        (
            "get",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "foo",
            "",
            &["pods", "foo"],
        ),
    ),
    (
        "GET",
        "/api/v1/pods",
        ("list", "api", "", "v1", "", "pods", "", "", "", &["pods"]),
    ),
    (
        "HEAD",
        "/api/v1/pods",
        ("list", "api", "", "v1", "", "pods", "", "", "", &["pods"]),
    ),
    // The stored upstream table expects namespace "" here, but the stored
    // `NewRequestInfo` (the code this crate ports, and what a server runs) sets the
    // namespace of `/namespaces/NAME` to NAME for every method, as the GET row above
    // also expects; the code wins.
    (
        "PATCH",
        "/api/v1/namespaces/new-namespace",
        (
            "patch",
            "api",
            "",
            "v1",
            "new-namespace",
            "namespaces",
            "",
            "new-namespace",
            "",
            &["namespaces", "new-namespace"],
        ),
    ),
    (
        "GET",
        "/api/v1/proxy/namespaces/other/pods/foo",
        (
            "proxy",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "foo",
            "",
            &["pods", "foo"],
        ),
    ),
    (
        "GET",
        "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource",
        (
            "proxy",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "foo",
            "",
            &["pods", "foo", "subpath", "not", "a", "subresource"],
        ),
    ),
    (
        "GET",
        "/api/v1/watch/pods",
        ("watch", "api", "", "v1", "", "pods", "", "", "", &["pods"]),
    ),
    (
        "GET",
        "/api/v1/pods?watch=true",
        ("watch", "api", "", "v1", "", "pods", "", "", "", &["pods"]),
    ),
    (
        "GET",
        "/api/v1/pods?watch=false",
        ("list", "api", "", "v1", "", "pods", "", "", "", &["pods"]),
    ),
    (
        "GET",
        "/api/v1/watch/namespaces/other/pods",
        (
            "watch",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "",
            "",
            &["pods"],
        ),
    ),
    (
        "GET",
        "/api/v1/namespaces/other/pods?watch=1",
        (
            "watch",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "",
            "",
            &["pods"],
        ),
    ),
    (
        "GET",
        "/api/v1/namespaces/other/pods?watch=0",
        (
            "list",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "",
            "",
            &["pods"],
        ),
    ),
    (
        "GET",
        "/api/v1/namespaces/other/pods/foo/status",
        (
            "get",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "status",
            "foo",
            "",
            &["pods", "foo", "status"],
        ),
    ),
    (
        "GET",
        "/api/v1/namespaces/other/pods/foo/proxy/subpath",
        (
            "get",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "proxy",
            "foo",
            "",
            &["pods", "foo", "proxy", "subpath"],
        ),
    ),
    (
        "PUT",
        "/api/v1/namespaces/other/finalize",
        (
            "update",
            "api",
            "",
            "v1",
            "other",
            "namespaces",
            "finalize",
            "other",
            "",
            &["namespaces", "other", "finalize"],
        ),
    ),
    (
        "PUT",
        "/api/v1/namespaces/other/status",
        (
            "update",
            "api",
            "",
            "v1",
            "other",
            "namespaces",
            "status",
            "other",
            "",
            &["namespaces", "other", "status"],
        ),
    ),
    (
        "PATCH",
        "/api/v1/namespaces/other/pods/foo",
        (
            "patch",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "foo",
            "",
            &["pods", "foo"],
        ),
    ),
    (
        "DELETE",
        "/api/v1/namespaces/other/pods/foo",
        (
            "delete",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "foo",
            "",
            &["pods", "foo"],
        ),
    ),
    (
        "POST",
        "/api/v1/namespaces/other/pods",
        (
            "create",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "",
            "",
            &["pods"],
        ),
    ),
    (
        "DELETE",
        "/api/v1/nodes",
        (
            "deletecollection",
            "api",
            "",
            "v1",
            "",
            "nodes",
            "",
            "",
            "",
            &["nodes"],
        ),
    ),
    (
        "DELETE",
        "/api/v1/namespaces",
        (
            "deletecollection",
            "api",
            "",
            "v1",
            "",
            "namespaces",
            "",
            "",
            "",
            &["namespaces"],
        ),
    ),
    (
        "DELETE",
        "/api/v1/namespaces/other/pods",
        (
            "deletecollection",
            "api",
            "",
            "v1",
            "other",
            "pods",
            "",
            "",
            "",
            &["pods"],
        ),
    ),
    (
        "DELETE",
        "/apis/extensions/v1/namespaces/other/pods",
        (
            "deletecollection",
            "apis",
            "extensions",
            "v1",
            "other",
            "pods",
            "",
            "",
            "",
            &["pods"],
        ),
    ),
    (
        "POST",
        "/apis/extensions/v1/namespaces/other/pods",
        (
            "create",
            "apis",
            "extensions",
            "v1",
            "other",
            "pods",
            "",
            "",
            "",
            &["pods"],
        ),
    ),
    (
        "POST",
        "/apis/extensions/v1beta3/namespaces/other/pods",
        (
            "create",
            "apis",
            "extensions",
            "v1beta3",
            "other",
            "pods",
            "",
            "",
            "",
            &["pods"],
        ),
    ),
];

#[test]
fn request_info_get_api_request_info() {
    let factory = RequestInfoFactory::default();
    for (
        method,
        target,
        (verb, prefix, group, version, namespace, resource, subresource, name, _, parts),
    ) in REQUEST_INFO_CASES
    {
        let info = factory.parse(method, target).unwrap();
        assert!(info.is_resource_request, "{method} {target}");
        assert_eq!(
            (
                info.verb.as_str(),
                info.api_prefix.as_str(),
                info.api_group.as_str(),
                info.api_version.as_str(),
                info.namespace.as_str(),
                info.resource.as_str(),
                info.subresource.as_str(),
                info.name.as_str(),
            ),
            (
                *verb,
                *prefix,
                *group,
                *version,
                *namespace,
                *resource,
                *subresource,
                *name
            ),
            "{method} {target}"
        );
        assert_eq!(info.parts, *parts, "{method} {target}");
    }
    // Error cases of the same test: all non-resource requests, none an error.
    for target in [
        "/",
        "/api/version/",
        "/apis/group/version/",
        "/badprefix/version/resource",
        "/apis/version/resource",
    ] {
        assert!(
            !factory.parse("GET", target).unwrap().is_resource_request,
            "{target}"
        );
    }
}

/// `requestinfo_test.go`, `TestGetNonAPIRequestInfo`.
#[test]
fn request_info_get_non_api_request_info() {
    let factory = RequestInfoFactory::default();
    for (target, expected) in [
        ("/api/version/resource", true),
        ("/apis/group/version/resource/name/subresource", true),
        ("/api/version/resource/name/subresource", true),
        ("/apis/batch/v1/job", true),
        ("/apis/batch/v1/job/foo", true),
        ("/apis/batch/v1/job/foo/scale", true),
        ("/not-api/version/resource", false),
        ("/apis/extensions/v1beta1", false),
        ("/apis/extensions/v1beta1/", false),
        ("/api/version", false),
        ("/api", false),
        ("/", false),
        ("", false),
    ] {
        assert_eq!(
            factory.parse("GET", target).unwrap().is_resource_request,
            expected,
            "{target}"
        );
    }
    let info = factory.parse("GET", "/healthz").unwrap();
    assert_eq!(info.to_attributes(), url("get", "/healthz"));
}

/// `requestinfo_test.go`, `TestFieldSelectorParsing`.
#[test]
fn request_info_field_selector_parsing() {
    let factory = RequestInfoFactory::default();
    for (target, name, verb) in [
        ("/apis/group/version/resource", "", "list"),
        (
            "/apis/group/version/resource?fieldSelector=metadata.name=name1",
            "name1",
            "list",
        ),
        (
            "/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1",
            "name1",
            "watch",
        ),
        (
            "/apis/group/version/resource?fieldSelector=foo=bar",
            "",
            "list",
        ),
        (
            "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo",
            "",
            "list",
        ),
        (
            "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=true",
            "",
            "watch",
        ),
        (
            "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=false",
            "",
            "list",
        ),
    ] {
        let info = factory.parse("GET", target).unwrap();
        assert_eq!(
            (info.name.as_str(), info.verb.as_str()),
            (name, verb),
            "{target}"
        );
    }
}

/// Beyond the upstream table: what the apiserver's codec and URL handling imply.
#[test]
fn request_info_edge_cases() {
    let factory = RequestInfoFactory::default();
    let parse = |method: &str, target: &str| factory.parse(method, target).unwrap();
    // A bad label selector or limit makes the ListOptions decode fail: no name is taken.
    assert_eq!(
        parse("GET", "/api/v1/pods?fieldSelector=metadata.name%3Dweb").name,
        "web"
    );
    assert_eq!(
        parse(
            "GET",
            "/api/v1/pods?fieldSelector=metadata.name%3Dweb&labelSelector=a%3D%3Db%3Dc"
        )
        .name,
        ""
    );
    assert_eq!(
        parse(
            "GET",
            "/api/v1/pods?fieldSelector=metadata.name%3Dweb&limit=ten"
        )
        .name,
        ""
    );
    assert_eq!(
        parse(
            "GET",
            "/api/v1/pods?fieldSelector=metadata.name%3Dweb&limit="
        )
        .name,
        "web"
    );
    // A name that is not a valid path segment is not taken.
    assert_eq!(
        parse("GET", "/api/v1/pods?fieldSelector=metadata.name%3D..").name,
        ""
    );
    // `watch=` (present, empty) means watch, as Go's conversion says.
    assert_eq!(parse("GET", "/api/v1/pods?watch=").verb, "watch");
    assert_eq!(parse("GET", "/api/v1/pods?watch=FALSE").verb, "list");
    // The path is decoded before it is split, as Go's URL.Path is.
    let encoded = parse("GET", "/api/v1/namespaces/a%2Fb/pods");
    assert_eq!(
        (encoded.namespace.as_str(), encoded.resource.as_str()),
        ("a", "b")
    );
    // Empty segments are kept, as Go's strings.Split keeps them (found by fuzzing).
    let empty = parse("GET", "/api//pods");
    assert!(empty.is_resource_request);
    assert_eq!(
        (empty.api_version.as_str(), empty.resource.as_str()),
        ("", "pods")
    );
    // Method names are case-sensitive for resource requests.
    assert_eq!(parse("get", "/api/v1/pods").verb, "");
    assert_eq!(parse("get", "/healthz").verb, "get");
    // Selectors are kept for list, watch and deletecollection, not for a watch via path.
    let listed = parse(
        "GET",
        "/api/v1/pods?labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dn1",
    );
    assert_eq!(
        (
            listed.label_selector.as_str(),
            listed.field_selector.as_str()
        ),
        ("app=web", "spec.nodeName=n1")
    );
    assert_eq!(
        parse("GET", "/api/v1/watch/pods?labelSelector=app%3Dweb").label_selector,
        ""
    );
    let Attributes::Resource(attributes) = listed.to_attributes() else {
        panic!()
    };
    assert_eq!(
        attributes.label_selector,
        Some(serde_json::json!({"rawSelector": "app=web"}))
    );
    // Refused outright.
    assert_eq!(
        factory.parse("GET", "/api/v1/watch"),
        Err(RequestInfoError::NoResource)
    );
    assert_eq!(
        factory.parse("GET", "/api/v1/pods/%zz"),
        Err(RequestInfoError::BadEscape)
    );
    assert_eq!(
        factory.parse("GET", "/api/v1/pods/%ff"),
        Err(RequestInfoError::BadEscape)
    );
    assert_eq!(
        factory.parse("GET", &format!("/{}", "a".repeat(70_000))),
        Err(RequestInfoError::TooLong)
    );
}

/// `plugin/pkg/auth/authorizer/rbac/subject_locator_test.go`, `TestSubjectLocator`.
/// Upstream's list starts with `system:masters` (and the configured super user), which
/// are not RBAC grants; `who_can` lists RBAC grantees only, so they are left out here.
#[test]
fn subject_locator() {
    let subjects_of = |policy: &Policy, request: &Attributes| -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = policy
            .who_can(request)
            .grantees
            .into_iter()
            .map(|g| (g.subject.kind, g.subject.name))
            .collect();
        found.sort();
        found.dedup();
        found
    };
    let expect = |pairs: &[(&str, &str)]| {
        let mut expected: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, n)| (k.to_string(), n.to_string()))
            .collect();
        expected.sort();
        expected
    };

    // "no super user, star matches star"
    let mut policy = Policy::new();
    policy.add_cluster_role(cluster_role("admin", vec![go_rule("*", "*", "*", "*")]));
    policy.add_cluster_role_binding(cluster_binding(
        "c",
        "admin",
        &["User:super-admin", "Group:super-admins"],
    ));
    policy.add_role_binding(binding(
        "ns1",
        "b",
        RoleRef::cluster_role("admin"),
        &["User:admin", "Group:admins"],
    ));
    let supers = [("User", "super-admin"), ("Group", "super-admins")];
    assert_eq!(
        subjects_of(&policy, &resource("get", "", "Pods", "", "ns1", "")),
        expect(&[supers[0], supers[1], ("User", "admin"), ("Group", "admins")])
    );
    assert_eq!(
        subjects_of(&policy, &resource("*", "", "Pods", "", "*", "")),
        expect(&supers)
    );
    assert_eq!(
        subjects_of(&policy, &resource("*", "", "Pods", "", "", "")),
        expect(&supers)
    );

    // "super user, local roles work"
    let mut policy = Policy::new();
    policy.add_cluster_role(cluster_role("admin", vec![go_rule("*", "*", "*", "*")]));
    policy.add_cluster_role_binding(cluster_binding(
        "c",
        "admin",
        &["User:super-admin", "Group:super-admins"],
    ));
    policy.add_role(role("ns1", "admin", vec![go_rule("get", "*", "Pods", "*")]));
    policy.add_role_binding(binding(
        "ns1",
        "b",
        RoleRef::role("admin"),
        &["User:admin", "Group:admins"],
    ));
    assert_eq!(
        subjects_of(&policy, &resource("get", "", "Pods", "", "ns1", "")),
        expect(&[supers[0], supers[1], ("User", "admin"), ("Group", "admins")])
    );
    assert_eq!(
        subjects_of(&policy, &resource("create", "", "Pods", "", "ns1", "")),
        expect(&supers)
    );
    assert_eq!(
        subjects_of(&policy, &resource("get", "", "Pods", "", "ns2", "")),
        expect(&supers)
    );
}

/// Go's `url.ParseQuery` (since Go 1.17) drops a pair when `;` appears anywhere in it —
/// key or value — and keeps the other pairs; the apiserver reads `req.URL.Query()`.
#[test]
fn query_pairs_with_a_semicolon_anywhere_are_dropped_as_go_drops_them() {
    let factory = RequestInfoFactory::default();
    let parse = |target: &str| factory.parse("GET", target).unwrap();
    // (target, name taken from the field selector, verb)
    let table = [
        // The review's case: the apiserver sees no selector, so this is a plain list.
        (
            "/api/v1/namespaces/a/secrets?fieldSelector=metadata.name=allowed,a=b;",
            "",
            "list",
        ),
        (
            "/api/v1/namespaces/a/secrets?fieldSelector=metadata.name%3Dallowed;x",
            "",
            "list",
        ),
        (
            "/api/v1/namespaces/a/secrets?field;Selector=metadata.name%3Dallowed",
            "",
            "list",
        ),
        // Other pairs survive.
        (
            "/api/v1/namespaces/a/secrets?a=1;b&fieldSelector=metadata.name%3Dok",
            "ok",
            "list",
        ),
        (
            "/api/v1/namespaces/a/secrets?fieldSelector=metadata.name%3Dok&watch=1;",
            "ok",
            "list",
        ),
        (
            "/api/v1/namespaces/a/secrets?fieldSelector=metadata.name%3Dok&watch=1",
            "ok",
            "watch",
        ),
        // An escaped semicolon is not a separator: Go checks the raw text only.
        (
            "/api/v1/namespaces/a/secrets?fieldSelector=metadata.name%3Dok&x=%3B",
            "ok",
            "list",
        ),
    ];
    for (target, name, verb) in table {
        let info = parse(target);
        assert_eq!(
            (info.name.as_str(), info.verb.as_str()),
            (name, verb),
            "{target}"
        );
    }
}

/// A request target that is not an absolute path is refused (an HTTP server answers 400
/// before the apiserver's handlers see it).
#[test]
fn a_request_target_must_start_with_a_slash() {
    let factory = RequestInfoFactory::default();
    for target in [
        "api/v1/pods",
        "*",
        "http://x/api/v1/pods",
        "?watch=1",
        "pods/x",
    ] {
        assert!(factory.parse("GET", target).is_err(), "{target:?}");
    }
    // An empty target is Go's URL.Path of `http://host`, in Kubernetes' own table.
    assert!(factory.parse("GET", "").is_ok());
    assert!(factory.parse("GET", "/").is_ok());
}
