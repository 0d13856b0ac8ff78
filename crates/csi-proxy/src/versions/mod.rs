//! Versioned gRPC adapters: one module per group and version.
//!
//! Each module converts its wire messages to the group's internal types
//! (`core::<group>`), calls the group server on tokio's blocking pool, and
//! converts the result back. Adding a version means adding one module (or one
//! macro invocation when the version's messages equal another's) and one line
//! in [`APIS`] and [`routes`].

pub mod disk;
pub mod filesystem;
pub mod iscsi;
pub mod smb;
pub mod system;
pub mod volume;

use tonic::service::Routes;
use tonic::{Response, Status};

use crate::core::Node;
use crate::error::Error;

/// Every served group and its versions, oldest first (kubernetes-csi/csi-proxy master: 23).
pub const APIS: &[(&str, &[&str])] = &[
    ("disk", &["v1alpha1", "v1beta1", "v1beta2", "v1beta3", "v1"]),
    (
        "filesystem",
        &["v1alpha1", "v1beta1", "v1beta2", "v1", "v2alpha1"],
    ),
    (
        "volume",
        &[
            "v1alpha1", "v1beta1", "v1beta2", "v1beta3", "v1", "v2alpha1",
        ],
    ),
    ("smb", &["v1alpha1", "v1beta1", "v1beta2", "v1"]),
    ("iscsi", &["v1alpha1", "v1alpha2"]),
    ("system", &["v1alpha1"]),
];

/// Runs a group-server call on the blocking pool and maps its outcome to gRPC.
///
/// Domain errors become `Unknown` with the error text (upstream behaviour); a
/// panic in a handler is contained here and reported, never taking the
/// process down.
pub(crate) async fn call<T, F>(rpc: &'static str, f: F) -> Result<Response<T>, Status>
where
    F: FnOnce() -> crate::error::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => {
            tracing::debug!(rpc, "ok");
            Ok(Response::new(v))
        }
        Ok(Err(e)) => {
            tracing::info!(rpc, error = %crate::validate::escaped(&e.to_string()), "request failed");
            Err(e.into())
        }
        Err(join) => {
            tracing::error!(rpc, error = %join, "handler did not complete");
            Err(Error::Internal(format!("{rpc} did not complete")).into())
        }
    }
}

/// The gRPC routes of one group/version, or `None` if it is not served.
pub fn routes(group: &str, version: &str, node: &Node) -> Option<Routes> {
    use crate::core::{
        disk::DiskServer, filesystem::FilesystemServer, iscsi::IscsiServer, smb::SmbServer,
        system::SystemServer, volume::VolumeServer,
    };
    let n = node.clone();
    let r = match (group, version) {
        ("disk", "v1alpha1") => Routes::new(disk::v1alpha1::server(DiskServer::new(n))),
        ("disk", "v1beta1") => Routes::new(disk::v1beta1::server(DiskServer::new(n))),
        ("disk", "v1beta2") => Routes::new(disk::v1beta2::server(DiskServer::new(n))),
        ("disk", "v1beta3") => Routes::new(disk::v1beta3::server(DiskServer::new(n))),
        ("disk", "v1") => Routes::new(disk::v1::server(DiskServer::new(n))),
        ("filesystem", "v1alpha1") => {
            Routes::new(filesystem::v1alpha1::server(FilesystemServer::new(n)))
        }
        ("filesystem", "v1beta1") => {
            Routes::new(filesystem::v1beta1::server(FilesystemServer::new(n)))
        }
        ("filesystem", "v1beta2") => {
            Routes::new(filesystem::v1beta2::server(FilesystemServer::new(n)))
        }
        ("filesystem", "v1") => Routes::new(filesystem::v1::server(FilesystemServer::new(n))),
        ("filesystem", "v2alpha1") => {
            Routes::new(filesystem::v2alpha1::server(FilesystemServer::new(n)))
        }
        ("volume", "v1alpha1") => Routes::new(volume::v1alpha1::server(VolumeServer::new(n))),
        ("volume", "v1beta1") => Routes::new(volume::v1beta1::server(VolumeServer::new(n))),
        ("volume", "v1beta2") => Routes::new(volume::v1beta2::server(VolumeServer::new(n))),
        ("volume", "v1beta3") => Routes::new(volume::v1beta3::server(VolumeServer::new(n))),
        ("volume", "v1") => Routes::new(volume::v1::server(VolumeServer::new(n))),
        ("volume", "v2alpha1") => Routes::new(volume::v2alpha1::server(VolumeServer::new(n))),
        ("smb", "v1alpha1") => Routes::new(smb::v1alpha1::server(SmbServer::new(n))),
        ("smb", "v1beta1") => Routes::new(smb::v1beta1::server(SmbServer::new(n))),
        ("smb", "v1beta2") => Routes::new(smb::v1beta2::server(SmbServer::new(n))),
        ("smb", "v1") => Routes::new(smb::v1::server(SmbServer::new(n))),
        ("iscsi", "v1alpha1") => Routes::new(iscsi::v1alpha1::server(IscsiServer::new(n))),
        ("iscsi", "v1alpha2") => Routes::new(iscsi::v1alpha2::server(IscsiServer::new(n))),
        ("system", "v1alpha1") => Routes::new(system::v1alpha1::server(SystemServer::new(n))),
        _ => return None,
    };
    Some(r)
}

/// Parses a decimal disk number sent as a string by old versions; refuses
/// values that do not fit in 32 bits instead of truncating them (upstream did).
pub fn parse_disk_number(field: &'static str, raw: &str) -> crate::error::Result<u32> {
    raw.parse::<u32>()
        .map_err(|e| Error::conversion(field, format!("{:?} is not a disk number: {e}", raw)))
}
