//! kube-apiserver request targets (method, path, query) from the wire: never panics; a
//! resource request names its resource as the first path part, and parsing is stable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_authz::RequestInfoFactory;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (method, target) = text.split_once(' ').unwrap_or(("GET", text));
    let factory = RequestInfoFactory::default();
    let Ok(info) = factory.parse(method, target) else { return };
    if info.is_resource_request {
        assert_eq!(info.parts.first(), Some(&info.resource));
        // An empty version is possible (`/api//pods`): Go's split keeps empty segments.
    }
    assert_eq!(factory.parse(method, target), Ok(info.clone()));
    let _ = info.to_attributes();
});
