//! `winkube audit`, the real binary against the API-server stand-in (real HTTPS, the real
//! kube client): thousands of pods read in pages, owned objects skipped, the gMSA and
//! Windows policies answered from the cluster's own state, -n, JSON, SARIF, and errors.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Instant;

use serde_json::{Value, json};
use support::cluster::{pod, windows_node};
use support::sarif::*;
use support::*;
use winkube_testkit::ApiServer;

const BULK_NAMESPACES: usize = 4;
const BARE_PER_NAMESPACE: usize = 5;

fn owned_by(mut object: Value, owner: &Value) -> Value {
    object["metadata"]["ownerReferences"] = json!([{
        "apiVersion": owner["apiVersion"], "kind": owner["kind"],
        "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
        "controller": true, "blockOwnerDeletion": true,
    }]);
    object
}

fn linux_spec() -> Value {
    json!({"nodeSelector": {"kubernetes.io/os": "linux"},
           "containers": [{"name": "main", "image": "nginx:1.27"}]})
}

/// A gMSA pod spec for `sa`, scheduled onto Windows nodes as the policies want.
fn gmsa_spec(sa: &str) -> Value {
    json!({
        "serviceAccountName": sa,
        "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "gmsa-webapp-1"}},
        "nodeSelector": {"kubernetes.io/os": "windows"},
        "tolerations": [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}],
        "containers": [{"name": "iis", "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022",
                        "resources": {"limits": {"memory": "1Gi"}}}],
    })
}

/// A Deployment, its ReplicaSet and `pods` pods, each owned by the one before.
fn deployment(api: &ApiServer, ns: &str, name: &str, spec: Value, pods: usize) {
    let template = json!({"metadata": {"labels": {"app": name}}, "spec": spec});
    let d = api
        .create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": template}}))
        .unwrap();
    let rs = api
        .create(owned_by(
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": format!("{name}-7d4b9"), "namespace": ns},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": template}}),
            &d,
        ))
        .unwrap();
    for i in 0..pods {
        let mut p = pod(
            ns,
            &format!("{name}-7d4b9-{i:05}"),
            "",
            json!({"app": name}),
            "x",
        );
        p["spec"] = template["spec"].clone();
        api.create(owned_by(p, &rs)).unwrap();
    }
}

/// The cluster audited: `BULK_NAMESPACES` namespaces each with a Deployment of
/// `pods_per_deployment` Linux pods and `BARE_PER_NAMESPACE` bare Linux pods; in `web`, a
/// gMSA Deployment whose service account may use the credspec and one whose may not; in
/// `win`, a bare Windows pod without its node selector and a pod whose ReplicaSet is gone;
/// in `batch`, a CronJob with its Job and pod.
async fn cluster(pods_per_deployment: usize) -> ApiServer {
    let api = ApiServer::start().await.unwrap();
    api.create(windows_node("win-1")).unwrap();
    api.create(json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "lin-1", "labels": {"kubernetes.io/os": "linux"}}}))
        .unwrap();
    for file in ["gmsa-webapp-1.yaml", "webapp1-role.yaml"] {
        let text = std::fs::read_to_string(repo().join("examples/state").join(file)).unwrap();
        api.create(serde_saphyr::from_str(&text).unwrap()).unwrap();
    }
    api.create(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "webapp-use-gmsa", "namespace": "web"},
        "subjects": [{"kind": "ServiceAccount", "name": "webapp", "namespace": "web"}],
        "roleRef": {"kind": "ClusterRole", "name": "webapp1-role", "apiGroup": "rbac.authorization.k8s.io"}}))
        .unwrap();
    for sa in ["webapp", "intruder"] {
        api.create(json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": sa, "namespace": "web"}}))
            .unwrap();
    }
    for n in 0..BULK_NAMESPACES {
        let ns = format!("bulk-{n}");
        deployment(&api, &ns, "app", linux_spec(), pods_per_deployment);
        for i in 0..BARE_PER_NAMESPACE {
            let mut p = pod(&ns, &format!("bare-{i}"), "lin-1", json!({}), "x");
            p["spec"] = linux_spec();
            api.create(p).unwrap();
        }
    }
    deployment(&api, "web", "webapp", gmsa_spec("webapp"), 1);
    deployment(&api, "web", "intruder", gmsa_spec("intruder"), 1);
    let mut iis = pod("win", "iis", "", json!({}), "x");
    iis["spec"] = json!({"securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}},
        "containers": [{"name": "iis", "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022",
                        "resources": {"limits": {"memory": "1Gi"}}}]});
    api.create(iis).unwrap();
    let mut orphan = pod("win", "orphan", "lin-1", json!({}), "x");
    orphan["spec"] = linux_spec();
    let gone = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "gone", "uid": "00000000-dead-4000-8000-000000000000"}});
    api.create(owned_by(orphan, &gone)).unwrap();
    let template = json!({"spec": {"template": {"spec": linux_spec()}}});
    let cron = api
        .create(json!({"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "nightly", "namespace": "batch"},
            "spec": {"schedule": "0 1 * * *", "jobTemplate": template}}))
        .unwrap();
    let job = api
        .create(owned_by(
            json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "nightly-29000", "namespace": "batch"},
            "spec": template["spec"]}),
            &cron,
        ))
        .unwrap();
    let mut p = pod("batch", "nightly-29000-x7k2p", "lin-1", json!({}), "x");
    p["spec"] = linux_spec();
    api.create(owned_by(p, &job)).unwrap();
    api
}

/// Objects audited with `pods_per_deployment`: a Deployment and the bare pods per bulk
/// namespace, the two gMSA Deployments, the Windows pod, the orphan, the CronJob.
fn audited() -> usize {
    BULK_NAMESPACES * (1 + BARE_PER_NAMESPACE) + 2 + 2 + 1
}

/// Owned objects skipped: each Deployment's ReplicaSet and pods, the Job and its pod.
fn skipped(pods_per_deployment: usize) -> usize {
    BULK_NAMESPACES * (1 + pods_per_deployment) + 2 * (1 + 1) + 2
}

async fn audit(api: &ApiServer, args: &[&str]) -> std::process::Output {
    let mut argv = vec!["--offline"];
    argv.extend(args);
    winkube_cluster(api, "audit", &argv).await
}

async fn audit_json(api: &ApiServer, args: &[&str]) -> (i32, Value) {
    let mut argv = vec!["-o", "json"];
    argv.extend(args);
    let o = audit(api, &argv).await;
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    assert!(
        stderr(&o).is_empty(),
        "no progress off a terminal: {}",
        stderr(&o)
    );
    (code(&o), v)
}

/// The ClusterRole `winkube audit --help` documents, granted to the kubeconfig's user.
fn documented_role() -> (winkube_rbac::RbacSnapshot, winkube_rbac::UserInfo) {
    let help = stdout(&winkube(&["audit", "--help"]));
    let start = help
        .find("  apiVersion: rbac.authorization.k8s.io/v1")
        .unwrap();
    let end = start + help[start..].find("\n\n").unwrap();
    let role: Value = serde_saphyr::from_str(&help[start..end]).unwrap();
    // The README shows the same role.
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = &readme[readme.find("### `winkube audit`").unwrap()..];
    let start = section.find("```yaml\n").unwrap() + "```yaml\n".len();
    let end = start + section[start..].find("```").unwrap();
    let in_readme: Value = serde_saphyr::from_str(&section[start..end]).unwrap();
    assert_eq!(in_readme, role, "README.md and --help disagree");
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "auditor"}, "subjects": [{"kind": "User", "name": "auditor"}],
        "roleRef": {"kind": "ClusterRole", "name": role["metadata"]["name"], "apiGroup": "rbac.authorization.k8s.io"}});
    let user = winkube_rbac::UserInfo::new("auditor", Vec::<String>::new());
    (rbac_snapshot(&[role, binding]), user)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_pods_are_read_in_pages_each_problem_reported_once() {
    let per_deployment = 745;
    let api = cluster(per_deployment).await;
    let pods = BULK_NAMESPACES * (per_deployment + BARE_PER_NAMESPACE) + 2 + 2 + 1;
    assert!(pods >= 3000, "{pods}");
    // The Windows image's platforms pinned, as --offline reads them from --state.
    let dir = tempfile::tempdir().unwrap();
    let images = "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022:\n  platforms:\n  - {os: windows, architecture: amd64, os.version: 10.0.20348.2227}\n";
    temp_file(&dir, "images.yaml", images);
    let state = dir.path().to_string_lossy().into_owned();
    let started = Instant::now();
    let (code, report) = audit_json(&api, &["--page-size", "100", "--state", &state]).await;
    let elapsed = started.elapsed();
    assert_eq!(code, 1, "a denial fails by default: {report:#}");
    assert_eq!(report["apiVersion"], "winkube.io/audit/v1");
    let summary = &report["summary"];
    assert_eq!(summary["objects"], audited(), "{summary:#}");
    assert_eq!(
        summary["skippedOwned"],
        skipped(per_deployment),
        "{summary:#}"
    );
    assert_eq!(
        (&summary["denied"], &summary["changed"]),
        (&json!(1), &json!(2))
    );
    assert_eq!(
        summary["namespaces"]["web"],
        json!({"objects": 2, "denied": 1, "changed": 1, "warned": 0})
    );
    assert_eq!(
        summary["namespaces"]["bulk-3"]["objects"],
        1 + BARE_PER_NAMESPACE
    );
    assert_eq!(
        summary["rules"]["gmsa/use-not-authorized"],
        json!({"severity": "error", "findings": 1, "objects": 1})
    );
    assert_eq!(summary["rules"]["windows/node-selector"]["objects"], 1);
    // Only what would be denied or changed is listed, on the object to edit.
    let listed: Vec<String> = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{}/{}/{}", o["namespace"], o["kind"], o["name"]).replace('"', ""))
        .collect();
    assert_eq!(
        listed,
        [
            "web/Deployment/intruder",
            "web/Deployment/webapp",
            "win/Pod/iis"
        ]
    );
    let denial = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["ruleId"] == "gmsa/use-not-authorized")
        .unwrap();
    assert_eq!(
        denial["object"],
        json!({"kind": "Deployment", "namespace": "web", "name": "intruder"})
    );
    assert!(
        denial["message"].as_str().unwrap().contains("\"intruder\""),
        "{denial:#}"
    );
    // Every list paged: 3,004 pods in pages of 100.
    let requests = api.requests();
    let pod_lists: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/api/v1/pods")
        .collect();
    assert_eq!(pod_lists.len(), pods.div_ceil(100), "{pods} pods");
    assert!(pod_lists.iter().all(|r| r.query.contains("limit=100")));
    // Audit only lists, within the ClusterRole its --help documents.
    assert!(
        requests
            .iter()
            .all(|r| r.method == "GET" && r.status == 200)
    );
    let (rbac, user) = documented_role();
    let checked = assert_requests_allowed(&requests, &rbac, &user);
    println!(
        "audit of {pods} pods ({} pods and workloads listed, {} audited): {} requests, {elapsed:.2?}",
        audited() + skipped(per_deployment),
        audited(),
        requests.len()
    );
    assert_eq!(checked, requests.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_report_names_the_objects_then_a_summary_per_namespace_and_rule() {
    let api = cluster(3).await;
    let o = audit(&api, &["--fail-on", "none"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with("web/Deployment/intruder: Deployment web/intruder (pod template)\n"),
        "{text}"
    );
    assert!(text.contains("  result: denied (403): "), "{text}");
    assert!(
        text.contains("    rule gmsa/use-not-authorized, at web/Deployment/intruder"),
        "{text}"
    );
    assert!(
        text.contains(
            "    rule windows/node-selector, at win/Pod/iis spec.nodeSelector[\"kubernetes.io/os\"]"
        ),
        "{text}"
    );
    assert!(
        !text.contains("bulk-0/"),
        "admitted unchanged is only counted: {text}"
    );
    assert!(text.contains("\nNAMESPACE  OBJECTS  DENIED  CHANGED  WARNED\nbatch            1       0        0       0\n"), "{text}");
    assert!(
        text.contains("\nweb              2       1        1       1\n"),
        "{text}"
    );
    assert!(
        text.contains(concat!(
            "\nRULE                            SEVERITY  FINDINGS  OBJECTS\n",
            "gmsa/use-not-authorized         error            1        1\n",
            "windows/image-build-unresolved  warning          2        2\n",
            "windows/node-selector           note             1        1\n",
            "windows/taint-toleration        note             1        1\n",
        )),
        "{text}"
    );
    assert!(
        text.ends_with(&format!(
            "{} objects audited in 7 namespaces: 1 would be denied, 2 would be changed, 2 with warnings; {} owned objects skipped (their controller is audited); 7 cluster state objects read\n",
            audited(),
            skipped(3)
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_flag_limits_every_namespaced_list() {
    let api = cluster(3).await;
    let (code, report) = audit_json(&api, &["-n", "web"]).await;
    assert_eq!(code, 1);
    assert_eq!(report["summary"]["objects"], 2);
    assert_eq!(report["summary"]["skippedOwned"], 4);
    assert_eq!(report["cluster"]["namespace"], "web");
    let namespaces: Vec<_> = report["summary"]["namespaces"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(namespaces, ["web"]);
    for r in api.requests() {
        let cluster_scoped = [
            "nodes",
            "clusterroles",
            "clusterrolebindings",
            "runtimeclasses",
            "gmsacredentialspecs",
        ]
        .iter()
        .any(|k| r.path.ends_with(k));
        assert!(
            cluster_scoped || r.path.contains("/namespaces/web/"),
            "{}",
            r.path
        );
    }
    // -A is kubectl's spelling of the default.
    let (_, all) = audit_json(&api, &["-A"]).await;
    assert_eq!(all["summary"]["objects"], audited());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sarif_validates_and_locates_objects_on_the_api_server() {
    let api = cluster(3).await;
    let o = audit(&api, &["-o", "sarif", "--fail-on", "warning"]).await;
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let log: Value = serde_json::from_slice(&o.stdout).unwrap();
    let errors = schema_errors(&sarif_validator(), &log);
    assert!(errors.is_empty(), "{errors:#?}");
    let run = &log["runs"][0];
    assert_eq!(
        run["originalUriBaseIds"]["KUBE_API_SERVER"]["uri"],
        format!("{}/", api.url())
    );
    let denial = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "gmsa/use-not-authorized")
        .unwrap();
    assert_eq!(denial["level"], "error");
    assert_eq!(
        denial["locations"][0]["physicalLocation"]["artifactLocation"],
        json!({"uri": "apis/apps/v1/namespaces/web/deployments/intruder", "uriBaseId": "KUBE_API_SERVER"})
    );
    assert_eq!(
        denial["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "Deployment web/intruder"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_exit_2_naming_the_list_and_print_nothing() {
    let api = cluster(1).await;
    api.fail_requests("GET", "/apis/apps/v1/deployments", Some(403));
    let o = audit(&api, &[]).await;
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.starts_with("error: cannot list Deployments: forbidden"),
        "{err}"
    );
    assert!(
        err.contains("the ClusterRole in `winkube audit --help`"),
        "{err}"
    );
    assert!(stdout(&o).is_empty());

    // The same kubeconfig, pointing at a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig_file(&api, dir.path());
    let text = std::fs::read_to_string(&kc)
        .unwrap()
        .replace(&api.url(), &format!("https://127.0.0.1:{port}"));
    std::fs::write(&kc, text).unwrap();
    let kc = kc.to_string_lossy().into_owned();
    let o = tokio::task::spawn_blocking(move || {
        winkube(&[
            "audit",
            "--kubeconfig",
            &kc,
            "--request-timeout",
            "5",
            "--offline",
        ])
    })
    .await
    .unwrap();
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.starts_with("error: cannot list GMSACredentialSpecs: the API server cannot be reached"),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(stdout(&o).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_cluster_lacks_is_said_of_the_cluster() {
    let api = ApiServer::start().await.unwrap();
    let mut p = pod("x", "ghostly", "", json!({}), "x");
    p["spec"] = gmsa_spec("ghost");
    api.create(p).unwrap();
    let o = audit(&api, &[]).await;
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("  result: denied (404): "), "{text}");
    assert!(
        text.contains("warning: service account \"x/ghost\" does not exist in the cluster;"),
        "{text}"
    );
    assert!(
        text.contains("warning: the cluster has no GMSACredentialSpec (is the CRD installed?"),
        "{text}"
    );
    // The messages speak of the cluster (the catalog's fixes are written for lint).
    let warnings = text.lines().filter(|l| l.starts_with("  warning: "));
    assert!(
        warnings.clone().count() == 2 && warnings.clone().all(|l| !l.contains("state directory")),
        "{text}"
    );
}

/// `winkube audit ARGS > out.json` on a terminal (`script` gives it one): what the terminal
/// showed (stderr), the exit code, and the report.
async fn audit_on_a_terminal(api: &ApiServer, args: &str) -> (String, i32, Value) {
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig_file(api, dir.path());
    let out = dir.path().join("out.json");
    let cmd = format!(
        "{BIN} audit --offline -o json --kubeconfig {} {args} > {}",
        kc.display(),
        out.display()
    );
    let o = tokio::task::spawn_blocking(move || {
        std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        code(&o),
        report,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_drawn_on_a_terminal_never_on_stdout() {
    let test = "progress_is_drawn_on_a_terminal_never_on_stdout";
    if !winkube_testkit::tool_available("/usr/bin/script", "apt-get install bsdutils", test) {
        return;
    }
    let api = cluster(50).await;
    let (tty, code, report) = audit_on_a_terminal(&api, "--page-size 10").await;
    assert_eq!(code, 1, "{tty}");
    assert_eq!(
        report["summary"]["objects"],
        audited(),
        "the report is whole"
    );
    assert!(tty.starts_with("\r\x1b[2Klisting: "), "{tty:?}");
    let done = format!(
        "\r\x1b[2Kauditing: [{}] {n}/{n} objects",
        "#".repeat(30),
        n = audited()
    );
    assert!(tty.contains(&done), "{tty:?}");
    // The line is cleared before the report, and nothing else is said.
    assert!(tty.ends_with(&format!("{done}\r\x1b[2K")), "{tty:?}");
    let (tty, _, _) = audit_on_a_terminal(&api, "--no-progress").await;
    assert_eq!(tty, "");
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    for (args, flag) in [
        (vec!["audit", "--page-size", "0"], "--page-size"),
        (vec!["audit", "--page-size", "many"], "--page-size"),
        (vec!["audit", "-n", "Not_A_Namespace"], "--namespace"),
        (vec!["audit", "-n", "web", "-A"], "--all-namespaces"),
        (vec!["audit", "-o", "xml"], "--format"),
        (vec!["audit", "--fail-on", "sometimes"], "--fail-on"),
        (
            vec!["audit", "--policy", "/nonexistent/policy.yaml"],
            "--policy /nonexistent/policy.yaml",
        ),
        (
            vec!["audit", "--state", "/nonexistent/state"],
            "--state /nonexistent/state",
        ),
        (
            vec!["audit", "--kubeconfig", "/nonexistent/kubeconfig"],
            "kubeconfig",
        ),
    ] {
        let o = winkube(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(flag), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}");
        assert!(!stderr(&o).contains("panicked"), "{args:?}");
    }
}
