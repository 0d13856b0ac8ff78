//! Plans as text (for people) or JSON (for tools), as `--dry-run` prints them.

use std::fmt::Write;

use crate::Error;
use crate::plan::{Action, FileSource, Plan};

/// One line for "nothing to do" (also what a second `prepare` prints).
pub const NOTHING_TO_CHANGE: &str = "nothing to change: the node is prepared";

pub fn plan_json(plan: &Plan) -> Result<String, Error> {
    let mut s = serde_json::to_string_pretty(plan)?;
    s.push('\n');
    Ok(s)
}

fn mib(bytes: u64) -> String {
    if bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{bytes} bytes")
    }
}

pub fn plan_text(plan: &Plan) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "prepare: Kubernetes {} on {}",
        plan.kubernetes_version,
        plan.windows_build
            .as_deref()
            .unwrap_or("an unknown Windows build")
    );
    let _ = writeln!(o, "checks:");
    for c in &plan.checks {
        let _ = writeln!(o, "  {:<4} {}", if c.ok { "ok" } else { "FAIL" }, c.detail);
        if let Some(fix) = &c.fix {
            let _ = writeln!(o, "       fix: {fix}");
        }
    }
    let _ = writeln!(o, "directories:");
    for d in &plan.directories {
        let _ = writeln!(o, "  {:<9} {}", d.action.as_str(), d.path);
    }
    let _ = writeln!(o, "files:");
    for f in &plan.files {
        let from = match &f.source {
            FileSource::Artifact { from } => format!("from {from}"),
            FileSource::Generated { .. } => "generated".into(),
        };
        let _ = writeln!(
            o,
            "  {:<9} {}  sha256:{}  {from}",
            f.action.as_str(),
            f.path,
            f.sha256
        );
    }
    let s = &plan.service;
    let d = &s.definition;
    let _ = writeln!(
        o,
        "service {} ({}): {}",
        d.name,
        d.display_name,
        s.action.as_str()
    );
    let _ = writeln!(o, "  command:    {}", s.command_line);
    let _ = writeln!(o, "  depends on: {}", d.dependencies.join(", "));
    let _ = writeln!(
        o,
        "  start:      {}; on failure restart after {} s ({} times, counter reset after {} s)",
        d.start, d.restart.delay_seconds, d.restart.attempts, d.restart.reset_after_seconds
    );
    let _ = writeln!(
        o,
        "  log:        {} (rotated at {}, {} kept)",
        d.log.file,
        mib(d.log.max_bytes),
        d.log.keep
    );
    let r = &plan.firewall.rule;
    let _ = writeln!(
        o,
        "firewall rule {}: {} (inbound {} {})",
        r.name,
        plan.firewall.action.as_str(),
        r.protocol,
        r.port
    );
    if !plan.commands.is_empty() {
        let _ = writeln!(o, "commands:");
        for c in &plan.commands {
            let _ = writeln!(o, "  {}", crate::plan::windows_command_line(c));
        }
    }
    for f in &plan.files {
        if let FileSource::Generated { content } = &f.source {
            let _ = writeln!(o, "{}:", f.path);
            for line in content.lines() {
                let _ = writeln!(o, "  {line}");
            }
        }
    }
    let changes = plan.changes();
    if !plan.ready() {
        let _ = writeln!(
            o,
            "not ready: {} check(s) failed; nothing is changed until they pass",
            plan.failed_checks().count()
        );
    } else if changes == 0 {
        let _ = writeln!(o, "{NOTHING_TO_CHANGE}");
    } else {
        let _ = writeln!(o, "{changes} change(s)");
    }
    o
}

/// The checks that failed, as one error message.
pub fn not_ready_message(plan: &Plan) -> String {
    let mut o = String::from("the node is not ready for the kubelet:");
    for c in plan.failed_checks() {
        let _ = write!(o, "\n  - {}", c.detail);
        if let Some(fix) = &c.fix {
            let _ = write!(o, " (fix: {fix})");
        }
    }
    o
}

impl Action {
    pub fn changes(self) -> bool {
        self != Action::Unchanged
    }
}
