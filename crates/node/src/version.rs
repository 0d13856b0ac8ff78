//! Kubernetes versions and the version table: what a Windows kubelet and kubeadm need for
//! each version. Facts from the upstream node scripts and kubeadm (see
//! `docs/windows-nodes.md`, "Version table"); one test per boundary below.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::Error;

/// Oldest minor version known: HostProcess containers (the Windows kube-proxy) are on by
/// default from 1.23, and kubeadm's `v1beta3` API exists.
pub const MIN_MINOR: u32 = 23;
/// Newest minor version known. A newer one is refused until its row is checked and added:
/// the kubelet drops flags between minors (`--pod-infra-container-image` is gone by 1.35).
pub const MAX_MINOR: u32 = 35;

/// A released Kubernetes version, `vMAJOR.MINOR.PATCH` (no pre-release or build suffix:
/// the binaries and images are published under these names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubernetesVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KubernetesVersion {
    /// Parses `v1.31.2` (the `v` is required, as in release URLs and image tags) and checks
    /// that the version is in the table.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidVersion(s.to_owned());
        let rest = s.strip_prefix('v').ok_or_else(bad)?;
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() != 3 {
            return Err(bad());
        }
        let mut nums = [0u32; 3];
        for (i, p) in parts.iter().enumerate() {
            // No sign, no leading zeros (they would make two spellings of one version).
            if p.is_empty()
                || p.len() > 4
                || !p.bytes().all(|b| b.is_ascii_digit())
                || (p.len() > 1 && p.starts_with('0'))
            {
                return Err(bad());
            }
            nums[i] = p.parse().map_err(|_| bad())?;
        }
        let v = Self {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
        };
        v.rules()?;
        Ok(v)
    }

    /// The version table's row for this version.
    pub fn rules(&self) -> Result<VersionRules, Error> {
        rules_for(*self)
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for KubernetesVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl Serialize for KubernetesVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The kubeadm configuration API a version's `kubeadm join --config` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum KubeadmApi {
    /// `kubeadm.k8s.io/v1beta3`: `kubeletExtraArgs` is a map.
    V1beta3,
    /// `kubeadm.k8s.io/v1beta4` (1.31 on): `kubeletExtraArgs` is a list of name/value pairs.
    V1beta4,
}

impl KubeadmApi {
    pub fn api_version(self) -> &'static str {
        match self {
            KubeadmApi::V1beta3 => "kubeadm.k8s.io/v1beta3",
            KubeadmApi::V1beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }
}

/// The pause image the kubelet is told about below 1.27 (Microsoft's signed copy, as the
/// upstream scripts use); from 1.27 the sandbox image is containerd's setting.
pub const PAUSE_IMAGE: &str = "mcr.microsoft.com/oss/kubernetes/pause:3.6";

/// What one Kubernetes version needs on a Windows node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionRules {
    /// Below 1.24 (dockershim's flags): `--network-plugin=cni`.
    pub network_plugin_flag: bool,
    /// Below 1.24: `--image-pull-progress-deadline`.
    pub image_pull_progress_deadline_flag: bool,
    /// Below 1.27: `--pod-infra-container-image` (the flag is gone by 1.35).
    pub pod_infra_container_image_flag: bool,
    /// The `JoinConfiguration` API (v1beta4 from 1.31).
    pub kubeadm_api: KubeadmApi,
}

/// The table. The other upstream boundaries need no row here: below 1.26 the scripts added
/// `--log-dir`/`--logtostderr=false` for klog's file output, which winkube's service
/// runner replaces for every version (it captures and rotates the kubelet's stderr); below
/// 1.25 they passed `--cri-socket` to `kubeadm join`, which the `JoinConfiguration`'s
/// `nodeRegistration.criSocket` does for every version.
pub fn rules_for(v: KubernetesVersion) -> Result<VersionRules, Error> {
    if v.major != 1 || v.minor < MIN_MINOR || v.minor > MAX_MINOR {
        return Err(Error::UnknownVersion {
            version: v.to_string(),
            min: MIN_MINOR,
            max: MAX_MINOR,
        });
    }
    Ok(VersionRules {
        network_plugin_flag: v.minor < 24,
        image_pull_progress_deadline_flag: v.minor < 24,
        pod_infra_container_image_flag: v.minor < 27,
        kubeadm_api: if v.minor < 31 {
            KubeadmApi::V1beta3
        } else {
            KubeadmApi::V1beta4
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubernetesVersion {
        KubernetesVersion::parse(s).unwrap()
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(v("v1.31.2").to_string(), "v1.31.2");
        assert_eq!(v("v1.23.0").minor, 23);
        for bad in [
            "",
            "1.31.2",
            "v1.31",
            "v1.31.2.1",
            "v1.31.x",
            "v1.31.02",
            "v1.31.2-rc.1",
            "v1.31.2+k3s1",
            "V1.31.2",
            "v 1.31.2",
            "v1..2",
            "v-1.31.2",
        ] {
            assert!(
                matches!(KubernetesVersion::parse(bad), Err(Error::InvalidVersion(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn unknown_versions_name_the_range() {
        for s in ["v1.22.17", "v1.36.0", "v2.0.0", "v0.31.0"] {
            let e = KubernetesVersion::parse(s).unwrap_err();
            assert!(matches!(e, Error::UnknownVersion { .. }), "{s}: {e}");
            let msg = e.to_string();
            assert!(
                msg.contains(s) && msg.contains("v1.23.x to v1.35.x"),
                "{msg}"
            );
        }
    }

    /// One row per boundary: the last version before it and the first after it.
    #[test]
    fn table_boundaries() {
        use KubeadmApi::*;
        // (version, network-plugin, image-pull-progress-deadline, pod-infra-image, kubeadm API)
        let table = [
            ("v1.23.17", true, true, true, V1beta3),
            ("v1.24.0", false, false, true, V1beta3),
            ("v1.26.15", false, false, true, V1beta3),
            ("v1.27.0", false, false, false, V1beta3),
            ("v1.30.14", false, false, false, V1beta3),
            ("v1.31.0", false, false, false, V1beta4),
            ("v1.35.0", false, false, false, V1beta4),
        ];
        for (s, net, pull, pause, api) in table {
            let r = v(s).rules().unwrap();
            assert_eq!(r.network_plugin_flag, net, "{s} network-plugin");
            assert_eq!(
                r.image_pull_progress_deadline_flag, pull,
                "{s} pull deadline"
            );
            assert_eq!(r.pod_infra_container_image_flag, pause, "{s} pause image");
            assert_eq!(r.kubeadm_api, api, "{s} kubeadm API");
        }
    }
}
