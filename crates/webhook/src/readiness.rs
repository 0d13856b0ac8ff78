//! The readiness flag behind `/health`.

use std::sync::Arc;
use tokio::sync::watch;

/// Whether the server may report ready. Cloned handles share one flag; it only goes from
/// not-ready to ready (a synced cache keeps answering while its watch reconnects). Held in a
/// `tokio::sync::watch` channel, so it can be awaited ([`Readiness::wait`]) instead of polled.
#[derive(Clone, Debug)]
pub struct Readiness {
    ready: Arc<watch::Sender<bool>>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self {
            ready: Arc::new(watch::Sender::new(false)),
        }
    }
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
        self.ready.send_if_modified(|r| !std::mem::replace(r, true));
    }

    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Resolves once the flag is ready.
    pub async fn wait(&self) {
        let mut rx = self.ready.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = rx.wait_for(|r| *r).await;
    }

    /// A flag that turns ready once every one of `parts` is (the server's `/health` over the
    /// gMSA and the Windows caches), awaited rather than polled. Must be called within a
    /// tokio runtime.
    pub fn all(parts: Vec<Readiness>) -> Readiness {
        let joined = Readiness::new();
        let out = joined.clone();
        tokio::spawn(async move {
            for p in parts {
                p.wait().await;
            }
            joined.set_ready();
        });
        out
    }
}
