//! The image-metadata step of the Windows policies, shared by `winkube admit`/`lint` and
//! the webhook: the pod's pull credentials, then every image from the registry, and pinned
//! metadata where the registry cannot answer.
//!
//! Per image: found → its platforms; the registry says it does not exist (or the reference
//! is bad) → that is the answer, pinned metadata would only hide a typo; any other registry
//! failure (unreachable, timed out, refused credentials, garbage) → the view's pinned
//! metadata with a warning, else unavailable. Without a resolver (`--offline`) only pinned
//! metadata is used.

use std::future::Future;
use std::time::Duration;

use winkube_api::windows::ImagePlatforms;
use winkube_policy::windows::{ImageLookup, ImageRequest, ImageResolutions};

use crate::{DockerConfig, Error, Resolver};

/// What the image-metadata step needs from a cluster view besides the registry.
pub trait ImageMetadataView: Send + Sync {
    /// Credentials from the named `imagePullSecrets` of `namespace`, first secret first (as
    /// the kubelet merges them), and a warning per secret that could not be used.
    fn pull_credentials(
        &self,
        namespace: &str,
        names: &[String],
    ) -> impl Future<Output = (DockerConfig, Vec<String>)> + Send;

    /// Pinned metadata for `image` and where it comes from (for messages). A live cluster
    /// has none.
    fn pinned_image(&self, _image: &str) -> Option<(ImagePlatforms, String)> {
        None
    }

    /// Where this view's pinned metadata comes from, when it has a place for it (such as
    /// a state directory): messages about an image it lacks then name that place.
    fn pinned_metadata_source(&self) -> Option<String> {
        None
    }
}

/// Slack over the registry client's own timeout, so that its error (which names the
/// registry) normally arrives before an overall deadline of `timeout + slack` cuts the
/// step short.
pub const DEADLINE_SLACK: Duration = Duration::from_millis(250);

/// Resolves the images a pod needs. `resolver` is `None` with `--offline` (pinned metadata
/// only); `deadline` bounds the whole step (pull secrets and every lookup) when given.
/// Returns the resolutions and warnings about where they came from (a missing pull secret,
/// a registry failure answered from pinned metadata).
pub async fn resolve_images<V: ImageMetadataView + ?Sized>(
    resolver: Option<&Resolver>,
    view: &V,
    requests: &[ImageRequest],
    namespace: &str,
    deadline: Option<Duration>,
) -> (ImageResolutions, Vec<String>) {
    if requests.is_empty() {
        return (ImageResolutions::new(), Vec::new());
    }
    let source = view.pinned_metadata_source();
    let Some(resolver) = resolver else {
        let res = requests
            .iter()
            .map(|r| {
                let lookup = match view.pinned_image(&r.image) {
                    Some((p, _)) => ImageLookup::Found(p),
                    None => ImageLookup::Unavailable(format!(
                        "--offline, and no pinned metadata for this image in {}",
                        source.as_deref().unwrap_or("the cluster view")
                    )),
                };
                (r.image.clone(), lookup)
            })
            .collect();
        return (res, Vec::new());
    };
    let work = async {
        // Every request carries the pod's pull secrets.
        let names = &requests[0].pull_secrets;
        let (pull, warnings) = if names.is_empty() {
            (DockerConfig::default(), Vec::new())
        } else {
            view.pull_credentials(namespace, names).await
        };
        let images: Vec<String> = requests.iter().map(|r| r.image.clone()).collect();
        (resolver.resolve_all(&images, &pull).await, warnings)
    };
    let (results, mut warnings) = match deadline {
        None => work.await,
        Some(d) => match tokio::time::timeout(d, work).await {
            Ok(r) => r,
            Err(_) => {
                let why = format!(
                    "image metadata lookup did not finish within {:.1}s",
                    d.as_secs_f64()
                );
                let res = requests
                    .iter()
                    .map(|r| (r.image.clone(), ImageLookup::Unavailable(why.clone())))
                    .collect();
                return (res, Vec::new());
            }
        },
    };
    let res = requests
        .iter()
        .map(|r| {
            let lookup = match results.get(&r.image) {
                Some(Ok(p)) => ImageLookup::Found(p.clone()),
                // "Does not exist" is the answer; pinned metadata would hide a typo.
                Some(Err(e @ (Error::NotFound { .. } | Error::Reference(_)))) => {
                    ImageLookup::Unavailable(e.to_string())
                }
                Some(Err(e)) => match view.pinned_image(&r.image) {
                    Some((p, from)) => {
                        warnings.push(format!(
                            "image {:?}: registry lookup failed ({e}); using the pinned metadata in {from}",
                            r.image
                        ));
                        ImageLookup::Found(p)
                    }
                    None => ImageLookup::Unavailable(match &source {
                        Some(s) => format!("{e}; no pinned metadata for it in {s}"),
                        None => e.to_string(),
                    }),
                },
                None => ImageLookup::Unavailable("not looked up".into()),
            };
            (r.image.clone(), lookup)
        })
        .collect();
    (res, warnings)
}
