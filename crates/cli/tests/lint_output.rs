//! `winkube lint`'s findings end to end: rule ids, the field in the object as written,
//! file:line, exit codes for each --fail-on, the JSON shape, and SARIF validated against
//! the official SARIF 2.1.0 schema.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::Value;
use support::sarif::*;
use support::*;

const CHART: &str = "crates/cli/tests/data/lint/chart";
const RENDERED: &str = "crates/cli/tests/data/lint/chart/rendered.yaml";
const CRONJOB: &str = "crates/cli/tests/data/lint/cronjob-gmsa.yaml";

fn lint(args: &[&str]) -> std::process::Output {
    winkube(
        &[
            &["lint", "--offline", "--state", "examples/state"][..],
            args,
        ]
        .concat(),
    )
}

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// (ruleId, severity, field, file, line) of every finding of a JSON report.
fn findings(report: &Value) -> Vec<(String, String, String, String, u64)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["ruleId"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
                f["field"].as_str().unwrap_or("").to_owned(),
                f["object"]["file"].as_str().unwrap_or("").to_owned(),
                f["object"]["line"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn a_rendered_chart_directory_reports_rule_field_and_line() {
    // The values file beside the rendered stream is skipped with a note, not an error.
    let o = lint(&["-o", "json", CHART]);
    assert_eq!(
        code(&o),
        0,
        "a warning does not fail by default: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("values.yaml: not a Kubernetes manifest, skipped"));
    let report = json_of(&o);
    assert_eq!(
        findings(&report),
        [(
            "windows/memory-floor".to_owned(),
            "warning".to_owned(),
            "spec.template.spec.containers[0].resources.limits.memory".to_owned(),
            RENDERED.to_owned(),
            11,
        )]
    );
    let f = &report["findings"][0];
    assert_eq!(f["object"]["kind"], "Deployment");
    assert_eq!(f["object"]["namespace"], "prod");
    assert_eq!(f["object"]["name"], "web");
    assert!(f["fix"].as_str().unwrap().contains("floor"), "{f}");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("[winkube memory] container \"web\": memory limit 100Mi is below"),
        "{f}"
    );
    // The documented shape: apiVersion, tool, summary, objects, findings, inputErrors.
    assert_eq!(report["apiVersion"], "winkube.io/lint/v1");
    assert_eq!(report["tool"]["name"], "winkube");
    let s = &report["summary"];
    assert_eq!(
        (
            &s["objects"],
            &s["denied"],
            &s["skipped"],
            &s["errors"],
            &s["warnings"],
            &s["notes"],
            &s["inputErrors"]
        ),
        (
            &1.into(),
            &0.into(),
            &1.into(),
            &0.into(),
            &1.into(),
            &0.into(),
            &0.into()
        )
    );
    assert_eq!(report["objects"][0]["result"], "admitted");
    assert_eq!(report["objects"][0]["line"], 11);
    assert_eq!(report["inputErrors"], serde_json::json!([]));
}

#[test]
fn a_cronjob_finding_maps_through_the_job_template() {
    let o = lint(&["--format", "json", CRONJOB]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let report = json_of(&o);
    assert_eq!(
        findings(&report),
        [(
            "gmsa/credspec-not-found".to_owned(),
            "error".to_owned(),
            "spec.jobTemplate.spec.template.spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpecName".to_owned(),
            CRONJOB.to_owned(),
            2,
        )]
    );
    // The message is the webhook's, unchanged.
    assert_eq!(
        report["findings"][0]["message"],
        "cred spec gmsa-nightly does not exist"
    );
    assert_eq!(report["objects"][0]["result"], "denied");
    assert_eq!(report["objects"][0]["code"], 404);
}

#[test]
fn text_names_rule_position_and_fix_under_each_finding() {
    let o = lint(&[CHART, CRONJOB]);
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    for line in [
        "  warning: [winkube memory] container \"web\": memory limit 100Mi is below the Windows floor of 300Mi",
        &format!(
            "    rule windows/memory-floor, at {RENDERED}:11 spec.template.spec.containers[0].resources.limits.memory\n"
        ),
        "    fix: Raise the memory request and limit to at least the floor",
        "  error: cred spec gmsa-nightly does not exist\n",
        &format!(
            "    rule gmsa/credspec-not-found, at {CRONJOB}:2 spec.jobTemplate.spec.template.spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpecName\n"
        ),
        "  result: denied (404): cred spec gmsa-nightly does not exist\n",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
    // Piped: no colour codes.
    assert!(!out.contains('\u{1b}'), "{out}");
}

#[test]
fn a_helm_template_stream_on_stdin_is_placed_by_line() {
    let stream = std::fs::read_to_string(repo().join(RENDERED)).unwrap();
    let o = winkube_stdin(
        &["lint", "--offline", "--state", "examples/state", "-"],
        &stream,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("    rule windows/memory-floor, at <stdin>:11 spec.template.spec.containers[0].resources.limits.memory\n"),
        "{out}"
    );
    let o = winkube_stdin(
        &[
            "lint",
            "--offline",
            "--state",
            "examples/state",
            "-o",
            "json",
            "-",
        ],
        &stream,
    );
    let report = json_of(&o);
    assert_eq!(report["findings"][0]["object"]["file"], Value::Null);
    assert_eq!(report["findings"][0]["object"]["line"], 11);
}

#[test]
fn notes_name_the_fix_the_mutating_webhook_makes() {
    // iis-pod has no selector: scheduling enforces, so the webhook adds it (a note).
    let o = lint(&["-o", "json", "examples/windows/iis-pod.yaml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let got = findings(&json_of(&o));
    assert!(
        got.contains(&(
            "windows/node-selector".to_owned(),
            "note".to_owned(),
            r#"spec.nodeSelector["kubernetes.io/os"]"#.to_owned(),
            "examples/windows/iis-pod.yaml".to_owned(),
            6,
        )),
        "{got:?}"
    );
    // Notes never fail a run, even with --fail-on warning... but the memory warning does.
    let o = lint(&["--fail-on", "warning", "examples/windows/iis-pod.yaml"]);
    assert_eq!(code(&o), 1);
}

#[test]
fn fail_on_chooses_what_exits_one_and_input_errors_stay_two() {
    let dir = tempfile::tempdir().unwrap();
    let broken = temp_file(
        &dir,
        "broken.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x\n",
    );
    // (inputs, --fail-on, expected exit code)
    for (inputs, fail_on, want) in [
        (vec![RENDERED], None, 0),
        (vec![RENDERED], Some("error"), 0),
        (vec![RENDERED], Some("warning"), 1),
        (vec![RENDERED], Some("none"), 0),
        (vec![CRONJOB], None, 1),
        (vec![CRONJOB], Some("warning"), 1),
        (vec![CRONJOB], Some("none"), 0),
        (vec![CRONJOB, broken.as_str()], Some("none"), 2),
        (vec![RENDERED, broken.as_str()], None, 2),
    ] {
        for format in ["text", "json", "sarif"] {
            let mut args = vec!["-o", format];
            if let Some(f) = fail_on {
                args.extend(["--fail-on", f]);
            }
            args.extend(&inputs);
            let o = lint(&args);
            assert_eq!(code(&o), want, "{args:?}: {}", stderr(&o));
        }
    }
    // The broken file is named with its line, and the rest is still reported.
    let o = lint(&["-o", "json", RENDERED, &broken]);
    assert!(stderr(&o).contains(&format!("{broken}:")), "{}", stderr(&o));
    let report = json_of(&o);
    assert_eq!(report["summary"]["inputErrors"], 1);
    assert!(
        report["inputErrors"][0]
            .as_str()
            .unwrap()
            .contains("broken.yaml")
    );
    assert_eq!(findings(&report).len(), 1);
    // A bad --fail-on is bad usage.
    assert_eq!(code(&lint(&["--fail-on", "sometimes", RENDERED])), 2);
    assert_eq!(code(&lint(&["--output", "xml", RENDERED])), 2);
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let validator = sarif_validator();
    let dir = tempfile::tempdir().unwrap();
    let broken = temp_file(&dir, "broken.yaml", "kind: [\n");
    // Findings of each severity, from files and from standard input, and an input error.
    let stream = std::fs::read_to_string(repo().join(CRONJOB)).unwrap();
    let o = winkube_stdin(
        &[
            "lint",
            "--offline",
            "--state",
            "examples/state",
            "-o",
            "sarif",
            CHART,
            "examples/windows/iis-pod.yaml",
            &broken,
            "-",
        ],
        &stream,
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let log: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let errors = schema_errors(&validator, &log);
    assert!(errors.is_empty(), "{errors:#?}");

    let run = &log["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(driver["name"], "winkube");
    assert!(
        driver["informationUri"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    let rules = driver["rules"].as_array().unwrap();
    let floor = rules
        .iter()
        .find(|r| r["id"] == "windows/memory-floor")
        .unwrap();
    assert_eq!(floor["defaultConfiguration"]["level"], "error");
    assert!(floor["help"]["text"].as_str().unwrap().contains("Fix: "));
    assert!(
        !floor["shortDescription"]["text"]
            .as_str()
            .unwrap()
            .is_empty()
    );

    let results = run["results"].as_array().unwrap();
    let by_rule = |id: &str| results.iter().find(|r| r["ruleId"] == id).unwrap();
    let r = by_rule("windows/memory-floor");
    assert_eq!(r["level"], "warning");
    assert_eq!(
        rules[r["ruleIndex"].as_u64().unwrap() as usize]["id"],
        "windows/memory-floor"
    );
    let loc = &r["locations"][0];
    assert_eq!(loc["physicalLocation"]["artifactLocation"]["uri"], RENDERED);
    assert_eq!(loc["physicalLocation"]["region"]["startLine"], 11);
    assert_eq!(
        loc["logicalLocations"][0]["fullyQualifiedName"],
        "Deployment prod/web"
    );
    assert_eq!(
        loc["logicalLocations"][1]["name"],
        "spec.template.spec.containers[0].resources.limits.memory"
    );
    assert_eq!(by_rule("windows/node-selector")["level"], "note");
    // From standard input: no file, but the object.
    let r = by_rule("gmsa/credspec-not-found");
    assert_eq!(r["level"], "error");
    assert!(r["locations"][0].get("physicalLocation").is_none());
    assert_eq!(
        r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "CronJob default/nightly"
    );
    // The input error is a tool notification, and the run says it did not succeed.
    let inv = &run["invocations"][0];
    assert_eq!(inv["executionSuccessful"], false);
    assert!(
        inv["toolExecutionNotifications"][0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("broken.yaml")
    );
}

#[test]
fn the_schema_check_is_real() {
    // The validator refuses what SARIF 2.1.0 does not allow: a level it does not define,
    // a result without a message, a line 0.
    let validator = sarif_validator();
    let o = lint(&["-o", "sarif", RENDERED]);
    let good: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(schema_errors(&validator, &good).is_empty());
    for (pointer, bad) in [
        ("/runs/0/results/0/level", serde_json::json!("fatal")),
        // Formats are checked: not a URI reference.
        (
            "/runs/0/results/0/locations/0/physicalLocation/artifactLocation/uri",
            serde_json::json!("a b\\c%zz"),
        ),
        (
            "/runs/0/results/0/locations/0/physicalLocation/region/startLine",
            serde_json::json!(0),
        ),
        ("/version", serde_json::json!("2.0.0")),
    ] {
        let mut log = good.clone();
        *log.pointer_mut(pointer).unwrap() = bad;
        assert!(
            !schema_errors(&validator, &log).is_empty(),
            "{pointer} accepted"
        );
    }
    let mut log = good.clone();
    log["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert!(!schema_errors(&validator, &log).is_empty());
}

/// docs/rules.md as the catalog says it.
fn rules_md() -> String {
    use winkube_policy::Severity;
    let mut out = String::from(
        "# Rules\n\n\
The rules behind `winkube lint`'s findings (and the `[rule]` after `winkube admit`'s\n\
warnings and denials). Ids are stable: filter on them in CI and code scanning. The\n\
severity is the default policy's; a rule in `warn` mode reports warnings, and a fix the\n\
mutating webhook makes (enforce mode) is a note. Generated from\n\
`crates/policy/src/catalog.rs` (`UPDATE_RULES_MD=1 cargo test -p winkube --test\n\
lint_output` rewrites this file; the test fails when it is out of date).\n",
    );
    let mut group = "";
    for r in winkube_policy::catalog::RULES {
        let g = r.id.split('/').next().unwrap();
        if g != group {
            group = g;
            let title = match g {
                "gmsa" => "gMSA (the reference webhook's rules)",
                "windows" => "Windows workload policies",
                _ => "Cluster state given to winkube",
            };
            out.push_str(&format!("\n## {title}\n"));
        }
        let severity = match r.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        out.push_str(&format!(
            "\n### `{}`\n\n{} ({severity}).\n\n{}\n\n**Fix:** {}\n",
            r.id, r.short, r.full, r.fix
        ));
    }
    out
}

#[test]
fn every_rule_is_documented() {
    let path = repo().join("docs/rules.md");
    let want = rules_md();
    if std::env::var_os("UPDATE_RULES_MD").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let doc = std::fs::read_to_string(&path).unwrap();
    for rule in winkube_policy::catalog::RULES {
        assert!(
            doc.contains(&format!("### `{}`", rule.id)),
            "{} missing from docs/rules.md",
            rule.id
        );
    }
    assert!(
        doc == want,
        "docs/rules.md is out of date: UPDATE_RULES_MD=1 cargo test -p winkube --test lint_output"
    );
}
