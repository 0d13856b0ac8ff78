//! Which pods are kube-proxy and CNI pods (by their well-known labels and names), whether a
//! pod is running, and its containers.

use k8s_openapi::api::core::v1::{Container, Pod};
pub use winkube_node::kube_proxy::Cni;
use winkube_node::kube_proxy::NAME as WINKUBE_KUBE_PROXY;

fn label<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

/// The pod's name (`""` if it has none).
pub fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("")
}

/// A kube-proxy pod: `k8s-app` `kube-proxy` (kubeadm, Calico's Windows manifests) or
/// `kube-proxy-windows` (winkube's), or a name starting `kube-proxy`.
pub fn is_kube_proxy(pod: &Pod) -> bool {
    label(pod, "k8s-app").is_some_and(|app| app == "kube-proxy" || app == WINKUBE_KUBE_PROXY)
        || pod_name(pod).starts_with("kube-proxy")
}

/// A CNI pod: Calico's node agent (`k8s-app` `calico-node` or `calico-node-windows`) or
/// Flannel's (`app: flannel`, `k8s-app: flannel`, or a name starting `kube-flannel`).
pub fn cni_of(pod: &Pod) -> Option<Cni> {
    let name = pod_name(pod);
    match label(pod, "k8s-app") {
        Some("calico-node" | "calico-node-windows") => return Some(Cni::Calico),
        Some("flannel") => return Some(Cni::Flannel),
        _ => {}
    }
    if label(pod, "app") == Some("flannel") || name.starts_with("kube-flannel") {
        return Some(Cni::Flannel);
    }
    name.starts_with("calico-node").then_some(Cni::Calico)
}

/// Whether a pod is running: phase Running and no container waiting (CrashLoopBackOff
/// keeps the phase Running). `Err` says what it is doing instead.
pub fn pod_running(pod: &Pod) -> Result<(), String> {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
    let waiting: Vec<String> = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let w = c.state.as_ref()?.waiting.as_ref()?;
            Some(format!(
                "{} waiting: {}",
                c.name,
                w.reason.as_deref().unwrap_or("unknown reason")
            ))
        })
        .collect();
    if phase == "Running" && waiting.is_empty() {
        return Ok(());
    }
    let mut why = format!("phase {phase}");
    if !waiting.is_empty() {
        why.push_str(&format!(" ({})", waiting.join(", ")));
    }
    Err(why)
}

/// The init and regular containers of a pod.
pub fn containers(pod: &Pod) -> Vec<&Container> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    spec.init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .collect()
}
