//! Text from requests shown to people: characters that could forge a line or reorder
//! what a reader sees.

/// Whether `c` can forge or disguise text shown to a person: control characters (C0, DEL,
/// C1), the line and paragraph separators U+2028/U+2029, the bidirectional formatting
/// characters (embeddings, overrides, isolates and marks) behind "Trojan Source" attacks
/// (CVE-2021-42574), and the characters Unicode says to render invisibly
/// (Default_Ignorable_Code_Point: zero-width spaces and joiners, the soft hyphen, word
/// joiners, variation selectors, fillers, tags), with which `admin\u{200B}` looks like
/// `admin`.
pub fn is_deceptive_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{00ad}'
                | '\u{034f}'
                | '\u{061c}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{17b4}'
                | '\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff0}'..='\u{fff8}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

/// At most `max_chars` characters of `text`, every [`is_deceptive_char`] replaced with
/// U+FFFD: the one sanitiser for text from requests that is kept or quoted back (request
/// contexts, claimed usernames, a bad name in an error).
pub fn sanitized(text: &str, max_chars: usize) -> String {
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

    #[test]
    fn invisible_characters_are_deceptive() {
        for invisible in [
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{2060}',
            '\u{feff}',
            '\u{00ad}',
            '\u{fe0f}',
            '\u{e0041}',
            '\u{3164}',
        ] {
            assert!(is_deceptive_char(invisible), "{:?}", invisible);
        }
        for visible in ['a', 'ß', 'я', '中', '😀', '-', ' '] {
            assert!(!is_deceptive_char(visible), "{visible:?}");
        }
        assert_eq!(escape_for_display("admin\u{200b}"), "admin\\u{200b}");
    }
}
