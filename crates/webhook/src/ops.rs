//! The operations listener (`--metrics-bind-address`): plain HTTP on its own port, for
//! Prometheus and the kubelet, away from the admission listener (no TLS to configure for a
//! scraper, and `/mutate` is not reachable through it).
//!
//! | path | answer |
//! |---|---|
//! | `/metrics` | the binary's whole registry, OpenMetrics text |
//! | `/healthz` | 200 `ok` while the process serves (liveness) |
//! | `/readyz` | 200 `ok` once the caches have synced (the same [`Readiness`] as the admission listener's `/health`), 503 before |
//! | anything else | 404 |
//!
//! Only GET and HEAD are answered (405 otherwise); request bodies are not read.

use crate::{Error, Readiness};
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::registry::Registry;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub const METRICS_PATH: &str = "/metrics";
pub const HEALTHZ_PATH: &str = "/healthz";
pub const READYZ_PATH: &str = "/readyz";

static OPENMETRICS: HeaderValue =
    HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8");
static TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// A bound operations listener; [`OpsServer::run`] serves it.
pub struct OpsServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    registry: Arc<Registry>,
    ready: Readiness,
}

impl OpsServer {
    /// Binds `addr` (port 0: any free port, see [`OpsServer::local_addr`]).
    pub async fn bind(
        addr: SocketAddr,
        registry: Arc<Registry>,
        ready: Readiness,
    ) -> Result<Self, Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        Ok(Self {
            listener,
            local_addr,
            registry,
            ready,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes; connections still open then are closed (a scrape or a
    /// probe is retried, nothing is lost).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let Self {
            listener,
            local_addr,
            registry,
            ready,
        } = self;
        tracing::info!(addr = %local_addr, "serving /metrics, /healthz and /readyz over HTTP");
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
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            while tasks.try_join_next().is_some() {}
            let registry = registry.clone();
            let ready = ready.clone();
            tasks.spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let answer = handle(&req, &registry, &ready);
                    async move { Ok::<_, Infallible>(answer) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(tcp), service);
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "metrics connection ended with an error");
                }
            });
        }
        tasks.abort_all();
    }
}

/// Answers one request of the operations listener.
pub fn handle<B>(
    req: &Request<B>,
    registry: &Registry,
    ready: &Readiness,
) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        METRICS_PATH => {
            let mut r = Response::new(Full::new(Bytes::from(crate::metrics::encode(registry))));
            r.headers_mut().insert(CONTENT_TYPE, OPENMETRICS.clone());
            r
        }
        HEALTHZ_PATH => text(StatusCode::OK, "ok\n"),
        READYZ_PATH if ready.is_ready() => text(StatusCode::OK, "ok\n"),
        READYZ_PATH => text(StatusCode::SERVICE_UNAVAILABLE, "caches not synced yet\n"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, TEXT_PLAIN.clone());
    r
}
