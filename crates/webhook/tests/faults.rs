//! Faults under load. Each test keeps reviews flowing over several keep-alive HTTPS
//! connections while a fault is applied to the API-server stand-in, and counts every review
//! that was lost (no `200` answer) or wrong (an unauthorized pod allowed, a cache-served
//! mutation refused, an authorized pod denied while the API server was healthy). The counts
//! are printed (`--nocapture`) for the record and must be zero.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;
use tokio::sync::oneshot;
use winkube_testkit::ApiServer;
use winkube_webhook::{AuthorizationMode, LiveView, LiveViewConfig, Readiness, ServerConfig};

/// The API server's own limit on a webhook call (the longest `timeoutSeconds`): an answer
/// after it is no answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
const WORKERS: usize = 6;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// `/mutate` of an authorized pod: served from the credspec cache alone.
    Mutate,
    /// `/validate` of an authorized pod: needs a SubjectAccessReview.
    Authorized,
    /// `/validate` of a pod whose service account may not use the credspec.
    Intruder,
}

const HEALTHY: u8 = 0;
const FAULT: u8 = 1;
const RECOVERED: u8 = 2;

#[derive(Debug)]
struct Answer {
    kind: Kind,
    /// The phase when the review was sent and when its answer came.
    sent: u8,
    answered: u8,
    /// `None`: the connection failed.
    status: Option<u16>,
    allowed: bool,
    message: String,
    took: Duration,
}

impl Answer {
    fn lost(&self) -> bool {
        self.status != Some(200)
    }

    fn wrong(&self) -> bool {
        if self.lost() {
            return false;
        }
        let healthy = self.sent == self.answered && self.sent != FAULT;
        match self.kind {
            Kind::Intruder => self.allowed,
            Kind::Mutate => !self.allowed,
            Kind::Authorized => healthy && !self.allowed,
        }
    }
}

struct Harness {
    api: ApiServer,
    view: Arc<LiveView>,
    addr: std::net::SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    shutdown: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<Result<(), winkube_webhook::Error>>,
    _dir: tempfile::TempDir,
}

/// credspec-0..2, `use` of credspec-0 granted to apps/authorized; a synced live view in
/// SubjectAccessReview mode; the server over real TLS.
async fn start() -> Harness {
    start_with(|_| {}).await
}

async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> Harness {
    let api = ApiServer::start().await.unwrap();
    for n in 0..3 {
        api.create(credspec_object(&format!("credspec-{n}"), credspec_doc(n)))
            .unwrap();
    }
    let (role, binding) = rbac_for("apps", "authorized", "credspec-0");
    api.create(role).unwrap();
    api.create(binding).unwrap();
    let ready = Readiness::new();
    let view = LiveView::start(
        api.client().unwrap(),
        LiveViewConfig {
            authorization: AuthorizationMode::SubjectAccessReview,
            qps: -1.0,
            ..LiveViewConfig::default()
        },
        ready.clone(),
    )
    .await
    .unwrap();
    eventually("live view ready", || ready.is_ready()).await;
    let served = serve(view.clone(), ready, configure).await;
    Harness {
        api,
        view,
        addr: served.addr,
        tls: client_tls(&[served.ca], &[b"http/1.1"]),
        shutdown: Some(served.shutdown),
        server: served.task,
        _dir: served.dir,
    }
}

fn request(kind: Kind, uid: &str) -> (&'static str, Vec<u8>) {
    let contents = Some(CREDSPEC_0_CANONICAL);
    let (path, pod) = match kind {
        Kind::Mutate => ("/mutate", gmsa_pod("authorized", "credspec-0", None)),
        Kind::Authorized => ("/validate", gmsa_pod("authorized", "credspec-0", contents)),
        Kind::Intruder => ("/validate", gmsa_pod("intruder", "credspec-0", contents)),
    };
    (path, review_body(uid, "CREATE", "apps", &pod))
}

/// Reviews sent in a loop by [`WORKERS`] connections until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    phase: Arc<AtomicU8>,
    answers: Arc<Mutex<Vec<Answer>>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(h: &Harness) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let phase = Arc::new(AtomicU8::new(HEALTHY));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let workers = (0..WORKERS)
            .map(|w| {
                let (stop, phase, answers) = (stop.clone(), phase.clone(), answers.clone());
                let (addr, tls) = (h.addr, h.tls.clone());
                tokio::spawn(async move {
                    let mut conn = None;
                    let mut n = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let kind = [Kind::Mutate, Kind::Authorized, Kind::Intruder][(w + n) % 3];
                        let (path, body) = request(kind, &format!("w{w}-{n}"));
                        let sent = phase.load(Ordering::Relaxed);
                        let t = Instant::now();
                        if conn.is_none() {
                            conn = connect(addr, tls.clone()).await.ok();
                        }
                        let result = match conn.as_mut() {
                            Some(c) => c.post(path, body).await.ok(),
                            None => None,
                        };
                        let (status, allowed, message) = match &result {
                            Some((status, b)) => {
                                let r = serde_json::from_slice::<Value>(b)
                                    .map(|v| v["response"].clone())
                                    .unwrap_or_default();
                                let message = r["status"]["message"].as_str().unwrap_or("");
                                (Some(*status), r["allowed"] == true, message.to_owned())
                            }
                            None => {
                                conn = None;
                                (None, false, String::new())
                            }
                        };
                        answers.lock().unwrap().push(Answer {
                            kind,
                            sent,
                            answered: phase.load(Ordering::Relaxed),
                            status,
                            allowed,
                            message,
                            took: t.elapsed(),
                        });
                    }
                })
            })
            .collect();
        Load {
            stop,
            phase,
            answers,
            workers,
        }
    }

    fn set_phase(&self, p: u8) {
        self.phase.store(p, Ordering::Relaxed);
    }

    /// Answers of `kind` sent and answered in phase `p`.
    fn count(&self, kind: Kind, p: u8) -> usize {
        let a = self.answers.lock().unwrap();
        a.iter()
            .filter(|a| a.kind == kind && a.sent == p && a.answered == p)
            .count()
    }

    /// Waits until every kind has `n` more answers in phase `p`.
    async fn run_for(&self, p: u8, n: usize) {
        for kind in [Kind::Mutate, Kind::Authorized, Kind::Intruder] {
            let what = format!("{n} {kind:?} answers in phase {p}");
            eventually(&what, || self.count(kind, p) >= n).await;
        }
    }

    async fn finish(self, name: &str) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers {
            w.await.unwrap();
        }
        let answers = std::mem::take(&mut *self.answers.lock().unwrap());
        let lost = answers.iter().filter(|a| a.lost()).count();
        let wrong: Vec<&Answer> = answers.iter().filter(|a| a.wrong()).collect();
        let in_fault = |k: Kind| {
            answers
                .iter()
                .filter(move |a| a.kind == k && a.sent == FAULT)
        };
        let denied = in_fault(Kind::Authorized).filter(|a| !a.allowed).count();
        let max = answers.iter().map(|a| a.took).max().unwrap_or_default();
        eprintln!(
            "{name}: {} reviews, {lost} lost, {} wrong; during the fault {} mutations, {} \
             authorized validations ({denied} denied in-band); slowest answer {} ms",
            answers.len(),
            wrong.len(),
            in_fault(Kind::Mutate).count(),
            in_fault(Kind::Authorized).count(),
            max.as_millis()
        );
        assert_eq!(lost, 0, "{name}: lost reviews");
        assert!(wrong.is_empty(), "{name}: wrong answers {wrong:#?}");
        assert!(
            max < WEBHOOK_TIMEOUT,
            "{name}: an answer took {max:?}, past the webhook timeout"
        );
        answers
    }
}

/// Every authorized validation answered during the fault is an in-band denial naming the
/// failed authorization check (fail closed, with a reason).
fn denied_with_reason(answers: &[Answer]) -> usize {
    let during: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.kind == Kind::Authorized && a.sent == FAULT && a.answered == FAULT)
        .collect();
    for a in &during {
        assert!(!a.allowed, "allowed without an authorization answer: {a:?}");
        assert!(
            a.message.contains("error when checking authz access"),
            "{a:?}"
        );
    }
    during.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_goes_away_under_load() {
    let h = start().await;
    h.view.set_authorization_deadline(Duration::from_secs(1));
    let load = Load::start(&h);
    load.run_for(HEALTHY, 20).await;
    load.set_phase(FAULT);
    h.api.stop();
    load.run_for(FAULT, 20).await;
    let answers = load.finish("API server gone").await;
    // Mutations kept being served from the cache; validations failed closed.
    assert!(denied_with_reason(&answers) >= 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_reviews_failing_with_500_deny_and_recover() {
    let h = start().await;
    let load = Load::start(&h);
    load.run_for(HEALTHY, 20).await;
    h.api.set_authz_error(Some(500));
    load.set_phase(FAULT);
    load.run_for(FAULT, 20).await;
    load.set_phase(RECOVERED);
    h.api.set_authz_error(None);
    load.run_for(RECOVERED, 20).await;
    let answers = load.finish("SubjectAccessReview 500").await;
    assert!(denied_with_reason(&answers) >= 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_api_server_is_answered_within_the_deadline() {
    let h = start().await;
    let deadline = Duration::from_millis(300);
    h.view.set_authorization_deadline(deadline);
    let load = Load::start(&h);
    load.run_for(HEALTHY, 20).await;
    load.set_phase(FAULT);
    h.api.set_authz_delay(Duration::from_secs(3));
    load.run_for(FAULT, 10).await;
    load.set_phase(RECOVERED);
    h.api.set_authz_delay(Duration::ZERO);
    load.run_for(RECOVERED, 20).await;
    let answers = load.finish("slow SubjectAccessReview").await;
    assert!(denied_with_reason(&answers) >= 10);
    // Each denial came at the deadline, not when the API server answered.
    let slowest = answers
        .iter()
        .filter(|a| a.sent == FAULT)
        .map(|a| a.took)
        .max()
        .unwrap();
    assert!(slowest < Duration::from_secs(3), "{slowest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_ended_with_410_and_compacted_history_recover_under_load() {
    let h = start().await;
    let load = Load::start(&h);
    load.run_for(HEALTHY, 20).await;
    // Ten times: end every watch, change a credspec while it is down, forget the history.
    // The cache must relist and see each change; reviews of credspec-0 never notice.
    let mut c = connect(h.addr, h.tls.clone()).await.unwrap();
    for i in 0..10 {
        h.api.pause_watches(true);
        h.api.close_watches();
        let name = format!("added-{i}");
        h.api
            .create(credspec_object(&name, credspec_doc(3 + i)))
            .unwrap();
        h.api.compact();
        h.api.pause_watches(false);
        let mut seen = false;
        for _ in 0..500 {
            let (path, body) = (
                "/mutate",
                review_body("x", "CREATE", "apps", &gmsa_pod("any", &name, None)),
            );
            let (status, b) = c.post(path, body).await.unwrap();
            if status == 200 && response_of(&b)["allowed"] == true {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            seen,
            "{name} created while the watch was down was never seen"
        );
    }
    load.run_for(HEALTHY, 40).await;
    load.finish("ten 410s with compaction").await;
    assert_eq!(h.view.credspec_count(), 13);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_under_load_finishes_every_review_in_flight() {
    let mut h = start().await;
    // Each review waits for its access review, so all of them are inside the server at once.
    h.api.set_authz_delay(Duration::from_millis(400));
    const IN_FLIGHT: usize = 32;
    let mut reviews = Vec::new();
    for i in 0..IN_FLIGHT {
        let (addr, tls) = (h.addr, h.tls.clone());
        reviews.push(tokio::spawn(async move {
            let mut c = connect(addr, tls).await.unwrap();
            let (path, body) = request(Kind::Authorized, &format!("r{i}"));
            c.post(path, body).await.map(|(s, b)| (s, response_of(&b)))
        }));
    }
    eventually("every review in flight", || {
        h.api.access_reviews().len() >= IN_FLIGHT
    })
    .await;
    let _ = h.shutdown.take().unwrap().send(());
    let mut answered = 0;
    for r in reviews {
        let (status, response) = r.await.unwrap().expect("an answer, not a reset");
        assert_eq!(status, 200);
        assert_eq!(response["allowed"], true, "{response}");
        answered += 1;
    }
    eprintln!("shutdown: {answered} of {IN_FLIGHT} in-flight reviews answered, 0 lost");
    let result = tokio::time::timeout(Duration::from_secs(20), &mut h.server)
        .await
        .unwrap();
    assert!(result.unwrap().is_ok());
    assert!(connect(h.addr, h.tls.clone()).await.is_err());
}

/// The process's soft limit on open files, from `/proc/self/limits`.
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let soft = line.split_whitespace().nth(3).unwrap();
    soft.parse().unwrap_or(usize::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_neither_grow_the_server_nor_stop_open_connections() {
    let h = start_with(|c| c.tls_handshake_timeout = Duration::from_secs(1)).await;
    let load = Load::start(&h);
    load.run_for(HEALTHY, 20).await;
    // Both ends of every connection live in this process: stay inside its file limit.
    let flood = 10_000.min(open_files_limit().saturating_sub(2_000) / 2);
    let mut idle = Vec::with_capacity(flood);
    for _ in 0..flood {
        idle.push(tokio::net::TcpStream::connect(h.addr).await.unwrap());
    }
    // The keep-alive connections opened before the flood are served throughout it.
    load.run_for(HEALTHY, 40).await;
    // Every idle connection is closed by the server: beyond the cap at once, the others at
    // the handshake deadline.
    let mut closed = 0;
    for mut s in idle {
        let mut buf = [0u8; 1];
        let r = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::io::AsyncReadExt::read(&mut s, &mut buf),
        )
        .await;
        if matches!(r, Ok(Ok(0)) | Ok(Err(_))) {
            closed += 1;
        }
    }
    assert_eq!(closed, flood);
    // And new connections are accepted again.
    load.run_for(HEALTHY, 60).await;
    let mut c = connect(h.addr, h.tls.clone()).await.unwrap();
    let (path, body) = request(Kind::Mutate, "after");
    assert_eq!(c.post(path, body).await.unwrap().0, 200);
    eprintln!("{flood} idle connections: all closed by the server");
    load.finish("idle-connection flood").await;
}
