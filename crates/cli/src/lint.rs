//! `winkube lint`: the admission decision reported per object, never the manifests.

use std::fmt::Write;
use std::process::ExitCode;

use clap::Args;

use serde_json::Value;

use crate::admit::Target;
use crate::evaluate::{self, EvalArgs, Evaluated};

/// The gMSA phase's changes, one line per JSON Patch operation (`add /spec/hostname`).
fn gmsa_changes(before: &Value, after: &Value) -> Vec<String> {
    let patch = json_patch::diff(before, after);
    patch
        .0
        .iter()
        .filter_map(|op| serde_json::to_value(op).ok())
        .map(|op| {
            format!(
                "[gmsa] {} {}",
                op["op"].as_str().unwrap_or("?"),
                op["path"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

/// The report of one object: header, target OS, changes, warnings, result.
pub fn report(target: &Target, result: &Evaluated) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: {}", target.location, target.label);
    let windows = result.windows.as_ref();
    match windows.and_then(|w| w.mutate.os.as_ref()) {
        Some(os) => {
            let _ = writeln!(out, "  target OS: {}", os.explain());
        }
        None if windows.is_some() => {
            let _ = writeln!(
                out,
                "  target OS: not checked (namespace {:?} is exempt from the Windows policies)",
                target.namespace
            );
        }
        None => {}
    }
    let mut changes = Vec::new();
    if result.gmsa.admitted.allowed {
        changes.extend(gmsa_changes(&target.pod, &result.gmsa.admitted.pod));
    }
    if let Some(w) = windows
        && w.mutate.allowed
    {
        changes.extend(w.mutate.mutations.iter().cloned());
    }
    let denial = result.denial();
    let verb = if denial.is_some() {
        "would change (if admitted)"
    } else {
        "would change"
    };
    for c in &changes {
        let _ = writeln!(out, "  {verb}: {c}");
    }
    for w in result.warnings() {
        let _ = writeln!(out, "  warning: {w}");
    }
    match denial {
        Some((code, message)) => {
            let _ = writeln!(out, "  result: denied ({code}): {message}");
        }
        None if changes.is_empty() => {
            let _ = writeln!(out, "  result: admitted unchanged");
        }
        None => {
            let _ = writeln!(
                out,
                "  result: admitted with {} change{}",
                changes.len(),
                if changes.len() == 1 { "" } else { "s" }
            );
        }
    }
    out
}

pub const ABOUT: &str =
    "Report what admission (gMSA, Windows policies) would do to manifests, without printing them";

pub const LONG: &str = "\
Report what admission would do to manifests, without a cluster and without printing any
manifest: the same inputs and evaluation as `winkube admit` (files, directories, `-`,
-f/--filename, `helm template` streams; gMSA admission, then the Windows workload policies
from --policy FILE, with image metadata from the registry or the state directory's
images.yaml), printed per pod or workload: the target OS and the signals it was decided
from, the changes the mutating phase would make to the pod (for a workload, to each pod
it creates), warnings, and the denial if any. Other objects are counted as skipped;
cluster state among them is used as well as --state.

Exit codes: 0 nothing would be denied, 1 at least one object would be denied, 2 bad usage
or input (a file that does not parse is named with its line; the rest is still checked).";

pub const EXAMPLES: &str = "\
Examples:
  winkube lint --state examples/state examples/windows/
  winkube lint --state cluster-state/ --policy policy.yaml --offline -R -f k8s/
  helm template my-release ./chart | winkube lint --state cluster-state/ -";

/// Flags of `winkube lint`.
#[derive(Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub eval: EvalArgs,
}

pub fn run(args: LintArgs) -> ExitCode {
    let (loaded, runtime) = match evaluate::prepare(&args.eval) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut report = String::new();
    let (mut objects, mut denied, mut others, mut state) = (0usize, 0usize, 0usize, 0usize);
    for input in &loaded.inputs {
        others += input.others;
        state += input.state;
        for (_, target) in &input.targets {
            objects += 1;
            let result = runtime.block_on(evaluate::evaluate(&loaded, target, None));
            if result.denial().is_some() {
                denied += 1;
            }
            report.push_str(&self::report(target, &result));
        }
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    report.push_str(&format!(
        "{objects} object{} checked, {denied} would be denied",
        plural(objects)
    ));
    if others > 0 {
        report.push_str(&format!(
            ", {others} other object{} skipped (not pods or workloads",
            plural(others)
        ));
        if state > 0 {
            report.push_str(&format!("; {state} read as cluster state"));
        }
        report.push(')');
    }
    if !loaded.input_errors.is_empty() {
        report.push_str(&format!(
            ", {} input error{}",
            loaded.input_errors.len(),
            plural(loaded.input_errors.len())
        ));
    }
    report.push('\n');
    if let Err(code) = evaluate::write_stdout(&report) {
        return code;
    }
    evaluate::exit_code(&loaded, denied)
}
