//! The `winkube-csi-proxy` binary: flags, API selection, and a `--fake-host`
//! run that serves real data over Unix sockets.
#![cfg(unix)] // the transport under test is the Unix-socket one
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_winkube-csi-proxy");

#[test]
fn list_apis_prints_the_23_pipes_and_selection_narrows_them() {
    let out = Command::new(BIN).arg("--list-apis").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 23);
    assert!(
        text.lines()
            .any(|l| l == r"\\.\pipe\csi-proxy-volume-v2alpha1")
    );
    let out = Command::new(BIN)
        .args([
            "--list-apis",
            "--api",
            "iscsi",
            "--api",
            "disk/v1",
            "--socket-dir",
            "/run/x",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "/run/x/csi-proxy-disk-v1",
            "/run/x/csi-proxy-iscsi-v1alpha1",
            "/run/x/csi-proxy-iscsi-v1alpha2"
        ]
    );
}

#[test]
fn bad_flags_are_clear_errors() {
    let out = Command::new(BIN)
        .args(["--list-apis", "--api", "disk/v9"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(r#"unknown API "disk/v9""#), "{err}");
    let out = Command::new(BIN)
        .args([
            "--fake-host",
            "--socket-dir",
            "/tmp",
            "--kubelet-path",
            "relative",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--kubelet-path / --working-dir"), "{err}");
    assert!(err.contains("not an absolute Windows path"), "{err}");
    let out = Command::new(BIN)
        .args(["--socket-dir", "/tmp"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("use --fake-host")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_host_serves_over_unix_sockets_and_cleans_up_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "--fake-host",
            "--api",
            "disk/v1",
            "--log-format",
            "json",
            "--socket-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sock = dir.path().join("csi-proxy-disk-v1");
    for _ in 0..500 {
        if sock.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut c = winkube_csi_proxy::wire::disk::v1::disk_client::DiskClient::new(
        common::channel(&sock).await,
    );
    let r = c
        .get_disk_state(winkube_csi_proxy::wire::disk::v1::GetDiskStateRequest { disk_number: 0 })
        .await
        .unwrap();
    assert!(r.into_inner().is_online);
    drop(c);
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!sock.exists(), "socket removed on shutdown");
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    let first = logs.lines().next().unwrap();
    let v: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(v["fields"]["message"], "starting winkube-csi-proxy");
}
