#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod aggregate;
mod analysis;
mod audited;
mod error;
mod index;
#[cfg(feature = "kube")]
mod live;
mod load;
mod names;
mod policy;
mod request_info;
mod resolve;
mod review;
mod risk;
mod rules;
mod scan;
mod validate;

pub use aggregate::AggregationWarning;
pub use analysis::{
    EscalationDenied, Grantee, PRIVILEGED_GROUP, RbacWrite, RulesFor, WhoCan, WriteOperation,
};
pub use audited::{AUDIT_UNAVAILABLE, AuditedAuthorizer};
pub use error::{Error, LoadErrors, Location, Result};
pub use index::{IndexStats, RbacAuthorizer};
#[cfg(feature = "kube")]
pub use live::{LiveRbac, NOT_SYNCED, SyncStatus};
pub use load::{DEFAULT_MAX_FILE_BYTES, Loaded, Loader, RBAC_API_VERSION};
pub use policy::{
    ClusterRole, ClusterRoleBinding, LabelSelector, Policy, PolicyRule, RBAC_GROUP, Role,
    RoleBinding, RoleRef, SelectorRequirement, Subject,
};
pub use request_info::{MAX_TARGET_BYTES, RequestInfo, RequestInfoError, RequestInfoFactory};
pub use resolve::{impersonated_user, service_account_username, split_service_account_username};
pub use review::{
    ACCESS_REVIEW_API_VERSION, AccessReviewError, MAX_ACCESS_REVIEW_BYTES, refused_review,
    review_access, review_access_audited,
};
pub use risk::{Risk, Severity};
pub use rules::rule_allows;
pub use scan::ScanAuthorizer;
