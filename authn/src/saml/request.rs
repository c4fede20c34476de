//! AuthnRequests over the HTTP-Redirect binding (SAML Bindings §3.4): the request is
//! DEFLATE-compressed, base64- and URL-encoded into `SAMLRequest`; when signed, the
//! signature covers the exact query string `SAMLRequest=…&RelayState=…&SigAlg=…`.
//! Request IDs carry 128 random bits, so an InResponseTo cannot be guessed.

use std::io::Write as _;
use std::time::SystemTime;

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use flate2::Compression;
use flate2::write::DeflateEncoder;
use openssl::hash::MessageDigest;
use openssl::sign::Signer;
use quick_xml::escape::escape;
use ring::rand::{SecureRandom, SystemRandom};

use super::{SamlError, ServiceProvider, SpKey};
use crate::url_encoding::encode as percent_encode;

/// The RelayState a redirect may carry (SAML Bindings §3.4.3: 80 bytes).
pub const MAX_RELAY_STATE_BYTES: usize = 80;
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// Where to send the browser to start a login.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthnRedirect {
    /// The IdP URL with `SAMLRequest` (and `RelayState`, `SigAlg`, `Signature`).
    pub url: String,
    /// The request's ID; the response's InResponseTo must name it.
    pub request_id: String,
    /// The AuthnRequest XML, before encoding.
    pub xml: String,
}

/// https, or http to a loopback host (development).
pub(crate) fn is_acceptable_endpoint(url: &str) -> bool {
    if let Some(rest) = url.strip_prefix("https://") {
        return !rest.is_empty();
    }
    url.strip_prefix("http://").is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() {
                h
            } else {
                host
            }
        });
        matches!(host, "127.0.0.1" | "localhost" | "[::1]")
    })
}

pub(crate) fn redirect(
    sp: &ServiceProvider,
    relay_state: Option<&str>,
    signer: Option<&SpKey>,
    now: SystemTime,
) -> Result<AuthnRedirect, SamlError> {
    let destination = sp
        .idp()
        .sso_redirect_url()
        .ok_or_else(|| SamlError::Config("the IdP has no HTTP-Redirect SSO endpoint".into()))?;
    if !is_acceptable_endpoint(destination) {
        return Err(SamlError::Config(
            "the IdP SSO endpoint must be https".into(),
        ));
    }
    if relay_state.is_some_and(|state| state.len() > MAX_RELAY_STATE_BYTES) {
        return Err(SamlError::Config(format!(
            "RelayState is longer than {MAX_RELAY_STATE_BYTES} bytes"
        )));
    }
    if sp.idp().wants_signed_requests() && signer.is_none() {
        return Err(SamlError::Config(
            "the IdP wants signed AuthnRequests and no signing key is configured".into(),
        ));
    }
    let request_id = random_id()?;
    let instant = DateTime::<Utc>::from(now).to_rfc3339_opts(SecondsFormat::Secs, true);
    let xml = format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{request_id}\" \
         Version=\"2.0\" IssueInstant=\"{instant}\" Destination=\"{}\" \
         AssertionConsumerServiceURL=\"{}\" \
         ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\">\
         <saml:Issuer>{}</saml:Issuer><samlp:NameIDPolicy AllowCreate=\"true\"/>\
         </samlp:AuthnRequest>",
        escape(destination),
        escape(sp.acs_url()),
        escape(sp.entity_id()),
    );
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(xml.as_bytes())
        .map_err(|_| SamlError::Config("DEFLATE failed".into()))?;
    let deflated = encoder
        .finish()
        .map_err(|_| SamlError::Config("DEFLATE failed".into()))?;
    let mut query = format!(
        "SAMLRequest={}",
        percent_encode(&base64::engine::general_purpose::STANDARD.encode(deflated))
    );
    if let Some(state) = relay_state {
        query.push_str("&RelayState=");
        query.push_str(&percent_encode(state));
    }
    if let Some(key) = signer {
        query.push_str("&SigAlg=");
        query.push_str(&percent_encode(RSA_SHA256));
        let signature = sign(key, query.as_bytes())?;
        query.push_str("&Signature=");
        query.push_str(&percent_encode(
            &base64::engine::general_purpose::STANDARD.encode(signature),
        ));
    }
    let separator = if destination.contains('?') { '&' } else { '?' };
    Ok(AuthnRedirect {
        url: format!("{destination}{separator}{query}"),
        request_id,
        xml,
    })
}

fn sign(key: &SpKey, data: &[u8]) -> Result<Vec<u8>, SamlError> {
    let failed = || SamlError::Config("signing the AuthnRequest failed".into());
    let mut signer = Signer::new(MessageDigest::sha256(), key.pkey()).map_err(|_| failed())?;
    signer.update(data).map_err(|_| failed())?;
    signer.sign_to_vec().map_err(|_| failed())
}

/// `_` and 32 hex digits: an XML NCName with 128 random bits.
fn random_id() -> Result<String, SamlError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SamlError::Config("no randomness".into()))?;
    Ok(bytes.iter().fold(String::from("_"), |mut id, b| {
        id.push_str(&format!("{b:02x}"));
        id
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_https_or_loopback() {
        for good in [
            "https://sp.example/acs",
            "http://127.0.0.1:8080/acs",
            "http://localhost/acs",
            "http://[::1]:1/acs",
        ] {
            assert!(is_acceptable_endpoint(good), "{good}");
        }
        for bad in [
            "http://sp.example/acs",
            "http://localhost.evil/acs",
            "http://127.0.0.1.evil/x",
            "ftp://x",
            "https://",
            "",
        ] {
            assert!(!is_acceptable_endpoint(bad), "{bad}");
        }
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        assert_eq!(percent_encode("a+b/c=d e~"), "a%2Bb%2Fc%3Dd%20e~");
    }
}
