//! The `winkube-csi-proxy` binary: flags, API selection, and a `--fake-host`
//! run that serves real data over Unix sockets.
#![cfg(unix)] // the transport under test is the Unix-socket one
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_winkube-csi-proxy");

/// Waits up to 5 s for the served process to create `path`.
fn wait_for(path: &std::path::Path) {
    for _ in 0..500 {
        if path.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

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
    wait_for(&sock);
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

/// CPU time (user + system) of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised name: state is 3rd, utime 14th, stime 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

#[test]
fn running_out_of_descriptors_does_not_spin_the_accept_loop() {
    let dir = tempfile::tempdir().unwrap();
    // 48 descriptors: the runtime and one socket fit, a flood of clients does not.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 48 && exec {BIN} --fake-host --api disk/v1 --socket-dir {} --max-connections 1000",
            dir.path().display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sock = dir.path().join("csi-proxy-disk-v1");
    wait_for(&sock);
    let mut clients = Vec::new();
    for _ in 0..200 {
        if let Ok(c) = std::os::unix::net::UnixStream::connect(&sock) {
            clients.push(c);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let t0 = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(child.id()) - t0;
    let _ = child.kill();
    let _ = child.wait();
    // 2 s of wall time is 200 ticks at 100 Hz; a spinning loop uses all of them.
    eprintln!("CPU while out of descriptors: {used} ticks in 2 s");
    assert!(used < 40, "accept loop used {used} ticks in 2 s");
}
