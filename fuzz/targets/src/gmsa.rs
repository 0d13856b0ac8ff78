//! The gMSA review: raw AdmissionReview bodies (the Go-compatible decoder), and pods built
//! from the fuzzer's choices, checked against an independent statement of the rule: a pod
//! is allowed only if every credspec it names is one its service account may `use` in the
//! request's namespace, with pre-set contents equal (as JSON) to that credspec's.

use crate::pick::Pick;
use crate::{block_on, check_outcome, json_eq, patch_of};
use serde_json::{Value, json};
use winkube_policy::{Phase, ReviewContext, review};

// The in-memory view the policy crate's own tests use (not a copy).
#[path = "../../../crates/policy/tests/support/mod.rs"]
mod mem;
use mem::MemView;

const NS: &str = "ns";
const SA: &str = "good";
const CS: &str = "cs";
/// The Sids make the contents recognisable in answers.
fn cs_contents() -> Value {
    json!({"CmsPlugins": ["ActiveDirectory"], "DomainJoinConfig": {"Sid": "S-1-5-21-1111", "MachineAccountName": "good", "N": 1}})
}
fn other_contents() -> Value {
    json!({"CmsPlugins": ["ActiveDirectory"], "DomainJoinConfig": {"Sid": "S-1-5-21-2222", "MachineAccountName": "evil", "N": 1}})
}
const SECRETS: [&str; 2] = ["S-1-5-21-1111", "S-1-5-21-2222"];

/// `good` may use `cs` in `ns`, nothing else is allowed; `CS` and `other` exist.
fn view() -> MemView {
    MemView::default()
        .with(CS, cs_contents())
        .with("CS", other_contents())
        .with("other", other_contents())
        .with("cſ", other_contents())
        .allow(NS, SA, CS)
        .deny_by_default("RBAC: no")
}

/// Raw bytes as the body of `/mutate` and `/validate`.
pub fn gmsa_review(data: &[u8]) {
    let view = view();
    let ctx = ReviewContext::default();
    for phase in [Phase::Mutate, Phase::Validate] {
        let o = block_on(review(phase, data, &view, &ctx));
        let r = check_outcome(&o);
        // Go escapes `<`, `>`, `&` and U+2028/9 as six bytes, the rest of the echo is bounded.
        assert!(
            o.body.len() <= data.len() * 6 + 8192,
            "{} bytes out",
            o.body.len()
        );
        if !o.allowed {
            no_secret_echoed(&o.message, data);
        }
        if phase == Phase::Validate {
            assert!(r.get("patch").is_none(), "validate never patches");
        }
        // Deterministic: the same body, the same bytes.
        let again = block_on(review(phase, data, &view, &ctx));
        assert_eq!(again.body, o.body);
    }
}

fn no_secret_echoed(message: &str, input: &[u8]) {
    let input = String::from_utf8_lossy(input);
    for s in SECRETS {
        assert!(
            !message.contains(s) || input.contains(s),
            "a denial carries credspec contents: {message}"
        );
    }
}

const NAMES: &[&str] = &[
    "cs",
    "cs",
    "cs",
    "CS",
    "Cs",
    "other",
    "missing",
    "cſ",
    "ｃｓ",
    "cs ",
    "cs\u{200b}",
    "",
    "c\u{0073}",
    "cs\u{0}",
];
const SAS: &[&str] = &["good", "good", "Good", "bad", "", "ｇｏｏｄ", "good\n"];
const NAMESPACES: &[&str] = &[NS, NS, NS, "NS", "other-ns", ""];

#[derive(Clone)]
enum Contents {
    None,
    Of(Value),
    Raw(String),
}

fn contents(p: &mut Pick<'_>) -> Contents {
    match p.below(9) {
        0..=3 => Contents::None,
        4 => Contents::Of(cs_contents()),
        5 => Contents::Of(other_contents()),
        // Equal as JSON, not as bytes: another key order, 1.0 for 1, escapes.
        6 => Contents::Raw(
            r#"{"DomainJoinConfig":{"N":1.0,"MachineAccountName":"\u0067ood","Sid":"S-1-5-21-1111"},"CmsPlugins":["ActiveDirectory"]}"#.into(),
        ),
        // Another credspec's values shadowed by the right ones (last key wins in Go).
        7 => Contents::Raw(
            r#"{"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"Sid":"S-1-5-21-2222","MachineAccountName":"good","N":1,"Sid":"S-1-5-21-1111"}}"#.into(),
        ),
        _ => Contents::Raw(p.one(&["", "{}", "[]", "null", "1e400", "{\"CmsPlugins\":", "\u{feff}{}"]).into()),
    }
}

/// windowsOptions as the fuzzer chose them, or `None`.
fn options(p: &mut Pick<'_>) -> Option<Value> {
    if p.chance(90) {
        return None;
    }
    let mut o = serde_json::Map::new();
    if p.chance(220) {
        o.insert("gmsaCredentialSpecName".into(), json!(p.one(NAMES)));
    }
    match contents(p) {
        Contents::None => {}
        Contents::Of(v) => {
            o.insert("gmsaCredentialSpec".into(), json!(v.to_string()));
        }
        Contents::Raw(s) => {
            o.insert("gmsaCredentialSpec".into(), json!(s));
        }
    }
    Some(Value::Object(o))
}

fn container(p: &mut Pick<'_>, i: usize) -> Value {
    let mut c = json!({"name": format!("c{i}"), "image": "img"});
    if let Some(o) = options(p) {
        c["securityContext"] = json!({"windowsOptions": o});
    }
    c
}

fn pod(p: &mut Pick<'_>) -> Value {
    let mut spec = serde_json::Map::new();
    match p.below(4) {
        0 => {}
        1 => {
            spec.insert("serviceAccountName".into(), json!(p.one(SAS)));
        }
        2 => {
            spec.insert("serviceAccount".into(), json!(p.one(SAS)));
        }
        _ => {
            spec.insert("serviceAccountName".into(), json!(p.one(SAS)));
            spec.insert("serviceAccount".into(), json!(p.one(SAS)));
        }
    }
    if let Some(o) = options(p) {
        spec.insert("securityContext".into(), json!({"windowsOptions": o}));
    }
    let mut n = 0;
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        let k = p.below(3);
        if k > 0 || list == "containers" {
            let cs: Vec<Value> = (0..k)
                .map(|_| {
                    n += 1;
                    container(p, n)
                })
                .collect();
            spec.insert(list.into(), Value::Array(cs));
        }
    }
    let mut meta = json!({"name": "p"});
    if p.chance(40) {
        meta["namespace"] = json!(p.one(NAMESPACES));
    }
    json!({"metadata": meta, "spec": spec})
}

fn review_body(op: &str, sub: &str, namespace: &str, pod: &Value, old: Option<&Value>) -> Vec<u8> {
    let mut request = json!({
        "uid": "u",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "name": "p",
        "namespace": namespace,
        "operation": op,
        "userInfo": {"username": "u"},
        "object": pod,
    });
    if !sub.is_empty() {
        request["subResource"] = json!(sub);
    }
    if let Some(old) = old {
        request["oldObject"] = old.clone();
    }
    serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}))
        .expect("encodes")
}

/// Every windowsOptions of a pod: (where, name, contents).
fn references(pod: &Value) -> Vec<(String, Option<String>, Option<String>)> {
    let mut out = Vec::new();
    let mut at = |path: String, o: Option<&Value>| {
        if let Some(o) = o {
            let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
            out.push((path, s("gmsaCredentialSpecName"), s("gmsaCredentialSpec")));
        }
    };
    at(
        "pod".into(),
        pod.pointer("/spec/securityContext/windowsOptions"),
    );
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        let items = pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array);
        // Containers are identified by name within their list, as the UPDATE rule matches
        // them (a container that moved keeps its identity).
        for (i, c) in items.into_iter().flatten().enumerate() {
            let id = c
                .get("name")
                .and_then(Value::as_str)
                .map_or_else(|| format!("#{i}"), str::to_owned);
            at(
                format!("{list}/{id}"),
                c.pointer("/securityContext/windowsOptions"),
            );
        }
    }
    out
}

/// Whether pre-set contents are the credspec's, as the rule means it: a JSON object equal
/// to it, with no duplicate keys.
fn contents_ok(name: &str, contents: &str) -> bool {
    let want = match name {
        CS => cs_contents(),
        _ => return false,
    };
    let Ok(got) = serde_json::from_str::<Value>(contents) else {
        return false;
    };
    got.is_object() && json_eq(&got, &want) && !has_duplicate_keys(contents)
}

fn has_duplicate_keys(s: &str) -> bool {
    // serde_json keeps the last of duplicate keys; count keys via a map that refuses them.
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    struct Dup(bool);
    impl<'de> Deserialize<'de> for Dup {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Dup;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("JSON")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Dup, A::Error> {
                    let mut seen = std::collections::HashSet::new();
                    let mut dup = false;
                    while let Some(k) = m.next_key::<String>()? {
                        dup |= !seen.insert(k);
                        dup |= m.next_value::<Dup>()?.0;
                    }
                    Ok(Dup(dup))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Dup, A::Error> {
                    let mut dup = false;
                    while let Some(d) = s.next_element::<Dup>()? {
                        dup |= d.0;
                    }
                    Ok(Dup(dup))
                }
                fn visit_str<E>(self, _: &str) -> Result<Dup, E> {
                    Ok(Dup(false))
                }
                fn visit_bool<E>(self, _: bool) -> Result<Dup, E> {
                    Ok(Dup(false))
                }
                fn visit_i64<E>(self, _: i64) -> Result<Dup, E> {
                    Ok(Dup(false))
                }
                fn visit_u64<E>(self, _: u64) -> Result<Dup, E> {
                    Ok(Dup(false))
                }
                fn visit_f64<E>(self, _: f64) -> Result<Dup, E> {
                    Ok(Dup(false))
                }
                fn visit_unit<E>(self) -> Result<Dup, E> {
                    Ok(Dup(false))
                }
            }
            d.deserialize_any(V)
        }
    }
    serde_json::from_str::<Dup>(s).map(|d| d.0).unwrap_or(true)
}

/// Whether the rule allows the pod in a CREATE: every name is `cs`, the service account
/// `good`, the namespace `ns`, pre-set contents equal to `cs`'s.
fn may_have(pod: &Value, namespace: &str) -> bool {
    let sa = pod
        .pointer("/spec/serviceAccountName")
        .and_then(Value::as_str)
        .unwrap_or("");
    references(pod)
        .iter()
        .all(|(_, name, contents)| match name.as_deref() {
            None | Some("") => contents.is_none(),
            Some(n) => {
                n == CS
                    && sa == SA
                    && namespace == NS
                    && contents.as_deref().is_none_or(|c| contents_ok(n, c))
            }
        })
}

/// Pods from the fuzzer's choices, through mutate then validate (CREATE), or validate of an
/// UPDATE (all fields or the `ephemeralcontainers` subresource).
pub fn gmsa_policy(data: &[u8]) {
    let mut p = Pick::new(data);
    let view = view();
    let ctx = ReviewContext::default();
    let namespace = p.one(NAMESPACES);
    let new = pod(&mut p);
    let update = p.below(3);
    if update == 0 {
        // CREATE: mutate, apply its patch, validate the result.
        let body = review_body("CREATE", "", namespace, &new, None);
        let m = block_on(review(Phase::Mutate, &body, &view, &ctx));
        let r = check_outcome(&m);
        if !m.allowed {
            no_secret_echoed(&m.message, &body);
            return;
        }
        let mut patched = new.clone();
        if let Some(patch) = patch_of(&r) {
            json_patch::patch(&mut patched, &patch).expect("the mutating patch applies");
        }
        let body = review_body("CREATE", "", namespace, &patched, None);
        let v = block_on(review(Phase::Validate, &body, &view, &ctx));
        check_outcome(&v);
        if !v.allowed {
            no_secret_echoed(&v.message, &body);
        }
        let expected = may_have(&new, namespace);
        if v.allowed {
            assert!(
                may_have(&patched, namespace),
                "allowed a pod it must deny: {patched}"
            );
        }
        if expected {
            assert!(
                v.allowed,
                "mutate output does not re-validate: {} for {patched}",
                v.message
            );
        }
    } else {
        // UPDATE: the old object is the new one with some choices redone.
        let mut old = new.clone();
        let mut q = Pick::new(p.rest());
        let redo = pod(&mut q);
        for key in [
            "securityContext",
            "containers",
            "initContainers",
            "ephemeralContainers",
            "serviceAccountName",
        ] {
            if q.chance(100) {
                match redo["spec"].get(key) {
                    Some(v) => old["spec"][key] = v.clone(),
                    None => {
                        old["spec"].as_object_mut().map(|s| s.remove(key));
                    }
                }
            }
        }
        let sub = if update == 1 {
            ""
        } else {
            "ephemeralcontainers"
        };
        let body = review_body("UPDATE", sub, namespace, &new, Some(&old));
        let v = block_on(review(Phase::Validate, &body, &view, &ctx));
        check_outcome(&v);
        if !v.allowed {
            no_secret_echoed(&v.message, &body);
            return;
        }
        // Allowed: every reference is unchanged from the old object, or one the rule allows.
        let before = references(&old);
        // (The API server refuses a changed serviceAccountName before validating webhooks.)
        let sa_new = new.pointer("/spec/serviceAccountName");
        for r in references(&new) {
            let kept = before.contains(&r);
            let fresh = match r.1.as_deref() {
                None | Some("") => r.2.is_none(),
                Some(n) => {
                    let sa = sa_new.and_then(Value::as_str).unwrap_or("");
                    n == CS
                        && sa == SA
                        && namespace == NS
                        && r.2.as_deref().is_none_or(|c| contents_ok(n, c))
                }
            };
            assert!(
                kept || fresh,
                "UPDATE ({sub}) allowed {r:?}: old {old} new {new}"
            );
        }
    }
}
