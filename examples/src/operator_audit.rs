//! The audit trail an operator command writes its changes to (AC-2(4), AU-2): one
//! success event per change, the actor being the operating-system account that ran the
//! command (the owner of `/proc/self`, which a process cannot forge), as `unix-uid:N`.

use std::path::PathBuf;

use clap::Args;
use rampart_audit::{Durability, FileSink, FileSinkConfig, OverloadPolicy};
use rampart_core::{Action, AuditEvent, Clock, Outcome, SystemClock, Target, UserInfo};

use crate::audit::chain_from;

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
    /// Records `action` on `target` with `details`, durably, when a trail is configured.
    ///
    /// # Errors
    /// The trail could not be opened or written; the message says why.
    pub fn record(
        &self,
        action: Action,
        target: Target,
        details: &[(&str, String)],
    ) -> Result<(), String> {
        let Some(dir) = &self.audit_dir else {
            return Ok(());
        };
        let chain = chain_from(self.audit_hmac_key_file.as_ref())
            .map_err(|_| "the audit HMAC key cannot be read".to_owned())?;
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self")
            .map(|meta| meta.uid())
            .map_err(|error| format!("cannot tell who runs this command: {error}"))?;
        let mut event = AuditEvent::new(action, Outcome::Success, SystemClock.now())
            .with_actor(UserInfo::new(format!("unix-uid:{uid}")))
            .with_target(target);
        for (key, value) in details {
            event = event.with_detail(*key, value.clone());
        }
        let config = FileSinkConfig::new(dir)
            .durability(Durability::EveryEvent)
            .chain(chain)
            .overload(OverloadPolicy::Block);
        let sink = FileSink::open(config).map_err(|error| error.to_string())?;
        sink.enqueue(&event)
            .wait()
            .map_err(|error| error.to_string())?;
        sink.close().map(drop).map_err(|error| error.to_string())
    }
}
