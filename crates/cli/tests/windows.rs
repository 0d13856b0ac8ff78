//! End-to-end tests of the Windows workload policies in `winkube admit` and `winkube lint`,
//! of `winkube runtimeclass`, and of image lookups against a real registry (Debian's
//! `docker-registry`, started on loopback).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::json;
use winkube_testkit::TestRegistry;

mod support;
use support::*;

fn write(dir: &Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    p.to_str().unwrap().to_owned()
}

/// A state directory with the example nodes (2019, 2022, Linux) and nothing else.
fn nodes_only_state() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("examples/state/nodes.yaml"),
        dir.path().join("nodes.yaml"),
    )
    .unwrap();
    dir
}

fn windows_pod(image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  securityContext:\n    windowsOptions: {{runAsUserName: ContainerUser}}\n  containers:\n  - name: web\n    image: {image}\n    resources: {{limits: {{memory: 1Gi}}}}\n"
    )
}

#[test]
fn admit_adds_windows_selector_toleration_and_build_pin() {
    let o = winkube(&[
        "admit",
        "--offline",
        "--state",
        "examples/state",
        "examples/windows/iis-pod.yaml",
    ]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let pod = &yaml_docs(&stdout(&o))[0];
    let spec = &pod["spec"];
    assert_eq!(spec["nodeSelector"]["kubernetes.io/os"], "windows");
    // The image is a 2019 image and the cluster also has 2022 nodes: pinned to 2019.
    assert_eq!(
        spec["nodeSelector"]["node.kubernetes.io/windows-build"],
        "10.0.17763"
    );
    assert_eq!(
        spec["tolerations"],
        json!([{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}])
    );
    let err = stderr(&o);
    // No memory limit: a warning on stderr, not a denial.
    assert!(
        err.contains("examples/windows/iis-pod.yaml (document 1): Pod default/iis: warning:")
            && err.contains("container \"iis\" has no memory limit"),
        "{err}"
    );
    // --offline never asks a registry.
    assert!(!err.contains("registry lookup failed"), "{err}");
}

#[test]
fn conflicting_os_signals_are_denied_with_every_signal() {
    let o = winkube(&[
        "admit",
        "--offline",
        "--state",
        "examples/state",
        "examples/windows/conflicting-os.yaml",
    ]);
    assert_eq!(code(&o), 1, "stderr: {}", stderr(&o));
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert!(err.contains("Pod default/confused: denied (403): [os] conflicting OS signals"));
    for signal in [
        "spec.os.name=windows says windows",
        "spec.nodeSelector kubernetes.io/os=linux says linux",
        "(provides only windows) says windows",
    ] {
        assert!(err.contains(signal), "{signal} missing from {err}");
    }
}

#[test]
fn readme_first_command_pins_the_webapp_build_and_keeps_gmsa_contents() {
    // The README runs it --offline: image metadata comes from examples/state/images.yaml
    // and no registry is asked.
    let o = winkube(&[
        "admit",
        "--offline",
        "--state",
        "examples/state",
        "examples/webapp-pod.yaml",
    ]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let pod = &yaml_docs(&stdout(&o))[0];
    assert!(
        pod["spec"]["securityContext"]["windowsOptions"]["gmsaCredentialSpec"]
            .as_str()
            .unwrap()
            .contains("\"CmsPlugins\":[\"ActiveDirectory\"]")
    );
    assert_eq!(pod["spec"]["nodeSelector"]["kubernetes.io/os"], "windows");
    // The pod's own toleration is kept, not duplicated.
    assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 1);
}

#[test]
fn offline_webapp_images_come_from_images_yaml() {
    let o = winkube(&[
        "admit",
        "--offline",
        "--state",
        "examples/state",
        "examples/webapp-pod.yaml",
    ]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    // Every image resolved from images.yaml: the one warning is the talk's IIS container
    // running as ContainerAdministrator (a warning by default, not a denial).
    let err = stderr(&o);
    let warnings: Vec<&str> = err.lines().collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(r#"container "webapp" runs as ContainerAdministrator"#)
            && warnings[0].contains("windows/container-administrator at spec.containers[0]"),
        "{warnings:?}"
    );
    let pod = &yaml_docs(&stdout(&o))[0];
    // Both images are 2019 images; the cluster has 2019 and 2022 nodes.
    assert_eq!(
        pod["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"],
        "10.0.17763"
    );
}

#[test]
fn offline_uses_only_pinned_metadata() {
    let state = nodes_only_state();
    let dir = tempfile::tempdir().unwrap();
    // A registry on a closed loopback port: only pinned metadata can answer, and no
    // test ever sends traffic off this machine.
    let image = "127.0.0.1:1/team/web:1.0";
    let pod = write(dir.path(), "pod.yaml", &windows_pod(image));
    let s = state.path().to_str().unwrap();

    // No images.yaml: unresolved, admitted with a warning (onUnresolved: allow).
    let o = winkube(&["admit", "--offline", "--state", s, &pod]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert!(stderr(&o).contains("--offline"), "{}", stderr(&o));
    let out = &yaml_docs(&stdout(&o))[0];
    assert!(
        out["spec"]["nodeSelector"]
            .get("node.kubernetes.io/windows-build")
            .is_none()
    );

    // Pinned to 2022: the pod is pinned to the 2022 nodes.
    write(
        state.path(),
        "images.yaml",
        &format!(
            "{image}:\n  platforms:\n  - {{os: windows, architecture: amd64, os.version: 10.0.20348.2227}}\n"
        ),
    );
    let o = winkube(&["admit", "--offline", "--state", s, &pod]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let out = &yaml_docs(&stdout(&o))[0];
    assert_eq!(
        out["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"],
        "10.0.20348"
    );
    assert!(!stderr(&o).contains("could not resolve"), "{}", stderr(&o));

    // Without --offline the registry is tried first; it cannot be reached, so the pinned
    // metadata answers and a warning says so.
    let o = winkube(&["admit", "--registry-timeout", "2s", "--state", s, &pod]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("image {image:?}: registry lookup failed"))
            && err.contains("using the pinned metadata in"),
        "{err}"
    );
    assert_eq!(
        yaml_docs(&stdout(&o))[0]["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"],
        "10.0.20348"
    );
}

#[test]
fn policy_file_changes_modes_and_all_off_skips_the_windows_policies() {
    let dir = tempfile::tempdir().unwrap();
    let off = write(
        dir.path(),
        "off.yaml",
        "scheduling: {mode: off}\nmemory: {mode: off}\nimageTags: {mode: off}\nosBuild: {mode: off}\n",
    );
    let o = winkube(&[
        "admit",
        "--offline",
        "--policy",
        &off,
        "--state",
        "examples/state",
        "examples/windows/iis-pod.yaml",
    ]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert_eq!(stderr(&o), "");
    let pod = &yaml_docs(&stdout(&o))[0];
    assert!(pod["spec"].get("nodeSelector").is_none());
    assert!(pod["spec"].get("tolerations").is_none());

    // memory: deny turns the missing limit into a denial.
    let deny = write(dir.path(), "deny.yaml", "memory: {mode: deny}\n");
    let o = winkube(&[
        "admit",
        "--offline",
        "--policy",
        &deny,
        "--state",
        "examples/state",
        "examples/windows/iis-pod.yaml",
    ]);
    assert_eq!(code(&o), 1, "stderr: {}", stderr(&o));
    assert!(
        stderr(&o).contains("denied (403): [memory]"),
        "{}",
        stderr(&o)
    );

    // The example policy file (every key, defaults) behaves as no file at all.
    let a = winkube(&[
        "admit",
        "--offline",
        "--policy",
        "examples/policy.yaml",
        "--state",
        "examples/state",
        "examples/windows/iis-pod.yaml",
    ]);
    let b = winkube(&[
        "admit",
        "--offline",
        "--state",
        "examples/state",
        "examples/windows/iis-pod.yaml",
    ]);
    assert_eq!(code(&a), 0, "{}", stderr(&a));
    assert_eq!(stdout(&a), stdout(&b));
}

#[test]
fn bad_policy_file_is_an_input_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "policy.yaml", "memroy:\n  mode: warn\n");
    for cmd in ["admit", "lint"] {
        let o = winkube(&[
            cmd,
            "--offline",
            "--policy",
            &bad,
            "examples/windows/iis-pod.yaml",
        ]);
        assert_eq!(code(&o), 2, "{cmd}: {}", stderr(&o));
        assert_eq!(stdout(&o), "");
        let err = stderr(&o);
        assert!(
            err.contains(&format!("--policy {bad}")) && err.contains("memroy"),
            "{err}"
        );
    }
    let bad = write(dir.path(), "floor.yaml", "memory: {floor: 300m}\n");
    let o = winkube(&["admit", "--policy", &bad, "examples/windows/iis-pod.yaml"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("did you mean 300Mi"), "{}", stderr(&o));
    let o = winkube(&[
        "admit",
        "--policy",
        "/nonexistent/policy.yaml",
        "examples/windows/iis-pod.yaml",
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--policy /nonexistent/policy.yaml: cannot read file"));
}

#[test]
fn bad_windows_state_is_an_input_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().to_str().unwrap();
    write(
        dir.path(),
        "nodes.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: Node\nmetadata:\n  name: w\n  labels: {kubernetes.io/os: windows, node.kubernetes.io/windows-build: ltsc-next}\n",
    );
    let o = winkube(&[
        "admit",
        "--offline",
        "--state",
        s,
        "examples/windows/iis-pod.yaml",
    ]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(
        err.contains("nodes.yaml (document 2): Node \"w\": label node.kubernetes.io/windows-build=\"ltsc-next\""),
        "{err}"
    );
    std::fs::remove_file(dir.path().join("nodes.yaml")).unwrap();

    write(
        dir.path(),
        "images.yaml",
        "\"UPPER/Case:1\":\n  platforms: [{os: windows, architecture: amd64}]\n",
    );
    let o = winkube(&[
        "lint",
        "--offline",
        "--state",
        s,
        "examples/windows/iis-pod.yaml",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("images.yaml: image metadata: key \"UPPER/Case:1\""),
        "{}",
        stderr(&o)
    );
    write(
        dir.path(),
        "images.yaml",
        "a/b:1:\n  platforms: [{os: windows, architecture: amd64, os.version: ten}]\n",
    );
    let o = winkube(&[
        "lint",
        "--offline",
        "--state",
        s,
        "examples/windows/iis-pod.yaml",
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("os.version \"ten\""), "{}", stderr(&o));
    std::fs::remove_file(dir.path().join("images.yaml")).unwrap();

    write(
        dir.path(),
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: pull, namespace: prod}\ntype: kubernetes.io/dockerconfigjson\nstringData: {.dockerconfigjson: 'not json'}\n",
    );
    let o = winkube(&[
        "admit",
        "--offline",
        "--state",
        s,
        "examples/windows/iis-pod.yaml",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("secret.yaml (document 1): Secret prod/pull: invalid docker config"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn lint_reports_per_object_and_never_prints_manifests() {
    let o = winkube(&[
        "lint",
        "--offline",
        "--state",
        "examples/state",
        "examples/windows/iis-pod.yaml",
        "examples/webapp-pod.yaml",
    ]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains("apiVersion"), "{out}");
    for line in [
        "examples/windows/iis-pod.yaml (document 1): Pod default/iis\n",
        "  target OS: windows (spec.securityContext.windowsOptions says windows;",
        "  would change: [scheduling] add nodeSelector kubernetes.io/os=windows\n",
        "  would change: [osBuild] add nodeSelector node.kubernetes.io/windows-build=10.0.17763\n",
        "  warning: [winkube memory] container \"iis\" has no memory limit",
        "  result: admitted with 3 changes\n",
        "examples/webapp-pod.yaml (document 1): Pod default/webapp\n",
        "  would change: [gmsa] add /spec/securityContext/windowsOptions/gmsaCredentialSpec\n",
        "2 objects checked, 0 would be denied\n",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }

    let o = winkube(&[
        "lint",
        "--offline",
        "--state",
        "examples/state",
        "examples/windows/conflicting-os.yaml",
        "examples/denied/unauthorized-service-account.yaml",
    ]);
    assert_eq!(code(&o), 1, "stderr: {}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("  target OS: conflicting OS signals: spec.os.name=windows says windows;"),
        "{out}"
    );
    assert!(
        out.contains("  result: denied (403): [os] conflicting OS signals"),
        "{out}"
    );
    assert!(
        out.contains("  result: denied (403): service account \"billing\" is not authorized"),
        "{out}"
    );
    assert!(
        out.ends_with("2 objects checked, 2 would be denied\n"),
        "{out}"
    );

    let o = winkube(&["lint", "--offline", "examples/nonexistent.yaml"]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        stdout(&o),
        "0 objects checked, 0 would be denied, 1 input error\n"
    );
    assert!(stderr(&o).contains("examples/nonexistent.yaml: cannot read file"));
}

#[test]
fn exempt_namespaces_are_not_touched() {
    let o = winkube(&[
        "lint",
        "--offline",
        "--state",
        "examples/state",
        "--namespace",
        "kube-system",
        "examples/windows/conflicting-os.yaml",
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("namespace \"kube-system\" is exempt"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn runtimeclass_default_output_is_deploy_runtimeclasses_yaml() {
    let o = winkube(&["runtimeclass"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let committed =
        std::fs::read_to_string(repo().join("deploy/runtimeclasses.yaml")).unwrap_or_default();
    assert!(
        stdout(&o) == committed,
        "deploy/runtimeclasses.yaml is out of date; regenerate it with:\n  cargo run -q -p winkube -- runtimeclass > deploy/runtimeclasses.yaml"
    );
    let docs = yaml_docs(&committed);
    let names: Vec<&str> = docs
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "windows-2019",
            "windows-2019-hyperv",
            "windows-2022",
            "windows-2022-hyperv",
            "windows-2025",
            "windows-2025-hyperv"
        ]
    );
    for d in &docs {
        let _: k8s_openapi::api::node::v1::RuntimeClass =
            serde_json::from_value(d.clone()).unwrap();
    }
    assert_eq!(
        docs[1]["overhead"]["podFixed"],
        json!({"cpu": "100m", "memory": "512Mi"})
    );
    assert_eq!(
        docs[0]["scheduling"]["nodeSelector"]["node.kubernetes.io/windows-build"],
        "10.0.17763"
    );
}

#[test]
fn runtimeclass_flags() {
    let o = winkube(&[
        "runtimeclass",
        "--build",
        "2022",
        "--build",
        "10.0.17763",
        "--hyperv-handler",
        "runhcs-wcow-hypervisor-{build}",
        "--process-handler",
        "proc",
        "--taint",
        "sku=windows:NoExecute",
        "--overhead-memory",
        "1Gi",
        "--overhead-cpu",
        "250m",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let docs = yaml_docs(&stdout(&o));
    assert_eq!(docs.len(), 4);
    assert_eq!(docs[0]["metadata"]["name"], "windows-2019");
    assert_eq!(docs[0]["handler"], "proc");
    assert_eq!(docs[1]["handler"], "runhcs-wcow-hypervisor-17763");
    assert_eq!(docs[3]["handler"], "runhcs-wcow-hypervisor-20348");
    assert_eq!(
        docs[3]["overhead"]["podFixed"],
        json!({"cpu": "250m", "memory": "1Gi"})
    );
    assert_eq!(
        docs[0]["scheduling"]["tolerations"],
        json!([{"key": "sku", "operator": "Equal", "value": "windows", "effect": "NoExecute"}])
    );

    let o = winkube(&[
        "runtimeclass",
        "--build",
        "2025",
        "--no-hyperv",
        "--taint",
        "",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let docs = yaml_docs(&stdout(&o));
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["metadata"]["name"], "windows-2025");
    assert!(docs[0]["scheduling"].get("tolerations").is_none());

    for (args, want) in [
        (
            vec!["runtimeclass", "--build", "2030"],
            "is not a Windows build",
        ),
        (
            vec!["runtimeclass", "--overhead-memory", "512m"],
            "did you mean 512Mi?",
        ),
        (
            vec!["runtimeclass", "--no-hyperv", "--no-process"],
            "nothing to generate",
        ),
        (
            vec!["runtimeclass", "--process-handler", "Bad_Handler"],
            "DNS-1123",
        ),
        (vec!["runtimeclass", "--taint", "os=windows"], "--taint"),
    ] {
        let o = winkube(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "");
    }
}

#[test]
fn deploy_install_windows_policies_yaml_is_generated() {
    let o = winkube(&["manifests", "install", "--windows-policies"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let committed = std::fs::read_to_string(repo().join("deploy/install-windows-policies.yaml"))
        .unwrap_or_default();
    assert!(
        stdout(&o) == committed,
        "deploy/install-windows-policies.yaml is out of date; regenerate it with:\n  cargo run -q -p winkube -- manifests install --windows-policies > deploy/install-windows-policies.yaml"
    );
    let docs = yaml_docs(&committed);
    let paths: Vec<&str> = docs
        .iter()
        .filter(|d| d["metadata"]["name"] == "winkube-windows")
        .map(|d| {
            d["webhooks"][0]["clientConfig"]["service"]["path"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(paths, ["/mutate-windows", "/validate-windows"]);
}

// --- a real registry ------------------------------------------------------------------

#[tokio::test]
async fn admit_pins_the_build_the_registry_reports() {
    let Some(reg) = TestRegistry::start("the registry test").await else {
        return;
    };
    reg.push_index(
        "team/web",
        "1.4-ltsc2019",
        &[("windows", Some("10.0.17763.5458"))],
        false,
    )
    .await;
    let image = format!("{}/team/web:1.4-ltsc2019", reg.host());
    let state = nodes_only_state();
    // Pinned metadata that disagrees: the registry, reachable, must win.
    write(
        state.path(),
        "images.yaml",
        &format!(
            "{image}:\n  platforms:\n  - {{os: windows, architecture: amd64, os.version: 10.0.20348.2227}}\n"
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let pod = write(dir.path(), "pod.yaml", &windows_pod(&image));
    let host = reg.host().to_owned();
    let s = state.path().to_str().unwrap().to_owned();
    let o = tokio::task::spawn_blocking(move || {
        winkube(&["admit", "--insecure-registry", &host, "--state", &s, &pod])
    })
    .await
    .unwrap();
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    assert!(
        !stderr(&o).contains("registry lookup failed"),
        "{}",
        stderr(&o)
    );
    let out = &yaml_docs(&stdout(&o))[0];
    assert_eq!(
        out["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"],
        "10.0.17763",
        "{}",
        stdout(&o)
    );
    assert_eq!(out["spec"]["nodeSelector"]["kubernetes.io/os"], "windows");

    // A tag the registry does not have: the registry answers, so the pinned metadata is
    // not consulted for it and the pod is admitted with an unresolved-image warning.
    let missing = format!("{}/team/web:2.0-ltsc2022", reg.host());
    let pod2 = write(dir.path(), "pod2.yaml", &windows_pod(&missing));
    let host = reg.host().to_owned();
    let s = state.path().to_str().unwrap().to_owned();
    let o = tokio::task::spawn_blocking(move || {
        winkube(&["lint", "--insecure-registry", &host, "--state", &s, &pod2])
    })
    .await
    .unwrap();
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("not found in registry"), "{out}");
    assert!(
        out.contains("OS-build compatibility was not checked"),
        "{out}"
    );
}

#[test]
fn help_describes_lint_runtimeclass_and_the_policy_flags() {
    let top = stdout(&winkube(&["--help"]));
    assert!(
        top.contains("lint") && top.contains("runtimeclass"),
        "{top}"
    );
    let admit = stdout(&winkube(&["admit", "--help"]));
    for s in [
        "--policy",
        "--offline",
        "--registry-timeout",
        "--insecure-registry",
        "--registry-ca",
        "images.yaml",
    ] {
        assert!(admit.contains(s), "{s} missing from admit --help");
    }
    let lint = stdout(&winkube(&["lint", "--help"]));
    for s in ["--state", "--policy", "--offline", "Exit codes"] {
        assert!(lint.contains(s), "{s} missing from lint --help");
    }
    let rc = stdout(&winkube(&["runtimeclass", "--help"]));
    for s in [
        "--build",
        "--process-handler",
        "--hyperv-handler",
        "--no-hyperv",
        "--no-process",
        "--taint",
        "--overhead-memory",
        "--overhead-cpu",
    ] {
        assert!(rc.contains(s), "{s} missing from runtimeclass --help");
    }
}
