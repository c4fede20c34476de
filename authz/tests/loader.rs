//! The manifest loader against malformed, invalid and hostile input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use rampart_authz::{Error, LoadErrors, Loader};

/// What strict mode refuses (the API server's validation); see
/// `objects_the_api_server_would_refuse_are_evaluated_with_a_warning_by_default`.
fn errors(text: &str) -> Vec<String> {
    let LoadErrors(errors) = Loader::new()
        .strict(true)
        .load_str("test.yaml", text)
        .unwrap_err();
    errors.iter().map(ToString::to_string).collect()
}

fn one_error(text: &str) -> String {
    let all = errors(text);
    assert_eq!(all.len(), 1, "{all:?}");
    all.into_iter().next().unwrap()
}

const ROLE: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: ns}\nrules:\n- {apiGroups: [\"\"], resources: [pods], verbs: [get]}\n";

#[test]
fn good_input_in_every_container_format() {
    let yaml = format!(
        "{ROLE}---\n# a comment-only document is skipped\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\n"
    );
    let loaded = Loader::new().load_str("a.yaml", &yaml).unwrap();
    assert_eq!(loaded.policy.counts(), [1, 0, 0, 0]);
    assert_eq!(loaded.notes, ["a.yaml, document 2: skipped v1 ConfigMap"]);

    let list = r#"{"apiVersion":"v1","kind":"List","items":[
        {"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"c"},"rules":null},
        {"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"b"},
         "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"c"},
         "subjects":[{"kind":"ServiceAccount","name":"sa","namespace":"ns"}]}]}
        {"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBindingList","items":[]}"#;
    let loaded = Loader::new().load_str("dump.json", list).unwrap();
    assert_eq!(loaded.policy.counts(), [0, 1, 0, 1]);

    // Namespace defaulting, as `kubectl apply -n` would do.
    let unnamespaced = ROLE.replace(", namespace: ns", "");
    assert!(one_error(&unnamespaced).contains("metadata.namespace"));
    let loaded = Loader::new()
        .default_namespace("team-a")
        .load_str("x.yaml", &unnamespaced)
        .unwrap();
    assert!(loaded.policy.role("team-a", "r").is_some());
}

#[test]
fn directories_are_walked_in_order_and_unreadable_paths_reported() {
    let dir = std::env::temp_dir().join(format!("rampart-authz-loader-{}", std::process::id()));
    let nested = dir.join("nested");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(dir.join("a.yaml"), ROLE).unwrap();
    std::fs::write(nested.join("b.yml"), ROLE.replace("name: r", "name: r2")).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a manifest").unwrap();
    let loaded = Loader::new().load_paths(&[&dir]).unwrap();
    assert_eq!(loaded.policy.counts(), [2, 0, 0, 0]);
    let LoadErrors(errors) = Loader::new()
        .load_paths(&[dir.join("missing.yaml")])
        .unwrap_err();
    assert!(matches!(errors.as_slice(), [Error::Io { .. }]));
    std::fs::write(dir.join("big.yaml"), "#".repeat(2048)).unwrap();
    let LoadErrors(errors) = Loader::new()
        .max_file_bytes(1024)
        .load_paths(&[dir.join("big.yaml")])
        .unwrap_err();
    assert!(matches!(errors.as_slice(), [Error::TooLarge { .. }]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_objects_name_file_document_and_field() {
    let wrong_type = ROLE.replace("verbs: [get]", "verbs: get");
    let message = one_error(&wrong_type);
    assert!(
        message.starts_with("test.yaml, document 1: Role `r`: field `rules[0].verbs`"),
        "{message}"
    );

    let second = format!(
        "{ROLE}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: b}}\nsubjects: []\n"
    );
    let all = errors(&second);
    assert!(
        all.iter()
            .all(|m| m.contains("document 2") && m.contains("field `roleRef.")),
        "{all:?}"
    );

    assert!(one_error("kind: [Role]\n").contains("field `kind`"));
    assert!(one_error("{\"kind\": 5}").contains("field `kind`"));
    let message = one_error("apiVersion: v1\nkind: List\nitems: 7\n");
    assert!(message.contains("items"), "{message}");
}

#[test]
fn objects_the_api_server_would_reject_are_refused() {
    let binding = |kind: &str, role_kind: &str, subject: &str| {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata: {{name: b, namespace: ns}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: {role_kind}, name: r}}\nsubjects:\n- {subject}\n"
        )
    };
    let cases = [
        (binding("ClusterRoleBinding", "Role", "{kind: User, name: u}"), "roleRef.kind"),
        (binding("RoleBinding", "Bogus", "{kind: User, name: u}"), "roleRef.kind"),
        (binding("RoleBinding", "Role", "{kind: user, name: u}"), "subjects[0].kind"),
        (binding("RoleBinding", "Role", "{kind: User, name: ''}"), "subjects[0].name"),
        (binding("RoleBinding", "Role", "{kind: User, name: u, apiGroup: example.com}"), "subjects[0].apiGroup"),
        (binding("RoleBinding", "Role", "{kind: ServiceAccount, name: Bad_Name}"), "subjects[0].name"),
        (binding("RoleBinding", "Role", "{kind: ServiceAccount, name: sa, apiGroup: rbac.authorization.k8s.io}"), "subjects[0].apiGroup"),
        (binding("ClusterRoleBinding", "ClusterRole", "{kind: ServiceAccount, name: sa}"), "subjects[0].namespace"),
        (ROLE.replace("verbs: [get]", "verbs: []"), "rules[0].verbs"),
        (ROLE.replace("apiGroups: [\"\"], ", ""), "rules[0].apiGroups"),
        (ROLE.replace("resources: [pods]", "nonResourceURLs: [/x]"), "rules[0].nonResourceURLs"),
        (ROLE.replace("name: r,", "name: a/b,"), "metadata.name"),
        (ROLE.replace("namespace: ns", "namespace: Not_A_Label"), "metadata.namespace"),
        (ROLE.replace("apiVersion: rbac.authorization.k8s.io/v1", "apiVersion: rbac.authorization.k8s.io/v1beta1"), "apiVersion"),
        (
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: c}\naggregationRule: {clusterRoleSelectors: []}\n".to_owned(),
            "aggregationRule.clusterRoleSelectors",
        ),
        (
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: c}\naggregationRule:\n  clusterRoleSelectors:\n  - matchExpressions: [{key: k, operator: Near}]\n".to_owned(),
            "aggregationRule.clusterRoleSelectors[0]",
        ),
    ];
    for (manifest, field) in cases {
        let all = errors(&manifest);
        assert!(
            all.iter().any(|e| e.contains(&format!("field `{field}`"))),
            "{field}: {all:?}"
        );
    }
    let cluster_rule_with_urls = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: c}\nrules:\n- {nonResourceURLs: [/healthz], verbs: [get]}\n";
    assert!(
        Loader::new()
            .load_str("ok.yaml", cluster_rule_with_urls)
            .is_ok()
    );
}

#[test]
fn duplicates_are_refused_with_both_locations() {
    let message = one_error(&format!("{ROLE}---\n{ROLE}"));
    assert_eq!(
        message,
        "test.yaml, document 2: duplicate Role `ns/r`, first defined at test.yaml, document 1"
    );
}

#[test]
fn hostile_yaml_is_refused_not_expanded() {
    // A billion-laughs alias bomb: the parser's budget refuses it.
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for level in 0..9u8 {
        let prev = char::from(b'a' + level);
        let next = char::from(b'b' + level);
        bomb.push_str(&format!("{next}: &{next} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
    }
    let result = Loader::new().load_str("bomb.yaml", &bomb);
    assert!(
        matches!(result, Err(LoadErrors(ref e)) if matches!(e.as_slice(), [Error::Syntax { .. }])),
        "{result:?}"
    );

    // Deep nesting.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(Loader::new().load_str("deep.yaml", &deep).is_err());
    assert!(Loader::new().load_str("deep.json", &deep).is_err());
    // Not YAML at all.
    assert!(
        Loader::new()
            .load_str("bad.yaml", "key: [unclosed\n")
            .is_err()
    );
    assert!(Loader::new().load_str("bad.json", "{\"kind\": ").is_err());
    // Binary noise.
    assert!(
        Loader::new()
            .load_str("noise.yaml", "\u{0}\u{1}\u{2}: :\n- - -")
            .is_err()
    );
}

/// Kubernetes' own authorizer tests and cluster dumps hold objects today's API validation
/// refuses; the authorizer still evaluates them, and so does the loader by default.
#[test]
fn objects_the_api_server_would_refuse_are_evaluated_with_a_warning_by_default() {
    let mixed = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: mixed}\nrules:\n- {apiGroups: [\"\"], resources: [pods], nonResourceURLs: [/healthz], verbs: [get]}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: mixed}\nsubjects:\n- {kind: ServiceAccount, name: \"bar \", namespace: ns}\n";
    let loaded = Loader::new().load_str("legacy.yaml", mixed).unwrap();
    assert_eq!(loaded.policy.counts(), [0, 1, 0, 1], "both are evaluated");
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("legacy.yaml, document 1") && warnings[0].contains("nonResourceURLs")
    );
    assert!(warnings[1].contains("document 2") && warnings[1].contains("subjects[0]"));
    let LoadErrors(refused) = Loader::new()
        .strict(true)
        .load_str("legacy.yaml", mixed)
        .unwrap_err();
    assert_eq!(refused.len(), 2);
}

/// The API server refuses `resourceNames` on a `nonResourceURLs` rule.
#[test]
fn resource_names_on_a_non_resource_rule_are_refused_as_the_api_server_refuses_them() {
    let text = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: c}\nrules:\n- {nonResourceURLs: [/healthz], resourceNames: [x], verbs: [get]}\n";
    assert!(one_error(text).contains("nonResourceURLs"));
}

/// A cluster export with more documents than the YAML parser's default document budget
/// (1,024) loads: input is bounded by bytes.
#[test]
fn a_large_multi_document_export_loads() {
    let mut text = String::new();
    for n in 0..12_000 {
        text.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: b{n}, namespace: ns{}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}}\nsubjects:\n- {{kind: User, name: user{n}}}\n",
            n % 50
        ));
    }
    assert!(text.len() > 2_000_000);
    let loaded = Loader::new().load_str("export.yaml", &text).unwrap();
    assert_eq!(loaded.policy.counts(), [0, 0, 12_000, 0]);
}

/// Every load through an audited loader is a `policy.loaded` event naming who loaded what;
/// a failed load is recorded too, and a load that cannot be recorded takes no effect.
#[test]
fn loads_are_audited_and_an_unauditable_load_is_refused() {
    use std::sync::Arc;

    use rampart_core::{Action, ManualClock, MemorySink, Outcome, UserInfo};

    let sink = Arc::new(MemorySink::new());
    let loader = Loader::new().audit_to(
        sink.clone(),
        Arc::new(ManualClock::at_unix(1_800_000_000)),
        UserInfo::new("operator"),
    );
    loader.load_str("rbac.yaml", ROLE).unwrap();
    loader.load_str("broken.yaml", "kind: [").unwrap_err();
    let events = sink.events();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.action == Action::PolicyLoaded && e.actor.username == "operator")
    );
    assert_eq!(events[0].outcome, Outcome::Success);
    assert_eq!(events[0].details["roles"], 1);
    assert_eq!(
        events[0].details["sources"],
        serde_json::json!(["rbac.yaml"])
    );
    assert_eq!(events[1].outcome, Outcome::Failure);
    assert_eq!(events[1].details["errors"], 1);

    sink.set_failing(true);
    let LoadErrors(errors) = loader.load_str("rbac.yaml", ROLE).unwrap_err();
    assert!(matches!(errors.as_slice(), [Error::Audit(_)]), "{errors:?}");
}
