//! winkube-csi-proxy: the privileged storage service for CSI node plugins on
//! Windows, wire-compatible with kubernetes-csi/csi-proxy.
//!
//! Layers, outermost first:
//! - [`transport`]: one gRPC endpoint per group/version (named pipes on
//!   Windows, Unix sockets elsewhere) with an HTTP/2 `:authority` fix-up so
//!   grpc-go clients that dial a pipe path are accepted;
//! - [`versions`]: per-version adapters converting wire messages to and from
//!   the internal types;
//! - [`core`]: per-group validation and orchestration;
//! - [`host`]: one trait per group, with a Windows backend and an in-memory one.

pub mod core;
pub mod error;
pub mod goflags;
pub mod host;
pub mod metrics;
pub mod transport;
pub mod validate;
pub mod versions;
pub mod wire;

pub use error::{Error, HostError};
