//! Which OS a pod targets, decided once from every signal it carries, with the reasons.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;
use winkube_api::windows::{ImageReference, LABEL_OS, LABEL_WINDOWS_BUILD, OS_LINUX, OS_WINDOWS};

use super::pod::{containers, get, get_str};
use super::view::{ImageLookup, ImageResolutions, RuntimeClassInfo};

/// The OS a pod targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetOs {
    Windows,
    Linux,
    /// No signal: the pod may run anywhere its images run.
    Unknown,
}

impl fmt::Display for TargetOs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetOs::Windows => OS_WINDOWS,
            TargetOs::Linux => OS_LINUX,
            TargetOs::Unknown => "unknown",
        })
    }
}

/// One piece of evidence for an OS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsSignal {
    /// `windows` or `linux` (or another value as written, which matches no node).
    pub os: String,
    /// Where it came from, e.g. `spec.nodeSelector[kubernetes.io/os]=windows`.
    pub source: String,
    /// True when the signal comes only from the registry's image platforms.
    pub from_image: bool,
}

/// The OS decision and its explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsDecision {
    pub os: TargetOs,
    pub signals: Vec<OsSignal>,
    /// Signals disagree: the pod must be denied with them listed.
    pub conflict: bool,
}

impl OsDecision {
    /// `windows (spec.os.name=windows; image "x" provides only windows)`.
    pub fn explain(&self) -> String {
        if self.signals.is_empty() {
            return "unknown (no OS signal)".into();
        }
        let list: Vec<String> = self
            .signals
            .iter()
            .map(|s| format!("{} says {}", s.source, s.os))
            .collect();
        if self.conflict {
            format!("conflicting OS signals: {}", list.join("; "))
        } else {
            format!("{} ({})", self.os, list.join("; "))
        }
    }

    /// True when every signal comes from image platforms.
    pub fn only_from_images(&self) -> bool {
        !self.signals.is_empty() && self.signals.iter().all(|s| s.from_image)
    }
}

fn signal(os: &str, source: String) -> OsSignal {
    OsSignal {
        os: os.to_owned(),
        source,
        from_image: false,
    }
}

/// The OS values a required node-affinity allows, or `None` when it does not restrict the OS.
fn affinity_oses(spec: &Value) -> Option<BTreeSet<String>> {
    let terms = get(
        spec,
        &[
            "affinity",
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
            "nodeSelectorTerms",
        ],
    )?
    .as_array()?;
    let all: BTreeSet<String> = [OS_WINDOWS.to_owned(), OS_LINUX.to_owned()].into();
    let mut union: BTreeSet<String> = BTreeSet::new();
    for term in terms {
        // Within a term, expressions are ANDed; across terms, ORed.
        let mut allowed: Option<BTreeSet<String>> = None;
        for expr in term
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if expr.get("key").and_then(Value::as_str) != Some(LABEL_OS) {
                continue;
            }
            let values: BTreeSet<String> = expr
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            let this: BTreeSet<String> = match expr.get("operator").and_then(Value::as_str) {
                Some("In") => values,
                Some("NotIn") => all.difference(&values).cloned().collect(),
                Some("DoesNotExist") => BTreeSet::new(),
                _ => all.clone(),
            };
            allowed = Some(match allowed {
                Some(a) => a.intersection(&this).cloned().collect(),
                None => this,
            });
        }
        match allowed {
            // A term that does not mention the OS allows every OS.
            None => return None,
            Some(a) => union.extend(a),
        }
    }
    if union.is_empty() || union == all {
        None
    } else {
        Some(union)
    }
}

/// Collects every OS signal of the pod and decides.
pub fn decide(
    spec: &Value,
    runtime_class: Option<&RuntimeClassInfo>,
    images: &ImageResolutions,
    use_images: bool,
) -> OsDecision {
    let mut signals = Vec::new();
    if let Some(os) = get_str(spec, &["os", "name"]) {
        signals.push(signal(os, format!("spec.os.name={os}")));
    }
    if let Some(rc) = runtime_class {
        if let Some(os) = rc.os() {
            signals.push(signal(
                os,
                format!("RuntimeClass {:?} nodeSelector {LABEL_OS}={os}", rc.name),
            ));
        }
        if let Some(b) = rc.windows_build() {
            signals.push(signal(
                OS_WINDOWS,
                format!(
                    "RuntimeClass {:?} nodeSelector {LABEL_WINDOWS_BUILD}={b}",
                    rc.name
                ),
            ));
        }
    }
    if let Some(os) = get_str(spec, &["nodeSelector", LABEL_OS]) {
        signals.push(signal(os, format!("spec.nodeSelector {LABEL_OS}={os}")));
    }
    if let Some(b) = get_str(spec, &["nodeSelector", LABEL_WINDOWS_BUILD]) {
        signals.push(signal(
            OS_WINDOWS,
            format!("spec.nodeSelector {LABEL_WINDOWS_BUILD}={b}"),
        ));
    }
    if let Some(oses) = affinity_oses(spec) {
        for os in oses {
            signals.push(signal(
                &os,
                format!("required node affinity on {LABEL_OS} allows {os}"),
            ));
        }
    }
    if let Some(w) = get(spec, &["securityContext", "windowsOptions"]).filter(|w| !w.is_null()) {
        let what = if w.get("hostProcess").and_then(Value::as_bool) == Some(true) {
            "spec.securityContext.windowsOptions.hostProcess"
        } else {
            "spec.securityContext.windowsOptions"
        };
        signals.push(signal(OS_WINDOWS, what.to_owned()));
    }
    for c in containers(spec) {
        if get(c.value, &["securityContext", "windowsOptions"]).is_some_and(|w| !w.is_null()) {
            signals.push(signal(
                OS_WINDOWS,
                format!("securityContext.windowsOptions of {}", c.label()),
            ));
        }
    }
    if use_images {
        let mut seen = BTreeSet::new();
        for c in containers(spec) {
            let Some(image) = c.image() else { continue };
            if !seen.insert(image.to_owned()) {
                continue;
            }
            if let Some(ImageLookup::Found(p)) = images.get(image) {
                let oses = p.oses();
                if let [only] = oses.as_slice() {
                    signals.push(OsSignal {
                        os: only.clone(),
                        source: format!("image {image:?} (provides only {only})"),
                        from_image: true,
                    });
                }
            }
        }
    }
    let distinct: BTreeSet<String> = signals.iter().map(|s| s.os.to_ascii_lowercase()).collect();
    let (os, conflict) = match distinct.len() {
        0 => (TargetOs::Unknown, false),
        1 => match distinct.iter().next().map(String::as_str) {
            Some(OS_WINDOWS) => (TargetOs::Windows, false),
            Some(OS_LINUX) => (TargetOs::Linux, false),
            _ => (TargetOs::Unknown, false),
        },
        _ => (TargetOs::Unknown, true),
    };
    OsDecision {
        os,
        signals,
        conflict,
    }
}

/// Images of the pod, deduplicated, in container order.
pub(crate) fn pod_images(spec: &Value) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for image in containers(spec).filter_map(|c| c.image()) {
        // A pod has a handful of images: a linear search beats a set.
        if !out.contains(&image) {
            out.push(image);
        }
    }
    out
}

/// Parses an image, or explains why it cannot be.
pub(crate) fn parse_image(image: &str) -> Result<ImageReference, String> {
    ImageReference::parse(image).map_err(|e| e.to_string())
}
