//! Per-call Prometheus metrics and the plain-HTTP `/metrics` endpoint
//! (`--metrics-bind-address`).
//!
//! The families keep upstream csi-proxy's names and labels
//! (go-grpc-middleware's `grpc_server_started_total`, `grpc_server_handled_total`
//! and the `grpc_server_handling_seconds` histogram with its buckets), so
//! existing dashboards keep working; `api_group` and `api_version` are added.
//! The binary owns the [`Registry`]; [`CallMetrics::register`] adds the families.
//!
//! The request path is chosen by the client: only methods this build serves
//! get their own series, anything else is counted as `unknown`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tonic::codegen::Service;

use crate::transport::Api;

include!(concat!(env!("OUT_DIR"), "/methods.rs"));

/// Upstream's histogram buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.001, 0.01, 0.1, 0.3, 0.6, 1.0, 3.0, 6.0, 9.0, 20.0, 30.0, 60.0, 90.0, 120.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    grpc_type: &'static str,
    grpc_service: &'static str,
    grpc_method: &'static str,
    api_group: &'static str,
    api_version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandledLabels {
    grpc_type: &'static str,
    grpc_service: &'static str,
    grpc_method: &'static str,
    api_group: &'static str,
    api_version: &'static str,
    grpc_code: &'static str,
}

type HistogramFamily = Family<CallLabels, Histogram, fn() -> Histogram>;

fn new_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The per-call families. Cheap to clone (shared counters).
#[derive(Clone)]
pub struct CallMetrics {
    started: Family<CallLabels, Counter>,
    handled: Family<HandledLabels, Counter>,
    seconds: HistogramFamily,
}

impl std::fmt::Debug for CallMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallMetrics").finish_non_exhaustive()
    }
}

impl CallMetrics {
    /// Registers the families into the binary's `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = CallMetrics {
            started: Family::default(),
            handled: Family::default(),
            seconds: Family::new_with_constructor(new_histogram as fn() -> Histogram),
        };
        registry.register(
            "grpc_server_started",
            "Total number of RPCs started on the server.",
            m.started.clone(),
        );
        registry.register(
            "grpc_server_handled",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            m.handled.clone(),
        );
        registry.register(
            "grpc_server_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
            m.seconds.clone(),
        );
        m
    }

    /// The tower layer recording the calls of one served API.
    pub fn layer(&self, api: &Api) -> MetricsLayer {
        let (group, version) = crate::versions::APIS
            .iter()
            .find(|(g, _)| *g == api.group)
            .and_then(|(g, vs)| vs.iter().find(|v| **v == api.version).map(|v| (*g, *v)))
            .unwrap_or(("unknown", "unknown"));
        MetricsLayer {
            metrics: Some(self.clone()),
            group,
            version,
        }
    }
}

/// `/v1.Disk/GetDiskState` → the served (service, method), or `unknown`.
fn method_of(group: &str, version: &str, path: &str) -> (&'static str, &'static str) {
    let known = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .and_then(|(service, method)| {
            METHODS
                .iter()
                .find(|(g, v, s, m)| *g == group && *v == version && *s == service && *m == method)
        });
    match known {
        Some((_, _, s, m)) => (s, m),
        None => ("unknown", "unknown"),
    }
}

/// The gRPC code name as grpc-go prints it (`OK`, `Unknown`, `Canceled`, ...).
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "Canceled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

/// Records every call of one API; with no metrics it passes calls through.
#[derive(Clone, Debug, Default)]
pub struct MetricsLayer {
    metrics: Option<CallMetrics>,
    group: &'static str,
    version: &'static str,
}

impl<S> tower_layer::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`MetricsLayer`] wraps around the routes.
#[derive(Clone, Debug)]
pub struct MetricsService<S> {
    inner: S,
    layer: MetricsLayer,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, R> Service<Request<B>> for MetricsService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Response<R>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let Some(metrics) = self.layer.metrics.clone() else {
            return Box::pin(self.inner.call(req));
        };
        let (grpc_service, grpc_method) =
            method_of(self.layer.group, self.layer.version, req.uri().path());
        let labels = CallLabels {
            grpc_type: "unary",
            grpc_service,
            grpc_method,
            api_group: self.layer.group,
            api_version: self.layer.version,
        };
        metrics.started.get_or_create(&labels).inc();
        let started = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            // Every method is unary: the handler has finished when the headers
            // are ready. An error is a trailers-only answer (grpc-status in the
            // headers); success carries its OK status in the trailers.
            let code = match &res {
                Ok(resp) => resp
                    .headers()
                    .get("grpc-status")
                    .map(|v| tonic::Code::from_bytes(v.as_bytes()))
                    .unwrap_or(tonic::Code::Ok),
                Err(_) => tonic::Code::Internal,
            };
            metrics
                .seconds
                .get_or_create(&labels)
                .observe(started.elapsed().as_secs_f64());
            let handled = HandledLabels {
                grpc_type: labels.grpc_type,
                grpc_service: labels.grpc_service,
                grpc_method: labels.grpc_method,
                api_group: labels.api_group,
                api_version: labels.api_version,
                grpc_code: code_name(code),
            };
            metrics.handled.get_or_create(&handled).inc();
            res
        })
    }
}

/// The OpenMetrics text exposition of every metric in `registry`.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::with_capacity(4096);
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

/// Errors of the metrics endpoint.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The address could not be bound.
    #[error("cannot listen on --metrics-bind-address {addr}: {source}")]
    Bind {
        /// The address as given.
        addr: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// A bound, not yet serving, metrics endpoint.
#[derive(Debug)]
pub struct MetricsEndpoint {
    listener: tokio::net::TcpListener,
}

impl MetricsEndpoint {
    /// Binds `addr` (`host:port`, as upstream's `-metrics-bind-address`; `:port` is every interface).
    pub async fn bind(addr: &str) -> Result<Self, MetricsError> {
        let full = if addr.starts_with(':') {
            format!("0.0.0.0{addr}")
        } else {
            addr.to_string()
        };
        let listener = tokio::net::TcpListener::bind(&full)
            .await
            .map_err(|source| MetricsError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        Ok(MetricsEndpoint { listener })
    }

    /// The bound address (the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `GET /metrics` over plain HTTP/1.1 until `shutdown` resolves.
    pub async fn serve(self, registry: Arc<Registry>, shutdown: impl Future<Output = ()> + Send) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => return,
                a = self.listener.accept() => a,
            };
            let stream = match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of descriptors or similar: pause rather than spin.
                    tracing::warn!(error = %e, "metrics accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let registry = registry.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let registry = registry.clone();
                    async move { Ok::<_, Infallible>(answer(&registry, &req)) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .header_read_timeout(std::time::Duration::from_secs(10))
                    .timer(hyper_util::rt::TokioTimer::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "metrics connection ended with an error");
                }
            });
        }
    }
}

fn answer<B>(registry: &Registry, req: &Request<B>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, ctype: &'static str, body: Bytes| {
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(ctype),
        );
        r
    };
    if req.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"not found: only /metrics is served\n"),
        );
    }
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"only GET /metrics\n"),
        );
    }
    reply(
        StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        Bytes::from(encode(registry)),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
    use super::*;

    #[test]
    fn only_served_methods_get_their_own_series() {
        assert_eq!(
            method_of("disk", "v1", "/v1.Disk/GetDiskState"),
            ("v1.Disk", "GetDiskState")
        );
        assert_eq!(
            method_of("disk", "v1beta1", "/v1.Disk/GetDiskState"),
            ("unknown", "unknown")
        );
        assert_eq!(
            method_of("disk", "v1", "/v1.Disk/NoSuchMethod"),
            ("unknown", "unknown")
        );
        assert_eq!(method_of("disk", "v1", "garbage"), ("unknown", "unknown"));
        // Every group/version served has methods in the table.
        for (g, vs) in crate::versions::APIS {
            for v in *vs {
                assert!(
                    METHODS.iter().any(|(mg, mv, _, _)| mg == g && mv == v),
                    "{g}/{v} has no methods"
                );
            }
        }
    }
}
