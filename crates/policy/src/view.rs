//! What the policies may know about the cluster. Two implementations exist: the live view
//! (reflector caches and SubjectAccessReviews, in `winkube-webhook`) and the file view
//! (YAML state and local RBAC evaluation, used by `winkube admit`).

use std::future::Future;
use std::sync::Arc;

/// A credspec as cached by a view: its name, the parsed document, and the canonical
/// (Go `json.Marshal`) string that is inlined into pods. Computed once per cache update,
/// never per review.
#[derive(Clone, Debug, PartialEq)]
pub struct CredSpecContents {
    pub name: String,
    pub value: serde_json::Value,
    pub canonical: Arc<str>,
}

impl CredSpecContents {
    /// Builds the cached form of a `GMSACredentialSpec`, or `None` when it has no usable
    /// `credspec` key.
    pub fn from_resource(cs: &winkube_api::GmsaCredentialSpec) -> Option<Self> {
        let canonical = cs.canonical_contents()?;
        Some(Self {
            name: cs.name().to_owned(),
            value: cs.credspec.clone().unwrap_or_default(),
            canonical: Arc::from(canonical),
        })
    }
}

/// The result of looking a credspec up by name.
#[derive(Clone, Debug, PartialEq)]
pub enum CredSpecLookup {
    Found(Arc<CredSpecContents>),
    /// No `GMSACredentialSpec` of that name exists (reference: 404).
    NotFound,
    /// The object exists but has no `credspec` key (reference: 417).
    MissingCredspecKey,
    /// The view could not answer (cache not synced, API error; reference: 500).
    Unavailable(String),
}

/// Whether a service account may `use` a credspec, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UseDecision {
    pub allowed: bool,
    /// The authorizer's reason; empty when it gave none (the common case for RBAC denials).
    pub reason: String,
}

/// Everything the admission policies may ask about the cluster.
pub trait ClusterView: Send + Sync {
    /// Looks a cluster-scoped credspec up by name. Must not block on the network.
    fn credspec(&self, name: &str) -> CredSpecLookup;

    /// May `system:serviceaccount:<namespace>:<service_account>` `use` the credspec
    /// `windows.k8s.io/gmsacredentialspecs/<credspec>`? May call the API server.
    /// When the question cannot be answered, return "not allowed" with the reason
    /// `error when checking authz access: <error>` (the reference answers 403 then).
    fn may_use_credspec(
        &self,
        namespace: &str,
        service_account: &str,
        credspec: &str,
    ) -> impl Future<Output = UseDecision> + Send;
}
