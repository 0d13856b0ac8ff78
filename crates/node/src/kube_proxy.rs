//! The Windows kube-proxy: a HostProcess DaemonSet whose image is built for the cluster's
//! exact Kubernetes version and the CNI (`sigwindowstools/kube-proxy:<version>-<cni>-
//! hostprocess`: the image's start script waits for the CNI's HNS network and runs
//! kube-proxy from the sandbox mount). kubeadm's own kube-proxy DaemonSet selects Linux
//! nodes; this one selects Windows nodes and tolerates their taint. It uses kubeadm's
//! `kube-proxy` ServiceAccount and ConfigMap in `kube-system`.

use std::fmt;

use serde_json::{Value, json};
use winkube_api::windows::{LABEL_OS, OS_WINDOWS, Taint};

use crate::version::KubernetesVersion;

pub const NAME: &str = "kube-proxy-windows";
pub const NAMESPACE: &str = "kube-system";
pub const DEFAULT_IMAGE_REPOSITORY: &str = "sigwindowstools/kube-proxy";

/// The CNI the cluster runs on its Windows nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cni {
    Calico,
    Flannel,
}

impl Cni {
    pub fn as_str(self) -> &'static str {
        match self {
            Cni::Calico => "calico",
            Cni::Flannel => "flannel",
        }
    }
}

impl fmt::Display for Cni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct KubeProxyOptions {
    /// The cluster's version (checked against the version table when parsed).
    pub version: KubernetesVersion,
    pub cni: Cni,
    /// The Windows nodes' taint.
    pub taint: Taint,
    pub image_repository: String,
}

impl KubeProxyOptions {
    pub fn new(version: KubernetesVersion, cni: Cni) -> Self {
        Self {
            version,
            cni,
            taint: Taint::default(),
            image_repository: DEFAULT_IMAGE_REPOSITORY.into(),
        }
    }

    /// `<repository>:<version>-<cni>-hostprocess`.
    pub fn image(&self) -> String {
        format!(
            "{}:{}-{}-hostprocess",
            self.image_repository, self.version, self.cni
        )
    }
}

/// The DaemonSet.
pub fn kube_proxy_daemonset(opts: &KubeProxyOptions) -> Value {
    let labels = json!({"k8s-app": NAME});
    let mut toleration = serde_json::to_value(opts.taint.toleration()).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut toleration {
        m.retain(|_, v| !v.is_null());
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {
                "k8s-app": NAME,
                "app.kubernetes.io/name": "kube-proxy",
                "app.kubernetes.io/version": opts.version.to_string(),
                "app.kubernetes.io/managed-by": "winkube",
            },
        },
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": "kube-proxy",
                    "priorityClassName": "system-node-critical",
                    "hostNetwork": true,
                    "securityContext": {
                        "windowsOptions": {
                            "hostProcess": true,
                            "runAsUserName": "NT AUTHORITY\\system",
                        },
                    },
                    "nodeSelector": {LABEL_OS: OS_WINDOWS},
                    // The DaemonSet controller adds the not-ready/unreachable ones itself.
                    "tolerations": [
                        toleration,
                        {"key": "CriticalAddonsOnly", "operator": "Exists"},
                    ],
                    "containers": [{
                        "name": "kube-proxy",
                        "image": opts.image(),
                        "args": ["$env:CONTAINER_SANDBOX_MOUNT_POINT/kube-proxy/start.ps1"],
                        "workingDir": "$env:CONTAINER_SANDBOX_MOUNT_POINT/kube-proxy/",
                        "env": [
                            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}},
                            {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                        ],
                        "volumeMounts": [{"name": "kube-proxy", "mountPath": "/var/lib/kube-proxy"}],
                    }],
                    "volumes": [{"name": "kube-proxy", "configMap": {"name": "kube-proxy"}}],
                },
            },
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DaemonSet;

    fn ds(version: &str, cni: Cni, taint: Option<&str>) -> DaemonSet {
        let mut o = KubeProxyOptions::new(KubernetesVersion::parse(version).unwrap(), cni);
        if let Some(t) = taint {
            o.taint = Taint::parse(t).unwrap();
        }
        // Typed: the object must be a valid DaemonSet, not just JSON.
        serde_json::from_value(kube_proxy_daemonset(&o)).unwrap()
    }

    #[test]
    fn image_matches_version_and_cni() {
        for (v, cni, image) in [
            (
                "v1.31.2",
                Cni::Calico,
                "sigwindowstools/kube-proxy:v1.31.2-calico-hostprocess",
            ),
            (
                "v1.29.0",
                Cni::Flannel,
                "sigwindowstools/kube-proxy:v1.29.0-flannel-hostprocess",
            ),
        ] {
            let d = ds(v, cni, None);
            let spec = d.spec.template.spec.unwrap();
            assert_eq!(spec.containers[0].image.as_deref(), Some(image));
            assert_eq!(d.metadata.labels.unwrap()["app.kubernetes.io/version"], v);
        }
    }

    #[test]
    fn pinned_to_windows_hostprocess_and_tolerating_the_taint() {
        for taint in [
            None,
            Some("dedicated=windows:NoExecute"),
            Some("windows:NoSchedule"),
        ] {
            let d = ds("v1.33.0", Cni::Calico, taint);
            let spec = d.spec.template.spec.unwrap();
            assert_eq!(spec.node_selector.unwrap()["kubernetes.io/os"], "windows");
            assert_eq!(spec.host_network, Some(true));
            let w = spec.security_context.unwrap().windows_options.unwrap();
            assert_eq!(w.host_process, Some(true));
            let t = taint.map(|t| Taint::parse(t).unwrap()).unwrap_or_default();
            let tolerations = spec.tolerations.unwrap();
            assert!(
                tolerations.iter().any(|x| t.tolerated_by(x)),
                "{t} not tolerated"
            );
            // Not a blanket toleration: a taint of another key stays respected.
            let other = Taint::parse("gpu=true:NoSchedule").unwrap();
            assert!(!tolerations.iter().any(|x| other.tolerated_by(x)));
        }
    }
}
