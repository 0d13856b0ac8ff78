//! The server's limits over real TLS sockets, with HTTP/1.1 and HTTP/2 clients: body size,
//! body-read deadline, in-flight budget, concurrent reviews, connections, idle timeout,
//! HTTP/2 streams, and answers that would outgrow their request.
#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use winkube_webhook::{Limits, Readiness, Stats};

/// A generous bound for things that must happen "soon" (a hang guard, not a speed check).
const HANG: Duration = Duration::from_secs(20);

struct Harness {
    addr: SocketAddr,
    ca: rustls::pki_types::CertificateDer<'static>,
    stats: Stats,
    _shutdown: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn start(limits: Limits) -> Harness {
    let view = Arc::new(credspec_0_view(&["allowed-sa"]));
    let served = serve(view, Readiness::ready_now(), |c| c.limits = limits).await;
    Harness {
        addr: served.addr,
        ca: served.ca,
        stats: served.stats,
        _shutdown: served.shutdown,
        _dir: served.dir,
    }
}

impl Harness {
    async fn h1(&self) -> Conn {
        connect(
            self.addr,
            client_tls(std::slice::from_ref(&self.ca), &[b"http/1.1"]),
        )
        .await
        .unwrap()
    }

    async fn raw(&self) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        connect_tls(
            self.addr,
            client_tls(std::slice::from_ref(&self.ca), &[b"http/1.1"]),
        )
        .await
        .unwrap()
    }
}

/// Sends request headers for `path` declaring `length` body bytes, then `sent` bytes of it.
async fn partial_post(
    stream: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    path: &str,
    length: usize,
    sent: usize,
) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b' '; sent]).await.unwrap();
    stream.flush().await.unwrap();
}

/// Everything the server writes until it closes the connection.
async fn read_to_close(
    stream: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(HANG, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server did not close the connection");
    String::from_utf8_lossy(&out).into_owned()
}

async fn h2_post(
    sender: &mut hyper::client::conn::http2::SendRequest<ChannelBody>,
    path: &str,
    content_type: Option<&str>,
    body: ChannelBody,
) -> (http::StatusCode, http::HeaderMap, Bytes) {
    sender.ready().await.unwrap();
    let mut req = http::Request::post(format!("https://localhost{path}"));
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = sender.send_request(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

/// A review `request` of an object as the API server writes it: Go escapes `<`, `>` and `&`
/// as six bytes.
fn go_json(v: &Value) -> Vec<u8> {
    serde_json::to_string(v)
        .unwrap()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .into_bytes()
}

#[tokio::test]
async fn a_large_update_review_full_of_escapes_is_answered() {
    let h = start(Limits::default()).await;
    // A 600 kB pod (an annotation of `<>&`): 3.6 MB once escaped, twice in an UPDATE.
    let mut pod = gmsa_pod("allowed-sa", "credspec-0", Some(CREDSPEC_0_CANONICAL));
    pod["metadata"]["annotations"] = json!({"notes": "<>&".repeat(200_000)});
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "big-update",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "apps",
            "operation": "UPDATE",
            "userInfo": {"username": "admin"},
            "object": pod,
            "oldObject": pod,
        }
    });
    let body = go_json(&review);
    assert!(body.len() > 7_000_000, "{}", body.len());
    let mut c = h.h1().await;
    let (status, answer) = c.post("/validate", body).await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let r = response_of(&answer);
    assert_eq!(r["uid"], "big-update");
    assert_eq!(r["allowed"], true, "{r}");
    // Everything held for it is given back once it is answered.
    eventually("budget released", || h.stats.in_flight_bytes() == 0).await;
    eventually("review finished", || h.stats.reviews_in_flight() == 0).await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_on_both_protocols() {
    let h = start(Limits {
        max_body_bytes: 64 * 1024,
        in_flight_bytes: 1 << 20,
        body_read_timeout: Duration::from_millis(500),
        ..Limits::default()
    })
    .await;
    let big = vec![b' '; 100 * 1024];

    let mut c = h.h1().await;
    let (status, text) = c.post("/validate", big.clone()).await.unwrap();
    assert_eq!(status, 413);
    assert!(String::from_utf8_lossy(&text).contains("exceeds the limit of 65536 bytes"));

    // HTTP/2 with a declared length, the client still sending: answered, not reset.
    let (mut h2, _conn) = connect_h2(h.addr, &h.ca).await.unwrap();
    let (tx, body) = channel_body();
    tx.unbounded_send(Ok(Frame::data(Bytes::from(vec![b' '; 1024]))))
        .unwrap();
    let req = http::Request::post("https://localhost/validate")
        .header("content-type", "application/json")
        .header("content-length", big.len())
        .body(body)
        .unwrap();
    h2.ready().await.unwrap();
    let resp = h2.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 413);
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&text).contains("exceeds the limit"));
    drop(tx);

    // HTTP/2 streamed with no length: refused once the limit is crossed, still a status.
    let (tx, body) = channel_body();
    for _ in 0..4 {
        tx.unbounded_send(Ok(Frame::data(Bytes::from(vec![b' '; 32 * 1024]))))
            .unwrap();
    }
    let (status, _, text) = h2_post(&mut h2, "/validate", Some("application/json"), body).await;
    assert_eq!(status, 413);
    assert!(String::from_utf8_lossy(&text).contains("exceeds the limit"));

    // The same HTTP/2 connection still serves reviews.
    let ok = review_body(
        "after",
        "CREATE",
        "apps",
        &gmsa_pod("allowed-sa", "credspec-0", None),
    );
    let (status, _, answer) = h2_post(
        &mut h2,
        "/mutate",
        Some("application/json"),
        full_channel_body(ok),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(response_of(&answer)["allowed"], true);
}

#[tokio::test]
async fn http2_requests_without_content_type_get_415() {
    let h = start(Limits {
        body_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let (mut h2, _conn) = connect_h2(h.addr, &h.ca).await.unwrap();
    let body = review_body(
        "u",
        "CREATE",
        "apps",
        &gmsa_pod("allowed-sa", "credspec-0", None),
    );
    let (status, _, _) = h2_post(&mut h2, "/mutate", None, full_channel_body(body.clone())).await;
    assert_eq!(status, 415);
    let (status, _, _) = h2_post(
        &mut h2,
        "/mutate",
        Some("text/plain"),
        full_channel_body(body.clone()),
    )
    .await;
    assert_eq!(status, 415);
    // A client still sending its body (as curl may be) gets the 415 too, not a reset.
    let (tx, open) = channel_body();
    tx.unbounded_send(Ok(Frame::data(Bytes::from(body.clone()))))
        .unwrap();
    let (status, _, _) = h2_post(&mut h2, "/mutate", None, open).await;
    assert_eq!(status, 415);
    drop(tx);
    // A GET on a review path: 405, also answered.
    h2.ready().await.unwrap();
    let (_, empty) = channel_body();
    let resp = h2
        .send_request(
            http::Request::get("https://localhost/validate")
                .body(empty)
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    // The connection is still good.
    let (status, _, _) = h2_post(
        &mut h2,
        "/mutate",
        Some("application/json"),
        full_channel_body(body),
    )
    .await;
    assert_eq!(status, 200);
    // HTTP/1.1 keeps the connection after a 415 whose body was read.
    let mut c = h.h1().await;
    c.sender.ready().await.unwrap();
    let resp = c
        .sender
        .send_request(
            http::Request::post("/mutate")
                .header("host", "localhost")
                .body(http_body_util::Full::new(Bytes::from_static(b"{}")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    resp.into_body().collect().await.unwrap();
    assert_eq!(c.get("/info").await.unwrap().0, 200);
}

#[tokio::test]
async fn a_slow_body_gets_408_and_the_connection_is_closed() {
    let h = start(Limits {
        body_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let mut s = h.raw().await;
    partial_post(&mut s, "/validate", 1000, 10).await;
    let answer = read_to_close(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(answer.contains("body-read timeout"), "{answer}");
    eventually("budget released", || h.stats.in_flight_bytes() == 0).await;

    // HTTP/2: the stream gets 408.
    let (mut h2, _conn) = connect_h2(h.addr, &h.ca).await.unwrap();
    let (tx, body) = channel_body();
    tx.unbounded_send(Ok(Frame::data(Bytes::from_static(b"{\"apiVersion\""))))
        .unwrap();
    let (status, _, _) = h2_post(&mut h2, "/validate", Some("application/json"), body).await;
    assert_eq!(status, 408);
    drop(tx);
}

#[tokio::test]
async fn over_budget_requests_get_503_with_retry_after() {
    let h = start(Limits {
        max_body_bytes: 256 * 1024,
        in_flight_bytes: 256 * 1024,
        ..Limits::default()
    })
    .await;
    // A client holds 200 kB of a 250 kB body.
    let mut slow = h.raw().await;
    partial_post(&mut slow, "/validate", 250 * 1024, 200 * 1024).await;
    eventually("the partial body is held", || {
        h.stats.in_flight_bytes() >= 200 * 1024
    })
    .await;
    let (mut h2, _conn) = connect_h2(h.addr, &h.ca).await.unwrap();
    let (status, headers, text) = h2_post(
        &mut h2,
        "/validate",
        Some("application/json"),
        full_channel_body(vec![b' '; 100 * 1024]),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "1");
    assert!(String::from_utf8_lossy(&text).contains("retry shortly"));
    // Over HTTP/1.1 as well, and the connection is closed (nothing more is read).
    let mut s = h.raw().await;
    partial_post(&mut s, "/validate", 100 * 1024, 100 * 1024).await;
    let answer = read_to_close(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    // Once the slow client leaves, the budget is back.
    drop(slow);
    eventually("budget released", || h.stats.in_flight_bytes() == 0).await;
    let ok = review_body(
        "u",
        "CREATE",
        "apps",
        &gmsa_pod("allowed-sa", "credspec-0", None),
    );
    let (status, _, _) = h2_post(
        &mut h2,
        "/mutate",
        Some("application/json"),
        full_channel_body(ok),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn reviews_over_the_cap_get_503() {
    let h = start(Limits {
        max_concurrent_reviews: 2,
        ..Limits::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = h.raw().await;
        partial_post(&mut s, "/validate", 1000, 10).await;
        held.push(s);
    }
    eventually("two reviews in flight", || h.stats.reviews_in_flight() == 2).await;
    let mut c = h.h1().await;
    let (status, text) = c.post("/validate", b"{}".to_vec()).await.unwrap();
    assert_eq!(status, 503);
    assert!(String::from_utf8_lossy(&text).contains("too many reviews"));
    // /health and /info are not reviews.
    let mut c = h.h1().await;
    assert_eq!(c.get("/info").await.unwrap().0, 200);
    drop(held);
    eventually("reviews finished", || h.stats.reviews_in_flight() == 0).await;
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once() {
    let h = start(Limits {
        max_connections: 2,
        ..Limits::default()
    })
    .await;
    let mut a = h.h1().await;
    let _b = h.h1().await;
    eventually("two connections", || h.stats.open_connections() == 2).await;
    let third = tokio::time::timeout(
        HANG,
        connect(
            h.addr,
            client_tls(std::slice::from_ref(&h.ca), &[b"http/1.1"]),
        ),
    )
    .await
    .expect("the refused connection must be closed, not left hanging");
    assert!(third.is_err(), "a third connection was accepted");
    assert_eq!(a.get("/info").await.unwrap().0, 200);
    drop(a);
    eventually("a slot is free", || h.stats.open_connections() < 2).await;
    let mut c = h.h1().await;
    assert_eq!(c.get("/info").await.unwrap().0, 200);
}

#[tokio::test]
async fn idle_connections_are_closed_on_both_protocols() {
    let h = start(Limits {
        idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let (mut h2, h2_conn) = connect_h2(h.addr, &h.ca).await.unwrap();
    h2.ready().await.unwrap();
    let (_, empty) = channel_body();
    let resp = h2
        .send_request(
            http::Request::get("https://localhost/info")
                .body(empty)
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let tcp = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let tls =
        tokio_rustls::TlsConnector::from(client_tls(std::slice::from_ref(&h.ca), &[b"http/1.1"]))
            .connect(
                rustls::pki_types::ServerName::try_from("localhost").unwrap(),
                tcp,
            )
            .await
            .unwrap();
    let (mut h1, conn) = hyper::client::conn::http1::handshake::<_, http_body_util::Full<Bytes>>(
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    let h1_conn = tokio::spawn(conn);
    let resp = h1
        .send_request(
            http::Request::get("/info")
                .header("host", "localhost")
                .body(http_body_util::Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap();

    eventually("idle HTTP/2 connection closed", || h2_conn.is_finished()).await;
    eventually("idle HTTP/1.1 connection closed", || h1_conn.is_finished()).await;
    eventually("no connection left", || h.stats.open_connections() == 0).await;
}

#[tokio::test]
async fn a_busy_connection_is_not_idle() {
    let h = start(Limits {
        idle_timeout: Duration::from_millis(200),
        body_read_timeout: Duration::from_secs(30),
        ..Limits::default()
    })
    .await;
    let (mut h2, h2_conn) = connect_h2(h.addr, &h.ca).await.unwrap();
    let (tx, body) = channel_body();
    h2.ready().await.unwrap();
    let pending = h2.send_request(
        http::Request::post("https://localhost/mutate")
            .header("content-type", "application/json")
            .body(body)
            .unwrap(),
    );
    let pending = tokio::spawn(pending);
    eventually("review in flight", || h.stats.reviews_in_flight() == 1).await;
    // Several idle timeouts pass while the review is in flight.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !h2_conn.is_finished(),
        "a connection with a review in flight was closed"
    );
    let review = review_body(
        "u",
        "CREATE",
        "apps",
        &gmsa_pod("allowed-sa", "credspec-0", None),
    );
    tx.unbounded_send(Ok(Frame::data(Bytes::from(review))))
        .unwrap();
    drop(tx);
    let resp = pending.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap();
    eventually("then closed when idle", || h2_conn.is_finished()).await;
}

#[tokio::test]
async fn http2_streams_beyond_the_cap_wait_for_a_free_one() {
    let h = start(Limits {
        http2_max_concurrent_streams: 3,
        body_read_timeout: Duration::from_secs(60),
        ..Limits::default()
    })
    .await;
    let (h2, _conn) = connect_h2(h.addr, &h.ca).await.unwrap();
    let mut senders = Vec::new();
    let mut pending = Vec::new();
    for _ in 0..3 {
        let mut h2 = h2.clone();
        let (tx, body) = channel_body();
        tx.unbounded_send(Ok(Frame::data(Bytes::from_static(b" "))))
            .unwrap();
        senders.push(tx);
        pending.push(tokio::spawn(async move {
            h2.ready().await.unwrap();
            let req = http::Request::post("https://localhost/validate")
                .header("content-type", "application/json")
                .body(body)
                .unwrap();
            h2.send_request(req).await.map(|r| r.status())
        }));
    }
    eventually("three streams in flight", || {
        h.stats.reviews_in_flight() == 3
    })
    .await;
    // A fourth stream is not opened while three are: the server advertised the cap.
    let fourth = {
        let mut h2 = h2.clone();
        tokio::spawn(async move {
            let review = review_body(
                "4",
                "CREATE",
                "apps",
                &gmsa_pod("allowed-sa", "credspec-0", None),
            );
            h2_post(
                &mut h2,
                "/mutate",
                Some("application/json"),
                full_channel_body(review),
            )
            .await
            .0
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !fourth.is_finished(),
        "a fourth stream was served beside three"
    );
    assert_eq!(h.stats.reviews_in_flight(), 3);
    // One stream ends (a bad review: 200 with a denial); the fourth then goes through.
    drop(senders.remove(0));
    assert_eq!(
        tokio::time::timeout(HANG, fourth).await.unwrap().unwrap(),
        200
    );
    drop(senders);
    for p in pending {
        assert_eq!(p.await.unwrap().unwrap(), 200);
    }
}

#[tokio::test]
async fn a_mutate_answer_beyond_its_allowance_is_an_in_band_denial() {
    let h = start(Limits {
        max_answer_bytes: 100 * 1024,
        ..Limits::default()
    })
    .await;
    // 200 containers naming credspec-0: each gets the whole credspec inlined.
    let mut pod = gmsa_pod("allowed-sa", "credspec-0", None);
    let containers: Vec<Value> = (0..200)
        .map(|i| {
            json!({"name": format!("c{i}"), "image": "i",
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "credspec-0"}}})
        })
        .collect();
    pod["spec"]["containers"] = Value::Array(containers);
    let body = review_body("many", "CREATE", "apps", &pod);
    let request_len = body.len();
    let mut c = h.h1().await;
    let (status, answer) = c.post("/mutate", body).await.unwrap();
    assert_eq!(status, 200);
    assert!(answer.len() < 4096, "{}", answer.len());
    let r = response_of(&answer);
    assert_eq!(r["uid"], "many");
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 413);
    let message = r["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "above the {} bytes allowed for a {request_len}-byte request",
            100 * 1024
        )),
        "{message}"
    );
    // A pod of a few containers is mutated as usual.
    let (status, answer) = c
        .post(
            "/mutate",
            review_body(
                "one",
                "CREATE",
                "apps",
                &gmsa_pod("allowed-sa", "credspec-0", None),
            ),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(patch_of(&answer).len(), 1);
    eventually("budget released", || h.stats.in_flight_bytes() == 0).await;
}

/// A request body of fixed chunks that counts the bytes the client has taken from it (that
/// is, sent: HTTP/2 flow control lets a client send only what the server reads).
struct CountingBody {
    chunks: std::collections::VecDeque<Bytes>,
    taken: Arc<std::sync::atomic::AtomicUsize>,
}

impl hyper::body::Body for CountingBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let next = self.chunks.pop_front();
        if let Some(c) = &next {
            self.taken
                .fetch_add(c.len(), std::sync::atomic::Ordering::SeqCst);
        }
        std::task::Poll::Ready(next.map(|c| Ok(Frame::data(c))))
    }
}

#[tokio::test]
async fn http2_refusals_read_the_body_first_so_the_stream_ends_cleanly() {
    // Bodies beyond the server's HTTP/2 stream window (1 MiB): the client can only send them
    // all if the server reads them.
    let h = start(Limits {
        max_body_bytes: 1 << 20,
        in_flight_bytes: 2 << 20,
        ..Limits::default()
    })
    .await;
    let stream = connect_tls(h.addr, client_tls(std::slice::from_ref(&h.ca), &[b"h2"]))
        .await
        .unwrap();
    let (mut h2, conn) = hyper::client::conn::http2::handshake::<_, _, CountingBody>(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let total = 3 << 19; // 1.5 MiB
    for (content_type, declared, want) in [
        (Some("application/json"), true, 413),
        (Some("application/json"), false, 413),
        (None, true, 415),
    ] {
        let taken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let body = CountingBody {
            chunks: (0..24)
                .map(|_| Bytes::from(vec![b' '; total / 24]))
                .collect(),
            taken: taken.clone(),
        };
        let mut req = http::Request::post("https://localhost/validate");
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if declared {
            req = req.header("content-length", total);
        }
        h2.ready().await.unwrap();
        let resp = h2.send_request(req.body(body).unwrap()).await.unwrap();
        assert_eq!(resp.status(), want, "{content_type:?} declared={declared}");
        resp.into_body().collect().await.unwrap();
        let taken = || taken.load(std::sync::atomic::Ordering::SeqCst);
        eventually("the whole body was read", || taken() == total).await;
    }
}

#[tokio::test]
async fn a_client_that_never_reads_its_answer_is_dropped() {
    let h = start(Limits {
        write_timeout: Duration::from_millis(500),
        // Longer than the test: only the write timeout may close the connection.
        header_read_timeout: Duration::from_secs(60),
        ..Limits::default()
    })
    .await;
    // A small receive window, so the answer cannot vanish into the kernel's buffers.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(h.addr).await.unwrap();
    let mut tls =
        tokio_rustls::TlsConnector::from(client_tls(std::slice::from_ref(&h.ca), &[b"http/1.1"]))
            .connect(
                rustls::pki_types::ServerName::try_from("localhost").unwrap(),
                tcp,
            )
            .await
            .unwrap();
    // 6,000 containers naming the credspec: an answer of several MB.
    let mut pod = gmsa_pod("allowed-sa", "credspec-0", None);
    pod["spec"]["containers"] = (0..6000)
        .map(|i| {
            json!({"name": format!("c{i}"), "image": "img",
                "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "credspec-0"}}})
        })
        .collect();
    let body = review_body("big", "CREATE", "apps", &pod);
    let head = format!(
        "POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(&body).await.unwrap();
    tls.flush().await.unwrap();
    // The client never reads. The answer is held until the write timeout, then dropped
    // with its connection.
    // The client never reads: the server's writes stall once the kernel's buffers are
    // full, and after the write timeout the connection is dropped with what it held.
    eventually("the answer being written", || {
        h.stats.open_connections() == 1
    })
    .await;
    eventually("the stalled connection dropped", || {
        h.stats.open_connections() == 0 && h.stats.in_flight_bytes() == 0
    })
    .await;
    // What the client finally reads is a cut answer: the connection ended mid-body.
    let got = read_to_close(&mut tls).await;
    assert!(
        got.starts_with("HTTP/1.1 200 OK"),
        "{}",
        &got[..got.len().min(200)]
    );
    let length: usize = got
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let body_start = got.find("\r\n\r\n").unwrap() + 4;
    assert!(got.len() - body_start < length, "the whole answer was sent");
    drop(tls);
}
