//! Applying a plan: the file steps for real under a temporary root (the same code runs on
//! Windows without a root), the service manager and firewall through the stand-in. A
//! second run has nothing to do; a failure leaves the node as it was.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use support::*;
use winkube_node::Error;
use winkube_node::apply::apply;
use winkube_node::facts::{NodeFacts, ServiceFacts};
use winkube_node::paths::{Layout, host_path};
use winkube_node::plan::{Plan, PrepareOptions, plan_prepare};
use winkube_node::version::KubernetesVersion;

fn opts() -> PrepareOptions {
    PrepareOptions {
        version: KubernetesVersion::parse("v1.31.2").unwrap(),
        layout: Layout::default(),
    }
}

/// Stages the binaries as `prepare` does (verified copies in a private directory).
fn stage(plan: &Plan, staging: &Path) -> BTreeMap<String, PathBuf> {
    let mut staged = BTreeMap::new();
    for f in plan.artifacts_needed() {
        let name = f.path.rsplit('\\').next().unwrap();
        let p = staging.join(name);
        std::fs::write(&p, binary(name)).unwrap();
        staged.insert(f.path.clone(), p);
    }
    staged
}

/// The node's facts as Windows would report them after the run.
fn facts_after(root: &Path, sys: &TestSystem) -> NodeFacts {
    let layout = Layout::default();
    let mut facts = fresh_node();
    let files: Vec<String> = [
        "kubelet.exe",
        "kubeadm.exe",
        "winkube-node.exe",
        "kubelet-service.json",
    ]
    .iter()
    .map(|n| layout.install(n))
    .collect();
    facts
        .read_files(Some(root), &layout.directories(), &files)
        .unwrap();
    facts.service = sys.state.services.get("kubelet").map(|d| ServiceFacts {
        command_line: d.command_line(),
        dependencies: d.dependencies.clone(),
        start: d.start.clone(),
        restarts_on_failure: d.restart.attempts > 0,
    });
    facts.firewall_rule = !sys.state.rules.is_empty();
    facts
}

/// Every file under `root`, relative, with its content.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if p.is_dir() {
                out.insert(format!("{rel}/"), vec![]);
                stack.push(p);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn prepare_then_nothing_to_change() {
    let root = tempfile::tempdir().unwrap();
    let staging = tempfile::tempdir().unwrap();
    let mut sys = TestSystem::default();
    let plan = plan_prepare(&fresh_node(), &opts(), &artifacts()).unwrap();
    let applied = apply(
        &plan,
        Some(root.path()),
        &stage(&plan, staging.path()),
        &mut sys,
    )
    .unwrap();
    assert_eq!((applied.directories, applied.files), (6, 4));
    assert!(applied.service && applied.firewall);
    let kubelet = host_path(Some(root.path()), r"C:\k\kubelet.exe");
    assert_eq!(std::fs::read(&kubelet).unwrap(), binary("kubelet.exe"));
    // No staging or backup files are left beside the placed ones.
    assert!(
        tree(root.path()).keys().all(|k| !k.contains(".winkube-")),
        "{:?}",
        tree(root.path()).keys()
    );
    assert_eq!(
        sys.state.calls,
        [
            "add_firewall_rule winkube-kubelet",
            "install_service kubelet existing=false"
        ]
    );

    let again = plan_prepare(&facts_after(root.path(), &sys), &opts(), &artifacts()).unwrap();
    assert_eq!(
        again.changes(),
        0,
        "{}",
        winkube_node::render::plan_text(&again)
    );
    let before = tree(root.path());
    let applied = apply(&again, Some(root.path()), &BTreeMap::new(), &mut sys).unwrap();
    assert_eq!(applied, winkube_node::apply::Applied::default());
    assert_eq!(tree(root.path()), before);
    assert_eq!(
        sys.state.calls.len(),
        2,
        "no further service or firewall calls"
    );
}

#[test]
fn a_failed_service_registration_undoes_everything() {
    let root = tempfile::tempdir().unwrap();
    let staging = tempfile::tempdir().unwrap();
    let mut sys = TestSystem {
        fail_service: true,
        ..Default::default()
    };
    let plan = plan_prepare(&fresh_node(), &opts(), &artifacts()).unwrap();
    let e = apply(
        &plan,
        Some(root.path()),
        &stage(&plan, staging.path()),
        &mut sys,
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Applied { .. }));
    assert!(
        msg.contains("access denied") && msg.contains("the node is as it was"),
        "{msg}"
    );
    assert!(
        tree(root.path()).is_empty(),
        "left behind: {:?}",
        tree(root.path()).keys()
    );
    assert!(sys.state.rules.is_empty() && sys.state.services.is_empty());
}

#[test]
fn an_upgrade_that_fails_restores_the_old_files() {
    let root = tempfile::tempdir().unwrap();
    let staging = tempfile::tempdir().unwrap();
    let mut sys = TestSystem::default();
    let plan = plan_prepare(&fresh_node(), &opts(), &artifacts()).unwrap();
    apply(
        &plan,
        Some(root.path()),
        &stage(&plan, staging.path()),
        &mut sys,
    )
    .unwrap();
    let before = tree(root.path());

    // A new version: new config, new kubelet; the service update then fails.
    let facts = facts_after(root.path(), &sys);
    let mut o = opts();
    o.version = KubernetesVersion::parse("v1.32.0").unwrap();
    let mut a = artifacts();
    a[0].sha256 = sha(b"kubelet v1.32.0");
    let mut plan = plan_prepare(&facts, &o, &a).unwrap();
    // The service's command line is unchanged by a version change; force an update to fail.
    plan.service.action = winkube_node::plan::Action::Replace;
    let new_kubelet = staging.path().join("new-kubelet.exe");
    std::fs::write(&new_kubelet, b"kubelet v1.32.0").unwrap();
    let staged = BTreeMap::from([(r"C:\k\kubelet.exe".to_string(), new_kubelet)]);
    sys.fail_service = true;
    let e = apply(&plan, Some(root.path()), &staged, &mut sys)
        .unwrap_err()
        .to_string();
    assert!(e.contains("the node is as it was"), "{e}");
    assert_eq!(
        tree(root.path()),
        before,
        "old kubelet.exe and config restored"
    );
}

#[test]
fn a_staged_file_with_the_wrong_content_installs_nothing() {
    let root = tempfile::tempdir().unwrap();
    let staging = tempfile::tempdir().unwrap();
    let mut sys = TestSystem::default();
    let plan = plan_prepare(&fresh_node(), &opts(), &artifacts()).unwrap();
    let staged = stage(&plan, staging.path());
    std::fs::write(&staged[r"C:\k\kubeadm.exe"], b"tampered").unwrap();
    let e = apply(&plan, Some(root.path()), &staged, &mut sys)
        .unwrap_err()
        .to_string();
    assert!(e.contains(r"checksum mismatch for C:\k\kubeadm.exe"), "{e}");
    assert!(
        tree(root.path()).is_empty(),
        "left behind: {:?}",
        tree(root.path()).keys()
    );
    assert!(sys.state.calls.is_empty());
}

#[test]
fn a_node_that_is_not_ready_is_not_touched() {
    let root = tempfile::tempdir().unwrap();
    let mut facts = fresh_node();
    facts.containerd_pipe = false;
    let plan = plan_prepare(&facts, &opts(), &artifacts()).unwrap();
    let mut sys = TestSystem::default();
    let e = apply(&plan, Some(root.path()), &BTreeMap::new(), &mut sys)
        .unwrap_err()
        .to_string();
    assert!(e.contains("containerd-containerd is missing"), "{e}");
    assert!(tree(root.path()).is_empty());
}
