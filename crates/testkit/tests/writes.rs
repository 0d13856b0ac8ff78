//! The stand-in's writes as the real kube client sees them: PATCH (merge and JSON patch),
//! conflicts (409), validation (422), field selectors, Leases and injected failures.
#![allow(clippy::unwrap_used)]

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use winkube_testkit::ApiServer;

fn code(e: kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("not an API error: {other}"),
    }
}

async fn secret(api: &ApiServer, name: &str) -> Api<Secret> {
    api.create(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "ns"},
                      "data": {"a": "MQ=="}}),
    )
    .unwrap();
    Api::namespaced(api.client().unwrap(), "ns")
}

#[tokio::test]
async fn merge_patch_applies_and_checks_the_resource_version() {
    let server = ApiServer::start().await.unwrap();
    let secrets = secret(&server, "s").await;
    let s = secrets
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"b": "Mg=="}, "metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    let data = s.data.unwrap();
    assert_eq!(data["a"].0, b"1");
    assert_eq!(data["b"].0, b"2");
    assert_eq!(s.metadata.labels.unwrap()["x"], "y");
    // A patch naming an old resourceVersion is a conflict, and changes nothing.
    let e = secrets
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"resourceVersion": "1"}, "data": {"c": "Mw=="}})),
        )
        .await
        .unwrap_err();
    assert_eq!(code(e), 409);
    assert!(
        !secrets
            .get("s")
            .await
            .unwrap()
            .data
            .unwrap()
            .contains_key("c")
    );
    // Watchers see the patch as a change.
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.status == 200)
    );
}

#[tokio::test]
async fn json_patch_test_failures_are_422_and_strategic_merge_is_refused() {
    let server = ApiServer::start().await.unwrap();
    let secrets = secret(&server, "s").await;
    let ok: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/a", "value": "MQ=="},
        {"op": "add", "path": "/data/b", "value": "Mg=="}
    ]))
    .unwrap();
    let raw = server.client().unwrap();
    // kube's Patch::Json needs a feature this workspace does not enable; send the body
    // as kube would, through the same client.
    let send = |patch: serde_json::Value, ct: &'static str| {
        let raw = raw.clone();
        async move {
            let req = http::Request::patch("/api/v1/namespaces/ns/secrets/s")
                .header("content-type", ct)
                .body(serde_json::to_vec(&patch).unwrap())
                .unwrap();
            raw.request::<Secret>(req).await
        }
    };
    send(
        serde_json::to_value(&ok).unwrap(),
        "application/json-patch+json",
    )
    .await
    .unwrap();
    assert_eq!(secrets.get("s").await.unwrap().data.unwrap()["b"].0, b"2");
    let failing = json!([{"op": "test", "path": "/data/a", "value": "other"},
                         {"op": "add", "path": "/data/c", "value": "Mw=="}]);
    let e = send(failing, "application/json-patch+json")
        .await
        .unwrap_err();
    assert_eq!(code(e), 422);
    assert!(
        !secrets
            .get("s")
            .await
            .unwrap()
            .data
            .unwrap()
            .contains_key("c")
    );
    let e = send(
        json!({"data": {}}),
        "application/strategic-merge-patch+json",
    )
    .await
    .unwrap_err();
    assert_eq!(code(e), 415);
}

#[tokio::test]
async fn invalid_objects_are_422_and_stale_puts_409() {
    let server = ApiServer::start().await.unwrap();
    let secrets = secret(&server, "s").await;
    // A TLS Secret needs tls.crt and tls.key.
    let tls: Secret = serde_json::from_value(
        json!({"metadata": {"name": "t"}, "type": "kubernetes.io/tls",
                                                     "data": {"tls.crt": "MQ=="}}),
    )
    .unwrap();
    let e = secrets
        .create(&PostParams::default(), &tls)
        .await
        .unwrap_err();
    match e {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
            assert!(
                s.message.contains("data[tls.key]: Required value"),
                "{}",
                s.message
            );
        }
        other => panic!("{other}"),
    }
    // A Secret's type cannot change.
    let e = secrets
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "MQ==", "tls.key": "MQ=="}})),
        )
        .await
        .unwrap_err();
    assert_eq!(code(e), 422);
    // Replacing with a stale resourceVersion is a conflict.
    let mut s = secrets.get("s").await.unwrap();
    secrets
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"z": "MQ=="}})),
        )
        .await
        .unwrap();
    s.data.as_mut().unwrap().remove("a");
    let e = secrets
        .replace("s", &PostParams::default(), &s)
        .await
        .unwrap_err();
    assert_eq!(code(e), 409);
    // A Lease duration below 1 is invalid.
    let leases: Api<Lease> = Api::namespaced(server.client().unwrap(), "ns");
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "l"},
                                                     "spec": {"leaseDurationSeconds": 0}}))
    .unwrap();
    assert_eq!(
        code(
            leases
                .create(&PostParams::default(), &lease)
                .await
                .unwrap_err()
        ),
        422
    );
}

#[tokio::test]
async fn field_selectors_and_injected_failures() {
    let server = ApiServer::start().await.unwrap();
    let secrets = secret(&server, "one").await;
    secret(&server, "two").await;
    let list = secrets
        .list(&ListParams::default().fields("metadata.name=two"))
        .await
        .unwrap();
    let names: Vec<_> = list
        .items
        .iter()
        .map(|s| s.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["two"]);
    let list = secrets
        .list(&ListParams::default().fields("metadata.name!=two"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    let e = secrets
        .list(&ListParams::default().fields("spec.nodeName=x"))
        .await
        .unwrap_err();
    assert_eq!(code(e), 400);
    server.fail_requests("PATCH", "/secrets/one", Some(500));
    let e = secrets
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {}})),
        )
        .await
        .unwrap_err();
    assert_eq!(code(e), 500);
    // Other objects and methods are unaffected; clearing the fault restores answers.
    secrets
        .patch(
            "two",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {}})),
        )
        .await
        .unwrap();
    server.fail_requests("PATCH", "/secrets/one", None);
    secrets
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {}})),
        )
        .await
        .unwrap();
}
