//! The `winkube-node` binary on Linux: plans with `--dry-run --facts`, join's
//! configuration with `--print`, and the errors for bad input.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::*;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_winkube-node"))
        .args(args)
        .env_remove("WINKUBE_JOIN_TOKEN")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn facts_file(dir: &Path, facts: &winkube_node::facts::NodeFacts) -> String {
    let p = dir.join("facts.json");
    std::fs::write(&p, serde_json::to_vec(facts).unwrap()).unwrap();
    p.display().to_string()
}

#[test]
fn prepare_dry_run_prints_the_plan_as_json_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let bins = dir.path().join("bin");
    std::fs::create_dir(&bins).unwrap();
    binaries_dir(&bins);
    let facts = facts_file(dir.path(), &fresh_node());
    let bins = bins.display().to_string();
    let base = [
        "prepare",
        "--kubernetes-version",
        "v1.31.2",
        "--binaries-from",
        &bins,
        "--facts",
        &facts,
        "--dry-run",
    ];
    let out = run(&[&base[..], &["-o", "json"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["kubernetesVersion"], "v1.31.2");
    assert_eq!(plan["files"][0]["sha256"], sha(&binary("kubelet.exe")));
    assert_eq!(
        plan["service"]["definition"]["dependencies"][0],
        "containerd"
    );
    // winkube-node copies itself (this very binary) for the service.
    let me = winkube_node::artifacts::sha256_file(Path::new(env!("CARGO_BIN_EXE_winkube-node")))
        .unwrap();
    assert_eq!(plan["files"][2]["sha256"], me.as_str());

    let out = run(&base);
    assert!(out.status.success());
    let t = text(&out.stdout);
    assert!(
        t.starts_with("prepare: Kubernetes v1.31.2 on 10.0.20348 (Windows Server 2022)"),
        "{t}"
    );
    assert!(t.ends_with("12 change(s)\n"), "{t}");

    // Without --dry-run, another OS refuses to change anything.
    let out = run(&base[..base.len() - 1]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--dry-run"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn prepare_on_a_node_that_is_not_ready_exits_1_with_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    binaries_dir(dir.path());
    let mut f = fresh_node();
    f.containers_feature = false;
    let facts = facts_file(dir.path(), &f);
    let bins = dir.path().display().to_string();
    let out = run(&[
        "prepare",
        "--kubernetes-version",
        "v1.31.2",
        "--binaries-from",
        &bins,
        "--facts",
        &facts,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(
        e.contains("the node is not ready") && e.contains("Containers feature is not enabled"),
        "{e}"
    );
    assert!(
        !e.contains("containerd-containerd"),
        "only what is missing: {e}"
    );
    let out = run(&[
        "prepare",
        "--kubernetes-version",
        "v1.31.2",
        "--binaries-from",
        &bins,
        "--facts",
        &facts,
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("FAIL the Windows Containers feature is not enabled"));
}

#[test]
fn bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let facts = facts_file(dir.path(), &fresh_node());
    let cases: &[(&[&str], &str)] = &[
        (
            &["prepare", "--kubernetes-version", "v1.36.0", "--dry-run"],
            "unknown Kubernetes version v1.36.0",
        ),
        (
            &["prepare", "--kubernetes-version", "1.31", "--dry-run"],
            "invalid Kubernetes version \"1.31\"",
        ),
        (
            &[
                "prepare",
                "--kubernetes-version",
                "v1.31.2",
                "--binaries-from",
                "/nonexistent/bin",
                "--facts",
                &facts,
                "--dry-run",
            ],
            "/nonexistent/bin/kubelet.exe.sha256",
        ),
        (
            &[
                "prepare",
                "--kubernetes-version",
                "v1.31.2",
                "--facts",
                "/nonexistent/facts.json",
                "--dry-run",
            ],
            "/nonexistent/facts.json",
        ),
        (
            &[
                "join",
                "--print",
                "--kubernetes-version",
                "v1.31.2",
                "--api-server-endpoint",
                "10.0.0.10:6443",
                "--token",
                "bad",
            ],
            "token: expected",
        ),
    ];
    for (args, want) in cases {
        let out = run(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let e = text(&out.stderr);
        assert!(e.contains(want), "{args:?}: {e}");
    }
    // An unsupported build is named by prepare's checks.
    let mut f = fresh_node();
    f.windows_build = Some(winkube_api::windows::WindowsBuild::ten(14393));
    let facts = facts_file(dir.path(), &f);
    binaries_dir(dir.path());
    let bins = dir.path().display().to_string();
    let out = run(&[
        "prepare",
        "--kubernetes-version",
        "v1.31.2",
        "--binaries-from",
        &bins,
        "--facts",
        &facts,
    ]);
    assert!(
        text(&out.stderr).contains("10.0.14393 (Windows Server 2016) is not supported"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn join_prints_the_configuration_from_flags_and_a_file() {
    let hash = format!("sha256:{}", "ab".repeat(32));
    let out = run(&[
        "join",
        "--print",
        "--kubernetes-version",
        "v1.31.2",
        "--api-server-endpoint",
        "10.0.0.10:6443",
        "--token",
        "abcdef.0123456789abcdef",
        "--discovery-token-ca-cert-hash",
        &hash,
        "--node-label",
        "example.com/pool=win",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    golden("join-v1.31.2.yaml", &text(&out.stdout));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("join.yaml");
    std::fs::write(
        &file,
        format!("apiServerEndpoint: cp.example.com:6443\ntoken: abcdef.0123456789abcdef\ncaCertHashes: [\"{hash}\"]\nlabels:\n  example.com/pool: win\ntaint: dedicated=windows:NoSchedule\n"),
    )
    .unwrap();
    let f = file.display().to_string();
    let out = run(&[
        "join",
        "--print",
        "-o",
        "json",
        "--kubernetes-version",
        "v1.30.2",
        "--config",
        &f,
        "--node-name",
        "win-7",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["apiVersion"], "kubeadm.k8s.io/v1beta3");
    assert_eq!(
        c["discovery"]["bootstrapToken"]["apiServerEndpoint"],
        "cp.example.com:6443"
    );
    assert_eq!(c["nodeRegistration"]["name"], "win-7");
    assert_eq!(c["nodeRegistration"]["taints"][0]["key"], "dedicated");
    assert_eq!(
        c["nodeRegistration"]["kubeletExtraArgs"]["node-labels"],
        "example.com/pool=win"
    );

    // Unknown keys in the file are refused, named.
    std::fs::write(&file, "apiServerEndpoint: a:1\ntokn: x\n").unwrap();
    let out = run(&[
        "join",
        "--print",
        "--kubernetes-version",
        "v1.31.2",
        "--config",
        &f,
    ]);
    assert!(text(&out.stderr).contains("tokn"), "{}", text(&out.stderr));

    // The dry run shows the file and the command; on Linux the join itself is refused.
    let base = [
        "join",
        "--kubernetes-version",
        "v1.31.2",
        "--api-server-endpoint",
        "10.0.0.10:6443",
        "--token",
        "abcdef.0123456789abcdef",
        "--discovery-token-ca-cert-hash",
        &hash,
    ];
    let out = run(&[&base[..], &["--dry-run"]].concat());
    let t = text(&out.stdout);
    assert!(
        t.contains(r"run: C:\k\kubeadm.exe join --config C:\k\kubeadm-join.yaml"),
        "{t}"
    );
    let out = run(&base);
    assert!(!out.status.success());
}
