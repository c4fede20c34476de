//! The reference authorizer: Kubernetes' algorithm, visiting every binding for every
//! request. Slow by design and obviously right; the index is tested against it.

use std::sync::Arc;

use rampart_core::{Attributes, Authorizer, Decision, UserInfo};

use crate::policy::Policy;
use crate::resolve::{Visit, aggregate_errors, visit_bindings};
use crate::rules::rule_allows;

/// Kubernetes' RBAC authorizer as the apiserver runs it (`RBACAuthorizer.Authorize`): every
/// ClusterRoleBinding, then every RoleBinding of the request's namespace, until a rule
/// allows. Use [`RbacAuthorizer`](crate::RbacAuthorizer) in production; this one exists to
/// check it and to measure it against.
#[derive(Debug, Clone)]
pub struct ScanAuthorizer {
    policy: Arc<Policy>,
}

impl ScanAuthorizer {
    /// An authorizer over `policy` as given (aggregate it first if it came from manifests).
    pub fn new(policy: Arc<Policy>) -> Self {
        ScanAuthorizer { policy }
    }
}

impl Authorizer for ScanAuthorizer {
    fn authorize(&self, user: &UserInfo, request: &Attributes) -> Decision {
        let mut allowed = None;
        let mut errors = Vec::new();
        visit_bindings(
            &self.policy,
            user,
            request.namespace(),
            |visit| match visit {
                Visit::Rules(source, rules) => {
                    if rules.iter().any(|rule| rule_allows(request, rule)) {
                        allowed = Some(format!("RBAC: allowed by {source}"));
                        return false;
                    }
                    true
                }
                Visit::Error(error) => {
                    errors.push(error);
                    true
                }
            },
        );
        match allowed {
            Some(reason) => Decision::Allow(reason),
            None if errors.is_empty() => Decision::NoOpinion(String::new()),
            None => Decision::NoOpinion(format!("RBAC: {}", aggregate_errors(&errors))),
        }
    }
}
