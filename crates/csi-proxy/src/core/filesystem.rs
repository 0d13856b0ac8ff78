//! filesystem group: internal types and server.

use super::Node;
use super::guard::Guard;
use crate::error::Result;
use crate::validate::HostPath;

/// `PathContext` of filesystem v1alpha1/v1beta1. Upstream ignores it and so do
/// we: the same allowed roots apply to plugin and pod paths. It is kept in the
/// internal type so that the conversion is explicit rather than a silent drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathContext {
    /// Not sent (v1 and later).
    #[default]
    Unspecified,
    /// `PLUGIN` (0).
    Plugin,
    /// `POD` (1).
    Pod,
    /// A value this server does not know; accepted like upstream.
    Other(i32),
}

/// A request naming one path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PathRequest {
    /// The path.
    pub path: String,
    /// Old versions' context (ignored).
    pub context: PathContext,
}

/// Rmdir request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RmdirRequest {
    /// The directory.
    pub path: String,
    /// Remove contents recursively (links are removed, not followed).
    pub force: bool,
    /// Old versions' context (ignored).
    pub context: PathContext,
}

/// CreateSymlink / LinkPath request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateSymlinkRequest {
    /// What the link points to.
    pub source_path: String,
    /// The link to create.
    pub target_path: String,
}

/// The filesystem group server.
#[derive(Debug, Clone)]
pub struct FilesystemServer {
    node: Node,
}

impl FilesystemServer {
    /// A server over `node`.
    pub fn new(node: Node) -> Self {
        FilesystemServer { node }
    }

    fn path(&self, field: &'static str, raw: &str) -> Result<HostPath> {
        self.node.policy.roots.path(field, raw)
    }

    /// Whether the path exists (links are not followed).
    pub fn path_exists(&self, req: PathRequest) -> Result<bool> {
        let p = self.path("path", &req.path)?;
        Ok(self.node.host.path_exists(&p)?)
    }

    /// Creates the directory and its parents.
    pub fn mkdir(&self, req: PathRequest) -> Result<()> {
        let p = self.path("path", &req.path)?;
        Guard(&self.node).inside_roots(&p)?;
        Ok(self.node.host.mkdir_all(&p)?)
    }

    /// Removes a directory (recursively with `force`). Allowed roots are never removed.
    pub fn rmdir(&self, req: RmdirRequest) -> Result<()> {
        let p = self.path("path", &req.path)?;
        Guard(&self.node).removable(&p)?;
        Ok(self.node.host.rmdir(&p, req.force)?)
    }

    /// Removes the contents of a directory, keeping it. Allowed roots are never emptied.
    pub fn rmdir_contents(&self, req: PathRequest) -> Result<()> {
        let p = self.path("path", &req.path)?;
        Guard(&self.node).emptiable(&p)?;
        Ok(self.node.host.rmdir_contents(&p)?)
    }

    /// Creates `target_path` as a link to `source_path`; both must be inside the allowed roots.
    pub fn create_symlink(&self, req: CreateSymlinkRequest) -> Result<()> {
        let link = self.path("target_path", &req.target_path)?;
        let target = self.path("source_path", &req.source_path)?;
        let guard = Guard(&self.node);
        guard.destructive(&link, "replaced by a link")?;
        guard.inside_roots(&target)?;
        Ok(self.node.host.create_symlink(&target, &link)?)
    }

    /// Whether the path is a link or mount point whose target exists. Errors if the path does not exist.
    pub fn is_symlink(&self, req: PathRequest) -> Result<bool> {
        let p = self.path("path", &req.path)?;
        let host = &self.node.host;
        match host.read_link(&p)? {
            None => Ok(false),
            Some(target) => Ok(host.link_target_exists(&target)?),
        }
    }
}
