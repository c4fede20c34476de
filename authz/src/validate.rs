//! The API server's validation of RBAC objects (`pkg/apis/rbac/validation/validation.go`),
//! applied by the manifest loader so that only objects a cluster could hold are evaluated.

use crate::aggregate::validate_selector;
use crate::names::{is_dns1123_label, is_dns1123_subdomain, is_path_segment_name};
use crate::policy::{
    ClusterRole, ClusterRoleBinding, PolicyRule, RBAC_GROUP, Role, RoleBinding, RoleRef, Subject,
};

/// A validation failure: the field path (as the API server prints it) and why.
pub(crate) type Invalid = (String, String);

fn check(errors: &mut Vec<Invalid>, ok: bool, field: impl Into<String>, reason: impl Into<String>) {
    if !ok {
        errors.push((field.into(), reason.into()));
    }
}

fn validate_name(errors: &mut Vec<Invalid>, name: &str) {
    if name.is_empty() {
        errors.push((
            "metadata.name".into(),
            "name or generateName is required".into(),
        ));
    } else {
        check(
            errors,
            is_path_segment_name(name),
            "metadata.name",
            format!("`{name}` may not be `.` or `..` and may not contain `/` or `%`"),
        );
    }
}

/// An empty namespace is reported where it is defaulted (the loader), not here.
fn validate_namespace(errors: &mut Vec<Invalid>, namespace: &str) {
    check(
        errors,
        namespace.is_empty() || is_dns1123_label(namespace),
        "metadata.namespace",
        format!("`{namespace}` is not a valid namespace (a lowercase RFC 1123 label)"),
    );
}

fn validate_rules(errors: &mut Vec<Invalid>, rules: &[PolicyRule], namespaced: bool) {
    for (position, rule) in rules.iter().enumerate() {
        let field = format!("rules[{position}]");
        if rule.verbs.is_empty() {
            errors.push((
                format!("{field}.verbs"),
                "verbs must contain at least one value".into(),
            ));
        }
        if !rule.non_resource_urls.is_empty() {
            check(
                errors,
                !namespaced,
                format!("{field}.nonResourceURLs"),
                "namespaced rules cannot apply to non-resource URLs",
            );
            check(
                errors,
                rule.api_groups.is_empty()
                    && rule.resources.is_empty()
                    && rule.resource_names.is_empty(),
                format!("{field}.nonResourceURLs"),
                "rules cannot apply to both regular resources and non-resource URLs",
            );
            continue;
        }
        check(
            errors,
            !rule.api_groups.is_empty(),
            format!("{field}.apiGroups"),
            "resource rules must supply at least one api group",
        );
        check(
            errors,
            !rule.resources.is_empty(),
            format!("{field}.resources"),
            "resource rules must supply at least one resource",
        );
    }
}

fn validate_role_ref(errors: &mut Vec<Invalid>, role_ref: &RoleRef, kinds: &[&str]) {
    check(
        errors,
        role_ref.api_group == RBAC_GROUP,
        "roleRef.apiGroup",
        format!(
            "`{}` is not supported; use `{RBAC_GROUP}`",
            role_ref.api_group
        ),
    );
    check(
        errors,
        kinds.contains(&role_ref.kind.as_str()),
        "roleRef.kind",
        format!(
            "`{}` is not supported; use one of {}",
            role_ref.kind,
            kinds.join(", ")
        ),
    );
    if role_ref.name.is_empty() {
        errors.push(("roleRef.name".into(), "required".into()));
    } else {
        check(
            errors,
            is_path_segment_name(&role_ref.name),
            "roleRef.name",
            format!("`{}` is not a valid role name", role_ref.name),
        );
    }
}

fn validate_subjects(errors: &mut Vec<Invalid>, subjects: &[Subject], namespaced: bool) {
    for (position, subject) in subjects.iter().enumerate() {
        let field = format!("subjects[{position}]");
        if subject.name.is_empty() {
            errors.push((format!("{field}.name"), "required".into()));
        }
        match subject.kind.as_str() {
            Subject::SERVICE_ACCOUNT => {
                if !subject.name.is_empty() {
                    check(
                        errors,
                        is_dns1123_subdomain(&subject.name),
                        format!("{field}.name"),
                        format!("`{}` is not a valid service account name", subject.name),
                    );
                }
                check(
                    errors,
                    subject.api_group.is_empty(),
                    format!("{field}.apiGroup"),
                    format!(
                        "`{}` is not supported for a ServiceAccount; use `\"\"`",
                        subject.api_group
                    ),
                );
                check(
                    errors,
                    namespaced || !subject.namespace.is_empty(),
                    format!("{field}.namespace"),
                    "required for a ServiceAccount in a ClusterRoleBinding",
                );
            }
            Subject::USER | Subject::GROUP => check(
                errors,
                subject.api_group == RBAC_GROUP,
                format!("{field}.apiGroup"),
                format!(
                    "`{}` is not supported; use `{RBAC_GROUP}`",
                    subject.api_group
                ),
            ),
            other => errors.push((
                format!("{field}.kind"),
                format!("`{other}` is not supported; use one of ServiceAccount, User, Group"),
            )),
        }
    }
}

/// `ValidateRole`.
pub(crate) fn role(role: &Role) -> Vec<Invalid> {
    let mut errors = Vec::new();
    validate_name(&mut errors, &role.name);
    validate_namespace(&mut errors, &role.namespace);
    validate_rules(&mut errors, &role.rules, true);
    errors
}

/// `ValidateClusterRole`.
pub(crate) fn cluster_role(role: &ClusterRole) -> Vec<Invalid> {
    let mut errors = Vec::new();
    validate_name(&mut errors, &role.name);
    validate_rules(&mut errors, &role.rules, false);
    if let Some(selectors) = &role.aggregation {
        check(
            &mut errors,
            !selectors.is_empty(),
            "aggregationRule.clusterRoleSelectors",
            "at least one clusterRoleSelector required if aggregationRule is non-nil",
        );
        for (position, selector) in selectors.iter().enumerate() {
            if let Err(reason) = validate_selector(selector) {
                errors.push((
                    format!("aggregationRule.clusterRoleSelectors[{position}]"),
                    reason,
                ));
            }
        }
    }
    errors
}

/// `ValidateRoleBinding`.
pub(crate) fn role_binding(binding: &RoleBinding) -> Vec<Invalid> {
    let mut errors = Vec::new();
    validate_name(&mut errors, &binding.name);
    validate_namespace(&mut errors, &binding.namespace);
    validate_role_ref(&mut errors, &binding.role_ref, &["Role", "ClusterRole"]);
    validate_subjects(&mut errors, &binding.subjects, true);
    errors
}

/// `ValidateClusterRoleBinding`.
pub(crate) fn cluster_role_binding(binding: &ClusterRoleBinding) -> Vec<Invalid> {
    let mut errors = Vec::new();
    validate_name(&mut errors, &binding.name);
    validate_role_ref(&mut errors, &binding.role_ref, &["ClusterRole"]);
    validate_subjects(&mut errors, &binding.subjects, false);
    errors
}
