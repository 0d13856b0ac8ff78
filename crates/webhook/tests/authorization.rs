//! SubjectAccessReview mode under load and slowness: one review per (service account,
//! credspec) pair, asked at once, and a deadline that denies in-band before the API server
//! gives up on the webhook.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use winkube_policy::{Phase, ReviewContext, review};
use winkube_testkit::ApiServer;
use winkube_webhook::{DEFAULT_AUTHORIZATION_DEADLINE, LiveView, LiveViewConfig, Readiness};

/// The stand-in with credspec-0..2, `use` of credspec-0 and credspec-1 granted to
/// apps/authorized, and a synced live view at client-go's default QPS (5, burst 10).
async fn start() -> (ApiServer, Arc<LiveView>) {
    let api = ApiServer::start().await.unwrap();
    for n in 0..3 {
        api.create(credspec_object(&format!("credspec-{n}"), credspec_doc(n)))
            .unwrap();
    }
    for cs in ["credspec-0", "credspec-1"] {
        let (role, binding) = rbac_for("apps", "authorized", cs);
        api.create(role).unwrap();
        api.create(binding).unwrap();
    }
    let ready = Readiness::new();
    let view = LiveView::start(
        api.client().unwrap(),
        LiveViewConfig::default(),
        ready.clone(),
    )
    .await
    .unwrap();
    eventually("live view ready", || ready.is_ready()).await;
    (api, view)
}

/// A pod with `refs` containers (and init containers) naming the credspecs in turn.
fn pod_naming(credspecs: &[&str], refs: usize) -> Value {
    let container = |i: usize| {
        json!({"name": format!("c{i}"), "securityContext": {"windowsOptions":
            {"gmsaCredentialSpecName": credspecs[i % credspecs.len()]}}})
    };
    json!({
        "metadata": {"name": "many", "namespace": "apps"},
        "spec": {
            "serviceAccountName": "authorized",
            "containers": (0..refs / 2).map(container).collect::<Vec<_>>(),
            "initContainers": (refs / 2..refs).map(container).collect::<Vec<_>>(),
        }
    })
}

async fn validate(view: &LiveView, pod: &Value) -> Value {
    let body = review_body("u", "CREATE", "apps", pod);
    let o = review(Phase::Validate, &body, view, &ReviewContext::default()).await;
    response_of(&o.body)
}

#[tokio::test]
async fn four_hundred_references_to_one_credspec_make_one_access_review() {
    let (api, view) = start().await;
    api.clear_requests();
    let started = Instant::now();
    let r = validate(&view, &pod_naming(&["credspec-0"], 400)).await;
    let took = started.elapsed();
    // No contents inlined: allowed with warnings; what matters is the number of reviews.
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(api.access_reviews().len(), 1, "one review per pair");
    eprintln!("400 references, 1 pair: 1 access review, answered in {took:?}");

    // Two pairs among 400 references: two reviews, asked at once.
    api.clear_requests();
    api.set_authz_delay(Duration::from_millis(300));
    let started = Instant::now();
    let r = validate(&view, &pod_naming(&["credspec-0", "credspec-1"], 400)).await;
    let took = started.elapsed();
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(api.access_reviews().len(), 2);
    assert!(took < Duration::from_millis(550), "in parallel: {took:?}");
}

#[tokio::test]
async fn denials_keep_the_first_failing_reference_in_pod_order() {
    let (api, view) = start().await;
    // credspec-2 is not granted; it is named by container c2 first (containers before init
    // containers), so that is the denial, as when the reviews were asked one by one.
    api.clear_requests();
    let r = validate(
        &view,
        &pod_naming(&["credspec-0", "credspec-1", "credspec-2"], 9),
    )
    .await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    assert_eq!(
        r["status"]["message"],
        r#"service account "authorized" is not authorized to `use` GMSA cred spec "credspec-2""#
    );
    assert_eq!(api.access_reviews().len(), 3, "one per distinct credspec");
}

#[tokio::test]
async fn a_slow_access_review_is_denied_in_band_within_the_deadline() {
    let (api, view) = start().await;
    assert_eq!(
        view.authorization_deadline(),
        DEFAULT_AUTHORIZATION_DEADLINE
    );
    assert!(
        DEFAULT_AUTHORIZATION_DEADLINE < Duration::from_secs(10),
        "under timeoutSeconds"
    );
    view.set_authorization_deadline(Duration::from_millis(400));
    api.set_authz_delay(Duration::from_secs(5));
    let started = Instant::now();
    let r = validate(&view, &pod_naming(&["credspec-0", "credspec-1"], 400)).await;
    let took = started.elapsed();
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["status"]["code"], 403);
    assert_eq!(
        r["status"]["message"],
        r#"service account "authorized" is not authorized to `use` GMSA cred spec "credspec-0", reason: "error when checking authz access: the authorization check did not finish within 400ms""#
    );
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    eprintln!("slow access reviews (5 s each): denied in-band after {took:?}");

    // Answers within the deadline are used as before.
    api.set_authz_delay(Duration::from_millis(50));
    let r = validate(&view, &pod_naming(&["credspec-0"], 2)).await;
    assert_eq!(r["allowed"], true, "{r}");
}
