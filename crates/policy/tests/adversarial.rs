//! The authorization boundary under hostile input: each shape is a way a pod could obtain a
//! credspec it may not `use`, and each must be denied.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::*;
use winkube_policy::{Phase, ReviewContext, admit_pod, check_manifest_keys};

fn ctx() -> ReviewContext {
    ReviewContext::default()
}

/// `good` may use `cs`; `bad` may not.
fn view() -> MemView {
    MemView::default()
        .with("cs", json!({"CmsPlugins": ["ActiveDirectory"]}))
        .allow(NS, "good", "cs")
        .deny_by_default("")
}

// ---- offline manifests: exact keys, as the API server reads them ----

#[test]
fn offline_admission_refuses_keys_the_go_fold_would_read() {
    let view = view();
    let base = json!({"metadata": {"name": "p"}, "spec": {"serviceAccountName": "bad",
        "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}}, "containers": []}});
    let a = block_on(admit_pod(&base, NS, &view, &ctx()));
    assert_eq!((a.allowed, a.code), (false, 403), "the plain pod is denied");
    let attacks = [
        ("/spec", "serviceaccountname", json!("good")),
        ("/spec", "securitycontext", json!({})),
        ("/spec/securityContext", "windowsoptionſ", json!({})),
    ];
    for (at, key, value) in attacks {
        let mut pod = base.clone();
        pod.pointer_mut(at)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert(key.into(), value);
        let a = block_on(admit_pod(&pod, NS, &view, &ctx()));
        assert_eq!((a.allowed, a.code), (false, 400), "{key}: {}", a.message);
        assert!(
            a.message.starts_with("the pod manifest is ambiguous: key "),
            "{}",
            a.message
        );
        assert!(a.message.contains(&format!("{key:?}")), "{}", a.message);
    }
    // Metadata the decoder reads (the name in messages) is checked too; unknown keys are not.
    let e = check_manifest_keys(&json!({"metadata": {"nAme": "x"}})).unwrap_err();
    assert_eq!(
        (e.path.as_str(), e.key.as_str(), e.field.as_str()),
        ("metadata", "nAme", "name")
    );
    assert!(check_manifest_keys(&json!({"spec": {"SPEC": 1, "nodeName": "n"}})).is_ok());
}

#[test]
fn the_webhook_still_decodes_api_server_bodies_the_go_way() {
    // Byte compatibility with the reference: a review body's keys fold (the API server
    // never sends such keys; the reference reads them, so must the webhook).
    let view = view();
    let pod = json!({"metadata": {"name": "p"}, "spec": {"serviceAccountName": "good",
        "SecurityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}}}});
    let o = run(
        Phase::Mutate,
        &review_body("u", "CREATE", &pod, None),
        &view,
        &ctx(),
    );
    assert_eq!(patch_ops(&o).len(), 1, "the folded key is read");
}

// ---- authorization: one question per (service account, credspec) pair ----

#[test]
fn repeated_references_are_asked_once_and_denials_keep_pod_order() {
    let view = view();
    let named = |cs: &str, i: usize| json!({"name": format!("c{i}"), "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": cs}}});
    let pod = json!({"metadata": {"name": "p"}, "spec": {"serviceAccountName": "good",
        "containers": (0..400).map(|i| named("cs", i)).collect::<Vec<_>>()}});
    let o = run(
        Phase::Validate,
        &review_body("u", "CREATE", &pod, None),
        &view,
        &ctx(),
    );
    assert!(response(&o)["allowed"].as_bool().unwrap());
    assert_eq!(view.sar_calls().len(), 1, "400 references, one pair");

    // `other` is named first by the init container but the containers come first: the
    // denial names the first failing reference in the rules' order, whatever answered first.
    let view = view_with_other();
    let pod = json!({"metadata": {"name": "p"}, "spec": {"serviceAccountName": "good",
        "initContainers": [named("other", 0)],
        "containers": [named("cs", 1), named("nope", 2), named("cs", 3)]}});
    let o = run(
        Phase::Validate,
        &review_body("u", "CREATE", &pod, None),
        &view,
        &ctx(),
    );
    assert_eq!(
        response(&o)["status"]["message"],
        r#"service account "good" is not authorized to `use` GMSA cred spec "nope""#
    );
    assert_eq!(view.sar_calls().len(), 3);
}

fn view_with_other() -> MemView {
    view().with("other", json!({"CmsPlugins": ["ActiveDirectory"]}))
}

// ---- echoes of attacker text are bounded ----

#[test]
fn unparsable_contents_are_echoed_up_to_256_bytes() {
    let view = view();
    let validate = |contents: &str| {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"serviceAccountName": "good",
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs", "gmsaCredentialSpec": contents}}}});
        let o = run(
            Phase::Validate,
            &review_body("u", "CREATE", &pod, None),
            &view,
            &ctx(),
        );
        (o.code, o.message, o.body.len())
    };
    let prefix = r#"the GMSA cred spec contents for pod "p" does not match the contents of GMSA resource "cs": unable to parse "#;
    // 3 MB of non-JSON: the message quotes 256 bytes and says how long the value was.
    let huge = format!("<{}", "é".repeat(1_500_000));
    let (code, message, body) = validate(&huge);
    assert_eq!(code, 422);
    let expected_quote = format!("\"<{}\"…(3000001 bytes)", "é".repeat(127));
    assert_eq!(
        message,
        format!("{prefix}{expected_quote} as a JSON object: expected value at line 1 column 1")
    );
    assert!(body < 2_000, "the answer is {body} bytes");
    // At the limit, the reference's message exactly.
    let at_limit = "x".repeat(256);
    let (_, message, _) = validate(&at_limit);
    assert_eq!(
        message,
        format!("{prefix}\"{at_limit}\" as a JSON object: expected value at line 1 column 1")
    );
}

// ---- pre-set contents: equal as JSON is not enough when keys repeat ----

#[test]
fn contents_with_duplicate_keys_never_match() {
    let view = MemView::default()
        .with("a", json!({"Sid": "A", "N": {"x": 1}}))
        .allow(NS, "good", "a");
    let validate = |contents: &str| {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"serviceAccountName": "good",
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "a", "gmsaCredentialSpec": contents}}}});
        run(
            Phase::Validate,
            &review_body("u", "CREATE", &pod, None),
            &view,
            &ctx(),
        )
    };
    // Equal as JSON, not as bytes: still a match.
    assert!(validate(r#"{ "N": {"x": 1.0}, "Sid": "A" }"#).allowed);
    let prefix = r#"the GMSA cred spec contents for pod "p" does not match the contents of GMSA resource "a": contents with duplicate keys are refused: duplicate key "#;
    for (contents, key) in [
        (r#"{"Sid":"B","N":{"x":1},"Sid":"A"}"#, "Sid"),
        (r#"{"Sid":"A","N":{"x":2,"x":1}}"#, "x"),
    ] {
        let o = validate(contents);
        assert_eq!((o.allowed, o.code), (false, 422), "{contents}");
        assert!(
            o.message.starts_with(&format!("{prefix}{key:?}")),
            "{}",
            o.message
        );
    }
}

// ---- the table: every shape must be denied (tests/data/adversarial.json) ----

#[path = "support/adversarial.rs"]
mod table;

/// The table's cluster: `good` may use `cs` in `ns`; `CS` and `other` exist.
fn table_view() -> MemView {
    MemView::default()
        .with_raw("cs", &table::contents_a())
        .with_raw("CS", &table::contents_b())
        .with_raw("other", &table::contents_b())
        .allow("ns", "good", "cs")
        .deny_by_default("")
}

/// Runs on a thread with the stack of a tokio worker (2 MiB): deep documents must be refused
/// by a bound, not by the test harness's larger stack.
fn on_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// What the API server would end with: (allowed, code, message) after mutate (its patch
/// applied) then validate, for CREATE; validate alone for UPDATE (mutate never acts on a
/// plain UPDATE, and on the subresource only inlines contents).
fn through_both_phases(row: &table::Row, view: &MemView) -> (bool, u16, String) {
    let body = row.body(&row.object_text);
    let validate_as_sent = run(Phase::Validate, &body, view, &ctx());
    let mutated = run(Phase::Mutate, &body, view, &ctx());
    for o in [&validate_as_sent, &mutated] {
        response(o); // well-formed, a denial carries no patch
        assert!(
            o.body.len() <= 4 * body.len() + 4096,
            "{}: {} bytes answer {} bytes",
            row.label,
            body.len(),
            o.body.len()
        );
    }
    if !mutated.allowed {
        return (false, mutated.code, mutated.message);
    }
    let ops = patch_ops(&mutated);
    let final_body = if ops.is_empty() {
        body
    } else {
        let mut pod = row.object_value();
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops)).unwrap();
        json_patch::patch(&mut pod, &patch).unwrap();
        row.body(&pod.to_string())
    };
    let v = run(Phase::Validate, &final_body, view, &ctx());
    response(&v);
    // Either way the pod is refused: as sent, and after the mutating patch.
    assert!(
        !validate_as_sent.allowed,
        "{}: validate allowed it as sent",
        row.label
    );
    (v.allowed, v.code, v.message)
}

#[test]
fn every_shape_in_the_adversarial_table_is_denied() {
    let rows = table::rows();
    assert!(rows.len() >= 40, "{} rows", rows.len());
    let secrets = ["S-1-5-21-1111", "S-1-5-21-2222"];
    let results = on_worker_stack(move || {
        let view = table_view();
        rows.iter()
            .map(|row| {
                let (allowed, code, message) = if row.offline {
                    let a = block_on(admit_pod(
                        &row.object_value(),
                        &row.namespace,
                        &view,
                        &ctx(),
                    ));
                    (a.allowed, a.code, a.message)
                } else {
                    through_both_phases(row, &view)
                };
                (
                    row.label.clone(),
                    row.why.clone(),
                    row.object_text.clone(),
                    allowed,
                    code,
                    message,
                )
            })
            .collect::<Vec<_>>()
    });
    let mut wrong = Vec::new();
    for (label, why, input, allowed, code, message) in results {
        if allowed {
            wrong.push(format!("{label}: ALLOWED"));
            continue;
        }
        if !(400..500).contains(&code) || !message.contains(&why) {
            wrong.push(format!("{label}: {code} {message:.300} (expected {why:?})"));
        }
        // A denial never carries a credspec's contents the request did not hold already.
        for s in secrets {
            if message.contains(s) && !input.contains(s) {
                wrong.push(format!(
                    "{label}: the denial carries contents: {message:.300}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
