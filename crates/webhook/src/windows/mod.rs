//! The Windows workload policies over HTTP: `POST /mutate-windows` and `/validate-windows`.
//!
//! Served on their own paths (and installed as their own webhook configurations) so that
//! the gMSA webhook can be installed alone. The review itself is the policy crate's
//! ([`winkube_policy::windows::decode`], [`PodReview::evaluate`](winkube_policy::windows::PodReview::evaluate));
//! what is left here is the I/O between the two: the image-metadata step. One review runs:
//!
//! 1. decode the AdmissionReview (malformed → the same 400 answers as the gMSA paths);
//!    anything but a Pod CREATE (no subresource) is allowed untouched;
//! 2. the image-metadata step shared with `winkube admit`/`lint`
//!    ([`winkube_registry::resolve_images`]): the pod's `imagePullSecrets` (only when it
//!    names some, and over a cluster only with [`LiveWindowsOptions::read_pull_secrets`]),
//!    the shared [`Resolver`] (bounded TTL cache, per-lookup timeout), pinned
//!    metadata where the registry cannot answer. The whole step is bounded by the registry
//!    timeout plus [`DEADLINE_SLACK`], kept well below the API server's 10 s webhook timeout;
//! 3. evaluate with the cluster view ([`WindowsView`]: the live reflector-fed
//!    [`LiveWindowsView`], or `winkube webhook --state`'s [`FileView`]);
//! 4. an AdmissionReview answer: JSONPatch, warnings (deduplicated), or a denial with its
//!    status code and message.
//!
//! `live` holds the live view (its readiness joins the gMSA caches' with
//! [`Readiness::all`](crate::Readiness::all)).

mod live;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use winkube_api::windows::ImagePlatforms;
use winkube_policy::Outcome;
use winkube_policy::windows::{
    Decoded, NodeBuilds, Phase, RuntimeClassLookup, WindowsClusterView, WindowsPolicyConfig,
};
use winkube_registry::{DEADLINE_SLACK, DockerConfig, ImageMetadataView, Resolver, resolve_images};
use winkube_state::FileView;

pub use live::{LiveWindowsOptions, LiveWindowsView};

/// The cluster view the Windows paths serve from: what the policies ask
/// ([`WindowsClusterView`]) and what the image-metadata step asks ([`ImageMetadataView`]).
///
/// An enum of the two views that exist rather than a type parameter: [`ImageMetadataView`]
/// returns `impl Future` (no `dyn`), and a parameter would have to be carried by
/// [`Router`](crate::Router) and [`Server`](crate::Server) next to the gMSA view's, though
/// the choice is made once, at start-up.
#[derive(Clone, Debug)]
pub enum WindowsView {
    /// Nodes and RuntimeClasses watched from the cluster, pull secrets read on demand (if
    /// allowed).
    Live(Arc<LiveWindowsView>),
    /// A state directory (`winkube webhook --state`): its Nodes, RuntimeClasses, pull
    /// secrets and pinned image metadata.
    State(Arc<FileView>),
}

impl From<Arc<LiveWindowsView>> for WindowsView {
    fn from(v: Arc<LiveWindowsView>) -> Self {
        Self::Live(v)
    }
}

impl From<Arc<FileView>> for WindowsView {
    fn from(v: Arc<FileView>) -> Self {
        Self::State(v)
    }
}

impl WindowsClusterView for WindowsView {
    fn windows_node_builds(&self) -> NodeBuilds {
        match self {
            Self::Live(v) => v.windows_node_builds(),
            Self::State(v) => v.windows_node_builds(),
        }
    }

    fn runtime_class(&self, name: &str) -> RuntimeClassLookup {
        match self {
            Self::Live(v) => v.runtime_class(name),
            Self::State(v) => v.runtime_class(name),
        }
    }
}

impl ImageMetadataView for WindowsView {
    async fn pull_credentials(
        &self,
        namespace: &str,
        names: &[String],
    ) -> (DockerConfig, Vec<String>) {
        match self {
            Self::Live(v) => v.pull_credentials(namespace, names).await,
            Self::State(v) => v.pull_credentials(namespace, names).await,
        }
    }

    fn pinned_image(&self, image: &str) -> Option<(ImagePlatforms, String)> {
        match self {
            Self::Live(v) => v.pinned_image(image),
            Self::State(v) => v.pinned_image(image),
        }
    }

    fn pinned_metadata_source(&self) -> Option<String> {
        match self {
            Self::Live(v) => v.pinned_metadata_source(),
            Self::State(v) => v.pinned_metadata_source(),
        }
    }
}

/// The Windows policies with everything they need at review time. Share one per process.
pub struct WindowsPolicies {
    config: WindowsPolicyConfig,
    resolver: Arc<Resolver>,
    view: WindowsView,
    /// Bound on reading pull secrets plus resolving every image of one pod.
    lookup_deadline: Duration,
    /// Never ask a registry: pinned image metadata only (`winkube webhook --offline`).
    offline: bool,
}

impl Debug for WindowsPolicies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowsPolicies")
            .field("config", &self.config)
            .field("lookup_deadline", &self.lookup_deadline)
            .finish_non_exhaustive()
    }
}

impl WindowsPolicies {
    /// `resolver`'s client timeout bounds each lookup; the whole metadata step (pull
    /// secrets and every image) is bounded by that timeout plus [`DEADLINE_SLACK`].
    pub fn new(
        config: WindowsPolicyConfig,
        resolver: Arc<Resolver>,
        view: impl Into<WindowsView>,
    ) -> Self {
        let lookup_deadline = resolver.client().options().timeout + DEADLINE_SLACK;
        Self {
            config,
            resolver,
            view: view.into(),
            lookup_deadline,
            offline: false,
        }
    }

    /// Uses only the view's pinned image metadata, never a registry.
    #[must_use]
    pub fn offline(mut self) -> Self {
        self.offline = true;
        self
    }

    pub fn config(&self) -> &WindowsPolicyConfig {
        &self.config
    }

    /// Reviews the raw body of a POST to `/mutate-windows` (`Phase::Mutate`) or
    /// `/validate-windows` (`Phase::Validate`): the policy crate decodes and evaluates; this
    /// only looks up the image metadata in between.
    pub async fn review(&self, phase: Phase, body: &[u8]) -> Outcome {
        let review = match winkube_policy::windows::decode(body) {
            Decoded::Pod(r) => r,
            Decoded::Answered(answer) => return answer,
        };
        let requests = review.images_to_resolve(&self.config);
        let resolver = if self.offline {
            None
        } else {
            Some(&*self.resolver)
        };
        let (images, warnings) = resolve_images(
            resolver,
            &self.view,
            &requests,
            review.namespace(),
            Some(self.lookup_deadline),
        )
        .await;
        review.evaluate(phase, &self.config, &self.view, &images, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use winkube_registry::{ResolverOptions, SystemClock};

    fn policies() -> WindowsPolicies {
        let resolver = Resolver::new(ResolverOptions::default(), Arc::new(SystemClock)).unwrap();
        WindowsPolicies::new(
            WindowsPolicyConfig::default(),
            Arc::new(resolver),
            Arc::new(FileView::empty()),
        )
    }

    fn response(o: &Outcome) -> Value {
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
}
