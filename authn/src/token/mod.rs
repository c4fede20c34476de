//! Bearer tokens that are not ID tokens (IA-2): kube-apiserver's static token file
//! ([`StaticTokens`]), and the TokenReview webhook handler ([`review_token`]) that answers
//! a kube-apiserver with any bearer-token authenticator.
//!
//! Errors: [`TokenFileError`] (the token file), [`TokenReviewError`] (a review request).

mod review;
mod static_tokens;

pub use review::{MAX_TOKEN_REVIEW_BYTES, TokenReviewError, review_token};
pub use static_tokens::{MAX_TOKEN_FILE_BYTES, StaticTokens, TokenFileError};
