//! winkube's admission policies, written once as pure functions.
//!
//! Nothing in this crate reads the network, the clock or a random source: everything a
//! policy needs comes through a [`ClusterView`] or the request's context. The webhook and
//! `winkube admit` run exactly this code, so CI answers what the cluster will answer.
//!
//! - [`admission`]: the gMSA AdmissionReview (`/mutate`, `/validate`) and offline admission.
//! - [`view`]: what the policies may ask about the cluster.

pub mod admission;
mod contents;
mod gofmt;
pub mod view;
pub mod windows;
mod wire;

pub use admission::{
    Admitted, Endpoint, Outcome, ReviewContext, admit_pod, review, unreadable_body,
};
pub use view::{ClusterView, CredSpecContents, CredSpecLookup, UseDecision};

/// Errors of the policy crate (malformed inputs that are not admission decisions).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}
