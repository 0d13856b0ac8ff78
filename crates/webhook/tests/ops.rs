//! What operators see: the operations listener (`/metrics`, `/healthz`, `/readyz` over plain
//! HTTP), the series for reviews, Kubernetes API calls, caches and the serving certificate,
//! and logs that never carry whole pods or credspec contents.
#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use support::*;
use winkube_testkit::ApiServer;
use winkube_webhook::routes::RouterOptions;
use winkube_webhook::{
    LiveView, LiveViewConfig, OpsServer, Readiness, Router, ServerConfig, metrics::encode,
};

/// One plain-HTTP request to the operations listener: (status, body).
async fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// The value of the series `line` (name and labels exactly as exposed), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn ops_listener_serves_metrics_health_and_readiness_over_http() {
    let (metrics, registry) = metrics();
    let ready = Readiness::new();
    let ops = OpsServer::bind("127.0.0.1:0".parse().unwrap(), registry, ready.clone())
        .await
        .unwrap();
    let addr = ops.local_addr();
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(ops.run(stop.clone().cancelled_owned()));

    // Alive at once; ready only once the caches are.
    assert_eq!(http(addr, "GET", "/healthz").await, (200, "ok\n".into()));
    assert_eq!(http(addr, "GET", "/readyz").await.0, 503);
    ready.set_ready();
    assert_eq!(http(addr, "GET", "/readyz").await, (200, "ok\n".into()));

    // The binary's whole registry: what the review path records shows up here.
    let view = Arc::new(credspec_0_view(&["allowed-sa"]));
    let router = Router::new(
        view,
        ready.clone(),
        metrics.clone(),
        // Not the ops listener's registry: the router only records into `metrics`.
        Arc::new(prometheus_client::registry::Registry::default()),
        RouterOptions::default(),
    );
    let body = review_body(
        "u-1",
        "CREATE",
        "apps",
        &gmsa_pod("allowed-sa", "credspec-0", None),
    );
    let req = http::Request::builder()
        .method("POST")
        .uri("/mutate")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    router.handle(req).await;
    let (status, text) = http(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        value(
            &text,
            r#"winkube_webhook_admission_reviews_total{webhook="mutate",operation="CREATE",outcome="patched"}"#
        ),
        Some(1.0),
        "{text}"
    );
    // The existing series keep their names and labels.
    assert_eq!(
        value(
            &text,
            r#"winkube_webhook_reviews_total{endpoint="mutate",allowed="true",code="200"}"#
        ),
        Some(1.0)
    );

    // Only reads, and only these paths: the admission paths are not served here.
    assert_eq!(http(addr, "POST", "/metrics").await.0, 405);
    assert_eq!(http(addr, "GET", "/mutate").await.0, 404);
    assert_eq!(http(addr, "GET", "/health").await.0, 404);

    stop.cancel();
    task.await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening after shutdown"
    );
}

#[tokio::test]
async fn api_calls_caches_and_outcomes_are_counted_against_a_real_api_server() {
    let api = ApiServer::start().await.unwrap();
    api.create(credspec_object("credspec-0", credspec_doc(0)))
        .unwrap();
    api.create(credspec_object("credspec-1", credspec_doc(1)))
        .unwrap();
    let (role, binding) = rbac_for("apps", "allowed-sa", "credspec-0");
    api.create(role).unwrap();
    api.create(binding).unwrap();

    let (metrics, registry) = metrics();
    // The client the binary builds: the default stack plus the counting layer.
    let client = kube::client::ClientBuilder::try_from(api.kube_config().unwrap())
        .unwrap()
        .with_layer(&metrics.api_layer())
        .build();
    let ready = Readiness::new();
    let config = LiveViewConfig {
        credspec_cache_size: metrics.credspec_cache_size(),
        ..LiveViewConfig::default()
    };
    let view = LiveView::start(client, config, ready.clone())
        .await
        .unwrap();
    metrics.track_caches(view.caches());
    eventually("live view ready", || ready.is_ready()).await;
    let text = encode(&registry);
    assert_eq!(
        value(
            &text,
            r#"winkube_webhook_cache_objects{cache="gmsacredentialspecs"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"winkube_webhook_cache_synced{cache="gmsacredentialspecs"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"winkube_webhook_api_requests_total{verb="list",resource="gmsacredentialspecs",code="200"}"#
        ),
        Some(1.0),
        "{text}"
    );

    let router = Router::new(
        view,
        ready,
        metrics.clone(),
        registry.clone(),
        RouterOptions::default(),
    );
    let validate = |sa: &str, uid: &str| {
        let pod = gmsa_pod(sa, "credspec-0", Some(CREDSPEC_0_CANONICAL));
        http::Request::builder()
            .method("POST")
            .uri("/validate")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(review_body(
                uid, "CREATE", "apps", &pod,
            ))))
            .unwrap()
    };
    router.handle(validate("allowed-sa", "u-ok")).await;
    router.handle(validate("other-sa", "u-denied")).await;
    // An UPDATE that changes nothing: allowed without an API call.
    let pod = gmsa_pod("allowed-sa", "credspec-0", Some(CREDSPEC_0_CANONICAL));
    let mut update: serde_json::Value =
        serde_json::from_slice(&review_body("u-up", "UPDATE", "apps", &pod)).unwrap();
    update["request"]["oldObject"] = pod.clone();
    router
        .handle(
            http::Request::builder()
                .method("POST")
                .uri("/validate")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(serde_json::to_vec(&update).unwrap())))
                .unwrap(),
        )
        .await;
    // Garbage is `invalid`, under operation `other`.
    router
        .handle(
            http::Request::builder()
                .method("POST")
                .uri("/validate")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(b"{\"request\":")))
                .unwrap(),
        )
        .await;

    // A credspec created now reaches the cache and its gauge through the watch.
    api.create(credspec_object("credspec-2", credspec_doc(2)))
        .unwrap();
    eventually("third credspec cached", || {
        value(
            &encode(&registry),
            r#"winkube_webhook_cache_objects{cache="gmsacredentialspecs"}"#,
        ) == Some(3.0)
    })
    .await;

    let text = encode(&registry);
    for (series, want) in [
        // Two access reviews, one per validated CREATE (the stand-in answers 201).
        (
            r#"winkube_webhook_api_requests_total{verb="create",resource="localsubjectaccessreviews",code="201"}"#,
            2.0,
        ),
        (
            r#"winkube_webhook_api_request_duration_seconds_count{verb="create",resource="localsubjectaccessreviews"}"#,
            2.0,
        ),
        (
            r#"winkube_webhook_admission_reviews_total{webhook="validate",operation="CREATE",outcome="allowed"}"#,
            1.0,
        ),
        (
            r#"winkube_webhook_admission_reviews_total{webhook="validate",operation="CREATE",outcome="denied"}"#,
            1.0,
        ),
        (
            r#"winkube_webhook_admission_reviews_total{webhook="validate",operation="UPDATE",outcome="allowed"}"#,
            1.0,
        ),
        (
            r#"winkube_webhook_admission_reviews_total{webhook="validate",operation="other",outcome="invalid"}"#,
            1.0,
        ),
        (r#"winkube_webhook_credspec_cache_size"#, 3.0),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series}\n{text}");
    }
    assert!(
        text.contains(r#"winkube_webhook_api_requests_total{verb="watch",resource="gmsacredentialspecs",code="200"}"#),
        "{text}"
    );

    // An API error is counted by its code: the stand-in refuses access reviews.
    api.set_authz_error(Some(500));
    router.handle(validate("allowed-sa", "u-err")).await;
    let text = encode(&registry);
    assert_eq!(
        value(
            &text,
            r#"winkube_webhook_api_requests_total{verb="create",resource="localsubjectaccessreviews",code="500"}"#
        ),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn serving_certificate_expiry_is_reported_and_follows_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let write = |not_after: (i32, u8, u8)| {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.path().join("tls.crt"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("tls.key"), key.serialize_pem()).unwrap();
    };
    write((2031, 1, 2));
    let mut config = ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("tls.crt"),
        dir.path().join("tls.key"),
    );
    config.cert_reload_debounce = std::time::Duration::from_millis(20);
    let (metrics, registry) = metrics();
    let server = winkube_webhook::Server::bind(
        config,
        Arc::new(credspec_0_view(&[])),
        Readiness::ready_now(),
        metrics,
        registry.clone(),
    )
    .await
    .unwrap();

    // 2031-01-02T00:00:00Z.
    let not_after = 1_925_078_400.0;
    let text = encode(&registry);
    assert_eq!(
        value(
            &text,
            "winkube_webhook_certificate_not_after_timestamp_seconds"
        ),
        Some(not_after),
        "{text}"
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64;
    let left = value(&text, "winkube_webhook_certificate_expiry_seconds").unwrap();
    assert!(
        (not_after - now - left).abs() <= 5.0,
        "expiry {left}s, expected about {}",
        not_after - now
    );

    // A rotated certificate moves the series.
    write((2032, 6, 30));
    eventually("reloaded certificate reported", || {
        value(
            &encode(&registry),
            "winkube_webhook_certificate_not_after_timestamp_seconds",
        ) == Some(1_972_166_400.0)
    })
    .await;
    drop(server);
}

/// Unique strings that appear only inside the pods and the credspec of the reviews below.
const POD_MARKERS: [&str; 3] = [
    "env-value-8c1f3e",
    "annotation-value-5d2a7b",
    "registry.example/secret-image-4e9c",
];

#[tokio::test]
async fn logs_of_reviews_never_contain_pods_or_credspec_contents() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        // Everything, down to trace: no level may leak them.
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let router = {
        let view = credspec_0_view(&["allowed-sa"]);
        let (metrics, registry) = metrics();
        Router::new(
            Arc::new(view),
            Readiness::ready_now(),
            metrics,
            registry,
            RouterOptions {
                random_hostname: true,
                ..RouterOptions::default()
            },
        )
    };
    let marked = |mut pod: serde_json::Value| {
        pod["metadata"]["annotations"] = serde_json::json!({"note": POD_MARKERS[1]});
        pod["spec"]["containers"][0]["image"] = POD_MARKERS[2].into();
        pod["spec"]["containers"][0]["env"] =
            serde_json::json!([{"name": "PASSWORD", "value": POD_MARKERS[0]}]);
        pod
    };
    // Contents that do not parse, but carry most of the credspec: the reference echoes them
    // in the denial (so the API client sees them), never in the logs.
    let truncated = &CREDSPEC_0_CANONICAL[..CREDSPEC_0_CANONICAL.len() - 1];
    let reviews = [
        (
            "/mutate",
            marked(gmsa_pod("allowed-sa", "credspec-0", None)),
        ),
        (
            "/validate",
            marked(gmsa_pod(
                "allowed-sa",
                "credspec-0",
                Some(CREDSPEC_0_CANONICAL),
            )),
        ),
        (
            "/validate",
            marked(gmsa_pod(
                "other-sa",
                "credspec-0",
                Some(CREDSPEC_0_CANONICAL),
            )),
        ),
        (
            "/validate",
            marked(gmsa_pod("allowed-sa", "credspec-0", Some(truncated))),
        ),
        ("/mutate", marked(gmsa_pod("allowed-sa", "missing", None))),
    ];
    let mut answers = String::new();
    for (i, (path, pod)) in reviews.iter().enumerate() {
        let body = review_body(&format!("u-{i}"), "CREATE", "apps", pod);
        let resp = router
            .handle(
                http::Request::builder()
                    .method("POST")
                    .uri(*path)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap(),
            )
            .await;
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        answers.push_str(&String::from_utf8_lossy(&bytes));
    }
    let text = logs.text();
    // The reviews were logged (three denials among them), so the scan below means something.
    assert_eq!(text.matches("refusing to admit pod").count(), 3, "{text}");
    // The API client did get the echoed contents (the reference's message).
    assert!(answers.contains("unable to parse"), "{answers}");
    let credspec_fields = [
        "S-1-5-21-2126729477-2524075714-3094792973",
        "WebApplication0",
        "244818ae-87ca-4fcd-92ec-e79e5252348a",
        "GroupManagedServiceAccounts",
    ];
    for needle in POD_MARKERS.iter().chain(credspec_fields.iter()) {
        assert!(
            !text.contains(needle),
            "the logs contain {needle:?}:\n{text}"
        );
    }
}
