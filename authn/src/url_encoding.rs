//! URL query and form encoding (RFC 3986 unreserved characters kept, everything else
//! percent-encoded), shared by the OIDC code flow and SAML's HTTP-Redirect binding.

/// application/x-www-form-urlencoded / URL query encoding of one value.
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(feature = "fetch")]
/// Decodes one query or form value (`+` is a space).
pub(crate) fn decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                index += 2;
            }
            other => out.push(other),
        }
        index += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(feature = "fetch")]
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(feature = "fetch")]
/// The value of `name` in a query string (`a=1&b=2`), if present once.
pub(crate) fn query_value(query: &str, name: &str) -> Option<String> {
    let mut found = None;
    for pair in query.trim_start_matches('?').split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if decode(key).as_deref() == Some(name) {
            if found.is_some() {
                return None; // a repeated parameter is ambiguous: refuse it
            }
            found = Some(decode(value)?);
        }
    }
    found
}
