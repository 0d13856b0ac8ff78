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
#[cfg(unix)]
use authority::AuthorityFilter;

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
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Time a new connection has to send the HTTP/2 preface (grpc-go servers use 120 s).
    pub handshake_timeout: Duration,
    /// On shutdown, time given to open connections to finish before they are cut
    /// (Go clients keep their connections open for the life of the driver).
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            handshake_timeout: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Serves one API over a stream of accepted connections until `shutdown` resolves.
pub async fn serve_connections<S, IO>(
    api: &Api,
    node: &Node,
    incoming: S,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), TransportError>
where
    S: Stream<Item = std::io::Result<IO>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + tonic::transport::server::Connected + Unpin + Send + 'static,
{
    let routes = versions::routes(&api.group, &api.version, node)
        .ok_or_else(|| TransportError::UnknownApi(api.endpoint_name()))?;
    tonic::transport::Server::builder()
        .http2_max_header_list_size(Some(authority::MAX_HEADER_LIST_SIZE as u32))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|source| TransportError::Serve {
            endpoint: api.endpoint_name(),
            source,
        })
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
    /// Binds `<dir>/csi-proxy-<group>-<version>`. A socket that still answers
    /// is refused (like the first-instance pipe flag); a stale one is replaced.
    pub async fn bind(dir: &Path, api: Api) -> Result<Self, TransportError> {
        let path = api.socket_path(dir);
        let shown = path.display().to_string();
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
        let timeout = opts.handshake_timeout;
        let incoming = futures::stream::unfold(listener, move |l| async move {
            let next = l
                .accept()
                .await
                .map(|(s, _)| AuthorityFilter::new(s, timeout));
            Some((next, l))
        });
        tracing::info!(endpoint = %path.display(), "serving");
        let r = serve_connections(&api, &node, incoming, shutdown).await;
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
            let node = node.clone();
            set.spawn(async move { ep.serve(node, opts, stop).await });
        }
        #[cfg(windows)]
        {
            let ep = pipe::PipeEndpoint::create(api)?;
            let node = node.clone();
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
