//! Shared test fixtures: AdmissionReview bodies, credspec documents, RBAC objects, the offline
//! view over them, certificate files and a small HTTPS client.
#![allow(dead_code, clippy::unwrap_used)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use winkube_policy::ClusterView;
pub use winkube_state::FileView;
use winkube_state::documents::{Source, parse_documents};
use winkube_webhook::{Metrics, Readiness, Server, ServerConfig};

/// The credspec document of the reference integration tests' `credspec-<n>`.
pub fn credspec_doc(n: u32) -> Value {
    let sids = [
        "S-1-5-21-2126729477-2524075714-3094792973",
        "S-1-5-21-2126729477-2524175714-3194792973",
        "S-1-5-21-2126729477-2524275714-3294792973",
    ];
    json!({
        "CmsPlugins": ["ActiveDirectory"],
        "DomainJoinConfig": {
            "Sid": sids[n as usize % 3],
            "MachineAccountName": format!("WebApplication{n}"),
            "Guid": "244818ae-87ca-4fcd-92ec-e79e5252348a",
            "DnsTreeName": "contoso.com",
            "DnsName": "contoso.com",
            "NetBiosName": "CONTOSO"
        },
        "ActiveDirectoryConfig": {
            "GroupManagedServiceAccounts": [
                {"Name": format!("WebApplication{n}"), "Scope": "CONTOSO"},
                {"Name": format!("WebApplication{n}"), "Scope": "contoso.com"}
            ]
        }
    })
}

/// The exact bytes the reference inlines for `credspec-0`.
pub const CREDSPEC_0_CANONICAL: &str = r#"{"ActiveDirectoryConfig":{"GroupManagedServiceAccounts":[{"Name":"WebApplication0","Scope":"CONTOSO"},{"Name":"WebApplication0","Scope":"contoso.com"}]},"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"DnsName":"contoso.com","DnsTreeName":"contoso.com","Guid":"244818ae-87ca-4fcd-92ec-e79e5252348a","MachineAccountName":"WebApplication0","NetBiosName":"CONTOSO","Sid":"S-1-5-21-2126729477-2524075714-3094792973"}}"#;

pub fn credspec_object(name: &str, doc: Value) -> Value {
    json!({
        "apiVersion": "windows.k8s.io/v1",
        "kind": "GMSACredentialSpec",
        "metadata": {"name": name},
        "credspec": doc,
    })
}

/// A pod whose pod-level windowsOptions names `credspec` (and optionally carries contents).
pub fn gmsa_pod(sa: &str, credspec: &str, contents: Option<&str>) -> Value {
    let mut wo = json!({"gmsaCredentialSpecName": credspec});
    if let Some(c) = contents {
        wo["gmsaCredentialSpec"] = Value::String(c.to_owned());
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {
            "serviceAccountName": sa,
            "securityContext": {"windowsOptions": wo},
            "containers": [{"name": "c0", "image": "mcr.microsoft.com/windows/servercore:ltsc2022"}]
        }
    })
}

pub fn review_body(uid: &str, operation: &str, namespace: &str, pod: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "admin"},
            "object": pod,
        }
    }))
    .unwrap()
}

/// The `response` of an AdmissionReview answer.
pub fn response_of(body: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(body).unwrap();
    v["response"].clone()
}

/// The JSON patch of an AdmissionReview answer, decoded.
pub fn patch_of(body: &[u8]) -> Vec<Value> {
    use base64::Engine as _;
    let r = response_of(body);
    let Some(p) = r["patch"].as_str() else {
        return Vec::new();
    };
    let raw = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
    serde_json::from_slice(&raw).unwrap()
}

/// A Role granting `use` on `credspec` and a RoleBinding of it to `sa`, in `ns`.
pub fn rbac_for(ns: &str, sa: &str, credspec: &str) -> (Value, Value) {
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": format!("use-{credspec}-by-{sa}"), "namespace": ns},
        "rules": [{"apiGroups": ["windows.k8s.io"], "resources": ["gmsacredentialspecs"], "verbs": ["use"], "resourceNames": [credspec]}]
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": format!("{sa}-uses-{credspec}"), "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": format!("use-{credspec}-by-{sa}")},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]
    });
    (role, binding)
}

/// The offline view (`winkube_state::FileView`, as `winkube webhook --state` serves) over
/// `objects` (credspecs, RBAC, nodes...), read as a state file holding one `v1` List.
pub fn state_view(objects: &[Value]) -> FileView {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    let text = serde_json::to_string(&list).unwrap();
    let docs = parse_documents(&Source::File("test-state.json".into()), &text).unwrap();
    FileView::from_documents(docs).unwrap()
}

/// `credspec-0`, which `sas` of namespace `apps` may `use` (a Role and a RoleBinding each).
pub fn credspec_0_view(sas: &[&str]) -> FileView {
    let mut objects = vec![credspec_object("credspec-0", credspec_doc(0))];
    for sa in sas {
        let (role, binding) = rbac_for("apps", sa, "credspec-0");
        objects.extend([role, binding]);
    }
    state_view(&objects)
}

/// A registry of the test's own (the binary owns one), with the webhook's families in it.
pub fn metrics() -> (Arc<Metrics>, Arc<Registry>) {
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    (metrics, Arc::new(registry))
}

/// [`Server::bind`] with a registry of the test's own.
pub async fn bind<V: ClusterView + 'static>(
    config: ServerConfig,
    view: Arc<V>,
    ready: Readiness,
) -> Result<Server<V>, winkube_webhook::Error> {
    let (metrics, registry) = metrics();
    Server::bind(config, view, ready, metrics, registry).await
}

/// A server running on loopback with a certificate for `localhost` from a test CA of its own,
/// until `shutdown` is sent (or dropped).
pub struct Served {
    pub addr: SocketAddr,
    pub ca: CertificateDer<'static>,
    pub stats: winkube_webhook::Stats,
    pub shutdown: tokio::sync::oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<Result<(), winkube_webhook::Error>>,
    /// Holds the certificate files.
    pub dir: tempfile::TempDir,
}

/// [`bind`] and run `view` behind a fresh test certificate; `configure` adjusts the config.
pub async fn serve<V: ClusterView + 'static>(
    view: Arc<V>,
    ready: Readiness,
    configure: impl FnOnce(&mut ServerConfig),
) -> Served {
    let ca = winkube_testkit::TestCa::new("webhook CA").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_pair(
        dir.path(),
        &ca.issue("winkube-webhook", &["localhost"]).unwrap(),
    );
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), cert, key);
    configure(&mut config);
    let server = bind(config, view, ready).await.unwrap();
    let addr = server.local_addr();
    let stats = server.stats();
    let (shutdown, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    Served {
        addr,
        ca: ca.cert_der(),
        stats,
        shutdown,
        task,
        dir,
    }
}

/// Writes `cert.pem`/`key.pem` into `dir`.
pub fn write_pair(dir: &Path, issued: &winkube_testkit::Issued) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, &issued.cert_pem).unwrap();
    std::fs::write(&key, &issued.key_pem).unwrap();
    (cert, key)
}

/// A TLS client config trusting `cas`, offering `alpn`.
pub fn client_tls(cas: &[CertificateDer<'static>], alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        roots.add(ca.clone()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // Full handshakes only: a resumed session reports the certificate of the first one.
    cfg.resumption = rustls::client::Resumption::disabled();
    Arc::new(cfg)
}

/// [`client_tls`] presenting `client` (certificate and key PEM) as its client certificate.
pub fn client_tls_with_cert(
    cas: &[CertificateDer<'static>],
    client: &winkube_testkit::Issued,
) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        roots.add(ca.clone()).unwrap();
    }
    let key = PrivateKeyDer::from_pem_slice(client.key_pem.as_bytes()).unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(vec![client.cert_der.clone()], key)
    .unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    cfg.resumption = rustls::client::Resumption::disabled();
    Arc::new(cfg)
}

/// One keep-alive HTTP/1.1 connection over TLS.
pub struct Conn {
    pub sender: http1::SendRequest<Full<Bytes>>,
    /// The leaf certificate the server presented.
    pub peer_cert: CertificateDer<'static>,
    pub alpn: Option<Vec<u8>>,
}

pub async fn connect(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> std::io::Result<Conn> {
    connect_to(addr, tls, "localhost").await
}

/// [`connect`], verifying the server's certificate for `server_name` (as the API server
/// does for `<service>.<namespace>.svc`).
pub async fn connect_to(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> std::io::Result<Conn> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from(server_name.to_owned()).map_err(std::io::Error::other)?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await?;
    let (_, session) = stream.get_ref();
    let peer_cert = session.peer_certificates().unwrap()[0].clone();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    Ok(Conn {
        sender,
        peer_cert,
        alpn,
    })
}

impl Conn {
    pub async fn post(&mut self, path: &str, body: Vec<u8>) -> Result<(u16, Bytes), hyper::Error> {
        self.sender.ready().await?;
        let req = http::Request::post(path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    pub async fn get(&mut self, path: &str) -> Result<(u16, Bytes), hyper::Error> {
        self.sender.ready().await?;
        let req = http::Request::get(path)
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// Polls `f` every 20 ms until it returns true; panics after 20 s (a hang, not a timing
/// assertion).
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut f: F) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Log lines written while a test runs, for asserting on what was logged.
#[derive(Clone, Default)]
pub struct Logs(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A request body whose frames the test sends when it likes (none: the body never ends).
pub type ChannelBody = http_body_util::StreamBody<
    futures::channel::mpsc::UnboundedReceiver<
        Result<hyper::body::Frame<Bytes>, std::convert::Infallible>,
    >,
>;

/// A body fed through the returned sender; dropping the sender ends it.
pub fn channel_body() -> (
    futures::channel::mpsc::UnboundedSender<
        Result<hyper::body::Frame<Bytes>, std::convert::Infallible>,
    >,
    ChannelBody,
) {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    (tx, http_body_util::StreamBody::new(rx))
}

/// A body of `bytes`, sent at once.
pub fn full_channel_body(bytes: Vec<u8>) -> ChannelBody {
    let (tx, body) = channel_body();
    tx.unbounded_send(Ok(hyper::body::Frame::data(Bytes::from(bytes))))
        .unwrap();
    body
}

/// One HTTP/2 connection over TLS (ALPN `h2`); the handle ends when the connection does.
pub async fn connect_h2(
    addr: SocketAddr,
    ca: &CertificateDer<'static>,
) -> std::io::Result<(
    hyper::client::conn::http2::SendRequest<ChannelBody>,
    tokio::task::JoinHandle<()>,
)> {
    let stream = connect_tls(addr, client_tls(std::slice::from_ref(ca), &[b"h2"])).await?;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .map_err(std::io::Error::other)?;
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((sender, task))
}

/// A TLS stream to the server, for writing raw HTTP/1.1.
pub async fn connect_tls(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(tls)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}
