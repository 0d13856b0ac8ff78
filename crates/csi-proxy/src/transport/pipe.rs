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

use super::{Api, GaveUp, Listener, ServeOptions, TransportError, accept_loop, serve_connections};
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

/// The pipe's instances: the one clients connect to next.
struct PipeListener {
    path: String,
    next: Option<NamedPipeServer>,
}

impl Listener for PipeListener {
    type Io = NamedPipeServer;

    /// Waits for a client on the current instance. The next instance is
    /// created before the connected one is handed over, so a silent client
    /// does not block others; when creating it fails, the next accept tries
    /// again (with the loop's backoff) instead of ending the endpoint.
    async fn accept(&mut self) -> std::io::Result<NamedPipeServer> {
        let server = match self.next.take() {
            Some(s) => s,
            None => options(false).create(&self.path)?,
        };
        server.connect().await?;
        self.next = match options(false).create(&self.path) {
            Ok(next) => Some(next),
            Err(e) => {
                tracing::warn!(endpoint = %self.path, error = %e, "cannot create the next pipe instance; retrying");
                None
            }
        };
        Ok(server)
    }
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
        let listener = PipeListener {
            path: path.clone(),
            next: Some(first),
        };
        let gave_up = GaveUp::default();
        let incoming = accept_loop(listener, &opts, gave_up.clone());
        tracing::info!(endpoint = %path, "serving");
        serve_connections(&api, &node, &opts, incoming, gave_up, shutdown).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
    use std::sync::Arc;
    use std::time::Duration;

    use hyper_util::rt::TokioIo;
    use tokio::net::windows::named_pipe::ClientOptions;
    use tonic::transport::{Endpoint, Uri};

    use super::*;
    use crate::core::Policy;
    use crate::host::fake::FakeHost;
    use crate::validate::AllowedRoots;
    use crate::wire::disk::v1 as pb;

    const ERROR_PIPE_BUSY: i32 = 231;

    async fn open(
        path: &'static str,
    ) -> std::io::Result<TokioIo<tokio::net::windows::named_pipe::NamedPipeClient>> {
        loop {
            match ClientOptions::new().open(path) {
                Ok(c) => return Ok(TokioIo::new(c)),
                Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_grpc_on_the_named_pipe_and_refuses_a_second_server() {
        let api = Api {
            group: "disk".into(),
            version: "v1".into(),
        };
        assert_eq!(api.pipe_path(), r"\\.\pipe\csi-proxy-disk-v1");
        let ep = PipeEndpoint::create(api.clone()).unwrap();
        let second = PipeEndpoint::create(api);
        // Wine 8 does not implement FILE_FLAG_FIRST_PIPE_INSTANCE; Windows does.
        if std::env::var_os("WINEPREFIX").is_none() {
            assert!(second.is_err(), "first-instance flag");
        }
        // Under Wine the second instance exists: close it so clients reach the served one.
        drop(second);
        let node = Node {
            host: Arc::new(FakeHost::seeded()),
            policy: Arc::new(Policy::new(
                AllowedRoots::new([r"C:\var\lib\kubelet"]).unwrap(),
            )),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(ep.serve(node, ServeOptions::default(), async move {
            let _ = rx.await;
        }));
        // A silent probe connection, as every Go client opens, must not block the next one.
        let _probe = open(r"\\.\pipe\csi-proxy-disk-v1").await.unwrap();
        let channel = Endpoint::try_from("http://localhost")
            .unwrap()
            .connect_with_connector(tower::service_fn(|_: Uri| {
                open(r"\\.\pipe\csi-proxy-disk-v1")
            }))
            .await
            .unwrap();
        let r = pb::disk_client::DiskClient::new(channel)
            .get_disk_stats(pb::GetDiskStatsRequest { disk_number: 1 })
            .await
            .unwrap();
        assert_eq!(r.into_inner().total_bytes, 10 << 30);
        let _ = tx.send(());
        server.abort();
    }
}
