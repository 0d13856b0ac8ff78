//! End-to-end tests of the `winkube` binary on the files in examples/ and deploy/.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use serde_json::Value;

mod support;
use support::{BIN, code, repo, stderr, stdout, temp_file, yaml_docs};

/// `admit` and `lint` run `--offline`: these tests are about the gMSA policy and the
/// examples, and must never ask a registry off this machine (tests/windows.rs covers the
/// registry path against a loopback registry).
fn offline(args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    if matches!(args.first(), Some(&"admit") | Some(&"lint")) && !args.contains(&"--help") {
        v.insert(1, "--offline".into());
    }
    v
}

fn winkube(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(offline(args))
        .current_dir(repo())
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn winkube_stdin(args: &[&str], stdin: &str) -> Output {
    let args = offline(args);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    support::winkube_stdin(&args, stdin)
}

/// The reference's `json.Marshal` of the talk's credspec: what the pod must carry.
const CANONICAL: &str = r#"{"ActiveDirectoryConfig":{"GroupManagedServiceAccounts":[{"Name":"WebApp1","Scope":"CONTOSO"}]},"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"DnsName":"contoso.com","DnsTreeName":"contoso.com","Guid":"244818ae-87ac-4fcd-92ec-e79e5252348a","MachineAccountName":"WebApp1","NetBiosName":"CONTOSO","Sid":"S-1-5-21-2126449477-2524075714-3094792973"}}"#;

#[test]
fn readme_first_command_admits_the_talk_pod_with_inlined_contents() {
    let o = winkube(&[
        "admit",
        "--state",
        "examples/state",
        "examples/webapp-pod.yaml",
    ]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let docs = yaml_docs(&stdout(&o));
    assert_eq!(docs.len(), 1);
    let pod = &docs[0];
    assert_eq!(pod["kind"], "Pod");
    let wo = &pod["spec"]["securityContext"]["windowsOptions"];
    assert_eq!(wo["gmsaCredentialSpec"], CANONICAL);
    assert_eq!(wo["gmsaCredentialSpecName"], "gmsa-webapp-1");
    assert_eq!(wo["runAsUserName"], "NT AUTHORITY\\NETWORK SERVICE");
    // Both containers come back as written (the logger too).
    let names: Vec<_> = pod["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["webapp", "logger"]);
    // The defaulted service account is not written into the manifest.
    assert!(pod["spec"].get("serviceAccountName").is_none());
    // No random hostname unless asked for.
    assert!(pod["spec"].get("hostname").is_none());
}

#[test]
fn a_deployment_is_printed_as_stored_and_its_pod_with_show_pods() {
    let file = "examples/webapp-deployment.yaml";
    let o = winkube(&["admit", "--state", "examples/state", file]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let d = &yaml_docs(&stdout(&o))[0];
    // The webhook never changes a workload, only the pods it creates: the template comes
    // back as written, without the credspec contents baked in.
    let written = &yaml_docs(&std::fs::read_to_string(repo().join(file)).unwrap())[0];
    assert_eq!(d, written);
    assert!(
        stderr(&o)
            .contains("each pod it creates would get 2 changes (--show-pods prints that pod)"),
        "{}",
        stderr(&o)
    );

    let o = winkube(&["admit", "--state", "examples/state", "--show-pods", file]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let pod = &yaml_docs(&stdout(&o))[0];
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["generateName"], "webapp-");
    assert_eq!(
        pod["spec"]["securityContext"]["windowsOptions"]["gmsaCredentialSpec"],
        CANONICAL
    );
}

#[test]
fn json_output_and_stdin() {
    let pod = std::fs::read_to_string(repo().join("examples/webapp-pod.yaml")).unwrap();
    let o = winkube_stdin(
        &["admit", "--state", "examples/state", "-o", "json", "-"],
        &pod,
    );
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        v["spec"]["securityContext"]["windowsOptions"]["gmsaCredentialSpec"],
        CANONICAL
    );
}

#[test]
fn random_hostname_is_fifteen_characters_of_a_uuid() {
    let o = winkube(&[
        "admit",
        "--state",
        "examples/state",
        "--random-hostname",
        "examples/webapp-pod.yaml",
    ]);
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    let pod = &yaml_docs(&stdout(&o))[0];
    let h = pod["spec"]["hostname"].as_str().unwrap();
    assert_eq!(h.len(), 15);
    assert!(h.ends_with("-4"), "{h}");
}

#[test]
fn unauthorized_service_account_is_denied_with_403() {
    let o = winkube(&[
        "admit",
        "--state",
        "examples/state",
        "examples/denied/unauthorized-service-account.yaml",
    ]);
    assert_eq!(code(&o), 1);
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert!(
        err.contains(
            "Pod default/billing: denied (403): service account \"billing\" is not authorized to `use` GMSA cred spec \"gmsa-webapp-1\""
        ),
        "{err}"
    );
    assert!(
        err.contains("examples/denied/unauthorized-service-account.yaml"),
        "{err}"
    );
}

#[test]
fn contents_without_name_is_denied_with_422() {
    let o = winkube(&[
        "admit",
        "--state",
        "examples/state",
        "examples/denied/contents-without-name.yaml",
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("denied (422): container \"sneaky\" has a GMSA cred spec set, but does not define the name of the corresponding resource"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unknown_credspec_is_denied_with_404() {
    let o = winkube(&[
        "admit",
        "--state",
        "examples/state",
        "examples/denied/unknown-credspec.yaml",
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("denied (404): cred spec gmsa-webapp-2 does not exist"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn without_state_the_cluster_is_empty() {
    let o = winkube(&["admit", "examples/webapp-pod.yaml"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("denied (404): cred spec gmsa-webapp-1 does not exist"));
}

#[test]
fn several_inputs_all_reported_and_any_denial_fails() {
    let o = winkube(&[
        "admit",
        "--state",
        "examples/state",
        "examples/webapp-pod.yaml",
        "examples/denied/unauthorized-service-account.yaml",
        "examples/webapp-deployment.yaml",
    ]);
    assert_eq!(code(&o), 1);
    let docs = yaml_docs(&stdout(&o));
    let kinds: Vec<_> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Pod", "Deployment"]);
    assert_eq!(stderr(&o).matches("denied (403)").count(), 1);
}

#[test]
fn namespace_flag_applies_to_objects_without_one() {
    // In namespace `prod` the default service account has no RoleBinding.
    let o = winkube(&[
        "admit",
        "--state",
        "examples/state",
        "--namespace",
        "prod",
        "examples/webapp-pod.yaml",
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("Pod prod/webapp: denied (403): service account \"default\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_file_is_an_input_error_naming_it() {
    let o = winkube(&["admit", "--state", "examples/state", "no/such/pod.yaml"]);
    assert_eq!(code(&o), 2);
    assert_eq!(stdout(&o), "");
    assert!(
        stderr(&o).contains("no/such/pod.yaml: cannot read file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn invalid_yaml_is_an_input_error_and_nothing_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let bad = temp_file(
        &dir,
        "bad.yaml",
        "apiVersion: v1\nkind: Pod\nspec: [unclosed\n",
    );
    // A good file first: still nothing is printed, nothing half-done.
    let o = winkube(&[
        "admit",
        "--state",
        "examples/state",
        "examples/webapp-pod.yaml",
        &bad,
    ]);
    assert_eq!(code(&o), 2);
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert!(err.contains(&format!("{bad}:3:")), "{err}");
    assert!(err.contains("invalid YAML"), "{err}");
    // The good file was still checked.
    assert!(err.contains("1 input error: nothing printed"), "{err}");
}

#[test]
fn other_objects_pass_through_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let svc = temp_file(
        &dir,
        "svc.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: ok}\nspec: {containers: []}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n",
    );
    let o = winkube(&["admit", &svc]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let docs = yaml_docs(&stdout(&o));
    let kinds: Vec<_> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Namespace", "Pod", "Service"]);
    assert_eq!(docs[2]["spec"]["ports"][0]["port"], 80);
    let o = winkube(&["lint", &svc]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).ends_with(
            "1 object checked, 0 would be denied, 2 other objects skipped (not pods or workloads)\n"
        ),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bad_state_documents_are_input_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let f = temp_file(
        &dir,
        "state/credspecs.yaml",
        "apiVersion: windows.k8s.io/v1\nkind: GMSACredentialSpec\nmetadata: {name: a}\ncredspec: {CmsPlugins: [ActiveDirectory]}\n---\napiVersion: windows.k8s.io/v2\nkind: GMSACredentialSpec\nmetadata: {name: b}\n",
    );
    let o = winkube(&[
        "admit",
        "--state",
        state.to_str().unwrap(),
        "examples/webapp-pod.yaml",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(&format!(
            "{f} (document 2): GMSACredentialSpec has unsupported apiVersion \"windows.k8s.io/v2\""
        )),
        "{}",
        stderr(&o)
    );

    // A document that is not a Kubernetes object at all.
    std::fs::write(&f, "just: a mapping\n").unwrap();
    let o = winkube(&[
        "admit",
        "--state",
        state.to_str().unwrap(),
        "examples/webapp-pod.yaml",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(&format!("{f} (document 1): missing `apiVersion`")),
        "{}",
        stderr(&o)
    );

    // Unrelated kinds are skipped, not errors.
    std::fs::write(&f, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n").unwrap();
    let o = winkube(&[
        "admit",
        "--state",
        state.to_str().unwrap(),
        "examples/webapp-pod.yaml",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("denied (404)"));
}

#[test]
fn missing_state_directory_is_an_input_error() {
    let o = winkube(&[
        "admit",
        "--state",
        "no/such/dir",
        "examples/webapp-pod.yaml",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("--state no/such/dir: cannot read directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn help_explains_every_command() {
    let o = winkube(&["--help"]);
    assert_eq!(code(&o), 0);
    let help = stdout(&o);
    for cmd in ["admit", "webhook", "manifests"] {
        assert!(help.contains(cmd), "{cmd} missing from:\n{help}");
    }
    assert!(help.contains("winkube admit --state examples/state examples/webapp-pod.yaml"));

    let admit = stdout(&winkube(&["admit", "--help"]));
    for s in [
        "--state",
        "--namespace",
        "--random-hostname",
        "Exit codes",
        "Examples",
    ] {
        assert!(admit.contains(s), "{s} missing from admit --help");
    }
    let webhook = stdout(&winkube(&["webhook", "--help"]));
    for s in [
        "--tls-cert-file",
        "TLS_CRT",
        "TLS_KEY",
        "HTTPS_PORT",
        "RANDOM_HOSTNAME",
        "QPS",
        "BURST",
        "LOG_LEVEL",
        "--cert-reload",
        "--authorization",
        "--state",
        "--bind-address",
        "--log-format",
    ] {
        assert!(webhook.contains(s), "{s} missing from webhook --help");
    }
    let manifests = stdout(&winkube(&["manifests", "--help"]));
    assert!(manifests.contains("crd") && manifests.contains("install"));
}

#[test]
fn version_is_winkube_the_crate_version_and_the_commit() {
    let out = stdout(&winkube(&["--version"]));
    let prefix = format!("winkube {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(out.starts_with(&prefix) && out.ends_with(")\n"), "{out}");
    let commit = &out[prefix.len()..out.len() - 2];
    // This test runs in a git checkout (CI clones the repository): the commit is known.
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap());
    match head {
        Some(head) => assert!(head.starts_with(commit), "{commit} is not HEAD {head}"),
        None => assert_eq!(commit, "unknown"),
    }
    assert_eq!(stdout(&winkube(&["version"])), out);
    assert_eq!(stdout(&winkube(&["webhook", "--version"])), out);
    // Go flag syntax, as the reference's Deployments may pass it.
    assert_eq!(stdout(&winkube(&["webhook", "-version"])), out);
}

fn webhook_with_env(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("webhook").args(args).current_dir(repo());
    for var in [
        "TLS_CRT",
        "TLS_KEY",
        "HTTPS_PORT",
        "RANDOM_HOSTNAME",
        "QPS",
        "BURST",
        "LOG_LEVEL",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn webhook_without_tls_files_exits_with_a_clear_error() {
    let o = webhook_with_env(&[], &["--state", "examples/state"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(
            "no serving certificate: set --tls-cert-file or the TLS_CRT environment variable"
        ),
        "{}",
        stderr(&o)
    );
    let o = webhook_with_env(
        &[("TLS_CRT", "/no/such/crt"), ("TLS_KEY", "/no/such/key")],
        &["--state", "examples/state"],
    );
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("cannot read the TLS certificate file /no/such/crt"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn webhook_invalid_random_hostname_exits_with_an_error_not_a_panic() {
    let o = webhook_with_env(
        &[
            ("TLS_CRT", "/c"),
            ("TLS_KEY", "/k"),
            ("RANDOM_HOSTNAME", "yes"),
        ],
        &[],
    );
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(
        err.contains(
            "unable to parse environment variable RANDOM_HOSTNAME: invalid boolean \"yes\""
        ),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

fn check_generated(args: &[&str], file: &str) {
    let o = winkube(args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let committed = std::fs::read_to_string(repo().join(file)).unwrap_or_default();
    assert!(
        stdout(&o) == committed,
        "{file} is out of date with the code; regenerate it with:\n  cargo run -q -p winkube -- {} > {file}",
        args.join(" ")
    );
    // Every generated file names its regeneration command the same way: this one.
    let header: Vec<&str> = committed.lines().take(2).collect();
    assert_eq!(
        header,
        [
            "# Generated by winkube; do not edit. Regenerate with:".to_owned(),
            format!("#   cargo run -q -p winkube -- {} > {file}", args.join(" ")),
        ],
        "{file}"
    );
}

#[test]
fn deploy_crd_yaml_is_the_generated_crd() {
    check_generated(&["manifests", "crd"], "deploy/crd.yaml");
    let docs = yaml_docs(&std::fs::read_to_string(repo().join("deploy/crd.yaml")).unwrap());
    let crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition =
        serde_json::from_value(docs[0].clone()).unwrap();
    assert_eq!(crd.spec.group, "windows.k8s.io");
}

#[test]
fn deploy_install_yaml_is_the_generated_bundle() {
    check_generated(&["manifests", "install"], "deploy/install.yaml");
    check_generated(
        &["manifests", "install", "--certificates", "cert-manager"],
        "deploy/install-cert-manager.yaml",
    );
}

#[test]
fn install_flags_change_the_bundle() {
    let o = winkube(&[
        "manifests",
        "install",
        "--namespace",
        "gmsa",
        "--failure-policy",
        "Ignore",
        "--authorization",
        "rbac-cache",
        "--image",
        "registry.example/winkube:dev",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let docs = yaml_docs(&stdout(&o));
    let find = |kind: &str| docs.iter().find(|d| d["kind"] == kind).unwrap();
    assert_eq!(find("Namespace")["metadata"]["name"], "gmsa");
    assert_eq!(
        find("ValidatingWebhookConfiguration")["webhooks"][0]["failurePolicy"],
        "Ignore"
    );
    let c = &find("Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "registry.example/winkube:dev");
    assert_eq!(c["command"], serde_json::json!(["/winkube", "webhook"]));
    assert_eq!(c["args"][0], "--authorization=rbac-cache");
    let o = winkube(&["manifests", "install", "--namespace", "Bad_NS"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("not a valid namespace name"));
}

#[test]
fn deploy_runtimeclasses_yaml_header_has_the_same_form() {
    check_generated(&["runtimeclass"], "deploy/runtimeclasses.yaml");
}
