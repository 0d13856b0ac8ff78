//! Table-driven tests of the Windows policies: one table per rule, each row a pod, a
//! configuration, a cluster and the expected decision. Every patch is applied to the
//! original pod and the result checked.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use winkube_api::windows::{ImagePlatform, ImagePlatforms, Isolation, WindowsBuild};
use winkube_policy::windows::{
    ImageLookup, ImageResolutions, Phase, RuntimeClassInfo, StaticWindowsView, TargetOs,
    WindowsDecision, WindowsPolicyConfig, evaluate, images_to_resolve,
};

use support::pod_with_spec as pod;

const NS: &str = "apps";

fn b(n: u32) -> WindowsBuild {
    WindowsBuild::ten(n)
}

fn win(version: &str) -> ImagePlatform {
    ImagePlatform {
        os: "windows".into(),
        architecture: "amd64".into(),
        os_version: Some(version.into()),
        ..Default::default()
    }
}

fn linux() -> ImagePlatform {
    ImagePlatform {
        os: "linux".into(),
        architecture: "amd64".into(),
        ..Default::default()
    }
}

fn found(platforms: Vec<ImagePlatform>) -> ImageLookup {
    ImageLookup::Found(ImagePlatforms {
        digest: None,
        platforms,
    })
}

/// The images every test knows.
fn registry() -> ImageResolutions {
    BTreeMap::from([
        ("app:2019".into(), found(vec![win("10.0.17763.5458")])),
        ("app:2022".into(), found(vec![win("10.0.20348.2227")])),
        ("app:2025".into(), found(vec![win("10.0.26100.3194")])),
        (
            "app:multi".into(),
            found(vec![win("10.0.17763.1"), win("10.0.20348.1")]),
        ),
        ("app:latest".into(), found(vec![win("10.0.20348.1")])),
        ("app".into(), found(vec![win("10.0.20348.1")])),
        ("nginx:1.25".into(), found(vec![linux()])),
        (
            "busybox:1".into(),
            found(vec![linux(), win("10.0.17763.1")]),
        ),
        (
            "down:1".into(),
            ImageLookup::Unavailable("connection refused".into()),
        ),
    ])
}

/// A Windows pod with one container of `image`, a memory limit, and the Windows selector.
fn win_pod(image: &str) -> Value {
    pod(json!({
        "nodeSelector": {"kubernetes.io/os": "windows"},
        "tolerations": [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}],
        "containers": [{"name": "app", "image": image,
            "resources": {"limits": {"memory": "512Mi"}}}]
    }))
}

fn cfg(yaml: &str) -> WindowsPolicyConfig {
    WindowsPolicyConfig::from_yaml(yaml).unwrap()
}

fn cluster(builds: &[u32]) -> StaticWindowsView {
    StaticWindowsView::new(builds.iter().map(|&n| b(n)))
}

fn run(p: &Value, c: &WindowsPolicyConfig, v: &StaticWindowsView) -> WindowsDecision {
    evaluate(p, NS, c, v, &registry(), Phase::Mutate)
}

/// Applies the decision's patch to the pod.
fn patched(p: &Value, d: &WindowsDecision) -> Value {
    let mut doc = p.clone();
    json_patch::patch(&mut doc, &d.patch).unwrap();
    doc
}

fn assert_denied(d: &WindowsDecision, needles: &[&str]) {
    assert!(!d.allowed, "expected a denial, got {d:#?}");
    assert_eq!(d.code, 403);
    for n in needles {
        assert!(d.message.contains(n), "{n:?} not in {:?}", d.message);
    }
    assert!(d.patch.0.is_empty());
}

fn assert_warned(d: &WindowsDecision, needle: &str) {
    assert!(
        d.warnings.iter().any(|w| w.contains(needle)),
        "{needle:?} not in {:?}",
        d.warnings
    );
}

// --- 1. which OS -------------------------------------------------------------------------

#[test]
fn os_signals() {
    struct Row {
        name: &'static str,
        spec: Value,
        os: TargetOs,
        denied_with: &'static [&'static str],
    }
    let rows = [
        Row {
            name: "os.name",
            spec: json!({"os": {"name": "windows"}, "containers": [{"name": "a", "image": "x:1"}]}),
            os: TargetOs::Windows,
            denied_with: &[],
        },
        Row {
            name: "node selector",
            spec: json!({"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "a", "image": "x:1"}]}),
            os: TargetOs::Linux,
            denied_with: &[],
        },
        Row {
            name: "windowsOptions",
            spec: json!({"containers": [{"name": "a", "image": "x:1",
                "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}}}]}),
            os: TargetOs::Windows,
            denied_with: &[],
        },
        Row {
            name: "required affinity",
            spec: json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                {"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/os", "operator": "NotIn", "values": ["linux"]}]}]}}},
                "containers": [{"name": "a", "image": "x:1"}]}),
            os: TargetOs::Windows,
            denied_with: &[],
        },
        Row {
            name: "affinity term without OS does not restrict",
            spec: json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["windows"]}]},
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
                "containers": [{"name": "a", "image": "x:1"}]}),
            os: TargetOs::Unknown,
            denied_with: &[],
        },
        Row {
            name: "image platforms only",
            spec: json!({"containers": [{"name": "a", "image": "app:2022"}]}),
            os: TargetOs::Windows,
            denied_with: &[],
        },
        Row {
            name: "multi-OS image is no signal",
            spec: json!({"containers": [{"name": "a", "image": "busybox:1"}]}),
            os: TargetOs::Unknown,
            denied_with: &[],
        },
        Row {
            name: "unresolved image is no signal",
            spec: json!({"containers": [{"name": "a", "image": "down:1"}]}),
            os: TargetOs::Unknown,
            denied_with: &[],
        },
        Row {
            name: "os.name vs selector",
            spec: json!({"os": {"name": "windows"}, "nodeSelector": {"kubernetes.io/os": "linux"},
                "containers": [{"name": "a", "image": "x:1"}]}),
            os: TargetOs::Unknown,
            denied_with: &[
                "conflicting OS signals",
                "spec.os.name=windows",
                "spec.nodeSelector kubernetes.io/os=linux",
            ],
        },
        Row {
            name: "Linux image on a Windows selector",
            spec: json!({"nodeSelector": {"kubernetes.io/os": "windows"},
                "containers": [{"name": "a", "image": "nginx:1.25"}]}),
            os: TargetOs::Unknown,
            denied_with: &["image \"nginx:1.25\" (provides only linux) says linux"],
        },
        Row {
            name: "Windows and Linux images together",
            spec: json!({"containers": [{"name": "a", "image": "nginx:1.25"}, {"name": "b", "image": "app:2019"}]}),
            os: TargetOs::Unknown,
            denied_with: &["provides only linux", "provides only windows"],
        },
        Row {
            name: "capitalised OS value",
            spec: json!({"nodeSelector": {"kubernetes.io/os": "Windows"}, "containers": [{"name": "a", "image": "x:1"}]}),
            os: TargetOs::Windows,
            denied_with: &["names OS \"Windows\", which no node has"],
        },
        Row {
            name: "build selector means Windows",
            spec: json!({"nodeSelector": {"node.kubernetes.io/windows-build": "10.0.20348", "kubernetes.io/os": "linux"},
                "containers": [{"name": "a", "image": "x:1"}]}),
            os: TargetOs::Unknown,
            denied_with: &["windows-build=10.0.20348 says windows"],
        },
    ];
    let c = cfg("");
    let v = cluster(&[17763, 20348]);
    for r in rows {
        let d = run(&pod(r.spec), &c, &v);
        assert_eq!(d.os.as_ref().unwrap().os, r.os, "{}: {:?}", r.name, d.os);
        if r.denied_with.is_empty() {
            assert!(d.allowed, "{}: {}", r.name, d.message);
        } else {
            assert_denied(&d, r.denied_with);
        }
    }
}

#[test]
fn runtime_class_signals_and_conflicts() {
    let rc = |name: &str, os: &str| RuntimeClassInfo {
        name: name.into(),
        handler: "runhcs-wcow-process".into(),
        isolation: Isolation::Process,
        node_selector: BTreeMap::from([("kubernetes.io/os".into(), os.into())]),
        tolerations: vec![winkube_api::windows::Taint::default().toleration()],
    };
    let v = cluster(&[20348]).with_runtime_class(rc("win", "windows"));
    let c = cfg("");
    // The class selects Windows and tolerates the taint: nothing to add but memory warnings.
    let p = pod(
        json!({"runtimeClassName": "win", "containers": [{"name": "a", "image": "x:1",
        "resources": {"limits": {"memory": "1Gi"}}}]}),
    );
    let d = run(&p, &c, &v);
    assert!(d.allowed);
    assert_eq!(d.os.unwrap().os, TargetOs::Windows);
    assert!(d.patch.0.is_empty(), "{:?}", d.mutations);
    // A pod selector that disagrees with its RuntimeClass is denied with both named.
    let p = pod(
        json!({"runtimeClassName": "win", "nodeSelector": {"kubernetes.io/os": "linux"},
        "containers": [{"name": "a", "image": "x:1"}]}),
    );
    assert_denied(
        &run(&p, &c, &v),
        &[
            "RuntimeClass \"win\" nodeSelector kubernetes.io/os=windows",
            "spec.nodeSelector kubernetes.io/os=linux",
        ],
    );
    // A missing class is a warning (the API server rejects the pod itself).
    let p = pod(json!({"runtimeClassName": "nope", "containers": [{"name": "a", "image": "x:1"}]}));
    assert_warned(&run(&p, &c, &v), "RuntimeClass \"nope\" does not exist");
}

#[test]
fn exempt_namespaces() {
    let c = cfg("");
    let p = pod(
        json!({"os": {"name": "windows"}, "nodeSelector": {"kubernetes.io/os": "linux"},
        "containers": [{"name": "a", "image": "app"}]}),
    );
    for ns in ["kube-system", "winkube"] {
        let d = evaluate(&p, ns, &c, &cluster(&[]), &registry(), Phase::Mutate);
        assert!(d.allowed && d.patch.0.is_empty() && d.warnings.is_empty() && d.os.is_none());
        assert!(images_to_resolve(&p, ns, &c).is_empty());
    }
    let c = cfg("exemptNamespaces: [apps]");
    assert!(evaluate(&p, NS, &c, &cluster(&[]), &registry(), Phase::Mutate).allowed);
    let d = evaluate(
        &p,
        "kube-system",
        &c,
        &cluster(&[]),
        &registry(),
        Phase::Mutate,
    );
    assert!(
        !d.allowed,
        "kube-system is no longer exempt when the list is replaced"
    );
}

#[test]
fn malformed_pod_is_a_400_not_a_panic() {
    let c = cfg("scheduling: {mode: enforce}");
    let d = evaluate(
        &json!({"kind": "Pod"}),
        NS,
        &c,
        &cluster(&[]),
        &registry(),
        Phase::Mutate,
    );
    assert_eq!((d.allowed, d.code), (false, 400));
    // A nodeSelector that is not an object cannot be patched: a clear 400.
    let p = pod(json!({"os": {"name": "windows"}, "nodeSelector": "windows",
        "containers": [{"name": "a", "image": "x:1", "resources": {"limits": {"memory": "1Gi"}}}]}));
    let d = evaluate(&p, NS, &c, &cluster(&[]), &registry(), Phase::Mutate);
    assert_eq!((d.allowed, d.code), (false, 400), "{d:?}");
    assert!(
        d.message.contains("/spec/nodeSelector is a string"),
        "{}",
        d.message
    );
}

// --- 2. scheduling -------------------------------------------------------------------------

#[test]
fn scheduling_table() {
    struct Row {
        name: &'static str,
        config: &'static str,
        spec: Value,
        selector: Option<&'static str>,
        tolerations: usize,
        os_name: Option<&'static str>,
        warning: Option<&'static str>,
    }
    let base = || {
        json!({"os": {"name": "windows"}, "containers": [{"name": "a", "image": "x:1",
        "resources": {"limits": {"memory": "1Gi"}}}]})
    };
    let rows = [
        Row {
            name: "enforce adds selector and toleration",
            config: "",
            spec: base(),
            selector: Some("windows"),
            tolerations: 1,
            os_name: Some("windows"),
            warning: None,
        },
        Row {
            name: "existing tolerations are kept and appended to",
            config: "",
            spec: json!({"os": {"name": "windows"}, "tolerations": [{"key": "x", "operator": "Exists"}],
                "containers": [{"name": "a", "image": "x:1", "resources": {"limits": {"memory": "1Gi"}}}]}),
            selector: Some("windows"),
            tolerations: 2,
            os_name: Some("windows"),
            warning: None,
        },
        Row {
            name: "an Exists-everything toleration already tolerates",
            config: "",
            spec: json!({"os": {"name": "windows"}, "tolerations": [{"operator": "Exists"}],
                "containers": [{"name": "a", "image": "x:1", "resources": {"limits": {"memory": "1Gi"}}}]}),
            selector: Some("windows"),
            tolerations: 1,
            os_name: Some("windows"),
            warning: None,
        },
        Row {
            name: "custom taint",
            config: "scheduling: {taint: 'node.kubernetes.io/os=windows:NoExecute'}",
            spec: base(),
            selector: Some("windows"),
            tolerations: 1,
            os_name: Some("windows"),
            warning: None,
        },
        Row {
            name: "untainted cluster",
            config: "scheduling: {taint: ''}",
            spec: base(),
            selector: Some("windows"),
            tolerations: 0,
            os_name: Some("windows"),
            warning: None,
        },
        Row {
            name: "setOsName on a pod selected by windowsOptions",
            config: "scheduling: {setOsName: true}",
            spec: json!({"securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}},
                "containers": [{"name": "a", "image": "x:1", "resources": {"limits": {"memory": "1Gi"}}}]}),
            selector: Some("windows"),
            tolerations: 1,
            os_name: Some("windows"),
            warning: None,
        },
        Row {
            name: "warn mode only warns",
            config: "scheduling: {mode: warn}",
            spec: base(),
            selector: None,
            tolerations: 0,
            os_name: Some("windows"),
            warning: Some("does not tolerate the Windows nodes' taint os=windows:NoSchedule"),
        },
        Row {
            name: "off",
            config: "scheduling: {mode: off}",
            spec: base(),
            selector: None,
            tolerations: 0,
            os_name: Some("windows"),
            warning: None,
        },
    ];
    for r in rows {
        let c = cfg(r.config);
        let p = pod(r.spec);
        let d = run(&p, &c, &cluster(&[]));
        assert!(d.allowed, "{}: {}", r.name, d.message);
        let out = patched(&p, &d);
        assert_eq!(
            out["spec"]["nodeSelector"]["kubernetes.io/os"].as_str(),
            r.selector,
            "{}",
            r.name
        );
        let tols = out["spec"]["tolerations"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        let orig = p["spec"]["tolerations"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        assert_eq!(tols.max(orig), r.tolerations.max(orig), "{}", r.name);
        if r.name == "custom taint" {
            assert_eq!(
                out["spec"]["tolerations"][0],
                json!({"key": "node.kubernetes.io/os", "operator": "Equal", "value": "windows", "effect": "NoExecute"})
            );
        }
        assert_eq!(out["spec"]["os"]["name"].as_str(), r.os_name, "{}", r.name);
        if let Some(w) = r.warning {
            assert_warned(&d, w);
            assert!(d.patch.0.is_empty());
        }
        if r.config.contains("off") {
            assert!(
                d.warnings.iter().all(|w| !w.contains("scheduling")),
                "{:?}",
                d.warnings
            );
        }
    }
}

#[test]
fn patch_escapes_label_keys() {
    let p = pod(
        json!({"os": {"name": "windows"}, "containers": [{"name": "a", "image": "x:1",
        "resources": {"limits": {"memory": "1Gi"}}}]}),
    );
    let d = run(&p, &cfg(""), &cluster(&[]));
    let text = serde_json::to_string(&d.patch).unwrap();
    assert!(text.contains(r#""path":"/spec/nodeSelector""#), "{text}");
    assert!(
        text.contains("/spec/nodeSelector/kubernetes.io~1os"),
        "{text}"
    );
    assert!(text.contains(r#""path":"/spec/tolerations""#), "{text}");
}

#[test]
fn validate_phase_denies_what_mutation_would_fix() {
    let p = pod(
        json!({"os": {"name": "windows"}, "containers": [{"name": "a", "image": "x:1",
        "resources": {"limits": {"memory": "1Gi"}}}]}),
    );
    let d = evaluate(
        &p,
        NS,
        &cfg(""),
        &cluster(&[]),
        &registry(),
        Phase::Validate,
    );
    assert_denied(
        &d,
        &[
            "[scheduling]",
            "no nodeSelector kubernetes.io/os=windows",
            "taint",
        ],
    );
    // After the mutation, validation passes.
    let m = run(&p, &cfg(""), &cluster(&[]));
    let fixed = patched(&p, &m);
    let d = evaluate(
        &fixed,
        NS,
        &cfg(""),
        &cluster(&[]),
        &registry(),
        Phase::Validate,
    );
    assert!(d.allowed, "{}", d.message);
}

#[test]
fn linux_pinning_table() {
    let rows: [(&str, &str, Value, Option<&str>); 5] = [
        (
            "off by default",
            "",
            json!({"containers": [{"name": "a", "image": "nginx:1.25"}]}),
            None,
        ),
        (
            "pins a Linux-only image",
            "linuxPinning: {mode: enforce}",
            json!({"containers": [{"name": "a", "image": "nginx:1.25"}]}),
            Some("linux"),
        ),
        (
            "leaves a multi-OS image alone",
            "linuxPinning: {mode: enforce}",
            json!({"containers": [{"name": "a", "image": "busybox:1"}]}),
            None,
        ),
        (
            "leaves an unresolved image alone",
            "linuxPinning: {mode: enforce}",
            json!({"containers": [{"name": "a", "image": "down:1"}]}),
            None,
        ),
        (
            "keeps an existing selector",
            "linuxPinning: {mode: enforce}",
            json!({"nodeSelector": {"kubernetes.io/os": "linux", "zone": "a"},
                "containers": [{"name": "a", "image": "nginx:1.25"}]}),
            Some("linux"),
        ),
    ];
    for (name, config, spec, want) in rows {
        let p = pod(spec);
        let d = run(&p, &cfg(config), &cluster(&[]));
        assert!(d.allowed, "{name}");
        let out = patched(&p, &d);
        assert_eq!(
            out["spec"]["nodeSelector"]["kubernetes.io/os"].as_str(),
            want,
            "{name}"
        );
        if name == "keeps an existing selector" {
            assert!(d.patch.0.is_empty());
        }
    }
    let d = run(
        &pod(json!({"containers": [{"name": "a", "image": "nginx:1.25"}]})),
        &cfg("linuxPinning: {mode: warn}"),
        &cluster(&[]),
    );
    assert_warned(&d, "targets Linux");
    assert!(d.patch.0.is_empty());
}

// --- 3. memory -------------------------------------------------------------------------------

fn mem_pod(resources: Value) -> Value {
    pod(json!({"nodeSelector": {"kubernetes.io/os": "windows"},
        "tolerations": [{"key": "os", "operator": "Exists"}],
        "initContainers": [{"name": "init", "image": "x:1", "resources": {"limits": {"memory": "300Mi"}}}],
        "containers": [{"name": "app", "image": "x:1", "resources": resources}]}))
}

#[test]
fn memory_table() {
    enum Want {
        Ok,
        Denied(&'static str),
        Warned(&'static str),
        Limit(&'static str),
    }
    let rows = [
        ("deny", json!({"limits": {"memory": "300Mi"}}), Want::Ok),
        (
            "deny",
            json!({"limits": {"memory": "1Gi"}, "requests": {"memory": "300Mi"}}),
            Want::Ok,
        ),
        ("deny", json!({"limits": {"memory": 1073741824}}), Want::Ok),
        (
            "deny",
            json!({}),
            Want::Denied("container \"app\" has no memory limit"),
        ),
        (
            "deny",
            json!({"limits": {"memory": "800m"}}),
            Want::Denied("\"800m\" is 0.8 bytes: 'm' means milli, not mega; did you mean 800Mi?"),
        ),
        (
            "deny",
            json!({"limits": {"memory": "1Gi"}, "requests": {"memory": "300m"}}),
            Want::Denied("memory request \"300m\""),
        ),
        (
            "deny",
            json!({"limits": {"memory": "100Mi"}}),
            Want::Denied("memory limit 100Mi is below the Windows floor of 300Mi"),
        ),
        (
            "deny",
            json!({"limits": {"memory": "300"}}),
            Want::Denied("300 is bytes; did you mean 300Mi?"),
        ),
        (
            "deny",
            json!({"limits": {"memory": "1Gi"}, "requests": {"memory": "200Mi"}}),
            Want::Denied("memory request 200Mi is below"),
        ),
        (
            "deny",
            json!({"limits": {"memory": "lots"}}),
            Want::Denied("invalid quantity \"lots\""),
        ),
        ("enforce", json!({}), Want::Denied("no memory limit")),
        (
            "warn",
            json!({}),
            Want::Warned("container \"app\" has no memory limit"),
        ),
        (
            "warn",
            json!({"limits": {"memory": "300m"}}),
            Want::Warned("millibytes"),
        ),
        ("default", json!({}), Want::Limit("300Mi")),
        (
            "default",
            json!({"requests": {"memory": "1Gi"}}),
            Want::Limit("1Gi"),
        ),
        (
            "default",
            json!({"limits": {"memory": "100Mi"}}),
            Want::Denied("below the Windows floor"),
        ),
        ("off", json!({"limits": {"memory": "1m"}}), Want::Ok),
    ];
    for (mode, res, want) in rows {
        let c = cfg(&format!("memory: {{mode: {mode}}}"));
        let p = mem_pod(res.clone());
        let d = run(&p, &c, &cluster(&[]));
        let ctx = format!("mode {mode}, resources {res}");
        match want {
            Want::Ok => {
                assert!(d.allowed, "{ctx}: {}", d.message);
                assert!(
                    d.warnings.iter().all(|w| !w.contains("[winkube memory]")),
                    "{ctx}: {:?}",
                    d.warnings
                );
            }
            Want::Denied(n) => {
                assert!(!d.allowed, "{ctx}");
                assert!(d.message.contains(n), "{ctx}: {}", d.message);
            }
            Want::Warned(n) => {
                assert!(d.allowed, "{ctx}");
                if n == "millibytes" {
                    assert_warned(&d, "'m' means milli");
                } else {
                    assert_warned(&d, n);
                }
            }
            Want::Limit(l) => {
                assert!(d.allowed, "{ctx}: {}", d.message);
                let out = patched(&p, &d);
                assert_eq!(
                    out["spec"]["containers"][0]["resources"]["limits"]["memory"], l,
                    "{ctx}"
                );
                assert_eq!(
                    out["spec"]["initContainers"][0]["resources"]["limits"]["memory"],
                    "300Mi"
                );
            }
        }
    }
}

#[test]
fn memory_floor_is_configurable_and_skips_host_process() {
    // The namespace may run HostProcess pods (windows_pod_security.rs tests that policy).
    let c = cfg("memory: {mode: deny, floor: 1Gi}\nhostProcess: {allowedNamespaces: [apps]}");
    let d = run(
        &mem_pod(json!({"limits": {"memory": "512Mi"}})),
        &c,
        &cluster(&[]),
    );
    assert!(
        d.message.contains("below the Windows floor of 1Gi"),
        "{}",
        d.message
    );
    let hp = pod(
        json!({"hostNetwork": true, "nodeSelector": {"kubernetes.io/os": "windows"},
        "tolerations": [{"operator": "Exists"}],
        "securityContext": {"windowsOptions": {"hostProcess": true, "runAsUserName": "NT AUTHORITY\\SYSTEM"}},
        "containers": [{"name": "a", "image": "app:2019"}]}),
    );
    let d = run(&hp, &c, &cluster(&[20348]));
    assert!(d.allowed, "{}", d.message);
    assert!(
        d.patch.0.is_empty(),
        "HostProcess pods need no build pin: {:?}",
        d.mutations
    );
}

// --- 4. image tags ------------------------------------------------------------------------------

#[test]
fn image_tags_table() {
    let digest = format!("app@sha256:{}", "0".repeat(64));
    let digest_latest = format!("app:latest@sha256:{}", "0".repeat(64));
    let rows: Vec<(&str, String, Option<&str>)> = vec![
        ("enforce", "app:ltsc2022".into(), None),
        ("enforce", digest.clone(), None),
        ("enforce", digest_latest, None),
        ("enforce", "app".into(), Some("image \"app\" has no tag")),
        ("enforce", "app:latest".into(), Some("uses the tag latest")),
        (
            "enforce",
            "mcr.microsoft.com/windows/servercore".into(),
            Some("has no tag"),
        ),
        (
            "enforce",
            "Bad Image".into(),
            Some("invalid image reference"),
        ),
    ];
    for (mode, image, want) in rows {
        let c = cfg(&format!(
            "imageTags: {{mode: {mode}}}\nosBuild: {{mode: off}}"
        ));
        let d = run(&win_pod(&image), &c, &cluster(&[]));
        match want {
            None => assert!(d.allowed, "{image}: {}", d.message),
            Some(n) => assert_denied(&d, &["[imageTags]", n, "container \"app\""]),
        }
        // The default (warn) mode only warns.
        let d = run(
            &win_pod(&image),
            &cfg("osBuild: {mode: off}"),
            &cluster(&[]),
        );
        assert!(d.allowed);
        if let Some(n) = want {
            assert_warned(&d, n);
        }
    }
    // Linux pods are not the tag policy's business.
    let d = run(
        &pod(
            json!({"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "a", "image": "nginx"}]}),
        ),
        &cfg("imageTags: {mode: enforce}"),
        &cluster(&[]),
    );
    assert!(d.allowed && d.warnings.is_empty());
}

// --- 5. OS-build compatibility ------------------------------------------------------------------

#[test]
fn os_build_table() {
    enum Want {
        Nothing,
        Selector(&'static str),
        Affinity(&'static [&'static str]),
        Denied(&'static [&'static str]),
    }
    struct Row {
        name: &'static str,
        images: &'static [&'static str],
        nodes: &'static [u32],
        want: Want,
        warning: Option<&'static str>,
    }
    let rows = [
        Row {
            name: "single build image pins the only fitting build",
            images: &["app:2019"],
            nodes: &[17763, 20348],
            want: Want::Selector("10.0.17763"),
            warning: None,
        },
        Row {
            name: "multi-build image fits every node",
            images: &["app:multi"],
            nodes: &[17763, 20348],
            want: Want::Nothing,
            warning: None,
        },
        Row {
            name: "2022 image runs on 2022 and 2025 hosts",
            images: &["app:2022"],
            nodes: &[20348, 26100],
            want: Want::Nothing,
            warning: None,
        },
        Row {
            name: "2022 image in a cluster with 2019 nodes gets affinity",
            images: &["app:2022"],
            nodes: &[17763, 20348, 26100],
            want: Want::Affinity(&["10.0.20348", "10.0.26100"]),
            warning: None,
        },
        Row {
            name: "2019 and 2022 images cannot share a host",
            images: &["app:2019", "app:2022"],
            nodes: &[17763, 20348],
            want: Want::Denied(&[
                "no Windows build can run all of this pod's images under process isolation",
                "\"app:2019\" is built for 10.0.17763",
                "\"app:2022\" is built for 10.0.20348",
            ]),
            warning: None,
        },
        Row {
            name: "2022 and 2025 images share a 2025 host",
            images: &["app:2022", "app:2025"],
            nodes: &[20348, 26100],
            want: Want::Selector("10.0.26100"),
            warning: None,
        },
        Row {
            name: "no node of the fitting build yet",
            images: &["app:2025"],
            nodes: &[17763],
            want: Want::Selector("10.0.26100"),
            warning: Some("no Windows node can run this pod's images yet"),
        },
        Row {
            name: "a cluster of one build",
            images: &["app:2019"],
            nodes: &[17763],
            want: Want::Selector("10.0.17763"),
            warning: None,
        },
        Row {
            name: "unresolved image fails open",
            images: &["down:1"],
            nodes: &[17763],
            want: Want::Nothing,
            warning: Some(
                "could not resolve the Windows build of image(s) \"down:1\" (connection refused)",
            ),
        },
    ];
    let c = cfg("");
    for r in rows {
        let containers: Vec<Value> = r
            .images
            .iter()
            .enumerate()
            .map(|(i, im)| json!({"name": format!("c{i}"), "image": im, "resources": {"limits": {"memory": "1Gi"}}}))
            .collect();
        let p = pod(json!({"nodeSelector": {"kubernetes.io/os": "windows"},
            "tolerations": [{"key": "os", "operator": "Exists"}], "containers": containers}));
        let d = run(&p, &c, &cluster(r.nodes));
        let out = patched(&p, &d);
        let sel = out["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"].as_str();
        match r.want {
            Want::Nothing => {
                assert!(d.allowed, "{}: {}", r.name, d.message);
                assert!(d.patch.0.is_empty(), "{}: {:?}", r.name, d.mutations);
            }
            Want::Selector(s) => {
                assert!(d.allowed, "{}: {}", r.name, d.message);
                assert_eq!(sel, Some(s), "{}", r.name);
            }
            Want::Affinity(values) => {
                assert!(d.allowed, "{}: {}", r.name, d.message);
                assert_eq!(sel, None, "{}", r.name);
                let terms = &out["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                    ["nodeSelectorTerms"];
                assert_eq!(
                    terms,
                    &json!([{"matchExpressions": [{"key": "node.kubernetes.io/windows-build", "operator": "In", "values": values}]}]),
                    "{}",
                    r.name
                );
            }
            Want::Denied(n) => assert_denied(&d, n),
        }
        if let Some(w) = r.warning {
            assert_warned(&d, w);
        }
    }
}

#[test]
fn os_build_affinity_is_added_to_every_existing_term() {
    let p = pod(json!({"nodeSelector": {"kubernetes.io/os": "windows"},
        "tolerations": [{"key": "os", "operator": "Exists"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}},
        "containers": [{"name": "a", "image": "app:2022", "resources": {"limits": {"memory": "1Gi"}}}]}));
    let d = run(&p, &cfg(""), &cluster(&[17763, 20348, 26100]));
    let out = patched(&p, &d);
    let terms = &out["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"];
    let expr = json!({"key": "node.kubernetes.io/windows-build", "operator": "In", "values": ["10.0.20348", "10.0.26100"]});
    assert_eq!(terms[0]["matchExpressions"][1], expr);
    assert_eq!(terms[1]["matchExpressions"][0], expr);
    assert_eq!(terms[1]["matchFields"][0]["key"], "metadata.name");
}

#[test]
fn os_build_pinned_selector_and_modes() {
    let p = |build: &str| {
        pod(
            json!({"nodeSelector": {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": build},
            "tolerations": [{"key": "os", "operator": "Exists"}],
            "containers": [{"name": "a", "image": "app:2019", "resources": {"limits": {"memory": "1Gi"}}}]}),
        )
    };
    let v = cluster(&[17763, 20348]);
    let d = run(&p("10.0.20348"), &cfg(""), &v);
    assert_denied(
        &d,
        &[
            "selects node.kubernetes.io/windows-build=10.0.20348",
            "cannot run there under process isolation",
            "hosts that fit: 10.0.17763 (Windows Server 2019)",
        ],
    );
    let d = run(&p("10.0.17763"), &cfg(""), &v);
    assert!(d.allowed && d.patch.0.is_empty());
    let d = run(&p("2019"), &cfg(""), &v);
    assert!(d.allowed, "release names are accepted");
    let d = run(&p("banana"), &cfg(""), &v);
    assert_denied(&d, &["is not a Windows build"]);
    let d = run(&p("10.0.17763"), &cfg(""), &cluster(&[20348]));
    assert_warned(
        &d,
        "no Windows node of build 10.0.17763 (Windows Server 2019) exists yet",
    );
    // warn mode: the mismatch is a warning.
    let d = run(&p("10.0.20348"), &cfg("osBuild: {mode: warn}"), &v);
    assert!(d.allowed);
    assert_warned(&d, "cannot run there");
    // off: nothing about builds.
    let d = run(&p("10.0.20348"), &cfg("osBuild: {mode: off}"), &v);
    assert!(d.allowed && d.warnings.iter().all(|w| !w.contains("osBuild")));
}

#[test]
fn os_build_fail_closed_and_missing_windows_platform() {
    let c = cfg("images: {onUnresolved: deny}");
    let d = run(&win_pod("down:1"), &c, &cluster(&[17763]));
    assert_denied(&d, &["[osBuild] could not resolve", "connection refused"]);
    // An image the caller never resolved counts as unresolved too.
    let d = run(&win_pod("never-asked:1"), &c, &cluster(&[17763]));
    assert_denied(&d, &["\"never-asked:1\" (not resolved)"]);
    // With OS detection from images off, a Linux-only image in a Windows pod is an osBuild denial.
    let c = cfg("images: {detectOs: false}");
    let d = run(&win_pod("nginx:1.25"), &c, &cluster(&[17763]));
    assert_denied(
        &d,
        &["image \"nginx:1.25\" has no Windows platform (it provides linux/amd64)"],
    );
    let arm = cfg("osBuild: {architecture: arm64}");
    let d = run(&win_pod("app:2019"), &arm, &cluster(&[17763]));
    assert_denied(&d, &["has no windows/arm64 platform"]);
}

#[test]
fn os_build_hyperv_runs_older_images_on_newer_hosts() {
    let hv = RuntimeClassInfo {
        name: "windows-2019-hyperv".into(),
        handler: "runhcs-wcow-hypervisor-17763".into(),
        isolation: Isolation::HyperV,
        node_selector: BTreeMap::from([("kubernetes.io/os".into(), "windows".into())]),
        tolerations: vec![winkube_api::windows::Taint::default().toleration()],
    };
    let p = pod(json!({"runtimeClassName": "windows-2019-hyperv",
        "containers": [{"name": "a", "image": "app:2019", "resources": {"limits": {"memory": "1Gi"}}}]}));
    // Process isolation would need a 2019 node; Hyper-V runs it on 2022 and 2025 hosts.
    let v = cluster(&[20348, 26100]).with_runtime_class(hv.clone());
    let d = run(&p, &cfg(""), &v);
    assert!(d.allowed, "{}", d.message);
    assert!(d.patch.0.is_empty(), "{:?}", d.mutations);
    // A newer image than every host does not run, even under Hyper-V.
    let p25 = pod(json!({"runtimeClassName": "windows-2019-hyperv",
        "containers": [{"name": "a", "image": "app:2025", "resources": {"limits": {"memory": "1Gi"}}}]}));
    let v = cluster(&[17763, 20348]).with_runtime_class(hv);
    let d = run(&p25, &cfg(""), &v);
    assert_warned(&d, "no Windows node can run this pod's images yet");
    assert_eq!(
        patched(&p25, &d)["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"],
        "10.0.26100"
    );
}

// --- 7. gMSA domain readiness ------------------------------------------------------------------

#[test]
fn gmsa_readiness_hook() {
    let p = pod(json!({"nodeSelector": {"kubernetes.io/os": "windows"},
        "tolerations": [{"key": "os", "operator": "Exists"}],
        "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "webapp",
            "gmsaCredentialSpec": "{\"DomainJoinConfig\":{\"DnsName\":\"contoso.com\"}}"}},
        "containers": [
            {"name": "web", "image": "x:1", "resources": {"limits": {"memory": "1Gi"}}},
            {"name": "own", "image": "x:1", "resources": {"limits": {"memory": "1Gi"}},
                "lifecycle": {"postStart": {"exec": {"command": ["mine"]}}}}]}));
    // Off by default.
    assert!(run(&p, &cfg(""), &cluster(&[])).patch.0.is_empty());
    let c = cfg("gmsaDomainReadiness: {mode: enforce, timeoutSeconds: 90, intervalSeconds: 3}");
    let d = run(&p, &c, &cluster(&[]));
    assert!(d.allowed);
    let out = patched(&p, &d);
    let cmd = out["spec"]["containers"][0]["lifecycle"]["postStart"]["exec"]["command"]
        .as_array()
        .unwrap();
    assert_eq!(cmd[0], "powershell.exe");
    let script = cmd.last().unwrap().as_str().unwrap();
    for part in [
        "$d = 'contoso.com'",
        "nltest \"/sc_verify:$d\"",
        "Restart-Service -Name Netlogon",
        "AddSeconds(90)",
        "Start-Sleep -Seconds 3",
        "exit 1",
    ] {
        assert!(script.contains(part), "{part:?} not in {script}");
    }
    assert_eq!(
        out["spec"]["containers"][1]["lifecycle"]["postStart"]["exec"]["command"],
        json!(["mine"]),
        "an existing postStart is never replaced"
    );
    // Containers without gMSA get nothing.
    let plain = win_pod("app:ltsc2022");
    assert!(
        run(&plain, &c, &cluster(&[]))
            .mutations
            .iter()
            .all(|m| !m.contains("postStart"))
    );
    let d = run(&p, &cfg("gmsaDomainReadiness: {mode: warn}"), &cluster(&[]));
    assert_warned(&d, "container \"web\" uses gMSA");
}

// --- configuration and the resolution step ----------------------------------------------------

#[test]
fn config_parsing() {
    let d = WindowsPolicyConfig::default();
    assert_eq!(cfg(""), d);
    assert_eq!(d.exempt_namespaces, ["kube-system", "winkube"]);
    assert_eq!(d.memory.floor, 300 << 20);
    let full = cfg(r#"
exemptNamespaces: [infra]
images:
  onUnresolved: deny
  detectOs: false
scheduling:
  mode: warn
  taint: "os=Windows:NoSchedule"
  setOsName: true
linuxPinning: {mode: enforce}
memory: {mode: default, floor: 512Mi}
imageTags: {mode: off}
osBuild: {mode: warn, architecture: amd64, hypervHandlers: [my-hv]}
gmsaDomainReadiness: {mode: enforce, timeoutSeconds: 60, intervalSeconds: 2}
"#);
    assert_eq!(full.scheduling.taint.as_ref().unwrap().value, "Windows");
    assert_eq!(full.memory.floor, 512 << 20);
    assert_eq!(full.os_build.hyperv_handlers, ["my-hv"]);
    assert!(full.is_exempt("infra") && !full.is_exempt("kube-system"));

    let errors = [
        ("memroy: {mode: warn}", "memroy"),
        ("memory: {mode: warn, flor: 1Gi}", "flor"),
        ("memory: {mode: strict}", "strict"),
        ("memory: {floor: 300m}", "millibytes"),
        ("memory: {floor: lots}", "lots"),
        ("scheduling: {taint: 'os=windows'}", "os=windows"),
        (
            "gmsaDomainReadiness: {intervalSeconds: 0}",
            "intervalSeconds",
        ),
    ];
    for (yaml, needle) in errors {
        let e = WindowsPolicyConfig::from_yaml(yaml)
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{yaml}: {e}");
    }
}

#[test]
fn images_to_resolve_lists_each_image_once_with_pull_secrets() {
    let p = pod(
        json!({"imagePullSecrets": [{"name": "regcred"}, {"name": ""}],
        "initContainers": [{"name": "i", "image": "app:2019"}],
        "containers": [{"name": "a", "image": "app:2019"}, {"name": "b", "image": "app:2022"}, {"name": "c", "image": "Not Valid"}]}),
    );
    let reqs = images_to_resolve(&p, NS, &cfg(""));
    let images: Vec<&str> = reqs.iter().map(|r| r.image.as_str()).collect();
    assert_eq!(images, ["app:2019", "app:2022"]);
    assert_eq!(reqs[0].pull_secrets, ["regcred"]);
    let off = cfg("images: {detectOs: false}\nosBuild: {mode: off}");
    assert!(images_to_resolve(&p, NS, &off).is_empty());
}

#[test]
fn pinned_metadata_yaml() {
    let yaml = "mcr.microsoft.com/windows/servercore:ltsc2019:\n  platforms:\n  - {os: windows, architecture: amd64, os.version: 10.0.17763.5458}\ncontoso/web:1.4:\n  platforms:\n  - {os: windows, architecture: amd64, os.version: 10.0.17763.1}\n  - {os: windows, architecture: amd64, os.version: 10.0.20348.1}\n";
    let m = winkube_policy::windows::pinned_images_from_yaml(yaml).unwrap();
    assert_eq!(
        m["mcr.microsoft.com/windows/servercore:ltsc2019"].platforms[0].windows_build(),
        Some(b(17763))
    );
    assert_eq!(m["contoso/web:1.4"].platforms.len(), 2);
    let e = winkube_policy::windows::pinned_images_from_yaml("x: {platforms: 3}").unwrap_err();
    assert!(e.to_string().contains("image metadata"), "{e}");
}

#[test]
fn pinned_metadata_matches_normalised_references() {
    let pinned = BTreeMap::from([(
        "docker.io/library/app:2019".to_owned(),
        ImagePlatforms {
            digest: None,
            platforms: vec![win("10.0.17763.1")],
        },
    )]);
    let p = pod(
        json!({"containers": [{"name": "a", "image": "app:2019"}, {"name": "b", "image": "other:1"}]}),
    );
    let reqs = images_to_resolve(&p, NS, &cfg(""));
    let res = winkube_policy::windows::resolutions_from_pinned(&pinned, &reqs);
    assert!(matches!(res["app:2019"], ImageLookup::Found(_)));
    assert!(matches!(res["other:1"], ImageLookup::Unavailable(_)));
}

#[test]
fn an_unresolved_image_as_the_only_os_signal_fails_open_with_a_warning_or_closed() {
    // "down:1" could not be looked up; nothing else in the pod names an OS.
    let p = pod(json!({"containers": [{"name": "c", "image": "down:1"}]}));
    for phase in [Phase::Mutate, Phase::Validate] {
        let d = evaluate(&p, NS, &cfg(""), &cluster(&[17763]), &registry(), phase);
        assert!(d.allowed, "{d:#?}");
        assert_warned(&d, "[winkube os] target OS unknown");
        assert_warned(&d, "\"down:1\" (connection refused) could not be resolved");
        let d = evaluate(
            &p,
            NS,
            &cfg("images: {onUnresolved: deny}"),
            &cluster(&[17763]),
            &registry(),
            phase,
        );
        assert_denied(&d, &["[os] target OS unknown", "down:1"]);
    }
    // A resolved image with no single OS, or a pod with its own OS signal: no such warning.
    for spec in [
        json!({"containers": [{"name": "c", "image": "busybox:1"}]}),
        json!({"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "c", "image": "down:1"}]}),
    ] {
        let d = run(&pod(spec), &cfg(""), &cluster(&[17763]));
        assert!(
            !d.warnings.iter().any(|w| w.contains("target OS unknown")),
            "{:?}",
            d.warnings
        );
    }
    // detectOs off: images are not an OS signal, so nothing failed.
    let d = run(&p, &cfg("images: {detectOs: false}"), &cluster(&[17763]));
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

// --- the AdmissionReview answer -----------------------------------------------------------

/// `/mutate-windows` and `/validate-windows` skip what their answer does not carry (the
/// finding and mutation line of each fix); what they answer must be `evaluate`'s decision:
/// the same allowed, code, message, warnings and patch, and its findings minus the notes.
#[test]
fn the_review_answer_is_the_full_decision() {
    use base64::Engine as _;
    use winkube_policy::Severity;
    use winkube_policy::windows::{Decoded, decode};

    let bare = pod(json!({"containers": [{"name": "app", "image": "app:2022"}]}));
    let mut pinned = win_pod("app:2025");
    pinned["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"] = json!("10.0.17763");
    let spread = win_pod("app:2022");
    let cases: Vec<(&str, Value, &str, Phase)> = vec![
        ("every fix, enforce", bare.clone(), "", Phase::Mutate),
        (
            "fixes as warnings",
            bare.clone(),
            "scheduling: {mode: warn}\nosBuild: {mode: warn}\nmemory: {mode: warn}",
            Phase::Mutate,
        ),
        (
            "fixes denied when validating",
            bare.clone(),
            "",
            Phase::Validate,
        ),
        ("a denial", pinned, "", Phase::Mutate),
        ("affinity", spread, "", Phase::Mutate),
        (
            "unresolved image",
            win_pod("down:1"),
            "images: {onUnresolved: deny}",
            Phase::Mutate,
        ),
        (
            "a malformed pod",
            pod(json!({"nodeSelector": "x", "containers": [{"name": "a", "image": "app:2022"}]})),
            "",
            Phase::Mutate,
        ),
    ];
    let view = cluster(&[17763, 20348, 26100]);
    let mut notes = 0;
    for (name, p, policy, phase) in cases {
        let c = cfg(policy);
        let full = evaluate(&p, NS, &c, &view, &registry(), phase);
        let body = serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview", "request": {"uid": "u", "namespace": NS,
            "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
            "object": p}}))
        .unwrap();
        let Decoded::Pod(review) = decode(&body) else {
            panic!("{name}: not reviewed")
        };
        let o = review.evaluate(phase, &c, &view, &registry(), Vec::new());
        assert_eq!(
            (o.allowed, o.code, o.message.as_str()),
            (full.allowed, full.code, full.message.as_str()),
            "{name}"
        );
        notes += full
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Note)
            .count();
        assert_eq!(o.warnings, full.warnings, "{name}");
        let answer: Value = serde_json::from_slice(&o.body).unwrap();
        let patch = answer["response"]["patch"].as_str().map(|p| {
            let bytes = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        });
        let full_patch =
            (!full.patch.0.is_empty()).then(|| serde_json::to_value(&full.patch).unwrap());
        assert_eq!(patch, full_patch, "{name}");
        let without_notes: Vec<_> = full
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Note)
            .cloned()
            .collect();
        assert_eq!(o.findings, without_notes, "{name}");
    }
    assert!(notes >= 4, "the cases make too few fixes: {notes}");
}
