//! A Windows cluster in the API-server stand-in, healthy until a test breaks it, and
//! `winkube doctor` run against it (tests/doctor.rs, tests/doctor_errors.rs).

use std::process::Output;

use serde_json::{Value, json};
use winkube_testkit::ApiServer;

use super::*;

pub const SERVER_VERSION: &str = "v1.33.4";

pub fn windows_node(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/os": "windows",
            "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/windows-build": "10.0.20348",
        }},
        "spec": {"taints": [{"key": "os", "value": "windows", "effect": "NoSchedule"}]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "nodeInfo": {
                "kubeletVersion": SERVER_VERSION, "kernelVersion": "10.0.20348.2227",
                "architecture": "amd64", "bootID": "b", "containerRuntimeVersion": "containerd://1.7.20",
                "kubeProxyVersion": "", "machineID": "m", "operatingSystem": "windows",
                "osImage": "Windows Server 2022 Datacenter", "systemUUID": "u"
            }
        }
    })
}

pub fn pod(ns: &str, name: &str, node: &str, labels: Value, image: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": image}]},
        "status": {"phase": "Running"},
    })
}

pub fn kube_proxy(node: &str, version: &str) -> Value {
    pod(
        "kube-system",
        &format!("kube-proxy-windows-{node}"),
        node,
        json!({"k8s-app": "kube-proxy-windows"}),
        &format!("sigwindowstools/kube-proxy:{version}-calico-hostprocess"),
    )
}

/// The node's pods besides kube-proxy: Calico's, and `extra` application pods.
pub fn node_pods(api: &ApiServer, node: &str, extra: usize) {
    api.create(kube_proxy(node, SERVER_VERSION)).unwrap();
    api.create(pod(
        "calico-system",
        &format!("calico-node-windows-{node}"),
        node,
        json!({"k8s-app": "calico-node-windows"}),
        "docker.io/calico/node-windows:v3.30.0",
    ))
    .unwrap();
    for i in 0..extra {
        api.create(pod(
            "apps",
            &format!("app-{node}-{i}"),
            node,
            json!({"app": "web"}),
            "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022",
        ))
        .unwrap();
    }
}

/// A healthy cluster: `nodes` Windows nodes (win-1...) with kube-proxy, Calico and `extra`
/// pods each, a Linux node, RuntimeClasses, the CRD, winkube's installation (as `winkube
/// manifests install` prints it, caBundle set) with a ready endpoint, and a gMSA pod whose
/// credspec exists.
pub async fn healthy(nodes: usize, extra: usize) -> ApiServer {
    let api = ApiServer::start().await.unwrap();
    api.set_version(SERVER_VERSION);
    for i in 1..=nodes {
        let name = format!("win-{i}");
        api.create(windows_node(&name)).unwrap();
        node_pods(&api, &name, extra);
    }
    api.create(json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "lin-1", "labels": {"kubernetes.io/os": "linux"}},
        "status": {"conditions": [{"type": "Ready", "status": "False"}]}}))
        .unwrap();
    api.create(pod(
        "kube-system",
        "kube-proxy-linux",
        "lin-1",
        json!({"k8s-app": "kube-proxy"}),
        "registry.k8s.io/kube-proxy:v1.30.0",
    ))
    .unwrap();
    for rc in winkube_api::windows::generate_runtime_classes(&Default::default()).unwrap() {
        api.create_typed(&rc).unwrap();
    }
    api.create_typed(&winkube_api::crd::gmsa_credential_spec_crd())
        .unwrap();
    for doc in winkube_docs(&["manifests", "install"]) {
        match doc["kind"].as_str().unwrap() {
            "Service" => {
                api.create(doc).unwrap();
            }
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
                let mut doc = doc;
                for hook in doc["webhooks"].as_array_mut().unwrap() {
                    hook["clientConfig"]["caBundle"] = json!("LS0tLS1CRUdJTi0tLS0t");
                }
                api.create(doc).unwrap();
            }
            _ => {}
        }
    }
    api.create(endpoint_slice(Some(true))).unwrap();
    let credspec =
        std::fs::read_to_string(repo().join("examples/state/gmsa-webapp-1.yaml")).unwrap();
    api.create(serde_saphyr::from_str(&credspec).unwrap())
        .unwrap();
    let mut webapp = pod(
        "default",
        "webapp",
        "win-1",
        json!({"app": "webapp"}),
        "iis",
    );
    webapp["spec"]["securityContext"] =
        json!({"windowsOptions": {"gmsaCredentialSpecName": "gmsa-webapp-1"}});
    api.create(webapp).unwrap();
    api
}

pub fn endpoint_slice(ready: Option<bool>) -> Value {
    let mut endpoint = json!({"addresses": ["10.244.1.7"]});
    if let Some(r) = ready {
        endpoint["conditions"] = json!({"ready": r});
    }
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "winkube-x7k2p", "namespace": "winkube",
                     "labels": {"kubernetes.io/service-name": "winkube"}},
        "addressType": "IPv4",
        "endpoints": [endpoint],
        "ports": [{"name": "https", "port": 8443, "protocol": "TCP"}],
    })
}

/// `winkube doctor ARGS` against `api`, off the runtime's threads (the stand-in keeps
/// serving).
pub async fn doctor(api: &ApiServer, args: &[&str]) -> Output {
    winkube_cluster(api, "doctor", args).await
}

pub async fn doctor_json(api: &ApiServer) -> (i32, Value) {
    let o = doctor(api, &["-o", "json"]).await;
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    (code(&o), v)
}

/// Every check of a JSON report, with the node's name for node checks.
pub fn all_checks(report: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["checks"].as_array().unwrap().clone())
        .collect();
    out.extend(report["cluster"].as_array().unwrap().iter().cloned());
    out
}
