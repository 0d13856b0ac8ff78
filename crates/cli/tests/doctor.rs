//! `winkube doctor`, the real binary against the API-server stand-in (real HTTPS, the real
//! kube client): a healthy cluster passes; each broken one fails exactly the check concerned,
//! naming the object and a fix; lists are paged.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Instant;

use serde_json::{Value, json};
use support::cluster::*;
use support::*;
use winkube_testkit::ApiServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_cluster_passes_every_check() {
    let api = healthy(2, 1).await;
    let (code, report) = doctor_json(&api).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["apiVersion"], "doctor.winkube.io/v1");
    assert_eq!(report["serverVersion"], SERVER_VERSION);
    let nodes: Vec<&str> = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["win-1", "win-2"], "the Linux node is not checked");
    let checks = all_checks(&report);
    for c in &checks {
        assert_eq!(c["status"], "pass", "{c:#}");
    }
    // 7 per node; CRD, 2 configurations, the Service, the one credspec named.
    assert_eq!(checks.len(), 2 * 7 + 5, "{report:#}");
    assert_eq!(report["summary"], json!({"pass": 19, "warn": 0, "fail": 0}));
    let credspec = checks
        .iter()
        .find(|c| c["id"] == "cluster.credspec")
        .unwrap();
    assert_eq!(credspec["object"]["name"], "gmsa-webapp-1");
    // Pods are listed per Windows node, by field selector, never for the Linux node.
    let pod_lists: Vec<String> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v1/pods")
        .map(|r| r.query)
        .collect();
    assert_eq!(pod_lists.len(), 2, "{pod_lists:?}");
    assert!(
        pod_lists.iter().all(|q| q.contains("spec.nodeName%3Dwin-")),
        "{pod_lists:?}"
    );
    // Doctor only reads.
    assert!(api.requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_output_groups_by_node_then_cluster() {
    let api = healthy(1, 0).await;
    api.apply(
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "win-1", "labels": {
        "kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.20348",
        "kubernetes.io/arch": "amd64"}}, "spec": {},
        "status": windows_node("win-1")["status"].clone()}),
    )
    .unwrap();
    let o = doctor(&api, &[]).await;
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let text = stdout(&o);
    let node = text.find("\nNode win-1\n").unwrap();
    let cluster = text.find("\nCluster\n").unwrap();
    assert!(node < cluster, "{text}");
    assert!(
        text.contains("  fail  node.taint                     not tainted os=windows:NoSchedule"),
        "{text}"
    );
    assert!(
        text.contains("        fix: kubectl taint node win-1 os=windows:NoSchedule\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "CustomResourceDefinition gmsacredentialspecs.windows.k8s.io: v1 served and stored"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("1 Windows node(s): 11 passed, 0 warning(s), 1 failed\n"),
        "{text}"
    );
}

type Break = fn(&ApiServer);

fn set_node(api: &ApiServer, change: fn(&mut Value)) {
    let mut n = windows_node("win-1");
    change(&mut n);
    api.apply(n).unwrap();
}

fn set_kube_proxy_version(api: &ApiServer, version: &str) {
    api.apply(kube_proxy("win-1", version)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_cluster_fails_the_check_concerned() {
    // (what, break it, check id, object name, status, words of the message)
    let cases: &[(&str, Break, &str, &str, &str, &str)] = &[
        (
            "NotReady node",
            |api| {
                set_node(
                    api,
                    |n| n["status"]["conditions"] = json!([{"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "container runtime network not ready"}]),
                )
            },
            "node.ready",
            "win-1",
            "fail",
            "not Ready (Ready=False, KubeletNotReady: container runtime network not ready)",
        ),
        (
            "missing build label",
            |api| {
                set_node(api, |n| {
                    n["metadata"]["labels"]
                        .as_object_mut()
                        .unwrap()
                        .remove("node.kubernetes.io/windows-build");
                })
            },
            "node.windows-build",
            "win-1",
            "fail",
            "no node.kubernetes.io/windows-build label",
        ),
        (
            "unsupported build",
            |api| {
                set_node(api, |n| {
                    n["metadata"]["labels"]["node.kubernetes.io/windows-build"] =
                        json!("10.0.30000")
                });
                // A class for that build exists, so only the build check fails.
                api.create(json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                    "metadata": {"name": "windows-30000"}, "handler": "runhcs-wcow-process",
                    "scheduling": {"nodeSelector": {"node.kubernetes.io/windows-build": "10.0.30000"}}})).unwrap();
            },
            "node.windows-build",
            "win-1",
            "fail",
            "build 10.0.30000 is not in winkube's Windows build table",
        ),
        (
            "missing taint",
            |api| {
                set_node(api, |n| {
                    n["spec"] = json!({"taints": [{"key": "gpu", "effect": "NoSchedule"}]})
                })
            },
            "node.taint",
            "win-1",
            "fail",
            "not tainted os=windows:NoSchedule",
        ),
        (
            "kubelet too old",
            |api| {
                set_node(api, |n| {
                    n["status"]["nodeInfo"]["kubeletVersion"] = json!("v1.29.10")
                });
                set_kube_proxy_version(api, "v1.29.10");
            },
            "node.kubelet-version",
            "win-1",
            "fail",
            "the kubelet (v1.29.10) is 4 minor versions older than the API server (v1.33.4); at most 3 are supported",
        ),
        (
            "kubelet newer than the API server",
            |api| api.set_version("v1.32.7"),
            "node.kubelet-version",
            "win-1",
            "fail",
            "the kubelet (v1.33.4) is newer than the API server (v1.32.7)",
        ),
        (
            "no kube-proxy pod",
            |api| {
                api.delete("v1", "Pod", "kube-system", "kube-proxy-windows-win-1")
                    .unwrap();
            },
            "node.kube-proxy",
            "win-1",
            "fail",
            "no kube-proxy pod on this node",
        ),
        (
            "kube-proxy version mismatch",
            |api| set_kube_proxy_version(api, "v1.31.2"),
            "node.kube-proxy",
            "win-1",
            "fail",
            "runs v1.31.2, but the kubelet is v1.33.4",
        ),
        (
            "kube-proxy patch mismatch",
            |api| set_kube_proxy_version(api, "v1.33.1"),
            "node.kube-proxy",
            "win-1",
            "warn",
            "runs v1.33.1, the kubelet v1.33.4",
        ),
        (
            "no CNI pod",
            |api| {
                api.delete("v1", "Pod", "calico-system", "calico-node-windows-win-1")
                    .unwrap();
            },
            "node.cni",
            "win-1",
            "fail",
            "no CNI pod",
        ),
        (
            "missing RuntimeClass",
            |api| {
                api.delete("node.k8s.io/v1", "RuntimeClass", "", "windows-2022")
                    .unwrap();
            },
            "node.runtimeclass",
            "win-1",
            "fail",
            "no RuntimeClass's nodeSelector selects build 10.0.20348",
        ),
        (
            "CRD missing",
            |api| {
                api.delete(
                    "apiextensions.k8s.io/v1",
                    "CustomResourceDefinition",
                    "",
                    "gmsacredentialspecs.windows.k8s.io",
                )
                .unwrap();
            },
            "cluster.crd",
            "gmsacredentialspecs.windows.k8s.io",
            "fail",
            "not installed",
        ),
        (
            "CRD v1 not stored",
            |api| {
                let mut crd = api
                    .get(
                        "apiextensions.k8s.io/v1",
                        "CustomResourceDefinition",
                        "",
                        "gmsacredentialspecs.windows.k8s.io",
                    )
                    .unwrap();
                for v in crd["spec"]["versions"].as_array_mut().unwrap() {
                    let v1 = v["name"] == "v1";
                    v["storage"] = json!(!v1);
                }
                api.apply(crd).unwrap();
            },
            "cluster.crd",
            "gmsacredentialspecs.windows.k8s.io",
            "fail",
            "stores v1alpha1 instead of v1",
        ),
        (
            "empty caBundle",
            |api| {
                let mut c = api
                    .get(
                        "admissionregistration.k8s.io/v1",
                        "ValidatingWebhookConfiguration",
                        "",
                        "winkube",
                    )
                    .unwrap();
                c["webhooks"][0]["clientConfig"]["caBundle"] = json!("");
                api.apply(c).unwrap();
            },
            "cluster.webhook-configuration",
            "winkube",
            "fail",
            "empty caBundle on admission-webhook.windows-gmsa.sigs.k8s.io",
        ),
        (
            "no ready endpoints",
            |api| {
                api.apply(endpoint_slice(Some(false))).unwrap();
            },
            "cluster.webhook-service",
            "winkube",
            "fail",
            "no ready endpoints (1 endpoint(s) in its EndpointSlices)",
        ),
        (
            "pod naming a missing credspec",
            |api| {
                api.delete(
                    "windows.k8s.io/v1",
                    "GMSACredentialSpec",
                    "",
                    "gmsa-webapp-1",
                )
                .unwrap();
            },
            "cluster.credspec",
            "gmsa-webapp-1",
            "fail",
            "missing, but named by running pod(s) default/webapp",
        ),
    ];
    for (what, break_it, id, object, status, needle) in cases {
        let api = healthy(1, 0).await;
        break_it(&api);
        let (code, report) = doctor_json(&api).await;
        let want_code = if *status == "fail" { 1 } else { 0 };
        assert_eq!(code, want_code, "{what}: {report:#}");
        let checks = all_checks(&report);
        let hit = checks
            .iter()
            .find(|c| c["id"] == *id && c["object"]["name"] == *object && c["status"] != "pass")
            .unwrap_or_else(|| panic!("{what}: no {status} {id} on {object}: {report:#}"));
        assert_eq!(hit["status"], *status, "{what}: {hit:#}");
        let message = hit["message"].as_str().unwrap();
        assert!(message.contains(needle), "{what}: {message}");
        assert!(
            hit["fix"].as_str().is_some_and(|f| !f.is_empty()),
            "{what}: {hit:#}"
        );
        // Without a build label no RuntimeClass can be matched: that check says so.
        let follows = |c: &Value| *id == "node.windows-build" && c["id"] == "node.runtimeclass";
        let others: Vec<&Value> = checks
            .iter()
            .filter(|c| c["status"] != "pass" && !std::ptr::eq(*c, hit) && !follows(c))
            .collect();
        assert!(
            others.is_empty(),
            "{what}: other checks unhappy: {others:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_lists_are_read_in_pages() {
    let api = healthy(5, 4).await;
    let (unpaged, report) = doctor_json(&api).await;
    assert_eq!(unpaged, 0, "{report:#}");
    api.clear_requests();
    let o = doctor(&api, &["-o", "json", "--chunk-size", "2"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let paged: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(paged, report, "pages of 2 read the same cluster");
    let requests = api.requests();
    let node_lists: Vec<&str> = requests
        .iter()
        .filter(|r| r.path == "/api/v1/nodes")
        .map(|r| r.query.as_str())
        .collect();
    // 5 Windows nodes in pages of 2: 3 requests, the last two continuing.
    assert_eq!(node_lists.len(), 3, "{node_lists:?}");
    assert!(node_lists.iter().all(|q| q.contains("limit=2")));
    assert_eq!(
        node_lists
            .iter()
            .filter(|q| q.contains("continue="))
            .count(),
        2
    );
    // 6 pods on each node (kube-proxy, Calico, 4 apps; win-1 also the gMSA pod): 3 or 4 pages.
    let pod_lists = requests.iter().filter(|r| r.path == "/api/v1/pods").count();
    assert_eq!(pod_lists, 4 * 3 + 4, "{requests:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_time_over_many_nodes_and_pods() {
    // A figure, not an assertion: 50 Windows nodes with 20 pods each.
    let api = healthy(50, 18).await;
    let start = Instant::now();
    let (code, report) = doctor_json(&api).await;
    let took = start.elapsed();
    assert_eq!(code, 0);
    assert_eq!(report["nodes"].as_array().unwrap().len(), 50);
    eprintln!(
        "winkube doctor: 50 Windows nodes, 1001 pods on them, {} requests: {took:?}",
        api.requests().len()
    );
}
