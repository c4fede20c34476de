//! One contract for every account store: memory, file, SQLite and PostgreSQL (a real
//! server, started here from the installed binaries). Round trips of every field, the
//! insert/update/modify rules, byte-order listing, inactivity disabling, no lost update
//! under concurrent `modify` (also across connections and processes), and for SQLite a
//! writer killed mid-stream loses nothing it acknowledged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking, also in its helpers"
)]

use rampart_testing::{account, scratch_dir};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rampart_authn::password::disable_inactive;
use rampart_authn::{Account, AccountStore, FileStore, MemoryStore, StoreError};

fn at(micros: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_micros(micros)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The behaviour every store promises.
async fn contract(store: &dyn AccountStore) {
    // Every field survives, including Unicode, awkward characters and microseconds.
    let mut full = account("zoë");
    full.groups = vec![
        "system:authenticated".into(),
        "группа \"quoted\", with comma".into(),
        "colon:and spaces inside".into(),
    ];
    full.disabled = true;
    full.must_change = true;
    full.password_changed_at = at(1_712_345_678_901_234);
    full.last_login = Some(at(1_712_345_699_000_001));
    store.insert(full.clone()).await.unwrap();
    assert_eq!(store.get("zoë").await.unwrap(), Some(full.clone()));
    assert_eq!(
        store.get("zoe").await.unwrap(),
        None,
        "no normalisation of names"
    );
    assert_eq!(
        store.get("ZOË").await.unwrap(),
        None,
        "names are case-sensitive"
    );

    // Insert refuses a taken name and leaves the first account alone.
    let mut twin = account("zoë");
    twin.uid = "other".into();
    assert_eq!(store.insert(twin).await, Err(StoreError::AlreadyExists));
    assert_eq!(store.get("zoë").await.unwrap(), Some(full.clone()));

    // Update replaces a whole record, and only an existing one.
    assert_eq!(
        store.update(account("nobody")).await,
        Err(StoreError::NotFound)
    );
    let mut replaced = full.clone();
    replaced.groups.clear();
    replaced.last_login = None;
    store.update(replaced.clone()).await.unwrap();
    assert_eq!(store.get("zoë").await.unwrap(), Some(replaced.clone()));

    // Modify edits the stored record, refuses renames without writing, and NotFound.
    let written = store
        .modify(
            "zoë",
            Box::new(|account: &mut Account| account.groups.push("ops".into())),
        )
        .await
        .unwrap();
    assert_eq!(written.groups, vec!["ops".to_owned()]);
    assert_eq!(store.get("zoë").await.unwrap(), Some(written.clone()));
    let rename = store
        .modify(
            "zoë",
            Box::new(|account: &mut Account| {
                account.username = "mallory".into();
                account.groups.push("admins".into());
            }),
        )
        .await;
    assert_eq!(rename, Err(StoreError::Rename));
    assert_eq!(store.get("zoë").await.unwrap(), Some(written));
    assert_eq!(store.get("mallory").await.unwrap(), None);
    let missing = store
        .modify(
            "nobody",
            Box::new(|account: &mut Account| account.disabled = true),
        )
        .await;
    assert_eq!(missing, Err(StoreError::NotFound));

    // Listing is in byte order of usernames, whatever the backend's collation.
    for name in ["bob", "Alice", "alice", "émile", "Zed"] {
        store.insert(account(name)).await.unwrap();
    }
    let names: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|account| account.username)
        .collect();
    assert_eq!(names, ["Alice", "Zed", "alice", "bob", "zoë", "émile"]);

    // Inactivity: idle past the limit is disabled, recent logins and disabled ones are not.
    let now = at(1_800_000_000_000_000);
    let day = Duration::from_secs(86_400);
    let mut recent = account("recent");
    recent.last_login = Some(now - day);
    store.insert(recent).await.unwrap();
    let mut idle = account("idle");
    idle.last_login = Some(now - 100 * day);
    store.insert(idle).await.unwrap();
    let mut disabled = disable_inactive(store, 90 * day, now).await.unwrap();
    disabled.sort();
    // Every account from `account()` last changed its password in 2023; zoë is disabled.
    assert_eq!(disabled, ["Alice", "Zed", "alice", "bob", "idle", "émile"]);
    assert!(!store.get("recent").await.unwrap().unwrap().disabled);
    assert!(store.get("idle").await.unwrap().unwrap().disabled);

    // No store takes an account the CLI would refuse, by insert, update or modify.
    for bad in [
        "",
        " padded",
        "tab\tname",
        "new\nline",
        "rlo\u{202e}name",
        "system:kube-proxy",
    ] {
        assert!(
            matches!(
                store.insert(account(bad)).await,
                Err(StoreError::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        store.insert(account(&"x".repeat(257))).await,
        Err(StoreError::Invalid(_))
    ));
    let mut bad_group = account("recent");
    bad_group.groups.push("ops\r\nsystem:masters".into());
    assert!(matches!(
        store.update(bad_group).await,
        Err(StoreError::Invalid(_))
    ));
    let bad_change = store
        .modify(
            "recent",
            Box::new(|account: &mut Account| account.groups = vec![String::new()]),
        )
        .await;
    assert!(
        matches!(bad_change, Err(StoreError::Invalid(_))),
        "{bad_change:?}"
    );
    assert_eq!(
        store.get("recent").await.unwrap().unwrap().groups,
        ["developers"]
    );

    // Delete removes one account, and only an existing one.
    store.delete("recent").await.unwrap();
    assert_eq!(store.get("recent").await.unwrap(), None);
    assert_eq!(store.delete("recent").await, Err(StoreError::NotFound));
    assert!(store.get("idle").await.unwrap().is_some());
}

/// `writers` tasks each add one group through `modify` on one of `stores`: a lost update
/// would drop a group.
async fn no_lost_updates(stores: &[Arc<dyn AccountStore>], writers: usize) {
    stores[0].insert(account("shared")).await.unwrap();
    let tasks: Vec<_> = (0..writers)
        .map(|n| {
            let store = Arc::clone(&stores[n % stores.len()]);
            tokio::spawn(async move {
                store
                    .modify(
                        "shared",
                        Box::new(move |account: &mut Account| {
                            account.groups.push(format!("writer-{n}"));
                        }),
                    )
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let groups: BTreeSet<String> = stores[0]
        .get("shared")
        .await
        .unwrap()
        .unwrap()
        .groups
        .into_iter()
        .collect();
    assert_eq!(
        groups.len(),
        writers + 1,
        "a concurrent modify was lost: {groups:?}"
    );
}

#[test]
fn memory_store_keeps_the_contract() {
    runtime().block_on(async {
        contract(&MemoryStore::new()).await;
        let store: Arc<dyn AccountStore> = Arc::new(MemoryStore::new());
        no_lost_updates(&[store], 64).await;
    });
}

#[test]
fn file_store_keeps_the_contract() {
    let dir = scratch_dir("stores-file");
    runtime().block_on(async {
        contract(&FileStore::open(dir.join("contract.yaml")).unwrap()).await;
        let path = dir.join("shared.yaml");
        let a: Arc<dyn AccountStore> = Arc::new(FileStore::open(&path).unwrap());
        let b: Arc<dyn AccountStore> = Arc::new(FileStore::open(&path).unwrap());
        no_lost_updates(&[a, b], 32).await;
    });
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::io::BufRead;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};

    use rampart_authn::SqlStore;

    use super::*;

    #[test]
    fn sqlite_store_keeps_the_contract() {
        let dir = scratch_dir("stores-sqlite");
        runtime().block_on(async {
            let path = dir.join("contract.db");
            let store = SqlStore::sqlite(&path).await.unwrap();
            contract(&store).await;
            store.close().await;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "database file mode {mode:o}");
            // Reopening applies no migration twice and finds the data.
            let again = SqlStore::sqlite(&path).await.unwrap();
            assert!(again.get("zoë").await.unwrap().is_some());
        });
    }

    #[test]
    fn sqlite_modify_loses_nothing_across_pools() {
        let dir = scratch_dir("stores-sqlite-concurrent");
        runtime().block_on(async {
            let path = dir.join("shared.db");
            let a: Arc<dyn AccountStore> = Arc::new(SqlStore::sqlite(&path).await.unwrap());
            let b: Arc<dyn AccountStore> = Arc::new(SqlStore::sqlite(&path).await.unwrap());
            no_lost_updates(&[a, b], 48).await;
        });
    }

    #[test]
    fn a_corrupt_row_is_an_error_not_a_panic() {
        let dir = scratch_dir("stores-sqlite-corrupt");
        let path = dir.join("corrupt.db");
        runtime().block_on(async {
            let store = SqlStore::sqlite(&path).await.unwrap();
            store.insert(account("alice")).await.unwrap();
            store.close().await;
        });
        let status = Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
                 c.execute(\"UPDATE rampart_accounts SET group_names='not json', last_login=-5\"); \
                 c.commit()",
            ])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        runtime().block_on(async {
            let store = SqlStore::sqlite(&path).await.unwrap();
            let error = store.get("alice").await.unwrap_err();
            assert!(
                matches!(&error, StoreError::Unavailable { what } if what.contains("group_names")),
                "{error:?}"
            );
            assert!(store.list().await.is_err());
        });
    }

    /// The child half of the crash test: inserts forever, printing each name once the
    /// insert has returned (acknowledged).
    #[test]
    fn sqlite_insert_child() {
        let Ok(path) = std::env::var("RAMPART_SQLITE_CHILD_PATH") else {
            return;
        };
        runtime().block_on(async {
            let store = SqlStore::sqlite(&path).await.unwrap();
            let mut out = std::io::stdout().lock();
            for n in 0u64.. {
                let name = format!("user-{n}");
                store.insert(account(&name)).await.unwrap();
                use std::io::Write;
                writeln!(out, "{name}").unwrap();
                out.flush().unwrap();
            }
        });
    }

    #[test]
    fn a_writer_killed_mid_stream_loses_nothing_it_acknowledged() {
        let dir = scratch_dir("stores-sqlite-crash");
        let path = dir.join("crash.db");
        let mut acknowledged = Vec::new();
        for delay_ms in [150u64, 260, 410] {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "sqlite::sqlite_insert_child", "--nocapture"])
                .env("RAMPART_SQLITE_CHILD_PATH", &path)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let reader = std::thread::spawn(move || {
                std::io::BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                    .filter(|line| line.starts_with("user-"))
                    .collect::<Vec<_>>()
            });
            std::thread::sleep(Duration::from_millis(delay_ms));
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            let printed = reader.join().unwrap();
            let store_names: BTreeSet<String> = runtime().block_on(async {
                let store = SqlStore::sqlite(&path).await.unwrap();
                store
                    .list()
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|a| a.username)
                    .collect()
            });
            for name in &printed {
                assert!(store_names.contains(name), "acknowledged {name} was lost");
            }
            eprintln!(
                "killed after {delay_ms} ms: {} acknowledged, {} stored",
                printed.len(),
                store_names.len()
            );
            acknowledged.extend(printed);
            // The next child starts numbering again; clear the names it will reuse.
            std::fs::remove_file(&path).unwrap();
            let _ = std::fs::remove_file(path.with_extension("db-wal"));
            let _ = std::fs::remove_file(path.with_extension("db-shm"));
        }
        assert!(
            acknowledged.len() > 10,
            "the children acknowledged only {} inserts: the test proved little",
            acknowledged.len()
        );
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use rampart_authn::SqlStore;
    use rampart_authn::password::{PgConnectOptions, PgSslMode};

    use super::*;

    /// A throwaway PostgreSQL server on a Unix socket in a scratch directory, run as the
    /// `postgres` user when the tests run as root (the server refuses root).
    struct Server {
        bin: PathBuf,
        data: PathBuf,
        socket_dir: PathBuf,
        as_postgres: bool,
    }

    fn postgres_bin() -> PathBuf {
        if let Ok(dir) = std::env::var("RAMPART_POSTGRES_BIN") {
            return dir.into();
        }
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is not installed: run scripts/install-deps")
            .map(|entry| entry.unwrap().path().join("bin"))
            .filter(|bin| bin.join("initdb").exists())
            .collect();
        versions.sort();
        versions
            .pop()
            .expect("no PostgreSQL server binaries under /usr/lib/postgresql")
    }

    fn running_as_root() -> bool {
        let out = Command::new("id").arg("-u").output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "0"
    }

    impl Server {
        fn start(name: &str) -> Server {
            let dir = scratch_dir(&format!("stores-{name}"));
            let server = Server {
                bin: postgres_bin(),
                data: dir.join("data"),
                socket_dir: dir.join("socket"),
                as_postgres: running_as_root(),
            };
            std::fs::create_dir_all(&server.socket_dir).unwrap();
            if server.as_postgres {
                let status = Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&dir)
                    .status()
                    .unwrap();
                assert!(status.success());
            }
            server.run(
                "initdb",
                &[
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                    "-D",
                    path(&server.data),
                ],
            );
            let options = format!("-k {} -c listen_addresses=", path(&server.socket_dir));
            let log = dir.join("server.log");
            server.run(
                "pg_ctl",
                &[
                    "-D",
                    path(&server.data),
                    "-l",
                    path(&log),
                    "-o",
                    &options,
                    "-w",
                    "start",
                ],
            );
            server
        }

        fn run(&self, program: &str, args: &[&str]) {
            let program = self.bin.join(program);
            let mut command = if self.as_postgres {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            } else {
                Command::new(program)
            };
            let out = command.args(args).output().unwrap();
            assert!(
                out.status.success(),
                "{args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        fn create_database(&self, name: &str) -> PgConnectOptions {
            self.run(
                "createdb",
                &["-h", path(&self.socket_dir), "-U", "postgres", name],
            );
            PgConnectOptions::new()
                .socket(&self.socket_dir)
                .username("postgres")
                .database(name)
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let data = self.data.clone();
            self.run("pg_ctl", &["-D", path(&data), "-m", "fast", "-w", "stop"]);
        }
    }

    fn path(path: &Path) -> &str {
        path.to_str().unwrap()
    }

    /// One server for every PostgreSQL case, stopped at the end.
    #[test]
    fn postgres_store_keeps_the_contract() {
        let server = Server::start("postgres");
        runtime().block_on(async {
            let store = SqlStore::postgres(server.create_database("contract"))
                .await
                .unwrap();
            contract(&store).await;

            // Several instances migrating one fresh database at once: the advisory lock
            // lets exactly one apply the schema and the others find it applied.
            let options = server.create_database("shared");
            let opening: Vec<_> = (0..4)
                .map(|_| tokio::spawn(SqlStore::postgres(options.clone())))
                .collect();
            let mut stores: Vec<Arc<dyn AccountStore>> = Vec::new();
            for store in opening {
                stores.push(Arc::new(store.await.unwrap().unwrap()));
            }
            no_lost_updates(&stores, 64).await;
        });
    }

    #[test]
    fn postgres_refuses_unverified_transport_to_a_remote_host() {
        runtime().block_on(async {
            for mode in [PgSslMode::Disable, PgSslMode::Prefer, PgSslMode::Require] {
                let options = PgConnectOptions::new()
                    .host("db.internal.test")
                    .ssl_mode(mode);
                let error = SqlStore::postgres(options).await.unwrap_err();
                assert!(
                    matches!(&error, StoreError::Unavailable { what } if what.contains("verified TLS")),
                    "{mode:?}: {error:?}"
                );
            }
            // Verified TLS passes the check (and then fails to resolve the host).
            let options = PgConnectOptions::new()
                .host("db.internal.test")
                .ssl_mode(PgSslMode::VerifyFull);
            let error = SqlStore::postgres(options).await.unwrap_err();
            assert!(
                matches!(&error, StoreError::Unavailable { what } if !what.contains("verified TLS")),
                "{error:?}"
            );
        });
    }
}

/// Every change through an audited store is its own event, naming the actor; a login's
/// time alone is none; and a change whose event is refused is made and reported.
#[test]
fn an_audited_store_records_every_change_with_its_actor() {
    use rampart_authn::AuditedStore;
    use rampart_core::{Action, ManualClock, MemorySink, UserInfo};

    let sink = Arc::new(MemorySink::new());
    let store = AuditedStore::new(
        MemoryStore::new(),
        sink.clone(),
        Arc::new(ManualClock::at_unix(1_800_000_000)),
        UserInfo::new("admin"),
    );
    futures_executor::block_on(async {
        store.insert(account("alice")).await.unwrap();
        store
            .modify(
                "alice",
                Box::new(|a: &mut Account| a.last_login = Some(at(1))),
            )
            .await
            .unwrap();
        store
            .modify(
                "alice",
                Box::new(|a: &mut Account| a.groups.push("ops".into())),
            )
            .await
            .unwrap();
        let mut new_password = store.get("alice").await.unwrap().unwrap();
        new_password.password_hash =
            "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdHNhbHQ$bmV3aGFzaG5ld2hhc2g".into();
        new_password.must_change = true;
        store.update(new_password).await.unwrap();
        let job = store.acting_as(UserInfo::new("rampart:inactivity"));
        let now = at(1_800_000_000_000_000);
        assert_eq!(
            disable_inactive(&job, Duration::from_secs(86_400), now)
                .await
                .unwrap(),
            ["alice"]
        );
        store
            .modify("alice", Box::new(|a: &mut Account| a.disabled = false))
            .await
            .unwrap();
        store.delete("alice").await.unwrap();
    });
    let seen: Vec<(Action, String)> = sink
        .events()
        .into_iter()
        .map(|e| {
            assert_eq!(e.target.as_ref().unwrap().name, "alice");
            (e.action, e.actor.username)
        })
        .collect();
    let admin = || "admin".to_owned();
    assert_eq!(
        seen,
        [
            (Action::AccountCreated, admin()),
            (Action::AccountUpdated, admin()),
            (Action::PasswordChanged, admin()),
            (Action::AccountUpdated, admin()),
            (Action::AccountDisabled, "rampart:inactivity".to_owned()),
            (Action::AccountEnabled, admin()),
            (Action::AccountDeleted, admin()),
        ]
    );
    assert_eq!(
        sink.events()[1].details["fields"],
        serde_json::json!(["groups"])
    );
    assert_eq!(
        sink.events()[3].details["fields"],
        serde_json::json!(["must_change"])
    );

    sink.set_failing(true);
    assert_eq!(
        futures_executor::block_on(store.insert(account("bob"))),
        Err(StoreError::Unaudited)
    );
    assert!(
        futures_executor::block_on(store.get("bob"))
            .unwrap()
            .is_some(),
        "the store is the truth: the change stands and the caller alerts"
    );
}
