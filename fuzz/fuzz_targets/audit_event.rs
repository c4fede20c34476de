//! Audit events read back from a trail or from `rampart audit record` input: never panics;
//! an accepted event writes back to JSON that reads as the same event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_core::AuditEvent;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<AuditEvent>(data) else { return };
    let written = serde_json::to_vec(&event).expect("an event serialises");
    let reread: AuditEvent = serde_json::from_slice(&written).expect("a written event parses");
    assert_eq!(reread.id, event.id);
    assert_eq!(reread.action, event.action);
    assert_eq!(reread.actor, event.actor);
    assert_eq!(reread.source, event.source);
    assert_eq!(reread.target, event.target);
    assert_eq!(serde_json::to_vec(&reread).expect("serialises"), written);
});
