//! Keeping secrets out of the trail: the one function every sink passes events through.
//!
//! Callers should never put secrets into events; this is the second line. Detail keys that
//! name secrets (password, token, authorization, cookie, private key, client secret, API
//! key, credential) lose their values, and so does any string that looks like a secret
//! whatever its key: `Bearer …`/`Basic …` credentials, JWTs, PEM private keys. Kubernetes
//! events additionally lose the `data` and `stringData` of Secret objects in their bodies.

use rampart_core::AuditEvent;
use serde_json::Value;

use crate::kubernetes::Event;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Key fragments that name secrets. `credential` alone is not one: rampart's own events use
/// it for the kind of credential (`password`, `bearer_token`); `credentials` is.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "authorization",
    "cookie",
    "privatekey",
    "apikey",
    "credentials",
    "sessionid",
    "otp",
];

/// Whether a key names a secret: compared without case, `-` or `_`, so `Set-Cookie`,
/// `client_secret`, `X-Api-Key` and `accessToken` all count.
fn is_secret_key(key: &str) -> bool {
    let folded: String = key
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEYS.iter().any(|secret| folded.contains(secret))
}

fn looks_like_jwt(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3
        && word.starts_with("eyJ")
        && parts.iter().take(2).all(|p| {
            p.len() >= 4
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Whether a free-text value carries a secret.
fn is_secret_value(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    (lower.contains("-----begin") && lower.contains("private key"))
        || lower.contains("bearer ")
        || lower.contains("basic ")
        || text
            .split(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '=')
            .any(looks_like_jwt)
}

/// Redacts secrets in a JSON value, in place.
fn redact_value(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if is_secret_key(key) && !matches!(inner, Value::Null | Value::Bool(_)) {
                    *inner = Value::String(REDACTED.to_owned());
                } else {
                    redact_value(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::String(text) if is_secret_value(text) => *text = REDACTED.to_owned(),
        _ => {}
    }
}

/// Whether a JSON value holds anything [`redact_value`] would change.
fn value_needs_redaction(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(key, inner)| {
            (is_secret_key(key) && !matches!(inner, Value::Null | Value::Bool(_)))
                || value_needs_redaction(inner)
        }),
        Value::Array(items) => items.iter().any(value_needs_redaction),
        Value::String(text) => is_secret_value(text),
        _ => false,
    }
}

/// Whether [`redact_event`] would change `event`; lets a sink skip copying clean events.
pub fn event_needs_redaction(event: &AuditEvent) -> bool {
    event
        .details
        .iter()
        .any(|(key, value)| is_secret_key(key) || value_needs_redaction(value))
        || event.reason.as_deref().is_some_and(is_secret_value)
        || event
            .target
            .as_ref()
            .is_some_and(|t| is_secret_value(&t.name))
}

/// Redacts a rampart event in place: details, reason, target.
pub fn redact_event(event: &mut AuditEvent) {
    for (key, value) in &mut event.details {
        if is_secret_key(key) {
            *value = Value::String(REDACTED.to_owned());
        } else {
            redact_value(value);
        }
    }
    if let Some(reason) = &mut event.reason
        && is_secret_value(reason)
    {
        REDACTED.clone_into(reason);
    }
    if let Some(target) = &mut event.target
        && is_secret_value(&target.name)
    {
        REDACTED.clone_into(&mut target.name);
    }
}

/// The annotation `kubectl apply` stores the whole applied object in — a Secret's data
/// included.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Redacts a Kubernetes event in place: Secret `data`/`stringData`, secret-named fields and
/// secret-looking strings in the bodies, and annotations.
///
/// A body is about Secrets when the event's `objectRef.resource` is `secrets` (whatever
/// its shape: an object, a list whose items carry no `kind`, a merge patch, a JSON patch)
/// or when an object says `kind: Secret`; its data values and any
/// `last-applied-configuration` go, whatever the keys under them are called.
pub fn redact_kubernetes(event: &mut Event) {
    let about_secrets = event
        .object_ref
        .as_ref()
        .is_some_and(|r| r.resource == "secrets" && r.api_group.is_empty());
    for body in [&mut event.request_object, &mut event.response_object]
        .into_iter()
        .flatten()
    {
        let Ok(mut value) = serde_json::from_str::<Value>(body.get()) else {
            // A body that is not JSON cannot be inspected: it is not kept.
            if let Ok(raw) = serde_json::value::to_raw_value(REDACTED) {
                *body = raw;
            }
            continue;
        };
        if about_secrets {
            redact_secret_body(&mut value);
        } else {
            redact_secret_objects(&mut value);
        }
        redact_value(&mut value);
        if let Ok(raw) = serde_json::value::to_raw_value(&value) {
            *body = raw;
        }
    }
    for (key, value) in &mut event.annotations {
        if is_secret_key(key) || is_secret_value(value) {
            REDACTED.clone_into(value);
        }
    }
}

/// In a body not known to be about Secrets: an object (alone or among a list's items)
/// that says `kind: Secret` or `SecretList` is redacted as a Secret body; any other
/// object's last-applied configuration goes when it is itself a Secret.
fn redact_secret_objects(value: &mut Value) {
    let Value::Object(map) = value else {
        return;
    };
    if matches!(
        map.get("kind").and_then(Value::as_str),
        Some("Secret" | "SecretList")
    ) {
        return redact_secret_fields_everywhere(value);
    }
    if let Some(Value::Object(metadata)) = map.get_mut("metadata")
        && let Some(Value::Object(annotations)) = metadata.get_mut("annotations")
        && let Some(Value::String(applied)) = annotations.get_mut(LAST_APPLIED)
        && applied_is_secret(applied)
    {
        REDACTED.clone_into(applied);
    }
    if let Some(Value::Array(items)) = map.get_mut("items") {
        items.iter_mut().for_each(redact_secret_objects);
    }
}

/// A body about Secrets, whatever its shape — an object, a list, a `Table` whose
/// `rows[].object` may carry whole Secrets, a merge patch, a JSON patch, or a string (an
/// apply patch in YAML): every `data` and `stringData` value and every last-applied
/// configuration anywhere in it goes, and a string body goes whole.
fn redact_secret_body(value: &mut Value) {
    match value {
        Value::String(text) => REDACTED.clone_into(text),
        // A JSON patch: every element that carries a `value` is treated as an operation,
        // whatever the others look like (one odd element must not let the rest pass).
        Value::Array(elements) => {
            for element in elements {
                if element.get("value").is_some() {
                    redact_patch_operation(element);
                } else {
                    redact_secret_fields_everywhere(element);
                }
            }
        }
        _ => redact_secret_fields_everywhere(value),
    }
}

/// Every `data`/`stringData` value and last-applied annotation at any depth.
fn redact_secret_fields_everywhere(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                match key.as_str() {
                    "data" | "stringData" => match inner {
                        Value::Object(entries) => {
                            for entry in entries.values_mut() {
                                *entry = Value::String(REDACTED.to_owned());
                            }
                        }
                        Value::Null => {}
                        other => *other = Value::String(REDACTED.to_owned()),
                    },
                    LAST_APPLIED => *inner = Value::String(REDACTED.to_owned()),
                    _ => redact_secret_fields_everywhere(inner),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secret_fields_everywhere),
        _ => {}
    }
}

/// A last-applied configuration that is itself a Secret (or cannot be read to tell).
fn applied_is_secret(text: &str) -> bool {
    serde_json::from_str::<Value>(text).map_or(true, |applied| {
        applied.get("kind").and_then(Value::as_str) == Some("Secret")
    })
}

/// One operation of a JSON patch (RFC 6902) on a Secret: the value of any operation that
/// can write data (everything but paths under `/metadata` other than the last-applied
/// annotation) is redacted whole.
fn redact_patch_operation(operation: &mut Value) {
    let Value::Object(map) = operation else {
        return;
    };
    let path = map.get("path").and_then(Value::as_str).unwrap_or_default();
    let harmless = path.starts_with("/metadata/")
        && !path.contains("last-applied-configuration")
        && path != "/metadata/annotations";
    if !harmless && let Some(value) = map.get_mut("value") {
        *value = Value::String(REDACTED.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_that_carry_secrets() {
        for key in [
            "password",
            "Authorization",
            "Set-Cookie",
            "client_secret",
            "X-Api-Key",
            "accessToken",
            "private_key",
            "oidc_token",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "username",
            "groups",
            "resource",
            "verb",
            "action",
            "credential",
            "authenticator",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
        for value in [
            "Bearer abc.def",
            "authorization: Basic dXNlcjpwYXNz",
            "-----BEGIN EC PRIVATE KEY-----\nMHc...",
            "token=eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln",
        ] {
            assert!(is_secret_value(value), "{value}");
        }
        for value in [
            "invalid_credentials",
            "RBAC: allowed by ClusterRoleBinding \"x\"",
            "kubectl/v1.35.8",
            "a.b.c",
        ] {
            assert!(!is_secret_value(value), "{value}");
        }
    }
}
