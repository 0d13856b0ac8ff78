//! winkube's admission policies, written once as pure functions.
//!
//! Nothing in this crate reads the network, the clock or a random source: everything a
//! policy needs comes through a [`ClusterView`] or the request's context. The webhook and
//! `winkube admit` run exactly this code, so CI answers what the cluster will answer.

pub mod view;

pub use view::{ClusterView, CredSpecContents, CredSpecLookup, UseDecision};

/// Errors of the policy crate (malformed inputs that are not admission decisions).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}
