#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod audit;
mod ca;
mod csr;
mod error;
mod files;
mod identity;
mod pem;
mod policy;
mod renew;
mod ssh;
mod tls;

pub use audit::CertAudit;
pub use ca::{
    AltNames, CertificateAuthority, DEFAULT_BACKDATE, Issued, LeafRequest, PermittedNames, Usage,
};
pub use csr::{MAX_CSR_BYTES, VerifiedCsr, verify_csr};
pub use error::CertError;
pub use files::{remove_credentials, remove_securely, write_certificates};
pub use identity::{Summary, summarize_certificate, summarize_csr, user_from_certificate};
pub use pem::{certificates_from_pem, certificates_to_pem};
pub use policy::{
    Candidate, KubernetesSigner, MAX_UID_BYTES, NODE_USER_PREFIX, NODES_GROUP, SigningPolicy,
    format_duration, parse_duration,
};
/// Subjects are core's: one type for writing them (here) and reading them (authn's X.509).
pub use rampart_core::CertificateSubject;
/// Keys are core's: the one key type the CA and the token issuer both sign with.
pub use rampart_core::{KeyAlgorithm, KeyError, PrivateKey};
pub use renew::{LocalCa, Polled, Reissue, ReissueFuture, RenewalPolicy, Renewer};
pub use ssh::{KNOWN_EXTENSIONS, SshCa, SshCertKind, SshCertRequest, SshPolicy, certificate_path};
pub use tls::{
    CertSlot, RequireClientAuthUsage, certified_key, mtls_client_config, mtls_server_config,
    provider, verified_user,
};
