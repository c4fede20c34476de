//! Helpers shared by the integration tests: terse constructors for users, requests and
//! RBAC objects, and a check that the index and the reference scan agree.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::sync::Arc;

use rampart_authz::{
    ClusterRole, ClusterRoleBinding, Policy, PolicyRule, RbacAuthorizer, Role, RoleBinding,
    RoleRef, ScanAuthorizer, Subject,
};
use rampart_core::{
    Attributes, Authorizer, Decision, NonResourceAttributes, ResourceAttributes, UserInfo,
};

/// A user with groups given as a comma-separated list, split as Go's `strings.Split` does
/// (so `""` is one empty group, as in Kubernetes' own tests).
pub(crate) fn user(name: &str, groups: &str) -> UserInfo {
    UserInfo {
        username: name.to_owned(),
        groups: groups.split(',').map(str::to_owned).collect(),
        ..UserInfo::default()
    }
}

/// A resource request.
pub(crate) fn resource(
    verb: &str,
    group: &str,
    resource: &str,
    subresource: &str,
    namespace: &str,
    name: &str,
) -> Attributes {
    Attributes::Resource(ResourceAttributes {
        namespace: namespace.to_owned(),
        verb: verb.to_owned(),
        group: group.to_owned(),
        resource: resource.to_owned(),
        subresource: subresource.to_owned(),
        name: name.to_owned(),
        ..ResourceAttributes::default()
    })
}

/// A non-resource request.
pub(crate) fn url(verb: &str, path: &str) -> Attributes {
    Attributes::NonResource(NonResourceAttributes {
        path: path.to_owned(),
        verb: verb.to_owned(),
    })
}

/// Subjects written `Kind:name` as in Kubernetes' `rbac_test.go`.
pub(crate) fn subjects(specs: &[&str]) -> Vec<Subject> {
    specs
        .iter()
        .map(|spec| {
            let (kind, name) = spec.split_once(':').unwrap();
            match kind {
                "User" => Subject::user(name),
                "Group" => Subject::group(name),
                "ServiceAccount" => Subject::service_account("", name),
                other => panic!("unknown kind {other}"),
            }
        })
        .collect()
}

pub(crate) fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        name: name.to_owned(),
        labels: Default::default(),
        rules,
        aggregation: None,
    }
}

pub(crate) fn role(namespace: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
    Role {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        rules,
    }
}

pub(crate) fn cluster_binding(name: &str, role: &str, who: &[&str]) -> ClusterRoleBinding {
    ClusterRoleBinding {
        name: name.to_owned(),
        role_ref: RoleRef::cluster_role(role),
        subjects: subjects(who),
    }
}

pub(crate) fn binding(namespace: &str, name: &str, role_ref: RoleRef, who: &[&str]) -> RoleBinding {
    RoleBinding {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        role_ref,
        subjects: subjects(who),
    }
}

/// `newRule(verbs, apiGroups, resources, nonResourceURLs)` of `rbac_test.go`: each
/// argument split on commas (so `""` gives one empty string).
pub(crate) fn go_rule(verbs: &str, groups: &str, resources: &str, urls: &str) -> PolicyRule {
    let split = |text: &str| text.split(',').map(str::to_owned).collect();
    PolicyRule {
        verbs: split(verbs),
        api_groups: split(groups),
        resources: split(resources),
        resource_names: Vec::new(),
        non_resource_urls: split(urls),
    }
}

/// Both authorizers over one policy.
pub(crate) struct Both {
    pub(crate) index: RbacAuthorizer,
    pub(crate) scan: ScanAuthorizer,
}

impl Both {
    pub(crate) fn new(policy: &Policy) -> Self {
        Both {
            index: RbacAuthorizer::new(policy),
            scan: ScanAuthorizer::new(Arc::new(policy.clone())),
        }
    }

    /// The decision of both, after checking that they agree on allowed / not allowed and,
    /// when not allowed, on the reason (the resolution errors).
    pub(crate) fn decide(&self, user: &UserInfo, request: &Attributes) -> Decision {
        let index = self.index.authorize(user, request);
        let scan = self.scan.authorize(user, request);
        assert_eq!(
            index.is_allowed(),
            scan.is_allowed(),
            "{user:?} {request}: index {index:?}, scan {scan:?}"
        );
        if !index.is_allowed() {
            assert_eq!(index, scan, "{user:?} {request}");
        }
        index
    }

    pub(crate) fn allowed(&self, user: &UserInfo, request: &Attributes) -> bool {
        self.decide(user, request).is_allowed()
    }
}
