//! What a check is (id, status, object, message, fix), the version rules, and the checks of
//! one Windows node: pure functions over the objects `fetch` read.

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::api::node::v1::RuntimeClass;
use serde::Serialize;
use winkube_api::windows::{Channel, LABEL_WINDOWS_BUILD, RELEASES, Taint, WindowsBuild};

/// How a check came out. Only `Fail` makes `winkube doctor` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// The object a check is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn cluster(kind: &str, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: None,
            name: name.to_owned(),
        }
    }

    pub fn namespaced(kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable identifier (`node.ready`, `cluster.crd`, ...; docs/windows-nodes.md).
    pub id: &'static str,
    pub status: Status,
    pub object: ObjectRef,
    pub message: String,
    /// A command that fixes or diagnoses a failure or warning; `None` when it passed.
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(id: &'static str, object: &ObjectRef, message: impl Into<String>) -> Self {
        Self {
            id,
            status: Status::Pass,
            object: object.clone(),
            message: message.into(),
            fix: None,
        }
    }

    pub fn problem(
        id: &'static str,
        status: Status,
        object: &ObjectRef,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            id,
            status,
            object: object.clone(),
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

/// A Kubernetes version as the API server and kubelets report it (`v1.33.4`,
/// `v1.31.2+k3s1`, `v1.30.5-eks-ce1d5eb`): the suffix is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub fn parse(s: &str) -> Option<Self> {
        let core = s.trim().strip_prefix('v').unwrap_or(s.trim());
        let core = core.split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let num = |p: Option<&str>| -> Option<u32> {
            let p = p?;
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        };
        let v = Self {
            major: num(parts.next())?,
            minor: num(parts.next())?,
            patch: num(parts.next())?,
        };
        parts.next().is_none().then_some(v)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The kubelet version skew rule (kubernetes.io/releases/version-skew-policy, "kubelet"):
/// the kubelet must not be newer than kube-apiserver, and may be up to three minor versions
/// older (two minor versions older if kube-apiserver is older than v1.28). Compared on
/// major.minor; patch releases do not count. `Err` says why a kubelet is outside it.
pub fn kubelet_skew(server: Version, kubelet: Version) -> Result<(), String> {
    if kubelet.major != server.major {
        return Err(format!(
            "the kubelet's major version {} differs from the API server's {}",
            kubelet.major, server.major
        ));
    }
    if kubelet.minor > server.minor {
        return Err(format!(
            "the kubelet ({kubelet}) is newer than the API server ({server}); a kubelet must never be newer"
        ));
    }
    let allowed = if server.minor >= 28 { 3 } else { 2 };
    let behind = server.minor - kubelet.minor;
    if behind > allowed {
        return Err(format!(
            "the kubelet ({kubelet}) is {behind} minor versions older than the API server ({server}); at most {allowed} are supported"
        ));
    }
    Ok(())
}

/// The version in an image's tag (`sigwindowstools/kube-proxy:v1.33.4-calico-hostprocess`
/// → v1.33.4); `None` without a tag or when the tag does not start with a version.
pub fn image_tag_version(image: &str) -> Option<Version> {
    let without_digest = image.split('@').next()?;
    let last = without_digest.rsplit('/').next()?;
    let (_, tag) = last.split_once(':')?;
    let end = tag
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'v'))
        .unwrap_or(tag.len());
    Version::parse(&tag[..end])
}

/// The CNIs doctor recognises, by their pods' well-known labels and names.
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

fn label<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("")
}

/// A kube-proxy pod: `k8s-app` `kube-proxy` (kubeadm, Calico's Windows manifests) or
/// `kube-proxy-windows` (winkube's), or a name starting `kube-proxy`.
pub fn is_kube_proxy(pod: &Pod) -> bool {
    matches!(
        label(pod, "k8s-app"),
        Some("kube-proxy" | "kube-proxy-windows")
    ) || pod_name(pod).starts_with("kube-proxy")
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
    let p = mine[0];
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
