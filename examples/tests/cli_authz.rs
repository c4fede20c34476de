//! `rampart authz` as a black box: the stable CLI contract.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::process::Output;

use serde_json::Value;

mod common;

const BOOTSTRAP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../authz/tests/fixtures/k8s-bootstrap-policy"
);

fn rampart(args: &[&str], stdin: &str) -> Output {
    common::run(args, stdin.as_bytes())
}

/// `rampart authz can-i ARGS -f` the bootstrap policy.
fn can_i(args: &[&str]) -> Output {
    let args: Vec<&str> = ["authz", "can-i"]
        .into_iter()
        .chain(args.iter().copied())
        .chain(["-f", BOOTSTRAP])
        .collect();
    rampart(&args, "")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn review_answers_each_line_in_order_and_survives_bad_lines() {
    let input = [
        r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"resourceAttributes":{"verb":"delete","resource":"nodes","name":"n1"},"user":"root","groups":["system:masters"]}}"#,
        r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"nonResourceAttributes":{"path":"/apis","verb":"get"},"user":"system:anonymous","groups":["system:unauthenticated"]}}"#,
        "this is not json",
        "",
        r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"jane"}}"#,
        r#"[1,2,3]"#,
        r#"{"kind":"SubjectAccessReview","spec":{"nonResourceAttributes":{"path":"/healthz","verb":"get"},"groups":["system:unauthenticated"]},"metadata":{"name":"kept"}}"#,
    ]
    .join("\n");
    let output = rampart(&["authz", "review", "-f", BOOTSTRAP], &input);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6, "one answer per non-blank line");
    assert_eq!(lines[0]["status"]["allowed"], true);
    assert!(
        lines[0]["status"]["reason"]
            .as_str()
            .unwrap()
            .contains("cluster-admin")
    );
    assert_eq!(
        lines[0]["spec"]["user"], "root",
        "the review is echoed with its spec"
    );
    assert_eq!(lines[1]["status"], serde_json::json!({"allowed": false}));
    assert_eq!(lines[2]["status"]["allowed"], false);
    assert!(
        lines[2]["status"]["evaluationError"]
            .as_str()
            .unwrap()
            .contains("line 3")
    );
    assert!(
        lines[3]["status"]["evaluationError"]
            .as_str()
            .unwrap()
            .contains("exactly one")
    );
    assert!(
        lines[4]["status"]["evaluationError"]
            .as_str()
            .unwrap()
            .contains("not a JSON object")
    );
    assert_eq!(lines[5]["status"]["allowed"], true);
    assert_eq!(lines[5]["metadata"]["name"], "kept");
}

#[test]
fn can_i_prints_and_exits_like_kubectl() {
    let yes = can_i(&[
        "delete",
        "nodes",
        "--as",
        "root",
        "--as-group",
        "system:masters",
    ]);
    assert_eq!(
        (yes.status.code(), stdout(&yes).as_str()),
        (Some(0), "yes\n")
    );
    let no = can_i(&["get", "secrets", "-n", "kube-system", "--as", "alice"]);
    assert_eq!((no.status.code(), stdout(&no).as_str()), (Some(1), "no\n"));
    let quiet = can_i(&["get", "secrets", "--as", "alice", "-q"]);
    assert_eq!(
        (quiet.status.code(), stdout(&quiet).as_str()),
        (Some(1), "")
    );
    // Non-resource URLs, and the impersonation groups the apiserver adds.
    let url = can_i(&["get", "/version", "--as", "alice"]);
    assert_eq!(url.status.code(), Some(0));
    let anonymous = can_i(&["get", "/apis", "--as", "system:anonymous"]);
    assert_eq!(anonymous.status.code(), Some(1));
    // A service account through its groups (system:serviceaccounts may read discovery docs).
    let sa = can_i(&[
        "get",
        "/openid/v1/jwks",
        "--as",
        "system:serviceaccount:ns:sa",
    ]);
    assert_eq!(sa.status.code(), Some(0));
    // Subresource and group syntax.
    let scale = can_i(&[
        "update",
        "deployments.apps/scale",
        "-n",
        "x",
        "--as",
        "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
    ]);
    assert_eq!(scale.status.code(), Some(0), "{}", stdout(&scale));

    let list = rampart(
        &["authz", "can-i", "--list", "--as", "alice", "-f", BOOTSTRAP],
        "",
    );
    assert_eq!(list.status.code(), Some(0));
    let table = stdout(&list);
    assert!(table.starts_with("Resources"), "{table}");
    assert!(
        table.contains("selfsubjectaccessreviews.authorization.k8s.io"),
        "{table}"
    );
    let json = rampart(
        &[
            "authz", "can-i", "--list", "--json", "--as", "alice", "-f", BOOTSTRAP,
        ],
        "",
    );
    for line in stdout(&json).lines() {
        let rule: Value = serde_json::from_str(line).unwrap();
        assert!(rule["verbs"].is_array());
    }
}

#[test]
fn who_can_and_risks_tables_and_json() {
    let json = rampart(
        &[
            "authz",
            "who-can",
            "create",
            "pods",
            "-n",
            "kube-system",
            "--json",
            "-f",
            BOOTSTRAP,
        ],
        "",
    );
    assert_eq!(json.status.code(), Some(0));
    let grantees: Vec<Value> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        grantees
            .iter()
            .any(|g| g["subject"]["name"] == "system:masters")
    );
    assert!(
        grantees
            .iter()
            .any(|g| g["subject"]["name"] == "daemon-set-controller"
                && g["subject"]["namespace"] == "kube-system")
    );
    let table = rampart(
        &[
            "authz",
            "who-can",
            "create",
            "pods",
            "-n",
            "kube-system",
            "-f",
            BOOTSTRAP,
        ],
        "",
    );
    assert!(stdout(&table).starts_with("BINDING"));

    // Without --include-bootstrap the default policy reports nothing; a bad grant shows.
    let clean = rampart(&["authz", "risks", "-f", BOOTSTRAP], "");
    assert_eq!(stdout(&clean).lines().count(), 1, "{}", stdout(&clean));
    let dir = policy_dir(
        "risks",
        "oops.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: oops}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: Group, name: contractors, apiGroup: rbac.authorization.k8s.io}]\n",
    );
    let risky = rampart(
        &[
            "authz",
            "risks",
            "--json",
            "-f",
            BOOTSTRAP,
            dir.to_str().unwrap(),
        ],
        "",
    );
    let findings: Vec<Value> = stdout(&risky)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(findings.iter().any(|f| f["check"] == "cluster-admin"
        && f["binding_name"] == "oops"
        && f["severity"] == "critical"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_policy_that_does_not_load_is_an_error_not_an_answer() {
    let dir = policy_dir(
        "bad",
        "bad.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\n",
    );
    let output = rampart(
        &[
            "authz",
            "can-i",
            "get",
            "pods",
            "--as",
            "x",
            "-f",
            dir.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("metadata.namespace"));
    assert_eq!(stdout(&output), "");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A fresh directory holding one manifest `file` with `yaml`.
fn policy_dir(name: &str, file: &str, yaml: &str) -> std::path::PathBuf {
    let dir = rampart_testing::scratch_dir(&format!("cli-{name}"));
    std::fs::write(dir.join(file), yaml).unwrap();
    dir
}

/// An object today's API validation refuses (a rule mixing resources and non-resource
/// URLs) is evaluated as the authorizer evaluates it, with a warning naming file, document
/// and field; `--strict` refuses it, for linting.
#[test]
fn objects_the_api_server_would_refuse_are_evaluated_with_a_warning_unless_strict() {
    let dir = policy_dir(
        "legacy",
        "legacy.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: mixed}\nrules:\n- {apiGroups: [\"\"], resources: [pods], nonResourceURLs: [/healthz], verbs: [get]}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: mixed}\nsubjects:\n- {kind: User, name: alice}\n",
    );
    let path = dir.to_str().unwrap();
    let lenient = rampart(
        &["authz", "can-i", "get", "pods", "--as", "alice", "-f", path],
        "",
    );
    assert_eq!(lenient.status.code(), Some(0), "{lenient:?}");
    assert_eq!(stdout(&lenient), "yes\n");
    let warning = String::from_utf8_lossy(&lenient.stderr);
    assert!(
        warning.contains("legacy.yaml, document 1") && warning.contains("nonResourceURLs"),
        "{warning}"
    );
    let strict = rampart(
        &[
            "authz", "can-i", "get", "pods", "--as", "alice", "--strict", "-f", path,
        ],
        "",
    );
    assert_eq!(strict.status.code(), Some(2));
    assert_eq!(stdout(&strict), "");
    std::fs::remove_dir_all(&dir).unwrap();
}
