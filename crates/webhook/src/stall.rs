//! A peer that stops reading its answers: hyper would wait for the socket forever, holding
//! the answer's in-flight bytes (and a connection slot). [`WatchedWrites`] records since when
//! a write has been waiting for the socket; the connection task drops the connection once
//! that passes the write timeout ([`crate::Limits::write_timeout`]).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Since when the connection's writes have been waiting (shared with the connection task).
pub(crate) struct WriteWait {
    started: Instant,
    /// Milliseconds since `started`, plus one, of the first write that found the socket
    /// full; 0 while writes go through.
    waiting_since: AtomicU64,
}

impl WriteWait {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            waiting_since: AtomicU64::new(0),
        })
    }

    fn observe<T>(&self, r: &Poll<T>) {
        if r.is_pending() {
            if self.waiting_since.load(Ordering::Relaxed) == 0 {
                let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                self.waiting_since
                    .store(ms.saturating_add(1), Ordering::Relaxed);
            }
        } else {
            self.waiting_since.store(0, Ordering::Relaxed);
        }
    }

    /// Resolves once one write has waited `timeout` for the peer to read. One timer per
    /// connection, re-armed when it fires: writes cost an atomic load, not a timer each.
    pub(crate) async fn stalled_for(&self, timeout: Duration) {
        loop {
            let since = self.waiting_since.load(Ordering::Relaxed);
            let next = if since == 0 {
                Instant::now() + timeout
            } else {
                let deadline = self.started + Duration::from_millis(since - 1) + timeout;
                if Instant::now() >= deadline {
                    return;
                }
                deadline
            };
            tokio::time::sleep_until(next.into()).await;
        }
    }
}

/// The connection's stream, with its writes watched.
pub(crate) struct WatchedWrites<IO> {
    io: IO,
    wait: Arc<WriteWait>,
}

impl<IO> WatchedWrites<IO> {
    pub(crate) fn new(io: IO, wait: Arc<WriteWait>) -> Self {
        Self { io, wait }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for WatchedWrites<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for WatchedWrites<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wait.observe(&r);
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wait.observe(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        self.wait.observe(&r);
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
