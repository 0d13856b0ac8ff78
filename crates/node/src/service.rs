//! The kubelet as a native Windows service, without nssm: the service manager starts
//! `winkube-node kubelet-service --config FILE`, which starts `kubelet.exe` with the flags
//! of the version table and those kubeadm wrote (`kubeadm-flags.env`), writes its output to
//! a log file rotated by size, and stops it when the service is stopped. A kubelet that
//! exits makes the service exit with an error, and the service manager restarts it.
//!
//! Here: the runner's configuration, the kubelet's flags, the parse of kubeadm's flags file
//! and the rotating log, all portable (the Windows glue is in `main.rs`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::paths::{KUBEADM_FLAGS_FILE, Layout};
use crate::version::{KubernetesVersion, PAUSE_IMAGE};

/// The service's name: kubeadm on Windows starts and restarts the service called `kubelet`.
pub const SERVICE_NAME: &str = "kubelet";
/// containerd's service: the kubelet's service depends on it.
pub const CONTAINERD_SERVICE: &str = "containerd";
/// Log rotation defaults (the upstream scripts rotated at 10 MB).
pub const LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;
pub const LOG_KEEP: u32 = 5;

/// The runner's configuration (`kubelet-service.json`), written by `prepare`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeletServiceConfig {
    /// The version `prepare` installed (also `join`'s default).
    pub kubernetes_version: String,
    pub kubelet: String,
    /// Flags of the version table, before kubeadm's.
    pub args: Vec<String>,
    /// kubeadm's flags file, read at every start (absent before `join`).
    pub kubeadm_flags_file: String,
    pub log_file: String,
    pub log_max_bytes: u64,
    pub log_keep: u32,
}

impl KubeletServiceConfig {
    pub fn new(version: KubernetesVersion, layout: &Layout) -> Result<Self, Error> {
        Ok(Self {
            kubernetes_version: version.to_string(),
            kubelet: layout.install("kubelet.exe"),
            args: kubelet_flags(version, layout)?,
            kubeadm_flags_file: layout.kubelet(KUBEADM_FLAGS_FILE),
            log_file: layout.log("kubelet.log"),
            log_max_bytes: LOG_MAX_BYTES,
            log_keep: LOG_KEEP,
        })
    }

    /// The file's bytes: pretty JSON with a final newline (stable, so its sha256 is).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut b = serde_json::to_vec_pretty(self)?;
        b.push(b'\n');
        Ok(b)
    }

    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::invalid(
                format!("service configuration {}", path.display()),
                e.to_string(),
            )
        })
    }

    /// The kubelet's full argument list: ours, then kubeadm's (later flags win in the
    /// kubelet's parser, so kubeadm's settings override defaults as on Linux).
    pub fn command(&self, kubeadm_flags: Option<&str>) -> Result<Vec<String>, Error> {
        let mut args = self.args.clone();
        if let Some(text) = kubeadm_flags {
            args.extend(parse_kubeadm_flags(text)?);
        }
        Ok(args)
    }
}

/// The kubelet's flags for a version on Windows (the `--config` file is kubeadm's).
pub fn kubelet_flags(version: KubernetesVersion, layout: &Layout) -> Result<Vec<String>, Error> {
    let rules = version.rules()?;
    let mut f = vec![
        format!("--cert-dir={}", layout.kubelet("pki")),
        format!("--config={}", layout.kubelet("config.yaml")),
        format!(
            "--bootstrap-kubeconfig={}",
            layout.kubernetes("bootstrap-kubelet.conf")
        ),
        format!("--kubeconfig={}", layout.kubernetes("kubelet.conf")),
        // The Windows kubelet enforces none of these (no cgroups, no resolv.conf).
        "--cgroups-per-qos=false".into(),
        "--enforce-node-allocatable=".into(),
        "--resolv-conf=".into(),
    ];
    if rules.network_plugin_flag {
        f.push("--network-plugin=cni".into());
    }
    if rules.image_pull_progress_deadline_flag {
        f.push("--image-pull-progress-deadline=20m".into());
    }
    if rules.pod_infra_container_image_flag {
        f.push(format!("--pod-infra-container-image={PAUSE_IMAGE}"));
    }
    Ok(f)
}

/// Parses kubeadm's `kubeadm-flags.env`: `KUBELET_KUBEADM_ARGS="--a=b --c=d"`. kubeadm
/// writes flags as `--name=value` separated by spaces, values without spaces or quotes;
/// anything else is refused rather than guessed.
pub fn parse_kubeadm_flags(text: &str) -> Result<Vec<String>, Error> {
    let bad = |reason: &str| Error::invalid(KUBEADM_FLAGS_FILE, reason.to_owned());
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| bad("a line is not NAME=VALUE"))?;
        if name.trim() != "KUBELET_KUBEADM_ARGS" {
            continue;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        if value.contains('"') || value.contains('\'') {
            return Err(bad("quotes inside KUBELET_KUBEADM_ARGS are not supported"));
        }
        for arg in value.split_whitespace() {
            if !arg.starts_with("--") || arg.len() < 3 {
                return Err(bad(&format!("{arg:?} is not a --flag")));
            }
            out.push(arg.to_owned());
        }
    }
    Ok(out)
}

/// A log file that rotates by size: `kubelet.log` → `kubelet.log.1` → ... →
/// `kubelet.log.<keep>` (the oldest is deleted). Lines are never split across files.
pub struct RotatingLog {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    /// `None` only while rotating (Windows cannot rename an open file).
    file: Option<File>,
    written: u64,
}

impl RotatingLog {
    pub fn open(path: &Path, max_bytes: u64, keep: u32) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            max_bytes: max_bytes.max(1),
            keep,
            file: Some(file),
            written,
        })
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn open_current(&self) -> io::Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut f) = self.file.take() {
            f.flush()?;
        }
        if self.keep == 0 {
            self.file = Some(File::create(&self.path)?);
        } else {
            let _ = std::fs::remove_file(self.numbered(self.keep));
            for n in (1..self.keep).rev() {
                let from = self.numbered(n);
                if from.exists() {
                    std::fs::rename(&from, self.numbered(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.numbered(1))?;
            self.file = Some(self.open_current()?);
        }
        self.written = 0;
        Ok(())
    }

    /// Writes one line (a newline is added if missing), rotating first if it would not fit.
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64 + u64::from(!line.ends_with(b"\n"));
        if self.written > 0 && self.written + len > self.max_bytes {
            self.rotate()?;
        }
        if self.file.is_none() {
            // A failed rotation left no file open: start a fresh one.
            self.file = Some(self.open_current()?);
        }
        if let Some(f) = self.file.as_mut() {
            f.write_all(line)?;
            if !line.ends_with(b"\n") {
                f.write_all(b"\n")?;
            }
        }
        self.written += len;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// Runs the kubelet until it exits or `stop` receives: its stdout and stderr go, line by
/// line, to the rotating log; a stop kills it (the Windows kubelet has no graceful
/// shutdown signal). kubeadm's flags file is read now, so a restart picks up a new join.
pub fn run_kubelet(
    config: &KubeletServiceConfig,
    stop: &std::sync::mpsc::Receiver<()>,
) -> Result<std::process::ExitStatus, Error> {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};

    let flags_path = Path::new(&config.kubeadm_flags_file);
    let flags = match std::fs::read_to_string(flags_path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(Error::Read {
                path: flags_path.to_path_buf(),
                source,
            });
        }
    };
    let args = config.command(flags.as_deref())?;
    let log_path = PathBuf::from(&config.log_file);
    let log =
        RotatingLog::open(&log_path, config.log_max_bytes, config.log_keep).map_err(|source| {
            Error::Write {
                path: log_path.clone(),
                source,
            }
        })?;
    let log = Arc::new(Mutex::new(log));
    let mut child = Command::new(&config.kubelet)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::System(format!("cannot start {}: {e}", config.kubelet)))?;
    let mut pumps = Vec::new();
    let outputs: [Option<Box<dyn io::Read + Send>>; 2] = [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn io::Read + Send>),
        child
            .stderr
            .take()
            .map(|o| Box::new(o) as Box<dyn io::Read + Send>),
    ];
    for out in outputs.into_iter().flatten() {
        let log = Arc::clone(&log);
        pumps.push(std::thread::spawn(move || {
            let mut reader = io::BufReader::new(out);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
                // A full disk must not stop the kubelet: the line is dropped.
                let _ = l.write_line(&line);
                line.clear();
            }
        }));
    }
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Error::System(format!("waiting for the kubelet: {e}")))?
        {
            break status;
        }
        match stop.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(()) => {
                let _ = child.kill();
                break child
                    .wait()
                    .map_err(|e| Error::System(format!("waiting for the kubelet: {e}")))?;
            }
            Err(_) => continue,
        }
    };
    for p in pumps {
        let _ = p.join();
    }
    let _ = log.lock().unwrap_or_else(|e| e.into_inner()).flush();
    Ok(status)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kubeadm_flags() {
        let text = "# written by kubeadm\nKUBELET_KUBEADM_ARGS=\"--hostname-override=win-1 --node-labels=a=b --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n";
        assert_eq!(
            parse_kubeadm_flags(text).unwrap(),
            [
                "--hostname-override=win-1",
                "--node-labels=a=b",
                "--pod-infra-container-image=registry.k8s.io/pause:3.10"
            ]
        );
        assert!(parse_kubeadm_flags("").unwrap().is_empty());
        for bad in [
            "KUBELET_KUBEADM_ARGS=\"--a='x y'\"",
            "KUBELET_KUBEADM_ARGS=\"-v=2\"",
            "KUBELET_KUBEADM_ARGS=\"rm\"",
            "garbage",
        ] {
            let e = parse_kubeadm_flags(bad).unwrap_err().to_string();
            assert!(e.starts_with(KUBEADM_FLAGS_FILE), "{bad}: {e}");
        }
    }

    #[test]
    fn runner_command_appends_kubeadm_flags() {
        let v = KubernetesVersion::parse("v1.31.2").unwrap();
        let c = KubeletServiceConfig::new(v, &Layout::default()).unwrap();
        let cmd = c
            .command(Some("KUBELET_KUBEADM_ARGS=\"--node-ip=10.0.0.5\""))
            .unwrap();
        assert_eq!(cmd.first().unwrap(), r"--cert-dir=C:\var\lib\kubelet\pki");
        assert_eq!(cmd.last().unwrap(), "--node-ip=10.0.0.5");
        assert_eq!(cmd.len(), c.args.len() + 1);
        let back: KubeletServiceConfig = serde_json::from_slice(&c.to_bytes().unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[cfg(unix)]
    #[test]
    fn runner_logs_the_kubelet_output_and_stops_it() {
        let dir = tempfile::tempdir().unwrap();
        let flags = dir.path().join("kubeadm-flags.env");
        std::fs::write(&flags, "KUBELET_KUBEADM_ARGS=\"--from-kubeadm\"\n").unwrap();
        let config = KubeletServiceConfig {
            kubernetes_version: "v1.31.2".into(),
            kubelet: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                "echo started \"$@\"; echo oops >&2; exec sleep 30".into(),
                "kubelet".into(),
            ],
            kubeadm_flags_file: flags.display().to_string(),
            log_file: dir.path().join("log/kubelet.log").display().to_string(),
            log_max_bytes: 1 << 20,
            log_keep: 2,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let log_file = PathBuf::from(&config.log_file);
        let handle = std::thread::spawn(move || run_kubelet(&config, &rx));
        // Wait until both lines are logged, then stop the service.
        let mut text = String::new();
        for _ in 0..200 {
            text = std::fs::read_to_string(&log_file).unwrap_or_default();
            if text.lines().count() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        tx.send(()).unwrap();
        let status = handle.join().unwrap().unwrap();
        assert!(!status.success(), "the kubelet was killed");
        assert!(text.contains("started --from-kubeadm\n"), "{text}");
        assert!(text.contains("oops\n"), "{text}");
    }

    #[test]
    fn log_rotates_by_size_and_keeps_n() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join("kubelet.log");
        let mut log = RotatingLog::open(&path, 100, 2).unwrap();
        for i in 0..12 {
            // 30 bytes a line: 3 lines a file.
            log.write_line(format!("line {i:02} {}", "x".repeat(21)).as_bytes())
                .unwrap();
        }
        log.flush().unwrap();
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        let current = read(&path);
        assert_eq!(current.lines().count(), 3);
        assert!(current.starts_with("line 09"), "{current}");
        let one = read(&dir.path().join("logs/kubelet.log.1"));
        assert!(one.starts_with("line 06"), "{one}");
        let two = read(&dir.path().join("logs/kubelet.log.2"));
        assert!(two.starts_with("line 03"), "{two}");
        assert!(!dir.path().join("logs/kubelet.log.3").exists());
        // Reopening appends to the current file and rotates when it is full.
        drop(log);
        let mut log = RotatingLog::open(&path, 100, 2).unwrap();
        log.write_line(b"after restart").unwrap();
        log.flush().unwrap();
        assert_eq!(read(&path), "after restart\n");
        assert!(read(&dir.path().join("logs/kubelet.log.1")).starts_with("line 09"));
    }
}
