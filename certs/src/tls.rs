//! rustls integration (SC-8, IA-2, IA-5(2)): mutual TLS that requires client certificates
//! from the CA and with the clientAuth usage, maps the verified chain to a Kubernetes user,
//! and certificates that can be swapped into running configurations without dropping
//! connections.
//!
//! - The ring provider is always passed explicitly (never the process default).
//! - TLS 1.2 and 1.3 with the provider's default (safe) cipher suites.
//! - webpki accepts a client certificate with no extendedKeyUsage at all; Kubernetes'
//!   authenticator does not. [`RequireClientAuthUsage`] refuses such certificates, so
//!   "requires clientAuth" means exactly that.
//! - [`CertSlot`] holds the current certificate and key; a renewal calls
//!   [`CertSlot::set`], new handshakes use the new pair, established connections are
//!   untouched.

use std::fmt;
use std::sync::Arc;

use crate::error::CertError;
use crate::identity::user_from_certificate;
use arc_swap::ArcSwap;
use rampart_core::PrivateKey;
use rampart_core::{UserInfo, certificate_allows_client_auth};
use rustls::client::ResolvesClientCert;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};

/// rustls's time source, taken from the injected clock: certificates are judged valid or
/// expired by the same clock that dated them.
#[derive(Debug)]
struct ClockTime(Arc<dyn rampart_core::Clock>);

impl rustls::time_provider::TimeProvider for ClockTime {
    fn current_time(&self) -> Option<UnixTime> {
        self.0
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(UnixTime::since_unix_epoch)
    }
}

/// The ring provider, which every config here is built with.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls(error: rustls::Error) -> CertError {
    CertError::Invalid(format!("TLS configuration: {error}"))
}

/// A certificate chain and key in the form rustls signs with.
///
/// # Errors
/// The key is not one rustls can use.
pub fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: &PrivateKey,
) -> Result<Arc<CertifiedKey>, CertError> {
    let signing_key = provider()
        .key_provider
        .load_private_key(key.to_rustls())
        .map_err(tls)?;
    Ok(Arc::new(CertifiedKey::new(chain, signing_key)))
}

/// The current certificate and key of a server or client, replaceable at any moment.
pub struct CertSlot {
    current: ArcSwap<CertifiedKey>,
}

impl fmt::Debug for CertSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertSlot").finish_non_exhaustive()
    }
}

impl CertSlot {
    /// A slot holding `initial`.
    pub fn new(initial: Arc<CertifiedKey>) -> Arc<Self> {
        Arc::new(CertSlot {
            current: ArcSwap::new(initial),
        })
    }

    /// Replaces the pair; handshakes from now on present it.
    pub fn set(&self, next: Arc<CertifiedKey>) {
        self.current.store(next);
    }

    /// The pair handshakes present now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl ResolvesClientCert for CertSlot {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A client-certificate verifier that delegates path validation to webpki and then
/// insists on the clientAuth extended key usage being present.
#[derive(Debug)]
pub struct RequireClientAuthUsage {
    inner: Arc<dyn ClientCertVerifier>,
}

impl RequireClientAuthUsage {
    /// Client certificates must chain to one of `roots`.
    ///
    /// # Errors
    /// No usable root.
    pub fn new(roots: &[CertificateDer<'static>]) -> Result<Arc<Self>, CertError> {
        let mut store = RootCertStore::empty();
        for root in roots {
            store.add(root.clone()).map_err(tls)?;
        }
        let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider())
            .build()
            .map_err(|error| CertError::Invalid(format!("client verifier: {error}")))?;
        Ok(Arc::new(RequireClientAuthUsage { inner }))
    }
}

impl ClientCertVerifier for RequireClientAuthUsage {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if certificate_allows_client_auth(end_entity.as_ref()) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::InvalidPurpose,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A server configuration that requires a client certificate chaining to `client_roots`
/// with the clientAuth usage, and presents whatever `certificate` holds. Validity is
/// judged by `clock`.
///
/// # Errors
/// No usable root.
pub fn mtls_server_config(
    client_roots: &[CertificateDer<'static>],
    certificate: Arc<CertSlot>,
    clock: Arc<dyn rampart_core::Clock>,
) -> Result<ServerConfig, CertError> {
    let verifier = RequireClientAuthUsage::new(client_roots)?;
    Ok(
        ServerConfig::builder_with_details(provider(), Arc::new(ClockTime(clock)))
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(certificate),
    )
}

/// A client configuration that trusts `server_roots` and presents whatever `certificate`
/// holds when the server asks. Validity is judged by `clock`.
///
/// # Errors
/// No usable root.
pub fn mtls_client_config(
    server_roots: &[CertificateDer<'static>],
    certificate: Arc<CertSlot>,
    clock: Arc<dyn rampart_core::Clock>,
) -> Result<ClientConfig, CertError> {
    let mut store = RootCertStore::empty();
    for root in server_roots {
        store.add(root.clone()).map_err(tls)?;
    }
    Ok(
        ClientConfig::builder_with_details(provider(), Arc::new(ClockTime(clock)))
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .with_root_certificates(store)
            .with_client_cert_resolver(certificate),
    )
}

/// The Kubernetes user of a connection whose client certificate the handshake verified
/// (`peer_certificates()` of a server connection built with [`mtls_server_config`]).
/// `None` without a certificate or with an empty CN.
pub fn verified_user(peer_certificates: Option<&[CertificateDer<'_>]>) -> Option<UserInfo> {
    let leaf = peer_certificates?.first()?;
    user_from_certificate(leaf.as_ref()).ok().flatten()
}
