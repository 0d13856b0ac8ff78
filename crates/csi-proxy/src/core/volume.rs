//! volume group: internal types and server.

use super::guard::Guard;
use super::{Node, to_i64};
use crate::error::{Error, HostError, Result};
use crate::host::LinkTarget;
use crate::validate::{HostPath, VolumeId};

/// Resizes smaller than this are skipped (upstream #364: Windows refuses tiny extents).
pub const MIN_RESIZE_STEP: u64 = 100 << 20;
/// Link levels followed before giving up.
pub const MAX_LINK_DEPTH: usize = 256;

/// ListVolumesOnDisk request (v1alpha1..v1beta2 carry only a string disk id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListVolumesOnDiskRequest {
    /// Disk number.
    pub disk_number: u32,
    /// Partition number; 0 means all partitions.
    pub partition_number: u32,
}

/// A request naming a volume and a mount path (Mount, Unmount/Dismount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumePathRequest {
    /// `\\?\Volume{GUID}\`.
    pub volume_id: String,
    /// Mount point directory (`path` in old versions).
    pub target_path: String,
}

/// ResizeVolume request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResizeVolumeRequest {
    /// Volume.
    pub volume_id: String,
    /// New size in bytes; 0 means the maximum (`size` in old versions).
    pub size_bytes: i64,
}

/// GetVolumeStats / VolumeStats response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetVolumeStatsResponse {
    /// Total size in bytes.
    pub total_bytes: i64,
    /// Used bytes.
    pub used_bytes: i64,
}

/// The volume group server.
#[derive(Debug, Clone)]
pub struct VolumeServer {
    node: Node,
}

impl VolumeServer {
    /// A server over `node`.
    pub fn new(node: Node) -> Self {
        VolumeServer { node }
    }

    fn target(&self, field: &'static str, raw: &str) -> Result<HostPath> {
        self.node.policy.roots.path(field, raw)
    }

    /// Volumes on a disk (all partitions when `partition_number` is 0).
    pub fn list_volumes_on_disk(&self, req: ListVolumesOnDiskRequest) -> Result<Vec<String>> {
        let partition = (req.partition_number > 0).then_some(req.partition_number);
        let ids = self
            .node
            .host
            .list_volumes_on_disk(req.disk_number, partition)?;
        Ok(ids.into_iter().map(|v| v.as_str().to_string()).collect())
    }

    /// Mounts a volume at an empty directory; succeeds if it is already mounted there.
    pub fn mount_volume(&self, req: VolumePathRequest) -> Result<()> {
        let volume = VolumeId::parse("volume_id", &req.volume_id)?;
        let target = self.target("target_path", &req.target_path)?;
        let host = &self.node.host;
        Guard(&self.node).mount(&volume, &target)?;
        if let Some(LinkTarget::Volume(current)) = host.read_link(&target)? {
            if current == volume {
                return Ok(());
            }
            return Err(Error::Host(HostError::Failed(format!(
                "error mount volume ({volume}) to path {target}: already a mount point of {current}"
            ))));
        }
        host.mount_volume(&volume, &target)?;
        Ok(())
    }

    /// Flushes the volume and removes its mount point at the target.
    pub fn unmount_volume(&self, req: VolumePathRequest) -> Result<()> {
        let volume = VolumeId::parse("volume_id", &req.volume_id)?;
        let target = self.target("target_path", &req.target_path)?;
        let host = &self.node.host;
        Guard(&self.node).inside_roots(&target)?;
        match host.read_link(&target)? {
            Some(LinkTarget::Volume(current)) if current == volume => {}
            Some(LinkTarget::Volume(current)) => {
                return Err(Error::Host(HostError::Failed(format!(
                    "{target} is a mount point of {current}, not of {volume}"
                ))));
            }
            _ => {
                return Err(Error::Host(HostError::Failed(format!(
                    "{target} is not a volume mount point"
                ))));
            }
        }
        host.flush_volume(&volume)?;
        host.unmount_volume(&target)?;
        Ok(())
    }

    /// Whether the volume has a file system.
    pub fn is_volume_formatted(&self, volume_id: &str) -> Result<bool> {
        let volume = VolumeId::parse("volume_id", volume_id)?;
        Ok(self.node.host.is_volume_formatted(&volume)?)
    }

    /// Formats the volume as NTFS.
    pub fn format_volume(&self, volume_id: &str) -> Result<()> {
        let volume = VolumeId::parse("volume_id", volume_id)?;
        Guard(&self.node).volume(&volume, "formatted")?;
        Ok(self.node.host.format_volume(&volume)?)
    }

    /// Grows the volume's partition; steps under 100 MiB and shrinks are skipped.
    pub fn resize_volume(&self, req: ResizeVolumeRequest) -> Result<()> {
        let volume = VolumeId::parse("volume_id", &req.volume_id)?;
        let requested = u64::try_from(req.size_bytes).map_err(|_| {
            Error::invalid(
                "size_bytes",
                format!("invalid negative size {}", req.size_bytes),
            )
        })?;
        let host = &self.node.host;
        Guard(&self.node).volume(&volume, "resized")?;
        let size = host.partition_size(&volume)?;
        let target = if requested == 0 { size.max } else { requested };
        if target <= size.current || target - size.current < MIN_RESIZE_STEP {
            return Ok(());
        }
        host.resize_partition(&volume, target)?;
        Ok(())
    }

    /// Total and used bytes of the volume.
    pub fn get_volume_stats(&self, volume_id: &str) -> Result<GetVolumeStatsResponse> {
        let volume = VolumeId::parse("volume_id", volume_id)?;
        let stats = self.node.host.volume_stats(&volume)?;
        Ok(GetVolumeStatsResponse {
            total_bytes: to_i64("volume size", stats.total)?,
            used_bytes: to_i64("used bytes", stats.used)?,
        })
    }

    /// Disk number of the volume.
    pub fn get_disk_number_from_volume_id(&self, volume_id: &str) -> Result<u32> {
        let volume = VolumeId::parse("volume_id", volume_id)?;
        Ok(self.node.host.volume_disk_number(&volume)?)
    }

    /// The volume mounted at `target_path`, following links to the mount point.
    pub fn get_volume_id_from_target_path(&self, target_path: &str) -> Result<String> {
        let mut path = self.target("target_path", target_path)?;
        for _ in 0..MAX_LINK_DEPTH {
            match self.node.host.read_link(&path)? {
                Some(LinkTarget::Volume(v)) => return Ok(v.as_str().to_string()),
                Some(LinkTarget::Path(next)) => path = next,
                _ => {
                    return Err(Error::Host(HostError::Failed(format!(
                        "{path} is not a mounted folder"
                    ))));
                }
            }
        }
        Err(Error::Host(HostError::Failed(format!(
            "more than {MAX_LINK_DEPTH} links from {target_path}"
        ))))
    }

    /// The volume holding `target_path`: the nearest mount point at or above
    /// it (following links), else the volume of its drive.
    pub fn get_closest_volume_id_from_target_path(&self, target_path: &str) -> Result<String> {
        let mut path = self.target("target_path", target_path)?;
        let host = &self.node.host;
        for _ in 0..MAX_LINK_DEPTH {
            match host.read_link(&path)? {
                Some(LinkTarget::Volume(v)) => return Ok(v.as_str().to_string()),
                Some(LinkTarget::Path(next)) => path = next,
                Some(LinkTarget::Remote(r)) => {
                    return Err(Error::Host(HostError::Failed(format!(
                        "{path} links to the remote path {r}, which has no local volume"
                    ))));
                }
                None => match path.parent() {
                    Some(parent) => path = parent,
                    None => return Ok(host.drive_volume(path.drive())?.as_str().to_string()),
                },
            }
        }
        Err(Error::Host(HostError::Failed(format!(
            "more than {MAX_LINK_DEPTH} levels below {target_path}"
        ))))
    }

    /// Flushes the volume's write cache.
    pub fn write_volume_cache(&self, volume_id: &str) -> Result<()> {
        let volume = VolumeId::parse("volume_id", volume_id)?;
        Ok(self.node.host.flush_volume(&volume)?)
    }
}
