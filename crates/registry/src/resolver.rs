//! Many lookups at once, through a bounded TTL cache.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use winkube_api::windows::{ImagePlatforms, ImageReference};

use crate::Error;
use crate::auth::DockerConfig;
use crate::cache::{Clock, TtlCache};
use crate::client::{ClientOptions, RegistryClient};

/// The outcome of resolving one image.
pub type Resolved = Result<ImagePlatforms, Error>;

/// Options of a [`Resolver`].
#[derive(Clone, Debug)]
pub struct ResolverOptions {
    pub client: ClientOptions,
    /// Most cached lookups kept.
    pub capacity: usize,
    /// How long a successful lookup is reused. Tags move, so keep it modest.
    pub ttl: Duration,
    /// How long a failed lookup is reused, so that an unreachable registry costs one
    /// timeout per image per interval rather than one per admission. Zero disables.
    pub negative_ttl: Duration,
}

impl Default for ResolverOptions {
    fn default() -> Self {
        Self {
            client: ClientOptions::default(),
            capacity: 1024,
            ttl: Duration::from_secs(600),
            negative_ttl: Duration::from_secs(10),
        }
    }
}

/// Resolves images with a cache. Share one per process.
pub struct Resolver {
    client: RegistryClient,
    cache: TtlCache<Resolved>,
    opts: ResolverOptions,
}

impl Resolver {
    pub fn new(opts: ResolverOptions, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        Ok(Self {
            client: RegistryClient::new(opts.client.clone())?,
            cache: TtlCache::new(opts.capacity, clock),
            opts,
        })
    }

    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    pub fn cached_entries(&self) -> usize {
        self.cache.len()
    }

    /// Resolves one image as written in a pod, with credentials from its pull secrets.
    pub async fn resolve(&self, image: &str, pull: &DockerConfig) -> Resolved {
        let reference =
            ImageReference::parse(image).map_err(|e| Error::Reference(e.to_string()))?;
        let creds = pull.credentials_for(&reference.registry);
        // Keyed by identity too: one namespace's secret must not answer for another's.
        let key = format!(
            "{reference}|{}",
            creds.map(|c| c.username.as_str()).unwrap_or("")
        );
        if let Some(hit) = self.cache.get(&key) {
            return hit;
        }
        let result = self.client.resolve(&reference, creds).await;
        let ttl = if result.is_ok() {
            self.opts.ttl
        } else {
            self.opts.negative_ttl
        };
        if !ttl.is_zero() {
            self.cache.insert(key, result.clone(), ttl);
        }
        if let Err(e) = &result {
            tracing::debug!(image, error = %e, "image lookup failed");
        }
        result
    }

    /// Resolves every image concurrently; each lookup is bounded by the client timeout.
    pub async fn resolve_all(
        &self,
        images: &[String],
        pull: &DockerConfig,
    ) -> BTreeMap<String, Resolved> {
        let futs = images
            .iter()
            .map(|i| async move { (i.clone(), self.resolve(i, pull).await) });
        futures::future::join_all(futs).await.into_iter().collect()
    }
}
