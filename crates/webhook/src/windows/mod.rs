//! The Windows workload policies over HTTP: `POST /mutate-windows` and `/validate-windows`.
//!
//! Served on their own paths (and installed as their own webhook configurations) so that
//! the gMSA webhook can be installed alone. The review itself is the policy crate's
//! ([`winkube_policy::windows::decode`], [`PodReview::evaluate`](winkube_policy::windows::PodReview::evaluate));
//! what is left here is the I/O between the two: the image-metadata step. One review runs:
//!
//! 1. decode the AdmissionReview (malformed → the same 400 answers as the gMSA paths);
//!    anything but a Pod CREATE (no subresource) is allowed untouched;
//! 2. the images to resolve → the pod's `imagePullSecrets` from its namespace (only when it
//!    names some) → one merged [`DockerConfig`] → the shared [`Resolver`] (bounded TTL cache,
//!    per-lookup timeout). The whole step is bounded by the registry timeout, which is kept
//!    well below the API server's 10 s webhook timeout;
//! 3. evaluate with the cluster view ([`WindowsCluster`]: the live reflector-fed
//!    [`LiveWindowsView`], or any other view such as `winkube webhook --state`'s files);
//! 4. an AdmissionReview answer: JSONPatch, warnings (deduplicated), or a denial with its
//!    status code and message.
//!
//! `live` holds the live view and the readiness that joins it with the gMSA caches.

mod live;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use winkube_policy::Outcome;
use winkube_policy::windows::{
    Decoded, ImageLookup, ImageRequest, ImageResolutions, NodeBuilds, Phase, RuntimeClassLookup,
    WindowsClusterView, WindowsPolicyConfig,
};
use winkube_registry::{DockerConfig, Error as RegistryError, ImagePlatforms, Resolver};

pub use live::{LiveWindowsOptions, LiveWindowsView, join_readiness};

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
    /// `/validate-windows` (`Phase::Validate`): the policy crate decodes and evaluates; this
    /// only looks up the image metadata in between.
    pub async fn review(&self, phase: Phase, body: &[u8]) -> Outcome {
        let review = match winkube_policy::windows::decode(body) {
            Decoded::Pod(r) => r,
            Decoded::Answered(answer) => return answer,
        };
        let requests = review.images_to_resolve(&self.config);
        let (images, warnings) = self.resolve(&requests, review.namespace()).await;
        review.evaluate(
            phase,
            &self.config,
            self.cluster.as_ref(),
            &images,
            warnings,
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
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
