//! The audit's totals, per namespace and per rule: a table after the text report, the
//! `summary` object of the JSON one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde_json::{Value, json};
use winkube_policy::Severity;

use crate::findings::Reported;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NamespaceCounts {
    pub objects: usize,
    pub denied: usize,
    /// Admitted with changes (the mutating webhooks would change their pods).
    pub changed: usize,
    /// Objects with a warning.
    pub warned: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleCounts {
    pub severity: Severity,
    pub findings: usize,
    pub objects: usize,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub namespaces: BTreeMap<String, NamespaceCounts>,
    pub rules: BTreeMap<&'static str, RuleCounts>,
    /// Objects owned by a controller that is audited too (pods of a ReplicaSet...).
    pub skipped_owned: usize,
    /// Cluster state objects read (credspecs, RBAC, service accounts, nodes...).
    pub state: usize,
}

impl Summary {
    /// Counts one audited object.
    pub fn add(&mut self, namespace: &str, denied: bool, changed: bool, findings: &[Reported]) {
        let ns = self.namespaces.entry(namespace.to_owned()).or_default();
        ns.objects += 1;
        if denied {
            ns.denied += 1;
        } else if changed {
            ns.changed += 1;
        }
        if findings.iter().any(|f| f.severity == Severity::Warning) {
            ns.warned += 1;
        }
        let mut seen = BTreeSet::new();
        for f in findings {
            let rule = self.rules.entry(f.rule.id).or_insert(RuleCounts {
                severity: f.severity,
                findings: 0,
                objects: 0,
            });
            rule.findings += 1;
            // A rule can report at several severities (a warning, then a denial): the worst.
            rule.severity = rule.severity.max(f.severity);
            if seen.insert(f.rule.id) {
                rule.objects += 1;
            }
        }
    }

    pub fn total(&self) -> NamespaceCounts {
        self.namespaces
            .values()
            .fold(NamespaceCounts::default(), |t, n| NamespaceCounts {
                objects: t.objects + n.objects,
                denied: t.denied + n.denied,
                changed: t.changed + n.changed,
                warned: t.warned + n.warned,
            })
    }

    /// The tables, then one line of totals.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if !self.namespaces.is_empty() {
            let width = self.namespaces.keys().map(String::len).max().unwrap_or(0);
            let width = width.max("NAMESPACE".len());
            let _ = writeln!(
                out,
                "\n{:<width$}  {:>7}  {:>6}  {:>7}  {:>6}",
                "NAMESPACE", "OBJECTS", "DENIED", "CHANGED", "WARNED"
            );
            for (ns, c) in &self.namespaces {
                let _ = writeln!(
                    out,
                    "{ns:<width$}  {:>7}  {:>6}  {:>7}  {:>6}",
                    c.objects, c.denied, c.changed, c.warned
                );
            }
        }
        if !self.rules.is_empty() {
            let width = self.rules.keys().map(|r| r.len()).max().unwrap_or(0);
            let width = width.max("RULE".len());
            let _ = writeln!(
                out,
                "\n{:<width$}  {:<8}  {:>8}  {:>7}",
                "RULE", "SEVERITY", "FINDINGS", "OBJECTS"
            );
            for (rule, c) in &self.rules {
                let _ = writeln!(
                    out,
                    "{rule:<width$}  {:<8}  {:>8}  {:>7}",
                    c.severity.as_str(),
                    c.findings,
                    c.objects
                );
            }
        }
        let t = self.total();
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let _ = writeln!(
            out,
            "\n{} object{} audited in {} namespace{}: {} would be denied, {} would be changed, {} with warnings; {} owned object{} skipped (their controller is audited); {} cluster state object{} read",
            t.objects,
            plural(t.objects),
            self.namespaces.len(),
            plural(self.namespaces.len()),
            t.denied,
            t.changed,
            t.warned,
            self.skipped_owned,
            plural(self.skipped_owned),
            self.state,
            plural(self.state),
        );
        out
    }

    /// The JSON report's `summary` additions: per namespace, per rule, owned objects
    /// skipped.
    pub fn json(&self) -> Value {
        let t = self.total();
        json!({
            "objects": t.objects,
            "denied": t.denied,
            "changed": t.changed,
            "warned": t.warned,
            "skippedOwned": self.skipped_owned,
            "state": self.state,
            "namespaces": self.namespaces.iter().map(|(ns, c)| (ns.clone(), json!({
                "objects": c.objects, "denied": c.denied, "changed": c.changed, "warned": c.warned,
            }))).collect::<serde_json::Map<_, _>>(),
            "rules": self.rules.iter().map(|(r, c)| ((*r).to_owned(), json!({
                "severity": c.severity.as_str(), "findings": c.findings, "objects": c.objects,
            }))).collect::<serde_json::Map<_, _>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{ObjectRef, Origin};
    use winkube_policy::catalog::RULES;

    fn finding(rule: usize, severity: Severity) -> Reported {
        Reported {
            rule: &RULES[rule],
            severity,
            object: ObjectRef {
                kind: "Pod".into(),
                namespace: "a".into(),
                name: "p".into(),
                origin: Origin::Cluster,
            },
            field: None,
            message: String::new(),
        }
    }

    #[test]
    fn counts_per_namespace_and_rule() {
        let mut s = Summary::default();
        let w = finding(0, Severity::Warning);
        s.add("a", true, false, &[w.clone(), w.clone()]);
        s.add("a", false, true, &[]);
        s.add("b", false, false, &[w]);
        assert_eq!(
            s.namespaces["a"],
            NamespaceCounts {
                objects: 2,
                denied: 1,
                changed: 1,
                warned: 1
            }
        );
        assert_eq!(s.namespaces["b"].warned, 1);
        let r = s.rules[RULES[0].id];
        assert_eq!((r.findings, r.objects), (3, 2));
        assert_eq!(s.total().objects, 3);
        let text = s.text();
        assert!(
            text.contains("\nNAMESPACE  OBJECTS  DENIED  CHANGED  WARNED\na"),
            "{text}"
        );
        assert!(text.ends_with("3 objects audited in 2 namespaces: 1 would be denied, 1 would be changed, 2 with warnings; 0 owned objects skipped (their controller is audited); 0 cluster state objects read\n"), "{text}");
    }
}
