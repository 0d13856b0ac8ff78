//! Endpoints: one gRPC server per group/version, each on its own pipe or socket.
//!
//! On Windows the endpoint is the named pipe `\\.\pipe\csi-proxy-<group>-<version>`;
//! elsewhere (tests, development) it is the Unix socket
//! `<socket-dir>/csi-proxy-<group>-<version>`. Every accepted connection goes
//! through [`authority::AuthorityFilter`] before tonic sees it.

pub mod authority;
#[cfg(windows)]
pub mod pipe;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::core::Node;
use crate::versions;

/// One served API group/version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Api {
    /// Group name (`disk`, `volume`, ...).
    pub group: String,
    /// Version (`v1`, `v1beta2`, ...).
    pub version: String,
}

impl Api {
    /// `csi-proxy-<group>-<version>`, the endpoint's base name.
    pub fn endpoint_name(&self) -> String {
        format!("csi-proxy-{}-{}", self.group, self.version)
    }

    /// The Windows pipe path, `\\.\pipe\csi-proxy-<group>-<version>`.
    pub fn pipe_path(&self) -> String {
        format!(r"\\.\pipe\{}", self.endpoint_name())
    }

    /// The Unix socket path under `dir`.
    pub fn socket_path(&self, dir: &Path) -> PathBuf {
        dir.join(self.endpoint_name())
    }
}

/// Every group/version this build can serve.
pub fn all_apis() -> Vec<Api> {
    versions::APIS
        .iter()
        .flat_map(|(g, vs)| {
            vs.iter().map(|v| Api {
                group: (*g).to_string(),
                version: (*v).to_string(),
            })
        })
        .collect()
}

/// Transport errors (start-up; per-connection errors are only logged).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The endpoint could not be created.
    #[error("cannot listen on {endpoint}: {source}")]
    Listen {
        /// Pipe or socket path.
        endpoint: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Another process already serves this endpoint.
    #[error("{0} is already served by another process")]
    InUse(String),
    /// No such group/version.
    #[error("unknown API {0}")]
    UnknownApi(String),
    /// Connections could not be accepted for longer than the endpoint tolerates.
    #[error("{endpoint} stopped accepting connections: {source}")]
    Accept {
        /// Pipe or socket path.
        endpoint: String,
        /// The last accept error.
        source: std::io::Error,
    },
    /// A server stopped with an error.
    #[error("server for {endpoint} failed: {source}")]
    Serve {
        /// Pipe or socket path.
        endpoint: String,
        /// Cause.
        source: tonic::transport::Error,
    },
}

/// Connection options.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Time a new connection has to send the HTTP/2 preface (grpc-go servers use 120 s).
    pub handshake_timeout: Duration,
    /// On shutdown, time given to open connections to finish before they are cut
    /// (Go clients keep their connections open for the life of the driver).
    pub shutdown_grace: Duration,
    /// After the preface, time a connection may have no open stream and no
    /// traffic before it is closed (a client that reconnects pays one dial).
    pub idle_timeout: Duration,
    /// SETTINGS_MAX_CONCURRENT_STREAMS advertised per connection; streams past
    /// it are refused (REFUSED_STREAM) before any state is kept for them.
    pub max_concurrent_streams: u32,
    /// Connections one endpoint holds at once; further clients wait in the
    /// accept queue until one closes.
    pub max_connections: usize,
    /// Accept errors (or failures to create the next pipe instance) that last
    /// this long stop the endpoint with an error, and so the process with a
    /// non-zero exit, for the service manager to restart it.
    pub accept_give_up: Duration,
    /// Per-call metrics (`--metrics-bind-address`); none records nothing.
    pub metrics: Option<crate::metrics::CallMetrics>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            handshake_timeout: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
            max_concurrent_streams: 64,
            max_connections: 64,
            accept_give_up: Duration::from_secs(120),
            metrics: None,
        }
    }
}

/// Something connections are accepted from (a Unix listener, a pipe's next instance).
pub(crate) trait Listener: Send + 'static {
    /// The accepted connection.
    type Io: Send + 'static;
    /// Waits for the next connection.
    fn accept(&mut self) -> impl Future<Output = std::io::Result<Self::Io>> + Send;
}

#[cfg(unix)]
impl Listener for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;
    async fn accept(&mut self) -> std::io::Result<Self::Io> {
        tokio::net::UnixListener::accept(self).await.map(|(s, _)| s)
    }
}

/// Where an endpoint's accept loop leaves the error it gave up on.
pub(crate) type GaveUp = std::sync::Arc<std::sync::Mutex<Option<std::io::Error>>>;

/// Accepts connections: each holds a permit of the endpoint's connection
/// cap, and an accept error (EMFILE when descriptors run out) is logged and
/// retried after a growing pause (5 ms doubling to 1 s) instead of at once in
/// a busy loop. Errors lasting `accept_give_up` end the stream, leaving the
/// error in `gave_up`.
pub(crate) fn accept_loop<L: Listener>(
    listener: L,
    opts: &ServeOptions,
    gave_up: GaveUp,
) -> impl Stream<Item = std::io::Result<authority::AuthorityFilter<L::Io>>> + Send + 'static {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(opts.max_connections));
    let (handshake_timeout, idle_timeout, accept_give_up) = (
        opts.handshake_timeout,
        opts.idle_timeout,
        opts.accept_give_up,
    );
    futures::stream::unfold(listener, move |mut l| {
        let slots = slots.clone();
        let gave_up = gave_up.clone();
        async move {
            let permit = slots.acquire_owned().await.ok()?;
            let mut pause = Duration::from_millis(5);
            let mut failing_since: Option<tokio::time::Instant> = None;
            loop {
                match l.accept().await {
                    Ok(io) => {
                        let conn = authority::AuthorityFilter::new(io, handshake_timeout)
                            .idle_timeout(idle_timeout)
                            .hold(permit);
                        return Some((Ok(conn), l));
                    }
                    Err(e) => {
                        let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                        if since.elapsed() >= accept_give_up {
                            tracing::error!(error = %e, "accept keeps failing; stopping the endpoint");
                            if let Ok(mut g) = gave_up.lock() {
                                *g = Some(e);
                            }
                            return None;
                        }
                        tracing::warn!(error = %e, pause_ms = pause.as_millis() as u64, "accept failed; retrying");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(1));
                    }
                }
            }
        }
    })
}

/// Serves one API over a stream of accepted connections until `shutdown` resolves.
pub async fn serve_connections<S, IO>(
    api: &Api,
    node: &Node,
    opts: &ServeOptions,
    incoming: S,
    gave_up: GaveUp,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), TransportError>
where
    S: Stream<Item = std::io::Result<IO>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + tonic::transport::server::Connected + Unpin + Send + 'static,
{
    let routes = versions::routes(&api.group, &api.version, node)
        .ok_or_else(|| TransportError::UnknownApi(api.endpoint_name()))?;
    let layer = match &opts.metrics {
        Some(m) => m.layer(api),
        None => crate::metrics::MetricsLayer::default(),
    };
    let served = tonic::transport::Server::builder()
        .http2_max_header_list_size(Some(authority::MAX_HEADER_LIST_SIZE as u32))
        .max_concurrent_streams(Some(opts.max_concurrent_streams))
        .layer(layer)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|source| TransportError::Serve {
            endpoint: api.endpoint_name(),
            source,
        });
    served?;
    match gave_up.lock().ok().and_then(|mut g| g.take()) {
        Some(source) => Err(TransportError::Accept {
            endpoint: api.endpoint_name(),
            source,
        }),
        None => Ok(()),
    }
}

/// A bound Unix-socket endpoint.
#[cfg(unix)]
pub struct UnixEndpoint {
    api: Api,
    path: PathBuf,
    listener: tokio::net::UnixListener,
}

#[cfg(unix)]
impl UnixEndpoint {
    /// Binds `<dir>/csi-proxy-<group>-<version>`, creating `dir` when it is
    /// missing. A socket that still answers is refused (like the
    /// first-instance pipe flag); a stale one is replaced.
    pub async fn bind(dir: &Path, api: Api) -> Result<Self, TransportError> {
        let path = api.socket_path(dir);
        let shown = path.display().to_string();
        std::fs::create_dir_all(dir).map_err(|source| TransportError::Listen {
            endpoint: format!("{} (creating the directory {})", shown, dir.display()),
            source,
        })?;
        if path.exists() {
            if tokio::net::UnixStream::connect(&path).await.is_ok() {
                return Err(TransportError::InUse(shown));
            }
            std::fs::remove_file(&path).map_err(|source| TransportError::Listen {
                endpoint: shown.clone(),
                source,
            })?;
        }
        let listener =
            tokio::net::UnixListener::bind(&path).map_err(|source| TransportError::Listen {
                endpoint: shown,
                source,
            })?;
        Ok(UnixEndpoint {
            api,
            path,
            listener,
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves until `shutdown` resolves; the socket file is removed afterwards.
    pub async fn serve(
        self,
        node: Node,
        opts: ServeOptions,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), TransportError> {
        let UnixEndpoint {
            api,
            path,
            listener,
        } = self;
        let gave_up = GaveUp::default();
        let incoming = accept_loop(listener, &opts, gave_up.clone());
        tracing::info!(endpoint = %path.display(), "serving");
        let r = serve_connections(&api, &node, &opts, incoming, gave_up, shutdown).await;
        let _ = std::fs::remove_file(&path);
        r
    }
}

/// Serves every API in `apis` until `shutdown` resolves or any server fails;
/// then all servers stop (upstream behaviour) and the first error is returned.
pub async fn serve_all(
    apis: Vec<Api>,
    node: Node,
    opts: ServeOptions,
    #[cfg_attr(windows, allow(unused_variables))] socket_dir: Option<PathBuf>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TransportError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut set = JoinSet::new();
    for api in apis {
        let mut rx = stop_rx.clone();
        let stop = async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        #[cfg(unix)]
        {
            let dir = socket_dir.clone().unwrap_or_else(std::env::temp_dir);
            let ep = UnixEndpoint::bind(&dir, api).await?;
            let (node, opts) = (node.clone(), opts.clone());
            set.spawn(async move { ep.serve(node, opts, stop).await });
        }
        #[cfg(windows)]
        {
            let ep = pipe::PipeEndpoint::create(api)?;
            let (node, opts) = (node.clone(), opts.clone());
            set.spawn(async move { ep.serve(node, opts, stop).await });
        }
    }
    let mut shutdown = Box::pin(shutdown);
    let mut first_err = None;
    tokio::select! {
        () = &mut shutdown => {}
        Some(done) = set.join_next() => {
            first_err = Some(match done {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(join) => Some(TransportError::Listen {
                    endpoint: "server task".into(),
                    source: std::io::Error::other(join.to_string()),
                }),
            });
        }
    }
    let _ = stop_tx.send(true);
    let drain = async {
        while let Some(done) = set.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e, "server stopped with an error");
            }
        }
    };
    if tokio::time::timeout(opts.shutdown_grace, drain)
        .await
        .is_err()
    {
        tracing::info!("closing connections still open after the shutdown grace period");
        set.abort_all();
        while set.join_next().await.is_some() {}
    }
    match first_err.flatten() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::core::Policy;
    use crate::host::fake::FakeHost;
    use crate::validate::AllowedRoots;

    /// A listener whose every accept fails as with exhausted descriptors.
    struct Exhausted(Arc<AtomicUsize>);

    impl Listener for Exhausted {
        type Io = tokio::net::UnixStream;
        async fn accept(&mut self) -> std::io::Result<Self::Io> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(std::io::Error::from_raw_os_error(24)) // EMFILE
        }
    }

    #[tokio::test]
    async fn lasting_accept_errors_back_off_then_stop_the_endpoint_with_an_error() {
        let node = Node {
            host: Arc::new(FakeHost::seeded()),
            policy: Arc::new(Policy::new(AllowedRoots::new([r"C:\k"]).unwrap())),
        };
        let opts = ServeOptions {
            accept_give_up: Duration::from_millis(300),
            ..ServeOptions::default()
        };
        let attempts = Arc::new(AtomicUsize::new(0));
        let gave_up = GaveUp::default();
        let incoming = accept_loop(Exhausted(attempts.clone()), &opts, gave_up.clone());
        let api = Api {
            group: "disk".into(),
            version: "v1".into(),
        };
        let started = std::time::Instant::now();
        let r = serve_connections(
            &api,
            &node,
            &opts,
            incoming,
            gave_up,
            std::future::pending(),
        )
        .await;
        assert!(matches!(r, Err(TransportError::Accept { .. })), "{r:?}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        // 5, 10, 20, 40, 80, 160 ms ... : a handful of attempts, not a busy loop.
        let n = attempts.load(Ordering::SeqCst);
        assert!((2..=12).contains(&n), "{n} attempts");
    }
}
