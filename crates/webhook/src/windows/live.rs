//! The live Windows cluster view: Nodes and RuntimeClasses watched into [`Cache`]s (the
//! webhook's one cache abstraction over kube-runtime reflector stores, slim projections),
//! pull secrets read on demand when the options allow it.

use std::fmt::Debug;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Secret};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::api::Api;
use tokio_util::sync::{CancellationToken, DropGuard};
use winkube_api::windows::{LABEL_WINDOWS_BUILD, WindowsBuild};
use winkube_policy::windows::{
    NodeBuildLabel, NodeBuilds, RuntimeClassInfo, RuntimeClassLookup, WindowsClusterView,
};
use winkube_registry::{DockerConfig, ImageMetadataView};

use crate::Readiness;
use crate::cache::{Cache, CacheOptions, Projection, Slim};

/// Settings of [`LiveWindowsView`].
#[derive(Clone, Debug)]
pub struct LiveWindowsOptions {
    /// RuntimeClass handlers that mean Hyper-V isolation (the policy file's
    /// `osBuild.hypervHandlers`).
    pub hyperv_handlers: Vec<String>,
    /// Longest wait for one pull-secret GET.
    pub secret_timeout: Duration,
    /// Read the imagePullSecrets a pod names (needs `get` on Secrets). Off: no Secret is
    /// ever read and images are looked up anonymously (least privilege).
    pub read_pull_secrets: bool,
}

impl Default for LiveWindowsOptions {
    fn default() -> Self {
        Self {
            hyperv_handlers: Vec::new(),
            secret_timeout: Duration::from_secs(2),
            read_pull_secrets: false,
        }
    }
}

/// What the view keeps of a Node: its name and, for a Windows node with a valid
/// `node.kubernetes.io/windows-build` label, its build.
#[derive(Clone, Debug)]
struct CachedNode {
    name: String,
    build: Option<WindowsBuild>,
}

impl Projection for CachedNode {
    type Resource = Node;
    fn name(&self) -> &str {
        &self.name
    }
}

impl Projection for RuntimeClassInfo {
    type Resource = RuntimeClass;
    fn name(&self) -> &str {
        &self.name
    }
}

/// The live Windows cluster view: Nodes and node.k8s.io/v1 RuntimeClasses watched into
/// caches (no API call per review), pull secrets read with a GET when a pod names some
/// and [`LiveWindowsOptions::read_pull_secrets`] is set.
///
/// Only Windows nodes (`kubernetes.io/os=windows`) with a valid
/// `node.kubernetes.io/windows-build` count. Until both caches hold a complete list, node
/// builds are reported as unknown and RuntimeClass lookups as unavailable.
pub struct LiveWindowsView {
    client: kube::Client,
    nodes: Cache<Slim<CachedNode>>,
    /// The node builds, counted again only after the node cache changed: counting visits
    /// every node, which at 5,000 nodes cost more than the rest of a review.
    node_builds: Arc<NodeBuildsMemo>,
    runtime_classes: Cache<Slim<RuntimeClassInfo>>,
    secret_timeout: Duration,
    read_pull_secrets: bool,
    /// Stops the watches when the view goes away, if the caller's token has not already.
    _stop: DropGuard,
}

impl Debug for LiveWindowsView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveWindowsView")
            .field("nodes", &self.nodes.len())
            .field("runtime_classes", &self.runtime_classes.len())
            .finish_non_exhaustive()
    }
}

/// A node's cache entry: its build when it is a Windows node with a valid build label
/// (other nodes, and Windows nodes without a valid label, no build-specific selector can
/// reach).
fn cached_node(node: Node) -> CachedNode {
    let name = node.metadata.name.unwrap_or_default();
    let build = match node.metadata.labels.as_ref().map(NodeBuildLabel::of) {
        Some(NodeBuildLabel::Build(b)) => Some(b),
        None | Some(NodeBuildLabel::NotWindows | NodeBuildLabel::Missing) => None,
        Some(NodeBuildLabel::Invalid { value, error }) => {
            tracing::warn!(
                node = name.as_str(),
                label = LABEL_WINDOWS_BUILD,
                value,
                error = %error,
                "ignoring a Windows node with an invalid build label"
            );
            None
        }
    };
    CachedNode { name, build }
}

/// [`NodeBuilds`] as of a generation of the node cache; the cache's change hook bumps the
/// generation, the next review that asks counts again.
#[derive(Default)]
struct NodeBuildsMemo {
    generation: AtomicU64,
    counted: RwLock<Option<(u64, NodeBuilds)>>,
}

impl NodeBuildsMemo {
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn get(&self, count: impl FnOnce() -> NodeBuilds) -> NodeBuilds {
        // Loaded before counting: a change during the count leaves a newer generation, so
        // the next review counts again.
        let generation = self.generation.load(Ordering::Acquire);
        if let Some((g, builds)) = &*self.counted.read().unwrap_or_else(PoisonError::into_inner)
            && *g == generation
        {
            return builds.clone();
        }
        let builds = count();
        *self.counted.write().unwrap_or_else(PoisonError::into_inner) =
            Some((generation, builds.clone()));
        builds
    }
}

impl LiveWindowsView {
    /// Starts the watches and returns at once; `ready` is set once both caches hold a
    /// complete list. The watches stop when the view is dropped;
    /// [`LiveWindowsView::start_with_cancel`] stops them with a token.
    pub fn start(client: kube::Client, opts: LiveWindowsOptions, ready: Readiness) -> Arc<Self> {
        Self::start_with_cancel(client, opts, ready, &CancellationToken::new())
    }

    /// [`LiveWindowsView::start`] whose watches (and readiness task) stop once `cancel` is
    /// cancelled or the view is dropped, whichever comes first.
    pub fn start_with_cancel(
        client: kube::Client,
        opts: LiveWindowsOptions,
        ready: Readiness,
        cancel: &CancellationToken,
    ) -> Arc<Self> {
        let cancel = cancel.child_token();
        let node_builds = Arc::new(NodeBuildsMemo::default());
        let memo = node_builds.clone();
        let (nodes, _) = Cache::spawn_projected(
            "nodes",
            Api::<Node>::all(client.clone()),
            cached_node,
            CacheOptions::default(),
            move |_| memo.changed(),
            cancel.clone(),
        );
        let handlers = opts.hyperv_handlers;
        let (runtime_classes, _) = Cache::spawn_projected(
            "runtimeclasses",
            Api::<RuntimeClass>::all(client.clone()),
            move |rc: RuntimeClass| RuntimeClassInfo::from_resource(&rc, &handlers),
            CacheOptions::default(),
            |_| {},
            cancel.clone(),
        );
        // Holds no reference to the view, so dropping the view still stops everything.
        let waits = (nodes.clone(), runtime_classes.clone());
        tokio::spawn(cancel.clone().run_until_cancelled_owned(async move {
            waits.0.synced().await;
            waits.1.synced().await;
            ready.set_ready();
            tracing::info!("Windows policy view ready");
        }));
        Arc::new(Self {
            client,
            nodes,
            node_builds,
            runtime_classes,
            secret_timeout: opts.secret_timeout,
            read_pull_secrets: opts.read_pull_secrets,
            _stop: cancel.drop_guard(),
        })
    }

    /// The view's watch caches, for metrics ([`crate::Metrics::track_caches`]).
    pub fn caches(&self) -> Vec<Box<dyn crate::cache::CacheStatus>> {
        vec![
            Box::new(self.nodes.clone()),
            Box::new(self.runtime_classes.clone()),
        ]
    }

    /// Whether both caches hold a complete list.
    pub fn is_synced(&self) -> bool {
        self.nodes.is_synced() && self.runtime_classes.is_synced()
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
        if !self.nodes.is_synced() {
            return NodeBuilds::default();
        }
        self.node_builds.get(|| {
            let mut builds = Vec::new();
            let _ = self.nodes.visit(&mut |n| {
                builds.extend(n.0.build);
                ControlFlow::Continue(())
            });
            NodeBuilds::from_builds(builds)
        })
    }

    fn runtime_class(&self, name: &str) -> RuntimeClassLookup {
        if !self.runtime_classes.is_synced() {
            return RuntimeClassLookup::Unavailable(
                "the RuntimeClass cache has not synced with the API server yet".into(),
            );
        }
        match self.runtime_classes.get(None, name) {
            Some(rc) => RuntimeClassLookup::Found(rc.0.clone()),
            None => RuntimeClassLookup::NotFound,
        }
    }
}

/// Pull secrets are read with a GET per review that names some (only with
/// [`LiveWindowsOptions::read_pull_secrets`]); a live cluster has no pinned image metadata.
impl ImageMetadataView for LiveWindowsView {
    async fn pull_credentials(
        &self,
        namespace: &str,
        names: &[String],
    ) -> (DockerConfig, Vec<String>) {
        if !self.read_pull_secrets {
            // No admission warning: a pod naming pull secrets for a public registry is
            // common; a private registry's refusal is reported by the lookup itself.
            tracing::debug!(
                namespace,
                secrets = names.len(),
                "imagePullSecrets not read (--read-pull-secrets is off); looking images up anonymously"
            );
            return (DockerConfig::default(), Vec::new());
        }
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
