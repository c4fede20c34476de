//! Which bindings apply to a user, what their role references resolve to, and how the
//! apiserver describes them: a port of `DefaultRuleResolver` (`pkg/registry/rbac/validation/rule.go`).

use std::fmt;

use rampart_core::UserInfo;

use crate::policy::{ClusterRoleBinding, Policy, PolicyRule, RoleBinding, RoleRef, Subject};

/// The username Kubernetes gives a service account.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// The user as the apiserver's impersonation filter builds it for `kubectl --as`:
/// service accounts get their groups, and `system:authenticated` is added unless a
/// well-known group was given (`system:unauthenticated` for `system:anonymous`).
///
/// This is the user an impersonating proxy asks the apiserver about, so a gateway and the
/// CLI's `can-i --as` answer alike.
pub fn impersonated_user(username: &str, groups: &[String]) -> UserInfo {
    let mut user = UserInfo::new(username).with_groups(groups.iter().cloned());
    if groups.is_empty()
        && let Some((namespace, _)) = split_service_account_username(username)
    {
        user = user.with_groups([
            "system:serviceaccounts".to_owned(),
            format!("system:serviceaccounts:{namespace}"),
        ]);
    }
    if username == UserInfo::ANONYMOUS {
        user.with_groups([UserInfo::UNAUTHENTICATED_GROUP])
    } else {
        user.with_authenticated_group()
    }
}

/// Kubernetes' `serviceaccount.SplitUsername`: `system:serviceaccount:NAMESPACE:NAME` with
/// exactly those two parts, a valid namespace (DNS label) and a valid service account name
/// (DNS subdomain); anything else is not a service account's username.
pub fn split_service_account_username(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix("system:serviceaccount:")?;
    let (namespace, name) = rest.split_once(':')?;
    (!name.contains(':')
        && crate::names::is_dns1123_label(namespace)
        && crate::names::is_dns1123_subdomain(name))
    .then_some((namespace, name))
}

/// Whether `subject`, in a binding evaluated in `namespace` (empty for cluster role
/// bindings), names `user` (`appliesToUser`).
pub(crate) fn applies_to_user(user: &UserInfo, subject: &Subject, namespace: &str) -> bool {
    match subject.kind.as_str() {
        Subject::USER => user.username == subject.name,
        Subject::GROUP => user.groups.contains(&subject.name),
        Subject::SERVICE_ACCOUNT => {
            let sa_namespace = if subject.namespace.is_empty() {
                namespace
            } else {
                &subject.namespace
            };
            !sa_namespace.is_empty()
                && matches_service_account(&user.username, sa_namespace, &subject.name)
        }
        _ => false,
    }
}

/// `serviceaccount.MatchesUsername`, without building the string.
fn matches_service_account(username: &str, namespace: &str, name: &str) -> bool {
    username
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.strip_prefix(namespace))
        .and_then(|rest| rest.strip_prefix(':'))
        == Some(name)
}

/// The index of the first subject that names `user` (`appliesTo`).
pub(crate) fn applies_to(user: &UserInfo, subjects: &[Subject], namespace: &str) -> Option<usize> {
    subjects
        .iter()
        .position(|subject| applies_to_user(user, subject, namespace))
}

/// The rules a role reference grants in `binding_namespace` (`GetRoleReferenceRules`), or the
/// apiserver's error text when it does not resolve.
pub(crate) fn role_rules<'p>(
    policy: &'p Policy,
    role_ref: &RoleRef,
    binding_namespace: &str,
) -> Result<&'p [PolicyRule], String> {
    match role_ref.kind.as_str() {
        "Role" => policy
            .role(binding_namespace, &role_ref.name)
            .map(|role| role.rules.as_slice())
            .ok_or_else(|| not_found("role", &role_ref.name)),
        "ClusterRole" => policy
            .cluster_role(&role_ref.name)
            .map(|role| role.rules.as_slice())
            .ok_or_else(|| not_found("clusterrole", &role_ref.name)),
        other => Err(format!(
            "unsupported role reference kind: {}",
            go_quote(other)
        )),
    }
}

fn not_found(resource: &str, name: &str) -> String {
    format!(
        "{resource}.rbac.authorization.k8s.io {} not found",
        go_quote(name)
    )
}

/// Joins resolution errors as Kubernetes' `utilerrors.NewAggregate(...).Error()` does:
/// one message alone, several deduplicated in `[a, b]`.
pub(crate) fn aggregate_errors(errors: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for error in errors {
        if !seen.contains(&error.as_str()) {
            seen.push(error);
        }
    }
    match seen.as_slice() {
        [one] => (*one).to_owned(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// Go's `%q`: a double-quoted string with Go escapes.
pub(crate) fn go_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\u{7}' => quoted.push_str("\\a"),
            '\u{8}' => quoted.push_str("\\b"),
            '\u{c}' => quoted.push_str("\\f"),
            '\u{b}' => quoted.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                quoted.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => quoted.push_str(&format!("\\u{:04x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A binding as the apiserver names it in a decision reason.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Source<'p> {
    /// A ClusterRoleBinding and the subject of it that matched.
    Cluster(&'p ClusterRoleBinding, &'p Subject),
    /// A RoleBinding and the subject of it that matched.
    Namespaced(&'p RoleBinding, &'p Subject),
}

fn describe_subject(subject: &Subject, binding_namespace: &str) -> String {
    if subject.kind == Subject::SERVICE_ACCOUNT {
        let namespace = if subject.namespace.is_empty() {
            binding_namespace
        } else {
            &subject.namespace
        };
        format!(
            "{} {}",
            subject.kind,
            go_quote(&format!("{}/{}", subject.name, namespace))
        )
    } else {
        format!("{} {}", subject.kind, go_quote(&subject.name))
    }
}

impl fmt::Display for Source<'_> {
    /// `ClusterRoleBinding "x" of ClusterRole "y" to Group "z"` or
    /// `RoleBinding "x/ns" of Role "y" to User "z"`, as `rule.go`'s describers print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Cluster(binding, subject) => write!(
                f,
                "ClusterRoleBinding {} of {} {} to {}",
                go_quote(&binding.name),
                binding.role_ref.kind,
                go_quote(&binding.role_ref.name),
                describe_subject(subject, "")
            ),
            Source::Namespaced(binding, subject) => write!(
                f,
                "RoleBinding {} of {} {} to {}",
                go_quote(&format!("{}/{}", binding.name, binding.namespace)),
                binding.role_ref.kind,
                go_quote(&binding.role_ref.name),
                describe_subject(subject, &binding.namespace)
            ),
        }
    }
}

/// What visiting one binding yields: its rules with their source, or a resolution error.
pub(crate) enum Visit<'p> {
    /// The binding applies and its role resolved.
    Rules(Source<'p>, &'p [PolicyRule]),
    /// The binding applies but its role did not resolve.
    Error(String),
}

/// Calls `visitor` for every binding that applies to `user` for a request in `namespace`:
/// every ClusterRoleBinding, then (only for a non-empty namespace) the RoleBindings of that
/// namespace, as `VisitRulesFor` does. Stops when `visitor` returns `false`.
pub(crate) fn visit_bindings<'p>(
    policy: &'p Policy,
    user: &UserInfo,
    namespace: &'p str,
    mut visitor: impl FnMut(Visit<'p>) -> bool,
) {
    for binding in policy.cluster_role_bindings() {
        let Some(index) = applies_to(user, &binding.subjects, "") else {
            continue;
        };
        let visit = match (
            role_rules(policy, &binding.role_ref, ""),
            binding.subjects.get(index),
        ) {
            (Ok(rules), Some(subject)) => Visit::Rules(Source::Cluster(binding, subject), rules),
            (Err(error), _) => Visit::Error(error),
            (Ok(_), None) => continue,
        };
        if !visitor(visit) {
            return;
        }
    }
    if namespace.is_empty() {
        return;
    }
    for binding in policy.role_bindings_in(namespace) {
        let Some(index) = applies_to(user, &binding.subjects, namespace) else {
            continue;
        };
        let visit = match (
            role_rules(policy, &binding.role_ref, namespace),
            binding.subjects.get(index),
        ) {
            (Ok(rules), Some(subject)) => Visit::Rules(Source::Namespaced(binding, subject), rules),
            (Err(error), _) => Visit::Error(error),
            (Ok(_), None) => continue,
        };
        if !visitor(visit) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impersonation_adds_the_groups_the_apiserver_adds() {
        assert_eq!(
            impersonated_user("alice", &[]).groups,
            ["system:authenticated"]
        );
        assert_eq!(
            impersonated_user("alice", &["dev".into()]).groups,
            ["dev", "system:authenticated"]
        );
        assert_eq!(
            impersonated_user("alice", &["system:unauthenticated".into()]).groups,
            ["system:unauthenticated"]
        );
        assert_eq!(
            impersonated_user("system:anonymous", &[]).groups,
            ["system:unauthenticated"]
        );
        assert_eq!(
            impersonated_user("system:serviceaccount:ns:sa", &[]).groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ns",
                "system:authenticated"
            ]
        );
    }

    #[test]
    fn only_a_well_formed_service_account_username_gets_service_account_groups() {
        for bad in [
            "system:serviceaccount:ns:sa:extra",
            "system:serviceaccount::sa",
            "system:serviceaccount:ns:",
            "system:serviceaccount:Bad_NS:sa",
            "system:serviceaccount:ns:Not.Valid",
            "system:serviceaccount:ns",
        ] {
            assert_eq!(split_service_account_username(bad), None, "{bad}");
            assert_eq!(
                impersonated_user(bad, &[]).groups,
                ["system:authenticated"],
                "{bad}"
            );
        }
        assert_eq!(
            split_service_account_username("system:serviceaccount:kube-system:default"),
            Some(("kube-system", "default"))
        );
    }

    #[test]
    fn service_account_matching_is_plain_concatenation() {
        assert!(matches_service_account(
            "system:serviceaccount:ns:sa",
            "ns",
            "sa"
        ));
        assert!(!matches_service_account(
            "system:serviceaccount:ns:sa",
            "ns",
            "s"
        ));
        assert!(!matches_service_account(
            "system:serviceaccount:ns:sa:x",
            "ns",
            "sa"
        ));
        assert!(!matches_service_account(
            "system:serviceaccounts:ns:sa",
            "ns",
            "sa"
        ));
        // No parsing: a namespace with a colon still concatenates.
        assert!(matches_service_account(
            "system:serviceaccount:a:b:c",
            "a:b",
            "c"
        ));
        assert!(matches_service_account(
            "system:serviceaccount:a:b:c",
            "a",
            "b:c"
        ));
        assert_eq!(
            service_account_username("a", "b:c"),
            "system:serviceaccount:a:b:c"
        );
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote("plain"), "\"plain\"");
        assert_eq!(go_quote("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\x01\"");
        assert_eq!(go_quote("émoji✓"), "\"émoji✓\"");
    }

    #[test]
    fn error_aggregation_matches_utilerrors() {
        assert_eq!(aggregate_errors(&["a".into()]), "a");
        assert_eq!(aggregate_errors(&["a".into(), "a".into()]), "a");
        assert_eq!(
            aggregate_errors(&["a".into(), "b".into(), "a".into()]),
            "[a, b]"
        );
    }
}
