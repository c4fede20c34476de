//! Kubernetes audit events read and written back byte for byte, and the audit policy
//! checker's own test table, ported.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::path::Path;

use rampart_audit::{AuditPolicy, AuditPolicyRule, Event, EventList, GroupResources, Level, Stage};
use rampart_core::{
    Action, Attributes, AuditEvent, NonResourceAttributes, Outcome, RequestContext,
    ResourceAttributes, Target, Timestamp, UserInfo,
};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/kubernetes")
            .join(name),
    )
    .unwrap()
}

#[test]
fn real_audit_lines_round_trip_byte_for_byte() {
    let mut count = 0;
    for file in ["events-gce-scale-test.jsonl", "events-kubeadm-1.35.jsonl"] {
        for line in fixture(file).lines() {
            let event = Event::from_json(line).unwrap();
            // Go escapes `&` as \u0026; compare after undoing that one difference.
            let written = serde_json::to_string(&event).unwrap();
            assert_eq!(written, line.replace("\\u0026", "&"), "{file}");
            count += 1;
        }
    }
    assert_eq!(count, 5);
    let event = Event::from_json(
        fixture("events-gce-scale-test.jsonl")
            .lines()
            .nth(2)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (event.level, event.stage, event.verb.as_str()),
        (Level::Request, Stage::ResponseComplete, "patch")
    );
    assert_eq!(event.object_ref.unwrap().subresource, "status");
    assert_eq!(event.user.uid, "uid:node-problem-detector");
    let list = serde_json::to_value(EventList::new(vec![])).unwrap();
    assert_eq!(
        list,
        serde_json::json!({"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[]})
    );
}

#[test]
fn hostile_or_foreign_events_are_refused() {
    for bad in [
        r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","level":"Metadata","auditID":"x","stage":"ResponseComplete","requestURI":"/","verb":"get","user":{}}"#,
        r#"{"kind":"Pod","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"x","stage":"ResponseComplete","requestURI":"/","verb":"get","user":{}}"#,
        r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Everything","auditID":"x","stage":"ResponseComplete","requestURI":"/","verb":"get","user":{}}"#,
        r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"x","stage":"Later","requestURI":"/","verb":"get","user":{}}"#,
        r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"x","stage":"ResponseComplete","requestURI":"/","verb":"get","user":{},"stageTimestamp":"yesterday"}"#,
        "",
        "[]",
    ] {
        assert!(Event::from_json(bad).is_err(), "{bad}");
    }
}

#[test]
fn rampart_events_in_kubernetes_form() {
    let event = AuditEvent::new(
        Action::AuthnAttempt,
        Outcome::Failure,
        "2026-11-27T11:40:57.5Z".parse::<Timestamp>().unwrap(),
    )
    .with_actor(UserInfo::new("mallory"))
    .with_source(
        RequestContext::new()
            .with_source_ip("192.0.2.7".parse().unwrap())
            .with_user_agent("curl/8")
            .with_request_id("r-1"),
    )
    .with_target(Target::new("account", "mallory"))
    .with_reason("invalid_credentials");
    let k8s = Event::from_rampart(&event);
    let json = serde_json::to_value(&k8s).unwrap();
    assert_eq!(json["auditID"], event.id.to_string());
    assert_eq!(json["verb"], "authn.attempt");
    assert_eq!(json["sourceIPs"], serde_json::json!(["192.0.2.7"]));
    assert_eq!(json["stageTimestamp"], "2026-11-27T11:40:57.500000Z");
    assert_eq!(json["annotations"]["rampart.io/code"], "RA1001");
    assert_eq!(json["annotations"]["rampart.io/outcome"], "failure");
    assert_eq!(json["annotations"]["rampart.io/request-id"], "r-1");
    Event::from_json(&json.to_string()).unwrap();
}

// --- the checker's table (staging/src/k8s.io/apiserver/pkg/audit/policy/checker_test.go) ---

fn tim() -> UserInfo {
    UserInfo::new("tim@k8s.io").with_groups(["humans", "developers"])
}

fn resource(ns: &str, group: &str, version: &str, res: &str, sub: &str, name: &str) -> Attributes {
    Attributes::Resource(ResourceAttributes {
        namespace: ns.into(),
        verb: "get".into(),
        group: group.into(),
        version: version.into(),
        resource: res.into(),
        subresource: sub.into(),
        name: name.into(),
        ..ResourceAttributes::default()
    })
}

fn request(name: &str) -> (Option<UserInfo>, Attributes) {
    match name {
        "namespaced" => (
            Some(tim()),
            resource("default", "", "v1", "pods", "", "busybox"),
        ),
        "cluster" => (
            Some(tim()),
            resource(
                "",
                "rbac.authorization.k8s.io",
                "v1beta1",
                "clusterroles",
                "",
                "edit",
            ),
        ),
        "nonResource" => (
            Some(tim()),
            Attributes::NonResource(NonResourceAttributes {
                path: "/logs/kubelet.log".into(),
                verb: "get".into(),
            }),
        ),
        "subresource" => (
            Some(tim()),
            resource("default", "", "v1", "pods", "log", "busybox"),
        ),
        "Unauthorized" => (None, resource("default", "", "v1", "pods", "", "busybox")),
        other => panic!("{other}"),
    }
}

fn rule(name: &str) -> AuditPolicyRule {
    let base = AuditPolicyRule {
        level: Level::Metadata,
        users: vec![],
        user_groups: vec![],
        verbs: vec![],
        resources: vec![],
        namespaces: vec![],
        non_resource_urls: vec![],
        omit_stages: vec![],
        omit_managed_fields: None,
    };
    let resources = |group: &str, resources: &[&str], names: &[&str]| {
        vec![GroupResources {
            group: group.into(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            resource_names: names.iter().map(|s| s.to_string()).collect(),
        }]
    };
    let get = vec!["get".to_owned()];
    match name {
        "default" => base,
        "create" => AuditPolicyRule {
            level: Level::Request,
            verbs: vec!["create".into()],
            ..base
        },
        "tims" => AuditPolicyRule {
            users: vec!["tim@k8s.io".into()],
            ..base
        },
        "humans" => AuditPolicyRule {
            user_groups: vec!["humans".into()],
            ..base
        },
        "serviceAccounts" => AuditPolicyRule {
            level: Level::Request,
            user_groups: vec!["system:serviceaccounts".into()],
            ..base
        },
        "getPods" => AuditPolicyRule {
            level: Level::RequestResponse,
            verbs: get,
            resources: resources("", &["pods"], &[]),
            ..base
        },
        "getPodLogs" => AuditPolicyRule {
            level: Level::Request,
            verbs: get,
            resources: resources("", &["pods/log"], &[]),
            ..base
        },
        "getPodWildcardMatching" => AuditPolicyRule {
            level: Level::Request,
            verbs: get,
            resources: resources("", &["*"], &[]),
            ..base
        },
        "getPodResourceWildcardMatching" => AuditPolicyRule {
            level: Level::Request,
            verbs: get,
            resources: resources("", &["*/log"], &[]),
            ..base
        },
        "getPodSubResourceWildcardMatching" => AuditPolicyRule {
            level: Level::Request,
            verbs: get,
            resources: resources("", &["pods/*"], &[]),
            ..base
        },
        "getClusterRoles" => AuditPolicyRule {
            level: Level::RequestResponse,
            verbs: get,
            resources: resources("rbac.authorization.k8s.io", &["clusterroles"], &[]),
            namespaces: vec![String::new()],
            ..base
        },
        "getLogs" => AuditPolicyRule {
            level: Level::RequestResponse,
            verbs: get,
            non_resource_urls: vec!["/logs*".into()],
            ..base
        },
        "getMetrics" => AuditPolicyRule {
            level: Level::Request,
            verbs: get,
            non_resource_urls: vec!["/metrics".into()],
            ..base
        },
        "clusterRoleEdit" => AuditPolicyRule {
            level: Level::Request,
            resources: resources("rbac.authorization.k8s.io", &["clusterroles"], &["edit"]),
            ..base
        },
        "omit RequestReceived" => AuditPolicyRule {
            level: Level::Request,
            omit_stages: vec![Stage::RequestReceived],
            ..base
        },
        "only audit panic" => AuditPolicyRule {
            level: Level::Request,
            omit_stages: vec![
                Stage::RequestReceived,
                Stage::ResponseStarted,
                Stage::ResponseComplete,
            ],
            ..base
        },
        other => panic!("{other}"),
    }
}

fn check(
    req: &str,
    level: Level,
    policy_stages: &[Stage],
    expected_stages: &[Stage],
    rules: &[&str],
) {
    let policy = AuditPolicy {
        api_version: "audit.k8s.io/v1".into(),
        kind: "Policy".into(),
        metadata: None,
        rules: rules.iter().map(|r| rule(r)).collect(),
        omit_stages: policy_stages.to_vec(),
        omit_managed_fields: false,
    };
    let (user, attributes) = request(req);
    let config = policy.evaluate(user.as_ref(), &attributes);
    assert_eq!(config.level, level, "request {req}, rules {rules:?}");
    let mut expected = expected_stages.to_vec();
    expected.sort();
    expected.dedup();
    assert_eq!(
        config.omit_stages, expected,
        "request {req}, rules {rules:?}"
    );
}

fn audit_levels(stages: &[Stage]) {
    use Level::*;
    let t = |req: &str, level: Level, rules: &[&str]| check(req, level, stages, stages, rules);
    t("namespaced", Metadata, &["default"]);
    t("namespaced", None, &["create"]);
    t("namespaced", Metadata, &["tims"]);
    t("namespaced", Metadata, &["humans"]);
    t("namespaced", None, &["serviceAccounts"]);
    t("namespaced", RequestResponse, &["getPods"]);
    t("namespaced", None, &["getClusterRoles"]);
    t("namespaced", None, &["getLogs"]);
    t("namespaced", None, &["getMetrics"]);
    t(
        "namespaced",
        Metadata,
        &["getMetrics", "serviceAccounts", "default"],
    );
    t(
        "namespaced",
        RequestResponse,
        &["getMetrics", "getPods", "default"],
    );
    t("namespaced", RequestResponse, &["getPodLogs", "getPods"]);

    t("cluster", Metadata, &["default"]);
    t("cluster", None, &["create"]);
    t("cluster", Metadata, &["tims"]);
    t("cluster", Metadata, &["humans"]);
    t("cluster", None, &["serviceAccounts"]);
    t("cluster", None, &["getPods"]);
    t("cluster", RequestResponse, &["getClusterRoles"]);
    t("cluster", Request, &["clusterRoleEdit", "getClusterRoles"]);
    t("cluster", None, &["getLogs"]);
    t("cluster", None, &["getMetrics"]);
    t(
        "cluster",
        Metadata,
        &["getMetrics", "serviceAccounts", "default"],
    );
    t(
        "cluster",
        RequestResponse,
        &["getMetrics", "getClusterRoles", "default"],
    );
    t("cluster", None, &["getPodLogs", "getPods"]);

    t("nonResource", Metadata, &["default"]);
    t("nonResource", None, &["create"]);
    t("nonResource", Metadata, &["tims"]);
    t("nonResource", Metadata, &["humans"]);
    t("nonResource", None, &["serviceAccounts"]);
    t("nonResource", None, &["getPods"]);
    t("nonResource", None, &["getClusterRoles"]);
    t("nonResource", RequestResponse, &["getLogs"]);
    t("nonResource", None, &["getMetrics"]);
    t(
        "nonResource",
        Metadata,
        &["getMetrics", "serviceAccounts", "default"],
    );
    t(
        "nonResource",
        RequestResponse,
        &["getLogs", "getClusterRoles", "default"],
    );
    t("nonResource", None, &["getPodLogs", "getPods"]);

    t("subresource", Request, &["getPodLogs", "getPods"]);
    t("subresource", Request, &["getPodWildcardMatching"]);
    t("subresource", Request, &["getPodResourceWildcardMatching"]);
    t(
        "subresource",
        Request,
        &["getPodSubResourceWildcardMatching"],
    );

    t("Unauthorized", None, &["tims"]);
    t("Unauthorized", Metadata, &["tims", "default"]);
    t("Unauthorized", None, &["humans"]);
    t("Unauthorized", Metadata, &["humans", "default"]);
}

/// `TestChecker`.
#[test]
fn checker() {
    use Stage::*;
    audit_levels(&[]);
    for req in ["namespaced", "cluster", "nonResource"] {
        check(
            req,
            Level::Request,
            &[],
            &[RequestReceived],
            &["omit RequestReceived", "getPods", "default"],
        );
        check(
            req,
            Level::Request,
            &[],
            &[RequestReceived, ResponseStarted, ResponseComplete],
            &["only audit panic", "getPods", "default"],
        );
    }
}

/// `TestCheckerPolicyOmitStages`.
#[test]
fn checker_policy_omit_stages() {
    use Stage::*;
    let policy_stages = [RequestReceived, ResponseStarted];
    audit_levels(&policy_stages);
    for req in ["namespaced", "cluster"] {
        check(
            req,
            Level::Request,
            &policy_stages,
            &[RequestReceived, ResponseStarted],
            &["omit RequestReceived", "getPods", "default"],
        );
        check(
            req,
            Level::Request,
            &policy_stages,
            &[RequestReceived, ResponseStarted, ResponseComplete],
            &["only audit panic", "getPods", "default"],
        );
    }
    check(
        "nonResource",
        Level::Metadata,
        &policy_stages,
        &[RequestReceived, ResponseStarted],
        &["default", "omit RequestReceived", "getPods"],
    );
    check(
        "nonResource",
        Level::Request,
        &policy_stages,
        &[RequestReceived, ResponseStarted, ResponseComplete],
        &["only audit panic", "getPods", "default"],
    );
}

/// `TestOmitManagedFields`.
#[test]
fn omit_managed_fields() {
    let attributes = Attributes::Resource(ResourceAttributes {
        verb: "get".into(),
        ..ResourceAttributes::default()
    });
    let matching = |omit: Option<bool>| AuditPolicyRule {
        level: Level::RequestResponse,
        verbs: vec!["get".into()],
        omit_managed_fields: omit,
        ..rule("default")
    };
    for (global, rule_override, want) in [
        (false, None, false),
        (true, None, true),
        (true, Some(false), false),
        (false, Some(true), true),
    ] {
        let policy = AuditPolicy {
            api_version: "audit.k8s.io/v1".into(),
            kind: "Policy".into(),
            metadata: None,
            rules: vec![matching(rule_override)],
            omit_stages: vec![],
            omit_managed_fields: global,
        };
        assert_eq!(policy.evaluate(None, &attributes).omit_managed_fields, want);
    }
}

#[test]
fn policies_admins_write_load_and_decide() {
    let policy = AuditPolicy::from_yaml(&fixture("policy-cks-secrets-nodes.yaml")).unwrap();
    let kubelet = UserInfo::new("system:node:n1").with_groups(["system:nodes"]);
    assert_eq!(
        policy
            .evaluate(
                Some(&tim()),
                &resource("default", "", "v1", "secrets", "", "db")
            )
            .level,
        Level::Metadata
    );
    assert_eq!(
        policy
            .evaluate(
                Some(&kubelet),
                &resource("default", "", "v1", "pods", "", "p")
            )
            .level,
        Level::RequestResponse
    );
    assert_eq!(
        policy
            .evaluate(
                Some(&tim()),
                &resource("default", "", "v1", "pods", "", "p")
            )
            .level,
        Level::None
    );

    let policy = AuditPolicy::from_yaml(&fixture("policy-cluster.yaml")).unwrap();
    let mut delete_secret = resource("kube-system", "", "v1", "secrets", "", "x");
    if let Attributes::Resource(r) = &mut delete_secret {
        r.verb = "delete".into();
    }
    let config = policy.evaluate(Some(&tim()), &delete_secret);
    assert_eq!(
        (config.level, config.omit_stages),
        (Level::Metadata, vec![Stage::RequestReceived])
    );
    let mut update = resource("default", "apps", "v1", "deployments", "", "web");
    if let Attributes::Resource(r) = &mut update {
        r.verb = "update".into();
    }
    assert_eq!(policy.evaluate(Some(&tim()), &update).level, Level::Request);
    assert_eq!(
        policy
            .evaluate(Some(&tim()), &resource("x", "", "v1", "pods", "", "p"))
            .level,
        Level::Metadata
    );
}

#[test]
fn invalid_policies_are_refused() {
    for bad in [
        "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: [{level: Metadata}]\n",
        "apiVersion: audit.k8s.io/v1\nkind: Pod\n",
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Loud}]\n",
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{}]\n",
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, nonResourceURLs: [/x], namespaces: [a]}]\n",
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, nonResourceURLs: [x]}]\n",
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, nonResourceURLs: [/a*b]}]\n",
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, resources: [{group: '', resourceNames: [x]}]}]\n",
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [Never]\n",
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, usrs: [typo]}]\n",
        "a: [unclosed",
    ] {
        assert!(AuditPolicy::from_yaml(bad).is_err(), "{bad}");
    }
}
