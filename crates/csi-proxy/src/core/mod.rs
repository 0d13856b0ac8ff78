//! Group servers: validation and orchestration over the host layer.
//!
//! Each group has internal request/response types able to represent every
//! served version; the versioned gRPC adapters in [`crate::versions`] convert
//! to and from them. Validation happens here, before any host call, so a
//! rejected request leaves the host untouched.

pub mod disk;
pub mod filesystem;
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
