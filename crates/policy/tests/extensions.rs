//! winkube's deliberate improvements over the reference: init and ephemeral containers,
//! the `pods/ephemeralcontainers` subresource, warnings, pod names for generateName pods.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::*;
use winkube_policy::{Outcome, Phase, ReviewContext};

const CS0: &str =
    r#"{"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"DnsName":"contoso.com"}}"#;

fn view() -> MemView {
    MemView::default()
        .with("cs", json!({"DomainJoinConfig": {"DnsName": "contoso.com"}, "CmsPlugins": ["ActiveDirectory"]}))
        .with("other", json!({"CmsPlugins": ["Other"]}))
}

fn ctx() -> ReviewContext {
    ReviewContext {
        random_hostname: Some("aee79965-13f3-4".into()),
    }
}

fn c(name: &str, opts: Value) -> Value {
    if opts.is_null() {
        json!({"name": name, "image": "pause"})
    } else {
        json!({"name": name, "image": "pause", "securityContext": {"windowsOptions": opts}})
    }
}

fn name(cs: &str) -> Value {
    json!({"gmsaCredentialSpecName": cs})
}

fn pod(containers: Value, init: Value, ephemeral: Value) -> Value {
    json!({"metadata": {"name": "p1"}, "spec": {"serviceAccountName": "sa1",
        "containers": containers, "initContainers": init, "ephemeralContainers": ephemeral}})
}

fn create(endpoint: Phase, p: &Value, v: &MemView) -> Outcome {
    run(endpoint, &review_body("u", "CREATE", p, None), v, &ctx())
}

fn ephemeral_update(endpoint: Phase, new: &Value, old: &Value, v: &MemView) -> Outcome {
    let mut body: Value =
        serde_json::from_slice(&review_body("u", "UPDATE", new, Some(old))).unwrap();
    body["request"]["subResource"] = json!("ephemeralcontainers");
    run(endpoint, &serde_json::to_vec(&body).unwrap(), v, &ctx())
}

fn path(list: &str, i: usize) -> String {
    format!("/spec/{list}/{i}/securityContext/windowsOptions/gmsaCredentialSpec")
}

#[test]
fn mutate_covers_all_container_lists_in_order_with_hostname_last() {
    let mut p = pod(
        json!([c("app", Value::Null), c("app2", name("other"))]),
        json!([c("init0", name("cs")), c("init1", Value::Null)]),
        json!([c("dbg", name("cs"))]),
    );
    p["spec"]["securityContext"] = json!({"windowsOptions": name("cs")});
    let o = create(Phase::Mutate, &p, &view());
    let ops = patch_ops(&o);
    let paths: Vec<&str> = ops.iter().map(|o| o["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        vec![
            "/spec/securityContext/windowsOptions/gmsaCredentialSpec",
            &path("containers", 1),
            &path("initContainers", 0),
            &path("ephemeralContainers", 0),
            "/spec/hostname",
        ]
    );
    assert_eq!(ops[2]["value"], CS0);
    assert_eq!(ops[4]["value"], "aee79965-13f3-4");
}

#[test]
fn init_container_name_alone_triggers_the_random_hostname() {
    let p = pod(
        json!([c("app", Value::Null)]),
        json!([c("init0", name("cs"))]),
        json!([]),
    );
    let ops = patch_ops(&create(Phase::Mutate, &p, &view()));
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[1]["path"], "/spec/hostname");
}

#[test]
fn validate_refuses_init_container_contents_without_name() {
    // The reference admits this pod (its R0.3): init containers bypassed every check.
    let p = pod(
        json!([c("app", Value::Null)]),
        json!([c("init0", json!({"gmsaCredentialSpec": "{\"evil\":1}"}))]),
        json!([]),
    );
    let o = create(Phase::Validate, &p, &view());
    assert_eq!(o.code, 422);
    assert_eq!(
        o.message,
        r#"init container "init0" has a GMSA cred spec set, but does not define the name of the corresponding resource"#
    );
}

#[test]
fn validate_authorizes_init_and_ephemeral_containers() {
    for (init, eph, who) in [
        (json!([c("init0", name("cs"))]), json!([]), "init"),
        (json!([]), json!([c("dbg", name("cs"))]), "ephemeral"),
    ] {
        let p = pod(json!([c("app", Value::Null)]), init, eph);
        let v = view().deny(NS, "sa1", "cs", "");
        let o = create(Phase::Validate, &p, &v);
        assert_eq!(o.code, 403, "{who}");
        assert_eq!(v.sar_calls(), vec![(NS.into(), "sa1".into(), "cs".into())]);
    }
}

#[test]
fn validate_compares_init_container_contents() {
    let p = pod(
        json!([]),
        json!([c(
            "init0",
            json!({"gmsaCredentialSpecName": "cs", "gmsaCredentialSpec": "{\"CmsPlugins\":[\"Other\"]}"})
        )]),
        json!([]),
    );
    let o = create(Phase::Validate, &p, &view());
    assert_eq!(o.code, 422);
    assert_eq!(
        o.message,
        r#"the GMSA cred spec contents for init container "init0" does not match the contents of GMSA resource "cs""#
    );
}

#[test]
fn containers_are_checked_before_init_containers() {
    let p = pod(
        json!([c("app", json!({"gmsaCredentialSpec": "{}"}))]),
        json!([c("init0", json!({"gmsaCredentialSpec": "{}"}))]),
        json!([]),
    );
    let o = create(Phase::Validate, &p, &view());
    assert!(o.message.starts_with(r#"container "app""#), "{}", o.message);
}

#[test]
fn update_protects_init_and_ephemeral_containers_matched_by_name_within_their_list() {
    let old = pod(
        json!([c("x", Value::Null)]),
        json!([c(
            "init0",
            json!({"gmsaCredentialSpecName": "cs", "gmsaCredentialSpec": CS0})
        )]),
        json!([c(
            "dbg",
            json!({"gmsaCredentialSpecName": "cs", "gmsaCredentialSpec": CS0})
        )]),
    );
    let v = view();
    let run_update = |new: &Value| {
        run(
            Phase::Validate,
            &review_body("u", "UPDATE", new, Some(&old)),
            &v,
            &ctx(),
        )
    };
    assert!(run_update(&old).allowed);

    let mut changed = old.clone();
    changed["spec"]["initContainers"][0]["securityContext"]["windowsOptions"]["gmsaCredentialSpec"] =
        json!("{}");
    let o = run_update(&changed);
    assert_eq!(
        o.message,
        r#"cannot update an existing pod's GMSA settings (GMSA contents modified on init container "init0")"#
    );

    let mut changed = old.clone();
    changed["spec"]["ephemeralContainers"][0]["securityContext"]["windowsOptions"]["gmsaCredentialSpecName"] =
        json!("other");
    let o = run_update(&changed);
    assert_eq!(
        o.message,
        r#"cannot update an existing pod's GMSA settings (GMSA name modified on ephemeral container "dbg")"#
    );

    // A container named like an init container is a different container.
    let mut moved = old.clone();
    moved["spec"]["containers"] = json!([c(
        "init0",
        json!({"gmsaCredentialSpecName": "cs", "gmsaCredentialSpec": CS0})
    )]);
    let o = run_update(&moved);
    assert_eq!(
        o.message,
        r#"cannot update an existing pod's GMSA settings (GMSA name and contents modified on container "init0")"#
    );

    // A plain pod UPDATE that adds an ephemeral container with GMSA settings is a change.
    let mut added = old.clone();
    added["spec"]["ephemeralContainers"]
        .as_array_mut()
        .unwrap()
        .push(c("dbg2", name("cs")));
    let o = run_update(&added);
    assert_eq!(
        o.message,
        r#"cannot update an existing pod's GMSA settings (GMSA name modified on ephemeral container "dbg2")"#
    );
    assert!(v.log().is_empty());
}

fn running_pod() -> Value {
    let mut p = pod(
        json!([c(
            "app",
            json!({"gmsaCredentialSpecName": "cs", "gmsaCredentialSpec": CS0})
        )]),
        json!([]),
        json!([c(
            "dbg0",
            json!({"gmsaCredentialSpecName": "cs", "gmsaCredentialSpec": CS0})
        )]),
    );
    p["spec"]["hostname"] = json!("");
    p
}

fn with_ephemeral(old: &Value, e: Value) -> Value {
    let mut p = old.clone();
    p["spec"]["ephemeralContainers"]
        .as_array_mut()
        .unwrap()
        .push(e);
    p
}

#[test]
fn ephemeralcontainers_mutate_inlines_new_ephemeral_containers_only() {
    let old = running_pod();
    let new = with_ephemeral(&old, c("dbg1", name("cs")));
    let o = ephemeral_update(Phase::Mutate, &new, &old, &view());
    assert!(o.allowed);
    assert_eq!(
        patch_ops(&o),
        vec![json!({"op": "add", "path": path("ephemeralContainers", 1), "value": CS0})]
    );

    // Preset contents are kept; a missing credspec is refused like on CREATE.
    let new = with_ephemeral(
        &old,
        c(
            "dbg1",
            json!({"gmsaCredentialSpecName": "cs", "gmsaCredentialSpec": "{}"}),
        ),
    );
    assert_eq!(
        ephemeral_update(Phase::Mutate, &new, &old, &view()).patch_ops,
        0
    );
    let new = with_ephemeral(&old, c("dbg1", name("missing")));
    let o = ephemeral_update(Phase::Mutate, &new, &old, &view());
    assert_eq!(
        (o.code, o.message.as_str()),
        (404, "cred spec missing does not exist")
    );

    // A plain UPDATE keeps the reference's "always allowed, no patch" on /mutate.
    let new = with_ephemeral(&old, c("dbg1", name("cs")));
    let o = run(
        Phase::Mutate,
        &review_body("u", "UPDATE", &new, Some(&old)),
        &view(),
        &ctx(),
    );
    assert!(o.allowed);
    assert_eq!(o.patch_ops, 0);
}

#[test]
fn ephemeralcontainers_needs_a_decodable_old_object() {
    let new = with_ephemeral(&running_pod(), c("dbg1", name("cs")));
    let mut body: Value = serde_json::from_slice(&review_body("u", "UPDATE", &new, None)).unwrap();
    body["request"]["subResource"] = json!("ephemeralcontainers");
    for endpoint in [Phase::Mutate, Phase::Validate] {
        let o = run(
            endpoint,
            &serde_json::to_vec(&body).unwrap(),
            &view(),
            &ctx(),
        );
        assert_eq!(
            (o.code, o.message.as_str()),
            (
                400,
                "unable to unmarshall pod JSON object: unexpected end of JSON input"
            )
        );
    }
}

#[test]
fn ephemeralcontainers_validate_applies_create_rules_to_new_ephemeral_containers() {
    let old = running_pod();
    // Authorized, contents match.
    let new = with_ephemeral(
        &old,
        c(
            "dbg1",
            json!({"gmsaCredentialSpecName": "cs", "gmsaCredentialSpec": CS0}),
        ),
    );
    let v = view();
    let o = ephemeral_update(Phase::Validate, &new, &old, &v);
    assert!(o.allowed, "{}", o.message);
    assert_eq!(
        v.log(),
        vec!["sar:cs", "get:cs"],
        "only the new ephemeral container is authorized"
    );

    // Not authorized.
    let v = view().deny(NS, "sa1", "cs", "");
    let o = ephemeral_update(Phase::Validate, &new, &old, &v);
    assert_eq!(
        (o.code, o.message.as_str()),
        (
            403,
            r#"service account "sa1" is not authorized to `use` GMSA cred spec "cs""#
        )
    );

    // Contents of another credspec.
    let new = with_ephemeral(
        &old,
        c(
            "dbg1",
            json!({"gmsaCredentialSpecName": "cs", "gmsaCredentialSpec": "{\"CmsPlugins\":[\"Other\"]}"}),
        ),
    );
    let o = ephemeral_update(Phase::Validate, &new, &old, &view());
    assert_eq!(o.code, 422);
    assert_eq!(
        o.message,
        r#"the GMSA cred spec contents for ephemeral container "dbg1" does not match the contents of GMSA resource "cs""#
    );

    // Contents without a name.
    let new = with_ephemeral(&old, c("dbg1", json!({"gmsaCredentialSpec": CS0})));
    let o = ephemeral_update(Phase::Validate, &new, &old, &view());
    assert_eq!(
        o.message,
        r#"ephemeral container "dbg1" has a GMSA cred spec set, but does not define the name of the corresponding resource"#
    );

    // Name without contents: allowed with the "mutating webhook not installed" warning.
    let new = with_ephemeral(&old, c("dbg1", name("cs")));
    let o = ephemeral_update(Phase::Validate, &new, &old, &view());
    assert!(o.allowed);
    assert_eq!(o.warnings.len(), 1);
    assert!(o.warnings[0].contains("the mutating webhook is probably not installed"));
}

#[test]
fn ephemeralcontainers_validate_keeps_everything_else_immutable() {
    let old = running_pod();
    let mut new = with_ephemeral(&old, c("dbg1", Value::Null));
    new["spec"]["ephemeralContainers"][0]["securityContext"]["windowsOptions"]["gmsaCredentialSpec"] =
        json!("{}");
    let o = ephemeral_update(Phase::Validate, &new, &old, &view());
    assert_eq!(
        (o.code, o.message.as_str()),
        (
            403,
            r#"cannot update an existing pod's GMSA settings (GMSA contents modified on ephemeral container "dbg0")"#
        )
    );

    let mut new = with_ephemeral(&old, c("dbg1", Value::Null));
    new["spec"]["containers"][0]["securityContext"]["windowsOptions"]["gmsaCredentialSpecName"] =
        json!("other");
    let o = ephemeral_update(Phase::Validate, &new, &old, &view());
    assert_eq!(
        o.message,
        r#"cannot update an existing pod's GMSA settings (GMSA name modified on container "app")"#
    );

    let new = with_ephemeral(&old, c("dbg1", Value::Null));
    assert!(ephemeral_update(Phase::Validate, &new, &old, &view()).allowed);
}

#[test]
fn warnings_never_change_decisions_and_are_absent_when_empty() {
    let p = pod(json!([c("app", name("nokey"))]), json!([]), json!([]));
    let v = view().with_lookup("nokey", winkube_policy::CredSpecLookup::MissingCredspecKey);
    let o = create(Phase::Validate, &p, &v);
    assert!(o.allowed);
    assert_eq!(o.warnings.len(), 2);
    assert_eq!(
        o.warnings[1],
        r#"GMSA cred spec "nokey" used by container "app" does not have a credspec key"#
    );
    let body = String::from_utf8(o.body.clone()).unwrap();
    assert!(body.ends_with(r#""warnings":["container \"app\" names GMSA cred spec \"nokey\" but its contents were not inlined: the mutating webhook is probably not installed","GMSA cred spec \"nokey\" used by container \"app\" does not have a credspec key"]}}"#), "{body}");

    let p = pod(
        json!([c(
            "app",
            json!({"gmsaCredentialSpecName": "cs", "gmsaCredentialSpec": CS0})
        )]),
        json!([]),
        json!([]),
    );
    let o = create(Phase::Validate, &p, &view());
    assert!(o.allowed && o.warnings.is_empty());
    assert!(!String::from_utf8(o.body).unwrap().contains("warnings"));
}

#[test]
fn pod_name_falls_back_to_request_name_then_generate_name() {
    let contents_only =
        json!({"securityContext": {"windowsOptions": {"gmsaCredentialSpec": "{}"}}});
    let msg = |n: &str| {
        format!(
            "pod \"{n}\" has a GMSA cred spec set, but does not define the name of the corresponding resource"
        )
    };

    let p = json!({"metadata": {"generateName": "web-"}, "spec": contents_only});
    let o = create(Phase::Validate, &p, &view());
    assert_eq!(o.message, msg("web-*"));

    let mut body: Value = serde_json::from_slice(&review_body("u", "CREATE", &p, None)).unwrap();
    body["request"]["name"] = json!("web-abcde");
    let o = run(
        Phase::Validate,
        &serde_json::to_vec(&body).unwrap(),
        &view(),
        &ctx(),
    );
    assert_eq!(o.message, msg("web-abcde"));

    let p = json!({"metadata": {"name": "real", "generateName": "web-"}, "spec": contents_only});
    assert_eq!(create(Phase::Validate, &p, &view()).message, msg("real"));

    let p = json!({"spec": contents_only});
    assert_eq!(create(Phase::Validate, &p, &view()).message, msg(""));
}
