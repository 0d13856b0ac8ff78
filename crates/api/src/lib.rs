//! winkube's Kubernetes-facing types. Pure data: nothing here performs I/O.
//!
//! - [`credspec`]: the cluster-scoped `GMSACredentialSpec` resource (`windows.k8s.io`).
//! - [`crd`]: the `GMSACredentialSpec` CustomResourceDefinition (`winkube manifests crd`).
//! - [`names`]: DNS-1123 labels and subdomains, DNS domain names, GUIDs.
//! - [`canonical`]: the byte-exact serialisation of credspec contents that the reference
//!   webhook inlines into pods (Go `encoding/json` rules).

pub mod canonical;
pub mod crd;
pub mod credspec;
pub mod names;
pub mod strict_json;
pub mod windows;

pub use canonical::canonical_json;
pub use credspec::{GROUP, GmsaCredentialSpec, KIND, PLURAL};

/// Errors raised while building or reading winkube's API types.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid credential spec {name:?}: {reason}")]
    InvalidCredSpec { name: String, reason: String },
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}
