//! Serving-certificate loading and reload, over real TLS sockets.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use support::*;
use winkube_testkit::{Issued, TestCa};
use winkube_webhook::{Readiness, ServerConfig};

/// A directory laid out like a Kubernetes Secret volume: `tls.crt -> ..data/tls.crt`,
/// `..data -> ..<timestamp>`; an update writes a new timestamped directory, renames a fresh
/// `..data` symlink over the old one, then removes the old directory.
struct SecretDir {
    root: PathBuf,
    generation: u32,
    current: Option<PathBuf>,
}

impl SecretDir {
    fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            generation: 0,
            current: None,
        }
    }

    fn cert(&self) -> PathBuf {
        self.root.join("tls.crt")
    }

    fn key(&self) -> PathBuf {
        self.root.join("tls.key")
    }

    fn install(&mut self, cert_pem: &str, key_pem: &str) {
        self.generation += 1;
        let name = format!(
            "..2025_06_01_12_00_{:02}.{}",
            self.generation,
            1000 + self.generation
        );
        let dir = self.root.join(&name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("tls.crt"), cert_pem).unwrap();
        std::fs::write(dir.join("tls.key"), key_pem).unwrap();
        let tmp = self.root.join("..data_tmp");
        std::os::unix::fs::symlink(&name, &tmp).unwrap();
        std::fs::rename(&tmp, self.root.join("..data")).unwrap();
        if self.current.is_none() {
            std::os::unix::fs::symlink("..data/tls.crt", self.cert()).unwrap();
            std::os::unix::fs::symlink("..data/tls.key", self.key()).unwrap();
        }
        if let Some(old) = self.current.replace(dir) {
            std::fs::remove_dir_all(old).unwrap();
        }
    }

    fn install_pair(&mut self, issued: &Issued) {
        self.install(&issued.cert_pem, &issued.key_pem);
    }
}

fn view() -> Arc<FileView> {
    Arc::new(credspec_0_view(&[]))
}

fn config(cert: PathBuf, key: PathBuf) -> ServerConfig {
    let mut c = ServerConfig::new("127.0.0.1:0".parse().unwrap(), cert, key);
    c.cert_reload_debounce = Duration::from_millis(50);
    // Reloads must come from directory events, not from polling.
    c.cert_poll_interval = None;
    c
}

async fn wait_for_cert(server_resolver: &winkube_webhook::certs::CertResolver, want: &Issued) {
    eventually("new certificate loaded", || {
        server_resolver.current().cert[0] == want.cert_der
    })
    .await;
}

#[tokio::test]
async fn secret_volume_rotations_are_picked_up_under_traffic_without_failures() {
    let ca = TestCa::new("webhook CA").unwrap();
    let first = ca.issue("webhook-1", &["localhost"]).unwrap();
    let next: Vec<Issued> = (2..=11)
        .map(|i| ca.issue(&format!("webhook-{i}"), &["localhost"]).unwrap())
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut secret = SecretDir::new(tmp.path());
    secret.install_pair(&first);

    let server = bind(
        config(secret.cert(), secret.key()),
        view(),
        Readiness::ready_now(),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let resolver = server.cert_resolver();
    let metrics = server.metrics();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async {
        let _ = stop_rx.await;
    }));
    let tls = client_tls(&[ca.cert_der()], &[b"http/1.1"]);

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    // Four keep-alive connections opened before the rotations, and one client that opens a
    // new connection for every request (handshakes during the swaps).
    for i in 0..5 {
        let (tls, stop, ok, failed) = (tls.clone(), stop.clone(), ok.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            let mut conn = connect(addr, tls.clone()).await.unwrap();
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                if i == 4 {
                    match connect(addr, tls.clone()).await {
                        Ok(c) => conn = c,
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    }
                }
                n += 1;
                let body = review_body(
                    &format!("c{i}-{n}"),
                    "CREATE",
                    "apps",
                    &gmsa_pod("sa", "credspec-0", None),
                );
                match conn.post("/mutate", body).await {
                    Ok((200, b)) if response_of(&b)["allowed"] == true => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            conn.peer_cert
        }));
    }
    let ok_now = || ok.load(Ordering::Relaxed);
    eventually("traffic flowing", || ok_now() >= 50).await;

    // Ten rotations; the second is the one the reference missed (its file watch died with
    // the first).
    for (i, pair) in next.iter().enumerate() {
        secret.install_pair(pair);
        wait_for_cert(&resolver, pair).await;
        let before = ok_now();
        let what = format!("traffic after rotation {}", i + 1);
        eventually(&what, || ok_now() >= before + 50).await;
    }

    stop.store(true, Ordering::Relaxed);
    let mut presented = Vec::new();
    for c in clients {
        presented.push(c.await.unwrap());
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "no request may fail during rotations"
    );
    assert!(ok_now() >= 550);
    eprintln!(
        "ten rotations under traffic: {} reviews, 0 failed",
        ok_now()
    );
    // Long-lived connections kept the certificate they started with.
    assert!(presented[..4].iter().all(|c| *c == first.cert_der));
    assert_eq!(metrics.cert_reloads_ok(), 10);
    assert_eq!(metrics.cert_reloads_failed(), 0);

    // A new connection gets the newest certificate.
    let c = connect(addr, tls.clone()).await.unwrap();
    assert_eq!(c.peer_cert, next[9].cert_der);
    stop_tx.send(()).unwrap();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_broken_update_keeps_the_previous_certificate() {
    let ca = TestCa::new("webhook CA").unwrap();
    let good = ca.issue("good", &["localhost"]).unwrap();
    let other = ca.issue("other", &["localhost"]).unwrap();
    let next = ca.issue("next", &["localhost"]).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut secret = SecretDir::new(tmp.path());
    secret.install_pair(&good);
    let server = bind(
        config(secret.cert(), secret.key()),
        view(),
        Readiness::ready_now(),
    )
    .await
    .unwrap();
    let (addr, resolver, metrics) = (
        server.local_addr(),
        server.cert_resolver(),
        server.metrics(),
    );
    let (_stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = stop_rx.await;
    }));
    let tls = client_tls(&[ca.cert_der()], &[b"http/1.1"]);

    // Key of another certificate: refused.
    secret.install(&next.cert_pem, &other.key_pem);
    eventually("mismatched pair rejected", || {
        metrics.cert_reloads_failed() >= 1
    })
    .await;
    // Not PEM at all: refused.
    secret.install("not a certificate", &next.key_pem);
    eventually("garbage rejected", || metrics.cert_reloads_failed() >= 2).await;
    assert_eq!(resolver.current().cert[0], good.cert_der);
    let mut c = connect(addr, tls.clone()).await.unwrap();
    assert_eq!(c.peer_cert, good.cert_der);
    assert_eq!(
        c.post(
            "/mutate",
            review_body("x", "CREATE", "apps", &gmsa_pod("sa", "credspec-0", None))
        )
        .await
        .unwrap()
        .0,
        200
    );

    // A correct pair afterwards is taken.
    secret.install_pair(&next);
    wait_for_cert(&resolver, &next).await;
    assert_eq!(connect(addr, tls).await.unwrap().peer_cert, next.cert_der);
    assert_eq!(metrics.cert_reloads_ok(), 1);
}

#[tokio::test]
async fn unusable_certificates_at_start_are_clear_errors() {
    let ca = TestCa::new("webhook CA").unwrap();
    let a = ca.issue("a", &["localhost"]).unwrap();
    let b = ca.issue("b", &["localhost"]).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = write_pair(tmp.path(), &a);

    let missing = tmp.path().join("nope.pem");
    let err = bind(
        config(missing.clone(), key.clone()),
        view(),
        Readiness::new(),
    )
    .await
    .err()
    .unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("cannot read TLS certificate file") && msg.contains("nope.pem"),
        "{msg}"
    );

    let garbage = tmp.path().join("garbage.pem");
    std::fs::write(&garbage, "hello").unwrap();
    let msg = bind(config(garbage, key.clone()), view(), Readiness::new())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("no CERTIFICATE block found"), "{msg}");

    let msg = bind(config(cert.clone(), cert.clone()), view(), Readiness::new())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("cannot read TLS key file"), "{msg}");

    let other_key = tmp.path().join("other.key");
    std::fs::write(&other_key, &b.key_pem).unwrap();
    let msg = bind(config(cert, other_key), view(), Readiness::new())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("cannot be used together"), "{msg}");
}

#[tokio::test]
async fn tls_1_2_clients_are_served() {
    let ca = TestCa::new("webhook CA").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = write_pair(tmp.path(), &ca.issue("a", &["localhost"]).unwrap());
    let server = bind(config(cert, key), view(), Readiness::ready_now())
        .await
        .unwrap();
    let addr = server.local_addr();
    let (_stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = stop_rx.await;
    }));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der()).unwrap();
    let tls12 = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut c = connect(addr, Arc::new(tls12)).await.unwrap();
    assert_eq!(c.get("/health").await.unwrap().0, 204);
}

/// `--client-ca`: review paths answer only clients whose certificate the CA signed; probes
/// without one still get /health and /info; a certificate of another CA fails the handshake.
#[tokio::test]
async fn client_ca_limits_review_paths_to_the_api_server() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = TestCa::new("serving").unwrap();
    let (cert, key) = write_pair(
        dir.path(),
        &server_ca.issue("winkube", &["localhost"]).unwrap(),
    );
    let client_ca = TestCa::new("api-server clients").unwrap();
    let ca_file = dir.path().join("client-ca.pem");
    std::fs::write(&ca_file, client_ca.cert_pem()).unwrap();
    let mut c = config(cert.clone(), key.clone());
    c.client_ca = Some(ca_file);
    let server = bind(c, view(), Readiness::ready_now()).await.unwrap();
    let addr = server.local_addr();
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(server.run(stop.clone().cancelled_owned()));
    let pod = gmsa_pod("default", "credspec-0", None);
    let body = review_body("u1", "CREATE", "apps", &pod);

    // The API server's client certificate.
    let apiserver = client_ca.issue_client("kube-apiserver").unwrap();
    let mut conn = connect(
        addr,
        client_tls_with_cert(&[server_ca.cert_der()], &apiserver),
    )
    .await
    .unwrap();
    let (status, _) = conn.post("/mutate", body.clone()).await.unwrap();
    assert_eq!(status, 200);

    // No client certificate: probes work, reviews do not.
    let mut anon = connect(addr, client_tls(&[server_ca.cert_der()], &[b"http/1.1"]))
        .await
        .unwrap();
    assert_eq!(anon.get("/health").await.unwrap().0, 204);
    assert_eq!(anon.get("/info").await.unwrap().0, 200);
    for path in [
        "/mutate",
        "/validate",
        "/mutate-windows",
        "/validate-windows",
    ] {
        let (status, text) = anon.post(path, body.clone()).await.unwrap();
        assert_eq!(status, 401, "{path}");
        assert!(String::from_utf8_lossy(&text).contains("client certificate"));
    }

    // A certificate another CA signed is refused in the handshake.
    let stranger = TestCa::new("somebody else")
        .unwrap()
        .issue_client("pod")
        .unwrap();
    let refused = async {
        let mut c = connect(
            addr,
            client_tls_with_cert(&[server_ca.cert_der()], &stranger),
        )
        .await?;
        c.post("/mutate", body.clone())
            .await
            .map_err(std::io::Error::other)
    };
    assert!(refused.await.is_err());

    // A CA file that is not one is an error naming it.
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "garbage").unwrap();
    let mut c = config(cert, key);
    c.client_ca = Some(bad.clone());
    let e = bind(c, view(), Readiness::ready_now()).await.err().unwrap();
    assert!(e.to_string().contains(&*bad.to_string_lossy()), "{e}");
    stop.cancel();
}
