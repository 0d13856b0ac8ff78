//! A bounded cache whose entries expire; the clock is injected so tests control time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the cache gets "now" from.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Instant>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self {
            now: Mutex::new(Instant::now()),
        }
    }
}

impl ManualClock {
    pub fn advance(&self, d: Duration) {
        let mut n = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *n += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Entry<V> {
    value: V,
    expires: Instant,
    last_used: u64,
}

struct Inner<V> {
    map: HashMap<String, Entry<V>>,
    tick: u64,
}

/// At most `capacity` entries; each expires after the TTL given when it was inserted.
/// When full, expired entries go first, then the least recently used.
pub struct TtlCache<V> {
    inner: Mutex<Inner<V>>,
    capacity: usize,
    clock: Arc<dyn Clock>,
}

impl<V: Clone> TtlCache<V> {
    pub fn new(capacity: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                tick: 0,
            }),
            capacity: capacity.max(1),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live value for `key`, if any.
    pub fn get(&self, key: &str) -> Option<V> {
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        match inner.map.get_mut(key) {
            Some(e) if e.expires > now => {
                e.last_used = tick;
                Some(e.value.clone())
            }
            Some(_) => {
                inner.map.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn insert(&self, key: String, value: V, ttl: Duration) {
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if !inner.map.contains_key(&key) && inner.map.len() >= self.capacity {
            inner.map.retain(|_, e| e.expires > now);
            if inner.map.len() >= self.capacity {
                let lru = inner
                    .map
                    .iter()
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(k, _)| k.clone());
                if let Some(k) = lru {
                    inner.map.remove(&k);
                }
            }
        }
        inner.map.insert(
            key,
            Entry {
                value,
                expires: now + ttl,
                last_used: tick,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_and_evicts() {
        let clock = Arc::new(ManualClock::default());
        let c: TtlCache<u32> = TtlCache::new(2, clock.clone());
        c.insert("a".into(), 1, Duration::from_secs(10));
        c.insert("b".into(), 2, Duration::from_secs(100));
        assert_eq!(c.get("a"), Some(1)); // a is now more recent than b
        c.insert("c".into(), 3, Duration::from_secs(100));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("b"), None, "least recently used is evicted");
        assert_eq!(c.get("a"), Some(1));
        clock.advance(Duration::from_secs(11));
        assert_eq!(c.get("a"), None, "expired");
        assert_eq!(c.get("c"), Some(3));
        // Expired entries are dropped before a live one is evicted.
        c.insert("d".into(), 4, Duration::from_secs(1));
        clock.advance(Duration::from_secs(2));
        c.insert("e".into(), 5, Duration::from_secs(100));
        assert_eq!(
            (c.get("c"), c.get("e"), c.get("d")),
            (Some(3), Some(5), None)
        );
    }
}
