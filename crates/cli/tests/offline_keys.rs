//! The offline gate reads manifests as the API server does (exact keys, no duplicates), not
//! as the webhook reads the API server's reviews (Go's case folding, last duplicate wins).
//! Each manifest here would be admitted offline by a folding decoder while the cluster
//! denies it: it must be an input error (exit 2) that names the key and the field.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn admit(command: &str, manifest: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_winkube"))
        .args([command, "--offline", "--state", "examples/state", "-"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifest.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A pod of service account `billing`, which may not `use` gmsa-webapp-1: the cluster denies it.
fn billing_pod() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "billing", "namespace": "default"},
        "spec": {
            "serviceAccountName": "billing",
            "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "gmsa-webapp-1"}},
            "containers": [{
                "name": "billing",
                "image": "org/billing:ltsc2019",
                "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "gmsa-webapp-1"}}
            }]
        }
    })
}

fn deployment_of(pod: &Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "billing", "namespace": "default"},
        "spec": {"template": {"metadata": pod["metadata"].clone(), "spec": pod["spec"].clone()}}
    })
}

fn yaml(v: &Value) -> String {
    serde_saphyr::to_string(v).unwrap()
}

/// One attack shape of the review: an extra key beside a field the gMSA decoder reads.
struct Shape {
    /// Where in the pod spec the key is added.
    under: &'static [&'static str],
    key: &'static str,
    value: Value,
    /// The field it shadows, and where the error says it is (from the pod).
    field: &'static str,
    at: &'static str,
}

fn shapes() -> Vec<Shape> {
    vec![
        Shape {
            under: &[],
            key: "securitycontext",
            value: json!({}),
            field: "securityContext",
            at: "spec",
        },
        Shape {
            under: &[],
            key: "serviceaccountname",
            value: json!("default"),
            field: "serviceAccountName",
            at: "spec",
        },
        Shape {
            under: &[],
            key: "container\u{17F}",
            value: json!([]),
            field: "containers",
            at: "spec",
        },
        Shape {
            under: &["containers", "0"],
            key: "\u{17F}ecurityContext",
            value: json!({}),
            field: "securityContext",
            at: "spec.containers[0]",
        },
        Shape {
            under: &["securityContext"],
            key: "WINDOWSOPTIONS",
            value: json!({}),
            field: "windowsOptions",
            at: "spec.securityContext",
        },
        Shape {
            under: &["containers", "0", "securityContext", "windowsOptions"],
            key: "gmsacredentialspecname",
            value: json!(null),
            field: "gmsaCredentialSpecName",
            at: "spec.containers[0].securityContext.windowsOptions",
        },
        Shape {
            under: &[],
            key: "serviceaccount",
            value: json!("default"),
            field: "serviceAccount",
            at: "spec",
        },
    ]
}

fn with_extra(s: &Shape) -> Value {
    let mut pod = billing_pod();
    let mut at = &mut pod["spec"];
    for p in s.under {
        at = match p.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[*p],
        };
    }
    at.as_object_mut()
        .unwrap()
        .insert(s.key.to_owned(), s.value.clone());
    pod
}

#[test]
fn the_cluster_denies_the_pod_without_the_extra_keys() {
    let o = admit("admit", &yaml(&billing_pod()));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("denied (403)"));
}

#[test]
fn keys_folding_onto_a_read_field_are_input_errors_in_pods_and_templates() {
    for s in shapes() {
        let pod = with_extra(&s);
        for (object, prefix) in [(pod.clone(), ""), (deployment_of(&pod), "spec.template.")] {
            for (format, text) in [("yaml", yaml(&object)), ("json", object.to_string())] {
                for command in ["admit", "lint"] {
                    let o = admit(command, &text);
                    let err = String::from_utf8_lossy(&o.stderr);
                    let what = format!("{command} {format} {:?} in {prefix}{}", s.key, s.at);
                    assert_eq!(o.status.code(), Some(2), "{what}: {err}");
                    // Nothing about the object is printed: admit prints nothing, lint
                    // only its summary line.
                    let out = String::from_utf8_lossy(&o.stdout);
                    if command == "admit" {
                        assert!(out.is_empty(), "{what}");
                    } else {
                        assert_eq!(
                            out, "0 objects checked, 0 would be denied, 1 input error\n",
                            "{what}"
                        );
                    }
                    assert!(
                        err.starts_with("error: <stdin> (document 1): "),
                        "{what}: {err}"
                    );
                    assert!(
                        err.contains(&format!(
                            "key {:?} in {prefix}{} differs from the field {:?} only by case or Unicode folding",
                            s.key, s.at, s.field
                        )),
                        "{what}: {err}"
                    );
                }
            }
        }
    }
}

#[test]
fn duplicate_keys_are_input_errors_in_yaml_and_json() {
    let json = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"serviceAccountName":"billing","serviceAccountName":"default","containers":[]}}"#;
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  serviceAccountName: billing\n  serviceAccountName: default\n  containers: []\n";
    for (format, text) in [("json", json), ("yaml", yaml)] {
        let o = admit("admit", text);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{format}: {err}");
        assert!(err.contains("serviceAccountName"), "{format}: {err}");
        assert!(err.to_lowercase().contains("duplicate"), "{format}: {err}");
    }
}

#[test]
fn unknown_keys_that_fold_onto_nothing_stay_allowed() {
    // Not every unknown key is refused: only those the webhook's decoder would read.
    let mut pod = billing_pod();
    pod["spec"]["serviceAccountName"] = json!("default");
    pod["spec"]["securityContexts"] = json!({});
    pod["spec"]["x-note"] = json!("free text");
    let o = admit("admit", &yaml(&pod));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
