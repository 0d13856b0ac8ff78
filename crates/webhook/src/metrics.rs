//! Prometheus metrics, encoded as text for `/metrics`.
//!
//! The binary owns the [`Registry`]: [`Metrics::register`] adds the webhook's families to it
//! (under the `winkube_webhook` prefix), the parts that count something get a handle (the
//! live view's credspec gauge), and the server encodes the whole registry ([`encode`]).
//!
//! Label sets for the common review outcomes are resolved once at start-up, so recording a
//! review is a few atomic adds instead of a hash-map lookup under a lock.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

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

        Self {
            reviews,
            resolved,
            latency,
            cert_reload_ok,
            cert_reload_failed,
            credspec_cache_size,
        }
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
