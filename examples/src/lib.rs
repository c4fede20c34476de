//! Support code shared by the rampart binaries: each `rampart` subcommand family lives in
//! a module here so the binaries in `src/bin/` stay small enough to read in one sitting.
#![forbid(unsafe_code)]

pub mod audit;
pub mod authz;
pub mod certs;
pub mod cli;
pub mod input;
pub mod login;
pub mod oidc;
pub mod operator_audit;
pub mod passwd;
pub mod saml;
pub mod users;
