//! The audit trail an operator command hands to the libraries (AC-2(4), AU-2): they record
//! each change themselves, the actor being the operating-system account that ran the
//! command (the owner of `/proc/self`, which a process cannot forge), as `unix-uid:N`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use rampart_audit::{Durability, FileSink, FileSinkConfig, OverloadPolicy};
use rampart_core::{SharedAuditSink, UserInfo};

use crate::audit::chain_from;
use crate::cli::CliError;

/// `--audit-dir` and its HMAC key.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Record each change in the audit trail in this directory.
    #[arg(long)]
    audit_dir: Option<PathBuf>,
    /// HMAC-SHA-256 key file of that trail, when it is written with one.
    #[arg(long, requires = "audit_dir")]
    audit_hmac_key_file: Option<PathBuf>,
}

impl AuditArgs {
    /// The trail's sink (every event durable before it is acknowledged) and the operator
    /// as its actor, when a trail is configured. The trail is sealed when the sink drops.
    ///
    /// # Errors
    /// The trail or its key could not be opened, or the operator cannot be told.
    pub fn sink(&self) -> Result<Option<(SharedAuditSink, UserInfo)>, CliError> {
        let Some(dir) = &self.audit_dir else {
            return Ok(None);
        };
        let chain = chain_from(self.audit_hmac_key_file.as_ref())?;
        let config = FileSinkConfig::new(dir)
            .durability(Durability::EveryEvent)
            .chain(chain)
            .overload(OverloadPolicy::Block);
        let sink = FileSink::open(config).map_err(|error| error.to_string())?;
        Ok(Some((Arc::new(sink), operator()?)))
    }
}

/// The operating-system account running this command, as `unix-uid:N`: the owner of
/// `/proc/self`, which a process cannot forge.
fn operator() -> Result<UserInfo, CliError> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self")
        .map(|meta| meta.uid())
        .map_err(|error| format!("cannot tell who runs this command: {error}"))?;
    Ok(UserInfo::new(format!("unix-uid:{uid}")))
}
