//! winkube-node: puts a Windows node into a Kubernetes cluster without scripts.
//!
//! The work is split so that everything but the last step runs (and is tested) on any OS:
//!
//! - [`version`]: the Kubernetes version table (which kubelet flags and which kubeadm API
//!   a version needs), one row per boundary;
//! - [`facts`]: what the node is like (Windows build, Containers feature, containerd's
//!   pipe, a pending reboot, what is already installed), read from the node or a file;
//! - [`plan`]: `prepare`'s plan, a pure function of the facts and the options: checks,
//!   directories, files with their sha256, the kubelet service, the firewall rule;
//! - [`render`]: the plan as text or JSON (`--dry-run`);
//! - [`artifacts`]: kubelet.exe and kubeadm.exe from a directory or a download, verified
//!   against their published `.sha256` before anything is placed;
//! - [`apply`]: the plan applied in an order that can be undone, through a [`apply::System`]
//!   (the Windows service manager and firewall; `cfg(windows)` in [`windows`]);
//! - [`join`]: kubeadm's `JoinConfiguration` for a Windows node;
//! - [`kube_proxy`]: the Windows kube-proxy DaemonSet (HostProcess) for a cluster version;
//! - [`service`]: the kubelet's service runner (flags file, log rotation).

pub mod apply;
pub mod artifacts;
pub mod facts;
pub mod join;
pub mod kube_proxy;
pub mod paths;
pub mod plan;
pub mod render;
pub mod service;
pub mod version;
#[cfg(windows)]
pub mod windows;

use std::path::PathBuf;

/// Everything that can go wrong in winkube-node's library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid Kubernetes version {0:?}: expected vMAJOR.MINOR.PATCH such as v1.31.2")]
    InvalidVersion(String),
    #[error(
        "unknown Kubernetes version {version}: winkube-node knows v1.{min}.x to v1.{max}.x (the version table in crates/node/src/version.rs)"
    )]
    UnknownVersion { version: String, min: u32, max: u32 },
    #[error("{what}: {reason}")]
    InvalidInput { what: String, reason: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "checksum mismatch for {what}: the published sha256 is {expected}, the file has {actual}; nothing was installed"
    )]
    ChecksumMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("download of {url} failed: {reason}")]
    Download { url: String, reason: String },
    #[error("{0}")]
    System(String),
    #[error("{failed}\n{undo}")]
    Applied { failed: String, undo: String },
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// `sha256:`-less lower-case hex sha256 of the bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}
