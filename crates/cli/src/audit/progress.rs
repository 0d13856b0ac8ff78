//! One line of progress on stderr, redrawn with `\r`: objects listed, then evaluated. Only
//! on a terminal; stdout stays the report alone.

use std::io::Write;
use std::time::{Duration, Instant};

/// Redraws at most this often: a terminal is slower than 3,000 pods.
const EVERY: Duration = Duration::from_millis(100);

pub struct Progress {
    on: bool,
    listed: usize,
    drawn: Option<Instant>,
}

impl Progress {
    pub fn new(on: bool) -> Self {
        Progress {
            on,
            listed: 0,
            drawn: None,
        }
    }

    /// A page of `n` objects arrived.
    pub fn listed(&mut self, n: usize) {
        self.listed += n;
        let listed = self.listed;
        self.draw(false, || format!("listing: {listed} objects"));
    }

    /// `done` of `total` objects evaluated.
    pub fn evaluated(&mut self, done: usize, total: usize) {
        let bar = bar(done, total, 30);
        self.draw(done == total, || {
            format!("auditing: [{bar}] {done}/{total} objects")
        });
    }

    /// Clears the line, so the report (or an error) starts on a clean one.
    pub fn finish(&mut self) {
        if self.on && self.drawn.is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = None;
        }
    }

    fn draw(&mut self, force: bool, line: impl FnOnce() -> String) {
        if !self.on || (!force && self.drawn.is_some_and(|t| t.elapsed() < EVERY)) {
            return;
        }
        let mut err = std::io::stderr().lock();
        // Progress is a courtesy: a stderr that cannot be written stops nothing.
        let _ = write!(err, "\r\x1b[2K{}", line());
        let _ = err.flush();
        self.drawn = Some(Instant::now());
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `#########.....` of `width` characters.
fn bar(done: usize, total: usize, width: usize) -> String {
    let filled = (done * width)
        .checked_div(total)
        .unwrap_or(width)
        .min(width);
    format!("{}{}", "#".repeat(filled), ".".repeat(width - filled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_fills_in_proportion() {
        assert_eq!(bar(0, 10, 10), "..........");
        assert_eq!(bar(5, 10, 10), "#####.....");
        assert_eq!(bar(10, 10, 10), "##########");
        // Nothing to do is done.
        assert_eq!(bar(0, 0, 4), "####");
    }
}
