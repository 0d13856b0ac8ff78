//! Self-managed serving certificates (no cert-manager, no files).
//!
//! - One replica, the holder of a `coordination.k8s.io/v1` Lease named like the Secret
//!   ([`lease`]), keeps a CA and a serving certificate for the Service's DNS names in a
//!   `kubernetes.io/tls` Secret (plus the CA bundle in `ca.crt`), sets `caBundle` in every
//!   webhook of winkube's webhook configurations, renews the serving certificate
//!   `renew_before` its end and rotates the CA in phases ([`leader`], [`Phase`]).
//! - Every replica, leader or not, watches that Secret (through [`crate::cache`]) and swaps
//!   its serving pair into the server's [`CertResolver`]; a pair that does not parse is
//!   ignored and the previous one keeps serving.
//!
//! Everything a new leader needs is in the Secret (the rotation phase in its annotations), so
//! a replica restarted mid-rotation continues where the last one stopped.

mod leader;
mod lease;
pub mod pki;
pub mod secret;

pub use secret::{CertState, PHASE_ANNOTATION, Phase};

use crate::cache::{Cache, CacheOptions};
use crate::certs::{self, CertResolver};
use crate::{Error, Metrics};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the self-managed mode manages and how.
#[derive(Clone, Debug)]
pub struct SelfCertConfig {
    /// Namespace of the Secret, the Lease and the Service.
    pub namespace: String,
    /// The Secret (and the Lease, which has the same name).
    pub secret_name: String,
    /// The Service the API server calls; the certificate names `<service>`,
    /// `<service>.<namespace>`, `<service>.<namespace>.svc` and `...svc.cluster.local`.
    pub service_name: String,
    /// Names of the Mutating/ValidatingWebhookConfigurations whose webhooks get `caBundle`
    /// (absent ones are skipped).
    pub webhook_configurations: Vec<String>,
    /// This replica in the Lease (pod name and a random suffix).
    pub identity: String,
    /// Lifetime of a serving certificate.
    pub validity: Duration,
    /// Renew the serving certificate this long before it ends; the CA is rotated when it has
    /// less than `validity + renew_before` left.
    pub renew_before: Duration,
    /// Lifetime of a CA.
    pub ca_validity: Duration,
    /// A Lease not renewed for this long is taken over.
    pub lease_duration: Duration,
    /// How often the leader renews the Lease and checks the certificates and bundles.
    pub tick: Duration,
    /// How long a new bundle must be in every webhook configuration before serving changes,
    /// and how long a new certificate must be served before the old CA leaves the bundle (API
    /// servers and replicas pick changes up within it).
    pub propagation_delay: Duration,
}

impl SelfCertConfig {
    /// Defaults for the rest: 90-day certificates renewed 30 days ahead, a 5-year CA, a 30 s
    /// Lease renewed every 10 s, a 60 s propagation delay.
    pub fn new(namespace: &str, secret_name: &str, service_name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            secret_name: secret_name.to_owned(),
            service_name: service_name.to_owned(),
            webhook_configurations: vec!["winkube".into(), "winkube-windows".into()],
            identity: format!("winkube_{}", uuid::Uuid::new_v4()),
            validity: Duration::from_secs(90 * 86_400),
            renew_before: Duration::from_secs(30 * 86_400),
            ca_validity: Duration::from_secs(5 * 365 * 86_400),
            lease_duration: Duration::from_secs(30),
            tick: Duration::from_secs(10),
            propagation_delay: Duration::from_secs(60),
        }
    }

    /// The names the serving certificate is for.
    pub fn dns_names(&self) -> Vec<String> {
        let (s, ns) = (&self.service_name, &self.namespace);
        vec![
            s.clone(),
            format!("{s}.{ns}"),
            format!("{s}.{ns}.svc"),
            format!("{s}.{ns}.svc.cluster.local"),
        ]
    }

    /// Rejects settings that cannot work, naming the setting.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(m));
        if self.renew_before.is_zero() || self.renew_before >= self.validity {
            return bad(format!(
                "certificate renew-before ({:?}) must be more than 0 and less than the validity ({:?})",
                self.renew_before, self.validity
            ));
        }
        if self.ca_validity < 2 * (self.validity + self.renew_before) {
            return bad(format!(
                "CA validity ({:?}) must be at least twice validity + renew-before ({:?}), or the CA would rotate more often than certificates renew",
                self.ca_validity,
                self.validity + self.renew_before
            ));
        }
        if self.tick.is_zero() || self.lease_duration <= self.tick {
            return bad(format!(
                "the lease duration ({:?}) must exceed the renewal interval ({:?})",
                self.lease_duration, self.tick
            ));
        }
        for (what, v) in [
            ("namespace", &self.namespace),
            ("Secret name", &self.secret_name),
            ("service name", &self.service_name),
        ] {
            if !is_dns_label(v) {
                return bad(format!(
                    "{what} {v:?} is not a DNS label (lower-case letters, digits and '-', at most 63)"
                ));
            }
        }
        Ok(())
    }
}

fn is_dns_label(s: &str) -> bool {
    winkube_api::names::is_dns1123_label(s)
}

/// A running self-managed mode: the leader loop and the Secret watch. Stops when the token
/// given to [`SelfManagedCerts::start`] is cancelled, or when dropped (without releasing the
/// Lease, as a crash would).
pub struct SelfManagedCerts {
    resolver: Arc<CertResolver>,
    leader: watch::Receiver<bool>,
    stop: CancellationToken,
    leader_task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for SelfManagedCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfManagedCerts")
            .field("leader", &*self.leader.borrow())
            .finish_non_exhaustive()
    }
}

impl Drop for SelfManagedCerts {
    fn drop(&mut self) {
        if let Some(t) = self.leader_task.take() {
            t.abort();
        }
        self.stop.cancel();
    }
}

impl SelfManagedCerts {
    /// Starts the leader election and the Secret watch, and returns once the Secret holds a
    /// usable serving pair (made by this replica if it wins the Lease, else by the one that
    /// did). Errors: bad settings, or `cancel` cancelled before a pair was there.
    pub async fn start(
        client: kube::Client,
        config: SelfCertConfig,
        metrics: Arc<Metrics>,
        cancel: &CancellationToken,
    ) -> Result<Self, Error> {
        config.validate()?;
        crate::install_crypto_provider();
        let cfg = Arc::new(config);
        let stop = cancel.child_token();
        let (leader_tx, leader_rx) = watch::channel(false);
        let leader_task = tokio::spawn(run_leader(
            client.clone(),
            cfg.clone(),
            leader_tx,
            stop.clone(),
        ));

        // Every replica: the Secret, watched by name.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (first_tx, mut first_rx) = watch::channel(None::<Arc<CertResolver>>);
        let secrets: Api<Secret> = Api::namespaced(client, &cfg.namespace);
        let key = ObjectRef::<Secret>::new(&cfg.secret_name).within(&cfg.namespace);
        let what = "certificate Secret";
        let (_cache, _task) = Cache::spawn(
            what,
            secrets,
            |_s: &mut Secret| {},
            CacheOptions {
                field_selector: Some(format!("metadata.name={}", cfg.secret_name)),
                ..CacheOptions::default()
            },
            move |store| {
                let Some(secret) = store.get(&key) else {
                    return;
                };
                let Some((cert, key_pem)) = secret::serving_pair(&secret) else {
                    return;
                };
                let pair = match certs::parse_pair(cert, key_pem, &provider) {
                    Ok(p) => p,
                    Err(reason) => {
                        metrics.record_cert_reload(false);
                        tracing::warn!(%reason, "the certificate Secret's serving pair is not usable; keeping the previous one");
                        return;
                    }
                };
                let current = first_tx.borrow().clone();
                match current {
                    None => {
                        tracing::info!("loaded the serving certificate from the Secret");
                        first_tx.send_replace(Some(Arc::new(CertResolver::new(pair))));
                    }
                    Some(resolver) if resolver.current().cert != pair.cert => {
                        metrics.record_certificate_not_after(certs::not_after(&pair));
                        resolver.store(pair);
                        metrics.record_cert_reload(true);
                        tracing::info!("reloaded the serving certificate from the Secret");
                    }
                    Some(_) => {}
                }
            },
            stop.clone(),
        );
        let resolver = tokio::select! {
            r = first_rx.wait_for(Option::is_some) => match r {
                Ok(r) => r.clone(),
                Err(_) => None,
            },
            () = stop.cancelled() => None,
        };
        let Some(resolver) = resolver else {
            stop.cancel();
            return Err(Error::SelfCert(
                "stopped before the certificate Secret held a serving certificate".into(),
            ));
        };
        Ok(Self {
            resolver,
            leader: leader_rx,
            stop,
            leader_task: Some(leader_task),
        })
    }

    /// The resolver the server hands every handshake ([`crate::ServerConfig::with_resolver`]).
    pub fn resolver(&self) -> Arc<CertResolver> {
        self.resolver.clone()
    }

    /// Whether this replica holds the Lease.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// Stops, giving the Lease up if held.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(t) = self.leader_task.take() {
            let _ = t.await;
        }
    }
}

async fn run_leader(
    client: kube::Client,
    cfg: Arc<SelfCertConfig>,
    is_leader: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let mut lock =
        lease::LeaseLock::new(leases, &cfg.secret_name, &cfg.identity, cfg.lease_duration);
    let mut leader = leader::Leader::new(client, cfg.clone());
    let mut interval = tokio::time::interval(cfg.tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = interval.tick() => {}
        }
        let held = match lock.try_acquire_or_renew().await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "certificate lease check failed");
                false
            }
        };
        if held != *is_leader.borrow() {
            tracing::info!(identity = %cfg.identity, leader = held, "certificate leadership changed");
            is_leader.send_replace(held);
        }
        if held && let Err(e) = leader.tick().await {
            tracing::warn!(error = %e, "certificate maintenance failed; retrying");
        }
    }
    if *is_leader.borrow() {
        lock.release().await;
        is_leader.send_replace(false);
    }
}
