//! RuntimeClass generation for process and Hyper-V isolation per build.

use std::collections::BTreeMap;

use k8s_openapi::api::node::v1::{Overhead, RuntimeClass, Scheduling};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{
    ANNOTATION_BUILD, DEFAULT_HYPERV_HANDLER, DEFAULT_PROCESS_HANDLER, Isolation, LABEL_ARCH,
    LABEL_ISOLATION, LABEL_OS, LABEL_WINDOWS_BUILD, OS_WINDOWS, Taint, WindowsBuild, WindowsError,
};

/// Options for [`generate_runtime_classes`].
#[derive(Clone, Debug)]
pub struct RuntimeClassOptions {
    /// Builds to generate classes for.
    pub builds: Vec<WindowsBuild>,
    /// Handler for process isolation.
    pub process_handler: String,
    /// Handler for Hyper-V isolation; `{build}` is replaced by the build number
    /// (`runhcs-wcow-hypervisor-{build}` → `runhcs-wcow-hypervisor-17763`).
    pub hyperv_handler: String,
    /// Generate the process-isolation classes.
    pub process: bool,
    /// Generate the Hyper-V classes.
    pub hyperv: bool,
    /// The Windows taint to tolerate; `None` when Windows nodes are not tainted.
    pub taint: Option<Taint>,
    /// Pod overhead of a Hyper-V pod (its utility VM).
    pub hyperv_overhead_memory: String,
    pub hyperv_overhead_cpu: String,
    /// Node architecture (`kubernetes.io/arch`).
    pub architecture: String,
}

impl Default for RuntimeClassOptions {
    fn default() -> Self {
        Self {
            builds: vec![
                WindowsBuild::ten(17763),
                WindowsBuild::ten(20348),
                WindowsBuild::ten(26100),
            ],
            process_handler: DEFAULT_PROCESS_HANDLER.into(),
            hyperv_handler: DEFAULT_HYPERV_HANDLER.into(),
            process: true,
            hyperv: true,
            taint: Some(Taint::default()),
            hyperv_overhead_memory: "512Mi".into(),
            hyperv_overhead_cpu: "100m".into(),
            architecture: "amd64".into(),
        }
    }
}

/// The name winkube gives a build in resource names: the release short name, else the
/// build number.
pub fn build_slug(build: WindowsBuild) -> String {
    match build.release() {
        Some(r) => r.short.to_owned(),
        None => build.build.to_string(),
    }
}

/// Name of the generated RuntimeClass for a build and isolation:
/// `windows-2019` (process) and `windows-2019-hyperv`.
pub fn runtime_class_name(build: WindowsBuild, isolation: Isolation) -> String {
    match isolation {
        Isolation::Process => format!("windows-{}", build_slug(build)),
        Isolation::HyperV => format!("windows-{}-hyperv", build_slug(build)),
    }
}

fn valid_handler(h: &str) -> bool {
    // RuntimeClass handler: a DNS-1123 label.
    crate::names::is_dns1123_label(h)
}

/// Generates RuntimeClasses: per build, a process-isolation class pinned to nodes of that
/// build, and a Hyper-V class that runs images of that build on any Windows node of that
/// build or newer, with the utility VM's overhead.
pub fn generate_runtime_classes(
    opts: &RuntimeClassOptions,
) -> Result<Vec<RuntimeClass>, WindowsError> {
    let mut out = Vec::new();
    let mut builds = opts.builds.clone();
    builds.sort();
    builds.dedup();
    for b in builds {
        let tolerations = opts.taint.as_ref().map(|t| vec![t.toleration()]);
        let meta = |iso: Isolation| ObjectMeta {
            name: Some(runtime_class_name(b, iso)),
            labels: Some(BTreeMap::from([
                (LABEL_ISOLATION.to_owned(), iso.to_string()),
                (
                    "app.kubernetes.io/managed-by".to_owned(),
                    "winkube".to_owned(),
                ),
            ])),
            annotations: Some(BTreeMap::from([(
                ANNOTATION_BUILD.to_owned(),
                b.to_string(),
            )])),
            ..Default::default()
        };
        if opts.process {
            if !valid_handler(&opts.process_handler) {
                return Err(WindowsError::InvalidHandler(
                    opts.process_handler.clone(),
                    "a handler must be a DNS-1123 label".into(),
                ));
            }
            out.push(RuntimeClass {
                metadata: meta(Isolation::Process),
                handler: opts.process_handler.clone(),
                overhead: None,
                scheduling: Some(Scheduling {
                    node_selector: Some(BTreeMap::from([
                        (LABEL_OS.to_owned(), OS_WINDOWS.to_owned()),
                        (LABEL_ARCH.to_owned(), opts.architecture.clone()),
                        (LABEL_WINDOWS_BUILD.to_owned(), b.to_string()),
                    ])),
                    tolerations: tolerations.clone(),
                }),
            });
        }
        if opts.hyperv {
            let handler = opts.hyperv_handler.replace("{build}", &b.build.to_string());
            if !valid_handler(&handler) {
                return Err(WindowsError::InvalidHandler(
                    opts.hyperv_handler.clone(),
                    "after replacing {build}, a handler must be a DNS-1123 label".into(),
                ));
            }
            out.push(RuntimeClass {
                metadata: meta(Isolation::HyperV),
                handler,
                overhead: Some(Overhead {
                    pod_fixed: Some(BTreeMap::from([
                        (
                            "memory".to_owned(),
                            Quantity(opts.hyperv_overhead_memory.clone()),
                        ),
                        ("cpu".to_owned(), Quantity(opts.hyperv_overhead_cpu.clone())),
                    ])),
                }),
                // No build pin: Hyper-V runs this build on any newer host; the policy adds
                // a build selector when only one node build fits.
                scheduling: Some(Scheduling {
                    node_selector: Some(BTreeMap::from([
                        (LABEL_OS.to_owned(), OS_WINDOWS.to_owned()),
                        (LABEL_ARCH.to_owned(), opts.architecture.clone()),
                    ])),
                    tolerations,
                }),
            });
        }
    }
    Ok(out)
}

/// Decides a RuntimeClass's isolation: winkube's label when present, else a handler that
/// is listed in `hyperv_handlers` or names the hypervisor (`runhcs-wcow-hypervisor*`).
pub fn runtime_class_isolation(rc: &RuntimeClass, hyperv_handlers: &[String]) -> Isolation {
    let label = rc
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_ISOLATION));
    match label.map(String::as_str) {
        Some("hyperv") => return Isolation::HyperV,
        Some("process") => return Isolation::Process,
        _ => {}
    }
    if hyperv_handlers.iter().any(|h| h == &rc.handler) || rc.handler.contains("hypervisor") {
        Isolation::HyperV
    } else {
        Isolation::Process
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn runtime_classes() {
        let opts = RuntimeClassOptions {
            hyperv_handler: "runhcs-wcow-hypervisor-{build}".into(),
            ..Default::default()
        };
        let rcs = generate_runtime_classes(&opts).unwrap();
        assert_eq!(rcs.len(), 6);
        let p = &rcs[0];
        assert_eq!(p.metadata.name.as_deref(), Some("windows-2019"));
        assert_eq!(p.handler, "runhcs-wcow-process");
        let sel = p
            .scheduling
            .as_ref()
            .unwrap()
            .node_selector
            .as_ref()
            .unwrap();
        assert_eq!(sel[LABEL_WINDOWS_BUILD], "10.0.17763");
        assert_eq!(runtime_class_isolation(p, &[]), Isolation::Process);
        let h = &rcs[1];
        assert_eq!(h.metadata.name.as_deref(), Some("windows-2019-hyperv"));
        assert_eq!(h.handler, "runhcs-wcow-hypervisor-17763");
        let oh = h.overhead.as_ref().unwrap().pod_fixed.as_ref().unwrap();
        assert_eq!(oh["memory"].0, "512Mi");
        assert_eq!(runtime_class_isolation(h, &[]), Isolation::HyperV);
        let bad = RuntimeClassOptions {
            hyperv_handler: "Bad_Handler".into(),
            ..Default::default()
        };
        assert!(generate_runtime_classes(&bad).is_err());
        // A class named for Hyper-V but using the process handler is process isolation.
        let odd = RuntimeClass {
            metadata: ObjectMeta {
                name: Some("runhcs-wcow-hypervisor".into()),
                ..Default::default()
            },
            handler: "runhcs-wcow-process".into(),
            ..Default::default()
        };
        assert_eq!(runtime_class_isolation(&odd, &[]), Isolation::Process);
        assert_eq!(
            runtime_class_isolation(&odd, &["runhcs-wcow-process".into()]),
            Isolation::HyperV
        );
    }
}
