//! The YAML accounts file, as an operator (or an attacker with write access) might leave
//! it: never panics; what parses renders back to a file that parses to the same accounts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_authn::password::{parse_accounts, render_accounts};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(accounts) = parse_accounts(text) {
        for (name, account) in &accounts {
            assert_eq!(name, &account.username);
            assert!(!name.is_empty());
        }
        let rendered = render_accounts(&accounts).expect("render");
        assert_eq!(parse_accounts(&rendered).expect("rendered file parses"), accounts);
    }
});
