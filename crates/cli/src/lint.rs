//! `winkube lint`: the admission decision reported per object, never the manifests.

use std::fmt::Write;
use std::process::ExitCode;

use clap::Args;

use serde_json::Value;

use winkube_policy::Severity;

use crate::admit::Target;
use crate::evaluate::{self, EvalArgs, Evaluated};
use crate::findings::{self, Counts, Format, ObjectSummary, ReportArgs, Reported};

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

/// How the text report paints: plain, or ANSI colours for a terminal.
#[derive(Clone, Copy)]
pub struct Paint(pub bool);

impl Paint {
    fn severity(self, s: Severity) -> String {
        let (code, text) = match s {
            Severity::Error => ("1;31", "error"),
            Severity::Warning => ("1;33", "warning"),
            Severity::Note => ("1;36", "note"),
        };
        self.code(code, text)
    }

    fn dim(self, text: &str) -> String {
        self.code("2", text)
    }

    /// `text` in the ANSI SGR `code` (`1` bold, `31` red...) when painting.
    pub(crate) fn code(self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// The lines under a finding: its rule, where it is (file:line, field), how to fix it.
fn finding_details(out: &mut String, f: &Reported, paint: Paint) {
    let at = match &f.field {
        Some(field) => format!("{} {field}", f.object.position()),
        None => f.object.position(),
    };
    let _ = writeln!(
        out,
        "    {}",
        paint.dim(&format!("rule {}, at {at}", f.rule.id))
    );
    let _ = writeln!(out, "    {}", paint.dim(&format!("fix: {}", f.rule.fix)));
}

/// The report of one object: header, target OS, changes, warnings, errors, result; each
/// finding followed by its rule, position and fix.
pub fn report(target: &Target, result: &Evaluated, findings: &[Reported], paint: Paint) -> String {
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
    let denial = result.denial();
    let verb = if denial.is_some() {
        "would change (if admitted)"
    } else {
        "would change"
    };
    let mut changes = 0;
    if result.gmsa.admitted.allowed {
        for c in gmsa_changes(&target.pod, &result.gmsa.admitted.pod) {
            changes += 1;
            let _ = writeln!(out, "  {verb}: {c}");
        }
    }
    // The Windows policies' fixes are their notes, in the same order.
    let notes: Vec<&Reported> = findings
        .iter()
        .filter(|f| f.severity == Severity::Note)
        .collect();
    if let Some(w) = windows
        && w.mutate.allowed
    {
        for (i, c) in w.mutate.mutations.iter().enumerate() {
            changes += 1;
            let _ = writeln!(out, "  {verb}: {c}");
            if let Some(f) = notes.get(i) {
                finding_details(&mut out, f, paint);
            }
        }
    }
    for f in findings.iter().filter(|f| f.severity == Severity::Warning) {
        let _ = writeln!(out, "  {}: {}", paint.severity(f.severity), f.message);
        finding_details(&mut out, f, paint);
    }
    for f in findings.iter().filter(|f| f.severity == Severity::Error) {
        let _ = writeln!(out, "  {}: {}", paint.severity(f.severity), f.message);
        finding_details(&mut out, f, paint);
    }
    match denial {
        Some((code, message)) => {
            let _ = writeln!(out, "  result: denied ({code}): {message}");
        }
        None if changes == 0 => {
            let _ = writeln!(out, "  result: admitted unchanged");
        }
        None => {
            let _ = writeln!(
                out,
                "  result: admitted with {} change{}",
                changes,
                if changes == 1 { "" } else { "s" }
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

Each finding names its rule (docs/rules.md), the object's file and line, the field in the
object as written (spec.template.spec... for a Deployment) and how to fix it. A change the
mutating webhook would make is a note, an admission warning a warning, a denial an error.
-o json prints one JSON document (docs/lint-output.md), -o sarif SARIF 2.1.0 for code
scanning.

Exit codes: 0 nothing fails --fail-on (default: nothing would be denied), 1 something does
(--fail-on error: a denial; warning: a denial or a warning; none: never), 2 bad usage or
input (a file that does not parse is named with its line; the rest is still checked).";

pub const EXAMPLES: &str = "\
Examples:
  winkube lint --state examples/state examples/windows/
  winkube lint --state cluster-state/ --policy policy.yaml --offline -R -f k8s/
  helm template my-release ./chart | winkube lint --state cluster-state/ -
  winkube lint --state cluster-state/ --offline -o sarif --fail-on none -R -f k8s/ > winkube.sarif";

/// Flags of `winkube lint`.
#[derive(Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub eval: EvalArgs,
    #[command(flatten)]
    pub report: ReportArgs,
}

pub fn run(args: LintArgs) -> ExitCode {
    let (loaded, runtime) = match evaluate::prepare(&args.eval) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let paint =
        Paint(args.report.format == Format::Text && crate::logging::colours_on(&std::io::stdout()));
    let mut report = String::new();
    let mut counts = Counts::default();
    let mut all: Vec<Reported> = Vec::new();
    let mut objects = Vec::new();
    for input in &loaded.inputs {
        counts.skipped += input.others;
        counts.state += input.state;
        for (_, target) in &input.targets {
            counts.objects += 1;
            let result = runtime.block_on(evaluate::evaluate(&loaded, target, None));
            let denial = result.denial().map(|(code, _)| code);
            if denial.is_some() {
                counts.denied += 1;
            }
            let found = findings::collect(target, &result);
            match args.report.format {
                Format::Text => report.push_str(&self::report(target, &result, &found, paint)),
                Format::Json => objects.push(ObjectSummary::new(
                    target,
                    &result,
                    changes(target, &result),
                )),
                Format::Sarif => {}
            }
            all.extend(found);
        }
    }
    let out = match args.report.format {
        Format::Text => {
            report.push_str(&summary(&counts, loaded.input_errors.len()));
            report
        }
        Format::Json => json_text(&findings::to_json(
            &counts,
            &objects,
            &all,
            &loaded.input_errors,
        )),
        Format::Sarif => {
            let cwd = std::env::current_dir().unwrap_or_default();
            json_text(&findings::to_sarif(&all, &loaded.input_errors, &cwd, None))
        }
    };
    if let Err(code) = evaluate::write_stdout(&out) {
        return code;
    }
    let worst = all.iter().map(|f| f.severity).max();
    // A denial is always an error finding; counted too, should one ever lack it.
    let worst = if counts.denied > 0 {
        Some(Severity::Error)
    } else {
        worst
    };
    let failed = usize::from(args.report.fail_on.fails(worst));
    evaluate::exit_code(&loaded, failed)
}

pub fn json_text(v: &serde_json::Value) -> String {
    // Serialising a Value cannot fail.
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

/// The changes admission would make to the pod, as the text report lists them.
pub fn changes(target: &Target, result: &Evaluated) -> Vec<String> {
    let mut changes = Vec::new();
    if result.gmsa.admitted.allowed {
        changes.extend(gmsa_changes(&target.pod, &result.gmsa.admitted.pod));
    }
    if let Some(w) = &result.windows
        && w.mutate.allowed
    {
        changes.extend(w.mutate.mutations.iter().cloned());
    }
    changes
}

/// `2 objects checked, 1 would be denied, 3 other objects skipped (...)`.
fn summary(counts: &Counts, input_errors: usize) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut report = format!(
        "{} object{} checked, {} would be denied",
        counts.objects,
        plural(counts.objects),
        counts.denied
    );
    if counts.skipped > 0 {
        report.push_str(&format!(
            ", {} other object{} skipped (not pods or workloads",
            counts.skipped,
            plural(counts.skipped)
        ));
        if counts.state > 0 {
            report.push_str(&format!("; {} read as cluster state", counts.state));
        }
        report.push(')');
    }
    if input_errors > 0 {
        report.push_str(&format!(
            ", {input_errors} input error{}",
            plural(input_errors)
        ));
    }
    report.push('\n');
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_when_asked() {
        assert_eq!(Paint(false).severity(Severity::Error), "error");
        assert_eq!(
            Paint(true).severity(Severity::Error),
            "\x1b[1;31merror\x1b[0m"
        );
        assert_eq!(
            Paint(true).severity(Severity::Warning),
            "\x1b[1;33mwarning\x1b[0m"
        );
        assert_eq!(Paint(false).dim("fix: x"), "fix: x");
    }
}
