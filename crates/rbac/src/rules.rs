//! Matching one PolicyRule against one request, as Kubernetes'
//! `pkg/apis/rbac/v1/evaluation_helpers.go` and the RBAC authorizer's `RuleAllows` do.

use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::request::{NonResourceRequest, Request, ResourceRequest};

/// The wildcard accepted in verbs, apiGroups, resources and nonResourceURLs.
pub const WILDCARD: &str = "*";

/// The first check of a rule that a request failed, in the order Kubernetes checks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleMismatch {
    /// No verb of the rule is the requested verb or `*`.
    Verb,
    /// No apiGroup of the rule is the requested group or `*`.
    ApiGroup,
    /// No resource of the rule matches `resource[/subresource]`, `*` or `*/subresource`.
    Resource,
    /// The rule lists resourceNames and the requested name is not one of them.
    ResourceName,
    /// No nonResourceURL of the rule matches the path (resource rules never match URLs).
    NonResourceUrl,
}

impl RuleMismatch {
    /// A short phrase naming what did not match.
    pub fn describe(self) -> &'static str {
        match self {
            RuleMismatch::Verb => "verb not granted",
            RuleMismatch::ApiGroup => "apiGroup not covered",
            RuleMismatch::Resource => "resource not covered",
            RuleMismatch::ResourceName => "resourceNames do not include the requested name",
            RuleMismatch::NonResourceUrl => "nonResourceURLs do not cover the path",
        }
    }
}

impl std::fmt::Display for RuleMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// Whether `rule` grants `request` (Kubernetes' `RuleAllows`).
pub fn rule_allows(rule: &PolicyRule, request: &Request<'_>) -> bool {
    rule_mismatch(rule, request).is_none()
}

/// `None` if `rule` grants `request`, else the first check that failed.
pub fn rule_mismatch(rule: &PolicyRule, request: &Request<'_>) -> Option<RuleMismatch> {
    if !verb_matches(rule, request.verb()) {
        return Some(RuleMismatch::Verb);
    }
    match request {
        Request::Resource(r) => resource_mismatch(rule, r),
        Request::NonResource(r) => non_resource_mismatch(rule, r),
    }
}

fn resource_mismatch(rule: &PolicyRule, r: &ResourceRequest<'_>) -> Option<RuleMismatch> {
    if !api_group_matches(rule, r.api_group) {
        Some(RuleMismatch::ApiGroup)
    } else if !resource_matches(rule, r.resource, r.subresource) {
        Some(RuleMismatch::Resource)
    } else if !resource_name_matches(rule, r.name) {
        Some(RuleMismatch::ResourceName)
    } else {
        None
    }
}

fn non_resource_mismatch(rule: &PolicyRule, r: &NonResourceRequest<'_>) -> Option<RuleMismatch> {
    (!non_resource_url_matches(rule, r.path)).then_some(RuleMismatch::NonResourceUrl)
}

fn list(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or_default()
}

/// A verb in the rule is `*` or the requested verb.
pub fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == WILDCARD || v == verb)
}

/// An apiGroup in the rule is `*` or the requested group.
pub fn api_group_matches(rule: &PolicyRule, api_group: &str) -> bool {
    list(&rule.api_groups)
        .iter()
        .any(|g| g == WILDCARD || g == api_group)
}

/// A resource in the rule is `*`, equals `resource` (or `resource/subresource` when a
/// subresource is requested), or is `*/subresource`.
///
/// Like Kubernetes, `pods/*` is not a wildcard: it only matches a request whose
/// subresource is literally `*`. A request without a subresource is not matched by
/// `pods/status`, and a request on `pods/log` is not matched by `pods`.
pub fn resource_matches(rule: &PolicyRule, resource: &str, subresource: &str) -> bool {
    list(&rule.resources).iter().any(|rule_resource| {
        if rule_resource == WILDCARD {
            return true;
        }
        if subresource.is_empty() {
            return rule_resource == resource;
        }
        // Compare against "resource/subresource" without building it.
        let combined = rule_resource
            .strip_prefix(resource)
            .and_then(|rest| rest.strip_prefix('/'))
            == Some(subresource);
        combined || rule_resource.strip_prefix("*/") == Some(subresource)
    })
}

/// The rule lists no resourceNames, or lists the requested name.
///
/// A request without a name (list, watch, create of a collection) therefore does not
/// match a rule with resourceNames, unless, exactly as upstream, the rule lists `""`.
pub fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    let names = list(&rule.resource_names);
    names.is_empty() || names.iter().any(|n| n == name)
}

/// A nonResourceURL in the rule is `*`, equals the path, or ends in `*` and the path
/// starts with what precedes the trailing `*`s.
pub fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    list(&rule.non_resource_urls).iter().any(|url| {
        url == WILDCARD
            || url == path
            || (url.ends_with('*') && path.starts_with(url.trim_end_matches('*')))
    })
}
