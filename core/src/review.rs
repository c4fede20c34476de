//! The Kubernetes review objects through which an apiserver asks a webhook, in the JSON
//! form the apiserver sends and expects.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::authz::{Attributes, Decision, NonResourceAttributes, ResourceAttributes};
use crate::error::ReviewError;
use crate::user::{UserInfo, null_as_default};

/// The `spec` of an authorization.k8s.io/v1 `SubjectAccessReview`.
///
/// Read it with serde, then call [`SubjectAccessReviewSpec::to_request`] to get the one
/// request it describes; write one with [`SubjectAccessReviewSpec::from_request`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReviewSpec {
    /// Set for a resource request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_attributes: Option<ResourceAttributes>,
    /// Set for a non-resource request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_resource_attributes: Option<NonResourceAttributes>,
    /// The username.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub user: String,
    /// The groups, exactly as given: nothing (not even `system:authenticated`) is implied.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<String>,
    /// Extra user attributes.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub extra: BTreeMap<String, Vec<String>>,
    /// The user's uid.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub uid: String,
}

impl SubjectAccessReviewSpec {
    /// The user and request this spec describes.
    ///
    /// # Errors
    /// As the apiserver's validation: exactly one kind of attributes, and a user or at
    /// least one group.
    pub fn to_request(&self) -> Result<(UserInfo, Attributes), ReviewError> {
        let attributes = match (&self.resource_attributes, &self.non_resource_attributes) {
            (Some(resource), None) => Attributes::Resource(resource.clone()),
            (None, Some(non_resource)) => Attributes::NonResource(non_resource.clone()),
            _ => return Err(ReviewError::AttributesNotExactlyOne),
        };
        if self.user.is_empty() && self.groups.is_empty() {
            return Err(ReviewError::NoSubject);
        }
        let user = UserInfo {
            username: self.user.clone(),
            uid: self.uid.clone(),
            groups: self.groups.clone(),
            extra: self.extra.clone(),
        };
        Ok((user, attributes))
    }

    /// The spec that asks about `request` by `user`.
    pub fn from_request(user: &UserInfo, request: &Attributes) -> Self {
        let (resource_attributes, non_resource_attributes) = match request {
            Attributes::Resource(resource) => (Some(resource.clone()), None),
            Attributes::NonResource(non_resource) => (None, Some(non_resource.clone())),
        };
        SubjectAccessReviewSpec {
            resource_attributes,
            non_resource_attributes,
            user: user.username.clone(),
            groups: user.groups.clone(),
            extra: user.extra.clone(),
            uid: user.uid.clone(),
        }
    }
}

/// The `status` of a `SubjectAccessReview`, as a webhook answers it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReviewStatus {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// Whether the request is denied outright (later authorizers are not asked).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub denied: bool,
    /// Why.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub reason: String,
    /// An error met while deciding; the decision stands regardless.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub evaluation_error: String,
}

impl From<&Decision> for SubjectAccessReviewStatus {
    fn from(decision: &Decision) -> Self {
        SubjectAccessReviewStatus {
            allowed: decision.is_allowed(),
            denied: matches!(decision, Decision::Deny(_)),
            reason: decision.reason().to_owned(),
            evaluation_error: String::new(),
        }
    }
}

/// The `status` of an authentication.k8s.io/v1 `TokenReview`, as a webhook answers it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReviewStatus {
    /// Whether the token was recognised and is valid.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub authenticated: bool,
    /// Who the token belongs to, when authenticated. Always written, as `{}` when empty,
    /// as kube-apiserver does.
    #[serde(default, deserialize_with = "null_as_default")]
    pub user: UserInfo,
    /// The audiences the token is valid for.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub audiences: Vec<String>,
    /// Why the token was not authenticated; never contains the token.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_must_describe_exactly_one_request_by_someone() {
        let mut spec = SubjectAccessReviewSpec {
            user: "jane".into(),
            ..SubjectAccessReviewSpec::default()
        };
        assert_eq!(spec.to_request(), Err(ReviewError::AttributesNotExactlyOne));
        spec.resource_attributes = Some(ResourceAttributes::default());
        spec.non_resource_attributes = Some(NonResourceAttributes::default());
        assert_eq!(spec.to_request(), Err(ReviewError::AttributesNotExactlyOne));
        spec.non_resource_attributes = None;
        assert!(spec.to_request().is_ok());
        spec.user.clear();
        assert_eq!(spec.to_request(), Err(ReviewError::NoSubject));
        spec.groups = vec![String::new()];
        assert!(spec.to_request().is_ok(), "a group may itself be empty");
    }

    #[test]
    fn status_follows_the_decision() {
        let allow = SubjectAccessReviewStatus::from(&Decision::Allow("ok".into()));
        assert!(allow.allowed && !allow.denied);
        let deny = SubjectAccessReviewStatus::from(&Decision::Deny("no".into()));
        assert!(!deny.allowed && deny.denied);
        let none = SubjectAccessReviewStatus::from(&Decision::NoOpinion(String::new()));
        assert!(!none.allowed && !none.denied);
        assert_eq!(
            serde_json::to_string(&none).unwrap(),
            r#"{"allowed":false}"#
        );
    }
}
