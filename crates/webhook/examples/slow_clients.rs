//! Memory of `winkube webhook` under slow clients: the server's resident size while
//!
//! - `h1`: 150 HTTP/1.1 connections each declare a 3 MiB body and send all of it but the
//!   last byte, then wait;
//! - `h2`: one HTTP/2 connection opens 100 streams that do the same.
//!
//! The server is the `winkube` binary in a child process (serving `examples/state`), so the
//! clients' memory is not counted. Extra arguments after `--` go to `winkube webhook`, e.g.
//! to lift the limits and see what the server held before they existed:
//!
//! ```text
//! cargo build --release -p winkube --example slow_clients
//! target/release/examples/slow_clients h1
//! target/release/examples/slow_clients h1 -- --in-flight-bytes 10Gi --body-read-timeout 10m \
//!     --max-concurrent-reviews 100000 --max-connections 100000
//! ```
//!
//! Prints one line per run: baseline and peak `VmRSS`, the server's `VmHWM`, and what the
//! clients were answered. Measured on the 2-core build machine, debug builds, main's binary
//! (no limits) against this one (defaults):
//!
//! | scenario | before | after | answers after |
//! |---|---|---|---|
//! | `h1` | 227 MB | 96 MB | 21 bodies held within the 64 MiB budget, 129 × 503 |
//! | `h2` | 291 MB | 93 MB | 21 × 408 at the body deadline, 79 × 503 |
//!
//! Release build of this branch, limits lifted by the flags above ("before") and defaults:
//! `h1` 486 MB → 79 MB, `h2` 314 MB → 77 MB (baseline 10 MB).

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use rustls::pki_types::ServerName;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BODY: usize = 3 << 20;
const CHUNK: usize = 64 << 10;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (ours, extra) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (&args[..], &[][..]),
    };
    let scenario = ours.first().map_or("h1", String::as_str).to_owned();
    let winkube = ours.get(1).map(PathBuf::from).unwrap_or_else(|| {
        // target/<profile>/examples/slow_clients → target/<profile>/winkube
        let exe = std::env::current_exe().unwrap_or_default();
        exe.parent()
            .and_then(|p| p.parent())
            .map(|p| p.join("winkube"))
            .unwrap_or_default()
    });
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run(&scenario, &winkube, extra))
}

async fn run(scenario: &str, winkube: &PathBuf, extra: &[String]) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let ca = winkube_testkit::TestCa::new("slow clients CA")?;
    let issued = ca.issue("winkube-webhook", &["localhost"])?;
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &issued.cert_pem)?;
    std::fs::write(&key, &issued.key_pem)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let state = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/state");
    let mut child = Command::new(winkube)
        .arg("webhook")
        .arg("--state")
        .arg(&state)
        .arg("--tls-cert-file")
        .arg(&cert)
        .arg("--tls-key-file")
        .arg(&key)
        .args(["--bind-address", "127.0.0.1", "--port", &port.to_string()])
        .args(["--log-level", "error"])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", winkube.display()))?;
    let pid = child.id();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let tls = client_tls(ca.cert_der());
    let result = async {
        wait_for_server(addr, tls.clone()).await?;
        let baseline = rss_kb(pid)?;
        let peak = Arc::new(Mutex::new(baseline));
        let sampler = tokio::spawn({
            let peak = peak.clone();
            async move {
                loop {
                    if let Ok(kb) = rss_kb(pid) {
                        let mut p = peak.lock().unwrap_or_else(|e| e.into_inner());
                        *p = (*p).max(kb);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        let answers = match scenario {
            "h1" => h1(addr, tls.clone()).await?,
            "h2" => h2(addr, tls.clone()).await?,
            other => return Err(format!("unknown scenario {other:?} (h1 or h2)").into()),
        };
        sampler.abort();
        let peak = *peak.lock().unwrap_or_else(|e| e.into_inner());
        let hwm = status_kb(pid, "VmHWM")?;
        println!(
            "scenario={scenario} baseline_rss={} MB peak_rss={} MB server_VmHWM={} MB answers={answers:?} flags={extra:?}",
            baseline / 1024,
            peak / 1024,
            hwm / 1024
        );
        Ok::<_, Error>(())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// 150 HTTP/1.1 clients, each holding all but the last byte of a 3 MiB body for 6 s (or
/// until answered), then reading what the server said.
async fn h1(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
) -> Result<BTreeMap<String, usize>, Error> {
    let mut tasks = Vec::new();
    for _ in 0..150 {
        let tls = tls.clone();
        tasks.push(tokio::spawn(async move {
            let Ok(mut s) = connect(addr, tls).await else {
                return "connection refused".to_owned();
            };
            let head = format!(
                "POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {BODY}\r\n\r\n"
            );
            if s.write_all(head.as_bytes()).await.is_err() {
                return "closed".to_owned();
            }
            let chunk = vec![b' '; CHUNK];
            let mut sent = 0;
            while sent < BODY - 1 {
                let n = CHUNK.min(BODY - 1 - sent);
                let write = tokio::time::timeout(Duration::from_secs(6), s.write_all(&chunk[..n]));
                match write.await {
                    Ok(Ok(())) => sent += n,
                    Ok(Err(_)) => break,
                    Err(_) => break, // the server stopped reading
                }
            }
            let _ = s.flush().await;
            let mut buf = vec![0u8; 512];
            match tokio::time::timeout(Duration::from_secs(6), s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 12 => String::from_utf8_lossy(&buf[9..12]).into_owned(),
                Ok(_) => "closed".to_owned(),
                Err(_) => "still held".to_owned(),
            }
        }));
    }
    let mut answers = BTreeMap::new();
    for t in tasks {
        *answers.entry(t.await?).or_insert(0) += 1;
    }
    Ok(answers)
}

type Body = StreamBody<futures::channel::mpsc::UnboundedReceiver<Result<Frame<Bytes>, Infallible>>>;

/// One HTTP/2 connection with 100 streams, each sending all but the last byte of a 3 MiB
/// body and holding it for 6 s (or until answered).
async fn h2(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
) -> Result<BTreeMap<String, usize>, Error> {
    let mut tls = (*tls).clone();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let stream = connect(addr, Arc::new(tls)).await?;
    let (sender, conn) = hyper::client::conn::http2::handshake::<_, _, Body>(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await?;
    tokio::spawn(conn);
    let mut tasks = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..100 {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let mut sent = 0;
        while sent < BODY - 1 {
            let n = CHUNK.min(BODY - 1 - sent);
            let _ = tx.unbounded_send(Ok(Frame::data(Bytes::from(vec![b' '; n]))));
            sent += n;
        }
        senders.push(tx);
        let mut sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            if sender.ready().await.is_err() {
                return "connection closed".to_owned();
            }
            let req = http::Request::post("https://localhost/validate")
                .header("content-type", "application/json")
                .header("content-length", BODY)
                .body(StreamBody::new(rx));
            let Ok(req) = req else {
                return "bad request".to_owned();
            };
            match tokio::time::timeout(Duration::from_secs(12), sender.send_request(req)).await {
                Ok(Ok(resp)) => {
                    let status = resp.status().as_u16().to_string();
                    let _ = resp.into_body().collect().await;
                    status
                }
                Ok(Err(_)) => "stream reset".to_owned(),
                Err(_) => "still held".to_owned(),
            }
        }));
    }
    let mut answers = BTreeMap::new();
    for t in tasks {
        *answers.entry(t.await?).or_insert(0) += 1;
    }
    drop(senders);
    Ok(answers)
}

async fn wait_for_server(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> Result<(), Error> {
    for _ in 0..200 {
        if connect(addr, tls.clone()).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("the server did not start".into())
}

async fn connect(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
    tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
}

fn client_tls(ca: rustls::pki_types::CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let _ = roots.add(ca);
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    Arc::new(cfg.unwrap_or_else(|e| panic!("client TLS: {e}")))
}

fn rss_kb(pid: u32) -> Result<u64, Error> {
    status_kb(pid, "VmRSS")
}

fn status_kb(pid: u32, field: &str) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status").into())
}
