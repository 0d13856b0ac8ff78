//! Table tests of the node checks, the version rules and the pod classification, on objects
//! built as the API server would return them; no network.

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::node::v1::RuntimeClass;
use serde_json::{Value, json};
use winkube_api::windows::Taint;

use super::checks::*;
use super::node::*;
use super::pods::*;
use super::version::*;

fn healthy_node() -> Value {
    json!({
        "metadata": {"name": "win-1", "labels": {
            "kubernetes.io/os": "windows",
            "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/windows-build": "10.0.20348",
        }},
        "spec": {"taints": [{"key": "os", "value": "windows", "effect": "NoSchedule"}]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {
                "kubeletVersion": "v1.33.4", "kernelVersion": "10.0.20348.2227",
                "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "containerd://1.7.0",
                "kubeProxyVersion": "", "machineID": "", "operatingSystem": "windows",
                "osImage": "Windows Server 2022 Datacenter", "systemUUID": ""
            }
        }
    })
}

fn pod(ns: &str, name: &str, labels: Value, image: &str, phase: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": "win-1", "containers": [{"name": "c", "image": image}]},
        "status": {"phase": phase},
    })
}

fn healthy_pods() -> Vec<Value> {
    vec![
        pod(
            "kube-system",
            "kube-proxy-windows-abcde",
            json!({"k8s-app": "kube-proxy-windows"}),
            "sigwindowstools/kube-proxy:v1.33.4-calico-hostprocess",
            "Running",
        ),
        pod(
            "calico-system",
            "calico-node-windows-xyz",
            json!({"k8s-app": "calico-node-windows"}),
            "docker.io/calico/node-windows:v3.30.0",
            "Running",
        ),
    ]
}

fn runtime_class(name: &str, selector: Value) -> RuntimeClass {
    serde_json::from_value(json!({
        "metadata": {"name": name}, "handler": "runhcs-wcow-process",
        "scheduling": {"nodeSelector": selector},
    }))
    .unwrap()
}

fn healthy_classes() -> Vec<RuntimeClass> {
    vec![runtime_class(
        "windows-2022",
        json!({"kubernetes.io/os": "windows", "kubernetes.io/arch": "amd64",
               "node.kubernetes.io/windows-build": "10.0.20348"}),
    )]
}

/// The node checks of a node and pods, as (id, status, message, fix).
fn run(
    node: Value,
    pods: Vec<Value>,
    server: &str,
    classes: &[RuntimeClass],
) -> Vec<(String, Status, String, Option<String>)> {
    let node: Node = serde_json::from_value(node).unwrap();
    let pods: Vec<Pod> = pods
        .into_iter()
        .map(|p| serde_json::from_value(p).unwrap())
        .collect();
    let taint = Taint::default();
    let ctx = NodeContext {
        server: Version::parse(server),
        server_text: server,
        runtime_classes: classes,
        taint: &taint,
    };
    node_checks(&node, &pods, &ctx)
        .into_iter()
        .map(|c| (c.id.to_owned(), c.status, c.message, c.fix))
        .collect()
}

#[test]
fn a_healthy_node_passes_every_check() {
    let checks = run(
        healthy_node(),
        healthy_pods(),
        "v1.33.4",
        &healthy_classes(),
    );
    let ids: Vec<&str> = checks.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        ids,
        [
            "node.ready",
            "node.windows-build",
            "node.taint",
            "node.kubelet-version",
            "node.kube-proxy",
            "node.cni",
            "node.runtimeclass"
        ]
    );
    for c in &checks {
        assert_eq!(c.1, Status::Pass, "{c:?}");
        assert_eq!(c.3, None, "{c:?}");
    }
}

type Change = fn(&mut Value, &mut Vec<Value>, &mut Vec<RuntimeClass>);

#[test]
fn each_broken_node_fails_its_check_with_a_fix() {
    let cases: &[(&str, &str, Change, Status, &str, &str)] = &[
        (
            "NotReady",
            "v1.33.4",
            |n, _, _| {
                n["status"]["conditions"] = json!([{"type": "Ready", "status": "False",
                    "reason": "KubeletNotReady", "message": "cni config uninitialized"}]);
            },
            Status::Fail,
            "node.ready",
            "KubeletNotReady: cni config uninitialized",
        ),
        (
            "no Ready condition",
            "v1.33.4",
            |n, _, _| n["status"]["conditions"] = json!([]),
            Status::Fail,
            "node.ready",
            "no Ready condition",
        ),
        (
            "no build label",
            "v1.33.4",
            |n, _, _| {
                n["metadata"]["labels"]
                    .as_object_mut()
                    .unwrap()
                    .remove("node.kubernetes.io/windows-build");
            },
            Status::Fail,
            "node.windows-build",
            "no node.kubernetes.io/windows-build label",
        ),
        (
            "unsupported build",
            "v1.33.4",
            |n, _, _| {
                n["metadata"]["labels"]["node.kubernetes.io/windows-build"] = json!("10.0.99999")
            },
            Status::Fail,
            "node.windows-build",
            "not in winkube's Windows build table",
        ),
        (
            "client build",
            "v1.33.4",
            |n, _, _| {
                n["metadata"]["labels"]["node.kubernetes.io/windows-build"] = json!("10.0.22621")
            },
            Status::Fail,
            "node.windows-build",
            "a client release",
        ),
        (
            "garbage build",
            "v1.33.4",
            |n, _, _| n["metadata"]["labels"]["node.kubernetes.io/windows-build"] = json!("ltsc"),
            Status::Fail,
            "node.windows-build",
            "is not a Windows build",
        ),
        (
            "no taint",
            "v1.33.4",
            |n, _, _| n["spec"] = json!({}),
            Status::Fail,
            "node.taint",
            "not tainted os=windows:NoSchedule",
        ),
        (
            "taint with another effect",
            "v1.33.4",
            |n, _, _| n["spec"]["taints"][0]["effect"] = json!("NoExecute"),
            Status::Fail,
            "node.taint",
            "not tainted",
        ),
        (
            "kubelet 4 minors older",
            "v1.33.4",
            |n, p, _| {
                n["status"]["nodeInfo"]["kubeletVersion"] = json!("v1.29.9");
                p[0]["spec"]["containers"][0]["image"] =
                    json!("sigwindowstools/kube-proxy:v1.29.9-calico-hostprocess");
            },
            Status::Fail,
            "node.kubelet-version",
            "4 minor versions older than the API server (v1.33.4); at most 3",
        ),
        (
            "kubelet newer than the API server",
            "v1.33.4",
            |n, p, _| {
                n["status"]["nodeInfo"]["kubeletVersion"] = json!("v1.34.0");
                p[0]["spec"]["containers"][0]["image"] =
                    json!("sigwindowstools/kube-proxy:v1.34.0-calico-hostprocess");
            },
            Status::Fail,
            "node.kubelet-version",
            "newer than the API server",
        ),
        (
            "before 1.28 only two minors",
            "v1.27.3",
            |n, p, _| {
                n["status"]["nodeInfo"]["kubeletVersion"] = json!("v1.24.0");
                p[0]["spec"]["containers"][0]["image"] =
                    json!("sigwindowstools/kube-proxy:v1.24.0-calico-hostprocess");
            },
            Status::Fail,
            "node.kubelet-version",
            "at most 2 are supported",
        ),
        (
            "no kube-proxy pod",
            "v1.33.4",
            |_, p, _| {
                p.remove(0);
            },
            Status::Fail,
            "node.kube-proxy",
            "no kube-proxy pod on this node",
        ),
        (
            "kube-proxy pending",
            "v1.33.4",
            |_, p, _| {
                p[0]["status"] = json!({"phase": "Pending", "containerStatuses": [{
                    "name": "kube-proxy", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "ImagePullBackOff"}}}]});
            },
            Status::Fail,
            "node.kube-proxy",
            "phase Pending (kube-proxy waiting: ImagePullBackOff)",
        ),
        (
            "kube-proxy crash-looping",
            "v1.33.4",
            |_, p, _| {
                p[0]["status"] = json!({"phase": "Running", "containerStatuses": [{
                    "name": "kube-proxy", "image": "x", "imageID": "", "ready": false, "restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]});
            },
            Status::Fail,
            "node.kube-proxy",
            "CrashLoopBackOff",
        ),
        (
            "kube-proxy of another minor",
            "v1.33.4",
            |_, p, _| {
                p[0]["spec"]["containers"][0]["image"] =
                    json!("sigwindowstools/kube-proxy:v1.32.1-calico-hostprocess");
            },
            Status::Fail,
            "node.kube-proxy",
            "runs v1.32.1, but the kubelet is v1.33.4",
        ),
        (
            "kube-proxy of another patch",
            "v1.33.4",
            |_, p, _| {
                p[0]["spec"]["containers"][0]["image"] =
                    json!("sigwindowstools/kube-proxy:v1.33.1-calico-hostprocess");
            },
            Status::Warn,
            "node.kube-proxy",
            "same minor",
        ),
        (
            "kube-proxy by digest",
            "v1.33.4",
            |_, p, _| {
                p[0]["spec"]["containers"][0]["image"] =
                    json!("mirror.example/kube-proxy@sha256:0123");
            },
            Status::Warn,
            "node.kube-proxy",
            "cannot be read from image",
        ),
        (
            "no CNI pod",
            "v1.33.4",
            |_, p, _| {
                p.remove(1);
            },
            Status::Fail,
            "node.cni",
            "no CNI pod",
        ),
        (
            "CNI pod failed",
            "v1.33.4",
            |_, p, _| p[1]["status"]["phase"] = json!("Failed"),
            Status::Fail,
            "node.cni",
            "calico pod calico-system/calico-node-windows-xyz is not running: phase Failed",
        ),
        (
            "no RuntimeClass",
            "v1.33.4",
            |_, _, c| c.clear(),
            Status::Fail,
            "node.runtimeclass",
            "no RuntimeClass's nodeSelector selects build 10.0.20348",
        ),
        (
            "RuntimeClass of another build only",
            "v1.33.4",
            |_, _, c| {
                c[0] = runtime_class(
                    "windows-2019",
                    json!({"node.kubernetes.io/windows-build": "10.0.17763"}),
                );
            },
            Status::Fail,
            "node.runtimeclass",
            "no RuntimeClass's nodeSelector",
        ),
        (
            "RuntimeClass for another architecture",
            "v1.33.4",
            |_, _, c| {
                c[0] = runtime_class(
                    "windows-2022-arm",
                    json!({"kubernetes.io/arch": "arm64", "node.kubernetes.io/windows-build": "10.0.20348"}),
                );
            },
            Status::Fail,
            "node.runtimeclass",
            "does not match this node's labels",
        ),
    ];
    for (what, server, change, status, id, needle) in cases {
        let (mut n, mut p, mut c) = (healthy_node(), healthy_pods(), healthy_classes());
        change(&mut n, &mut p, &mut c);
        let checks = run(n, p, server, &c);
        let check = checks.iter().find(|x| x.0 == *id).unwrap();
        assert_eq!(check.1, *status, "{what}: {check:?}");
        assert!(check.2.contains(needle), "{what}: {check:?}");
        assert!(
            check.3.as_deref().is_some_and(|f| !f.is_empty()),
            "{what}: no fix"
        );
        // Only the check concerned is unhappy (without a known build, no RuntimeClass can
        // be matched to it).
        let follows = |x: &str| *id == "node.windows-build" && x == "node.runtimeclass";
        for other in checks.iter().filter(|x| x.0 != *id && !follows(&x.0)) {
            assert_eq!(other.1, Status::Pass, "{what}: {other:?}");
        }
    }
}

#[test]
fn fixes_are_concrete_commands() {
    let mut n = healthy_node();
    n["spec"] = json!({});
    n["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("node.kubernetes.io/windows-build");
    let mut p = healthy_pods();
    p.remove(0);
    let checks = run(n, p, "v1.33.4", &[]);
    let fix = |id: &str| {
        checks
            .iter()
            .find(|c| c.0 == id)
            .unwrap()
            .3
            .clone()
            .unwrap()
    };
    // The build comes from the kernel version the kubelet reports.
    assert_eq!(
        fix("node.windows-build"),
        "kubectl label node win-1 node.kubernetes.io/windows-build=10.0.20348"
    );
    assert_eq!(
        fix("node.taint"),
        "kubectl taint node win-1 os=windows:NoSchedule"
    );
    // The kubelet's version, and the CNI found on the node.
    assert_eq!(
        fix("node.kube-proxy"),
        "winkube manifests kube-proxy --kubernetes-version v1.33.4 --cni calico | kubectl apply -f -"
    );
}

#[test]
fn version_rules() {
    let v = |s: &str| Version::parse(s).unwrap();
    assert_eq!(v("v1.31.2+k3s1"), v("1.31.2"));
    assert_eq!(v("v1.30.5-eks-ce1d5eb").minor, 30);
    for bad in ["", "v1.2", "v1.2.3.4", "vx.1.2", "v1..2"] {
        assert_eq!(Version::parse(bad), None, "{bad:?}");
    }
    // (server, kubelet, ok): never newer; 3 older from 1.28, 2 before.
    for (server, kubelet, ok) in [
        ("v1.33.0", "v1.33.9", true),
        ("v1.33.0", "v1.30.0", true),
        ("v1.33.0", "v1.29.0", false),
        ("v1.33.0", "v1.34.0", false),
        ("v1.28.0", "v1.25.0", true),
        ("v1.27.0", "v1.25.0", true),
        ("v1.27.0", "v1.24.0", false),
        ("v1.33.0", "v2.33.0", false),
    ] {
        assert_eq!(
            kubelet_skew(v(server), v(kubelet)).is_ok(),
            ok,
            "{server} {kubelet}"
        );
    }
    for (image, want) in [
        (
            "sigwindowstools/kube-proxy:v1.33.4-calico-hostprocess",
            Some("v1.33.4"),
        ),
        ("registry:5000/kube-proxy:v1.31.0", Some("v1.31.0")),
        ("registry:5000/kube-proxy", None),
        ("kube-proxy:latest", None),
        ("kube-proxy@sha256:abc", None),
    ] {
        assert_eq!(
            image_tag_version(image).map(|v| v.to_string()).as_deref(),
            want,
            "{image}"
        );
    }
}

#[test]
fn kube_proxy_and_cni_pods_by_well_known_labels_and_names() {
    let p = |name: &str, labels: Value| -> Pod {
        serde_json::from_value(pod("x", name, labels, "i", "Running")).unwrap()
    };
    assert!(is_kube_proxy(&p("a", json!({"k8s-app": "kube-proxy"}))));
    assert!(is_kube_proxy(&p("kube-proxy-windows-x", json!({}))));
    assert!(!is_kube_proxy(&p("proxy", json!({"k8s-app": "proxy"}))));
    assert_eq!(
        cni_of(&p("a", json!({"k8s-app": "calico-node"}))),
        Some(Cni::Calico)
    );
    assert_eq!(
        cni_of(&p("kube-flannel-ds-windows-amd64-x", json!({}))),
        Some(Cni::Flannel)
    );
    assert_eq!(
        cni_of(&p("a", json!({"app": "flannel"}))),
        Some(Cni::Flannel)
    );
    assert_eq!(cni_of(&p("web", json!({"app": "web"}))), None);
}
