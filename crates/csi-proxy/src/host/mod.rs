//! The host layer: one trait per API group.
//!
//! Every argument is an already-validated type from [`crate::validate`], so a
//! backend never sees raw request input. Methods are synchronous because the
//! Windows calls (WMI over COM, Win32) block; the gRPC layer runs them on
//! tokio's blocking pool.

pub mod fake;
pub mod process;
#[cfg(windows)]
pub mod win32;
#[cfg(windows)]
pub mod windows;

use std::collections::BTreeMap;

use crate::error::{HostError, HostResult};
use crate::validate::{HostPath, Iqn, Portal, Secret, ServiceName, SmbPath, VolumeId};

/// `Location` parts of a disk (`PCI Slot 3 : Adapter 0 : Port 0 : Target 1 : LUN 0`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiskLocation {
    /// Adapter number.
    pub adapter: String,
    /// Bus number.
    pub bus: String,
    /// Target number.
    pub target: String,
    /// Logical unit number.
    pub lun_id: String,
}

/// Identifiers of a disk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiskIds {
    /// SCSI VPD page 0x83 identifier (ASCII as is, binary as lower-case hex).
    pub page83: String,
    /// `MSFT_Disk.SerialNumber`, verbatim.
    pub serial_number: String,
}

/// Partition sizes used to decide on a resize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionSize {
    /// Current size in bytes.
    pub current: u64,
    /// Largest supported size in bytes.
    pub max: u64,
}

/// Volume capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeStats {
    /// Total size in bytes.
    pub total: u64,
    /// Used bytes.
    pub used: u64,
}

/// What a path is, without following it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkTarget {
    /// A symbolic link or junction to another path.
    Path(HostPath),
    /// A volume mount point.
    Volume(VolumeId),
    /// A link to a remote (SMB) path.
    Remote(String),
}

/// Parses `MSFT_Disk.Location` (`PCI Slot 3 : Adapter 0 : Port 0 : Target 1 : LUN 0`).
///
/// Same rules as upstream: at least five `:`-separated parts; only parts that
/// split into exactly two words count; `Adapter`, `Bus`, `Target` and `LUN`
/// are kept, others ignored. `None` when no part was usable.
pub fn parse_disk_location(location: &str) -> Option<DiskLocation> {
    let parts: Vec<&str> = location.split(':').collect();
    if parts.len() < 5 {
        return None;
    }
    let mut loc = DiskLocation::default();
    let mut seen = false;
    for part in parts {
        let words: Vec<&str> = part.trim().split(' ').collect();
        if words.len() != 2 {
            continue;
        }
        seen = true;
        let value = words[1].to_string();
        match words[0] {
            "Adapter" => loc.adapter = value,
            "Bus" => loc.bus = value,
            "Target" => loc.target = value,
            "LUN" => loc.lun_id = value,
            _ => {}
        }
    }
    seen.then_some(loc)
}

/// Credentials of an SMB global mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmbCredential {
    /// `user` or `domain\user`.
    pub username: String,
    /// The password.
    pub password: Secret,
}

/// CHAP mode of an iSCSI login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IscsiAuth {
    /// No authentication.
    None,
    /// The initiator authenticates to the target.
    OneWayChap,
    /// Both sides authenticate.
    MutualChap,
}

/// An iSCSI login request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IscsiLogin {
    /// Authentication mode.
    pub auth: IscsiAuth,
    /// CHAP user (may be empty).
    pub chap_username: String,
    /// CHAP secret (may be empty).
    pub chap_secret: Secret,
}

/// Start mode of a Windows service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartType {
    /// Boot driver.
    Boot,
    /// System driver.
    System,
    /// Automatic.
    Automatic,
    /// Manual.
    Manual,
    /// Disabled.
    Disabled,
}

/// Current state of a Windows service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceStatus {
    /// Unknown or unmapped.
    Unknown,
    /// Stopped.
    Stopped,
    /// Start pending.
    StartPending,
    /// Stop pending.
    StopPending,
    /// Running.
    Running,
    /// Continue pending.
    ContinuePending,
    /// Pause pending.
    PausePending,
    /// Paused.
    Paused,
}

/// A Windows service as reported by the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Display name.
    pub display_name: String,
    /// Start mode.
    pub start_type: StartType,
    /// Current state.
    pub status: ServiceStatus,
}

/// Disk operations (`MSFT_Disk`, `MSFT_Partition`, IOCTLs).
pub trait DiskHost: Send + Sync {
    /// Every disk's parsed location; disks without parsable location are left out.
    fn list_disk_locations(&self) -> HostResult<BTreeMap<u32, DiskLocation>>;
    /// Every disk's identifiers.
    fn list_disk_ids(&self) -> HostResult<BTreeMap<u32, DiskIds>>;
    /// Whether the disk has a partition style (is not RAW).
    fn is_disk_initialized(&self, disk: u32) -> HostResult<bool>;
    /// Initializes the disk as GPT.
    fn initialize_disk(&self, disk: u32) -> HostResult<()>;
    /// Whether the disk has a partition other than the Microsoft reserved one.
    fn basic_partitions_exist(&self, disk: u32) -> HostResult<bool>;
    /// Creates one basic data partition of maximum size and brings it online.
    fn create_basic_partition(&self, disk: u32) -> HostResult<()>;
    /// Refreshes the host's storage cache.
    fn rescan(&self) -> HostResult<()>;
    /// Disk size in bytes.
    fn disk_size(&self, disk: u32) -> HostResult<u64>;
    /// Whether the disk is online.
    fn is_disk_online(&self, disk: u32) -> HostResult<bool>;
    /// Brings the disk online or offline.
    fn set_disk_online(&self, disk: u32, online: bool) -> HostResult<()>;
}

/// Volume operations (`MSFT_Volume`, mount points).
pub trait VolumeHost: Send + Sync {
    /// Volumes on a disk, on one partition if `partition` is given.
    fn list_volumes_on_disk(&self, disk: u32, partition: Option<u32>) -> HostResult<Vec<VolumeId>>;
    /// Mounts `volume` at the empty directory `target`.
    fn mount_volume(&self, volume: &VolumeId, target: &HostPath) -> HostResult<()>;
    /// Removes the mount point at `target`.
    fn unmount_volume(&self, target: &HostPath) -> HostResult<()>;
    /// Whether the volume has a file system.
    fn is_volume_formatted(&self, volume: &VolumeId) -> HostResult<bool>;
    /// Formats the volume as NTFS (quick, forced).
    fn format_volume(&self, volume: &VolumeId) -> HostResult<()>;
    /// Current and maximum size of the volume's partition.
    fn partition_size(&self, volume: &VolumeId) -> HostResult<PartitionSize>;
    /// Resizes the volume's partition and refreshes its disk.
    fn resize_partition(&self, volume: &VolumeId, size: u64) -> HostResult<()>;
    /// Capacity of the volume.
    fn volume_stats(&self, volume: &VolumeId) -> HostResult<VolumeStats>;
    /// Number of the disk holding the volume.
    fn volume_disk_number(&self, volume: &VolumeId) -> HostResult<u32>;
    /// The volume holding the drive root `X:\`.
    fn drive_volume(&self, drive: char) -> HostResult<VolumeId>;
    /// Flushes the volume's write cache.
    fn flush_volume(&self, volume: &VolumeId) -> HostResult<()>;
}

/// File-system operations.
pub trait FilesystemHost: Send + Sync {
    /// Whether anything exists at `path` (links are not followed).
    fn path_exists(&self, path: &HostPath) -> HostResult<bool>;
    /// Creates `path` and its parents; succeeds if it is already a directory.
    fn mkdir_all(&self, path: &HostPath) -> HostResult<()>;
    /// Removes a directory; with `recursive`, its contents too, never following links.
    fn rmdir(&self, path: &HostPath, recursive: bool) -> HostResult<()>;
    /// Removes everything inside the directory, keeping it.
    fn rmdir_contents(&self, path: &HostPath) -> HostResult<()>;
    /// Creates `link` as a directory symlink to `target`.
    fn create_symlink(&self, target: &HostPath, link: &HostPath) -> HostResult<()>;
    /// What `path` points to if it is a link or mount point; `NotFound` if it does not exist.
    fn read_link(&self, path: &HostPath) -> HostResult<Option<LinkTarget>>;
    /// Whether a link target still exists (a path, or a volume that is present).
    fn link_target_exists(&self, target: &LinkTarget) -> HostResult<bool>;
}

/// SMB global mappings.
pub trait SmbHost: Send + Sync {
    /// Whether a global mapping for the share root exists with status OK.
    fn is_mapped(&self, root: &SmbPath) -> HostResult<bool>;
    /// Whether the mapped share root is reachable (a changed password makes it invalid).
    fn is_path_valid(&self, root: &SmbPath) -> HostResult<bool>;
    /// Creates the global mapping for the share root.
    fn create_mapping(
        &self,
        root: &SmbPath,
        credential: Option<&SmbCredential>,
        require_privacy: bool,
    ) -> HostResult<()>;
    /// Removes the global mapping for the share root.
    fn remove_mapping(&self, root: &SmbPath) -> HostResult<()>;
    /// Creates `local` as a directory symlink to the full remote path.
    fn create_link(&self, remote: &SmbPath, local: &HostPath) -> HostResult<()>;
}

/// iSCSI initiator operations.
pub trait IscsiHost: Send + Sync {
    /// Adds a target portal (idempotent).
    fn add_target_portal(&self, portal: &Portal) -> HostResult<()>;
    /// Target names behind the portal.
    fn discover_targets(&self, portal: &Portal) -> HostResult<Vec<Iqn>>;
    /// Removes a target portal.
    fn remove_target_portal(&self, portal: &Portal) -> HostResult<()>;
    /// Configured portals.
    fn list_target_portals(&self) -> HostResult<Vec<Portal>>;
    /// Whether a session to the target exists.
    fn is_target_connected(&self, portal: &Portal, iqn: &Iqn) -> HostResult<bool>;
    /// Logs in to the target.
    fn connect_target(&self, portal: &Portal, iqn: &Iqn, login: &IscsiLogin) -> HostResult<()>;
    /// Logs out of the target (unregistering a persistent session first).
    fn disconnect_target(&self, portal: &Portal, iqn: &Iqn) -> HostResult<()>;
    /// Disk numbers of a connected target.
    fn target_disks(&self, portal: &Portal, iqn: &Iqn) -> HostResult<Vec<u32>>;
    /// Sets the initiator's mutual CHAP secret.
    fn set_mutual_chap_secret(&self, secret: &Secret) -> HostResult<()>;
}

/// System information and Windows services.
pub trait SystemHost: Send + Sync {
    /// `CIM_BIOSElement.SerialNumber`.
    fn bios_serial_number(&self) -> HostResult<String>;
    /// Service state.
    fn get_service(&self, name: &ServiceName) -> HostResult<ServiceInfo>;
    /// Starts the service and waits until it runs.
    fn start_service(&self, name: &ServiceName) -> HostResult<()>;
    /// Stops the service and waits until it stopped; with `force`, running dependents first.
    fn stop_service(&self, name: &ServiceName, force: bool) -> HostResult<()>;
}

/// Where a path leads, judged by the host rather than by its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The final local path after following every link, junction and
    /// `..`-free mount point on the way (the part that does not exist yet is
    /// appended as written); `None` when the path leads to a remote share.
    pub path: Option<HostPath>,
    /// What the path itself is when it is a reparse point (link, junction or
    /// mount point), as [`FilesystemHost::read_link`] reports it.
    pub link: Option<LinkTarget>,
}

/// Where a path leads after its links are followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    /// A local path.
    Local(HostPath),
    /// A remote (SMB) path.
    Remote(String),
}

/// Windows follows at most 63 reparse points in one path.
pub const MAX_REPARSE: usize = 63;

/// Follows links along `p` as Windows does, one component at a time: a
/// component that is a symlink or junction is replaced by its target (the
/// last one too when `last` is set); a mount point is a directory of another
/// volume and is walked through. `read` says what a path is without following
/// it (`None` for a plain or missing entry). Shared by both backends.
pub fn follow_links(
    p: &HostPath,
    last: bool,
    mut read: impl FnMut(&HostPath) -> HostResult<Option<LinkTarget>>,
) -> HostResult<Followed> {
    let mut pending: Vec<String> = p.components().rev().map(String::from).collect();
    let mut cur = p.drive_root();
    let mut hops = 0;
    while let Some(c) = pending.pop() {
        let next = cur.join(&c).map_err(|e| HostError::Failed(e.to_string()))?;
        if !last && pending.is_empty() {
            return Ok(Followed::Local(next));
        }
        match read(&next)? {
            Some(LinkTarget::Path(t)) => {
                hops += 1;
                if hops > MAX_REPARSE {
                    return Err(HostError::Failed(format!(
                        "The name of the file cannot be resolved by the system: {p}"
                    )));
                }
                pending.extend(t.components().rev().map(String::from));
                cur = t.drive_root();
            }
            Some(LinkTarget::Remote(r)) => {
                let rest: Vec<String> = pending.drain(..).rev().collect();
                let mut full = r.trim_end_matches('\\').to_string();
                for c in rest {
                    full.push('\\');
                    full.push_str(&c);
                }
                return Ok(Followed::Remote(full));
            }
            Some(LinkTarget::Volume(_)) | None => cur = next,
        }
    }
    Ok(Followed::Local(cur))
}

/// Read-only queries the core's guards ask before any destructive call. Kept
/// apart from the group traits so a backend answers them cheaply (Win32, no
/// process) and the fake host logs them separately from the operations.
pub trait InspectHost: Send + Sync {
    /// Volumes that hold the running OS (boot and system partitions) or a page file.
    fn protected_volumes(&self) -> HostResult<Vec<VolumeId>>;
    /// Every access path of the volume: drive roots (`D:\`) and mounted folders.
    fn mount_points(&self, volume: &VolumeId) -> HostResult<Vec<String>>;
    /// Disks that hold part of the volume.
    fn volume_disks(&self, volume: &VolumeId) -> HostResult<Vec<u32>>;
    /// Where `path` leads (see [`Resolved`]); links are followed, never changed.
    fn resolve(&self, path: &HostPath) -> HostResult<Resolved>;
    /// The volume holding the final path of `path` and where it is mounted:
    /// the nearest mount point at or above it, else its drive root.
    fn volume_of(&self, path: &HostPath) -> HostResult<(HostPath, VolumeId)>;
    /// The node's own names and addresses (host name, FQDN, IP addresses),
    /// lower-case, so that SMB mappings back to the node itself are refused.
    fn own_addresses(&self) -> HostResult<Vec<String>>;
}

/// A backend implementing every group.
pub trait Host:
    DiskHost + VolumeHost + FilesystemHost + SmbHost + IscsiHost + SystemHost + InspectHost
{
}

impl<T> Host for T where
    T: DiskHost + VolumeHost + FilesystemHost + SmbHost + IscsiHost + SystemHost + InspectHost
{
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::validate::parse_drive_path;

    fn p(s: &str) -> HostPath {
        parse_drive_path("t", s).unwrap()
    }

    /// The resolution both backends use, over a table of links.
    fn follow(links: &[(&str, LinkTarget)], path: &str, last: bool) -> HostResult<Followed> {
        follow_links(&p(path), last, |q| {
            Ok(links
                .iter()
                .find(|(l, _)| p(l).key() == q.key())
                .map(|(_, t)| t.clone()))
        })
    }

    #[test]
    fn links_in_any_component_are_followed() {
        let links = [
            (r"C:\k\pods\a", LinkTarget::Path(p(r"C:\Windows"))),
            (r"C:\Windows\b", LinkTarget::Path(p(r"D:\x"))),
        ];
        assert_eq!(
            follow(&links, r"C:\k\pods\a\b\c", true).unwrap(),
            Followed::Local(p(r"D:\x\c"))
        );
        // The last component is kept unless asked for.
        assert_eq!(
            follow(&links, r"C:\k\pods\a", false).unwrap(),
            Followed::Local(p(r"C:\k\pods\a"))
        );
        assert_eq!(
            follow(&links, r"C:\k\pods\a", true).unwrap(),
            Followed::Local(p(r"C:\Windows"))
        );
    }

    #[test]
    fn mount_points_are_walked_through_and_remote_links_end_the_walk() {
        let vol = VolumeId::from_guid("0a1b2c3d-0000-4000-8000-000000000009").unwrap();
        let links = [
            (r"C:\k\m", LinkTarget::Volume(vol)),
            (r"C:\k\s", LinkTarget::Remote(r"\\srv\share\".into())),
        ];
        assert_eq!(
            follow(&links, r"C:\k\m\x", true).unwrap(),
            Followed::Local(p(r"C:\k\m\x"))
        );
        assert_eq!(
            follow(&links, r"C:\k\s\x\y", true).unwrap(),
            Followed::Remote(r"\\srv\share\x\y".into())
        );
    }

    #[test]
    fn a_link_loop_is_an_error_not_a_hang() {
        let links = [
            (r"C:\a", LinkTarget::Path(p(r"C:\b"))),
            (r"C:\b", LinkTarget::Path(p(r"C:\a"))),
        ];
        let e = follow(&links, r"C:\a\x", true).unwrap_err();
        assert!(e.to_string().contains("cannot be resolved"), "{e}");
    }
}
