//! `winkube lint`: the admission decision reported per object, never the manifests.

use std::fmt::Write;

use serde_json::Value;

use crate::Evaluated;
use crate::admit::Target;

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
