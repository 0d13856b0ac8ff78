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

/// The first JSON log line of `file` whose message is `message`, waiting up to 5 s.
fn log_line(file: &std::path::Path, message: &str) -> serde_json::Value {
    for _ in 0..500 {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let found = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["fields"]["message"] == message);
        if let Some(v) = found {
            return v;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "no log line {message:?} in {}:\n{}",
        file.display(),
        std::fs::read_to_string(file).unwrap_or_default()
    );
}

/// A Windows service registration's command line, as upstream's docs write it
/// (single dashes, `=` and space separated values, bare and `=false` booleans,
/// klog flags), runs the server: flags keep their meaning, klog's extra flags
/// are noted in the log, and missing directories are created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_go_style_flags_start_the_server_with_their_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let sockets = dir.path().join("not/yet/there");
    let log = dir.path().join("logs/csi-proxy.log");
    let mut child = Command::new(BIN)
        .arg("-windows-service=false")
        .arg("-kubelet-path")
        .arg(r"C:\var\lib\kubelet")
        .arg(r"-working-dir=C:\csi")
        .arg("-require-privacy=false")
        .arg(format!("-log_file={}", log.display()))
        .args([
            "-logtostderr=false",
            "-v=4",
            "-skip_headers",
            "-stderrthreshold",
            "INFO",
        ])
        .args([
            "-metrics-bind-address=127.0.0.1:0",
            "-fake-host",
            "-api=disk/v1",
        ])
        .args(["-log-format", "json", "-socket-dir"])
        .arg(&sockets)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sock = sockets.join("csi-proxy-disk-v1");
    wait_for(&sock);
    assert!(sock.exists(), "socket dir created and served");

    let started = log_line(&log, "starting winkube-csi-proxy");
    let roots = started["fields"]["roots"].as_str().unwrap();
    assert!(
        roots.contains(r"C:\\csi") || roots.contains(r"C:\csi"),
        "{roots}"
    );
    let noted = log_line(
        &log,
        "upstream klog flag accepted; it has no effect in winkube-csi-proxy",
    );
    assert_eq!(noted["fields"]["flag"], "-skip_headers");
    let addr: std::net::SocketAddr =
        log_line(&log, "serving metrics at /metrics")["fields"]["address"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();

    let mut c = winkube_csi_proxy::wire::disk::v1::disk_client::DiskClient::new(
        common::channel(&sock).await,
    );
    c.get_disk_state(winkube_csi_proxy::wire::disk::v1::GetDiskStateRequest { disk_number: 0 })
        .await
        .unwrap();
    drop(c);
    let (status, metrics) = common::http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.lines().any(|l| l
            == r#"grpc_server_handled_total{grpc_type="unary",grpc_service="v1.Disk",grpc_method="GetDiskState",api_group="disk",api_version="v1",grpc_code="OK"} 1"#),
        "{metrics}"
    );
    // -v=4: debug records (one per successful call) are written.
    let debug = log_line(&log, "ok");
    assert_eq!(debug["level"], "DEBUG");

    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(
        stderr, "",
        "-logtostderr=false with -log_file: the file only"
    );
}

#[test]
fn upstream_flags_are_recognised_and_unknown_ones_named() {
    // Recognised as the service flag (not clap's "unexpected argument '-w'").
    let out = Command::new(BIN)
        .args(["-windows-service", "-fake-host", "-socket-dir=/tmp"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("--windows-service is only available on Windows"),
        "{err}"
    );

    let out = Command::new(BIN)
        .args(["-kubelet-path=C:\\k", "-windows-servic"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("error: unknown flag -windows-servic: "),
        "{err}"
    );

    let out = Command::new(BIN).args(["-v"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: flag needs an argument: -v\n"
    );

    let out = Command::new(BIN).arg("-h").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("--metrics-bind-address"), "{help}");
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
