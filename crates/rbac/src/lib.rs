//! Kubernetes RBAC evaluation, as a pure library (no I/O).
//!
//! [`authorize`] answers "may this user do this?" over Roles, ClusterRoles and their
//! bindings (k8s-openapi `rbac/v1` types) with the semantics and wording of the
//! Kubernetes RBAC authorizer (`plugin/pkg/auth/authorizer/rbac`), so that offline
//! checks agree with a live cluster's SubjectAccessReview:
//!
//! - rules: `*` in verbs, apiGroups and resources; `resource/subresource` and
//!   `*/subresource`; resourceNames restrict only when non-empty; nonResourceURLs
//!   (with a trailing `*` as prefix match) apply only to non-resource requests;
//! - bindings: ClusterRoleBindings apply everywhere; RoleBindings only in their
//!   namespace, with `Role` refs looked up there; a missing role grants nothing;
//! - subjects: `User` by name, `Group` by membership, `ServiceAccount` by
//!   `system:serviceaccount:<ns>:<name>`, where an empty subject namespace means the
//!   RoleBinding's own namespace (upstream's defaulting; it matches nobody in a
//!   ClusterRoleBinding); subject and roleRef apiGroups are not checked;
//! - aggregated ClusterRoles: the rules stored in the object are used; in a cluster
//!   the aggregation controller keeps them filled, offline they must be written out
//!   (see [`RbacError::AggregatedWithoutRules`]).
//!
//! Objects come through [`RbacSource`] (implementable over kube-rs reflector stores)
//! or the in-memory [`RbacSnapshot`]. [`explain`] and the `lint_*` functions serve
//! people: why a request was denied, and which objects are malformed.

mod authorizer;
mod request;
mod rules;
mod source;
mod user;
mod validation;

pub use authorizer::{
    BindingOutcome, BindingReport, Decision, Explanation, RoleResolutionError, authorize, explain,
};
pub use request::{NonResourceRequest, Request, ResourceRequest};
pub use rules::{
    RuleMismatch, WILDCARD, api_group_matches, non_resource_url_matches, resource_matches,
    resource_name_matches, rule_allows, rule_mismatch, verb_matches,
};
pub use source::{RbacSnapshot, RbacSource};
pub use user::{
    ALL_SERVICE_ACCOUNTS_GROUP, AUTHENTICATED_GROUP, SERVICE_ACCOUNT_NAMESPACE_GROUP_PREFIX,
    SERVICE_ACCOUNT_USER_PREFIX, UserInfo, is_service_account_user, service_account_user_name,
};
pub use validation::{
    ObjectId, RBAC_API_GROUP, RbacError, lint_cluster_role, lint_cluster_role_binding, lint_role,
    lint_role_binding,
};
