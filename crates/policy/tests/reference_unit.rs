//! The reference's unit tables (its specification §7.1: U1-U23, H1, H2, H5), including the
//! "matrix": every case for 0..=5 extra containers × pod-level / container-level target,
//! with containers shuffled (two deterministic shuffles each).
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::*;
use winkube_policy::{CredSpecLookup, Outcome, Phase, ReviewContext};

const POD: &str = "dummy-pod-name";
const SA: &str = "dummy-service-account-name";
const TARGET: &str = "dummy-container-name";
const CS: &str = "dummy-cred-spec-name";
const DUMMY: &str = r#"{"We don't need no": ["education", "thought control", "dark sarcasm in the classroom"], "All in all you're just another": {"brick": "in", "the": "wall"}}"#;
const HOST: &str = "c5c0cb67-605d-4";

/// The reference's fake client: `DUMMY` for the dummy credspec, `<name>-contents` otherwise.
fn fake_view(extra_names: &[String]) -> MemView {
    let mut v = MemView::default().with_raw(CS, DUMMY);
    for n in extra_names {
        v = v.with_raw(n, &format!("{n}-contents"));
    }
    v
}

fn no_hostname() -> ReviewContext {
    ReviewContext::default()
}

fn random_hostname() -> ReviewContext {
    ReviewContext {
        random_hostname: Some(HOST.into()),
    }
}

#[derive(Clone, Copy, Debug)]
struct Variant {
    pod_level: bool,
    extras: usize,
    seed: u64,
}

impl Variant {
    fn all() -> Vec<Variant> {
        let mut v = Vec::new();
        for pod_level in [true, false] {
            for extras in 0..=5 {
                for seed in [1, 7] {
                    v.push(Variant {
                        pod_level,
                        extras,
                        seed,
                    });
                }
            }
        }
        v
    }

    fn kind(&self) -> &'static str {
        if self.pod_level { "pod" } else { "container" }
    }

    fn name(&self) -> &'static str {
        if self.pod_level { POD } else { TARGET }
    }

    fn extra_names(&self) -> Vec<String> {
        (0..self.extras)
            .map(|i| format!("extra-container-{i}"))
            .collect()
    }

    /// The pod: the target options at pod level or on the target container; every extra
    /// container gets `extra(name)` as options (or none when `Value::Null`).
    fn pod(&self, target: Value, extra: impl Fn(&str) -> Value) -> Value {
        let mut containers = vec![if self.pod_level {
            json!({"name": TARGET, "image": "pause"})
        } else {
            json!({"name": TARGET, "image": "pause", "securityContext": {"windowsOptions": target.clone()}})
        }];
        for n in self.extra_names() {
            let opts = extra(&n);
            containers.push(if opts.is_null() {
                json!({"name": n})
            } else {
                json!({"name": n, "securityContext": {"windowsOptions": opts}})
            });
        }
        shuffle(&mut containers, self.seed + self.extras as u64);
        let mut spec = json!({"serviceAccountName": SA, "containers": containers});
        if self.pod_level {
            spec["securityContext"] = json!({"windowsOptions": target});
        }
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": POD, "namespace": NS}, "spec": spec})
    }
}

/// A deterministic Fisher-Yates shuffle (the reference shuffles randomly).
fn shuffle(v: &mut [Value], seed: u64) {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    for i in (1..v.len()).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((s >> 33) as usize) % (i + 1);
        v.swap(i, j);
    }
}

fn index_of(pod: &Value, name: &str) -> usize {
    pod["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["name"] == name)
        .unwrap()
}

fn create(endpoint: Phase, pod: &Value, view: &MemView, ctx: &ReviewContext) -> Outcome {
    run(
        endpoint,
        &review_body("u-1", "CREATE", pod, None),
        view,
        ctx,
    )
}

fn update(pod: &Value, old: &Value, view: &MemView) -> Outcome {
    run(
        Phase::Validate,
        &review_body("u-1", "UPDATE", pod, Some(old)),
        view,
        &no_hostname(),
    )
}

fn assert_allowed(o: &Outcome, case: &str) {
    assert!(o.allowed, "{case}: denied {} {}", o.code, o.message);
    assert_eq!(o.code, 200, "{case}");
    response(o);
}

fn assert_denied(o: &Outcome, code: u16, contains: &str, case: &str) {
    assert!(!o.allowed, "{case}: allowed");
    assert_eq!(o.code, code, "{case}: {}", o.message);
    assert!(
        o.message.contains(contains),
        "{case}: {:?} does not contain {:?}",
        o.message,
        contains
    );
    assert_eq!(o.uid, "u-1");
    assert_eq!(patch_ops(o).len(), 0, "{case}: denial carries a patch");
}

fn simple_pod(options: Option<Value>) -> Value {
    let mut c = json!({"name": TARGET});
    let mut spec = json!({"serviceAccountName": SA});
    if let Some(o) = options {
        c["securityContext"] = json!({"windowsOptions": o.clone()});
        spec["securityContext"] = json!({"windowsOptions": o});
    }
    spec["containers"] = json!([c]);
    json!({"metadata": {"name": POD}, "spec": spec})
}

// ---- TestValidateCreateRequest ----

#[test]
fn u1_u2_validate_create_without_gmsa_settings_passes_without_asking() {
    for (case, opts) in [("U1 empty", Some(json!({}))), ("U2 absent", None)] {
        let view = MemView::default();
        let o = create(Phase::Validate, &simple_pod(opts), &view, &no_hostname());
        assert_allowed(&o, case);
        assert!(view.log().is_empty(), "{case}: the view was asked");
        assert!(o.warnings.is_empty());
    }
}

fn extras_with_contents(n: &str) -> Value {
    json!({"gmsaCredentialSpecName": format!("{n}-cred-spec"), "gmsaCredentialSpec": format!("{n}-cred-spec-contents")})
}

fn extra_credspec_names(v: &Variant) -> Vec<String> {
    v.extra_names()
        .iter()
        .map(|n| format!("{n}-cred-spec"))
        .collect()
}

#[test]
fn u3_u9_validate_create_matrix() {
    for v in Variant::all() {
        let case = |c: &str| {
            format!(
                "{c} - with {}-level windows options and {} extra containers (seed {})",
                v.kind(),
                v.extras,
                v.seed
            )
        };
        let view = || fake_view(&extra_credspec_names(&v));
        let with = |contents: &str| {
            v.pod(
                json!({"gmsaCredentialSpecName": CS, "gmsaCredentialSpec": contents}),
                extras_with_contents,
            )
        };

        // U3 matching name & contents.
        let vw = view();
        let o = create(Phase::Validate, &with(DUMMY), &vw, &no_hostname());
        assert_allowed(&o, &case("U3"));
        assert_eq!(
            vw.sar_calls().len(),
            v.extras + 1,
            "one SAR per named options"
        );
        assert!(vw.sar_calls().contains(&(NS.into(), SA.into(), CS.into())));

        // U4 equivalent but not byte-equal JSON.
        let equivalent = r#"{"All in all you're just another":      {"the":"wall","brick":   "in"},"We don't need no":["education", "thought control","dark sarcasm in the classroom"]}"#;
        let o = create(Phase::Validate, &with(equivalent), &view(), &no_hostname());
        assert_allowed(&o, &case("U4"));

        let mismatch = format!(
            "the GMSA cred spec contents for {} \"{}\" does not match the contents of GMSA resource \"{CS}\"",
            v.kind(),
            v.name()
        );
        // U5 contents of another credspec.
        let other = r#"{"We don't need no": ["money"], "All in all you're just another": {"brick": "in", "the": "wall"}}"#;
        let o = create(Phase::Validate, &with(other), &view(), &no_hostname());
        assert_denied(&o, 422, &mismatch, &case("U5"));
        assert_eq!(o.message, mismatch, "no parse error suffix for valid JSON");

        // U6 not even JSON.
        let o = create(
            Phase::Validate,
            &with("i ain't no JSON object"),
            &view(),
            &no_hostname(),
        );
        assert_denied(&o, 422, &mismatch, &case("U6"));
        assert!(o.message.starts_with(&format!(
            "{mismatch}: unable to parse \"i ain't no JSON object\" as a JSON object: "
        )));

        // U7 contents without a name.
        let pod = v.pod(json!({"gmsaCredentialSpec": DUMMY}), extras_with_contents);
        let o = create(Phase::Validate, &pod, &view(), &no_hostname());
        let expected = format!(
            "{} \"{}\" has a GMSA cred spec set, but does not define the name of the corresponding resource",
            v.kind(),
            v.name()
        );
        assert_denied(&o, 422, &expected, &case("U7"));
        assert_eq!(o.message, expected);

        // U8 service account not authorized.
        let vw = view().deny(NS, SA, CS, "dummy reason");
        let o = create(Phase::Validate, &with(DUMMY), &vw, &no_hostname());
        assert_eq!(
            o.message,
            format!(
                "service account \"{SA}\" is not authorized to `use` GMSA cred spec \"{CS}\", reason: \"dummy reason\""
            )
        );
        assert_denied(&o, 403, "not authorized", &case("U8"));
        assert!(vw.sar_calls().contains(&(NS.into(), SA.into(), CS.into())));

        // U9 retrieval errors keep their code.
        let vw = view().with_lookup(CS, CredSpecLookup::NotFound);
        let o = create(Phase::Validate, &with(DUMMY), &vw, &no_hostname());
        assert_denied(
            &o,
            404,
            &format!("cred spec {CS} does not exist"),
            &case("U9 not found"),
        );
        let vw = view().with_lookup(CS, CredSpecLookup::Unavailable("dummy error".into()));
        let o = create(Phase::Validate, &with(DUMMY), &vw, &no_hostname());
        assert_denied(&o, 500, "dummy error", &case("U9 unavailable"));
        assert_eq!(
            o.message,
            format!("unable to retrieve the contents of cred spec {CS}: dummy error")
        );
    }
}

// ---- TestMutateCreateRequest ----

#[test]
fn u10_u13_mutate_without_gmsa_settings_does_nothing() {
    for (case, opts, ctx) in [
        ("U10", Some(json!({})), no_hostname()),
        ("U11", None, no_hostname()),
        ("U12", Some(json!({})), random_hostname()),
        ("U13", None, random_hostname()),
    ] {
        let view = MemView::default();
        let o = create(Phase::Mutate, &simple_pod(opts), &view, &ctx);
        assert_allowed(&o, case);
        assert!(patch_ops(&o).is_empty(), "{case}");
        assert!(view.log().is_empty());
    }
}

#[test]
fn u14_random_hostname_with_preset_gmsa_settings_adds_only_the_hostname() {
    let pod = simple_pod(Some(
        json!({"gmsaCredentialSpecName": CS, "gmsaCredentialSpec": DUMMY}),
    ));
    let view = fake_view(&[]);
    let o = create(Phase::Mutate, &pod, &view, &random_hostname());
    assert_allowed(&o, "U14");
    let ops = patch_ops(&o);
    assert_eq!(
        ops,
        vec![json!({"op": "add", "path": "/spec/hostname", "value": HOST})]
    );
    assert_eq!(ops[0]["value"].as_str().unwrap().len(), 15);
    assert!(view.log().is_empty(), "M2: no lookup when contents are set");
}

#[test]
fn u15_random_hostname_keeps_a_hostname_set_in_spec() {
    let mut pod = simple_pod(Some(
        json!({"gmsaCredentialSpecName": CS, "gmsaCredentialSpec": DUMMY}),
    ));
    pod["spec"]["hostname"] = json!(POD);
    let o = create(Phase::Mutate, &pod, &fake_view(&[]), &random_hostname());
    assert_allowed(&o, "U15");
    assert!(patch_ops(&o).is_empty());
}

fn extras_name_only(n: &str) -> Value {
    json!({"gmsaCredentialSpecName": format!("{n}-cred-spec")})
}

fn contents_path(pod: &Value, container: Option<&str>) -> String {
    match container {
        None => "/spec/securityContext/windowsOptions/gmsaCredentialSpec".into(),
        Some(c) => format!(
            "/spec/containers/{}/securityContext/windowsOptions/gmsaCredentialSpec",
            index_of(pod, c)
        ),
    }
}

#[test]
fn u16_u18_mutate_create_matrix() {
    for v in Variant::all() {
        let case = |c: &str| {
            format!(
                "{c} - with {}-level windows options and {} extra containers (seed {})",
                v.kind(),
                v.extras,
                v.seed
            )
        };
        let view = || fake_view(&extra_credspec_names(&v));

        // U16 inline every named options, then the random hostname.
        let pod = v.pod(json!({"gmsaCredentialSpecName": CS}), extras_name_only);
        let o = create(Phase::Mutate, &pod, &view(), &random_hostname());
        assert_allowed(&o, &case("U16"));
        let ops = patch_ops(&o);
        let mut expected: Vec<(usize, Value)> = Vec::new();
        if v.pod_level {
            expected.push((
                0,
                json!({"op": "add", "path": contents_path(&pod, None), "value": DUMMY}),
            ));
        } else {
            expected.push((
                1 + index_of(&pod, TARGET),
                json!({"op": "add", "path": contents_path(&pod, Some(TARGET)), "value": DUMMY}),
            ));
        }
        for n in v.extra_names() {
            expected.push((1 + index_of(&pod, &n), json!({"op": "add", "path": contents_path(&pod, Some(&n)), "value": format!("{n}-cred-spec-contents")})));
        }
        expected.sort_by_key(|(k, _)| *k);
        let mut expected: Vec<Value> = expected.into_iter().map(|(_, op)| op).collect();
        expected.push(json!({"op": "add", "path": "/spec/hostname", "value": HOST}));
        assert_eq!(ops, expected, "{}", case("U16"));
        assert_eq!(ops.len(), v.extras + 2);

        // U17 preset contents are not overwritten; only the extras are patched.
        let pod = v.pod(
            json!({"gmsaCredentialSpecName": CS, "gmsaCredentialSpec": r#"{"pre-set GMSA": "cred contents"}"#}),
            extras_name_only,
        );
        let o = create(Phase::Mutate, &pod, &view(), &no_hostname());
        assert_allowed(&o, &case("U17"));
        let ops = patch_ops(&o);
        assert_eq!(ops.len(), v.extras, "{}", case("U17"));
        assert!(
            ops.iter()
                .all(|op| op["value"] != DUMMY && op["path"] != "/spec/hostname")
        );
        if v.extras == 0 {
            assert!(!String::from_utf8(o.body.clone()).unwrap().contains("patch"));
        }

        // U18 retrieval errors keep their code.
        let pod = v.pod(json!({"gmsaCredentialSpecName": CS}), extras_name_only);
        let vw = view().with_lookup(CS, CredSpecLookup::NotFound);
        let o = create(Phase::Mutate, &pod, &vw, &random_hostname());
        assert_denied(
            &o,
            404,
            &format!("cred spec {CS} does not exist"),
            &case("U18"),
        );
    }
}

// ---- TestValidateUpdateRequest ----

#[test]
fn u19_update_without_gmsa_settings_passes() {
    for opts in [Some(json!({})), None] {
        let pod = simple_pod(opts);
        let view = MemView::default();
        assert_allowed(&update(&pod, &pod, &view), "U19");
        assert!(view.log().is_empty());
    }
}

#[test]
fn u20_u23_validate_update_matrix() {
    for v in Variant::all() {
        let case = |c: &str| {
            format!(
                "{c} - with {}-level windows options and {} extra containers (seed {})",
                v.kind(),
                v.extras,
                v.seed
            )
        };
        let pod = |name: &str, contents: &str| {
            v.pod(
                json!({"gmsaCredentialSpecName": name, "gmsaCredentialSpec": contents}),
                extras_with_contents,
            )
        };
        let old = pod(CS, DUMMY);
        let view = MemView::default();

        // U20 unchanged, and unrelated changes (U5 of §2.7).
        assert_allowed(&update(&old.clone(), &old, &view), &case("U20"));
        let mut relabelled = old.clone();
        relabelled["metadata"]["labels"] = json!({"a": "b"});
        relabelled["spec"]["containers"][0]["image"] = json!("nginx");
        assert_allowed(&update(&relabelled, &old, &view), &case("U20 unrelated"));
        assert!(view.log().is_empty(), "U4 of §2.7: no API calls on update");

        let msg = |what: &str| {
            format!(
                "cannot update an existing pod's GMSA settings (GMSA {what} modified on {} \"{}\")",
                v.kind(),
                v.name()
            )
        };
        // U21 name changed.
        let o = update(&pod("new-cred-spec-name", DUMMY), &old, &view);
        assert_denied(&o, 403, &msg("name"), &case("U21"));
        assert_eq!(o.message, msg("name"));
        // U22 contents changed.
        let o = update(&pod(CS, "new-cred-spec-contents"), &old, &view);
        assert_denied(&o, 403, &msg("contents"), &case("U22"));
        assert_eq!(o.message, msg("contents"));
        // U23 both changed.
        let o = update(
            &pod("new-cred-spec-name", "new-cred-spec-contents"),
            &old,
            &view,
        );
        assert_eq!(o.message, msg("name and contents"), "{}", case("U23"));
        assert_eq!(o.code, 403);
    }
}

// ---- TestHTTPWebhook (the policy part) ----

const H_UID: &str = "283f4877-34d4-11e9-a9f1-06da3a0adce4";

fn h_pod() -> Value {
    json!({"metadata": {"name": POD}, "spec": {"serviceAccountName": SA,
        "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": CS}},
        "containers": [{"name": TARGET}]}})
}

#[test]
fn h1_success_path() {
    let o = run(
        Phase::Mutate,
        &review_body(H_UID, "CREATE", &h_pod(), None),
        &fake_view(&[]),
        &no_hostname(),
    );
    assert_eq!(o.uid, H_UID);
    assert_allowed(&o, "H1");
    assert_eq!(
        patch_ops(&o),
        vec![
            json!({"op": "add", "path": "/spec/securityContext/windowsOptions/gmsaCredentialSpec", "value": DUMMY})
        ]
    );
}

#[test]
fn h2_failure() {
    let view = fake_view(&[]).deny_by_default("bogus reason");
    let o = run(
        Phase::Validate,
        &review_body(H_UID, "CREATE", &h_pod(), None),
        &view,
        &no_hostname(),
    );
    assert_eq!(o.uid, H_UID);
    assert!(!o.allowed);
    assert_eq!(o.code, 403);
    assert!(o.message.contains(&format!(
        "service account \"{SA}\" is not authorized to `use` GMSA cred spec "
    )));
    response(&o);
}

#[test]
fn h5_wrong_object_kind() {
    let mut body: Value =
        serde_json::from_slice(&review_body(H_UID, "CREATE", &h_pod(), None)).unwrap();
    body["request"]["kind"]["kind"] = json!("Deployment");
    for endpoint in [Phase::Mutate, Phase::Validate] {
        let o = run(
            endpoint,
            &serde_json::to_vec(&body).unwrap(),
            &fake_view(&[]),
            &no_hostname(),
        );
        assert_eq!(o.uid, H_UID);
        assert!(!o.allowed);
        assert_eq!(o.code, 400);
        assert_eq!(o.message, "expected a Pod object, got a Deployment");
        response(&o);
    }
}
