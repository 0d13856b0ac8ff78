//! Prometheus metrics, encoded as text for `/metrics`.
//!
//! The binary owns the [`Registry`]: [`Metrics::register`] adds the webhook's families to it
//! (under the `winkube_webhook` prefix), the parts that count something get a handle (the
//! live view's credspec gauge), and the server encodes the whole registry ([`encode`]).
//!
//! Label sets for the common review outcomes are resolved once at start-up, so recording a
//! review is a few atomic adds instead of a hash-map lookup under a lock.
//!
//! Series (all prefixed `winkube_webhook_`; docs/install.md "Metrics" lists them for operators):
//!
//! - `reviews_total{endpoint,allowed,code}` and `review_duration_seconds{endpoint}`: every
//!   answered review and its latency.
//! - `admission_reviews_total{webhook,operation,outcome}`: the same reviews by the request's
//!   operation and what became of them (allowed, patched, denied, invalid, error).
//! - `api_requests_total{verb,resource,code}`, `api_request_errors_total{verb,resource}`,
//!   `api_request_duration_seconds{verb,resource}`: calls to the Kubernetes API, counted by the
//!   client's tower layer ([`crate::apimetrics`]).
//! - `cache_objects{cache}`, `cache_synced{cache}`: the watch caches, read at scrape time;
//!   `credspec_cache_size` (the credspec cache alone, kept for existing dashboards).
//! - `certificate_expiry_seconds`, `certificate_not_after_timestamp_seconds`: the serving
//!   certificate's notAfter; `certificate_reloads_total{result}`.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use winkube_policy::{Operation, Outcome};

use crate::apimetrics::{ApiCallMetrics, ApiMetricsLayer};
use crate::cache::CacheStatus;
use crate::paths::Endpoint;

const ALL_ENDPOINTS: [Endpoint; 4] = Endpoint::ALL;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReviewLabels {
    endpoint: &'static str,
    allowed: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AdmissionLabels {
    webhook: &'static str,
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
}

/// What became of one review, for `admission_reviews_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewResult {
    /// Allowed unchanged.
    Allowed,
    /// Allowed with a JSON patch.
    Patched,
    /// Refused by a policy (403, 404, 417, 422, ...).
    Denied,
    /// A malformed request (400).
    Invalid,
    /// The webhook could not decide (5xx).
    Error,
}

impl ReviewResult {
    const ALL: [ReviewResult; 5] = [
        ReviewResult::Allowed,
        ReviewResult::Patched,
        ReviewResult::Denied,
        ReviewResult::Invalid,
        ReviewResult::Error,
    ];

    pub fn of(outcome: &Outcome) -> Self {
        if outcome.allowed {
            if outcome.patch_ops > 0 {
                ReviewResult::Patched
            } else {
                ReviewResult::Allowed
            }
        } else if outcome.code == 400 {
            ReviewResult::Invalid
        } else if outcome.code >= 500 {
            ReviewResult::Error
        } else {
            ReviewResult::Denied
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewResult::Allowed => "allowed",
            ReviewResult::Patched => "patched",
            ReviewResult::Denied => "denied",
            ReviewResult::Invalid => "invalid",
            ReviewResult::Error => "error",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The operations the API server sends pods with (DELETE and CONNECT are not registered for
/// pods); their series exist from the start, the others appear when first seen.
const COMMON_OPERATIONS: [Operation; 2] = [Operation::Create, Operation::Update];

type AdmissionCounters =
    [[[Counter; ReviewResult::ALL.len()]; COMMON_OPERATIONS.len()]; ALL_ENDPOINTS.len()];

/// The denial codes the policies produce; others fall back to the family lookup.
const DENIAL_CODES: [u16; 6] = [400, 403, 404, 417, 422, 500];

/// All metrics of the server.
pub struct Metrics {
    reviews: Family<ReviewLabels, Counter>,
    /// [endpoint][0] = allowed; [endpoint][1 + i] = denied with DENIAL_CODES[i].
    resolved: [[Counter; 1 + DENIAL_CODES.len()]; ALL_ENDPOINTS.len()],
    latency: [Histogram; ALL_ENDPOINTS.len()],
    cert_reload_ok: Counter,
    cert_reload_failed: Counter,
    credspec_cache_size: Gauge,
    /// [endpoint][COMMON_OPERATIONS index][result], resolved at start-up.
    admission: AdmissionCounters,
    admission_family: Family<AdmissionLabels, Counter>,
    api: Arc<ApiCallMetrics>,
    caches: Arc<CacheCollector>,
    certificate: Arc<CertificateCollector>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers the webhook's metric families into the binary's `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let registry = registry.sub_registry_with_prefix("winkube_webhook");
        let reviews = Family::<ReviewLabels, Counter>::default();
        let resolve = |endpoint: Endpoint| {
            std::array::from_fn(|i| {
                let labels = if i == 0 {
                    ReviewLabels {
                        endpoint: endpoint.label(),
                        allowed: "true",
                        code: 200,
                    }
                } else {
                    ReviewLabels {
                        endpoint: endpoint.label(),
                        allowed: "false",
                        code: DENIAL_CODES[i - 1],
                    }
                };
                reviews.get_or_create_owned(&labels)
            })
        };
        let resolved = ALL_ENDPOINTS.map(resolve);
        registry.register(
            "reviews",
            "Admission reviews answered, by endpoint, decision and status code",
            reviews.clone(),
        );

        // 50 µs .. ~3.3 s: the fast path is tens of µs, SubjectAccessReviews are milliseconds.
        let latency_family = Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_05, 2.0, 17))
        });
        let latency = ALL_ENDPOINTS.map(|e| {
            latency_family.get_or_create_owned(&EndpointLabels {
                endpoint: e.label(),
            })
        });
        registry.register(
            "review_duration_seconds",
            "Time to answer an admission review once its body has been read",
            latency_family,
        );

        let cert_reloads = Family::<ResultLabels, Counter>::default();
        let cert_reload_ok = cert_reloads.get_or_create_owned(&ResultLabels { result: "ok" });
        let cert_reload_failed =
            cert_reloads.get_or_create_owned(&ResultLabels { result: "error" });
        registry.register(
            "certificate_reloads",
            "Serving certificate reloads after a change on disk, by result",
            cert_reloads.clone(),
        );
        let credspec_cache_size = Gauge::default();
        registry.register(
            "credspec_cache_size",
            "GMSACredentialSpec objects in the live cache",
            credspec_cache_size.clone(),
        );

        let admission_family = Family::<AdmissionLabels, Counter>::default();
        let admission = ALL_ENDPOINTS.map(|e| {
            COMMON_OPERATIONS.map(|op| {
                ReviewResult::ALL.map(|r| {
                    admission_family.get_or_create_owned(&AdmissionLabels {
                        webhook: e.label(),
                        operation: op.as_str(),
                        outcome: r.as_str(),
                    })
                })
            })
        });
        registry.register(
            "admission_reviews",
            "Admission reviews answered, by webhook (its path), request operation and outcome (allowed, patched, denied, invalid, error)",
            admission_family.clone(),
        );

        let api = Arc::new(ApiCallMetrics::register(registry));
        let caches = Arc::new(CacheCollector::default());
        registry.register_collector(Box::new(caches.clone()));
        let certificate = Arc::new(CertificateCollector::default());
        registry.register_collector(Box::new(certificate.clone()));

        Self {
            reviews,
            resolved,
            latency,
            cert_reload_ok,
            cert_reload_failed,
            credspec_cache_size,
            admission,
            admission_family,
            api,
            caches,
            certificate,
        }
    }

    /// Records one answered review: `reviews_total`, its latency and `admission_reviews_total`.
    pub fn record(&self, endpoint: Endpoint, outcome: &Outcome, took: Duration) {
        self.record_review(endpoint, outcome.allowed, outcome.code, took);
        let result = ReviewResult::of(outcome);
        match COMMON_OPERATIONS
            .iter()
            .position(|op| *op == outcome.operation)
        {
            Some(op) => {
                self.admission[endpoint.index()][op][result.index()].inc();
            }
            None => {
                self.admission_family
                    .get_or_create(&AdmissionLabels {
                        webhook: endpoint.label(),
                        operation: outcome.operation.as_str(),
                        outcome: result.as_str(),
                    })
                    .inc();
            }
        }
    }

    /// The tower layer that counts the Kubernetes API calls of a client built with it
    /// (`kube::client::ClientBuilder::with_layer`).
    pub fn api_layer(&self) -> ApiMetricsLayer {
        ApiMetricsLayer::new(self.api.clone())
    }

    /// Reports `caches` in `cache_objects` and `cache_synced` from now on (read at scrape
    /// time, so nothing is counted on the watch path).
    pub fn track_caches(&self, caches: Vec<Box<dyn CacheStatus>>) {
        let mut held = self
            .caches
            .caches
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.extend(caches);
    }

    /// Records the serving certificate's notAfter (Unix seconds); `None` when it could not be
    /// read, which removes the certificate series until a readable one is loaded.
    pub fn record_certificate_not_after(&self, not_after: Option<i64>) {
        self.certificate
            .not_after
            .store(not_after.unwrap_or(i64::MIN), Ordering::Relaxed);
    }

    /// The gauge the live view sets to the number of credspecs it holds.
    pub fn credspec_cache_size(&self) -> Gauge {
        self.credspec_cache_size.clone()
    }

    /// Records one answered review.
    pub fn record_review(&self, endpoint: Endpoint, allowed: bool, code: u16, took: Duration) {
        let row = &self.resolved[endpoint.index()];
        let counter = if allowed {
            Some(&row[0])
        } else {
            DENIAL_CODES
                .iter()
                .position(|c| *c == code)
                .map(|i| &row[i + 1])
        };
        match counter {
            Some(c) => {
                c.inc();
            }
            None => {
                self.reviews
                    .get_or_create(&ReviewLabels {
                        endpoint: endpoint.label(),
                        allowed: if allowed { "true" } else { "false" },
                        code,
                    })
                    .inc();
            }
        }
        self.latency[endpoint.index()].observe(took.as_secs_f64());
    }

    pub fn record_cert_reload(&self, ok: bool) {
        if ok {
            self.cert_reload_ok.inc();
        } else {
            self.cert_reload_failed.inc();
        }
    }

    /// Successful certificate reloads so far.
    pub fn cert_reloads_ok(&self) -> u64 {
        self.cert_reload_ok.get()
    }

    /// Failed certificate reloads so far.
    pub fn cert_reloads_failed(&self) -> u64 {
        self.cert_reload_failed.get()
    }
}

/// `cache_objects` and `cache_synced`, computed from the tracked caches at each scrape.
#[derive(Default)]
struct CacheCollector {
    caches: RwLock<Vec<Box<dyn CacheStatus>>>,
}

impl std::fmt::Debug for CacheCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheCollector").finish_non_exhaustive()
    }
}

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let caches = self
            .caches
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if caches.is_empty() {
            return Ok(());
        }
        {
            let mut family = encoder.encode_descriptor(
                "cache_objects",
                "Objects held by each watch cache",
                None,
                MetricType::Gauge,
            )?;
            for c in caches.iter() {
                let labels = CacheLabels { cache: c.name() };
                let n = i64::try_from(c.objects()).unwrap_or(i64::MAX);
                ConstGauge::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "cache_synced",
            "1 once a watch cache has held a complete list (it keeps answering while its watch reconnects), else 0",
            None,
            MetricType::Gauge,
        )?;
        for c in caches.iter() {
            let labels = CacheLabels { cache: c.name() };
            ConstGauge::new(i64::from(c.is_synced())).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The serving certificate's notAfter, and the seconds left until it, computed at scrape time.
#[derive(Debug)]
struct CertificateCollector {
    /// Unix seconds; `i64::MIN`: unknown.
    not_after: AtomicI64,
}

impl Default for CertificateCollector {
    fn default() -> Self {
        Self {
            not_after: AtomicI64::new(i64::MIN),
        }
    }
}

impl Collector for CertificateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let not_after = self.not_after.load(Ordering::Relaxed);
        if not_after == i64::MIN {
            return Ok(());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        ConstGauge::new(not_after.saturating_sub(now)).encode(encoder.encode_descriptor(
            "certificate_expiry_seconds",
            "Seconds until the serving certificate's notAfter (negative once expired)",
            None,
            MetricType::Gauge,
        )?)?;
        ConstGauge::new(not_after).encode(encoder.encode_descriptor(
            "certificate_not_after_timestamp_seconds",
            "The serving certificate's notAfter, in Unix seconds",
            None,
            MetricType::Gauge,
        )?)?;
        Ok(())
    }
}

/// The OpenMetrics text exposition of every metric in `registry`.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::with_capacity(4096);
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use winkube_policy::Phase;

    #[test]
    fn records_resolved_and_unusual_codes() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        m.record_review(
            Endpoint::Gmsa(Phase::Mutate),
            true,
            200,
            Duration::from_micros(30),
        );
        m.record_review(
            Endpoint::Gmsa(Phase::Validate),
            false,
            403,
            Duration::from_millis(2),
        );
        m.record_review(
            Endpoint::Gmsa(Phase::Validate),
            false,
            418,
            Duration::from_millis(2),
        );
        m.record_cert_reload(true);
        let text = encode(&registry);
        assert!(
            text.contains(
                r#"winkube_webhook_reviews_total{endpoint="mutate",allowed="true",code="200"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(
            r#"winkube_webhook_reviews_total{endpoint="validate",allowed="false",code="403"} 1"#
        ));
        assert!(text.contains(
            r#"winkube_webhook_reviews_total{endpoint="validate",allowed="false",code="418"} 1"#
        ));
        assert!(
            text.contains(
                r#"winkube_webhook_review_duration_seconds_count{endpoint="validate"} 2"#
            )
        );
        assert!(text.contains(r#"winkube_webhook_certificate_reloads_total{result="ok"} 1"#));
        assert!(text.contains("winkube_webhook_credspec_cache_size"));
    }

    #[test]
    fn windows_paths_have_their_own_series() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        m.record_review(
            Endpoint::Windows(Phase::Mutate),
            true,
            200,
            Duration::from_micros(40),
        );
        m.record_review(
            Endpoint::Windows(Phase::Validate),
            false,
            403,
            Duration::from_micros(40),
        );
        let text = encode(&registry);
        for series in [
            r#"winkube_webhook_reviews_total{endpoint="mutate-windows",allowed="true",code="200"} 1"#,
            r#"winkube_webhook_reviews_total{endpoint="validate-windows",allowed="false",code="403"} 1"#,
            r#"winkube_webhook_review_duration_seconds_count{endpoint="validate-windows"} 1"#,
        ] {
            assert!(text.contains(series), "{series} missing from {text}");
        }
        assert!(
            text.contains(
                r#"winkube_webhook_reviews_total{endpoint="mutate",allowed="true",code="200"} 0"#
            ),
            "{text}"
        );
    }
}
