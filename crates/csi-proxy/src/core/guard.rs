//! Guards of every destructive call, judged by what the host says a path or
//! volume is rather than by the request's text (issue 13).
//!
//! - The volumes that hold the OS, a page file or an allowed root (the
//!   kubelet directory is one) and the disks under them are never mounted,
//!   formatted, resized, partitioned or taken offline.
//! - A path is judged by where it resolves (links, junctions, mount points);
//!   it must stay inside an allowed root, and a root is never a mount target,
//!   never removed and never emptied.
//! - A volume already mounted somewhere is not mounted again unless the node
//!   allows it (`--allow-remount`).
//!
//! The queries go through [`crate::host::InspectHost`]: read-only, and
//! answered by the Windows backend without spawning a process where it can.

use std::collections::BTreeSet;

use super::Node;
use crate::error::{Error, Result};
use crate::host::{LinkTarget, Resolved};
use crate::validate::{HostPath, SmbPath, VolumeId, ipv4_any_form};

/// The guards of one node.
pub(crate) struct Guard<'a>(pub(crate) &'a Node);

impl Guard<'_> {
    fn roots(&self) -> &[HostPath] {
        self.0.policy.roots.roots()
    }

    /// The roots as given and as they resolve (a root may itself be a link).
    fn resolved_roots(&self) -> Result<Vec<HostPath>> {
        let mut out = self.roots().to_vec();
        for r in self.roots() {
            if let Some(p) = self.0.host.resolve(r)?.path
                && !out.contains(&p)
            {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Resolves `p` and requires where it leads to be inside an allowed root.
    pub(crate) fn inside_roots(&self, p: &HostPath) -> Result<Resolved> {
        let r = self.0.host.resolve(p)?;
        let Some(fp) = &r.path else {
            return Err(Error::Denied(format!("{p} leads to a remote share")));
        };
        if !self.resolved_roots()?.iter().any(|root| fp.is_within(root)) {
            return Err(Error::Denied(format!(
                "{p} resolves to {fp}, outside the allowed directories"
            )));
        }
        Ok(r)
    }

    /// Refuses `p` when it is, or resolves to, an allowed root.
    pub(crate) fn not_a_root(
        &self,
        p: &HostPath,
        resolved: Option<&HostPath>,
        what: &str,
    ) -> Result<()> {
        let roots = self.resolved_roots()?;
        let hit = |q: &HostPath| roots.iter().any(|root| root.key() == q.key());
        if hit(p) || resolved.is_some_and(hit) {
            return Err(Error::Denied(format!(
                "{p} is an allowed root directory and is not {what}"
            )));
        }
        Ok(())
    }

    /// Volumes that hold the OS or a page file.
    fn system_volumes(&self) -> Result<BTreeSet<VolumeId>> {
        Ok(self.0.host.protected_volumes()?.into_iter().collect())
    }

    /// Volumes that are never mounted, formatted or resized: the system
    /// volumes and the volumes that hold an allowed root.
    pub(crate) fn protected_volumes(&self) -> Result<BTreeSet<VolumeId>> {
        let mut out = self.system_volumes()?;
        for r in self.roots() {
            out.insert(self.0.host.volume_of(r)?.1);
        }
        Ok(out)
    }

    /// Refuses a protected volume.
    pub(crate) fn volume(&self, v: &VolumeId, what: &str) -> Result<()> {
        if self.protected_volumes()?.contains(v) {
            return Err(Error::Denied(format!(
                "{v} holds the operating system, a page file or an allowed root and is not {what}"
            )));
        }
        Ok(())
    }

    /// Refuses a disk that holds a protected volume.
    pub(crate) fn disk(&self, disk: u32, what: &str) -> Result<()> {
        for v in self.protected_volumes()? {
            if self.0.host.volume_disks(&v)?.contains(&disk) {
                return Err(Error::Denied(format!(
                    "disk {disk} holds {v} (operating system, page file or an allowed root) and is not {what}"
                )));
            }
        }
        Ok(())
    }

    /// Refuses a path that lies on a system volume mounted inside the roots
    /// (a root's own volume is fine: the kubelet directory is usually on C:).
    fn not_on_foreign_system_volume(&self, p: &HostPath) -> Result<()> {
        let (mount, v) = self.0.host.volume_of(p)?;
        let below_a_root = self
            .roots()
            .iter()
            .any(|r| mount.is_within(r) && mount.key() != r.key());
        if below_a_root && self.system_volumes()?.contains(&v) {
            return Err(Error::Denied(format!(
                "{p} lies on {v}, a system volume mounted inside the allowed directories at {mount}"
            )));
        }
        Ok(())
    }

    /// A path about to be created, removed or emptied: it resolves inside the
    /// roots, is not a root, and is not on a system volume mounted there.
    pub(crate) fn destructive(&self, p: &HostPath, what: &str) -> Result<Resolved> {
        let r = self.inside_roots(p)?;
        self.not_a_root(p, r.path.as_ref(), what)?;
        self.not_on_foreign_system_volume(p)?;
        Ok(r)
    }

    /// A directory about to be removed. A link or mount point is removed
    /// itself, never followed: only its parent must be inside the roots.
    pub(crate) fn removable(&self, p: &HostPath) -> Result<()> {
        let r = self.0.host.resolve(p)?;
        if r.link.is_some() {
            // Only the link's own name matters: its target is left alone.
            self.not_a_root(p, None, "removed")?;
            return match p.parent() {
                Some(parent) => self.inside_roots(&parent).map(drop),
                None => Err(Error::Denied(format!("{p} is a drive root"))),
            };
        }
        self.destructive(p, "removed").map(drop)
    }

    /// A directory whose contents are about to be removed: never through a
    /// link (the backend would empty its target), and a mount point only of
    /// an unprotected volume.
    pub(crate) fn emptiable(&self, p: &HostPath) -> Result<()> {
        let r = self.destructive(p, "emptied")?;
        match &r.link {
            None => Ok(()),
            Some(LinkTarget::Volume(v)) => self.volume(v, "emptied"),
            Some(_) => Err(Error::Denied(format!(
                "{p} is a link; its target is not emptied through it"
            ))),
        }
    }

    /// An SMB share to map: never this node itself (loopback in any form, its
    /// own names and addresses), and no administrative share unless allowed.
    pub(crate) fn smb_remote(&self, remote: &SmbPath) -> Result<()> {
        let host = remote.host();
        if remote.is_loopback() {
            return Err(Error::Denied(format!(
                "{} names this node (loopback) and is not mapped",
                remote.root()
            )));
        }
        let ip = remote.host_ip();
        let own = self.0.host.own_addresses()?;
        let is_own = own.iter().any(|a| {
            a == host
                || a.split('.').next() == Some(host) && !host.contains('.') && ip.is_none()
                || ip.is_some_and(|ip| {
                    a.parse::<std::net::IpAddr>().ok() == Some(ip)
                        || ipv4_any_form(a).map(std::net::IpAddr::from) == Some(ip)
                })
        });
        if is_own {
            return Err(Error::Denied(format!(
                "{} names this node and is not mapped",
                remote.root()
            )));
        }
        if remote.is_admin_share() && !self.0.policy.allow_admin_shares {
            return Err(Error::Denied(format!(
                "{} is an administrative share and is not mapped (--allow-admin-shares)",
                remote.root()
            )));
        }
        Ok(())
    }

    /// A mount target: a plain directory inside the roots, not a root, and the
    /// volume is unprotected and not mounted elsewhere (unless allowed).
    pub(crate) fn mount(&self, volume: &VolumeId, target: &HostPath) -> Result<()> {
        let r = self.destructive(target, "a mount target")?;
        if let Some(LinkTarget::Path(_) | LinkTarget::Remote(_)) = &r.link {
            return Err(Error::Denied(format!(
                "{target} is a link and is not a mount target"
            )));
        }
        self.volume(volume, "mounted")?;
        if !self.0.policy.allow_remount {
            let here = |m: &String| {
                let k = m.trim_end_matches('\\').to_ascii_lowercase();
                k == target.key() || r.path.as_ref().is_some_and(|p| p.key() == k)
            };
            if let Some(other) = self
                .0
                .host
                .mount_points(volume)?
                .into_iter()
                .find(|m| !here(m))
            {
                return Err(Error::Denied(format!(
                    "{volume} is already mounted at {other} and is not mounted a second time"
                )));
            }
        }
        Ok(())
    }
}
