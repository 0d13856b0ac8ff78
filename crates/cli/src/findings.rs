//! `winkube lint`'s and `audit`'s findings as people and tools read them: each policy
//! finding placed on the user's object (kind, namespace, name, file:line or the cluster
//! object, the field path in the object, not in the pod the policies evaluated), with its
//! rule from `winkube_policy::catalog`;
//! rendered as JSON (a documented, stable shape: docs/lint-output.md) or SARIF 2.1.0.

use std::path::{Component, Path};

use clap::ValueEnum;
use serde_json::{Value, json};
use winkube_policy::Severity;
use winkube_policy::catalog::{RULES, Rule, rule_by_id};
use winkube_state::documents::Source;

use crate::admit::Target;
use crate::evaluate::Evaluated;

/// `--format` / `-o` of `winkube lint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Per object, for people (colour on a terminal unless NO_COLOR is set)
    Text,
    /// One JSON document: summary, objects, findings, input errors (docs/lint-output.md)
    Json,
    /// SARIF 2.1.0, for code scanning (GitHub, GitLab, Azure DevOps)
    Sarif,
}

/// How lint and audit report: the format and what makes the exit code 1.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// Report format: text (per object, for people; colour on a terminal unless NO_COLOR),
    /// json (docs/lint-output.md) or sarif (SARIF 2.1.0, for code scanning)
    #[arg(
        long,
        short = 'o',
        visible_alias = "output",
        value_enum,
        default_value = "text"
    )]
    pub format: Format,
    /// What makes the exit code 1: error (a denial), warning (a denial or a warning), none
    #[arg(long, value_enum, value_name = "LEVEL", default_value = "error")]
    pub fail_on: FailOn,
}

/// `--fail-on`: which findings make the exit code 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// A denial (the default)
    Error,
    /// A denial or a warning
    Warning,
    /// Nothing (input errors still exit 2)
    None,
}

impl FailOn {
    /// Whether findings of `worst` severity fail the run.
    pub fn fails(self, worst: Option<Severity>) -> bool {
        let Some(worst) = worst else { return false };
        match self {
            FailOn::Error => worst >= Severity::Error,
            FailOn::Warning => worst >= Severity::Warning,
            FailOn::None => false,
        }
    }
}

/// The object a finding is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub origin: Origin,
}

/// Where the object was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Manifest {
        /// The file as given (relative to the working directory when it was), `None` for
        /// standard input.
        file: Option<String>,
        line: Option<usize>,
        /// Index in a `kind: List`'s items.
        item: Option<usize>,
    },
    /// A live cluster's object (`winkube audit`): no file, its API path instead.
    Cluster,
}

impl ObjectRef {
    pub fn of(target: &Target) -> Self {
        let (line, item) = (target.line, target.item);
        let origin = match &target.source {
            Source::File(p) => Origin::Manifest {
                file: Some(p.display().to_string()),
                line,
                item,
            },
            Source::Stdin => Origin::Manifest {
                file: None,
                line,
                item,
            },
            Source::Cluster => Origin::Cluster,
        };
        ObjectRef {
            kind: target.kind.clone(),
            namespace: target.namespace.clone(),
            name: target.name.clone(),
            origin,
        }
    }

    /// `Deployment prod/web`.
    pub fn display(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }

    /// `deploy.yaml:12`, `<stdin>:3`, `deploy.yaml`; `prod/Deployment/web` in a cluster.
    pub fn position(&self) -> String {
        match &self.origin {
            Origin::Manifest { file, line, .. } => {
                let file = file.as_deref().unwrap_or("<stdin>");
                match line {
                    Some(l) => format!("{file}:{l}"),
                    None => file.to_owned(),
                }
            }
            Origin::Cluster => format!("{}/{}/{}", self.namespace, self.kind, self.name),
        }
    }

    /// The object's path on the API server (`apis/apps/v1/namespaces/prod/deployments/web`).
    pub fn api_path(&self) -> Option<String> {
        let (prefix, plural) = crate::admit::api_resource(&self.kind)?;
        Some(format!(
            "{prefix}/namespaces/{}/{plural}/{}",
            self.namespace, self.name
        ))
    }

    pub fn to_json(&self) -> Value {
        match &self.origin {
            Origin::Manifest { file, line, item } => json!({
                "kind": self.kind,
                "namespace": self.namespace,
                "name": self.name,
                "file": file,
                "line": line,
                "item": item,
            }),
            Origin::Cluster => json!({
                "kind": self.kind,
                "namespace": self.namespace,
                "name": self.name,
            }),
        }
    }
}

/// One finding on the user's object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reported {
    pub rule: &'static Rule,
    pub severity: Severity,
    pub object: ObjectRef,
    /// The field in the user's object (`spec.template.spec.containers[0].image`).
    pub field: Option<String>,
    pub message: String,
}

/// A rule id the catalog does not know is a bug; it is still reported, under a rule that
/// says so, rather than dropped.
static UNKNOWN: Rule = Rule {
    id: "winkube/unknown-rule",
    severity: Severity::Error,
    short: "A finding without a catalogued rule",
    full: "winkube reported a finding whose rule is not in its catalog. This is a bug.",
    fix: "Report it with the manifest.",
};

/// The findings of one evaluated target, placed on the user's object.
pub fn collect(target: &Target, result: &Evaluated) -> Vec<Reported> {
    let object = ObjectRef::of(target);
    result
        .findings()
        .map(|f| Reported {
            rule: rule_by_id(f.rule).unwrap_or(&UNKNOWN),
            severity: f.severity,
            object: object.clone(),
            field: f.field.as_deref().map(|p| target.object_field(p)),
            message: f.message.clone(),
        })
        .collect()
}

/// What `lint` saw of one object, for the JSON report.
pub struct ObjectSummary {
    pub object: ObjectRef,
    pub denied: Option<u16>,
    pub target_os: Option<String>,
    pub changes: Vec<String>,
}

impl ObjectSummary {
    /// One evaluated object, with the changes admission makes to it.
    pub fn new(target: &Target, result: &Evaluated, changes: Vec<String>) -> Self {
        Self {
            object: ObjectRef::of(target),
            denied: result.denial().map(|(code, _)| code),
            target_os: result
                .windows
                .as_ref()
                .and_then(|w| w.mutate.os.as_ref())
                .map(|os| os.explain()),
            changes,
        }
    }
}

/// Counts for the summary.
#[derive(Default)]
pub struct Counts {
    pub objects: usize,
    pub denied: usize,
    pub skipped: usize,
    pub state: usize,
}

fn severity_counts(findings: &[Reported]) -> (usize, usize, usize) {
    let n = |s| findings.iter().filter(|f| f.severity == s).count();
    (n(Severity::Error), n(Severity::Warning), n(Severity::Note))
}

/// The JSON report (docs/lint-output.md; `apiVersion` changes when the shape does).
pub fn to_json(
    counts: &Counts,
    objects: &[ObjectSummary],
    findings: &[Reported],
    input_errors: &[String],
) -> Value {
    let (errors, warnings, notes) = severity_counts(findings);
    json!({
        "apiVersion": "winkube.io/lint/v1",
        "tool": {"name": "winkube", "version": env!("CARGO_PKG_VERSION")},
        "summary": {
            "objects": counts.objects,
            "denied": counts.denied,
            "skipped": counts.skipped,
            "state": counts.state,
            "errors": errors,
            "warnings": warnings,
            "notes": notes,
            "inputErrors": input_errors.len(),
        },
        "objects": objects.iter().map(|o| {
            let mut v = o.object.to_json();
            v["result"] = json!(if o.denied.is_some() { "denied" } else { "admitted" });
            v["code"] = json!(o.denied);
            v["targetOS"] = json!(o.target_os);
            v["changes"] = json!(o.changes);
            v
        }).collect::<Vec<_>>(),
        "findings": findings.iter().map(|f| json!({
            "ruleId": f.rule.id,
            "severity": f.severity.as_str(),
            "message": f.message,
            "fix": f.rule.fix,
            "object": f.object.to_json(),
            "field": f.field,
        })).collect::<Vec<_>>(),
        "inputErrors": input_errors,
    })
}

/// Where the project lives, for SARIF's `informationUri` and rule help links.
pub const INFORMATION_URI: &str = "https://github.com/winkube/winkube";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// A file path as a SARIF `artifactLocation.uri`: relative to `cwd` when under it (or
/// given relative), `/`-separated and percent-encoded; else a `file://` URI.
pub fn artifact_uri(file: &str, cwd: &Path) -> String {
    let path = Path::new(file);
    let relative = if path.is_absolute() {
        path.strip_prefix(cwd).ok().map(Path::to_path_buf)
    } else {
        Some(path.to_path_buf())
    };
    let encode = |p: &Path| {
        let parts: Vec<String> = p
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(percent_encode(&s.to_string_lossy())),
                Component::ParentDir => Some("..".to_owned()),
                Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
            })
            .collect();
        parts.join("/")
    };
    match relative {
        Some(r) => encode(&r),
        None => format!("file:///{}", encode(path)),
    }
}

/// RFC 3986: everything but unreserved characters and sub-delimiters safe in a path.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The SARIF 2.1.0 log: every catalogued rule in `tool.driver.rules` (so a rule that
/// stopped firing is still known to code scanning), one result per finding, input errors
/// as tool execution notifications.
/// `api_server` is the URL of the cluster audited (`winkube audit`): cluster objects'
/// locations are API paths relative to it (`originalUriBaseIds`).
pub fn to_sarif(
    findings: &[Reported],
    input_errors: &[String],
    cwd: &Path,
    api_server: Option<&str>,
) -> Value {
    let mut rules: Vec<&Rule> = RULES.iter().collect();
    if findings.iter().any(|f| f.rule.id == UNKNOWN.id) {
        rules.push(&UNKNOWN);
    }
    let rule_index = |id: &str| rules.iter().position(|r| r.id == id);
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut location = json!({});
            match &f.object.origin {
                Origin::Manifest {
                    file: Some(file),
                    line,
                    ..
                } => {
                    let mut physical = json!({
                        "artifactLocation": {"uri": artifact_uri(file, cwd)},
                    });
                    if let Some(line) = line {
                        physical["region"] = json!({"startLine": line});
                    }
                    location["physicalLocation"] = physical;
                }
                Origin::Manifest { file: None, .. } => {}
                // The object's address on the API server, not a file.
                Origin::Cluster => {
                    if let (Some(path), Some(_)) = (f.object.api_path(), api_server) {
                        location["physicalLocation"] = json!({
                            "artifactLocation": {"uri": path, "uriBaseId": API_SERVER_BASE},
                        });
                    }
                }
            }
            let object = f.object.display();
            let mut logical = vec![json!({
                "name": f.object.name,
                "fullyQualifiedName": object,
                "kind": "object",
            })];
            if let Some(field) = &f.field {
                logical.push(json!({
                    "name": field,
                    "fullyQualifiedName": format!("{object}:{field}"),
                    "kind": "property",
                }));
            }
            location["logicalLocations"] = json!(logical);
            let mut text = f.message.clone();
            if let Some(field) = &f.field {
                text.push_str(&format!(" (at {field} of {object})"));
            } else {
                text.push_str(&format!(" ({object})"));
            }
            let mut result = json!({
                "ruleId": f.rule.id,
                "level": level(f.severity),
                "message": {"text": text},
                "locations": [location],
                "properties": {
                    "object": f.object.to_json(),
                    "field": f.field,
                    "fix": f.rule.fix,
                },
            });
            if let Some(i) = rule_index(f.rule.id) {
                result["ruleIndex"] = json!(i);
            }
            result
        })
        .collect();
    let notifications: Vec<Value> = input_errors
        .iter()
        .map(|e| json!({"level": "error", "message": {"text": e}}))
        .collect();
    let mut log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "winkube",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": INFORMATION_URI,
                "rules": rules.iter().map(|r| json!({
                    "id": r.id,
                    "name": rule_name(r.id),
                    "shortDescription": {"text": r.short},
                    "fullDescription": {"text": r.full},
                    "help": {
                        "text": format!("{}\n\nFix: {}", r.full, r.fix),
                        "markdown": format!("{}\n\n**Fix:** {}", r.full, r.fix),
                    },
                    "helpUri": format!("{INFORMATION_URI}/blob/main/docs/rules.md"),
                    "defaultConfiguration": {"level": level(r.severity)},
                })).collect::<Vec<_>>(),
            }},
            "invocations": [{
                "executionSuccessful": input_errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    if let Some(url) = api_server {
        // A base URI must end in `/` for relative references to resolve under it.
        let base = format!("{}/", url.trim_end_matches('/'));
        log["runs"][0]["originalUriBaseIds"] = json!({API_SERVER_BASE: {
            "uri": base,
            "description": {"text": "The Kubernetes API server audited"},
        }});
    }
    log
}

/// The `uriBaseId` of cluster objects' locations.
const API_SERVER_BASE: &str = "KUBE_API_SERVER";

/// `windows/memory-floor` → `WindowsMemoryFloor` (SARIF's `name`: an identifier).
fn rule_name(id: &str) -> String {
    id.split(['/', '-'])
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_levels() {
        use Severity::*;
        for (fail_on, worst, want) in [
            (FailOn::Error, Some(Error), true),
            (FailOn::Error, Some(Warning), false),
            (FailOn::Error, Some(Note), false),
            (FailOn::Error, None, false),
            (FailOn::Warning, Some(Error), true),
            (FailOn::Warning, Some(Warning), true),
            (FailOn::Warning, Some(Note), false),
            (FailOn::None, Some(Error), false),
        ] {
            assert_eq!(fail_on.fails(worst), want, "{fail_on:?} {worst:?}");
        }
    }

    #[test]
    fn artifact_uris_are_relative_to_the_working_directory() {
        let cwd = Path::new("/work/repo");
        for (file, want) in [
            ("k8s/web.yaml", "k8s/web.yaml"),
            ("./k8s/web.yaml", "k8s/web.yaml"),
            ("/work/repo/k8s/web.yaml", "k8s/web.yaml"),
            ("../other/a b.yaml", "../other/a%20b.yaml"),
            ("/etc/k8s/x#1.yaml", "file:///etc/k8s/x%231.yaml"),
        ] {
            assert_eq!(artifact_uri(file, cwd), want, "{file}");
        }
    }

    #[test]
    fn rule_names_are_identifiers() {
        assert_eq!(rule_name("windows/memory-floor"), "WindowsMemoryFloor");
        assert_eq!(rule_name("gmsa/credspec-not-found"), "GmsaCredspecNotFound");
    }
}
