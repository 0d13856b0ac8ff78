//! The serving certificate and its reload.
//!
//! Kubernetes updates a Secret volume by writing a new timestamped directory and atomically
//! renaming a `..data` symlink onto it; `tls.crt` and `tls.key` are symlinks through `..data`.
//! A watch on the files follows the first target and dies with it (the reference's issue #176),
//! so this module watches the *directories* holding the files, debounces the burst of events a
//! swap produces, and re-reads both files. A pair that fails to parse or whose key does not match
//! the certificate is logged and ignored: the previous pair keeps serving. The current pair lives
//! in an [`ArcSwap`], read lock-free by every handshake; established connections are untouched.

use crate::{Error, Metrics};
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Parses and checks a PEM certificate chain and private key held in memory (the
/// self-managed mode's Secret); `Err` says what is wrong.
pub fn parse_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: invalid PEM: {e}"))?;
    if chain.is_empty() {
        return Err("certificate: no CERTIFICATE block found".into());
    }
    let private = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("key: no usable private key: {e}"))?;
    CertifiedKey::from_der(chain, private, provider)
        .map_err(|e| format!("certificate and key cannot be used together: {e}"))
}

/// Reads and checks a PEM certificate chain and private key.
pub fn load_pair(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, Error> {
    let cert_err = |reason: String| Error::CertFile {
        what: "certificate",
        path: cert.to_owned(),
        reason,
    };
    let cert_pem = std::fs::read(cert).map_err(|e| cert_err(e.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(format!("invalid PEM: {e}")))?;
    if chain.is_empty() {
        return Err(cert_err("no CERTIFICATE block found".into()));
    }
    let key_err = |reason: String| Error::CertFile {
        what: "key",
        path: key.to_owned(),
        reason,
    };
    let key_pem = std::fs::read(key).map_err(|e| key_err(e.to_string()))?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| key_err(format!("no usable private key: {e}")))?;
    CertifiedKey::from_der(chain, private, provider).map_err(|e| Error::CertPair {
        cert: cert.to_owned(),
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

/// The verifier of `--client-ca`: client certificates must chain to a CA in `path` (PEM).
/// Clients without one are let through the handshake (probes present none); the server
/// refuses them on review paths.
pub fn client_verifier(
    path: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, Error> {
    let err = |reason: String| Error::CertFile {
        what: "client CA",
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let cas = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("invalid PEM: {e}")))?;
    if cas.is_empty() {
        return Err(err("no CERTIFICATE block found".into()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        roots
            .add(ca)
            .map_err(|e| err(format!("not a usable CA certificate: {e}")))?;
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| err(e.to_string()))
}

/// Reads `path` as [`client_verifier`] will, so a bad file is reported at start-up.
pub fn check_client_ca(path: &Path) -> Result<(), Error> {
    client_verifier(path, Arc::new(rustls::crypto::ring::default_provider())).map(|_| ())
}

/// The notAfter of the pair's leaf certificate, in Unix seconds (`None` if it cannot be
/// parsed; rustls has already accepted the DER, so that is not expected). For the expiry
/// metric.
pub fn not_after(pair: &CertifiedKey) -> Option<i64> {
    let leaf = pair.cert.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// Hands every TLS handshake the current certificate pair.
#[derive(Debug)]
pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
}

impl CertResolver {
    pub fn new(initial: CertifiedKey) -> Self {
        Self {
            current: ArcSwap::from_pointee(initial),
        }
    }

    /// The pair new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }

    /// Makes `next` the pair new handshakes get.
    pub fn store(&self, next: CertifiedKey) {
        self.current.store(Arc::new(next));
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// What the reload task needs.
#[derive(Clone, Debug)]
pub struct ReloadOptions {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Quiet time after the last event before the files are read (a symlink swap is several
    /// events; cert and key may be written one after the other).
    pub debounce: Duration,
    /// Re-read the files this often even without events (a watch can miss a replaced
    /// directory); `None` disables it.
    pub poll_interval: Option<Duration>,
}

/// Watches the directories of the certificate and key and swaps reloaded pairs into `resolver`.
/// Returns once the watch is registered; the reload task stops when `cancel` is cancelled
/// (or, as a backstop, when the returned guard drops).
pub fn spawn_reloader(
    opts: ReloadOptions,
    resolver: Arc<CertResolver>,
    provider: Arc<CryptoProvider>,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) -> Result<ReloaderGuard, Error> {
    use notify::Watcher;

    let (tx, mut rx) = mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        match res {
            // Full channel = a reload is already pending; that one will read the new files.
            Ok(_) => {
                let _ = tx.try_send(());
            }
            Err(e) => tracing::warn!(error = %e, "certificate directory watch error"),
        }
    })
    .map_err(|e| Error::CertWatch {
        path: opts.cert.clone(),
        reason: e.to_string(),
    })?;

    let mut dirs: Vec<PathBuf> = Vec::new();
    for file in [&opts.cert, &opts.key] {
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        if !dirs.contains(&dir) {
            watcher
                .watch(&dir, notify::RecursiveMode::NonRecursive)
                .map_err(|e| Error::CertWatch {
                    path: dir.clone(),
                    reason: e.to_string(),
                })?;
            dirs.push(dir);
        }
    }

    let task = tokio::spawn(cancel.run_until_cancelled_owned(async move {
        // Keep the watcher alive as long as the task.
        let _watcher = watcher;
        let mut poll = opts.poll_interval.map(|p| {
            let mut i = tokio::time::interval(p);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        if let Some(p) = poll.as_mut() {
            p.tick().await; // the first tick is immediate
        }
        loop {
            let from_event = tokio::select! {
                ev = rx.recv() => match ev {
                    Some(()) => true,
                    None => return,
                },
                _ = async {
                    match poll.as_mut() {
                        Some(p) => { p.tick().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => false,
            };
            if from_event {
                // Debounce: wait until events stop arriving for `debounce`.
                loop {
                    match tokio::time::timeout(opts.debounce, rx.recv()).await {
                        Ok(Some(())) => continue,
                        Ok(None) => return,
                        Err(_) => break,
                    }
                }
            }
            reload_once(&opts, &resolver, &provider, &metrics, from_event).await;
        }
    }));
    Ok(ReloaderGuard { task })
}

async fn reload_once(
    opts: &ReloadOptions,
    resolver: &CertResolver,
    provider: &Arc<CryptoProvider>,
    metrics: &Metrics,
    from_event: bool,
) {
    let (cert, key, provider2) = (opts.cert.clone(), opts.key.clone(), provider.clone());
    // Small files, but still blocking I/O: keep it off the reactor.
    let loaded = tokio::task::spawn_blocking(move || load_pair(&cert, &key, &provider2)).await;
    match loaded {
        Ok(Ok(next)) => {
            if next.cert == resolver.current().cert {
                tracing::debug!("certificate files unchanged");
                return;
            }
            metrics.record_certificate_not_after(not_after(&next));
            resolver.store(next);
            metrics.record_cert_reload(true);
            tracing::info!(cert = %opts.cert.display(), "reloaded serving certificate");
        }
        Ok(Err(e)) => {
            // During a swap the files can be briefly missing; only a change we saw and could
            // not use is worth a warning and a failed-reload count.
            metrics.record_cert_reload(false);
            if from_event {
                tracing::warn!(error = %e, "certificate reload failed; keeping the previous certificate");
            } else {
                tracing::debug!(error = %e, "periodic certificate check failed; keeping the previous certificate");
            }
        }
        Err(e) => tracing::error!(error = %e, "certificate reload task failed"),
    }
}

/// Stops the reload task when dropped.
#[derive(Debug)]
pub struct ReloaderGuard {
    task: tokio::task::JoinHandle<Option<()>>,
}

impl Drop for ReloaderGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}
