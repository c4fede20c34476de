//! SAML metadata: the IdP's (read, as trusted configuration) and ours (written).
//!
//! The IdP metadata is where trust comes from, so it is refused when it cannot anchor any:
//! no IDPSSODescriptor, no signing certificate (samael would then skip signature checks
//! altogether), or a certificate that is not X.509. Several signing certificates are kept,
//! so an IdP can roll its key over. Metadata signatures are not checked: the operator who
//! installs the file vouches for it.

use std::fmt::Write as _;
use std::time::SystemTime;

use base64::Engine as _;
use quick_xml::escape::escape;
use samael::metadata::{EntityDescriptor, HTTP_REDIRECT_BINDING};
use x509_cert::der::Decode;

use super::{SamlError, decode_base64, guard};

/// The largest IdP metadata document accepted (1 MiB: one entity, not a federation feed).
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;

const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

/// One IdP, as its metadata describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpMetadata {
    entity_id: String,
    signing_certificates: Vec<Vec<u8>>,
    sso_redirect_url: Option<String>,
    want_authn_requests_signed: bool,
    valid_until: Option<SystemTime>,
}

impl IdpMetadata {
    /// Reads one `md:EntityDescriptor` with an IDPSSODescriptor for SAML 2.0.
    ///
    /// # Errors
    /// Oversized or hostile XML, no entity ID, no SAML 2.0 IDPSSODescriptor, no signing
    /// certificate, or a certificate that does not parse.
    pub fn parse(xml: &str) -> Result<Self, SamlError> {
        if xml.len() > MAX_METADATA_BYTES {
            return Err(SamlError::TooLarge {
                limit: MAX_METADATA_BYTES,
            });
        }
        let refuse = |what: &str| SamlError::Metadata(what.to_owned());
        let shape = guard::inspect(xml)?;
        if !shape.root_is(guard::METADATA_NS, b"EntityDescriptor") {
            return Err(refuse(
                "the root must be one md:EntityDescriptor (select the IdP from an aggregate)",
            ));
        }
        let descriptor: EntityDescriptor = xml
            .parse()
            .map_err(|_| refuse("not a SAML 2.0 EntityDescriptor"))?;
        let entity_id = descriptor
            .entity_id
            .clone()
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| refuse("entityID is missing"))?;
        let idps: Vec<_> = descriptor
            .idp_sso_descriptors
            .iter()
            .flatten()
            .filter(|idp| {
                idp.protocol_support_enumeration
                    .as_deref()
                    .is_some_and(|list| list.split_ascii_whitespace().any(|p| p == PROTOCOL))
            })
            .collect();
        if idps.is_empty() {
            return Err(refuse("no IDPSSODescriptor supports SAML 2.0"));
        }
        let mut signing_certificates = Vec::new();
        for key in idps.iter().flat_map(|idp| idp.key_descriptors.iter()) {
            // A KeyDescriptor without `use` serves both signing and encryption.
            if !matches!(key.key_use.as_deref(), None | Some("" | "signing")) {
                continue;
            }
            for encoded in key.key_info.x509_data.iter().flat_map(|d| &d.certificates) {
                let der = decode_base64(encoded)
                    .ok_or_else(|| refuse("an X509Certificate is not base64"))?;
                x509_cert::Certificate::from_der(&der)
                    .map_err(|_| refuse("an X509Certificate is not an X.509 certificate"))?;
                if !signing_certificates.contains(&der) {
                    signing_certificates.push(der);
                }
            }
        }
        if signing_certificates.is_empty() {
            return Err(refuse(
                "no signing certificate: responses could not be verified",
            ));
        }
        let sso_redirect_url = idps
            .iter()
            .flat_map(|idp| idp.single_sign_on_services.iter())
            .find(|service| service.binding == HTTP_REDIRECT_BINDING)
            .map(|service| service.location.clone());
        let want_authn_requests_signed = idps
            .iter()
            .any(|idp| idp.want_authn_requests_signed == Some(true));
        Ok(IdpMetadata {
            entity_id,
            signing_certificates,
            sso_redirect_url,
            want_authn_requests_signed,
            valid_until: descriptor.valid_until.map(Into::into),
        })
    }

    /// The IdP's entity ID: the Issuer of its responses.
    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }

    /// The DER certificates whose keys may sign responses (several during a rollover).
    pub fn signing_certificates(&self) -> &[Vec<u8>] {
        &self.signing_certificates
    }

    /// The SingleSignOnService endpoint for the HTTP-Redirect binding.
    pub fn sso_redirect_url(&self) -> Option<&str> {
        self.sso_redirect_url.as_deref()
    }

    /// The IdP asks for signed AuthnRequests.
    pub fn wants_signed_requests(&self) -> bool {
        self.want_authn_requests_signed
    }

    /// When the metadata stops being valid, if it says.
    pub fn valid_until(&self) -> Option<SystemTime> {
        self.valid_until
    }
}

/// This service provider's metadata, for the IdP's administrator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpMetadata {
    entity_id: String,
    acs_url: String,
    certificate: Option<Vec<u8>>,
    signs_requests: bool,
    valid_until: Option<String>,
    name_id_format: Option<String>,
}

impl SpMetadata {
    /// Metadata naming `entity_id` and its HTTP-POST ACS at `acs_url`.
    pub fn new(entity_id: &str, acs_url: &str) -> Self {
        SpMetadata {
            entity_id: entity_id.to_owned(),
            acs_url: acs_url.to_owned(),
            certificate: None,
            signs_requests: false,
            valid_until: None,
            name_id_format: None,
        }
    }

    /// The SP's certificate (DER): published for encryption, and for signing when
    /// `signs_requests`.
    pub fn with_certificate(mut self, der: Vec<u8>, signs_requests: bool) -> Self {
        self.certificate = Some(der);
        self.signs_requests = signs_requests;
        self
    }

    /// `validUntil`, as an RFC 3339 UTC instant.
    pub fn valid_until(mut self, instant: impl Into<String>) -> Self {
        self.valid_until = Some(instant.into());
        self
    }

    /// The NameID format to ask for.
    pub fn name_id_format(mut self, format: impl Into<String>) -> Self {
        self.name_id_format = Some(format.into());
        self
    }

    /// The XML document.
    pub fn to_xml(&self) -> String {
        let mut xml = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        xml.push_str("\n<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\"");
        let _ = write!(xml, " entityID=\"{}\"", escape(&self.entity_id));
        if let Some(until) = &self.valid_until {
            let _ = write!(xml, " validUntil=\"{}\"", escape(until));
        }
        xml.push_str(">\n");
        let _ = writeln!(
            xml,
            "  <md:SPSSODescriptor AuthnRequestsSigned=\"{}\" WantAssertionsSigned=\"true\" \
             protocolSupportEnumeration=\"{PROTOCOL}\">",
            self.signs_requests
        );
        if let Some(der) = &self.certificate {
            let certificate = base64::engine::general_purpose::STANDARD.encode(der);
            let key_info = format!(
                "<ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:X509Data>\
                 <ds:X509Certificate>{certificate}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
            );
            if self.signs_requests {
                let _ = writeln!(
                    xml,
                    "    <md:KeyDescriptor use=\"signing\">{key_info}</md:KeyDescriptor>"
                );
            }
            let _ = writeln!(xml, "    <md:KeyDescriptor use=\"encryption\">{key_info}");
            for method in [
                "http://www.w3.org/2009/xmlenc11#aes256-gcm",
                "http://www.w3.org/2009/xmlenc11#aes128-gcm",
                "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
                "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
                "http://www.w3.org/2009/xmlenc11#rsa-oaep",
                "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
            ] {
                let _ = writeln!(xml, "      <md:EncryptionMethod Algorithm=\"{method}\"/>");
            }
            xml.push_str("    </md:KeyDescriptor>\n");
        }
        if let Some(format) = &self.name_id_format {
            let _ = writeln!(
                xml,
                "    <md:NameIDFormat>{}</md:NameIDFormat>",
                escape(format)
            );
        }
        let _ = writeln!(
            xml,
            "    <md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" \
             Location=\"{}\" index=\"0\" isDefault=\"true\"/>",
            escape(&self.acs_url)
        );
        xml.push_str("  </md:SPSSODescriptor>\n</md:EntityDescriptor>\n");
        xml
    }
}
