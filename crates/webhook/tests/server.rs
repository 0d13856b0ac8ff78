//! The server over real TLS sockets, with the live view fed by the real kube-rs client from the
//! in-process API-server stand-in.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::sync::oneshot;
use winkube_testkit::{ApiServer, GoneMode};
use winkube_webhook::{AuthorizationMode, LiveView, LiveViewConfig, Readiness};

struct Harness {
    api: ApiServer,
    view: Arc<LiveView>,
    ready: Readiness,
    addr: std::net::SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    shutdown: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<Result<(), winkube_webhook::Error>>,
    _dir: tempfile::TempDir,
}

/// The stand-in with credspec-0..2 and `use` of credspec-0 granted to apps/authorized.
fn seed(api: &ApiServer) {
    for n in 0..3 {
        api.create(credspec_object(&format!("credspec-{n}"), credspec_doc(n)))
            .unwrap();
    }
    let (role, binding) = rbac_for("apps", "authorized", "credspec-0");
    api.create(role).unwrap();
    api.create(binding).unwrap();
}

async fn start(mode: AuthorizationMode, before: impl FnOnce(&ApiServer)) -> Harness {
    let api = ApiServer::start().await.unwrap();
    seed(&api);
    before(&api);
    let ready = Readiness::new();
    let view = LiveView::start(
        api.client().unwrap(),
        LiveViewConfig {
            authorization: mode,
            qps: 50.0,
            burst: 100,
            ..LiveViewConfig::default()
        },
        ready.clone(),
    )
    .await
    .unwrap();
    let served = serve(view.clone(), ready.clone(), |_| {}).await;
    Harness {
        api,
        view,
        ready,
        addr: served.addr,
        tls: client_tls(&[served.ca], &[b"http/1.1"]),
        shutdown: Some(served.shutdown),
        server: served.task,
        _dir: served.dir,
    }
}

impl Harness {
    async fn conn(&self) -> Conn {
        connect(self.addr, self.tls.clone()).await.unwrap()
    }
    async fn synced(&self) {
        let ready = self.ready.clone();
        eventually("live view ready", || ready.is_ready()).await;
    }

    /// Synced, and the credspec watch that follows the list has been requested.
    async fn watching(&self) {
        self.synced().await;
        eventually("credspec watch started", || {
            self.api
                .requests()
                .iter()
                .any(|r| r.is_watch() && r.path.ends_with("/gmsacredentialspecs"))
        })
        .await;
    }
}

async fn mutate(c: &mut Conn, uid: &str, credspec: &str) -> serde_json::Value {
    let (status, body) = c
        .post(
            "/mutate",
            review_body(
                uid,
                "CREATE",
                "apps",
                &gmsa_pod("authorized", credspec, None),
            ),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let mut r = response_of(&body);
    r["decodedPatch"] = serde_json::to_value(patch_of(&body)).unwrap();
    r
}

async fn validate(c: &mut Conn, sa: &str, credspec: &str, contents: &str) -> serde_json::Value {
    let pod = gmsa_pod(sa, credspec, Some(contents));
    let (status, body) = c
        .post("/validate", review_body("v", "CREATE", "apps", &pod))
        .await
        .unwrap();
    assert_eq!(status, 200);
    response_of(&body)
}

#[tokio::test]
async fn mutate_inlines_contents_without_any_api_call() {
    let h = start(AuthorizationMode::SubjectAccessReview, |_| {}).await;
    h.watching().await;
    h.api.clear_requests();
    let mut c = h.conn().await;
    for i in 0..20 {
        let r = mutate(&mut c, &format!("u{i}"), "credspec-0").await;
        assert_eq!(r["allowed"], true);
        assert_eq!(r["decodedPatch"][0]["value"], CREDSPEC_0_CANONICAL);
    }
    // Unknown credspec: answered from the cache too (404 in the review).
    let r = mutate(&mut c, "missing", "no-such-credspec").await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 404);
    assert_eq!(
        h.api.requests(),
        vec![],
        "a mutate review must not call the API server"
    );
    assert_eq!(h.view.credspec_count(), 3);
}

#[tokio::test]
async fn validate_asks_a_subject_access_review_with_the_reference_body() {
    let h = start(AuthorizationMode::SubjectAccessReview, |_| {}).await;
    h.synced().await;
    let mut c = h.conn().await;
    let r = validate(&mut c, "authorized", "credspec-0", CREDSPEC_0_CANONICAL).await;
    assert_eq!(r["allowed"], true, "{r}");

    let reviews = h.api.access_reviews();
    assert_eq!(reviews.len(), 1);
    let sar = &reviews[0];
    assert_eq!(sar["kind"], "LocalSubjectAccessReview");
    assert_eq!(sar["metadata"], json!({"namespace": "apps"}));
    assert_eq!(
        sar["spec"],
        json!({
            "resourceAttributes": {"namespace": "apps", "verb": "use", "group": "windows.k8s.io",
                                   "version": "v1", "resource": "gmsacredentialspecs", "name": "credspec-0"},
            "user": "system:serviceaccount:apps:authorized",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:apps"]
        })
    );
    assert_eq!(
        h.api.count_requests(
            "POST",
            "/apis/authorization.k8s.io/v1/namespaces/apps/localsubjectaccessreviews"
        ),
        1
    );
}

#[tokio::test]
async fn an_unauthorized_service_account_is_refused() {
    let h = start(AuthorizationMode::SubjectAccessReview, |_| {}).await;
    h.synced().await;
    let mut c = h.conn().await;
    // Not bound at all.
    let r = validate(&mut c, "intruder", "credspec-0", CREDSPEC_0_CANONICAL).await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    assert!(
        r["status"]["message"].as_str().unwrap().starts_with(
            "service account \"intruder\" is not authorized to `use` GMSA cred spec \"credspec-0\""
        ),
        "{r}"
    );
    // Bound to credspec-0 only: credspec-1 is refused.
    let contents1 = winkube_api::canonical_json(&credspec_doc(1));
    let r = validate(&mut c, "authorized", "credspec-1", &contents1).await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
}

#[tokio::test]
async fn a_failing_access_review_denies() {
    let h = start(AuthorizationMode::SubjectAccessReview, |_| {}).await;
    h.synced().await;
    h.api.set_authz_error(Some(500));
    let mut c = h.conn().await;
    let r = validate(&mut c, "authorized", "credspec-0", CREDSPEC_0_CANONICAL).await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("error when checking authz access: "),
        "{r}"
    );
}

#[tokio::test]
async fn credspec_changes_are_seen_through_the_watch() {
    let h = start(AuthorizationMode::SubjectAccessReview, |_| {}).await;
    h.synced().await;
    let mut c = h.conn().await;
    assert_eq!(mutate(&mut c, "a", "late").await["status"]["code"], 404);

    h.api
        .create(credspec_object(
            "late",
            json!({"CmsPlugins": ["ActiveDirectory"], "A": "<1>"}),
        ))
        .unwrap();
    let view = h.view.clone();
    eventually("created credspec cached", || view.credspec_count() == 4).await;
    let r = mutate(&mut c, "b", "late").await;
    assert_eq!(
        r["decodedPatch"][0]["value"],
        r#"{"A":"\u003c1\u003e","CmsPlugins":["ActiveDirectory"]}"#
    );

    h.api
        .apply(credspec_object(
            "late",
            json!({"CmsPlugins": ["ActiveDirectory"], "A": "2"}),
        ))
        .unwrap();
    let mut updated = false;
    for _ in 0..500 {
        let r = mutate(&mut c, "c", "late").await;
        if r["decodedPatch"][0]["value"] == r#"{"A":"2","CmsPlugins":["ActiveDirectory"]}"# {
            updated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(updated, "update not seen");

    h.api
        .delete("windows.k8s.io/v1", "GMSACredentialSpec", "", "late")
        .unwrap();
    eventually("deleted credspec dropped", || view.credspec_count() == 3).await;
    assert_eq!(mutate(&mut c, "d", "late").await["status"]["code"], 404);

    // A credspec without a `credspec` key: 417, as the reference.
    h.api.create(json!({"apiVersion": "windows.k8s.io/v1", "kind": "GMSACredentialSpec", "metadata": {"name": "empty"}})).unwrap();
    eventually("empty credspec cached", || view.credspec_count() == 4).await;
    assert_eq!(mutate(&mut c, "e", "empty").await["status"]["code"], 417);
}

#[tokio::test]
async fn not_ready_until_the_credspec_cache_has_synced() {
    let h = start(AuthorizationMode::SubjectAccessReview, |api| {
        api.set_list_error(Some(500))
    })
    .await;
    let mut c = h.conn().await;
    let (status, _) = c.get("/health").await.unwrap();
    assert_eq!(status, 503);
    assert!(!h.ready.is_ready());
    // Reviews are answered, but a credspec cannot be resolved from an unsynced cache.
    let r = mutate(&mut c, "early", "credspec-0").await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 500);

    h.api.set_list_error(None);
    h.synced().await;
    let (status, _) = c.get("/health").await.unwrap();
    assert_eq!(status, 204);
    assert_eq!(mutate(&mut c, "late", "credspec-0").await["allowed"], true);
}

async fn relist_after_gone(mode: GoneMode) {
    let h = start(AuthorizationMode::SubjectAccessReview, |_| {}).await;
    h.api.set_gone_mode(mode);
    h.synced().await;
    // Take the watch down, change things while it is down, and forget the history: the
    // client's resourceVersion has expired when it comes back.
    h.api.pause_watches(true);
    h.api.close_watches();
    h.api
        .create(credspec_object("during-gap", credspec_doc(2)))
        .unwrap();
    h.api
        .delete("windows.k8s.io/v1", "GMSACredentialSpec", "", "credspec-1")
        .unwrap();
    h.api.compact();
    h.api.clear_requests();
    h.api.pause_watches(false);

    let mut c = h.conn().await;
    let mut seen = false;
    for _ in 0..1000 {
        let a = mutate(&mut c, "a", "during-gap").await;
        let b = mutate(&mut c, "b", "credspec-1").await;
        if a["allowed"] == true && b["status"]["code"] == 404 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen, "changes made while the watch was gone were not seen");
    let lists = h
        .api
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "GET"
                && r.path == "/apis/windows.k8s.io/v1/gmsacredentialspecs"
                && !r.is_watch()
        })
        .count();
    assert!(
        lists >= 1,
        "expected a relist after 410: {:?}",
        h.api.requests()
    );
    assert_eq!(h.view.credspec_count(), 3);
}

#[tokio::test]
async fn relists_after_a_410_error_event() {
    relist_after_gone(GoneMode::ErrorEvent).await;
}

#[tokio::test]
async fn relists_after_an_http_410() {
    relist_after_gone(GoneMode::Http).await;
}

#[tokio::test]
async fn rbac_cache_allows_locally_and_falls_back_to_a_review_on_deny() {
    let h = start(AuthorizationMode::RbacCache, |_| {}).await;
    h.synced().await;
    let mut c = h.conn().await;
    let r = validate(&mut c, "authorized", "credspec-0", CREDSPEC_0_CANONICAL).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(
        h.api.access_reviews().len(),
        0,
        "a local allow needs no API call"
    );

    let r = validate(&mut c, "intruder", "credspec-0", CREDSPEC_0_CANONICAL).await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    assert_eq!(h.api.access_reviews().len(), 1, "a local deny is re-asked");

    // A grant added later is seen by the RBAC watch: allowed locally, still no new review.
    let (role, binding) = rbac_for("apps", "latecomer", "credspec-0");
    h.api.create(role).unwrap();
    h.api.create(binding).unwrap();
    let mut allowed_locally = false;
    for _ in 0..500 {
        let before = h.api.access_reviews().len();
        let r = validate(&mut c, "latecomer", "credspec-0", CREDSPEC_0_CANONICAL).await;
        assert_eq!(
            r["allowed"], true,
            "the fallback review must allow a granted account"
        );
        if h.api.access_reviews().len() == before {
            allowed_locally = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        allowed_locally,
        "the new binding never reached the local cache"
    );
}

#[tokio::test]
async fn rbac_cache_keeps_namespaces_apart_and_forgets_a_deleted_binding() {
    let h = start(AuthorizationMode::RbacCache, |api| {
        // The same names in another namespace, granting another credspec.
        let (role, binding) = rbac_for("other", "authorized", "credspec-1");
        api.create(role).unwrap();
        api.create(binding).unwrap();
    })
    .await;
    h.synced().await;
    let mut c = h.conn().await;
    let r = validate(&mut c, "authorized", "credspec-0", CREDSPEC_0_CANONICAL).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(h.api.access_reviews().len(), 0);
    // apps' binding does not grant credspec-1 (only "other"'s names it): re-asked, denied.
    let credspec_1: winkube_api::GmsaCredentialSpec =
        serde_json::from_value(credspec_object("credspec-1", credspec_doc(1))).unwrap();
    let canonical_1 = credspec_1.canonical_contents().unwrap();
    let r = validate(&mut c, "authorized", "credspec-1", &canonical_1).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(h.api.access_reviews().len(), 1);

    // A deleted binding stops granting locally: the check falls back to a review again.
    h.api
        .delete(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "apps",
            "authorized-uses-credspec-0",
        )
        .unwrap();
    let mut asked = false;
    for _ in 0..500 {
        let before = h.api.access_reviews().len();
        validate(&mut c, "authorized", "credspec-0", CREDSPEC_0_CANONICAL).await;
        if h.api.access_reviews().len() > before {
            asked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        asked,
        "the deleted binding still granted from the local cache"
    );
}

#[tokio::test]
async fn cancelling_the_token_stops_the_watches() {
    let api = ApiServer::start().await.unwrap();
    seed(&api);
    let ready = Readiness::new();
    let cancel = tokio_util::sync::CancellationToken::new();
    let view = LiveView::start_with_cancel(
        api.client().unwrap(),
        LiveViewConfig::default(),
        ready.clone(),
        &cancel,
    )
    .await
    .unwrap();
    ready.wait().await;
    eventually("credspec watch started", || {
        api.requests()
            .iter()
            .any(|r| r.is_watch() && r.path.ends_with("/gmsacredentialspecs"))
    })
    .await;
    assert_eq!(view.credspec_count(), 3);

    cancel.cancel();
    // Give the watch task a moment to see the cancellation, then change the cluster.
    tokio::time::sleep(Duration::from_millis(100)).await;
    api.create(credspec_object("after-cancel", credspec_doc(4)))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        view.credspec_count(),
        3,
        "a cancelled view kept following the watch"
    );
}

#[tokio::test]
async fn http2_is_negotiated_by_alpn() {
    use http_body_util::BodyExt;
    let h = start(AuthorizationMode::SubjectAccessReview, |_| {}).await;
    let tls = {
        let mut cfg = (*h.tls).clone();
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(cfg)
    };
    let tcp = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get("https://localhost/info")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(std::str::from_utf8(&body).unwrap().contains("\"version\""));
}

#[tokio::test]
async fn graceful_shutdown_finishes_an_in_flight_review() {
    let mut h = start(AuthorizationMode::SubjectAccessReview, |_| {}).await;
    h.synced().await;
    h.api.set_authz_delay(Duration::from_millis(500));
    let mut c = h.conn().await;
    let in_flight = tokio::spawn(async move {
        validate(&mut c, "authorized", "credspec-0", CREDSPEC_0_CANONICAL).await
    });
    // Wait until the review is inside the server (its access review has reached the stand-in).
    let api_reviews = || h.api.access_reviews().len();
    eventually("review in flight", || api_reviews() == 1).await;
    let _ = h.shutdown.take().unwrap().send(());
    let r = in_flight.await.unwrap();
    assert_eq!(r["allowed"], true, "the in-flight review must complete");
    let result = tokio::time::timeout(Duration::from_secs(20), &mut h.server)
        .await
        .unwrap();
    assert!(result.unwrap().is_ok());
    // No longer accepting.
    assert!(connect(h.addr, h.tls.clone()).await.is_err());
}

#[tokio::test]
async fn ten_thousand_credspecs_sync_and_resolve_without_api_calls() {
    let h = start(AuthorizationMode::SubjectAccessReview, |api| {
        for i in 0..10_000 {
            api.create(credspec_object(&format!("bulk-{i}"), credspec_doc(i % 3)))
                .unwrap();
        }
    })
    .await;
    h.watching().await;
    assert_eq!(h.view.credspec_count(), 10_003);
    h.api.clear_requests();
    let mut c = h.conn().await;
    for name in ["bulk-0", "bulk-4242", "bulk-9999"] {
        let r = mutate(&mut c, name, name).await;
        assert_eq!(r["allowed"], true, "{r}");
        assert!(
            r["decodedPatch"][0]["value"]
                .as_str()
                .unwrap()
                .starts_with("{\"ActiveDirectoryConfig\"")
        );
    }
    assert!(h.api.requests().is_empty());
}
