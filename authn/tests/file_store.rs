//! The YAML accounts file: round trips, reload on change, a broken file keeps the last
//! good version, cross-process writers, and a writer killed mid-update (SIGKILL) never
//! leaves a file that does not parse.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use rampart_testing::scratch_dir;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use rampart_authn::password::parse_accounts;
use rampart_authn::{Account, AccountStore, FileStore, StoreError};

/// Every field away from its default, so a round trip shows each survives.
fn account(username: &str) -> Account {
    Account {
        groups: vec!["developers".to_owned(), "system:masters".to_owned()],
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ${username}"),
        password_changed_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        must_change: true,
        last_login: Some(SystemTime::UNIX_EPOCH + Duration::from_nanos(1_800_000_123_456_789_000)),
        ..rampart_testing::account(username)
    }
}

fn block<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

/// Replaces the file's content so its size or mtime changes, as an operator's editor would.
fn overwrite(path: &Path, text: &str) {
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(path, text).unwrap();
}

#[test]
fn accounts_round_trip_through_the_file() {
    let dir = scratch_dir("file-store-round-trip");
    let path = dir.join("users.yaml");
    let store = FileStore::open(&path).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    block(store.insert(account("alice"))).unwrap();
    block(store.insert(account("bob"))).unwrap();
    assert_eq!(
        block(store.insert(account("bob"))),
        Err(StoreError::AlreadyExists)
    );
    let mut carol = account("carol");
    assert_eq!(
        block(store.update(carol.clone())),
        Err(StoreError::NotFound)
    );
    block(store.insert(carol.clone())).unwrap();
    carol.disabled = true;
    carol.last_login = None;
    block(store.update(carol.clone())).unwrap();

    let reopened = FileStore::open(&path).unwrap();
    let all = block(reopened.list()).unwrap();
    assert_eq!(all, vec![account("alice"), account("bob"), carol]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("passwordChangedAt"), "{text}");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn an_edited_file_is_reloaded_and_a_broken_edit_keeps_the_last_good_version() {
    let dir = scratch_dir("file-store-reload");
    let path = dir.join("users.yaml");
    let store = FileStore::open(&path).unwrap();
    block(store.insert(account("alice"))).unwrap();

    // A valid edit by another writer is picked up.
    let other = FileStore::open(&path).unwrap();
    block(other.insert(account("bob"))).unwrap();
    assert!(block(store.get("bob")).unwrap().is_some());

    // A broken edit: the last good version stays in service, health says why, writes are refused.
    overwrite(&path, "accounts:\n  - username: [unterminated\n");
    assert!(block(store.get("alice")).unwrap().is_some());
    assert!(block(store.get("bob")).unwrap().is_some());
    let health = store.health().unwrap_err();
    assert!(
        matches!(health, StoreError::Unavailable { ref what } if what.contains("does not parse")),
        "{health:?}"
    );
    assert!(matches!(
        block(store.insert(account("carol"))),
        Err(StoreError::Unavailable { .. })
    ));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "accounts:\n  - username: [unterminated\n"
    );

    // Fixing the file brings it back.
    overwrite(&path, "accounts: []\n");
    store.health().unwrap();
    assert!(block(store.get("alice")).unwrap().is_none());

    // A deleted file is broken too; the last good version (now empty) is served.
    std::fs::remove_file(&path).unwrap();
    assert!(store.health().is_err());
    assert!(block(store.get("alice")).unwrap().is_none());
}

#[test]
fn opening_a_broken_file_fails_without_a_good_version() {
    let dir = scratch_dir("file-store-broken-open");
    let path = dir.join("users.yaml");
    for (text, expected) in [
        ("accounts: {not: a list}\n", "does not parse"),
        (
            "accounts:\n  - username: a\n    hash: x\n    passwordChangedAt: 2026-01-01T00:00:00Z\n  - username: a\n    hash: y\n    passwordChangedAt: 2026-01-01T00:00:00Z\n",
            "twice",
        ),
        (
            "accounts:\n  - username: ''\n    hash: x\n    passwordChangedAt: 2026-01-01T00:00:00Z\n",
            "empty",
        ),
        (
            "accounts:\n  - username: a\n    hash: x\n    passwordChangedAt: 2026-01-01T00:00:00Z\n    admin: true\n",
            "does not parse",
        ),
        (
            "accounts:\n  - username: a\n    hash: x\n    passwordChangedAt: yesterday\n",
            "does not parse",
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        match FileStore::open(&path) {
            Err(StoreError::Unavailable { what }) => {
                assert!(what.contains(expected), "{text}: {what}")
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    let huge = "#".repeat(17 * 1024 * 1024);
    std::fs::write(&path, huge).unwrap();
    assert!(FileStore::open(&path).is_err());
}

#[test]
fn the_parser_reads_a_minimal_hand_written_file() {
    let accounts = parse_accounts(
        "accounts:\n  - username: alice\n    hash: \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA\"\n    passwordChangedAt: 2026-11-27T10:00:00Z\n",
    )
    .unwrap();
    let alice = &accounts["alice"];
    assert!(
        !alice.disabled
            && !alice.must_change
            && alice.groups.is_empty()
            && alice.last_login.is_none()
    );
    assert!(parse_accounts("").unwrap().is_empty());
}

/// The child half of the crash test: rewrites the file forever until it is killed.
#[test]
fn crash_writer_child() {
    let Ok(path) = std::env::var("RAMPART_CRASH_WRITER_PATH") else {
        return;
    };
    let store = FileStore::open(&path).unwrap();
    for round in 0u64.. {
        let mut changed = account("alice");
        changed.groups = (0..(round % 50)).map(|n| format!("group-{n}")).collect();
        block(store.update(changed)).unwrap();
        if round % 3 == 0 {
            let name = format!("user-{}-{round}", std::process::id());
            block(store.insert(account(&name))).unwrap();
        }
    }
}

#[test]
fn a_writer_killed_at_any_moment_leaves_a_whole_file() {
    let dir = scratch_dir("file-store-crash");
    let path = dir.join("users.yaml");
    let store = FileStore::open(&path).unwrap();
    block(store.insert(account("alice"))).unwrap();
    drop(store);
    let mut last_count = 1;
    for delay_ms in [5u64, 13, 29, 41, 67, 83, 97, 120] {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_writer_child", "--nocapture"])
            .env("RAMPART_CRASH_WRITER_PATH", &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let accounts =
            parse_accounts(&text).unwrap_or_else(|e| panic!("after {delay_ms} ms: {e:?}"));
        assert!(accounts.contains_key("alice"));
        // Acknowledged inserts are never lost: the count only grows.
        assert!(
            accounts.len() >= last_count,
            "{} < {last_count}",
            accounts.len()
        );
        last_count = accounts.len();
        // And the store reopens on what the crash left, removing the temporary file a
        // writer killed before its rename leaves behind.
        FileStore::open(&path).unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    assert!(
        last_count > 1,
        "the child never wrote: the test proved nothing"
    );
    // A leftover of a writer killed between write and rename goes; other files stay.
    std::fs::write(dir.join("users.yaml.tmp-4242"), "half a file").unwrap();
    std::fs::write(dir.join("users.yaml.tmp-notes"), "mine").unwrap();
    FileStore::open(&path).unwrap();
    assert!(!dir.join("users.yaml.tmp-4242").exists());
    assert!(dir.join("users.yaml.tmp-notes").exists());
}

#[test]
fn concurrent_writers_in_two_processes_lose_nothing() {
    let dir = scratch_dir("file-store-two-writers");
    let path = dir.join("users.yaml");
    FileStore::open(&path).unwrap();
    let spawn = |prefix: &str| {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "insert_writer_child", "--nocapture"])
            .env("RAMPART_INSERT_WRITER_PATH", &path)
            .env("RAMPART_INSERT_WRITER_PREFIX", prefix)
            .stdout(Stdio::null())
            .status()
    };
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| spawn("a"));
        let b = scope.spawn(|| spawn("b"));
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert!(a.success() && b.success());
    let accounts = parse_accounts(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(accounts.len(), 2 * INSERTS_PER_CHILD);
}

const INSERTS_PER_CHILD: usize = 40;

/// The child half of the two-writer test.
#[test]
fn insert_writer_child() {
    let (Ok(path), Ok(prefix)) = (
        std::env::var("RAMPART_INSERT_WRITER_PATH"),
        std::env::var("RAMPART_INSERT_WRITER_PREFIX"),
    ) else {
        return;
    };
    let store = FileStore::open(&path).unwrap();
    for n in 0..INSERTS_PER_CHILD {
        block(store.insert(account(&format!("{prefix}-{n}")))).unwrap();
    }
}

/// Found by the `accounts_file` fuzz target: the file keeps microseconds, so reading must
/// truncate the same way or a read-write cycle would change the accounts.
#[test]
fn nanosecond_times_read_as_microseconds_so_round_trips_are_exact() {
    let text = "accounts:\n  - username: alice\n    hash: x\n    passwordChangedAt: 2026-11-27T10:00:00.123456789Z\n";
    let accounts = parse_accounts(text).unwrap();
    let changed = accounts["alice"].password_changed_at;
    assert_eq!(
        changed
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos(),
        123_456_000
    );
    assert_eq!(
        parse_accounts(&rampart_authn::password::render_accounts(&accounts).unwrap()).unwrap(),
        accounts
    );
}

/// A parse error names where the file is wrong, never the values there (hashes are secrets).
#[test]
fn parse_errors_do_not_repeat_values_from_the_file() {
    let secret = "$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0c2FsdA$c2VjcmV0aGFzaHZhbHVl";
    for text in [
        format!(
            "accounts:\n  - username: a\n    hash: x\n    passwordChangedAt: 2026-01-01T00:00:00Z\n    disabled: \"{secret}\"\n"
        ),
        format!("accounts:\n  - username: a\n    hash: x\n    passwordChangedAt: \"{secret}\"\n"),
        format!(
            "accounts:\n  - username: a\n    hash: [\"{secret}\"]\n    passwordChangedAt: 2026-01-01T00:00:00Z\n"
        ),
        format!(
            "accounts:\n  - username: a\n    hash: \"{secret}\"\n    passwordChangedAt: 2026-01-01T00:00:00Z\n    {secret}: 1\n"
        ),
    ] {
        let error = parse_accounts(&text).unwrap_err().to_string();
        assert!(!error.contains("c2VjcmV0"), "{error}");
    }
}

/// The temporary file is created new under a random name, never through a symlink planted
/// at the name a writer would use, and the lock file is not opened through one either.
#[test]
fn planted_symlinks_are_never_followed() {
    let dir = scratch_dir("file-store-symlinks");
    let path = dir.join("users.yaml");
    let store = FileStore::open(&path).unwrap();
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    // The name the writer used to use, predictable from its process id.
    let predictable = dir.join(format!("users.yaml.tmp-{}", std::process::id()));
    std::os::unix::fs::symlink(&victim, &predictable).unwrap();
    block(store.insert(account("alice"))).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(
        std::fs::symlink_metadata(&predictable)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(block(store.get("alice")).unwrap().is_some());
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    std::fs::remove_file(dir.join("users.yaml.lock")).unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("users.yaml.lock")).unwrap();
    assert!(
        block(store.insert(account("bob"))).is_err(),
        "a symlinked lock is refused"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    std::fs::remove_dir_all(&dir).unwrap();
}
