//! kube-apiserver token files (`--token-auth-file` CSV): never panics; a file that parses
//! defines at most one token per non-blank line, and parsing is stable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_authn::StaticTokens;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let first = StaticTokens::parse(text);
    if let Ok(tokens) = &first {
        let lines = text.lines().filter(|line| !line.trim().is_empty()).count();
        assert!(tokens.len() <= lines);
        assert_eq!(StaticTokens::parse(text).map(|t| t.len()).ok(), Some(tokens.len()));
    }
});
