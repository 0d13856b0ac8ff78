//! smb group: internal types and server.

use super::Node;
use super::guard::Guard;
use crate::error::Result;
use crate::host::SmbCredential;
use crate::validate::{Secret, SmbPath, user_name};

/// NewSmbGlobalMapping request (identical in all versions).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewSmbGlobalMappingRequest {
    /// `\\host\share[\sub]` (`/` accepted).
    pub remote_path: String,
    /// Optional link to create, inside the allowed roots.
    pub local_path: String,
    /// User; empty means no credential.
    pub username: String,
    /// Password.
    pub password: Secret,
}

/// The smb group server.
#[derive(Debug, Clone)]
pub struct SmbServer {
    node: Node,
}

impl SmbServer {
    /// A server over `node`.
    pub fn new(node: Node) -> Self {
        SmbServer { node }
    }

    /// Maps the share root globally (re-mapping a stale mapping) and links `local_path` to the remote path.
    ///
    /// Every field is validated before the first host call, so a bad
    /// `local_path` no longer leaves a credentialed mapping behind (upstream
    /// mapped first and validated after).
    pub fn new_smb_global_mapping(&self, req: NewSmbGlobalMappingRequest) -> Result<()> {
        let remote = SmbPath::parse("remote_path", &req.remote_path)?;
        let username = user_name("username", &req.username)?;
        let local = if req.local_path.is_empty() {
            None
        } else {
            Some(self.node.policy.roots.path("local_path", &req.local_path)?)
        };
        let credential = (!username.is_empty()).then(|| SmbCredential {
            username,
            password: req.password.clone(),
        });
        let host = &self.node.host;
        let guard = Guard(&self.node);
        guard.smb_remote(&remote)?;
        if let Some(local) = &local {
            guard.destructive(local, "replaced by a link")?;
        }
        // A failing status query counts as "not mapped", as upstream.
        let mapped = host.is_mapped(&remote).unwrap_or(false);
        let mut create = !mapped;
        if mapped && !host.is_path_valid(&remote)? {
            host.remove_mapping(&remote)?;
            create = true;
        }
        if create {
            host.create_mapping(
                &remote,
                credential.as_ref(),
                self.node.policy.require_privacy,
            )?;
        }
        if let Some(local) = local {
            host.create_link(&remote, &local).map_err(|e| {
                crate::error::HostError::Failed(format!(
                    "creating link {local} to {} failed with error: {e}",
                    remote.full()
                ))
            })?;
        }
        Ok(())
    }

    /// Removes the global mapping of the share root.
    pub fn remove_smb_global_mapping(&self, remote_path: &str) -> Result<()> {
        let remote = SmbPath::parse("remote_path", remote_path)?;
        Ok(self.node.host.remove_mapping(&remote)?)
    }
}
