//! `winkube webhook --state examples/state`, configured like the reference (environment
//! variables), answering real AdmissionReviews over HTTPS.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use winkube_testkit::{ApiServer, TestCa};

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_winkube");

const CANONICAL: &str = r#"{"ActiveDirectoryConfig":{"GroupManagedServiceAccounts":[{"Name":"WebApp1","Scope":"CONTOSO"}]},"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"DnsName":"contoso.com","DnsTreeName":"contoso.com","Guid":"244818ae-87ac-4fcd-92ec-e79e5252348a","MachineAccountName":"WebApp1","NetBiosName":"CONTOSO","Sid":"S-1-5-21-2126449477-2524075714-3094792973"}}"#;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Kills the server if a test fails before stopping it.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Client {
    connector: tokio_rustls::TlsConnector,
    port: u16,
    /// The name the server's certificate must be for.
    server_name: String,
}

impl Client {
    fn new(ca: CertificateDer<'static>, port: u16) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            port,
            server_name: "localhost".into(),
        }
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> std::io::Result<(u16, Bytes)> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        let tls = self
            .connector
            .connect(ServerName::try_from(self.server_name.clone()).unwrap(), tcp)
            .await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(v).unwrap())
            }
            None => Bytes::new(),
        };
        let resp = sender
            .send_request(req.body(Full::new(body)).unwrap())
            .await
            .map_err(std::io::Error::other)?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        Ok((status, bytes))
    }
}

fn review(uid: &str, pod: &Value) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod,
        }
    })
}

fn example_pod(file: &str) -> Value {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let mut pod: Value = serde_saphyr::from_str(&text).unwrap();
    // What the ServiceAccount admission plugin has done before webhooks run.
    if pod["spec"].get("serviceAccountName").is_none() {
        pod["spec"]["serviceAccountName"] = json!("default");
    }
    pod
}

/// Writes a serving certificate for localhost into `dir/tls/`.
fn write_cert(dir: &Path, ca: &TestCa) -> PathBuf {
    let issued = ca.issue("winkube", &["localhost", "127.0.0.1"]).unwrap();
    let tls_dir = dir.join("tls");
    std::fs::create_dir_all(&tls_dir).unwrap();
    std::fs::write(tls_dir.join("tls.crt"), &issued.cert_pem).unwrap();
    std::fs::write(tls_dir.join("tls.key"), &issued.key_pem).unwrap();
    tls_dir
}

/// Waits (bounded) until `/health` answers, and returns its status.
async fn wait_for_health(server: &mut Server, client: &Client, want: u16) {
    let mut last = None;
    for _ in 0..400 {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("server exited early: {status}\n{}", server.log());
        }
        if let Ok((status, _)) = client.request("GET", "/health", None).await {
            last = Some(status);
            if status == want {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "/health never answered {want} (last: {last:?})\n{}",
        server.log()
    );
}

async fn mutate_inlines_the_talk_credspec(client: &Client) -> Vec<Value> {
    let pod = example_pod("examples/webapp-pod.yaml");
    let (status, body) = client
        .request("POST", "/mutate", Some(&review("uid-mutate", &pod)))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let resp: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(resp["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(resp["response"]["uid"], "uid-mutate");
    assert_eq!(resp["response"]["allowed"], true, "{resp}");
    assert_eq!(resp["response"]["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(resp["response"]["patch"].as_str().unwrap())
        .unwrap();
    let ops: Vec<Value> = serde_json::from_slice(&patch).unwrap();
    assert_eq!(
        ops[0],
        json!({"op": "add", "path": "/spec/securityContext/windowsOptions/gmsaCredentialSpec", "value": CANONICAL})
    );
    ops
}

async fn validate_refuses_billing(client: &Client) {
    let billing = example_pod("examples/denied/unauthorized-service-account.yaml");
    let (status, body) = client
        .request("POST", "/validate", Some(&review("uid-validate", &billing)))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let resp: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(resp["response"]["uid"], "uid-validate");
    assert_eq!(resp["response"]["allowed"], false);
    assert_eq!(resp["response"]["status"]["code"], 403);
    assert!(
        resp["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .starts_with(
                "service account \"billing\" is not authorized to `use` GMSA cred spec \"gmsa-webapp-1\""
            ),
        "{resp}"
    );
}

async fn validate_admits_default(client: &Client, ops: &[Value]) {
    let mut pod = example_pod("examples/webapp-pod.yaml");
    pod["spec"]["securityContext"]["windowsOptions"]["gmsaCredentialSpec"] =
        ops[0]["value"].clone();
    let (status, body) = client
        .request("POST", "/validate", Some(&review("uid-ok", &pod)))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let resp: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(resp["response"]["allowed"], true, "{resp}");
}

fn spawn(args: &[&str], env: &[(&str, String)], log: PathBuf) -> Server {
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
        "KUBECONFIG",
        "WINDOWS_POLICIES",
        "READ_PULL_SECRETS",
        "KUBERNETES_SERVICE_HOST",
        "KUBERNETES_SERVICE_PORT",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
        ))
        .spawn()
        .unwrap();
    Server { child, log }
}

/// A kubeconfig for the API-server stand-in, at `path`.
fn kubeconfig(api: &ApiServer, path: &Path) {
    std::fs::write(path, api.kubeconfig_yaml()).unwrap();
}

#[tokio::test]
async fn serves_a_live_cluster_in_both_authorization_modes() {
    let api = ApiServer::start().await.unwrap();
    // The same objects as examples/state, this time in the (stand-in) cluster.
    for file in [
        "examples/state/gmsa-webapp-1.yaml",
        "examples/state/webapp1-role.yaml",
        "examples/state/default-svc-account-read-gmsa.yaml",
        "examples/state/service-accounts.yaml",
    ] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        let obj: Value = serde_saphyr::from_str(&text).unwrap();
        api.create(obj).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("winkube-test-ca").unwrap();
    let tls_dir = write_cert(dir.path(), &ca);
    let kc = dir.path().join("kubeconfig");
    kubeconfig(&api, &kc);

    for mode in ["subject-access-review", "rbac-cache"] {
        api.clear_requests();
        let port = free_port();
        let mut server = spawn(
            &[
                "--bind-address",
                "127.0.0.1",
                "--tls-cert-file",
                tls_dir.join("tls.crt").to_str().unwrap(),
                "--tls-key-file",
                tls_dir.join("tls.key").to_str().unwrap(),
                "--port",
                &port.to_string(),
                "--authorization",
                mode,
                "--log-format",
                "json",
            ],
            &[("KUBECONFIG", kc.to_string_lossy().into_owned())],
            dir.path().join(format!("{mode}.log")),
        );
        let client = Client::new(ca.cert_der(), port);
        wait_for_health(&mut server, &client, 204).await;
        let ops = mutate_inlines_the_talk_credspec(&client).await;
        assert!(
            !ops.iter().any(|op| op["path"] == "/spec/hostname"),
            "no RANDOM_HOSTNAME, no hostname: {ops:?}"
        );
        validate_refuses_billing(&client).await;
        validate_admits_default(&client, &ops).await;
        let reviews = api.access_reviews();
        let reviewed: Vec<_> = reviews
            .iter()
            .map(|r| r["spec"]["user"].as_str().unwrap_or_default())
            .collect();
        if mode == "subject-access-review" {
            // One LocalSubjectAccessReview per check, as the reference.
            assert_eq!(
                reviewed,
                [
                    "system:serviceaccount:default:billing",
                    "system:serviceaccount:default:default"
                ]
            );
        } else {
            // Grants come from the cache; only a cache denial is confirmed by the API server
            // (which may run other authorizers than RBAC).
            assert_eq!(reviewed, ["system:serviceaccount:default:billing"]);
        }
        // JSON logs, one object per line.
        let log = server.log();
        let first = log.lines().next().unwrap_or_default();
        assert!(
            serde_json::from_str::<Value>(first).is_ok(),
            "not JSON: {first}"
        );
        drop(server);
    }
}

#[tokio::test]
async fn serves_mutate_and_validate_over_https_from_a_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("winkube-test-ca").unwrap();
    let tls_dir = write_cert(dir.path(), &ca);
    let port = free_port();

    // Configured as the reference's Deployment does it: environment variables only,
    // plus the state directory instead of a cluster.
    let mut server = spawn(
        &[
            "--state",
            "examples/state",
            "--bind-address",
            "127.0.0.1",
            "--cert-reload=true",
        ],
        &[
            (
                "TLS_CRT",
                tls_dir.join("tls.crt").to_string_lossy().into_owned(),
            ),
            (
                "TLS_KEY",
                tls_dir.join("tls.key").to_string_lossy().into_owned(),
            ),
            ("HTTPS_PORT", port.to_string()),
            ("RANDOM_HOSTNAME", "true".to_owned()),
            ("LOG_LEVEL", "debug".to_owned()),
        ],
        dir.path().join("server.log"),
    );
    let client = Client::new(ca.cert_der(), port);
    // --state makes it ready at once.
    wait_for_health(&mut server, &client, 204).await;

    // /mutate inlines the canonical contents and, with RANDOM_HOSTNAME=true, a hostname.
    let ops = mutate_inlines_the_talk_credspec(&client).await;
    let hostname = ops
        .iter()
        .find(|op| op["path"] == "/spec/hostname")
        .unwrap_or_else(|| panic!("no hostname op in {ops:?}"));
    assert_eq!(hostname["value"].as_str().unwrap().len(), 15);

    // /validate refuses a service account without a RoleBinding, with the reference's text.
    validate_refuses_billing(&client).await;
    validate_admits_default(&client, &ops).await;

    // SIGTERM: graceful shutdown, exit status 0.
    #[cfg(unix)]
    {
        // The shell's built-in kill: no procps needed.
        let killed = Command::new("sh")
            .args([
                "-c",
                "kill -TERM \"$1\"",
                "sh",
                &server.child.id().to_string(),
            ])
            .status()
            .unwrap();
        assert!(killed.success());
        let mut exit = None;
        for _ in 0..200 {
            if let Some(status) = server.child.try_wait().unwrap() {
                exit = Some(status);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let exit = exit.unwrap_or_else(|| panic!("no exit after SIGTERM\n{}", server.log()));
        assert!(exit.success(), "{exit}\n{}", server.log());
    }
}

/// A webhook started as `winkube manifests install FLAGS` installs it: its webhook
/// configurations created in the stand-in, the Deployment's own arguments (the policy file
/// from its ConfigMap), self-managed certificates; ready (/health 204) and trusted.
struct Installed {
    docs: Vec<Value>,
    server: Server,
    client: Client,
    _dir: tempfile::TempDir,
}

async fn serve_installed(api: &ApiServer, flags: &[&str]) -> Installed {
    let docs: Vec<Value> = {
        let o = Command::new(BIN)
            .args(["manifests", "install"])
            .args(flags)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8(o.stdout).unwrap();
        text.split("\n---\n")
            .map(|d| serde_saphyr::from_str::<Value>(d).unwrap())
            .collect()
    };
    for d in &docs {
        if d["kind"]
            .as_str()
            .unwrap()
            .ends_with("WebhookConfiguration")
        {
            api.create(d.clone()).unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    kubeconfig(api, &kc);
    let port = free_port();
    // The Deployment's own arguments.
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let mut args: Vec<String> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert!(
        args.contains(&"--certificates=self-managed".to_owned()),
        "{args:?}"
    );
    // The policy file the ConfigMap mounts, here as a local file.
    for a in &mut args {
        if a.starts_with("--policy=") {
            let map = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
            let (_, text) = map["data"].as_object().unwrap().iter().next().unwrap();
            let file = dir.path().join("policy.yaml");
            std::fs::write(&file, text.as_str().unwrap()).unwrap();
            *a = format!("--policy={}", file.display());
        }
    }
    args.extend(
        [
            "--bind-address",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--certificate-namespace",
            "winkube",
        ]
        .map(str::to_owned),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = spawn(
        &args,
        &[
            ("KUBECONFIG", kc.to_string_lossy().into_owned()),
            ("HOSTNAME", "winkube-pod-1".into()),
        ],
        dir.path().join("self-managed.log"),
    );
    // The caBundle the binary published is all the client trusts.
    let mut bundle = None;
    for _ in 0..500 {
        let v = api
            .get(
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration",
                "",
                "winkube",
            )
            .unwrap();
        if let Some(b) = v["webhooks"][0]["clientConfig"]["caBundle"].as_str() {
            bundle = Some(base64::engine::general_purpose::STANDARD.decode(b).unwrap());
            break;
        }
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "exited: {}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let bundle = bundle.unwrap_or_else(|| panic!("no caBundle: {}", server.log()));
    let ca = rustls::pki_types::pem::PemObject::from_pem_slice(&bundle).unwrap();
    let mut client = Client::new(ca, port);
    client.server_name = "winkube.winkube.svc".into();
    wait_for_health(&mut server, &client, 204).await;
    Installed {
        docs,
        server,
        client,
        _dir: dir,
    }
}

#[tokio::test]
async fn self_managed_certificates_need_no_files() {
    let api = ApiServer::start().await.unwrap();
    let text = std::fs::read_to_string(repo().join("examples/state/gmsa-webapp-1.yaml")).unwrap();
    api.create(serde_saphyr::from_str(&text).unwrap()).unwrap();
    // The default install becomes ready (above) with its own RBAC: nothing the reference
    // does not grant is watched (the Windows policies are not installed).
    let Installed {
        docs,
        server,
        client,
        _dir,
    } = serve_installed(&api, &[]).await;
    let (status, _) = client
        .request("POST", "/validate-windows", Some(&review("u1", &json!({}))))
        .await
        .unwrap();
    assert_eq!(status, 404, "the Windows paths are not served");
    mutate_inlines_the_talk_credspec(&client).await;
    let secret = api.get("v1", "Secret", "winkube", "winkube-tls").unwrap();
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let lease = api
        .get("coordination.k8s.io/v1", "Lease", "winkube", "winkube-tls")
        .unwrap();
    assert!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .unwrap()
            .starts_with("winkube-pod-1_"),
        "{lease}"
    );
    drop(server);
    for resource in ["/nodes", "/runtimeclasses"] {
        assert!(
            !api.requests().iter().any(|r| r.path.ends_with(resource)),
            "{resource} was requested"
        );
    }
    // The RBAC `winkube manifests install` grants is enough for every call the webhook made.
    every_call_is_allowed_by_the_installed_rbac(&api, &docs);
    grants_are_narrow(&docs);
}

/// `manifests install --windows-policies`: the webhook watches nodes and RuntimeClasses
/// (granted) and reads a pod's pull secrets only with `--read-pull-secrets` (granted only
/// then); without it, no Secret but its own is ever read and the review is still answered.
#[tokio::test]
async fn windows_policies_install_reads_pull_secrets_only_when_asked() {
    for read in [false, true] {
        let api = ApiServer::start().await.unwrap();
        let docker = r#"{"auths":{"127.0.0.1:9":{"username":"u","password":"p"}}}"#;
        api.create(json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": "regcred", "namespace": "default"},
            "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(docker)}}))
            .unwrap();
        let flags: &[&str] = if read {
            &["--windows-policies", "--read-pull-secrets"]
        } else {
            &["--windows-policies"]
        };
        let Installed {
            docs,
            server,
            client,
            _dir,
        } = serve_installed(&api, flags).await;
        let secrets_rule = docs
            .iter()
            .filter(|d| d["kind"] == "ClusterRole")
            .flat_map(|d| d["rules"].as_array().unwrap())
            .any(|r| r["resources"] == json!(["secrets"]) && r["resourceNames"].is_null());
        assert_eq!(secrets_rule, read, "{flags:?}");
        // The image is the pod's only OS signal, so it is looked up (the registry is
        // unreachable: the pod is allowed with a warning).
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"imagePullSecrets": [{"name": "regcred"}],
                     "containers": [{"name": "c", "image": "127.0.0.1:9/app:1.0"}]}});
        let (status, body) = client
            .request("POST", "/mutate-windows", Some(&review("u1", &pod)))
            .await
            .unwrap();
        assert_eq!(status, 200, "{}", server.log());
        let answer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["response"]["allowed"], true, "{answer}");
        assert!(
            answer["response"]["warnings"]
                .to_string()
                .contains("127.0.0.1:9/app:1.0"),
            "{answer}"
        );
        drop(server);
        assert_eq!(
            api.count_requests("GET", "/namespaces/default/secrets/regcred"),
            usize::from(read),
            "{flags:?}"
        );
        for resource in ["/nodes", "/runtimeclasses"] {
            assert!(
                api.requests().iter().any(|r| r.path.ends_with(resource)),
                "{resource} not watched"
            );
        }
        every_call_is_allowed_by_the_installed_rbac(&api, &docs);
    }
}

/// The Roles and bindings of `docs`, and winkube's service account.
fn installed_rbac(docs: &[Value]) -> (winkube_rbac::RbacSnapshot, winkube_rbac::UserInfo) {
    let user = winkube_rbac::UserInfo::service_account("winkube", "winkube");
    (support::rbac_snapshot(docs), user)
}

/// Every recorded request is allowed by the Roles and bindings of `docs` for winkube's
/// service account.
fn every_call_is_allowed_by_the_installed_rbac(api: &ApiServer, docs: &[Value]) {
    let (snapshot, user) = installed_rbac(docs);
    let checked = support::assert_requests_allowed(&api.requests(), &snapshot, &user);
    assert!(checked > 5, "{checked}");
}

/// The default install's grants are narrow: another Secret or webhook configuration is not
/// writable, no other Secret readable.
fn grants_are_narrow(docs: &[Value]) {
    let (snapshot, user) = installed_rbac(docs);
    support::assert_requests_denied(
        &snapshot,
        &user,
        &[
            ("update", "", "secrets", "winkube", "other"),
            ("get", "", "secrets", "kube-system", "winkube-tls"),
            (
                "patch",
                "admissionregistration.k8s.io",
                "validatingwebhookconfigurations",
                "",
                "other",
            ),
            (
                "update",
                "coordination.k8s.io",
                "leases",
                "winkube",
                "other",
            ),
        ],
    );
}

#[test]
fn an_unreadable_client_ca_stops_start_up_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("client-ca.pem");
    std::fs::write(&bad, "not PEM").unwrap();
    let ca = TestCa::new("winkube-test-ca").unwrap();
    let tls_dir = write_cert(dir.path(), &ca);
    for file in [bad.clone(), dir.path().join("missing.pem")] {
        let o = Command::new(BIN)
            .args(["webhook", "--state", "examples/state", "--client-ca"])
            .arg(&file)
            .arg("--tls-cert-file")
            .arg(tls_dir.join("tls.crt"))
            .arg("--tls-key-file")
            .arg(tls_dir.join("tls.key"))
            .current_dir(repo())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains("--client-ca") && err.contains(&*file.to_string_lossy()),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // An unknown mode names the value.
    let o = Command::new(BIN)
        .args(["webhook", "--certificates", "cert-manager"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cert-manager"));
}

/// `webhook --state --offline`: image metadata only from the directory's images.yaml, and
/// a pod whose only OS signal is an image that cannot be resolved is admitted with a
/// warning in the AdmissionReview (fail open, never silently).
#[tokio::test]
async fn offline_state_webhook_warns_when_an_unresolved_image_was_the_only_os_signal() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("winkube-test-ca").unwrap();
    let tls_dir = write_cert(dir.path(), &ca);
    let port = free_port();
    let mut server = spawn(
        &[
            "--state",
            "examples/state",
            "--offline",
            "--bind-address",
            "127.0.0.1",
        ],
        &[
            (
                "TLS_CRT",
                tls_dir.join("tls.crt").to_string_lossy().into_owned(),
            ),
            (
                "TLS_KEY",
                tls_dir.join("tls.key").to_string_lossy().into_owned(),
            ),
            ("HTTPS_PORT", port.to_string()),
        ],
        dir.path().join("server.log"),
    );
    let client = Client::new(ca.cert_der(), port);
    wait_for_health(&mut server, &client, 204).await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
        "spec": {"serviceAccountName": "default", "containers": [{"name": "c", "image": "registry.example/app:1.0"}]}});
    let (status, body) = client
        .request("POST", "/mutate-windows", Some(&review("u1", &pod)))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    let warnings = answer["response"]["warnings"].to_string();
    assert!(warnings.contains("target OS unknown"), "{warnings}");
    assert!(warnings.contains("registry.example/app:1.0"), "{warnings}");
    assert!(
        warnings.contains("--offline"),
        "{warnings}\n{}",
        server.log()
    );
}

/// One plain-HTTP GET to the operations listener: (status, body).
async fn plain_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender
        .send_request(req)
        .await
        .map_err(std::io::Error::other)?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[tokio::test]
async fn metrics_bind_address_serves_metrics_and_probes_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("winkube-test-ca").unwrap();
    let tls_dir = write_cert(dir.path(), &ca);
    let (port, metrics_port) = (free_port(), free_port());
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let mut server = spawn(
        &[
            "--state",
            "examples/state",
            "--bind-address",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--tls-cert-file",
            tls_dir.join("tls.crt").to_str().unwrap(),
            "--tls-key-file",
            tls_dir.join("tls.key").to_str().unwrap(),
            "--metrics-bind-address",
            &metrics_addr,
        ],
        &[],
        dir.path().join("server.log"),
    );
    let client = Client::new(ca.cert_der(), port);
    wait_for_health(&mut server, &client, 204).await;
    mutate_inlines_the_talk_credspec(&client).await;
    validate_refuses_billing(&client).await;

    assert_eq!(
        plain_get(metrics_port, "/healthz").await.unwrap(),
        (200, "ok\n".to_owned())
    );
    assert_eq!(plain_get(metrics_port, "/readyz").await.unwrap().0, 200);
    let (status, text) = plain_get(metrics_port, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    for series in [
        r#"winkube_webhook_admission_reviews_total{webhook="mutate",operation="CREATE",outcome="patched"} 1"#,
        r#"winkube_webhook_admission_reviews_total{webhook="validate",operation="CREATE",outcome="denied"} 1"#,
        r#"winkube_webhook_reviews_total{endpoint="validate",allowed="false",code="403"} 1"#,
        "winkube_webhook_certificate_expiry_seconds ",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
    // The admission paths are not on the plain listener.
    assert_eq!(plain_get(metrics_port, "/mutate").await.unwrap().0, 404);
}

#[tokio::test]
async fn the_references_qps_and_burst_values_start_the_webhook_with_client_go_meanings() {
    let api = ApiServer::start().await.unwrap();
    for file in [
        "examples/state/gmsa-webapp-1.yaml",
        "examples/state/webapp1-role.yaml",
        "examples/state/default-svc-account-read-gmsa.yaml",
        "examples/state/service-accounts.yaml",
    ] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        api.create(serde_saphyr::from_str::<Value>(&text).unwrap())
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("winkube-test-ca").unwrap();
    let tls_dir = write_cert(dir.path(), &ca);
    let kc = dir.path().join("kubeconfig");
    kubeconfig(&api, &kc);
    // (QPS, BURST) as a reference Deployment may set them, and what client-go makes of them.
    for (qps, burst, want_qps, want_burst) in [
        // The reference's test setups: no client-side limit.
        ("-1", "-1", r#""unlimited""#, "10"),
        // 0 means the default, for both.
        ("0", "0", r#""5""#, "10"),
        ("NaN", "50", r#""unlimited""#, "50"),
        ("0x1p3", "", r#""8""#, "10"),
    ] {
        let port = free_port();
        let mut server = spawn(
            &["--bind-address", "127.0.0.1", "--log-format", "json"],
            &[
                ("KUBECONFIG", kc.to_string_lossy().into_owned()),
                (
                    "TLS_CRT",
                    tls_dir.join("tls.crt").to_string_lossy().into_owned(),
                ),
                (
                    "TLS_KEY",
                    tls_dir.join("tls.key").to_string_lossy().into_owned(),
                ),
                ("HTTPS_PORT", port.to_string()),
                ("QPS", qps.to_owned()),
                ("BURST", burst.to_owned()),
            ],
            dir.path().join(format!("qps{qps}.log")),
        );
        let client = Client::new(ca.cert_der(), port);
        wait_for_health(&mut server, &client, 204).await;
        // The access review goes through the limiter: it must be made and answered.
        validate_refuses_billing(&client).await;
        let log = server.log();
        let ready = log
            .lines()
            .find(|l| l.contains("Kubernetes client ready"))
            .unwrap_or_else(|| panic!("QPS={qps}: no client line\n{log}"));
        assert!(
            ready.contains(&format!(r#""qps":{want_qps}"#))
                && ready.contains(&format!(r#""burst":{want_burst}"#)),
            "QPS={qps} BURST={burst}: {ready}"
        );
        assert!(!log.contains("unable to parse"), "QPS={qps}: {log}");
        drop(server);
    }
}

#[test]
fn a_negative_burst_with_a_rate_limit_stops_start_up_naming_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn(
        &[],
        &[
            ("TLS_CRT", "/nonexistent/tls.crt".to_owned()),
            ("TLS_KEY", "/nonexistent/tls.key".to_owned()),
            ("QPS", "5".to_owned()),
            ("BURST", "-3".to_owned()),
        ],
        dir.path().join("server.log"),
    );
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{}", server.log());
    let log = server.log();
    assert!(
        log.contains("burst -3 (--burst / BURST) with QPS 5"),
        "{log}"
    );
}
