//! A token bucket for API calls made while answering a review (client-go's QPS/BURST).

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Token bucket: `burst` tokens, refilled at `qps` per second. Callers that find it empty
/// reserve a future token and sleep until it is due, so waiting callers are served in order.
#[derive(Debug)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `qps <= 0` (or not finite) disables limiting. `burst` is at least 1.
    pub fn new(qps: f32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            qps: f64::from(qps),
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                last: Instant::now(),
            }),
        }
    }

    fn unlimited(&self) -> bool {
        !(self.qps.is_finite() && self.qps > 0.0)
    }

    /// Takes one token, waiting for it if needed.
    pub async fn acquire(&self) {
        if let Some(wait) = self.reserve() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes one token now; returns how long the caller must wait before using it.
    fn reserve(&self) -> Option<Duration> {
        if self.unlimited() {
            return None;
        }
        let mut st = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(st.last).as_secs_f64();
        st.last = now;
        st.tokens = (st.tokens + elapsed * self.qps).min(self.burst);
        st.tokens -= 1.0;
        if st.tokens >= 0.0 {
            None
        } else {
            Some(Duration::from_secs_f64(-st.tokens / self.qps))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_paced() {
        let b = TokenBucket::new(2.0, 3);
        for _ in 0..3 {
            assert_eq!(b.reserve(), None);
        }
        // Fourth call must wait half a second (one token at 2/s), fifth a full second.
        assert_eq!(b.reserve(), Some(Duration::from_millis(500)));
        assert_eq!(b.reserve(), Some(Duration::from_millis(1000)));
        tokio::time::advance(Duration::from_secs(10)).await;
        // Refilled to burst, not beyond.
        for _ in 0..3 {
            assert_eq!(b.reserve(), None);
        }
        assert!(b.reserve().is_some());
    }

    #[test]
    fn zero_qps_is_unlimited() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let b = TokenBucket::new(0.0, 1);
            for _ in 0..100 {
                assert_eq!(b.reserve(), None);
            }
        });
    }
}
