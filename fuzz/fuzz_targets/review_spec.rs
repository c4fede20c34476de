//! SubjectAccessReview specs from an untrusted webhook body or CLI line: never panics; an
//! accepted spec describes one request, and writing it back reads as the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_core::SubjectAccessReviewSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = serde_json::from_slice::<SubjectAccessReviewSpec>(data) else { return };
    let Ok((user, request)) = spec.to_request() else { return };
    let written = serde_json::to_vec(&SubjectAccessReviewSpec::from_request(&user, &request))
        .expect("a parsed spec serialises");
    let reread: SubjectAccessReviewSpec =
        serde_json::from_slice(&written).expect("a written spec parses");
    assert_eq!(reread.to_request().expect("still one request"), (user, request));
});
