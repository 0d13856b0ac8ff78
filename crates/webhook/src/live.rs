//! The live [`ClusterView`]: what the webhook knows about the cluster while serving.
//!
//! - Credspecs come from a watch on `GMSACredentialSpec` into a [`Cache`] (a reflector store;
//!   list, then watch from the list's resourceVersion, relisting on 410 Gone). Only a slim
//!   projection is kept: the canonical contents, computed once per object change, so a lookup
//!   during a review is one hash-map read with no API call.
//! - "May this service account `use` that credspec?" is answered per check by a
//!   LocalSubjectAccessReview with exactly the reference's body (default), or by local RBAC
//!   evaluation over watched Roles and bindings with a SubjectAccessReview fallback
//!   ([`AuthorizationMode::RbacCache`]).
//! - API calls made while answering a review go through one token bucket (QPS/BURST), and
//!   each authorization check has a deadline ([`LiveView::set_authorization_deadline`]).

use crate::cache::{Cache, CacheOptions, Projection, Slim, drop_unread_metadata};
use crate::ratelimit::TokenBucket;
use crate::{Error, Readiness};
use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, ResourceAttributes, SubjectAccessReviewSpec,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use prometheus_client::metrics::gauge::Gauge;
use serde::Deserialize;
use std::fmt::Debug;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::{CancellationToken, DropGuard};
use winkube_api::GmsaCredentialSpec;
use winkube_policy::{ClusterView, CredSpecContents, CredSpecLookup, SharedCredSpec, UseDecision};
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

/// How long the authorization checks of one review may take by default: under the
/// webhook's `timeoutSeconds` (10 in the bundled configurations), leaving time for the rest
/// of the review and the answer.
pub const DEFAULT_AUTHORIZATION_DEADLINE: Duration = Duration::from_secs(5);

/// Settings of the live view.
#[derive(Clone, Debug)]
pub struct LiveViewConfig {
    pub authorization: AuthorizationMode,
    /// Sustained rate of API calls made while answering reviews (≤ 0: unlimited).
    pub qps: f32,
    /// Calls allowed at once before `qps` pacing applies.
    pub burst: u32,
    /// Set to the number of credspecs cached ([`Metrics::credspec_cache_size`](crate::Metrics::credspec_cache_size)
    /// of the binary's registry; by default a gauge nobody exports).
    pub credspec_cache_size: Gauge,
}

impl Default for LiveViewConfig {
    /// client-go's defaults, as the reference uses them.
    fn default() -> Self {
        Self {
            authorization: AuthorizationMode::SubjectAccessReview,
            qps: 5.0,
            burst: 10,
            credspec_cache_size: Gauge::default(),
        }
    }
}

/// Watched RBAC objects, readable by `winkube-rbac`. RoleBindings are indexed by namespace:
/// a review reads one namespace's bindings, and filtering every binding of the cluster per
/// review would cost O(all bindings) under the store's lock.
struct RbacCache {
    roles: Cache<Role>,
    cluster_roles: Cache<ClusterRole>,
    role_bindings: Cache<RoleBinding>,
    cluster_role_bindings: Cache<ClusterRoleBinding>,
}

impl RbacSource for RbacCache {
    fn role(&self, namespace: &str, name: &str) -> Option<Arc<Role>> {
        self.roles.get(Some(namespace), name)
    }

    fn cluster_role(&self, name: &str) -> Option<Arc<ClusterRole>> {
        self.cluster_roles.get(None, name)
    }

    fn visit_role_bindings(
        &self,
        namespace: &str,
        visit: &mut dyn FnMut(&RoleBinding) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        self.role_bindings.visit_namespace(namespace, visit)
    }

    fn visit_cluster_role_bindings(
        &self,
        visit: &mut dyn FnMut(&ClusterRoleBinding) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        self.cluster_role_bindings.visit(visit)
    }
}

impl RbacCache {
    fn spawn(client: &kube::Client, cancel: &CancellationToken) -> Self {
        fn whole<R>(
            what: &'static str,
            client: &kube::Client,
            index_by_namespace: bool,
            cancel: &CancellationToken,
        ) -> Cache<R>
        where
            R: kube::Resource<DynamicType = ()>
                + Clone
                + serde::de::DeserializeOwned
                + Debug
                + Send
                + Sync
                + 'static,
        {
            let opts = CacheOptions {
                index_by_namespace,
                ..CacheOptions::default()
            };
            let modify = drop_unread_metadata::<R>;
            Cache::spawn(
                what,
                Api::all(client.clone()),
                modify,
                opts,
                |_| {},
                cancel.clone(),
            )
            .0
        }
        Self {
            roles: whole("roles", client, false, cancel),
            cluster_roles: whole("clusterroles", client, false, cancel),
            role_bindings: whole("rolebindings", client, true, cancel),
            cluster_role_bindings: whole("clusterrolebindings", client, false, cancel),
        }
    }

    fn clone_handles(&self) -> Self {
        Self {
            roles: self.roles.clone(),
            cluster_roles: self.cluster_roles.clone(),
            role_bindings: self.role_bindings.clone(),
            cluster_role_bindings: self.cluster_role_bindings.clone(),
        }
    }

    async fn synced(&self) {
        self.roles.synced().await;
        self.cluster_roles.synced().await;
        self.role_bindings.synced().await;
        self.cluster_role_bindings.synced().await;
    }
}

/// The webhook's view of the cluster. See the module documentation.
pub struct LiveView {
    client: kube::Client,
    credspecs: Cache<Slim<CachedCredSpec>>,
    rbac: Option<RbacCache>,
    limiter: TokenBucket,
    /// How long one SubjectAccessReview (its wait for the rate limiter included) may take,
    /// in milliseconds; see [`LiveView::set_authorization_deadline`].
    authorization_deadline_ms: AtomicU64,
    /// Stops the watches when the view goes away, if the caller's token has not already.
    _stop: DropGuard,
}

impl Debug for LiveView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveView")
            .field("credspecs", &self.credspecs.len())
            .field("rbac_cache", &self.rbac.is_some())
            .finish_non_exhaustive()
    }
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

/// Decodes `metadata` keeping name, namespace and resourceVersion (the watcher follows it); the
/// other fields, uid included (the cache is keyed by name), are
/// skipped without being built.
fn slim_metadata<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Slim {
        name: Option<String>,
        namespace: Option<String>,
        resource_version: Option<String>,
    }
    let slim = Option::<Slim>::deserialize(d)?;
    Ok(slim.map_or_else(ObjectMeta::default, |m| ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        resource_version: m.resource_version,
        ..ObjectMeta::default()
    }))
}

/// What the credspec cache holds per object: its name and canonical contents, handed to the
/// reviews that use them as they are ([`SharedCredSpec::from_entry`]: the store's one
/// allocation per credspec). A credspec without a usable `credspec` key is kept by name with
/// `has_key` false. The store keys entries by name, so nothing else is kept.
#[derive(Clone, Debug)]
struct CachedCredSpec {
    contents: CredSpecContents,
    has_key: bool,
}

impl Projection for CachedCredSpec {
    type Resource = WatchedCredSpec;
    fn name(&self) -> &str {
        self.contents.name()
    }
}

impl AsRef<CredSpecContents> for Slim<CachedCredSpec> {
    fn as_ref(&self) -> &CredSpecContents {
        &self.0.contents
    }
}

fn credspec_entry(cs: WatchedCredSpec) -> CachedCredSpec {
    let name = cs.metadata.name.as_deref().unwrap_or_default();
    CachedCredSpec {
        contents: CredSpecContents::new(name, cs.canonical.as_deref().unwrap_or_default()),
        has_key: cs.canonical.is_some(),
    }
}

impl LiveView {
    /// Starts the watches and returns at once; `ready` is set once the credspec cache (and, in
    /// rbac-cache mode, the four RBAC caches) hold a complete list. The watches stop when the
    /// view is dropped; [`LiveView::start_with_cancel`] stops them with a token.
    pub async fn start(
        client: kube::Client,
        cfg: LiveViewConfig,
        ready: Readiness,
    ) -> Result<Arc<LiveView>, Error> {
        Self::start_with_cancel(client, cfg, ready, &CancellationToken::new()).await
    }

    /// [`LiveView::start`] whose watches (and readiness task) stop once `cancel` is cancelled
    /// or the view is dropped, whichever comes first.
    pub async fn start_with_cancel(
        client: kube::Client,
        cfg: LiveViewConfig,
        ready: Readiness,
        cancel: &CancellationToken,
    ) -> Result<Arc<LiveView>, Error> {
        if !cfg.qps.is_finite() {
            return Err(Error::Config(format!(
                "QPS must be a finite number, got {}",
                cfg.qps
            )));
        }
        let cancel = cancel.child_token();
        let gauge = cfg.credspec_cache_size.clone();
        let (credspecs, _) = Cache::spawn_projected(
            "gmsacredentialspecs",
            Api::<WatchedCredSpec>::all(client.clone()),
            credspec_entry,
            CacheOptions::default(),
            move |store| {
                gauge.set(i64::try_from(store.len()).unwrap_or(i64::MAX));
            },
            cancel.clone(),
        );
        let rbac = match cfg.authorization {
            AuthorizationMode::SubjectAccessReview => None,
            AuthorizationMode::RbacCache => Some(RbacCache::spawn(&client, &cancel)),
        };

        let view = Arc::new(LiveView {
            client,
            credspecs,
            rbac,
            limiter: TokenBucket::new(cfg.qps, cfg.burst),
            authorization_deadline_ms: AtomicU64::new(millis(DEFAULT_AUTHORIZATION_DEADLINE)),
            _stop: cancel.clone().drop_guard(),
        });
        // Holds no reference to the view, so dropping the view still stops everything.
        let credspecs = view.credspecs.clone();
        let rbac = view.rbac.as_ref().map(RbacCache::clone_handles);
        tokio::spawn(cancel.run_until_cancelled_owned(async move {
            credspecs.synced().await;
            if let Some(rbac) = rbac {
                rbac.synced().await;
            }
            ready.set_ready();
            tracing::info!("live view ready");
        }));
        Ok(view)
    }

    /// The view's watch caches (credspecs; the RBAC objects in rbac-cache mode), for metrics
    /// ([`crate::Metrics::track_caches`]).
    pub fn caches(&self) -> Vec<Box<dyn crate::cache::CacheStatus>> {
        let mut caches: Vec<Box<dyn crate::cache::CacheStatus>> =
            vec![Box::new(self.credspecs.clone())];
        if let Some(rbac) = &self.rbac {
            caches.push(Box::new(rbac.roles.clone()));
            caches.push(Box::new(rbac.cluster_roles.clone()));
            caches.push(Box::new(rbac.role_bindings.clone()));
            caches.push(Box::new(rbac.cluster_role_bindings.clone()));
        }
        caches
    }

    /// Credspecs currently cached.
    pub fn credspec_count(&self) -> usize {
        self.credspecs.len()
    }

    /// Sets how long a SubjectAccessReview may take (default
    /// [`DEFAULT_AUTHORIZATION_DEADLINE`]). A review's checks run at once, so this bounds
    /// all of them; one that has not answered by then is "not allowed" and the pod is denied
    /// in-band (403) rather than the API server timing the webhook out. Keep it below the
    /// webhook configuration's `timeoutSeconds`.
    // A setter rather than a `LiveViewConfig` field so that existing struct literals of the
    // config keep compiling; the CLI flag that sets it is still to be added.
    pub fn set_authorization_deadline(&self, deadline: Duration) {
        self.authorization_deadline_ms
            .store(millis(deadline).max(1), Ordering::Relaxed);
    }

    /// The current deadline of one authorization check.
    pub fn authorization_deadline(&self) -> Duration {
        Duration::from_millis(self.authorization_deadline_ms.load(Ordering::Relaxed))
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
        let api = Api::<LocalSubjectAccessReview>::namespaced(self.client.clone(), namespace);
        let deadline = self.authorization_deadline();
        let call = async {
            self.limiter.acquire().await;
            api.create(&PostParams::default(), &review).await
        };
        let Ok(answer) = tokio::time::timeout(deadline, call).await else {
            return UseDecision {
                allowed: false,
                reason: format!(
                    "error when checking authz access: the authorization check did not finish within {deadline:?}"
                ),
            };
        };
        match answer {
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

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl ClusterView for LiveView {
    fn credspec(&self, name: &str) -> CredSpecLookup {
        if !self.credspecs.is_synced() {
            return CredSpecLookup::Unavailable(
                "the GMSACredentialSpec cache has not synced with the API server yet".to_owned(),
            );
        }
        match self.credspecs.get(None, name) {
            Some(entry) if entry.0.has_key => {
                CredSpecLookup::Found(SharedCredSpec::from_entry(entry))
            }
            Some(_) => CredSpecLookup::MissingCredspecKey,
            None => CredSpecLookup::NotFound,
        }
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
