//! Where a request came from: the "where" and "source" of an audit record (AU-3).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Longest user agent kept, in characters; the rest is cut off.
pub const MAX_USER_AGENT_CHARS: usize = 256;
/// Longest request id kept, in characters; the rest is cut off.
pub const MAX_REQUEST_ID_CHARS: usize = 128;

/// The origin of a request as the transport saw it.
///
/// The user agent and request id come from the client and are untrusted: on the way in,
/// control characters are replaced (no log injection) and the length is bounded, so every
/// later consumer (audit, logs) can print them as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "RawContext")]
pub struct RequestContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    source_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl RequestContext {
    /// A context that knows nothing yet (e.g. a local CLI invocation).
    pub fn new() -> Self {
        RequestContext::default()
    }

    /// Sets the client's address as the transport saw it.
    pub fn with_source_ip(mut self, ip: IpAddr) -> Self {
        self.source_ip = Some(ip);
        self
    }

    /// Sets the client's user agent, sanitised.
    pub fn with_user_agent(mut self, user_agent: &str) -> Self {
        self.user_agent = Some(crate::text::sanitized(user_agent, MAX_USER_AGENT_CHARS));
        self
    }

    /// Sets the request id that ties this request's audit records together, sanitised.
    pub fn with_request_id(mut self, request_id: &str) -> Self {
        self.request_id = Some(crate::text::sanitized(request_id, MAX_REQUEST_ID_CHARS));
        self
    }

    /// The client's address, if known.
    pub fn source_ip(&self) -> Option<IpAddr> {
        self.source_ip
    }

    /// The client's user agent, if it sent one.
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// The request id, if one was assigned.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

/// The unchecked wire form; deserialising goes through the same sanitising setters.
#[derive(Deserialize)]
struct RawContext {
    source_ip: Option<IpAddr>,
    user_agent: Option<String>,
    request_id: Option<String>,
}

impl From<RawContext> for RequestContext {
    fn from(raw: RawContext) -> Self {
        let mut context = RequestContext::new();
        context.source_ip = raw.source_ip;
        if let Some(agent) = raw.user_agent {
            context = context.with_user_agent(&agent);
        }
        if let Some(id) = raw.request_id {
            context = context.with_request_id(&id);
        }
        context
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_forge_log_lines() {
        let context =
            RequestContext::new().with_user_agent("curl/8\n2026-01-01 admin login ok\r\x1b[2J");
        let agent = context.user_agent().unwrap();
        assert!(!agent.chars().any(char::is_control), "{agent:?}");
        assert!(agent.starts_with("curl/8\u{fffd}2026"));
    }

    #[test]
    fn bidi_overrides_and_line_separators_are_replaced_too() {
        let context = RequestContext::new()
            .with_user_agent("curl\u{202e}nimda\u{2028}fake\u{2066}")
            .with_request_id("id\u{2029}x");
        let agent = context.user_agent().unwrap();
        assert_eq!(agent, "curl\u{fffd}nimda\u{fffd}fake\u{fffd}");
        assert_eq!(context.request_id().unwrap(), "id\u{fffd}x");
    }

    #[test]
    fn oversized_fields_are_bounded_also_when_deserialised() {
        let long = "a".repeat(10_000);
        let json = format!(r#"{{"user_agent":"{long}","request_id":"{long}","source_ip":"::1"}}"#);
        let context: RequestContext = serde_json::from_str(&json).unwrap();
        assert_eq!(context.user_agent().unwrap().len(), MAX_USER_AGENT_CHARS);
        assert_eq!(context.request_id().unwrap().len(), MAX_REQUEST_ID_CHARS);
        assert_eq!(context.source_ip(), Some("::1".parse().unwrap()));
        let again: RequestContext =
            serde_json::from_str(&serde_json::to_string(&context).unwrap()).unwrap();
        assert_eq!(again, context);
    }
}
