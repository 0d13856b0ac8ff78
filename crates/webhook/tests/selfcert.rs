//! Self-managed certificates against the API-server stand-in (real kube client, real
//! Secrets, Leases and webhook configurations over HTTPS), served over real TLS to a client
//! that trusts exactly what the webhook configurations' `caBundle` says at that moment.
//!
//! Validities are seconds here so renewals and CA rotations happen during a test; the waits
//! are bounded by [`eventually`]-style deadlines (hangs), never asserted as timings.
#![allow(clippy::unwrap_used)]

mod support;

use base64::Engine as _;
use rustls::pki_types::CertificateDer;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use support::*;
use tokio_util::sync::CancellationToken;
use winkube_testkit::ApiServer;
use winkube_webhook::selfcert::pki;
use winkube_webhook::{Readiness, SelfCertConfig, SelfManagedCerts, ServerConfig};

const NS: &str = "winkube";
const SNI: &str = "winkube.winkube.svc";
const ADM: &str = "admissionregistration.k8s.io/v1";

/// The stand-in with winkube's two webhook configurations (the validating one with two
/// webhooks, so "every webhook" is checked) and no caBundle yet.
async fn api() -> ApiServer {
    let api = ApiServer::start().await.unwrap();
    let hook = |name: &str, path: &str| {
        json!({"name": name, "clientConfig": {"service": {"name": "winkube", "namespace": NS, "path": path}},
               "sideEffects": "None", "admissionReviewVersions": ["v1"]})
    };
    api.create(
        json!({"apiVersion": ADM, "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "winkube"}, "webhooks": [hook("a.winkube.io", "/mutate")]}),
    )
    .unwrap();
    api.create(json!({"apiVersion": ADM, "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "winkube"},
        "webhooks": [hook("a.winkube.io", "/validate"), hook("b.winkube.io", "/validate-windows")]}))
        .unwrap();
    api
}

/// Seconds-long certificates: renewed every couple of seconds, the CA rotated after ~8 s.
fn fast(identity: &str) -> SelfCertConfig {
    let mut c = SelfCertConfig::new(NS, "winkube-tls", "winkube");
    c.webhook_configurations = vec!["winkube".into(), "winkube-windows".into()];
    c.identity = identity.into();
    c.validity = Duration::from_secs(4);
    c.renew_before = Duration::from_secs(2);
    c.ca_validity = Duration::from_secs(14);
    c.lease_duration = Duration::from_secs(1);
    c.tick = Duration::from_millis(100);
    c.propagation_delay = Duration::from_secs(1);
    c
}

/// Nothing expires during the test.
fn slow(identity: &str) -> SelfCertConfig {
    let mut c = fast(identity);
    c.validity = Duration::from_secs(3600);
    c.renew_before = Duration::from_secs(600);
    c.ca_validity = Duration::from_secs(86_400);
    c
}

/// A replica: the self-managed certificates and a server serving them.
struct Replica {
    certs: SelfManagedCerts,
    addr: SocketAddr,
    cancel: CancellationToken,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn replica(api: &ApiServer, cfg: SelfCertConfig) -> Replica {
    let cancel = CancellationToken::new();
    let (metrics, registry) = metrics();
    let certs = SelfManagedCerts::start(api.client().unwrap(), cfg, metrics.clone(), &cancel)
        .await
        .unwrap();
    let mut config = ServerConfig::with_resolver("127.0.0.1:0".parse().unwrap(), certs.resolver());
    config.cancel = cancel.child_token();
    let server = winkube_webhook::Server::bind(
        config,
        Arc::new(credspec_0_view(&[])),
        Readiness::ready_now(),
        metrics,
        registry,
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run(cancel.clone().cancelled_owned()));
    Replica {
        certs,
        addr,
        cancel,
    }
}

fn get(api: &ApiServer, kind: &str, name: &str) -> Value {
    let (av, ns) = match kind {
        "Secret" => ("v1", NS),
        "Lease" => ("coordination.k8s.io/v1", NS),
        _ => (ADM, ""),
    };
    api.get(av, kind, ns, name).unwrap()
}

fn secret_text(api: &ApiServer, key: &str) -> Option<String> {
    let s = api.get("v1", "Secret", NS, "winkube-tls").ok()?;
    let b64 = s["data"][key].as_str()?;
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).ok()?).ok()
}

fn phase(api: &ApiServer) -> Option<String> {
    let s = api.get("v1", "Secret", NS, "winkube-tls").ok()?;
    s["metadata"]["annotations"][winkube_webhook::selfcert::PHASE_ANNOTATION]
        .as_str()
        .map(str::to_owned)
}

/// The caBundle of every webhook of one configuration, decoded.
fn bundles(api: &ApiServer, kind: &str) -> Vec<Option<String>> {
    get(api, kind, "winkube")["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            w["clientConfig"]["caBundle"].as_str().map(|b| {
                String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap())
                    .unwrap()
            })
        })
        .collect()
}

/// One bundle if every webhook of both configurations carries the same one.
fn common_bundle(api: &ApiServer) -> Option<String> {
    let mut all = bundles(api, "MutatingWebhookConfiguration");
    all.extend(bundles(api, "ValidatingWebhookConfiguration"));
    let first = all[0].clone()?;
    all.iter()
        .all(|b| b.as_deref() == Some(first.as_str()))
        .then_some(first)
}

/// A review of a pod without gMSA settings over TLS, trusting only `bundle`: Ok(status) or
/// the TLS/HTTP error.
async fn review(addr: SocketAddr, bundle: &str) -> Result<(u16, CertificateDer<'static>), String> {
    let cas = pki::certs_der(bundle).map_err(|e| e.to_string())?;
    let tls = client_tls(&cas, &[b"http/1.1"]);
    let mut conn = connect_to(addr, tls, SNI)
        .await
        .map_err(|e| e.to_string())?;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "apps"},
                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    let (status, _) = conn
        .post("/validate", review_body("uid-1", "CREATE", "apps", &pod))
        .await
        .map_err(|e| e.to_string())?;
    Ok((status, conn.peer_cert))
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Reviews in a loop until stopped, each trusting the bundle the configurations carry at
/// that moment and the one they carried 300 ms before (an API server that has not caught
/// up yet). Returns (successes, failures with their reason).
fn reviewer(
    api: Arc<ApiServer>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, Vec<String>)> {
    tokio::spawn(async move {
        let mut history: Vec<(tokio::time::Instant, String)> = Vec::new();
        let (mut ok, mut failed) = (0, Vec::new());
        while !stop.load(Ordering::SeqCst) {
            let now = tokio::time::Instant::now();
            let Some(current) = common_bundle(&api) else {
                // Mid-publication (one configuration patched, the other not yet): use each
                // configuration's own bundle below via the history of common ones.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            history.push((now, current.clone()));
            history.retain(|(t, _)| now.duration_since(*t) < Duration::from_secs(2));
            let lagged = history
                .iter()
                .find(|(t, _)| now.duration_since(*t) <= Duration::from_millis(300))
                .map(|(_, b)| b.clone())
                .unwrap_or_else(|| current.clone());
            for b in [&current, &lagged] {
                match review(addr, b).await {
                    Ok((200, _)) => ok += 1,
                    Ok((s, _)) => failed.push(format!("HTTP {s}")),
                    Err(e) => failed.push(e),
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (ok, failed)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_creation_publishes_the_bundle_and_serves_a_verifiable_certificate() {
    let api = api().await;
    let r = replica(&api, slow("pod-a")).await;
    wait_for("caBundle in every webhook", || {
        common_bundle(&api).is_some()
    })
    .await;

    let secret = get(&api, "Secret", "winkube-tls");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let ca = secret_text(&api, "ca.crt").unwrap();
    assert_eq!(common_bundle(&api).unwrap(), ca);
    assert_eq!(bundles(&api, "ValidatingWebhookConfiguration").len(), 2);
    assert_eq!(phase(&api).as_deref(), Some("stable"));
    assert_eq!(
        get(&api, "Lease", "winkube-tls")["spec"]["holderIdentity"],
        "pod-a"
    );
    assert!(r.certs.is_leader());

    let (status, served) = review(r.addr, &ca).await.unwrap();
    assert_eq!(status, 200);
    let tls_crt = secret_text(&api, "tls.crt").unwrap();
    assert_eq!(served, pki::certs_der(&tls_crt).unwrap()[0]);
    // The certificate is for the Service's names: another name does not verify.
    let tls = client_tls(&pki::certs_der(&ca).unwrap(), &[b"http/1.1"]);
    assert!(connect_to(r.addr, tls, "other.winkube.svc").await.is_err());
    // A client trusting another CA refuses it.
    let other = winkube_testkit::TestCa::new("other").unwrap();
    assert!(review(r.addr, &other.cert_pem()).await.is_err());
    // The absent winkube-windows configurations were skipped, not an error: the Secret was
    // written once and the configurations patched once each.
    let writes = |method: &str, path: &str| {
        api.requests()
            .iter()
            .filter(|q| q.method == method && q.path.contains(path) && q.status < 300)
            .count()
    };
    assert_eq!(writes("POST", "/secrets"), 1);
    assert_eq!(writes("PUT", "/secrets/"), 0);
    assert_eq!(writes("PATCH", "/mutatingwebhookconfigurations/winkube"), 1);
    assert_eq!(
        writes("PATCH", "/validatingwebhookconfigurations/winkube"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serving_certificate_is_renewed_before_it_expires() {
    let api = api().await;
    let mut cfg = fast("pod-a");
    cfg.ca_validity = Duration::from_secs(3600);
    let r = replica(&api, cfg).await;
    wait_for("caBundle", || common_bundle(&api).is_some()).await;
    let ca = common_bundle(&api).unwrap();
    let first = r.certs.resolver().current().cert[0].clone();
    let first_end = pki::not_after(&secret_text(&api, "tls.crt").unwrap()).unwrap();
    wait_for("a renewed certificate", || {
        r.certs.resolver().current().cert[0] != first
    })
    .await;
    let renewed_pem = secret_text(&api, "tls.crt").unwrap();
    // Renewed while the first was still valid, with the same CA: the bundle did not change.
    assert!(pki::not_after(&renewed_pem).unwrap() > first_end);
    assert!(pki::unix_now() <= first_end, "renewed only after expiry");
    assert_eq!(common_bundle(&api).unwrap(), ca);
    let (status, served) = review(r.addr, &ca).await.unwrap();
    assert_eq!(status, 200);
    assert_ne!(served, first);
}

/// Waits for one whole CA rotation (prepare, promoted, stable with another CA).
async fn whole_rotation(api: &ApiServer) -> (String, String) {
    wait_for("initial bundle", || common_bundle(api).is_some()).await;
    let old_ca = secret_text(api, "ca-signer.crt").unwrap();
    let mut seen = Vec::new();
    wait_for("a complete CA rotation", || {
        let p = phase(api).unwrap_or_default();
        if seen.last() != Some(&p) {
            seen.push(p.clone());
        }
        p == "stable" && secret_text(api, "ca-signer.crt").is_some_and(|c| c != old_ca)
    })
    .await;
    assert!(
        seen.windows(3)
            .any(|w| w == ["prepare", "promoted", "stable"]),
        "phases seen: {seen:?}"
    );
    (old_ca, secret_text(api, "ca-signer.crt").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_rotation_fails_no_review() {
    let api = Arc::new(api().await);
    let r = replica(&api, fast("pod-a")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let reviews = reviewer(api.clone(), r.addr, stop.clone());
    let (old_ca, new_ca) = whole_rotation(&api).await;
    // Keep reviewing a little after the old CA left the bundle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let (ok, failed) = reviews.await.unwrap();
    assert!(
        failed.is_empty(),
        "{} reviews failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(ok > 20, "only {ok} reviews");
    assert_ne!(old_ca, new_ca);
    // A client trusting only the new CA is served.
    let (status, _) = review(r.addr, &new_ca).await.unwrap();
    assert_eq!(status, 200);
    eprintln!("CA rotation: {ok} reviews, none failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_racing_write_once_and_serve_the_same_certificate() {
    let api = api().await;
    let (a, b) = tokio::join!(replica(&api, slow("pod-a")), replica(&api, slow("pod-b")));
    wait_for("caBundle", || common_bundle(&api).is_some()).await;
    wait_for("both serve the Secret's certificate", || {
        a.certs.resolver().current().cert == b.certs.resolver().current().cert
    })
    .await;
    // Give the loser a few ticks to (wrongly) write.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(a.certs.is_leader() ^ b.certs.is_leader());
    let created = api
        .requests()
        .iter()
        .filter(|q| q.method == "POST" && q.path.ends_with("/secrets") && q.status == 201)
        .count();
    let replaced = api
        .requests()
        .iter()
        .filter(|q| q.method == "PUT" && q.path.contains("/secrets/") && q.status < 300)
        .count();
    assert_eq!((created, replaced), (1, 0));
    let ca = common_bundle(&api).unwrap();
    let (sa, ca_a) = review(a.addr, &ca).await.unwrap();
    let (sb, ca_b) = review(b.addr, &ca).await.unwrap();
    assert_eq!((sa, sb), (200, 200));
    assert_eq!(ca_a, ca_b);
    // The leader goes away; the other takes over and keeps the same certificate.
    let (leader, other) = if a.certs.is_leader() { (a, b) } else { (b, a) };
    let served = other.certs.resolver().current().cert.clone();
    drop(leader);
    wait_for("takeover", || other.certs.is_leader()).await;
    assert_eq!(other.certs.resolver().current().cert, served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_restarted_mid_rotation_resumes() {
    let api = Arc::new(api().await);
    // The first replica never finishes a rotation: its propagation delay is an hour.
    let mut stuck = fast("pod-a");
    stuck.propagation_delay = Duration::from_secs(3600);
    let a = replica(&api, stuck).await;
    wait_for("rotation prepared", || {
        phase(&api).as_deref() == Some("prepare")
    })
    .await;
    let next_ca = secret_text(&api, "ca-next.crt").unwrap();
    let old_ca = secret_text(&api, "ca-signer.crt").unwrap();
    wait_for("both CAs published", || {
        common_bundle(&api).is_some_and(|b| b.contains(next_ca.trim()) && b.contains(old_ca.trim()))
    })
    .await;
    // It goes away; a new pod, another identity, starts.
    drop(a);
    let b = replica(&api, fast("pod-b")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let reviews = reviewer(api.clone(), b.addr, stop.clone());
    wait_for("promoted", || {
        secret_text(&api, "ca-signer.crt").is_some_and(|c| c != old_ca)
    })
    .await;
    // It continued the stored rotation: the CA prepared before the crash now signs.
    assert_eq!(secret_text(&api, "ca-signer.crt").unwrap(), next_ca);
    wait_for("retired", || {
        phase(&api).as_deref() == Some("stable")
            && common_bundle(&api).is_some_and(|b| !b.contains(old_ca.trim()))
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let (ok, failed) = reviews.await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    assert!(ok > 0);
    assert!(b.certs.is_leader());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_patch_leaves_the_previous_certificate_serving() {
    let api = Arc::new(api().await);
    let r = replica(&api, fast("pod-a")).await;
    wait_for("initial bundle", || common_bundle(&api).is_some()).await;
    let old_ca = secret_text(&api, "ca-signer.crt").unwrap();
    // From now on the validating configuration cannot be patched.
    api.fail_requests("PATCH", "/validatingwebhookconfigurations/", Some(500));
    wait_for("rotation prepared", || {
        phase(&api).as_deref() == Some("prepare")
    })
    .await;
    let next_ca = secret_text(&api, "ca-next.crt").unwrap();
    // Stays prepared: serving is not moved to the new CA while one configuration lacks it.
    let validating_old = || {
        bundles(&api, "ValidatingWebhookConfiguration")[0]
            .clone()
            .unwrap()
    };
    let checks = AtomicUsize::new(0);
    for _ in 0..15 {
        assert_eq!(phase(&api).as_deref(), Some("prepare"));
        assert!(!validating_old().contains(next_ca.trim()));
        // The API server calling through the unpatched configuration still succeeds.
        let (status, _) = review(r.addr, &validating_old()).await.unwrap();
        assert_eq!(status, 200);
        checks.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The mutating one got the new CA beside the old one (harmless: serving is unchanged).
    assert!(
        bundles(&api, "MutatingWebhookConfiguration")[0]
            .clone()
            .unwrap()
            .contains(next_ca.trim())
    );
    assert!(
        api.requests().iter().any(|q| q.method == "PATCH"
            && q.path.contains("validatingwebhook")
            && q.status == 500)
    );
    // Patching works again: the rotation completes.
    api.fail_requests("PATCH", "/validatingwebhookconfigurations/", None);
    wait_for("promoted after the fault", || {
        secret_text(&api, "ca-signer.crt").is_some_and(|c| c == next_ca)
    })
    .await;
    assert!(validating_old().contains(next_ca.trim()));
    let _ = old_ca;
    assert_eq!(checks.load(Ordering::SeqCst), 15);
}

#[tokio::test]
async fn bad_settings_are_refused_naming_the_setting() {
    let api = api().await;
    let cancel = CancellationToken::new();
    let (metrics, _) = metrics();
    let mut cfg = slow("x");
    cfg.renew_before = cfg.validity;
    let e = SelfManagedCerts::start(api.client().unwrap(), cfg, metrics.clone(), &cancel)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("renew-before"), "{e}");
    let mut cfg = slow("x");
    cfg.ca_validity = cfg.validity;
    let e = SelfManagedCerts::start(api.client().unwrap(), cfg, metrics.clone(), &cancel)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("CA validity"), "{e}");
    let mut cfg = slow("x");
    cfg.secret_name = "Bad_Name".into();
    let e = SelfManagedCerts::start(api.client().unwrap(), cfg, metrics, &cancel)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("\"Bad_Name\""), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_secret_is_replaced_with_a_managed_one() {
    let api = api().await;
    // A Secret someone made by hand: no CA, no phase.
    let other = winkube_testkit::TestCa::new("hand-made").unwrap();
    let leaf = other.issue("winkube", &[SNI]).unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    api.create(
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "winkube-tls", "namespace": NS},
        "data": {"tls.crt": b64(&leaf.cert_pem), "tls.key": b64(&leaf.key_pem)}}),
    )
    .unwrap();
    let r = replica(&api, slow("pod-a")).await;
    wait_for("replaced with a managed one", || {
        phase(&api).as_deref() == Some("stable")
    })
    .await;
    wait_for("bundle", || common_bundle(&api).is_some()).await;
    let ca = common_bundle(&api).unwrap();
    wait_for("serving the managed certificate", || {
        r.certs.resolver().current().cert[0]
            == pki::certs_der(&secret_text(&api, "tls.crt").unwrap()).unwrap()[0]
    })
    .await;
    let (status, _) = review(r.addr, &ca).await.unwrap();
    assert_eq!(status, 200);
    // The stand-in refuses a kubernetes.io/tls Secret without tls.key (422), like the API
    // server.
    let mut s = get(&api, "Secret", "winkube-tls");
    s["data"].as_object_mut().unwrap().remove("tls.key");
    let e = api.apply(s).unwrap_err();
    assert!(e.to_string().contains("422"), "{e}");
}
