//! The live Windows cluster view: Nodes and RuntimeClasses watched into caches, pull secrets
//! read on demand, and the readiness that joins these caches with the gMSA ones.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Secret};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use winkube_api::windows::{LABEL_WINDOWS_BUILD, WindowsBuild};
use winkube_policy::windows::{
    NodeBuildLabel, NodeBuilds, RuntimeClassInfo, RuntimeClassLookup, WindowsClusterView,
};
use winkube_registry::{DockerConfig, ImageMetadataView};

use crate::Readiness;

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

/// The live Windows cluster view: Nodes and node.k8s.io/v1 RuntimeClasses watched into caches
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
    match NodeBuildLabel::of(node.metadata.labels.as_ref()?) {
        NodeBuildLabel::Build(b) => Some(b),
        NodeBuildLabel::NotWindows | NodeBuildLabel::Missing => None,
        NodeBuildLabel::Invalid { value, error } => {
            tracing::warn!(
                node = node.metadata.name.as_deref().unwrap_or(""),
                label = LABEL_WINDOWS_BUILD,
                value,
                error = %error,
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

/// Pull secrets are read with a GET per review that names some; a live cluster has no
/// pinned image metadata.
impl ImageMetadataView for LiveWindowsView {
    async fn pull_credentials(
        &self,
        namespace: &str,
        names: &[String],
    ) -> (DockerConfig, Vec<String>) {
        let reads =
            futures::future::join_all(names.iter().map(|n| self.pull_secret(namespace, n))).await;
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
