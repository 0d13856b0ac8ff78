//! The Windows workload policies over HTTP: `POST /mutate-windows` and `/validate-windows`.
//!
//! Served on their own paths (and installed as their own webhook configurations) so that
//! the gMSA webhook can be installed alone. One review runs:
//!
//! 1. decode the AdmissionReview (malformed → the same 400 answers as the gMSA paths);
//!    anything but a Pod CREATE (no subresource) is allowed untouched;
//! 2. [`images_to_resolve`] → the pod's `imagePullSecrets` from its namespace (only when it
//!    names some) → one merged [`DockerConfig`] → the shared [`Resolver`] (bounded TTL cache,
//!    per-lookup timeout). The whole step is bounded by the registry timeout, which is kept
//!    well below the API server's 10 s webhook timeout;
//! 3. [`evaluate`] with the cluster view ([`WindowsCluster`]: the live reflector-fed
//!    [`LiveWindowsView`], or any other view such as `winkube webhook --state`'s files);
//! 4. an AdmissionReview answer: JSONPatch, warnings (deduplicated), or a denial with its
//!    status code and message.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Node, Secret};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use winkube_api::windows::{LABEL_OS, LABEL_WINDOWS_BUILD, WindowsBuild};
use winkube_policy::windows::{
    ImageLookup, ImageRequest, ImageResolutions, NodeBuilds, Phase, RuntimeClassInfo,
    RuntimeClassLookup, WindowsClusterView, WindowsPolicyConfig, evaluate, images_to_resolve,
};
use winkube_registry::{DockerConfig, Error as RegistryError, ImagePlatforms, Resolver};

use crate::Readiness;

/// A cluster view the Windows paths can serve from: what the policies ask
/// ([`WindowsClusterView`]) plus the pod's pull secrets for registry authentication.
pub trait WindowsCluster: WindowsClusterView + Send + Sync {
    /// Credentials from the named `imagePullSecrets` of `namespace`, first secret first
    /// (as the kubelet merges them), and a warning per secret that could not be used.
    fn pull_config<'a>(
        &'a self,
        namespace: &'a str,
        names: &'a [String],
    ) -> BoxFuture<'a, (DockerConfig, Vec<String>)>;

    /// Pinned metadata for an image whose registry could not answer (unreachable, timed
    /// out, refused credentials), and where it comes from (for the warning). `--state`
    /// serves the state directory's images.yaml, as `winkube admit` does; the live view
    /// has none.
    fn pinned_image(&self, _image: &str) -> Option<(ImagePlatforms, String)> {
        None
    }
}

/// The outcome of one Windows review, for the HTTP layer.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowsOutcome {
    /// The full AdmissionReview answer.
    pub body: Vec<u8>,
    pub uid: String,
    pub allowed: bool,
    /// 200 when allowed, else the denial's `status.code`.
    pub code: u16,
    /// The denial's message; empty when allowed.
    pub message: String,
    pub patch_ops: usize,
    pub warnings: Vec<String>,
    /// The pod's namespace and name (for logs); empty when the review had none.
    pub namespace: String,
    pub name: String,
}

/// The Windows policies with everything they need at review time. Share one per process.
pub struct WindowsPolicies {
    config: WindowsPolicyConfig,
    resolver: Arc<Resolver>,
    cluster: Arc<dyn WindowsCluster>,
    /// Bound on reading pull secrets plus resolving every image of one pod.
    lookup_deadline: Duration,
}

impl Debug for WindowsPolicies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowsPolicies")
            .field("config", &self.config)
            .field("lookup_deadline", &self.lookup_deadline)
            .finish_non_exhaustive()
    }
}

/// Slack over the registry client's own timeout, so that its error (which names the
/// registry) normally arrives before the overall deadline cuts the step short.
const DEADLINE_SLACK: Duration = Duration::from_millis(250);

impl WindowsPolicies {
    /// `resolver`'s client timeout bounds each lookup; the whole metadata step (pull
    /// secrets and every image) is bounded by that timeout plus a small slack.
    pub fn new(
        config: WindowsPolicyConfig,
        resolver: Arc<Resolver>,
        cluster: Arc<dyn WindowsCluster>,
    ) -> Self {
        let lookup_deadline = resolver.client().options().timeout + DEADLINE_SLACK;
        Self {
            config,
            resolver,
            cluster,
            lookup_deadline,
        }
    }

    pub fn config(&self) -> &WindowsPolicyConfig {
        &self.config
    }

    /// Reviews the raw body of a POST to `/mutate-windows` (`Phase::Mutate`) or
    /// `/validate-windows` (`Phase::Validate`).
    pub async fn review(&self, phase: Phase, body: &[u8]) -> WindowsOutcome {
        let text = String::from_utf8_lossy(body);
        let review = match serde_json::from_str::<Option<Review>>(&text) {
            Err(e) => {
                let why = if e.is_eof() {
                    "unexpected end of JSON input".to_owned()
                } else {
                    e.to_string()
                };
                return render(
                    None,
                    String::new(),
                    Answer::deny(
                        400,
                        format!("unable to unmarshall JSON body as an admission review: {why}"),
                    ),
                );
            }
            Ok(r) => r,
        };
        let api_version = review.as_ref().and_then(|r| r.api_version.clone());
        let Some(req) = review.and_then(|r| r.request) else {
            return render(
                api_version,
                String::new(),
                Answer::deny(400, "no 'Request' field in JSON body".into()),
            );
        };
        let uid = req.uid.clone().unwrap_or_default();
        let object = req.object.unwrap_or(Value::Null);
        let namespace = req
            .namespace
            .filter(|n| !n.is_empty())
            .or_else(|| str_at(&object, "/metadata/namespace"))
            .unwrap_or_else(|| "default".to_owned());
        let name = req
            .name
            .filter(|n| !n.is_empty())
            .or_else(|| str_at(&object, "/metadata/name"))
            .or_else(|| str_at(&object, "/metadata/generateName").map(|g| format!("{g}*")))
            .unwrap_or_default();
        let kind = req.kind.unwrap_or_default();
        let is_pod_create = kind.group.as_deref().unwrap_or("").is_empty()
            && kind.kind.as_deref() == Some("Pod")
            && req.operation.as_deref() == Some("CREATE")
            && req.sub_resource.as_deref().unwrap_or("").is_empty();
        let mut answer = if is_pod_create {
            self.decide(phase, &object, &namespace).await
        } else {
            // Only pod creation is reviewed: a pod's scheduling fields are immutable after.
            Answer::allow()
        };
        answer.namespace = namespace;
        answer.name = name;
        render(api_version, uid, answer)
    }

    async fn decide(&self, phase: Phase, pod: &Value, namespace: &str) -> Answer {
        let requests = images_to_resolve(pod, namespace, &self.config);
        let (images, mut warnings) = self.resolve(&requests, namespace).await;
        let d = evaluate(
            pod,
            namespace,
            &self.config,
            self.cluster.as_ref(),
            &images,
            phase,
        );
        warnings.extend(d.warnings);
        dedup(&mut warnings);
        if !d.allowed {
            return Answer {
                denial: Some((d.code, d.message)),
                warnings,
                ..Answer::allow()
            };
        }
        let patch = if d.patch.0.is_empty() {
            None
        } else {
            match serde_json::to_vec(&d.patch) {
                Ok(p) => Some((p, d.patch.0.len())),
                Err(e) => {
                    return Answer {
                        denial: Some((500, format!("unable to encode the patch: {e}"))),
                        warnings,
                        ..Answer::allow()
                    };
                }
            }
        };
        Answer {
            patch,
            warnings,
            ..Answer::allow()
        }
    }

    /// Pull secrets, then every image, within the lookup deadline.
    async fn resolve(
        &self,
        requests: &[ImageRequest],
        namespace: &str,
    ) -> (ImageResolutions, Vec<String>) {
        if requests.is_empty() {
            return (ImageResolutions::new(), Vec::new());
        }
        let work = async {
            // Every request carries the pod's pull secrets.
            let names = &requests[0].pull_secrets;
            let (pull, warnings) = if names.is_empty() {
                (DockerConfig::default(), Vec::new())
            } else {
                self.cluster.pull_config(namespace, names).await
            };
            let images: Vec<String> = requests.iter().map(|r| r.image.clone()).collect();
            let results = self.resolver.resolve_all(&images, &pull).await;
            (results, warnings)
        };
        let (results, warnings) = match tokio::time::timeout(self.lookup_deadline, work).await {
            Ok(r) => r,
            Err(_) => {
                let why = format!(
                    "image metadata lookup did not finish within {:.1}s",
                    self.lookup_deadline.as_secs_f64()
                );
                let res = requests
                    .iter()
                    .map(|r| (r.image.clone(), ImageLookup::Unavailable(why.clone())))
                    .collect();
                return (res, Vec::new());
            }
        };
        let mut warnings = warnings;
        let res = requests
            .iter()
            .map(|r| {
                let lookup = match results.get(&r.image) {
                    Some(Ok(p)) => ImageLookup::Found(p.clone()),
                    // "Does not exist" is the answer; pinned metadata would hide a typo.
                    Some(Err(e @ (RegistryError::NotFound { .. } | RegistryError::Reference(_)))) => {
                        ImageLookup::Unavailable(e.to_string())
                    }
                    Some(Err(e)) => match self.cluster.pinned_image(&r.image) {
                        Some((p, source)) => {
                            warnings.push(format!(
                                "image {:?}: registry lookup failed ({e}); using the pinned metadata in {source}",
                                r.image
                            ));
                            ImageLookup::Found(p)
                        }
                        None => ImageLookup::Unavailable(e.to_string()),
                    },
                    None => ImageLookup::Unavailable("not looked up".into()),
                };
                (r.image.clone(), lookup)
            })
            .collect();
        (res, warnings)
    }
}

fn str_at(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Keeps the first of equal warnings, in order.
fn dedup(warnings: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    warnings.retain(|w| seen.insert(w.clone()));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review {
    api_version: Option<String>,
    request: Option<Request>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    uid: Option<String>,
    kind: Option<Gvk>,
    sub_resource: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
    operation: Option<String>,
    object: Option<Value>,
}

#[derive(Deserialize, Default)]
struct Gvk {
    group: Option<String>,
    kind: Option<String>,
}

#[derive(Default)]
struct Answer {
    denial: Option<(u16, String)>,
    /// The JSON Patch bytes and their operation count.
    patch: Option<(Vec<u8>, usize)>,
    warnings: Vec<String>,
    namespace: String,
    name: String,
}

impl Answer {
    fn allow() -> Self {
        Self::default()
    }

    fn deny(code: u16, message: String) -> Self {
        Self {
            denial: Some((code, message)),
            ..Self::default()
        }
    }
}

/// The AdmissionReview answer, in the request's `admission.k8s.io` version (v1 unless the
/// request was v1beta1: the API server checks that they match).
fn render(api_version: Option<String>, uid: String, a: Answer) -> WindowsOutcome {
    const V1BETA1: &str = "admission.k8s.io/v1beta1";
    let api_version = if api_version.as_deref() == Some(V1BETA1) {
        V1BETA1
    } else {
        "admission.k8s.io/v1"
    };
    let mut response = json!({"uid": uid, "allowed": a.denial.is_none()});
    if let Some((code, message)) = &a.denial {
        response["status"] = json!({"metadata": {}, "message": message, "code": code});
    }
    let mut patch_ops = 0;
    if let Some((patch, ops)) = &a.patch {
        response["patch"] = json!(base64::engine::general_purpose::STANDARD.encode(patch));
        response["patchType"] = json!("JSONPatch");
        patch_ops = *ops;
    }
    if !a.warnings.is_empty() {
        response["warnings"] = json!(a.warnings);
    }
    let body = json!({"kind": "AdmissionReview", "apiVersion": api_version, "response": response});
    let (allowed, code, message) = match a.denial {
        None => (true, 200, String::new()),
        Some((c, m)) => (false, c, m),
    };
    WindowsOutcome {
        // Serialising a Value built from strings and numbers cannot fail.
        body: serde_json::to_vec(&body).unwrap_or_default(),
        uid,
        allowed,
        code,
        message,
        patch_ops,
        warnings: a.warnings,
        namespace: a.namespace,
        name: a.name,
    }
}

/// A cache of one cluster-scoped kind by name.
type NameMap<T> = Arc<RwLock<HashMap<String, T>>>;

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Settings of [`LiveWindowsView`].
#[derive(Clone, Debug)]
pub struct LiveWindowsOptions {
    /// RuntimeClass handlers that mean Hyper-V isolation (the policy file's
    /// `osBuild.hypervHandlers`).
    pub hyperv_handlers: Vec<String>,
    /// Longest wait for one pull-secret GET.
    pub secret_timeout: Duration,
}

impl Default for LiveWindowsOptions {
    fn default() -> Self {
        Self {
            hyperv_handlers: Vec::new(),
            secret_timeout: Duration::from_secs(2),
        }
    }
}

/// The live [`WindowsCluster`]: Nodes and node.k8s.io/v1 RuntimeClasses watched into caches
/// (no API call per review), pull secrets read with a GET when a pod names some.
///
/// Only Windows nodes (`kubernetes.io/os=windows`) with a valid
/// `node.kubernetes.io/windows-build` count. Until both caches hold a complete list, node
/// builds are reported as unknown and RuntimeClass lookups as unavailable.
pub struct LiveWindowsView {
    client: kube::Client,
    /// Windows nodes by name → their build.
    nodes: NameMap<WindowsBuild>,
    runtime_classes: NameMap<RuntimeClassInfo>,
    nodes_synced: watch::Receiver<bool>,
    runtime_classes_synced: watch::Receiver<bool>,
    secret_timeout: Duration,
    tasks: Vec<JoinHandle<()>>,
}

impl Debug for LiveWindowsView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveWindowsView")
            .field("windows_nodes", &read(&self.nodes).len())
            .field("runtime_classes", &read(&self.runtime_classes).len())
            .finish_non_exhaustive()
    }
}

impl Drop for LiveWindowsView {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A Windows node's build, `None` for other nodes (and Windows nodes without a valid
/// build label, which no build-specific selector can reach).
fn windows_node_build(node: &Node) -> Option<WindowsBuild> {
    let labels = node.metadata.labels.as_ref()?;
    if labels.get(LABEL_OS).map(String::as_str) != Some("windows") {
        return None;
    }
    let value = labels.get(LABEL_WINDOWS_BUILD)?;
    match WindowsBuild::parse(value) {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::warn!(
                node = node.metadata.name.as_deref().unwrap_or(""),
                label = LABEL_WINDOWS_BUILD,
                value = value.as_str(),
                error = %e,
                "ignoring a Windows node with an invalid build label"
            );
            None
        }
    }
}

impl LiveWindowsView {
    /// Starts the watches and returns at once; `ready` is set once both caches hold a
    /// complete list.
    pub fn start(client: kube::Client, opts: LiveWindowsOptions, ready: Readiness) -> Arc<Self> {
        let nodes: NameMap<WindowsBuild> = Arc::default();
        let runtime_classes: NameMap<RuntimeClassInfo> = Arc::default();
        let (nodes_tx, nodes_synced) = watch::channel(false);
        let (rc_tx, runtime_classes_synced) = watch::channel(false);
        let handlers = opts.hyperv_handlers.clone();
        let mut tasks = vec![
            tokio::spawn(run_cache(
                "nodes",
                Api::<Node>::all(client.clone()),
                nodes.clone(),
                |n: Node| windows_node_build(&n),
                nodes_tx,
            )),
            tokio::spawn(run_cache(
                "runtimeclasses",
                Api::<RuntimeClass>::all(client.clone()),
                runtime_classes.clone(),
                move |rc: RuntimeClass| Some(RuntimeClassInfo::from_resource(&rc, &handlers)),
                rc_tx,
            )),
        ];
        let waits = [nodes_synced.clone(), runtime_classes_synced.clone()];
        tasks.push(tokio::spawn(async move {
            for mut w in waits {
                if w.wait_for(|synced| *synced).await.is_err() {
                    return;
                }
            }
            ready.set_ready();
            tracing::info!("Windows policy view ready");
        }));
        Arc::new(Self {
            client,
            nodes,
            runtime_classes,
            nodes_synced,
            runtime_classes_synced,
            secret_timeout: opts.secret_timeout,
            tasks,
        })
    }

    /// Whether both caches hold a complete list.
    pub fn is_synced(&self) -> bool {
        *self.nodes_synced.borrow() && *self.runtime_classes_synced.borrow()
    }

    async fn pull_secret(&self, namespace: &str, name: &str) -> Result<DockerConfig, String> {
        let api = Api::<Secret>::namespaced(self.client.clone(), namespace);
        let secret = match tokio::time::timeout(self.secret_timeout, api.get_opt(name)).await {
            Err(_) => {
                return Err(format!(
                    "reading it took longer than {:.1}s",
                    self.secret_timeout.as_secs_f64()
                ));
            }
            Ok(Err(e)) => return Err(format!("cannot read it: {e}")),
            Ok(Ok(None)) => return Err("it does not exist".into()),
            Ok(Ok(Some(s))) => s,
        };
        let key = match secret.type_.as_deref() {
            Some("kubernetes.io/dockerconfigjson") => ".dockerconfigjson",
            Some("kubernetes.io/dockercfg") => ".dockercfg",
            other => {
                return Err(format!(
                    "it is of type {:?}, not kubernetes.io/dockerconfigjson",
                    other.unwrap_or("Opaque")
                ));
            }
        };
        let data = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .ok_or_else(|| format!("it has no {key} key"))?;
        DockerConfig::from_json(&data.0).map_err(|e| e.to_string())
    }
}

impl WindowsClusterView for LiveWindowsView {
    fn windows_node_builds(&self) -> NodeBuilds {
        if !*self.nodes_synced.borrow() {
            return NodeBuilds::default();
        }
        NodeBuilds::from_builds(read(&self.nodes).values().copied())
    }

    fn runtime_class(&self, name: &str) -> RuntimeClassLookup {
        if !*self.runtime_classes_synced.borrow() {
            return RuntimeClassLookup::Unavailable(
                "the RuntimeClass cache has not synced with the API server yet".into(),
            );
        }
        match read(&self.runtime_classes).get(name) {
            Some(rc) => RuntimeClassLookup::Found(rc.clone()),
            None => RuntimeClassLookup::NotFound,
        }
    }
}

impl WindowsCluster for LiveWindowsView {
    fn pull_config<'a>(
        &'a self,
        namespace: &'a str,
        names: &'a [String],
    ) -> BoxFuture<'a, (DockerConfig, Vec<String>)> {
        Box::pin(async move {
            let reads =
                futures::future::join_all(names.iter().map(|n| self.pull_secret(namespace, n)))
                    .await;
            let mut config = DockerConfig::default();
            let mut warnings = Vec::new();
            for (name, r) in names.iter().zip(reads) {
                match r {
                    Ok(c) => config.merge(c),
                    Err(why) => warnings.push(format!(
                        "imagePullSecret \"{namespace}/{name}\" cannot be used ({why}); images are looked up without its credentials"
                    )),
                }
            }
            (config, warnings)
        })
    }
}

/// Feeds `map` from a watch on `api` (cluster-scoped, keyed by name). `convert` returning
/// `None` means "not of interest" (a Linux node): the entry is removed. A complete list
/// replaces the map at once; `synced` turns true after the first one.
async fn run_cache<K, T>(
    what: &'static str,
    api: Api<K>,
    map: NameMap<T>,
    convert: impl Fn(K) -> Option<T> + Send + 'static,
    synced: watch::Sender<bool>,
) where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
    T: Send + Sync,
{
    let name_of = |o: &K| o.meta().name.clone().unwrap_or_default();
    let mut buffer: HashMap<String, T> = HashMap::new();
    loop {
        let mut stream = std::pin::pin!(
            watcher::watcher(api.clone(), watcher::Config::default()).default_backoff()
        );
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Init) => buffer = HashMap::new(),
                Ok(Event::InitApply(obj)) => {
                    let name = name_of(&obj);
                    if let Some(v) = convert(obj) {
                        buffer.insert(name, v);
                    }
                }
                Ok(Event::InitDone) => {
                    *write(&map) = std::mem::take(&mut buffer);
                    if !*synced.borrow() {
                        tracing::info!(resource = what, cached = read(&map).len(), "cache synced");
                        let _ = synced.send(true);
                    }
                }
                Ok(Event::Apply(obj)) => {
                    let name = name_of(&obj);
                    match convert(obj) {
                        Some(v) => write(&map).insert(name, v),
                        None => write(&map).remove(&name),
                    };
                }
                Ok(Event::Delete(obj)) => {
                    write(&map).remove(&name_of(&obj));
                }
                // As in the credspec cache: a 410 on watch start means relist, not retry.
                Err(watcher::Error::WatchStartFailed(kube::Error::Api(s))) if s.code == 410 => {
                    tracing::info!(resource = what, "resourceVersion expired; relisting");
                    break;
                }
                Err(e) => {
                    tracing::warn!(resource = what, error = %e, "watch failed; retrying with backoff")
                }
            }
        }
    }
}

/// A [`WindowsCluster`] over a fixed view and fixed pull credentials: for tests and for
/// callers whose view already holds everything (a state directory).
pub struct StaticWindowsCluster<V> {
    pub view: V,
    /// Pull credentials by (namespace, secret name).
    pub pull_secrets: BTreeMap<(String, String), DockerConfig>,
}

impl<V: WindowsClusterView + Send + Sync> WindowsClusterView for StaticWindowsCluster<V> {
    fn windows_node_builds(&self) -> NodeBuilds {
        self.view.windows_node_builds()
    }
    fn runtime_class(&self, name: &str) -> RuntimeClassLookup {
        self.view.runtime_class(name)
    }
}

impl<V: WindowsClusterView + Send + Sync> WindowsCluster for StaticWindowsCluster<V> {
    fn pull_config<'a>(
        &'a self,
        namespace: &'a str,
        names: &'a [String],
    ) -> BoxFuture<'a, (DockerConfig, Vec<String>)> {
        let mut config = DockerConfig::default();
        let mut warnings = Vec::new();
        for name in names {
            match self
                .pull_secrets
                .get(&(namespace.to_owned(), name.clone()))
            {
                Some(c) => config.merge(c.clone()),
                None => warnings.push(format!(
                    "imagePullSecret \"{namespace}/{name}\" is not known; images are looked up without its credentials"
                )),
            }
        }
        Box::pin(std::future::ready((config, warnings)))
    }
}

/// A readiness flag that turns ready once every one of `parts` is (the server's `/health`
/// over the gMSA caches and the Windows caches). Polls: each part only ever goes from
/// not ready to ready, once. Must be called within a tokio runtime.
pub fn join_readiness(parts: Vec<Readiness>) -> Readiness {
    let joined = Readiness::new();
    let out = joined.clone();
    tokio::spawn(async move {
        for p in parts {
            while !p.is_ready() {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        joined.set_ready();
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use winkube_policy::windows::StaticWindowsView;
    use winkube_registry::{ResolverOptions, SystemClock};

    fn policies() -> WindowsPolicies {
        let resolver = Resolver::new(ResolverOptions::default(), Arc::new(SystemClock)).unwrap();
        let cluster = StaticWindowsCluster {
            view: StaticWindowsView::default(),
            pull_secrets: BTreeMap::new(),
        };
        WindowsPolicies::new(
            WindowsPolicyConfig::default(),
            Arc::new(resolver),
            Arc::new(cluster),
        )
    }

    fn response(o: &WindowsOutcome) -> Value {
        serde_json::from_slice::<Value>(&o.body).unwrap()["response"].clone()
    }

    #[tokio::test]
    async fn malformed_reviews_get_the_gmsa_paths_400s() {
        let p = policies();
        let o = p.review(Phase::Mutate, b"{\"request\":").await;
        assert!(!o.allowed);
        assert_eq!(o.code, 400);
        assert_eq!(
            o.message,
            "unable to unmarshall JSON body as an admission review: unexpected end of JSON input"
        );
        let o = p.review(Phase::Validate, b"{}").await;
        assert_eq!(
            (o.code, o.message.as_str()),
            (400, "no 'Request' field in JSON body")
        );
        let o = p.review(Phase::Validate, b"null").await;
        assert_eq!(o.code, 400);
        assert_eq!(response(&o)["status"]["code"], 400);
    }

    #[tokio::test]
    async fn only_pod_creation_is_reviewed() {
        let p = policies();
        // A Pod UPDATE with no spec would be malformed if it were reviewed.
        for (kind, op, sub) in [
            ("Pod", "UPDATE", ""),
            ("Pod", "CREATE", "ephemeralcontainers"),
            ("Deployment", "CREATE", ""),
        ] {
            let body = json!({"apiVersion": "admission.k8s.io/v1beta1", "request": {
                "uid": "u1", "kind": {"group": "", "version": "v1", "kind": kind},
                "subResource": sub, "namespace": "apps", "operation": op, "object": {}}});
            let o = p
                .review(Phase::Mutate, &serde_json::to_vec(&body).unwrap())
                .await;
            assert!(o.allowed, "{kind} {op} {sub}");
            assert_eq!(o.patch_ops, 0);
            let v: Value = serde_json::from_slice(&o.body).unwrap();
            assert_eq!(v["apiVersion"], "admission.k8s.io/v1beta1");
            assert_eq!(v["response"]["uid"], "u1");
        }
        // The same pod-less object as a CREATE is reviewed, and is malformed.
        let body = json!({"request": {"uid": "u2", "kind": {"kind": "Pod"},
            "namespace": "apps", "operation": "CREATE", "object": {}}});
        let o = p
            .review(Phase::Mutate, &serde_json::to_vec(&body).unwrap())
            .await;
        assert_eq!((o.allowed, o.code), (false, 400));
    }

    #[test]
    fn warnings_are_deduplicated_in_order() {
        let mut w = vec![
            "b".to_owned(),
            "a".into(),
            "b".into(),
            "c".into(),
            "a".into(),
        ];
        dedup(&mut w);
        assert_eq!(w, ["b", "a", "c"]);
    }
}
