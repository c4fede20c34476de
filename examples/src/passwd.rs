//! `rampart passwd`: hash, verify and judge passwords. The password is always read from
//! standard input (one line), never from the command line, where `ps` and shell history
//! would see it.

use std::io::{self, Read};
use std::process::ExitCode;

use crate::cli::{CliError, Exit};
use clap::{Args, Subcommand};
use rampart_authn::password::{HashParams, PasswordContext, StoredLimits, Verified};
use rampart_authn::{PasswordHasher, PasswordPolicy};
use rampart_core::SecretString;
use zeroize::Zeroizing;

/// The most bytes read from stdin for one password: far above any policy's maximum, far
/// below anything that could hurt.
const MAX_STDIN: u64 = 64 * 1024;

/// The `rampart passwd` subcommands.
#[derive(Debug, Subcommand)]
pub enum PasswdCommand {
    /// Read a password from stdin, check the policy, print its argon2id PHC string.
    Hash(HashArgs),
    /// Read a password from stdin; exit 0 when it matches `--hash`, 1 otherwise.
    Verify(VerifyArgs),
    /// Read a password from stdin; print the policy verdict as JSON; exit 0 when accepted, 1 when refused.
    Check(PolicyArgs),
}

/// The policy's knobs, shared by every command that judges a password.
#[derive(Debug, Args)]
pub struct RuleArgs {
    /// The service's name (refused inside the password).
    #[arg(long)]
    service: Option<String>,
    /// Minimum length in characters (never below 8).
    #[arg(long, default_value_t = 15)]
    min_chars: usize,
}

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The account's username (refused inside the password).
    #[arg(long)]
    username: Option<String>,
    #[command(flatten)]
    rules: RuleArgs,
}

/// How a new password is judged and hashed: `passwd hash`, `users add`, `users set-password`.
#[derive(Debug, Args)]
pub struct NewPasswordArgs {
    #[command(flatten)]
    rules: RuleArgs,
    /// Hash without checking the policy (for migrating existing passwords).
    #[arg(long)]
    skip_policy: bool,
    /// argon2id memory cost in KiB.
    #[arg(long, default_value_t = HashParams::DEFAULT.m_kib())]
    m_kib: u32,
    /// argon2id passes.
    #[arg(long, default_value_t = HashParams::DEFAULT.t())]
    t: u32,
    /// argon2id lanes.
    #[arg(long, default_value_t = HashParams::DEFAULT.p())]
    p: u32,
}

/// Arguments of `hash`.
#[derive(Debug, Args)]
pub struct HashArgs {
    /// The account's username (refused inside the password).
    #[arg(long)]
    username: Option<String>,
    #[command(flatten)]
    new: NewPasswordArgs,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The stored PHC string.
    #[arg(long)]
    hash: String,
}

/// Runs one `rampart passwd` subcommand.
pub fn run(command: PasswdCommand) -> ExitCode {
    crate::cli::finish(read_password().and_then(|password| match command {
        PasswdCommand::Hash(args) => hash(&args, &password),
        PasswdCommand::Verify(args) => verify(&args, &password),
        PasswdCommand::Check(args) => check(&args, &password),
    }))
}

/// One line from stdin without its line ending (`\n` or `\r\n`).
pub(crate) fn read_password() -> Result<SecretString, CliError> {
    let mut raw = Zeroizing::new(Vec::new());
    io::stdin()
        .take(MAX_STDIN + 1)
        .read_to_end(&mut raw)
        .map_err(|error| CliError::failed(format!("reading stdin: {error}")))?;
    if raw.len() as u64 > MAX_STDIN {
        return Err(CliError::failed(format!(
            "the password on stdin is longer than {MAX_STDIN} bytes"
        )));
    }
    let line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text =
        std::str::from_utf8(line).map_err(|_| CliError::failed("the password is not UTF-8"))?;
    if text.is_empty() {
        return Err(CliError::failed("no password on stdin")
            .hint("write the password as one line to standard input"));
    }
    Ok(SecretString::from(text))
}

fn policy(args: &RuleArgs) -> Result<PasswordPolicy, CliError> {
    let mut builder = PasswordPolicy::builder().min_chars(args.min_chars);
    if let Some(service) = &args.service {
        builder = builder.service_name(service);
    }
    builder
        .build()
        .map_err(|error| CliError::failed(error.to_string()))
}

/// The policy verdict as one JSON object (`accepted`, `reasons[{code, message}]`).
fn judge(
    args: &RuleArgs,
    username: Option<&str>,
    password: &SecretString,
) -> Result<(bool, serde_json::Value), CliError> {
    let policy = policy(args)?;
    let context = PasswordContext {
        username,
        other: &[],
    };
    let reasons = match policy.check(password, &context) {
        Ok(()) => Vec::new(),
        Err(violation) => violation.reasons,
    };
    let verdict = serde_json::json!({
        "accepted": reasons.is_empty(),
        "reasons": reasons
            .iter()
            .map(|reason| serde_json::json!({ "code": reason.code(), "message": reason.to_string() }))
            .collect::<Vec<_>>(),
    });
    Ok((reasons.is_empty(), verdict))
}

fn check(args: &PolicyArgs, password: &SecretString) -> Result<ExitCode, CliError> {
    let (accepted, verdict) = judge(&args.rules, args.username.as_deref(), password)?;
    println!("{verdict}");
    Ok(if accepted {
        ExitCode::SUCCESS
    } else {
        Exit::Refused.into()
    })
}

/// Prints only the PHC string on success, so `$(rampart passwd hash)` captures it.
fn hash(args: &HashArgs, password: &SecretString) -> Result<ExitCode, CliError> {
    println!(
        "{}",
        new_hash(&args.new, args.username.as_deref(), password)?
    );
    Ok(ExitCode::SUCCESS)
}

/// Judges a new password (unless `--skip-policy`) and hashes it. A refusal prints the
/// verdict on stderr and is exit 1; bad parameters are exit 2.
pub(crate) fn new_hash(
    args: &NewPasswordArgs,
    username: Option<&str>,
    password: &SecretString,
) -> Result<String, CliError> {
    if !args.skip_policy {
        let (accepted, verdict) = judge(&args.rules, username, password)?;
        if !accepted {
            // The verdict is the whole answer on stderr: scripts read it as JSON.
            eprintln!("{verdict}");
            return Err(CliError::refused_as_printed());
        }
    }
    HashParams::builder()
        .m_kib(args.m_kib)
        .t(args.t)
        .p(args.p)
        .build()
        .and_then(|params| PasswordHasher::new(params, StoredLimits::default()))
        .and_then(|hasher| hasher.hash(password))
        .map_err(|error| CliError::failed(error.to_string()))
}

/// Exit 0 on a match, 1 on a mismatch or a hash that cannot be used.
fn verify(args: &VerifyArgs, password: &SecretString) -> Result<ExitCode, CliError> {
    let hasher = PasswordHasher::new(HashParams::DEFAULT, StoredLimits::default())
        .map_err(|error| CliError::failed(error.to_string()))?;
    match hasher.verify(password, &args.hash) {
        Ok(Verified::Mismatch) => Ok(Exit::Refused.into()),
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(error) => Err(CliError::refused(error.to_string())),
    }
}
