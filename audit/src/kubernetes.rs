//! Kubernetes audit events (`audit.k8s.io/v1` `Event` / `EventList`) and the audit `Policy` (`AuditPolicy` here),
//! with the policy evaluated exactly as the kube-apiserver's checker does
//! (`staging/src/k8s.io/apiserver/pkg/audit/policy/checker.go`).

use std::collections::BTreeMap;

use rampart_core::{Attributes, AuditEvent, Timestamp, UserInfo};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::Error;

/// The API version of audit events and policies.
pub const AUDIT_API_VERSION: &str = "audit.k8s.io/v1";

/// How much of a request is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// Not recorded.
    None,
    /// Who, what, when; no bodies.
    Metadata,
    /// Metadata and the request body.
    Request,
    /// Metadata, request and response bodies.
    RequestResponse,
}

/// When in the life of a request an event is emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Stage {
    /// As soon as the request is received.
    RequestReceived,
    /// When response headers are sent (long-running requests).
    ResponseStarted,
    /// When the response is complete.
    ResponseComplete,
    /// When the handler panicked.
    Panic,
}

fn is_empty<T>(items: &[T]) -> bool {
    items.is_empty()
}

/// What an event is about (`ObjectReference`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// The resource.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    /// The namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The object name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The object's uid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The API group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    /// The API version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The resource version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// The subresource.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
}

/// One Kubernetes audit event, with fields in the order the apiserver writes them, so that
/// an event read and written back is the same bytes. Opaque parts (status, bodies) are
/// kept verbatim.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Always `Event`.
    pub kind: String,
    /// Always `audit.k8s.io/v1`.
    pub api_version: String,
    /// The level recorded.
    pub level: Level,
    /// The request's audit id (a UUID), shared by its stages.
    #[serde(rename = "auditID")]
    pub audit_id: String,
    /// The stage.
    pub stage: Stage,
    /// The request URI as sent.
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    /// The authorization verb.
    pub verb: String,
    /// Who made the request.
    pub user: UserInfo,
    /// Whom the request impersonated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonated_user: Option<UserInfo>,
    /// The client addresses, the direct peer last.
    #[serde(default, rename = "sourceIPs", skip_serializing_if = "is_empty")]
    pub source_ips: Vec<String>,
    /// The client's user agent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    /// The object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectReference>,
    /// The response status (a `metav1.Status`), verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<Box<RawValue>>,
    /// The request body (level Request and up), verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object: Option<Box<RawValue>>,
    /// The response body (level RequestResponse), verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_object: Option<Box<RawValue>>,
    /// When the request arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_received_timestamp: Option<Timestamp>,
    /// When this stage was reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_timestamp: Option<Timestamp>,
    /// Annotations (authorization decision and reason, admission, rampart facts).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Event {
    /// Reads one event, checking its kind and API version.
    ///
    /// # Errors
    /// Not JSON of an `audit.k8s.io/v1` `Event`.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let event: Event =
            serde_json::from_str(text).map_err(|e| Error::parse("not an audit event", e))?;
        if event.kind != "Event" || event.api_version != AUDIT_API_VERSION {
            return Err(Error::Config(format!(
                "not an audit event: kind `{}`, apiVersion `{}`",
                event.kind, event.api_version
            )));
        }
        Ok(event)
    }

    /// A rampart audit event in Kubernetes form, for collectors that read only that: verb =
    /// the action name, user = the actor, `rampart.io/*` annotations for code, outcome,
    /// reason, target and details.
    pub fn from_rampart(event: &AuditEvent) -> Self {
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "rampart.io/action".to_owned(),
            event.action.name().to_owned(),
        );
        annotations.insert("rampart.io/code".to_owned(), event.action.code().to_owned());
        annotations.insert(
            "rampart.io/outcome".to_owned(),
            event.outcome.as_str().to_owned(),
        );
        if let Some(reason) = &event.reason {
            annotations.insert("rampart.io/reason".to_owned(), reason.clone());
        }
        if let Some(target) = &event.target {
            annotations.insert(
                "rampart.io/target".to_owned(),
                serde_json::to_string(target).unwrap_or_default(),
            );
        }
        if !event.details.is_empty() {
            annotations.insert(
                "rampart.io/details".to_owned(),
                serde_json::to_string(&event.details).unwrap_or_default(),
            );
        }
        if let Some(id) = event.source.request_id() {
            annotations.insert("rampart.io/request-id".to_owned(), id.to_owned());
        }
        Event {
            kind: "Event".to_owned(),
            api_version: AUDIT_API_VERSION.to_owned(),
            level: Level::Metadata,
            audit_id: event.id.to_string(),
            stage: Stage::ResponseComplete,
            request_uri: String::new(),
            verb: event.action.name().to_owned(),
            user: event.actor.clone(),
            impersonated_user: None,
            source_ips: event
                .source
                .source_ip()
                .map(|ip| vec![ip.to_string()])
                .unwrap_or_default(),
            user_agent: event.source.user_agent().unwrap_or_default().to_owned(),
            object_ref: None,
            response_status: None,
            request_object: None,
            response_object: None,
            request_received_timestamp: Some(event.time),
            stage_timestamp: Some(event.time),
            annotations,
        }
    }
}

/// A batch of events, as the apiserver's webhook backend posts them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventList {
    /// Always `EventList`.
    pub kind: String,
    /// Always `audit.k8s.io/v1`.
    pub api_version: String,
    /// List metadata (empty).
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The events.
    pub items: Vec<Event>,
}

impl EventList {
    /// A list of `items`.
    pub fn new(items: Vec<Event>) -> Self {
        EventList {
            kind: "EventList".to_owned(),
            api_version: AUDIT_API_VERSION.to_owned(),
            metadata: serde_json::Map::new(),
            items,
        }
    }
}

/// The resources a policy rule names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupResources {
    /// The API group (`""` for core).
    #[serde(default)]
    pub group: String,
    /// Resources, `resource/subresource`, `*`, `*/subresource` or `resource/*`.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Object names.
    #[serde(default)]
    pub resource_names: Vec<String>,
}

/// One rule of an audit policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditPolicyRule {
    /// The level for matching requests.
    pub level: Level,
    /// Users the rule applies to (empty: all).
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups the rule applies to (empty: all).
    #[serde(default)]
    pub user_groups: Vec<String>,
    /// Verbs the rule applies to (empty: all).
    #[serde(default)]
    pub verbs: Vec<String>,
    /// Resources the rule applies to.
    #[serde(default)]
    pub resources: Vec<GroupResources>,
    /// Namespaces the rule applies to (`""` for cluster-scoped).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Non-resource URLs the rule applies to; a trailing `*` is a prefix.
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
    /// Stages not to record, besides the policy's.
    #[serde(default)]
    pub omit_stages: Vec<Stage>,
    /// Overrides the policy's `omitManagedFields`.
    #[serde(default)]
    pub omit_managed_fields: Option<bool>,
}

/// An `audit.k8s.io/v1` `Policy`: the first matching rule decides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditPolicy {
    /// Always `audit.k8s.io/v1`.
    pub api_version: String,
    /// Always `Policy`.
    pub kind: String,
    /// Object metadata (ignored).
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// The rules, in order.
    #[serde(default)]
    pub rules: Vec<AuditPolicyRule>,
    /// Stages never recorded.
    #[serde(default)]
    pub omit_stages: Vec<Stage>,
    /// Whether request and response bodies drop `managedFields`.
    #[serde(default)]
    pub omit_managed_fields: bool,
}

/// What a policy decides for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditConfig {
    /// The level.
    pub level: Level,
    /// Stages not to record (the rule's and the policy's, without duplicates).
    pub omit_stages: Vec<Stage>,
    /// Whether bodies drop `managedFields`.
    pub omit_managed_fields: bool,
}

fn union(a: &[Stage], b: &[Stage]) -> Vec<Stage> {
    let mut stages: Vec<Stage> = a.iter().chain(b).copied().collect();
    stages.sort();
    stages.dedup();
    stages
}

/// `pathMatches`: `*`, exact, or a trailing-`*` prefix.
fn path_matches(path: &str, spec: &str) -> bool {
    spec == "*"
        || spec == path
        || (spec.ends_with('*') && path.starts_with(spec.trim_end_matches('*')))
}

fn rule_matches_resource(rule: &AuditPolicyRule, request: &Attributes) -> bool {
    let Attributes::Resource(attrs) = request else {
        return false;
    };
    if !rule.namespaces.is_empty() && !rule.namespaces.contains(&attrs.namespace) {
        return false;
    }
    if rule.resources.is_empty() {
        return true;
    }
    let combined = if attrs.subresource.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}/{}", attrs.resource, attrs.subresource)
    };
    rule.resources
        .iter()
        .filter(|gr| gr.group == attrs.group)
        .any(|gr| {
            gr.resources.is_empty()
                || gr.resources.iter().any(|res| {
                    (gr.resource_names.is_empty() || gr.resource_names.contains(&attrs.name))
                        && (*res == combined
                            || res == "*"
                            || (!attrs.subresource.is_empty()
                                && res.strip_prefix("*/") == Some(attrs.subresource.as_str()))
                            || res.strip_suffix("/*") == Some(attrs.resource.as_str()))
                })
        })
}

/// `ruleMatches`.
fn rule_matches(rule: &AuditPolicyRule, user: Option<&UserInfo>, request: &Attributes) -> bool {
    if !rule.users.is_empty() && !user.is_some_and(|u| rule.users.contains(&u.username)) {
        return false;
    }
    if !rule.user_groups.is_empty()
        && !user.is_some_and(|u| u.groups.iter().any(|g| rule.user_groups.contains(g)))
    {
        return false;
    }
    if !rule.verbs.is_empty() && !rule.verbs.iter().any(|v| v == request.verb()) {
        return false;
    }
    if !rule.namespaces.is_empty() || !rule.resources.is_empty() {
        return rule_matches_resource(rule, request);
    }
    if !rule.non_resource_urls.is_empty() {
        return match request {
            Attributes::NonResource(attrs) => rule
                .non_resource_urls
                .iter()
                .any(|spec| path_matches(&attrs.path, spec)),
            Attributes::Resource(_) => false,
        };
    }
    true
}

impl AuditPolicy {
    /// Reads a policy from the YAML (or JSON) an administrator writes, checking it as the
    /// apiserver does.
    ///
    /// # Errors
    /// Not a valid `audit.k8s.io/v1` `Policy`.
    pub fn from_yaml(text: &str) -> Result<Self, Error> {
        let policy: AuditPolicy =
            serde_saphyr::from_str(text).map_err(|e| Error::parse("audit policy", e))?;
        policy.validate()?;
        Ok(policy)
    }

    /// `ValidatePolicy`.
    fn validate(&self) -> Result<(), Error> {
        if self.api_version != AUDIT_API_VERSION || self.kind != "Policy" {
            return Err(Error::Config(format!(
                "audit policy: expected `{AUDIT_API_VERSION}` `Policy`, found `{}` `{}`",
                self.api_version, self.kind
            )));
        }
        for (position, rule) in self.rules.iter().enumerate() {
            let has_resources = !rule.resources.is_empty() || !rule.namespaces.is_empty();
            if has_resources && !rule.non_resource_urls.is_empty() {
                return Err(Error::Config(format!(
                    "audit policy: rules[{position}]: rules cannot apply to both regular resources and non-resource URLs"
                )));
            }
            for url in &rule.non_resource_urls {
                let inner_star = url.trim_end_matches('*').contains('*');
                if url != "*" && (!url.starts_with('/') || inner_star) {
                    return Err(Error::Config(format!(
                        "audit policy: rules[{position}].nonResourceURLs: `{url}` must start with `/` and may only end in `*`"
                    )));
                }
            }
            for group in &rule.resources {
                if !group.resource_names.is_empty() && group.resources.is_empty() {
                    return Err(Error::Config(format!(
                        "audit policy: rules[{position}].resources: resourceNames require resources"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The level and omitted stages for `request` by `user` (`None` for an unauthenticated
    /// request): the first matching rule, else level `None`.
    pub fn evaluate(&self, user: Option<&UserInfo>, request: &Attributes) -> AuditConfig {
        for rule in &self.rules {
            if rule_matches(rule, user, request) {
                return AuditConfig {
                    level: rule.level,
                    omit_stages: union(&rule.omit_stages, &self.omit_stages),
                    omit_managed_fields: rule
                        .omit_managed_fields
                        .unwrap_or(self.omit_managed_fields),
                };
            }
        }
        AuditConfig {
            level: Level::None,
            omit_stages: union(&[], &self.omit_stages),
            omit_managed_fields: self.omit_managed_fields,
        }
    }
}
