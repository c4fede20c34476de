//! The first look at untrusted SAML XML, before libxml2 or xmlsec see a byte: a streaming
//! pass (quick-xml, no tree, no entity expansion) that refuses what SAML never needs and
//! what attacks rely on, and counts what a well-formed Response may hold.
//!
//! Refused: any DOCTYPE (DTDs, XXE, billion laughs: never expanded because never parsed),
//! processing instructions, comments and CDATA (comments and CDATA split text nodes, the
//! trick behind NameID comment injection: canonicalization drops the comment, a naive reader
//! keeps half the name), entity references other than XML's five and character references,
//! duplicate attributes, and documents beyond the depth, element or attribute bounds.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::SamlError;

/// SAML 2.0 protocol namespace.
pub(crate) const PROTOCOL_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";
/// SAML 2.0 metadata namespace.
pub(crate) const METADATA_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:metadata";

/// How deep elements may nest. A signed, attribute-carrying Response needs about ten.
const MAX_DEPTH: usize = 32;
/// How many elements one document may hold.
const MAX_ELEMENTS: usize = 20_000;
/// How many attributes (namespace declarations included) one element may carry.
const MAX_ATTRIBUTES: usize = 64;

/// The only transforms a SAML signature needs (SAML 2.0 core §5.4.4): anything else —
/// XPath, XSLT, inclusive canonicalization, base64 — is how wrapping and denial-of-service
/// attacks reach xmlsec, so it is refused before xmlsec runs.
const ALLOWED_TRANSFORMS: [&str; 2] = [
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
];

/// What the pass saw, for the checks that follow it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The root element's namespace and local name.
    pub(crate) root: Option<(Vec<u8>, Vec<u8>)>,
    /// Elements whose local name is `Assertion`, in any namespace.
    pub(crate) assertions: usize,
    /// Elements whose local name is `EncryptedAssertion`, in any namespace.
    pub(crate) encrypted_assertions: usize,
    /// Elements whose local name is `Signature`, in any namespace.
    pub(crate) signatures: usize,
    /// The `Algorithm` of every `SignatureMethod` and `DigestMethod` inside a `Signature`.
    pub(crate) signature_algorithms: Vec<String>,
}

impl Shape {
    /// The root is `{ns}local`.
    pub(crate) fn root_is(&self, ns: &[u8], local: &[u8]) -> bool {
        self.root
            .as_ref()
            .is_some_and(|(root_ns, root_local)| root_ns == ns && root_local == local)
    }
}

/// Streams through `xml`, refusing what SAML does not need, and reports its shape.
pub(crate) fn inspect(xml: &str) -> Result<Shape, SamlError> {
    let refuse = |what: &str| SamlError::Malformed(what.to_owned());
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut shape = Shape::default();
    let mut depth = 0usize;
    let mut elements = 0usize;
    let mut root_closed = false;
    // The depth at which the outermost open `Signature` started, and the `ID` of the
    // element it signs (its parent).
    let mut signature_depth: Option<usize> = None;
    let mut signed_id: Option<String> = None;
    // The `ID` attribute of every open element.
    let mut open_ids: Vec<Option<String>> = Vec::new();
    loop {
        let (namespace, event) = reader
            .read_resolved_event()
            .map_err(|_| refuse("XML is not well-formed"))?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if root_closed {
                    return Err(refuse("content after the root element"));
                }
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(refuse("too many elements"));
                }
                check_attributes(start)?;
                let local = start.local_name().as_ref().to_vec();
                if shape.root.is_none() {
                    let ns = match namespace {
                        ResolveResult::Bound(ns) => ns.as_ref().to_vec(),
                        _ => Vec::new(),
                    };
                    shape.root = Some((ns, local.clone()));
                }
                match local.as_slice() {
                    b"Assertion" => shape.assertions += 1,
                    b"EncryptedAssertion" => shape.encrypted_assertions += 1,
                    b"Signature" => {
                        shape.signatures += 1;
                        if matches!(event, Event::Start(_)) && signature_depth.is_none() {
                            signature_depth = Some(depth);
                            signed_id = open_ids.last().cloned().flatten();
                        }
                    }
                    b"SignatureMethod" | b"DigestMethod" if signature_depth.is_some() => {
                        shape
                            .signature_algorithms
                            .push(attribute(start, "Algorithm").unwrap_or_default());
                    }
                    b"Reference" if signature_depth.is_some() => {
                        check_reference(attribute(start, "URI").as_deref(), signed_id.as_deref())?;
                    }
                    b"Transform" if signature_depth.is_some() => {
                        let algorithm = attribute(start, "Algorithm").unwrap_or_default();
                        if !ALLOWED_TRANSFORMS.contains(&algorithm.as_str()) {
                            return Err(refuse("a signature uses a transform SAML does not need"));
                        }
                    }
                    _ => {}
                }
                if matches!(event, Event::Start(_)) {
                    open_ids.push(attribute(start, "ID"));
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(refuse("elements nest too deeply"));
                    }
                } else if depth == 0 {
                    root_closed = true;
                }
            }
            Event::End(_) => {
                open_ids.pop();
                depth = depth.saturating_sub(1);
                if signature_depth == Some(depth) {
                    signature_depth = None;
                }
                if depth == 0 {
                    root_closed = true;
                }
            }
            Event::Text(text) => {
                if depth == 0 && !text.iter().all(u8::is_ascii_whitespace) {
                    return Err(refuse("text outside the root element"));
                }
            }
            Event::GeneralRef(reference) => {
                let predefined = matches!(
                    reference.as_ref(),
                    b"lt" | b"gt" | b"amp" | b"apos" | b"quot"
                );
                let character = reference.is_char_ref()
                    && reference.resolve_char_ref().ok().flatten().is_some();
                if !(predefined || character) {
                    return Err(refuse("entity references are not allowed"));
                }
            }
            Event::DocType(_) => return Err(refuse("DTDs are not allowed")),
            Event::PI(_) => return Err(refuse("processing instructions are not allowed")),
            Event::Comment(_) => return Err(refuse("comments are not allowed")),
            Event::CData(_) => return Err(refuse("CDATA sections are not allowed")),
            Event::Decl(ref declaration) => {
                if shape.root.is_some() {
                    return Err(refuse("XML declaration after the root element"));
                }
                // Both parsers must read the same characters: only UTF-8 is accepted.
                let utf8 = match declaration.encoding() {
                    None => true,
                    Some(Ok(name)) => {
                        name.eq_ignore_ascii_case(b"UTF-8") || name.eq_ignore_ascii_case(b"UTF8")
                    }
                    Some(Err(_)) => false,
                };
                if !utf8 {
                    return Err(refuse("only UTF-8 documents are accepted"));
                }
            }
            Event::Eof => break,
        }
    }
    if shape.root.is_none() || !root_closed {
        return Err(refuse("no complete root element"));
    }
    Ok(shape)
}

/// A signature's `Reference` must point at the element that holds the signature: `#ID` of
/// that element, or `""` (the whole document). Any other target — another element, an
/// external URI, an XPointer — is how signature wrapping picks what gets verified.
fn check_reference(uri: Option<&str>, signed_id: Option<&str>) -> Result<(), SamlError> {
    let fits = match uri {
        Some("") => true,
        Some(uri) => uri
            .strip_prefix('#')
            .is_some_and(|id| !id.is_empty() && Some(id) == signed_id),
        None => false,
    };
    if fits {
        Ok(())
    } else {
        Err(SamlError::Malformed(
            "a signature references something other than the element it signs".into(),
        ))
    }
}

/// The value of attribute `name` (entity references resolved), if present and well-formed.
pub(crate) fn attribute(element: &BytesStart<'_>, name: &str) -> Option<String> {
    element
        .try_get_attribute(name)
        .ok()
        .flatten()
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
        .map(|value| value.into_owned())
}

/// At most [`MAX_ATTRIBUTES`], none repeated, each well-formed.
fn check_attributes(start: &BytesStart<'_>) -> Result<(), SamlError> {
    let mut count = 0usize;
    for attribute in start.attributes().with_checks(true) {
        attribute.map_err(|_| SamlError::Malformed("malformed or repeated attribute".into()))?;
        count += 1;
        if count > MAX_ATTRIBUTES {
            return Err(SamlError::Malformed("too many attributes".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn a_plain_response_passes_and_is_counted() {
        let shape = inspect(
            r#"<?xml version="1.0"?><p:Response xmlns:p="urn:oasis:names:tc:SAML:2.0:protocol"><a:Assertion xmlns:a="x">&amp;&#65;</a:Assertion></p:Response>"#,
        )
        .unwrap();
        assert!(shape.root_is(PROTOCOL_NS, b"Response"));
        assert_eq!((shape.assertions, shape.signatures), (1, 0));
    }

    #[test]
    fn what_saml_never_needs_is_refused() {
        for (xml, why) in [
            ("<!DOCTYPE r [<!ENTITY a 'x'>]><r>&a;</r>", "DTD"),
            ("<r>&a;</r>", "entity"),
            ("<r><!-- c --></r>", "comment"),
            ("<r><![CDATA[x]]></r>", "CDATA"),
            ("<r><?pi x?></r>", "processing"),
            ("<r a='1' a='2'/>", "attribute"),
            ("<r/><r/>", "after the root"),
            ("<r>", "root"),
            ("", "root"),
            ("<r></s>", "well-formed"),
        ] {
            let error = inspect(xml).unwrap_err().to_string();
            assert!(error.contains(why), "{xml}: {error}");
        }
    }

    #[test]
    fn only_utf8_documents_are_read() {
        for xml in [
            r#"<?xml version="1.0" encoding="UTF-16"?><r/>"#,
            r#"<?xml version="1.0" encoding="ISO-8859-1"?><r/>"#,
            r#"<?xml version="1.0" encoding="UTF-7"?><r/>"#,
        ] {
            let error = inspect(xml).unwrap_err().to_string();
            assert!(error.contains("UTF-8"), "{xml}: {error}");
        }
        for xml in [
            r#"<?xml version="1.0" encoding="UTF-8"?><r/>"#,
            r#"<?xml version="1.0" encoding="utf-8"?><r/>"#,
            r#"<?xml version="1.0"?><r/>"#,
        ] {
            assert!(inspect(xml).is_ok(), "{xml}");
        }
    }

    #[test]
    fn signature_references_and_transforms_are_allow_listed() {
        let signed = |uri: &str, transform: &str| {
            format!(
                r##"<r ID="a1"><x ID="other"/><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:Reference URI="{uri}"><ds:Transforms><ds:Transform Algorithm="{transform}"/></ds:Transforms></ds:Reference></ds:SignedInfo></ds:Signature></r>"##
            )
        };
        let exc = "http://www.w3.org/2001/10/xml-exc-c14n#";
        assert!(inspect(&signed("#a1", exc)).is_ok());
        assert!(inspect(&signed("", exc)).is_ok());
        for uri in ["#other", "#", "http://evil.test/x", "#xpointer(/)", "a1"] {
            let error = inspect(&signed(uri, exc)).unwrap_err().to_string();
            assert!(error.contains("references"), "{uri}: {error}");
        }
        for transform in [
            "http://www.w3.org/TR/1999/REC-xpath-19991116",
            "http://www.w3.org/TR/1999/REC-xslt-19991116",
            "http://www.w3.org/2000/09/xmldsig#base64",
            "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        ] {
            let error = inspect(&signed("#a1", transform)).unwrap_err().to_string();
            assert!(error.contains("transform"), "{transform}: {error}");
        }
    }

    #[test]
    fn bounds_hold() {
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert!(inspect(&deep).unwrap_err().to_string().contains("deeply"));
        let wide = format!("<r>{}</r>", "<a/>".repeat(MAX_ELEMENTS));
        assert!(inspect(&wide).unwrap_err().to_string().contains("elements"));
        let attributes: String = (0..=MAX_ATTRIBUTES).map(|i| format!(" a{i}='x'")).collect();
        assert!(
            inspect(&format!("<r{attributes}/>"))
                .unwrap_err()
                .to_string()
                .contains("attributes")
        );
    }
}
