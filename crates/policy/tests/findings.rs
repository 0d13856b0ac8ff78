//! Every decision reports findings: the rule (from the one catalog), the severity and the
//! pod field it is about, next to the unchanged messages and response bytes.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use support::*;
use winkube_policy::catalog::rule_by_id;
use winkube_policy::windows::{Phase as WPhase, StaticWindowsView, WindowsPolicyConfig, evaluate};
use winkube_policy::{Finding, Phase, ReviewContext, Severity, admit_pod};

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "apps"}, "spec": spec})
}

fn windows(spec: Value, policy: &str, phase: WPhase) -> Vec<Finding> {
    let cfg = WindowsPolicyConfig::from_yaml(policy).unwrap();
    let d = evaluate(
        &pod(spec),
        "apps",
        &cfg,
        &StaticWindowsView::new([]),
        &BTreeMap::new(),
        phase,
    );
    for f in &d.findings {
        assert!(
            rule_by_id(f.rule).is_some(),
            "{} is not in the catalog",
            f.rule
        );
    }
    d.findings
}

fn summary(findings: &[Finding]) -> Vec<(&str, Severity, Option<&str>)> {
    findings
        .iter()
        .map(|f| (f.rule, f.severity, f.field.as_deref()))
        .collect()
}

#[test]
fn windows_findings_name_rule_severity_and_field() {
    let spec = json!({
        "os": {"name": "windows"},
        "containers": [
            {"name": "ok", "image": "app:ltsc2022", "resources": {"limits": {"memory": "1Gi"}}},
            {"name": "small", "image": "app", "resources": {"requests": {"memory": "100Mi"}, "limits": {"memory": "100Mi"}}},
        ]
    });
    // Defaults: scheduling enforces (a fix: a note in mutate), memory and image tags warn.
    let got = windows(spec.clone(), "", WPhase::Mutate);
    let s = summary(&got);
    assert!(
        s.contains(&(
            "windows/node-selector",
            Severity::Note,
            Some(r#"spec.nodeSelector["kubernetes.io/os"]"#)
        )),
        "{s:?}"
    );
    assert!(
        s.contains(&(
            "windows/memory-floor",
            Severity::Warning,
            Some("spec.containers[1].resources.limits.memory")
        )),
        "{s:?}"
    );
    assert!(
        s.contains(&(
            "windows/image-tag-floating",
            Severity::Warning,
            Some("spec.containers[1].image")
        )),
        "{s:?}"
    );
    // The warning's finding carries the warning's text, unchanged.
    let floor = got
        .iter()
        .find(|f| f.rule == "windows/memory-floor")
        .unwrap();
    assert!(
        floor
            .message
            .starts_with("[winkube memory] container \"small\": memory request 100Mi is below"),
        "{}",
        floor.message
    );

    // The same fix in the validate phase is a denial; with memory denied, an error.
    let got = windows(spec, "memory: {mode: deny}", WPhase::Validate);
    let s = summary(&got);
    assert!(
        s.contains(&(
            "windows/node-selector",
            Severity::Error,
            Some(r#"spec.nodeSelector["kubernetes.io/os"]"#)
        )),
        "{s:?}"
    );
    assert!(
        s.contains(&(
            "windows/memory-floor",
            Severity::Error,
            Some("spec.containers[1].resources.requests.memory")
        )),
        "{s:?}"
    );
    assert!(
        !s.iter().any(|f| f.1 == Severity::Note),
        "a denied pod is not patched: {s:?}"
    );
}

#[test]
fn a_malformed_pod_is_one_error() {
    let cfg = WindowsPolicyConfig::default();
    let d = evaluate(
        &json!({"kind": "Pod"}),
        "apps",
        &cfg,
        &StaticWindowsView::new([]),
        &BTreeMap::new(),
        WPhase::Mutate,
    );
    assert_eq!(
        summary(&d.findings),
        [("windows/malformed-pod", Severity::Error, None)]
    );
}

#[test]
fn gmsa_denials_name_the_field_of_the_container() {
    let p = pod(json!({
        "serviceAccountName": "sa",
        "containers": [
            {"name": "a", "image": "i"},
            {"name": "b", "image": "i", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "missing"}}},
        ]
    }));
    let a = block_on(admit_pod(
        &p,
        "apps",
        &MemView::default(),
        &ReviewContext::default(),
    ));
    assert!(!a.allowed);
    assert_eq!(a.message, "cred spec missing does not exist");
    assert_eq!(
        summary(&a.findings),
        [(
            "gmsa/credspec-not-found",
            Severity::Error,
            Some("spec.containers[1].securityContext.windowsOptions.gmsaCredentialSpecName")
        )]
    );

    // Not authorised: the denial is about the name the pod uses; the message is unchanged.
    let view = MemView::default()
        .with("cs", json!({"CmsPlugins": ["ActiveDirectory"]}))
        .deny_by_default("nope");
    let p = pod(json!({
        "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}},
        "containers": [{"name": "a", "image": "i"}]
    }));
    let a = block_on(admit_pod(&p, "apps", &view, &ReviewContext::default()));
    let f = a.findings.last().unwrap();
    assert_eq!(f.rule, "gmsa/use-not-authorized");
    assert_eq!(
        f.field.as_deref(),
        Some("spec.securityContext.windowsOptions.gmsaCredentialSpecName")
    );
    assert_eq!(f.message, a.message);
}

#[test]
fn the_webhook_outcome_carries_findings_not_in_its_bytes() {
    let p = pod(json!({
        "containers": [{"name": "a", "image": "i", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "gone"}}}]
    }));
    let o = run(
        Phase::Mutate,
        &review_body("u1", "CREATE", &p, None),
        &MemView::default(),
        &ReviewContext::default(),
    );
    assert_eq!(o.code, 404);
    assert_eq!(o.findings.len(), 1);
    assert_eq!(o.findings[0].rule, "gmsa/credspec-not-found");
    assert!(
        !String::from_utf8(o.body.clone())
            .unwrap()
            .contains("credspec-not-found")
    );
}
