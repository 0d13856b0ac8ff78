//! Table-driven tests of what the API server refuses in Windows fields (`apiServer`) and of
//! the Windows pod-security policies (`hostProcess`, `containerAdministrator`): each row a
//! pod, a namespace, a policy file and the findings expected (rule, field, severity), plus
//! the `pods/ephemeralcontainers` review the validating webhook serves.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use winkube_policy::Severity;
use winkube_policy::windows::{
    Decoded, ImageResolutions, Phase, StaticWindowsView, WindowsDecision, WindowsPolicyConfig,
    decode, evaluate,
};

use support::pod_with_spec as pod;

/// The rules this file is about; other findings (scheduling fixes...) are not compared.
const RULES: &[&str] = &[
    "windows/run-as-user-name-invalid",
    "windows/gmsa-credspec-name-invalid",
    "windows/gmsa-credspec-invalid",
    "windows/field-forbidden-on-windows",
    "windows/windows-options-on-linux",
    "windows/host-process-mixed",
    "windows/host-process-host-network",
    "windows/host-process-namespace",
    "windows/container-administrator",
];

fn ctr(name: &str, security_context: Value) -> Value {
    json!({"name": name, "image": "app:1", "securityContext": security_context})
}

fn run(p: &Value, namespace: &str, config: &str) -> WindowsDecision {
    let config = WindowsPolicyConfig::from_yaml(config).unwrap();
    let view = StaticWindowsView::new([]);
    evaluate(
        p,
        namespace,
        &config,
        &view,
        &ImageResolutions::default(),
        Phase::Mutate,
    )
}

/// (rule, field, severity) of this file's rules, in report order.
fn found(d: &WindowsDecision) -> Vec<(String, String, Severity)> {
    d.findings
        .iter()
        .filter(|f| RULES.contains(&f.rule))
        .map(|f| {
            (
                f.rule.to_owned(),
                f.field.clone().unwrap_or_default(),
                f.severity,
            )
        })
        .collect()
}

struct Row {
    name: &'static str,
    namespace: &'static str,
    config: &'static str,
    pod: Value,
    expect: &'static [(&'static str, &'static str, Severity)],
}

use Severity::{Error, Warning};

const HOST_NS_CONFIG: &str = "hostProcess: {allowedNamespaces: [node-agents]}";

fn rows() -> Vec<Row> {
    let wopts = |o: Value| json!({"windowsOptions": o});
    vec![
        Row {
            name: "valid users and names give nothing",
            namespace: "apps",
            config: "",
            pod: pod(json!({
                "securityContext": wopts(json!({"runAsUserName": "NT AUTHORITY\\NETWORK SERVICE",
                    "gmsaCredentialSpecName": "gmsa-webapp1"})),
                "containers": [ctr("a", wopts(json!({"runAsUserName": "contoso.com\\web"})))],
            })),
            expect: &[],
        },
        Row {
            name: "runAsUserName with two backslashes, in a container",
            namespace: "apps",
            config: "",
            pod: pod(json!({"containers": [ctr("a", wopts(json!({"runAsUserName": "a\\b\\c"})))]})),
            expect: &[(
                "windows/run-as-user-name-invalid",
                "spec.containers[0].securityContext.windowsOptions.runAsUserName",
                Error,
            )],
        },
        Row {
            name: "the old gMSA docs' capitalised credspec name, in an init container",
            namespace: "apps",
            config: "",
            pod: pod(json!({
                "initContainers": [ctr("i", wopts(json!({"gmsaCredentialSpecName": "gmsa-WebApp1"})))],
                "containers": [ctr("a", json!({}))],
            })),
            expect: &[(
                "windows/gmsa-credspec-name-invalid",
                "spec.initContainers[0].securityContext.windowsOptions.gmsaCredentialSpecName",
                Error,
            )],
        },
        Row {
            name: "empty gmsaCredentialSpec at pod level",
            namespace: "apps",
            config: "",
            pod: pod(json!({
                "securityContext": wopts(json!({"gmsaCredentialSpec": ""})),
                "containers": [ctr("a", json!({}))],
            })),
            expect: &[(
                "windows/gmsa-credspec-invalid",
                "spec.securityContext.windowsOptions.gmsaCredentialSpec",
                Error,
            )],
        },
        Row {
            name: "Linux-only fields on a windows pod; privileged: false counts, hostPID: false does not",
            namespace: "apps",
            config: "",
            pod: pod(json!({
                "os": {"name": "windows"},
                "hostPID": false,
                "shareProcessNamespace": false,
                "securityContext": {"fsGroup": 2000, "sysctls": []},
                "containers": [ctr("a", json!({"privileged": false, "readOnlyRootFilesystem": true}))],
                "ephemeralContainers": [ctr("dbg", json!({"capabilities": {"add": ["NET_ADMIN"]}}))],
            })),
            expect: &[
                (
                    "windows/field-forbidden-on-windows",
                    "spec.securityContext.fsGroup",
                    Error,
                ),
                (
                    "windows/field-forbidden-on-windows",
                    "spec.shareProcessNamespace",
                    Error,
                ),
                (
                    "windows/field-forbidden-on-windows",
                    "spec.containers[0].securityContext.readOnlyRootFilesystem",
                    Error,
                ),
                (
                    "windows/field-forbidden-on-windows",
                    "spec.containers[0].securityContext.privileged",
                    Error,
                ),
                (
                    "windows/field-forbidden-on-windows",
                    "spec.ephemeralContainers[0].securityContext.capabilities",
                    Error,
                ),
            ],
        },
        Row {
            name: "the same fields without spec.os.name are the API server's business no more",
            namespace: "apps",
            config: "",
            pod: pod(json!({
                "nodeSelector": {"kubernetes.io/os": "windows"},
                "securityContext": {"fsGroup": 2000},
                "containers": [ctr("a", json!({"privileged": false}))],
            })),
            expect: &[],
        },
        Row {
            name: "a cluster older than a rule does not get it",
            namespace: "apps",
            config: "apiServer: {kubernetesVersion: v1.29.4}",
            pod: pod(json!({
                "os": {"name": "windows"},
                "containers": [ctr("a", json!({"appArmorProfile": {"type": "RuntimeDefault"}, "runAsUser": 1000}))],
            })),
            expect: &[(
                "windows/field-forbidden-on-windows",
                "spec.containers[0].securityContext.runAsUser",
                Error,
            )],
        },
        Row {
            name: "nothing from 1.24 on a 1.23 cluster",
            namespace: "apps",
            config: "apiServer: {kubernetesVersion: '1.23'}",
            pod: pod(
                json!({"os": {"name": "windows"}, "containers": [ctr("a", json!({"runAsUser": 1000}))]}),
            ),
            expect: &[],
        },
        Row {
            name: "windowsOptions on a linux pod",
            namespace: "apps",
            config: "",
            pod: pod(json!({
                "os": {"name": "linux"},
                "containers": [ctr("a", wopts(json!({"runAsUserName": "ContainerUser"})))],
            })),
            expect: &[(
                "windows/windows-options-on-linux",
                "spec.containers[0].securityContext.windowsOptions",
                Error,
            )],
        },
        Row {
            name: "apiServer in warn mode warns",
            namespace: "apps",
            config: "apiServer: {mode: warn}",
            pod: pod(json!({"containers": [ctr("a", wopts(json!({"runAsUserName": ""})))]})),
            expect: &[(
                "windows/run-as-user-name-invalid",
                "spec.containers[0].securityContext.windowsOptions.runAsUserName",
                Warning,
            )],
        },
        Row {
            name: "apiServer off",
            namespace: "apps",
            config: "apiServer: {mode: off}",
            pod: pod(json!({"containers": [ctr("a", wopts(json!({"runAsUserName": ""})))]})),
            expect: &[],
        },
        Row {
            name: "a valid HostProcess pod in an allowed namespace",
            namespace: "node-agents",
            config: HOST_NS_CONFIG,
            pod: pod(json!({
                "hostNetwork": true,
                "securityContext": wopts(json!({"hostProcess": true, "runAsUserName": "NT AUTHORITY\\SYSTEM"})),
                "initContainers": [ctr("i", json!({}))],
                "containers": [ctr("a", json!({}))],
            })),
            expect: &[],
        },
        Row {
            name: "HostProcess without hostNetwork",
            namespace: "node-agents",
            config: HOST_NS_CONFIG,
            pod: pod(json!({
                "securityContext": wopts(json!({"hostProcess": true})),
                "containers": [ctr("a", json!({}))],
            })),
            expect: &[(
                "windows/host-process-host-network",
                "spec.hostNetwork",
                Error,
            )],
        },
        Row {
            name: "one HostProcess container, one not (an init container)",
            namespace: "node-agents",
            config: HOST_NS_CONFIG,
            pod: pod(json!({
                "hostNetwork": true,
                "initContainers": [ctr("i", json!({}))],
                "containers": [ctr("a", wopts(json!({"hostProcess": true})))],
            })),
            expect: &[("windows/host-process-mixed", "spec", Error)],
        },
        Row {
            name: "a container contradicting the pod's hostProcess",
            namespace: "node-agents",
            config: HOST_NS_CONFIG,
            pod: pod(json!({
                "hostNetwork": true,
                "securityContext": wopts(json!({"hostProcess": true})),
                "containers": [ctr("a", json!({})), ctr("b", wopts(json!({"hostProcess": false})))],
            })),
            expect: &[
                (
                    "windows/host-process-mixed",
                    "spec.containers[1].securityContext.windowsOptions.hostProcess",
                    Error,
                ),
                ("windows/host-process-mixed", "spec", Error),
            ],
        },
        Row {
            name: "HostProcess at pod level and in an ephemeral container, outside the allowed namespaces",
            namespace: "apps",
            config: "",
            pod: pod(json!({
                "hostNetwork": true,
                "securityContext": wopts(json!({"hostProcess": true})),
                "containers": [ctr("a", json!({}))],
                "ephemeralContainers": [ctr("dbg", wopts(json!({"hostProcess": true})))],
            })),
            expect: &[
                (
                    "windows/host-process-namespace",
                    "spec.securityContext.windowsOptions.hostProcess",
                    Error,
                ),
                (
                    "windows/host-process-namespace",
                    "spec.ephemeralContainers[0].securityContext.windowsOptions.hostProcess",
                    Error,
                ),
            ],
        },
        Row {
            name: "hostProcess in warn mode",
            namespace: "apps",
            config: "hostProcess: {mode: warn}",
            pod: pod(json!({
                "hostNetwork": true,
                "containers": [ctr("a", wopts(json!({"hostProcess": true})))],
            })),
            expect: &[(
                "windows/host-process-namespace",
                "spec.containers[0].securityContext.windowsOptions.hostProcess",
                Warning,
            )],
        },
        Row {
            name: "ContainerAdministrator inherited by one container, overridden by another",
            namespace: "apps",
            config: "",
            pod: pod(json!({
                "securityContext": wopts(json!({"runAsUserName": "ContainerAdministrator"})),
                "containers": [
                    ctr("a", json!({})),
                    ctr("b", wopts(json!({"runAsUserName": "ContainerUser"}))),
                    ctr("c", wopts(json!({"runAsUserName": "User Manager\\containeradministrator"}))),
                ],
            })),
            expect: &[
                (
                    "windows/container-administrator",
                    "spec.securityContext.windowsOptions.runAsUserName",
                    Warning,
                ),
                (
                    "windows/container-administrator",
                    "spec.containers[2].securityContext.windowsOptions.runAsUserName",
                    Warning,
                ),
            ],
        },
        Row {
            name: "ContainerAdministrator on the pod, overridden everywhere",
            namespace: "apps",
            config: "",
            pod: pod(json!({
                "securityContext": wopts(json!({"runAsUserName": "ContainerAdministrator"})),
                "containers": [ctr("a", wopts(json!({"runAsUserName": "ContainerUser"})))],
            })),
            expect: &[],
        },
        Row {
            name: "ContainerAdministrator in enforce mode",
            namespace: "apps",
            config: "containerAdministrator: {mode: enforce}",
            pod: pod(
                json!({"containers": [ctr("a", wopts(json!({"runAsUserName": "ContainerAdministrator"})))]}),
            ),
            expect: &[(
                "windows/container-administrator",
                "spec.containers[0].securityContext.windowsOptions.runAsUserName",
                Error,
            )],
        },
        Row {
            name: "exempt namespaces are left alone",
            namespace: "kube-system",
            config: "",
            pod: pod(
                json!({"containers": [ctr("a", wopts(json!({"hostProcess": true, "runAsUserName": ""})))]}),
            ),
            expect: &[],
        },
    ]
}

#[test]
fn table() {
    for row in rows() {
        let d = run(&row.pod, row.namespace, row.config);
        let expect: Vec<(String, String, Severity)> = row
            .expect
            .iter()
            .map(|(r, f, s)| ((*r).to_owned(), (*f).to_owned(), *s))
            .collect();
        assert_eq!(found(&d), expect, "{}: {d:#?}", row.name);
        let denies = row.expect.iter().any(|(_, _, s)| *s == Error);
        if denies {
            assert!(!d.allowed, "{}: not denied", row.name);
            assert_eq!(d.code, 403, "{}", row.name);
            assert!(
                d.patch.0.is_empty(),
                "{}: a denied pod is patched",
                row.name
            );
        }
    }
}

#[test]
fn denials_say_what_the_api_server_says_and_from_which_version() {
    let d = run(
        &pod(
            json!({"os": {"name": "windows"}, "containers": [ctr("a", json!({"privileged": false}))]}),
        ),
        "apps",
        "",
    );
    assert!(
        d.message.contains(
            "[apiServer] spec.containers[0].securityContext.privileged (container \"a\") cannot be set for a windows pod"
        ),
        "{}",
        d.message
    );
    assert!(d.message.contains("from Kubernetes 1.24"), "{}", d.message);

    let d = run(
        &pod(
            json!({"containers": [ctr("a", json!({"windowsOptions": {"runAsUserName": "x\\a@b"}}))]}),
        ),
        "apps",
        "",
    );
    assert!(
        d.message
            .contains("cannot contain the following characters"),
        "{}",
        d.message
    );
    assert!(d.message.contains("from Kubernetes 1.16"), "{}", d.message);

    let d = run(
        &pod(
            json!({"hostNetwork": true, "securityContext": {"windowsOptions": {"hostProcess": true}},
            "containers": [ctr("a", json!({}))]}),
        ),
        "web",
        "",
    );
    assert!(
        d.message.contains(r#"namespace "web" may not run them"#)
            && d.message.contains("allowedNamespaces: kube-system"),
        "{}",
        d.message
    );
}

#[test]
fn bad_policy_files_name_the_key() {
    for (yaml, needle) in [
        (
            "apiServer: {kubernetesVersion: latest}",
            "apiServer.kubernetesVersion",
        ),
        ("apiServer: {mode: strict}", "strict"),
        ("hostProcess: {allowed: [a]}", "allowed"),
        ("containerAdministrator: {mode: deny}", "deny"),
    ] {
        let e = WindowsPolicyConfig::from_yaml(yaml)
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{yaml}: {e}");
    }
    let c =
        WindowsPolicyConfig::from_yaml("apiServer: {kubernetesVersion: v1.31.2-gke.100}").unwrap();
    assert_eq!(c.api_server.kubernetes_version, Some((1, 31)));
}

/// An AdmissionReview of `kubectl debug` adding an ephemeral container.
fn ephemeral_review(namespace: &str, ephemeral: Value, operation: &str, sub: &str) -> Vec<u8> {
    let pod = pod(json!({
        "nodeName": "win-1",
        "containers": [ctr("a", json!({}))],
        "ephemeralContainers": ephemeral,
    }));
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "subResource": sub, "namespace": namespace, "name": "p", "operation": operation,
            "object": pod}
    }))
    .unwrap()
}

fn review(body: &[u8]) -> winkube_policy::Outcome {
    let config = WindowsPolicyConfig::default();
    let view = StaticWindowsView::new([]);
    match decode(body) {
        Decoded::Answered(o) => o,
        Decoded::Pod(r) => {
            assert!(r.images_to_resolve(&config).is_empty());
            r.evaluate(
                Phase::Validate,
                &config,
                &view,
                &ImageResolutions::default(),
                Vec::new(),
            )
        }
    }
}

#[test]
fn kubectl_debug_with_a_host_process_container_is_refused() {
    let o = review(&ephemeral_review(
        "apps",
        json!([ctr("dbg", json!({"windowsOptions": {"hostProcess": true}}))]),
        "UPDATE",
        "ephemeralcontainers",
    ));
    assert!(!o.allowed, "{o:#?}");
    assert_eq!(o.code, 403);
    assert!(
        o.message
            .contains("[hostProcess] ephemeral container \"dbg\""),
        "{}",
        o.message
    );
    let body: Value = serde_json::from_slice(&o.body).unwrap();
    assert_eq!(body["response"]["allowed"], false);
    assert!(body["response"].get("patch").is_none());

    // An ordinary debug container is allowed, without a patch; one that runs as
    // ContainerAdministrator is allowed with a warning.
    let o = review(&ephemeral_review(
        "apps",
        json!([ctr("dbg", json!({}))]),
        "UPDATE",
        "ephemeralcontainers",
    ));
    assert!(
        o.allowed && o.patch_ops == 0 && o.warnings.is_empty(),
        "{o:#?}"
    );
    let o = review(&ephemeral_review(
        "apps",
        json!([ctr(
            "dbg",
            json!({"windowsOptions": {"runAsUserName": "ContainerAdministrator"}})
        )]),
        "UPDATE",
        "ephemeralcontainers",
    ));
    assert!(o.allowed, "{o:#?}");
    assert!(
        o.warnings
            .iter()
            .any(|w| w.contains("ContainerAdministrator")),
        "{o:#?}"
    );

    // Other updates are not judged (a pod's scheduling fields cannot change).
    let o = review(&ephemeral_review(
        "apps",
        json!([ctr("dbg", json!({"windowsOptions": {"hostProcess": true}}))]),
        "UPDATE",
        "",
    ));
    assert!(o.allowed && o.findings.is_empty(), "{o:#?}");
    // Exempt namespaces neither.
    let o = review(&ephemeral_review(
        "kube-system",
        json!([ctr("dbg", json!({"windowsOptions": {"hostProcess": true}}))]),
        "UPDATE",
        "ephemeralcontainers",
    ));
    assert!(o.allowed, "{o:#?}");
}
