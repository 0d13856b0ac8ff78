//! The live [`ClusterView`]: what the webhook knows about the cluster while serving.
//!
//! - Credspecs come from a watch on `GMSACredentialSpec` (list, then watch from the list's
//!   resourceVersion, relisting on 410 Gone). The canonical contents are computed once per
//!   object change, so a lookup during a review is one hash-map read with no API call.
//! - "May this service account `use` that credspec?" is answered per check by a
//!   LocalSubjectAccessReview with exactly the reference's body (default), or by local RBAC
//!   evaluation over watched Roles and bindings with a SubjectAccessReview fallback
//!   ([`AuthorizationMode::RbacCache`]).
//! - API calls made while answering a review go through one token bucket (QPS/BURST).

use crate::ratelimit::TokenBucket;
use crate::{Error, Readiness};
use futures::StreamExt;
use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, ResourceAttributes, SubjectAccessReviewSpec,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::fmt::Debug;
use std::ops::ControlFlow;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use winkube_api::GmsaCredentialSpec;
use winkube_policy::{ClusterView, CredSpecContents, CredSpecLookup, UseDecision};
use winkube_rbac::{RbacSource, ResourceRequest, UserInfo};

/// How [`LiveView`] decides whether a service account may use a credspec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthorizationMode {
    /// One LocalSubjectAccessReview per check, exactly as the reference webhook. Every
    /// authorizer the API server runs (RBAC, webhook authorizers, Node, ABAC) takes part and
    /// the answer is as fresh as the API server's. Costs one API round trip per credspec
    /// reference in a validated pod, subject to QPS/BURST.
    #[default]
    SubjectAccessReview,
    /// Roles, ClusterRoles and their bindings are watched and evaluated locally with
    /// `winkube-rbac`; a local allow is final, a local deny falls back to a
    /// LocalSubjectAccessReview.
    ///
    /// Trade-off: a grant is honoured from the local cache, which can lag the API server by
    /// the watch latency (normally well under a second). A *revoked* grant may therefore still
    /// be honoured for that long; a new grant is never missed, because denials are re-asked.
    /// Authorizers other than RBAC (webhook authorizers, ABAC) are not consulted for grants RBAC
    /// already gives, but can still grant through the fallback. In return the common case, an
    /// authorized pod, makes no API call at all, so pod bursts are not throttled by QPS/BURST.
    /// The webhook needs `list`/`watch` on the four RBAC resources.
    RbacCache,
}

/// Settings of the live view.
#[derive(Clone, Debug)]
pub struct LiveViewConfig {
    pub authorization: AuthorizationMode,
    /// Sustained rate of API calls made while answering reviews (≤ 0: unlimited).
    pub qps: f32,
    /// Calls allowed at once before `qps` pacing applies.
    pub burst: u32,
}

impl Default for LiveViewConfig {
    /// client-go's defaults, as the reference uses them.
    fn default() -> Self {
        Self {
            authorization: AuthorizationMode::SubjectAccessReview,
            qps: 5.0,
            burst: 10,
        }
    }
}

/// A cache of one resource kind, keyed by namespace (`""` for cluster-scoped) then name,
/// holding whatever `T` the watcher's objects are turned into.
struct Index<T> {
    map: RwLock<HashMap<String, HashMap<String, T>>>,
}

impl<T> Index<T> {
    fn new() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, HashMap<String, T>>> {
        match self.map.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, HashMap<String, T>>> {
        match self.map.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn len(&self) -> usize {
        self.read().values().map(HashMap::len).sum()
    }
}

impl<T: Clone> Index<T> {
    fn get(&self, namespace: &str, name: &str) -> Option<T> {
        self.read().get(namespace)?.get(name).cloned()
    }
}

fn key_of(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// Feeds `index` from a watch on `api`: `Init..InitDone` builds a fresh map that replaces the
/// old one at once (objects gone while the watch was down disappear), `Apply`/`Delete` edit in
/// place. `synced` turns true after the first complete list.
async fn run_index<K, T>(
    what: &'static str,
    api: Api<K>,
    index: Arc<Index<T>>,
    convert: impl Fn(K) -> T + Send + 'static,
    meta: impl Fn(&K) -> &ObjectMeta + Send + 'static,
    synced: watch::Sender<bool>,
    on_change: impl Fn(&Index<T>) + Send + 'static,
) where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
    T: Send + Sync,
{
    let mut buffer: HashMap<String, HashMap<String, T>> = HashMap::new();
    loop {
        let mut stream = std::pin::pin!(
            watcher::watcher(api.clone(), watcher::Config::default()).default_backoff()
        );
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Init) => buffer = HashMap::new(),
                Ok(Event::InitApply(obj)) => {
                    let (ns, name) = key_of(meta(&obj));
                    buffer.entry(ns).or_default().insert(name, convert(obj));
                }
                Ok(Event::InitDone) => {
                    *index.write() = std::mem::take(&mut buffer);
                    on_change(&index);
                    if !*synced.borrow() {
                        tracing::info!(resource = what, objects = index.len(), "cache synced");
                        let _ = synced.send(true);
                    }
                }
                Ok(Event::Apply(obj)) => {
                    let (ns, name) = key_of(meta(&obj));
                    let value = convert(obj);
                    index.write().entry(ns).or_default().insert(name, value);
                    on_change(&index);
                }
                Ok(Event::Delete(obj)) => {
                    let (ns, name) = key_of(meta(&obj));
                    let mut map = index.write();
                    if let Some(inner) = map.get_mut(&ns) {
                        inner.remove(&name);
                        if inner.is_empty() {
                            map.remove(&ns);
                        }
                    }
                    drop(map);
                    on_change(&index);
                }
                // An API server without a watch cache answers a watch from an expired
                // resourceVersion with HTTP 410 instead of an ERROR event; kube-rs then retries
                // the same resourceVersion forever. Start over with a fresh list instead.
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

/// Watched RBAC objects, readable by `winkube-rbac`.
struct RbacCache {
    roles: Arc<Index<Arc<Role>>>,
    cluster_roles: Arc<Index<Arc<ClusterRole>>>,
    role_bindings: Arc<Index<Arc<RoleBinding>>>,
    cluster_role_bindings: Arc<Index<Arc<ClusterRoleBinding>>>,
}

impl RbacSource for RbacCache {
    fn role(&self, namespace: &str, name: &str) -> Option<Arc<Role>> {
        self.roles.get(namespace, name)
    }

    fn cluster_role(&self, name: &str) -> Option<Arc<ClusterRole>> {
        self.cluster_roles.get("", name)
    }

    fn visit_role_bindings(
        &self,
        namespace: &str,
        visit: &mut dyn FnMut(&RoleBinding) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let map = self.role_bindings.read();
        for rb in map.get(namespace).into_iter().flat_map(HashMap::values) {
            visit(rb)?;
        }
        ControlFlow::Continue(())
    }

    fn visit_cluster_role_bindings(
        &self,
        visit: &mut dyn FnMut(&ClusterRoleBinding) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let map = self.cluster_role_bindings.read();
        for crb in map.get("").into_iter().flat_map(HashMap::values) {
            visit(crb)?;
        }
        ControlFlow::Continue(())
    }
}

/// The webhook's view of the cluster. See the module documentation.
pub struct LiveView {
    client: kube::Client,
    credspecs: Arc<Index<CredSpecLookup>>,
    credspecs_synced: watch::Receiver<bool>,
    rbac: Option<RbacCache>,
    limiter: TokenBucket,
    tasks: Vec<JoinHandle<()>>,
}

impl Debug for LiveView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveView")
            .field("credspecs", &self.credspecs.len())
            .field("rbac_cache", &self.rbac.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn spawn_index<K, T>(
    what: &'static str,
    api: Api<K>,
    convert: impl Fn(K) -> T + Send + 'static,
    meta: impl Fn(&K) -> &ObjectMeta + Send + 'static,
    on_change: impl Fn(&Index<T>) + Send + 'static,
) -> (Arc<Index<T>>, watch::Receiver<bool>, JoinHandle<()>)
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
    T: Send + Sync + 'static,
{
    let index = Arc::new(Index::new());
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(run_index(
        what,
        api,
        index.clone(),
        convert,
        meta,
        tx,
        on_change,
    ));
    (index, rx, task)
}

/// A `GMSACredentialSpec` as the watch decodes it: only the metadata the watch and the cache
/// use, and the `credspec` document already in its canonical form (the tree is dropped as
/// soon as each object is decoded). Full objects (managedFields, annotations, the document as
/// a tree) would be materialised for a whole list response at once, about ten times the
/// cached size; only the derived [`CredSpecLookup`] is kept.
#[derive(Clone, Debug, Deserialize)]
struct WatchedCredSpec {
    #[serde(default, deserialize_with = "slim_metadata")]
    metadata: ObjectMeta,
    /// `None`: no usable `credspec` key (absent, null or "").
    #[serde(default, rename = "credspec", deserialize_with = "canonical_credspec")]
    canonical: Option<String>,
}

/// The canonical contents exactly as [`GmsaCredentialSpec::canonical_contents`] computes them.
fn canonical_credspec<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let credspec = Option::<serde_json::Value>::deserialize(d)?;
    Ok(GmsaCredentialSpec {
        metadata: ObjectMeta::default(),
        credspec,
    }
    .canonical_contents())
}

impl k8s_openapi::Resource for WatchedCredSpec {
    const API_VERSION: &'static str = <GmsaCredentialSpec as k8s_openapi::Resource>::API_VERSION;
    const GROUP: &'static str = <GmsaCredentialSpec as k8s_openapi::Resource>::GROUP;
    const KIND: &'static str = <GmsaCredentialSpec as k8s_openapi::Resource>::KIND;
    const VERSION: &'static str = <GmsaCredentialSpec as k8s_openapi::Resource>::VERSION;
    const URL_PATH_SEGMENT: &'static str =
        <GmsaCredentialSpec as k8s_openapi::Resource>::URL_PATH_SEGMENT;
    type Scope = <GmsaCredentialSpec as k8s_openapi::Resource>::Scope;
}

impl k8s_openapi::Metadata for WatchedCredSpec {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Decodes `metadata` keeping name, namespace, uid and resourceVersion; the other fields are
/// skipped without being built.
fn slim_metadata<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Slim {
        name: Option<String>,
        namespace: Option<String>,
        uid: Option<String>,
        resource_version: Option<String>,
    }
    let slim = Option::<Slim>::deserialize(d)?;
    Ok(slim.map_or_else(ObjectMeta::default, |m| ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resource_version: m.resource_version,
        ..ObjectMeta::default()
    }))
}

fn credspec_entry(cs: WatchedCredSpec) -> CredSpecLookup {
    match cs.canonical {
        Some(canonical) => CredSpecLookup::Found(Arc::new(CredSpecContents::new(
            cs.metadata.name.unwrap_or_default(),
            canonical,
        ))),
        None => CredSpecLookup::MissingCredspecKey,
    }
}

/// RBAC objects are cached whole for `winkube-rbac`, less what it never reads.
fn rbac_entry<K: k8s_openapi::Metadata<Ty = ObjectMeta>>(mut obj: K) -> Arc<K> {
    let meta = obj.metadata_mut();
    meta.managed_fields = None;
    meta.annotations = None;
    Arc::new(obj)
}

impl LiveView {
    /// Starts the watches and returns at once; `ready` is set once the credspec cache (and, in
    /// rbac-cache mode, the four RBAC caches) hold a complete list.
    pub async fn start(
        client: kube::Client,
        cfg: LiveViewConfig,
        ready: Readiness,
    ) -> Result<Arc<LiveView>, Error> {
        if !cfg.qps.is_finite() {
            return Err(Error::Config(format!(
                "QPS must be a finite number, got {}",
                cfg.qps
            )));
        }
        let mut tasks = Vec::new();
        let mut waits = Vec::new();
        let (credspecs, credspecs_synced, t) = spawn_index(
            "gmsacredentialspecs",
            Api::<WatchedCredSpec>::all(client.clone()),
            credspec_entry,
            |cs| &cs.metadata,
            |idx| crate::metrics::set_credspec_cache_size(idx.len()),
        );
        tasks.push(t);
        waits.push(credspecs_synced.clone());

        let rbac = match cfg.authorization {
            AuthorizationMode::SubjectAccessReview => None,
            AuthorizationMode::RbacCache => {
                let (roles, w1, t1) = spawn_index(
                    "roles",
                    Api::<Role>::all(client.clone()),
                    rbac_entry,
                    |o| &o.metadata,
                    |_| {},
                );
                let (cluster_roles, w2, t2) = spawn_index(
                    "clusterroles",
                    Api::<ClusterRole>::all(client.clone()),
                    rbac_entry,
                    |o| &o.metadata,
                    |_| {},
                );
                let (role_bindings, w3, t3) = spawn_index(
                    "rolebindings",
                    Api::<RoleBinding>::all(client.clone()),
                    rbac_entry,
                    |o| &o.metadata,
                    |_| {},
                );
                let (cluster_role_bindings, w4, t4) = spawn_index(
                    "clusterrolebindings",
                    Api::<ClusterRoleBinding>::all(client.clone()),
                    rbac_entry,
                    |o| &o.metadata,
                    |_| {},
                );
                tasks.extend([t1, t2, t3, t4]);
                waits.extend([w1, w2, w3, w4]);
                Some(RbacCache {
                    roles,
                    cluster_roles,
                    role_bindings,
                    cluster_role_bindings,
                })
            }
        };

        tasks.push(tokio::spawn(async move {
            for mut w in waits {
                if w.wait_for(|synced| *synced).await.is_err() {
                    return;
                }
            }
            ready.set_ready();
            tracing::info!("live view ready");
        }));

        Ok(Arc::new(LiveView {
            client,
            credspecs,
            credspecs_synced,
            rbac,
            limiter: TokenBucket::new(cfg.qps, cfg.burst),
            tasks,
        }))
    }

    /// Credspecs currently cached.
    pub fn credspec_count(&self) -> usize {
        self.credspecs.len()
    }

    /// One LocalSubjectAccessReview with the reference's exact body (reference §4.1).
    async fn subject_access_review(
        &self,
        namespace: &str,
        service_account: &str,
        credspec: &str,
    ) -> UseDecision {
        let review = LocalSubjectAccessReview {
            metadata: ObjectMeta {
                namespace: Some(namespace.to_owned()),
                ..ObjectMeta::default()
            },
            spec: SubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.to_owned()),
                    verb: Some("use".to_owned()),
                    group: Some(winkube_api::GROUP.to_owned()),
                    version: Some("v1".to_owned()),
                    resource: Some(winkube_api::PLURAL.to_owned()),
                    name: Some(credspec.to_owned()),
                    ..ResourceAttributes::default()
                }),
                user: Some(winkube_rbac::service_account_user_name(
                    namespace,
                    service_account,
                )),
                groups: Some(vec![
                    winkube_rbac::ALL_SERVICE_ACCOUNTS_GROUP.to_owned(),
                    format!(
                        "{}{namespace}",
                        winkube_rbac::SERVICE_ACCOUNT_NAMESPACE_GROUP_PREFIX
                    ),
                ]),
                ..SubjectAccessReviewSpec::default()
            },
            status: None,
        };
        self.limiter.acquire().await;
        let api = Api::<LocalSubjectAccessReview>::namespaced(self.client.clone(), namespace);
        match api.create(&PostParams::default(), &review).await {
            Ok(answer) => match answer.status {
                Some(s) => UseDecision {
                    allowed: s.allowed && !s.denied.unwrap_or(false),
                    reason: s.reason.unwrap_or_default(),
                },
                None => UseDecision {
                    allowed: false,
                    reason: "the SubjectAccessReview came back without a status".to_owned(),
                },
            },
            Err(e) => UseDecision {
                allowed: false,
                reason: format!("error when checking authz access: {e}"),
            },
        }
    }
}

impl ClusterView for LiveView {
    fn credspec(&self, name: &str) -> CredSpecLookup {
        if !*self.credspecs_synced.borrow() {
            return CredSpecLookup::Unavailable(
                "the GMSACredentialSpec cache has not synced with the API server yet".to_owned(),
            );
        }
        self.credspecs
            .get("", name)
            .unwrap_or(CredSpecLookup::NotFound)
    }

    async fn may_use_credspec(
        &self,
        namespace: &str,
        service_account: &str,
        credspec: &str,
    ) -> UseDecision {
        if let Some(rbac) = &self.rbac {
            // Same identity as the SubjectAccessReview: no `system:authenticated`.
            let user = UserInfo::service_account_without_authenticated(namespace, service_account);
            let request = ResourceRequest::new("use", winkube_api::GROUP, winkube_api::PLURAL)
                .in_namespace(namespace)
                .named(credspec);
            let local = winkube_rbac::authorize(rbac, &user, request);
            if local.allowed {
                return UseDecision {
                    allowed: true,
                    reason: local.reason,
                };
            }
        }
        self.subject_access_review(namespace, service_account, credspec)
            .await
    }
}
