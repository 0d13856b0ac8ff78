//! winkube's admission policies, written once as pure functions.
//!
//! Nothing in this crate reads the network, the clock or a random source: everything a
//! policy needs comes through a view ([`ClusterView`], [`windows::WindowsClusterView`]), the
//! request's context or, for the Windows policies, image metadata the caller looked up. The
//! webhook and `winkube admit` run exactly this code, so CI answers what the cluster will
//! answer. The webhook crate only does HTTP around it.
//!
//! What each module owns:
//! - [`outcome`]: what both reviews share: the [`Phase`] (mutate or validate), the one
//!   [`Outcome`] of an AdmissionReview and its [`Finding`]s (rule, severity, pod field), and how a pod without a name yet is named
//!   (`generateName*`).
//! - [`catalog`]: the rules every finding belongs to (id, default severity, help, fix), in
//!   one table; [`Outcome::findings`] and the offline results name them.
//! - [`gmsa`]: the gMSA review (`/mutate`, `/validate`): the reference webhook's rules, its
//!   AdmissionReview decoding and its response bytes, byte for byte; and offline admission
//!   ([`admit_pod`]).
//! - [`windows`]: the Windows workload policies, and their review (`/mutate-windows`,
//!   `/validate-windows`): [`windows::decode`], then the caller's registry lookups, then
//!   [`windows::PodReview::evaluate`].
//! - [`view`]: what the gMSA policies may ask about the cluster.
//! - [`scope`]: which requests the gMSA review can concern, as the CEL expression of the
//!   webhook configurations' `matchConditions`.
//! - `wire`, `gofmt` (private): Go-compatible JSON decoding and encoding, used only by
//!   [`gmsa`], where the reference's bytes must be matched.

pub mod catalog;
mod contents;
pub mod gmsa;
mod gofmt;
pub mod outcome;
pub mod scope;
pub mod view;
pub mod windows;
mod wire;

pub use gmsa::{
    Admitted, ReviewContext, ShadowedKey, admit_pod, check_manifest_keys, review, unreadable_body,
};
pub use outcome::{Finding, Operation, Outcome, Phase, Severity, field_path};
pub use view::{ClusterView, CredSpecContents, CredSpecLookup, SharedCredSpec, UseDecision};
