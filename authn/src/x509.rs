//! X.509 client certificates (IA-2, IA-5(2)) the Kubernetes way: the chain is verified
//! against configured roots by webpki (through rustls's client-certificate verifier, with
//! the ring provider), the leaf must carry the clientAuth usage, and the subject maps to
//! a user by rampart-core's one rule (CN = username, O = groups, Kubernetes' uid
//! attribute). Use it where the TLS layer did not already verify the chain (a proxy that
//! forwards the client's certificate), or to re-check one against a different root set.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rampart_core::{
    Authenticated, Authenticator, AuthnError, AuthnFuture, CertificateSubject,
    ClientCertificateChain, RequestContext, SharedClock, certificate_allows_client_auth,
};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use x509_cert::der::Decode;

/// Why an X.509 authenticator could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum X509Error {
    /// No usable root certificate.
    #[error("client CA roots: {0}")]
    Roots(String),
}

/// Client certificates chaining to configured roots.
pub struct X509Authenticator {
    verifier: Arc<dyn ClientCertVerifier>,
    clock: SharedClock,
}

impl std::fmt::Debug for X509Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X509Authenticator").finish_non_exhaustive()
    }
}

impl X509Authenticator {
    /// Certificates must chain to one of `roots` (DER).
    ///
    /// # Errors
    /// No root could be used.
    pub fn new(roots: &[CertificateDer<'static>], clock: SharedClock) -> Result<Self, X509Error> {
        let mut store = rustls::RootCertStore::empty();
        for root in roots {
            store
                .add(root.clone())
                .map_err(|error| X509Error::Roots(error.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider)
            .build()
            .map_err(|error| X509Error::Roots(error.to_string()))?;
        Ok(X509Authenticator { verifier, clock })
    }

    /// The whole decision for one chain.
    fn check(&self, chain: &ClientCertificateChain) -> Result<Authenticated, AuthnError> {
        let leaf = chain.end_entity();
        let leaf_der = CertificateDer::from(leaf);
        let intermediates: Vec<CertificateDer<'_>> = chain
            .intermediates()
            .iter()
            .map(|der| CertificateDer::from(der.as_slice()))
            .collect();
        let now = self
            .clock
            .now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(UnixTime::since_unix_epoch)
            .map_err(|_| AuthnError::Internal {
                what: "clock before 1970".into(),
            })?;
        self.verifier
            .verify_client_cert(&leaf_der, &intermediates, now)
            .map_err(|error| match error {
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Expired
                    | rustls::CertificateError::ExpiredContext { .. },
                ) => AuthnError::Expired,
                _ => AuthnError::InvalidCredentials,
            })?;
        if !certificate_allows_client_auth(leaf) {
            return Err(AuthnError::InvalidCredentials);
        }
        let user = CertificateSubject::from_certificate_der(leaf)
            .ok()
            .and_then(|subject| subject.user())
            .ok_or(AuthnError::InvalidCredentials)?;
        let not_after = x509_cert::Certificate::from_der(leaf)
            .map(|cert| {
                cert.tbs_certificate()
                    .validity()
                    .not_after
                    .to_unix_duration()
            })
            .unwrap_or(Duration::ZERO);
        Ok(Authenticated::new(user).expiring_at(SystemTime::UNIX_EPOCH + not_after))
    }
}

impl Authenticator<ClientCertificateChain> for X509Authenticator {
    fn authenticate<'a>(
        &'a self,
        credential: &'a ClientCertificateChain,
        _context: &'a RequestContext,
    ) -> AuthnFuture<'a> {
        let result = self.check(credential);
        Box::pin(async move { result })
    }
}
