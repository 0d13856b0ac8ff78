//! What one client, or all of them together, may make the server hold: body sizes and read
//! deadlines, the in-flight byte budget, and caps on reviews, connections and HTTP/2 streams.
//!
//! # The body limit
//!
//! The API server accepts write requests of at most 3 MiB (kube-apiserver
//! `MaxRequestBodyBytes`, 3 × 1024 × 1024). It re-encodes the object into the AdmissionReview
//! with Go's `encoding/json`, which writes `<`, `>`, `&`, U+2028 and U+2029 as six-byte
//! `\u003c` escapes: an object of 3 MiB can become 18 MiB of JSON. UPDATE reviews carry the
//! new object and the old one (which was itself accepted under the same limit), and the
//! envelope (uid, kinds, userInfo with its groups and extra, options) is small next to that; we
//! allow it 1 MiB. 2 × 6 × 3 MiB + 1 MiB = 37 MiB, so no review of an object the API server
//! accepted is refused for its size.
//!
//! Memory is bounded by the [`Budget`], not by this limit: bytes are counted as they arrive,
//! and a request that would take the server past the budget is answered 503 without reading
//! more.
//!
//! # The answer allowance
//!
//! A `/mutate` answer is a base64 JSON patch that inlines the credspec contents once per
//! container naming it, so a small pod with many containers asks for a large answer (a
//! 2.7 MB request once became an 18.8 MB answer). Before the policy runs, a review reserves
//! [`Limits::answer_allowance`] of the budget for its answer; an answer beyond it is replaced
//! by an in-band denial naming the sizes. The default cap (8 MiB) is the base64 of a 6 MiB
//! patch: escaping at most doubles a string, so such a patch adds 3 MiB of text or more to the
//! pod, more than any request the API server accepts and double etcd's default 1.5 MiB object
//! limit; the pod could not be stored anyway.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const MIB: usize = 1024 * 1024;

/// kube-apiserver's largest write request body (`MaxRequestBodyBytes`).
pub const API_SERVER_MAX_REQUEST_BYTES: usize = 3 * MIB;
/// Go's `encoding/json` writes `<`, `>`, `&`, U+2028 and U+2029 as six bytes.
pub const GO_ESCAPE_GROWTH: usize = 6;
/// An UPDATE review carries `object` and `oldObject`.
pub const OBJECTS_PER_REVIEW: usize = 2;
/// The review envelope beside the objects (uid, kinds, userInfo, options).
pub const ENVELOPE_ALLOWANCE: usize = MIB;
/// The default body limit: 37 MiB (see the module documentation).
pub const DEFAULT_MAX_BODY_BYTES: usize =
    OBJECTS_PER_REVIEW * GO_ESCAPE_GROWTH * API_SERVER_MAX_REQUEST_BYTES + ENVELOPE_ALLOWANCE;
/// The default cap of one answer (see the module documentation).
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 8 * MIB;
/// Every review may answer this much regardless of its size (an ordinary pod's answer is a
/// few kB).
pub const ANSWER_FLOOR_BYTES: usize = 64 * 1024;
/// Beyond the floor, an answer may be this many times its request.
pub const ANSWER_GROWTH: usize = 8;

/// The server's limits. [`Limits::default`] holds the defaults `winkube webhook` uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted review body; bigger requests get 413.
    pub max_body_bytes: usize,
    /// Largest answer; see [`Limits::answer_allowance`].
    pub max_answer_bytes: usize,
    /// A request body must arrive completely within this time after its headers, else 408
    /// (and an HTTP/1.1 connection is closed).
    pub body_read_timeout: Duration,
    /// An HTTP/1.1 client must send complete request headers within this time. hyper starts
    /// this timer as soon as a connection waits for a request, so it also closes idle
    /// HTTP/1.1 keep-alive connections when shorter than [`Limits::idle_timeout`].
    pub header_read_timeout: Duration,
    /// Bytes of request bodies being read and answers being held, across all connections.
    pub in_flight_bytes: usize,
    /// Reviews being read, decided or answered at once; more get 503.
    pub max_concurrent_reviews: usize,
    /// Open connections (TLS handshakes included); new ones beyond are closed at once.
    pub max_connections: usize,
    /// A connection with no request in flight for this long is closed (HTTP/2: GOAWAY).
    pub idle_timeout: Duration,
    /// A connection whose peer takes none of an answer's bytes for this long is dropped,
    /// releasing what the answer held (a client that never reads).
    pub write_timeout: Duration,
    /// HTTP/2 streams one connection may have open (SETTINGS_MAX_CONCURRENT_STREAMS).
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2 keep-alive pings this often; `None`: no pings.
    pub http2_keep_alive_interval: Option<Duration>,
    /// A ping not acknowledged within this time closes the connection.
    pub http2_keep_alive_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
            body_read_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            in_flight_bytes: 64 * MIB,
            max_concurrent_reviews: 256,
            max_connections: 1000,
            idle_timeout: Duration::from_secs(90),
            write_timeout: Duration::from_secs(10),
            http2_max_concurrent_streams: 100,
            http2_keep_alive_interval: Some(Duration::from_secs(30)),
            http2_keep_alive_timeout: Duration::from_secs(20),
        }
    }
}

impl Limits {
    /// Budget a review of `request_bytes` reserves for its answer:
    /// `min(max_answer_bytes, 64 KiB + 8 × request_bytes)`. Ordinary pods answer a few kB;
    /// a pod of N containers naming a credspec of C bytes answers about 1.6 × N × C.
    pub fn answer_allowance(&self, request_bytes: usize) -> usize {
        ANSWER_FLOOR_BYTES
            .saturating_add(request_bytes.saturating_mul(ANSWER_GROWTH))
            .min(self.max_answer_bytes)
    }

    /// Checks the values that would make the server refuse everything or nothing.
    pub fn validate(&self) -> Result<(), String> {
        let nonzero = [
            ("max body bytes", self.max_body_bytes),
            ("max answer bytes", self.max_answer_bytes),
            ("in-flight bytes", self.in_flight_bytes),
            ("max concurrent reviews", self.max_concurrent_reviews),
            ("max connections", self.max_connections),
            (
                "HTTP/2 max concurrent streams",
                self.http2_max_concurrent_streams as usize,
            ),
        ];
        for (what, n) in nonzero {
            if n == 0 {
                return Err(format!("{what} must be at least 1"));
            }
        }
        for (what, d) in [
            ("body read timeout", self.body_read_timeout),
            ("header read timeout", self.header_read_timeout),
            ("idle timeout", self.idle_timeout),
            ("write timeout", self.write_timeout),
        ] {
            if d.is_zero() {
                return Err(format!("{what} must be above zero"));
            }
        }
        if self.in_flight_bytes < self.max_body_bytes {
            return Err(format!(
                "in-flight bytes ({}) must be at least the max body bytes ({}), or the largest review could never be read",
                self.in_flight_bytes, self.max_body_bytes
            ));
        }
        Ok(())
    }
}

/// Bytes held for requests and answers, against a capacity. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Budget {
    capacity: usize,
    used: AtomicUsize,
}

impl Budget {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity,
            used: AtomicUsize::new(0),
        })
    }

    /// Bytes currently reserved (may exceed the capacity briefly, see [`Reservation::set`]).
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// An empty reservation, grown as bytes arrive.
    pub fn reservation(self: &Arc<Self>) -> Reservation {
        Reservation {
            budget: self.clone(),
            bytes: 0,
        }
    }

    fn try_take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= self.capacity)
            })
            .is_ok()
    }
}

/// Bytes of a [`Budget`] held by one review; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Reservation {
    /// Takes `n` more bytes if the budget has them.
    pub fn try_grow(&mut self, n: usize) -> bool {
        let ok = self.budget.try_take(n);
        if ok {
            self.bytes += n;
        }
        ok
    }

    /// Holds exactly `n` bytes, whether or not the budget has them: memory that already
    /// exists (a rendered answer) is counted, and while the budget is overdrawn no new
    /// request is read.
    pub fn set(&mut self, n: usize) {
        if n > self.bytes {
            self.budget.used.fetch_add(n - self.bytes, Ordering::AcqRel);
        } else {
            self.budget.used.fetch_sub(self.bytes - n, Ordering::AcqRel);
        }
        self.bytes = n;
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_body_limit_is_derived_from_the_api_server() {
        assert_eq!(DEFAULT_MAX_BODY_BYTES, 37 * MIB);
        let d = Limits::default();
        assert!(d.validate().is_ok());
        assert!(d.in_flight_bytes >= d.max_body_bytes + d.max_answer_bytes);
    }

    #[test]
    fn answer_allowance_grows_with_the_request_up_to_the_cap() {
        let d = Limits::default();
        assert_eq!(d.answer_allowance(0), 64 * 1024);
        assert_eq!(d.answer_allowance(1000), 64 * 1024 + 8000);
        assert_eq!(d.answer_allowance(37 * MIB), 8 * MIB);
        assert_eq!(d.answer_allowance(usize::MAX), 8 * MIB);
    }

    #[test]
    fn budget_refuses_past_capacity_and_counts_what_exists() {
        let b = Budget::new(100);
        let mut r1 = b.reservation();
        assert!(r1.try_grow(60));
        let mut r2 = b.reservation();
        assert!(!r2.try_grow(41));
        assert!(r2.try_grow(40));
        assert_eq!(b.in_use(), 100);
        // An answer that exists is counted even past capacity; nothing new fits meanwhile.
        r2.set(70);
        assert_eq!(b.in_use(), 130);
        assert!(!b.reservation().try_grow(1));
        r2.set(10);
        assert_eq!(b.in_use(), 70);
        drop(r1);
        drop(r2);
        assert_eq!(b.in_use(), 0);
    }

    #[test]
    fn validate_names_the_bad_value() {
        let l = Limits {
            max_connections: 0,
            ..Limits::default()
        };
        assert_eq!(
            l.validate().unwrap_err(),
            "max connections must be at least 1"
        );
        let l = Limits {
            in_flight_bytes: 1024,
            ..Limits::default()
        };
        assert!(l.validate().unwrap_err().contains("in-flight bytes (1024)"));
    }
}
