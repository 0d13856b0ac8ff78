//! The Windows workload policies' paths over real TLS: the API-server stand-in serves Nodes
//! (Windows 2019 and 2022, Linux), RuntimeClasses and Secrets to the live Windows view, and a
//! real Debian `docker-registry` on loopback holds the images (pushed by the test).
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use support::*;
use winkube_policy::windows::WindowsPolicyConfig;
use winkube_registry::{ClientOptions, Resolver, ResolverOptions, SystemClock};
use winkube_testkit::{ApiServer, TestCa, TestRegistry};
use winkube_webhook::{
    LiveView, LiveViewConfig, LiveWindowsOptions, LiveWindowsView, Readiness, ServerConfig,
    WindowsPolicies,
};

/// Pushes a one-layer OCI image of `os` (with a Windows `os.version`) as `repo:tag`;
/// returns the reference to use in pods.
async fn push_image(
    reg: &TestRegistry,
    repo: &str,
    tag: &str,
    os: &str,
    os_version: Option<&str>,
) -> String {
    reg.push_image(repo, os, os_version, Some(tag), false).await;
    format!("{}/{repo}:{tag}", reg.host())
}

fn node(name: &str, os: &str, build: Option<&str>) -> Value {
    let mut labels = json!({"kubernetes.io/os": os, "kubernetes.io/arch": "amd64"});
    if let Some(b) = build {
        labels["node.kubernetes.io/windows-build"] = json!(b);
    }
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}})
}

/// The cluster: the API-server stand-in with nodes and RuntimeClasses, the registry with
/// images, and the CA that issues the webhook's certificate.
struct Cluster {
    api: ApiServer,
    reg: TestRegistry,
    ca: TestCa,
    dir: tempfile::TempDir,
    img2019: String,
    img2022: String,
    img2025: String,
    linux: String,
}

impl Cluster {
    async fn start() -> Option<Self> {
        winkube_webhook::install_crypto_provider();
        let reg = TestRegistry::start("the Windows webhook test").await?;
        let api = ApiServer::start().await.unwrap();
        api.create(node("win-2019", "windows", Some("10.0.17763")))
            .unwrap();
        api.create(node("win-2022", "windows", Some("10.0.20348")))
            .unwrap();
        api.create(node("linux-1", "linux", None)).unwrap();
        api.create(json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
            "metadata": {"name": "windows-2022"}, "handler": "runhcs-wcow-process",
            "scheduling": {"nodeSelector": {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.20348"},
                "tolerations": [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}]}}))
            .unwrap();
        let img2019 = push_image(
            &reg,
            "contoso/web",
            "1.4-ltsc2019",
            "windows",
            Some("10.0.17763.5458"),
        )
        .await;
        let img2022 = push_image(
            &reg,
            "contoso/web",
            "1.4-ltsc2022",
            "windows",
            Some("10.0.20348.2227"),
        )
        .await;
        let img2025 = push_image(
            &reg,
            "contoso/web",
            "1.4-ltsc2025",
            "windows",
            Some("10.0.26100.1742"),
        )
        .await;
        let linux = push_image(&reg, "library/nginx", "1.25", "linux", None).await;
        let ca = TestCa::new("winkube-test-ca").unwrap();
        Some(Self {
            api,
            reg,
            ca,
            dir: tempfile::tempdir().unwrap(),
            img2019,
            img2022,
            img2025,
            linux,
        })
    }

    /// Starts a webhook (gMSA live view + live Windows view) with `policy`; waits until
    /// /health says ready unless `wait` is false.
    async fn webhook(&self, policy: &str, timeout: Duration) -> Webhook {
        let opts = LiveWindowsOptions {
            read_pull_secrets: true,
            ..LiveWindowsOptions::default()
        };
        self.webhook_with(policy, timeout, opts).await
    }

    async fn webhook_with(
        &self,
        policy: &str,
        timeout: Duration,
        opts: LiveWindowsOptions,
    ) -> Webhook {
        let client = self.api.client().unwrap();
        let gmsa_ready = Readiness::new();
        let windows_ready = Readiness::new();
        let view = LiveView::start(
            client.clone(),
            LiveViewConfig::default(),
            gmsa_ready.clone(),
        )
        .await
        .unwrap();
        let config = WindowsPolicyConfig::from_yaml(policy).unwrap();
        let windows_view = LiveWindowsView::start(client, opts, windows_ready.clone());
        let resolver = Resolver::new(
            ResolverOptions {
                client: ClientOptions {
                    timeout,
                    system_roots: false,
                    ..ClientOptions::default()
                },
                ..ResolverOptions::default()
            },
            Arc::new(SystemClock),
        )
        .unwrap();
        let policies = WindowsPolicies::new(config, Arc::new(resolver), windows_view.clone());
        let ready = Readiness::all(vec![gmsa_ready, windows_ready.clone()]);
        let issued = self.ca.issue("localhost", &["localhost"]).unwrap();
        let sub = tempfile::tempdir_in(self.dir.path()).unwrap();
        let (cert, key) = write_pair(sub.path(), &issued);
        let server = bind(
            ServerConfig::new("127.0.0.1:0".parse().unwrap(), cert, key),
            view,
            ready.clone(),
        )
        .await
        .unwrap()
        .with_windows(Arc::new(policies));
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Webhook {
            addr,
            ca: self.ca.cert_der(),
            ready,
            windows_ready,
            windows_view,
            _stop: tx,
            _dir: sub,
        }
    }
}

struct Webhook {
    addr: SocketAddr,
    ca: rustls::pki_types::CertificateDer<'static>,
    ready: Readiness,
    windows_ready: Readiness,
    windows_view: Arc<LiveWindowsView>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Webhook {
    async fn conn(&self) -> Conn {
        connect(
            self.addr,
            client_tls(std::slice::from_ref(&self.ca), &[b"http/1.1"]),
        )
        .await
        .unwrap()
    }

    async fn wait_ready(&self) {
        let r = self.ready.clone();
        eventually("webhook ready", move || r.is_ready()).await;
    }

    /// Posts a pod CREATE review to `path`; returns the response.
    async fn review(&self, path: &str, ns: &str, pod: &Value) -> (Value, Vec<Value>) {
        let mut c = self.conn().await;
        // A hang detector, not a timing assertion: the answer must come at all.
        let (status, body) = tokio::time::timeout(
            Duration::from_secs(30),
            c.post(path, review_body("uid-1", "CREATE", ns, pod)),
        )
        .await
        .expect("the webhook answered")
        .unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        (response_of(&body), patch_of(&body))
    }
}

fn windows_pod(images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, im)| json!({"name": format!("c{i}"), "image": im, "resources": {"limits": {"memory": "1Gi"}}}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "apps"},
        "spec": {"securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}},
            "containers": containers}})
}

fn apply(pod: &Value, patch: &[Value]) -> Value {
    let p: json_patch::Patch = serde_json::from_value(Value::Array(patch.to_vec())).unwrap();
    let mut out = pod.clone();
    json_patch::patch(&mut out, &p).unwrap();
    out
}

fn warnings(resp: &Value) -> Vec<String> {
    resp["warnings"]
        .as_array()
        .map(|a| a.iter().map(|w| w.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn windows_pods_are_scheduled_onto_the_build_their_images_need() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let hook = cluster.webhook("", Duration::from_secs(4)).await;
    hook.wait_ready().await;

    // A 2019 image: the Windows selector, the taint's toleration and the 2019 build.
    let pod = windows_pod(&[&cluster.img2019]);
    let (resp, patch) = hook.review("/mutate-windows", "apps", &pod).await;
    assert_eq!(resp["allowed"], true, "{resp}");
    assert_eq!(resp["patchType"], "JSONPatch");
    let mutated = apply(&pod, &patch);
    let spec = &mutated["spec"];
    assert_eq!(
        spec["nodeSelector"]["kubernetes.io/os"], "windows",
        "{spec}"
    );
    assert_eq!(
        spec["nodeSelector"]["node.kubernetes.io/windows-build"],
        "10.0.17763"
    );
    assert!(
        spec["tolerations"].as_array().unwrap().contains(
            &json!({"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"})
        ),
        "{spec}"
    );
    // Reinvocation (IfNeeded) changes nothing more.
    let (again, patch2) = hook.review("/mutate-windows", "apps", &mutated).await;
    assert_eq!(again["allowed"], true);
    assert!(patch2.is_empty(), "{patch2:?}");
    assert!(again.get("patch").is_none());
    // And the validating phase admits the result.
    let (valid, _) = hook.review("/validate-windows", "apps", &mutated).await;
    assert_eq!(valid["allowed"], true, "{valid}");

    // A 2022 image gets the 2022 build.
    let (resp, patch) = hook
        .review("/mutate-windows", "apps", &windows_pod(&[&cluster.img2022]))
        .await;
    assert_eq!(resp["allowed"], true);
    let m = apply(&windows_pod(&[&cluster.img2022]), &patch);
    assert_eq!(
        m["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"],
        "10.0.20348"
    );

    // A Linux pod is left alone (Linux pinning is off by default).
    let linux = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx"},
        "spec": {"containers": [{"name": "c", "image": cluster.linux}]}});
    let (resp, patch) = hook.review("/mutate-windows", "apps", &linux).await;
    assert_eq!(resp["allowed"], true);
    assert!(patch.is_empty(), "{patch:?}");

    // Exempt namespaces are never touched.
    let (resp, patch) = hook.review("/mutate-windows", "kube-system", &pod).await;
    assert_eq!(resp["allowed"], true);
    assert!(patch.is_empty());

    // Non-pod and non-CREATE requests are allowed untouched.
    let mut c = hook.conn().await;
    let (status, body) = c
        .post(
            "/validate-windows",
            review_body("u", "UPDATE", "apps", &json!({"spec": {}})),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(response_of(&body)["allowed"], true);
    // The same HTTP rules as /mutate.
    let (status, _) = c.get("/mutate-windows").await.unwrap();
    assert_eq!(status, 405);
    let (status, body) = c
        .post("/mutate-windows", b"{\"request\":".to_vec())
        .await
        .unwrap();
    assert_eq!(status, 200);
    let r = response_of(&body);
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 400);
    assert_eq!(
        r["status"]["message"],
        "unable to unmarshall JSON body as an admission review: unexpected end of JSON input"
    );
}

#[tokio::test]
async fn images_no_node_can_run_are_denied_and_conflicts_are_listed() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let hook = cluster.webhook("", Duration::from_secs(4)).await;
    hook.wait_ready().await;

    // A pod pinned to 2022 with a 2019 image: no fitting node, denied on validate.
    let mut pinned = windows_pod(&[&cluster.img2019]);
    pinned["spec"]["nodeSelector"] =
        json!({"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.20348"});
    pinned["spec"]["tolerations"] = json!([{"key": "os", "operator": "Exists"}]);
    let (resp, _) = hook.review("/validate-windows", "apps", &pinned).await;
    assert_eq!(resp["allowed"], false, "{resp}");
    assert_eq!(resp["status"]["code"], 403);
    let msg = resp["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("[osBuild]") && msg.contains("10.0.17763"),
        "{msg}"
    );

    // A 2019 image and a 2022 image in one pod: no build runs both.
    let mixed = windows_pod(&[&cluster.img2019, &cluster.img2022]);
    let (resp, patch) = hook.review("/mutate-windows", "apps", &mixed).await;
    assert_eq!(resp["allowed"], false, "{resp}");
    assert!(patch.is_empty());
    let msg = resp["status"]["message"].as_str().unwrap();
    assert!(msg.contains("no Windows build can run all"), "{msg}");

    // Conflicting OS signals: denied, every signal named.
    let mut conflict = windows_pod(&[&cluster.img2022]);
    conflict["spec"]["os"] = json!({"name": "windows"});
    conflict["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
    for path in ["/mutate-windows", "/validate-windows"] {
        let (resp, _) = hook.review(path, "apps", &conflict).await;
        assert_eq!(resp["allowed"], false, "{path}: {resp}");
        let msg = resp["status"]["message"].as_str().unwrap();
        assert!(msg.contains("conflicting OS signals"), "{msg}");
        assert!(msg.contains("spec.os.name=windows"), "{msg}");
        assert!(msg.contains("kubernetes.io/os=linux"), "{msg}");
    }
}

/// Accepts connections and never answers: a registry that hangs.
async fn black_hole() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

#[tokio::test]
async fn unreachable_registries_fail_open_by_default_and_closed_when_configured() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let (hole, _task) = black_hole().await;
    let image = format!("{hole}/contoso/web:1.4-ltsc2022");
    let pod = windows_pod(&[&image]);

    let open = cluster.webhook("", Duration::from_millis(500)).await;
    open.wait_ready().await;
    let (resp, patch) = open.review("/mutate-windows", "apps", &pod).await;
    assert_eq!(resp["allowed"], true, "{resp}");
    let w = warnings(&resp);
    assert!(
        w.iter()
            .any(|w| w.contains("could not resolve") && w.contains(&image)),
        "{w:?}"
    );
    // Scheduling still happens; the build is not guessed.
    let m = apply(&pod, &patch);
    assert_eq!(m["spec"]["nodeSelector"]["kubernetes.io/os"], "windows");
    assert!(
        m["spec"]["nodeSelector"]
            .get("node.kubernetes.io/windows-build")
            .is_none()
    );

    let closed = cluster
        .webhook("images: {onUnresolved: deny}\n", Duration::from_millis(500))
        .await;
    closed.wait_ready().await;
    let (resp, _) = closed.review("/validate-windows", "apps", &pod).await;
    assert_eq!(resp["allowed"], false, "{resp}");
    let msg = resp["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("could not resolve") && msg.contains(&image),
        "{msg}"
    );
}

#[tokio::test]
async fn pull_secrets_are_read_from_the_pods_namespace() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let docker = format!(
        r#"{{"auths":{{"{}":{{"username":"u","password":"p"}}}}}}"#,
        cluster.reg.host()
    );
    cluster
        .api
        .create(
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": "regcred", "namespace": "apps"},
            "data": {".dockerconfigjson": b64(&docker)}}),
        )
        .unwrap();
    let hook = cluster.webhook("", Duration::from_secs(4)).await;
    hook.wait_ready().await;

    // No pull secrets: no Secret read at all.
    cluster.api.clear_requests();
    let pod = windows_pod(&[&cluster.img2019]);
    let (resp, _) = hook.review("/mutate-windows", "apps", &pod).await;
    assert_eq!(resp["allowed"], true);
    assert_eq!(cluster.api.count_requests("GET", "/secrets/regcred"), 0);

    let mut with = pod.clone();
    with["spec"]["imagePullSecrets"] = json!([{"name": "regcred"}, {"name": "missing"}]);
    let (resp, patch) = hook.review("/mutate-windows", "apps", &with).await;
    assert_eq!(resp["allowed"], true, "{resp}");
    assert_eq!(
        cluster
            .api
            .count_requests("GET", "/namespaces/apps/secrets/regcred"),
        1
    );
    let w = warnings(&resp);
    assert!(
        w.iter()
            .any(|w| w.contains("\"apps/missing\"") && w.contains("does not exist")),
        "{w:?}"
    );
    assert!(!w.iter().any(|w| w.contains("regcred")), "{w:?}");
    assert_eq!(
        apply(&with, &patch)["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"],
        "10.0.17763"
    );

    // Without read_pull_secrets (the default): no Secret is read, the image is still
    // looked up (anonymously) and the pod pinned.
    let anonymous = cluster
        .webhook_with("", Duration::from_secs(4), LiveWindowsOptions::default())
        .await;
    anonymous.wait_ready().await;
    cluster.api.clear_requests();
    let (resp, patch) = anonymous.review("/mutate-windows", "apps", &with).await;
    assert_eq!(resp["allowed"], true, "{resp}");
    assert!(
        !cluster
            .api
            .requests()
            .iter()
            .any(|r| r.path.contains("/secrets")),
        "{:?}",
        cluster.api.requests()
    );
    assert!(warnings(&resp).is_empty(), "{resp}");
    assert_eq!(
        apply(&with, &patch)["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"],
        "10.0.17763"
    );
}

#[tokio::test]
async fn nodes_added_while_running_are_seen_through_the_watch() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let hook = cluster.webhook("", Duration::from_secs(4)).await;
    hook.wait_ready().await;
    let pod = windows_pod(&[&cluster.img2025]);
    let (resp, patch) = hook.review("/mutate-windows", "apps", &pod).await;
    assert_eq!(resp["allowed"], true, "{resp}");
    assert!(
        warnings(&resp)
            .iter()
            .any(|w| w.contains("no Windows node can run this pod's images yet")),
        "{resp}"
    );
    assert_eq!(
        apply(&pod, &patch)["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"],
        "10.0.26100"
    );

    cluster
        .api
        .create(node("win-2025", "windows", Some("10.0.26100")))
        .unwrap();
    let view = hook.windows_view.clone();
    eventually("the 2025 node in the cache", move || {
        use winkube_policy::windows::WindowsClusterView;
        view.windows_node_builds().builds.len() == 3
    })
    .await;
    let (resp, _) = hook.review("/mutate-windows", "apps", &pod).await;
    assert_eq!(resp["allowed"], true);
    assert!(warnings(&resp).is_empty(), "{resp}");

    // A node that stops being Windows leaves the cache.
    cluster.api.apply(node("win-2025", "linux", None)).unwrap();
    let view = hook.windows_view.clone();
    eventually("the relabelled node gone", move || {
        use winkube_policy::windows::WindowsClusterView;
        view.windows_node_builds().builds.len() == 2
    })
    .await;
}

#[tokio::test]
async fn readiness_waits_for_the_node_and_runtimeclass_caches() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    // The gMSA caches sync first; then every LIST fails, so the Windows caches cannot.
    let client = cluster.api.client().unwrap();
    let gmsa_ready = Readiness::new();
    let _gmsa = LiveView::start(
        client.clone(),
        LiveViewConfig::default(),
        gmsa_ready.clone(),
    )
    .await
    .unwrap();
    let r = gmsa_ready.clone();
    eventually("gMSA caches synced", move || r.is_ready()).await;
    cluster.api.set_list_error(Some(500));
    let hook = cluster.webhook("", Duration::from_secs(4)).await;
    // The hook's own gMSA view cannot list either; judge by the Windows part and /health.
    let mut c = hook.conn().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!hook.windows_ready.is_ready());
    assert!(!hook.windows_view.is_synced());
    let (status, _) = c.get("/health").await.unwrap();
    assert_eq!(status, 503);
    {
        use winkube_policy::windows::WindowsClusterView;
        assert!(!hook.windows_view.windows_node_builds().known);
    }
    let joined = Readiness::all(vec![gmsa_ready.clone(), hook.windows_ready.clone()]);
    assert!(!joined.is_ready());

    cluster.api.set_list_error(None);
    hook.wait_ready().await;
    let (status, _) = c.get("/health").await.unwrap();
    assert_eq!(status, 204);
    assert!(hook.windows_view.is_synced());
    eventually("joined readiness", move || joined.is_ready()).await;
    let (resp, _) = hook
        .review("/mutate-windows", "apps", &windows_pod(&[&cluster.img2019]))
        .await;
    assert_eq!(resp["allowed"], true);
}

#[tokio::test]
async fn pod_security_is_served_and_kubectl_debug_is_judged() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let hook = cluster
        .webhook(
            "hostProcess: {allowedNamespaces: [node-agents]}",
            Duration::from_secs(4),
        )
        .await;
    hook.wait_ready().await;
    let mut agent = windows_pod(&[&cluster.img2022]);
    agent["spec"]["hostNetwork"] = json!(true);
    agent["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "windows"});
    agent["spec"]["tolerations"] = json!([{"operator": "Exists"}]);
    agent["spec"]["securityContext"]["windowsOptions"] =
        json!({"hostProcess": true, "runAsUserName": "NT AUTHORITY\\SYSTEM"});
    // A node agent: allowed in its namespace, refused in another on both paths.
    let (resp, _) = hook
        .review("/validate-windows", "node-agents", &agent)
        .await;
    assert_eq!(resp["allowed"], true, "{resp}");
    for path in ["/mutate-windows", "/validate-windows"] {
        let (resp, patch) = hook.review(path, "apps", &agent).await;
        assert_eq!(resp["allowed"], false, "{path}: {resp}");
        assert_eq!(resp["status"]["code"], 403);
        assert!(patch.is_empty());
        let msg = resp["status"]["message"].as_str().unwrap();
        assert!(
            msg.contains(r#"[hostProcess]"#) && msg.contains(r#""apps""#),
            "{msg}"
        );
    }
    // What the API server would refuse is refused with its reason and version.
    let mut bad_user = windows_pod(&[&cluster.img2022]);
    bad_user["spec"]["securityContext"]["windowsOptions"]["runAsUserName"] = json!("a\\b\\c");
    let (resp, _) = hook.review("/validate-windows", "apps", &bad_user).await;
    let msg = resp["status"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("more than one backslash") && msg.contains("Kubernetes 1.16"),
        "{resp}"
    );

    // kubectl debug: an UPDATE of pods/ephemeralcontainers with a HostProcess container.
    let mut debugged = windows_pod(&[&cluster.img2022]);
    debugged["spec"]["ephemeralContainers"] = json!([{"name": "dbg", "image": "debug:1",
        "securityContext": {"windowsOptions": {"hostProcess": true}}}]);
    let mut body: Value =
        serde_json::from_slice(&review_body("e1", "UPDATE", "apps", &debugged)).unwrap();
    body["request"]["subResource"] = json!("ephemeralcontainers");
    let mut c = hook.conn().await;
    let (status, answer) = c
        .post("/validate-windows", serde_json::to_vec(&body).unwrap())
        .await
        .unwrap();
    assert_eq!(status, 200);
    let resp = response_of(&answer);
    assert_eq!(resp["allowed"], false, "{resp}");
    assert!(
        resp["status"]["message"]
            .as_str()
            .unwrap()
            .contains(r#"ephemeral container "dbg" is a HostProcess container"#),
        "{resp}"
    );
    // The same update without HostProcess passes untouched.
    body["request"]["object"]["spec"]["ephemeralContainers"][0]["securityContext"] = json!({});
    let (_, answer) = c
        .post("/validate-windows", serde_json::to_vec(&body).unwrap())
        .await
        .unwrap();
    let resp = response_of(&answer);
    assert_eq!(resp["allowed"], true, "{resp}");
    assert!(resp.get("patch").is_none(), "{resp}");
}

#[tokio::test]
async fn the_gmsa_paths_are_unaffected() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    cluster
        .api
        .create(credspec_object("credspec-0", credspec_doc(0)))
        .unwrap();
    let hook = cluster.webhook("", Duration::from_secs(4)).await;
    hook.wait_ready().await;
    let pod = gmsa_pod("default", "credspec-0", None);
    let mut c = hook.conn().await;
    let (status, body) = c
        .post("/mutate", review_body("g1", "CREATE", "apps", &pod))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let patch = patch_of(&body);
    assert_eq!(patch.len(), 1, "{patch:?}");
    assert_eq!(patch[0]["value"], CREDSPEC_0_CANONICAL);
    // /mutate applies no Windows policy: no selector, no toleration.
    assert!(!String::from_utf8_lossy(&body).contains("nodeSelector"));
    assert!(
        !patch
            .iter()
            .any(|p| p["path"].as_str().unwrap().contains("nodeSelector"))
    );
}

#[tokio::test]
async fn cancelling_the_token_stops_the_windows_watches() {
    use winkube_policy::windows::WindowsClusterView;
    let api = ApiServer::start().await.unwrap();
    api.create(node("win-2019", "windows", Some("10.0.17763")))
        .unwrap();
    let ready = Readiness::new();
    let cancel = tokio_util::sync::CancellationToken::new();
    let view = LiveWindowsView::start_with_cancel(
        api.client().unwrap(),
        LiveWindowsOptions::default(),
        ready.clone(),
        &cancel,
    );
    ready.wait().await;
    eventually("node watch started", || {
        api.requests()
            .iter()
            .any(|r| r.is_watch() && r.path.ends_with("/nodes"))
    })
    .await;
    assert_eq!(view.windows_node_builds().builds.len(), 1);

    cancel.cancel();
    // Give the watch task a moment to see the cancellation, then change the cluster.
    tokio::time::sleep(Duration::from_millis(100)).await;
    api.create(node("win-2022", "windows", Some("10.0.20348")))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        view.windows_node_builds().builds.len(),
        1,
        "a cancelled view kept following the watch"
    );
}
