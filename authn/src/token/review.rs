//! The `authentication.k8s.io/v1` TokenReview webhook (IA-2): a kube-apiserver configured
//! with `--authentication-token-webhook-config-file` posts a TokenReview; the answer says
//! who the token belongs to. [`review_token`] is the whole handler, transport aside.
//!
//! - Only `authentication.k8s.io/v1` `TokenReview` with a non-empty `spec.token` is
//!   reviewed; anything else is a typed error (HTTP 400 for the caller).
//! - `spec.audiences`: a token is only valid for the audiences this service serves; when
//!   the review names audiences and none is ours the token is refused, and the status
//!   echoes the audiences that matched, as kube-apiserver expects.
//! - The error text in a refused status is the error's class, never the token or why a
//!   signature failed in detail.

use rampart_core::{
    Authenticator, AuthnError, BearerToken, RequestContext, SecretString, TokenReviewStatus,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// The largest TokenReview body read (64 KiB): a token plus a little JSON.
pub const MAX_TOKEN_REVIEW_BYTES: usize = 64 * 1024;

/// Why a request is not a TokenReview this handler answers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenReviewError {
    /// Not JSON, not a TokenReview, or too large.
    #[error("bad TokenReview: {0}")]
    BadRequest(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review {
    api_version: String,
    kind: String,
    #[serde(default)]
    spec: Spec,
}

#[derive(Default, Deserialize)]
struct Spec {
    #[serde(default)]
    token: String,
    #[serde(default)]
    audiences: Vec<String>,
}

/// Reviews one TokenReview request body with `authenticator`, for a service whose tokens
/// are meant for `our_audiences`. Returns the response body (the same TokenReview with a
/// `status`).
///
/// # Errors
/// The body is not a v1 TokenReview with a token.
pub async fn review_token(
    body: &[u8],
    authenticator: &dyn Authenticator<BearerToken>,
    our_audiences: &[String],
    context: &RequestContext,
) -> Result<Value, TokenReviewError> {
    if body.len() > MAX_TOKEN_REVIEW_BYTES {
        return Err(TokenReviewError::BadRequest(format!(
            "larger than {MAX_TOKEN_REVIEW_BYTES} bytes"
        )));
    }
    let review: Review = serde_json::from_slice(body)
        .map_err(|_| TokenReviewError::BadRequest("not a TokenReview object".into()))?;
    if review.api_version != "authentication.k8s.io/v1" || review.kind != "TokenReview" {
        return Err(TokenReviewError::BadRequest(
            "only authentication.k8s.io/v1 TokenReview is served".into(),
        ));
    }
    let token = SecretString::from(review.spec.token);
    if token.expose_secret().is_empty() {
        return Err(TokenReviewError::BadRequest("spec.token is empty".into()));
    }
    let audiences: Vec<String> = if review.spec.audiences.is_empty() {
        our_audiences.to_vec()
    } else {
        review
            .spec
            .audiences
            .iter()
            .filter(|audience| our_audiences.contains(audience))
            .cloned()
            .collect()
    };
    let status = if audiences.is_empty() {
        refused("the token is not valid for the requested audiences")
    } else {
        match authenticator
            .authenticate(&BearerToken::new(token), context)
            .await
        {
            Ok(authenticated) => TokenReviewStatus {
                authenticated: true,
                user: authenticated.user,
                audiences,
                error: String::new(),
            },
            Err(error) => refused(&refusal(&error)),
        }
    };
    let status = serde_json::to_value(&status)
        .map_err(|_| TokenReviewError::BadRequest("status could not be written".into()))?;
    Ok(json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "status": status,
    }))
}

fn refused(why: &str) -> TokenReviewStatus {
    TokenReviewStatus {
        error: why.to_owned(),
        ..TokenReviewStatus::default()
    }
}

/// What a refused review says: the class of the failure only.
fn refusal(error: &AuthnError) -> String {
    match error {
        AuthnError::Expired => "the token has expired".into(),
        AuthnError::Unavailable { .. } | AuthnError::Overloaded | AuthnError::Internal { .. } => {
            "the authenticator is unavailable".into()
        }
        _ => "the token is not valid".into(),
    }
}
