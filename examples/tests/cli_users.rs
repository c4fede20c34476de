//! `rampart users` as a black box: accounts written by the CLI log in (or not) through
//! `LocalAuthenticator` over the same file, refusals exit 1 and change nothing, the
//! password never leaves stdin, and each change lands in a verifiable audit trail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use rampart_testing::scratch_dir;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use rampart_authn::password::{HashParams, StoredLimits, parse_accounts};
use rampart_authn::{AccountStore, FileStore, LocalAuthenticator, PasswordHasher};
use rampart_core::{
    Authenticator, AuthnError, PasswordCredential, RequestContext, SecretString, SystemClock,
};
use serde_json::Value;

mod common;

/// OWASP's smallest equivalent setting, to keep the tests quick.
const FAST: [&str; 6] = ["--m-kib", "7168", "--t", "5", "--p", "1"];
const ALICE_PASSWORD: &str = "purple tuesday lighthouse marmalade";

fn users(file: &Path, args: &[&str], stdin: &str) -> Output {
    let mut all = vec!["users".to_owned(), args[0].to_owned(), "-f".to_owned()];
    all.push(file.to_str().unwrap().to_owned());
    all.extend(args[1..].iter().map(|arg| (*arg).to_owned()));
    common::run(all, stdin.as_bytes())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn json_lines(output: &Output) -> Vec<Value> {
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Logs in through the library over the file the CLI wrote.
fn login(file: &Path, username: &str, password: &str) -> Result<Vec<String>, AuthnError> {
    let hasher = PasswordHasher::new(
        HashParams::builder().m_kib(7168).t(5).p(1).build().unwrap(),
        StoredLimits::default(),
    )
    .unwrap();
    let store = FileStore::open(file).unwrap();
    let auth = LocalAuthenticator::new(store, hasher, 1, 1, Arc::new(SystemClock));
    let credential = PasswordCredential::new(username, SecretString::from(password));
    futures_executor::block_on(auth.authenticate(&credential, &RequestContext::new()))
        .map(|authenticated| authenticated.user.groups.clone())
}

fn add_alice(file: &Path, extra: &[&str]) -> Output {
    let args = [
        &["add", "alice", "--group", "developers", "--group", "ops"][..],
        extra,
        &FAST,
    ]
    .concat();
    users(file, &args, &format!("{ALICE_PASSWORD}\n"))
}

#[test]
fn an_added_account_logs_in_and_its_hash_never_leaves_the_file() {
    let dir = scratch_dir("cli-users-add");
    let file = dir.join("users.yaml");
    let added = add_alice(&file, &["--uid", "u-1"]);
    assert_eq!(added.status.code(), Some(0), "{}", text(&added.stderr));
    let summary = &json_lines(&added)[0];
    assert_eq!(summary["username"], "alice");
    assert_eq!(summary["uid"], "u-1");
    assert_eq!(summary["groups"], serde_json::json!(["developers", "ops"]));
    assert_eq!(summary["disabled"], false);
    assert!(summary["last_login"].is_null());
    let everything_printed = format!("{}{}", text(&added.stdout), text(&added.stderr));
    assert!(
        !everything_printed.contains("argon2id"),
        "{everything_printed}"
    );
    assert!(
        !everything_printed.contains("purple"),
        "{everything_printed}"
    );

    let stored = parse_accounts(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(
        stored["alice"]
            .password_hash
            .starts_with("$argon2id$v=19$m=7168,t=5,p=1$")
    );
    assert_eq!(
        login(&file, "alice", ALICE_PASSWORD).unwrap(),
        ["developers", "ops"]
    );
    assert_eq!(
        login(&file, "alice", "purple tuesday lighthouse"),
        Err(AuthnError::InvalidCredentials)
    );

    // A random UUID when no uid is given.
    let bob = users(
        &file,
        &[&["add", "bob"][..], &FAST].concat(),
        "an entirely different passphrase\n",
    );
    assert_eq!(bob.status.code(), Some(0), "{}", text(&bob.stderr));
    let uid = json_lines(&bob)[0]["uid"].as_str().unwrap().to_owned();
    assert_eq!(uid.len(), 36, "{uid}");

    let listed = users(&file, &["list"], "");
    assert_eq!(listed.status.code(), Some(0));
    let names: Vec<Value> = json_lines(&listed)
        .iter()
        .map(|line| line["username"].clone())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(!text(&listed.stdout).contains("argon2id"));
}

#[test]
fn refusals_exit_1_and_change_nothing() {
    let dir = scratch_dir("cli-users-refusals");
    let file = dir.join("users.yaml");
    assert_eq!(add_alice(&file, &[]).status.code(), Some(0));
    let before = std::fs::read_to_string(&file).unwrap();

    // A weak password: the verdict names the reasons, nothing is written.
    let weak = users(
        &file,
        &[&["add", "carol"][..], &FAST].concat(),
        "password\n",
    );
    assert_eq!(weak.status.code(), Some(1));
    let codes = common::rejection_codes(&weak.stderr);
    assert!(
        codes.contains(&"too_short".to_owned()) && codes.contains(&"blocklisted".to_owned()),
        "{codes:?}"
    );
    // The username inside the password.
    let context = users(
        &file,
        &[&["add", "carol"][..], &FAST].concat(),
        "carol's rather long password\n",
    );
    assert_eq!(context.status.code(), Some(1), "{}", text(&context.stderr));
    // A taken name, a reserved name, a reserved group, unknown accounts.
    assert_eq!(add_alice(&file, &[]).status.code(), Some(1));
    let reserved = users(
        &file,
        &[&["add", "system:admin"][..], &FAST].concat(),
        "a perfectly fine passphrase\n",
    );
    assert_eq!(reserved.status.code(), Some(1));
    let masters = users(
        &file,
        &[&["add", "dave", "--group", "system:masters"][..], &FAST].concat(),
        "a perfectly fine passphrase\n",
    );
    assert_eq!(masters.status.code(), Some(1));
    assert!(text(&masters.stderr).contains("system:masters"));
    assert_eq!(
        users(&file, &["disable", "nobody"], "").status.code(),
        Some(1)
    );
    assert_eq!(
        users(&file, &["enable", "nobody"], "").status.code(),
        Some(1)
    );
    let unknown = users(
        &file,
        &[&["set-password", "nobody"][..], &FAST].concat(),
        "a perfectly fine passphrase\n",
    );
    assert_eq!(unknown.status.code(), Some(1));
    // No password on stdin is a usage error.
    assert_eq!(
        users(&file, &[&["add", "erin"][..], &FAST].concat(), "")
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "refusals wrote nothing"
    );

    // With the explicit opt-in, a system group is granted.
    let granted = users(
        &file,
        &[
            &[
                "add",
                "dave",
                "--group",
                "system:masters",
                "--allow-system-groups",
            ][..],
            &FAST,
        ]
        .concat(),
        "a perfectly fine passphrase\n",
    );
    assert_eq!(granted.status.code(), Some(0), "{}", text(&granted.stderr));
}

#[test]
fn disable_enable_and_set_password_take_effect_on_login() {
    let dir = scratch_dir("cli-users-lifecycle");
    let file = dir.join("users.yaml");
    assert_eq!(add_alice(&file, &[]).status.code(), Some(0));

    let disabled = users(&file, &["disable", "alice"], "");
    assert_eq!(disabled.status.code(), Some(0));
    assert_eq!(json_lines(&disabled)[0]["disabled"], true);
    assert_eq!(
        login(&file, "alice", ALICE_PASSWORD),
        Err(AuthnError::InvalidCredentials)
    );
    assert_eq!(
        users(&file, &["enable", "alice"], "").status.code(),
        Some(0)
    );
    assert!(login(&file, "alice", ALICE_PASSWORD).is_ok());
    // The login was recorded; the CLI shows it.
    let listed = users(&file, &["list"], "");
    assert!(json_lines(&listed)[0]["last_login"].is_string());

    let new_password = "orange wednesday harbour jam";
    let changed = users(
        &file,
        &[&["set-password", "alice", "--must-change"][..], &FAST].concat(),
        &format!("{new_password}\n"),
    );
    assert_eq!(changed.status.code(), Some(0), "{}", text(&changed.stderr));
    assert_eq!(json_lines(&changed)[0]["must_change"], true);
    assert_eq!(
        login(&file, "alice", ALICE_PASSWORD),
        Err(AuthnError::InvalidCredentials)
    );
    assert!(login(&file, "alice", new_password).is_ok());
    let account = futures_executor::block_on(FileStore::open(&file).unwrap().get("alice"))
        .unwrap()
        .unwrap();
    assert!(account.must_change);
    assert!(
        account.last_login.is_some(),
        "set-password keeps the rest of the account"
    );
}

#[test]
fn every_change_is_recorded_in_a_verifiable_audit_trail() {
    let dir = scratch_dir("cli-users-audit");
    let file = dir.join("users.yaml");
    let trail = dir.join("trail");
    let audit = ["--audit-dir", trail.to_str().unwrap()];
    assert_eq!(add_alice(&file, &audit).status.code(), Some(0));
    assert_eq!(
        users(&file, &[&["disable", "alice"][..], &audit].concat(), "")
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        users(&file, &[&["enable", "alice"][..], &audit].concat(), "")
            .status
            .code(),
        Some(0)
    );
    let changed = users(
        &file,
        &[&["set-password", "alice"][..], &audit, &FAST].concat(),
        "orange wednesday harbour jam\n",
    );
    assert_eq!(changed.status.code(), Some(0), "{}", text(&changed.stderr));
    let deleted = users(&file, &[&["delete", "alice"][..], &audit].concat(), "");
    assert_eq!(deleted.status.code(), Some(0), "{}", text(&deleted.stderr));
    assert_eq!(
        users(&file, &[&["delete", "alice"][..], &audit].concat(), "")
            .status
            .code(),
        Some(1),
        "no such account"
    );

    let events = common::verified_audit_events(&trail);
    let actions: Vec<String> = events
        .iter()
        .filter(|event| event["target"]["name"] == "alice")
        .map(|event| {
            assert!(
                event["actor"]["username"]
                    .as_str()
                    .unwrap()
                    .starts_with("unix-uid:")
            );
            event["action"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        actions,
        [
            "account.created",
            "account.disabled",
            "account.enabled",
            "account.password_changed",
            "account.deleted"
        ]
    );
    let recorded = serde_json::to_string(&events).unwrap();
    assert!(
        !recorded.contains("purple")
            && !recorded.contains("orange")
            && !recorded.contains("argon2id")
    );
}
