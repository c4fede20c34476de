//! Accounts in a YAML file, in the spirit of Dex's `staticPasswords`, made durable.
//!
//! - Every change is a whole new file: written to a temporary file in the same
//!   directory, fsynced, renamed over the old one, and the directory fsynced. A crash
//!   leaves the old file or the new one, never a mixture.
//! - Writers in any process take an exclusive lock on `<file>.lock` for the
//!   read-modify-write, so an operator's `rampart users add` and a gateway recording
//!   logins never lose each other's updates.
//! - Reads notice a changed file (size, modification time, inode) and reload it. A file
//!   that no longer parses keeps the last good accounts in service, refuses writes (so the
//!   operator's broken edit is not silently overwritten) and reports itself through
//!   [`FileStore::health`] and the returned errors until it is fixed.
//! - The file is created with mode 0600: hashes are secrets too.
//!
//! The file is small (one row per person); its I/O is done inline.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use rampart_core::Timestamp;
use serde::{Deserialize, Serialize};

use crate::password::account::{Account, MapBacked, StoreError, map_backed_account_store};

/// The largest accounts file read: far beyond any real file, small enough to never hurt.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The file's shape.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsFile {
    #[serde(default)]
    accounts: Vec<AccountRow>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AccountRow {
    username: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    disabled: bool,
    hash: String,
    password_changed_at: Timestamp,
    #[serde(default)]
    must_change: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_login: Option<Timestamp>,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        Account {
            username: row.username,
            uid: row.uid,
            groups: row.groups,
            disabled: row.disabled,
            password_hash: row.hash,
            password_changed_at: to_micros(row.password_changed_at),
            must_change: row.must_change,
            last_login: row.last_login.map(to_micros),
        }
    }
}

/// The file stores times at microsecond precision (RFC 3339, like Kubernetes' MicroTime);
/// reading truncates the same way so that a read-write cycle changes nothing.
fn to_micros(time: Timestamp) -> SystemTime {
    Timestamp::from_unix(time.unix_seconds(), time.subsec_nanos() / 1000 * 1000)
        .unwrap_or(time)
        .to_system_time()
}

impl From<&Account> for AccountRow {
    fn from(account: &Account) -> Self {
        AccountRow {
            username: account.username.clone(),
            uid: account.uid.clone(),
            groups: account.groups.clone(),
            disabled: account.disabled,
            hash: account.password_hash.clone(),
            password_changed_at: Timestamp::from_system_time(account.password_changed_at),
            must_change: account.must_change,
            last_login: account.last_login.map(Timestamp::from_system_time),
        }
    }
}

/// Parses an accounts file. Public for the fuzz target and for `rampart users`.
///
/// # Errors
/// [`StoreError::Unavailable`] naming what is wrong (never a hash).
pub fn parse_accounts(text: &str) -> Result<BTreeMap<String, Account>, StoreError> {
    let corrupt = |what: String| StoreError::Unavailable { what };
    let file: AccountsFile = if text.trim().is_empty() {
        AccountsFile::default()
    } else {
        serde_saphyr::from_str(text).map_err(|e| corrupt(parse_failure(&e)))?
    };
    let mut accounts = BTreeMap::new();
    for row in file.accounts {
        if row.username.is_empty() || row.username.chars().any(char::is_control) {
            return Err(corrupt(
                "accounts file has an empty or unprintable username".into(),
            ));
        }
        if let Some(previous) = accounts.insert(row.username.clone(), Account::from(row)) {
            return Err(corrupt(format!(
                "accounts file lists `{}` twice",
                previous.username
            )));
        }
    }
    Ok(accounts)
}

/// Where the file fails to parse, and nothing more: the parser's own message quotes the
/// offending text, which may be a password hash.
fn parse_failure(error: &serde_saphyr::Error) -> String {
    match error.location() {
        Some(at) => format!(
            "accounts file does not parse at line {} column {} (wrong type, unknown field or bad syntax)",
            at.line(),
            at.column()
        ),
        None => "accounts file does not parse".to_owned(),
    }
}

/// Renders accounts as the file's YAML; [`parse_accounts`] reads it back unchanged.
///
/// # Errors
/// [`StoreError::Unavailable`] if the YAML writer fails.
pub fn render_accounts(accounts: &BTreeMap<String, Account>) -> Result<String, StoreError> {
    let file = AccountsFile {
        accounts: accounts.values().map(AccountRow::from).collect(),
    };
    serde_saphyr::to_string(&file).map_err(|e| StoreError::Unavailable {
        what: format!("rendering accounts: {e}"),
    })
}

/// What identifies one version of the file on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Version {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

fn version(path: &Path) -> std::io::Result<Version> {
    let meta = fs::metadata(path)?;
    Ok(Version {
        inode: meta.ino(),
        len: meta.len(),
        modified: meta.modified().ok(),
    })
}

#[derive(Debug)]
struct State {
    accounts: BTreeMap<String, Account>,
    /// The version `accounts` was read from (or the broken version last seen).
    seen: Option<Version>,
    /// Why the file on disk is not in service, while it is broken.
    broken: Option<StoreError>,
}

/// A YAML accounts file; see the module documentation.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    lock_path: PathBuf,
    state: Mutex<State>,
}

impl FileStore {
    /// Opens `path`, creating an empty accounts file if there is none.
    ///
    /// # Errors
    /// The file cannot be read or does not parse: there is no good version to serve.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let mut lock_path = path.clone().into_os_string();
        lock_path.push(".lock");
        let store = FileStore {
            lock_path: PathBuf::from(lock_path),
            path,
            state: Mutex::new(State {
                accounts: BTreeMap::new(),
                seen: None,
                broken: None,
            }),
        };
        {
            let _lock = store.lock()?;
            store.remove_stale_temporaries();
            if !store.path.exists() {
                store.write_file(&BTreeMap::new())?;
            }
        }
        store.refresh()?;
        let state = store.state();
        if let Some(error) = &state.broken {
            return Err(error.clone());
        }
        drop(state);
        Ok(store)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `Err` while the file on disk is broken and the last good version is in service.
    ///
    /// # Errors
    /// The reason the file on disk is not in service.
    pub fn health(&self) -> Result<(), StoreError> {
        self.refresh()?;
        match &self.state().broken {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Re-reads the file if it changed since it was last seen.
    fn refresh(&self) -> Result<(), StoreError> {
        let io = |what: &str, e: std::io::Error| StoreError::Unavailable {
            what: format!("{what} {}: {e}", self.path.display()),
        };
        let mut state = self.state();
        let current = match version(&self.path) {
            Ok(current) => current,
            Err(e) => {
                // A vanished or unreadable file is broken like a corrupted one.
                state.broken = Some(io("reading", e));
                state.seen = None;
                return Ok(());
            }
        };
        if state.seen == Some(current) {
            return Ok(());
        }
        let parsed = read_limited(&self.path)
            .map_err(|e| io("reading", e))
            .and_then(|text| parse_accounts(&text));
        state.seen = Some(current);
        match parsed {
            Ok(accounts) => {
                state.accounts = accounts;
                state.broken = None;
            }
            Err(error) => state.broken = Some(error),
        }
        Ok(())
    }

    fn lock(&self) -> Result<File, StoreError> {
        let file = rampart_core::fs::open_append_no_follow(&self.lock_path, true)
            .and_then(|file| file.lock().map(|()| file))
            .map_err(|e| StoreError::Unavailable {
                what: format!("locking {}: {e}", self.lock_path.display()),
            })?;
        Ok(file)
    }

    /// Removes `<file>.tmp-<random>` files left by writers killed before their rename. Called
    /// under the lock, which every writer holds while its temporary file exists.
    fn remove_stale_temporaries(&self) {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return;
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let mut prefix = name.to_os_string();
        prefix.push(".tmp-");
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let entry_name = entry.file_name();
            let stale = entry_name
                .to_str()
                .zip(prefix.to_str())
                .and_then(|(entry_name, prefix)| entry_name.strip_prefix(prefix))
                .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()));
            if stale {
                // Best effort: a leftover costs disk space, not correctness.
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Writes a whole new file and renames it into place, durably: a temporary file
    /// with a random name, created new (never through a symlink), mode 0600.
    fn write_file(&self, accounts: &BTreeMap<String, Account>) -> Result<(), StoreError> {
        let text = render_accounts(accounts)?;
        rampart_core::fs::write_private_atomically(&self.path, text.as_bytes()).map_err(|e| {
            StoreError::Unavailable {
                what: format!("writing {}: {e}", self.path.display()),
            }
        })
    }

    /// Read-modify-write under the cross-process lock.
    fn transact<T>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, Account>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _lock = self.lock()?;
        self.refresh()?;
        let mut state = self.state();
        if let Some(error) = &state.broken {
            return Err(error.clone());
        }
        let mut next = state.accounts.clone();
        let answer = change(&mut next)?;
        self.write_file(&next)?;
        state.accounts = next;
        state.seen = version(&self.path).ok();
        Ok(answer)
    }
}

fn read_limited(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    Ok(text)
}

impl MapBacked for FileStore {
    fn read<T>(&self, f: impl FnOnce(&BTreeMap<String, Account>) -> T) -> Result<T, StoreError> {
        self.refresh().map(|()| f(&self.state().accounts))
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, Account>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.transact(f)
    }
}

map_backed_account_store!(FileStore);
