//! The Windows policies: the review envelope ([`winkube_policy::windows::decode`]) from raw
//! bytes, and pods (JSON from the fuzzer) under a few configurations, where a mutated pod
//! must pass validation and mutating it again must change nothing.

use crate::check_outcome;
use crate::pick::Pick;
use serde_json::Value;
use winkube_api::windows::WindowsBuild;
use winkube_policy::Phase;
use winkube_policy::windows::{
    Decoded, ImageLookup, ImageResolutions, StaticWindowsView, WindowsPolicyConfig, decode,
    evaluate, images_to_resolve,
};

fn cluster() -> StaticWindowsView {
    StaticWindowsView::new(
        [
            "10.0.17763".parse::<WindowsBuild>().ok(),
            "10.0.20348".parse().ok(),
        ]
        .into_iter()
        .flatten(),
    )
}

/// The shipped example, everything on, and the defaults.
fn configs() -> Vec<WindowsPolicyConfig> {
    let all_on = r#"
images: {onUnresolved: deny, detectOs: true}
scheduling: {mode: enforce, taint: "os=windows:NoSchedule", setOsName: true}
linuxPinning: {mode: enforce}
memory: {mode: enforce, floor: 300Mi}
imageTags: {mode: enforce}
osBuild: {mode: enforce, architecture: amd64, hypervHandlers: [runhcs-wcow-hypervisor]}
"#;
    vec![
        WindowsPolicyConfig::default(),
        WindowsPolicyConfig::from_yaml(include_str!("../../../examples/policy.yaml"))
            .expect("the example policy parses"),
        WindowsPolicyConfig::from_yaml(all_on).expect("the all-on policy parses"),
    ]
}

/// Raw bytes as the body of `/mutate-windows` and `/validate-windows`.
pub fn windows_review(data: &[u8]) {
    match decode(data) {
        Decoded::Answered(o) => {
            let r = check_outcome(&o);
            assert!(
                r.get("patch").is_none(),
                "an answer without a pod has no patch"
            );
        }
        Decoded::Pod(review) => {
            assert!(!review.namespace().is_empty());
            let view = cluster();
            for config in configs() {
                for phase in [Phase::Mutate, Phase::Validate] {
                    let o = review.clone().evaluate(
                        phase,
                        &config,
                        &view,
                        &ImageResolutions::new(),
                        Vec::new(),
                    );
                    let r = check_outcome(&o);
                    if phase == Phase::Validate {
                        assert!(r.get("patch").is_none(), "validate never patches");
                    }
                }
            }
        }
    }
}

/// A pod (JSON, after a byte choosing the configuration and the image answers).
pub fn windows_policies(data: &[u8]) {
    let mut p = Pick::new(data);
    let configs = configs();
    let config = p.one(&configs);
    let windows = p.chance(128);
    let Ok(pod) = serde_json::from_slice::<Value>(p.rest()) else {
        return;
    };
    let namespace = "ns";
    let view = cluster();
    // Every image answers with one platform, or is unavailable.
    let images: ImageResolutions = images_to_resolve(&pod, namespace, &config)
        .into_iter()
        .map(|r| {
            let lookup = if windows {
                ImageLookup::Found(serde_json::from_value(serde_json::json!({
                    "platforms": [{"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.1"}]
                })).expect("platforms"))
            } else {
                ImageLookup::Unavailable("not asked".into())
            };
            (r.image, lookup)
        })
        .collect();
    let m = evaluate(&pod, namespace, &config, &view, &images, Phase::Mutate);
    assert_eq!(m.allowed, m.message.is_empty(), "{m:?}");
    if !m.allowed {
        assert!(m.patch.0.is_empty(), "a denial carries no patch");
        return;
    }
    let mut mutated = pod.clone();
    json_patch::patch(&mut mutated, &m.patch)
        .expect("the patch applies to the pod it was made for");
    let v = evaluate(
        &mutated,
        namespace,
        &config,
        &view,
        &images,
        Phase::Validate,
    );
    assert!(
        v.allowed,
        "mutate output does not validate: {} ({mutated})",
        v.message
    );
    assert!(v.patch.0.is_empty(), "validate never patches");
    let again = evaluate(&mutated, namespace, &config, &view, &images, Phase::Mutate);
    assert!(again.allowed, "{}", again.message);
    assert!(
        again.patch.0.is_empty(),
        "mutating twice changes more: {:?}",
        again.patch
    );
}
