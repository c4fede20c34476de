//! Kubernetes audit events and audit policies from untrusted input: never panics; an
//! accepted event writes back to JSON that reads as the same event; an accepted policy
//! evaluates any request without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_audit::{Event, AuditPolicy};
use rampart_core::{Attributes, NonResourceAttributes, ResourceAttributes, UserInfo};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(event) = Event::from_json(text) {
        let written = serde_json::to_string(&event).expect("serialises");
        let again = Event::from_json(&written).expect("a written event reads back");
        assert_eq!(serde_json::to_string(&again).expect("serialises"), written);
    }
    if let Ok(policy) = AuditPolicy::from_yaml(text) {
        let user = UserInfo::new("u").with_groups(["g"]);
        for request in [
            Attributes::Resource(ResourceAttributes {
                namespace: "ns".into(),
                verb: "get".into(),
                resource: "pods".into(),
                subresource: "log".into(),
                name: "p".into(),
                ..ResourceAttributes::default()
            }),
            Attributes::NonResource(NonResourceAttributes { path: "/healthz".into(), verb: "get".into() }),
        ] {
            let _ = policy.evaluate(Some(&user), &request);
            let _ = policy.evaluate(None, &request);
        }
    }
});
