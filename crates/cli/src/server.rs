//! `winkube webhook`: the admission server, over a cluster (LiveView) or a state
//! directory (FileView).

use std::process::ExitCode;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use winkube_policy::windows::WindowsPolicyConfig;
use winkube_webhook::{
    AuthorizationMode, LiveView, LiveViewConfig, LiveWindowsOptions, LiveWindowsView, Metrics,
    Readiness, Server, ServerConfig, WindowsPolicies,
};

use crate::config::{self, Authorization, WebhookArgs, WebhookConfig};
use winkube_state::FileView;

pub const LONG: &str = "\
Serve the admission webhook over HTTPS: POST /mutate and /validate (AdmissionReview v1 or
v1beta1), GET /health (204 once caches are synced), /info and /metrics.

A drop-in for the kubernetes-sigs/windows-gmsa webhook: the same paths, the same
environment variables (TLS_CRT, TLS_KEY, HTTPS_PORT, RANDOM_HOSTNAME, QPS, BURST,
LOG_LEVEL), the same decisions and messages. Every variable also has a flag, which wins.
The serving certificate is reloaded whenever its directory changes (Secret volume
rotations included); --cert-reload is accepted for compatibility.

Without --state, the cluster is reached with in-cluster configuration or the kubeconfig;
credspecs are watched (no API call per pod) and authorization uses a
LocalSubjectAccessReview per check (--authorization subject-access-review, exact) or
locally evaluated RBAC from watched objects (--authorization rbac-cache, no API call).
SIGTERM or SIGINT drains connections and exits.

The Windows workload policies are served on their own paths, POST /mutate-windows and
/validate-windows (pod CREATE only; install them with `winkube manifests install
--windows-policies`, or leave them out to run the gMSA webhook alone). They are always
served: with --policy FILE's configuration, else with the defaults (scheduling and OS-build
compatibility enforce, memory and image tags warn, the rest off). Node builds and
RuntimeClasses are watched (with --state, read from the directory); /health also waits for
those caches. Image platforms come from the registries (the pod's imagePullSecrets are
read from its namespace), cached (--registry-cache-size, --registry-cache-ttl) and bounded
by --registry-timeout (default 4s, below the API server's 10s); an image that cannot be
resolved is allowed with a warning, or denied with `images: {onUnresolved: deny}`.

What clients can make the server hold is bounded (see Limits below and docs/install.md): review
bodies up to 37 MiB (an UPDATE of any object the API server accepts), 64 MiB of bodies and
answers in flight, 256 reviews, 1000 connections, 100 HTTP/2 streams per connection; slow
bodies get 408, idle connections are closed after 90s.";

pub const EXAMPLES: &str = "\
Examples:
  # As in the reference's Deployment
  TLS_CRT=/tls/tls.crt TLS_KEY=/tls/tls.key winkube webhook

  # Non-root port, cached RBAC, JSON logs
  winkube webhook --tls-cert-file tls.crt --tls-key-file tls.key --port 8443 \\
      --authorization rbac-cache --log-format json

  # With the Windows workload policies' configuration and a private registry's CA
  winkube webhook --policy /etc/winkube/policy.yaml --registry-ca /etc/winkube/registry-ca.pem

  # No cluster: serve from files (demos, tests)
  winkube webhook --state examples/state --tls-cert-file tls.crt --tls-key-file tls.key --port 8443";

pub fn run(args: WebhookArgs) -> ExitCode {
    if args.version {
        println!("winkube {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let cfg = match config::resolve(&args, |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("winkube webhook: {e}");
            return ExitCode::from(2);
        }
    };
    crate::logging::init_server(cfg.log_level.tracing_level(), cfg.log_format);
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    if let Err(e) = config::check_readable(&cfg) {
        tracing::error!("{e}");
        eprintln!("winkube webhook: {e}");
        return ExitCode::from(2);
    }
    let policy = match crate::windows::load_policy(cfg.policy.as_ref()) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("winkube webhook: {e}");
            return ExitCode::from(2);
        }
    };
    winkube_webhook::install_crypto_provider();
    // On one CPU (e.g. a 1-core limit or `taskset`), a current-thread runtime: the
    // multi-thread scheduler's LIFO slot lets a busy connection jump the queue, which shows
    // up as tail latency when 32 connections share one core.
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if one_cpu {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("winkube webhook: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(cfg, policy)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("winkube webhook: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(cfg: WebhookConfig, policy: WindowsPolicyConfig) -> anyhow::Result<()> {
    let mut server = ServerConfig::new(cfg.addr, cfg.tls_cert.clone(), cfg.tls_key.clone());
    server.random_hostname = cfg.random_hostname;
    server.limits = cfg.limits.clone();
    tracing::info!(
        addr = %cfg.addr,
        random_hostname = cfg.random_hostname,
        authorization = cfg.authorization.as_str(),
        policy = %cfg.policy.as_ref().map_or("(defaults)".into(), |p| p.display().to_string()),
        registry_timeout = ?cfg.registry.timeout,
        version = env!("CARGO_PKG_VERSION"),
        "starting winkube webhook"
    );
    let resolver = Arc::new(
        cfg.registry
            .resolver(Some(cfg.registry_cache))
            .map_err(|e| anyhow::anyhow!(e))?,
    );
    // The process's one metrics registry: each part registers its families into it, and
    // the server's /metrics encodes all of it.
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    let registry = Arc::new(registry);
    // The process's one cancellation token: SIGTERM/SIGINT cancels it, which stops the
    // accept loop (graceful drain), the certificate reloader and every watch.
    let cancel = CancellationToken::new();
    tokio::spawn({
        let cancel = cancel.clone();
        async move {
            shutdown_signal().await;
            cancel.cancel();
        }
    });
    server.cancel = cancel.child_token();
    let shutdown = cancel.clone().cancelled_owned();
    match &cfg.state {
        Some(dir) => {
            let mut view = FileView::load_dir(dir).map_err(|e| anyhow::anyhow!("{e}"))?;
            view.set_hyperv_handlers(policy.os_build.hyperv_handlers.clone());
            tracing::info!(
                state = %dir.display(),
                credspecs = view.credspec_count(),
                ignored_documents = view.ignored().len(),
                "serving from a state directory (no cluster)"
            );
            let view = Arc::new(view);
            let windows = WindowsPolicies::new(policy, resolver, view.clone());
            Server::bind(server, view, Readiness::ready_now(), metrics, registry)
                .await?
                .with_windows(Arc::new(windows))
                .run(shutdown)
                .await?;
        }
        None => {
            let client = kube::Client::try_default().await.map_err(|e| {
                anyhow::anyhow!(
                    "cannot create a Kubernetes client (in-cluster config or kubeconfig): {e}"
                )
            })?;
            tracing::info!(qps = cfg.qps, burst = cfg.burst, "Kubernetes client ready");
            let live = LiveViewConfig {
                authorization: match cfg.authorization {
                    Authorization::SubjectAccessReview => AuthorizationMode::SubjectAccessReview,
                    Authorization::RbacCache => AuthorizationMode::RbacCache,
                },
                qps: cfg.qps,
                burst: cfg.burst,
                credspec_cache_size: metrics.credspec_cache_size(),
            };
            // /health waits for the credspec (and RBAC) caches and the Windows policies'
            // node and RuntimeClass caches.
            let gmsa_ready = Readiness::new();
            let windows_ready = Readiness::new();
            let view =
                LiveView::start_with_cancel(client.clone(), live, gmsa_ready.clone(), &cancel)
                    .await?;
            let windows_view = LiveWindowsView::start_with_cancel(
                client,
                LiveWindowsOptions {
                    hyperv_handlers: policy.os_build.hyperv_handlers.clone(),
                    secret_timeout: cfg.registry.timeout,
                },
                windows_ready.clone(),
                &cancel,
            );
            let ready = Readiness::all(vec![gmsa_ready, windows_ready]);
            let windows = WindowsPolicies::new(policy, resolver, windows_view);
            Server::bind(server, view, ready, metrics, registry)
                .await?
                .with_windows(Arc::new(windows))
                .run(shutdown)
                .await?;
        }
    }
    // Whatever ended the server, stop the watches and tasks explicitly.
    cancel.cancel();
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM (what the kubelet sends) or SIGINT.
async fn shutdown_signal() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown signal received, draining connections");
}
