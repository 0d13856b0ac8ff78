//! The HTTP surface, as the reference webhook has it (reference §3.1), plus `/metrics`.
//!
//! | path | answer |
//! |---|---|
//! | `/mutate`, `/validate` | POST (any case) else 405; `Content-Type` exactly `application/json` else 415; body over the limit 413; else 200 with the AdmissionReview |
//! | `/mutate-windows`, `/validate-windows` | the same HTTP rules, then the Windows workload policies (only when [`Router::with_windows`] set them; else 404) |
//! | `/health` | 204 once the view's caches have synced, 503 before |
//! | `/info` | `{"version":"<crate version>"}` |
//! | `/metrics` | Prometheus text |
//! | anything else (including a trailing slash) | 404 |
//!
//! The path is compared exactly; the query string (the API server's `?timeout=10s`) is ignored.
//! The review body is read into one `Bytes` and handed to the policy as a slice; the policy's
//! response bytes become the response body without another copy.

use crate::logtext::{LogText, escaped};
use crate::paths::{Endpoint, HEALTH_PATH, INFO_PATH, METRICS_PATH};
use crate::{Metrics, Readiness};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument as _;
use winkube_policy::{ClusterView, Phase, ReviewContext};

/// The response body type of every route.
pub type ResponseBody = Full<Bytes>;

static APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
static TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
static OPENMETRICS: HeaderValue =
    HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8");

/// Options of the router that are not the view.
#[derive(Clone, Debug)]
pub struct RouterOptions {
    /// Largest accepted review body, in bytes.
    pub max_body_bytes: usize,
    /// Generate a random 15-character hostname for `/mutate` reviews (reference
    /// `RANDOM_HOSTNAME`).
    pub random_hostname: bool,
}

impl Default for RouterOptions {
    fn default() -> Self {
        Self {
            max_body_bytes: crate::server::DEFAULT_MAX_BODY_BYTES,
            random_hostname: false,
        }
    }
}

/// Routes requests to the admission policies and the probe endpoints. Cheap to clone.
pub struct Router<V> {
    inner: Arc<Inner<V>>,
}

impl<V> Clone for Router<V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<V> {
    view: Arc<V>,
    ready: Readiness,
    metrics: Arc<Metrics>,
    /// The binary's registry, which holds `metrics`' families among others.
    registry: Arc<Registry>,
    opts: RouterOptions,
    info: Bytes,
    /// The Windows workload policies (`/mutate-windows`, `/validate-windows`); 404 when unset.
    windows: std::sync::OnceLock<Arc<crate::windows::WindowsPolicies>>,
}

impl<V: ClusterView + 'static> Router<V> {
    /// `metrics` records the reviews; `/metrics` encodes all of `registry`.
    pub fn new(
        view: Arc<V>,
        ready: Readiness,
        metrics: Arc<Metrics>,
        registry: Arc<Registry>,
        opts: RouterOptions,
    ) -> Self {
        let info = Bytes::from(format!("{{\"version\":\"{}\"}}", crate::VERSION));
        Self {
            inner: Arc::new(Inner {
                view,
                ready,
                metrics,
                registry,
                opts,
                info,
                windows: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Also serves the Windows workload policies on `/mutate-windows` and
    /// `/validate-windows` (set once; later calls are ignored).
    pub fn with_windows(self, windows: Arc<crate::windows::WindowsPolicies>) -> Self {
        let _ = self.inner.windows.set(windows);
        self
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Answers one request. Never fails: every problem is an HTTP status.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path();
        if let Some(endpoint) = Endpoint::from_path(path) {
            // The Windows paths exist only when the Windows policies are on.
            if matches!(endpoint, Endpoint::Gmsa(_)) || self.inner.windows.get().is_some() {
                return self.review(endpoint, req).await;
            }
        }
        match path {
            HEALTH_PATH => {
                if self.inner.ready.is_ready() {
                    empty(StatusCode::NO_CONTENT)
                } else {
                    text(StatusCode::SERVICE_UNAVAILABLE, "caches not synced yet\n")
                }
            }
            INFO_PATH => with_type(StatusCode::OK, &APPLICATION_JSON, self.inner.info.clone()),
            METRICS_PATH => with_type(
                StatusCode::OK,
                &OPENMETRICS,
                Bytes::from(crate::metrics::encode(&self.inner.registry)),
            ),
            path => {
                tracing::info!(method = %req.method(), path, "request for unknown path");
                empty(StatusCode::NOT_FOUND)
            }
        }
    }

    /// The HTTP rules every review path shares, in the reference's order: POST (any case),
    /// then exactly `application/json` (parameters such as charset are refused), then the body
    /// limit. `Err` is the response to send instead of a review.
    async fn review_body<B>(&self, req: Request<B>) -> Result<Bytes, Response<ResponseBody>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path();
        if !req.method().as_str().eq_ignore_ascii_case("POST") {
            tracing::info!(method = %req.method(), path, "expected a POST request");
            return Err(empty(StatusCode::METHOD_NOT_ALLOWED));
        }
        if req.headers().get(CONTENT_TYPE) != Some(&APPLICATION_JSON) {
            tracing::info!(path, content_type = ?req.headers().get(CONTENT_TYPE), "expected Content-Type application/json");
            return Err(empty(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let limit = self.inner.opts.max_body_bytes;
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large(limit));
        }
        match Limited::new(req.into_body(), limit).collect().await {
            Ok(c) => Ok(c.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit)),
            Err(e) => {
                tracing::info!(error = %e, "failed to read the request body");
                Err(text(
                    StatusCode::BAD_REQUEST,
                    "cannot read the request body\n",
                ))
            }
        }
    }

    /// One review on any of the four review paths, in a span that carries its uid, path and
    /// decision.
    async fn review<B>(&self, endpoint: Endpoint, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let body = match self.review_body(req).await {
            Ok(body) => body,
            Err(refusal) => return refusal,
        };
        let span = tracing::info_span!(
            "review",
            endpoint = endpoint.label(),
            uid = tracing::field::Empty,
            allowed = tracing::field::Empty,
            code = tracing::field::Empty,
        );
        let started = Instant::now();
        let outcome = match endpoint {
            Endpoint::Gmsa(phase) => {
                let random_hostname = (phase == Phase::Mutate && self.inner.opts.random_hostname)
                    .then(random_hostname);
                let ctx = ReviewContext { random_hostname };
                winkube_policy::review(phase, &body, &*self.inner.view, &ctx)
                    .instrument(span.clone())
                    .await
            }
            Endpoint::Windows(phase) => {
                let Some(windows) = self.inner.windows.get() else {
                    return empty(StatusCode::NOT_FOUND);
                };
                windows.review(phase, &body).instrument(span.clone()).await
            }
        };
        self.inner
            .metrics
            .record(endpoint, &outcome, started.elapsed());
        span.record("uid", &*escaped(&outcome.uid));
        span.record("allowed", outcome.allowed);
        span.record("code", outcome.code);
        let _in_span = span.enter();
        if !outcome.allowed {
            // Names are attacker text (escaped); the denial is `reason`, so that the JSON
            // log has one `message` key.
            tracing::info!(
                namespace = %LogText(&outcome.namespace),
                pod = %LogText(&outcome.name),
                reason = %LogText(loggable_reason(&outcome.message)),
                "refusing to admit pod"
            );
        }
        for warning in &outcome.warnings {
            tracing::debug!(warning = %LogText(warning), "admission warning");
        }
        with_type(StatusCode::OK, &APPLICATION_JSON, Bytes::from(outcome.body))
    }
}

/// What of a denial message may be logged. The reference's 422 for unparsable contents
/// echoes them (`...: unable to parse "<contents>" as a JSON object: ...`); the API client
/// gets that whole, but logs never carry credspec contents, so the log keeps the part before.
fn loggable_reason(message: &str) -> &str {
    match message.find(": unable to parse ") {
        Some(i) => &message[..i],
        None => message,
    }
}

/// The first 15 characters of a lowercase UUIDv4, as the reference generates hostnames.
fn random_hostname() -> String {
    let mut buf = uuid::Uuid::encode_buffer();
    let s = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    s[..15].to_owned()
}

fn empty(status: StatusCode) -> Response<ResponseBody> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

fn with_type(status: StatusCode, ty: &HeaderValue, body: Bytes) -> Response<ResponseBody> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, ty.clone());
    r
}

pub(crate) fn text(status: StatusCode, msg: &'static str) -> Response<ResponseBody> {
    with_type(status, &TEXT_PLAIN, Bytes::from_static(msg.as_bytes()))
}

fn too_large(limit: usize) -> Response<ResponseBody> {
    tracing::info!(limit, "request body too large");
    with_type(
        StatusCode::PAYLOAD_TOO_LARGE,
        &TEXT_PLAIN,
        Bytes::from(format!(
            "request body exceeds the limit of {limit} bytes (an AdmissionReview for an object the API server accepts is smaller)\n"
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_contents_are_cut_from_the_logged_reason() {
        let m = r#"the GMSA cred spec contents for pod "p" does not match the contents of GMSA resource "cs": unable to parse "{\"Sid\":\"S-1-5" as a JSON object: unexpected end of JSON input"#;
        assert_eq!(
            loggable_reason(m),
            r#"the GMSA cred spec contents for pod "p" does not match the contents of GMSA resource "cs""#
        );
        let plain = "cred spec x does not exist";
        assert_eq!(loggable_reason(plain), plain);
    }

    #[test]
    fn hostname_is_15_lowercase_uuid_chars() {
        let h = random_hostname();
        assert_eq!(h.len(), 15);
        assert_eq!(&h[8..9], "-");
        assert!(
            h.chars()
                .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_lowercase())
        );
    }
}
