//! Running helper processes with a deadline and a concurrency cap.
//!
//! The Windows backend runs PowerShell for the calls no Win32 API covers; a
//! script that hangs must not hold a blocking thread for ever, and a burst of
//! calls must not start hundreds of PowerShell processes at once. Platform
//! independent so the rules are tested on Linux with ordinary commands.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::error::{HostError, HostResult};

/// Runs commands, at most `max_concurrent` at once, each killed at its deadline.
#[derive(Debug)]
pub struct Runner {
    running: Mutex<usize>,
    freed: Condvar,
    max_concurrent: usize,
    deadline: Duration,
}

/// A running slot; frees itself on drop.
struct Slot<'a>(&'a Runner);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut n = self.0.running.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

impl Runner {
    /// A runner allowing `max_concurrent` children (at least 1), each for at most `deadline`.
    pub fn new(max_concurrent: usize, deadline: Duration) -> Runner {
        Runner {
            running: Mutex::new(0),
            freed: Condvar::new(),
            max_concurrent: max_concurrent.max(1),
            deadline,
        }
    }

    /// Waits for a free slot, at most until `until`.
    fn slot(&self, until: Instant) -> HostResult<Slot<'_>> {
        let mut n = self.running.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= self.max_concurrent {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(HostError::Failed(format!(
                    "host busy: {} helper processes already running",
                    self.max_concurrent
                )));
            }
            n = self
                .freed
                .wait_timeout(n, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *n += 1;
        Ok(Slot(self))
    }

    /// Runs `cmd` (stdin closed, output captured). The deadline counts from
    /// the call, queueing included; a child still running then is killed.
    pub fn run(&self, mut cmd: Command) -> HostResult<Output> {
        let until = Instant::now() + self.deadline;
        let _slot = self.slot(until)?;
        let name = format!("{:?}", cmd.get_program());
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| HostError::Failed(format!("cannot run {name}: {e}")))?;
        // Drain both pipes meanwhile, or a chatty child blocks on a full pipe.
        let drain = |p: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = p {
                    let _ = p.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let mut pause = Duration::from_millis(1);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= until => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(HostError::Failed(format!(
                        "{name} did not finish within {} s and was stopped",
                        self.deadline.as_secs_f32()
                    )));
                }
                Ok(None) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(e) => return Err(HostError::Failed(format!("waiting for {name}: {e}"))),
            }
        };
        Ok(Output {
            status,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        })
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
    use std::sync::Arc;

    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn output_and_status_come_back() {
        let r = Runner::new(2, Duration::from_secs(5));
        let out = r.run(sh("echo hi; echo oops >&2; exit 3")).unwrap();
        assert_eq!(out.stdout, b"hi\n");
        assert_eq!(out.stderr, b"oops\n");
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn a_hanging_child_is_killed_at_the_deadline() {
        let r = Runner::new(2, Duration::from_millis(200));
        let started = Instant::now();
        let e = r.run(sh("echo $$ > /dev/null; exec sleep 30")).unwrap_err();
        assert!(e.to_string().contains("did not finish"), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        // The slot is free again.
        assert!(r.run(sh("true")).unwrap().status.success());
    }

    #[test]
    fn no_more_than_the_cap_run_at_once() {
        let r = Arc::new(Runner::new(2, Duration::from_secs(10)));
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        // Each child notes its start and end; overlap is counted afterwards.
        let script = format!(
            "echo start >> {0}; sleep 0.2; echo end >> {0}",
            log.display()
        );
        let started = Instant::now();
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let (r, s) = (r.clone(), script.clone());
                std::thread::spawn(move || r.run(sh(&s)).unwrap())
            })
            .collect();
        for h in handles {
            assert!(h.join().unwrap().status.success());
        }
        let mut running: i32 = 0;
        let mut peak = 0;
        for line in std::fs::read_to_string(&log).unwrap().lines() {
            running += if line == "start" { 1 } else { -1 };
            peak = peak.max(running);
        }
        assert_eq!(peak, 2, "peak concurrency");
        assert!(started.elapsed() >= Duration::from_millis(600));
    }

    #[test]
    fn waiting_for_a_slot_counts_against_the_deadline() {
        // Cap 1, deadline 400 ms: the second job waits ~250 ms for the slot
        // and so has ~150 ms left for its own 250 ms: it is stopped.
        let r = Arc::new(Runner::new(1, Duration::from_millis(400)));
        let first = {
            let r = r.clone();
            std::thread::spawn(move || r.run(sh("sleep 0.25")))
        };
        std::thread::sleep(Duration::from_millis(20));
        let e = r.run(sh("sleep 0.25")).unwrap_err();
        assert!(e.to_string().contains("did not finish"), "{e}");
        assert!(first.join().unwrap().unwrap().status.success());
    }
}
