//! The reference's request pre-processing (P1-P7) and the probed edge cases of its
//! specification §7.3, plus the decoding choices winkube made where Go's decoder differs.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::*;
use winkube_policy::windows::{self, Decoded};
use winkube_policy::{CredSpecLookup, Outcome, Phase, ReviewContext, unreadable_body};

fn ctx() -> ReviewContext {
    ReviewContext::default()
}

fn both(body: &[u8], view: &MemView) -> [Outcome; 2] {
    [
        run(Phase::Mutate, body, view, &ctx()),
        run(Phase::Validate, body, view, &ctx()),
    ]
}

fn denied(o: &Outcome, uid: &str, code: u16, message: &str) {
    assert!(!o.allowed, "allowed: {message}");
    assert_eq!(o.uid, uid);
    assert_eq!(o.code, code);
    assert_eq!(o.message, message);
    response(o);
}

fn gmsa_pod() -> Value {
    json!({"metadata": {"name": "p1"}, "spec": {"serviceAccountName": "sa1",
        "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}},
        "containers": [{"name": "c0"}]}})
}

fn view() -> MemView {
    MemView::default().with("cs", json!({"CmsPlugins": ["ActiveDirectory"]}))
}

fn request(req: Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}),
    )
    .unwrap()
}

#[test]
fn p1_unreadable_body() {
    let o = unreadable_body("connection reset");
    denied(&o, "", 400, "couldn't read request body: connection reset");
}

#[test]
fn p2_bodies_that_are_not_an_admission_review() {
    let prefix = "unable to unmarshall JSON body as an admission review: ";
    for (body, exact) in [
        (&b""[..], Some("unexpected end of JSON input")),
        (b"   ", Some("unexpected end of JSON input")),
        (
            br#"{"request":{"uid":"u""#,
            Some("unexpected end of JSON input"),
        ),
        (b"not json", None),
        (br#"{"request":{"uid":"u"}} trailing"#, None),
        (b"[]", None),
        (br#"{"request":5}"#, None),
        (br#"{"request":{"uid":5}}"#, None),
        (br#"{"request":{"kind":"Pod"}}"#, None),
        (br#"{"request":{"uid":"u","object":{"spec":}}}"#, None),
    ] {
        for o in both(body, &view()) {
            assert!(!o.allowed);
            assert_eq!(o.uid, "", "P2 answers with an empty uid");
            assert_eq!(o.code, 400);
            assert!(o.message.starts_with(prefix), "{:?}", o.message);
            if let Some(e) = exact {
                assert_eq!(o.message, format!("{prefix}{e}"));
            }
            response(&o);
        }
    }
}

#[test]
fn p3_request_missing_or_null() {
    for body in [
        &br#"{"request":null}"#[..],
        b"{}",
        b"null",
        br#"{"kind":"AdmissionReview"}"#,
    ] {
        for o in both(body, &view()) {
            denied(&o, "", 400, "no 'Request' field in JSON body");
        }
    }
}

#[test]
fn p4_kind_must_be_exactly_pod() {
    for (kind, expected) in [
        (json!("pod"), "expected a Pod object, got a pod"),
        (
            json!("Deployment"),
            "expected a Pod object, got a Deployment",
        ),
        (json!(null), "expected a Pod object, got a "),
    ] {
        let body = request(
            json!({"uid": "u-4", "kind": {"kind": kind}, "operation": "CREATE", "object": gmsa_pod()}),
        );
        for o in both(&body, &view()) {
            denied(&o, "u-4", 400, expected);
        }
    }
    // Group, version and resource are not checked.
    let body = request(
        json!({"uid": "u-4", "kind": {"group": "x", "version": "v9", "kind": "Pod"}, "namespace": NS, "operation": "CREATE", "object": gmsa_pod()}),
    );
    assert!(run(Phase::Mutate, &body, &view(), &ctx()).allowed);
}

#[test]
fn p5_object_not_decodable_as_a_pod() {
    let prefix = "unable to unmarshall pod JSON object: ";
    for (object, exact) in [
        (None, Some("unexpected end of JSON input")),
        (Some(json!(null)), Some("unexpected end of JSON input")),
        (Some(json!("a string")), None),
        (Some(json!(5)), None),
        (Some(json!([])), None),
        (Some(json!({"spec": {"containers": "a string"}})), None),
        (
            Some(
                json!({"spec": {"securityContext": {"windowsOptions": {"gmsaCredentialSpecName": 5}}}}),
            ),
            None,
        ),
        (Some(json!({"metadata": {"name": ["x"]}})), None),
    ] {
        let mut req = json!({"uid": "u-5", "kind": {"kind": "Pod"}, "operation": "CREATE"});
        if let Some(o) = object {
            req["object"] = o;
        }
        // P5 comes before the operation check (P6).
        for op in ["CREATE", "DELETE"] {
            req["operation"] = json!(op);
            for o in both(&request(req.clone()), &view()) {
                assert!(!o.allowed);
                assert_eq!((o.uid.as_str(), o.code), ("u-5", 400));
                assert!(o.message.starts_with(prefix), "{}", o.message);
                if let Some(e) = exact {
                    assert_eq!(o.message, format!("{prefix}{e}"));
                }
            }
        }
    }
}

#[test]
fn p6_unexpected_operations() {
    for op in ["DELETE", "CONNECT", "create", ""] {
        let body = request(
            json!({"uid": "u-6", "kind": {"kind": "Pod"}, "operation": op, "object": gmsa_pod()}),
        );
        for o in both(&body, &view()) {
            denied(&o, "u-6", 400, &format!("unpexpected operation {op}"));
        }
    }
}

#[test]
fn p7_update_without_a_decodable_old_object() {
    for old in [None, Some(json!(null)), Some(json!("x"))] {
        let mut req = json!({"uid": "u-7", "kind": {"kind": "Pod"}, "operation": "UPDATE", "object": gmsa_pod()});
        if let Some(o) = old.clone() {
            req["oldObject"] = o;
        }
        let o = run(Phase::Validate, &request(req.clone()), &view(), &ctx());
        assert_eq!((o.code, o.allowed), (400, false));
        assert!(
            o.message
                .starts_with("unable to unmarshall pod JSON object: ")
        );
        if old.as_ref().is_none_or(Value::is_null) {
            assert_eq!(
                o.message,
                "unable to unmarshall pod JSON object: unexpected end of JSON input"
            );
        }
        // M9: /mutate does not look at the old object on UPDATE.
        let o = run(Phase::Mutate, &request(req), &view(), &ctx());
        assert!(o.allowed);
        assert_eq!(o.patch_ops, 0);
    }
}

#[test]
fn m9_update_on_mutate_is_always_allowed_without_patch_or_lookup() {
    let v = MemView::default();
    let o = run(
        Phase::Mutate,
        &review_body("u", "UPDATE", &gmsa_pod(), Some(&json!({}))),
        &v,
        &ctx(),
    );
    assert!(o.allowed);
    assert_eq!(o.patch_ops, 0);
    assert!(v.log().is_empty());
}

#[test]
fn v1beta1_and_v1_reviews_answer_v1() {
    let body = serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview",
        "request": {"uid": "b1", "kind": {"kind": "Pod"}, "namespace": NS, "operation": "CREATE", "object": gmsa_pod()}})).unwrap();
    let o = run(Phase::Mutate, &body, &view(), &ctx());
    assert!(o.allowed);
    assert_eq!(o.patch_ops, 1);
    let v: Value = serde_json::from_slice(&o.body).unwrap();
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
}

#[test]
fn keys_match_case_insensitively_like_go() {
    let body = br#"{"Request":{"UID":"ci","Kind":{"KIND":"Pod"},"Namespace":"dummy-namespace","OPERATION":"CREATE",
        "Object":{"Metadata":{"Name":"p1"},"Spec":{"SecurityContext":{"WindowsOptions":{"GMSACredentialSpecName":"cs"}}}}}}"#;
    let o = run(Phase::Mutate, body, &view(), &ctx());
    assert!(o.allowed, "{}", o.message);
    assert_eq!(o.uid, "ci");
    assert_eq!(o.patch_ops, 1);
}

#[test]
fn duplicate_keys_last_one_wins() {
    let body = br#"{"request":{"uid":"a","uid":"d","kind":{"kind":"Deployment","kind":"Pod"},"operation":"CREATE","object":{"spec":{}}}}"#;
    let o = run(Phase::Mutate, body, &view(), &ctx());
    assert!(o.allowed, "{}", o.message);
    assert_eq!(o.uid, "d");
}

#[test]
fn null_fields_are_unset() {
    let pod = json!({"metadata": null, "spec": {"securityContext": null, "containers": [null, {"name": "c1", "securityContext": {"windowsOptions": null}}],
        "initContainers": null}});
    for o in both(&review_body("n", "CREATE", &pod, None), &view()) {
        assert!(o.allowed);
        assert_eq!(o.patch_ops, 0);
    }
    // A null name is "not set": contents alone are refused.
    let pod = json!({"metadata": {"name": "p1"}, "spec": {"containers": [{"name": "c0", "securityContext": {"windowsOptions":
        {"gmsaCredentialSpecName": null, "gmsaCredentialSpec": "{}"}}}]}});
    let o = run(
        Phase::Validate,
        &review_body("n", "CREATE", &pod, None),
        &view(),
        &ctx(),
    );
    assert_eq!(o.code, 422);
}

#[test]
fn invalid_utf8_is_replaced_not_refused() {
    let mut body = review_body(
        "utf",
        "CREATE",
        &json!({"metadata": {"name": "p1", "labels": {"a": "XX"}}, "spec": {}}),
        None,
    );
    let at = body.windows(2).position(|w| w == b"XX").unwrap();
    body[at] = 0xff;
    let o = run(Phase::Validate, &body, &view(), &ctx());
    assert!(o.allowed, "{}", o.message);
}

#[test]
fn uid_and_messages_are_escaped_like_go() {
    let body = request(json!({"uid": "<&>", "kind": {"kind": "<Pod>"}}));
    let o = run(Phase::Validate, &body, &view(), &ctx());
    assert_eq!(o.message, "expected a Pod object, got a <Pod>");
    assert_eq!(
        String::from_utf8(o.body).unwrap(),
        r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"\u003c\u0026\u003e","allowed":false,"status":{"metadata":{},"message":"expected a Pod object, got a \u003cPod\u003e","code":400}}}"#
    );
}

// ---- §7.3 probed cases ----

fn container_pod(opts: Value) -> Value {
    json!({"metadata": {"name": "p1"}, "spec": {"serviceAccountName": "sa1", "containers": [{"name": "c0", "securityContext": {"windowsOptions": opts}}]}})
}

#[test]
fn mutate_contents_only_is_left_for_validation() {
    let v = view();
    let o = run(
        Phase::Mutate,
        &review_body(
            "u",
            "CREATE",
            &container_pod(json!({"gmsaCredentialSpec": "{}"})),
            None,
        ),
        &v,
        &ctx(),
    );
    assert!(o.allowed);
    assert_eq!(o.patch_ops, 0);
    assert!(v.log().is_empty(), "M4: no authorization in /mutate");
}

#[test]
fn mutate_credspec_without_credspec_key_is_417() {
    let v = view().with_lookup("nokey", CredSpecLookup::MissingCredspecKey);
    let o = run(
        Phase::Mutate,
        &review_body(
            "u",
            "CREATE",
            &container_pod(json!({"gmsaCredentialSpecName": "nokey"})),
            None,
        ),
        &v,
        &ctx(),
    );
    denied(&o, "u", 417, "cred spec nokey does not have a credspec key");
}

#[test]
fn empty_credspec_name_is_500_name_is_required() {
    let pod = container_pod(json!({"gmsaCredentialSpecName": ""}));
    let o = run(
        Phase::Mutate,
        &review_body("u", "CREATE", &pod, None),
        &view(),
        &ctx(),
    );
    denied(
        &o,
        "u",
        500,
        "unable to retrieve the contents of cred spec : name is required",
    );
    let pod = container_pod(json!({"gmsaCredentialSpecName": "", "gmsaCredentialSpec": "{}"}));
    let o = run(
        Phase::Validate,
        &review_body("u", "CREATE", &pod, None),
        &view(),
        &ctx(),
    );
    denied(
        &o,
        "u",
        500,
        "unable to retrieve the contents of cred spec : name is required",
    );
}

#[test]
fn unavailable_view_is_500() {
    let v = view().with_lookup("cs", CredSpecLookup::Unavailable("cache not synced".into()));
    let o = run(
        Phase::Mutate,
        &review_body("u", "CREATE", &gmsa_pod(), None),
        &v,
        &ctx(),
    );
    denied(
        &o,
        "u",
        500,
        "unable to retrieve the contents of cred spec cs: cache not synced",
    );
}

#[test]
fn validate_nonexistent_credspec_without_contents_passes_with_warnings() {
    let v = MemView::default();
    let pod = container_pod(json!({"gmsaCredentialSpecName": "missing"}));
    let o = run(
        Phase::Validate,
        &review_body("u", "CREATE", &pod, None),
        &v,
        &ctx(),
    );
    assert!(o.allowed);
    assert_eq!(v.log(), vec!["sar:missing", "get:missing"]);
    assert_eq!(
        o.warnings,
        vec![
            r#"container "c0" names GMSA cred spec "missing" but its contents were not inlined: the mutating webhook is probably not installed"#.to_owned(),
            r#"GMSA cred spec "missing" used by container "c0" does not exist"#.to_owned(),
        ]
    );
    assert_eq!(response(&o)["warnings"], json!(o.warnings));
}

#[test]
fn validate_nonexistent_credspec_with_contents_is_404() {
    let pod =
        container_pod(json!({"gmsaCredentialSpecName": "missing", "gmsaCredentialSpec": "{}"}));
    let v = MemView::default();
    let o = run(
        Phase::Validate,
        &review_body("u", "CREATE", &pod, None),
        &v,
        &ctx(),
    );
    denied(&o, "u", 404, "cred spec missing does not exist");
    assert_eq!(
        v.log(),
        vec!["sar:missing", "get:missing"],
        "V7: SAR first, then GET"
    );
}

#[test]
fn authz_errors_are_403_with_the_views_reason() {
    let v = view().deny(
        NS,
        "sa1",
        "cs",
        "error when checking authz access: connection refused",
    );
    let o = run(
        Phase::Validate,
        &review_body("u", "CREATE", &gmsa_pod(), None),
        &v,
        &ctx(),
    );
    denied(
        &o,
        "u",
        403,
        r#"service account "sa1" is not authorized to `use` GMSA cred spec "cs", reason: "error when checking authz access: connection refused""#,
    );
    let v = view().deny(NS, "sa1", "cs", "");
    let o = run(
        Phase::Validate,
        &review_body("u", "CREATE", &gmsa_pod(), None),
        &v,
        &ctx(),
    );
    denied(
        &o,
        "u",
        403,
        r#"service account "sa1" is not authorized to `use` GMSA cred spec "cs""#,
    );
}

#[test]
fn empty_service_account_is_asked_as_is() {
    let mut pod = gmsa_pod();
    pod["spec"]
        .as_object_mut()
        .unwrap()
        .remove("serviceAccountName");
    let v = view().deny(NS, "", "cs", "");
    let o = run(
        Phase::Validate,
        &review_body("u", "CREATE", &pod, None),
        &v,
        &ctx(),
    );
    denied(
        &o,
        "u",
        403,
        r#"service account "" is not authorized to `use` GMSA cred spec "cs""#,
    );
}

#[test]
fn update_dropping_security_context_is_allowed_but_emptying_windows_options_is_not() {
    let old = container_pod(json!({"gmsaCredentialSpecName": "a"}));
    let dropped = json!({"metadata": {"name": "p1"}, "spec": {"serviceAccountName": "sa1", "containers": [{"name": "c0"}]}});
    let o = run(
        Phase::Validate,
        &review_body("u", "UPDATE", &dropped, Some(&old)),
        &view(),
        &ctx(),
    );
    assert!(o.allowed, "U3 asymmetry kept");
    let emptied = container_pod(json!({}));
    let o = run(
        Phase::Validate,
        &review_body("u", "UPDATE", &emptied, Some(&old)),
        &view(),
        &ctx(),
    );
    denied(
        &o,
        "u",
        403,
        r#"cannot update an existing pod's GMSA settings (GMSA name modified on container "c0")"#,
    );
}

#[test]
fn update_pod_level_changes_and_null_versus_empty() {
    let pod = |opts: Value| json!({"metadata": {"name": "p1"}, "spec": {"securityContext": {"windowsOptions": opts}}});
    let cases = [
        (
            json!({}),
            json!({"gmsaCredentialSpecName": "a"}),
            Some("name"),
        ),
        (
            json!({"gmsaCredentialSpecName": ""}),
            json!({}),
            Some("name"),
        ),
        (
            json!({"gmsaCredentialSpec": "{}"}),
            json!({"gmsaCredentialSpec": "{ }"}),
            Some("contents"),
        ),
        (
            json!({"gmsaCredentialSpecName": "a", "gmsaCredentialSpec": "x"}),
            json!({}),
            Some("name and contents"),
        ),
        (
            json!({"gmsaCredentialSpecName": "a", "runAsUserName": "x"}),
            json!({"gmsaCredentialSpecName": "a", "runAsUserName": "y"}),
            None,
        ),
    ];
    for (old, new, what) in cases {
        let o = run(
            Phase::Validate,
            &review_body("u", "UPDATE", &pod(new), Some(&pod(old))),
            &view(),
            &ctx(),
        );
        match what {
            None => assert!(o.allowed),
            Some(w) => denied(
                &o,
                "u",
                403,
                &format!(
                    "cannot update an existing pod's GMSA settings (GMSA {w} modified on pod \"p1\")"
                ),
            ),
        }
    }
}

#[test]
fn update_containers_only_in_old_pod_are_ignored_and_duplicates_match_the_last() {
    let old = json!({"metadata": {"name": "p1"}, "spec": {"containers": [
        {"name": "c0", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "x"}}},
        {"name": "c0", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "a"}}},
        {"name": "gone", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "b"}}}]}});
    let new = json!({"metadata": {"name": "p1"}, "spec": {"containers": [
        {"name": "c0", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "a"}}}]}});
    let o = run(
        Phase::Validate,
        &review_body("u", "UPDATE", &new, Some(&old)),
        &view(),
        &ctx(),
    );
    assert!(o.allowed, "{}", o.message);
}

#[test]
fn namespace_comes_from_the_request_not_the_pod() {
    let mut pod = gmsa_pod();
    pod["metadata"]["namespace"] = json!("elsewhere");
    let v = view();
    run(
        Phase::Validate,
        &review_body("u", "CREATE", &pod, None),
        &v,
        &ctx(),
    );
    assert_eq!(
        v.sar_calls(),
        vec![(NS.to_owned(), "sa1".to_owned(), "cs".to_owned())]
    );
}

#[test]
fn first_error_wins() {
    let pod = json!({"metadata": {"name": "p1"}, "spec": {"serviceAccountName": "sa1",
        "securityContext": {"windowsOptions": {"gmsaCredentialSpec": "{}"}},
        "containers": [{"name": "c0", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "missing"}}}]}});
    let v = view();
    let o = run(
        Phase::Validate,
        &review_body("u", "CREATE", &pod, None),
        &v,
        &ctx(),
    );
    denied(
        &o,
        "u",
        422,
        r#"pod "p1" has a GMSA cred spec set, but does not define the name of the corresponding resource"#,
    );
    assert!(v.log().is_empty());
    // Mutate: a failing lookup discards the ops already made.
    let pod = json!({"metadata": {"name": "p1"}, "spec": {
        "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}},
        "containers": [{"name": "c0", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "missing"}}}]}});
    let o = run(
        Phase::Mutate,
        &review_body("u", "CREATE", &pod, None),
        &view(),
        &ctx(),
    );
    denied(&o, "u", 404, "cred spec missing does not exist");
    assert_eq!(o.patch_ops, 0);
}

#[test]
fn same_credspec_referenced_twice_is_patched_twice() {
    let pod = json!({"metadata": {"name": "p1"}, "spec": {
        "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}},
        "containers": [{"name": "c0", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}}}]}});
    let o = run(
        Phase::Mutate,
        &review_body("u", "CREATE", &pod, None),
        &view(),
        &ctx(),
    );
    let ops = patch_ops(&o);
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[0]["value"], ops[1]["value"]);
    assert_eq!(
        ops[1]["path"],
        "/spec/containers/0/securityContext/windowsOptions/gmsaCredentialSpec"
    );
}

/// Both reviews name the pod for logs in their outcome (the webhook has no decoder of its own
/// for that any more): controllers' pods have only `generateName` at admission time.
#[test]
fn outcomes_name_the_pod_for_logs() {
    let body = br#"{"request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"ns1","object":{"metadata":{"generateName":"web-"},"spec":{}}}}"#;
    for o in both(body, &view()) {
        assert_eq!(o.namespace, "ns1");
        assert_eq!(o.name, "web-*");
    }
    let Decoded::Pod(p) = windows::decode(body) else {
        panic!("a Pod CREATE is decoded for evaluation")
    };
    assert_eq!(p.namespace(), "ns1");
    assert_eq!(p.name(), "web-*");
    for o in both(b"not json", &view()) {
        assert_eq!(o.name, "");
    }
    let Decoded::Answered(o) = windows::decode(b"not json") else {
        panic!("a malformed review is answered at once")
    };
    assert_eq!(o.name, "");
}
