//! winkube's admission HTTPS server.
#![cfg_attr(test, allow(clippy::unwrap_used))]
//!
//! - [`serve`] / [`Server`]: hyper 1 over tokio-rustls (HTTP/1.1 and HTTP/2 by ALPN, TLS ≥ 1.2),
//!   graceful shutdown, and the [`limits`] on bodies, bytes in flight, reviews, connections and
//!   HTTP/2 streams.
//! - [`Router`]: the HTTP surface (`/mutate`, `/validate`, `/mutate-windows`, `/validate-windows`,
//!   `/health`, `/info`, `/metrics`; the [`paths`]), callable without a socket so its behaviour
//!   can be tested directly. The reviews themselves are `winkube-policy`'s; this crate only does
//!   HTTP, the live views and the registry lookups of the Windows policies ([`windows`]).
//! - [`certs`]: the serving certificate, re-read when the directory holding it changes (Secret
//!   volumes swap a `..data` symlink, so watching the files themselves misses later rotations).
//! - [`selfcert`]: self-managed certificates: a Lease-elected replica keeps a CA and the
//!   serving certificate in a Secret, publishes the CA bundle into the webhook configurations
//!   and rotates both without a failed review; every replica serves what the Secret holds.
//! - [`LiveView`]: the [`ClusterView`](winkube_policy::ClusterView) backed by a watch-fed credspec
//!   cache and SubjectAccessReviews (or a local RBAC cache, see [`AuthorizationMode`]).
//! - [`Metrics`]: Prometheus text exposition.

pub mod apimetrics;
pub mod cache;
pub mod certs;
pub mod limits;
pub mod live;
mod logtext;
pub mod metrics;
pub mod ops;
pub mod paths;
pub mod ratelimit;
pub mod readiness;
pub mod routes;
pub mod selfcert;
pub mod server;
mod stall;
pub mod windows;

use std::path::PathBuf;

pub use limits::Limits;
pub use live::{AuthorizationMode, DEFAULT_AUTHORIZATION_DEADLINE, LiveView, LiveViewConfig};
pub use metrics::Metrics;
pub use ops::OpsServer;
pub use paths::Endpoint;
pub use readiness::Readiness;
pub use routes::Router;
pub use selfcert::{SelfCertConfig, SelfManagedCerts};
pub use server::{Certificates, Server, ServerConfig, Stats, serve};
pub use windows::{LiveWindowsOptions, LiveWindowsView, WindowsPolicies, WindowsView};

/// The crate version, reported by `/info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Errors of the webhook crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read TLS {what} file {path}: {reason}")]
    CertFile {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("TLS certificate {cert} and key {key} cannot be used together: {reason}")]
    CertPair {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("cannot watch {path} for certificate changes: {reason}")]
    CertWatch { path: PathBuf, reason: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS configuration error: {0}")]
    Tls(#[from] rustls::Error),
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot make the {what}: {source}")]
    CertGenerate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("self-managed certificates: {0}")]
    SelfCert(String),
}

/// Installs rustls' ring provider as the process default. The server itself builds its config
/// from an explicit provider; this is for other rustls users in the process (the kube client)
/// and is harmless if a provider is already installed.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
