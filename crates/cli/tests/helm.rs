//! The Helm chart (charts/winkube): rendered by a real Helm (v4) and compared, object by
//! object, with `winkube manifests` for the same settings; linted strictly; bad values
//! refused by values.schema.json. Helm is found at `$WINKUBE_HELM` or `.tools/bin/helm`
//! (`bash .ci/install-helm` puts it there); without it these tests skip locally and fail
//! under CI=true. The chart's generated files are checked without Helm.
//!
//! `WINKUBE_REGENERATE=1 cargo test -p winkube --test helm` rewrites the generated files.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::*;
use winkube_testkit::tool_available;

fn chart() -> PathBuf {
    repo().join("charts/winkube")
}

// ---- Generated files (no Helm needed) ----

/// A chart file generated from the code: compared, or rewritten under WINKUBE_REGENERATE=1.
fn check_generated(path: &str, want: &str) {
    let file = chart().join(path);
    if std::env::var("WINKUBE_REGENERATE").is_ok_and(|v| v == "1") {
        std::fs::write(&file, want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        have == want,
        "charts/winkube/{path} is out of date with the code; regenerate it with:\n  WINKUBE_REGENERATE=1 cargo test -p winkube --test helm"
    );
}

const GENERATED: &str = "# Generated from winkube's code; do not edit. Regenerate with:\n#   WINKUBE_REGENERATE=1 cargo test -p winkube --test helm\n";

#[test]
fn chart_crd_and_match_conditions_are_generated_from_the_code() {
    // The CRD: `winkube manifests crd` without its own header.
    let o = winkube(&["manifests", "crd"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let body: String = stdout(&o)
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    check_generated(
        "crds/gmsacredentialspecs.yaml",
        &format!("{GENERATED}{body}"),
    );
    // The gMSA webhooks' matchConditions, as a YAML list the template indents in place.
    let conditions = json!([{
        "name": winkube_policy::scope::GMSA_MATCH_CONDITION_NAME,
        "expression": winkube_policy::scope::gmsa_match_expression(),
    }]);
    let yaml = serde_saphyr::to_string(&conditions).unwrap();
    check_generated(
        "files/gmsa-match-conditions.yaml",
        &format!("{GENERATED}{yaml}"),
    );
}

#[test]
fn chart_version_is_the_crate_version() {
    let text = std::fs::read_to_string(chart().join("Chart.yaml")).unwrap();
    let c: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(c["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(c["appVersion"], env!("CARGO_PKG_VERSION"));
}

/// Every flag of `winkube manifests install` and the value that sets it in the chart.
const FLAG_VALUES: [(&str, &str); 12] = [
    ("--namespace", "(release namespace: helm -n)"),
    ("--image", "image.repository, image.tag"),
    ("--failure-policy", "failurePolicy"),
    ("--timeout-seconds", "timeoutSeconds"),
    ("--no-match-conditions", "matchConditions"),
    ("--authorization", "authorization"),
    ("--cert-manager", "certificates.mode"),
    ("--replicas", "replicas"),
    ("--random-hostname", "randomHostname"),
    ("--windows-policies", "windowsPolicies.enabled"),
    ("--windows-failure-policy", "windowsPolicies.failurePolicy"),
    ("--service-monitor", "serviceMonitor.enabled"),
];

#[test]
fn every_install_flag_has_a_chart_value() {
    let o = winkube(&["manifests", "install", "--help"]);
    let help = stdout(&o);
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && *w != "--help")
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
        .collect();
    assert!(flags.len() >= FLAG_VALUES.len(), "{help}");
    let values: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart().join("values.yaml")).unwrap())
            .unwrap();
    for flag in flags {
        let (_, paths) = FLAG_VALUES
            .iter()
            .find(|(f, _)| *f == flag)
            .unwrap_or_else(|| panic!("{flag} has no chart value: add one to charts/winkube"));
        if paths.starts_with('(') {
            continue;
        }
        for path in paths.split(", ") {
            let v = path.split('.').fold(&values, |v, k| &v[k]);
            assert!(!v.is_null(), "values.yaml lacks {path} (for {flag})");
        }
    }
}

// ---- Rendering with Helm ----

/// Helm, or `None` (the test returns) when it is missing outside CI.
fn helm(test: &str) -> Option<String> {
    let path = helm_path();
    tool_available(&path, HELM_INSTALL, test).then_some(path)
}

fn run_helm(helm: &str, args: &[&str]) -> Output {
    Command::new(helm)
        .args(args)
        // No cluster and no user configuration: rendering is offline.
        .env("KUBECONFIG", "/nonexistent")
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("winkube-helm-test/config"),
        )
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("winkube-helm-test/cache"),
        )
        .env(
            "HELM_DATA_HOME",
            std::env::temp_dir().join("winkube-helm-test/data"),
        )
        .output()
        .unwrap()
}

fn set_args(sets: &[&str]) -> Vec<String> {
    sets.iter()
        .flat_map(|s| ["--set".to_owned(), s.to_string()])
        .collect()
}

/// `helm template` of the chart, CRDs included, as documents.
fn render(helm: &str, namespace: &str, sets: &[&str]) -> Vec<Value> {
    let chart = chart();
    let mut args = vec![
        "template",
        "winkube",
        chart.to_str().unwrap(),
        "--namespace",
        namespace,
        "--include-crds",
    ];
    let sets = set_args(sets);
    args.extend(sets.iter().map(String::as_str));
    let o = run_helm(helm, &args);
    assert_eq!(code(&o), 0, "helm {args:?}: {}", stderr(&o));
    yaml_docs(&stdout(&o))
}

/// Objects by (kind, namespace, name).
fn by_key(docs: Vec<Value>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for d in docs {
        let key = format!(
            "{} {}/{}",
            d["kind"].as_str().unwrap(),
            d["metadata"]["namespace"].as_str().unwrap_or(""),
            d["metadata"]["name"].as_str().unwrap()
        );
        assert!(out.insert(key.clone(), d).is_none(), "{key} twice");
    }
    out
}

/// The settings compared: helm `--set`s, and the same as `winkube manifests` flags.
struct Settings {
    namespace: &'static str,
    sets: &'static [&'static str],
    flags: &'static [&'static str],
}

const SETTINGS: [Settings; 6] = [
    Settings {
        namespace: "winkube",
        sets: &[],
        flags: &[],
    },
    Settings {
        namespace: "gmsa",
        sets: &["createNamespace=true"],
        flags: &[],
    },
    Settings {
        namespace: "winkube",
        sets: &[
            "certificates.mode=cert-manager",
            "authorization=rbac-cache",
            "failurePolicy=Ignore",
            "timeoutSeconds=3",
            "replicas=3",
            "randomHostname=true",
        ],
        flags: &[
            "--cert-manager",
            "--authorization=rbac-cache",
            "--failure-policy=Ignore",
            "--timeout-seconds=3",
            "--replicas=3",
            "--random-hostname",
        ],
    },
    Settings {
        namespace: "win-ops",
        sets: &[
            "windowsPolicies.enabled=true",
            "windowsPolicies.failurePolicy=Fail",
            "matchConditions=false",
            "image.repository=registry.example:5000/winkube",
            "image.tag=dev",
        ],
        flags: &[
            "--windows-policies",
            "--windows-failure-policy=Fail",
            "--no-match-conditions",
            "--image=registry.example:5000/winkube:dev",
        ],
    },
    Settings {
        namespace: "all-on",
        sets: &[
            "createNamespace=true",
            "windowsPolicies.enabled=true",
            "certificates.mode=cert-manager",
            "timeoutSeconds=30",
        ],
        flags: &[
            "--windows-policies",
            "--cert-manager",
            "--timeout-seconds=30",
        ],
    },
    Settings {
        namespace: "monitored",
        sets: &["serviceMonitor.enabled=true", "authorization=rbac-cache"],
        flags: &["--service-monitor", "--authorization=rbac-cache"],
    },
];

#[test]
fn helm_template_renders_what_winkube_manifests_prints() {
    let Some(helm) = helm("helm_template_renders_what_winkube_manifests_prints") else {
        return;
    };
    let mut objects = 0;
    for s in &SETTINGS {
        let rendered = by_key(render(&helm, s.namespace, s.sets));
        let ns_flag = format!("--namespace={}", s.namespace);
        let mut args = vec!["manifests", ns_flag.as_str()];
        args.extend(s.flags);
        let mut expected = by_key(winkube_docs(&args));
        if !s.sets.contains(&"createNamespace=true") {
            // Helm's way: the release namespace exists (helm install --create-namespace).
            expected.remove(&format!("Namespace /{}", s.namespace));
        }
        let keys = |m: &BTreeMap<String, Value>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&rendered), keys(&expected), "{:?}", s.sets);
        for (key, want) in &expected {
            assert_eq!(&rendered[key], want, "{key} differs for {:?}", s.sets);
            objects += 1;
        }
    }
    eprintln!(
        "helm template: {} value sets, {objects} objects equal to winkube manifests",
        SETTINGS.len()
    );
}

#[test]
fn helm_lint_strict_passes_for_every_value_set() {
    let Some(helm) = helm("helm_lint_strict_passes_for_every_value_set") else {
        return;
    };
    let chart = chart();
    for s in &SETTINGS {
        let mut args = vec![
            "lint",
            "--strict",
            chart.to_str().unwrap(),
            "--namespace",
            s.namespace,
        ];
        let sets = set_args(s.sets);
        args.extend(sets.iter().map(String::as_str));
        let o = run_helm(&helm, &args);
        assert_eq!(code(&o), 0, "helm {args:?}:\n{}{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).contains("0 chart(s) failed"), "{}", stdout(&o));
    }
}

#[test]
fn bad_values_fail_at_install_time_naming_the_value() {
    let Some(helm) = helm("bad_values_fail_at_install_time_naming_the_value") else {
        return;
    };
    let chart = chart();
    for (set, expect) in [
        ("timeoutSeconds=31", "/timeoutSeconds"),
        ("timeoutSeconds=0", "/timeoutSeconds"),
        ("failurePolicy=Maybe", "/failurePolicy"),
        ("authorization=everyone", "/authorization"),
        (
            "certificates.mode=self-signed-by-hand",
            "/certificates/mode",
        ),
        ("replicas=0", "/replicas"),
        ("randomHostname=yes", "/randomHostname"),
        (
            "windowsPolicies.failurePolicy=Sometimes",
            "/windowsPolicies/failurePolicy",
        ),
        ("image.tag=bad tag", "/image/tag"),
        ("timeoutSecond=5", "timeoutSecond"),
        (
            "serviceMonitor.enabled=sometimes",
            "/serviceMonitor/enabled",
        ),
        ("serviceMonitor.interval=10s", "interval"),
    ] {
        let o = run_helm(
            &helm,
            &["template", "winkube", chart.to_str().unwrap(), "--set", set],
        );
        assert_ne!(code(&o), 0, "{set} was accepted");
        let err = stderr(&o);
        assert!(err.contains(expect), "{set}: {err}");
        assert!(stdout(&o).is_empty(), "{set}: something was rendered");
    }
    let o = run_helm(
        &helm,
        &[
            "template",
            "winkube",
            chart.to_str().unwrap(),
            "--namespace",
            "Bad_NS",
        ],
    );
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("namespace \"Bad_NS\" is not a valid namespace name"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn metrics_are_on_in_every_value_set_and_monitored_on_request() {
    let Some(helm) = helm("metrics_are_on_in_every_value_set_and_monitored_on_request") else {
        return;
    };
    for s in &SETTINGS {
        let rendered = by_key(render(&helm, s.namespace, s.sets));
        let deployment = &rendered[&format!("Deployment {}/winkube", s.namespace)];
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert!(
            container["args"]
                .as_array()
                .unwrap()
                .contains(&json!("--metrics-bind-address=:8080")),
            "{:?}",
            s.sets
        );
        let service = &rendered[&format!("Service {}/winkube", s.namespace)];
        let ports = service["spec"]["ports"].as_array().unwrap();
        assert!(
            ports
                .iter()
                .any(|p| p["name"] == "metrics" && p["port"] == 8080)
        );
        let monitor = rendered.get(&format!("ServiceMonitor {}/winkube", s.namespace));
        assert_eq!(
            monitor.is_some(),
            s.sets.contains(&"serviceMonitor.enabled=true"),
            "{:?}",
            s.sets
        );
        if let Some(m) = monitor {
            // It selects the Service above by its labels and scrapes the port by name.
            let selector = m["spec"]["selector"]["matchLabels"].as_object().unwrap();
            for (k, v) in selector {
                assert_eq!(&service["metadata"]["labels"][k], v, "{k}");
            }
            assert_eq!(m["spec"]["endpoints"][0]["port"], "metrics");
        }
    }
}

#[test]
fn notes_say_how_to_verify_with_one_pod() {
    let notes = std::fs::read_to_string(chart().join("templates/NOTES.txt")).unwrap();
    assert!(notes.contains("kubectl run gmsa-check"), "{notes}");
    assert!(notes.contains("--dry-run=server"));
    assert!(notes.contains("gmsaCredentialSpecName"));
    // The message the verification expects is the webhook's real one.
    assert!(notes.contains("cred spec winkube-does-not-exist does not exist"));
    assert!(notes.contains(
        "admission webhook \"admission-webhook.windows-gmsa.sigs.k8s.io\" denied the request"
    ));
    let Some(helm) = helm("notes_say_how_to_verify_with_one_pod") else {
        return;
    };
    // `helm install --dry-run=client` renders the notes without a cluster.
    let chart = chart();
    for (sets, secret_steps) in [
        (&[][..], true),
        (&["certificates.mode=cert-manager"][..], false),
    ] {
        let mut args = vec![
            "install",
            "winkube",
            chart.to_str().unwrap(),
            "-n",
            "gmsa-ops",
            "--dry-run=client",
        ];
        let sets = set_args(sets);
        args.extend(sets.iter().map(String::as_str));
        let o = run_helm(&helm, &args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let out = stdout(&o);
        let notes = &out[out.find("NOTES:").unwrap()..];
        assert!(
            notes.contains("kubectl -n gmsa-ops rollout status deployment/winkube"),
            "{notes}"
        );
        assert!(notes.contains("kubectl run gmsa-check"), "{notes}");
        assert_eq!(
            notes.contains("create secret tls winkube-tls"),
            secret_steps,
            "{notes}"
        );
    }
}
