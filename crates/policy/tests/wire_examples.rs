//! The reference's exact wire examples (its specification's Appendix A and §2.6).

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::json;
use support::*;
use winkube_policy::{Phase, ReviewContext};

fn ctx() -> ReviewContext {
    ReviewContext::default()
}

#[test]
fn denial_bytes_match_reference() {
    let view = MemView::default().deny(NS, "sa1", "denied", "no RBAC policy matched");
    let pod = json!({"metadata":{"name":"p1"},"spec":{"serviceAccountName":"sa1","securityContext":{"windowsOptions":{"gmsaCredentialSpecName":"denied"}},"containers":[{"name":"c0"}]}});
    let o = run(
        Phase::Validate,
        &review_body("u-1", "CREATE", &pod, None),
        &view,
        &ctx(),
    );
    assert_eq!(
        String::from_utf8(o.body.clone()).unwrap(),
        r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"u-1","allowed":false,"status":{"metadata":{},"message":"service account \"sa1\" is not authorized to `use` GMSA cred spec \"denied\", reason: \"no RBAC policy matched\"","code":403}}}"#
    );
    assert_eq!(o.code, 403);
}

#[test]
fn malformed_body_bytes_match_reference() {
    let o = run(Phase::Mutate, b"", &MemView::default(), &ctx());
    assert_eq!(
        String::from_utf8(o.body).unwrap(),
        r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"","allowed":false,"status":{"metadata":{},"message":"unable to unmarshall JSON body as an admission review: unexpected end of JSON input","code":400}}}"#
    );
}

#[test]
fn allowed_without_patch_bytes_match_reference() {
    let pod = json!({"metadata":{"name":"p1"},"spec":{"containers":[{"name":"c0"}]}});
    for endpoint in [Phase::Mutate, Phase::Validate] {
        let o = run(
            endpoint,
            &review_body("u-1", "CREATE", &pod, None),
            &MemView::default(),
            &ctx(),
        );
        assert_eq!(
            String::from_utf8(o.body).unwrap(),
            r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"u-1","allowed":true}}"#
        );
    }
}

#[test]
fn patch_bytes_match_reference_with_raw_contents() {
    // The reference's probe used a fake client returning raw `<b>&`; its outer marshal
    // HTML-escapes them, and so do we. The hostname is preset, so no hostname op.
    let view = MemView::default().with_raw("cs", r#"{"A":"<b>&","B":[1,2]}"#);
    let pod = json!({"metadata":{"name":"p1"},"spec":{"hostname":"myhost","securityContext":{"windowsOptions":{"gmsaCredentialSpecName":"cs"}},"containers":[{"name":"c0"}]}});
    let ctx = ReviewContext {
        random_hostname: Some("c5c0cb67-605d-4".into()),
    };
    let o = run(
        Phase::Mutate,
        &review_body("u-1", "CREATE", &pod, None),
        &view,
        &ctx,
    );
    assert_eq!(
        patch_bytes(&o),
        r#"[{"op":"add","path":"/spec/securityContext/windowsOptions/gmsaCredentialSpec","value":"{\"A\":\"\u003cb\u003e\u0026\",\"B\":[1,2]}"}]"#
    );
    let body = String::from_utf8(o.body).unwrap();
    assert!(body.starts_with(r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"u-1","allowed":true,"patch":""#));
    assert!(body.ends_with(r#"","patchType":"JSONPatch"}}"#));
}

#[test]
fn patch_bytes_with_canonical_contents_escape_the_backslash() {
    let view = MemView::default().with("cs", json!({"DomainJoinConfig":{"Sid":"S-1","DnsName":"contoso.com"},"CmsPlugins":["ActiveDirectory"],"ActiveDirectoryConfig":{"HostAccountConfig":{"PluginInput":"a:<password>&"}}}));
    let pod = json!({"metadata":{"name":"p1"},"spec":{"securityContext":{"windowsOptions":{"gmsaCredentialSpecName":"cs"}},"containers":[{"name":"c0"}]}});
    let o = run(
        Phase::Mutate,
        &review_body("u-1", "CREATE", &pod, None),
        &view,
        &ctx(),
    );
    assert_eq!(
        patch_bytes(&o),
        r#"[{"op":"add","path":"/spec/securityContext/windowsOptions/gmsaCredentialSpec","value":"{\"ActiveDirectoryConfig\":{\"HostAccountConfig\":{\"PluginInput\":\"a:\\u003cpassword\\u003e\\u0026\"}},\"CmsPlugins\":[\"ActiveDirectory\"],\"DomainJoinConfig\":{\"DnsName\":\"contoso.com\",\"Sid\":\"S-1\"}}"}]"#
    );
    // The value, once decoded, is Appendix A's canonical string.
    assert_eq!(
        patch_ops(&o)[0]["value"],
        r#"{"ActiveDirectoryConfig":{"HostAccountConfig":{"PluginInput":"a:\u003cpassword\u003e\u0026"}},"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"DnsName":"contoso.com","Sid":"S-1"}}"#
    );
}
