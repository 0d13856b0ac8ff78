//! In-memory host: disks, partitions, volumes, a file tree with links and
//! mount points, SMB mappings, iSCSI portals/targets and services.
//!
//! Used by the tests (every call is recorded, so a test can assert the exact
//! host-call sequence, or that none happened) and by `--fake-host`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use super::{
    DiskHost, DiskIds, DiskLocation, FilesystemHost, Followed, InspectHost, IscsiAuth, IscsiHost,
    IscsiLogin, LinkTarget, PartitionSize, Resolved, ServiceInfo, ServiceStatus, SmbCredential,
    SmbHost, StartType, SystemHost, VolumeHost, VolumeStats, follow_links, parse_disk_location,
};
use crate::error::{HostError, HostResult};
use crate::validate::{
    HostPath, Iqn, Portal, Secret, ServiceName, SmbPath, VolumeId, parse_drive_path,
};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
const RESERVED_SIZE: u64 = 16 * MIB;

/// A disk of the model.
#[derive(Debug, Clone)]
pub struct FakeDisk {
    /// Size in bytes.
    pub size: u64,
    /// Online state.
    pub online: bool,
    /// Whether a partition style (GPT) is set.
    pub initialized: bool,
    /// `MSFT_Disk.Location`.
    pub location: String,
    /// page83 identifier.
    pub page83: String,
    /// Serial number.
    pub serial: String,
    /// Partitions.
    pub partitions: Vec<FakePartition>,
}

/// A partition of the model.
#[derive(Debug, Clone)]
pub struct FakePartition {
    /// Partition number (1-based).
    pub number: u32,
    /// Microsoft reserved partition (not a basic data partition).
    pub reserved: bool,
    /// Size in bytes.
    pub size: u64,
    /// Largest supported size.
    pub max: u64,
    /// Volume on it.
    pub volume: Option<VolumeId>,
    /// Drive letter assigned.
    pub drive_letter: Option<char>,
}

#[derive(Debug, Clone, Default)]
struct FakeVolume {
    formatted: bool,
    used: u64,
    /// Holds the running OS (boot or system partition).
    os: bool,
    /// Holds a page file.
    page_file: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Dir,
    File,
    Link(LinkTarget),
}

#[derive(Debug, Clone)]
struct FakeShare {
    credential: Option<(String, String)>,
}

#[derive(Debug, Clone)]
struct FakeMapping {
    username: Option<String>,
    require_privacy: bool,
    valid: bool,
}

#[derive(Debug, Clone)]
struct FakeTarget {
    iqn: Iqn,
    disks: Vec<u32>,
    chap: Option<(String, String)>,
}

#[derive(Debug, Clone)]
struct FakeService {
    name: String,
    display_name: String,
    start_type: StartType,
    status: ServiceStatus,
    depends_on: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    disks: BTreeMap<u32, FakeDisk>,
    volumes: BTreeMap<VolumeId, FakeVolume>,
    fs: BTreeMap<String, (HostPath, Node)>,
    shares: BTreeMap<String, FakeShare>,
    mappings: BTreeMap<String, FakeMapping>,
    remote_targets: BTreeMap<Portal, Vec<FakeTarget>>,
    portals: BTreeSet<Portal>,
    sessions: BTreeSet<(Portal, Iqn)>,
    mutual_chap_secret: Option<String>,
    services: BTreeMap<String, FakeService>,
    bios_serial: String,
    next_volume: u64,
    own_addresses: Vec<String>,
    fail: BTreeMap<String, String>,
    calls: Vec<String>,
    checks: Vec<String>,
}

/// The in-memory host. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct FakeHost {
    state: Mutex<State>,
}

fn not_found(what: impl Into<String>) -> HostError {
    HostError::NotFound(what.into())
}

fn failed(what: impl Into<String>) -> HostError {
    HostError::Failed(what.into())
}

fn path(s: &str) -> HostPath {
    // Only for literals in the seed; they are valid by construction.
    parse_drive_path("seed", s).unwrap_or_else(|_| unreachable_path())
}

fn unreachable_path() -> HostPath {
    match parse_drive_path("seed", "C:\\") {
        Ok(p) => p,
        Err(_) => unreachable!("C:\\ is a valid path"),
    }
}

fn vol(guid: &str) -> VolumeId {
    match VolumeId::from_guid(guid) {
        Ok(v) => v,
        Err(_) => unreachable!("seed GUIDs are valid"),
    }
}

impl FakeHost {
    /// An empty node with only the `C:\` root.
    pub fn empty() -> FakeHost {
        let host = FakeHost::default();
        {
            let mut s = host.lock();
            let root = path("C:\\");
            s.fs.insert(root.key(), (root, Node::Dir));
            s.bios_serial = "FAKE-BIOS-0001".into();
            s.own_addresses = ["fakenode", "fakenode.example.com", "10.0.0.5", "fe80::5"]
                .map(String::from)
                .to_vec();
        }
        host
    }

    /// A small seeded node: a system disk with `C:`, a formatted data disk
    /// mounted under the kubelet plugin directory, a raw offline disk, the
    /// kubelet directory tree, an SMB share and mapping, an iSCSI portal with
    /// one target, and a few services.
    pub fn seeded() -> FakeHost {
        let host = FakeHost::empty();
        {
            let mut s = host.lock();
            let c_vol = vol("0a1b2c3d-0000-4000-8000-000000000001");
            let data_vol = vol("0a1b2c3d-0000-4000-8000-000000000002");
            s.disks.insert(
                0,
                FakeDisk {
                    size: 128 * GIB,
                    online: true,
                    initialized: true,
                    location: "PCI Slot 0 : Adapter 0 : Port 0 : Target 0 : LUN 0".into(),
                    page83: "6002248071a36bd8c2f8a6b4e1a0f001".into(),
                    serial: "SYSTEM-DISK-0".into(),
                    partitions: vec![
                        FakePartition {
                            number: 1,
                            reserved: true,
                            size: RESERVED_SIZE,
                            max: RESERVED_SIZE,
                            volume: None,
                            drive_letter: None,
                        },
                        FakePartition {
                            number: 2,
                            reserved: false,
                            size: 128 * GIB - RESERVED_SIZE,
                            max: 128 * GIB - RESERVED_SIZE,
                            volume: Some(c_vol.clone()),
                            drive_letter: Some('C'),
                        },
                    ],
                },
            );
            s.disks.insert(
                1,
                FakeDisk {
                    size: 10 * GIB,
                    online: true,
                    initialized: true,
                    location: "PCI Slot 3 : Adapter 1 : Port 0 : Target 0 : LUN 1".into(),
                    page83: "6002248071a36bd8c2f8a6b4e1a0f002".into(),
                    serial: "DATA-DISK-1".into(),
                    partitions: vec![FakePartition {
                        number: 1,
                        reserved: false,
                        size: 8 * GIB,
                        max: 10 * GIB - MIB,
                        volume: Some(data_vol.clone()),
                        drive_letter: None,
                    }],
                },
            );
            s.disks.insert(
                2,
                FakeDisk {
                    size: 5 * GIB,
                    online: false,
                    initialized: false,
                    location: "PCI Slot 3 : Adapter 1 : Port 0 : Target 0 : LUN 2".into(),
                    page83: "6002248071a36bd8c2f8a6b4e1a0f003".into(),
                    serial: "DATA-DISK-2".into(),
                    partitions: vec![],
                },
            );
            s.volumes.insert(
                c_vol,
                FakeVolume {
                    formatted: true,
                    used: 40 * GIB,
                    os: true,
                    page_file: true,
                },
            );
            s.volumes.insert(
                data_vol.clone(),
                FakeVolume {
                    formatted: true,
                    used: GIB,
                    ..FakeVolume::default()
                },
            );
            for d in [
                "C:\\var",
                "C:\\var\\lib",
                "C:\\var\\lib\\kubelet",
                "C:\\var\\lib\\kubelet\\plugins",
                "C:\\var\\lib\\kubelet\\pods",
                "C:\\var\\lib\\kubelet\\plugins\\disk.csi.example.com",
                "C:\\var\\lib\\kubelet\\plugins\\disk.csi.example.com\\pv-1",
                "C:\\var\\lib\\kubelet\\plugins\\smb.csi.example.com",
            ] {
                let p = path(d);
                s.fs.insert(p.key(), (p, Node::Dir));
            }
            let mount =
                path("C:\\var\\lib\\kubelet\\plugins\\disk.csi.example.com\\pv-1\\globalmount");
            s.fs.insert(
                mount.key(),
                (mount, Node::Link(LinkTarget::Volume(data_vol))),
            );
            s.shares.insert(
                "\\\\fileserver\\share".into(),
                FakeShare {
                    credential: Some(("EXAMPLE\\smbuser".into(), "s3cret".into())),
                },
            );
            s.shares.insert(
                "\\\\fileserver\\public".into(),
                FakeShare { credential: None },
            );
            s.mappings.insert(
                "\\\\fileserver\\share".into(),
                FakeMapping {
                    username: Some("EXAMPLE\\smbuser".into()),
                    require_privacy: true,
                    valid: true,
                },
            );
            if let Ok(portal) = Portal::new("10.0.0.10", 3260) {
                if let Ok(iqn) = Iqn::parse("iqn", "iqn.2003-01.org.example:target1") {
                    s.remote_targets.insert(
                        portal.clone(),
                        vec![FakeTarget {
                            iqn,
                            disks: vec![3],
                            chap: None,
                        }],
                    );
                }
                s.portals.insert(portal);
            }
            for (name, display, start, status, deps) in [
                (
                    "Winmgmt",
                    "Windows Management Instrumentation",
                    StartType::Automatic,
                    ServiceStatus::Running,
                    vec![],
                ),
                (
                    "MSiSCSI",
                    "Microsoft iSCSI Initiator Service",
                    StartType::Manual,
                    ServiceStatus::Stopped,
                    vec![],
                ),
                (
                    "csiproxy",
                    "winkube CSI proxy",
                    StartType::Automatic,
                    ServiceStatus::Running,
                    vec!["winmgmt".to_string()],
                ),
            ] {
                s.services.insert(
                    name.to_ascii_lowercase(),
                    FakeService {
                        name: name.into(),
                        display_name: display.into(),
                        start_type: start,
                        status,
                        depends_on: deps,
                    },
                );
            }
        }
        host
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a consistent model: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, call: String) -> HostResult<MutexGuard<'_, State>> {
        let mut s = self.lock();
        let op = call.split('(').next().unwrap_or_default().to_string();
        s.calls.push(call);
        match s.fail.get(&op) {
            Some(msg) => Err(failed(msg.clone())),
            None => Ok(s),
        }
    }

    /// Records a read-only guard query ([`InspectHost`]) in its own log.
    fn inspect(&self, call: String) -> HostResult<MutexGuard<'_, State>> {
        let mut s = self.lock();
        let op = call.split('(').next().unwrap_or_default().to_string();
        s.checks.push(call);
        match s.fail.get(&op) {
            Some(msg) => Err(failed(msg.clone())),
            None => Ok(s),
        }
    }

    /// Every guard query so far ([`InspectHost`]), in order, e.g. `inspect.resolve(C:\x)`.
    pub fn checks(&self) -> Vec<String> {
        self.lock().checks.clone()
    }

    /// Every host call so far, in order, e.g. `disk.initialize(2)`.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        let mut s = self.lock();
        s.calls.clear();
        s.checks.clear();
    }

    /// Makes every later call of `op` (e.g. `"disk.rescan"`) fail with `message`.
    pub fn fail_on(&self, op: &str, message: &str) {
        self.lock().fail.insert(op.to_string(), message.to_string());
    }

    /// Adds or replaces a disk.
    pub fn add_disk(&self, number: u32, disk: FakeDisk) {
        self.lock().disks.insert(number, disk);
    }

    /// Adds a directory (and its parents).
    pub fn add_dir(&self, p: &HostPath) {
        let mut s = self.lock();
        let mut chain = vec![p.clone()];
        while let Some(parent) = chain.last().and_then(HostPath::parent) {
            chain.push(parent);
        }
        for d in chain.into_iter().rev() {
            s.fs.entry(d.key()).or_insert((d, Node::Dir));
        }
    }

    /// Adds a link at `link` (as a pod, the kubelet or a driver could leave one).
    pub fn add_link(&self, link: &HostPath, target: LinkTarget) {
        self.lock()
            .fs
            .insert(link.key(), (link.clone(), Node::Link(target)));
    }

    /// Marks the volume as holding a page file.
    pub fn add_page_file(&self, volume: &VolumeId) {
        if let Some(v) = self.lock().volumes.get_mut(volume) {
            v.page_file = true;
        }
    }

    /// Adds a regular file.
    pub fn add_file(&self, p: &HostPath) {
        self.lock().fs.insert(p.key(), (p.clone(), Node::File));
    }

    /// Adds a remote SMB share, optionally requiring credentials.
    pub fn add_share(&self, root: &str, credential: Option<(&str, &str)>) {
        self.lock().shares.insert(
            root.to_lowercase(),
            FakeShare {
                credential: credential.map(|(u, p)| (u.to_string(), p.to_string())),
            },
        );
    }

    /// Marks an existing mapping as no longer reachable (password changed).
    pub fn invalidate_mapping(&self, root: &str) {
        if let Some(m) = self.lock().mappings.get_mut(&root.to_lowercase()) {
            m.valid = false;
        }
    }

    /// Adds a remote iSCSI target behind `portal`.
    pub fn add_remote_target(
        &self,
        portal: &Portal,
        iqn: &Iqn,
        disks: Vec<u32>,
        chap: Option<(&str, &str)>,
    ) {
        self.lock()
            .remote_targets
            .entry(portal.clone())
            .or_default()
            .push(FakeTarget {
                iqn: iqn.clone(),
                disks,
                chap: chap.map(|(u, p)| (u.to_string(), p.to_string())),
            });
    }

    /// A snapshot of the observable state, for "nothing changed" assertions.
    pub fn snapshot(&self) -> String {
        let s = self.lock();
        format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            s.disks,
            s.volumes,
            s.fs,
            s.mappings,
            s.portals,
            s.sessions,
            s.mutual_chap_secret,
            s.services
        )
    }

    /// The SMB mapping of a share root: user name and privacy flag.
    pub fn mapping(&self, root: &str) -> Option<(Option<String>, bool)> {
        self.lock()
            .mappings
            .get(&root.to_lowercase())
            .map(|m| (m.username.clone(), m.require_privacy))
    }

    /// What is at `p` in the file tree (`"dir"`, `"file"`, `"link:<target>"`).
    pub fn node(&self, p: &str) -> Option<String> {
        self.lock()
            .fs
            .get(&p.to_ascii_lowercase())
            .map(|(_, n)| match n {
                Node::Dir => "dir".to_string(),
                Node::File => "file".to_string(),
                Node::Link(LinkTarget::Path(t)) => format!("link:{t}"),
                Node::Link(LinkTarget::Volume(v)) => format!("mount:{v}"),
                Node::Link(LinkTarget::Remote(r)) => format!("link:{r}"),
            })
    }
}

impl State {
    fn disk(&self, n: u32) -> HostResult<&FakeDisk> {
        self.disks
            .get(&n)
            .ok_or_else(|| not_found(format!("disk {n}")))
    }

    fn disk_mut(&mut self, n: u32) -> HostResult<&mut FakeDisk> {
        self.disks
            .get_mut(&n)
            .ok_or_else(|| not_found(format!("disk {n}")))
    }

    fn partition_of(&self, v: &VolumeId) -> HostResult<(u32, &FakePartition)> {
        self.disks
            .iter()
            .find_map(|(n, d)| {
                d.partitions
                    .iter()
                    .find(|p| p.volume.as_ref() == Some(v))
                    .map(|p| (*n, p))
            })
            .ok_or_else(|| not_found(format!("volume {v}")))
    }

    fn children(&self, dir: &HostPath) -> Vec<String> {
        let prefix = format!("{}\\", dir.key().trim_end_matches('\\'));
        self.fs
            .keys()
            .filter(|k| k.starts_with(&prefix) && k.len() > prefix.len())
            .cloned()
            .collect()
    }

    fn node(&self, p: &HostPath) -> HostResult<&Node> {
        self.fs
            .get(&p.key())
            .map(|(_, n)| n)
            .ok_or_else(|| not_found(format!("path {p}")))
    }

    /// Follows links along `p` in the model (see [`follow_links`]).
    fn follow(&self, p: &HostPath, last: bool) -> HostResult<Followed> {
        follow_links(p, last, |q| {
            Ok(match self.fs.get(&q.key()) {
                Some((_, Node::Link(t))) => Some(t.clone()),
                _ => None,
            })
        })
    }

    /// `p` with the links in its parents followed: the entry an operation on `p` touches.
    fn real(&self, p: &HostPath) -> HostResult<HostPath> {
        match self.follow(p, false)? {
            Followed::Local(r) => Ok(r),
            Followed::Remote(r) => Err(failed(format!("{p} is on the remote share {r}"))),
        }
    }

    fn require_parent_dir(&self, p: &HostPath) -> HostResult<()> {
        match p.parent() {
            Some(parent) => match self.node(&parent)? {
                Node::Dir | Node::Link(LinkTarget::Volume(_)) => Ok(()),
                _ => Err(failed(format!("{parent} is not a directory"))),
            },
            None => Ok(()),
        }
    }
}

impl DiskHost for FakeHost {
    fn list_disk_locations(&self) -> HostResult<BTreeMap<u32, DiskLocation>> {
        let s = self.record("disk.list_locations()".into())?;
        Ok(s.disks
            .iter()
            .filter_map(|(n, d)| parse_disk_location(&d.location).map(|l| (*n, l)))
            .collect())
    }

    fn list_disk_ids(&self) -> HostResult<BTreeMap<u32, DiskIds>> {
        let s = self.record("disk.list_ids()".into())?;
        Ok(s.disks
            .iter()
            .map(|(n, d)| {
                (
                    *n,
                    DiskIds {
                        page83: d.page83.clone(),
                        serial_number: d.serial.clone(),
                    },
                )
            })
            .collect())
    }

    fn is_disk_initialized(&self, disk: u32) -> HostResult<bool> {
        let s = self.record(format!("disk.is_initialized({disk})"))?;
        Ok(s.disk(disk)?.initialized)
    }

    fn initialize_disk(&self, disk: u32) -> HostResult<()> {
        let mut s = self.record(format!("disk.initialize({disk})"))?;
        let d = s.disk_mut(disk)?;
        if d.initialized {
            return Err(failed(format!("disk {disk} is already initialized")));
        }
        d.initialized = true;
        d.partitions.push(FakePartition {
            number: 1,
            reserved: true,
            size: RESERVED_SIZE,
            max: RESERVED_SIZE,
            volume: None,
            drive_letter: None,
        });
        Ok(())
    }

    fn basic_partitions_exist(&self, disk: u32) -> HostResult<bool> {
        let s = self.record(format!("disk.basic_partitions_exist({disk})"))?;
        Ok(s.disk(disk)?.partitions.iter().any(|p| !p.reserved))
    }

    fn create_basic_partition(&self, disk: u32) -> HostResult<()> {
        let mut s = self.record(format!("disk.create_basic_partition({disk})"))?;
        s.next_volume += 1;
        let guid = format!("f0000000-0000-4000-8000-{:012x}", s.next_volume);
        let volume = VolumeId::from_guid(&guid).map_err(|e| failed(e.to_string()))?;
        let d = s.disk_mut(disk)?;
        if !d.initialized {
            return Err(failed(format!("disk {disk} is not initialized")));
        }
        if !d.online {
            return Err(failed(format!("disk {disk} is offline")));
        }
        let used: u64 = d.partitions.iter().map(|p| p.size).sum();
        let size = d.size.saturating_sub(used).saturating_sub(MIB);
        let number = d.partitions.iter().map(|p| p.number).max().unwrap_or(0) + 1;
        d.partitions.push(FakePartition {
            number,
            reserved: false,
            size,
            max: size,
            volume: Some(volume.clone()),
            drive_letter: None,
        });
        s.volumes.insert(volume, FakeVolume::default());
        Ok(())
    }

    fn rescan(&self) -> HostResult<()> {
        self.record("disk.rescan()".into()).map(drop)
    }

    fn disk_size(&self, disk: u32) -> HostResult<u64> {
        let s = self.record(format!("disk.size({disk})"))?;
        Ok(s.disk(disk)?.size)
    }

    fn is_disk_online(&self, disk: u32) -> HostResult<bool> {
        let s = self.record(format!("disk.is_online({disk})"))?;
        Ok(s.disk(disk)?.online)
    }

    fn set_disk_online(&self, disk: u32, online: bool) -> HostResult<()> {
        let mut s = self.record(format!("disk.set_online({disk}, {online})"))?;
        s.disk_mut(disk)?.online = online;
        Ok(())
    }
}

impl VolumeHost for FakeHost {
    fn list_volumes_on_disk(&self, disk: u32, partition: Option<u32>) -> HostResult<Vec<VolumeId>> {
        let s = self.record(format!("volume.list_on_disk({disk}, {partition:?})"))?;
        Ok(s.disk(disk)?
            .partitions
            .iter()
            .filter(|p| partition.is_none_or(|n| n == p.number))
            .filter_map(|p| p.volume.clone())
            .collect())
    }

    fn mount_volume(&self, volume: &VolumeId, target: &HostPath) -> HostResult<()> {
        let mut s = self.record(format!("volume.mount({volume}, {target})"))?;
        if !s.volumes.contains_key(volume) {
            return Err(not_found(format!("volume {volume}")));
        }
        let target = &s.real(target)?;
        match s.node(target)? {
            Node::Dir => {}
            _ => return Err(failed(format!("{target} is not an empty directory"))),
        }
        if !s.children(target).is_empty() {
            return Err(failed(format!("The directory is not empty: {target}")));
        }
        s.fs.insert(
            target.key(),
            (
                target.clone(),
                Node::Link(LinkTarget::Volume(volume.clone())),
            ),
        );
        Ok(())
    }

    fn unmount_volume(&self, target: &HostPath) -> HostResult<()> {
        let mut s = self.record(format!("volume.unmount({target})"))?;
        let target = &s.real(target)?;
        match s.node(target)? {
            Node::Link(LinkTarget::Volume(_)) => {
                s.fs.insert(target.key(), (target.clone(), Node::Dir));
                Ok(())
            }
            _ => Err(failed(format!("{target} is not a volume mount point"))),
        }
    }

    fn is_volume_formatted(&self, volume: &VolumeId) -> HostResult<bool> {
        let s = self.record(format!("volume.is_formatted({volume})"))?;
        s.volumes
            .get(volume)
            .map(|v| v.formatted)
            .ok_or_else(|| not_found(format!("volume {volume}")))
    }

    fn format_volume(&self, volume: &VolumeId) -> HostResult<()> {
        let mut s = self.record(format!("volume.format({volume})"))?;
        let v = s
            .volumes
            .get_mut(volume)
            .ok_or_else(|| not_found(format!("volume {volume}")))?;
        v.formatted = true;
        v.used = 64 * MIB;
        Ok(())
    }

    fn partition_size(&self, volume: &VolumeId) -> HostResult<PartitionSize> {
        let s = self.record(format!("volume.partition_size({volume})"))?;
        let (_, p) = s.partition_of(volume)?;
        Ok(PartitionSize {
            current: p.size,
            max: p.max,
        })
    }

    fn resize_partition(&self, volume: &VolumeId, size: u64) -> HostResult<()> {
        let mut s = self.record(format!("volume.resize_partition({volume}, {size})"))?;
        let (disk, number) = {
            let (d, p) = s.partition_of(volume)?;
            (d, p.number)
        };
        let part = s
            .disk_mut(disk)?
            .partitions
            .iter_mut()
            .find(|p| p.number == number)
            .ok_or_else(|| not_found(format!("partition of {volume}")))?;
        if size > part.max {
            return Err(failed(format!(
                "Size Not Supported: {size} is above the maximum {}",
                part.max
            )));
        }
        part.size = size;
        Ok(())
    }

    fn volume_stats(&self, volume: &VolumeId) -> HostResult<VolumeStats> {
        let s = self.record(format!("volume.stats({volume})"))?;
        let (_, p) = s.partition_of(volume)?;
        let used = s.volumes.get(volume).map(|v| v.used).unwrap_or(0);
        Ok(VolumeStats {
            total: p.size,
            used,
        })
    }

    fn volume_disk_number(&self, volume: &VolumeId) -> HostResult<u32> {
        let s = self.record(format!("volume.disk_number({volume})"))?;
        s.partition_of(volume).map(|(d, _)| d)
    }

    fn drive_volume(&self, drive: char) -> HostResult<VolumeId> {
        let s = self.record(format!("volume.drive_volume({drive})"))?;
        s.disks
            .values()
            .flat_map(|d| d.partitions.iter())
            .find(|p| p.drive_letter == Some(drive))
            .and_then(|p| p.volume.clone())
            .ok_or_else(|| not_found(format!("volume of drive {drive}:")))
    }

    fn flush_volume(&self, volume: &VolumeId) -> HostResult<()> {
        let s = self.record(format!("volume.flush({volume})"))?;
        if s.volumes.contains_key(volume) {
            Ok(())
        } else {
            Err(not_found(format!("volume {volume}")))
        }
    }
}

impl FilesystemHost for FakeHost {
    fn path_exists(&self, p: &HostPath) -> HostResult<bool> {
        let s = self.record(format!("fs.exists({p})"))?;
        let p = s.real(p)?;
        Ok(s.fs.contains_key(&p.key()))
    }

    fn mkdir_all(&self, p: &HostPath) -> HostResult<()> {
        let mut s = self.record(format!("fs.mkdir_all({p})"))?;
        let mut chain = vec![s.real(p)?];
        while let Some(parent) = chain.last().and_then(HostPath::parent) {
            chain.push(parent);
        }
        for d in chain.into_iter().rev() {
            match s.fs.get(&d.key()) {
                None => {
                    s.fs.insert(d.key(), (d, Node::Dir));
                }
                Some((_, Node::Dir | Node::Link(LinkTarget::Volume(_)))) => {}
                Some(_) => return Err(failed(format!("{d} exists and is not a directory"))),
            }
        }
        Ok(())
    }

    fn rmdir(&self, p: &HostPath, recursive: bool) -> HostResult<()> {
        let mut s = self.record(format!("fs.rmdir({p}, recursive={recursive})"))?;
        let p = &s.real(p)?;
        match s.node(p)? {
            Node::Link(_) => {
                // Removing a link or mount point never touches what it points to.
                s.fs.remove(&p.key());
                Ok(())
            }
            Node::File => Err(failed(format!("{p} is not a directory"))),
            Node::Dir => {
                let children = s.children(p);
                if !children.is_empty() && !recursive {
                    return Err(failed(format!("The directory is not empty: {p}")));
                }
                for c in children {
                    s.fs.remove(&c);
                }
                s.fs.remove(&p.key());
                Ok(())
            }
        }
    }

    fn rmdir_contents(&self, p: &HostPath) -> HostResult<()> {
        let mut s = self.record(format!("fs.rmdir_contents({p})"))?;
        let p = &s.real(p)?;
        match s.node(p)? {
            Node::Dir | Node::Link(LinkTarget::Volume(_)) => {
                for c in s.children(p) {
                    s.fs.remove(&c);
                }
                Ok(())
            }
            _ => Err(failed(format!("{p} is not a directory"))),
        }
    }

    fn create_symlink(&self, target: &HostPath, link: &HostPath) -> HostResult<()> {
        let mut s = self.record(format!("fs.symlink({target} <- {link})"))?;
        let link = &s.real(link)?;
        if s.fs.contains_key(&link.key()) {
            return Err(failed(format!(
                "Cannot create a file when that file already exists: {link}"
            )));
        }
        s.require_parent_dir(link)?;
        s.fs.insert(
            link.key(),
            (link.clone(), Node::Link(LinkTarget::Path(target.clone()))),
        );
        Ok(())
    }

    fn read_link(&self, p: &HostPath) -> HostResult<Option<LinkTarget>> {
        let s = self.record(format!("fs.read_link({p})"))?;
        let p = &s.real(p)?;
        Ok(match s.node(p)? {
            Node::Link(t) => Some(t.clone()),
            _ => None,
        })
    }

    fn link_target_exists(&self, target: &LinkTarget) -> HostResult<bool> {
        let s = self.record(format!("fs.target_exists({target:?})"))?;
        Ok(match target {
            LinkTarget::Path(p) => s.fs.contains_key(&p.key()),
            LinkTarget::Volume(v) => s.volumes.contains_key(v),
            LinkTarget::Remote(r) => s.mappings.keys().any(|m| r.to_lowercase().starts_with(m)),
        })
    }
}

impl InspectHost for FakeHost {
    fn protected_volumes(&self) -> HostResult<Vec<VolumeId>> {
        let s = self.inspect("inspect.protected_volumes()".into())?;
        Ok(s.volumes
            .iter()
            .filter(|(_, v)| v.os || v.page_file)
            .map(|(id, _)| id.clone())
            .collect())
    }

    fn mount_points(&self, volume: &VolumeId) -> HostResult<Vec<String>> {
        let s = self.inspect(format!("inspect.mount_points({volume})"))?;
        let drives = s
            .disks
            .values()
            .flat_map(|d| d.partitions.iter())
            .filter(|p| p.volume.as_ref() == Some(volume))
            .filter_map(|p| p.drive_letter.map(|l| format!("{l}:\\")));
        let folders = s.fs.values().filter_map(|(p, n)| match n {
            Node::Link(LinkTarget::Volume(v)) if v == volume => Some(p.to_string()),
            _ => None,
        });
        Ok(drives.chain(folders).collect())
    }

    fn volume_disks(&self, volume: &VolumeId) -> HostResult<Vec<u32>> {
        let s = self.inspect(format!("inspect.volume_disks({volume})"))?;
        Ok(vec![s.partition_of(volume)?.0])
    }

    fn resolve(&self, p: &HostPath) -> HostResult<Resolved> {
        let s = self.inspect(format!("inspect.resolve({p})"))?;
        let link = match s.follow(p, false)? {
            Followed::Local(q) => match s.fs.get(&q.key()) {
                Some((_, Node::Link(t))) => Some(t.clone()),
                _ => None,
            },
            Followed::Remote(_) => None,
        };
        let path = match s.follow(p, true)? {
            Followed::Local(r) => Some(r),
            Followed::Remote(_) => None,
        };
        Ok(Resolved { path, link })
    }

    fn volume_of(&self, p: &HostPath) -> HostResult<(HostPath, VolumeId)> {
        let s = self.inspect(format!("inspect.volume_of({p})"))?;
        let Followed::Local(mut cur) = s.follow(p, true)? else {
            return Err(failed(format!("{p} is on a remote share")));
        };
        loop {
            if let Some((_, Node::Link(LinkTarget::Volume(v)))) = s.fs.get(&cur.key()) {
                return Ok((cur, v.clone()));
            }
            match cur.parent() {
                Some(parent) => cur = parent,
                None => break,
            }
        }
        let drive = cur.drive();
        s.disks
            .values()
            .flat_map(|d| d.partitions.iter())
            .find(|p| p.drive_letter == Some(drive))
            .and_then(|p| p.volume.clone())
            .map(|v| (cur, v))
            .ok_or_else(|| not_found(format!("volume of drive {drive}:")))
    }

    fn own_addresses(&self) -> HostResult<Vec<String>> {
        let s = self.inspect("inspect.own_addresses()".into())?;
        Ok(s.own_addresses.clone())
    }
}

impl SmbHost for FakeHost {
    fn is_mapped(&self, root: &SmbPath) -> HostResult<bool> {
        let s = self.record(format!("smb.is_mapped({})", root.root()))?;
        Ok(s.mappings.contains_key(root.root()))
    }

    fn is_path_valid(&self, root: &SmbPath) -> HostResult<bool> {
        let s = self.record(format!("smb.is_path_valid({})", root.root()))?;
        Ok(s.mappings.get(root.root()).is_some_and(|m| m.valid))
    }

    fn create_mapping(
        &self,
        root: &SmbPath,
        credential: Option<&SmbCredential>,
        require_privacy: bool,
    ) -> HostResult<()> {
        let mut s = self.record(format!(
            "smb.create_mapping({}, user={:?}, require_privacy={require_privacy})",
            root.root(),
            credential.map(|c| c.username.as_str())
        ))?;
        let share = s
            .shares
            .get(root.root())
            .ok_or_else(|| failed(format!("The network name cannot be found: {}", root.root())))?;
        if let Some((user, password)) = &share.credential {
            let ok = credential.is_some_and(|c| {
                c.username.eq_ignore_ascii_case(user) && c.password.expose() == password
            });
            if !ok {
                return Err(failed("Access is denied."));
            }
        }
        if s.mappings.contains_key(root.root()) {
            return Err(failed(format!(
                "The local device name is already in use: {}",
                root.root()
            )));
        }
        s.mappings.insert(
            root.root().to_string(),
            FakeMapping {
                username: credential.map(|c| c.username.clone()),
                require_privacy,
                valid: true,
            },
        );
        Ok(())
    }

    fn remove_mapping(&self, root: &SmbPath) -> HostResult<()> {
        let mut s = self.record(format!("smb.remove_mapping({})", root.root()))?;
        s.mappings
            .remove(root.root())
            .map(drop)
            .ok_or_else(|| not_found(format!("SMB global mapping {}", root.root())))
    }

    fn create_link(&self, remote: &SmbPath, local: &HostPath) -> HostResult<()> {
        let mut s = self.record(format!("smb.create_link({} <- {local})", remote.full()))?;
        let local = &s.real(local)?;
        if s.fs.contains_key(&local.key()) {
            return Err(failed(format!(
                "Cannot create a file when that file already exists: {local}"
            )));
        }
        s.require_parent_dir(local)?;
        s.fs.insert(
            local.key(),
            (
                local.clone(),
                Node::Link(LinkTarget::Remote(remote.full().to_string())),
            ),
        );
        Ok(())
    }
}

impl IscsiHost for FakeHost {
    fn add_target_portal(&self, portal: &Portal) -> HostResult<()> {
        let mut s = self.record(format!(
            "iscsi.add_portal({}:{})",
            portal.address(),
            portal.port()
        ))?;
        s.portals.insert(portal.clone());
        Ok(())
    }

    fn discover_targets(&self, portal: &Portal) -> HostResult<Vec<Iqn>> {
        let s = self.record(format!(
            "iscsi.discover({}:{})",
            portal.address(),
            portal.port()
        ))?;
        if !s.portals.contains(portal) {
            return Err(not_found(format!(
                "target portal {}:{}",
                portal.address(),
                portal.port()
            )));
        }
        Ok(s.remote_targets
            .get(portal)
            .map(|ts| ts.iter().map(|t| t.iqn.clone()).collect())
            .unwrap_or_default())
    }

    fn remove_target_portal(&self, portal: &Portal) -> HostResult<()> {
        let mut s = self.record(format!(
            "iscsi.remove_portal({}:{})",
            portal.address(),
            portal.port()
        ))?;
        if s.portals.remove(portal) {
            Ok(())
        } else {
            Err(not_found(format!(
                "target portal {}:{}",
                portal.address(),
                portal.port()
            )))
        }
    }

    fn list_target_portals(&self) -> HostResult<Vec<Portal>> {
        let s = self.record("iscsi.list_portals()".into())?;
        Ok(s.portals.iter().cloned().collect())
    }

    fn is_target_connected(&self, portal: &Portal, iqn: &Iqn) -> HostResult<bool> {
        let s = self.record(format!(
            "iscsi.is_connected({}:{}, {})",
            portal.address(),
            portal.port(),
            iqn.as_str()
        ))?;
        Ok(s.sessions.contains(&(portal.clone(), iqn.clone())))
    }

    fn connect_target(&self, portal: &Portal, iqn: &Iqn, login: &IscsiLogin) -> HostResult<()> {
        let mut s = self.record(format!(
            "iscsi.connect({}:{}, {}, {:?}, user={:?})",
            portal.address(),
            portal.port(),
            iqn.as_str(),
            login.auth,
            login.chap_username
        ))?;
        if !s.portals.contains(portal) {
            return Err(not_found(format!(
                "target portal {}:{}",
                portal.address(),
                portal.port()
            )));
        }
        let target = s
            .remote_targets
            .get(portal)
            .and_then(|ts| ts.iter().find(|t| &t.iqn == iqn))
            .ok_or_else(|| not_found(format!("target {}", iqn.as_str())))?;
        if let Some((user, secret)) = &target.chap {
            let ok = login.auth != IscsiAuth::None
                && &login.chap_username == user
                && login.chap_secret.expose() == secret;
            if !ok {
                return Err(failed("Authentication Failure."));
            }
        }
        s.sessions.insert((portal.clone(), iqn.clone()));
        Ok(())
    }

    fn disconnect_target(&self, portal: &Portal, iqn: &Iqn) -> HostResult<()> {
        let mut s = self.record(format!(
            "iscsi.disconnect({}:{}, {})",
            portal.address(),
            portal.port(),
            iqn.as_str()
        ))?;
        s.sessions.remove(&(portal.clone(), iqn.clone()));
        Ok(())
    }

    fn target_disks(&self, portal: &Portal, iqn: &Iqn) -> HostResult<Vec<u32>> {
        let s = self.record(format!(
            "iscsi.target_disks({}:{}, {})",
            portal.address(),
            portal.port(),
            iqn.as_str()
        ))?;
        Ok(s.remote_targets
            .get(portal)
            .and_then(|ts| ts.iter().find(|t| &t.iqn == iqn))
            .map(|t| t.disks.clone())
            .unwrap_or_default())
    }

    fn set_mutual_chap_secret(&self, secret: &Secret) -> HostResult<()> {
        let mut s = self.record("iscsi.set_mutual_chap_secret(<redacted>)".into())?;
        s.mutual_chap_secret = Some(secret.expose().to_string());
        Ok(())
    }
}

impl SystemHost for FakeHost {
    fn bios_serial_number(&self) -> HostResult<String> {
        let s = self.record("system.bios_serial()".into())?;
        Ok(s.bios_serial.clone())
    }

    fn get_service(&self, name: &ServiceName) -> HostResult<ServiceInfo> {
        let s = self.record(format!("system.get_service({})", name.as_str()))?;
        s.services
            .get(&name.key())
            .map(|svc| ServiceInfo {
                display_name: svc.display_name.clone(),
                start_type: svc.start_type,
                status: svc.status,
            })
            .ok_or_else(|| not_found(format!("service {}", name.as_str())))
    }

    fn start_service(&self, name: &ServiceName) -> HostResult<()> {
        let mut s = self.record(format!("system.start_service({})", name.as_str()))?;
        let svc = s
            .services
            .get_mut(&name.key())
            .ok_or_else(|| not_found(format!("service {}", name.as_str())))?;
        if svc.start_type == StartType::Disabled {
            return Err(failed(format!("service {} is disabled", svc.name)));
        }
        svc.status = ServiceStatus::Running;
        Ok(())
    }

    fn stop_service(&self, name: &ServiceName, force: bool) -> HostResult<()> {
        let mut s = self.record(format!(
            "system.stop_service({}, force={force})",
            name.as_str()
        ))?;
        let key = name.key();
        if !s.services.contains_key(&key) {
            return Err(not_found(format!("service {}", name.as_str())));
        }
        // Running dependents, deepest first.
        let mut order = Vec::new();
        let mut stack = vec![key.clone()];
        while let Some(k) = stack.pop() {
            for (dk, d) in &s.services {
                if d.depends_on.contains(&k)
                    && d.status == ServiceStatus::Running
                    && !order.contains(dk)
                {
                    order.push(dk.clone());
                    stack.push(dk.clone());
                }
            }
        }
        if !order.is_empty() && !force {
            return Err(failed(format!(
                "service {} has running dependent services",
                name.as_str()
            )));
        }
        for k in order.iter().rev().chain(std::iter::once(&key)) {
            if let Some(svc) = s.services.get_mut(k) {
                svc.status = ServiceStatus::Stopped;
            }
        }
        Ok(())
    }
}
