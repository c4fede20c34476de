//! Whether one rule allows one request: the single place where RBAC matching is decided.
//!
//! A line-by-line port of Kubernetes' `RuleAllows` (`plugin/pkg/auth/authorizer/rbac/rbac.go`)
//! and the helpers in `pkg/apis/rbac/v1/evaluation_helpers.go`. Every other part of this
//! crate (the index, the reference scan, who-can) asks these functions.

use std::borrow::Cow;

use rampart_core::{Attributes, ResourceAttributes};

use crate::policy::PolicyRule;

/// The wildcard of verbs, API groups, resources and non-resource URLs.
pub(crate) const ALL: &str = "*";

/// Whether `rule` allows `request`, exactly as Kubernetes' `RuleAllows` decides.
pub fn rule_allows(request: &Attributes, rule: &PolicyRule) -> bool {
    match request {
        Attributes::Resource(resource) => {
            resource_rule_allows(resource, &combined_resource(resource), rule)
        }
        Attributes::NonResource(non_resource) => {
            verb_matches(rule, &non_resource.verb)
                && non_resource_url_matches(rule, &non_resource.path)
        }
    }
}

/// [`rule_allows`] for a resource request whose [`combined_resource`] the caller has
/// computed once for many rules.
pub(crate) fn resource_rule_allows(
    request: &ResourceAttributes,
    combined: &str,
    rule: &PolicyRule,
) -> bool {
    verb_matches(rule, &request.verb)
        && api_group_matches(rule, &request.group)
        && resource_matches(rule, combined, &request.subresource)
        && resource_name_matches(rule, &request.name)
}

/// `resource`, or `resource/subresource` when there is a subresource.
pub(crate) fn combined_resource(request: &ResourceAttributes) -> Cow<'_, str> {
    if request.subresource.is_empty() {
        Cow::Borrowed(&request.resource)
    } else {
        Cow::Owned(format!("{}/{}", request.resource, request.subresource))
    }
}

fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == ALL || v == verb)
}

fn api_group_matches(rule: &PolicyRule, group: &str) -> bool {
    rule.api_groups.iter().any(|g| g == ALL || g == group)
}

fn resource_matches(rule: &PolicyRule, combined: &str, subresource: &str) -> bool {
    rule.resources.iter().any(|resource| {
        resource == ALL
            || resource == combined
            || (!subresource.is_empty() && resource.strip_prefix("*/") == Some(subresource))
    })
}

fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    rule.resource_names.is_empty() || rule.resource_names.iter().any(|n| n == name)
}

fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    rule.non_resource_urls
        .iter()
        .any(|url| url == ALL || url == path || url_prefix_matches(url, path))
}

/// A pattern ending in `*` matches every path that starts with the pattern less all its
/// trailing `*` (a plain string prefix, not path-segment aware).
pub(crate) fn url_prefix_matches(pattern: &str, path: &str) -> bool {
    pattern.ends_with('*') && path.starts_with(pattern.trim_end_matches('*'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::NonResourceAttributes;

    fn resource(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes::Resource(ResourceAttributes {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            namespace: "ns".into(),
            ..ResourceAttributes::default()
        })
    }

    fn url(verb: &str, path: &str) -> Attributes {
        Attributes::NonResource(NonResourceAttributes {
            verb: verb.into(),
            path: path.into(),
        })
    }

    /// Cases from ../shared/rbac-semantics.md §5 and §6, each with the section it tests.
    #[test]
    fn resource_rule_semantics() {
        let get_pods = PolicyRule::resource(["get"], [""], ["pods"]);
        // 5.1 verbs are exact and case-sensitive; `*` matches any verb, even odd ones.
        assert!(rule_allows(&resource("get", "", "pods", "", ""), &get_pods));
        assert!(!rule_allows(
            &resource("GET", "", "pods", "", ""),
            &get_pods
        ));
        let any_verb = PolicyRule::resource(["*"], [""], ["pods"]);
        for verb in ["escalate", "bind", "impersonate", "", "*"] {
            assert!(
                rule_allows(&resource(verb, "", "pods", "", ""), &any_verb),
                "{verb:?}"
            );
        }
        assert!(!rule_allows(&resource("*", "", "pods", "", ""), &get_pods));
        // 5.2 groups: `""` is core, no aliases; `*` matches core too.
        assert!(!rule_allows(
            &resource("get", "v1", "pods", "", ""),
            &get_pods
        ));
        let any_group = PolicyRule::resource(["get"], ["*"], ["pods"]);
        assert!(rule_allows(
            &resource("get", "", "pods", "", ""),
            &any_group
        ));
        assert!(rule_allows(
            &resource("get", "apps", "pods", "", ""),
            &any_group
        ));
        assert!(!rule_allows(
            &resource("get", "*", "pods", "", ""),
            &get_pods
        ));
        // 5.3 resources: exact combined match; `*` covers subresources; `*/sub`.
        assert!(!rule_allows(
            &resource("get", "", "pods", "log", ""),
            &get_pods
        ));
        let logs = PolicyRule::resource(["get"], [""], ["pods/log"]);
        assert!(rule_allows(&resource("get", "", "pods", "log", ""), &logs));
        assert!(!rule_allows(&resource("get", "", "pods", "", ""), &logs));
        let all = PolicyRule::resource(["get"], [""], ["*"]);
        assert!(rule_allows(&resource("get", "", "pods", "log", ""), &all));
        let any_scale = PolicyRule::resource(["get"], [""], ["*/scale"]);
        assert!(rule_allows(
            &resource("get", "", "deployments", "scale", ""),
            &any_scale
        ));
        assert!(!rule_allows(
            &resource("get", "", "deployments", "", ""),
            &any_scale
        ));
        assert!(!rule_allows(
            &resource("get", "", "scale", "", ""),
            &any_scale
        ));
        let literal = PolicyRule::resource(["get"], [""], ["pods/*"]);
        assert!(!rule_allows(
            &resource("get", "", "pods", "log", ""),
            &literal
        ));
        assert!(rule_allows(&resource("get", "", "pods", "*", ""), &literal));
        let star_star = PolicyRule::resource(["get"], [""], ["*/*"]);
        assert!(!rule_allows(
            &resource("get", "", "pods", "log", ""),
            &star_star
        ));
        assert!(rule_allows(
            &resource("get", "", "pods", "*", ""),
            &star_star
        ));
        let prefix = PolicyRule::resource(["get"], [""], ["deployments*"]);
        assert!(!rule_allows(
            &resource("get", "", "deployments", "", ""),
            &prefix
        ));
        assert!(!rule_allows(&resource("get", "", "*", "", ""), &get_pods));
        // 5.4 names: empty list is any; otherwise exact, and an empty name is not "any".
        let named = PolicyRule::resource(["get", "list"], [""], ["pods"]).with_names(["web"]);
        assert!(rule_allows(&resource("get", "", "pods", "", "web"), &named));
        assert!(!rule_allows(
            &resource("get", "", "pods", "", "Web"),
            &named
        ));
        assert!(!rule_allows(&resource("list", "", "pods", "", ""), &named));
        let empty_name = PolicyRule::resource(["list"], [""], ["pods"]).with_names([""]);
        assert!(rule_allows(
            &resource("list", "", "pods", "", ""),
            &empty_name
        ));
        // 6 / 7.2: a resource rule's URLs are ignored for resource requests and vice versa.
        let mut mixed = PolicyRule::resource(["get"], [""], ["pods"]);
        mixed.non_resource_urls = vec!["/healthz".into()];
        assert!(rule_allows(&resource("get", "", "pods", "", ""), &mixed));
        assert!(rule_allows(&url("get", "/healthz"), &mixed));
        assert!(!rule_allows(&url("get", "/pods"), &get_pods));
        // 7.1 rules without verbs, groups or resources allow nothing.
        assert!(!rule_allows(
            &resource("get", "", "pods", "", ""),
            &PolicyRule::resource([], [""], ["pods"])
        ));
        assert!(!rule_allows(
            &resource("get", "", "pods", "", ""),
            &PolicyRule::resource(["get"], [], ["pods"])
        ));
        assert!(!rule_allows(
            &resource("get", "", "pods", "", ""),
            &PolicyRule::resource(["get"], [""], [])
        ));
    }

    #[test]
    fn non_resource_rule_semantics() {
        let exact = PolicyRule::non_resource(["get"], ["/version"]);
        assert!(rule_allows(&url("get", "/version"), &exact));
        assert!(!rule_allows(&url("get", "/version/"), &exact));
        assert!(!rule_allows(&url("post", "/version"), &exact));
        let star = PolicyRule::non_resource(["get"], ["*"]);
        assert!(rule_allows(&url("get", ""), &star));
        assert!(rule_allows(&url("get", "/anything/at/all"), &star));
        let segment = PolicyRule::non_resource(["get"], ["/p/*"]);
        for path in ["/p/", "/p/q", "/p/q/r"] {
            assert!(rule_allows(&url("get", path), &segment), "{path}");
        }
        assert!(!rule_allows(&url("get", "/p"), &segment));
        let plain = PolicyRule::non_resource(["get"], ["/p*"]);
        for path in ["/p", "/pq", "/p/q"] {
            assert!(rule_allows(&url("get", path), &plain), "{path}");
        }
        let doubled = PolicyRule::non_resource(["get"], ["/x**"]);
        assert!(rule_allows(&url("get", "/x"), &doubled));
        let stars = PolicyRule::non_resource(["get"], ["***"]);
        assert!(rule_allows(&url("get", "/anything"), &stars));
        let inner = PolicyRule::non_resource(["get"], ["/a*/b"]);
        assert!(!rule_allows(&url("get", "/ax/b"), &inner));
        assert!(rule_allows(&url("get", "/a*/b"), &inner));
    }
}
