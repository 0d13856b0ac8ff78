//! Table tests of the cluster checks (CRD, webhook configurations, Service endpoints,
//! credspecs named by running pods); no network.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::checks::*;
use super::cluster::*;

fn crd(
    versions: Value,
) -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    serde_json::from_value(json!({
        "metadata": {"name": CRD_NAME},
        "spec": {"group": "windows.k8s.io", "scope": "Cluster",
                 "names": {"kind": "GMSACredentialSpec", "plural": "gmsacredentialspecs"},
                 "versions": versions},
    }))
    .unwrap()
}

#[test]
fn crd_needs_v1_served_and_stored() {
    let v = |name: &str, served: bool, storage: bool| json!({"name": name, "served": served, "storage": storage});
    for (versions, status, needle) in [
        (
            json!([v("v1", true, true)]),
            Status::Pass,
            "v1 served and stored",
        ),
        (
            json!([v("v1alpha1", true, true)]),
            Status::Fail,
            "has no version v1",
        ),
        (
            json!([v("v1alpha1", true, true), v("v1", true, false)]),
            Status::Fail,
            "stores v1alpha1 instead of v1",
        ),
        (
            json!([v("v1", false, true)]),
            Status::Fail,
            "does not serve v1",
        ),
    ] {
        let c = crd_check(Some(&crd(versions.clone())));
        assert_eq!(c.status, status, "{versions}: {c:?}");
        assert!(c.message.contains(needle), "{c:?}");
    }
    let missing = crd_check(None);
    assert_eq!(missing.status, Status::Fail);
    assert_eq!(
        missing.fix.as_deref(),
        Some("winkube manifests crd | kubectl apply -f -")
    );
}

fn configs(
    ca: &str,
    service_ns: &str,
) -> (
    BTreeMap<String, k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration>,
    BTreeMap<String, k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration>,
) {
    let hook = json!({"name": "admission-webhook.windows-gmsa.sigs.k8s.io",
        "clientConfig": {"caBundle": ca, "service": {"namespace": service_ns, "name": "winkube"}},
        "admissionReviewVersions": ["v1"], "sideEffects": "None"});
    let m = serde_json::from_value(json!({"metadata": {"name": "winkube"}, "webhooks": [hook]}))
        .unwrap();
    let v = serde_json::from_value(json!({"metadata": {"name": "winkube"}, "webhooks": [hook]}))
        .unwrap();
    (
        BTreeMap::from([("winkube".to_owned(), m)]),
        BTreeMap::from([("winkube".to_owned(), v)]),
    )
}

#[test]
fn webhook_configurations_need_a_ca_bundle_and_point_at_the_namespace() {
    let (m, v) = configs("Y2E=", "winkube");
    let checks = webhook_checks(&m, &v, "winkube");
    assert_eq!(checks.len(), 2, "winkube-windows is optional: {checks:?}");
    assert!(
        checks.iter().all(|c| c.status == Status::Pass),
        "{checks:?}"
    );

    let (m, v) = configs("", "winkube");
    let checks = webhook_checks(&m, &v, "winkube");
    assert!(
        checks.iter().all(|c| c.status == Status::Fail),
        "{checks:?}"
    );
    assert!(
        checks[0]
            .message
            .contains("empty caBundle on admission-webhook.windows-gmsa.sigs.k8s.io")
    );

    let (m, v) = configs("Y2E=", "gmsa");
    let checks = webhook_checks(&m, &v, "winkube");
    assert_eq!(checks[0].status, Status::Warn, "{checks:?}");
    assert_eq!(
        checks[0].fix.as_deref(),
        Some("winkube doctor --namespace gmsa")
    );

    let checks = webhook_checks(&BTreeMap::new(), &v, "winkube");
    assert_eq!(checks[0].status, Status::Fail);
    assert_eq!(checks[0].object.kind, "MutatingWebhookConfiguration");
    assert!(checks[0].message.contains("not found"));
}

#[test]
fn the_service_needs_a_ready_endpoint() {
    let svc: k8s_openapi::api::core::v1::Service =
        serde_json::from_value(json!({"metadata": {"name": "winkube", "namespace": "winkube"}}))
            .unwrap();
    let slice = |ready: Option<bool>,
                 service: &str|
     -> k8s_openapi::api::discovery::v1::EndpointSlice {
        let mut e = json!({"addresses": ["10.0.0.7"]});
        if let Some(r) = ready {
            e["conditions"] = json!({"ready": r});
        }
        serde_json::from_value(json!({
            "metadata": {"name": "s", "namespace": "winkube", "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "endpoints": [e],
        }))
        .unwrap()
    };
    for (slices, status) in [
        (vec![slice(Some(true), "winkube")], Status::Pass),
        // "nil should be interpreted as true"
        (vec![slice(None, "winkube")], Status::Pass),
        (vec![slice(Some(false), "winkube")], Status::Fail),
        (vec![slice(Some(true), "other")], Status::Fail),
        (vec![], Status::Fail),
    ] {
        let c = service_check("winkube", Some(&svc), &slices);
        assert_eq!(c.status, status, "{slices:?}: {c:?}");
    }
    let c = service_check("winkube", None, &[]);
    assert_eq!(c.status, Status::Fail);
    assert!(c.message.starts_with("not found"));
}

#[test]
fn every_credspec_a_running_pod_names_must_exist() {
    let p = |name: &str, phase: &str, spec: Value| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "apps"}, "spec": spec, "status": {"phase": phase},
        }))
        .unwrap()
    };
    let gmsa = |n: &str| json!({"windowsOptions": {"gmsaCredentialSpecName": n}});
    let pods = vec![
        p(
            "pod-level",
            "Running",
            json!({"securityContext": gmsa("a"), "containers": [{"name": "c"}]}),
        ),
        p(
            "container",
            "Running",
            json!({"containers": [{"name": "c"}, {"name": "d", "securityContext": gmsa("b")}]}),
        ),
        p(
            "init",
            "Running",
            json!({"initContainers": [{"name": "i", "securityContext": gmsa("c")}], "containers": [{"name": "c"}]}),
        ),
        p(
            "ephemeral",
            "Running",
            json!({"containers": [{"name": "c"}], "ephemeralContainers": [{"name": "e", "securityContext": gmsa("d")}]}),
        ),
        p(
            "pending",
            "Pending",
            json!({"containers": [{"name": "c", "securityContext": gmsa("e")}]}),
        ),
    ];
    let existing = BTreeSet::from(["a".to_owned(), "c".to_owned()]);
    let checks = credspec_checks(&pods, &existing);
    let got: Vec<(&str, Status)> = checks
        .iter()
        .map(|c| (c.object.name.as_str(), c.status))
        .collect();
    assert_eq!(
        got,
        [
            ("a", Status::Pass),
            ("b", Status::Fail),
            ("c", Status::Pass),
            ("d", Status::Fail),
        ],
        "the pending pod's credspec e is not checked"
    );
    assert!(
        checks[1].message.contains("apps/container"),
        "{:?}",
        checks[1]
    );
    let none = credspec_checks(&pods[4..], &existing);
    assert_eq!(none.len(), 1);
    assert_eq!(none[0].status, Status::Pass);
}

#[test]
fn an_empty_cluster_reports_what_is_missing() {
    let report = report(
        &super::fetch::Snapshot {
            server_version: "v1.33.4".into(),
            ..Default::default()
        },
        "winkube",
        &winkube_api::windows::Taint::default(),
    );
    assert!(report.nodes.is_empty());
    let got: Vec<(&str, Status)> = report.cluster.iter().map(|c| (c.id, c.status)).collect();
    assert_eq!(
        got,
        [
            ("cluster.windows-nodes", Status::Warn),
            ("cluster.crd", Status::Fail),
            ("cluster.webhook-configuration", Status::Fail),
            ("cluster.webhook-configuration", Status::Fail),
            ("cluster.webhook-service", Status::Fail),
            ("cluster.credspec", Status::Pass),
        ]
    );
    assert_eq!(
        (
            report.count(Status::Pass),
            report.count(Status::Warn),
            report.count(Status::Fail)
        ),
        (1, 1, 4)
    );
}
