//! `rampart users`: manage the accounts file (`FileStore`) that a local-password login
//! reads (AC-2). Passwords come from standard input only and are judged by the same policy
//! as `rampart passwd hash`. Every change can be recorded in an audit trail (AC-2(4)).
//!
//! Exit codes: 0 done; 1 refused (policy, no such account, name taken); 2 usage, I/O or
//! store errors; 3 the change was made but its audit record could not be written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use rampart_authn::{Account, AccountStore, FileStore, StoreError};
use rampart_core::{Action, Clock, SecretString, SystemClock, Target, Timestamp, UserInfo};

use crate::operator_audit::AuditArgs;
use crate::passwd::{NewPasswordArgs, new_hash, read_password};

/// The `rampart users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add an account; its password is read from stdin and must pass the policy.
    Add(AddArgs),
    /// Disable an account: its logins fail exactly like a wrong password.
    Disable(NameArgs),
    /// Enable a disabled account.
    Enable(NameArgs),
    /// Set an account's password from stdin (policy checked).
    SetPassword(SetPasswordArgs),
    /// Print every account as one JSON line (never the password hash).
    List(FileArgs),
}

/// Where the accounts live and where changes are audited.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// The accounts file (YAML), created when missing.
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    #[command(flatten)]
    audit: AuditArgs,
}

/// An account named on the command line.
#[derive(Debug, Args)]
pub struct NameArgs {
    #[command(flatten)]
    file: FileArgs,
    /// The username.
    username: String,
}

/// Arguments of `add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    account: NameArgs,
    /// A stable identifier; a random UUID when absent.
    #[arg(long)]
    uid: Option<String>,
    /// A Kubernetes group (repeatable).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// The holder must choose a new password at the first login.
    #[arg(long)]
    must_change: bool,
    /// Allow `system:` groups (e.g. `system:masters`, which bypasses RBAC altogether).
    #[arg(long)]
    allow_system_groups: bool,
    #[command(flatten)]
    password: NewPasswordArgs,
}

/// Arguments of `set-password`.
#[derive(Debug, Args)]
pub struct SetPasswordArgs {
    #[command(flatten)]
    account: NameArgs,
    /// The holder must choose a new password at the next login (an administrator's reset).
    #[arg(long)]
    must_change: bool,
    #[command(flatten)]
    password: NewPasswordArgs,
}

/// Runs one `rampart users` subcommand.
pub fn run(command: UsersCommand) -> ExitCode {
    let result = match command {
        UsersCommand::Add(args) => add(&args),
        UsersCommand::Disable(args) => set_disabled(&args, true),
        UsersCommand::Enable(args) => set_disabled(&args, false),
        UsersCommand::SetPassword(args) => set_password(&args),
        UsersCommand::List(args) => list(&args),
    };
    result.unwrap_or_else(|code| code)
}

/// Opens the accounts file. Its store futures complete at once, so a tiny executor
/// (`futures_executor::block_on`) drives them.
fn open(file: &Path) -> Result<FileStore, ExitCode> {
    FileStore::open(file).map_err(|error| fail(2, &error.to_string()))
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

/// A store refusal (no such account, name taken) is 1; anything else is 2.
fn refused(error: &StoreError) -> ExitCode {
    match error {
        StoreError::NotFound | StoreError::AlreadyExists => fail(1, &error.to_string()),
        _ => fail(2, &error.to_string()),
    }
}

fn password_for(args: &NewPasswordArgs, username: &str) -> Result<String, ExitCode> {
    let password: SecretString = read_password().map_err(|message| fail(2, &message))?;
    new_hash(args, Some(username), &password)
}

/// The names an operator may give a local account. Kubernetes reserves `system:` for its
/// own identities: a local `system:kube-controller-manager` or a member of
/// `system:masters` is a privilege escalation, not an account.
fn check_names(args: &AddArgs) -> Result<(), ExitCode> {
    let username = &args.account.username;
    if username.is_empty() || username.trim() != username || username.chars().any(char::is_control)
    {
        return Err(fail(
            2,
            "a username must be non-empty, without surrounding spaces or control characters",
        ));
    }
    if UserInfo::is_reserved_name(username) {
        return Err(fail(
            1,
            "usernames starting with `system:` are reserved by Kubernetes",
        ));
    }
    for group in &args.groups {
        if group.is_empty() || group.chars().any(char::is_control) {
            return Err(fail(
                2,
                "a group must be non-empty, without control characters",
            ));
        }
        if UserInfo::is_reserved_name(group) && !args.allow_system_groups {
            return Err(fail(
                1,
                &format!(
                    "group `{group}` is reserved by Kubernetes (--allow-system-groups to grant it)"
                ),
            ));
        }
    }
    Ok(())
}

fn add(args: &AddArgs) -> Result<ExitCode, ExitCode> {
    check_names(args)?;
    let NameArgs { file, username } = &args.account;
    let store = open(&file.file)?;
    let password_hash = password_for(&args.password, username)?;
    let now = SystemClock.now();
    let account = Account {
        username: username.clone(),
        uid: args
            .uid
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        groups: args.groups.clone(),
        disabled: false,
        password_hash,
        password_changed_at: now,
        must_change: args.must_change,
        last_login: None,
    };
    futures_executor::block_on(store.insert(account.clone())).map_err(|e| refused(&e))?;
    println!("{}", summary(&account));
    audited(file, Action::AccountCreated, username)
}

fn set_disabled(args: &NameArgs, disabled: bool) -> Result<ExitCode, ExitCode> {
    let store = open(&args.file.file)?;
    let change = Box::new(move |account: &mut Account| account.disabled = disabled);
    let account = futures_executor::block_on(store.modify(&args.username, change))
        .map_err(|e| refused(&e))?;
    println!("{}", summary(&account));
    let action = if disabled {
        Action::AccountDisabled
    } else {
        Action::AccountEnabled
    };
    audited(&args.file, action, &args.username)
}

fn set_password(args: &SetPasswordArgs) -> Result<ExitCode, ExitCode> {
    let NameArgs { file, username } = &args.account;
    let store = open(&file.file)?;
    // Refuse an unknown name before reading and hashing a password for it.
    if futures_executor::block_on(store.get(username))
        .map_err(|e| refused(&e))?
        .is_none()
    {
        return Err(refused(&StoreError::NotFound));
    }
    let password_hash = password_for(&args.password, username)?;
    let now = SystemClock.now();
    let must_change = args.must_change;
    let change = Box::new(move |account: &mut Account| {
        account.password_hash = password_hash;
        account.password_changed_at = now;
        account.must_change = must_change;
    });
    let account =
        futures_executor::block_on(store.modify(username, change)).map_err(|e| refused(&e))?;
    println!("{}", summary(&account));
    audited(file, Action::PasswordChanged, username)
}

fn list(args: &FileArgs) -> Result<ExitCode, ExitCode> {
    let store = open(&args.file)?;
    let accounts = futures_executor::block_on(store.list()).map_err(|e| refused(&e))?;
    for account in &accounts {
        println!("{}", summary(account));
    }
    Ok(ExitCode::SUCCESS)
}

/// What an operator sees of an account: everything but the hash.
fn summary(account: &Account) -> serde_json::Value {
    serde_json::json!({
        "username": account.username,
        "uid": account.uid,
        "groups": account.groups,
        "disabled": account.disabled,
        "must_change": account.must_change,
        "password_changed_at": Timestamp::from(account.password_changed_at).to_string(),
        "last_login": account.last_login.map(|at| Timestamp::from(at).to_string()),
    })
}

/// Records `action` on `username` in the audit trail, when one is configured; exit 3 when
/// the change was made but could not be recorded.
fn audited(file: &FileArgs, action: Action, username: &str) -> Result<ExitCode, ExitCode> {
    file.audit
        .record(action, Target::new("account", username), &[])
        .map(|()| ExitCode::SUCCESS)
        .map_err(|error| {
            fail(
                3,
                &format!("the account was changed but the audit record failed: {error}"),
            )
        })
}
