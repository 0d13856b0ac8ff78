//! Windows facts that several parts of winkube share. Pure data, no I/O.
//!
//! - well-known node labels and the (configurable) Windows taint;
//! - the Windows Server build table and the host/image compatibility rules
//!   (process isolation: exact build below 20348, previous LTSC from 20348 on;
//!   Hyper-V isolation: host build ≥ image build);
//! - container image references (docker.io defaults) and image platforms as a registry
//!   reports them;
//! - RuntimeClass generation for process and Hyper-V isolation per build.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use k8s_openapi::api::core::v1::Toleration;
use k8s_openapi::api::node::v1::{Overhead, RuntimeClass, Scheduling};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// Node label set by the kubelet on every node: `windows` or `linux`.
pub const LABEL_OS: &str = "kubernetes.io/os";
/// Node label set by the kubelet: `amd64`, `arm64`, ...
pub const LABEL_ARCH: &str = "kubernetes.io/arch";
/// Node label set by the kubelet on Windows nodes: `major.minor.build`, no revision.
pub const LABEL_WINDOWS_BUILD: &str = "node.kubernetes.io/windows-build";
/// Label winkube puts on the RuntimeClasses it generates: `process` or `hyperv`.
pub const LABEL_ISOLATION: &str = "windows.winkube.io/isolation";
/// Annotation on generated RuntimeClasses: the Windows build the class is for.
pub const ANNOTATION_BUILD: &str = "windows.winkube.io/build";

pub const OS_WINDOWS: &str = "windows";
pub const OS_LINUX: &str = "linux";

/// containerd's default Windows handler (process isolation).
pub const DEFAULT_PROCESS_HANDLER: &str = "runhcs-wcow-process";
/// containerd's built-in Hyper-V handler (containerd 1.7+). Sites often use one per guest
/// build instead (`runhcs-wcow-hypervisor-17763`): the handler is configurable.
pub const DEFAULT_HYPERV_HANDLER: &str = "runhcs-wcow-hypervisor";

/// Errors of the Windows data helpers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowsError {
    #[error(
        "invalid Windows build {0:?}: expected major.minor.build such as 10.0.17763 (or a release name such as 2019, ltsc2022)"
    )]
    InvalidBuild(String),
    #[error(
        "invalid taint {0:?}: expected key=value:Effect or key:Effect with effect NoSchedule, PreferNoSchedule or NoExecute"
    )]
    InvalidTaint(String),
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidImageReference { reference: String, reason: String },
    #[error("invalid handler template {0:?}: {1}")]
    InvalidHandler(String, String),
}

// ---------------------------------------------------------------------------------------
// Builds
// ---------------------------------------------------------------------------------------

/// A Windows version truncated to `major.minor.build` (the revision never matters for
/// matching from 1809 on, and the node label has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowsBuild {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
}

impl WindowsBuild {
    pub const fn new(major: u32, minor: u32, build: u32) -> Self {
        Self {
            major,
            minor,
            build,
        }
    }

    /// A Windows 10.0 build number.
    pub const fn ten(build: u32) -> Self {
        Self::new(10, 0, build)
    }

    /// Parses `10.0.17763`, `10.0.17763.1234` (revision dropped), or a release name from
    /// the build table (`2019`, `ltsc2022`, `1809`, ...).
    pub fn parse(s: &str) -> Result<Self, WindowsError> {
        let t = s.trim();
        if let Some(r) = release_by_name(t) {
            return Ok(r.build);
        }
        let parts: Vec<&str> = t.split('.').collect();
        if !(3..=4).contains(&parts.len()) {
            return Err(WindowsError::InvalidBuild(s.to_owned()));
        }
        let mut nums = [0u32; 4];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(WindowsError::InvalidBuild(s.to_owned()));
            }
            nums[i] = p
                .parse()
                .map_err(|_| WindowsError::InvalidBuild(s.to_owned()))?;
        }
        Ok(Self::new(nums[0], nums[1], nums[2]))
    }

    /// The release of the build table with this build, if known.
    pub fn release(&self) -> Option<&'static WindowsRelease> {
        RELEASES.iter().find(|r| r.build == *self)
    }

    /// Short human name: `10.0.17763 (Windows Server 2019)`.
    pub fn describe(&self) -> String {
        match self.release() {
            Some(r) => format!("{self} ({})", r.name),
            None => self.to_string(),
        }
    }
}

impl fmt::Display for WindowsBuild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

impl FromStr for WindowsBuild {
    type Err = WindowsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for WindowsBuild {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WindowsBuild {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Servicing channel of a Windows release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// Long-Term Servicing Channel.
    Ltsc,
    /// Semi-Annual / Annual Channel (all end-of-life except 23H2).
    Sac,
    /// A client release (Windows 11), listed for completeness.
    Client,
}

/// One row of the build table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowsRelease {
    pub name: &'static str,
    /// Short name used in generated resource names (`2019`, `1809`, ...).
    pub short: &'static str,
    /// Names accepted for this release besides the build (`ltsc2019`, `1809`, ...).
    pub aliases: &'static [&'static str],
    pub channel: Channel,
    pub build: WindowsBuild,
}

/// The Windows Server build table (containerd `platform_windows_compat.go`, hcsshim
/// `osversion`).
pub const RELEASES: &[WindowsRelease] = &[
    WindowsRelease {
        name: "Windows Server 2016",
        short: "2016",
        aliases: &["ltsc2016", "1607", "rs1"],
        channel: Channel::Ltsc,
        build: WindowsBuild::ten(14393),
    },
    WindowsRelease {
        name: "Windows Server 1709",
        short: "1709",
        aliases: &["rs3"],
        channel: Channel::Sac,
        build: WindowsBuild::ten(16299),
    },
    WindowsRelease {
        name: "Windows Server 1803",
        short: "1803",
        aliases: &["rs4"],
        channel: Channel::Sac,
        build: WindowsBuild::ten(17134),
    },
    WindowsRelease {
        name: "Windows Server 2019",
        short: "2019",
        aliases: &["ltsc2019", "1809", "rs5"],
        channel: Channel::Ltsc,
        build: WindowsBuild::ten(17763),
    },
    WindowsRelease {
        name: "Windows Server 1903",
        short: "1903",
        aliases: &["19h1"],
        channel: Channel::Sac,
        build: WindowsBuild::ten(18362),
    },
    WindowsRelease {
        name: "Windows Server 1909",
        short: "1909",
        aliases: &["19h2"],
        channel: Channel::Sac,
        build: WindowsBuild::ten(18363),
    },
    WindowsRelease {
        name: "Windows Server 2004",
        short: "2004",
        aliases: &["20h1"],
        channel: Channel::Sac,
        build: WindowsBuild::ten(19041),
    },
    WindowsRelease {
        name: "Windows Server 20H2",
        short: "20h2",
        aliases: &[],
        channel: Channel::Sac,
        build: WindowsBuild::ten(19042),
    },
    WindowsRelease {
        name: "Windows Server 2022",
        short: "2022",
        aliases: &["ltsc2022", "21h2"],
        channel: Channel::Ltsc,
        build: WindowsBuild::ten(20348),
    },
    WindowsRelease {
        name: "Windows 11 22H2",
        short: "22h2",
        aliases: &[],
        channel: Channel::Client,
        build: WindowsBuild::ten(22621),
    },
    WindowsRelease {
        name: "Windows Server 23H2",
        short: "23h2",
        aliases: &[],
        channel: Channel::Sac,
        build: WindowsBuild::ten(25398),
    },
    WindowsRelease {
        name: "Windows Server 2025",
        short: "2025",
        aliases: &["ltsc2025", "24h2"],
        channel: Channel::Ltsc,
        build: WindowsBuild::ten(26100),
    },
];

/// LTSC builds that newer hosts keep running under process isolation (containerd
/// `compatLTSCReleases`).
const COMPAT_LTSC: &[u32] = &[20348, 26100];

/// Finds a release by its short name or alias (`2019`, `ltsc2019`, `1809`), case-insensitive.
pub fn release_by_name(name: &str) -> Option<&'static WindowsRelease> {
    let n = name.trim().to_ascii_lowercase();
    let n = n.strip_prefix("windows server ").unwrap_or(&n);
    RELEASES
        .iter()
        .find(|r| r.short == n || r.aliases.contains(&n))
}

/// The Windows Server builds a cluster may run (the server rows of the table).
pub fn server_builds() -> impl Iterator<Item = WindowsBuild> {
    RELEASES
        .iter()
        .filter(|r| r.channel != Channel::Client)
        .map(|r| r.build)
}

/// How a Windows container is isolated from its host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    Process,
    #[serde(rename = "hyperv")]
    HyperV,
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Isolation::Process => "process",
            Isolation::HyperV => "hyperv",
        })
    }
}

/// May a container image built for `image` run on a host of build `host`?
///
/// Process isolation: major and minor equal; below 20348 the build must match exactly;
/// from 20348 the image may be anything from the host's previous LTSC up to the host.
/// Hyper-V isolation: the image must not be newer than the host.
pub fn compatible(isolation: Isolation, host: WindowsBuild, image: WindowsBuild) -> bool {
    if host.major != image.major || host.minor != image.minor {
        return false;
    }
    match isolation {
        Isolation::HyperV => image.build <= host.build,
        Isolation::Process => {
            if host.build < COMPAT_LTSC[0] {
                return image.build == host.build;
            }
            // The newest LTSC strictly older than the host, or the host's own LTSC floor.
            let floor = COMPAT_LTSC
                .iter()
                .copied()
                .filter(|&b| b < host.build)
                .max()
                .unwrap_or(COMPAT_LTSC[0]);
            floor <= image.build && image.build <= host.build
        }
    }
}

// ---------------------------------------------------------------------------------------
// Taint
// ---------------------------------------------------------------------------------------

/// The taint the cluster puts on its Windows nodes (there is no well-known one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    /// Empty: the taint has no value and is tolerated with `operator: Exists`.
    pub value: String,
    pub effect: String,
}

impl Default for Taint {
    /// Upstream's recommendation: `os=windows:NoSchedule`.
    fn default() -> Self {
        Self {
            key: "os".into(),
            value: "windows".into(),
            effect: "NoSchedule".into(),
        }
    }
}

impl Taint {
    /// Parses `key=value:Effect` or `key:Effect` (kubectl's syntax).
    pub fn parse(s: &str) -> Result<Self, WindowsError> {
        let bad = || WindowsError::InvalidTaint(s.to_owned());
        let (kv, effect) = s.trim().rsplit_once(':').ok_or_else(bad)?;
        if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
            return Err(bad());
        }
        let (key, value) = match kv.split_once('=') {
            Some((k, v)) => (k, v),
            None => (kv, ""),
        };
        let key_ok = !key.is_empty()
            && key.len() <= 316
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
        let value_ok = value.len() <= 63
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !key_ok || !value_ok {
            return Err(bad());
        }
        Ok(Self {
            key: key.into(),
            value: value.into(),
            effect: effect.into(),
        })
    }

    /// The toleration a pod needs for this taint.
    pub fn toleration(&self) -> Toleration {
        Toleration {
            key: Some(self.key.clone()),
            operator: Some(if self.value.is_empty() {
                "Exists".into()
            } else {
                "Equal".into()
            }),
            value: (!self.value.is_empty()).then(|| self.value.clone()),
            effect: Some(self.effect.clone()),
            toleration_seconds: None,
        }
    }

    /// Does `t` tolerate this taint (Kubernetes' `ToleratesTaint`)?
    pub fn tolerated_by(&self, t: &Toleration) -> bool {
        let effect_ok = match t.effect.as_deref() {
            None | Some("") => true,
            Some(e) => e == self.effect,
        };
        if !effect_ok {
            return false;
        }
        let op = t.operator.as_deref().unwrap_or("Equal");
        let key = t.key.as_deref().unwrap_or("");
        if key.is_empty() {
            // An empty key with Exists matches every taint.
            return op == "Exists";
        }
        if key != self.key {
            return false;
        }
        match op {
            "Exists" => true,
            "" | "Equal" => t.value.as_deref().unwrap_or("") == self.value,
            _ => false,
        }
    }
}

impl fmt::Display for Taint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}:{}", self.key, self.effect)
        } else {
            write!(f, "{}={}:{}", self.key, self.value, self.effect)
        }
    }
}

impl FromStr for Taint {
    type Err = WindowsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

// ---------------------------------------------------------------------------------------
// Image references and platforms
// ---------------------------------------------------------------------------------------

/// The registry that references without a registry part point at.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed container image reference, normalised the way containerd does it:
/// `nginx` is `docker.io/library/nginx:latest`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageReference {
    /// `docker.io`, `mcr.microsoft.com`, `localhost:5000`, `[::1]:5000`.
    pub registry: String,
    /// `library/nginx`, `windows/servercore`.
    pub repository: String,
    /// As written; `None` when the reference had no tag.
    pub tag: Option<String>,
    /// `sha256:...`, when pinned.
    pub digest: Option<String>,
}

impl ImageReference {
    /// Parses a reference as a pod's `image` field holds it.
    pub fn parse(reference: &str) -> Result<Self, WindowsError> {
        let bad = |reason: &str| WindowsError::InvalidImageReference {
            reference: reference.to_owned(),
            reason: reason.to_owned(),
        };
        let s = reference.trim();
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > 4096 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace or is too long"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let (alg, hex) = d
                    .split_once(':')
                    .ok_or_else(|| bad("digest must be algorithm:hex"))?;
                if alg.is_empty()
                    || hex.len() < 32
                    || !hex
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                {
                    return Err(bad("digest must be algorithm:lowercase-hex"));
                }
                (r, Some(d.to_owned()))
            }
            None => (s, None),
        };
        // The first component is a registry when it has a dot or a port, or is localhost.
        let (registry, path) = match rest.split_once('/') {
            Some((first, tail))
                if first.contains('.')
                    || first.contains(':')
                    || first.starts_with('[')
                    || first == "localhost" =>
            {
                (first.to_owned(), tail)
            }
            _ => (DOCKER_HUB.to_owned(), rest),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
            _ => registry,
        };
        // A tag is after the last ':' of the last path component.
        let last_slash = path.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (repo, tag) = match path[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&path[..at], Some(path[at + 1..].to_owned()))
            }
            None => (path, None),
        };
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(bad("invalid tag"));
            }
        }
        if repo.is_empty() {
            return Err(bad("empty repository"));
        }
        for comp in repo.split('/') {
            let ok = !comp.is_empty()
                && comp
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && comp.as_bytes()[0].is_ascii_alphanumeric()
                && comp.as_bytes()[comp.len() - 1].is_ascii_alphanumeric();
            if !ok {
                return Err(bad(
                    "repository components must be lowercase alphanumerics separated by '.', '_' or '-'",
                ));
            }
        }
        let repository = if registry == DOCKER_HUB && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo.to_owned()
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// What to ask the registry for: the digest when pinned, else the tag (default `latest`).
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The tag Kubernetes would pull: `latest` when none is given and no digest pins it.
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// Is the image unpinned in the sense the tag policy cares about: no digest and no tag
    /// or the `latest` tag?
    pub fn is_floating(&self) -> bool {
        self.digest.is_none() && matches!(self.tag.as_deref(), None | Some("latest"))
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageReference {
    type Err = WindowsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// One platform an image provides (an index entry, or the config of a single manifest).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagePlatform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `os.version` as published (`10.0.17763.5458`); truncate with [`Self::windows_build`].
    #[serde(
        default,
        rename = "os.version",
        alias = "osVersion",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        default,
        rename = "os.features",
        alias = "osFeatures",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub os_features: Vec<String>,
}

impl ImagePlatform {
    /// The Windows build of this entry, when it is a Windows entry with a parseable
    /// `os.version`.
    pub fn windows_build(&self) -> Option<WindowsBuild> {
        if !self.os.eq_ignore_ascii_case(OS_WINDOWS) {
            return None;
        }
        WindowsBuild::parse(self.os_version.as_deref()?).ok()
    }

    pub fn is_windows(&self) -> bool {
        self.os.eq_ignore_ascii_case(OS_WINDOWS)
    }
}

/// What a registry says about an image: every platform it provides, and its digest.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagePlatforms {
    /// The digest of the manifest or index the reference resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub platforms: Vec<ImagePlatform>,
}

impl ImagePlatforms {
    /// The distinct operating systems the image provides (lowercase, sorted).
    pub fn oses(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .platforms
            .iter()
            .filter(|p| !p.os.is_empty() && p.os != "unknown")
            .map(|p| p.os.to_ascii_lowercase())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

// ---------------------------------------------------------------------------------------
// RuntimeClasses
// ---------------------------------------------------------------------------------------

/// Options for [`generate_runtime_classes`].
#[derive(Clone, Debug)]
pub struct RuntimeClassOptions {
    /// Builds to generate classes for.
    pub builds: Vec<WindowsBuild>,
    /// Handler for process isolation.
    pub process_handler: String,
    /// Handler for Hyper-V isolation; `{build}` is replaced by the build number
    /// (`runhcs-wcow-hypervisor-{build}` → `runhcs-wcow-hypervisor-17763`).
    pub hyperv_handler: String,
    /// Generate the process-isolation classes.
    pub process: bool,
    /// Generate the Hyper-V classes.
    pub hyperv: bool,
    /// The Windows taint to tolerate; `None` when Windows nodes are not tainted.
    pub taint: Option<Taint>,
    /// Pod overhead of a Hyper-V pod (its utility VM).
    pub hyperv_overhead_memory: String,
    pub hyperv_overhead_cpu: String,
    /// Node architecture (`kubernetes.io/arch`).
    pub architecture: String,
}

impl Default for RuntimeClassOptions {
    fn default() -> Self {
        Self {
            builds: vec![
                WindowsBuild::ten(17763),
                WindowsBuild::ten(20348),
                WindowsBuild::ten(26100),
            ],
            process_handler: DEFAULT_PROCESS_HANDLER.into(),
            hyperv_handler: DEFAULT_HYPERV_HANDLER.into(),
            process: true,
            hyperv: true,
            taint: Some(Taint::default()),
            hyperv_overhead_memory: "512Mi".into(),
            hyperv_overhead_cpu: "100m".into(),
            architecture: "amd64".into(),
        }
    }
}

/// The name winkube gives a build in resource names: the release short name, else the
/// build number.
pub fn build_slug(build: WindowsBuild) -> String {
    match build.release() {
        Some(r) => r.short.to_owned(),
        None => build.build.to_string(),
    }
}

/// Name of the generated RuntimeClass for a build and isolation:
/// `windows-2019` (process) and `windows-2019-hyperv`.
pub fn runtime_class_name(build: WindowsBuild, isolation: Isolation) -> String {
    match isolation {
        Isolation::Process => format!("windows-{}", build_slug(build)),
        Isolation::HyperV => format!("windows-{}-hyperv", build_slug(build)),
    }
}

fn valid_handler(h: &str) -> bool {
    // RuntimeClass handler: a DNS-1123 label.
    !h.is_empty()
        && h.len() <= 63
        && h.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !h.starts_with('-')
        && !h.ends_with('-')
}

/// Generates RuntimeClasses: per build, a process-isolation class pinned to nodes of that
/// build, and a Hyper-V class that runs images of that build on any Windows node of that
/// build or newer, with the utility VM's overhead.
pub fn generate_runtime_classes(
    opts: &RuntimeClassOptions,
) -> Result<Vec<RuntimeClass>, WindowsError> {
    let mut out = Vec::new();
    let mut builds = opts.builds.clone();
    builds.sort();
    builds.dedup();
    for b in builds {
        let tolerations = opts.taint.as_ref().map(|t| vec![t.toleration()]);
        let meta = |iso: Isolation| ObjectMeta {
            name: Some(runtime_class_name(b, iso)),
            labels: Some(BTreeMap::from([
                (LABEL_ISOLATION.to_owned(), iso.to_string()),
                (
                    "app.kubernetes.io/managed-by".to_owned(),
                    "winkube".to_owned(),
                ),
            ])),
            annotations: Some(BTreeMap::from([(
                ANNOTATION_BUILD.to_owned(),
                b.to_string(),
            )])),
            ..Default::default()
        };
        if opts.process {
            if !valid_handler(&opts.process_handler) {
                return Err(WindowsError::InvalidHandler(
                    opts.process_handler.clone(),
                    "a handler must be a DNS-1123 label".into(),
                ));
            }
            out.push(RuntimeClass {
                metadata: meta(Isolation::Process),
                handler: opts.process_handler.clone(),
                overhead: None,
                scheduling: Some(Scheduling {
                    node_selector: Some(BTreeMap::from([
                        (LABEL_OS.to_owned(), OS_WINDOWS.to_owned()),
                        (LABEL_ARCH.to_owned(), opts.architecture.clone()),
                        (LABEL_WINDOWS_BUILD.to_owned(), b.to_string()),
                    ])),
                    tolerations: tolerations.clone(),
                }),
            });
        }
        if opts.hyperv {
            let handler = opts.hyperv_handler.replace("{build}", &b.build.to_string());
            if !valid_handler(&handler) {
                return Err(WindowsError::InvalidHandler(
                    opts.hyperv_handler.clone(),
                    "after replacing {build}, a handler must be a DNS-1123 label".into(),
                ));
            }
            out.push(RuntimeClass {
                metadata: meta(Isolation::HyperV),
                handler,
                overhead: Some(Overhead {
                    pod_fixed: Some(BTreeMap::from([
                        (
                            "memory".to_owned(),
                            Quantity(opts.hyperv_overhead_memory.clone()),
                        ),
                        ("cpu".to_owned(), Quantity(opts.hyperv_overhead_cpu.clone())),
                    ])),
                }),
                // No build pin: Hyper-V runs this build on any newer host; the policy adds
                // a build selector when only one node build fits.
                scheduling: Some(Scheduling {
                    node_selector: Some(BTreeMap::from([
                        (LABEL_OS.to_owned(), OS_WINDOWS.to_owned()),
                        (LABEL_ARCH.to_owned(), opts.architecture.clone()),
                    ])),
                    tolerations,
                }),
            });
        }
    }
    Ok(out)
}

/// Decides a RuntimeClass's isolation: winkube's label when present, else a handler that
/// is listed in `hyperv_handlers` or names the hypervisor (`runhcs-wcow-hypervisor*`).
pub fn runtime_class_isolation(rc: &RuntimeClass, hyperv_handlers: &[String]) -> Isolation {
    let label = rc
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_ISOLATION));
    match label.map(String::as_str) {
        Some("hyperv") => return Isolation::HyperV,
        Some("process") => return Isolation::Process,
        _ => {}
    }
    if hyperv_handlers.iter().any(|h| h == &rc.handler) || rc.handler.contains("hypervisor") {
        Isolation::HyperV
    } else {
        Isolation::Process
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn b(n: u32) -> WindowsBuild {
        WindowsBuild::ten(n)
    }

    #[test]
    fn parses_builds() {
        assert_eq!(WindowsBuild::parse("10.0.17763").unwrap(), b(17763));
        assert_eq!(WindowsBuild::parse("10.0.20348.2227").unwrap(), b(20348));
        assert_eq!(WindowsBuild::parse("ltsc2025").unwrap(), b(26100));
        assert_eq!(WindowsBuild::parse("2019").unwrap(), b(17763));
        assert_eq!(WindowsBuild::parse("1809").unwrap(), b(17763));
        for bad in ["", "10.0", "10.0.x", "10.0.1.2.3", "10..17763", "-1.0.1"] {
            assert!(WindowsBuild::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(b(17763).to_string(), "10.0.17763");
        assert_eq!(b(17763).describe(), "10.0.17763 (Windows Server 2019)");
        assert!(b(17763) < b(20348));
    }

    #[test]
    fn process_isolation_rule() {
        let table = [
            (17763, 17763, true),
            (17763, 14393, false),
            (20348, 17763, false),
            (20348, 20348, true),
            (26100, 20348, true),
            (26100, 26100, true),
            (26100, 17763, false),
            (20348, 26100, false),
            (26200, 20348, false),
            (26200, 26100, true),
            (25398, 20348, true),
            (17763, 18362, false),
        ];
        for (host, image, want) in table {
            assert_eq!(
                compatible(Isolation::Process, b(host), b(image)),
                want,
                "host {host} image {image}"
            );
        }
        assert!(!compatible(
            Isolation::Process,
            WindowsBuild::new(6, 3, 17763),
            b(17763)
        ));
    }

    #[test]
    fn hyperv_rule() {
        assert!(compatible(Isolation::HyperV, b(20348), b(17763)));
        assert!(compatible(Isolation::HyperV, b(26100), b(14393)));
        assert!(!compatible(Isolation::HyperV, b(17763), b(20348)));
    }

    #[test]
    fn taints() {
        let t = Taint::parse("os=windows:NoSchedule").unwrap();
        assert_eq!(t, Taint::default());
        assert_eq!(t.to_string(), "os=windows:NoSchedule");
        let t2 = Taint::parse("node.kubernetes.io/os:NoExecute").unwrap();
        assert_eq!(t2.value, "");
        assert_eq!(t2.toleration().operator.as_deref(), Some("Exists"));
        for bad in [
            "os=windows",
            "os=windows:Never",
            ":NoSchedule",
            "o s=w:NoSchedule",
        ] {
            assert!(Taint::parse(bad).is_err(), "{bad:?} accepted");
        }
        let tol =
            |k: Option<&str>, op: Option<&str>, v: Option<&str>, e: Option<&str>| Toleration {
                key: k.map(Into::into),
                operator: op.map(Into::into),
                value: v.map(Into::into),
                effect: e.map(Into::into),
                toleration_seconds: None,
            };
        assert!(t.tolerated_by(&t.toleration()));
        assert!(t.tolerated_by(&tol(None, Some("Exists"), None, None)));
        assert!(t.tolerated_by(&tol(Some("os"), Some("Exists"), None, Some("NoSchedule"))));
        assert!(!t.tolerated_by(&tol(Some("os"), None, Some("Windows"), None)));
        assert!(!t.tolerated_by(&tol(Some("os"), None, Some("windows"), Some("NoExecute"))));
        assert!(!t.tolerated_by(&tol(None, None, None, None)));
    }

    #[test]
    fn image_references() {
        let cases = [
            ("nginx", "docker.io", "library/nginx", None, None),
            (
                "nginx:1.25",
                "docker.io",
                "library/nginx",
                Some("1.25"),
                None,
            ),
            ("user/app", "docker.io", "user/app", None, None),
            (
                "mcr.microsoft.com/windows/servercore:ltsc2022",
                "mcr.microsoft.com",
                "windows/servercore",
                Some("ltsc2022"),
                None,
            ),
            (
                "localhost:5000/a/b:t",
                "localhost:5000",
                "a/b",
                Some("t"),
                None,
            ),
            ("localhost/a", "localhost", "a", None, None),
            ("127.0.0.1:5000/x", "127.0.0.1:5000", "x", None, None),
            ("[::1]:5000/x:1", "[::1]:5000", "x", Some("1"), None),
            (
                "index.docker.io/library/busybox",
                "docker.io",
                "library/busybox",
                None,
                None,
            ),
        ];
        for (s, reg, repo, tag, dig) in cases {
            let r = ImageReference::parse(s).unwrap();
            assert_eq!(r.registry, reg, "{s}");
            assert_eq!(r.repository, repo, "{s}");
            assert_eq!(r.tag.as_deref(), tag, "{s}");
            assert_eq!(r.digest.as_deref(), dig, "{s}");
        }
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageReference::parse(&format!("reg.io:443/x/y:v1@{d}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.manifest_reference(), d);
        assert!(!r.is_floating());
        assert!(ImageReference::parse("nginx").unwrap().is_floating());
        assert!(ImageReference::parse("nginx:latest").unwrap().is_floating());
        assert!(!ImageReference::parse("nginx:1").unwrap().is_floating());
        assert_eq!(
            ImageReference::parse("nginx").unwrap().to_string(),
            "docker.io/library/nginx"
        );
        for bad in ["", "Nginx", "a b", "x@sha256:zz", "x:", "reg.io/", "x:-t"] {
            assert!(ImageReference::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn runtime_classes() {
        let opts = RuntimeClassOptions {
            hyperv_handler: "runhcs-wcow-hypervisor-{build}".into(),
            ..Default::default()
        };
        let rcs = generate_runtime_classes(&opts).unwrap();
        assert_eq!(rcs.len(), 6);
        let p = &rcs[0];
        assert_eq!(p.metadata.name.as_deref(), Some("windows-2019"));
        assert_eq!(p.handler, "runhcs-wcow-process");
        let sel = p
            .scheduling
            .as_ref()
            .unwrap()
            .node_selector
            .as_ref()
            .unwrap();
        assert_eq!(sel[LABEL_WINDOWS_BUILD], "10.0.17763");
        assert_eq!(runtime_class_isolation(p, &[]), Isolation::Process);
        let h = &rcs[1];
        assert_eq!(h.metadata.name.as_deref(), Some("windows-2019-hyperv"));
        assert_eq!(h.handler, "runhcs-wcow-hypervisor-17763");
        let oh = h.overhead.as_ref().unwrap().pod_fixed.as_ref().unwrap();
        assert_eq!(oh["memory"].0, "512Mi");
        assert_eq!(runtime_class_isolation(h, &[]), Isolation::HyperV);
        let bad = RuntimeClassOptions {
            hyperv_handler: "Bad_Handler".into(),
            ..Default::default()
        };
        assert!(generate_runtime_classes(&bad).is_err());
        // A class named for Hyper-V but using the process handler is process isolation.
        let odd = RuntimeClass {
            metadata: ObjectMeta {
                name: Some("runhcs-wcow-hypervisor".into()),
                ..Default::default()
            },
            handler: "runhcs-wcow-process".into(),
            ..Default::default()
        };
        assert_eq!(runtime_class_isolation(&odd, &[]), Isolation::Process);
        assert_eq!(
            runtime_class_isolation(&odd, &["runhcs-wcow-process".into()]),
            Isolation::HyperV
        );
    }
}
