//! `winkube-csi-proxy`: serves the CSI proxy API groups on named pipes (Windows)
//! or Unix sockets (`--socket-dir`, for development and tests).
//!
//! Upstream's Go-style flags (`-windows-service -log_file=... -v=4`) are
//! rewritten by `goflags::normalise` before clap parses, so existing service
//! registrations start this binary unchanged.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::CommandFactory;
use clap::{Parser, ValueEnum};
use winkube_csi_proxy::core::{Node, Policy};
use winkube_csi_proxy::goflags;
use winkube_csi_proxy::host::Host;
use winkube_csi_proxy::host::fake::FakeHost;
use winkube_csi_proxy::metrics::{CallMetrics, MetricsEndpoint};
use winkube_csi_proxy::transport::{self, Api, ServeOptions};
use winkube_csi_proxy::validate::{AllowedRoots, ServiceName};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Privileged storage operations for CSI node plugins on Windows, wire-compatible
/// with kubernetes-csi/csi-proxy (23 group/version APIs).
#[derive(Debug, Parser)]
#[command(name = "winkube-csi-proxy", version)]
struct Args {
    /// Kubelet directory; always an allowed root for client paths.
    #[arg(long, default_value = r"C:\var\lib\kubelet")]
    kubelet_path: String,

    /// Additional allowed root for client paths (repeatable).
    #[arg(long = "working-dir")]
    working_dirs: Vec<String>,

    /// RequirePrivacy for new SMB global mappings.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    require_privacy: bool,

    /// Allow MountVolume of a volume that is already mounted elsewhere (a driver
    /// that truly needs two mount points of one volume).
    #[arg(long)]
    allow_remount: bool,

    /// Allow NewSmbGlobalMapping of administrative shares (C$, ADMIN$, IPC$).
    #[arg(long)]
    allow_admin_shares: bool,

    /// Service that StartService/StopService may act on (repeatable).
    #[arg(long = "allowed-service", default_values_t = vec!["MSiSCSI".to_string()])]
    allowed_services: Vec<String>,

    /// API to serve: GROUP (all its versions) or GROUP/VERSION (repeatable; default all 23).
    #[arg(long = "api")]
    apis: Vec<String>,

    /// Use the in-memory host seeded with a small node instead of the real one.
    #[arg(long)]
    fake_host: bool,

    /// Serve Unix sockets DIR/csi-proxy-<group>-<version> instead of named pipes.
    #[arg(long)]
    socket_dir: Option<PathBuf>,

    /// Seconds a new connection has to send the HTTP/2 preface.
    #[arg(long, default_value_t = 120)]
    handshake_timeout: u64,

    /// Seconds a connection may have no open stream and no traffic after its preface.
    #[arg(long, default_value_t = 300)]
    idle_timeout: u64,

    /// SETTINGS_MAX_CONCURRENT_STREAMS per connection.
    #[arg(long, default_value_t = 64)]
    max_concurrent_streams: u32,

    /// Connections each endpoint holds at once (more wait to be accepted).
    #[arg(long, default_value_t = 64)]
    max_connections: usize,

    /// Run under the Windows service control manager (upstream `-windows-service`).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value_t = false, action = clap::ArgAction::Set)]
    windows_service: bool,

    /// Serve Prometheus metrics at http://ADDR/metrics (`host:port`; `:port` for every
    /// interface). Empty or absent: no metrics (upstream's default).
    #[arg(long, value_name = "ADDR")]
    metrics_bind_address: Option<String>,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Append logs to this file instead of standard error (a Windows service has none);
    /// its directory is created. Upstream: `-log_file`.
    #[arg(long)]
    log_file: Option<PathBuf>,

    /// Without --log-file, append logs to DIR/winkube-csi-proxy.log. Upstream: `-log_dir`.
    #[arg(long, value_name = "DIR")]
    log_dir: Option<PathBuf>,

    /// klog's -logtostderr: true logs to standard error only, even with --log-file
    /// (upstream's behaviour when set); false or absent uses --log-file / --log-dir.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    logtostderr: Option<bool>,

    /// klog's -alsologtostderr: log to standard error as well as to the file.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value_t = false, action = clap::ArgAction::Set)]
    alsologtostderr: bool,

    /// klog's -v: 0-1 info, 2-4 debug, 5+ trace (RUST_LOG, when set, wins).
    #[arg(long = "v", value_name = "LEVEL")]
    verbosity: Option<u8>,

    /// Print the endpoints that would be served and exit.
    #[arg(long)]
    list_apis: bool,
}

fn select_apis(requested: &[String]) -> anyhow::Result<Vec<Api>> {
    let all = transport::all_apis();
    if requested.is_empty() {
        return Ok(all);
    }
    let mut out = Vec::new();
    for r in requested {
        let (group, version) = match r.split_once('/') {
            Some((g, v)) => (g, Some(v)),
            None => (r.as_str(), None),
        };
        let matched: Vec<Api> = all
            .iter()
            .filter(|a| a.group == group && version.is_none_or(|v| a.version == v))
            .cloned()
            .collect();
        if matched.is_empty() {
            let known: Vec<String> = all
                .iter()
                .map(|a| format!("{}/{}", a.group, a.version))
                .collect();
            bail!("unknown API {r:?}; known: {}", known.join(", "));
        }
        out.extend(matched);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Where logs go, from the native and klog flags (klog's rules where they apply).
#[derive(Debug, PartialEq, Eq)]
struct LogTarget {
    file: Option<PathBuf>,
    stderr: bool,
    /// Why a given file is not used, for the log.
    file_ignored: Option<&'static str>,
}

fn log_target(args: &Args) -> LogTarget {
    let file = args.log_file.clone().or_else(|| {
        args.log_dir
            .as_ref()
            .map(|d| d.join("winkube-csi-proxy.log"))
    });
    match (args.logtostderr, file) {
        (Some(true), Some(_)) => LogTarget {
            file: None,
            stderr: true,
            file_ignored: Some("-logtostderr=true sends logs to standard error only, as klog does"),
        },
        (_, None) => LogTarget {
            file: None,
            stderr: true,
            file_ignored: None,
        },
        (_, Some(f)) => LogTarget {
            file: Some(f),
            stderr: args.alsologtostderr,
            file_ignored: None,
        },
    }
}

fn level_of(verbosity: Option<u8>) -> &'static str {
    match verbosity {
        None | Some(0..=1) => "info",
        Some(2..=4) => "debug",
        Some(_) => "trace",
    }
}

fn init_logging(args: &Args) -> anyhow::Result<LogTarget> {
    use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level_of(args.verbosity)));
    let target = log_target(args);
    let writer = match &target.file {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!("creating the log file's directory {}", dir.display())
                })?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening --log-file {}", path.display()))?;
            let f = std::sync::Mutex::new(f);
            if target.stderr {
                BoxMakeWriter::new(f.and(std::io::stderr))
            } else {
                BoxMakeWriter::new(f)
            }
        }
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(target.file.is_none());
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(target)
}

fn make_host(fake: bool) -> anyhow::Result<Arc<dyn Host>> {
    if fake {
        return Ok(Arc::new(FakeHost::seeded()));
    }
    #[cfg(windows)]
    {
        Ok(Arc::new(
            winkube_csi_proxy::host::windows::WindowsHost::new(),
        ))
    }
    #[cfg(not(windows))]
    {
        bail!("the real host backend exists only on Windows; use --fake-host")
    }
}

fn build(args: &Args) -> anyhow::Result<(Vec<Api>, Node)> {
    let apis = select_apis(&args.apis)?;
    let mut roots = args.working_dirs.clone();
    roots.push(args.kubelet_path.clone());
    let roots = AllowedRoots::new(&roots).context("--kubelet-path / --working-dir")?;
    let allowed_services = args
        .allowed_services
        .iter()
        .map(|s| ServiceName::parse("allowed-service", s))
        .collect::<Result<Vec<_>, _>>()
        .context("--allowed-service")?;
    let node = Node {
        host: make_host(args.fake_host)?,
        policy: Arc::new(Policy {
            roots,
            require_privacy: args.require_privacy,
            allowed_services,
            allow_remount: args.allow_remount,
            allow_admin_shares: args.allow_admin_shares,
        }),
    };
    Ok((apis, node))
}

async fn run(
    args: Args,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (apis, node) = build(&args)?;
    if cfg!(not(windows)) && args.socket_dir.is_none() {
        bail!("--socket-dir is required outside Windows");
    }
    // One shutdown signal for the gRPC endpoints and the metrics endpoint.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    };
    let mut metrics = None;
    if let Some(addr) = args
        .metrics_bind_address
        .as_deref()
        .filter(|a| !a.is_empty())
    {
        let mut registry = prometheus_client::registry::Registry::default();
        metrics = Some(CallMetrics::register(&mut registry));
        let endpoint = MetricsEndpoint::bind(addr).await?;
        let local = endpoint
            .local_addr()
            .with_context(|| format!("--metrics-bind-address {addr}"))?;
        tracing::info!(address = %local, "serving metrics at /metrics");
        tokio::spawn(endpoint.serve(std::sync::Arc::new(registry), stopped()));
    }
    tracing::info!(
        apis = apis.len(),
        fake_host = args.fake_host,
        roots = ?node.policy.roots.roots(),
        "starting winkube-csi-proxy"
    );
    let opts = ServeOptions {
        handshake_timeout: Duration::from_secs(args.handshake_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        max_concurrent_streams: args.max_concurrent_streams,
        max_connections: args.max_connections.max(1),
        metrics,
        ..ServeOptions::default()
    };
    transport::serve_all(apis, node, opts, args.socket_dir.clone(), stopped()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C, and on SIGTERM where there is one (container stop).
async fn ctrl_c() {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        r = tokio::signal::ctrl_c() => {
            if let Err(e) = r {
                tracing::warn!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
        () = term => {}
    }
}

/// argv with upstream's Go-style flags rewritten; exits 2 (clap's usage code) on a bad one.
fn parse_args() -> (Args, Vec<(String, String)>) {
    let cmd = Args::command();
    let native: Vec<&str> = cmd.get_arguments().filter_map(|a| a.get_long()).collect();
    match goflags::normalise(std::env::args_os(), &native) {
        Ok(n) => (Args::parse_from(n.args), n.ignored),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

fn main() -> anyhow::Result<()> {
    let (args, ignored) = parse_args();
    if args.list_apis {
        for api in select_apis(&args.apis)? {
            match &args.socket_dir {
                Some(dir) => println!("{}", api.socket_path(dir).display()),
                None => println!("{}", api.pipe_path()),
            }
        }
        return Ok(());
    }
    let target = init_logging(&args)?;
    if let Some(why) = target.file_ignored {
        tracing::info!(reason = why, "the log file flag is not used");
    }
    for (flag, value) in &ignored {
        tracing::info!(flag = %flag, value = %value, "upstream klog flag accepted; it has no effect in winkube-csi-proxy");
    }
    if args.windows_service {
        #[cfg(windows)]
        {
            return service::run_as_service(args);
        }
        #[cfg(not(windows))]
        bail!("--windows-service is only available on Windows");
    }
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    rt.block_on(run(args, ctrl_c()))
}

#[cfg(windows)]
mod service {
    //! Windows service control manager integration (service name `csiproxy`).

    use std::ffi::OsString;
    use std::sync::Mutex;
    use std::time::Duration;

    use anyhow::Context;
    use windows_service::service::{
        ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus,
        ServiceType,
    };
    use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
    use windows_service::{define_windows_service, service_dispatcher};

    use super::Args;

    const SERVICE_NAME: &str = "csiproxy";
    static ARGS: Mutex<Option<Args>> = Mutex::new(None);

    define_windows_service!(ffi_service_main, service_main);

    pub fn run_as_service(args: Args) -> anyhow::Result<()> {
        *ARGS.lock().unwrap_or_else(|e| e.into_inner()) = Some(args);
        service_dispatcher::start(SERVICE_NAME, ffi_service_main)
            .context("starting the service dispatcher")
    }

    fn status(state: ServiceState, accept: ServiceControlAccept, code: u32) -> ServiceStatus {
        ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: accept,
            exit_code: ServiceExitCode::Win32(code),
            checkpoint: 0,
            wait_hint: Duration::from_secs(10),
            process_id: None,
        }
    }

    fn service_main(_arguments: Vec<OsString>) {
        if let Err(e) = run_service() {
            tracing::error!(error = %format!("{e:#}"), "service failed");
        }
    }

    fn run_service() -> anyhow::Result<()> {
        let args = ARGS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .context("service arguments missing")?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop_tx = Mutex::new(Some(stop_tx));
        let handle =
            service_control_handler::register(SERVICE_NAME, move |control| match control {
                ServiceControl::Stop | ServiceControl::Shutdown => {
                    if let Some(tx) = stop_tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
                        let _ = tx.send(());
                    }
                    ServiceControlHandlerResult::NoError
                }
                ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
                _ => ServiceControlHandlerResult::NotImplemented,
            })
            .context("registering the service control handler")?;
        handle.set_service_status(status(
            ServiceState::Running,
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
            0,
        ))?;
        let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
        let result = rt.block_on(super::run(args, async move {
            let _ = stop_rx.await;
        }));
        let code = u32::from(result.is_err());
        handle.set_service_status(status(
            ServiceState::Stopped,
            ServiceControlAccept::empty(),
            code,
        ))?;
        result
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
    use super::*;

    fn args(line: &[&str]) -> Args {
        let cmd = Args::command();
        let native: Vec<&str> = cmd.get_arguments().filter_map(|a| a.get_long()).collect();
        let n = goflags::normalise(
            std::iter::once("csi-proxy.exe")
                .chain(line.iter().copied())
                .map(std::ffi::OsString::from),
            &native,
        )
        .unwrap();
        Args::try_parse_from(n.args).unwrap()
    }

    #[test]
    fn log_destination_follows_klogs_flags() {
        let t = log_target(&args(&["-log_file=C:\\l\\a.log", "-logtostderr=false"]));
        assert_eq!(t.file, Some(PathBuf::from("C:\\l\\a.log")));
        assert!(!t.stderr);
        // As klog: -logtostderr=true wins over a log file, and says so.
        let t = log_target(&args(&["-log_file=a.log", "-logtostderr"]));
        assert_eq!((t.file, t.stderr), (None, true));
        assert!(t.file_ignored.is_some());
        // A file given alone is used (a Windows service has no standard error).
        let t = log_target(&args(&["--log-file", "a.log"]));
        assert_eq!((t.file, t.stderr), (Some(PathBuf::from("a.log")), false));
        let t = log_target(&args(&["-log_dir=/var/log/csi", "-alsologtostderr"]));
        assert_eq!(
            (t.file, t.stderr),
            (
                Some(PathBuf::from("/var/log/csi/winkube-csi-proxy.log")),
                true
            )
        );
        let t = log_target(&args(&[]));
        assert_eq!((t.file, t.stderr), (None, true));
    }

    #[test]
    fn verbosity_maps_to_levels_and_the_service_flag_parses() {
        assert_eq!(level_of(args(&[]).verbosity), "info");
        assert_eq!(level_of(args(&["-v=1"]).verbosity), "info");
        assert_eq!(level_of(args(&["-v", "4"]).verbosity), "debug");
        assert_eq!(level_of(args(&["--v=9"]).verbosity), "trace");
        assert!(args(&["-windows-service"]).windows_service);
        assert!(!args(&["-windows-service=false"]).windows_service);
        assert!(args(&["--windows-service"]).windows_service);
        assert!(!args(&["-require-privacy=0"]).require_privacy);
        assert!(args(&[]).require_privacy);
        assert_eq!(
            args(&["-kubelet-pod-path=C:\\p", "-working-dir", "C:\\w"]).working_dirs,
            ["C:\\p", "C:\\w"]
        );
        assert_eq!(
            args(&["-metrics-bind-address=:8888"])
                .metrics_bind_address
                .as_deref(),
            Some(":8888")
        );
    }
}
