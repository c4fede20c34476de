//! The `authorization.k8s.io/v1` SubjectAccessReview webhook (AC-3): a kube-apiserver
//! configured with `--authorization-webhook-config-file` posts a SubjectAccessReview; the
//! answer is the same object with its `status` set. [`review_access`] is the whole handler,
//! transport aside, shared by the CLI's `authz review` and any webhook server.
//!
//! - A body that is not a JSON object, names another `apiVersion` or `kind` (a `v1beta1`
//!   review spells the groups `group`, so answering it would silently drop them), or whose
//!   `spec` has the wrong shape is a typed error: HTTP 400 for the caller.
//! - A well-formed review the apiserver itself would refuse (both or neither kind of
//!   attributes, no user and no group) is answered `allowed: false` with an
//!   `evaluationError`.
//! - The groups are taken exactly as given: the apiserver has already added
//!   `system:authenticated`, and nothing is implied here.

use rampart_core::{
    Attributes, Authorizer, Decision, ReviewError, SubjectAccessReviewSpec,
    SubjectAccessReviewStatus, UserInfo,
};
use serde_json::Value;

/// The largest SubjectAccessReview body read (1 MiB): a user with many groups and extras.
pub const MAX_ACCESS_REVIEW_BYTES: usize = 1024 * 1024;

/// The only review version answered.
pub const ACCESS_REVIEW_API_VERSION: &str = "authorization.k8s.io/v1";

/// Why a body is not a SubjectAccessReview this handler answers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessReviewError {
    /// Over [`MAX_ACCESS_REVIEW_BYTES`].
    #[error("larger than {MAX_ACCESS_REVIEW_BYTES} bytes")]
    TooLarge,
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("not a JSON object")]
    NotAnObject,
    /// Another `apiVersion` or `kind`.
    #[error("only {ACCESS_REVIEW_API_VERSION} SubjectAccessReview is served, not `{0}`")]
    Unsupported(String),
    /// The `spec` does not have the shape of a SubjectAccessReview's.
    #[error("spec: {0}")]
    Spec(String),
}

/// Answers one SubjectAccessReview with `authorizer`: the review echoed with its `status`.
///
/// # Errors
/// The body is not a v1 SubjectAccessReview (see the module documentation).
pub fn review_access(body: &[u8], authorizer: &dyn Authorizer) -> Result<Value, AccessReviewError> {
    let (review, request) = read_review(body)?;
    let decision = request.map(|(user, attributes)| authorizer.authorize(&user, &attributes));
    Ok(answer(review, decision))
}

/// [`review_access`] for an async server over an [`AuditedAuthorizer`](crate::AuditedAuthorizer):
/// the decision's event is awaited without holding a runtime worker (the synchronous form
/// records with the sink's blocking call).
///
/// # Errors
/// As [`review_access`].
pub async fn review_access_audited<A: Authorizer>(
    body: &[u8],
    authorizer: &crate::AuditedAuthorizer<A>,
    context: &rampart_core::RequestContext,
) -> Result<Value, AccessReviewError> {
    let (review, request) = read_review(body)?;
    let decision = match request {
        Ok((user, attributes)) => Ok(authorizer.decide(&user, &attributes, context).await),
        Err(error) => Err(error),
    };
    Ok(answer(review, decision))
}

/// The review and the request its spec describes (or why the apiserver would refuse it).
type ReadReview = (Value, Result<(UserInfo, Attributes), ReviewError>);

fn read_review(body: &[u8]) -> Result<ReadReview, AccessReviewError> {
    let review = parse_review(body)?;
    let spec: SubjectAccessReviewSpec =
        serde_json::from_value(review.get("spec").cloned().unwrap_or(Value::Null))
            .map_err(|error| AccessReviewError::Spec(error.to_string()))?;
    let request = spec.to_request();
    Ok((review, request))
}

/// The review with its `status` (replacing any the client sent): the decision, or the
/// reason the request could not be decided (denied).
fn answer(mut review: Value, decision: Result<Decision, ReviewError>) -> Value {
    let status = match decision {
        Ok(decision) => SubjectAccessReviewStatus::from(&decision),
        Err(error) => SubjectAccessReviewStatus {
            evaluation_error: error.to_string(),
            ..SubjectAccessReviewStatus::default()
        },
    };
    if let Value::Object(object) = &mut review {
        object.insert(
            "status".to_owned(),
            serde_json::to_value(status).unwrap_or(Value::Null),
        );
    }
    review
}

/// The body as a JSON object of the one type served (an absent `apiVersion` or `kind` is
/// taken as that type, as a hand-written review often omits them).
fn parse_review(body: &[u8]) -> Result<Value, AccessReviewError> {
    if body.len() > MAX_ACCESS_REVIEW_BYTES {
        return Err(AccessReviewError::TooLarge);
    }
    let review: Value = serde_json::from_slice(body)
        .map_err(|error| AccessReviewError::NotJson(error.to_string()))?;
    if !review.is_object() {
        return Err(AccessReviewError::NotAnObject);
    }
    for (field, wanted) in [
        ("apiVersion", ACCESS_REVIEW_API_VERSION),
        ("kind", "SubjectAccessReview"),
    ] {
        match review.get(field) {
            None => {}
            Some(Value::String(given)) if given == wanted => {}
            Some(other) => {
                return Err(AccessReviewError::Unsupported(rampart_core::sanitized(
                    &other.to_string(),
                    64,
                )));
            }
        }
    }
    Ok(review)
}

/// An answer for a body that could not be reviewed, in the review's own shape: denied, with
/// the reason as `evaluationError` (for callers that answer every input, like a pipe).
pub fn refused_review(message: &str) -> Value {
    serde_json::json!({
        "apiVersion": ACCESS_REVIEW_API_VERSION,
        "kind": "SubjectAccessReview",
        "status": {"allowed": false, "evaluationError": message},
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    #[derive(Debug)]
    struct AllowsMasters;

    impl Authorizer for AllowsMasters {
        fn authorize(&self, user: &UserInfo, _: &Attributes) -> Decision {
            if user.groups.iter().any(|g| g == "system:masters") {
                Decision::Allow("masters".into())
            } else {
                Decision::NoOpinion(String::new())
            }
        }
    }

    #[test]
    fn a_review_is_answered_with_its_status_and_keeps_the_rest() {
        let body = br#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","metadata":{"name":"kept"},"spec":{"resourceAttributes":{"verb":"get","resource":"pods"},"user":"root","groups":["system:masters"]}}"#;
        let answer = review_access(body, &AllowsMasters).unwrap();
        assert_eq!(answer["status"]["allowed"], true);
        assert_eq!(answer["status"]["reason"], "masters");
        assert_eq!(answer["metadata"]["name"], "kept");
        let body =
            br#"{"spec":{"nonResourceAttributes":{"path":"/healthz","verb":"get"},"user":"jane"}}"#;
        assert_eq!(
            review_access(body, &AllowsMasters).unwrap()["status"],
            serde_json::json!({"allowed": false})
        );
    }

    #[test]
    fn the_async_form_records_the_decision_and_answers_alike() {
        let sink = std::sync::Arc::new(rampart_core::MemorySink::new());
        let audited = crate::AuditedAuthorizer::new(
            AllowsMasters,
            sink.clone(),
            std::sync::Arc::new(rampart_core::ManualClock::at_unix(1_800_000_000)),
        );
        let body = br#"{"spec":{"resourceAttributes":{"verb":"get","resource":"pods"},"user":"root","groups":["system:masters"]}}"#;
        let answer = futures_executor::block_on(review_access_audited(
            body,
            &audited,
            &rampart_core::RequestContext::new(),
        ))
        .unwrap();
        assert_eq!(answer, review_access(body, &AllowsMasters).unwrap());
        assert_eq!(sink.events().len(), 1);
        sink.set_failing(true);
        let refused = futures_executor::block_on(review_access_audited(
            body,
            &audited,
            &rampart_core::RequestContext::new(),
        ))
        .unwrap();
        assert_eq!(refused["status"]["allowed"], false);
        assert_eq!(refused["status"]["denied"], true);
    }

    #[test]
    fn groups_are_taken_exactly_as_given() {
        // No system:authenticated is implied: the apiserver already added what applies.
        #[derive(Debug)]
        struct SeesGroups;
        impl Authorizer for SeesGroups {
            fn authorize(&self, user: &UserInfo, _: &Attributes) -> Decision {
                Decision::NoOpinion(user.groups.join(","))
            }
        }
        let body = br#"{"spec":{"nonResourceAttributes":{"path":"/","verb":"get"},"user":"jane","groups":["dev"]}}"#;
        assert_eq!(
            review_access(body, &SeesGroups).unwrap()["status"]["reason"],
            "dev"
        );
    }

    #[test]
    fn hostile_and_malformed_bodies_are_typed_errors() {
        let huge = vec![b' '; MAX_ACCESS_REVIEW_BYTES + 1];
        assert_eq!(
            review_access(&huge, &AllowsMasters),
            Err(AccessReviewError::TooLarge)
        );
        assert!(matches!(
            review_access(b"not json", &AllowsMasters),
            Err(AccessReviewError::NotJson(_))
        ));
        assert_eq!(
            review_access(b"[1,2]", &AllowsMasters),
            Err(AccessReviewError::NotAnObject)
        );
        for body in [
            &br#"{"apiVersion":"authorization.k8s.io/v1beta1","spec":{"group":["system:masters"]}}"#[..],
            br#"{"kind":"TokenReview","spec":{}}"#,
            br#"{"apiVersion":7,"spec":{}}"#,
        ] {
            assert!(
                matches!(review_access(body, &AllowsMasters), Err(AccessReviewError::Unsupported(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(matches!(
            review_access(br#"{"spec":{"user":7}}"#, &AllowsMasters),
            Err(AccessReviewError::Spec(_))
        ));
        // A review the apiserver would refuse is answered, denied, with the reason.
        let answer = review_access(br#"{"spec":{"user":"jane"}}"#, &AllowsMasters).unwrap();
        assert_eq!(answer["status"]["allowed"], false);
        assert!(
            answer["status"]["evaluationError"]
                .as_str()
                .unwrap()
                .contains("exactly one")
        );
        // A deceptive kind is shown escaped, never raw.
        let error =
            review_access("{\"kind\":\"x\u{202e}y\"}".as_bytes(), &AllowsMasters).unwrap_err();
        assert!(!error.to_string().contains('\u{202e}'));
    }
}
