//! How the command reaches registries: the flags shared by `admit`, `lint` and `webhook`,
//! and the one resolver they build.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use winkube_registry::{ClientOptions, Resolver, ResolverOptions, SystemClock};

use crate::windows::parse_duration;

/// Registry flags of `admit`, `lint` and `webhook`.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct RegistryArgs {
    /// Longest wait for one image lookup (`4s`, `500ms`, or seconds). The webhook also
    /// bounds the image metadata of one pod (pull secrets and every registry lookup) by
    /// it, so there it must stay below the API server's 10s webhook timeout
    #[arg(id = "registry_timeout", long = "registry-timeout", value_name = "DURATION",
          default_value = "4s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// A registry (`host[:port]`) that may be reached over plain http (loopback always
    /// may); repeatable
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Extra CA certificates (PEM) trusted for registries; repeatable
    #[arg(long = "registry-ca", value_name = "FILE")]
    pub ca_files: Vec<PathBuf>,
}

impl Default for RegistryArgs {
    /// What clap produces when no flag is given.
    fn default() -> Self {
        Self {
            timeout: crate::config::DEFAULT_REGISTRY_TIMEOUT,
            insecure_registries: Vec::new(),
            ca_files: Vec::new(),
        }
    }
}

/// The cache of a long-running resolver (the webhook's `--registry-cache-*` flags).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CacheSettings {
    pub capacity: usize,
    pub ttl: Duration,
}

impl RegistryArgs {
    /// The registry resolver these flags describe; `cache` `None`: the default cache (one
    /// `admit` or `lint` run). Errors name the flag at fault.
    pub fn resolver(&self, cache: Option<CacheSettings>) -> Result<Resolver, String> {
        let mut extra_ca_pem = Vec::new();
        for f in &self.ca_files {
            let pem = std::fs::read(f)
                .map_err(|e| format!("--registry-ca {}: cannot read file: {e}", f.display()))?;
            extra_ca_pem.push(pem);
        }
        let mut opts = ResolverOptions {
            client: ClientOptions {
                timeout: self.timeout,
                insecure_registries: self.insecure_registries.clone(),
                extra_ca_pem,
                ..ClientOptions::default()
            },
            ..ResolverOptions::default()
        };
        if let Some(cache) = cache {
            opts.capacity = cache.capacity;
            opts.ttl = cache.ttl;
        }
        Resolver::new(opts, Arc::new(SystemClock)).map_err(|e| format!("registry client: {e}"))
    }
}
