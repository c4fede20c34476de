//! What every subcommand shares: the one error type, the one exit-code table, and the one
//! ExecCredential kubectl reads.

use std::fmt;
use std::process::ExitCode;
use std::time::SystemTime;

use rampart_core::Timestamp;
use serde_json::{Value, json};

/// The exit codes of every subcommand, as `rampart --help` and README.md give them.
pub const EXIT_CODES: &str = "\
Exit codes (every subcommand):
  0  done: allowed, verified, written
  1  refused, or a negative answer: denied (`authz can-i`), a verification, policy or
     signature refusal, a damaged trail, a name taken or not found
  2  nothing was decided: bad usage or input, a file, trail or service that cannot be
     read, written or reached
  3  the audit trail is not whole: --audit-dir could not be written (nothing was issued,
     or the change was made but is missing from the trail), or `audit verify` found the
     trail intact up to a torn last line";

/// One row of [`EXIT_CODES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0.
    Done,
    /// 1.
    Refused,
    /// 2.
    Failed,
    /// 3.
    Unaudited,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(match exit {
            Exit::Done => 0,
            Exit::Refused => 1,
            Exit::Failed => 2,
            Exit::Unaudited => 3,
        })
    }
}

/// Why a subcommand stopped: what went wrong and, where it helps, what to do. Printed as
/// `error: WHAT; HINT` on standard error, with the exit code of its [`Exit`].
#[derive(Debug)]
pub struct CliError {
    exit: Exit,
    what: String,
    hint: Option<String>,
}

impl CliError {
    /// Nothing was decided (exit 2).
    pub fn failed(what: impl Into<String>) -> Self {
        CliError {
            exit: Exit::Failed,
            what: what.into(),
            hint: None,
        }
    }

    /// A refusal or a negative answer (exit 1).
    pub fn refused(what: impl Into<String>) -> Self {
        CliError {
            exit: Exit::Refused,
            ..CliError::failed(what)
        }
    }

    /// The audit trail could not be written (exit 3).
    pub fn unaudited(what: impl Into<String>) -> Self {
        CliError {
            exit: Exit::Unaudited,
            ..CliError::failed(what)
        }
    }

    /// A refusal whose explanation was already printed in a machine-readable form (a JSON
    /// verdict on stderr that scripts parse): nothing more is printed.
    pub fn refused_as_printed() -> Self {
        CliError {
            exit: Exit::Refused,
            what: String::new(),
            hint: None,
        }
    }

    /// What to do about it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The same error said about `context` (a file, a line): `CONTEXT: WHAT`.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.what = format!("{context}: {}", self.what);
        self
    }

    /// Its exit code.
    pub fn exit(&self) -> Exit {
        self.exit
    }

    /// Prints it and returns its exit code.
    pub fn report(&self) -> ExitCode {
        if !self.what.is_empty() {
            eprintln!("error: {self}");
        }
        self.exit.into()
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

impl From<String> for CliError {
    fn from(what: String) -> Self {
        CliError::failed(what)
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> Self {
        CliError::failed(format!("input or output failed: {error}"))
    }
}

impl From<rampart_core::KeyError> for CliError {
    fn from(error: rampart_core::KeyError) -> Self {
        CliError::failed(error.to_string())
    }
}

impl From<&str> for CliError {
    fn from(what: &str) -> Self {
        CliError::failed(what)
    }
}

/// The exit code of a finished subcommand, reporting its error if it failed.
pub fn finish(result: Result<ExitCode, CliError>) -> ExitCode {
    result.unwrap_or_else(|error| error.report())
}

/// The `client.authentication.k8s.io/v1` ExecCredential kubectl reads from a credential
/// plugin: the bearer token and when it expires (kubectl runs the plugin again after).
pub fn exec_credential(token: &str, expires_at: SystemTime) -> Value {
    json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {
            "token": token,
            "expirationTimestamp": Timestamp::from(expires_at).to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_says_what_and_what_to_do_and_keeps_its_exit_code() {
        let error = CliError::refused("no such account")
            .context("alice")
            .hint("list the accounts with `rampart users list`");
        assert_eq!(
            error.to_string(),
            "alice: no such account; list the accounts with `rampart users list`"
        );
        assert_eq!(error.exit(), Exit::Refused);
        assert_eq!(CliError::from("x").exit(), Exit::Failed);
        for (exit, code) in [
            (Exit::Done, "0"),
            (Exit::Refused, "1"),
            (Exit::Failed, "2"),
            (Exit::Unaudited, "3"),
        ] {
            assert!(EXIT_CODES.contains(&format!("  {code}  ")), "{exit:?}");
        }
    }
}
