//! `winkube manifests kube-proxy`: the Windows kube-proxy DaemonSet for a cluster version
//! and CNI, checked as a typed DaemonSet; bad versions are named.
#![allow(clippy::unwrap_used)]

mod support;

use k8s_openapi::api::apps::v1::DaemonSet;
use support::*;
use winkube_api::windows::Taint;

fn daemonset(args: &[&str]) -> DaemonSet {
    let docs = winkube_docs(&[&["manifests", "kube-proxy"][..], args].concat());
    assert_eq!(docs.len(), 1);
    serde_json::from_value(docs[0].clone()).unwrap()
}

#[test]
fn image_version_matches_the_cluster_and_the_cni() {
    for (version, cni) in [
        ("v1.31.2", "calico"),
        ("v1.33.4", "flannel"),
        ("v1.23.17", "calico"),
    ] {
        let ds = daemonset(&["--kubernetes-version", version, "--cni", cni]);
        assert_eq!(ds.metadata.namespace.as_deref(), Some("kube-system"));
        let spec = ds.spec.template.spec.unwrap();
        assert_eq!(
            spec.containers[0].image.as_deref(),
            Some(format!("sigwindowstools/kube-proxy:{version}-{cni}-hostprocess").as_str())
        );
        assert_eq!(spec.node_selector.unwrap()["kubernetes.io/os"], "windows");
        assert_eq!(
            spec.security_context
                .unwrap()
                .windows_options
                .unwrap()
                .host_process,
            Some(true)
        );
        assert!(
            spec.tolerations
                .unwrap()
                .iter()
                .any(|t| Taint::default().tolerated_by(t))
        );
    }
}

#[test]
fn taint_and_repository_are_configurable() {
    let ds = daemonset(&[
        "--kubernetes-version",
        "v1.32.0",
        "--cni",
        "calico",
        "--taint",
        "dedicated=windows:NoExecute",
        "--image-repository",
        "registry.example.com/kp",
    ]);
    let spec = ds.spec.template.spec.unwrap();
    assert_eq!(
        spec.containers[0].image.as_deref(),
        Some("registry.example.com/kp:v1.32.0-calico-hostprocess")
    );
    let t = Taint::parse("dedicated=windows:NoExecute").unwrap();
    let tolerations = spec.tolerations.unwrap();
    assert!(tolerations.iter().any(|x| t.tolerated_by(x)));
    assert!(!tolerations.iter().any(|x| Taint::default().tolerated_by(x)));
}

#[test]
fn bad_versions_and_cnis_are_named() {
    for (args, want) in [
        (
            &["--kubernetes-version", "v1.99.0", "--cni", "calico"][..],
            "unknown Kubernetes version v1.99.0",
        ),
        (
            &["--kubernetes-version", "1.31.2", "--cni", "calico"][..],
            "invalid Kubernetes version \"1.31.2\"",
        ),
        (
            &["--kubernetes-version", "v1.31.2", "--cni", "cilium"][..],
            "cilium",
        ),
        (
            &[
                "--kubernetes-version",
                "v1.31.2",
                "--cni",
                "calico",
                "--taint",
                "os=windows",
            ][..],
            "invalid taint",
        ),
    ] {
        let out = winkube(&[&["manifests", "kube-proxy"][..], args].concat());
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
}
