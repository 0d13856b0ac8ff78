//! `winkube webhook`: the admission server, over a cluster (LiveView) or a state
//! directory (FileView).

use std::process::ExitCode;
use std::sync::Arc;

use winkube_webhook::{AuthorizationMode, LiveView, LiveViewConfig, Readiness, ServerConfig};

use crate::config::{self, Authorization, WebhookArgs, WebhookConfig};
use crate::state::FileView;

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
    winkube_webhook::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("winkube webhook: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("winkube webhook: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(cfg: WebhookConfig) -> anyhow::Result<()> {
    let mut server = ServerConfig::new(cfg.addr, cfg.tls_cert.clone(), cfg.tls_key.clone());
    server.random_hostname = cfg.random_hostname;
    tracing::info!(
        addr = %cfg.addr,
        random_hostname = cfg.random_hostname,
        authorization = cfg.authorization.as_str(),
        version = env!("CARGO_PKG_VERSION"),
        "starting winkube webhook"
    );
    match &cfg.state {
        Some(dir) => {
            let view = FileView::load_dir(dir).map_err(|e| anyhow::anyhow!("{e}"))?;
            tracing::info!(
                state = %dir.display(),
                credspecs = view.credspec_count(),
                ignored_documents = view.ignored().len(),
                "serving from a state directory (no cluster)"
            );
            winkube_webhook::serve(
                server,
                Arc::new(view),
                Readiness::ready_now(),
                shutdown_signal(),
            )
            .await?;
        }
        None => {
            let client = kube::Client::try_default().await.map_err(|e| {
                anyhow::anyhow!(
                    "cannot create a Kubernetes client (in-cluster config or kubeconfig): {e}"
                )
            })?;
            tracing::info!(qps = cfg.qps, burst = cfg.burst, "Kubernetes client ready");
            let ready = Readiness::new();
            let live = LiveViewConfig {
                authorization: match cfg.authorization {
                    Authorization::SubjectAccessReview => AuthorizationMode::SubjectAccessReview,
                    Authorization::RbacCache => AuthorizationMode::RbacCache,
                },
                qps: cfg.qps,
                burst: cfg.burst,
            };
            let view = LiveView::start(client, live, ready.clone()).await?;
            winkube_webhook::serve(server, view, ready, shutdown_signal()).await?;
        }
    }
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
