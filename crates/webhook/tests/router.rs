//! The HTTP surface, driven through `Router::handle` without a socket.
#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use std::sync::Arc;
use support::*;
use winkube_webhook::routes::{ResponseBody, RouterOptions};
use winkube_webhook::{Readiness, Router};

fn router(ready: Readiness, opts: RouterOptions) -> Router<FileView> {
    let view = credspec_0_view(&["allowed-sa"]);
    let (metrics, registry) = metrics();
    Router::new(Arc::new(view), ready, metrics, registry, opts)
}

fn default_router() -> Router<FileView> {
    router(Readiness::ready_now(), RouterOptions::default())
}

fn req(method: &str, uri: &str, content_type: Option<&str>, body: Vec<u8>) -> Request<Full<Bytes>> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    b.body(Full::new(Bytes::from(body))).unwrap()
}

async fn body_of(resp: http::Response<ResponseBody>) -> Bytes {
    resp.into_body().collect().await.unwrap().to_bytes()
}

fn mutate_body() -> Vec<u8> {
    review_body(
        "u-1",
        "CREATE",
        "apps",
        &gmsa_pod("allowed-sa", "credspec-0", None),
    )
}

#[tokio::test]
async fn mutate_inlines_canonical_contents() {
    let r = default_router();
    let resp = r
        .handle(req(
            "POST",
            "/mutate",
            Some("application/json"),
            mutate_body(),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body = body_of(resp).await;
    let response = response_of(&body);
    assert_eq!(response["uid"], "u-1");
    assert_eq!(response["allowed"], true);
    let patch = patch_of(&body);
    assert_eq!(patch.len(), 1, "{patch:?}");
    assert_eq!(
        patch[0]["path"],
        "/spec/securityContext/windowsOptions/gmsaCredentialSpec"
    );
    assert_eq!(patch[0]["value"], CREDSPEC_0_CANONICAL);
}

#[tokio::test]
async fn query_string_is_ignored_and_method_case_is_not_checked() {
    let r = default_router();
    let resp = r
        .handle(req(
            "post",
            "/mutate?timeout=10s",
            Some("application/json"),
            mutate_body(),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(response_of(&body_of(resp).await)["allowed"], true);
}

#[tokio::test]
async fn each_review_is_logged_in_a_span_with_uid_endpoint_and_decision() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let r = default_router();
    let pod = gmsa_pod("other-sa", "credspec-0", Some(CREDSPEC_0_CANONICAL));
    let resp = r
        .handle(req(
            "POST",
            "/validate",
            Some("application/json"),
            review_body("u-span", "CREATE", "apps", &pod),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("refusing to admit pod"))
        .unwrap_or_else(|| panic!("no denial logged in {text}"));
    for field in [
        "review{",
        r#"endpoint="validate""#,
        r#"uid="u-span""#,
        "allowed=false",
        "code=403",
        "namespace=apps",
    ] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
}

#[tokio::test]
async fn validate_denies_an_unauthorized_service_account() {
    let r = default_router();
    let pod = gmsa_pod("other-sa", "credspec-0", Some(CREDSPEC_0_CANONICAL));
    let resp = r
        .handle(req(
            "POST",
            "/validate",
            Some("application/json"),
            review_body("u-2", "CREATE", "apps", &pod),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let response = response_of(&body_of(resp).await);
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 403);
    assert!(
        response["status"]["message"]
            .as_str()
            .unwrap()
            .contains("not authorized to `use` GMSA cred spec \"credspec-0\""),
        "{response}"
    );
}

#[tokio::test]
async fn wrong_method_is_405_with_empty_body() {
    let r = default_router();
    for (method, path) in [
        ("GET", "/mutate"),
        ("PUT", "/validate"),
        ("DELETE", "/mutate"),
    ] {
        let resp = r
            .handle(req(method, path, Some("application/json"), mutate_body()))
            .await;
        assert_eq!(
            resp.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert!(body_of(resp).await.is_empty());
    }
}

#[tokio::test]
async fn content_type_must_be_exactly_application_json() {
    let r = default_router();
    for ct in [
        None,
        Some("application/json; charset=utf-8"),
        Some("text/plain"),
        Some("Application/JSON"),
    ] {
        let resp = r.handle(req("POST", "/validate", ct, mutate_body())).await;
        assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
        assert!(body_of(resp).await.is_empty());
    }
}

#[tokio::test]
async fn unknown_paths_and_trailing_slashes_are_404() {
    let r = default_router();
    for path in [
        "/mutate/",
        "/validate/",
        "/",
        "/healthz",
        "/MUTATE",
        "/info/",
    ] {
        let resp = r
            .handle(req("POST", path, Some("application/json"), mutate_body()))
            .await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(body_of(resp).await.is_empty());
    }
}

#[tokio::test]
async fn oversized_bodies_are_413_with_and_without_content_length() {
    let r = router(
        Readiness::ready_now(),
        RouterOptions {
            limits: winkube_webhook::Limits {
                max_body_bytes: 1024,
                ..Default::default()
            },
            random_hostname: false,
        },
    );
    // Declared length over the limit: refused before reading.
    let mut big = req(
        "POST",
        "/mutate",
        Some("application/json"),
        vec![b' '; 2048],
    );
    big.headers_mut()
        .insert("content-length", "2048".parse().unwrap());
    let resp = r.handle(big).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let text = body_of(resp).await;
    assert!(
        std::str::from_utf8(&text)
            .unwrap()
            .contains("exceeds the limit of 1024 bytes")
    );

    // Streamed (chunked) body with no length: refused once the limit is crossed.
    let chunks = (0..10)
        .map(|_| Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(vec![b' '; 200]))));
    let streamed = Request::post("/mutate")
        .header("content-type", "application/json")
        .body(StreamBody::new(futures::stream::iter(chunks)))
        .unwrap();
    let resp = r.handle(streamed).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // At the limit is fine (an ordinary review is far smaller).
    let resp = r
        .handle(req(
            "POST",
            "/mutate",
            Some("application/json"),
            mutate_body(),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn info_reports_the_crate_version() {
    let r = default_router();
    let resp = r.handle(req("GET", "/info", None, vec![])).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_slice(&body_of(resp).await).unwrap();
    assert_eq!(v, serde_json::json!({"version": env!("CARGO_PKG_VERSION")}));
}

#[tokio::test]
async fn health_is_503_until_ready_then_204() {
    let ready = Readiness::new();
    let r = router(ready.clone(), RouterOptions::default());
    let resp = r.handle(req("GET", "/health", None, vec![])).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    ready.set_ready();
    let resp = r.handle(req("GET", "/health", None, vec![])).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.headers().get("content-type").is_none());
    assert!(body_of(resp).await.is_empty());
}

#[tokio::test]
async fn malformed_review_is_answered_with_a_400_review() {
    let r = default_router();
    let resp = r
        .handle(req(
            "POST",
            "/validate",
            Some("application/json"),
            b"{".to_vec(),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let response = response_of(&body_of(resp).await);
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 400);
}

#[tokio::test]
async fn random_hostname_is_patched_on_mutate_only() {
    let r = router(
        Readiness::ready_now(),
        RouterOptions {
            random_hostname: true,
            ..RouterOptions::default()
        },
    );
    let body = body_of(
        r.handle(req(
            "POST",
            "/mutate",
            Some("application/json"),
            mutate_body(),
        ))
        .await,
    )
    .await;
    let patch = patch_of(&body);
    let host = patch
        .iter()
        .find(|op| op["path"] == "/spec/hostname")
        .expect("hostname op");
    let h = host["value"].as_str().unwrap();
    assert_eq!(h.len(), 15);
    assert!(
        h.chars()
            .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "{h}"
    );
}

#[tokio::test]
async fn metrics_count_reviews_by_endpoint_and_code() {
    let r = default_router();
    r.handle(req(
        "POST",
        "/mutate",
        Some("application/json"),
        mutate_body(),
    ))
    .await;
    let pod = gmsa_pod("other-sa", "credspec-0", Some(CREDSPEC_0_CANONICAL));
    r.handle(req(
        "POST",
        "/validate",
        Some("application/json"),
        review_body("u", "CREATE", "apps", &pod),
    ))
    .await;
    let resp = r.handle(req("GET", "/metrics", None, vec![])).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = String::from_utf8(body_of(resp).await.to_vec()).unwrap();
    assert!(
        text.contains(
            r#"winkube_webhook_reviews_total{endpoint="mutate",allowed="true",code="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"winkube_webhook_reviews_total{endpoint="validate",allowed="false",code="403"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("winkube_webhook_review_duration_seconds_bucket"));
}
