//! Black-box acceptance against the reference webhook's documented behaviour
//! (kubernetes-sigs/windows-gmsa v0.13.0): the real `winkube webhook --state DIR` binary,
//! configured like the reference (TLS_CRT / TLS_KEY / HTTPS_PORT / RANDOM_HOSTNAME), answers
//! raw HTTPS requests built here. Section numbers (§) refer to the reference specification.
//!
//! Two servers are shared by all tests of this file (one without, one with RANDOM_HOSTNAME).
//! Each is started through a small shell that waits on a pipe from this process: when the
//! test process ends, the pipe closes and the shell stops the server and removes its
//! temporary directory.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_winkube");

// ---------------------------------------------------------------------------------------
// Expected canonical contents (§2.6), written out by hand.

const CS0: &str = r#"{"ActiveDirectoryConfig":{"GroupManagedServiceAccounts":[{"Name":"WebApplication0","Scope":"CONTOSO"},{"Name":"WebApplication0","Scope":"contoso.com"}]},"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"DnsName":"contoso.com","DnsTreeName":"contoso.com","Guid":"244818ae-87ca-4fcd-92ec-e79e5252348a","MachineAccountName":"WebApplication0","NetBiosName":"CONTOSO","Sid":"S-1-5-21-2126729477-2524075714-3094792973"}}"#;
const CS1: &str = r#"{"ActiveDirectoryConfig":{"GroupManagedServiceAccounts":[{"Name":"WebApplication1","Scope":"CONTOSO"},{"Name":"WebApplication1","Scope":"contoso.com"}]},"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"DnsName":"contoso.com","DnsTreeName":"contoso.com","Guid":"244818ae-87ca-4fcd-92ec-e79e5252348a","MachineAccountName":"WebApplication1","NetBiosName":"CONTOSO","Sid":"S-1-5-21-2126729477-2524175714-3194792973"}}"#;
const CS2: &str = r#"{"ActiveDirectoryConfig":{"GroupManagedServiceAccounts":[{"Name":"WebApplication2","Scope":"CONTOSO"},{"Name":"WebApplication2","Scope":"contoso.com"}]},"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"DnsName":"contoso.com","DnsTreeName":"contoso.com","Guid":"244818ae-87ca-4fcd-92ec-e79e5252348a","MachineAccountName":"WebApplication2","NetBiosName":"CONTOSO","Sid":"S-1-5-21-2126729477-2524275714-3294792973"}}"#;
/// `credspec-with-hostagentconfig` (§2.6): the six characters `\u003c` are in the bytes.
const CS_HAC: &str = r#"{"ActiveDirectoryConfig":{"GroupManagedServiceAccounts":[{"Name":"WebApplication2","Scope":"CONTOSO"},{"Name":"WebApplication2","Scope":"contoso.com"}],"HostAccountConfig":{"PluginGUID":"{GDMA0342-266A-4D1P-831J-20990E82944F}","PluginInput":"contoso.com:gmsaccg:\u003cpassword\u003e","PortableCcgVersion":"1"}},"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"DnsName":"contoso.com","DnsTreeName":"contoso.com","Guid":"244818ae-87ca-4fcd-92ec-e79e5252348a","MachineAccountName":"WebApplication2","NetBiosName":"CONTOSO","Sid":"S-1-5-21-2126729477-2524275714-3294792973"}}"#;
/// Go `json.Marshal` string escaping (§2.6): short escapes, `\u00xx` for other controls,
/// HTML-safe `<>&`, U+2028, raw `é`.
const CS_ESC: &str = r#"{"CmsPlugins":["Active\u0026Directory"],"DomainJoinConfig":{"DnsName":"a\"b\\c","Guid":"c\u0001d","MachineAccountName":"line\u2028sep","NetBiosName":"x\u003cy\u003ez\u0026é","Sid":"tab\there\nnl"}}"#;

const CS_NUM: &str = r#"{"CmsPlugins":["ActiveDirectory"],"Extra":[1,2],"Half":1.5}"#;

/// `simple-with-pre-set-matching-contents` (§7.2): credspec-0 with reordered keys and spaces.
const CS0_REORDERED: &str = r#"{"CmsPlugins":["ActiveDirectory"],  "ActiveDirectoryConfig":{"GroupManagedServiceAccounts":[{"Name":"WebApplication0","Scope":"CONTOSO"},{"Name":"WebApplication0","Scope":"contoso.com"}]},"DomainJoinConfig":{"Sid":"S-1-5-21-2126729477-2524075714-3094792973",  "DnsName":"contoso.com","DnsTreeName":"contoso.com","Guid":"244818ae-87ca-4fcd-92ec-e79e5252348a","MachineAccountName":"WebApplication0","NetBiosName":"CONTOSO"}}"#;

// ---------------------------------------------------------------------------------------
// Cluster state (written into a temporary --state directory).

const CREDSPECS: &str = r#"
apiVersion: windows.k8s.io/v1
kind: GMSACredentialSpec
metadata:
  name: cs-0
credspec:
  DomainJoinConfig:
    Sid: S-1-5-21-2126729477-2524075714-3094792973
    NetBiosName: CONTOSO
    MachineAccountName: WebApplication0
    Guid: 244818ae-87ca-4fcd-92ec-e79e5252348a
    DnsTreeName: contoso.com
    DnsName: contoso.com
  CmsPlugins:
  - ActiveDirectory
  ActiveDirectoryConfig:
    GroupManagedServiceAccounts:
    - Name: WebApplication0
      Scope: CONTOSO
    - Name: WebApplication0
      Scope: contoso.com
---
# Deliberately v1alpha1, as the reference's integration template credspec-1.
apiVersion: windows.k8s.io/v1alpha1
kind: GMSACredentialSpec
metadata:
  name: cs-1
credspec:
  ActiveDirectoryConfig:
    GroupManagedServiceAccounts:
    - {Name: WebApplication1, Scope: CONTOSO}
    - {Name: WebApplication1, Scope: contoso.com}
  CmsPlugins: [ActiveDirectory]
  DomainJoinConfig:
    DnsName: contoso.com
    DnsTreeName: contoso.com
    Guid: 244818ae-87ca-4fcd-92ec-e79e5252348a
    MachineAccountName: WebApplication1
    NetBiosName: CONTOSO
    Sid: S-1-5-21-2126729477-2524175714-3194792973
---
apiVersion: windows.k8s.io/v1
kind: GMSACredentialSpec
metadata:
  name: cs-2
credspec:
  ActiveDirectoryConfig:
    GroupManagedServiceAccounts:
    - {Name: WebApplication2, Scope: CONTOSO}
    - {Name: WebApplication2, Scope: contoso.com}
  CmsPlugins: [ActiveDirectory]
  DomainJoinConfig:
    DnsName: contoso.com
    DnsTreeName: contoso.com
    Guid: 244818ae-87ca-4fcd-92ec-e79e5252348a
    MachineAccountName: WebApplication2
    NetBiosName: CONTOSO
    Sid: S-1-5-21-2126729477-2524275714-3294792973
---
apiVersion: windows.k8s.io/v1
kind: GMSACredentialSpec
metadata:
  name: cs-hac
credspec:
  ActiveDirectoryConfig:
    GroupManagedServiceAccounts:
    - {Name: WebApplication2, Scope: CONTOSO}
    - {Name: WebApplication2, Scope: contoso.com}
    HostAccountConfig:
      PortableCcgVersion: "1"
      PluginGUID: "{GDMA0342-266A-4D1P-831J-20990E82944F}"
      PluginInput: "contoso.com:gmsaccg:<password>"
  CmsPlugins: [ActiveDirectory]
  DomainJoinConfig:
    DnsName: contoso.com
    DnsTreeName: contoso.com
    Guid: 244818ae-87ca-4fcd-92ec-e79e5252348a
    MachineAccountName: WebApplication2
    NetBiosName: CONTOSO
    Sid: S-1-5-21-2126729477-2524275714-3294792973
---
apiVersion: windows.k8s.io/v1
kind: GMSACredentialSpec
metadata:
  name: cs-esc
credspec:
  DomainJoinConfig:
    Sid: "tab\there\nnl"
    NetBiosName: "x<y>z&é"
    MachineAccountName: "line\u2028sep"
    Guid: "c\x01d"
    DnsName: "a\"b\\c"
  CmsPlugins: ["Active&Directory"]
---
apiVersion: windows.k8s.io/v1
kind: GMSACredentialSpec
metadata:
  name: cs-num
credspec:
  Half: 1.5
  Extra: [1, 2]
  CmsPlugins: [ActiveDirectory]
---
apiVersion: windows.k8s.io/v1
kind: GMSACredentialSpec
metadata:
  name: nokey
"#;

const RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: use-all}
rules:
- apiGroups: ["windows.k8s.io"]
  resources: ["gmsacredentialspecs"]
  verbs: ["use"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: use-cs0}
rules:
- apiGroups: ["windows.k8s.io"]
  resources: ["gmsacredentialspecs"]
  verbs: ["use"]
  resourceNames: ["cs-0"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: get-all}
rules:
- apiGroups: ["windows.k8s.io"]
  resources: ["gmsacredentialspecs"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: use-cs2, namespace: ns-a}
rules:
- apiGroups: ["windows.k8s.io"]
  resources: ["gmsacredentialspecs"]
  verbs: ["use"]
  resourceNames: ["cs-2"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: allowed-use-all, namespace: ns-a}
subjects: [{kind: ServiceAccount, name: allowed, namespace: ns-a}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: use-all}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ghost-use-all, namespace: ns-a}
subjects: [{kind: ServiceAccount, name: ghost, namespace: ns-a}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: use-all}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: limited-cs0, namespace: ns-a}
subjects: [{kind: ServiceAccount, name: limited, namespace: ns-a}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: use-cs0}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: role-user-cs2, namespace: ns-a}
subjects: [{kind: ServiceAccount, name: role-user, namespace: ns-a}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: use-cs2}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: getter-get, namespace: ns-a}
subjects: [{kind: ServiceAccount, name: getter, namespace: ns-a}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: get-all}
---
# Grants ns-a/elsewhere, but in namespace ns-b: does not count for pods in ns-a.
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: elsewhere-use-all, namespace: ns-b}
subjects: [{kind: ServiceAccount, name: elsewhere, namespace: ns-a}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: use-all}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: crb-use-all}
subjects: [{kind: ServiceAccount, name: crb, namespace: ns-c}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: use-all}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ns-group, namespace: ns-g}
subjects: [{kind: Group, name: "system:serviceaccounts:ns-g", apiGroup: rbac.authorization.k8s.io}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: use-all}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: all-sa-group, namespace: ns-s}
subjects: [{kind: Group, name: "system:serviceaccounts", apiGroup: rbac.authorization.k8s.io}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: use-all}
---
# system:authenticated is not among the review's groups (§4.1): this grants nothing.
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: authenticated, namespace: ns-auth}
subjects: [{kind: Group, name: "system:authenticated", apiGroup: rbac.authorization.k8s.io}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: use-all}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: user-form, namespace: ns-u}
subjects: [{kind: User, name: "system:serviceaccount:ns-u:svc", apiGroup: rbac.authorization.k8s.io}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: use-all}
"#;

const SERVICE_ACCOUNTS: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: allowed, namespace: ns-a}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: limited, namespace: ns-a}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: nobody, namespace: ns-a}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: elsewhere, namespace: ns-a}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: role-user, namespace: ns-a}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: getter, namespace: ns-a}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: crb, namespace: ns-c}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: anyone, namespace: ns-g}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: anyone, namespace: ns-s}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: anyone, namespace: ns-auth}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: svc, namespace: ns-u}
"#;

// ---------------------------------------------------------------------------------------
// Server and client.

struct Server {
    port: u16,
    connector: tokio_rustls::TlsConnector,
    log: PathBuf,
    // Kept open for the life of the test process; closing it stops the server.
    _stdin: Mutex<ChildStdin>,
    _shell: Mutex<Child>,
}

static PLAIN: OnceLock<Server> = OnceLock::new();
static RANDOM: OnceLock<Server> = OnceLock::new();

fn plain() -> &'static Server {
    PLAIN.get_or_init(|| start(false))
}

fn random() -> &'static Server {
    RANDOM.get_or_init(|| start(true))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn unique_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "winkube-acceptance-{tag}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_state(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("credspecs.yaml"), CREDSPECS).unwrap();
    std::fs::write(dir.join("rbac.yaml"), RBAC).unwrap();
    std::fs::write(dir.join("service-accounts.yaml"), SERVICE_ACCOUNTS).unwrap();
}

fn start(random_hostname: bool) -> Server {
    let root = unique_dir(if random_hostname { "random" } else { "plain" });
    let state = root.join("state");
    write_state(&state);

    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let crt = root.join("tls.crt");
    let key = root.join("tls.key");
    std::fs::write(&crt, cert.pem()).unwrap();
    std::fs::write(&key, signing_key.serialize_pem()).unwrap();

    let port = free_port();
    let log = root.join("server.log");
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        // Stops the server (by its pid) and cleans up once our end of the pipe closes.
        r#""$0" webhook --state "$1" >"$2" 2>&1 & pid=$!
read -r _ignored || true
kill "$pid" 2>/dev/null
wait "$pid"
rm -rf "$3""#,
        BIN,
        state.to_str().unwrap(),
        log.to_str().unwrap(),
        root.to_str().unwrap(),
    ]);
    for var in [
        "RANDOM_HOSTNAME",
        "QPS",
        "BURST",
        "LOG_LEVEL",
        "RUST_LOG",
        "KUBECONFIG",
        "KUBERNETES_SERVICE_HOST",
        "KUBERNETES_SERVICE_PORT",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("TLS_CRT", &crt)
        .env("TLS_KEY", &key)
        .env("HTTPS_PORT", port.to_string());
    if random_hostname {
        cmd.env("RANDOM_HOSTNAME", "true");
    }
    let mut shell = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = shell.stdin.take().unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.der().to_vec()))
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let server = Server {
        port,
        connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        log,
        _stdin: Mutex::new(stdin),
        _shell: Mutex::new(shell),
    };

    // Bounded wait for /health 204 (the machine may be slow).
    let mut last = None;
    for _ in 0..1200 {
        match server.try_send("GET", "/health", None, Vec::new()) {
            Ok(r) if r.status == 204 => return server,
            Ok(r) => last = Some(r.status),
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "/health never answered 204 (last {last:?})\n{}",
        std::fs::read_to_string(&server.log).unwrap_or_default()
    );
}

struct Raw {
    status: u16,
    content_type: Option<String>,
    body: Bytes,
}

impl Server {
    fn try_send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> std::io::Result<Raw> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
            let tls = self
                .connector
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(std::io::Error::other)?;
            tokio::spawn(conn);
            let mut req = http::Request::builder()
                .method(http::Method::from_bytes(method.as_bytes()).unwrap())
                .uri(path)
                .header("host", "localhost");
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            let resp = sender
                .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
                .await
                .map_err(std::io::Error::other)?;
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap_or_default().to_owned());
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(std::io::Error::other)?
                .to_bytes();
            Ok(Raw {
                status,
                content_type,
                body,
            })
        })
    }

    fn send(&self, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Raw {
        self.try_send(method, path, content_type, body.to_vec())
            .unwrap_or_else(|e| {
                panic!(
                    "{method} {path}: {e}\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                )
            })
    }

    /// POSTs raw bytes as `application/json` and decodes the AdmissionReview answer.
    fn post_raw(&self, path: &str, body: &[u8]) -> Outcome {
        let raw = self.send("POST", path, Some("application/json"), body);
        assert_eq!(raw.status, 200, "HTTP status for POST {path}");
        assert_eq!(
            raw.content_type.as_deref(),
            Some("application/json"),
            "content type of a review answer"
        );
        let review: Value = serde_json::from_slice(&raw.body).unwrap_or_else(|e| {
            panic!(
                "answer is not JSON ({e}): {}",
                String::from_utf8_lossy(&raw.body)
            )
        });
        assert_eq!(review["apiVersion"], "admission.k8s.io/v1", "{review}");
        assert_eq!(review["kind"], "AdmissionReview", "{review}");
        Outcome::new(review)
    }

    fn post(&self, path: &str, review: &Value) -> Outcome {
        self.post_raw(path, &serde_json::to_vec(review).unwrap())
    }
}

/// A decoded AdmissionReview answer.
struct Outcome {
    review: Value,
}

impl Outcome {
    fn new(review: Value) -> Self {
        assert!(
            review["response"].is_object(),
            "no response object: {review}"
        );
        Self { review }
    }

    fn resp(&self) -> &Value {
        &self.review["response"]
    }

    fn uid(&self, want: &str) -> &Self {
        assert_eq!(self.resp()["uid"], want, "uid echo: {}", self.review);
        self
    }

    fn raw_patch(&self) -> Option<Vec<u8>> {
        self.resp()["patch"].as_str().map(|p| {
            base64::engine::general_purpose::STANDARD
                .decode(p)
                .unwrap_or_else(|e| panic!("patch is not base64 ({e}): {}", self.review))
        })
    }

    fn ops(&self) -> Vec<Value> {
        let patch = self
            .raw_patch()
            .unwrap_or_else(|| panic!("no patch: {}", self.review));
        assert_eq!(
            self.resp()["patchType"],
            "JSONPatch",
            "patchType: {}",
            self.review
        );
        serde_json::from_slice(&patch).unwrap_or_else(|e| {
            panic!(
                "patch is not JSON ({e}): {}",
                String::from_utf8_lossy(&patch)
            )
        })
    }

    /// Allowed, and no patch at all (`{"uid":U,"allowed":true}`, §2.2 M7).
    fn allowed_without_patch(&self) {
        assert_eq!(self.resp()["allowed"], true, "allowed: {}", self.review);
        assert!(
            self.resp().get("patch").is_none_or(Value::is_null),
            "unexpected patch: {} = {:?}",
            self.review,
            self.raw_patch()
                .map(|p| String::from_utf8_lossy(&p).into_owned())
        );
        assert!(
            self.resp().get("patchType").is_none_or(Value::is_null),
            "unexpected patchType: {}",
            self.review
        );
        assert!(
            self.resp().get("status").is_none_or(Value::is_null),
            "status on an allowed answer: {}",
            self.review
        );
    }

    /// Allowed with exactly these ops, in this order.
    fn allowed_with_ops(&self, want: &[Value]) -> Vec<Value> {
        assert_eq!(self.resp()["allowed"], true, "allowed: {}", self.review);
        let ops = self.ops();
        assert_eq!(ops, want, "patch ops");
        ops
    }

    fn denied(&self, code: u16) -> &str {
        assert_eq!(self.resp()["allowed"], false, "allowed: {}", self.review);
        assert_eq!(
            self.resp()["status"]["code"],
            code,
            "status.code: {}",
            self.review
        );
        assert!(
            self.resp().get("patch").is_none_or(Value::is_null),
            "patch on a denial: {}",
            self.review
        );
        self.resp()["status"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no status.message: {}", self.review))
    }

    fn denied_exact(&self, code: u16, message: &str) {
        assert_eq!(self.denied(code), message, "status.message");
    }

    fn denied_prefix(&self, code: u16, prefix: &str) {
        let msg = self.denied(code);
        assert!(
            msg.starts_with(prefix),
            "status.message {msg:?} does not start with {prefix:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Request builders.

/// windowsOptions with the two gMSA fields (absent when None).
fn wo(name: Option<&str>, contents: Option<&str>) -> Value {
    let mut o = serde_json::Map::new();
    if let Some(n) = name {
        o.insert("gmsaCredentialSpecName".into(), json!(n));
    }
    if let Some(c) = contents {
        o.insert("gmsaCredentialSpec".into(), json!(c));
    }
    Value::Object(o)
}

/// A pod named `name` with service account `sa`, optional pod-level windowsOptions and
/// containers `(name, windowsOptions)`.
fn pod(name: &str, sa: &str, pod_wo: Option<Value>, containers: &[(&str, Option<Value>)]) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|(n, w)| {
            let mut c =
                json!({"name": n, "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"});
            if let Some(w) = w {
                c["securityContext"] = json!({"windowsOptions": w});
            }
            c
        })
        .collect();
    let mut p = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "ns-a"},
        "spec": {"serviceAccountName": sa, "containers": containers},
    });
    if let Some(w) = pod_wo {
        p["spec"]["securityContext"] = json!({"windowsOptions": w});
    }
    p
}

fn review_in(uid: &str, ns: &str, op: &str, object: Option<Value>, old: Option<Value>) -> Value {
    let mut request = json!({
        "uid": uid,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
        "requestResource": {"group": "", "version": "v1", "resource": "pods"},
        "name": "",
        "namespace": ns,
        "operation": op,
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
        "dryRun": false,
    });
    if let Some(o) = object {
        request["object"] = o;
    }
    if let Some(o) = old {
        request["oldObject"] = o;
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
}

fn create(uid: &str, pod: Value) -> Value {
    review_in(uid, "ns-a", "CREATE", Some(pod), None)
}

fn update(uid: &str, new: Value, old: Value) -> Value {
    review_in(uid, "ns-a", "UPDATE", Some(new), Some(old))
}

fn add_op(path: &str, value: &str) -> Value {
    json!({"op": "add", "path": path, "value": value})
}

const POD_PATH: &str = "/spec/securityContext/windowsOptions/gmsaCredentialSpec";

fn container_path(i: usize) -> String {
    format!("/spec/containers/{i}/securityContext/windowsOptions/gmsaCredentialSpec")
}

/// `^[0-9a-f]{8}-[0-9a-f]{4}-4$` (§2.2 M5).
fn is_random_hostname(h: &str) -> bool {
    let b = h.as_bytes();
    let hex = |c: &u8| c.is_ascii_digit() || (b'a'..=b'f').contains(c);
    b.len() == 15
        && b[..8].iter().all(hex)
        && b[8] == b'-'
        && b[9..13].iter().all(hex)
        && b[13] == b'-'
        && b[14] == b'4'
}

fn not_authorized(sa: &str, cs: &str) -> String {
    format!("service account \"{sa}\" is not authorized to `use` GMSA cred spec \"{cs}\"")
}

// =======================================================================================
// §3.1 routing

#[test]
fn routing_unknown_path_is_404_with_empty_body() {
    for path in [
        "/nope",
        "/",
        "/mutate/",
        "/validate/",
        "/Mutate",
        "/health/x",
    ] {
        let r = plain().send("POST", path, Some("application/json"), b"{}");
        assert_eq!(r.status, 404, "POST {path}");
        assert!(r.body.is_empty(), "404 body for {path}: {:?}", r.body);
    }
}

#[test]
fn routing_wrong_method_is_405_with_empty_body() {
    for path in ["/mutate", "/validate"] {
        for method in ["GET", "PUT", "DELETE", "PATCH"] {
            let r = plain().send(method, path, Some("application/json"), b"{}");
            assert_eq!(r.status, 405, "{method} {path}");
            assert!(r.body.is_empty(), "405 body for {method} {path}");
        }
    }
}

#[test]
fn routing_method_is_checked_before_content_type() {
    let r = plain().send("GET", "/mutate", Some("text/plain"), b"");
    assert_eq!(r.status, 405);
}

#[test]
fn routing_path_is_checked_before_method() {
    let r = plain().send("GET", "/mutate/", Some("text/plain"), b"");
    assert_eq!(r.status, 404);
}

#[test]
fn routing_content_type_must_be_exactly_application_json() {
    for path in ["/mutate", "/validate"] {
        for ct in [
            Some("application/json; charset=utf-8"),
            Some("text/plain"),
            Some("application/yaml"),
            None,
        ] {
            let r = plain().send("POST", path, ct, b"{}");
            assert_eq!(r.status, 415, "POST {path} with content type {ct:?}");
            assert!(r.body.is_empty(), "415 body for {ct:?}");
        }
    }
}

#[test]
fn routing_health_is_204_without_body_or_content_type() {
    for method in ["GET", "POST"] {
        let r = plain().send(method, "/health", None, b"");
        assert_eq!(r.status, 204, "{method} /health");
        assert!(r.body.is_empty());
        assert_eq!(r.content_type, None, "/health content type");
    }
}

#[test]
fn routing_info_is_json_with_the_version() {
    let r = plain().send("GET", "/info", None, b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    let version = v["version"].as_str().unwrap_or_else(|| panic!("{v}"));
    assert!(
        version.contains(env!("CARGO_PKG_VERSION")),
        "/info version {version:?}"
    );
}

#[test]
fn routing_query_string_is_ignored() {
    let p = pod(
        "p",
        "allowed",
        Some(wo(Some("cs-0"), None)),
        &[("c0", None)],
    );
    let body = serde_json::to_vec(&create("u-q", p)).unwrap();
    let raw = plain().send(
        "POST",
        "/mutate?timeout=10s",
        Some("application/json"),
        &body,
    );
    assert_eq!(raw.status, 200);
    let out = Outcome::new(serde_json::from_slice(&raw.body).unwrap());
    out.uid("u-q").allowed_with_ops(&[add_op(POD_PATH, CS0)]);
    let raw = plain().send(
        "POST",
        "/validate?timeout=10s",
        Some("application/json"),
        &body,
    );
    assert_eq!(raw.status, 200);
    Outcome::new(serde_json::from_slice(&raw.body).unwrap())
        .uid("u-q")
        .allowed_without_patch();
}

#[test]
fn routing_method_is_compared_case_insensitively() {
    // The reference upper-cases the method before comparing (§3.1).
    let p = pod("p", "allowed", None, &[("c0", None)]);
    let body = serde_json::to_vec(&create("u-lc", p)).unwrap();
    let raw = plain().send("post", "/validate", Some("application/json"), &body);
    assert_eq!(raw.status, 200, "lower-case `post`");
}

// =======================================================================================
// §2.0 P1–P7

const P2: &str = "unable to unmarshall JSON body as an admission review: ";

#[test]
fn p2_empty_body() {
    for path in ["/mutate", "/validate"] {
        plain().post_raw(path, b"").uid("").denied_exact(
            400,
            "unable to unmarshall JSON body as an admission review: unexpected end of JSON input",
        );
    }
}

#[test]
fn p2_not_json() {
    plain()
        .post_raw("/mutate", b"not json")
        .uid("")
        .denied_prefix(400, P2);
    plain()
        .post_raw("/validate", b"not json")
        .uid("")
        .denied_prefix(400, P2);
}

#[test]
fn p2_trailing_garbage() {
    let p = pod("p", "allowed", None, &[("c0", None)]);
    let mut body = serde_json::to_vec(&create("u-tg", p)).unwrap();
    body.extend_from_slice(b" trailing");
    plain()
        .post_raw("/mutate", &body)
        .uid("")
        .denied_prefix(400, P2);
    plain()
        .post_raw("/validate", &body)
        .uid("")
        .denied_prefix(400, P2);
}

#[test]
fn p2_review_that_is_not_an_object() {
    plain()
        .post_raw("/validate", b"[]")
        .uid("")
        .denied_prefix(400, P2);
}

#[test]
fn p3_request_null_or_missing() {
    let bodies: [&[u8]; 3] = [
        br#"{"request":null}"#,
        br#"{}"#,
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
    ];
    for body in bodies {
        for path in ["/mutate", "/validate"] {
            plain()
                .post_raw(path, body)
                .uid("")
                .denied_exact(400, "no 'Request' field in JSON body");
        }
    }
}

#[test]
fn p4_kind_lower_case_pod() {
    let mut r = create("u-p4a", pod("p", "allowed", None, &[("c0", None)]));
    r["request"]["kind"]["kind"] = json!("pod");
    for path in ["/mutate", "/validate"] {
        plain()
            .post(path, &r)
            .uid("u-p4a")
            .denied_exact(400, "expected a Pod object, got a pod");
    }
}

#[test]
fn p4_kind_deployment() {
    let mut r = create("u-p4b", pod("p", "allowed", None, &[("c0", None)]));
    r["request"]["kind"] = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
    for path in ["/mutate", "/validate"] {
        plain()
            .post(path, &r)
            .uid("u-p4b")
            .denied_exact(400, "expected a Pod object, got a Deployment");
    }
}

#[test]
fn p4_group_and_version_are_not_checked() {
    let mut r = create(
        "u-p4c",
        pod("p", "allowed", Some(wo(Some("cs-0"), None)), &[]),
    );
    r["request"]["kind"] = json!({"group": "whatever", "version": "v9", "kind": "Pod"});
    plain()
        .post("/mutate", &r)
        .uid("u-p4c")
        .allowed_with_ops(&[add_op(POD_PATH, CS0)]);
}

#[test]
fn p5_object_missing() {
    let r = review_in("u-p5a", "ns-a", "CREATE", None, None);
    for path in ["/mutate", "/validate"] {
        plain().post(path, &r).uid("u-p5a").denied_exact(
            400,
            "unable to unmarshall pod JSON object: unexpected end of JSON input",
        );
    }
}

#[test]
fn p5_containers_is_a_string() {
    let mut p = pod("p", "allowed", None, &[]);
    p["spec"]["containers"] = json!("nginx");
    let r = create("u-p5b", p);
    for path in ["/mutate", "/validate"] {
        plain()
            .post(path, &r)
            .uid("u-p5b")
            .denied_prefix(400, "unable to unmarshall pod JSON object: ");
    }
}

#[test]
fn p5_object_is_a_string() {
    let r = create("u-p5c", json!("a pod"));
    plain()
        .post("/validate", &r)
        .uid("u-p5c")
        .denied_prefix(400, "unable to unmarshall pod JSON object: ");
}

#[test]
fn p5_gmsa_name_of_wrong_type() {
    let p = pod(
        "p",
        "allowed",
        Some(json!({"gmsaCredentialSpecName": 5})),
        &[],
    );
    plain()
        .post("/mutate", &create("u-p5d", p))
        .uid("u-p5d")
        .denied_prefix(400, "unable to unmarshall pod JSON object: ");
}

#[test]
fn p6_unexpected_operations() {
    for op in ["DELETE", "CONNECT", "create", "update", ""] {
        let r = review_in(
            "u-p6",
            "ns-a",
            op,
            Some(pod("p", "allowed", None, &[("c0", None)])),
            Some(pod("p", "allowed", None, &[("c0", None)])),
        );
        for path in ["/mutate", "/validate"] {
            plain()
                .post(path, &r)
                .uid("u-p6")
                .denied_exact(400, &format!("unpexpected operation {op}"));
        }
    }
}

#[test]
fn p5_is_checked_before_p6() {
    // A DELETE carries only oldObject: the object decode error comes first.
    let r = review_in(
        "u-p56",
        "ns-a",
        "DELETE",
        None,
        Some(pod("p", "allowed", None, &[])),
    );
    plain().post("/validate", &r).uid("u-p56").denied_exact(
        400,
        "unable to unmarshall pod JSON object: unexpected end of JSON input",
    );
}

#[test]
fn p7_update_on_validate_without_old_object() {
    let r = review_in(
        "u-p7",
        "ns-a",
        "UPDATE",
        Some(pod("p", "allowed", None, &[("c0", None)])),
        None,
    );
    plain().post("/validate", &r).uid("u-p7").denied_exact(
        400,
        "unable to unmarshall pod JSON object: unexpected end of JSON input",
    );
}

#[test]
fn p7_update_on_mutate_does_not_parse_old_object() {
    let r = review_in(
        "u-p7m",
        "ns-a",
        "UPDATE",
        Some(pod("p", "allowed", Some(wo(Some("cs-0"), None)), &[])),
        None,
    );
    plain()
        .post("/mutate", &r)
        .uid("u-p7m")
        .allowed_without_patch();
}

#[test]
fn v1beta1_review_is_answered_as_v1() {
    let mut r = create(
        "u-beta",
        pod("p", "allowed", Some(wo(Some("cs-0"), None)), &[]),
    );
    r["apiVersion"] = json!("admission.k8s.io/v1beta1");
    // post() asserts apiVersion admission.k8s.io/v1 on the answer.
    plain()
        .post("/mutate", &r)
        .uid("u-beta")
        .allowed_with_ops(&[add_op(POD_PATH, CS0)]);
    plain()
        .post("/validate", &r)
        .uid("u-beta")
        .allowed_without_patch();
}

#[test]
fn review_keys_are_matched_case_insensitively() {
    let p = pod("p", "allowed", Some(wo(Some("cs-0"), None)), &[]);
    let r = json!({"Request": {
        "UID": "u-case",
        "Kind": {"Kind": "Pod"},
        "Namespace": "ns-a",
        "Operation": "CREATE",
        "Object": p,
    }});
    plain()
        .post("/mutate", &r)
        .uid("u-case")
        .allowed_with_ops(&[add_op(POD_PATH, CS0)]);
    plain()
        .post("/validate", &r)
        .uid("u-case")
        .allowed_without_patch();
}

#[test]
fn pod_without_any_windows_options_is_allowed_everywhere() {
    let p = pod("p", "nobody", None, &[("c0", None), ("c1", None)]);
    plain()
        .post("/mutate", &create("u-none", p.clone()))
        .uid("u-none")
        .allowed_without_patch();
    plain()
        .post("/validate", &create("u-none", p))
        .uid("u-none")
        .allowed_without_patch();
}

#[test]
fn windows_options_without_gmsa_fields_is_a_no_op() {
    let w = json!({"runAsUserName": "ContainerUser", "hostProcess": false});
    let p = pod("p", "nobody", Some(json!({})), &[("c0", Some(w))]);
    plain()
        .post("/mutate", &create("u-r04", p.clone()))
        .allowed_without_patch();
    plain()
        .post("/validate", &create("u-r04", p))
        .allowed_without_patch();
}

// =======================================================================================
// §2.2 mutate CREATE

#[test]
fn mutate_pod_level() {
    let p = pod(
        "p",
        "allowed",
        Some(wo(Some("cs-0"), None)),
        &[("c0", None)],
    );
    plain()
        .post("/mutate", &create("u-m1", p))
        .uid("u-m1")
        .allowed_with_ops(&[add_op(POD_PATH, CS0)]);
}

#[test]
fn mutate_container_level() {
    let p = pod(
        "p",
        "allowed",
        None,
        &[("a", None), ("b", Some(wo(Some("cs-2"), None)))],
    );
    plain()
        .post("/mutate", &create("u-m2", p))
        .uid("u-m2")
        .allowed_with_ops(&[add_op(&container_path(1), CS2)]);
}

fn several_containers() -> Value {
    // The reference's integration template several-containers-with-gmsa.
    pod(
        "several",
        "allowed",
        Some(wo(Some("cs-1"), None)),
        &[
            ("nginx0", Some(wo(Some("cs-0"), None))),
            ("nginx1", None),
            ("nginx2", Some(wo(Some("cs-2"), None))),
        ],
    )
}

#[test]
fn mutate_several_containers_in_order() {
    plain()
        .post("/mutate", &create("u-m3", several_containers()))
        .uid("u-m3")
        .allowed_with_ops(&[
            add_op(POD_PATH, CS1),
            add_op(&container_path(0), CS0),
            add_op(&container_path(2), CS2),
        ]);
}

#[test]
fn mutate_patch_bytes_are_the_references() {
    // Go marshals each op as map[string]string: keys op, path, value; the value (JSON
    // text) escaped once more. Byte-identical, not only equivalent.
    let out = plain().post("/mutate", &create("u-m3b", several_containers()));
    let want = serde_json::to_vec(&json!([
        add_op(POD_PATH, CS1),
        add_op(&container_path(0), CS0),
        add_op(&container_path(2), CS2),
    ]))
    .unwrap();
    let got = out.raw_patch().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
}

#[test]
fn mutate_host_account_config_keeps_escaped_password() {
    let p = pod("p", "allowed", Some(wo(Some("cs-hac"), None)), &[]);
    let ops = plain()
        .post("/mutate", &create("u-m4", p))
        .uid("u-m4")
        .allowed_with_ops(&[add_op(POD_PATH, CS_HAC)]);
    let value = ops[0]["value"].as_str().unwrap();
    assert!(value.contains(r"contoso.com:gmsaccg:\u003cpassword\u003e"));
    assert!(!value.contains('<'));
}

#[test]
fn mutate_go_string_escaping_and_key_order() {
    let p = pod("p", "allowed", Some(wo(Some("cs-esc"), None)), &[]);
    plain()
        .post("/mutate", &create("u-m4e", p))
        .uid("u-m4e")
        .allowed_with_ops(&[add_op(POD_PATH, CS_ESC)]);
}

#[test]
fn mutate_preset_contents_are_never_overwritten() {
    for contents in [CS1, "{\"pre-set GMSA\": \"cred contents\"}", "nope", ""] {
        let p = pod(
            "p",
            "allowed",
            Some(wo(Some("cs-0"), Some(contents))),
            &[("c0", Some(wo(Some("cs-2"), Some(contents))))],
        );
        plain()
            .post("/mutate", &create("u-m5", p))
            .uid("u-m5")
            .allowed_without_patch();
    }
}

#[test]
fn mutate_preset_contents_for_an_unknown_credspec_make_no_lookup() {
    let p = pod("p", "allowed", Some(wo(Some("missing"), Some("{}"))), &[]);
    plain()
        .post("/mutate", &create("u-m5b", p))
        .uid("u-m5b")
        .allowed_without_patch();
}

#[test]
fn mutate_only_the_options_without_contents_are_patched() {
    let p = pod(
        "p",
        "allowed",
        Some(wo(Some("cs-0"), Some("{\"x\":1}"))),
        &[("c0", Some(wo(Some("cs-1"), None)))],
    );
    plain()
        .post("/mutate", &create("u-m5c", p))
        .allowed_with_ops(&[add_op(&container_path(0), CS1)]);
}

#[test]
fn mutate_contents_without_name_are_left_for_validate() {
    let p = pod("p", "nobody", None, &[("c0", Some(wo(None, Some(CS0))))]);
    plain()
        .post("/mutate", &create("u-m6", p))
        .uid("u-m6")
        .allowed_without_patch();
}

#[test]
fn mutate_unknown_credspec_is_404() {
    let p = pod(
        "p",
        "allowed",
        Some(wo(Some("i-sure-dont-exist"), None)),
        &[],
    );
    plain()
        .post("/mutate", &create("u-m7", p))
        .uid("u-m7")
        .denied_exact(404, "cred spec i-sure-dont-exist does not exist");
}

#[test]
fn mutate_stops_at_the_first_error() {
    // Pod level fine, container 0 unknown, container 1 without key: only the first error.
    let p = pod(
        "p",
        "allowed",
        Some(wo(Some("cs-0"), None)),
        &[
            ("c0", Some(wo(Some("missing"), None))),
            ("c1", Some(wo(Some("nokey"), None))),
        ],
    );
    plain()
        .post("/mutate", &create("u-m7b", p))
        .uid("u-m7b")
        .denied_exact(404, "cred spec missing does not exist");
}

#[test]
fn mutate_credspec_without_credspec_key_is_417() {
    let p = pod(
        "p",
        "allowed",
        None,
        &[("c0", Some(wo(Some("nokey"), None)))],
    );
    plain()
        .post("/mutate", &create("u-m8", p))
        .uid("u-m8")
        .denied_exact(417, "cred spec nokey does not have a credspec key");
}

#[test]
fn mutate_empty_name_is_500() {
    let p = pod("p", "allowed", Some(wo(Some(""), None)), &[]);
    plain()
        .post("/mutate", &create("u-m9", p))
        .uid("u-m9")
        .denied_exact(
            500,
            "unable to retrieve the contents of cred spec : name is required",
        );
}

#[test]
fn mutate_update_is_allowed_without_patch() {
    let new = pod(
        "p",
        "nobody",
        Some(wo(Some("missing"), None)),
        &[("c0", Some(wo(Some("cs-0"), None)))],
    );
    let old = pod("p", "nobody", None, &[("c0", None)]);
    plain()
        .post("/mutate", &update("u-m10", new, old))
        .uid("u-m10")
        .allowed_without_patch();
}

#[test]
fn mutate_never_checks_authorization() {
    let p = pod("p", "nobody", Some(wo(Some("cs-0"), None)), &[]);
    plain()
        .post("/mutate", &create("u-m11", p))
        .uid("u-m11")
        .allowed_with_ops(&[add_op(POD_PATH, CS0)]);
}

#[test]
fn mutate_same_credspec_twice_gives_two_ops() {
    let p = pod(
        "p",
        "allowed",
        Some(wo(Some("cs-0"), None)),
        &[("c0", Some(wo(Some("cs-0"), None)))],
    );
    plain()
        .post("/mutate", &create("u-m12", p))
        .allowed_with_ops(&[add_op(POD_PATH, CS0), add_op(&container_path(0), CS0)]);
}

#[test]
fn mutate_generate_name_pod() {
    let mut p = pod("p", "allowed", Some(wo(Some("cs-1"), None)), &[]);
    p["metadata"] = json!({"generateName": "web-7d9f-", "namespace": "ns-a"});
    plain()
        .post("/mutate", &create("u-m13", p))
        .allowed_with_ops(&[add_op(POD_PATH, CS1)]);
}

#[test]
fn mutate_without_random_hostname_adds_no_hostname() {
    let ops = plain()
        .post("/mutate", &create("u-m14", several_containers()))
        .ops();
    assert!(
        ops.iter().all(|op| op["path"] != "/spec/hostname"),
        "{ops:?}"
    );
}

// --- RANDOM_HOSTNAME=true (a second server) ------------------------------------------

fn hostname_of(ops: &[Value]) -> String {
    let last = ops.last().unwrap();
    assert_eq!(last["op"], "add", "{last}");
    assert_eq!(last["path"], "/spec/hostname", "hostname op last: {ops:?}");
    let h = last["value"].as_str().unwrap().to_owned();
    assert!(is_random_hostname(&h), "hostname {h:?}");
    h
}

#[test]
fn random_hostname_is_the_last_op() {
    let out = random().post("/mutate", &create("u-h1", several_containers()));
    out.uid("u-h1");
    let ops = out.ops();
    assert_eq!(ops.len(), 4, "{ops:?}");
    assert_eq!(
        &ops[..3],
        &[
            add_op(POD_PATH, CS1),
            add_op(&container_path(0), CS0),
            add_op(&container_path(2), CS2),
        ]
    );
    hostname_of(&ops);
}

#[test]
fn random_hostname_differs_between_pods() {
    let p = pod("p", "allowed", Some(wo(Some("cs-0"), None)), &[]);
    let a = hostname_of(&random().post("/mutate", &create("u-h2", p.clone())).ops());
    let b = hostname_of(&random().post("/mutate", &create("u-h2", p)).ops());
    assert_ne!(a, b);
}

#[test]
fn random_hostname_not_added_when_hostname_set() {
    let mut p = pod("p", "allowed", Some(wo(Some("cs-0"), None)), &[]);
    p["spec"]["hostname"] = json!("hostnameset-no-hostname-randomization");
    random()
        .post("/mutate", &create("u-h3", p))
        .uid("u-h3")
        .allowed_with_ops(&[add_op(POD_PATH, CS0)]);
}

#[test]
fn random_hostname_added_when_hostname_is_empty_string() {
    let mut p = pod(
        "p",
        "allowed",
        None,
        &[("c0", Some(wo(Some("cs-0"), None)))],
    );
    p["spec"]["hostname"] = json!("");
    let ops = random().post("/mutate", &create("u-h3b", p)).ops();
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert_eq!(ops[0], add_op(&container_path(0), CS0));
    hostname_of(&ops);
}

#[test]
fn random_hostname_not_added_without_gmsa_name() {
    let p = pod(
        "p",
        "allowed",
        Some(json!({"runAsUserName": "u"})),
        &[("c0", None)],
    );
    random()
        .post("/mutate", &create("u-h4", p))
        .uid("u-h4")
        .allowed_without_patch();
    // Contents only: no name, no hostname.
    let p = pod("p", "allowed", Some(wo(None, Some(CS0))), &[]);
    random()
        .post("/mutate", &create("u-h4b", p))
        .allowed_without_patch();
}

#[test]
fn random_hostname_added_when_contents_are_preset() {
    // U14: name and contents preset everywhere: the only op is the hostname.
    let p = pod(
        "p",
        "allowed",
        Some(wo(Some("cs-0"), Some(CS0))),
        &[("c0", Some(wo(Some("cs-1"), Some(CS1))))],
    );
    let ops = random().post("/mutate", &create("u-h5", p)).ops();
    assert_eq!(ops.len(), 1, "{ops:?}");
    hostname_of(&ops);
}

#[test]
fn random_hostname_not_added_on_update() {
    let p = pod("p", "allowed", Some(wo(Some("cs-0"), None)), &[]);
    random()
        .post("/mutate", &update("u-h6", p.clone(), p))
        .allowed_without_patch();
}

#[test]
fn random_hostname_not_added_on_error() {
    let p = pod("p", "allowed", Some(wo(Some("missing"), None)), &[]);
    random()
        .post("/mutate", &create("u-h7", p))
        .denied_exact(404, "cred spec missing does not exist");
}

// =======================================================================================
// §2.4 validate CREATE

fn validate_create(uid: &str, p: Value) -> Outcome {
    plain().post("/validate", &create(uid, p))
}

#[test]
fn validate_authorized_service_account_is_allowed() {
    let p = pod("p", "allowed", Some(wo(Some("cs-0"), None)), &[]);
    validate_create("u-v1", p)
        .uid("u-v1")
        .allowed_without_patch();
    let p = pod(
        "p",
        "allowed",
        Some(wo(Some("cs-0"), Some(CS0))),
        &[("c0", Some(wo(Some("cs-hac"), Some(CS_HAC))))],
    );
    validate_create("u-v1b", p)
        .uid("u-v1b")
        .allowed_without_patch();
}

#[test]
fn validate_the_mutated_several_containers_pod_is_allowed() {
    let mut p = several_containers();
    for op in plain().post("/mutate", &create("u-v1c", p.clone())).ops() {
        let parts: Vec<&str> = op["path"].as_str().unwrap()[1..].split('/').collect();
        let mut target = &mut p;
        for part in &parts[..parts.len() - 1] {
            target = match part.parse::<usize>() {
                Ok(i) => &mut target[i],
                Err(_) => &mut target[*part],
            };
        }
        target[parts[parts.len() - 1]] = op["value"].clone();
    }
    validate_create("u-v1c", p)
        .uid("u-v1c")
        .allowed_without_patch();
}

#[test]
fn validate_unauthorized_service_account_is_403() {
    let p = pod("p", "nobody", None, &[("c0", Some(wo(Some("cs-0"), None)))]);
    validate_create("u-v2", p)
        .uid("u-v2")
        .denied_prefix(403, &not_authorized("nobody", "cs-0"));
}

#[test]
fn validate_unauthorized_message_is_exact_or_has_a_reason_suffix() {
    let p = pod("p", "nobody", Some(wo(Some("cs-0"), None)), &[]);
    let out = validate_create("u-v2b", p);
    let msg = out.denied(403);
    let base = not_authorized("nobody", "cs-0");
    let rest = msg.strip_prefix(&base).unwrap_or_else(|| panic!("{msg:?}"));
    assert!(
        rest.is_empty() || (rest.starts_with(", reason: \"") && rest.ends_with('"')),
        "suffix after the reference text must be empty or `, reason: \"...\"`: {rest:?}"
    );
}

#[test]
fn validate_rolebinding_in_another_namespace_does_not_authorize() {
    let p = pod("p", "elsewhere", Some(wo(Some("cs-0"), None)), &[]);
    validate_create("u-v3", p).denied_prefix(403, &not_authorized("elsewhere", "cs-0"));
}

#[test]
fn validate_resource_names_restrict() {
    let p = pod("p", "limited", Some(wo(Some("cs-0"), Some(CS0))), &[]);
    validate_create("u-v4a", p).allowed_without_patch();
    let p = pod(
        "p",
        "limited",
        Some(wo(Some("cs-0"), None)),
        &[("c0", Some(wo(Some("cs-1"), None)))],
    );
    validate_create("u-v4b", p).denied_prefix(403, &not_authorized("limited", "cs-1"));
}

#[test]
fn validate_namespaced_role_authorizes() {
    let p = pod(
        "p",
        "role-user",
        None,
        &[("c0", Some(wo(Some("cs-2"), None)))],
    );
    validate_create("u-v5a", p).allowed_without_patch();
    let p = pod(
        "p",
        "role-user",
        None,
        &[("c0", Some(wo(Some("cs-0"), None)))],
    );
    validate_create("u-v5b", p).denied_prefix(403, &not_authorized("role-user", "cs-0"));
}

#[test]
fn validate_other_verbs_do_not_authorize() {
    let p = pod("p", "getter", Some(wo(Some("cs-0"), None)), &[]);
    validate_create("u-v6", p).denied_prefix(403, &not_authorized("getter", "cs-0"));
}

#[test]
fn validate_cluster_role_binding_authorizes() {
    let p = pod("p", "crb", Some(wo(Some("cs-1"), None)), &[]);
    plain()
        .post(
            "/validate",
            &review_in("u-v7", "ns-c", "CREATE", Some(p), None),
        )
        .uid("u-v7")
        .allowed_without_patch();
}

#[test]
fn validate_service_account_groups_authorize() {
    for ns in ["ns-g", "ns-s"] {
        let p = pod("p", "anyone", Some(wo(Some("cs-1"), None)), &[]);
        plain()
            .post("/validate", &review_in("u-v8", ns, "CREATE", Some(p), None))
            .allowed_without_patch();
    }
}

#[test]
fn validate_system_authenticated_does_not_authorize() {
    let p = pod("p", "anyone", Some(wo(Some("cs-1"), None)), &[]);
    plain()
        .post(
            "/validate",
            &review_in("u-v9", "ns-auth", "CREATE", Some(p), None),
        )
        .denied_prefix(403, &not_authorized("anyone", "cs-1"));
}

#[test]
fn validate_user_subject_with_service_account_name_authorizes() {
    let p = pod("p", "svc", Some(wo(Some("cs-1"), None)), &[]);
    plain()
        .post(
            "/validate",
            &review_in("u-v10", "ns-u", "CREATE", Some(p), None),
        )
        .allowed_without_patch();
}

#[test]
fn validate_bound_service_account_without_object_is_authorized() {
    // A LocalSubjectAccessReview does not look the ServiceAccount up.
    let p = pod("p", "ghost", Some(wo(Some("cs-0"), None)), &[]);
    validate_create("u-v11", p).allowed_without_patch();
}

#[test]
fn validate_empty_service_account_name_is_denied_with_empty_quotes() {
    let p = pod("p", "", Some(wo(Some("cs-0"), None)), &[]);
    validate_create("u-v12", p).denied_prefix(403, &not_authorized("", "cs-0"));
}

#[test]
fn validate_uses_request_namespace_not_pod_namespace() {
    // Pod says ns-c (where crb would be allowed), the request says ns-a.
    let mut p = pod("p", "crb", Some(wo(Some("cs-0"), None)), &[]);
    p["metadata"]["namespace"] = json!("ns-c");
    let out = plain().post(
        "/validate",
        &review_in("u-v13", "ns-a", "CREATE", Some(p), None),
    );
    // ClusterRoleBinding to ns-c/crb: in ns-a the user is system:serviceaccount:ns-a:crb.
    out.denied_prefix(403, &not_authorized("crb", "cs-0"));
}

#[test]
fn validate_matching_contents_with_reordered_keys_and_whitespace() {
    let p = pod(
        "p",
        "allowed",
        Some(wo(Some("cs-0"), Some(CS0_REORDERED))),
        &[],
    );
    validate_create("u-v14", p)
        .uid("u-v14")
        .allowed_without_patch();
}

#[test]
fn validate_matching_contents_with_decoded_escapes() {
    let raw = CS_HAC.replace(r"\u003c", "<").replace(r"\u003e", ">");
    let p = pod(
        "p",
        "allowed",
        None,
        &[("c0", Some(wo(Some("cs-hac"), Some(&raw))))],
    );
    validate_create("u-v15", p).allowed_without_patch();
    let raw = CS_ESC.replace(r"\u003c", "<").replace("é", r"\u00e9");
    let p = pod("p", "allowed", Some(wo(Some("cs-esc"), Some(&raw))), &[]);
    validate_create("u-v15b", p).allowed_without_patch();
}

#[test]
fn validate_array_order_matters() {
    let swapped = CS0.replace(
        r#"[{"Name":"WebApplication0","Scope":"CONTOSO"},{"Name":"WebApplication0","Scope":"contoso.com"}]"#,
        r#"[{"Name":"WebApplication0","Scope":"contoso.com"},{"Name":"WebApplication0","Scope":"CONTOSO"}]"#,
    );
    assert_ne!(swapped, CS0);
    let p = pod("p", "allowed", Some(wo(Some("cs-0"), Some(&swapped))), &[]);
    validate_create("u-v16", p).denied_prefix(
        422,
        "the GMSA cred spec contents for pod \"p\" does not match the contents of GMSA resource \"cs-0\"",
    );
}

#[test]
fn mutate_numbers_are_go_formatted() {
    // A credspec from the state directory may carry numbers (a real API server would prune
    // them with the shipped schema, §2.6): integers as decimal, floats Go-style.
    let p = pod("p", "allowed", Some(wo(Some("cs-num"), None)), &[]);
    plain()
        .post("/mutate", &create("u-num", p))
        .allowed_with_ops(&[add_op(POD_PATH, CS_NUM)]);
}

#[test]
fn validate_numbers_compare_as_float64() {
    // §2.5: `[1,2.0]` matches `[1,2]`; order and type still matter.
    for contents in [
        r#"{"CmsPlugins":["ActiveDirectory"],"Extra":[1,2.0],"Half":1.5}"#,
        r#"{"Half":15e-1,"Extra":[1e0,2],"CmsPlugins":["ActiveDirectory"]}"#,
    ] {
        let p = pod(
            "p",
            "allowed",
            Some(wo(Some("cs-num"), Some(contents))),
            &[],
        );
        validate_create("u-v17", p).allowed_without_patch();
    }
    for contents in [
        r#"{"CmsPlugins":["ActiveDirectory"],"Extra":[2,1],"Half":1.5}"#,
        r#"{"CmsPlugins":["ActiveDirectory"],"Extra":["1",2],"Half":1.5}"#,
    ] {
        let p = pod(
            "p",
            "allowed",
            Some(wo(Some("cs-num"), Some(contents))),
            &[],
        );
        validate_create("u-v17b", p).denied_exact(
            422,
            "the GMSA cred spec contents for pod \"p\" does not match the contents of GMSA resource \"cs-num\"",
        );
    }
}

#[test]
fn validate_mismatching_contents_is_422() {
    let p = pod("p", "allowed", Some(wo(Some("cs-0"), Some(CS1))), &[]);
    let out = validate_create("u-v18", p);
    out.uid("u-v18");
    out.denied_exact(
        422,
        "the GMSA cred spec contents for pod \"p\" does not match the contents of GMSA resource \"cs-0\"",
    );
    let p = pod(
        "p",
        "allowed",
        None,
        &[("c0", Some(wo(Some("cs-2"), Some(CS0))))],
    );
    validate_create("u-v18b", p).denied_exact(
        422,
        "the GMSA cred spec contents for container \"c0\" does not match the contents of GMSA resource \"cs-2\"",
    );
}

#[test]
fn validate_type_mismatch_does_not_match() {
    // "1" != 1 (types must match).
    let p = pod(
        "p",
        "allowed",
        Some(wo(Some("cs-0"), Some(r#"{"CmsPlugins":1}"#))),
        &[],
    );
    validate_create("u-v18c", p).denied_exact(
        422,
        "the GMSA cred spec contents for pod \"p\" does not match the contents of GMSA resource \"cs-0\"",
    );
}

#[test]
fn validate_unparsable_contents_have_the_parse_suffix() {
    let p = pod(
        "p",
        "allowed",
        None,
        &[("c0", Some(wo(Some("cs-0"), Some("nope"))))],
    );
    validate_create("u-v19", p).denied_prefix(
        422,
        "the GMSA cred spec contents for container \"c0\" does not match the contents of GMSA resource \"cs-0\": unable to parse \"nope\" as a JSON object: ",
    );
    for (contents, quoted) in [
        ("[1,2]", "\"[1,2]\""),
        ("\"s\"", "\"\\\"s\\\"\""),
        ("42", "\"42\""),
        ("", "\"\""),
    ] {
        let p = pod("p", "allowed", Some(wo(Some("cs-0"), Some(contents))), &[]);
        validate_create("u-v19b", p).denied_prefix(
            422,
            &format!(
                "the GMSA cred spec contents for pod \"p\" does not match the contents of GMSA resource \"cs-0\": unable to parse {quoted} as a JSON object: "
            ),
        );
    }
}

#[test]
fn validate_trailing_garbage_in_contents_is_a_parse_error() {
    let contents = format!("{CS0} x");
    let p = pod("p", "allowed", Some(wo(Some("cs-0"), Some(&contents))), &[]);
    validate_create("u-v19c", p).denied_prefix(
        422,
        "the GMSA cred spec contents for pod \"p\" does not match the contents of GMSA resource \"cs-0\": unable to parse ",
    );
}

#[test]
fn validate_null_contents_do_not_match_without_suffix() {
    let p = pod("p", "allowed", Some(wo(Some("cs-0"), Some("null"))), &[]);
    validate_create("u-v20", p).denied_exact(
        422,
        "the GMSA cred spec contents for pod \"p\" does not match the contents of GMSA resource \"cs-0\"",
    );
}

#[test]
fn validate_contents_without_name_is_422() {
    let p = pod("p1", "allowed", Some(wo(None, Some(CS0))), &[]);
    validate_create("u-v21", p).uid("u-v21").denied_exact(
        422,
        "pod \"p1\" has a GMSA cred spec set, but does not define the name of the corresponding resource",
    );
    let p = pod("p1", "allowed", None, &[("c0", Some(wo(None, Some(CS0))))]);
    validate_create("u-v21b", p).denied_exact(
        422,
        "container \"c0\" has a GMSA cred spec set, but does not define the name of the corresponding resource",
    );
    // An empty string counts as set (R0.6).
    let p = pod("p1", "allowed", None, &[("c0", Some(wo(None, Some(""))))]);
    validate_create("u-v21c", p).denied_exact(
        422,
        "container \"c0\" has a GMSA cred spec set, but does not define the name of the corresponding resource",
    );
}

#[test]
fn validate_nonexistent_credspec_without_contents_is_allowed() {
    let p = pod("p", "allowed", Some(wo(Some("missing"), None)), &[]);
    validate_create("u-v22", p)
        .uid("u-v22")
        .allowed_without_patch();
}

#[test]
fn validate_nonexistent_credspec_with_contents_is_404() {
    let p = pod("p", "allowed", Some(wo(Some("missing"), Some(CS0))), &[]);
    validate_create("u-v23", p)
        .uid("u-v23")
        .denied_exact(404, "cred spec missing does not exist");
}

#[test]
fn validate_credspec_without_key_with_contents_is_417() {
    let p = pod("p", "allowed", Some(wo(Some("nokey"), Some("{}"))), &[]);
    validate_create("u-v23b", p).denied_exact(417, "cred spec nokey does not have a credspec key");
}

#[test]
fn validate_authorization_comes_before_lookup() {
    let p = pod("p", "nobody", Some(wo(Some("missing"), Some(CS0))), &[]);
    validate_create("u-v24", p).denied_prefix(403, &not_authorized("nobody", "missing"));
}

#[test]
fn validate_pod_level_is_checked_before_containers() {
    let p = pod(
        "p",
        "limited",
        Some(wo(Some("cs-1"), None)),
        &[("c0", Some(wo(None, Some(CS0))))],
    );
    validate_create("u-v25", p).denied_prefix(403, &not_authorized("limited", "cs-1"));
    let p = pod(
        "p",
        "limited",
        None,
        &[
            ("c0", Some(wo(None, Some(CS0)))),
            ("c1", Some(wo(Some("cs-1"), None))),
        ],
    );
    validate_create("u-v25b", p).denied_exact(
        422,
        "container \"c0\" has a GMSA cred spec set, but does not define the name of the corresponding resource",
    );
}

// =======================================================================================
// §2.7 validate UPDATE

fn c0_pod(w: Option<Value>) -> Value {
    pod("p", "allowed", None, &[("c0", w)])
}

fn validate_update(uid: &str, new: Value, old: Value) -> Outcome {
    plain().post("/validate", &update(uid, new, old))
}

#[test]
fn update_name_change_is_403() {
    validate_update(
        "u-u1",
        c0_pod(Some(wo(Some("new-cred-spec-name"), Some(CS0)))),
        c0_pod(Some(wo(Some("cs-0"), Some(CS0)))),
    )
    .uid("u-u1")
    .denied_exact(
        403,
        "cannot update an existing pod's GMSA settings (GMSA name modified on container \"c0\")",
    );
}

#[test]
fn update_contents_change_is_403() {
    validate_update(
        "u-u2",
        c0_pod(Some(wo(Some("cs-0"), Some(CS1)))),
        c0_pod(Some(wo(Some("cs-0"), Some(CS0)))),
    )
    .denied_exact(
        403,
        "cannot update an existing pod's GMSA settings (GMSA contents modified on container \"c0\")",
    );
}

#[test]
fn update_equivalent_but_different_contents_is_a_change() {
    validate_update(
        "u-u2b",
        c0_pod(Some(wo(Some("cs-0"), Some(CS0_REORDERED)))),
        c0_pod(Some(wo(Some("cs-0"), Some(CS0)))),
    )
    .denied_exact(
        403,
        "cannot update an existing pod's GMSA settings (GMSA contents modified on container \"c0\")",
    );
}

#[test]
fn update_name_and_contents_change_is_403() {
    validate_update(
        "u-u3",
        c0_pod(Some(wo(Some("cs-1"), Some(CS1)))),
        c0_pod(Some(wo(Some("cs-0"), Some(CS0)))),
    )
    .denied_exact(
        403,
        "cannot update an existing pod's GMSA settings (GMSA name and contents modified on container \"c0\")",
    );
    let new = pod("p1", "allowed", Some(wo(Some("cs-1"), Some(CS1))), &[]);
    let old = pod("p1", "allowed", Some(wo(Some("cs-0"), Some(CS0))), &[]);
    validate_update("u-u3b", new, old).denied_exact(
        403,
        "cannot update an existing pod's GMSA settings (GMSA name and contents modified on pod \"p1\")",
    );
}

#[test]
fn update_empty_windows_options_replacing_a_name_is_403() {
    validate_update(
        "u-u4",
        c0_pod(Some(json!({}))),
        c0_pod(Some(wo(Some("cs-0"), None))),
    )
    .denied_exact(
        403,
        "cannot update an existing pod's GMSA settings (GMSA name modified on container \"c0\")",
    );
}

#[test]
fn update_adding_a_name_is_403() {
    validate_update("u-u5", c0_pod(Some(wo(Some("cs-0"), None))), c0_pod(None)).denied_exact(
        403,
        "cannot update an existing pod's GMSA settings (GMSA name modified on container \"c0\")",
    );
}

#[test]
fn update_null_and_empty_string_differ() {
    validate_update(
        "u-u5b",
        c0_pod(Some(wo(Some("cs-0"), Some("")))),
        c0_pod(Some(wo(Some("cs-0"), None))),
    )
    .denied_exact(
        403,
        "cannot update an existing pod's GMSA settings (GMSA contents modified on container \"c0\")",
    );
}

#[test]
fn update_dropping_security_context_is_allowed() {
    // The reference's asymmetry (U3): nothing is compared when the new options are null.
    validate_update(
        "u-u6",
        c0_pod(None),
        c0_pod(Some(wo(Some("cs-0"), Some(CS0)))),
    )
    .uid("u-u6")
    .allowed_without_patch();
    let new = pod("p", "allowed", None, &[]);
    let old = pod("p", "allowed", Some(wo(Some("cs-0"), Some(CS0))), &[]);
    validate_update("u-u6b", new, old).allowed_without_patch();
}

#[test]
fn update_unrelated_changes_are_allowed() {
    let old = c0_pod(Some(wo(Some("cs-0"), Some(CS0))));
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx");
    new["metadata"]["labels"] = json!({"a": "b"});
    new["spec"]["containers"][0]["securityContext"]["windowsOptions"]["runAsUserName"] =
        json!("ContainerAdministrator");
    validate_update("u-u7", new, old)
        .uid("u-u7")
        .allowed_without_patch();
}

#[test]
fn update_makes_no_authorization_check() {
    let p = pod("p", "nobody", Some(wo(Some("cs-1"), Some("whatever"))), &[]);
    validate_update("u-u8", p.clone(), p).allowed_without_patch();
}

#[test]
fn update_matches_containers_by_name() {
    // c1 is new (no old container with that name): adding both fields.
    let new = pod(
        "p",
        "allowed",
        None,
        &[("c1", Some(wo(Some("cs-0"), Some(CS0))))],
    );
    let old = pod(
        "p",
        "allowed",
        None,
        &[("c0", Some(wo(Some("cs-0"), Some(CS0))))],
    );
    validate_update("u-u9", new, old).denied_exact(
        403,
        "cannot update an existing pod's GMSA settings (GMSA name and contents modified on container \"c1\")",
    );
    // Reordered containers keep their settings: allowed.
    let a = ("a", Some(wo(Some("cs-0"), Some(CS0))));
    let b = ("b", Some(wo(Some("cs-1"), Some(CS1))));
    let new = pod("p", "allowed", None, &[b.clone(), a.clone()]);
    let old = pod("p", "allowed", None, &[a, b]);
    validate_update("u-u9b", new, old).allowed_without_patch();
}

// =======================================================================================
// winkube's deliberate extensions (docs/compatibility.md D1, D2)

#[test]
fn compatibility_doc_lists_init_and_ephemeral_containers_as_differences() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/compatibility.md"),
    )
    .unwrap();
    let d1 = doc
        .lines()
        .find(|l| l.starts_with("| D1 |"))
        .unwrap_or_else(|| panic!("no D1 row"));
    assert!(d1.contains("initContainers"), "{d1}");
    let d2 = doc
        .lines()
        .find(|l| l.starts_with("| D2 |"))
        .unwrap_or_else(|| panic!("no D2 row"));
    assert!(d2.contains("pods/ephemeralcontainers"), "{d2}");
}

#[test]
fn d1_init_container_contents_without_name_is_422() {
    let mut p = pod("p", "nobody", None, &[("c0", None)]);
    p["spec"]["initContainers"] = json!([{
        "name": "init0",
        "image": "busybox",
        "securityContext": {"windowsOptions": {"gmsaCredentialSpec": "{\"evil\":1}"}},
    }]);
    let out = validate_create("u-d1", p);
    out.uid("u-d1");
    // The reference has no text for init containers (it admits the pod); winkube keeps the
    // reference's sentence and names the container's kind.
    let msg = out.denied(422);
    assert!(
        msg.ends_with(
            "container \"init0\" has a GMSA cred spec set, but does not define the name of the corresponding resource"
        ),
        "{msg:?}"
    );
}

#[test]
fn d1_init_container_name_is_authorized() {
    let mut p = pod(
        "p",
        "limited",
        None,
        &[("c0", Some(wo(Some("cs-0"), None)))],
    );
    p["spec"]["initContainers"] = json!([{
        "name": "init0",
        "image": "busybox",
        "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs-1"}},
    }]);
    validate_create("u-d1b", p).denied_prefix(403, &not_authorized("limited", "cs-1"));
}

fn ephemeral_review(uid: &str, sa: &str, eph_wo: Value) -> Value {
    let old = pod("p", sa, None, &[("c0", Some(wo(Some("cs-0"), Some(CS0))))]);
    let mut new = old.clone();
    new["spec"]["ephemeralContainers"] = json!([{
        "name": "debugger",
        "image": "busybox",
        "targetContainerName": "c0",
        "securityContext": {"windowsOptions": eph_wo},
    }]);
    let mut r = update(uid, new, old);
    r["request"]["subResource"] = json!("ephemeralcontainers");
    r["request"]["requestSubResource"] = json!("ephemeralcontainers");
    r["request"]["name"] = json!("p");
    r
}

#[test]
fn d2_ephemeral_container_naming_an_unusable_credspec_is_403() {
    let r = ephemeral_review("u-d2", "limited", wo(Some("cs-1"), None));
    plain()
        .post("/validate", &r)
        .uid("u-d2")
        .denied_prefix(403, &not_authorized("limited", "cs-1"));
}

#[test]
fn d2_ephemeral_container_with_a_usable_credspec_is_allowed() {
    let r = ephemeral_review("u-d2b", "limited", wo(Some("cs-0"), Some(CS0)));
    plain()
        .post("/validate", &r)
        .uid("u-d2b")
        .allowed_without_patch();
}

#[test]
fn d2_ephemeral_container_with_foreign_contents_is_422() {
    let r = ephemeral_review("u-d2c", "limited", wo(Some("cs-0"), Some(CS1)));
    let out = plain().post("/validate", &r);
    let msg = out.denied(422);
    assert!(
        msg.starts_with("the GMSA cred spec contents for ")
            && msg.ends_with(
                "container \"debugger\" does not match the contents of GMSA resource \"cs-0\""
            ),
        "{msg:?}"
    );
}

// =======================================================================================
// Security: mutate may inline (the reference does), validate must not let it through.

#[test]
fn security_unauthorized_sa_cannot_get_contents_through_mutate_and_validate() {
    let p = pod(
        "p",
        "nobody",
        None,
        &[("c0", Some(wo(Some("cs-hac"), None)))],
    );
    // /mutate inlines (M4: no authorization there, as the reference) ...
    let ops = plain()
        .post("/mutate", &create("u-s1", p.clone()))
        .allowed_with_ops(&[add_op(&container_path(0), CS_HAC)]);
    // ... and /validate refuses the mutated pod.
    let mut mutated = p;
    mutated["spec"]["containers"][0]["securityContext"]["windowsOptions"]["gmsaCredentialSpec"] =
        ops[0]["value"].clone();
    validate_create("u-s1", mutated).denied_prefix(403, &not_authorized("nobody", "cs-hac"));
}

#[test]
fn security_authorized_for_one_credspec_cannot_smuggle_another() {
    // limited may use cs-0 only: cs-1's contents under cs-0's name, or without a name.
    let p = pod("p", "limited", Some(wo(Some("cs-0"), Some(CS1))), &[]);
    validate_create("u-s2", p).denied_prefix(422, "the GMSA cred spec contents for pod \"p\"");
    let p = pod(
        "p",
        "limited",
        Some(wo(Some("cs-0"), Some(CS0))),
        &[("c0", Some(wo(None, Some(CS1))))],
    );
    validate_create("u-s2b", p).denied(422);
}

#[test]
fn security_update_cannot_add_contents_later() {
    validate_update(
        "u-s3",
        c0_pod(Some(wo(Some("cs-0"), Some(CS1)))),
        c0_pod(Some(wo(Some("cs-0"), None))),
    )
    .denied_exact(
        403,
        "cannot update an existing pod's GMSA settings (GMSA contents modified on container \"c0\")",
    );
}

// =======================================================================================
// Further edge cases the project's tests have not seen.

#[test]
fn p5_object_null_is_like_missing() {
    let mut r = review_in("u-e1", "ns-a", "CREATE", None, None);
    r["request"]["object"] = Value::Null;
    plain().post("/validate", &r).uid("u-e1").denied_exact(
        400,
        "unable to unmarshall pod JSON object: unexpected end of JSON input",
    );
}

#[test]
fn p7_old_object_null_is_like_missing() {
    let mut r = update("u-e2", c0_pod(None), c0_pod(None));
    r["request"]["oldObject"] = Value::Null;
    plain().post("/validate", &r).uid("u-e2").denied_exact(
        400,
        "unable to unmarshall pod JSON object: unexpected end of JSON input",
    );
}

#[test]
fn p4_kind_missing() {
    let mut r = create("u-e3", c0_pod(None));
    r["request"].as_object_mut().unwrap().remove("kind");
    plain()
        .post("/mutate", &r)
        .uid("u-e3")
        .denied_exact(400, "expected a Pod object, got a ");
}

#[test]
fn uid_is_echoed_verbatim() {
    let uid = "ünï\"cödé \\ 283f4877-34d4-11e9-a9f1-06da3a0adce4";
    plain()
        .post("/validate", &create(uid, c0_pod(None)))
        .uid(uid)
        .allowed_without_patch();
    let mut r = create(uid, c0_pod(None));
    r["request"]["kind"]["kind"] = json!("Node");
    plain()
        .post("/validate", &r)
        .uid(uid)
        .denied_exact(400, "expected a Pod object, got a Node");
}

#[test]
fn json_nulls_mean_not_set() {
    // securityContext / windowsOptions / the two fields as JSON null: Go nil pointers.
    let mut p = pod("p", "nobody", None, &[("c0", None), ("c1", None)]);
    p["spec"]["securityContext"] = json!({"windowsOptions": null});
    p["spec"]["containers"][0]["securityContext"] = Value::Null;
    p["spec"]["containers"][1]["securityContext"] = json!({"windowsOptions": {
        "gmsaCredentialSpecName": null, "gmsaCredentialSpec": null}});
    plain()
        .post("/mutate", &create("u-e4", p.clone()))
        .allowed_without_patch();
    plain()
        .post("/validate", &create("u-e4", p))
        .allowed_without_patch();
    // A null name with contents: contents without a name.
    let p = pod(
        "p",
        "allowed",
        Some(json!({"gmsaCredentialSpecName": null, "gmsaCredentialSpec": CS0})),
        &[],
    );
    plain().post("/validate", &create("u-e4b", p)).denied_exact(
        422,
        "pod \"p\" has a GMSA cred spec set, but does not define the name of the corresponding resource",
    );
}

#[test]
fn go_quoting_of_names_in_messages() {
    // %q = strconv.Quote: \" \a \x7f \u2028 escaped, printable é raw; %s (404) unquoted.
    let name = "we\"ird\u{7}\u{2028}\u{7f}é";
    let p = pod("p", "nobody", Some(wo(Some(name), None)), &[]);
    validate_create("u-e5", p).denied_prefix(
        403,
        "service account \"nobody\" is not authorized to `use` GMSA cred spec \"we\\\"ird\\a\\u2028\\x7fé\"",
    );
    let p = pod("p", "allowed", Some(wo(Some(name), None)), &[]);
    plain()
        .post("/mutate", &create("u-e5b", p))
        .denied_exact(404, &format!("cred spec {name} does not exist"));
}

#[test]
fn go_quoting_of_unparsable_contents() {
    let p = pod(
        "p",
        "allowed",
        Some(wo(Some("cs-0"), Some("a\tb\"c\u{1}"))),
        &[],
    );
    validate_create("u-e6", p).denied_prefix(
        422,
        "the GMSA cred spec contents for pod \"p\" does not match the contents of GMSA resource \"cs-0\": unable to parse \"a\\tb\\\"c\\x01\" as a JSON object: ",
    );
}

#[test]
fn update_empty_options_where_there_were_none_is_allowed() {
    validate_update("u-e7", c0_pod(Some(json!({}))), c0_pod(None)).allowed_without_patch();
    let new = pod("p", "allowed", Some(json!({})), &[]);
    let old = pod("p", "allowed", None, &[]);
    validate_update("u-e7b", new, old).allowed_without_patch();
}

#[test]
fn pod_field_keys_are_matched_case_insensitively() {
    // Go decodes the Pod case-insensitively too (§2.0 notes); the API server never sends
    // such keys, but the reference reads them.
    let mut p = pod("p", "allowed", None, &[]);
    p["spec"]["securityContext"] = json!({"WindowsOptions": {"GMSACredentialSpecName": "cs-0"}});
    plain()
        .post("/mutate", &create("u-e8", p))
        .allowed_with_ops(&[add_op(POD_PATH, CS0)]);
    let mut p = pod("p", "allowed", None, &[]);
    p["spec"]["securityContext"] = json!({"windowsOptions": {"GMSACREDENTIALSPEC": CS0}});
    plain().post("/validate", &create("u-e8b", p)).denied_exact(
        422,
        "pod \"p\" has a GMSA cred spec set, but does not define the name of the corresponding resource",
    );
}
