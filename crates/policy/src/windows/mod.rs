//! Windows workload policies: OS targeting, scheduling, Linux pinning, memory floor, image
//! tags, OS-build compatibility and the gMSA domain-readiness hook.
//!
//! Registry lookups are I/O, so a review runs in three steps (as an AdmissionReview:
//! [`decode`], then [`PodReview::images_to_resolve`] and [`PodReview::evaluate`]):
//! 1. [`images_to_resolve`] (pure) lists the images the policies need metadata for;
//! 2. the caller resolves them (`winkube-registry`: cache, TTL, bound, timeout) into an
//!    [`ImageResolutions`] map, or loads pinned metadata from files;
//! 3. [`evaluate`] (pure) decides from the pod, the view and that map.

pub mod config;
mod gmsa_hook;
pub mod os;
mod pod;
pub mod quantity;
mod review;
mod rules;
pub mod view;

use std::collections::BTreeMap;

use serde_json::Value;

pub use crate::outcome::Phase;
pub use config::{
    ApiServerConfig, ContainerAdministratorConfig, GmsaReadinessConfig, HostProcessConfig,
    ImageTagsConfig, ImagesConfig, LinuxPinningConfig, MemoryConfig, MemoryMode, Mode,
    OnUnresolved, OsBuildConfig, PolicyConfigError, SchedulingConfig, WindowsPolicyConfig,
    parse_kubernetes_version,
};
pub use os::{OsDecision, OsSignal, TargetOs};
pub use review::{Decoded, PodReview, decode};
pub use view::{
    ImageLookup, ImageRequest, ImageResolutions, NodeBuildLabel, NodeBuilds, RuntimeClassInfo,
    RuntimeClassLookup, StaticWindowsView, WindowsClusterView,
};

/// The policies a finding belongs to (prefix of warnings and denial reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PolicyName {
    Os,
    Scheduling,
    LinuxPinning,
    Memory,
    ImageTags,
    OsBuild,
    GmsaDomainReadiness,
    ApiServer,
    HostProcess,
    ContainerAdministrator,
}

impl PolicyName {
    pub fn as_str(&self) -> &'static str {
        match self {
            PolicyName::Os => "os",
            PolicyName::Scheduling => "scheduling",
            PolicyName::LinuxPinning => "linuxPinning",
            PolicyName::Memory => "memory",
            PolicyName::ImageTags => "imageTags",
            PolicyName::OsBuild => "osBuild",
            PolicyName::GmsaDomainReadiness => "gmsaDomainReadiness",
            PolicyName::ApiServer => "apiServer",
            PolicyName::HostProcess => "hostProcess",
            PolicyName::ContainerAdministrator => "containerAdministrator",
        }
    }
}

/// One reason for a denial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub policy: PolicyName,
    pub message: String,
}

/// The outcome of the Windows policies for one pod.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowsDecision {
    pub allowed: bool,
    /// HTTP-style status for a denial: 403 for policy violations, 400 for a malformed pod.
    pub code: u16,
    /// The denial message (every violation, `; `-separated); empty when allowed.
    pub message: String,
    pub violations: Vec<Violation>,
    /// JSON Patch against the pod as received; empty when denied or nothing to change.
    pub patch: json_patch::Patch,
    /// What the patch does, one line per change (for logs and `winkube admit`).
    pub mutations: Vec<String>,
    /// Admission warnings.
    pub warnings: Vec<String>,
    /// The OS decision with its reasons; `None` when the namespace is exempt.
    pub os: Option<OsDecision>,
    /// The violations, warnings and fixes (notes) one by one, with their rules and the
    /// pod fields they are about; a denied pod has no notes.
    pub findings: Vec<crate::outcome::Finding>,
}

impl WindowsDecision {
    fn allow() -> Self {
        Self {
            allowed: true,
            code: 200,
            message: String::new(),
            violations: Vec::new(),
            patch: json_patch::Patch(Vec::new()),
            mutations: Vec::new(),
            warnings: Vec::new(),
            os: None,
            findings: Vec::new(),
        }
    }

    fn malformed(msg: String) -> Self {
        Self {
            allowed: false,
            code: 400,
            findings: vec![crate::outcome::Finding::new(
                "windows/malformed-pod",
                crate::outcome::Severity::Error,
                msg.clone(),
            )],
            message: msg,
            ..Self::allow()
        }
    }
}

/// Lists the images whose registry metadata the policies need for this pod (none for an
/// exempt namespace, or when no policy that uses images is on). The caller resolves them
/// into an [`ImageResolutions`] keyed by [`ImageRequest::image`].
pub fn images_to_resolve(
    pod: &Value,
    namespace: &str,
    config: &WindowsPolicyConfig,
) -> Vec<ImageRequest> {
    if config.is_exempt(namespace) {
        return Vec::new();
    }
    let needs = config.images.detect_os
        || config.os_build.mode != Mode::Off
        || config.linux_pinning.mode != Mode::Off;
    let Some(spec) = pod.get("spec") else {
        return Vec::new();
    };
    if !needs {
        return Vec::new();
    }
    let pull_secrets: Vec<String> = spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    os::pod_images(spec)
        .into_iter()
        .filter(|i| os::parse_image(i).is_ok())
        .map(|image| ImageRequest {
            image: image.to_owned(),
            pull_secrets: pull_secrets.clone(),
        })
        .collect()
}

/// Runs every Windows policy over a pod. Pure: everything comes from the arguments.
pub fn evaluate(
    pod: &Value,
    namespace: &str,
    config: &WindowsPolicyConfig,
    view: &dyn WindowsClusterView,
    images: &ImageResolutions,
    phase: Phase,
) -> WindowsDecision {
    decide(pod, namespace, config, view, images, phase, Detail::Full)
}

/// How much of a decision its caller reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// Everything: findings and mutation lines for every fix (`winkube admit`, `lint`).
    Full,
    /// What an AdmissionReview answer carries ([`PodReview::evaluate`]): a fix made in the
    /// mutating phase leaves no finding or mutation line.
    Answer,
}

fn decide(
    pod: &Value,
    namespace: &str,
    config: &WindowsPolicyConfig,
    view: &dyn WindowsClusterView,
    images: &ImageResolutions,
    phase: Phase,
    detail: Detail,
) -> WindowsDecision {
    if config.is_exempt(namespace) {
        return WindowsDecision::allow();
    }
    let Some(spec) = pod.get("spec").filter(|s| s.is_object()) else {
        return WindowsDecision::malformed("the object has no pod spec".into());
    };
    let mut ctx = rules::Ctx::new(pod, spec, namespace, config, view, images, phase);
    if detail == Detail::Answer {
        ctx = ctx.answer_only();
    }
    ctx.run();
    ctx.finish()
}

/// The policies that apply to a `pods/ephemeralcontainers` update (the API server's rules,
/// HostProcess namespaces, ContainerAdministrator), over the pod as updated. Never patches.
pub fn evaluate_ephemeral(
    pod: &Value,
    namespace: &str,
    config: &WindowsPolicyConfig,
    view: &dyn WindowsClusterView,
) -> WindowsDecision {
    if config.is_exempt(namespace) {
        return WindowsDecision::allow();
    }
    let Some(spec) = pod.get("spec").filter(|s| s.is_object()) else {
        return WindowsDecision::malformed("the object has no pod spec".into());
    };
    let images = ImageResolutions::default();
    let mut ctx = rules::Ctx::new(pod, spec, namespace, config, view, &images, Phase::Validate);
    ctx.run_ephemeral();
    ctx.finish()
}

/// A summary of a decision for humans (`winkube admit` prints it).
pub fn summarize(d: &WindowsDecision) -> String {
    let mut lines = Vec::new();
    if let Some(os) = &d.os {
        lines.push(format!("target OS: {}", os.explain()));
    }
    if d.allowed {
        lines.push("allowed".into());
    } else {
        lines.push(format!("denied ({}): {}", d.code, d.message));
    }
    for m in &d.mutations {
        lines.push(format!("patch: {m}"));
    }
    for w in &d.warnings {
        lines.push(format!("warning: {w}"));
    }
    lines.join("\n")
}

/// Parses pinned image metadata (the state directory's `images.yaml`): a map from image
/// reference to `{digest?, platforms: [{os, architecture, os.version?, ...}]}`.
pub fn pinned_images_from_yaml(
    yaml: &str,
) -> Result<BTreeMap<String, winkube_api::windows::ImagePlatforms>, PolicyConfigError> {
    if yaml.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    serde_saphyr::from_str(yaml).map_err(|e| PolicyConfigError(format!("image metadata: {e}")))
}

/// Pinned image metadata (for `winkube admit` offline): a YAML/JSON map from image
/// reference to its platforms, e.g. `{"mcr.microsoft.com/x:1": {"platforms": [...]}}`.
pub fn resolutions_from_pinned(
    pinned: &BTreeMap<String, winkube_api::windows::ImagePlatforms>,
    requests: &[ImageRequest],
) -> ImageResolutions {
    requests
        .iter()
        .map(|r| {
            let found = pinned.get(&r.image).cloned().or_else(|| {
                // Also match on the normalised form (nginx == docker.io/library/nginx).
                let norm = winkube_api::windows::ImageReference::parse(&r.image).ok()?;
                pinned.iter().find_map(|(k, v)| {
                    let kn = winkube_api::windows::ImageReference::parse(k).ok()?;
                    (kn == norm).then(|| v.clone())
                })
            });
            let lookup = match found {
                Some(p) => ImageLookup::Found(p),
                None => ImageLookup::Unavailable("no pinned metadata for this image".into()),
            };
            (r.image.clone(), lookup)
        })
        .collect()
}
