//! Password policy: NIST SP 800-63B-4 rules, Unicode edge cases and the blocklist's
//! provenance, checked against the manifest the build script wrote.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use rampart_authn::PasswordPolicy;
use rampart_authn::password::{
    Blocklist, ContextWord, PasswordContext, PolicyViolation, Rejection,
};
use rampart_core::SecretString;

fn check(policy: &PasswordPolicy, password: &str, user: &str) -> Result<(), Vec<Rejection>> {
    policy
        .check(
            &SecretString::from(password),
            &PasswordContext::for_user(user),
        )
        .map_err(|PolicyViolation { reasons }| reasons)
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/blocklist.json"))
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_blocklist_matches_its_manifest() {
    let manifest = manifest();
    let blocklist = Blocklist::builtin();
    assert_eq!(
        blocklist.len() as u64,
        manifest["entries"].as_u64().unwrap()
    );
    assert!(blocklist.len() >= 100_000);
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/blocklist.bin")).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, manifest["blocklist_bin_sha256"].as_str().unwrap());
    for key in ["highest_ranked", "lowest_ranked"] {
        for entry in manifest[key].as_array().unwrap() {
            let entry = entry.as_str().unwrap();
            assert!(blocklist.contains(entry), "{key} entry {entry:?} not found");
            assert!(
                blocklist.contains(&entry.to_uppercase()),
                "{entry:?} upper case not found"
            );
        }
    }
}

#[test]
fn common_passwords_are_refused_in_any_case_or_width() {
    let policy = PasswordPolicy::builder().min_chars(8).build().unwrap();
    for password in [
        "password",
        "PASSWORD",
        "Password",
        "qwertyuiop",
        "iloveyou",
        "1qaz2wsx",
        "trustno1",
        // Fullwidth forms fold to ASCII under NFKC.
        "ｐａｓｓｗｏｒｄ",
    ] {
        let reasons = check(&policy, password, "alice").unwrap_err();
        assert!(
            reasons.contains(&Rejection::Blocklisted),
            "{password}: {reasons:?}"
        );
    }
}

#[test]
fn long_unusual_passphrases_are_accepted_without_composition_rules() {
    let policy = PasswordPolicy::default();
    for password in [
        // Lowercase letters and spaces only: no composition rule may refuse it.
        "correct horse battery staple",
        "purple tuesday lighthouse marmalade",
        // Any Unicode is accepted.
        "żółć gęślą jaźń świerszcz",
        "日本語のパスワードはとても長い",
        "🦀🦀 rusty crab of the deep 🌊",
    ] {
        assert_eq!(check(&policy, password, "alice"), Ok(()), "{password}");
    }
    // 64 code points must be accepted by every policy.
    let sixty_four = "ab".repeat(31) + "xy";
    assert_eq!(sixty_four.chars().count(), 64);
    assert_eq!(
        check(&PasswordPolicy::default(), &sixty_four, "alice"),
        Ok(())
    );
}

#[test]
fn length_counts_code_points_after_nfkc() {
    let policy = PasswordPolicy::default();
    // 15 two-byte characters: 30 bytes but 15 code points, accepted.
    assert_eq!(check(&policy, "ééééééééééééééx", "alice"), Ok(()));
    // 14 characters each written as e + combining acute (28 code points before NFKC)
    // compose to 14 and are too short.
    let decomposed = "e\u{301}".repeat(13) + "x";
    assert_eq!(
        check(&policy, &decomposed, "alice"),
        Err(vec![Rejection::TooShort {
            min: 15,
            actual: 14
        }])
    );
    // The ligature "ﬁ" expands to "fi" under NFKC and counts as two.
    let ligatures = "ﬁ".repeat(8);
    assert_eq!(check(&policy, &ligatures, "alice"), Ok(()));
}

#[test]
fn oversized_input_is_refused_with_only_its_length() {
    let policy = PasswordPolicy::default();
    let long = "x".repeat(10_000);
    assert_eq!(
        check(&policy, &long, "alice"),
        Err(vec![Rejection::TooLong {
            max: 128,
            actual: 10_000
        }])
    );
}

#[test]
fn context_words_are_refused_in_any_case() {
    let policy = PasswordPolicy::builder()
        .service_name("Rampart")
        .build()
        .unwrap();
    assert_eq!(
        check(&policy, "my name is Alice-Liddell ok", "alice-liddell"),
        Err(vec![Rejection::ContainsContextWord(ContextWord::Username)])
    );
    assert_eq!(
        check(&policy, "RAMPART rules the cluster", "bob"),
        Err(vec![Rejection::ContainsContextWord(
            ContextWord::ServiceName
        )])
    );
    let other = ["Dodgson"];
    let context = PasswordContext {
        username: Some("carol"),
        other: &other,
    };
    let err = policy
        .check(&SecretString::from("lewis dodgson was here"), &context)
        .unwrap_err();
    assert_eq!(
        err.reasons,
        vec![Rejection::ContainsContextWord(ContextWord::Other)]
    );
    // A short username is only refused as the whole password, not inside a passphrase.
    assert_eq!(check(&policy, "bobsleigh down the mountain", "bob"), Ok(()));
}

#[test]
fn control_characters_and_repetition_are_refused() {
    let policy = PasswordPolicy::default();
    assert_eq!(
        check(&policy, "line one\nline two here", "alice"),
        Err(vec![Rejection::ControlCharacter])
    );
    assert_eq!(
        check(&policy, &"z".repeat(20), "alice"),
        Err(vec![Rejection::Repetitive])
    );
}

#[test]
fn organisation_entries_extend_the_list() {
    let blocklist = Blocklist::builtin().with_entries(["Winter2026!Rampart"]);
    let policy = PasswordPolicy::builder()
        .min_chars(8)
        .blocklist(blocklist)
        .build()
        .unwrap();
    assert_eq!(
        check(&policy, "winter2026!rampart", "alice"),
        Err(vec![Rejection::Blocklisted])
    );
    let empty = PasswordPolicy::builder()
        .min_chars(8)
        .blocklist(Blocklist::empty())
        .build()
        .unwrap();
    assert_eq!(check(&empty, "password", "alice"), Ok(()));
}

#[test]
fn reasons_never_repeat_the_password_or_context() {
    let policy = PasswordPolicy::builder()
        .service_name("rampart")
        .build()
        .unwrap();
    let err = policy
        .check(
            &SecretString::from("Rampart-secret"),
            &PasswordContext::for_user("secret-user"),
        )
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("too short"), "{message}");
    assert!(
        !message.to_lowercase().contains("rampart-secret"),
        "{message}"
    );
    assert!(!message.contains("secret-user"), "{message}");
}
