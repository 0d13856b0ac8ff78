//! `winkube doctor`'s errors and flags: an unreachable cluster, missing permissions, bad
//! configuration (exit 2), `--namespace`, and `--help`.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::cluster::*;
use support::*;
use winkube_testkit::ApiServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_is_a_clear_error() {
    let api = ApiServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig_file(&api, dir.path());
    // The same kubeconfig, pointing at a port nobody listens on any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = std::fs::read_to_string(&kc)
        .unwrap()
        .replace(&api.url(), &format!("https://127.0.0.1:{port}"));
    std::fs::write(&kc, text).unwrap();
    let kc = kc.to_string_lossy().into_owned();
    let o = tokio::task::spawn_blocking(move || {
        winkube(&["doctor", "--kubeconfig", &kc, "--request-timeout", "5"])
    })
    .await
    .unwrap();
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(
        err.starts_with(
            "error: cannot read the API server's version: the API server cannot be reached"
        ),
        "{err}"
    );
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(
        err.contains("Connection refused"),
        "the cause is named: {err}"
    );
    assert_eq!(
        err.lines().count(),
        1,
        "one error, not the client's log too: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(&o).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_permissions_name_what_doctor_needs() {
    let api = healthy(1, 0).await;
    api.fail_requests("GET", "/apis/node.k8s.io/v1/runtimeclasses", Some(403));
    let o = doctor(&api, &[]).await;
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(
        err.starts_with("error: cannot list RuntimeClasses: forbidden"),
        "{err}"
    );
    assert!(err.contains("\"Checking a node: winkube doctor\""), "{err}");
}

#[test]
fn configuration_errors_exit_2() {
    for args in [
        vec!["doctor", "--kubeconfig", "/nonexistent/kubeconfig"],
        vec!["doctor", "--output", "yaml"],
        vec!["doctor", "--namespace", "Not_A_Namespace"],
        vec!["doctor", "--taint", "os=windows"],
        vec!["doctor", "--chunk-size", "0"],
    ] {
        let o = winkube(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_context_is_a_configuration_error() {
    let api = healthy(1, 0).await;
    let o = doctor(&api, &["--context", "nope"]).await;
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namespace_flag_moves_the_service_looked_at() {
    let api = healthy(1, 0).await;
    let (_, report) = doctor_json(&api).await;
    assert_eq!(report["namespace"], "winkube");
    let o = doctor(&api, &["-o", "json", "-n", "gmsa"]).await;
    assert_eq!(code(&o), 1);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let service = all_checks(&report)
        .into_iter()
        .find(|c| c["id"] == "cluster.webhook-service")
        .unwrap();
    assert_eq!(
        service["object"],
        json!({"kind": "Service", "namespace": "gmsa", "name": "winkube"})
    );
    assert_eq!(service["status"], "fail");
    // The configurations call winkube/winkube: doctor says which namespace to look at.
    let config = all_checks(&report)
        .into_iter()
        .find(|c| c["id"] == "cluster.webhook-configuration")
        .unwrap();
    assert_eq!(config["status"], "warn");
    assert_eq!(config["fix"], "winkube doctor --namespace winkube");
}

#[test]
fn help_explains_every_flag() {
    let o = winkube(&["doctor", "--help"]);
    assert_eq!(code(&o), 0);
    let help = stdout(&o);
    for flag in [
        "--namespace",
        "--output",
        "--taint",
        "--kubeconfig",
        "--context",
        "--request-timeout",
        "--chunk-size",
    ] {
        let line = help
            .lines()
            .find(|l| l.contains(flag))
            .unwrap_or_else(|| panic!("{flag}: {help}"));
        let i = help.find(line).unwrap();
        // The flag's line is followed by its explanation.
        let after = &help[i + line.len()..];
        assert!(after.trim_start().len() > 10, "{flag} unexplained: {help}");
    }
    assert!(help.contains("Exit codes: 0 no check failed"), "{help}");
}

/// The YAML block of docs/windows-nodes.md holding the ClusterRole `winkube-doctor`.
fn documented_rbac() -> Vec<Value> {
    let text = std::fs::read_to_string(repo().join("docs/windows-nodes.md")).unwrap();
    let block = text
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.contains("name: winkube-doctor"))
        .expect("docs/windows-nodes.md has the winkube-doctor ClusterRole");
    yaml_docs(block)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_rbac_allows_every_request_doctor_makes() {
    let snapshot = rbac_snapshot(&documented_rbac());
    let operator =
        winkube_rbac::UserInfo::new("alice".to_owned(), vec!["windows-operators".to_owned()]);
    let api = healthy(2, 1).await;
    // The optional Windows policies' configurations too, so their reads are covered.
    for doc in winkube_docs(&["manifests", "install", "--windows-policies"]) {
        if doc["metadata"]["name"] == "winkube-windows" {
            api.create(doc).unwrap();
        }
    }
    let o = doctor(&api, &[]).await;
    assert_ne!(code(&o), 2, "{}", stderr(&o));
    let checked = assert_requests_allowed(&api.requests(), &snapshot, &operator);
    // /version, nodes, 2 nodes' pods, RuntimeClasses, the CRD, 4 configurations, the
    // Service, its EndpointSlices, credspecs.
    assert_eq!(checked, 13, "{:#?}", api.requests());
    // And nothing more: no Secret, no other namespace's Service, no writes.
    support::assert_requests_denied(
        &snapshot,
        &operator,
        &[
            ("get", "", "secrets", "winkube", "winkube-tls"),
            ("list", "", "secrets", "", ""),
            ("get", "", "services", "kube-system", "kube-dns"),
            (
                "patch",
                "admissionregistration.k8s.io",
                "mutatingwebhookconfigurations",
                "",
                "winkube",
            ),
            (
                "get",
                "admissionregistration.k8s.io",
                "validatingwebhookconfigurations",
                "",
                "other",
            ),
            ("delete", "", "pods", "default", "webapp"),
        ],
    );
}
