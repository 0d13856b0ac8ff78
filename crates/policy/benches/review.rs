//! CPU cost of one `review` (parse, rules, response bytes) against an in-memory view of
//! 10 and 10,000 credspecs. The view answers synchronously, so the future is polled once.
#![allow(clippy::unwrap_used)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use winkube_api::windows::{ImagePlatform, ImagePlatforms, WindowsBuild};
use winkube_policy::windows::{
    self, ImageLookup, ImageResolutions, StaticWindowsView, WindowsPolicyConfig,
};
use winkube_policy::{
    ClusterView, CredSpecContents, CredSpecLookup, Phase, ReviewContext, SharedCredSpec,
    UseDecision, review,
};

/// A HashMap of credspecs; every service account may use every credspec.
struct BenchView {
    credspecs: HashMap<String, CredSpecLookup>,
}

impl BenchView {
    fn new(n: usize) -> Self {
        let credspecs = (0..n)
            .map(|i| {
                let name = format!("credspec-{i}");
                let cs = winkube_api::GmsaCredentialSpec {
                    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                        name: Some(name.clone()),
                        ..Default::default()
                    },
                    credspec: Some(json!({
                        "ActiveDirectoryConfig": {"GroupManagedServiceAccounts": [
                            {"Name": format!("WebApplication{i}"), "Scope": "CONTOSO"},
                            {"Name": format!("WebApplication{i}"), "Scope": "contoso.com"}]},
                        "CmsPlugins": ["ActiveDirectory"],
                        "DomainJoinConfig": {"DnsName": "contoso.com", "DnsTreeName": "contoso.com",
                            "Guid": "244818ae-87ca-4fcd-92ec-e79e5252348a",
                            "MachineAccountName": format!("WebApplication{i}"),
                            "NetBiosName": "CONTOSO", "Sid": "S-1-5-21-2126729477-2524075714-3094792973"}
                    })),
                };
                let c = CredSpecContents::from_resource(&cs).unwrap();
                (name, CredSpecLookup::Found(SharedCredSpec::new(c)))
            })
            .collect();
        BenchView { credspecs }
    }

    fn canonical(&self, name: &str) -> String {
        match &self.credspecs[name] {
            CredSpecLookup::Found(c) => c.canonical().to_owned(),
            _ => unreachable!(),
        }
    }
}

impl ClusterView for BenchView {
    fn credspec(&self, name: &str) -> CredSpecLookup {
        self.credspecs
            .get(name)
            .cloned()
            .unwrap_or(CredSpecLookup::NotFound)
    }

    fn may_use_credspec(
        &self,
        _namespace: &str,
        _service_account: &str,
        _credspec: &str,
    ) -> impl Future<Output = UseDecision> + Send {
        std::future::ready(UseDecision {
            allowed: true,
            reason: String::new(),
        })
    }
}

fn poll_once<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the bench view never waits"),
    }
}

/// A pod shaped like what the API server sends (defaults filled in).
fn pod(containers: usize, pod_opts: Option<Value>, container_opts: Option<Value>) -> Value {
    let containers: Vec<Value> = (0..containers)
        .map(|i| {
            let mut c = json!({
                "name": format!("app-{i}"), "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "resources": {"limits": {"cpu": "500m", "memory": "800Mi"}, "requests": {"cpu": "500m", "memory": "800Mi"}},
                "volumeMounts": [{"name": "kube-api-access", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"
            });
            if let Some(o) = &container_opts {
                c["securityContext"] = json!({"windowsOptions": o});
            }
            c
        })
        .collect();
    let mut spec = json!({
        "volumes": [{"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}], "defaultMode": 420}}],
        "containers": containers, "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "nodeSelector": {"kubernetes.io/os": "windows"}, "serviceAccountName": "sa1", "serviceAccount": "sa1",
        "securityContext": {}, "schedulerName": "default-scheduler",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
        "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority"
    });
    if let Some(o) = pod_opts {
        spec["securityContext"] = json!({"windowsOptions": o});
    }
    json!({"kind": "Pod", "apiVersion": "v1",
        "metadata": {"generateName": "web-7d4b9c-", "namespace": "apps", "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c", "uid": "5f0b2a2e-3f43-4c5a-9f0e-1c1b5d7e8a90", "controller": true, "blockOwnerDeletion": true}]},
        "spec": spec, "status": {}})
}

fn body(p: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {
        "uid": "0b5b1f2c-8b8e-4b43-9a49-5e0bb7b0f9a1",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
        "requestResource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "apps", "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller", "uid": "c1", "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"]},
        "object": p, "oldObject": null, "dryRun": false,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}}}))
    .unwrap()
}

fn benches(c: &mut Criterion) {
    let ctx = ReviewContext::default();
    let mut group = c.benchmark_group("review");
    for n in [10usize, 10_000] {
        let view = BenchView::new(n);
        let cs = "credspec-7";
        let canonical = view.canonical(cs);
        let cases: Vec<(&str, Phase, Vec<u8>)> = vec![
            ("plain/mutate", Phase::Mutate, body(&pod(1, None, None))),
            ("plain/validate", Phase::Validate, body(&pod(1, None, None))),
            (
                "pod-gmsa/mutate",
                Phase::Mutate,
                body(&pod(1, Some(json!({"gmsaCredentialSpecName": cs})), None)),
            ),
            (
                "pod-gmsa/validate-with-contents",
                Phase::Validate,
                body(&pod(
                    1,
                    Some(json!({"gmsaCredentialSpecName": cs, "gmsaCredentialSpec": canonical})),
                    None,
                )),
            ),
            (
                "10-containers-gmsa/mutate",
                Phase::Mutate,
                body(&pod(10, None, Some(json!({"gmsaCredentialSpecName": cs})))),
            ),
            (
                "10-containers-gmsa/validate-with-contents",
                Phase::Validate,
                body(&pod(
                    10,
                    None,
                    Some(json!({"gmsaCredentialSpecName": cs, "gmsaCredentialSpec": canonical})),
                )),
            ),
            (
                "10-containers-plain/validate",
                Phase::Validate,
                body(&pod(10, None, None)),
            ),
        ];
        for (name, endpoint, b) in &cases {
            let o = poll_once(review(*endpoint, b, &view, &ctx));
            assert!(o.allowed, "{name}: {}", o.message);
            group.bench_with_input(BenchmarkId::new(*name, n), b, |bench, b| {
                bench.iter(|| poll_once(review(*endpoint, black_box(b), &view, &ctx)))
            });
        }
    }
    group.finish();

    // How a review grows with containers per pod (each naming the credspec), 10 credspecs.
    let mut group = c.benchmark_group("containers");
    let view = BenchView::new(10);
    let cs = "credspec-7";
    let canonical = view.canonical(cs);
    for n in [1usize, 10, 25, 50, 100] {
        let cases = [
            (
                "gmsa/mutate",
                Phase::Mutate,
                body(&pod(n, None, Some(json!({"gmsaCredentialSpecName": cs})))),
            ),
            (
                "gmsa/validate-with-contents",
                Phase::Validate,
                body(&pod(
                    n,
                    None,
                    Some(json!({"gmsaCredentialSpecName": cs, "gmsaCredentialSpec": canonical})),
                )),
            ),
        ];
        for (name, endpoint, b) in &cases {
            let o = poll_once(review(*endpoint, b, &view, &ctx));
            assert!(o.allowed, "{name} with {n}: {}", o.message);
            group.bench_with_input(BenchmarkId::new(*name, n), b, |bench, b| {
                bench.iter(|| poll_once(review(*endpoint, black_box(b), &view, &ctx)))
            });
        }
    }
    group.finish();

    // The Windows policies (/mutate-windows: decode, every policy, the patch) over a
    // realistic pod with 1 to 100 containers, two Windows builds, pinned image metadata.
    let mut group = c.benchmark_group("windows");
    let config = WindowsPolicyConfig::default();
    let view = StaticWindowsView::new([WindowsBuild::ten(17763), WindowsBuild::ten(20348)]);
    let image = "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022";
    let images: ImageResolutions = [(
        image.to_owned(),
        ImageLookup::Found(ImagePlatforms {
            digest: None,
            platforms: vec![ImagePlatform {
                os: "windows".into(),
                architecture: "amd64".into(),
                os_version: Some("10.0.20348.2227".into()),
                ..Default::default()
            }],
        }),
    )]
    .into_iter()
    .collect();
    let windows_review = |b: &[u8]| match windows::decode(b) {
        windows::Decoded::Pod(r) => r.evaluate(Phase::Mutate, &config, &view, &images, Vec::new()),
        windows::Decoded::Answered(o) => o,
    };
    for n in [1usize, 10, 100] {
        let b = body(&pod(n, None, None));
        let o = windows_review(&b);
        assert!(
            o.allowed && o.patch_ops > 0,
            "windows with {n}: {}",
            o.message
        );
        group.bench_with_input(BenchmarkId::new("windows/mutate", n), &b, |bench, b| {
            bench.iter(|| windows_review(black_box(b)))
        });
    }
    // The same one-container pod as the API server sends it to admission: with the
    // `managedFields` its field manager has filled in (kube-controller-manager creating it
    // from a ReplicaSet) and an empty status.
    let mut managed = pod(1, None, None);
    managed["metadata"]["managedFields"] = json!([{
        "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
        "time": "2026-12-06T07:00:00Z", "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1(&managed)}]);
    let b = body(&managed);
    assert!(windows_review(&b).allowed);
    group.bench_with_input(
        BenchmarkId::new("windows/mutate-managed-fields", 1),
        &b,
        |bench, b| bench.iter(|| windows_review(black_box(b))),
    );
    group.finish();
}

/// A `fieldsV1` set naming every field of `v` (`f:` keys, `k:{"name":..}` list items), the
/// shape the API server's field manager records.
fn fields_v1(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| *k != "status" && *k != "managedFields")
                .map(|(k, v)| (format!("f:{k}"), fields_v1(v)))
                .chain([(".".to_owned(), json!({}))])
                .collect(),
        ),
        Value::Array(items) => Value::Object(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let key = match item.get("name") {
                        Some(n) => format!("k:{}", json!({ "name": n })),
                        None => format!("v:{i}"),
                    };
                    (key, fields_v1(item))
                })
                .collect(),
        ),
        _ => json!({}),
    }
}

criterion_group!(review_benches, benches);
criterion_main!(review_benches);
