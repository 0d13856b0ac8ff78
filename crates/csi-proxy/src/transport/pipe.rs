//! Windows named-pipe endpoints, `\\.\pipe\csi-proxy-<group>-<version>`.
//!
//! Created like go-winio's `ListenPipe` (spec §2.2): the first instance with
//! `FILE_FLAG_FIRST_PIPE_INSTANCE` (start-up fails if another process holds
//! the name), byte mode, remote clients rejected, unlimited instances, and no
//! explicit security descriptor, so Windows applies the default named-pipe
//! DACL (full control for LocalSystem, Administrators and the owner; read for
//! Everyone), the same as upstream. A new instance is created before each
//! connected one is handed to tonic, so a client that never speaks does not
//! block others.

use std::future::Future;

use tokio::net::windows::named_pipe::{NamedPipeServer, PipeMode, ServerOptions};

use super::authority::AuthorityFilter;
use super::{Api, ServeOptions, TransportError, serve_connections};
use crate::core::Node;

/// A created pipe endpoint.
pub struct PipeEndpoint {
    api: Api,
    path: String,
    first: NamedPipeServer,
}

fn options(first: bool) -> ServerOptions {
    let mut o = ServerOptions::new();
    o.first_pipe_instance(first)
        .reject_remote_clients(true)
        .pipe_mode(PipeMode::Byte);
    // max_instances is left unset: tokio then asks for PIPE_UNLIMITED_INSTANCES.
    o
}

impl PipeEndpoint {
    /// Creates the first instance of the pipe.
    pub fn create(api: Api) -> Result<Self, TransportError> {
        let path = api.pipe_path();
        let first = options(true).create(&path).map_err(|source| {
            if source.raw_os_error() == Some(5) {
                // ERROR_ACCESS_DENIED: the name exists (another csi-proxy).
                TransportError::InUse(path.clone())
            } else {
                TransportError::Listen {
                    endpoint: path.clone(),
                    source,
                }
            }
        })?;
        Ok(PipeEndpoint { api, path, first })
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        node: Node,
        opts: ServeOptions,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), TransportError> {
        let PipeEndpoint { api, path, first } = self;
        let timeout = opts.handshake_timeout;
        let pipe_path = path.clone();
        let incoming = futures::stream::unfold(Some(first), move |state| {
            let pipe_path = pipe_path.clone();
            async move {
                let server = state?;
                if let Err(e) = server.connect().await {
                    return Some((Err(e), options(false).create(&pipe_path).ok()));
                }
                match options(false).create(&pipe_path) {
                    Ok(next) => Some((Ok(AuthorityFilter::new(server, timeout)), Some(next))),
                    Err(e) => Some((Err(e), None)),
                }
            }
        });
        tracing::info!(endpoint = %path, "serving");
        serve_connections(&api, &node, incoming, shutdown).await
    }
}
