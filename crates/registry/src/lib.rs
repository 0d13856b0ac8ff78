//! winkube's registry client: what platforms (and which Windows `os.version`) an image
//! reference provides, read through the OCI distribution API.
//!
//! - [`RegistryClient`]: one lookup — manifest (OCI index, Docker manifest list, OCI/Docker
//!   manifest), then the config blob for a single manifest; Bearer-token challenge flow and
//!   Basic auth; a per-call timeout; https except for loopback or explicitly insecure
//!   registries.
//! - [`Resolver`]: many lookups at once through a bounded TTL cache ([`TtlCache`], clock
//!   injected), producing the map the Windows policies consume.
//! - [`DockerConfig`]: credentials from a `kubernetes.io/dockerconfigjson` secret.

mod auth;
mod cache;
mod client;
mod metadata;
mod resolver;

pub use auth::{Challenge, Credentials, DockerConfig};
pub use cache::{Clock, ManualClock, SystemClock, TtlCache};
pub use client::{
    ClientOptions, ImageConfig, MEDIA_TYPES, RegistryClient, RootsSource, parse_index, platform_of,
    root_store,
};
pub use metadata::{DEADLINE_SLACK, ImageMetadataView, resolve_images};
pub use resolver::{Resolved, Resolver, ResolverOptions};
pub use winkube_api::windows::{ImagePlatform, ImagePlatforms, ImageReference};

/// Errors of a registry lookup.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Reference(String),
    #[error("registry {registry} did not answer within {seconds:.1}s")]
    Timeout { registry: String, seconds: f64 },
    #[error("cannot reach registry {registry}: {reason}")]
    Connect { registry: String, reason: String },
    #[error("{what} not found in registry {registry}")]
    NotFound { registry: String, what: String },
    #[error("registry {registry} refused access to {repository}: {reason}")]
    Unauthorized {
        registry: String,
        repository: String,
        reason: String,
    },
    #[error("registry {registry} answered {status} for {url}")]
    Status {
        registry: String,
        status: u16,
        url: String,
    },
    #[error("registry {registry} sent an invalid {what}: {reason}")]
    Invalid {
        registry: String,
        what: String,
        reason: String,
    },
    #[error(
        "refusing plain http to {0}: only loopback and registries configured as insecure may use http"
    )]
    InsecureRefused(String),
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("invalid docker config: {0}")]
    DockerConfig(String),
}
