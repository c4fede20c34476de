//! Text from requests shown to people: characters that could forge a line or reorder
//! what a reader sees.

/// Whether `c` can forge or disguise text shown to a person: control characters (C0, DEL,
/// C1), the line and paragraph separators U+2028/U+2029, and the bidirectional
/// formatting characters (embeddings, overrides, isolates and marks) behind
/// "Trojan Source" attacks (CVE-2021-42574).
pub fn is_deceptive_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// At most `max_chars` characters of `text`, every [`is_deceptive_char`] replaced with
/// U+FFFD: the one sanitiser for text from requests that is kept (request contexts,
/// claimed usernames).
pub(crate) fn sanitized(text: &str, max_chars: usize) -> String {
    text.chars()
        .take(max_chars)
        .map(|c| if is_deceptive_char(c) { '\u{fffd}' } else { c })
        .collect()
}

/// `text` with every [`is_deceptive_char`] written as a visible `\u{XXXX}` escape (and
/// the backslash doubled, so an escape in the input cannot pass for one we wrote): what a
/// terminal or log viewer shows is exactly what was recorded.
pub fn escape_for_display(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c == '\\' || is_deceptive_char(c)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_deceptive_char(c) {
            out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_separators_and_bidi_are_escaped() {
        let shown = escape_for_display("ad\u{202e}nimda\nx\u{2028}y\x1b[2J\\u{41}");
        assert_eq!(
            shown,
            "ad\\u{202e}nimda\\u{000a}x\\u{2028}y\\u{001b}[2J\\\\u{41}"
        );
        assert_eq!(
            escape_for_display("alice@example.test"),
            "alice@example.test"
        );
        assert!(is_deceptive_char('\u{2066}') && is_deceptive_char('\u{85}'));
        assert!(!is_deceptive_char('é'));
    }
}
