//! The gMSA webhooks' matchConditions, evaluated by a real CEL engine (the `cel` crate)
//! against a corpus of admission requests shaped like the API server's (`object`,
//! `oldObject`, `request`), and cross-checked with the gMSA review itself: a request the
//! review would change or deny that the API server does not send is an unchecked credential.
//!
//! The corpus: the pods of `examples/`, the pod literals of `crates/policy/tests`, and
//! generated shapes (every place a windowsOptions can be × every gMSA setting, including
//! empty strings and contents without a name × CREATE, UPDATE that adds, keeps or removes a
//! setting, the `pods/ephemeralcontainers` subresource, DELETE).
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use support::repo;
use winkube_policy::scope::gmsa_match_expression;
use winkube_policy::{ClusterView, Phase, ReviewContext};
use winkube_state::FileView;
use winkube_state::documents::{Source, parse_documents};

/// One admission request as the API server sees it.
#[derive(Clone, Debug)]
struct Case {
    label: String,
    operation: &'static str,
    sub_resource: &'static str,
    object: Option<Value>,
    old: Option<Value>,
}

impl Case {
    fn create(label: impl Into<String>, pod: Value) -> Self {
        Case {
            label: label.into(),
            operation: "CREATE",
            sub_resource: "",
            object: Some(pod),
            old: None,
        }
    }

    fn update(label: impl Into<String>, new: Value, old: Value) -> Self {
        Case {
            label: label.into(),
            operation: "UPDATE",
            sub_resource: "",
            object: Some(new),
            old: Some(old),
        }
    }

    fn request(&self) -> Value {
        let pod = self.object.as_ref().or(self.old.as_ref());
        let name = pod
            .and_then(|p| p.pointer("/metadata/name"))
            .cloned()
            .unwrap_or(json!(""));
        let mut r = json!({
            "uid": "u-1",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": name,
            "namespace": "apps",
            "operation": self.operation,
            "userInfo": {"username": "admin"},
            "object": self.object.clone().unwrap_or(Value::Null),
            "oldObject": self.old.clone().unwrap_or(Value::Null),
        });
        if !self.sub_resource.is_empty() {
            r["subResource"] = json!(self.sub_resource);
        }
        r
    }
}

/// The matchCondition, compiled once.
struct Condition {
    env: Arc<cel::Env>,
    program: cel::Program,
}

impl Condition {
    fn new() -> Self {
        let env = Arc::new(cel::Env::stdlib());
        let program = env.compile(&gmsa_match_expression()).unwrap();
        Condition { env, program }
    }

    /// Evaluates the expression as the API server binds it; an evaluation error fails the
    /// test (the API server would apply the failure policy to every such pod).
    fn matches(&self, case: &Case) -> bool {
        let mut ctx = cel::Context::with_env(Arc::clone(&self.env));
        ctx.add_variable("object", case.object.clone().unwrap_or(Value::Null))
            .unwrap();
        ctx.add_variable("oldObject", case.old.clone().unwrap_or(Value::Null))
            .unwrap();
        ctx.add_variable("request", case.request()).unwrap();
        match self.program.execute(&ctx) {
            Ok(cel::Value::Bool(b)) => b,
            other => panic!("{}: evaluation gave {other:?}", case.label),
        }
    }
}

/// The specification, independent of the policy code: a windowsOptions anywhere sets
/// gmsaCredentialSpecName or gmsaCredentialSpec (as a key, whatever its value).
fn sets_gmsa(pod: Option<&Value>) -> bool {
    let Some(spec) = pod.and_then(|p| p.get("spec")) else {
        return false;
    };
    let has = |holder: &Value| {
        holder
            .pointer("/securityContext/windowsOptions")
            .and_then(Value::as_object)
            .is_some_and(|wo| {
                wo.contains_key("gmsaCredentialSpecName") || wo.contains_key("gmsaCredentialSpec")
            })
    };
    has(spec)
        || ["containers", "initContainers", "ephemeralContainers"]
            .iter()
            .filter_map(|l| spec.get(l).and_then(Value::as_array))
            .flatten()
            .any(has)
}

/// What the API server sends: the pod decoded into its Go type and encoded again (unknown
/// keys and case variants dropped, absent optional fields omitted), or `None` for a pod its
/// type cannot hold (the API server refuses it before admission). Go decodes a container
/// without a name as name "", and encodes a PodSpec without containers as
/// `"containers": null` (the field has no omitempty); both are modelled here.
fn as_api_server_sends(mut pod: Value) -> Option<Value> {
    let spec = pod.get_mut("spec").and_then(Value::as_object_mut);
    let mut no_containers = false;
    if let Some(spec) = spec {
        no_containers = spec.get("containers").is_none_or(Value::is_null);
        if no_containers {
            spec.insert("containers".into(), json!([]));
        }
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            for c in spec
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(c) = c.as_object_mut() {
                    c.entry("name").or_insert(json!(""));
                }
            }
        }
    }
    let typed: k8s_openapi::api::core::v1::Pod = serde_json::from_value(pod).ok()?;
    let mut sent = serde_json::to_value(typed).unwrap();
    if no_containers && let Some(spec) = sent.get_mut("spec") {
        spec["containers"] = Value::Null;
    }
    Some(sent)
}

/// The corpus as the API server would send it; requests it would refuse are dropped.
fn as_sent(cases: Vec<Case>) -> Vec<Case> {
    cases
        .into_iter()
        .filter_map(|c| {
            let object = match c.object {
                Some(p) => Some(as_api_server_sends(p)?),
                None => None,
            };
            let old = match c.old {
                Some(p) => Some(as_api_server_sends(p)?),
                None => None,
            };
            Some(Case { object, old, ..c })
        })
        .collect()
}

// ---- The corpus ----

fn base_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p1", "namespace": "apps"},
        "spec": {"serviceAccountName": "sa1", "containers": [{"name": "app", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}]},
    })
}

/// windowsOptions values: (label, options, sets gMSA).
fn settings() -> Vec<(&'static str, Value)> {
    vec![
        ("name", json!({"gmsaCredentialSpecName": "cs"})),
        (
            "contents-without-name",
            json!({"gmsaCredentialSpec": "{\"CmsPlugins\":[\"ActiveDirectory\"]}"}),
        ),
        (
            "name-and-contents",
            json!({"gmsaCredentialSpecName": "cs", "gmsaCredentialSpec": "{}"}),
        ),
        ("empty-name", json!({"gmsaCredentialSpecName": ""})),
        ("empty-contents", json!({"gmsaCredentialSpec": ""})),
        (
            "empty-both",
            json!({"gmsaCredentialSpecName": "", "gmsaCredentialSpec": ""}),
        ),
        (
            "name-and-user",
            json!({"gmsaCredentialSpecName": "cs", "runAsUserName": "NT AUTHORITY\\NETWORK SERVICE"}),
        ),
        ("user-only", json!({"runAsUserName": "ContainerUser"})),
        (
            "host-process",
            json!({"hostProcess": true, "runAsUserName": "NT AUTHORITY\\SYSTEM"}),
        ),
        ("empty-options", json!({})),
    ]
}

/// Places a windowsOptions can be: (label, pod with `options` there).
fn place(pod: &Value, place: &str, options: &Value) -> Value {
    let mut p = pod.clone();
    let sc = json!({"windowsOptions": options});
    let spec = &mut p["spec"];
    match place {
        "pod" => spec["securityContext"] = sc,
        "container" => spec["containers"][0]["securityContext"] = sc,
        "second-container" => spec["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "logger", "image": "busybox", "securityContext": sc})),
        "init" => {
            spec["initContainers"] =
                json!([{"name": "init", "image": "busybox", "securityContext": sc}])
        }
        "ephemeral" => {
            spec["ephemeralContainers"] =
                json!([{"name": "debug", "image": "busybox", "securityContext": sc}])
        }
        other => panic!("{other}"),
    }
    p
}

const PLACES: [&str; 5] = ["pod", "container", "second-container", "init", "ephemeral"];

fn generated() -> Vec<Case> {
    let base = base_pod();
    let mut cases = vec![
        Case::create("plain pod", base.clone()),
        Case::update("plain pod relabelled", base.clone(), base.clone()),
    ];
    // Pods without any securityContext content that matters.
    let mut sc_only = base.clone();
    sc_only["spec"]["securityContext"] = json!({"runAsNonRoot": true});
    sc_only["spec"]["containers"][0]["securityContext"] = json!({"readOnlyRootFilesystem": true});
    cases.push(Case::create(
        "securityContext without windowsOptions",
        sc_only,
    ));
    for (s, options) in settings() {
        for at in PLACES {
            let pod = place(&base, at, &options);
            let l = format!("{s} at {at}");
            cases.push(Case::create(format!("CREATE {l}"), pod.clone()));
            cases.push(Case::update(
                format!("UPDATE keeps {l}"),
                pod.clone(),
                pod.clone(),
            ));
            cases.push(Case::update(
                format!("UPDATE adds {l}"),
                pod.clone(),
                base.clone(),
            ));
            cases.push(Case::update(
                format!("UPDATE removes {l}"),
                base.clone(),
                pod.clone(),
            ));
            let mut changed = pod.clone();
            changed["metadata"]["labels"] = json!({"rev": "2"});
            cases.push(Case::update(
                format!("UPDATE labels of {l}"),
                changed,
                pod.clone(),
            ));
            cases.push(Case {
                label: format!("DELETE {l}"),
                operation: "DELETE",
                sub_resource: "",
                object: None,
                old: Some(pod.clone()),
            });
            // The ephemeralcontainers subresource: a debug container added to a running pod,
            // or (adversarial) the old pod's setting dropped by the same request.
            if at == "ephemeral" {
                cases.push(Case {
                    label: format!("ephemeralcontainers adds {l}"),
                    operation: "UPDATE",
                    sub_resource: "ephemeralcontainers",
                    object: Some(pod.clone()),
                    old: Some(base.clone()),
                });
            } else {
                let with_debug = place(&pod, "ephemeral", &json!({}));
                cases.push(Case {
                    label: format!("ephemeralcontainers beside {l}"),
                    operation: "UPDATE",
                    sub_resource: "ephemeralcontainers",
                    object: Some(with_debug),
                    old: Some(pod.clone()),
                });
            }
            // A second setting elsewhere in the same pod.
            for other in PLACES.iter().filter(|o| **o != at) {
                let both = place(&pod, other, &json!({"gmsaCredentialSpecName": "cs2"}));
                cases.push(Case::create(
                    format!("CREATE {l} and name at {other}"),
                    both,
                ));
            }
        }
    }
    cases
}

/// Pods, Deployments' templates and the like under examples/, as CREATE requests.
fn examples() -> Vec<Case> {
    let mut files = Vec::new();
    collect_yaml(&repo().join("examples"), &mut files);
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let Ok(docs) = parse_documents(&Source::File(file.clone()), &text) else {
            continue;
        };
        for d in docs {
            let pod = if d.value["kind"] == "Pod" {
                d.value.clone()
            } else if let Some(t) = d.value.pointer("/spec/template") {
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": t.get("metadata").cloned().unwrap_or(json!({})), "spec": t["spec"]})
            } else {
                continue;
            };
            cases.push(Case::create(d.location(), pod));
        }
    }
    cases
}

fn collect_yaml(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_yaml(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

/// The pod literals written in `crates/policy/tests/*.rs` (`json!({...})` blocks that are
/// plain JSON), each as CREATE and as UPDATE from and to a plain pod.
fn policy_test_pods() -> Vec<Case> {
    let dir = repo().join("crates/policy/tests");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let src = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let mut pods = Vec::new();
        for block in json_macro_blocks(&src) {
            if let Ok(v) = serde_json::from_str::<Value>(&strip_trailing_commas(block)) {
                find_pods(&v, &mut pods);
            }
        }
        for (i, pod) in pods.into_iter().enumerate() {
            let label = format!("{name} pod {i}");
            cases.push(Case::update(
                format!("{label} as UPDATE from plain"),
                pod.clone(),
                base_pod(),
            ));
            cases.push(Case::update(
                format!("{label} as UPDATE to plain"),
                base_pod(),
                pod.clone(),
            ));
            cases.push(Case::create(label, pod));
        }
    }
    cases
}

/// The argument text of every `json!(...)` in `src`.
fn json_macro_blocks(src: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("json!(") {
        let body = &rest[i + 6..];
        let (mut depth, mut in_str, mut escaped) = (1usize, false, false);
        let mut end = None;
        for (j, c) in body.char_indices() {
            if in_str {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_str = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => in_str = true,
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(j);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        out.push(&body[..end]);
        rest = &body[end..];
    }
    out
}

fn strip_trailing_commas(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut in_str = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_str {
            out.push(c);
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                i += 1;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if !matches!(next, Some('}') | Some(']')) {
                out.push(c);
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

/// Objects with a pod-like `spec` (a securityContext or a container list), anywhere in `v`.
fn find_pods(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(m) => {
            let pod_like = m.get("spec").and_then(Value::as_object).is_some_and(|s| {
                [
                    "securityContext",
                    "containers",
                    "initContainers",
                    "ephemeralContainers",
                ]
                .iter()
                .any(|k| s.contains_key(*k))
            });
            if pod_like {
                out.push(v.clone());
            }
            m.values().for_each(|x| find_pods(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| find_pods(x, out)),
        _ => {}
    }
}

fn corpus() -> Vec<Case> {
    let mut cases = generated();
    cases.extend(examples());
    cases.extend(policy_test_pods());
    as_sent(cases)
}

// ---- The policy side ----

/// Every credspec name in the corpus.
fn credspec_names(cases: &[Case]) -> BTreeSet<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(n)) = m.get("gmsaCredentialSpecName") {
                    out.insert(n.clone());
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    for c in cases {
        c.object
            .iter()
            .chain(c.old.iter())
            .for_each(|p| walk(p, &mut names));
    }
    names.retain(|n| !n.is_empty());
    names
}

/// A cluster where every credspec of the corpus exists and every service account may use it.
fn authorizing_view(names: &BTreeSet<String>) -> FileView {
    let mut yaml = String::from(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: use-all-gmsa}
rules: [{apiGroups: [windows.k8s.io], resources: [gmsacredentialspecs], verbs: [use]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: use-all-gmsa}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: use-all-gmsa}
subjects: [{kind: Group, name: 'system:serviceaccounts', apiGroup: rbac.authorization.k8s.io}]
",
    );
    for n in names {
        let cs = json!({"apiVersion": "windows.k8s.io/v1", "kind": "GMSACredentialSpec",
            "metadata": {"name": n}, "credspec": {"CmsPlugins": ["ActiveDirectory"]}});
        yaml.push_str(&format!("---\n{cs}\n"));
    }
    let docs = parse_documents(&Source::Stdin, &yaml).unwrap();
    FileView::from_documents(docs).unwrap()
}

/// Whether the gMSA review, in either phase, changes or denies this request.
fn policy_acts<V: ClusterView>(case: &Case, view: &V, rt: &tokio::runtime::Runtime) -> bool {
    let body = serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": case.request(),
    }))
    .unwrap();
    let contexts = [
        ReviewContext::default(),
        ReviewContext {
            random_hostname: Some("c5c0cb67-605d-4".into()),
        },
    ];
    [Phase::Mutate, Phase::Validate].into_iter().any(|phase| {
        contexts.iter().any(|ctx| {
            let o = rt.block_on(winkube_policy::review(phase, &body, view, ctx));
            !o.allowed || o.patch_ops > 0
        })
    })
}

// ---- The tests ----

#[test]
fn the_expression_matches_exactly_the_requests_with_gmsa_settings() {
    let condition = Condition::new();
    let cases = corpus();
    let (mut matched, mut unmatched) = (0, 0);
    for c in &cases {
        let want = sets_gmsa(c.object.as_ref()) || sets_gmsa(c.old.as_ref());
        assert_eq!(condition.matches(c), want, "{}: {:#}", c.label, c.request());
        if want {
            matched += 1;
        } else {
            unmatched += 1;
        }
    }
    let from_examples = as_sent(examples()).len();
    let from_policy_tests = as_sent(policy_test_pods()).len();
    eprintln!(
        "CEL corpus: {} requests ({} generated, {from_examples} from examples/, {from_policy_tests} from the policy tests' pods), {matched} match, {unmatched} do not",
        cases.len(),
        generated().len()
    );
    assert!(matched > 400 && unmatched > 100, "{matched} / {unmatched}");
    assert!(from_examples >= 6, "examples/ pods: {from_examples}");
    assert!(
        from_policy_tests >= 30,
        "policy test pods: {from_policy_tests}"
    );
}

#[test]
fn every_request_the_gmsa_review_changes_or_denies_is_sent() {
    let condition = Condition::new();
    let cases: Vec<Case> = corpus()
        .into_iter()
        // The webhooks' rules: pod CREATE and UPDATE (and the ephemeralcontainers subresource).
        .filter(|c| c.operation != "DELETE")
        .collect();
    let names = credspec_names(&cases);
    let authorizing = authorizing_view(&names);
    let denying = FileView::empty();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (mut acted, mut quiet) = (0, 0);
    for c in &cases {
        let acts = policy_acts(c, &authorizing, &rt) || policy_acts(c, &denying, &rt);
        let matches = condition.matches(c);
        assert!(
            !acts || matches,
            "{}: the review changes or denies it, the matchCondition does not send it: {:#}",
            c.label,
            c.request()
        );
        if acts {
            acted += 1;
        } else {
            quiet += 1;
        }
    }
    eprintln!(
        "policy cross-check: {} requests, {acted} changed or denied (all sent), {quiet} left alone",
        cases.len()
    );
    // The cross-check has teeth: the review acts on many requests and leaves many alone.
    assert!(acted > 300 && quiet > 100, "{acted} / {quiet}");
}

#[test]
fn adversarial_shapes_are_sent() {
    let condition = Condition::new();
    let base = base_pod();
    let debug = |options: Value| place(&base, "ephemeral", &options);
    let cases = [
        Case::create(
            "init container name",
            place(&base, "init", &json!({"gmsaCredentialSpecName": "cs"})),
        ),
        Case::create(
            "ephemeral container name",
            debug(json!({"gmsaCredentialSpecName": "cs"})),
        ),
        Case::create(
            "empty name",
            place(&base, "pod", &json!({"gmsaCredentialSpecName": ""})),
        ),
        Case::create(
            "empty contents",
            place(&base, "container", &json!({"gmsaCredentialSpec": ""})),
        ),
        Case::create(
            "contents without a name",
            place(
                &base,
                "second-container",
                &json!({"gmsaCredentialSpec": "{\"a\":1}"}),
            ),
        ),
        Case::update(
            "UPDATE removing the pod-level name",
            base.clone(),
            place(&base, "pod", &json!({"gmsaCredentialSpecName": "cs"})),
        ),
        Case::update(
            "UPDATE removing a container's contents",
            base.clone(),
            place(&base, "container", &json!({"gmsaCredentialSpec": "{}"})),
        ),
        Case {
            label: "ephemeralcontainers subresource adding a gMSA debug container".into(),
            operation: "UPDATE",
            sub_resource: "ephemeralcontainers",
            object: Some(debug(json!({"gmsaCredentialSpecName": "cs"}))),
            old: Some(base.clone()),
        },
    ];
    let sent = as_sent(cases.to_vec());
    assert_eq!(sent.len(), cases.len());
    for c in &sent {
        assert!(condition.matches(c), "{} is not sent", c.label);
    }
    // And the API server's shape of "nothing set": no windowsOptions keys survive encoding.
    let mut none = base.clone();
    none["spec"]["securityContext"] = json!({"windowsOptions": {}});
    let none = as_api_server_sends(none).unwrap();
    assert!(!condition.matches(&Case::create("empty windowsOptions", none)));
    // A pod without containers (invalid, but admission runs before validation): Go sends
    // `"containers": null`, which must not make the expression fail.
    let mut empty = json!({"metadata": {"name": "e"}, "spec": {"securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}}}});
    empty = as_api_server_sends(empty).unwrap();
    assert_eq!(empty["spec"]["containers"], Value::Null);
    assert!(condition.matches(&Case::create(
        "no containers, pod-level name",
        empty.clone()
    )));
    empty["spec"]["securityContext"] = json!({});
    assert!(!condition.matches(&Case::create("no containers", empty)));
    // DELETE: `object` is null; nothing in the expression fails on it.
    let delete = Case {
        label: "DELETE of a plain pod".into(),
        operation: "DELETE",
        sub_resource: "",
        object: None,
        old: Some(base),
    };
    assert!(!condition.matches(&delete));
}

#[test]
fn the_expression_fits_the_kubernetes_limits() {
    let e = gmsa_match_expression();
    // One condition per webhook (conditions are ANDed, so the "any of" is inside it),
    // well below the 64-condition limit; and no string literal to escape in YAML or Helm.
    assert!(!e.contains('"') && !e.contains('\''), "{e}");
    assert!(e.len() < 5000, "{} bytes", e.len());
}

// The policy's adversarial table, shared with crates/policy/tests/adversarial.rs.
#[path = "../../policy/tests/support/adversarial.rs"]
mod adversarial_table;

#[test]
fn every_shape_of_the_adversarial_table_is_sent() {
    let condition = Condition::new();
    let rows = adversarial_table::rows();
    let mut sent = 0;
    for row in &rows {
        let operation = match row.operation.as_str() {
            "CREATE" => "CREATE",
            "UPDATE" => "UPDATE",
            other => panic!("{}: operation {other}", row.label),
        };
        let sub_resource = match row.sub_resource.as_str() {
            "" => "",
            "ephemeralcontainers" => "ephemeralcontainers",
            // The API server has no such subresource: it never sends the request at all.
            _ => continue,
        };
        // What the API server stores and sends: escapes resolved, duplicate keys last-wins,
        // case variants and unknown fields (the deep `nestObject` field) dropped.
        let case = Case {
            label: row.label.clone(),
            operation,
            sub_resource,
            object: Some(row.object_value()),
            old: row.old.clone(),
        };
        let Some(case) = as_sent(vec![case]).pop() else {
            panic!("{}: the API server would refuse the pod", row.label)
        };
        // A row whose gMSA setting does not survive decoding (a key only the Go fold would
        // read) stores a pod without one: nothing to check, and it is not sent.
        let want = sets_gmsa(case.object.as_ref()) || sets_gmsa(case.old.as_ref());
        assert_eq!(
            condition.matches(&case),
            want,
            "{}: {:#}",
            row.label,
            case.request()
        );
        if want {
            sent += 1;
        }
    }
    // All but the subresource spelled with another case and the dropped list key.
    assert!(sent + 2 >= rows.len(), "{sent} of {} rows sent", rows.len());
}
