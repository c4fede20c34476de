//! RBAC manifests (YAML or JSON, any shape): never panics; whatever loads aggregates, and
//! the compiled index decides exactly as the reference scan on a fixed set of requests.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use rampart_authz::{Loader, RbacAuthorizer, ScanAuthorizer};
use rampart_core::{Attributes, Authorizer, NonResourceAttributes, ResourceAttributes, UserInfo};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let name = if data.first() == Some(&b'{') { "fuzz.json" } else { "fuzz.yaml" };
    let Ok(mut loaded) = Loader::new().default_namespace("ns").load_str(name, text) else { return };
    let _ = loaded.policy.aggregate();
    let index = RbacAuthorizer::new(&loaded.policy);
    let scan = ScanAuthorizer::new(Arc::new(loaded.policy.clone()));
    let users = [
        UserInfo::new("alice").with_groups(["system:authenticated", "dev"]),
        UserInfo::new("system:serviceaccount:ns:sa"),
    ];
    let requests = [
        Attributes::Resource(ResourceAttributes {
            namespace: "ns".into(),
            verb: "get".into(),
            resource: "pods".into(),
            subresource: "log".into(),
            name: "web".into(),
            ..ResourceAttributes::default()
        }),
        Attributes::Resource(ResourceAttributes {
            verb: "list".into(),
            group: "apps".into(),
            resource: "deployments".into(),
            ..ResourceAttributes::default()
        }),
        Attributes::NonResource(NonResourceAttributes { path: "/healthz".into(), verb: "get".into() }),
    ];
    for user in &users {
        for request in &requests {
            let (fast, slow) = (index.authorize(user, request), scan.authorize(user, request));
            assert_eq!(fast.is_allowed(), slow.is_allowed());
            if !fast.is_allowed() {
                assert_eq!(fast, slow);
            }
        }
    }
});
