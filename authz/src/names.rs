//! Kubernetes name and label syntax (`k8s.io/apimachinery/pkg/util/validation`), as the
//! API server checks it before an RBAC object can exist.

const DNS1123_LABEL_MAX: usize = 63;
const DNS1123_SUBDOMAIN_MAX: usize = 253;
const QUALIFIED_NAME_MAX: usize = 63;
const LABEL_VALUE_MAX: usize = 63;

fn is_lower_alphanumeric(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 bytes: namespaces.
pub(crate) fn is_dns1123_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= DNS1123_LABEL_MAX
        && bytes.first().copied().is_some_and(is_lower_alphanumeric)
        && bytes.last().copied().is_some_and(is_lower_alphanumeric)
        && bytes.iter().all(|&b| is_lower_alphanumeric(b) || b == b'-')
}

/// Dot-separated DNS-1123 labels, at most 253 bytes: service account names, label prefixes.
pub(crate) fn is_dns1123_subdomain(text: &str) -> bool {
    text.len() <= DNS1123_SUBDOMAIN_MAX && text.split('.').all(is_dns1123_label)
}

/// A role or binding name: any non-empty path segment but `.` and `..`, without `/` or `%`.
pub(crate) fn is_path_segment_name(text: &str) -> bool {
    !text.is_empty() && text != "." && text != ".." && !text.contains(['/', '%'])
}

fn is_alphanumeric(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, the name part of a qualified name and a label
/// value, within `max` bytes.
fn is_qualified_part(text: &str, max: usize) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes.first().copied().is_some_and(is_alphanumeric)
        && bytes.last().copied().is_some_and(is_alphanumeric)
        && bytes
            .iter()
            .all(|&b| is_alphanumeric(b) || b == b'-' || b == b'_' || b == b'.')
}

/// A label key: `[prefix/]name`, prefix a DNS-1123 subdomain.
pub(crate) fn is_qualified_name(text: &str) -> bool {
    match text.split_once('/') {
        Some((prefix, name)) => {
            !prefix.is_empty()
                && is_dns1123_subdomain(prefix)
                && is_qualified_part(name, QUALIFIED_NAME_MAX)
        }
        None => is_qualified_part(text, QUALIFIED_NAME_MAX),
    }
}

/// A label value: empty, or a qualified part of at most 63 bytes.
pub(crate) fn is_label_value(text: &str) -> bool {
    text.is_empty() || is_qualified_part(text, LABEL_VALUE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_name_syntax() {
        assert!(is_dns1123_label("kube-system"));
        assert!(!is_dns1123_label("Kube"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_dns1123_subdomain("my.sa-1"));
        assert!(!is_dns1123_subdomain("my..sa"));
        assert!(is_path_segment_name("system:controller:job-controller"));
        assert!(!is_path_segment_name(".."));
        assert!(!is_path_segment_name("a/b"));
        assert!(!is_path_segment_name("a%2f"));
        assert!(is_qualified_name(
            "rbac.authorization.k8s.io/aggregate-to-admin"
        ));
        assert!(is_qualified_name("app"));
        assert!(!is_qualified_name("/app"));
        assert!(!is_qualified_name("a/b/c"));
        assert!(!is_qualified_name("-app"));
        assert!(is_label_value(""));
        assert!(is_label_value("true"));
        assert!(!is_label_value("a b"));
        assert!(!is_label_value(&"v".repeat(64)));
    }
}
