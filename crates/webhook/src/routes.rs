//! The HTTP surface, as the reference webhook has it (reference §3.1), plus `/metrics`.
//!
//! | path | answer |
//! |---|---|
//! | `/mutate`, `/validate` | POST (any case) else 405; `Content-Type` exactly `application/json` else 415; body over the limit 413; too many reviews in progress or the in-flight budget spent 503 with `Retry-After`; body not received within the deadline 408; else 200 with the AdmissionReview |
//! | `/mutate-windows`, `/validate-windows` | the same HTTP rules, then the Windows workload policies (only when [`Router::with_windows`] set them; else 404) |
//! | `/health` | 204 once the view's caches have synced, 503 before |
//! | `/info` | `{"version":"<crate version>"}` |
//! | `/metrics` | Prometheus text |
//! | anything else (including a trailing slash) | 404 |
//!
//! The path is compared exactly; the query string (the API server's `?timeout=10s`) is ignored.
//! The review body is read into one `Bytes` (counted against the in-flight budget chunk by
//! chunk, see [`crate::limits`]) and handed to the policy as a slice; the policy's response
//! bytes become the response body without another copy. Refusals are sent after reading
//! what is left of a small body, or with `Connection: close` (HTTP/1.1) / after the answer a
//! `RST_STREAM(NO_ERROR)` (HTTP/2) when the rest is not read: a client always gets a status.

use crate::limits::{Budget, Limits, Reservation};
use crate::logtext::{LogText, escaped};
use crate::paths::{Endpoint, HEALTH_PATH, INFO_PATH, METRICS_PATH};
use crate::{Metrics, Readiness};
use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use prometheus_client::registry::Registry;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument as _;
use winkube_policy::{ClusterView, Phase, ReviewContext};

/// The response body of every route: the bytes, plus what the exchange holds until they are
/// sent (its share of the in-flight budget, its review permit, the unread request body).
pub struct ResponseBody {
    bytes: Full<Bytes>,
    held: Vec<Box<dyn Send>>,
}

impl ResponseBody {
    fn new(bytes: Bytes) -> Self {
        Self {
            bytes: Full::new(bytes),
            held: Vec::new(),
        }
    }

    /// Keeps `value` alive until the body has been sent (or dropped).
    pub fn hold(&mut self, value: impl Send + 'static) {
        self.held.push(Box::new(value));
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("size", &self.bytes.size_hint().exact())
            .finish_non_exhaustive()
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        // What is held is released when hyper drops the body, after the end of the stream
        // was sent: an HTTP/2 request body dropped before that is reset with CANCEL.
        Pin::new(&mut self.bytes).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.bytes.size_hint()
    }
}

static APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
static TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
static CLOSE: HeaderValue = HeaderValue::from_static("close");
static RETRY_AFTER_SECONDS: HeaderValue = HeaderValue::from_static("1");
static OPENMETRICS: HeaderValue =
    HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8");

/// Options of the router that are not the view.
#[derive(Clone, Debug, Default)]
pub struct RouterOptions {
    /// Body limit, body-read deadline, in-flight budget, concurrent reviews (the connection
    /// limits are the server's).
    pub limits: Limits,
    /// Generate a random 15-character hostname for `/mutate` reviews (reference
    /// `RANDOM_HOSTNAME`).
    pub random_hostname: bool,
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
    /// Bytes of request bodies and answers held, across all connections.
    budget: Arc<Budget>,
    /// One permit per review being read, decided or answered.
    reviews: Arc<Semaphore>,
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
                budget: Budget::new(opts.limits.in_flight_bytes),
                reviews: Arc::new(Semaphore::new(opts.limits.max_concurrent_reviews)),
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

    /// Bytes of request bodies and answers held now (the in-flight budget's use).
    pub fn in_flight_bytes(&self) -> usize {
        self.inner.budget.in_use()
    }

    pub(crate) fn budget(&self) -> Arc<Budget> {
        self.inner.budget.clone()
    }

    pub(crate) fn review_permits(&self) -> Arc<Semaphore> {
        self.inner.reviews.clone()
    }

    /// Answers one request. Never fails: every problem is an HTTP status.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
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
    /// limit; then winkube's own limits (concurrent reviews, the in-flight budget, the
    /// body-read deadline). Returns the body and what the exchange must hold until answered,
    /// or the refusal to send instead of a review.
    async fn review_body<B>(
        &self,
        parts: &http::request::Parts,
        body: &mut B,
    ) -> Result<(Bytes, Reservation, OwnedSemaphorePermit), Refusal>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = parts.uri.path();
        let limits = &self.inner.opts.limits;
        if !parts.method.as_str().eq_ignore_ascii_case("POST") {
            tracing::info!(method = %parts.method, path, "expected a POST request");
            return Err(self
                .drained(body, empty(StatusCode::METHOD_NOT_ALLOWED))
                .await);
        }
        if parts.headers.get(CONTENT_TYPE) != Some(&APPLICATION_JSON) {
            tracing::info!(path, content_type = ?parts.headers.get(CONTENT_TYPE), "expected Content-Type application/json");
            return Err(self
                .drained(body, empty(StatusCode::UNSUPPORTED_MEDIA_TYPE))
                .await);
        }
        let limit = limits.max_body_bytes;
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(self.drained(body, too_large(limit)).await);
        }
        let Ok(permit) = self.inner.reviews.clone().try_acquire_owned() else {
            tracing::info!(
                limit = limits.max_concurrent_reviews,
                "too many concurrent reviews"
            );
            return Err(Refusal::closing(busy(
                "too many reviews in progress; retry shortly\n",
            )));
        };
        let mut reservation = self.inner.budget.reservation();
        let read = read_body(body, declared, limit, &mut reservation);
        let bytes = match within(limits.body_read_timeout, read).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(ReadError::TooLarge)) => {
                // Nothing read is kept while the rest is discarded.
                drop((reservation, permit));
                return Err(self.drained(body, too_large(limit)).await);
            }
            Ok(Err(ReadError::OverBudget)) => {
                tracing::info!(
                    budget = self.inner.budget.capacity(),
                    "in-flight byte budget exhausted"
                );
                return Err(Refusal::closing(busy(
                    "the server holds as many request bytes as it may; retry shortly\n",
                )));
            }
            Ok(Err(ReadError::Client(e))) => {
                tracing::info!(error = %e, "failed to read the request body");
                return Err(Refusal::closing(text(
                    StatusCode::BAD_REQUEST,
                    "cannot read the request body\n",
                )));
            }
            Err(_) => {
                tracing::info!(timeout = ?limits.body_read_timeout, "request body not received in time");
                return Err(Refusal::closing(text(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body did not arrive within the body-read timeout\n",
                )));
            }
        };
        // The answer's share, taken before the policy renders it.
        if !reservation.try_grow(limits.answer_allowance(bytes.len())) {
            tracing::info!(
                budget = self.inner.budget.capacity(),
                "in-flight byte budget exhausted"
            );
            return Err(Refusal::closing(busy(
                "the server holds as many request bytes as it may; retry shortly\n",
            )));
        }
        Ok((bytes, reservation, permit))
    }

    /// `refusal`, after reading and discarding what is left of the body, up to twice the body
    /// limit and within the body-read deadline: an HTTP/2 stream is then answered and closed
    /// cleanly (curl reports a stream reset during its upload as error 92 even after the
    /// answer), and an HTTP/1.1 connection can be reused. Nothing read is kept.
    async fn drained<B>(&self, body: &mut B, refusal: Response<ResponseBody>) -> Refusal
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let limits = &self.inner.opts.limits;
        let limit = limits.max_body_bytes.saturating_mul(2);
        let drain = async {
            let mut seen = 0usize;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { return false };
                if let Ok(data) = frame.into_data() {
                    seen = seen.saturating_add(data.len());
                    if seen > limit {
                        return false;
                    }
                }
            }
            true
        };
        match within(limits.body_read_timeout, drain).await {
            Ok(true) => Refusal {
                response: refusal,
                close: false,
            },
            _ => Refusal::closing(refusal),
        }
    }

    /// One review on any of the four review paths, in a span that carries its uid, path and
    /// decision.
    async fn review<B>(&self, endpoint: Endpoint, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, mut request_body) = req.into_parts();
        let (body, mut reservation, permit) =
            match self.review_body(&parts, &mut request_body).await {
                Ok(read) => read,
                Err(Refusal {
                    mut response,
                    close,
                }) => {
                    // HTTP/1.1: say that the connection ends (its body was not read).
                    // HTTP/2: the unread request body lives until the answer is sent, so the
                    // stream ends with the answer and then RST_STREAM(NO_ERROR), not CANCEL.
                    if close && parts.version <= Version::HTTP_11 {
                        response.headers_mut().insert(CONNECTION, CLOSE.clone());
                    }
                    response.body_mut().hold(request_body);
                    return response;
                }
            };
        drop(request_body);
        let allowance = self.inner.opts.limits.answer_allowance(body.len());
        let span = tracing::info_span!(
            "review",
            endpoint = endpoint.label(),
            uid = tracing::field::Empty,
            allowed = tracing::field::Empty,
            code = tracing::field::Empty,
        );
        let started = Instant::now();
        let mut outcome = match endpoint {
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
        if outcome.body.len() > allowance {
            too_large_answer(&mut outcome, &body, allowance);
        }
        drop(body);
        // From here the budget holds what exists: the answer until it is sent.
        reservation.set(outcome.body.len());
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
        let mut response = with_type(StatusCode::OK, &APPLICATION_JSON, Bytes::from(outcome.body));
        response.body_mut().hold(reservation);
        response.body_mut().hold(permit);
        response
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

/// `fut`, or `Err` when it has not finished within `deadline`. A body that has already
/// arrived (the common case: hyper holds a small body whole) is read without arming a timer.
async fn within<F: std::future::Future>(
    deadline: std::time::Duration,
    fut: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let mut fut = std::pin::pin!(fut);
    if let Poll::Ready(out) = futures::poll!(fut.as_mut()) {
        return Ok(out);
    }
    tokio::time::timeout(deadline, fut).await
}

/// A response sent instead of a review; `close`: the request body was not read to its end.
struct Refusal {
    response: Response<ResponseBody>,
    close: bool,
}

impl Refusal {
    fn closing(response: Response<ResponseBody>) -> Self {
        Self {
            response,
            close: true,
        }
    }
}

enum ReadError {
    TooLarge,
    OverBudget,
    Client(Box<dyn std::error::Error + Send + Sync>),
}

/// Reads `body` to its end, counting it against `reservation` before keeping it.
/// One chunk (the common case for a small review) is returned without a copy.
async fn read_body<B>(
    body: &mut B,
    declared: Option<u64>,
    limit: usize,
    reservation: &mut Reservation,
) -> Result<Bytes, ReadError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // A declared length (at most the limit) is reserved at once: a request the budget cannot
    // hold is refused before anything is read, and its buffer is allocated once.
    let declared = declared.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
    if declared > 0 && !reservation.try_grow(declared) {
        return Err(ReadError::OverBudget);
    }
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ReadError::Client(e.into()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if data.is_empty() {
            continue;
        }
        len = len.saturating_add(data.len());
        if len > limit {
            return Err(ReadError::TooLarge);
        }
        // Without a declared length, bytes are counted as they arrive.
        if len > reservation.bytes() && !reservation.try_grow(len - reservation.bytes()) {
            return Err(ReadError::OverBudget);
        }
        match first.take() {
            None if rest.is_empty() => first = Some(data),
            None => rest.extend_from_slice(&data),
            Some(head) => {
                rest.reserve(declared.max(head.len() + data.len()));
                rest.extend_from_slice(&head);
                rest.extend_from_slice(&data);
            }
        }
    }
    Ok(first.unwrap_or_else(|| rest.freeze()))
}

/// Replaces an answer larger than the review's allowance by a denial that names the sizes,
/// in the request's AdmissionReview version.
fn too_large_answer(outcome: &mut winkube_policy::Outcome, request: &[u8], allowance: usize) {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(rename = "apiVersion", borrow)]
        api_version: Option<std::borrow::Cow<'a, str>>,
    }
    let api_version = serde_json::from_slice::<Head<'_>>(request)
        .ok()
        .and_then(|h| h.api_version)
        .filter(|v| v == "admission.k8s.io/v1beta1")
        .map_or("admission.k8s.io/v1", |_| "admission.k8s.io/v1beta1");
    let message = format!(
        "the admission answer for this pod would be {} bytes, above the {allowance} bytes allowed for a {}-byte request (inlined credential specs: fewer containers naming a credspec, or a smaller credspec)",
        outcome.body.len(),
        request.len()
    );
    tracing::info!(
        answer_bytes = outcome.body.len(),
        allowance,
        "answer too large"
    );
    let body = serde_json::json!({
        "kind": "AdmissionReview",
        "apiVersion": api_version,
        "response": {
            "uid": outcome.uid,
            "allowed": false,
            "status": {"metadata": {}, "message": message, "code": 413},
        }
    });
    outcome.body = body.to_string().into_bytes();
    outcome.allowed = false;
    outcome.code = 413;
    outcome.message = message;
    outcome.patch_ops = 0;
}

/// The first 15 characters of a lowercase UUIDv4, as the reference generates hostnames.
fn random_hostname() -> String {
    let mut buf = uuid::Uuid::encode_buffer();
    let s = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    s[..15].to_owned()
}

fn empty(status: StatusCode) -> Response<ResponseBody> {
    let mut r = Response::new(ResponseBody::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

fn with_type(status: StatusCode, ty: &HeaderValue, body: Bytes) -> Response<ResponseBody> {
    let mut r = Response::new(ResponseBody::new(body));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, ty.clone());
    r
}

pub(crate) fn text(status: StatusCode, msg: &'static str) -> Response<ResponseBody> {
    with_type(status, &TEXT_PLAIN, Bytes::from_static(msg.as_bytes()))
}

/// 503 with `Retry-After`: a limit shared by all clients is reached.
fn busy(msg: &'static str) -> Response<ResponseBody> {
    let mut r = text(StatusCode::SERVICE_UNAVAILABLE, msg);
    r.headers_mut()
        .insert(RETRY_AFTER, RETRY_AFTER_SECONDS.clone());
    r
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
