//! Authorization: request attributes, decisions, and the trait every authorizer implements.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::user::{UserInfo, null_as_default};

/// What a resource request asks to do: Kubernetes' `ResourceAttributes`
/// (authorization.k8s.io/v1), with the same JSON form.
///
/// Values are taken as given: no lower-casing, no defaulting. RBAC compares them exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAttributes {
    /// The namespace; empty for cluster-scoped requests and all-namespace lists.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub namespace: String,
    /// The verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, or a special verb such as `impersonate`, `bind`, `escalate`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub verb: String,
    /// The API group; empty for the core group.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub group: String,
    /// The API version; RBAC ignores it.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub version: String,
    /// The resource, e.g. `pods`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub resource: String,
    /// The subresource, e.g. `log` or `exec`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub subresource: String,
    /// The object name; empty for `create`, `list`, `watch` and `deletecollection`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// A field selector (Kubernetes 1.31+), kept as given; RBAC ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_selector: Option<serde_json::Value>,
    /// A label selector (Kubernetes 1.31+), kept as given; RBAC ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<serde_json::Value>,
}

/// What a non-resource request asks to do: Kubernetes' `NonResourceAttributes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonResourceAttributes {
    /// The URL path, e.g. `/healthz` or `/apis`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub path: String,
    /// The verb, from the HTTP method (`get`, `post`, `put`, `delete`, …).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub verb: String,
}

/// One request to authorize: Kubernetes' `authorizer.Attributes` without the user.
///
/// A request is either about a resource or about a plain URL path, never both; the type
/// makes the other case unrepresentable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attributes {
    /// A request about an API resource.
    Resource(ResourceAttributes),
    /// A request about a URL path outside the resource API (`/healthz`, `/version`, `/apis`).
    NonResource(NonResourceAttributes),
}

impl Attributes {
    /// The verb of either kind of request.
    pub fn verb(&self) -> &str {
        match self {
            Attributes::Resource(resource) => &resource.verb,
            Attributes::NonResource(non_resource) => &non_resource.verb,
        }
    }

    /// The namespace; always empty for non-resource requests.
    pub fn namespace(&self) -> &str {
        match self {
            Attributes::Resource(resource) => &resource.namespace,
            Attributes::NonResource(_) => "",
        }
    }

    /// Whether this is a resource request.
    pub fn is_resource_request(&self) -> bool {
        matches!(self, Attributes::Resource(_))
    }
}

impl fmt::Display for Attributes {
    /// A one-line description for explanations and logs, e.g.
    /// `get pods/log "web-0" in namespace "prod"` or `get /healthz`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attributes::NonResource(request) => write!(f, "{} {}", request.verb, request.path),
            Attributes::Resource(request) => {
                write!(f, "{} ", request.verb)?;
                if !request.group.is_empty() {
                    write!(f, "{}.", request.group)?;
                }
                f.write_str(&request.resource)?;
                if !request.subresource.is_empty() {
                    write!(f, "/{}", request.subresource)?;
                }
                if !request.name.is_empty() {
                    write!(f, " {:?}", request.name)?;
                }
                if request.namespace.is_empty() {
                    f.write_str(" cluster-wide")
                } else {
                    write!(f, " in namespace {:?}", request.namespace)
                }
            }
        }
    }
}

/// An authorizer's answer. Only [`Decision::Allow`] permits the request: a caller that gets
/// [`Decision::NoOpinion`] from its last authorizer denies.
#[must_use = "a decision that is not acted on authorizes nothing"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The request is allowed; the reason says by what.
    Allow(String),
    /// The request is denied outright; later authorizers are not asked.
    Deny(String),
    /// This authorizer neither allows nor denies; later authorizers are asked.
    NoOpinion(String),
}

impl Decision {
    /// Whether the request may proceed. `NoOpinion` is not permission.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The explanation.
    pub fn reason(&self) -> &str {
        match self {
            Decision::Allow(reason) | Decision::Deny(reason) | Decision::NoOpinion(reason) => {
                reason
            }
        }
    }
}

/// Decides whether a user may make a request.
///
/// Authorization never fails with an error: an authorizer that cannot decide (bad policy,
/// missing data, a fault) folds that into [`Decision::Deny`] or [`Decision::NoOpinion`] with
/// the reason, so no caller can mistake an error for permission.
///
/// ```
/// use rampart_core::{
///     Attributes, Authorizer, Decision, NonResourceAttributes, UnionAuthorizer, UserInfo,
/// };
/// use std::sync::Arc;
///
/// /// Allows everyone to read `/healthz`, has no opinion on anything else.
/// #[derive(Debug)]
/// struct Health;
///
/// impl Authorizer for Health {
///     fn authorize(&self, _user: &UserInfo, request: &Attributes) -> Decision {
///         match request {
///             Attributes::NonResource(r) if r.verb == "get" && r.path == "/healthz" => {
///                 Decision::Allow("health checks are public".into())
///             }
///             _ => Decision::NoOpinion(String::new()),
///         }
///     }
/// }
///
/// let authorizer = UnionAuthorizer::new(vec![Arc::new(Health)]);
/// let health = Attributes::NonResource(NonResourceAttributes {
///     path: "/healthz".into(),
///     verb: "get".into(),
/// });
/// let metrics = Attributes::NonResource(NonResourceAttributes {
///     path: "/metrics".into(),
///     verb: "get".into(),
/// });
/// let anyone = UserInfo::new("system:anonymous");
/// assert!(authorizer.authorize(&anyone, &health).is_allowed());
/// assert!(!authorizer.authorize(&anyone, &metrics).is_allowed());
/// ```
pub trait Authorizer: Send + Sync + fmt::Debug {
    /// Decides `request` for `user`.
    fn authorize(&self, user: &UserInfo, request: &Attributes) -> Decision;
}

impl<T: Authorizer + ?Sized> Authorizer for &T {
    fn authorize(&self, user: &UserInfo, request: &Attributes) -> Decision {
        (**self).authorize(user, request)
    }
}

impl<T: Authorizer + ?Sized> Authorizer for Box<T> {
    fn authorize(&self, user: &UserInfo, request: &Attributes) -> Decision {
        (**self).authorize(user, request)
    }
}

impl<T: Authorizer + ?Sized> Authorizer for Arc<T> {
    fn authorize(&self, user: &UserInfo, request: &Attributes) -> Decision {
        (**self).authorize(user, request)
    }
}

/// Asks authorizers in order, as the kube-apiserver's union authorizer does: the first
/// `Allow` or `Deny` is the answer; if every member has no opinion, the answer is
/// `NoOpinion` with the members' non-empty reasons joined by newlines.
#[derive(Debug, Clone, Default)]
pub struct UnionAuthorizer {
    members: Vec<Arc<dyn Authorizer>>,
}

impl UnionAuthorizer {
    /// A union over `members`, asked in order.
    pub fn new(members: Vec<Arc<dyn Authorizer>>) -> Self {
        UnionAuthorizer { members }
    }
}

impl Authorizer for UnionAuthorizer {
    fn authorize(&self, user: &UserInfo, request: &Attributes) -> Decision {
        let mut reasons = Vec::new();
        for member in &self.members {
            match member.authorize(user, request) {
                Decision::NoOpinion(reason) => {
                    if !reason.is_empty() {
                        reasons.push(reason);
                    }
                }
                decided => return decided,
            }
        }
        Decision::NoOpinion(reasons.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(Decision);

    impl Authorizer for Fixed {
        fn authorize(&self, _: &UserInfo, _: &Attributes) -> Decision {
            self.0.clone()
        }
    }

    fn fixed(decision: Decision) -> Arc<dyn Authorizer> {
        Arc::new(Fixed(decision))
    }

    fn pods() -> Attributes {
        Attributes::Resource(ResourceAttributes {
            namespace: "prod".into(),
            verb: "get".into(),
            resource: "pods".into(),
            subresource: "log".into(),
            name: "web-0".into(),
            ..ResourceAttributes::default()
        })
    }

    #[test]
    fn union_returns_the_first_decision_that_is_not_no_opinion() {
        let user = UserInfo::new("u");
        let union = UnionAuthorizer::new(vec![
            fixed(Decision::NoOpinion("a".into())),
            fixed(Decision::Deny("b".into())),
            fixed(Decision::Allow("c".into())),
        ]);
        assert_eq!(union.authorize(&user, &pods()), Decision::Deny("b".into()));
        let union = UnionAuthorizer::new(vec![
            fixed(Decision::NoOpinion("a".into())),
            fixed(Decision::NoOpinion(String::new())),
            fixed(Decision::NoOpinion("c".into())),
        ]);
        assert_eq!(
            union.authorize(&user, &pods()),
            Decision::NoOpinion("a\nc".into())
        );
        assert!(
            !UnionAuthorizer::default()
                .authorize(&user, &pods())
                .is_allowed()
        );
    }

    #[test]
    fn only_allow_is_permission() {
        assert!(Decision::Allow(String::new()).is_allowed());
        assert!(!Decision::Deny(String::new()).is_allowed());
        assert!(!Decision::NoOpinion(String::new()).is_allowed());
    }

    #[test]
    fn display_describes_the_request() {
        assert_eq!(
            pods().to_string(),
            r#"get pods/log "web-0" in namespace "prod""#
        );
        let cluster = Attributes::Resource(ResourceAttributes {
            verb: "list".into(),
            group: "rbac.authorization.k8s.io".into(),
            resource: "clusterroles".into(),
            ..ResourceAttributes::default()
        });
        assert_eq!(
            cluster.to_string(),
            "list rbac.authorization.k8s.io.clusterroles cluster-wide"
        );
        assert_eq!(cluster.namespace(), "");
        assert!(cluster.is_resource_request());
    }
}
