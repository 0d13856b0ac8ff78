//! `winkube manifests`: the whole installation without a subcommand, and the flags of the
//! gMSA webhook configurations (timeout, matchConditions, namespace).
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::*;

fn gmsa_webhooks(docs: &[Value]) -> Vec<&Value> {
    docs.iter()
        .filter(|d| {
            d["kind"]
                .as_str()
                .unwrap()
                .ends_with("WebhookConfiguration")
                && d["metadata"]["name"] == "winkube"
        })
        .map(|d| &d["webhooks"][0])
        .collect()
}

#[test]
fn bare_manifests_is_the_crd_then_the_install_bundle() {
    for flags in [
        &[][..],
        &[
            "--namespace",
            "gmsa",
            "--certificates",
            "cert-manager",
            "--windows-policies",
        ][..],
    ] {
        let all = winkube_docs(&[&["manifests"][..], flags].concat());
        let crd = winkube_docs(&["manifests", "crd"]);
        let install = winkube_docs(&[&["manifests", "install"][..], flags].concat());
        assert_eq!(all[0]["kind"], "CustomResourceDefinition");
        assert_eq!(all, [crd, install].concat(), "flags {flags:?}");
    }
    // The header names the command that regenerates it.
    let o = winkube(&["manifests", "--timeout-seconds", "3"]);
    assert!(
        stdout(&o).contains("#   cargo run -q -p winkube -- manifests --timeout-seconds 3\n"),
        "{}",
        stdout(&o)
    );
    // The subcommands stay, and install flags belong to the bare form or to `install`.
    let o = winkube(&["manifests", "--cert-manager", "crd"]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
}

#[test]
fn certificate_modes() {
    // The older --cert-manager still means cert-manager.
    assert_eq!(
        winkube_docs(&["manifests", "install", "--cert-manager"]),
        winkube_docs(&["manifests", "install", "--certificates", "cert-manager"])
    );
    // Self-managed is the default.
    assert_eq!(
        winkube_docs(&["manifests", "install"]),
        winkube_docs(&["manifests", "install", "--certificates", "self-managed"])
    );
    let o = winkube(&["manifests", "install", "--certificates", "by-hand"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("by-hand"), "{}", stderr(&o));
    let o = winkube(&[
        "manifests",
        "install",
        "--cert-manager",
        "--certificates",
        "secret",
    ]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
}

#[test]
fn gmsa_webhooks_time_out_after_five_seconds_unless_told() {
    let docs = winkube_docs(&["manifests", "install"]);
    let hooks = gmsa_webhooks(&docs);
    assert_eq!(hooks.len(), 2);
    for w in &hooks {
        assert_eq!(w["timeoutSeconds"], 5);
    }
    for t in ["1", "30"] {
        let docs = winkube_docs(&["manifests", "install", "--timeout-seconds", t]);
        for w in gmsa_webhooks(&docs) {
            assert_eq!(w["timeoutSeconds"].to_string(), t);
        }
    }
    for bad in ["0", "31", "-1", "five"] {
        let o = winkube(&["manifests", "install", &format!("--timeout-seconds={bad}")]);
        assert_eq!(code(&o), 2, "{bad}");
        let err = stderr(&o);
        assert!(err.contains(&format!("'{bad}'")), "{err}");
        assert!(err.contains("--timeout-seconds"), "{err}");
        assert!(stdout(&o).is_empty());
    }
}

#[test]
fn match_conditions_are_on_by_default_and_can_be_left_out() {
    let expression = winkube_policy::scope::gmsa_match_expression();
    let docs = winkube_docs(&["manifests"]);
    for w in gmsa_webhooks(&docs) {
        assert_eq!(
            w["matchConditions"],
            json!([{"name": winkube_policy::scope::GMSA_MATCH_CONDITION_NAME, "expression": expression}])
        );
    }
    let docs = winkube_docs(&["manifests", "--no-match-conditions"]);
    let hooks = gmsa_webhooks(&docs);
    assert_eq!(hooks.len(), 2);
    for w in hooks {
        assert!(w.get("matchConditions").is_none(), "{w}");
    }
    // The Windows policies concern every Windows pod: never filtered by gMSA settings.
    let docs = winkube_docs(&["manifests", "install", "--windows-policies"]);
    for d in docs
        .iter()
        .filter(|d| d["metadata"]["name"] == "winkube-windows")
    {
        assert!(d["webhooks"][0].get("matchConditions").is_none());
    }
}

#[test]
fn a_namespace_that_is_not_a_dns_label_is_refused_by_name() {
    for bad in ["Bad_NS", "-a", "a-", "ns.with.dots", &"x".repeat(64)] {
        for cmd in [&["manifests"][..], &["manifests", "install"][..]] {
            let flag = format!("--namespace={bad}");
            let o = winkube(&[cmd, &[flag.as_str()]].concat());
            assert_eq!(code(&o), 2, "{bad}");
            let err = stderr(&o);
            assert!(
                err.contains(&format!("\"{bad}\" is not a valid namespace name")),
                "{err}"
            );
            assert!(stdout(&o).is_empty());
        }
    }
    let docs = winkube_docs(&["manifests", "--namespace", "a-1"]);
    assert_eq!(docs[1]["metadata"]["name"], "a-1");
}

/// The ClusterRole's rules, and the webhook container's arguments.
fn role_and_args(flags: &[&str]) -> (Vec<Value>, Vec<Value>) {
    let docs = winkube_docs(&[&["manifests", "install"][..], flags].concat());
    let role = docs.iter().find(|d| d["kind"] == "ClusterRole").unwrap();
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    (
        role["rules"].as_array().unwrap().clone(),
        deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .clone(),
    )
}

#[test]
fn nodes_runtimeclasses_and_secrets_are_granted_only_when_used() {
    let grants = |rules: &[Value], resource: &str| {
        rules.iter().any(|r| {
            r["resources"]
                .as_array()
                .unwrap()
                .contains(&json!(resource))
        })
    };
    // The gMSA webhook alone: no Windows policies, nothing they would watch.
    let (rules, args) = role_and_args(&[]);
    assert!(!grants(&rules, "nodes") && !grants(&rules, "runtimeclasses"));
    assert!(!args.contains(&json!("--windows-policies")), "{args:?}");
    for flags in [
        &["--windows-policies"][..],
        &["--windows-policies", "--read-pull-secrets"][..],
    ] {
        let read = flags.contains(&"--read-pull-secrets");
        let (rules, args) = role_and_args(flags);
        assert!(grants(&rules, "nodes") && grants(&rules, "runtimeclasses"));
        assert!(args.contains(&json!("--windows-policies")), "{args:?}");
        assert_eq!(args.contains(&json!("--read-pull-secrets")), read);
        // The only cluster-wide Secret rule is the pull secrets' get.
        let secrets: Vec<&Value> = rules
            .iter()
            .filter(|r| r["resources"] == json!(["secrets"]) && r["resourceNames"].is_null())
            .filter(|r| r["verbs"].as_array().unwrap().contains(&json!("get")))
            .collect();
        assert_eq!(secrets.len(), usize::from(read), "{flags:?}: {rules:?}");
    }
    // As the chart: the option needs the Windows policies.
    let o = winkube(&["manifests", "install", "--read-pull-secrets"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--windows-policies"), "{}", stderr(&o));
}

/// `-o json` prints the same objects as the YAML, as one `List`, for every generator.
#[test]
fn output_json_is_a_list_of_the_same_objects() {
    let list = |args: &[&str]| -> Vec<Value> {
        let o = winkube(args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(
            (&v["apiVersion"], &v["kind"]),
            (&json!("v1"), &json!("List")),
            "{args:?}"
        );
        v["items"].as_array().unwrap().clone()
    };
    for (yaml, json_args) in [
        (vec!["manifests"], vec!["manifests", "-o", "json"]),
        (
            vec!["manifests", "crd"],
            vec!["manifests", "crd", "-o", "json"],
        ),
        (
            vec!["manifests", "install", "--windows-policies"],
            vec![
                "manifests",
                "install",
                "--windows-policies",
                "--output",
                "json",
            ],
        ),
        (
            vec![
                "manifests",
                "kube-proxy",
                "--kubernetes-version",
                "v1.33.1",
                "--cni",
                "flannel",
            ],
            vec![
                "manifests",
                "kube-proxy",
                "--kubernetes-version",
                "v1.33.1",
                "--cni",
                "flannel",
                "-o",
                "json",
            ],
        ),
        (
            vec!["runtimeclass", "--build", "2022"],
            vec!["runtimeclass", "--build", "2022", "-o", "json"],
        ),
    ] {
        let want = winkube_docs(&yaml);
        assert!(!want.is_empty());
        assert_eq!(list(&json_args), want, "{json_args:?}");
        // -o yaml is the default, byte for byte.
        let explicit: Vec<&str> = yaml.iter().copied().chain(["-o", "yaml"]).collect();
        let (a, b) = (winkube(&yaml), winkube(&explicit));
        if yaml[0] == "runtimeclass" {
            // The header names the command as given.
            assert_eq!(yaml_docs(&stdout(&a)), yaml_docs(&stdout(&b)));
        } else {
            assert_eq!(stdout(&a), stdout(&b), "{yaml:?}");
        }
    }
    assert_eq!(code(&winkube(&["runtimeclass", "-o", "xml"])), 2);
}
