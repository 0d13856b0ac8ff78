//! The bodies of winkube's fuzz targets, one function per target, each taking the fuzzer's
//! bytes. The cargo-fuzz binaries (`fuzz/fuzz_targets/*.rs`) call them under libFuzzer; the
//! replay test of the main workspace (`crates/testkit/tests/fuzz_corpus.rs`) calls them on
//! every file of `fuzz/corpus/<target>/`, so a crash the fuzzer found stays a test.
//!
//! Each body asserts properties of its boundary where one exists, not only "no panic": a
//! review's answer is a well-formed AdmissionReview that agrees with its `Outcome`, a denial
//! carries no patch and no credspec contents, a pod the gMSA review allows only names
//! credspecs its service account may use, mutate output re-validates, parsers round-trip.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod csi;
mod gmsa;
mod pick;
mod rbac;
mod registry;
mod state;
mod windows;

pub use csi::{csi_authority, csi_validate};
pub use gmsa::{gmsa_policy, gmsa_review};
pub use rbac::rbac;
pub use registry::{image_reference, registry_documents};
pub use state::{policy_config, state_load};
pub use windows::{windows_policies, windows_review};

/// Every target, by the name of its binary and corpus directory.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("gmsa_review", gmsa_review),
    ("gmsa_policy", gmsa_policy),
    ("windows_review", windows_review),
    ("windows_policies", windows_policies),
    ("rbac", rbac),
    ("state_load", state_load),
    ("policy_config", policy_config),
    ("image_reference", image_reference),
    ("registry_documents", registry_documents),
    ("csi_validate", csi_validate),
    ("csi_authority", csi_authority),
];

/// Runs a future on a current-thread runtime with timers.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
        .block_on(f)
}

/// Checks an AdmissionReview answer against its `Outcome`; returns the `response` object.
pub(crate) fn check_outcome(o: &winkube_policy::Outcome) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(&o.body).expect("the answer is JSON");
    assert_eq!(v["kind"], "AdmissionReview");
    assert!(
        v["apiVersion"] == "admission.k8s.io/v1" || v["apiVersion"] == "admission.k8s.io/v1beta1",
        "{}",
        v["apiVersion"]
    );
    let r = v["response"].clone();
    assert_eq!(r["uid"], o.uid.as_str());
    assert_eq!(r["allowed"], o.allowed);
    if o.allowed {
        assert_eq!(o.code, 200);
        assert!(r.get("status").is_none(), "an allowed answer has no status");
    } else {
        assert!((400..600).contains(&o.code), "denial code {}", o.code);
        assert_eq!(r["status"]["code"], o.code);
        assert_eq!(r["status"]["message"], o.message.as_str());
        assert!(!o.message.is_empty(), "a denial says why");
        assert!(r.get("patch").is_none(), "a denial carries no patch");
        assert_eq!(o.patch_ops, 0);
    }
    r
}

/// The JSON patch of an answer (empty when there is none).
pub(crate) fn patch_of(r: &serde_json::Value) -> Option<json_patch::Patch> {
    use base64::Engine as _;
    let p = r.get("patch")?;
    assert_eq!(r["patchType"], "JSONPatch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(p.as_str().expect("the patch is a string"))
        .expect("the patch is base64");
    Some(serde_json::from_slice(&bytes).expect("the patch is a JSON patch"))
}

/// Equality as Go's `reflect.DeepEqual` of `json.Unmarshal` results sees it: numbers as
/// float64.
pub(crate) fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => x.as_f64() == y.as_f64(),
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y)),
        (Object(x), Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}
