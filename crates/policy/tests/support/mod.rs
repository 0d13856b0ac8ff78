//! An in-memory ClusterView: credspecs in a map, `use` decisions per (namespace, service
//! account, credspec) with a default, and a record of the questions asked.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Mutex;
use winkube_policy::{ClusterView, CredSpecContents, CredSpecLookup, SharedCredSpec, UseDecision};

pub struct MemView {
    pub credspecs: HashMap<String, CredSpecLookup>,
    pub decisions: HashMap<(String, String, String), UseDecision>,
    pub default_decision: UseDecision,
    pub sar_calls: Mutex<Vec<(String, String, String)>>,
    pub lookups: Mutex<Vec<String>>,
    /// Every question in order: `sar:<credspec>` or `get:<credspec>`.
    pub log: Mutex<Vec<String>>,
}

impl Default for MemView {
    fn default() -> Self {
        MemView {
            credspecs: HashMap::new(),
            decisions: HashMap::new(),
            default_decision: UseDecision {
                allowed: true,
                reason: String::new(),
            },
            sar_calls: Mutex::new(Vec::new()),
            lookups: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
        }
    }
}

impl MemView {
    /// Adds a credspec from its `credspec` document, canonicalised like the live view does.
    pub fn with(mut self, name: &str, credspec: serde_json::Value) -> Self {
        let cs = winkube_api::GmsaCredentialSpec {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(name.to_owned()),
                ..Default::default()
            },
            credspec: Some(credspec),
        };
        let lookup = match CredSpecContents::from_resource(&cs) {
            Some(c) => CredSpecLookup::Found(SharedCredSpec::new(c)),
            None => CredSpecLookup::MissingCredspecKey,
        };
        self.credspecs.insert(name.to_owned(), lookup);
        self
    }

    /// Adds a credspec whose canonical string is given verbatim (as a fake client would).
    pub fn with_raw(mut self, name: &str, canonical: &str) -> Self {
        self.credspecs.insert(
            name.to_owned(),
            CredSpecLookup::Found(SharedCredSpec::new(CredSpecContents::new(name, canonical))),
        );
        self
    }

    pub fn with_lookup(mut self, name: &str, lookup: CredSpecLookup) -> Self {
        self.credspecs.insert(name.to_owned(), lookup);
        self
    }

    pub fn deny(mut self, ns: &str, sa: &str, cs: &str, reason: &str) -> Self {
        self.decisions.insert(
            (ns.to_owned(), sa.to_owned(), cs.to_owned()),
            UseDecision {
                allowed: false,
                reason: reason.to_owned(),
            },
        );
        self
    }

    pub fn allow(mut self, ns: &str, sa: &str, cs: &str) -> Self {
        self.decisions.insert(
            (ns.to_owned(), sa.to_owned(), cs.to_owned()),
            UseDecision {
                allowed: true,
                reason: String::new(),
            },
        );
        self
    }

    pub fn deny_by_default(mut self, reason: &str) -> Self {
        self.default_decision = UseDecision {
            allowed: false,
            reason: reason.to_owned(),
        };
        self
    }

    pub fn sar_calls(&self) -> Vec<(String, String, String)> {
        self.sar_calls.lock().unwrap().clone()
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn lookups(&self) -> Vec<String> {
        self.lookups.lock().unwrap().clone()
    }
}

impl ClusterView for MemView {
    fn credspec(&self, name: &str) -> CredSpecLookup {
        self.lookups.lock().unwrap().push(name.to_owned());
        self.log.lock().unwrap().push(format!("get:{name}"));
        self.credspecs
            .get(name)
            .cloned()
            .unwrap_or(CredSpecLookup::NotFound)
    }

    fn may_use_credspec(
        &self,
        namespace: &str,
        service_account: &str,
        credspec: &str,
    ) -> impl std::future::Future<Output = UseDecision> + Send {
        let key = (
            namespace.to_owned(),
            service_account.to_owned(),
            credspec.to_owned(),
        );
        self.sar_calls.lock().unwrap().push(key.clone());
        self.log.lock().unwrap().push(format!("sar:{credspec}"));
        let d = self
            .decisions
            .get(&key)
            .cloned()
            .unwrap_or_else(|| self.default_decision.clone());
        std::future::ready(d)
    }
}

/// Runs a future to completion on a fresh current-thread runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

use serde_json::{Value, json};
use winkube_policy::{Outcome, Phase, ReviewContext};

pub const NS: &str = "dummy-namespace";

/// An AdmissionReview body as the API server sends it.
pub fn review_body(uid: &str, operation: &str, pod: &Value, old: Option<&Value>) -> Vec<u8> {
    let mut request = json!({
        "uid": uid,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "name": pod.pointer("/metadata/name").cloned().unwrap_or(json!("")),
        "namespace": NS,
        "operation": operation,
        "userInfo": {"username": "admin"},
        "object": pod,
    });
    if let Some(old) = old {
        request["oldObject"] = old.clone();
    }
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": request,
    }))
    .unwrap()
}

pub fn run(endpoint: Phase, body: &[u8], view: &MemView, ctx: &ReviewContext) -> Outcome {
    block_on(winkube_policy::review(endpoint, body, view, ctx))
}

/// The response object of an outcome's body, checked against the outcome's fields.
pub fn response(o: &Outcome) -> Value {
    let v: Value = serde_json::from_slice(&o.body).unwrap();
    assert_eq!(v["kind"], "AdmissionReview");
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    let r = v["response"].clone();
    assert_eq!(r["uid"], o.uid.as_str());
    assert_eq!(r["allowed"], o.allowed);
    if o.allowed {
        assert_eq!(o.code, 200);
        assert!(r.get("status").is_none());
    } else {
        assert_eq!(r["status"]["code"], o.code);
        assert_eq!(r["status"]["message"], o.message.as_str());
    }
    r
}

/// The decoded JSON patch of an outcome (empty when there is none).
pub fn patch_ops(o: &Outcome) -> Vec<Value> {
    let r = response(o);
    match r.get("patch") {
        None => {
            assert_eq!(o.patch_ops, 0);
            assert!(r.get("patchType").is_none());
            Vec::new()
        }
        Some(p) => {
            use base64::Engine as _;
            assert_eq!(r["patchType"], "JSONPatch");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(p.as_str().unwrap())
                .unwrap();
            let ops: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(ops.len(), o.patch_ops);
            ops
        }
    }
}

/// The raw patch bytes of an outcome.
pub fn patch_bytes(o: &Outcome) -> String {
    use base64::Engine as _;
    let r = response(o);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(r["patch"].as_str().unwrap())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

/// A Pod named `p` with this spec (no namespace: the tests pass it to the policies).
pub fn pod_with_spec(spec: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
}
