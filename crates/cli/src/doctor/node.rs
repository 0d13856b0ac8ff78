//! The checks of one Windows node: pure functions over the node, the pods on it, the API
//! server's version and the RuntimeClasses.

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::node::v1::RuntimeClass;
use winkube_api::windows::{Channel, LABEL_WINDOWS_BUILD, RELEASES, Taint, WindowsBuild};

use super::checks::{Check, ObjectRef, Status};
use super::pods::{Cni, cni_of, containers, is_kube_proxy, pod_name, pod_running};
use super::version::{Version, image_tag_version, kubelet_skew};

/// Everything the node checks need besides the node and its pods.
pub struct NodeContext<'a> {
    /// The API server's version, if it parsed.
    pub server: Option<Version>,
    pub server_text: &'a str,
    pub runtime_classes: &'a [RuntimeClass],
    pub taint: &'a Taint,
}

/// The checks of one Windows node, in a fixed order.
pub fn node_checks(node: &Node, pods: &[Pod], ctx: &NodeContext<'_>) -> Vec<Check> {
    let name = node.metadata.name.as_deref().unwrap_or("");
    let obj = ObjectRef::cluster("Node", name);
    let build = build_label(node);
    let kubelet = node
        .status
        .as_ref()
        .and_then(|s| s.node_info.as_ref())
        .map(|i| i.kubelet_version.as_str())
        .unwrap_or("");
    let cni = pods.iter().find_map(cni_of);
    vec![
        ready(node, &obj),
        build_check(node, build, &obj),
        taint_check(node, ctx.taint, &obj),
        kubelet_check(kubelet, ctx, &obj),
        kube_proxy_check(pods, kubelet, cni, &obj),
        cni_check(name, pods, cni, &obj),
        runtime_class_check(node, build, ctx.runtime_classes, &obj),
    ]
}

fn build_label(node: &Node) -> Option<&str> {
    node.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_WINDOWS_BUILD))
        .map(String::as_str)
}

fn ready(node: &Node, obj: &ObjectRef) -> Check {
    let name = &obj.name;
    let fix = format!(
        "kubectl describe node {name}; on the node: Get-Content C:\\var\\log\\kubelet\\kubelet.log -Tail 50"
    );
    let cond = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    match cond {
        Some(c) if c.status == "True" => Check::pass("node.ready", obj, "Ready"),
        Some(c) => Check::problem(
            "node.ready",
            Status::Fail,
            obj,
            format!(
                "not Ready (Ready={}{}{})",
                c.status,
                c.reason
                    .as_deref()
                    .map(|r| format!(", {r}"))
                    .unwrap_or_default(),
                c.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            fix,
        ),
        None => Check::problem(
            "node.ready",
            Status::Fail,
            obj,
            "no Ready condition: the kubelet has not reported",
            fix,
        ),
    }
}

fn supported_builds() -> String {
    RELEASES
        .iter()
        .filter(|r| r.channel != Channel::Client)
        .map(|r| r.build.describe())
        .collect::<Vec<_>>()
        .join(", ")
}

fn build_check(node: &Node, build: Option<&str>, obj: &ObjectRef) -> Check {
    let id = "node.windows-build";
    let Some(text) = build else {
        // The kubelet sets the label from the kernel version (10.0.20348.2227 → 10.0.20348).
        let kernel = node
            .status
            .as_ref()
            .and_then(|s| s.node_info.as_ref())
            .and_then(|i| WindowsBuild::parse(&i.kernel_version).ok());
        let value = kernel.map_or("<major.minor.build>".to_owned(), |b| b.to_string());
        return Check::problem(
            id,
            Status::Fail,
            obj,
            format!(
                "no {LABEL_WINDOWS_BUILD} label (the kubelet sets it on Windows nodes from 1.22)"
            ),
            format!(
                "kubectl label node {} {LABEL_WINDOWS_BUILD}={value}",
                obj.name
            ),
        );
    };
    let fix = format!(
        "run a Windows Server build from winkube's table ({}), then: winkube-node prepare --kubernetes-version <version>",
        supported_builds()
    );
    match WindowsBuild::parse(text) {
        Err(_) => Check::problem(
            id,
            Status::Fail,
            obj,
            format!("{LABEL_WINDOWS_BUILD}={text:?} is not a Windows build (major.minor.build)"),
            fix,
        ),
        Ok(b) => match b.release() {
            Some(r) if r.channel != Channel::Client => {
                Check::pass(id, obj, format!("{LABEL_WINDOWS_BUILD}={}", b.describe()))
            }
            Some(r) => Check::problem(
                id,
                Status::Fail,
                obj,
                format!(
                    "build {b} is {}, a client release, not a Windows Server build",
                    r.name
                ),
                fix,
            ),
            None => Check::problem(
                id,
                Status::Fail,
                obj,
                format!("build {b} is not in winkube's Windows build table"),
                fix,
            ),
        },
    }
}

fn taint_check(node: &Node, taint: &Taint, obj: &ObjectRef) -> Check {
    let id = "node.taint";
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let found = taints.iter().any(|t| {
        t.key == taint.key
            && t.value.as_deref().unwrap_or("") == taint.value
            && t.effect == taint.effect
    });
    if found {
        Check::pass(id, obj, format!("tainted {taint}"))
    } else {
        Check::problem(
            id,
            Status::Fail,
            obj,
            format!(
                "not tainted {taint}: pods without a Windows nodeSelector can be scheduled here (winkube's policies tolerate this taint; --taint names another)"
            ),
            format!("kubectl taint node {} {taint}", obj.name),
        )
    }
}

fn kubelet_check(kubelet: &str, ctx: &NodeContext<'_>, obj: &ObjectRef) -> Check {
    let id = "node.kubelet-version";
    let fix = |server: &str| {
        format!(
            "on the node: Stop-Service kubelet; winkube-node prepare --kubernetes-version {server}; C:\\k\\kubeadm.exe upgrade node; Start-Service kubelet"
        )
    };
    let Some(k) = Version::parse(kubelet) else {
        return Check::problem(
            id,
            Status::Warn,
            obj,
            format!("the kubelet's version {kubelet:?} does not parse"),
            format!(
                "kubectl get node {} -o jsonpath='{{.status.nodeInfo.kubeletVersion}}'",
                obj.name
            ),
        );
    };
    let Some(server) = ctx.server else {
        return Check::problem(
            id,
            Status::Warn,
            obj,
            format!(
                "kubelet {k}; the API server's version {:?} does not parse",
                ctx.server_text
            ),
            "kubectl version",
        );
    };
    match kubelet_skew(server, k) {
        Ok(()) => Check::pass(
            id,
            obj,
            format!("kubelet {k}, API server {server}: within the supported skew"),
        ),
        Err(why) => Check::problem(id, Status::Fail, obj, why, fix(&server.to_string())),
    }
}

fn kube_proxy_check(pods: &[Pod], kubelet: &str, cni: Option<Cni>, obj: &ObjectRef) -> Check {
    let id = "node.kube-proxy";
    let version = Version::parse(kubelet).map_or("<kubelet version>".to_owned(), |v| v.to_string());
    let cni_arg = cni.map_or("calico|flannel", Cni::as_str);
    let generate = format!(
        "winkube manifests kube-proxy --kubernetes-version {version} --cni {cni_arg} | kubectl apply -f -"
    );
    let proxies: Vec<&Pod> = pods.iter().filter(|p| is_kube_proxy(p)).collect();
    let Some(pod) = proxies
        .iter()
        .find(|p| pod_running(p).is_ok())
        .or(proxies.first())
    else {
        return Check::problem(
            id,
            Status::Fail,
            obj,
            "no kube-proxy pod on this node (kubeadm's kube-proxy selects Linux nodes only)",
            generate,
        );
    };
    let pod_ref = format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod_name(pod)
    );
    if let Err(why) = pod_running(pod) {
        return Check::problem(
            id,
            Status::Fail,
            obj,
            format!("kube-proxy pod {pod_ref} is not running: {why}"),
            format!(
                "kubectl -n {} describe pod {}",
                pod.metadata.namespace.as_deref().unwrap_or(""),
                pod_name(pod)
            ),
        );
    }
    let image = containers(pod)
        .into_iter()
        .filter_map(|c| c.image.as_deref())
        .find(|i| i.contains("kube-proxy"))
        .or_else(|| containers(pod).first().and_then(|c| c.image.as_deref()))
        .unwrap_or("");
    let (Some(proxy), Some(k)) = (image_tag_version(image), Version::parse(kubelet)) else {
        return Check::problem(
            id,
            Status::Warn,
            obj,
            format!(
                "kube-proxy pod {pod_ref} is running; its version cannot be read from image {image:?} (no vX.Y.Z tag) to compare with kubelet {kubelet:?}"
            ),
            generate,
        );
    };
    if proxy == k {
        Check::pass(
            id,
            obj,
            format!("kube-proxy pod {pod_ref} running, {proxy} as the kubelet"),
        )
    } else if (proxy.major, proxy.minor) == (k.major, k.minor) {
        Check::problem(
            id,
            Status::Warn,
            obj,
            format!(
                "kube-proxy pod {pod_ref} runs {proxy}, the kubelet {k}: same minor, but the Windows kube-proxy image is built per exact version"
            ),
            generate,
        )
    } else {
        Check::problem(
            id,
            Status::Fail,
            obj,
            format!("kube-proxy pod {pod_ref} runs {proxy}, but the kubelet is {k}"),
            generate,
        )
    }
}

fn cni_check(node: &str, pods: &[Pod], cni: Option<Cni>, obj: &ObjectRef) -> Check {
    let id = "node.cni";
    let list = format!("kubectl get pods -A -o wide --field-selector spec.nodeName={node}");
    let Some(cni) = cni else {
        return Check::problem(
            id,
            Status::Fail,
            obj,
            "no CNI pod (Calico's calico-node-windows or Flannel's kube-flannel-ds-windows) on this node",
            format!(
                "install the CNI's Windows part as its documentation says (docs/windows-nodes.md, step 1); then: {list}"
            ),
        );
    };
    let mine: Vec<&Pod> = pods.iter().filter(|p| cni_of(p) == Some(cni)).collect();
    if let Some(p) = mine.iter().find(|p| pod_running(p).is_ok()) {
        return Check::pass(
            id,
            obj,
            format!(
                "{} pod {}/{} running",
                cni.as_str(),
                p.metadata.namespace.as_deref().unwrap_or(""),
                pod_name(p)
            ),
        );
    }
    // `cni` was found among these pods, so there is one; none would read as "not running".
    let Some(p) = mine.first() else {
        return Check::problem(id, Status::Fail, obj, "no CNI pod", list);
    };
    let why = pod_running(p).err().unwrap_or_default();
    Check::problem(
        id,
        Status::Fail,
        obj,
        format!(
            "{} pod {}/{} is not running: {why}",
            cni.as_str(),
            p.metadata.namespace.as_deref().unwrap_or(""),
            pod_name(p)
        ),
        format!(
            "kubectl -n {} describe pod {}",
            p.metadata.namespace.as_deref().unwrap_or(""),
            pod_name(p)
        ),
    )
}

fn runtime_class_check(
    node: &Node,
    build: Option<&str>,
    classes: &[RuntimeClass],
    obj: &ObjectRef,
) -> Check {
    let id = "node.runtimeclass";
    let Some(build) = build.and_then(|b| WindowsBuild::parse(b).ok()) else {
        return Check::problem(
            id,
            Status::Warn,
            obj,
            "not checked: the node has no valid Windows build label (node.windows-build)",
            format!("kubectl get node {} --show-labels", obj.name),
        );
    };
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let pinned: Vec<&RuntimeClass> = classes
        .iter()
        .filter(|rc| {
            selector(rc)
                .and_then(|s| s.get(LABEL_WINDOWS_BUILD))
                .is_some_and(|b| WindowsBuild::parse(b).ok() == Some(build))
        })
        .collect();
    let matching: Vec<&str> = pinned
        .iter()
        .filter(|rc| selector(rc).is_some_and(|s| s.iter().all(|(k, v)| labels.get(k) == Some(v))))
        .filter_map(|rc| rc.metadata.name.as_deref())
        .collect();
    let fix = format!("winkube runtimeclass --build {build} | kubectl apply -f -");
    if !matching.is_empty() {
        return Check::pass(
            id,
            obj,
            format!(
                "RuntimeClass {} selects this node's build {build}",
                matching.join(", ")
            ),
        );
    }
    let message = if pinned.is_empty() {
        format!("no RuntimeClass's nodeSelector selects build {build}")
    } else {
        let names: Vec<&str> = pinned
            .iter()
            .filter_map(|rc| rc.metadata.name.as_deref())
            .collect();
        format!(
            "RuntimeClass {} pins build {build}, but its nodeSelector does not match this node's labels",
            names.join(", ")
        )
    };
    Check::problem(id, Status::Fail, obj, message, fix)
}

fn selector(rc: &RuntimeClass) -> Option<&std::collections::BTreeMap<String, String>> {
    rc.scheduling.as_ref()?.node_selector.as_ref()
}
