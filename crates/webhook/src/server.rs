//! The HTTPS listener: rustls (ring, TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`) in front of
//! hyper-util's auto HTTP/1.1 + HTTP/2 connection builder, with graceful shutdown.

use crate::certs::{self, CertResolver, ReloadOptions, ReloaderGuard};
use crate::routes::{Router, RouterOptions};
use crate::{Error, Metrics, Readiness};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::registry::Registry;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use winkube_policy::ClusterView;

/// The API server refuses objects above roughly 3 MB, so a review of any admissible pod fits.
pub const DEFAULT_MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Where the serving certificate comes from.
#[derive(Clone, Debug)]
pub enum Certificates {
    /// PEM files, re-read when their directory changes.
    Files {
        /// PEM certificate chain.
        cert: PathBuf,
        /// PEM private key (PKCS#8, PKCS#1 or SEC1), re-read with the certificate.
        key: PathBuf,
    },
    /// A resolver someone else keeps current (the self-managed mode's Secret watch,
    /// [`crate::selfcert`]).
    Resolver(Arc<CertResolver>),
}

/// How the server listens and behaves.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    pub certificates: Certificates,
    /// PEM file of the CAs that sign the API server's client certificate: when set, review
    /// paths answer only clients presenting a certificate they signed (health and info stay
    /// open to probes, which present none).
    pub client_ca: Option<PathBuf>,
    /// Give `/mutate`d pods without a hostname a random 15-character one (`RANDOM_HOSTNAME`).
    pub random_hostname: bool,
    /// Largest accepted review body; bigger requests get 413.
    pub max_body_bytes: usize,
    /// After the shutdown signal, how long in-flight requests may take before connections are
    /// dropped.
    pub shutdown_grace: Duration,
    /// An HTTP/1 client must send complete request headers within this time.
    pub header_read_timeout: Duration,
    /// A client must complete the TLS handshake within this time.
    pub tls_handshake_timeout: Duration,
    /// Quiet time after certificate-directory events before the files are re-read.
    pub cert_reload_debounce: Duration,
    /// Re-read the certificate files this often even without events (`None`: only on events).
    pub cert_poll_interval: Option<Duration>,
    /// Stops the server's background tasks (the certificate reloader); the binary passes
    /// (a child of) its one token. They also stop when [`Server::run`] returns.
    pub cancel: CancellationToken,
}

impl ServerConfig {
    /// Serving the certificate files `tls_cert` and `tls_key`.
    pub fn new(addr: SocketAddr, tls_cert: PathBuf, tls_key: PathBuf) -> Self {
        Self::with_certificates(
            addr,
            Certificates::Files {
                cert: tls_cert,
                key: tls_key,
            },
        )
    }

    /// Serving what `resolver` holds.
    pub fn with_resolver(addr: SocketAddr, resolver: Arc<CertResolver>) -> Self {
        Self::with_certificates(addr, Certificates::Resolver(resolver))
    }

    pub fn with_certificates(addr: SocketAddr, certificates: Certificates) -> Self {
        Self {
            addr,
            certificates,
            client_ca: None,
            random_hostname: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            shutdown_grace: Duration::from_secs(20),
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            cert_reload_debounce: Duration::from_millis(200),
            cert_poll_interval: Some(Duration::from_secs(60)),
            cancel: CancellationToken::new(),
        }
    }
}

fn client_cert_required() -> http::Response<crate::routes::ResponseBody> {
    crate::routes::text(
        http::StatusCode::UNAUTHORIZED,
        "a client certificate signed by the configured client CA is required\n",
    )
}

/// Binds, then serves until `shutdown` completes; see [`Server`].
pub async fn serve<V: ClusterView + 'static>(
    config: ServerConfig,
    view: Arc<V>,
    ready: Readiness,
    metrics: Arc<Metrics>,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    Server::bind(config, view, ready, metrics, registry)
        .await?
        .run(shutdown)
        .await
}

/// A bound, not yet serving, server. Binding first lets callers learn the port (`addr` with
/// port 0) and fail early on a bad certificate.
pub struct Server<V> {
    listener: TcpListener,
    local_addr: SocketAddr,
    acceptor: TlsAcceptor,
    router: Router<V>,
    config: ServerConfig,
    resolver: Arc<CertResolver>,
    /// Stops the reloader when the server stops.
    stop_tasks: CancellationToken,
    _reloader: Option<ReloaderGuard>,
    /// Review paths need a verified client certificate (`client_ca`).
    require_client_cert: bool,
}

impl<V: ClusterView + 'static> Server<V> {
    /// Loads the certificate (a clear error if it is unusable), starts watching its directory,
    /// and binds the listener. `metrics` (registered in the binary's `registry`) counts
    /// reviews and certificate reloads; `/metrics` encodes all of `registry`.
    pub async fn bind(
        config: ServerConfig,
        view: Arc<V>,
        ready: Readiness,
        metrics: Arc<Metrics>,
        registry: Arc<Registry>,
    ) -> Result<Self, Error> {
        crate::install_crypto_provider();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let stop_tasks = config.cancel.child_token();
        let (resolver, reloader) = match &config.certificates {
            Certificates::Files { cert, key } => {
                let initial = certs::load_pair(cert, key, &provider)?;
                metrics.record_certificate_not_after(certs::not_after(&initial));
                let resolver = Arc::new(CertResolver::new(initial));
                let reloader = certs::spawn_reloader(
                    ReloadOptions {
                        cert: cert.clone(),
                        key: key.clone(),
                        debounce: config.cert_reload_debounce,
                        poll_interval: config.cert_poll_interval,
                    },
                    resolver.clone(),
                    provider.clone(),
                    metrics.clone(),
                    stop_tasks.clone(),
                )?;
                (resolver, Some(reloader))
            }
            Certificates::Resolver(r) => {
                metrics.record_certificate_not_after(certs::not_after(&r.current()));
                (r.clone(), None)
            }
        };

        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
        let builder = match &config.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                builder.with_client_cert_verifier(certs::client_verifier(path, provider)?)
            }
        };
        let mut tls = builder.with_cert_resolver(resolver.clone());
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: config.addr,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.addr,
            source,
        })?;
        let router = Router::new(
            view,
            ready,
            metrics,
            registry,
            RouterOptions {
                max_body_bytes: config.max_body_bytes,
                random_hostname: config.random_hostname,
            },
        );
        let require_client_cert = config.client_ca.is_some();
        Ok(Self {
            require_client_cert,
            listener,
            local_addr,
            acceptor: TlsAcceptor::from(Arc::new(tls)),
            router,
            config,
            resolver,
            stop_tasks,
            _reloader: reloader,
        })
    }

    /// Also serves the Windows workload policies on `/mutate-windows` and `/validate-windows`.
    pub fn with_windows(mut self, windows: Arc<crate::windows::WindowsPolicies>) -> Self {
        self.router = self.router.with_windows(windows);
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.router.metrics().clone()
    }

    /// The certificate resolver new handshakes use (tests read the current pair from it).
    pub fn cert_resolver(&self) -> Arc<CertResolver> {
        self.resolver.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// (HTTP/1 connections close after their current response, HTTP/2 ones get GOAWAY) and
    /// returns when they are done or `shutdown_grace` has passed.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let Self {
            listener,
            local_addr,
            acceptor,
            router,
            config,
            resolver: _,
            stop_tasks,
            _reloader,
            require_client_cert,
        } = self;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout);
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);

        tracing::info!(addr = %local_addr, "serving admission reviews over HTTPS");
        let graceful = GracefulShutdown::new();
        // Connection tasks, so that the ones still running after the grace period are dropped.
        let mut tasks = tokio::task::JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Usually EMFILE: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            while tasks.try_join_next().is_some() {}
            let _ = tcp.set_nodelay(true);
            let watcher = graceful.watcher();
            let acceptor = acceptor.clone();
            let router = router.clone();
            let builder = builder.clone();
            let handshake_timeout = config.tls_handshake_timeout;
            tasks.spawn(async move {
                let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                // The verifier accepted the certificate if there is one; without one, only the
                // paths probes use are answered.
                let authenticated = tls.get_ref().1.peer_certificates().is_some();
                let service = hyper::service::service_fn(move |req: http::Request<_>| {
                    let router = router.clone();
                    async move {
                        if require_client_cert
                            && !authenticated
                            && crate::Endpoint::from_path(req.uri().path()).is_some()
                        {
                            return Ok::<_, Infallible>(client_cert_required());
                        }
                        Ok::<_, Infallible>(router.handle(req).await)
                    }
                });
                let conn = builder
                    .serve_connection(TokioIo::new(tls), service)
                    .into_owned();
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
        drop(listener);
        tracing::info!("shutting down: no new connections, finishing in-flight reviews");
        match tokio::time::timeout(config.shutdown_grace, graceful.shutdown()).await {
            Ok(()) => tracing::info!("all connections closed"),
            Err(_) => {
                tracing::warn!(
                    grace = ?config.shutdown_grace,
                    connections = tasks.len(),
                    "shutdown grace period over; dropping remaining connections"
                );
                tasks.abort_all();
            }
        }
        stop_tasks.cancel();
        Ok(())
    }
}
