#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod chain;
mod committer;
mod error;
mod file;
mod kubernetes;
mod policy;
mod record;
mod redact;
mod verify;
mod webhook;

pub use chain::{CHAIN_LEN, Chain, ChainValue, MIN_KEY_LEN};
pub use error::{Error, Result};
pub use file::{
    Ack, DEFAULT_MAX_FILE_AGE, DEFAULT_MAX_FILE_BYTES, DEFAULT_QUEUE_CAPACITY, DEFAULT_RETENTION,
    Durability, FileSink, FileSinkConfig, LossAlert, MIN_RETENTION, OverloadPolicy, Submitted,
    read_head_file,
};
pub use kubernetes::{
    AUDIT_API_VERSION, AuditConfig, AuditPolicy, AuditPolicyRule, Event, EventList, GroupResources,
    Level, ObjectReference, Stage,
};
pub use policy::{EventPolicy, EventRule, Filtered};
pub use record::{LineError, MAX_LINE_BYTES, Record, decode, encode};
pub use redact::{REDACTED, event_needs_redaction, redact_event, redact_kubernetes};
pub use verify::{Finding, Verification, VerifyOptions, verify, verify_with};
pub use webhook::{
    DEFAULT_INITIAL_BACKOFF, DEFAULT_MAX_BACKOFF, DEFAULT_MAX_BATCH, DEFAULT_TIMEOUT,
    WebhookConfig, WebhookSink,
};
