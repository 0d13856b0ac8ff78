//! The Windows policy configuration: one YAML file (`--policy FILE`), parsed from a string.
//!
//! ```yaml
//! exemptNamespaces: [kube-system, winkube]
//! images:
//!   onUnresolved: allow        # allow (warn) | deny
//!   detectOs: true             # use image platforms as an OS signal
//! scheduling:
//!   mode: enforce              # enforce | warn | off
//!   taint: os=windows:NoSchedule   # "" when Windows nodes are not tainted
//!   setOsName: false
//! linuxPinning:
//!   mode: off
//! memory:
//!   mode: warn                 # deny (= enforce) | default | warn | off
//!   floor: 300Mi
//! imageTags:
//!   mode: warn
//! osBuild:
//!   mode: enforce
//!   architecture: amd64
//!   hypervHandlers: []         # extra handlers that mean Hyper-V isolation
//! gmsaDomainReadiness:
//!   mode: off
//!   timeoutSeconds: 120
//!   intervalSeconds: 5
//! apiServer:                   # what the API server refuses, reported before it does
//!   mode: enforce
//!   kubernetesVersion: ""      # "1.29": only rules in force there ("" = every rule)
//! hostProcess:
//!   mode: enforce              # HostProcess pods only in these namespaces
//!   allowedNamespaces: [kube-system]
//! containerAdministrator:
//!   mode: warn                 # runAsUserName: ContainerAdministrator
//! ```

use serde::{Deserialize, Deserializer};
use winkube_api::windows::Taint;

use super::quantity;

/// What a policy does when it finds something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Mutate when the fix is unambiguous, deny otherwise.
    Enforce,
    /// Admission warnings only; never mutates or denies.
    Warn,
    Off,
}

/// The memory policy's modes: deny, set missing values, warn, off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryMode {
    #[serde(alias = "enforce")]
    Deny,
    /// Set a missing limit to the floor; values below the floor are still denied.
    Default,
    Warn,
    Off,
}

/// What happens to a pod whose images could not be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnresolved {
    /// Fail open: admit with a warning.
    Allow,
    /// Fail closed: deny.
    Deny,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ImagesConfig {
    pub on_unresolved: OnUnresolved,
    /// Whether the platforms of a pod's images count as an OS signal.
    pub detect_os: bool,
}

impl Default for ImagesConfig {
    fn default() -> Self {
        Self {
            on_unresolved: OnUnresolved::Allow,
            detect_os: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SchedulingConfig {
    pub mode: Mode,
    /// The Windows nodes' taint; `None` when they are not tainted.
    #[serde(deserialize_with = "de_taint")]
    pub taint: Option<Taint>,
    /// Also set `spec.os.name: windows` (the API server then applies its Windows checks).
    pub set_os_name: bool,
}

impl Default for SchedulingConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            taint: Some(Taint::default()),
            set_os_name: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LinuxPinningConfig {
    pub mode: Mode,
}

impl Default for LinuxPinningConfig {
    fn default() -> Self {
        Self { mode: Mode::Off }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct MemoryConfig {
    pub mode: MemoryMode,
    /// The smallest memory request or limit a Windows container may have, in bytes.
    #[serde(deserialize_with = "de_bytes")]
    pub floor: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            mode: MemoryMode::Warn,
            floor: 300 * 1024 * 1024,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ImageTagsConfig {
    pub mode: Mode,
}

impl Default for ImageTagsConfig {
    fn default() -> Self {
        Self { mode: Mode::Warn }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct OsBuildConfig {
    pub mode: Mode,
    /// Architecture assumed when the pod does not select one.
    pub architecture: String,
    /// Handlers that mean Hyper-V isolation besides `*hypervisor*` and winkube's label.
    pub hyperv_handlers: Vec<String>,
}

impl Default for OsBuildConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            architecture: "amd64".into(),
            hyperv_handlers: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct GmsaReadinessConfig {
    /// `enforce` adds the hook, `warn` says that it would, `off` does nothing.
    pub mode: Mode,
    /// How long the hook keeps trying before it fails the container.
    pub timeout_seconds: u32,
    /// Pause between tries (after restarting Netlogon).
    pub interval_seconds: u32,
}

impl Default for GmsaReadinessConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Off,
            timeout_seconds: 120,
            interval_seconds: 5,
        }
    }
}

/// What the API server refuses in a pod's Windows fields (`runAsUserName`, gMSA names, the
/// fields a Windows pod cannot set, HostProcess consistency), reported before it does.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ApiServerConfig {
    pub mode: Mode,
    /// The cluster's Kubernetes version (`1.29`, `v1.29.3`): rules the API server only
    /// applies from a later version are skipped. `None` applies every rule.
    #[serde(deserialize_with = "de_version")]
    pub kubernetes_version: Option<(u32, u32)>,
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            kubernetes_version: None,
        }
    }
}

/// HostProcess containers run as the node itself: only the listed namespaces may have them.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct HostProcessConfig {
    pub mode: Mode,
    pub allowed_namespaces: Vec<String>,
}

impl Default for HostProcessConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            allowed_namespaces: vec!["kube-system".into()],
        }
    }
}

/// `runAsUserName: ContainerAdministrator`: the container's administrator, which a
/// workload rarely needs.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ContainerAdministratorConfig {
    pub mode: Mode,
}

impl Default for ContainerAdministratorConfig {
    fn default() -> Self {
        Self { mode: Mode::Warn }
    }
}

/// The whole Windows policy configuration.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WindowsPolicyConfig {
    /// Namespaces no Windows policy touches. Replaces the default list when given.
    pub exempt_namespaces: Vec<String>,
    pub images: ImagesConfig,
    pub scheduling: SchedulingConfig,
    pub linux_pinning: LinuxPinningConfig,
    pub memory: MemoryConfig,
    pub image_tags: ImageTagsConfig,
    pub os_build: OsBuildConfig,
    pub gmsa_domain_readiness: GmsaReadinessConfig,
    pub api_server: ApiServerConfig,
    pub host_process: HostProcessConfig,
    pub container_administrator: ContainerAdministratorConfig,
}

impl Default for WindowsPolicyConfig {
    fn default() -> Self {
        Self {
            exempt_namespaces: vec!["kube-system".into(), "winkube".into()],
            images: ImagesConfig::default(),
            scheduling: SchedulingConfig::default(),
            linux_pinning: LinuxPinningConfig::default(),
            memory: MemoryConfig::default(),
            image_tags: ImageTagsConfig::default(),
            os_build: OsBuildConfig::default(),
            gmsa_domain_readiness: GmsaReadinessConfig::default(),
            api_server: ApiServerConfig::default(),
            host_process: HostProcessConfig::default(),
            container_administrator: ContainerAdministratorConfig::default(),
        }
    }
}

/// A policy file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid Windows policy configuration: {0}")]
pub struct PolicyConfigError(pub String);

impl WindowsPolicyConfig {
    /// Parses a policy file. Unknown keys, bad modes, bad taints and bad quantities are
    /// errors that name the offending key or value. An empty document gives the defaults.
    pub fn from_yaml(yaml: &str) -> Result<Self, PolicyConfigError> {
        if yaml.trim().is_empty() {
            return Ok(Self::default());
        }
        let cfg: Self =
            serde_saphyr::from_str(yaml).map_err(|e| PolicyConfigError(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), PolicyConfigError> {
        let g = &self.gmsa_domain_readiness;
        if g.interval_seconds == 0 || g.timeout_seconds == 0 {
            return Err(PolicyConfigError(
                "gmsaDomainReadiness.timeoutSeconds and intervalSeconds must be positive".into(),
            ));
        }
        if g.timeout_seconds > 3600 {
            return Err(PolicyConfigError(
                "gmsaDomainReadiness.timeoutSeconds must be at most 3600".into(),
            ));
        }
        if self.os_build.architecture.is_empty() {
            return Err(PolicyConfigError(
                "osBuild.architecture must not be empty".into(),
            ));
        }
        Ok(())
    }

    /// Is the namespace exempt from every Windows policy?
    pub fn is_exempt(&self, namespace: &str) -> bool {
        self.exempt_namespaces.iter().any(|n| n == namespace)
    }
}

fn de_taint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Taint>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => Taint::parse(t).map(Some).map_err(serde::de::Error::custom),
    }
}

/// `1.29`, `v1.29` or `v1.29.3` (what `kubectl version` prints) → (1, 29).
pub fn parse_kubernetes_version(s: &str) -> Option<(u32, u32)> {
    let s = s.trim();
    let s = s.strip_prefix('v').unwrap_or(s);
    let mut parts = s.splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    // A patch or pre-release part (`3`, `3-gke.100`) does not change which rules apply.
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().ok()?))
}

fn de_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(u32, u32)>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => parse_kubernetes_version(v).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "apiServer.kubernetesVersion {v:?} is not a version such as 1.29 or v1.29.3"
            ))
        }),
    }
}

fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    // Accept 300Mi as well as a bare number of bytes.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Q {
        N(u64),
        S(String),
    }
    let s = match Q::deserialize(d)? {
        Q::N(n) => return Ok(n),
        Q::S(s) => s,
    };
    let q = quantity::parse(&s).map_err(serde::de::Error::custom)?;
    if q.is_millis() {
        return Err(serde::de::Error::custom(format!(
            "memory.floor {s:?} is in millibytes; did you mean {}Mi?",
            s.trim_end_matches('m')
        )));
    }
    Ok(q.bytes_ceil())
}
