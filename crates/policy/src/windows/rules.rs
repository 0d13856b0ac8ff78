//! The rules themselves. Each reads the pod as received (plus its RuntimeClass) and
//! reports through [`Ctx`]: violations, warnings, or fixes that become patch operations.
//! What the API server refuses and the pod-security policies live in submodules.

mod api_server;
mod pod_security;

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Toleration;
use serde::Deserialize as _;
use serde_json::{Value, json};
use winkube_api::windows::{
    Isolation, LABEL_ARCH, LABEL_OS, LABEL_WINDOWS_BUILD, OS_LINUX, OS_WINDOWS, WindowsBuild,
    compatible, server_builds,
};

use super::config::{MemoryMode, Mode, OnUnresolved, WindowsPolicyConfig};
use super::gmsa_hook;
use super::os::{self, OsDecision, TargetOs};
use super::pod::{Patcher, containers, get, get_str};
use super::quantity::{self, format_bytes};
use super::view::{
    ImageLookup, ImageResolutions, RuntimeClassInfo, RuntimeClassLookup, WindowsClusterView,
};
use super::{Phase, PolicyName, Violation, WindowsDecision};
use crate::outcome::{Finding, Severity, field_path};

/// Which rule ([`crate::catalog::RULES`]) a finding belongs to, and the pod field it is
/// about.
struct At {
    rule: &'static str,
    field: Option<String>,
}

impl At {
    fn of(rule: &'static str) -> Self {
        At { rule, field: None }
    }

    fn field<S: AsRef<str>>(rule: &'static str, path: &[S]) -> Self {
        At {
            rule,
            field: Some(field_path(path)),
        }
    }

    fn finding(self, severity: Severity, message: String) -> Finding {
        Finding::new(self.rule, severity, message).at(self.field)
    }
}

/// The field an OS signal was read from (`spec.os.name=windows` → `spec.os.name`).
fn signal_field(source: &str) -> Option<String> {
    if source.starts_with("spec.os.name") {
        Some("spec.os.name".into())
    } else if source.starts_with("spec.nodeSelector ") {
        Some(field_path(&["spec", "nodeSelector", LABEL_OS]))
    } else {
        None
    }
}

pub(crate) struct Ctx<'a> {
    spec: &'a Value,
    namespace: &'a str,
    /// A `pods/ephemeralcontainers` update: only what it can add is judged.
    ephemeral_only: bool,
    config: &'a WindowsPolicyConfig,
    view: &'a dyn WindowsClusterView,
    images: &'a ImageResolutions,
    phase: Phase,
    patcher: Patcher<'a>,
    violations: Vec<Violation>,
    warnings: Vec<String>,
    mutations: Vec<String>,
    /// Every violation, warning and fix, with its rule and field.
    findings: Vec<Finding>,
    malformed: Option<String>,
    os: Option<OsDecision>,
    rc: Option<RuntimeClassInfo>,
    /// Record each fix as a finding and a mutation line. Off for an AdmissionReview answer,
    /// which carries neither: the texts of a fix are then never formatted (string formatting
    /// was 12 % of a Windows review's instructions, callgrind, issue 9).
    describe_fixes: bool,
}

impl<'a> Ctx<'a> {
    pub fn new(
        pod: &'a Value,
        spec: &'a Value,
        namespace: &'a str,
        config: &'a WindowsPolicyConfig,
        view: &'a dyn WindowsClusterView,
        images: &'a ImageResolutions,
        phase: Phase,
    ) -> Self {
        Self {
            spec,
            namespace,
            ephemeral_only: false,
            config,
            view,
            images,
            phase,
            patcher: Patcher::new(pod),
            violations: Vec::new(),
            warnings: Vec::new(),
            mutations: Vec::new(),
            findings: Vec::new(),
            malformed: None,
            os: None,
            rc: None,
            describe_fixes: true,
        }
    }

    /// Only what an AdmissionReview answer carries: the patch, warnings and the denial; no
    /// finding or mutation line for a fix made in the mutating phase.
    pub fn answer_only(mut self) -> Self {
        self.describe_fixes = false;
        self
    }

    // --- reporting -------------------------------------------------------------------

    fn warn(&mut self, at: At, policy: PolicyName, msg: impl AsRef<str>) {
        let warning = format!("[winkube {}] {}", policy.as_str(), msg.as_ref());
        self.findings
            .push(at.finding(Severity::Warning, warning.clone()));
        self.warnings.push(warning);
    }

    /// A denial reason.
    fn deny(&mut self, at: At, policy: PolicyName, message: String) {
        self.findings
            .push(at.finding(Severity::Error, format!("[{}] {message}", policy.as_str())));
        self.violations.push(Violation { policy, message });
    }

    /// A finding with no automatic fix: denial in enforce mode, warning in warn mode.
    fn violate(&mut self, at: At, policy: PolicyName, mode: Mode, msg: impl Into<String>) {
        match mode {
            Mode::Enforce => self.deny(at, policy, msg.into()),
            Mode::Warn => self.warn(at, policy, msg.into()),
            Mode::Off => {}
        }
    }

    /// A finding with a fix: patched in enforce mode (denied in the validate phase),
    /// a warning in warn mode. `problem` and `fix` are formatted only when read.
    fn fix(
        &mut self,
        at: At,
        policy: PolicyName,
        mode: Mode,
        problem: impl FnOnce() -> String,
        fix: impl FnOnce() -> String,
        apply: impl FnOnce(&mut Patcher<'a>) -> Result<(), super::pod::PatchError>,
    ) {
        match (mode, self.phase) {
            (Mode::Off, _) => {}
            (Mode::Warn, _) => self.warn(
                at,
                policy,
                format!("{} (enforce mode would {})", problem(), fix()),
            ),
            (Mode::Enforce, Phase::Validate) => self.deny(at, policy, problem()),
            (Mode::Enforce, Phase::Mutate) => match apply(&mut self.patcher) {
                Ok(()) if self.describe_fixes => {
                    let fix = fix();
                    self.findings.push(at.finding(
                        Severity::Note,
                        format!(
                            "[{}] {}; the mutating webhook will {fix}",
                            policy.as_str(),
                            problem()
                        ),
                    ));
                    self.mutations.push(format!("[{}] {fix}", policy.as_str()))
                }
                Ok(()) => {}
                Err(e) => {
                    if self.malformed.is_none() {
                        self.malformed = Some(format!("cannot {}: the pod's {}", fix(), e.0));
                    }
                }
            },
        }
    }

    // --- pod accessors ---------------------------------------------------------------

    /// A node selector value from the pod or its RuntimeClass.
    fn selector(&self, key: &str) -> Option<String> {
        get_str(self.spec, &["nodeSelector", key])
            .map(str::to_owned)
            .or_else(|| {
                self.rc
                    .as_ref()
                    .and_then(|rc| rc.node_selector.get(key).cloned())
            })
    }

    fn tolerations(&self) -> Vec<Toleration> {
        let mut out: Vec<Toleration> = self
            .spec
            .get("tolerations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            // `&Value` is a deserializer: no copy of the toleration first.
            .filter_map(|t| Toleration::deserialize(t).ok())
            .collect();
        if let Some(rc) = &self.rc {
            out.extend(rc.tolerations.iter().cloned());
        }
        out
    }

    fn is_host_process(&self) -> bool {
        let hp = |v: &Value| {
            get(v, &["securityContext", "windowsOptions", "hostProcess"]).and_then(Value::as_bool)
                == Some(true)
        };
        hp(self.spec) || containers(self.spec).any(|c| hp(c.value))
    }

    fn isolation(&self) -> Isolation {
        self.rc
            .as_ref()
            .map(|r| r.isolation)
            .unwrap_or(Isolation::Process)
    }

    // --- the run ---------------------------------------------------------------------

    pub fn run(&mut self) {
        self.load_runtime_class();
        // Whatever the target OS: these read fields only Windows pods use.
        self.api_server();
        self.host_process_namespace();
        self.container_administrator();
        let decision = os::decide(
            self.spec,
            self.rc.as_ref(),
            self.images,
            self.config.images.detect_os,
        );
        self.check_os(&decision);
        let target = decision.os;
        self.os = Some(decision);
        match target {
            TargetOs::Windows => {
                self.scheduling();
                self.memory();
                self.image_tags();
                self.os_build();
                self.gmsa_readiness();
            }
            TargetOs::Linux => self.linux_pinning(),
            TargetOs::Unknown => self.unknown_os(),
        }
    }

    /// A `pods/ephemeralcontainers` update (validating only): the pod's scheduling is
    /// fixed, so only the API server's rules and the pod-security policies apply, to the
    /// ephemeral containers the update can add.
    pub fn run_ephemeral(&mut self) {
        self.ephemeral_only = true;
        self.api_server();
        self.host_process_namespace();
        self.container_administrator();
    }

    /// No OS signal at all. When images could have given one but were not resolved, the
    /// policies were skipped because of a failure, not because the pod is portable: fail
    /// open with a warning (`onUnresolved: allow`) or deny (`deny`), never silently.
    fn unknown_os(&mut self) {
        let Some(decision) = &self.os else { return };
        if decision.conflict || !decision.signals.is_empty() || !self.config.images.detect_os {
            return;
        }
        let unresolved: Vec<String> = os::pod_images(self.spec)
            .into_iter()
            .filter_map(|image| match self.images.get(image) {
                // Unparsable references are not looked up (imageTags reports them).
                None if os::parse_image(image).is_err() => None,
                None => Some(format!("{image:?} (not resolved)")),
                Some(ImageLookup::Unavailable(why)) => Some(format!("{image:?} ({why})")),
                Some(ImageLookup::Found(_)) => None,
            })
            .collect();
        if unresolved.is_empty() {
            return;
        }
        let msg = format!(
            "target OS unknown: the pod has no OS field, selector or windowsOptions, and its image(s) {} could not be resolved; the Windows policies were not applied",
            unresolved.join(", ")
        );
        match self.config.images.on_unresolved {
            OnUnresolved::Allow => self.warn(At::of("windows/os-unknown"), PolicyName::Os, msg),
            OnUnresolved::Deny => {
                let mode = self.config.scheduling.mode;
                self.violate(At::of("windows/os-unknown"), PolicyName::Os, mode, msg);
            }
        }
    }

    pub fn finish(self) -> WindowsDecision {
        let mut d = WindowsDecision::allow();
        d.os = self.os;
        d.warnings = self.warnings;
        d.findings = self.findings;
        if let Some(m) = self.malformed {
            d.allowed = false;
            d.code = 400;
            // Only the warnings stand: nothing is fixed, and the pod is refused as a whole.
            d.findings.retain(|f| f.severity == Severity::Warning);
            d.findings
                .push(At::of("windows/malformed-pod").finding(Severity::Error, m.clone()));
            d.message = m;
            return d;
        }
        if !self.violations.is_empty() {
            // A denied pod is not patched.
            d.findings.retain(|f| f.severity != Severity::Note);
            d.allowed = false;
            d.code = 403;
            d.message = self
                .violations
                .iter()
                .map(|v| format!("[{}] {}", v.policy.as_str(), v.message))
                .collect::<Vec<_>>()
                .join("; ");
            d.violations = self.violations;
            return d;
        }
        d.mutations = self.mutations;
        d.patch = json_patch::Patch(self.patcher.into_ops());
        d
    }

    fn load_runtime_class(&mut self) {
        let Some(name) = get_str(self.spec, &["runtimeClassName"]) else {
            return;
        };
        match self.view.runtime_class(name) {
            RuntimeClassLookup::Found(rc) => self.rc = Some(rc),
            RuntimeClassLookup::NotFound => self.warn(
                At::field("windows/runtimeclass-not-found", &["spec", "runtimeClassName"]),
                PolicyName::Os,
                format!("RuntimeClass {name:?} does not exist; the API server will reject the pod"),
            ),
            RuntimeClassLookup::Unavailable(why) => self.warn(
                At::field("windows/runtimeclass-unavailable", &["spec", "runtimeClassName"]),
                PolicyName::Os,
                format!("RuntimeClass {name:?} could not be read ({why}); its scheduling was not considered"),
            ),
        }
    }

    // --- 1. OS -----------------------------------------------------------------------

    fn check_os(&mut self, d: &OsDecision) {
        let mode = self.config.scheduling.mode;
        for s in d.signals.iter().filter(|s| !s.from_image) {
            if s.os != OS_WINDOWS && s.os != OS_LINUX {
                self.violate(
                    At {
                        rule: "windows/os-invalid",
                        field: signal_field(&s.source),
                    },
                    PolicyName::Os,
                    mode,
                    format!(
                        "{} names OS {:?}, which no node has (the values are lowercase \"windows\" and \"linux\")",
                        s.source, s.os
                    ),
                );
            }
        }
        if d.conflict {
            self.violate(
                At::of("windows/os-conflict"),
                PolicyName::Os,
                mode,
                d.explain(),
            );
        }
        // The RuntimeClass admission plugin rejects pods whose selector disagrees with it.
        if let Some(rc) = &self.rc {
            let mut msgs = Vec::new();
            for (k, v) in &rc.node_selector {
                if let Some(pv) = get_str(self.spec, &["nodeSelector", k])
                    && pv != v
                {
                    msgs.push((k.clone(), format!(
                            "spec.nodeSelector {k}={pv} conflicts with RuntimeClass {:?}, which selects {k}={v}",
                            rc.name
                        )));
                }
            }
            for (k, m) in msgs {
                let at = At::field(
                    "windows/runtimeclass-selector-conflict",
                    &["spec", "nodeSelector", k.as_str()],
                );
                self.violate(at, PolicyName::Os, mode, m);
            }
        }
    }

    // --- 2. scheduling ---------------------------------------------------------------

    fn scheduling(&mut self) {
        let cfg = &self.config.scheduling;
        let mode = cfg.mode;
        if self.selector(LABEL_OS).is_none() {
            self.fix(
                At::field("windows/node-selector", &["spec", "nodeSelector", LABEL_OS]),
                PolicyName::Scheduling,
                mode,
                || format!("this Windows pod has no nodeSelector {LABEL_OS}=windows, so it can be scheduled onto a Linux node"),
                || format!("add nodeSelector {LABEL_OS}=windows"),
                |p| p.set(&["spec", "nodeSelector", LABEL_OS], json!(OS_WINDOWS)),
            );
        }
        if let Some(taint) = cfg.taint.clone()
            && !self.tolerations().iter().any(|t| taint.tolerated_by(t))
        {
            let tol = serde_json::to_value(taint.toleration()).unwrap_or(Value::Null);
            self.fix(
                    At::field("windows/taint-toleration", &["spec", "tolerations"]),
                    PolicyName::Scheduling,
                    mode,
                    || format!("this Windows pod does not tolerate the Windows nodes' taint {taint}, so it cannot be scheduled onto them"),
                    || format!("add a toleration for {taint}"),
                    |p| p.push(&["spec", "tolerations"], tol),
                );
        }
        if cfg.set_os_name && get_str(self.spec, &["os", "name"]).is_none() {
            self.fix(
                At::field("windows/os-name", &["spec", "os", "name"]),
                PolicyName::Scheduling,
                mode,
                || "this Windows pod has no spec.os.name".to_owned(),
                || "set spec.os.name=windows".to_owned(),
                |p| p.set(&["spec", "os", "name"], json!(OS_WINDOWS)),
            );
        }
    }

    fn linux_pinning(&mut self) {
        let mode = self.config.linux_pinning.mode;
        if mode == Mode::Off || self.selector(LABEL_OS).is_some() {
            return;
        }
        let why = self
            .os
            .as_ref()
            .map(OsDecision::explain)
            .unwrap_or_default();
        self.fix(
            At::field("windows/linux-pinning", &["spec", "nodeSelector", LABEL_OS]),
            PolicyName::LinuxPinning,
            mode,
            || format!("this pod targets Linux ({why}) but has no nodeSelector {LABEL_OS}=linux, so it can land on an untainted Windows node"),
            || format!("add nodeSelector {LABEL_OS}=linux"),
            |p| p.set(&["spec", "nodeSelector", LABEL_OS], json!(OS_LINUX)),
        );
    }

    // --- 3. memory -------------------------------------------------------------------

    fn memory_violation(&mut self, at: At, mode: MemoryMode, msg: String) {
        match mode {
            MemoryMode::Deny | MemoryMode::Default => self.deny(at, PolicyName::Memory, msg),
            MemoryMode::Warn => self.warn(at, PolicyName::Memory, msg),
            MemoryMode::Off => {}
        }
    }

    /// Checks one memory value; returns its size in bytes when it is usable.
    fn check_memory_value(
        &mut self,
        mode: MemoryMode,
        who: &dyn std::fmt::Display,
        what: &str,
        field: &[&str],
        raw: &Value,
    ) -> Option<u64> {
        let at = |rule| At::field(rule, field);
        let floor = self.config.memory.floor;
        let text: std::borrow::Cow<'_, str> = match raw {
            Value::String(s) => s.into(),
            other => other.to_string().into(),
        };
        let q = match quantity::parse(&text) {
            Ok(q) => q,
            Err(e) => {
                self.memory_violation(
                    at("windows/memory-invalid"),
                    mode,
                    format!("{who}: memory {what} {e}"),
                );
                return None;
            }
        };
        if q.is_millis() {
            let n = text.trim_end_matches(['m', 'u', 'n']);
            self.memory_violation(
                at("windows/memory-milli"),
                mode,
                format!(
                    "{who}: memory {what} {text:?} is {} bytes: '{}' means milli, not mega; did you mean {n}Mi?",
                    q.value,
                    &text[n.len()..]
                ),
            );
            return None;
        }
        let bytes = q.bytes_ceil();
        if bytes < floor {
            let hint = if q.suffix.is_empty() && bytes < 1 << 20 {
                format!(" ({text} is bytes; did you mean {text}Mi?)")
            } else {
                String::new()
            };
            self.memory_violation(
                at("windows/memory-floor"),
                mode,
                format!(
                    "{who}: memory {what} {text} is below the Windows floor of {}{hint}: every Windows container runs its own system services",
                    format_bytes(floor)
                ),
            );
        }
        Some(bytes)
    }

    fn memory(&mut self) {
        let mode = self.config.memory.mode;
        if mode == MemoryMode::Off || self.is_host_process() {
            // HostProcess containers run on the host, without a container's own services.
            return;
        }
        let floor = self.config.memory.floor;
        let spec = self.spec;
        for c in containers(spec) {
            if c.list == "ephemeralContainers" {
                continue; // they cannot have resources
            }
            let who = c.label();
            let index = c.index.to_string();
            let (list, index) = (c.list, index.as_str());
            let request_field = ["spec", list, index, "resources", "requests", "memory"];
            let limit_field = ["spec", list, index, "resources", "limits", "memory"];
            let request =
                get(c.value, &["resources", "requests", "memory"]).filter(|v| !v.is_null());
            let limit = get(c.value, &["resources", "limits", "memory"]).filter(|v| !v.is_null());
            let req_bytes = request
                .and_then(|r| self.check_memory_value(mode, &who, "request", &request_field, r));
            match limit {
                Some(l) => {
                    self.check_memory_value(mode, &who, "limit", &limit_field, l);
                }
                None => {
                    let problem = format!(
                        "{who} has no memory limit: Windows has no OOM killer, so one container can exhaust the node (the floor is {})",
                        format_bytes(floor)
                    );
                    if mode == MemoryMode::Default {
                        let value = format_bytes(req_bytes.unwrap_or(0).max(floor));
                        self.fix(
                            At::field("windows/memory-limit-missing", &limit_field),
                            PolicyName::Memory,
                            Mode::Enforce,
                            || problem,
                            || format!("set the memory limit of {who} to {value}"),
                            |p| {
                                p.set(
                                    &["spec", list, index, "resources", "limits", "memory"],
                                    json!(value),
                                )
                            },
                        );
                    } else {
                        self.memory_violation(
                            At::field("windows/memory-limit-missing", &limit_field),
                            mode,
                            problem,
                        );
                    }
                }
            }
        }
    }

    // --- 4. image tags ---------------------------------------------------------------

    fn image_tags(&mut self) {
        let mode = self.config.image_tags.mode;
        if mode == Mode::Off {
            return;
        }
        let spec = self.spec;
        for c in containers(spec) {
            let who = c.label();
            let Some(image) = c.image() else { continue };
            let index = c.index.to_string();
            let at = |rule| At::field(rule, &["spec", c.list, index.as_str(), "image"]);
            match os::parse_image(image) {
                Err(e) => self.violate(
                    at("windows/image-reference-invalid"),
                    PolicyName::ImageTags,
                    mode,
                    format!("{who}: {e}"),
                ),
                Ok(r) if r.is_floating() => {
                    let what = if r.tag.is_none() {
                        "has no tag"
                    } else {
                        "uses the tag latest"
                    };
                    self.violate(
                        at("windows/image-tag-floating"),
                        PolicyName::ImageTags,
                        mode,
                        format!(
                            "{who}: image {image:?} {what}; a Windows image must match the node's Windows build, so use a versioned tag (such as ltsc2022) or pin a digest"
                        ),
                    );
                }
                Ok(_) => {}
            }
        }
    }

    // --- 5. OS-build compatibility -----------------------------------------------------

    fn os_build(&mut self) {
        let mode = self.config.os_build.mode;
        if mode == Mode::Off || self.is_host_process() {
            // HostProcess images are not subject to host/guest build matching.
            return;
        }
        let isolation = self.isolation();
        let arch = self
            .selector(LABEL_ARCH)
            .unwrap_or_else(|| self.config.os_build.architecture.clone());
        // Per image: None = runs on any build; Some(builds) = one of these builds.
        let mut needs: Vec<(&str, Option<BTreeSet<WindowsBuild>>)> = Vec::new();
        let mut unresolved = Vec::new();
        for image in os::pod_images(self.spec) {
            match self.images.get(image) {
                None => unresolved.push(format!("{image:?} (not resolved)")),
                Some(ImageLookup::Unavailable(why)) => {
                    unresolved.push(format!("{image:?} ({why})"))
                }
                Some(ImageLookup::Found(p)) => {
                    let windows: Vec<_> = p.platforms.iter().filter(|x| x.is_windows()).collect();
                    if windows.is_empty() {
                        let provides: Vec<String> = p
                            .platforms
                            .iter()
                            .map(|x| format!("{}/{}", x.os, x.architecture))
                            .collect();
                        self.violate(
                            At {
                                rule: "windows/image-not-windows",
                                field: image_field(self.spec, image),
                            },
                            PolicyName::OsBuild,
                            mode,
                            format!(
                                "image {image:?} has no Windows platform (it provides {})",
                                if provides.is_empty() {
                                    "nothing".into()
                                } else {
                                    provides.join(", ")
                                }
                            ),
                        );
                        continue;
                    }
                    let of_arch: Vec<_> = windows
                        .iter()
                        .filter(|x| x.architecture.eq_ignore_ascii_case(&arch))
                        .collect();
                    if of_arch.is_empty() {
                        self.violate(
                            At {
                                rule: "windows/image-arch",
                                field: image_field(self.spec, image),
                            },
                            PolicyName::OsBuild,
                            mode,
                            format!("image {image:?} has no windows/{arch} platform"),
                        );
                        continue;
                    }
                    let builds: Option<BTreeSet<WindowsBuild>> =
                        of_arch.iter().map(|x| x.windows_build()).collect();
                    needs.push((image, builds));
                }
            }
        }
        if !unresolved.is_empty() {
            let msg = format!(
                "could not resolve the Windows build of image(s) {}; OS-build compatibility was not checked",
                unresolved.join(", ")
            );
            match self.config.images.on_unresolved {
                OnUnresolved::Allow => self.warn(
                    At::of("windows/image-build-unresolved"),
                    PolicyName::OsBuild,
                    msg,
                ),
                OnUnresolved::Deny => self.violate(
                    At::of("windows/image-build-unresolved"),
                    PolicyName::OsBuild,
                    mode,
                    msg,
                ),
            }
        }
        let constrained: Vec<(&str, BTreeSet<WindowsBuild>)> = needs
            .into_iter()
            .filter_map(|(i, b)| b.map(|b| (i, b)))
            .collect();
        if constrained.is_empty() {
            return;
        }
        let nodes = self.view.windows_node_builds();
        let mut universe: BTreeSet<WindowsBuild> = server_builds().collect();
        universe.extend(nodes.builds.keys().copied());
        for (_, b) in &constrained {
            universe.extend(b.iter().copied());
        }
        let fits = |host: WindowsBuild| {
            constrained
                .iter()
                .all(|(_, bs)| bs.iter().any(|&b| compatible(isolation, host, b)))
        };
        let fitting: BTreeSet<WindowsBuild> =
            universe.iter().copied().filter(|&h| fits(h)).collect();
        let describe = |set: &BTreeSet<WindowsBuild>| {
            set.iter()
                .map(|b| b.describe())
                .collect::<Vec<_>>()
                .join(", ")
        };
        // For messages only: formatted when one is.
        let image_needs = || {
            constrained
                .iter()
                .map(|(i, b)| {
                    let v: Vec<String> = b.iter().map(|x| x.to_string()).collect();
                    format!("{i:?} is built for {}", v.join(" or "))
                })
                .collect::<Vec<_>>()
                .join("; ")
        };

        let build_selector = ["spec", "nodeSelector", LABEL_WINDOWS_BUILD];
        if let Some(pinned) = self.selector(LABEL_WINDOWS_BUILD) {
            let Ok(pb) = WindowsBuild::parse(&pinned) else {
                self.violate(
                    At::field("windows/build-selector-invalid", &build_selector),
                    PolicyName::OsBuild,
                    mode,
                    format!("nodeSelector {LABEL_WINDOWS_BUILD}={pinned:?} is not a Windows build (expected major.minor.build such as 10.0.20348)"),
                );
                return;
            };
            if !fitting.contains(&pb) {
                self.violate(
                    At::field("windows/build-selector-mismatch", &build_selector),
                    PolicyName::OsBuild,
                    mode,
                    format!(
                        "the pod selects {LABEL_WINDOWS_BUILD}={pinned}, but its images cannot run there under {isolation} isolation ({}){}",
                        image_needs(),
                        if fitting.is_empty() { String::new() } else { format!("; hosts that fit: {}", describe(&fitting)) }
                    ),
                );
            } else if nodes.known && !nodes.builds.contains_key(&pb) {
                self.warn(
                    At::field("windows/build-no-node", &build_selector),
                    PolicyName::OsBuild,
                    format!("no Windows node of build {} exists yet; the pod stays Pending until one joins", pb.describe()),
                );
            }
            return;
        }
        if fitting.is_empty() {
            self.violate(
                At::of("windows/build-incompatible"),
                PolicyName::OsBuild,
                mode,
                format!("no Windows build can run all of this pod's images under {isolation} isolation: {}", image_needs()),
            );
            return;
        }
        let node_set = nodes.set();
        let fitting_nodes: BTreeSet<WindowsBuild> =
            fitting.intersection(&node_set).copied().collect();
        if nodes.known && fitting_nodes.is_empty() {
            self.warn(
                At::of("windows/build-no-node"),
                PolicyName::OsBuild,
                format!(
                    "no Windows node can run this pod's images yet ({}); it needs a node of build {} and stays Pending until one joins",
                    image_needs(),
                    describe(&fitting)
                ),
            );
        }
        let target = if fitting_nodes.is_empty() {
            &fitting
        } else {
            &fitting_nodes
        };
        if target.len() == 1 {
            let only = target
                .iter()
                .next()
                .copied()
                .unwrap_or(WindowsBuild::ten(0));
            let value = only.to_string();
            self.fix(
                At::field("windows/build-not-selected", &build_selector),
                PolicyName::OsBuild,
                mode,
                || format!("this pod's images run only on Windows build {} ({}) but the pod does not select it", only.describe(), image_needs()),
                || format!("add nodeSelector {LABEL_WINDOWS_BUILD}={value}"),
                |p| p.set(&["spec", "nodeSelector", LABEL_WINDOWS_BUILD], json!(value)),
            );
        } else if nodes.known && node_set.iter().any(|b| !fitting.contains(b)) {
            // Several builds fit but some nodes do not: restrict with required affinity.
            let values: Vec<String> = fitting_nodes.iter().map(|b| b.to_string()).collect();
            let unfit: BTreeSet<WindowsBuild> = node_set.difference(&fitting).copied().collect();
            let spec = self.spec;
            self.fix(
                At::field(
                    "windows/build-affinity",
                    &[
                        "spec",
                        "affinity",
                        "nodeAffinity",
                        "requiredDuringSchedulingIgnoredDuringExecution",
                    ],
                ),
                PolicyName::OsBuild,
                mode,
                || format!(
                    "this pod's images cannot run on the cluster's Windows nodes of build {} ({}) and nothing keeps it off them",
                    describe(&unfit),
                    image_needs()
                ),
                || format!("require node affinity {LABEL_WINDOWS_BUILD} in [{}]", values.join(", ")),
                |p| add_build_affinity(p, spec, &values),
            );
        }
    }

    // --- 7. gMSA domain readiness ------------------------------------------------------

    fn gmsa_readiness(&mut self) {
        let cfg = self.config.gmsa_domain_readiness.clone();
        if cfg.mode == Mode::Off {
            return;
        }
        let spec = self.spec;
        let pod_gmsa = gmsa_hook::gmsa_of(spec);
        for c in containers(spec) {
            if c.list != "containers" {
                continue; // init and ephemeral containers have no postStart hook
            }
            let Some(gmsa) = gmsa_hook::gmsa_of(c.value).or_else(|| pod_gmsa.clone()) else {
                continue;
            };
            if get(c.value, &["lifecycle", "postStart"]).is_some_and(|v| !v.is_null()) {
                continue; // never replace the pod's own hook
            }
            let who = c.label();
            let hook = gmsa_hook::post_start(&gmsa, &cfg);
            let index = c.index.to_string();
            self.fix(
                At::field(
                    "windows/gmsa-domain-readiness",
                    &["spec", "containers", index.as_str(), "lifecycle", "postStart"],
                ),
                PolicyName::GmsaDomainReadiness,
                cfg.mode,
                || format!("{who} uses gMSA but nothing waits for its domain trust before the workload starts"),
                || format!("add a postStart hook to {who} that waits for the domain trust (nltest /sc_verify), restarting Netlogon between tries, for at most {}s", cfg.timeout_seconds),
                |p| p.set(&["spec", "containers", index.as_str(), "lifecycle", "postStart"], hook),
            );
        }
    }
}

/// The field of the first container running `image` (`spec.containers[0].image`).
fn image_field(spec: &Value, image: &str) -> Option<String> {
    containers(spec)
        .find(|c| c.image() == Some(image))
        .map(|c| field_path(&["spec", c.list, &c.index.to_string(), "image"]))
}

/// Adds `windows-build In values` to the pod's required node affinity: to every existing
/// term (terms are ORed, so each must carry it), or as the only term.
fn add_build_affinity(
    p: &mut Patcher<'_>,
    spec: &Value,
    values: &[String],
) -> Result<(), super::pod::PatchError> {
    let expr = json!({"key": LABEL_WINDOWS_BUILD, "operator": "In", "values": values});
    let base = [
        "spec",
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
        "nodeSelectorTerms",
    ];
    let terms = get(
        spec,
        &[
            "affinity",
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
            "nodeSelectorTerms",
        ],
    )
    .and_then(Value::as_array)
    .cloned()
    .unwrap_or_default();
    if terms.is_empty() {
        return p.push(&base, json!({"matchExpressions": [expr]}));
    }
    for i in 0..terms.len() {
        let idx = i.to_string();
        let mut path: Vec<&str> = base.to_vec();
        path.push(idx.as_str());
        path.push("matchExpressions");
        p.push(&path, expr.clone())?;
    }
    Ok(())
}
