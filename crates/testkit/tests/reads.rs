//! The stand-in's reads as the real kube client sees them: paged lists (`limit`/`continue`,
//! 410 once compacted), label selectors, per-kind field selectors, and `GET /version`.
#![allow(clippy::unwrap_used)]

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use serde_json::json;
use winkube_testkit::ApiServer;

fn code(e: kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("not an API error: {other}"),
    }
}

fn node(api: &ApiServer, name: &str, os: &str) {
    api.create(json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/os": os}}}))
        .unwrap();
}

fn pod(api: &ApiServer, ns: &str, name: &str, node: &str, phase: &str) {
    api.create(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"nodeName": node, "containers": [{"name": "c"}]},
        "status": {"phase": phase}}))
        .unwrap();
}

#[tokio::test]
async fn lists_are_paged_in_key_order_with_continue_tokens() {
    let server = ApiServer::start().await.unwrap();
    for i in 0..5 {
        node(&server, &format!("n{i}"), "windows");
    }
    let nodes: Api<Node> = Api::all(server.client().unwrap());
    let first = nodes.list(&ListParams::default().limit(2)).await.unwrap();
    let names = |l: &kube::api::ObjectList<Node>| -> Vec<String> {
        l.items
            .iter()
            .map(|n| n.metadata.name.clone().unwrap())
            .collect()
    };
    assert_eq!(names(&first), ["n0", "n1"]);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let token = first.metadata.continue_.clone().unwrap();
    // A node created meanwhile after the last key is seen by later pages.
    node(&server, "n9", "windows");
    let second = nodes
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&second), ["n2", "n3"]);
    assert_eq!(
        second.metadata.resource_version, first.metadata.resource_version,
        "pages report the first page's resourceVersion"
    );
    let third = nodes
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(second.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(names(&third), ["n4", "n9"]);
    assert!(third.metadata.continue_.is_none());
    // Without a limit: one page.
    let all = nodes.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), 6);
    assert!(all.metadata.continue_.is_none());
    // An expired token is a 410; a garbled one a 400.
    server.compact();
    node(&server, "n10", "windows");
    let e = nodes
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap_err();
    assert_eq!(code(e), 410);
    let e = nodes
        .list(&ListParams::default().limit(2).continue_token("garbage!"))
        .await
        .unwrap_err();
    assert_eq!(code(e), 400);
}

/// Pages break between namespaces whose names sort differently as strings and as keys
/// ("a-b/x" < "a/x" as text, but namespace "a" < "a-b"): every pod comes exactly once.
#[tokio::test]
async fn pages_across_namespaces_skip_and_repeat_nothing() {
    let server = ApiServer::start().await.unwrap();
    let mut want = Vec::new();
    for ns in ["a", "a-b", "a.c", "ab"] {
        for i in 0..3 {
            pod(&server, ns, &format!("p{i}"), "n", "Running");
            want.push(format!("{ns}/p{i}"));
        }
    }
    let pods: Api<Pod> = Api::all(server.client().unwrap());
    for limit in 1..=5 {
        let mut got = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(limit);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let page = pods.list(&lp).await.unwrap();
            got.extend(page.items.iter().map(|p| {
                format!(
                    "{}/{}",
                    p.metadata.namespace.clone().unwrap(),
                    p.metadata.name.clone().unwrap()
                )
            }));
            token = page.metadata.continue_.clone();
            if token.is_none() {
                break;
            }
        }
        assert_eq!(got, want, "limit {limit}");
    }
}

#[tokio::test]
async fn label_and_field_selectors_filter_lists() {
    let server = ApiServer::start().await.unwrap();
    node(&server, "win-1", "windows");
    node(&server, "lin-1", "linux");
    pod(&server, "a", "p1", "win-1", "Running");
    pod(&server, "b", "p2", "win-1", "Pending");
    pod(&server, "a", "p3", "lin-1", "Running");
    let client = server.client().unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    let windows = nodes
        .list(&ListParams::default().labels("kubernetes.io/os=windows"))
        .await
        .unwrap();
    assert_eq!(windows.items.len(), 1);
    assert_eq!(windows.items[0].metadata.name.as_deref(), Some("win-1"));
    let not_linux = nodes
        .list(&ListParams::default().labels("kubernetes.io/os notin (linux)"))
        .await
        .unwrap();
    assert_eq!(not_linux.items.len(), 1);

    let pods: Api<Pod> = Api::all(client);
    let on_win = pods
        .list(&ListParams::default().fields("spec.nodeName=win-1"))
        .await
        .unwrap();
    let mut names: Vec<String> = on_win
        .items
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["p1", "p2"]);
    let running = pods
        .list(&ListParams::default().fields("spec.nodeName=win-1,status.phase=Running"))
        .await
        .unwrap();
    assert_eq!(running.items.len(), 1);
    // Paging and selectors together: the selected objects are paged.
    let page = pods
        .list(&ListParams::default().fields("spec.nodeName=win-1").limit(1))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.metadata.continue_.is_some());
    // A field the API server does not index for the kind is refused.
    let e = nodes
        .list(&ListParams::default().fields("spec.nodeName=x"))
        .await
        .unwrap_err();
    assert_eq!(code(e), 400);
}

#[tokio::test]
async fn version_is_what_the_test_set() {
    let server = ApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    let v = client.apiserver_version().await.unwrap();
    assert_eq!(v.git_version, winkube_testkit::DEFAULT_VERSION);
    server.set_version("v1.29.3+k3s1");
    let v = client.apiserver_version().await.unwrap();
    assert_eq!(
        (v.git_version.as_str(), v.major.as_str(), v.minor.as_str()),
        ("v1.29.3+k3s1", "1", "29")
    );
}
