//! The HTTPS listener: rustls (ring, TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`) in front of
//! hyper-util's auto HTTP/1.1 + HTTP/2 connection builder, with graceful shutdown.

use crate::certs::{self, CertResolver, ReloadOptions, ReloaderGuard};
use crate::limits::Limits;
use crate::routes::{Router, RouterOptions};
use crate::{Error, Metrics, Readiness};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use prometheus_client::registry::Registry;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use winkube_policy::ClusterView;

pub use crate::limits::DEFAULT_MAX_BODY_BYTES;

/// Most bytes hyper buffers per HTTP/1.1 connection before the body reaches the router.
const HTTP1_READ_BUFFER: usize = 64 * 1024;

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
    /// Body sizes, deadlines, the in-flight budget and caps on reviews, connections and
    /// HTTP/2 streams.
    pub limits: Limits,
    /// After the shutdown signal, how long in-flight requests may take before connections are
    /// dropped.
    pub shutdown_grace: Duration,
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
            limits: Limits::default(),
            shutdown_grace: Duration::from_secs(20),
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
    /// One permit per open connection.
    connections: Arc<Semaphore>,
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
        config.limits.validate().map_err(Error::Config)?;
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
                limits: config.limits.clone(),
                random_hostname: config.random_hostname,
            },
        );
        let require_client_cert = config.client_ca.is_some();
        let connections = Arc::new(Semaphore::new(config.limits.max_connections));
        Ok(Self {
            require_client_cert,
            listener,
            local_addr,
            acceptor: TlsAcceptor::from(Arc::new(tls)),
            router,
            config,
            resolver,
            stop_tasks,
            connections,
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

    /// Live figures (bytes in flight, reviews, connections) that stay readable while the
    /// server runs.
    pub fn stats(&self) -> Stats {
        Stats {
            budget: self.router.budget(),
            reviews: self.router.review_permits(),
            max_reviews: self.config.limits.max_concurrent_reviews,
            connections: self.connections.clone(),
            max_connections: self.config.limits.max_connections,
        }
    }

    /// The certificate resolver new handshakes use (tests read the current pair from it).
    pub fn cert_resolver(&self) -> Arc<CertResolver> {
        self.resolver.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// (HTTP/1 connections close after their current response, HTTP/2 ones get GOAWAY) and
    /// returns when they are done or `shutdown_grace` has passed.
    ///
    /// Connections beyond `max_connections` are closed as soon as they are accepted; a
    /// connection with no request in flight for `idle_timeout` is shut down gracefully.
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
            connections,
            _reloader,
            require_client_cert,
        } = self;
        let limits = &config.limits;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            // hyper reads ahead up to this much per connection (400 kB by default); bodies
            // are counted in the budget once handed over, so keep what precedes it small.
            // Request headers must fit (the API server's are well under 8 kB).
            .max_buf_size(HTTP1_READ_BUFFER);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.http2_max_concurrent_streams)
            .keep_alive_interval(limits.http2_keep_alive_interval)
            .keep_alive_timeout(limits.http2_keep_alive_timeout);
        let builder = Arc::new(builder);

        tracing::info!(addr = %local_addr, "serving admission reviews over HTTPS");
        // Cancelled at shutdown: every connection then shuts down gracefully.
        let draining = tokio_util::sync::CancellationToken::new();
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
            let Ok(slot) = connections.clone().try_acquire_owned() else {
                // Closed at once: the client sees its handshake fail, nothing is held.
                tracing::debug!(%peer, limit = limits.max_connections, "too many connections; closing a new one");
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let router = router.clone();
            let builder = builder.clone();
            let handshake_timeout = config.tls_handshake_timeout;
            let idle_timeout = limits.idle_timeout;
            let write_timeout = limits.write_timeout;
            let draining = draining.clone();
            tasks.spawn(async move {
                let _slot = slot;
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
                let activity = Arc::new(Activity::new());
                let service = hyper::service::service_fn({
                    let activity = activity.clone();
                    move |req: http::Request<_>| {
                        let router = router.clone();
                        let busy = Activity::begin(&activity);
                        async move {
                            if require_client_cert
                                && !authenticated
                                && crate::Endpoint::from_path(req.uri().path()).is_some()
                            {
                                return Ok::<_, Infallible>(client_cert_required());
                            }
                            let mut response = router.handle(req).await;
                            // The connection is busy until the answer has been sent.
                            response.body_mut().hold(busy);
                            Ok::<_, Infallible>(response)
                        }
                    }
                });
                let writes = crate::stall::WriteWait::new();
                let io = crate::stall::WatchedWrites::new(tls, writes.clone());
                let conn = builder.serve_connection(TokioIo::new(io), service);
                let mut conn = std::pin::pin!(conn);
                let mut shutting_down = false;
                let result = loop {
                    tokio::select! {
                        result = conn.as_mut() => break result,
                        () = draining.cancelled(), if !shutting_down => {
                            shutting_down = true;
                            conn.as_mut().graceful_shutdown();
                        }
                        () = writes.stalled_for(write_timeout) => {
                            // Dropping the connection drops the answer it holds.
                            tracing::debug!(%peer, "closing a connection whose client stopped reading");
                            break Ok(());
                        }
                        () = activity.idle_for(idle_timeout), if !shutting_down => {
                            tracing::debug!(%peer, "closing an idle connection");
                            shutting_down = true;
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
        drop(listener);
        tracing::info!("shutting down: no new connections, finishing in-flight reviews");
        draining.cancel();
        let drained = async { while tasks.join_next().await.is_some() {} };
        match tokio::time::timeout(config.shutdown_grace, drained).await {
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

/// Requests in flight on one connection, and when that number last changed.
struct Activity {
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `started` of the last change.
    last_change_ms: AtomicU64,
}

/// One request in flight on its connection (until dropped with the sent answer).
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_change_ms: AtomicU64::new(0),
        }
    }

    fn begin(this: &Arc<Self>) -> Busy {
        this.in_flight.fetch_add(1, Ordering::AcqRel);
        this.touch();
        Busy(this.clone())
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_change_ms.store(ms, Ordering::Release);
    }

    /// Resolves once no request has been in flight for `timeout`. One timer per connection,
    /// re-armed only when it fires: requests cost two atomic writes, not a timer each.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let last = Duration::from_millis(self.last_change_ms.load(Ordering::Acquire));
            let deadline = self.started + last + timeout;
            if Instant::now() >= deadline && self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            // Busy now: look again a full timeout later.
            let next = if Instant::now() >= deadline {
                Instant::now() + timeout
            } else {
                deadline
            };
            tokio::time::sleep_until(next).await;
        }
    }
}

/// Live figures of a running server, for tests and examples.
#[derive(Clone)]
pub struct Stats {
    budget: Arc<crate::limits::Budget>,
    reviews: Arc<Semaphore>,
    max_reviews: usize,
    connections: Arc<Semaphore>,
    max_connections: usize,
}

impl Stats {
    /// Bytes of request bodies and answers held.
    pub fn in_flight_bytes(&self) -> usize {
        self.budget.in_use()
    }

    /// Reviews being read, decided or answered.
    pub fn reviews_in_flight(&self) -> usize {
        self.max_reviews - self.reviews.available_permits()
    }

    /// Accepted connections not yet closed (TLS handshakes included).
    pub fn open_connections(&self) -> usize {
        self.max_connections - self.connections.available_permits()
    }
}
