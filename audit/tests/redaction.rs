//! Secrets pushed through every path of the audit block never reach a sink, an error or
//! `Debug` output: passwords, tokens, cookies, private keys and Authorization headers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart_audit::{
    Chain, Durability, Event, FileSink, FileSinkConfig, WebhookConfig, WebhookSink, verify,
};
use rampart_core::{
    Action, AuditEvent, AuditSink, Outcome, RequestContext, Target, Timestamp, UserInfo,
};

const SECRETS: &[&str] = &[
    "correct-horse-battery-staple",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
    "session=8f14e45fceea167a5a36dedd4bea2543",
    "MHcCAQEEIBxYrAnDoMpRivAtEkEyOfPrIvAtEkEy",
    "dXNlcjpodW50ZXIy",
];

fn secret_event() -> AuditEvent {
    AuditEvent::new(
        Action::AuthnAttempt,
        Outcome::Failure,
        Timestamp::UNIX_EPOCH,
    )
    .with_actor(UserInfo::new("alice"))
    .with_source(RequestContext::new().with_user_agent("curl/8"))
    .with_target(Target::new("token", format!("Bearer {}", SECRETS[1])))
    .with_reason(format!("bad token {}", SECRETS[1]))
    .with_detail("password", SECRETS[0])
    .with_detail("Authorization", format!("Basic {}", SECRETS[4]))
    .with_detail(
        "headers",
        serde_json::json!({"Cookie": SECRETS[2], "X-Request-Id": "r-1"}),
    )
    .with_detail(
        "key",
        format!(
            "-----BEGIN EC PRIVATE KEY-----\n{}\n-----END EC PRIVATE KEY-----",
            SECRETS[3]
        ),
    )
    .with_detail("client_secret", "s3cr3t-client-secret")
}

fn assert_clean(text: &str, path: &str) {
    for secret in SECRETS.iter().chain(&["s3cr3t-client-secret"]) {
        assert!(
            !text.contains(secret),
            "{path}: secret {secret:?} leaked into {text}"
        );
    }
}

#[test]
fn the_file_sink_stores_no_secret() {
    let dir = std::env::temp_dir().join(format!("rampart-redaction-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sink =
        FileSink::open(FileSinkConfig::new(&dir).durability(Durability::EveryEvent)).unwrap();
    assert_clean(&format!("{sink:?}"), "FileSink Debug");
    sink.record(secret_event()).unwrap();
    sink.close().unwrap();
    let mut stored = String::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "jsonl") {
            stored.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    assert_clean(&stored, "file trail");
    assert!(
        stored.contains("[REDACTED]") && stored.contains("X-Request-Id"),
        "non-secrets stay: {stored}"
    );
    assert!(
        verify(std::slice::from_ref(&dir), &Chain::Sha256, None)
            .unwrap()
            .is_intact(),
        "redaction happens before chaining"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_webhook_sink_posts_no_secret_and_kubernetes_bodies_lose_secret_data() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(String::new()));
    let store = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut line) = (0usize, String::new());
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            store
                .lock()
                .unwrap()
                .push_str(&String::from_utf8(body).unwrap());
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
        }
    });
    let dir =
        std::env::temp_dir().join(format!("rampart-redaction-webhook-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sink = WebhookSink::start(WebhookConfig::new(
        format!("http://127.0.0.1:{port}/audit"),
        &dir,
    ))
    .unwrap();
    sink.record(secret_event()).unwrap();
    let secret_object = format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/x/secrets","verb":"create","user":{{"username":"bob"}},"requestObject":{{"kind":"Secret","apiVersion":"v1","metadata":{{"name":"db"}},"data":{{"password":"{}"}},"stringData":{{"token":"{}"}}}},"annotations":{{"authorization.k8s.io/decision":"allow"}}}}"#,
        SECRETS[4], SECRETS[1]
    );
    sink.record_kubernetes(&Event::from_json(&secret_object).unwrap())
        .unwrap();
    assert!(sink.wait_for(Duration::from_secs(60), |delivered, _| delivered == 2));
    let posted = bodies.lock().unwrap().clone();
    assert_clean(&posted, "webhook posts");
    assert!(
        posted.contains(r#""name":"db""#),
        "the rest of the body stays: {posted}"
    );
    let spooled = std::fs::read_to_string(dir.join("webhook-spool.jsonl")).unwrap_or_default();
    assert_clean(&spooled, "webhook spool");
    drop(sink);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_and_debug_output_carry_no_event_content() {
    let dir = std::env::temp_dir().join(format!("rampart-redaction-errors-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = FileSink::open(FileSinkConfig::new(&dir)).unwrap();
    let locked = FileSink::open(FileSinkConfig::new(&dir)).unwrap_err();
    assert_clean(&format!("{locked} {locked:?}"), "lock error");
    drop(first);
    let short_key = Chain::hmac(SECRETS[0].as_bytes().get(..8).unwrap()).unwrap_err();
    assert!(
        !format!("{short_key} {short_key:?}").contains("correct-h"),
        "the key is not echoed"
    );
    let chain = Chain::hmac(format!("{}{}", SECRETS[0], SECRETS[0]).as_bytes()).unwrap();
    assert_clean(&format!("{chain:?}"), "Chain Debug");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Values under innocent keys, in every shape a Secret body takes in a Kubernetes audit
/// event: a list whose items carry no `kind`, a merge patch, a JSON patch, and the
/// last-applied configuration `kubectl apply` keeps in an annotation.
/// A Secret's value, base64 as in `data`, and plain as in `stringData`.
const VALUE: &str = "aW5ub2NlbnQtbG9va2luZy12YWx1ZQ==";
const PLAIN: &str = "innocent-looking-value";

/// The event redacted, as it would be stored; fails if either secret value survives.
fn redacted_without_leak(json: &str) -> String {
    let mut parsed = Event::from_json(json).unwrap();
    rampart_audit::redact_kubernetes(&mut parsed);
    let text = serde_json::to_string(&parsed).unwrap();
    assert!(
        !text.contains(VALUE) && !text.contains(PLAIN),
        "secret data leaked: {text}"
    );
    text
}

#[test]
fn secret_data_is_redacted_in_lists_patches_and_last_applied_configuration() {
    let event = |verb: &str, body_field: &str, body: String| {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/x/secrets","verb":"{verb}","user":{{"username":"bob"}},"objectRef":{{"resource":"secrets","namespace":"x","name":"db","apiVersion":"v1"}},"{body_field}":{body}}}"#
        )
    };
    let applied = format!(
        r#"{{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{{\"name\":\"db\"}},\"stringData\":{{\"color\":\"{PLAIN}\"}}}}"#
    );
    let shapes = [
        event(
            "list",
            "responseObject",
            format!(
                r#"{{"kind":"SecretList","apiVersion":"v1","metadata":{{}},"items":[{{"metadata":{{"name":"db"}},"data":{{"color":"{VALUE}"}},"type":"Opaque"}}]}}"#
            ),
        ),
        event(
            "patch",
            "requestObject",
            format!(r#"{{"data":{{"color":"{VALUE}"}},"stringData":{{"shape":"{PLAIN}"}}}}"#),
        ),
        event(
            "patch",
            "requestObject",
            format!(
                r#"[{{"op":"replace","path":"/data/color","value":"{VALUE}"}},{{"op":"add","path":"/stringData","value":{{"shape":"{PLAIN}"}}}},{{"op":"add","path":"/metadata/labels/team","value":"blue"}}]"#
            ),
        ),
        event(
            "update",
            "requestObject",
            format!(
                r#"{{"kind":"Secret","apiVersion":"v1","metadata":{{"name":"db","annotations":{{"kubectl.kubernetes.io/last-applied-configuration":"{applied}"}}}},"data":{{"color":"{VALUE}"}}}}"#
            ),
        ),
    ];
    for json in shapes {
        let text = redacted_without_leak(&json);
        assert!(text.contains(rampart_audit::REDACTED), "{text}");
    }
    // `kubectl get secrets` asks for a Table; with includeObject=Object each row carries
    // the whole Secret, and a YAML apply patch arrives as a string.
    let table = event(
        "list",
        "responseObject",
        format!(
            r#"{{"kind":"Table","apiVersion":"meta.k8s.io/v1","columnDefinitions":[],"rows":[{{"cells":["db"],"object":{{"kind":"PartialObjectMetadata","metadata":{{"name":"db","annotations":{{"kubectl.kubernetes.io/last-applied-configuration":"{applied}"}}}},"data":{{"color":"{VALUE}"}}}}}}]}}"#
        ),
    );
    let yaml_patch = event(
        "patch",
        "requestObject",
        format!(r#""stringData:\n  shape: {PLAIN}\n""#),
    );
    // A JSON patch with one odd element must not make its other operations pass.
    let mixed_patch = event(
        "patch",
        "requestObject",
        format!(
            r#"[{{"op":"add","path":"/data/k","value":"{VALUE}"}},{{}},{{"value":"{PLAIN}"}}]"#
        ),
    );
    for json in [table, yaml_patch, mixed_patch] {
        redacted_without_leak(&json);
    }
    // A JSON patch of a label on a Secret keeps the label: only data is removed.
    let labels = event(
        "patch",
        "requestObject",
        r#"[{"op":"add","path":"/metadata/labels/team","value":"blue"}]"#.to_owned(),
    );
    let mut parsed = Event::from_json(&labels).unwrap();
    rampart_audit::redact_kubernetes(&mut parsed);
    assert!(serde_json::to_string(&parsed).unwrap().contains("blue"));
}
