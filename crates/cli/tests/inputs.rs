//! Inputs as people pass them to `winkube admit` and `lint`: directories, `-f`, `-R`,
//! standard input, rendered Helm streams, every kind with a pod template, Lists, cluster
//! state among the inputs, and files that are not manifests.
#![allow(clippy::unwrap_used)]

use std::process::Command;

mod support;
use serde_json::Value;
use support::{
    HELM_INSTALL, code, helm_path, stderr, stdout, temp_file, winkube, winkube_stdin, yaml_docs,
};
use winkube_testkit::tool_available;

/// The talk's credspec, ClusterRole and RoleBinding, as the files in examples/state.
fn gmsa_state() -> String {
    [
        "gmsa-webapp-1.yaml",
        "webapp1-role.yaml",
        "default-svc-account-read-gmsa.yaml",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(support::repo().join("examples/state").join(f)).unwrap())
    .collect::<Vec<_>>()
    .join("\n---\n")
}

/// The pod spec of a Linux container, with a pinned-looking image so --offline has no
/// Windows finding to make.
const SPEC: &str =
    "{nodeSelector: {kubernetes.io/os: linux}, containers: [{name: c, image: \"nginx:1.27\"}]}";

fn workload(kind: &str, api: &str, name: &str) -> String {
    let template = format!("{{metadata: {{labels: {{app: {name}}}}}, spec: {SPEC}}}");
    let spec = match kind {
        "Pod" => {
            return format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec: {SPEC}\n"
            );
        }
        "CronJob" => {
            format!("{{schedule: \"@daily\", jobTemplate: {{spec: {{template: {template}}}}}}}")
        }
        "Job" | "ReplicationController" => format!("{{template: {template}}}"),
        _ => format!("{{selector: {{matchLabels: {{app: {name}}}}}, template: {template}}}"),
    };
    format!("apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}}}\nspec: {spec}\n")
}

#[test]
fn every_kind_with_a_pod_template_is_checked() {
    let kinds = [
        ("Pod", "v1"),
        ("Deployment", "apps/v1"),
        ("ReplicaSet", "apps/v1"),
        ("StatefulSet", "apps/v1"),
        ("DaemonSet", "apps/v1"),
        ("Job", "batch/v1"),
        ("CronJob", "batch/v1"),
        ("ReplicationController", "v1"),
    ];
    let stream: Vec<String> = kinds
        .iter()
        .enumerate()
        .map(|(i, (k, a))| workload(k, a, &format!("w{i}")))
        .collect();
    let o = winkube_stdin(&["lint", "--offline", "-"], &stream.join("---\n"));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    for (i, (kind, _)) in kinds.iter().enumerate() {
        let label = if *kind == "Pod" {
            format!("<stdin> (document {}): Pod default/w{i}\n", i + 1)
        } else {
            format!(
                "<stdin> (document {}): {kind} default/w{i} (pod template)\n",
                i + 1
            )
        };
        assert!(out.contains(&label), "{label} missing from:\n{out}");
    }
    assert!(
        out.ends_with("8 objects checked, 0 would be denied\n"),
        "{out}"
    );
}

#[test]
fn directories_are_read_recursively_and_skip_what_is_not_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("k8s");
    temp_file(
        &dir,
        "k8s/app/deploy.yaml",
        &workload("Deployment", "apps/v1", "web"),
    );
    temp_file(
        &dir,
        "k8s/app/svc.yml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n",
    );
    temp_file(
        &dir,
        "k8s/job.json",
        r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j"},"spec":{"template":{"spec":{"nodeSelector":{"kubernetes.io/os":"linux"},"containers":[{"name":"c","image":"nginx:1.27"}]}}}}"#,
    );
    temp_file(
        &dir,
        "k8s/values.yaml",
        "replicaCount: 2\nimage: {repository: nginx}\n",
    );
    temp_file(
        &dir,
        "k8s/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    temp_file(
        &dir,
        "k8s/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [app/deploy.yaml]\n",
    );
    temp_file(
        &dir,
        "k8s/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
    );
    temp_file(
        &dir,
        "k8s/README.md",
        "# not read: not .yaml, .yml or .json\n",
    );
    temp_file(&dir, "k8s/.hidden/x.yaml", "{{ not read }}\n");
    let root = root.to_str().unwrap();
    for args in [
        vec![root],
        vec!["-f", root],
        vec!["-R", "-f", root],
        vec!["--filename", root, "--recursive"],
    ] {
        let o = winkube(&[&["lint", "--offline"][..], &args].concat());
        let (out, err) = (stdout(&o), stderr(&o));
        assert_eq!(code(&o), 0, "{args:?}: {err}");
        assert!(
            out.contains("Deployment default/web (pod template)"),
            "{out}"
        );
        assert!(out.contains("Job default/j (pod template)"), "{out}");
        assert!(
            out.ends_with("2 objects checked, 0 would be denied, 1 other object skipped (not pods or workloads)\n"),
            "{out}"
        );
        for skipped in [
            "values.yaml: not a Kubernetes manifest",
            "Chart.yaml: not a Kubernetes manifest",
            "kustomization.yaml (document 1): Kustomization",
            "templates/cm.yaml: an unrendered template",
        ] {
            assert!(
                err.contains(&format!("note: {root}/{skipped}")) || err.contains(skipped),
                "{skipped} missing from:\n{err}"
            );
        }
        assert!(!err.contains("README") && !err.contains(".hidden"), "{err}");
    }
    // admit prints the Service in place, unchanged, and the Deployment as written.
    let o = winkube(&["admit", "--offline", "-f", root]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let kinds: Vec<Value> = yaml_docs(&stdout(&o))
        .iter()
        .map(|d| d["kind"].clone())
        .collect();
    assert_eq!(kinds, ["Deployment", "Service", "Job"]);
}

#[test]
fn a_broken_file_is_named_with_its_line_and_the_rest_is_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let bad = temp_file(
        &dir,
        "bad.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [oops\n",
    );
    let toml = temp_file(
        &dir,
        "Cargo.toml",
        "[package]\nname = \"x\"\nversion = \"0.1.0\"\n",
    );
    let o = winkube(&[
        "lint",
        "--offline",
        &bad,
        "examples/denied/unknown-credspec.yaml",
        &toml,
    ]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(code(&o), 2, "input errors win over denials: {err}");
    assert!(err.contains(&format!("error: {bad}:4:")), "{err}");
    assert!(
        err.contains(&format!("error: {toml}")) && err.contains("not YAML or JSON"),
        "{err}"
    );
    assert!(!err.contains("invalid JSON"), "{err}");
    // The good file was still checked and reported.
    assert!(
        out.contains("result: denied (404): cred spec gmsa-webapp-2 does not exist"),
        "{out}"
    );
    assert!(
        out.ends_with("1 object checked, 1 would be denied, 2 input errors\n"),
        "{out}"
    );
    // admit reports the same on stderr and prints nothing: half a stream is not applied.
    let o = winkube(&[
        "admit",
        "--offline",
        &bad,
        "examples/webapp-pod.yaml",
        "--state",
        "examples/state",
    ]);
    assert_eq!(code(&o), 2);
    assert_eq!(stdout(&o), "");
}

#[test]
fn cluster_state_among_the_inputs_is_used() {
    // The credspec and its RBAC travel with the pod in one stream: no --state needed.
    let pod = std::fs::read_to_string(support::repo().join("examples/webapp-pod.yaml")).unwrap();
    let stream = format!("{}\n---\n{pod}", gmsa_state());
    let o = winkube_stdin(&["admit", "--offline", "-"], &stream);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let docs = yaml_docs(&stdout(&o));
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["GMSACredentialSpec", "ClusterRole", "RoleBinding", "Pod"]
    );
    assert!(docs[3]["spec"]["securityContext"]["windowsOptions"]["gmsaCredentialSpec"].is_string());
    // As a List (kubectl get -o yaml) too, in lint.
    let items: Vec<Value> = yaml_docs(&stream);
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let o = winkube_stdin(&["lint", "--offline", "-"], &list.to_string());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).ends_with("1 object checked, 0 would be denied, 3 other objects skipped (not pods or workloads; 3 read as cluster state)\n"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn forgetting_the_state_says_how_to_build_it() {
    let o = winkube(&["admit", "--offline", "examples/webapp-pod.yaml"]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(
        err.contains("denied (404): cred spec gmsa-webapp-1 does not exist"),
        "{err}"
    );
    assert!(
        err.contains("the cluster state has no GMSACredentialSpec (no --state given"),
        "{err}"
    );
    assert!(
        err.contains("kubectl get gmsacredentialspecs,clusterroles,clusterrolebindings,roles,rolebindings,nodes,runtimeclasses -A -o yaml > state/cluster.yaml"),
        "{err}"
    );
    // With credspecs known, a 404 is only the denial.
    let o = winkube(&[
        "admit",
        "--offline",
        "--state",
        "examples/state",
        "examples/denied/unknown-credspec.yaml",
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        !stderr(&o).contains("has no GMSACredentialSpec"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_unresolved_image_that_was_the_only_os_signal_is_a_warning() {
    // No OS field, selector or windowsOptions; the image has no pinned metadata and
    // --offline asks no registry: the OS is unknown because of a failure, and says so.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: \"registry.example/app:1.0\"}]}\n";
    let o = winkube_stdin(
        &["lint", "--offline", "--state", "examples/state", "-"],
        pod,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("target OS: unknown (no OS signal)"), "{out}");
    assert!(
        out.contains("warning: [winkube os] target OS unknown: the pod has no OS field, selector or windowsOptions, and its image(s) \"registry.example/app:1.0\" (--offline, and no pinned metadata for this image in examples/state/images.yaml) could not be resolved; the Windows policies were not applied"),
        "{out}"
    );
    let o = winkube_stdin(
        &["admit", "--offline", "--state", "examples/state", "-"],
        pod,
    );
    assert_eq!(code(&o), 0);
    assert!(
        stderr(&o).contains("warning: [winkube os] target OS unknown"),
        "{}",
        stderr(&o)
    );
    // onUnresolved: deny fails closed instead.
    let dir = tempfile::tempdir().unwrap();
    let policy = temp_file(&dir, "policy.yaml", "images: {onUnresolved: deny}\n");
    let o = winkube_stdin(
        &[
            "admit",
            "--offline",
            "--state",
            "examples/state",
            "--policy",
            &policy,
            "-",
        ],
        pod,
    );
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("denied (403): [os] target OS unknown"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_rendered_helm_chart_is_linted_from_standard_input() {
    let helm = helm_path();
    if !tool_available(
        &helm,
        HELM_INSTALL,
        "a_rendered_helm_chart_is_linted_from_standard_input",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    temp_file(
        &dir,
        "chart/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    temp_file(
        &dir,
        "chart/values.yaml",
        "replicas: 2\ncredspec: gmsa-webapp-1\n",
    );
    temp_file(
        &dir,
        "chart/templates/ns.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata: {a: b}\n",
    );
    temp_file(
        &dir,
        "chart/templates/svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  ports: [{port: 80}]\n",
    );
    temp_file(
        &dir,
        "chart/templates/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      nodeSelector: {kubernetes.io/os: windows}\n      securityContext:\n        windowsOptions: {gmsaCredentialSpecName: {{ .Values.credspec }}}\n      containers: [{name: web, image: \"org/iis:webserver-core-ltsc2019\"}]\n",
    );
    let rendered = Command::new(&helm)
        .args([
            "template",
            "rel",
            dir.path().join("chart").to_str().unwrap(),
        ])
        .env("KUBECONFIG", "/nonexistent")
        .env("HELM_CONFIG_HOME", dir.path().join("helm/config"))
        .env("HELM_CACHE_HOME", dir.path().join("helm/cache"))
        .env("HELM_DATA_HOME", dir.path().join("helm/data"))
        .output()
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let stream = String::from_utf8(rendered.stdout).unwrap();
    let o = winkube_stdin(
        &["lint", "--offline", "--state", "examples/state", "-"],
        &stream,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Deployment default/rel (pod template)"),
        "{out}"
    );
    assert!(
        out.contains(
            "would change: [gmsa] add /spec/securityContext/windowsOptions/gmsaCredentialSpec"
        ),
        "{out}"
    );
    assert!(
        out.ends_with(
            "1 object checked, 0 would be denied, 2 other objects skipped (not pods or workloads)\n"
        ),
        "{out}"
    );
}
