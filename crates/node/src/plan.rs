//! `prepare`'s plan: a pure function of the node's facts, the options and the binaries'
//! checksums. Every step says whether it creates, replaces or leaves alone, so a second run
//! on a prepared node is a plan with nothing to do.

use serde::Serialize;
use winkube_api::windows::{RELEASES, WindowsBuild};

use crate::Error;
use crate::facts::NodeFacts;
use crate::paths::{Layout, SERVICE_CONFIG_FILE, check_windows_path};
use crate::service::{CONTAINERD_SERVICE, KubeletServiceConfig, SERVICE_NAME};
use crate::version::KubernetesVersion;

/// Windows builds a kubeadm node may run: the Kubernetes documentation lists Windows
/// Server 2022 and 2025 (rows of the build table in `winkube_api::windows`).
pub const SUPPORTED_BUILDS: &[WindowsBuild] = &[WindowsBuild::ten(20348), WindowsBuild::ten(26100)];
/// The kubelet's port (logs, exec, metrics from the control plane).
pub const KUBELET_PORT: u16 = 10250;
pub const FIREWALL_RULE_NAME: &str = "winkube-kubelet";
/// The binaries `prepare` places besides itself.
pub const BINARIES: [&str; 2] = ["kubelet.exe", "kubeadm.exe"];
/// winkube-node itself, copied next to them: the service runs it.
pub const SELF_BINARY: &str = "winkube-node.exe";

/// `prepare`'s options.
#[derive(Clone, Debug)]
pub struct PrepareOptions {
    pub version: KubernetesVersion,
    pub layout: Layout,
}

/// A binary to place: its name in the install directory, the sha256 it must have, and
/// where it comes from (a URL or a local path, for the reader).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Artifact {
    pub name: String,
    pub sha256: String,
    pub source: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Replace,
    Unchanged,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Replace => "replace",
            Action::Unchanged => "unchanged",
        }
    }
}

/// One precondition of the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    /// What to do when it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirStep {
    pub path: String,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FileSource {
    /// A verified binary (`from`: its URL or local path).
    Artifact { from: String },
    /// A file winkube-node writes; its content is part of the plan.
    Generated { content: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileStep {
    pub path: String,
    pub sha256: String,
    pub source: FileSource,
    pub action: Action,
}

/// Restart on failure: the service manager's failure actions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartPolicy {
    pub delay_seconds: u32,
    /// Restarts per reset period (the first, second and later failures all restart).
    pub attempts: u32,
    pub reset_after_seconds: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogRotation {
    pub file: String,
    pub max_bytes: u64,
    pub keep: u32,
}

/// The kubelet's native Windows service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDefinition {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub executable: String,
    pub arguments: Vec<String>,
    pub dependencies: Vec<String>,
    /// Always `automatic`.
    pub start: String,
    pub restart: RestartPolicy,
    pub log: LogRotation,
}

impl ServiceDefinition {
    /// The command line the service manager stores (`lpBinaryPathName`), quoted by the
    /// Windows rules so that each argument comes back as one.
    pub fn command_line(&self) -> String {
        windows_command_line(&self.argv())
    }

    pub fn argv(&self) -> Vec<String> {
        let mut argv = vec![self.executable.clone()];
        argv.extend(self.arguments.iter().cloned());
        argv
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStep {
    pub definition: ServiceDefinition,
    pub command_line: String,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FirewallRule {
    pub name: String,
    pub direction: String,
    pub protocol: String,
    pub port: u16,
}

impl FirewallRule {
    /// The rule added as an argument vector (each element one argument; no shell).
    pub fn add_command(&self) -> Vec<String> {
        vec![
            "netsh".into(),
            "advfirewall".into(),
            "firewall".into(),
            "add".into(),
            "rule".into(),
            format!("name={}", self.name),
            format!("dir={}", self.direction),
            "action=allow".into(),
            format!("protocol={}", self.protocol),
            format!("localport={}", self.port),
        ]
    }

    pub fn delete_command(&self) -> Vec<String> {
        vec![
            "netsh".into(),
            "advfirewall".into(),
            "firewall".into(),
            "delete".into(),
            "rule".into(),
            format!("name={}", self.name),
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FirewallStep {
    pub rule: FirewallRule,
    pub action: Action,
}

/// Everything `prepare` would do, in the order it does it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub kubernetes_version: KubernetesVersion,
    pub windows_build: Option<String>,
    pub checks: Vec<Check>,
    pub directories: Vec<DirStep>,
    pub files: Vec<FileStep>,
    pub service: ServiceStep,
    pub firewall: FirewallStep,
    /// Commands run as argument vectors, in order.
    pub commands: Vec<Vec<String>>,
}

impl Plan {
    /// Every check passed.
    pub fn ready(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    pub fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }

    /// Steps that change the node.
    pub fn changes(&self) -> usize {
        self.directories
            .iter()
            .map(|d| d.action)
            .chain(self.files.iter().map(|f| f.action))
            .chain([self.service.action, self.firewall.action])
            .filter(|a| *a != Action::Unchanged)
            .count()
    }

    /// The files whose content must be staged (binaries to copy or download).
    pub fn artifacts_needed(&self) -> impl Iterator<Item = &FileStep> {
        self.files.iter().filter(|f| {
            f.action != Action::Unchanged && matches!(f.source, FileSource::Artifact { .. })
        })
    }
}

/// Splits a Windows command line into arguments (`CommandLineToArgvW`'s rules: `2n`
/// backslashes and a quote are `n` backslashes and a delimiter, `2n+1` and a quote are `n`
/// backslashes and a literal quote). The service manager stores one string; comparing
/// arguments, not strings, keeps a service registered with other quoting "unchanged".
pub fn split_windows_command_line(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        if chars.peek().is_none() {
            return args;
        }
        let mut cur = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if !quoted && (c == ' ' || c == '\t') {
                break;
            }
            chars.next();
            match c {
                '\\' => {
                    let mut n = 1;
                    while chars.peek() == Some(&'\\') {
                        chars.next();
                        n += 1;
                    }
                    if chars.peek() == Some(&'"') {
                        cur.extend(std::iter::repeat_n('\\', n / 2));
                        if n % 2 == 1 {
                            chars.next();
                            cur.push('"');
                        }
                    } else {
                        cur.extend(std::iter::repeat_n('\\', n));
                    }
                }
                '"' => {
                    if quoted && chars.peek() == Some(&'"') {
                        chars.next();
                        cur.push('"');
                    } else {
                        quoted = !quoted;
                    }
                }
                c => cur.push(c),
            }
        }
        args.push(cur);
    }
}

/// Quotes an argument vector into one Windows command line (the rules of
/// `CommandLineToArgvW`): arguments with spaces, tabs or quotes, or empty ones, are quoted;
/// backslashes before a quote are doubled.
pub fn windows_command_line(argv: &[String]) -> String {
    let mut out = String::new();
    for (i, arg) in argv.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let plain = !arg.is_empty() && !arg.contains([' ', '\t', '"', '\n']);
        if plain {
            out.push_str(arg);
            continue;
        }
        out.push('"');
        let mut backslashes = 0usize;
        for c in arg.chars() {
            match c {
                '\\' => backslashes += 1,
                '"' => {
                    out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                    out.push('"');
                    backslashes = 0;
                }
                _ => {
                    out.extend(std::iter::repeat_n('\\', backslashes));
                    out.push(c);
                    backslashes = 0;
                }
            }
        }
        out.extend(std::iter::repeat_n('\\', backslashes * 2));
        out.push('"');
    }
    out
}

fn build_check(build: Option<WindowsBuild>) -> Check {
    let supported = SUPPORTED_BUILDS
        .iter()
        .map(|b| b.describe())
        .collect::<Vec<_>>()
        .join(" or ");
    match build {
        None => Check {
            name: "windows-build",
            ok: false,
            detail: "the Windows build could not be read".into(),
            fix: Some(format!("run on {supported}")),
        },
        Some(b) if SUPPORTED_BUILDS.contains(&b) => Check {
            name: "windows-build",
            ok: true,
            detail: format!("Windows build {} is supported", b.describe()),
            fix: None,
        },
        Some(b) => {
            let known = RELEASES.iter().any(|r| r.build == b);
            Check {
                name: "windows-build",
                ok: false,
                detail: if known {
                    format!(
                        "Windows build {} is not supported for kubeadm nodes",
                        b.describe()
                    )
                } else {
                    format!("Windows build {b} is not in the Windows build table")
                },
                fix: Some(format!("use {supported}")),
            }
        }
    }
}

/// The checks of a node's facts, in a fixed order.
pub fn checks(facts: &NodeFacts) -> Vec<Check> {
    vec![
        build_check(facts.windows_build),
        Check {
            name: "containers-feature",
            ok: facts.containers_feature,
            detail: if facts.containers_feature {
                "the Windows Containers feature is enabled".into()
            } else {
                "the Windows Containers feature is not enabled".into()
            },
            fix: (!facts.containers_feature).then(|| {
                "Install-WindowsFeature -Name Containers (PowerShell, as Administrator), then restart Windows".into()
            }),
        },
        Check {
            name: "containerd-pipe",
            ok: facts.containerd_pipe,
            detail: if facts.containerd_pipe {
                r"containerd's pipe \\.\pipe\containerd-containerd is present".into()
            } else {
                r"containerd's pipe \\.\pipe\containerd-containerd is missing (containerd is not installed or not running)".into()
            },
            fix: (!facts.containerd_pipe).then(|| {
                "install containerd as a service and start it (Start-Service containerd)".into()
            }),
        },
        Check {
            name: "reboot-pending",
            ok: !facts.reboot_pending,
            detail: if facts.reboot_pending {
                "Windows is waiting for a restart".into()
            } else {
                "no restart pending".into()
            },
            fix: facts
                .reboot_pending
                .then(|| "restart Windows (Restart-Computer), then run prepare again".into()),
        },
    ]
}

/// The kubelet service's definition for a layout.
pub fn service_definition(layout: &Layout, config: &KubeletServiceConfig) -> ServiceDefinition {
    ServiceDefinition {
        name: SERVICE_NAME.into(),
        display_name: "Kubernetes kubelet".into(),
        description: "The Kubernetes node agent, run by winkube-node (logs rotated by size)".into(),
        executable: layout.install(SELF_BINARY),
        arguments: vec![
            "kubelet-service".into(),
            "--config".into(),
            layout.install(SERVICE_CONFIG_FILE),
        ],
        dependencies: vec![CONTAINERD_SERVICE.into()],
        start: "automatic".into(),
        restart: RestartPolicy {
            delay_seconds: 10,
            attempts: 3,
            reset_after_seconds: 86_400,
        },
        log: LogRotation {
            file: config.log_file.clone(),
            max_bytes: config.log_max_bytes,
            keep: config.log_keep,
        },
    }
}

/// The plan. `artifacts` must name `kubelet.exe`, `kubeadm.exe` and `winkube-node.exe`
/// with the sha256 they must have.
pub fn plan_prepare(
    facts: &NodeFacts,
    opts: &PrepareOptions,
    artifacts: &[Artifact],
) -> Result<Plan, Error> {
    let layout = &opts.layout;
    for (what, dir) in [
        ("--install-dir", &layout.install_dir),
        ("kubelet directory", &layout.kubelet_dir),
        ("kubernetes directory", &layout.kubernetes_dir),
        ("log directory", &layout.log_dir),
    ] {
        check_windows_path(dir).map_err(|r| Error::invalid(what, r))?;
    }
    let config = KubeletServiceConfig::new(opts.version, layout)?;

    let directories = layout
        .directories()
        .into_iter()
        .map(|path| {
            let action = if facts.directories.contains(&path) {
                Action::Unchanged
            } else {
                Action::Create
            };
            DirStep { path, action }
        })
        .collect();

    let file_action = |path: &str, sha: &str| match facts.files.get(path) {
        None => Action::Create,
        Some(have) if have == sha => Action::Unchanged,
        Some(_) => Action::Replace,
    };
    let mut files = Vec::new();
    for name in BINARIES.iter().chain([&SELF_BINARY]) {
        let a = artifacts
            .iter()
            .find(|a| a.name == *name)
            .ok_or_else(|| Error::invalid("binaries", format!("no {name} to install")))?;
        if a.sha256.len() != 64 || !a.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid(
                format!("checksum of {name}"),
                format!("{:?} is not a sha256 in hex", a.sha256),
            ));
        }
        let path = layout.install(name);
        let sha256 = a.sha256.to_ascii_lowercase();
        files.push(FileStep {
            action: file_action(&path, &sha256),
            path,
            sha256,
            source: FileSource::Artifact {
                from: a.source.clone(),
            },
        });
    }
    let content = String::from_utf8(config.to_bytes()?)
        .map_err(|e| Error::invalid(SERVICE_CONFIG_FILE, e.to_string()))?;
    let path = layout.install(SERVICE_CONFIG_FILE);
    let sha256 = crate::sha256_hex(content.as_bytes());
    files.push(FileStep {
        action: file_action(&path, &sha256),
        path,
        sha256,
        source: FileSource::Generated { content },
    });

    let definition = service_definition(layout, &config);
    let command_line = definition.command_line();
    let service_action = match &facts.service {
        None => Action::Create,
        Some(s)
            if split_windows_command_line(&s.command_line) == definition.argv()
                && s.dependencies == definition.dependencies
                && s.start == definition.start
                && s.restarts_on_failure =>
        {
            Action::Unchanged
        }
        Some(_) => Action::Replace,
    };
    let rule = FirewallRule {
        name: FIREWALL_RULE_NAME.into(),
        direction: "in".into(),
        protocol: "TCP".into(),
        port: KUBELET_PORT,
    };
    let firewall_action = if facts.firewall_rule {
        Action::Unchanged
    } else {
        Action::Create
    };
    let commands = if firewall_action == Action::Create {
        vec![rule.add_command()]
    } else {
        Vec::new()
    };
    Ok(Plan {
        kubernetes_version: opts.version,
        windows_build: facts.windows_build.map(|b| b.describe()),
        checks: checks(facts),
        directories,
        files,
        service: ServiceStep {
            definition,
            command_line,
            action: service_action,
        },
        firewall: FirewallStep {
            rule,
            action: firewall_action,
        },
        commands,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_quoting() {
        let q =
            |v: &[&str]| windows_command_line(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(q(&[r"C:\k\a.exe", "x"]), r"C:\k\a.exe x");
        assert_eq!(
            q(&[r"C:\Program Files\a.exe", ""]),
            r#""C:\Program Files\a.exe" """#
        );
        assert_eq!(q(&[r#"a"b"#]), r#""a\"b""#);
        assert_eq!(q(&[r"C:\dir with space\"]), r#""C:\dir with space\\""#);
        assert_eq!(q(&[r#"x\"y z"#]), r#""x\\\"y z""#);
    }

    #[test]
    fn command_lines_round_trip() {
        let cases: &[&[&str]] = &[
            &[
                r"C:\k\winkube-node.exe",
                "kubelet-service",
                "--config",
                r"C:\k\kubelet-service.json",
            ],
            &[
                r"C:\Program Files\k\a.exe",
                "",
                "two words",
                "q\"uote",
                "trail\\",
                "x\\\"y",
            ],
            &["a\\\\b", "\\\\\"", "tab\there"],
        ];
        for argv in cases {
            let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
            let line = windows_command_line(&argv);
            assert_eq!(split_windows_command_line(&line), argv, "{line}");
        }
        // Other quoting of the same arguments (as the service manager may store them).
        assert_eq!(
            split_windows_command_line(
                r#""C:\k\winkube-node.exe" "kubelet-service" --config "C:\k\kubelet-service.json""#
            ),
            [
                r"C:\k\winkube-node.exe",
                "kubelet-service",
                "--config",
                r"C:\k\kubelet-service.json"
            ]
        );
    }

    #[test]
    fn build_checks() {
        assert!(build_check(Some(WindowsBuild::ten(20348))).ok);
        assert!(build_check(Some(WindowsBuild::ten(26100))).ok);
        let c = build_check(Some(WindowsBuild::ten(17763)));
        assert!(!c.ok);
        assert!(
            c.detail
                .contains("10.0.17763 (Windows Server 2019) is not supported"),
            "{}",
            c.detail
        );
        let c = build_check(Some(WindowsBuild::ten(12345)));
        assert!(
            c.detail
                .contains("10.0.12345 is not in the Windows build table"),
            "{}",
            c.detail
        );
        assert!(!build_check(None).ok);
    }
}
