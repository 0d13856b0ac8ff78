//! `winkube-node`: prepares a Windows node (kubelet, kubeadm, service, firewall) and joins
//! it to a cluster with kubeadm. `--dry-run` prints the plan on any OS.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use winkube_node::artifacts::{self, BinarySource, DEFAULT_DOWNLOAD_BASE, Downloader};
use winkube_node::facts::NodeFacts;
use winkube_node::join::{self, JoinOptions};
use winkube_node::paths::{Layout, SERVICE_CONFIG_FILE};
use winkube_node::plan::{self, Artifact, PrepareOptions, SELF_BINARY};
use winkube_node::render;
use winkube_node::service::KubeletServiceConfig;
use winkube_node::version::KubernetesVersion;

const EXAMPLES: &str = "\
Examples (PowerShell, as Administrator, on the Windows node):
  winkube-node prepare --kubernetes-version v1.33.4 --dry-run
  winkube-node prepare --kubernetes-version v1.33.4
  winkube-node join --api-server-endpoint 10.0.0.10:6443 --token abcdef.0123456789abcdef `
      --discovery-token-ca-cert-hash sha256:<hash> --node-label example.com/pool=win

Exit codes: 0 success, 1 the node is not ready or a step failed, 2 bad usage.";

#[derive(Parser)]
#[command(
    name = "winkube-node",
    version,
    about = "Prepare a Windows node for Kubernetes and join it with kubeadm",
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the node, put kubelet.exe and kubeadm.exe in place (verified against their
    /// published .sha256), register the kubelet service and open its firewall port
    Prepare(PrepareArgs),
    /// Write kubeadm's JoinConfiguration for this Windows node and run `kubeadm join`
    Join(JoinArgs),
    /// Run the kubelet as the Windows service (started by the service manager)
    #[command(hide = true)]
    KubeletService(ServiceArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Shared by prepare and join.
#[derive(Args)]
struct OutputArgs {
    /// Print the plan and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Output format of the plan
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    format: Format,
}

/// Where things go on the node.
#[derive(Args)]
struct LayoutArgs {
    /// Directory of kubelet.exe, kubeadm.exe and winkube-node.exe
    #[arg(long, default_value = r"C:\k")]
    install_dir: String,
}

impl LayoutArgs {
    fn layout(&self) -> Layout {
        Layout {
            install_dir: self.install_dir.clone(),
            ..Layout::default()
        }
    }
}

#[derive(Args)]
struct PrepareArgs {
    /// The cluster's Kubernetes version (vMAJOR.MINOR.PATCH)
    #[arg(long, value_parser = parse_version)]
    kubernetes_version: KubernetesVersion,
    /// Take kubelet.exe and kubeadm.exe (and their .sha256 files) from this directory
    #[arg(long, value_name = "DIR", conflicts_with = "download_base")]
    binaries_from: Option<PathBuf>,
    /// Download them from here (<URL>/<version>/bin/windows/amd64/<name>)
    #[arg(long, value_name = "URL", default_value = DEFAULT_DOWNLOAD_BASE)]
    download_base: String,
    /// Give up on a download after this many seconds
    #[arg(long, default_value_t = 900)]
    download_timeout_seconds: u64,
    #[command(flatten)]
    layout: LayoutArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Read the node's facts from this JSON file instead of Windows (plans on any OS)
    #[arg(long, hide = true)]
    facts: Option<PathBuf>,
}

#[derive(Args)]
struct JoinArgs {
    /// Options from a YAML file (apiServerEndpoint, token, caCertHashes, nodeName, labels,
    /// taint, priorityClass); flags win over it
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// host:port of the API server
    #[arg(long)]
    api_server_endpoint: Option<String>,
    /// Bootstrap token (or the environment variable)
    #[arg(long, env = "WINKUBE_JOIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// sha256:<hex> of the cluster CA's public key (repeatable)
    #[arg(long = "discovery-token-ca-cert-hash")]
    ca_cert_hashes: Vec<String>,
    /// The Node's name (default: the host name)
    #[arg(long)]
    node_name: Option<String>,
    /// A label for the Node, key=value (repeatable)
    #[arg(long = "node-label", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// The Windows taint (default os=windows:NoSchedule, which winkube's policies tolerate)
    #[arg(long)]
    taint: Option<String>,
    /// The kubelet's process priority class
    #[arg(long)]
    priority_class: Option<String>,
    /// The cluster's version (default: the one `prepare` installed)
    #[arg(long, value_parser = parse_version)]
    kubernetes_version: Option<KubernetesVersion>,
    /// Only print the JoinConfiguration
    #[arg(long)]
    print: bool,
    #[command(flatten)]
    layout: LayoutArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct ServiceArgs {
    /// The service configuration written by prepare
    #[arg(long)]
    config: PathBuf,
}

fn parse_version(s: &str) -> Result<KubernetesVersion, String> {
    KubernetesVersion::parse(s).map_err(|e| e.to_string())
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Prepare(a) => prepare(a),
        Command::Join(a) => run_join(a),
        Command::KubeletService(a) => kubelet_service(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing the output")
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// winkube-node itself, copied into the install directory: the service runs it.
fn self_artifact() -> anyhow::Result<Artifact> {
    let exe = std::env::current_exe().context("locating winkube-node's own binary")?;
    Ok(Artifact {
        name: SELF_BINARY.into(),
        sha256: artifacts::sha256_file(&exe)?,
        source: exe.display().to_string(),
    })
}

fn node_facts(args: &PrepareArgs, layout: &Layout) -> anyhow::Result<NodeFacts> {
    if let Some(f) = &args.facts {
        return Ok(NodeFacts::from_file(f)?);
    }
    #[cfg(windows)]
    {
        Ok(winkube_node::windows::gather_facts(layout)?)
    }
    #[cfg(not(windows))]
    {
        let _ = layout;
        bail!(
            "prepare reads the node's facts from Windows; on another OS use --dry-run with --facts FILE"
        )
    }
}

fn prepare(args: PrepareArgs) -> anyhow::Result<ExitCode> {
    let layout = args.layout.layout();
    let facts = node_facts(&args, &layout)?;
    let source = match &args.binaries_from {
        Some(dir) => BinarySource::Dir(dir.clone()),
        None => BinarySource::Download {
            base: args.download_base.clone(),
            timeout: Duration::from_secs(args.download_timeout_seconds),
        },
    };
    let rt = runtime()?;
    let downloader = match &source {
        BinarySource::Download { timeout, .. } => Some(Downloader::new(*timeout)?),
        BinarySource::Dir(_) => None,
    };
    let mut artifacts = rt.block_on(artifacts::expected_artifacts(
        &source,
        args.kubernetes_version,
        downloader.as_ref(),
    ))?;
    artifacts.push(self_artifact()?);
    let opts = PrepareOptions {
        version: args.kubernetes_version,
        layout: layout.clone(),
    };
    let plan = plan::plan_prepare(&facts, &opts, &artifacts)?;
    if args.output.dry_run {
        print(&match args.output.format {
            Format::Text => render::plan_text(&plan),
            Format::Json => render::plan_json(&plan)?,
        })?;
        return Ok(if plan.ready() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    if !plan.ready() {
        bail!("{}", render::not_ready_message(&plan));
    }
    if plan.changes() == 0 {
        print(&format!("{}\n", render::NOTHING_TO_CHANGE))?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.facts.is_some() {
        bail!("--facts only plans: add --dry-run");
    }
    apply_plan(&plan, &artifacts, downloader.as_ref(), &rt)
}

#[cfg(not(windows))]
fn apply_plan(
    _plan: &plan::Plan,
    _artifacts: &[Artifact],
    _downloader: Option<&Downloader>,
    _rt: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    bail!("prepare changes a Windows node only; use --dry-run here")
}

#[cfg(windows)]
fn apply_plan(
    plan: &plan::Plan,
    artifacts: &[Artifact],
    downloader: Option<&Downloader>,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    // Everything is downloaded and verified before the node is touched.
    let staging = std::env::temp_dir().join(format!("winkube-node-{}", std::process::id()));
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let result = (|| -> anyhow::Result<winkube_node::apply::Applied> {
        let mut staged = BTreeMap::new();
        for step in plan.artifacts_needed() {
            let name = step.path.rsplit('\\').next().unwrap_or(&step.path);
            let artifact = artifacts
                .iter()
                .find(|a| a.name == name)
                .with_context(|| format!("no source for {}", step.path))?;
            let dest = staging.join(name);
            rt.block_on(artifacts::stage(artifact, &dest, downloader))
                .with_context(|| format!("{}: nothing was installed", step.path))?;
            staged.insert(step.path.clone(), dest);
        }
        let mut sys = winkube_node::windows::WindowsSystem;
        Ok(winkube_node::apply::apply(plan, None, &staged, &mut sys)?)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    let applied = result?;
    print(&format!(
        "prepared: {} directories, {} files, service {}, firewall rule {}\nnext: winkube-node join ...\n",
        applied.directories,
        applied.files,
        if applied.service {
            "registered"
        } else {
            "unchanged"
        },
        if applied.firewall {
            "added"
        } else {
            "unchanged"
        },
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn run_join(args: JoinArgs) -> anyhow::Result<ExitCode> {
    let layout = args.layout.layout();
    let mut opts = match &args.config {
        Some(f) => JoinOptions::from_file(f)?,
        None => JoinOptions::default(),
    };
    opts.merge(JoinOptions {
        api_server_endpoint: args.api_server_endpoint.clone().unwrap_or_default(),
        token: args.token.clone().unwrap_or_default(),
        ca_cert_hashes: args.ca_cert_hashes.clone(),
        node_name: args.node_name.clone(),
        labels: args.labels.iter().cloned().collect::<BTreeMap<_, _>>(),
        taint: args.taint.clone(),
        priority_class: args.priority_class.clone(),
    });
    let version = match args.kubernetes_version {
        Some(v) => v,
        None => {
            let installed =
                winkube_node::paths::host_path(None, &layout.install(SERVICE_CONFIG_FILE));
            let config = KubeletServiceConfig::from_file(&installed).map_err(|e| {
                anyhow::anyhow!("{e}\n(give --kubernetes-version, or run prepare first)")
            })?;
            KubernetesVersion::parse(&config.kubernetes_version)?
        }
    };
    let config = join::join_configuration(&opts, version)?;
    let yaml = join::to_yaml(&config)?;
    let file = layout.install("kubeadm-join.yaml");
    let command = vec![
        layout.install("kubeadm.exe"),
        "join".to_owned(),
        "--config".to_owned(),
        file.clone(),
    ];
    if args.print {
        print(&match args.output.format {
            Format::Text => yaml,
            Format::Json => format!("{}\n", serde_json::to_string_pretty(&config)?),
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.output.dry_run {
        let text = match args.output.format {
            Format::Text => format!(
                "join: Kubernetes {version}\nwrite {file} (removed after the join: it holds the token):\n{}run: {}\n",
                yaml.lines().map(|l| format!("  {l}\n")).collect::<String>(),
                plan::windows_command_line(&command)
            ),
            Format::Json => format!(
                "{}\n",
                serde_json::to_string_pretty(&serde_json::json!({
                    "kubernetesVersion": version.to_string(),
                    "file": file,
                    "joinConfiguration": config,
                    "commands": [command],
                }))?
            ),
        };
        print(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    run_kubeadm(&file, &yaml, &command)
}

#[cfg(not(windows))]
fn run_kubeadm(_file: &str, _yaml: &str, _command: &[String]) -> anyhow::Result<ExitCode> {
    bail!("join runs kubeadm on the Windows node; use --print or --dry-run here")
}

#[cfg(windows)]
fn run_kubeadm(file: &str, yaml: &str, command: &[String]) -> anyhow::Result<ExitCode> {
    std::fs::write(file, yaml).with_context(|| format!("writing {file}"))?;
    let status = std::process::Command::new(&command[0])
        .args(&command[1..])
        .status()
        .with_context(|| format!("running {}", command[0]));
    // The file holds the bootstrap token.
    let _ = std::fs::remove_file(file);
    let status = status?;
    if status.success() {
        Ok(ExitCode::SUCCESS)
    } else {
        bail!("kubeadm join failed ({status})")
    }
}

fn kubelet_service(args: ServiceArgs) -> anyhow::Result<ExitCode> {
    let config = KubeletServiceConfig::from_file(&args.config)?;
    #[cfg(windows)]
    {
        winkube_node::windows::run_service(config)?;
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(windows))]
    {
        // In the foreground (for a look at the runner elsewhere); Ctrl-C ends both.
        let (_tx, rx) = std::sync::mpsc::channel();
        let status = winkube_node::service::run_kubelet(&config, &rx)?;
        Ok(if status.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}
