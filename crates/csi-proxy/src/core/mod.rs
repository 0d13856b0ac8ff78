//! Group servers: validation and orchestration over the host layer.
//!
//! Each group has internal request/response types able to represent every
//! served version; the versioned gRPC adapters in [`crate::versions`] convert
//! to and from them. Validation happens here, before any host call, so a
//! rejected request leaves the host untouched.

pub mod disk;
pub mod filesystem;
pub(crate) mod guard;
pub mod iscsi;
pub mod smb;
pub mod system;
pub mod volume;

use std::sync::Arc;

use crate::host::Host;
use crate::validate::{AllowedRoots, ServiceName};

/// Node policy shared by the groups.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Directories under which clients may name paths.
    pub roots: AllowedRoots,
    /// `RequirePrivacy` for new SMB global mappings.
    pub require_privacy: bool,
    /// Services that StartService/StopService may act on (GetService is read-only and open).
    pub allowed_services: Vec<ServiceName>,
    /// Mount a volume that is already mounted elsewhere (`--allow-remount`);
    /// off by default: a second mount point exposes the same data twice.
    pub allow_remount: bool,
    /// Map administrative shares (`C$`, `ADMIN$`, `IPC$`) (`--allow-admin-shares`).
    pub allow_admin_shares: bool,
}

impl Policy {
    /// A policy with these roots and the defaults of the command line.
    pub fn new(roots: AllowedRoots) -> Policy {
        Policy {
            roots,
            require_privacy: true,
            allowed_services: Vec::new(),
            allow_remount: false,
            allow_admin_shares: false,
        }
    }
}

/// Everything a group server needs.
#[derive(Clone)]
pub struct Node {
    /// The host backend.
    pub host: Arc<dyn Host>,
    /// Node policy.
    pub policy: Arc<Policy>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Converts a host byte count to the wire's `int64`.
pub(crate) fn to_i64(field: &'static str, v: u64) -> crate::error::Result<i64> {
    i64::try_from(v)
        .map_err(|_| crate::error::Error::Internal(format!("{field} {v} does not fit in int64")))
}
