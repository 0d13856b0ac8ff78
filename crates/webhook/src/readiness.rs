//! The readiness flag behind `/health`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the server may report ready. Cloned handles share one flag; it only goes from
/// not-ready to ready (a synced cache keeps answering while its watch reconnects).
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
}

impl Readiness {
    /// A flag that is not ready yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A flag that is ready from the start (views without a cache to wait for).
    pub fn ready_now() -> Self {
        let r = Self::new();
        r.set_ready();
        r
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}
