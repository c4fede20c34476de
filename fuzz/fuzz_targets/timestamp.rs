//! RFC 3339 parsing: never panics; what parses prints in a form that parses to the same
//! instant (at the microsecond precision it prints).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_core::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(time) = text.parse::<Timestamp>() {
        let printed = time.to_string();
        let again: Timestamp = printed.parse().expect("printed timestamp must parse");
        assert_eq!(again.unix_seconds(), time.unix_seconds());
        assert_eq!(again.subsec_nanos(), time.subsec_nanos() / 1000 * 1000);
        assert_eq!(again.to_string(), printed);
    }
});
