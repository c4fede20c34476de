//! `rampart saml …` as black boxes: the fixture responses get their verdicts through
//! `saml verify` (replay and request IDs persisting across lines), and a live round trip
//! with pysaml2 as the IdP: `saml sp-metadata` and `saml authn-request` produce what
//! pysaml2 accepts (it verifies the request's redirect signature against our metadata),
//! and the response it sends back is accepted by `saml verify`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use std::process::Command;

use serde_json::Value;

mod common;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../authn/tests/fixtures/saml");
const SP: &str = "https://rampart.example.test/saml/metadata";
const ACS: &str = "https://rampart.example.test/saml/acs";

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("manifest.json")).unwrap()).unwrap()
}

/// `rampart saml SUBCOMMAND --sp-entity-id SP --acs-url ACS ARGS…` with `stdin`.
fn saml(subcommand: &str, args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut all = vec!["saml", subcommand, "--sp-entity-id", SP, "--acs-url", ACS];
    all.extend_from_slice(args);
    common::run(all, stdin)
}

/// The JSON lines of a run.
fn json_lines(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn verify(extra: &[&str], names: &[&str]) -> Vec<Value> {
    let stdin: String = names
        .iter()
        .map(|name| std::fs::read_to_string(fixture(&format!("{name}.b64"))).unwrap())
        .collect();
    let metadata = fixture("idp-metadata.xml");
    let key = fixture("sp.key");
    let mut args = vec!["--idp-metadata", &metadata, "--sp-key", &key];
    args.extend_from_slice(extra);
    let out = saml("verify", &args, stdin.as_bytes());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&out)
}

#[test]
fn verify_writes_one_verdict_per_line_with_state_across_lines() {
    let manifest = manifest();
    let now = manifest["made"].as_str().unwrap();
    let request = manifest["request"].as_str().unwrap();
    let verdicts = verify(
        &[
            "--now",
            now,
            "--request-id",
            request,
            "--groups-claim",
            "groups",
            "--allow-unsolicited",
        ],
        &[
            "response-signed",
            "response-signed",
            "unsolicited",
            "unsolicited",
            "xsw4",
            "sha1",
        ],
    );
    assert_eq!(verdicts.len(), 6);
    assert_eq!(verdicts[0]["accepted"], true);
    assert_eq!(verdicts[0]["name_id"], "alice@example.test");
    assert_eq!(
        verdicts[0]["attributes"]["groups"],
        serde_json::json!(["developers", "oncall"])
    );
    assert_eq!(
        verdicts[0]["user"]["username"],
        "https://idp.example.test/saml/metadata#alice@example.test"
    );
    assert_eq!(
        verdicts[0]["user"]["groups"],
        serde_json::json!(["developers", "oncall"])
    );
    // The request was answered on line 1.
    assert_eq!(verdicts[1]["accepted"], false);
    assert!(
        verdicts[1]["error"]
            .as_str()
            .unwrap()
            .contains("InResponseTo")
    );
    assert_eq!(verdicts[2]["accepted"], true);
    assert_eq!(verdicts[3]["error"], "assertion replayed");
    assert!(
        verdicts[4]["error"]
            .as_str()
            .unwrap()
            .contains("exactly one assertion")
    );
    assert!(verdicts[5]["error"].as_str().unwrap().contains("sha1"));
}

#[test]
fn later_instants_are_refused_and_bad_metadata_is_a_usage_error() {
    let verdicts = verify(
        &["--allow-unsolicited", "--now", "2030-01-01T00:00:00Z"],
        &["unsolicited"],
    );
    assert_eq!(verdicts[0]["error"], "assertion expired");
    let out = saml(
        "verify",
        &[
            "--idp-metadata",
            &fixture("idp-metadata-no-signing-key.xml"),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no signing certificate"));
}

/// pysaml2 as a live IdP: our metadata, our signed redirect, its response, our verdict.
#[test]
fn a_live_round_trip_with_pysaml2() {
    let dir = rampart_testing::scratch_dir("cli-saml-round-trip");
    let metadata = saml(
        "sp-metadata",
        &["--sp-cert", &fixture("sp.crt"), "--sign-requests"],
        b"",
    );
    assert_eq!(metadata.status.code(), Some(0));
    let sp_metadata = dir.join("sp-metadata.xml");
    std::fs::write(&sp_metadata, &metadata.stdout).unwrap();

    let request = saml(
        "authn-request",
        &[
            "--idp-metadata",
            &fixture("idp-metadata.xml"),
            "--sign-with",
            &fixture("sp.key"),
            "--relay-state",
            "/dashboard",
        ],
        b"",
    );
    assert_eq!(
        request.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&request.stderr)
    );
    let request: Value = serde_json::from_slice(&request.stdout).unwrap();
    let url = request["url"].as_str().unwrap();
    let request_id = request["request_id"].as_str().unwrap();

    let idp = |url: &str| {
        Command::new("python3")
            .arg(fixture("idp.py"))
            .arg(&sp_metadata)
            .arg(url)
            .output()
            .unwrap()
    };
    // A tampered signature is refused by pysaml2: the signature it accepts is real.
    let tampered = url.replace("Signature=", "Signature=AAAA");
    let refused = idp(&tampered);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let answered = idp(url);
    assert_eq!(
        answered.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&answered.stderr)
    );
    let response = String::from_utf8(answered.stdout).unwrap();
    std::fs::write(dir.join("live.b64"), &response).unwrap();

    let out = saml(
        "verify",
        &[
            "--idp-metadata",
            &fixture("idp-metadata.xml"),
            "--request-id",
            request_id,
            "--username-prefix",
            "-",
        ],
        format!("{response}{response}").as_bytes(),
    );
    let verdicts = json_lines(&out);
    assert_eq!(verdicts[0]["accepted"], true, "{}", verdicts[0]);
    assert_eq!(verdicts[0]["user"]["username"], "bob@example.test");
    assert_eq!(verdicts[1]["accepted"], false);
}

#[test]
fn an_oversized_or_non_utf8_line_gets_its_own_verdict_and_reading_goes_on() {
    let mut stdin = vec![b'A'; rampart_examples::input::MAX_LINE_BYTES + 1];
    stdin.extend_from_slice(b"\n\xff\xfe\nnot base64!\n");
    let out = saml(
        "verify",
        &["--idp-metadata", &fixture("idp-metadata.xml")],
        &stdin,
    );
    assert_eq!(out.status.code(), Some(0));
    let verdicts = json_lines(&out);
    assert_eq!(verdicts.len(), 3);
    assert!(
        verdicts[0]["error"]
            .as_str()
            .unwrap()
            .contains("longer than")
    );
    assert_eq!(verdicts[1]["error"], "line is not UTF-8");
    assert_eq!(
        verdicts[2]["error"],
        "SAMLResponse is not base64-encoded UTF-8"
    );
}
