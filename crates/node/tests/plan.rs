//! `prepare`'s plan on Linux: golden plans (text and JSON) per version boundary, checks
//! that fail with what to do, and "nothing to change" on a prepared node.
#![allow(clippy::unwrap_used)]

mod support;

use support::*;
use winkube_api::windows::WindowsBuild;
use winkube_node::paths::Layout;
use winkube_node::plan::{Action, FileSource, PrepareOptions, plan_prepare};
use winkube_node::render::{NOTHING_TO_CHANGE, plan_json, plan_text};
use winkube_node::version::KubernetesVersion;

fn opts(v: &str) -> PrepareOptions {
    PrepareOptions {
        version: KubernetesVersion::parse(v).unwrap(),
        layout: Layout::default(),
    }
}

#[test]
fn golden_plans_per_version_boundary() {
    // 1.23: dockershim-era flags; 1.26: the pause image flag; 1.31: kubeadm v1beta4 (join).
    for v in ["v1.23.17", "v1.26.15", "v1.31.2"] {
        let plan = plan_prepare(&fresh_node(), &opts(v), &artifacts()).unwrap();
        golden(&format!("prepare-{v}.txt"), &plan_text(&plan));
        golden(&format!("prepare-{v}.json"), &plan_json(&plan).unwrap());
    }
}

#[test]
fn version_flags_follow_the_table() {
    let flags = |v: &str| {
        let plan = plan_prepare(&fresh_node(), &opts(v), &artifacts()).unwrap();
        let f = plan
            .files
            .iter()
            .find(|f| f.path.ends_with("kubelet-service.json"))
            .unwrap();
        match &f.source {
            FileSource::Generated { content } => content.clone(),
            _ => panic!("not generated"),
        }
    };
    assert!(flags("v1.23.17").contains("--network-plugin=cni"));
    assert!(!flags("v1.24.0").contains("--network-plugin"));
    assert!(
        flags("v1.26.15")
            .contains("--pod-infra-container-image=mcr.microsoft.com/oss/kubernetes/pause:3.6")
    );
    assert!(!flags("v1.27.0").contains("--pod-infra-container-image"));
}

#[test]
fn a_fresh_node_gets_everything_a_prepared_node_nothing() {
    let o = opts("v1.31.2");
    let plan = plan_prepare(&fresh_node(), &o, &artifacts()).unwrap();
    assert!(plan.ready());
    assert_eq!(plan.changes(), 6 + 4 + 2);
    assert_eq!(plan.commands.len(), 1);
    assert_eq!(plan.commands[0][0], "netsh");

    // The node as prepare leaves it.
    let mut facts = fresh_node();
    facts.directories = plan.directories.iter().map(|d| d.path.clone()).collect();
    facts.files = plan
        .files
        .iter()
        .map(|f| (f.path.clone(), f.sha256.clone()))
        .collect();
    facts.service = Some(winkube_node::facts::ServiceFacts {
        // Quoted differently from ours: the arguments are what counts.
        command_line: format!(
            "\"{}\" \"kubelet-service\" --config \"{}\"",
            o.layout.install("winkube-node.exe"),
            o.layout.install("kubelet-service.json")
        ),
        dependencies: vec!["containerd".into()],
        start: "automatic".into(),
        restarts_on_failure: true,
    });
    facts.firewall_rule = true;
    let again = plan_prepare(&facts, &o, &artifacts()).unwrap();
    assert_eq!(again.changes(), 0, "{}", plan_text(&again));
    assert!(again.commands.is_empty());
    assert!(plan_text(&again).ends_with(&format!("{NOTHING_TO_CHANGE}\n")));

    // A new kubelet.exe (an upgrade) replaces just that file.
    let mut newer = artifacts();
    newer[0].sha256 = sha(b"another kubelet");
    let up = plan_prepare(&facts, &o, &newer).unwrap();
    assert_eq!(up.changes(), 1);
    assert_eq!(up.files[0].action, Action::Replace);

    // A service without restart actions is reconfigured.
    facts.service.as_mut().unwrap().restarts_on_failure = false;
    let fix = plan_prepare(&facts, &o, &artifacts()).unwrap();
    assert_eq!(fix.service.action, Action::Replace);
}

#[test]
fn failed_checks_say_what_is_missing() {
    let mut facts = fresh_node();
    facts.windows_build = Some(WindowsBuild::ten(17763));
    facts.containers_feature = false;
    facts.containerd_pipe = false;
    facts.reboot_pending = true;
    let plan = plan_prepare(&facts, &opts("v1.31.2"), &artifacts()).unwrap();
    assert!(!plan.ready());
    assert_eq!(plan.failed_checks().count(), 4);
    golden("prepare-not-ready.txt", &plan_text(&plan));
    let msg = winkube_node::render::not_ready_message(&plan);
    for want in [
        "10.0.17763 (Windows Server 2019) is not supported",
        "Containers feature is not enabled",
        r"\\.\pipe\containerd-containerd is missing",
        "waiting for a restart",
    ] {
        assert!(msg.contains(want), "{want:?} missing from {msg}");
    }
    // Only what is missing is reported.
    let mut facts = fresh_node();
    facts.reboot_pending = true;
    let plan = plan_prepare(&facts, &opts("v1.31.2"), &artifacts()).unwrap();
    let msg = winkube_node::render::not_ready_message(&plan);
    assert_eq!(msg.lines().count(), 2, "{msg}");
}

#[test]
fn bad_input_is_named() {
    let mut a = artifacts();
    a[1].sha256 = "xyz".into();
    let e = plan_prepare(&fresh_node(), &opts("v1.31.2"), &a)
        .unwrap_err()
        .to_string();
    assert!(e.contains("checksum of kubeadm.exe"), "{e}");
    let e = plan_prepare(&fresh_node(), &opts("v1.31.2"), &artifacts()[..2])
        .unwrap_err()
        .to_string();
    assert!(e.contains("no winkube-node.exe"), "{e}");
    let mut o = opts("v1.31.2");
    o.layout.install_dir = "relative\\k".into();
    let e = plan_prepare(&fresh_node(), &o, &artifacts())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("--install-dir"), "{e}");
}
