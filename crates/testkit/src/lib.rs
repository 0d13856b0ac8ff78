//! Test support for winkube: an in-process Kubernetes API-server stand-in, a throw-away CA
//! ([`TestCa`]), a real registry on loopback ([`TestRegistry`]) and the rule for tests whose
//! external tool is missing ([`tool_available`]).
//!
//! [`ApiServer`] speaks the real wire protocol over real HTTPS (a throw-away [`TestCa`]), so
//! tests drive the real kube-rs client against it. It is small on purpose and faithful where
//! clients can tell:
//!
//! - **Storage**: objects kept as JSON per resource type ([`ResourceType`]; core `api/v1` and
//!   `apis/<group>/<version>`, cluster-scoped or namespaced), one global resourceVersion
//!   counter, `uid` and `creationTimestamp` filled in, optimistic concurrency on PUT.
//! - **Verbs**: GET, LIST (`kind: <Kind>List`, `metadata.resourceVersion`; across namespaces
//!   or in one), WATCH (`?watch=true`, `resourceVersion`, `allowWatchBookmarks`,
//!   `timeoutSeconds`; newline-delimited `{"type":..,"object":..}` events), POST, PUT, PATCH
//!   (JSON merge patch and JSON patch; a failed JSON-patch operation such as a `test` is 422,
//!   a patched resourceVersion other than the stored one is 409), DELETE. `limit` pages a
//!   list in key order with a `continue` token (410 once compacted past; later pages read the
//!   current objects, not a snapshot); field selectors (`metadata.name`,
//!   `metadata.namespace`, and the fields the API server supports per kind, e.g. a pod's
//!   `spec.nodeName` and `status.phase`; others 400) and label selectors (equality and set
//!   terms) filter lists and watches. `GET /version` answers [`ApiServer::set_version`].
//! - **Validation**: what the API server refuses with 422 `Invalid` where clients meet it:
//!   a `kubernetes.io/tls` Secret without `tls.crt`/`tls.key`, a Secret's type changed,
//!   non-base64 data or `caBundle`, duplicate webhook names, a Lease duration below 1.
//! - **Injected failures**: [`ApiServer::fail_requests`] answers matching requests with an
//!   error status (a PATCH of webhook configurations, a PUT of a Secret...).
//! - **Watch history**: a watch from resourceVersion R replays the changes after R, then
//!   streams live ones. R older than the compaction point ([`ApiServer::compact`], or the last
//!   10,000 changes) gets a 410 `Expired` — as an `ERROR` event by default, or as an HTTP 410
//!   ([`GoneMode`]) — so clients must relist. `resourceVersion` absent or `0` starts with
//!   synthetic `ADDED` events for every object, as the API server does.
//! - **Authorization**: `POST apis/authorization.k8s.io/v1/namespaces/{ns}/localsubjectaccessreviews`
//!   and `.../subjectaccessreviews` are evaluated with `winkube-rbac` over the stored Roles,
//!   ClusterRoles and bindings. [`ApiServer::set_authz_error`] and
//!   [`ApiServer::set_authz_delay`] inject failures and latency.
//! - **Authentication**: every request needs `Authorization: Bearer <token>` ([`ApiServer::client`]
//!   sets it); others get 401.
//! - **Recording**: every request is recorded ([`ApiServer::requests`]) so tests can assert
//!   which calls a component made, e.g. "no API call per review"; review bodies are kept
//!   ([`ApiServer::access_reviews`]) to assert their exact content.
//!
//! Objects are changed either over the wire (any kube `Api`) or in-process with
//! [`ApiServer::create`], [`ApiServer::apply`], [`ApiServer::delete`] (JSON with `apiVersion`
//! and `kind`), which notify running watches the same way.
//!
//! ```no_run
//! # async fn demo() -> Result<(), winkube_testkit::Error> {
//! let server = winkube_testkit::ApiServer::start().await?;
//! server.create(serde_json::json!({
//!     "apiVersion": "windows.k8s.io/v1", "kind": "GMSACredentialSpec",
//!     "metadata": {"name": "webapp"}, "credspec": {"CmsPlugins": ["ActiveDirectory"]}
//! }))?;
//! let client = server.client()?; // a real kube::Client trusting the stand-in's CA
//! # Ok(()) }
//! ```

mod http_api;
mod list;
mod patch;
pub mod registry;
mod resource_type;
mod selectors;
mod store;
pub mod tls;
pub mod tools;
mod version;

use serde::Serialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

pub use registry::TestRegistry;
pub use resource_type::ResourceType;
pub use store::EventType;
pub use tls::{Issued, TestCa};
pub use tools::tool_available;

/// The `gitVersion` `GET /version` answers unless [`ApiServer::set_version`] says otherwise.
pub const DEFAULT_VERSION: &str = "v1.33.4";

/// Errors of the stand-in (setup failures, and API errors of in-process calls).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("kube client error: {0}")]
    Kube(#[from] kube::Error),
    #[error("no registered resource type for apiVersion {api_version:?} kind {kind:?}")]
    UnknownType { api_version: String, kind: String },
    #[error("API error {code}: {body}")]
    Status { code: u16, body: Value },
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

/// How a watch from a compacted resourceVersion is refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GoneMode {
    /// HTTP 200 and one `ERROR` event carrying a 410 `Expired` Status (what a real API
    /// server's watch cache does).
    #[default]
    ErrorEvent,
    /// HTTP 410 with the Status as the body.
    Http,
}

/// One request the stand-in received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, `""` if none.
    pub query: String,
    /// The HTTP status answered (0 while the request is being handled; 200 for a watch).
    pub status: u16,
}

impl RecordedRequest {
    /// Whether this is a watch request.
    pub fn is_watch(&self) -> bool {
        self.query
            .split('&')
            .any(|p| p == "watch=true" || p == "watch=1")
    }
}

#[derive(Default)]
pub(crate) struct Faults {
    pub authz_error: Option<u16>,
    pub authz_delay: Duration,
    pub gone_mode: GoneMode,
    pub bookmark_interval: Option<Duration>,
    pub list_error: Option<u16>,
    /// (method, path substring, status): matching requests fail with that status.
    pub request_errors: Vec<(String, String, u16)>,
}

impl Faults {
    pub fn injected_error(&self, method: &str, path: &str) -> Option<u16> {
        self.request_errors
            .iter()
            .find(|(m, p, _)| m == method && path.contains(p.as_str()))
            .map(|(_, _, code)| *code)
    }
}

pub(crate) struct Shared {
    pub state: Mutex<store::State>,
    pub events: broadcast::Sender<Arc<store::StoredEvent>>,
    /// Bumped to end every open watch.
    pub close_watches: watch::Sender<u64>,
    /// While true, new watch requests wait before being answered.
    pub watches_paused: watch::Sender<bool>,
    /// Set when the server goes away: every open connection is dropped, as when the real
    /// API server's process ends.
    pub stopped: watch::Sender<bool>,
    pub requests: Mutex<Vec<RecordedRequest>>,
    pub reviews: Mutex<Vec<Value>>,
    pub faults: Mutex<Faults>,
    pub token: String,
    /// The `gitVersion` `GET /version` answers.
    pub version: Mutex<String>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, store::State> {
        lock(&self.state)
    }
    pub fn publish(&self, ev: Arc<store::StoredEvent>) {
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(ev);
    }
}

/// The running stand-in. Stops serving when dropped.
pub struct ApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    ca: TestCa,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl ApiServer {
    /// Starts serving on `127.0.0.1` (random port) with [`ResourceType::defaults`].
    pub async fn start() -> Result<Self, Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = TestCa::new("winkube-testkit API server CA")?;
        let leaf = ca.issue("kube-apiserver", &["localhost", "127.0.0.1"])?;
        let (events, _) = broadcast::channel(65_536);
        let (close_watches, _) = watch::channel(0);
        let (watches_paused, _) = watch::channel(false);
        let (stopped, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(store::State::new(ResourceType::defaults())),
            events,
            close_watches,
            watches_paused,
            stopped,
            requests: Mutex::new(Vec::new()),
            reviews: Mutex::new(Vec::new()),
            faults: Mutex::new(Faults::default()),
            token: "winkube-testkit-token".to_owned(),
            version: Mutex::new(DEFAULT_VERSION.to_owned()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(http_api::serve(listener, leaf, shared.clone()));
        Ok(Self {
            shared,
            addr,
            ca,
            task,
        })
    }

    /// Goes away as a killed API server does: stops accepting and drops every open
    /// connection (watches and pooled keep-alive connections included). Also done on drop.
    pub fn stop(&self) {
        self.task.abort();
        self.shared.stopped.send_replace(true);
        let _ = self.close_watches_inner();
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Sets the `gitVersion` that `GET /version` answers (default [`DEFAULT_VERSION`]);
    /// `major` and `minor` are derived from it.
    pub fn set_version(&self, git_version: &str) {
        *lock(&self.shared.version) = git_version.to_owned();
    }

    /// A kubeconfig file's contents (YAML) for the stand-in: its URL, its CA inline and its
    /// token, in one context made current.
    pub fn kubeconfig_yaml(&self) -> String {
        use base64::Engine as _;
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca.cert_pem());
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: testkit\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: testkit\n  user:\n    token: {}\ncontexts:\n- name: testkit\n  context:\n    cluster: testkit\n    user: testkit\n    namespace: default\ncurrent-context: testkit\n",
            self.url(),
            self.shared.token
        )
    }

    /// The CA that signed the stand-in's serving certificate.
    pub fn ca(&self) -> &TestCa {
        &self.ca
    }

    /// The bearer token the stand-in accepts.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// A kube config that trusts the stand-in and authenticates with its token.
    pub fn kube_config(&self) -> Result<kube::Config, Error> {
        let uri: http::Uri = self
            .url()
            .parse()
            .map_err(|e: http::uri::InvalidUri| Error::Tls(e.to_string()))?;
        let mut cfg = kube::Config::new(uri);
        cfg.root_cert = Some(vec![self.ca.cert_der().to_vec()]);
        cfg.auth_info.token = Some(self.shared.token.clone().into());
        cfg.default_namespace = "default".to_owned();
        Ok(cfg)
    }

    /// A real kube client for the stand-in. Needs a Tokio runtime.
    pub fn client(&self) -> Result<kube::Client, Error> {
        Ok(kube::Client::try_from(self.kube_config()?)?)
    }

    /// Serves another resource type from now on.
    pub fn register(&self, t: ResourceType) {
        let mut st = self.shared.state();
        if !st.types.contains(&t) {
            st.types.push(t);
        }
    }

    fn type_of(st: &store::State, obj: &Value) -> Result<usize, Error> {
        let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        st.type_index(av, kind).ok_or_else(|| Error::UnknownType {
            api_version: av.to_owned(),
            kind: kind.to_owned(),
        })
    }

    /// Creates an object (JSON with `apiVersion`, `kind`, `metadata.name`, and
    /// `metadata.namespace` for namespaced types). Returns it as stored.
    pub fn create(&self, obj: Value) -> Result<Value, Error> {
        let mut st = self.shared.state();
        let ty = Self::type_of(&st, &obj)?;
        let (stored, ev) = st.create(ty, None, obj)?;
        self.shared.publish(ev);
        Ok(stored)
    }

    /// Creates or replaces (unconditionally) an object.
    pub fn apply(&self, mut obj: Value) -> Result<Value, Error> {
        let mut st = self.shared.state();
        let ty = Self::type_of(&st, &obj)?;
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let exists = st.get(ty, &ns, &name).is_ok();
        let (stored, ev) = if exists {
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("resourceVersion");
            }
            st.replace(ty, None, None, obj)?
        } else {
            st.create(ty, None, obj)?
        };
        self.shared.publish(ev);
        Ok(stored)
    }

    /// Creates a typed object (k8s-openapi or winkube types); `apiVersion` and `kind` come from
    /// the type.
    pub fn create_typed<K: k8s_openapi::Resource + Serialize>(
        &self,
        obj: &K,
    ) -> Result<Value, Error> {
        self.create(typed_json(obj)?)
    }

    /// Creates or replaces a typed object.
    pub fn apply_typed<K: k8s_openapi::Resource + Serialize>(
        &self,
        obj: &K,
    ) -> Result<Value, Error> {
        self.apply(typed_json(obj)?)
    }

    /// Deletes an object; `namespace` is `""` for cluster-scoped types.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, Error> {
        let mut st = self.shared.state();
        let ty = st
            .type_index(api_version, kind)
            .ok_or_else(|| Error::UnknownType {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            })?;
        let (obj, ev) = st.delete(ty, namespace, name)?;
        self.shared.publish(ev);
        Ok(obj)
    }

    /// Reads an object as stored.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, Error> {
        let st = self.shared.state();
        let ty = st
            .type_index(api_version, kind)
            .ok_or_else(|| Error::UnknownType {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            })?;
        st.get(ty, namespace, name)
    }

    /// The resourceVersion of the last change.
    pub fn resource_version(&self) -> u64 {
        self.shared.state().rv
    }

    /// Forgets the change history: watches from any earlier resourceVersion now get 410.
    pub fn compact(&self) {
        let mut st = self.shared.state();
        st.compacted_rv = st.rv;
        st.history.clear();
    }

    /// Keeps at most `n` changes of history (default 10,000).
    pub fn set_history_limit(&self, n: usize) {
        self.shared.state().history_limit = n.max(1);
    }

    fn close_watches_inner(&self) -> u64 {
        let mut n = 0;
        self.shared.close_watches.send_modify(|v| {
            *v += 1;
            n = *v;
        });
        n
    }

    /// Ends every open watch stream (as an API-server restart or watch timeout would).
    pub fn close_watches(&self) {
        self.close_watches_inner();
    }

    /// While paused, new watch requests are held unanswered (open ones keep streaming). With
    /// [`ApiServer::close_watches`] and [`ApiServer::compact`] this makes a client come back
    /// to a resourceVersion that has expired, deterministically.
    pub fn pause_watches(&self, paused: bool) {
        self.shared.watches_paused.send_replace(paused);
    }

    /// Makes LIST requests fail with this HTTP status (`None`: answer normally).
    pub fn set_list_error(&self, code: Option<u16>) {
        lock(&self.shared.faults).list_error = code;
    }

    /// How a watch from a compacted resourceVersion is refused.
    pub fn set_gone_mode(&self, mode: GoneMode) {
        lock(&self.shared.faults).gone_mode = mode;
    }

    /// Sends a BOOKMARK on watches that asked for them this often (default: never, besides
    /// none at all — real servers send one about every minute).
    pub fn set_bookmark_interval(&self, every: Option<Duration>) {
        lock(&self.shared.faults).bookmark_interval = every;
    }

    /// Makes every request with `method` whose path contains `path_contains` fail with
    /// `code` (`None`: answer those normally again). The request is still recorded. kube's
    /// client retries 429, 503 and 504 with backoff (minutes in all): use 500 for a failure
    /// the caller should see at once.
    pub fn fail_requests(&self, method: &str, path_contains: &str, code: Option<u16>) {
        let mut f = lock(&self.shared.faults);
        f.request_errors
            .retain(|(m, p, _)| !(m == method && p == path_contains));
        if let Some(code) = code {
            f.request_errors
                .push((method.to_owned(), path_contains.to_owned(), code));
        }
    }

    /// Makes access reviews fail with this HTTP status (`None`: evaluate normally).
    pub fn set_authz_error(&self, code: Option<u16>) {
        lock(&self.shared.faults).authz_error = code;
    }

    /// Delays every access review answer.
    pub fn set_authz_delay(&self, delay: Duration) {
        lock(&self.shared.faults).authz_delay = delay;
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Forgets recorded requests and access reviews.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
        lock(&self.shared.reviews).clear();
    }

    /// Recorded requests with this method whose path ends with `path_suffix`.
    pub fn count_requests(&self, method: &str, path_suffix: &str) -> usize {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.method == method && r.path.ends_with(path_suffix))
            .count()
    }

    /// The bodies of the (Local)SubjectAccessReviews received, as sent.
    pub fn access_reviews(&self) -> Vec<Value> {
        lock(&self.shared.reviews).clone()
    }
}

fn typed_json<K: k8s_openapi::Resource + Serialize>(obj: &K) -> Result<Value, Error> {
    let mut v = serde_json::to_value(obj)?;
    if let Some(map) = v.as_object_mut() {
        map.insert(
            "apiVersion".into(),
            Value::String(K::API_VERSION.to_owned()),
        );
        map.insert("kind".into(), Value::String(K::KIND.to_owned()));
    }
    Ok(v)
}
