//! `rampart`: the operator's command-line tool, and the black-box interface that
//! conformance tests drive. Subcommands read standard formats and write JSON lines.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rampart_core::CATALOGUE;
use rampart_examples::audit::{self, AuditCommand};
use rampart_examples::authz::{self, AuthzCommand};
use rampart_examples::certs::{self, CertsCommand};
use rampart_examples::cli::EXIT_CODES;
use rampart_examples::login::{self, LoginArgs};
use rampart_examples::oidc::{self, OidcCommand, TokenCommand};
use rampart_examples::passwd::{self, PasswdCommand};
use rampart_examples::saml::{self, SamlCommand};
use rampart_examples::users::{self, UsersCommand};

/// Access-control building blocks for Kubernetes, at the level FedRAMP asks for.
#[derive(Debug, Parser)]
#[command(name = "rampart", version, about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The tamper-evident audit trail: record, verify, show.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Kubernetes RBAC, answered offline from manifests.
    #[command(subcommand)]
    Authz(AuthzCommand),
    /// A small CA: init-ca, issue, sign-csr, inspect, ssh-sign.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// OpenID Connect ID tokens: verify (tokens on stdin, JSON lines out).
    #[command(subcommand)]
    Oidc(OidcCommand),
    /// SAML 2.0 service provider: verify (responses on stdin, JSON lines out), sp-metadata,
    /// authn-request.
    #[command(subcommand)]
    Saml(SamlCommand),
    /// Log in at an OpenID Provider (browser, PKCE) and print a kubectl ExecCredential.
    Login(LoginArgs),
    /// The token issuer: keygen, issue, jwks, discovery.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Local passwords: hash, verify, check against the policy (password on stdin).
    #[command(subcommand)]
    Passwd(PasswdCommand),
    /// Local accounts in an accounts file: add, disable, enable, set-password, list, delete.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Print the audit event catalogue (name, code, meaning) as JSON lines.
    Catalogue,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Audit(command) => audit::run(command),
        Command::Authz(command) => authz::run(command),
        Command::Certs(command) => certs::run(command),
        Command::Passwd(command) => passwd::run(command),
        Command::Oidc(command) => oidc::run_oidc(command),
        Command::Login(args) => login::run(args),
        Command::Saml(command) => saml::run(command),
        Command::Token(command) => oidc::run_token(command),
        Command::Users(command) => users::run(command),
        Command::Catalogue => {
            for (_, name, code, meaning) in CATALOGUE {
                let line = serde_json::json!({ "action": name, "code": code, "meaning": meaning });
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
    }
}
