//! `rampart users`: manage the accounts file (`FileStore`) that a local-password login
//! reads (AC-2). Passwords come from standard input only and are judged by the same policy
//! as `rampart passwd hash`. Every change can be recorded in an audit trail (AC-2(4)).
//!
//! Exit codes: the table of [`crate::cli::EXIT_CODES`] (1: policy, no such account, name
//! taken; 3: the change was made but its audit record could not be written).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use rampart_authn::password::{AccountError, ReservedGroups};
use rampart_authn::{Account, AccountStore, AuditedStore, FileStore, StoreError};
use rampart_core::{Clock, SecretString, SystemClock, Timestamp};

use crate::cli::CliError;
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
    /// Delete an account.
    Delete(NameArgs),
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
        UsersCommand::Delete(args) => delete(&args),
    };
    crate::cli::finish(result)
}

/// Opens the accounts file; with an audit trail configured, through an
/// [`AuditedStore`] that records every change as the operator running the command. The
/// file store's futures complete at once and the audited store's wait for one durable
/// event, so a tiny executor (`futures_executor::block_on`) drives them.
fn open(args: &FileArgs) -> Result<Box<dyn AccountStore>, CliError> {
    let store = FileStore::open(&args.file)?;
    match args.audit.sink()? {
        None => Ok(Box::new(store)),
        Some((sink, actor)) => Ok(Box::new(AuditedStore::new(
            store,
            sink,
            SystemClock::shared(),
            actor,
        ))),
    }
}

/// A store error as the exit-code table reads it: a refusal (no such account, name taken,
/// a reserved name) is 1, a change made but not audited 3, anything else 2.
impl From<StoreError> for CliError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => CliError::refused(error.to_string())
                .hint("list the accounts with `rampart users list`"),
            StoreError::AlreadyExists
            | StoreError::Invalid(
                AccountError::ReservedUsername | AccountError::ReservedGroup(_),
            ) => CliError::refused(error.to_string()),
            StoreError::Unaudited => CliError::unaudited(
                "the account was changed but the audit record failed; the trail is missing it",
            )
            .hint("check the trail's disk, then record the change by hand"),
            _ => CliError::failed(error.to_string()),
        }
    }
}

fn password_for(args: &NewPasswordArgs, username: &str) -> Result<String, CliError> {
    let password: SecretString = read_password()?;
    new_hash(args, Some(username), &password)
}

/// The account `add` creates, its names checked by the library's rules before any
/// password is read.
fn new_account(args: &AddArgs) -> Result<Account, CliError> {
    let reserved = if args.allow_system_groups {
        ReservedGroups::Allow
    } else {
        ReservedGroups::Refuse
    };
    let invalid = |error: AccountError| CliError::from(StoreError::Invalid(error));
    let mut account = Account::new(&args.account.username, String::new(), SystemClock.now())
        .map_err(invalid)?
        .with_groups(args.groups.clone(), reserved)
        .map_err(invalid)?;
    if let Some(uid) = &args.uid {
        account = account.with_uid(uid);
    }
    account.must_change = args.must_change;
    Ok(account)
}

fn add(args: &AddArgs) -> Result<ExitCode, CliError> {
    let mut account = new_account(args)?;
    let store = open(&args.account.file)?;
    account.password_hash = password_for(&args.password, &account.username)?;
    account.password_changed_at = SystemClock.now();
    futures_executor::block_on(store.insert(account.clone()))?;
    println!("{}", summary(&account));
    Ok(ExitCode::SUCCESS)
}

fn delete(args: &NameArgs) -> Result<ExitCode, CliError> {
    let store = open(&args.file)?;
    futures_executor::block_on(store.delete(&args.username))?;
    println!("{}", serde_json::json!({"deleted": args.username}));
    Ok(ExitCode::SUCCESS)
}

fn set_disabled(args: &NameArgs, disabled: bool) -> Result<ExitCode, CliError> {
    let store = open(&args.file)?;
    let change = Box::new(move |account: &mut Account| account.disabled = disabled);
    let account = futures_executor::block_on(store.modify(&args.username, change))?;
    println!("{}", summary(&account));
    Ok(ExitCode::SUCCESS)
}

fn set_password(args: &SetPasswordArgs) -> Result<ExitCode, CliError> {
    let NameArgs { file, username } = &args.account;
    let store = open(file)?;
    // Refuse an unknown name before reading and hashing a password for it.
    if futures_executor::block_on(store.get(username))?.is_none() {
        return Err(StoreError::NotFound.into());
    }
    let password_hash = password_for(&args.password, username)?;
    let now = SystemClock.now();
    let must_change = args.must_change;
    let change = Box::new(move |account: &mut Account| {
        account.password_hash = password_hash;
        account.password_changed_at = now;
        account.must_change = must_change;
    });
    let account = futures_executor::block_on(store.modify(username, change))?;
    println!("{}", summary(&account));
    Ok(ExitCode::SUCCESS)
}

fn list(args: &FileArgs) -> Result<ExitCode, CliError> {
    let store = open(args)?;
    let accounts = futures_executor::block_on(store.list())?;
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
