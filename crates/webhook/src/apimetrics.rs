//! Counting the webhook's Kubernetes API calls: a tower layer for the kube client's service
//! stack (`kube::client::ClientBuilder::with_layer`), so every call is counted, whichever part
//! makes it (watches, SubjectAccessReviews, pull-secret reads), without touching call sites.
//!
//! Labels are bounded: `verb` is one of Kubernetes' verbs (derived from the method, whether
//! the path names an object, and `watch=`), `resource` is one of the resources winkube uses
//! (else `other`), and `code` the HTTP status. Object names and namespaces, which come from
//! pods, never become labels.

use futures::future::BoxFuture;
use http::{Request, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

/// The resources winkube reads or writes; any other becomes `other`.
const RESOURCES: [&str; 15] = [
    "gmsacredentialspecs",
    "localsubjectaccessreviews",
    "subjectaccessreviews",
    "roles",
    "rolebindings",
    "clusterroles",
    "clusterrolebindings",
    "nodes",
    "runtimeclasses",
    "secrets",
    "leases",
    "mutatingwebhookconfigurations",
    "validatingwebhookconfigurations",
    "namespaces",
    "pods",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    verb: &'static str,
    resource: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    verb: &'static str,
    resource: &'static str,
}

/// The API call families, registered by [`crate::Metrics::register`].
#[derive(Debug)]
pub struct ApiCallMetrics {
    requests: Family<CallLabels, Counter>,
    errors: Family<KindLabels, Counter>,
    duration: Family<KindLabels, Histogram>,
}

impl ApiCallMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let requests = Family::<CallLabels, Counter>::default();
        registry.register(
            "api_requests",
            "Kubernetes API requests answered, by verb, resource and HTTP status code",
            requests.clone(),
        );
        let errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "api_request_errors",
            "Kubernetes API requests that got no HTTP answer (connection, TLS, timeout), by verb and resource",
            errors.clone(),
        );
        // 1 ms .. ~16 s; a watch counts until its response headers arrive.
        let duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        registry.register(
            "api_request_duration_seconds",
            "Time until the Kubernetes API answered (response headers), by verb and resource",
            duration.clone(),
        );
        Self {
            requests,
            errors,
            duration,
        }
    }

    fn record(&self, kind: &KindLabels, code: Option<u16>, took: f64) {
        match code {
            Some(code) => {
                self.requests
                    .get_or_create(&CallLabels {
                        verb: kind.verb,
                        resource: kind.resource,
                        code,
                    })
                    .inc();
            }
            None => {
                self.errors.get_or_create(kind).inc();
            }
        }
        self.duration.get_or_create(kind).observe(took);
    }
}

/// The Kubernetes verb and resource of a request to the API server, from its method and path.
pub fn classify(
    method: &http::Method,
    path: &str,
    query: Option<&str>,
) -> (&'static str, &'static str) {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // /api/v1/... (core) or /apis/GROUP/VERSION/...
    let rest: &[&str] = match segments.first() {
        Some(&"api") if segments.len() >= 2 => &segments[2..],
        Some(&"apis") if segments.len() >= 3 => &segments[3..],
        _ => &[],
    };
    // namespaces/NS/RESOURCE[/NAME[/SUBRESOURCE]] or RESOURCE[/NAME[/SUBRESOURCE]]
    let (resource, named) = match rest {
        ["namespaces", _, resource, tail @ ..] => (*resource, !tail.is_empty()),
        ["namespaces", tail @ ..] => ("namespaces", !tail.is_empty()),
        [resource, tail @ ..] => (*resource, !tail.is_empty()),
        [] => ("", false),
    };
    let resource = RESOURCES
        .iter()
        .copied()
        .find(|r| *r == resource)
        .unwrap_or("other");
    let watch = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match *method {
        http::Method::GET if watch => "watch",
        http::Method::GET if named => "get",
        http::Method::GET => "list",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE if named => "delete",
        http::Method::DELETE => "deletecollection",
        _ => "other",
    };
    (verb, resource)
}

/// Wraps a kube client's service so that each request is counted in
/// [`ApiCallMetrics`]; from [`crate::Metrics::api_layer`].
#[derive(Clone, Debug)]
pub struct ApiMetricsLayer {
    metrics: Arc<ApiCallMetrics>,
}

impl ApiMetricsLayer {
    pub(crate) fn new(metrics: Arc<ApiCallMetrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for ApiMetricsLayer {
    type Service = ApiMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`ApiMetricsLayer`] makes.
#[derive(Clone, Debug)]
pub struct ApiMetricsService<S> {
    inner: S,
    metrics: Arc<ApiCallMetrics>,
}

impl<S, B, RB> Service<Request<B>> for ApiMetricsService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (verb, resource) = classify(req.method(), req.uri().path(), req.uri().query());
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let call = self.inner.call(req);
        Box::pin(async move {
            let result = call.await;
            let code = result.as_ref().ok().map(|r| r.status().as_u16());
            metrics.record(
                &KindLabels { verb, resource },
                code,
                started.elapsed().as_secs_f64(),
            );
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn verbs_and_resources_from_paths() {
        for (method, path, query, want) in [
            (
                Method::GET,
                "/apis/windows.k8s.io/v1/gmsacredentialspecs",
                Some("limit=500"),
                ("list", "gmsacredentialspecs"),
            ),
            (
                Method::GET,
                "/apis/windows.k8s.io/v1/gmsacredentialspecs",
                Some("watch=true&resourceVersion=5"),
                ("watch", "gmsacredentialspecs"),
            ),
            (
                Method::GET,
                "/apis/windows.k8s.io/v1/gmsacredentialspecs/web",
                None,
                ("get", "gmsacredentialspecs"),
            ),
            (
                Method::POST,
                "/apis/authorization.k8s.io/v1/namespaces/apps/localsubjectaccessreviews",
                None,
                ("create", "localsubjectaccessreviews"),
            ),
            (
                Method::GET,
                "/api/v1/namespaces/apps/secrets/pull",
                None,
                ("get", "secrets"),
            ),
            (
                Method::GET,
                "/api/v1/nodes",
                Some("watch=1"),
                ("watch", "nodes"),
            ),
            (
                Method::PATCH,
                "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/winkube",
                None,
                ("patch", "validatingwebhookconfigurations"),
            ),
            (
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/winkube/leases/winkube",
                None,
                ("update", "leases"),
            ),
            (
                Method::GET,
                "/api/v1/namespaces/kube-system",
                None,
                ("get", "namespaces"),
            ),
            // A namespace called like a resource is still the namespace.
            (
                Method::GET,
                "/api/v1/namespaces/secrets/pods",
                None,
                ("list", "pods"),
            ),
            // Names from pods never become labels.
            (
                Method::GET,
                "/apis/evil.example/v1/whatever-a-pod-said",
                None,
                ("list", "other"),
            ),
            (Method::GET, "/version", None, ("list", "other")),
        ] {
            assert_eq!(classify(&method, path, query), want, "{method} {path}");
        }
    }
}
