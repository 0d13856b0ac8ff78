//! winkube's offline cluster view: [`FileView`], cluster state read from a directory of
//! manifests. `winkube admit` and `lint`, `winkube webhook --state` and tests share it; it
//! answers the gMSA policies ([`winkube_policy::ClusterView`]), the Windows policies
//! ([`winkube_policy::windows::WindowsClusterView`]) and the image-metadata step
//! ([`winkube_registry::ImageMetadataView`]: pull secrets and pinned image metadata).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod documents;
mod view;

pub use view::FileView;

/// State that cannot be read. Every message names the file (and document) at fault.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file or directory could not be read; `context` names it (and the flag it came from).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A document or file is not what winkube can use.
    #[error("{0}")]
    Invalid(String),
}
