//! The Windows host backend.
//!
//! File-system work (directories, links, reparse points) uses `std::fs`
//! directly. Storage, SMB, iSCSI and service work runs fixed PowerShell
//! scripts: every value travels **out of band** as an environment variable of
//! the child process (`$Env:CSI_*`), never formatted into the script or into a
//! WQL string. Integers are passed the same way and cast in the script. This
//! is parameter binding, the fix for CVE-2023-3893, applied everywhere; and the
//! values were validated (`crate::validate`) before they got here.
//!
//! A WMI (COM) backend would use less CPU per call (upstream v1.3 moved to
//! WMI for that reason); it can replace these scripts one trait method at a
//! time without changing any caller.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::os::windows::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use super::{
    DiskHost, DiskIds, DiskLocation, FilesystemHost, Followed, InspectHost, IscsiAuth, IscsiHost,
    IscsiLogin, LinkTarget, PartitionSize, Resolved, ServiceInfo, ServiceStatus, SmbCredential,
    SmbHost, StartType, SystemHost, VolumeHost, VolumeStats, follow_links, parse_disk_location,
};
use crate::error::{HostError, HostResult};
use crate::validate::{
    HostPath, Iqn, Portal, Secret, ServiceName, SmbPath, VolumeId, parse_drive_path,
};

const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;

/// The real host.
#[derive(Debug, Default, Clone)]
pub struct WindowsHost {
    _private: (),
}

impl WindowsHost {
    /// A backend for the local machine.
    pub fn new() -> Self {
        WindowsHost::default()
    }
}

/// Scripts running at once, at most (upstream ran up to one per request: 512).
const MAX_SCRIPTS: usize = 8;
/// A script still running after this long (queueing included) is killed.
const SCRIPT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

static RUNNER: std::sync::LazyLock<super::process::Runner> =
    std::sync::LazyLock::new(|| super::process::Runner::new(MAX_SCRIPTS, SCRIPT_DEADLINE));

/// `%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe`, by absolute path:
/// a bare name would be searched in the proxy's own directory first.
fn powershell_exe() -> std::path::PathBuf {
    let root = std::env::var_os("SystemRoot")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| std::path::PathBuf::from(r"C:\Windows"));
    root.join(r"System32\WindowsPowerShell\v1.0\powershell.exe")
}

/// A script's values: `("DISK", &disk)` becomes `$Env:CSI_DISK`.
type Env<'a> = &'a [(&'a str, &'a dyn fmt::Display)];

/// Runs a constant script with its values in the environment; returns trimmed stdout.
fn ps(script: &'static str, env: Env<'_>) -> HostResult<String> {
    let mut cmd = Command::new(powershell_exe());
    cmd.args([
        "-NoLogo",
        "-NoProfile",
        "-NonInteractive",
        "-Mta",
        "-Command",
        &format!(
            "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'; {script}"
        ),
    ]);
    for (k, v) in env {
        cmd.env(format!("CSI_{k}"), v.to_string());
    }
    let out = RUNNER.run(cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(HostError::Failed(format!(
            "{}: {}",
            script
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            stderr.trim()
        )))
    }
}

/// Runs a script for its effect only.
fn ps_run(script: &'static str, env: Env<'_>) -> HostResult<()> {
    ps(script, env).map(drop)
}

fn ps_bool(script: &'static str, env: Env<'_>) -> HostResult<bool> {
    let out = ps(script, env)?;
    match out.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(HostError::Failed(format!(
            "unexpected output {other:?}, expected True or False"
        ))),
    }
}

fn ps_u64(script: &'static str, env: Env<'_>) -> HostResult<u64> {
    let out = ps(script, env)?;
    out.parse::<u64>()
        .map_err(|e| HostError::Failed(format!("unexpected output {out:?}: {e}")))
}

fn ps_json(script: &'static str, env: Env<'_>) -> HostResult<serde_json::Value> {
    let out = ps(script, env)?;
    if out.is_empty() {
        return Ok(serde_json::Value::Array(Vec::new()));
    }
    serde_json::from_str(&out).map_err(|e| HostError::Failed(format!("unexpected output: {e}")))
}

/// PowerShell's `ConvertTo-Json` collapses one-element arrays; accept both shapes.
fn json_list(v: serde_json::Value) -> Vec<serde_json::Value> {
    match v {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn json_str(v: &serde_json::Value, key: &str) -> String {
    match &v[key] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn json_u64(v: &serde_json::Value, key: &str) -> HostResult<u64> {
    v[key]
        .as_u64()
        .or_else(|| v[key].as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| HostError::Failed(format!("missing number {key}")))
}

fn io_err(what: &str, p: &dyn std::fmt::Display, e: io::Error) -> HostError {
    if e.kind() == io::ErrorKind::NotFound {
        HostError::NotFound(format!("{what} {p}"))
    } else {
        HostError::Failed(format!("{what} {p}: {e}"))
    }
}

fn volume_from_target(raw: &str) -> Option<VolumeId> {
    let t = raw.replacen(r"\??\", r"\\?\", 1);
    VolumeId::parse("link target", &t).ok()
}

impl DiskHost for WindowsHost {
    fn list_disk_locations(&self) -> HostResult<BTreeMap<u32, DiskLocation>> {
        let v = ps_json(
            "ConvertTo-Json -Compress @(Get-Disk | Select-Object Number, Location)",
            &[],
        )?;
        let mut out = BTreeMap::new();
        for d in json_list(v) {
            let n = u32::try_from(json_u64(&d, "Number")?)
                .map_err(|e| HostError::Failed(e.to_string()))?;
            if let Some(loc) = parse_disk_location(&json_str(&d, "Location")) {
                out.insert(n, loc);
            }
        }
        Ok(out)
    }

    fn list_disk_ids(&self) -> HostResult<BTreeMap<u32, DiskIds>> {
        // UniqueId carries the page83 identifier for SCSI disks. TODO: read it
        // with IOCTL_STORAGE_QUERY_PROPERTY for byte-exact upstream formatting.
        let v = ps_json(
            "ConvertTo-Json -Compress @(Get-Disk | Select-Object Number, SerialNumber, UniqueId)",
            &[],
        )?;
        let mut out = BTreeMap::new();
        for d in json_list(v) {
            let n = u32::try_from(json_u64(&d, "Number")?)
                .map_err(|e| HostError::Failed(e.to_string()))?;
            out.insert(
                n,
                DiskIds {
                    page83: json_str(&d, "UniqueId").to_ascii_lowercase(),
                    serial_number: json_str(&d, "SerialNumber"),
                },
            );
        }
        Ok(out)
    }

    fn is_disk_initialized(&self, disk: u32) -> HostResult<bool> {
        ps_bool(
            "(Get-Disk -Number ([uint32]$Env:CSI_DISK)).PartitionStyle -ne 'RAW'",
            &[("DISK", &disk)],
        )
    }

    fn initialize_disk(&self, disk: u32) -> HostResult<()> {
        ps_run(
            "Initialize-Disk -Number ([uint32]$Env:CSI_DISK) -PartitionStyle GPT",
            &[("DISK", &disk)],
        )
    }

    fn basic_partitions_exist(&self, disk: u32) -> HostResult<bool> {
        ps_bool(
            "@(Get-Partition -DiskNumber ([uint32]$Env:CSI_DISK) -ErrorAction SilentlyContinue | Where-Object { $_.Type -ne 'Reserved' }).Count -gt 0",
            &[("DISK", &disk)],
        )
    }

    fn create_basic_partition(&self, disk: u32) -> HostResult<()> {
        ps_run(
            "$p = New-Partition -DiskNumber ([uint32]$Env:CSI_DISK) -UseMaximumSize; Update-Disk -Number ([uint32]$Env:CSI_DISK); $p | Set-Partition -IsOffline $false -ErrorAction SilentlyContinue",
            &[("DISK", &disk)],
        )
    }

    fn rescan(&self) -> HostResult<()> {
        ps_run("Update-HostStorageCache", &[])
    }

    fn disk_size(&self, disk: u32) -> HostResult<u64> {
        ps_u64(
            "(Get-Disk -Number ([uint32]$Env:CSI_DISK)).Size",
            &[("DISK", &disk)],
        )
    }

    fn is_disk_online(&self, disk: u32) -> HostResult<bool> {
        ps_bool(
            "-not (Get-Disk -Number ([uint32]$Env:CSI_DISK)).IsOffline",
            &[("DISK", &disk)],
        )
    }

    fn set_disk_online(&self, disk: u32, online: bool) -> HostResult<()> {
        let offline = !online;
        ps_run(
            "Set-Disk -Number ([uint32]$Env:CSI_DISK) -IsOffline ([System.Convert]::ToBoolean($Env:CSI_OFFLINE))",
            &[("DISK", &disk), ("OFFLINE", &offline)],
        )
    }
}

impl VolumeHost for WindowsHost {
    fn list_volumes_on_disk(&self, disk: u32, partition: Option<u32>) -> HostResult<Vec<VolumeId>> {
        let p = partition.unwrap_or(0);
        let v = ps_json(
            "ConvertTo-Json -Compress @(Get-Partition -DiskNumber ([uint32]$Env:CSI_DISK) | Where-Object { [uint32]$Env:CSI_PART -eq 0 -or $_.PartitionNumber -eq [uint32]$Env:CSI_PART } | Get-Volume | Select-Object -ExpandProperty UniqueId)",
            &[("DISK", &disk), ("PART", &p)],
        )?;
        json_list(v)
            .iter()
            .filter_map(|x| x.as_str())
            .map(|s| VolumeId::parse("UniqueId", s).map_err(|e| HostError::Failed(e.to_string())))
            .collect()
    }

    fn mount_volume(&self, volume: &VolumeId, target: &HostPath) -> HostResult<()> {
        ps_run(
            "Get-Volume -UniqueId $Env:CSI_VOLUME | Get-Partition | Add-PartitionAccessPath -AccessPath $Env:CSI_PATH",
            &[
                ("VOLUME", &volume.as_str()),
                ("PATH", &format!("{target}\\")),
            ],
        )
    }

    fn unmount_volume(&self, target: &HostPath) -> HostResult<()> {
        let link = self.read_link(target)?;
        let Some(LinkTarget::Volume(volume)) = link else {
            return Err(HostError::Failed(format!(
                "{target} is not a volume mount point"
            )));
        };
        ps_run(
            "Get-Volume -UniqueId $Env:CSI_VOLUME | Get-Partition | Remove-PartitionAccessPath -AccessPath $Env:CSI_PATH",
            &[
                ("VOLUME", &volume.as_str()),
                ("PATH", &format!("{target}\\")),
            ],
        )
    }

    fn is_volume_formatted(&self, volume: &VolumeId) -> HostResult<bool> {
        super::win32::file_system(volume.as_str())
            .map(|fs| fs.is_some())
            .map_err(|e| io_err("file system of", &volume.as_str(), e))
    }

    fn format_volume(&self, volume: &VolumeId) -> HostResult<()> {
        ps_run(
            "Get-Volume -UniqueId $Env:CSI_VOLUME | Format-Volume -FileSystem NTFS -Force -Confirm:$false | Out-Null",
            &[("VOLUME", &volume.as_str())],
        )
    }

    fn partition_size(&self, volume: &VolumeId) -> HostResult<PartitionSize> {
        let v = ps_json(
            "$p = Get-Volume -UniqueId $Env:CSI_VOLUME | Get-Partition; $s = $p | Get-PartitionSupportedSize; ConvertTo-Json -Compress @{ current = $p.Size; max = $s.SizeMax }",
            &[("VOLUME", &volume.as_str())],
        )?;
        Ok(PartitionSize {
            current: json_u64(&v, "current")?,
            max: json_u64(&v, "max")?,
        })
    }

    fn resize_partition(&self, volume: &VolumeId, size: u64) -> HostResult<()> {
        ps_run(
            "$p = Get-Volume -UniqueId $Env:CSI_VOLUME | Get-Partition; $p | Resize-Partition -Size ([uint64]$Env:CSI_SIZE); Update-Disk -Number $p.DiskNumber",
            &[("VOLUME", &volume.as_str()), ("SIZE", &size)],
        )
    }

    /// The kubelet asks for every mounted volume, periodically: one Win32 call.
    fn volume_stats(&self, volume: &VolumeId) -> HostResult<VolumeStats> {
        let (total, free) = super::win32::disk_space(volume.as_str())
            .map_err(|e| io_err("volume stats of", &volume.as_str(), e))?;
        Ok(VolumeStats {
            total,
            used: total.saturating_sub(free),
        })
    }

    fn volume_disk_number(&self, volume: &VolumeId) -> HostResult<u32> {
        let n = ps_u64(
            "(Get-Volume -UniqueId $Env:CSI_VOLUME | Get-Partition).DiskNumber",
            &[("VOLUME", &volume.as_str())],
        )?;
        u32::try_from(n).map_err(|e| HostError::Failed(e.to_string()))
    }

    fn drive_volume(&self, drive: char) -> HostResult<VolumeId> {
        let root = format!("{drive}:\\");
        let name = super::win32::volume_name(&root).map_err(|e| io_err("volume of", &root, e))?;
        VolumeId::parse("volume name", &name).map_err(|e| HostError::Failed(e.to_string()))
    }

    fn flush_volume(&self, volume: &VolumeId) -> HostResult<()> {
        ps_run(
            "Get-Volume -UniqueId $Env:CSI_VOLUME | Write-VolumeCache",
            &[("VOLUME", &volume.as_str())],
        )
    }
}

impl FilesystemHost for WindowsHost {
    fn path_exists(&self, p: &HostPath) -> HostResult<bool> {
        match std::fs::symlink_metadata(p.as_str()) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("stat", p, e)),
        }
    }

    fn mkdir_all(&self, p: &HostPath) -> HostResult<()> {
        std::fs::create_dir_all(p.as_str()).map_err(|e| io_err("mkdir", p, e))
    }

    fn rmdir(&self, p: &HostPath, recursive: bool) -> HostResult<()> {
        let meta = std::fs::symlink_metadata(p.as_str()).map_err(|e| io_err("stat", p, e))?;
        if meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
            // A link or mount point: remove the link itself, never its target.
            return std::fs::remove_dir(p.as_str())
                .or_else(|_| std::fs::remove_file(p.as_str()))
                .map_err(|e| io_err("remove link", p, e));
        }
        if recursive {
            // std's remove_dir_all does not follow links or junctions on Windows.
            std::fs::remove_dir_all(p.as_str()).map_err(|e| io_err("remove", p, e))
        } else {
            std::fs::remove_dir(p.as_str()).map_err(|e| io_err("rmdir", p, e))
        }
    }

    fn rmdir_contents(&self, p: &HostPath) -> HostResult<()> {
        // read_dir would follow a link given as the argument: only a volume
        // mount point (a directory of that volume) is emptied in place.
        if let Some(LinkTarget::Path(_) | LinkTarget::Remote(_)) = self.read_link(p)? {
            return Err(HostError::Failed(format!(
                "{p} is a link; its target is not emptied through it"
            )));
        }
        let entries = std::fs::read_dir(p.as_str()).map_err(|e| io_err("read dir", p, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_err("read dir", p, e))?;
            let child = entry.path();
            let shown = child.display();
            let meta = std::fs::symlink_metadata(&child).map_err(|e| io_err("stat", &shown, e))?;
            let r = if meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
                std::fs::remove_dir(&child).or_else(|_| std::fs::remove_file(&child))
            } else if meta.is_dir() {
                std::fs::remove_dir_all(&child)
            } else {
                std::fs::remove_file(&child)
            };
            r.map_err(|e| io_err("remove", &shown, e))?;
        }
        Ok(())
    }

    fn create_symlink(&self, target: &HostPath, link: &HostPath) -> HostResult<()> {
        std::os::windows::fs::symlink_dir(target.as_str(), link.as_str())
            .map_err(|e| io_err("symlink", link, e))
    }

    fn read_link(&self, p: &HostPath) -> HostResult<Option<LinkTarget>> {
        let meta = std::fs::symlink_metadata(p.as_str()).map_err(|e| io_err("stat", p, e))?;
        if meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT == 0 {
            return Ok(None);
        }
        let target = std::fs::read_link(p.as_str()).map_err(|e| io_err("readlink", p, e))?;
        let raw = target.to_string_lossy().to_string();
        if let Some(v) = volume_from_target(&raw) {
            return Ok(Some(LinkTarget::Volume(v)));
        }
        let plain = raw.trim_start_matches(r"\\?\").trim_start_matches(r"\??\");
        if let Some(unc) = plain.strip_prefix(r"UNC\") {
            return Ok(Some(LinkTarget::Remote(format!(r"\\{unc}"))));
        }
        if raw.starts_with(r"\\") && !raw.starts_with(r"\\?\") {
            return Ok(Some(LinkTarget::Remote(raw)));
        }
        match parse_drive_path("link target", plain) {
            Ok(path) => Ok(Some(LinkTarget::Path(path))),
            Err(e) => Err(HostError::Failed(format!(
                "{p} links to an unsupported target: {e}"
            ))),
        }
    }

    fn link_target_exists(&self, target: &LinkTarget) -> HostResult<bool> {
        let path = match target {
            LinkTarget::Path(p) => p.as_str().to_string(),
            LinkTarget::Volume(v) => v.as_str().to_string(),
            LinkTarget::Remote(r) => r.clone(),
        };
        match std::fs::metadata(Path::new(&path)) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(HostError::Failed(format!("stat {path}: {e}"))),
        }
    }
}

impl WindowsHost {
    /// What `p` is without following it; `None` when missing or plain.
    fn peek(&self, p: &HostPath) -> HostResult<Option<LinkTarget>> {
        match self.read_link(p) {
            Err(HostError::NotFound(_)) => Ok(None),
            other => other,
        }
    }
}

fn disk_numbers(v: serde_json::Value) -> HostResult<Vec<u32>> {
    json_list(v)
        .iter()
        .map(|n| {
            n.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| HostError::Failed(format!("unexpected disk number {n}")))
        })
        .collect()
}

fn volume_ids(v: serde_json::Value) -> HostResult<Vec<VolumeId>> {
    json_list(v)
        .iter()
        .filter_map(|x| x.as_str())
        .map(|s| VolumeId::parse("UniqueId", s).map_err(|e| HostError::Failed(e.to_string())))
        .collect()
}

impl InspectHost for WindowsHost {
    fn protected_volumes(&self) -> HostResult<Vec<VolumeId>> {
        volume_ids(ps_json(
            "$v = @(Get-Partition | Where-Object { $_.IsBoot -or $_.IsSystem } | Get-Volume | Select-Object -ExpandProperty UniqueId); foreach ($f in @(Get-CimInstance -ClassName Win32_PageFileUsage)) { $v += (Get-Volume -DriveLetter $f.Name.Substring(0, 1)).UniqueId }; ConvertTo-Json -Compress @($v)",
            &[],
        )?)
    }

    fn mount_points(&self, volume: &VolumeId) -> HostResult<Vec<String>> {
        super::win32::volume_paths(volume.as_str())
            .map_err(|e| io_err("mount points of", &volume.as_str(), e))
    }

    fn volume_disks(&self, volume: &VolumeId) -> HostResult<Vec<u32>> {
        let v = ps_json(
            "ConvertTo-Json -Compress @(Get-Volume -UniqueId $Env:CSI_VOLUME | Get-Partition | Select-Object -ExpandProperty DiskNumber)",
            &[("VOLUME", &volume.as_str())],
        )?;
        disk_numbers(v)
    }

    fn resolve(&self, p: &HostPath) -> HostResult<Resolved> {
        let link = match follow_links(p, false, |q| self.peek(q))? {
            Followed::Local(q) => self.peek(&q)?,
            Followed::Remote(_) => None,
        };
        let path = match follow_links(p, true, |q| self.peek(q))? {
            Followed::Local(q) => Some(q),
            Followed::Remote(_) => None,
        };
        Ok(Resolved { path, link })
    }

    fn volume_of(&self, p: &HostPath) -> HostResult<(HostPath, VolumeId)> {
        let Followed::Local(mut cur) = follow_links(p, true, |q| self.peek(q))? else {
            return Err(HostError::Failed(format!("{p} is on a remote share")));
        };
        loop {
            if let Some(LinkTarget::Volume(v)) = self.peek(&cur)? {
                return Ok((cur, v));
            }
            match cur.parent() {
                Some(parent) => cur = parent,
                None => return Ok((cur.clone(), self.drive_volume(cur.drive())?)),
            }
        }
    }

    fn own_addresses(&self) -> HostResult<Vec<String>> {
        let v = ps_json(
            "$n = [System.Net.Dns]::GetHostName(); $e = [System.Net.Dns]::GetHostEntry($n); ConvertTo-Json -Compress @(@($n, $e.HostName, $Env:COMPUTERNAME) + @(Get-NetIPAddress | Select-Object -ExpandProperty IPAddress))",
            &[],
        )?;
        Ok(json_list(v)
            .iter()
            .filter_map(|x| x.as_str())
            .map(|s| s.split('%').next().unwrap_or(s).to_ascii_lowercase())
            .collect())
    }
}

impl SmbHost for WindowsHost {
    fn is_mapped(&self, root: &SmbPath) -> HostResult<bool> {
        ps_bool(
            "$m = Get-SmbGlobalMapping -RemotePath $Env:CSI_REMOTE -ErrorAction SilentlyContinue; [bool]($m -and $m.Status -eq 'OK')",
            &[("REMOTE", &root.root())],
        )
    }

    fn is_path_valid(&self, root: &SmbPath) -> HostResult<bool> {
        match std::fs::metadata(root.root()) {
            Ok(_) => Ok(true),
            // ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND, ERROR_INVALID_NAME
            Err(e) if matches!(e.raw_os_error(), Some(2 | 3 | 123)) => Ok(false),
            Err(e) => Err(HostError::Failed(format!("checking {}: {e}", root.root()))),
        }
    }

    fn create_mapping(
        &self,
        root: &SmbPath,
        credential: Option<&SmbCredential>,
        require_privacy: bool,
    ) -> HostResult<()> {
        match credential {
            Some(c) => ps_run(
                "$pw = ConvertTo-SecureString -String $Env:CSI_PASSWORD -AsPlainText -Force; $cred = New-Object System.Management.Automation.PSCredential -ArgumentList $Env:CSI_USER, $pw; New-SmbGlobalMapping -RemotePath $Env:CSI_REMOTE -Credential $cred -RequirePrivacy ([System.Convert]::ToBoolean($Env:CSI_PRIVACY)) | Out-Null",
                &[
                    ("REMOTE", &root.root()),
                    ("USER", &c.username),
                    ("PASSWORD", &c.password.expose()),
                    ("PRIVACY", &require_privacy),
                ],
            ),
            None => ps_run(
                "New-SmbGlobalMapping -RemotePath $Env:CSI_REMOTE -RequirePrivacy ([System.Convert]::ToBoolean($Env:CSI_PRIVACY)) | Out-Null",
                &[("REMOTE", &root.root()), ("PRIVACY", &require_privacy)],
            ),
        }
    }

    fn remove_mapping(&self, root: &SmbPath) -> HostResult<()> {
        ps_run(
            "Remove-SmbGlobalMapping -RemotePath $Env:CSI_REMOTE -Force",
            &[("REMOTE", &root.root())],
        )
    }

    fn create_link(&self, remote: &SmbPath, local: &HostPath) -> HostResult<()> {
        let target = format!("{}\\", remote.full());
        std::os::windows::fs::symlink_dir(&target, local.as_str())
            .map_err(|e| io_err("symlink", local, e))
    }
}

fn auth_name(a: IscsiAuth) -> &'static str {
    match a {
        IscsiAuth::None => "NONE",
        IscsiAuth::OneWayChap => "ONEWAYCHAP",
        IscsiAuth::MutualChap => "MUTUALCHAP",
    }
}

impl IscsiHost for WindowsHost {
    fn add_target_portal(&self, portal: &Portal) -> HostResult<()> {
        ps_run(
            "if (-not (Get-IscsiTargetPortal -TargetPortalAddress $Env:CSI_ADDR -ErrorAction SilentlyContinue | Where-Object { $_.TargetPortalPortNumber -eq [uint16]$Env:CSI_PORT })) { New-IscsiTargetPortal -TargetPortalAddress $Env:CSI_ADDR -TargetPortalPortNumber ([uint16]$Env:CSI_PORT) | Out-Null }",
            &[("ADDR", &portal.address()), ("PORT", &portal.port())],
        )
    }

    fn discover_targets(&self, portal: &Portal) -> HostResult<Vec<Iqn>> {
        let v = ps_json(
            "ConvertTo-Json -Compress @(Get-IscsiTargetPortal -TargetPortalAddress $Env:CSI_ADDR | Where-Object { $_.TargetPortalPortNumber -eq [uint16]$Env:CSI_PORT } | Get-IscsiTarget | Select-Object -ExpandProperty NodeAddress)",
            &[("ADDR", &portal.address()), ("PORT", &portal.port())],
        )?;
        json_list(v)
            .iter()
            .filter_map(|x| x.as_str())
            .map(|s| Iqn::parse("NodeAddress", s).map_err(|e| HostError::Failed(e.to_string())))
            .collect()
    }

    fn remove_target_portal(&self, portal: &Portal) -> HostResult<()> {
        ps_run(
            "Get-IscsiTargetPortal -TargetPortalAddress $Env:CSI_ADDR | Where-Object { $_.TargetPortalPortNumber -eq [uint16]$Env:CSI_PORT } | Remove-IscsiTargetPortal -Confirm:$false",
            &[("ADDR", &portal.address()), ("PORT", &portal.port())],
        )
    }

    fn list_target_portals(&self) -> HostResult<Vec<Portal>> {
        let v = ps_json(
            "ConvertTo-Json -Compress @(Get-IscsiTargetPortal | Select-Object TargetPortalAddress, TargetPortalPortNumber)",
            &[],
        )?;
        json_list(v)
            .iter()
            .map(|p| {
                let port = u32::try_from(json_u64(p, "TargetPortalPortNumber")?).unwrap_or(0);
                Portal::new(&json_str(p, "TargetPortalAddress"), port)
                    .map_err(|e| HostError::Failed(e.to_string()))
            })
            .collect()
    }

    fn is_target_connected(&self, portal: &Portal, iqn: &Iqn) -> HostResult<bool> {
        ps_bool(
            "$t = Get-IscsiTargetPortal -TargetPortalAddress $Env:CSI_ADDR -ErrorAction SilentlyContinue | Where-Object { $_.TargetPortalPortNumber -eq [uint16]$Env:CSI_PORT } | Get-IscsiTarget | Where-Object { $_.NodeAddress -eq $Env:CSI_IQN }; [bool]($t -and $t.IsConnected)",
            &[
                ("ADDR", &portal.address()),
                ("PORT", &portal.port()),
                ("IQN", &iqn.as_str()),
            ],
        )
    }

    fn connect_target(&self, portal: &Portal, iqn: &Iqn, login: &IscsiLogin) -> HostResult<()> {
        ps_run(
            "$a = @{ TargetPortalAddress = $Env:CSI_ADDR; TargetPortalPortNumber = [uint16]$Env:CSI_PORT; NodeAddress = $Env:CSI_IQN; AuthenticationType = $Env:CSI_AUTH; IsPersistent = $true }; if ($Env:CSI_CHAPUSER) { $a.ChapUsername = $Env:CSI_CHAPUSER }; if ($Env:CSI_CHAPSECRET) { $a.ChapSecret = $Env:CSI_CHAPSECRET }; Connect-IscsiTarget @a | Out-Null",
            &[
                ("ADDR", &portal.address()),
                ("PORT", &portal.port()),
                ("IQN", &iqn.as_str()),
                ("AUTH", &auth_name(login.auth)),
                ("CHAPUSER", &login.chap_username),
                ("CHAPSECRET", &login.chap_secret.expose()),
            ],
        )
    }

    fn disconnect_target(&self, portal: &Portal, iqn: &Iqn) -> HostResult<()> {
        ps_run(
            "$t = Get-IscsiTargetPortal -TargetPortalAddress $Env:CSI_ADDR | Where-Object { $_.TargetPortalPortNumber -eq [uint16]$Env:CSI_PORT } | Get-IscsiTarget | Where-Object { $_.NodeAddress -eq $Env:CSI_IQN }; $s = Get-IscsiSession -IscsiTarget $t -ErrorAction SilentlyContinue; if ($s -and $s.IsPersistent) { $s | Unregister-IscsiSession }; Disconnect-IscsiTarget -InputObject $t -Confirm:$false",
            &[
                ("ADDR", &portal.address()),
                ("PORT", &portal.port()),
                ("IQN", &iqn.as_str()),
            ],
        )
    }

    fn target_disks(&self, portal: &Portal, iqn: &Iqn) -> HostResult<Vec<u32>> {
        let v = ps_json(
            "$t = Get-IscsiTargetPortal -TargetPortalAddress $Env:CSI_ADDR | Where-Object { $_.TargetPortalPortNumber -eq [uint16]$Env:CSI_PORT } | Get-IscsiTarget | Where-Object { $_.NodeAddress -eq $Env:CSI_IQN }; ConvertTo-Json -Compress @(Get-IscsiConnection -IscsiTarget $t | Get-Disk | Select-Object -ExpandProperty Number)",
            &[
                ("ADDR", &portal.address()),
                ("PORT", &portal.port()),
                ("IQN", &iqn.as_str()),
            ],
        )?;
        disk_numbers(v)
    }

    fn set_mutual_chap_secret(&self, secret: &Secret) -> HostResult<()> {
        ps_run(
            "Set-IscsiChapSecret -ChapSecret $Env:CSI_SECRET",
            &[("SECRET", &secret.expose())],
        )
    }
}

impl SystemHost for WindowsHost {
    fn bios_serial_number(&self) -> HostResult<String> {
        ps("(Get-CimInstance -ClassName Win32_BIOS).SerialNumber", &[])
    }

    /// The service control manager directly (no process): called by drivers
    /// on every start and often polled.
    fn get_service(&self, name: &ServiceName) -> HostResult<ServiceInfo> {
        use windows_service::service::{ServiceAccess, ServiceStartType, ServiceState};
        use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
        let scm_err = |e: windows_service::Error| match &e {
            // ERROR_SERVICE_DOES_NOT_EXIST
            windows_service::Error::Winapi(io) if io.raw_os_error() == Some(1060) => {
                HostError::NotFound(format!("service {}", name.as_str()))
            }
            _ => HostError::Failed(format!("service {}: {e}", name.as_str())),
        };
        let scm = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
            .map_err(scm_err)?;
        let svc = scm
            .open_service(
                name.as_str(),
                ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG,
            )
            .map_err(scm_err)?;
        let config = svc.query_config().map_err(scm_err)?;
        let status = svc.query_status().map_err(scm_err)?;
        Ok(ServiceInfo {
            display_name: config.display_name.to_string_lossy().into_owned(),
            start_type: match config.start_type {
                ServiceStartType::BootStart => StartType::Boot,
                ServiceStartType::SystemStart => StartType::System,
                ServiceStartType::AutoStart => StartType::Automatic,
                ServiceStartType::Disabled => StartType::Disabled,
                ServiceStartType::OnDemand => StartType::Manual,
            },
            status: match status.current_state {
                ServiceState::Stopped => ServiceStatus::Stopped,
                ServiceState::StartPending => ServiceStatus::StartPending,
                ServiceState::StopPending => ServiceStatus::StopPending,
                ServiceState::Running => ServiceStatus::Running,
                ServiceState::ContinuePending => ServiceStatus::ContinuePending,
                ServiceState::PausePending => ServiceStatus::PausePending,
                ServiceState::Paused => ServiceStatus::Paused,
            },
        })
    }

    fn start_service(&self, name: &ServiceName) -> HostResult<()> {
        ps_run(
            "Start-Service -Name $Env:CSI_SERVICE; (Get-Service -Name $Env:CSI_SERVICE).WaitForStatus('Running', [TimeSpan]::FromSeconds(30))",
            &[("SERVICE", &name.as_str())],
        )
    }

    fn stop_service(&self, name: &ServiceName, force: bool) -> HostResult<()> {
        ps_run(
            "Stop-Service -Name $Env:CSI_SERVICE -Force:([System.Convert]::ToBoolean($Env:CSI_FORCE)); (Get-Service -Name $Env:CSI_SERVICE).WaitForStatus('Stopped', [TimeSpan]::FromSeconds(30))",
            &[("SERVICE", &name.as_str()), ("FORCE", &force)],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_point_targets_become_volume_ids() {
        let v = volume_from_target(r"\??\Volume{0a1b2c3d-0000-4000-8000-000000000001}\");
        assert_eq!(
            v.map(|v| v.as_str().to_string()),
            Some(r"\\?\Volume{0a1b2c3d-0000-4000-8000-000000000001}\".to_string())
        );
        assert!(volume_from_target(r"C:\var").is_none());
    }

    #[test]
    fn powershell_is_named_by_its_absolute_path() {
        let p = powershell_exe();
        assert!(p.is_absolute(), "{}", p.display());
        assert!(
            p.ends_with(r"System32\WindowsPowerShell\v1.0\powershell.exe"),
            "{}",
            p.display()
        );
    }

    #[test]
    fn a_single_json_object_is_a_one_element_list() {
        assert_eq!(json_list(serde_json::json!({"a": 1})).len(), 1);
        assert_eq!(json_list(serde_json::json!([1, 2])).len(), 2);
        assert!(json_list(serde_json::Value::Null).is_empty());
    }
}
