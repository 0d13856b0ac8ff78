//! The Windows workload policies in `winkube admit` and `winkube lint`: the policy file,
//! image metadata (registry first, pinned metadata from the state directory as the
//! fallback, or pinned metadata only with `--offline`), and the two admission phases.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::Value;
use winkube_policy::windows::{
    MemoryMode, Mode, Phase, WindowsDecision, WindowsPolicyConfig, evaluate, images_to_resolve,
};
use winkube_policy::{Finding, Severity};
use winkube_registry::{Resolver, resolve_images};

use crate::documents::InputError;
use crate::registry::RegistryArgs;
use winkube_state::FileView;

/// Flags of the Windows policies, shared by `admit` and `lint`.
#[derive(Args, Clone, Debug)]
pub struct PolicyArgs {
    /// Windows policy file (YAML; see docs/windows-policies.md). Default: scheduling and
    /// OS-build compatibility enforce, memory and image tags warn, the rest off
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Never ask a registry: image metadata comes only from the state directory's images.yaml
    #[arg(long)]
    pub offline: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `4s`, `500ms`, `1m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (such as 4s or 500ms)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 600.0 {
        return Err(format!("{s:?} must be more than 0 and at most 10m"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Reads the policy file; an empty file, or none, gives the defaults.
pub fn load_policy(path: Option<&PathBuf>) -> Result<WindowsPolicyConfig, InputError> {
    let Some(path) = path else {
        return Ok(WindowsPolicyConfig::default());
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        InputError(format!(
            "--policy {}: cannot read file: {e}",
            path.display()
        ))
    })?;
    WindowsPolicyConfig::from_yaml(&text)
        .map_err(|e| InputError(format!("--policy {}: {e}", path.display())))
}

/// True when no Windows policy would do anything: the evaluation is skipped entirely.
pub fn all_off(cfg: &WindowsPolicyConfig) -> bool {
    cfg.scheduling.mode == Mode::Off
        && cfg.linux_pinning.mode == Mode::Off
        && cfg.memory.mode == MemoryMode::Off
        && cfg.image_tags.mode == Mode::Off
        && cfg.os_build.mode == Mode::Off
        && cfg.gmsa_domain_readiness.mode == Mode::Off
}

/// The registry resolver of `admit` and `lint`: `None` with `--offline` (pinned metadata
/// only).
pub fn resolver(args: &PolicyArgs) -> Result<Option<Resolver>, InputError> {
    if args.offline {
        return Ok(None);
    }
    args.registry.resolver(None).map(Some).map_err(InputError)
}

/// The Windows policies' result for one pod.
#[derive(Debug)]
pub struct WindowsOutcome {
    pub mutate: WindowsDecision,
    /// `None` when the mutating phase already denied.
    pub validate: Option<WindowsDecision>,
    /// The pod after the mutating phase's patch (the input pod when denied).
    pub pod: Value,
    /// Image-metadata warnings, the policies' warnings and the denial, finding by finding:
    /// image metadata, the mutating phase's (its fixes as notes), then the validating
    /// phase's new ones.
    pub findings: Vec<Finding>,
}

impl WindowsOutcome {
    /// `Some((code, message))` when the pod is denied.
    pub fn denial(&self) -> Option<(u16, &str)> {
        if !self.mutate.allowed {
            return Some((self.mutate.code, &self.mutate.message));
        }
        match &self.validate {
            Some(v) if !v.allowed => Some((v.code, &v.message)),
            _ => None,
        }
    }
}

/// Resolves the pod's images and runs both phases: mutate (patch applied), then validate.
pub async fn admit(
    pod: &Value,
    namespace: &str,
    cfg: &WindowsPolicyConfig,
    view: &FileView,
    resolver: Option<&Resolver>,
) -> WindowsOutcome {
    let requests = images_to_resolve(pod, namespace, cfg);
    // No overall deadline: each lookup is bounded by --registry-timeout.
    let (resolutions, warnings) = resolve_images(resolver, view, &requests, namespace, None).await;
    let mut findings: Vec<Finding> = warnings
        .iter()
        .map(|w| Finding::new("windows/image-metadata", Severity::Warning, w.clone()))
        .collect();
    let mutate = evaluate(pod, namespace, cfg, view, &resolutions, Phase::Mutate);
    findings.extend(mutate.findings.iter().cloned());
    if !mutate.allowed {
        return WindowsOutcome {
            mutate,
            validate: None,
            pod: pod.clone(),
            findings,
        };
    }
    let mut patched = pod.clone();
    if let Err(e) = json_patch::patch(&mut patched, &mutate.patch) {
        // The policies build the patch against this very pod: failing to apply it is a
        // bug, reported as the API server would (500), never half-applied.
        let mut mutate = mutate;
        mutate.allowed = false;
        mutate.code = 500;
        mutate.message = format!("internal error: the Windows policies' patch does not apply: {e}");
        findings.retain(|f| f.severity != Severity::Note);
        findings.push(Finding::new(
            "windows/malformed-pod",
            Severity::Error,
            mutate.message.clone(),
        ));
        return WindowsOutcome {
            mutate,
            validate: None,
            pod: pod.clone(),
            findings,
        };
    }
    let validate = evaluate(
        &patched,
        namespace,
        cfg,
        view,
        &resolutions,
        Phase::Validate,
    );
    for f in &validate.findings {
        if !findings.contains(f) {
            findings.push(f.clone());
        }
    }
    WindowsOutcome {
        mutate,
        validate: Some(validate),
        pod: patched,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("4s").unwrap(), Duration::from_secs(4));
        assert_eq!(parse_duration("4").unwrap(), Duration::from_secs(4));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("4h").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn all_off_only_when_every_policy_is_off() {
        assert!(!all_off(&WindowsPolicyConfig::default()));
        let off = WindowsPolicyConfig::from_yaml(
            "scheduling: {mode: off}\nmemory: {mode: off}\nimageTags: {mode: off}\nosBuild: {mode: off}\n",
        )
        .unwrap();
        assert!(all_off(&off));
        let mut one = off.clone();
        one.linux_pinning.mode = Mode::Enforce;
        assert!(!all_off(&one));
    }
}
