//! `winkube webhook`: the admission server, over a cluster (LiveView) or a state
//! directory (FileView).

use std::process::ExitCode;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use winkube_policy::windows::WindowsPolicyConfig;
use winkube_webhook::{
    AuthorizationMode, LiveView, LiveViewConfig, LiveWindowsOptions, LiveWindowsView, Metrics,
    OpsServer, Readiness, SelfManagedCerts, Server, ServerConfig, WindowsPolicies,
};

use crate::certificates::Certificates;
use crate::config::{self, Authorization, LogFormat, WebhookArgs, WebhookConfig};
use winkube_state::FileView;

pub const LONG: &str = "\
Serve the admission webhook over HTTPS: POST /mutate and /validate, GET /health (204 once
caches are synced), /info and /metrics. Reviews are answered as admission.k8s.io/v1 (the
gMSA paths answer v1 whatever the request says, as the reference does; register them with
admissionReviewVersions: [v1], as `winkube manifests` does). With --metrics-bind-address,
also /metrics, /healthz and /readyz over plain HTTP on their own listener (for Prometheus
and probes).

A drop-in for the kubernetes-sigs/windows-gmsa webhook: the same paths, the same
environment variables (TLS_CRT, TLS_KEY, HTTPS_PORT, RANDOM_HOSTNAME, QPS, BURST,
LOG_LEVEL) with the same meanings (QPS/BURST as client-go: 0 is the default, a negative QPS
no client-side limit), the same decisions and messages. Every variable also has a flag, which wins.
The serving certificate is reloaded whenever its directory changes (Secret volume
rotations included); --cert-reload is accepted for compatibility.

With --certificates self-managed there are no files: one replica (holding a Lease) keeps a
CA and the serving certificate in a Secret (--certificate-secret), sets caBundle in the
webhook configurations (--webhook-configurations), renews the certificate before it ends
and rotates the CA with both CAs trusted meanwhile; every replica serves what the Secret
holds. --client-ca FILE makes the review paths answer only the API server (a client
certificate signed by FILE's CAs).

With --state DIR, no cluster is needed: credspecs, RBAC, nodes and RuntimeClasses come
from the directory (as `winkube admit --state`), and --offline keeps image lookups to its
images.yaml. Without --state, the cluster is reached with in-cluster configuration or the kubeconfig;
credspecs are watched (no API call per pod) and authorization uses a
LocalSubjectAccessReview per check (--authorization subject-access-review, exact) or
locally evaluated RBAC from watched objects (--authorization rbac-cache, no API call).
SIGTERM or SIGINT drains connections and exits.

The Windows workload policies are served on their own paths, POST /mutate-windows and
/validate-windows (pod CREATE only; install them with `winkube manifests install
--windows-policies`, or leave them out to run the gMSA webhook alone). They are served with
--windows-policies (the default with --policy or --state; else those paths answer 404 and
nothing more than the reference's RBAC is needed): with --policy FILE's configuration, else
with the defaults (scheduling and OS-build compatibility enforce, memory and image tags
warn, the rest off). Node builds and RuntimeClasses are watched (with --state, read from
the directory); /health also waits for those caches. Image platforms come from the
registries, anonymously unless --read-pull-secrets (then the pod's imagePullSecrets are
read from its namespace; with --state, from the directory), cached (--registry-cache-size, --registry-cache-ttl) and bounded
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

  # Certificates made and rotated by winkube (installed this way by `winkube manifests`)
  winkube webhook --certificates self-managed --port 8443

  # With the Windows workload policies' configuration and a private registry's CA
  winkube webhook --policy /etc/winkube/policy.yaml --registry-ca /etc/winkube/registry-ca.pem

  # The Windows policies with their defaults, reading pods' imagePullSecrets
  winkube webhook --windows-policies --read-pull-secrets

  # No cluster: serve from files (demos, tests), without asking registries
  winkube webhook --state examples/state --offline --tls-cert-file tls.crt --tls-key-file tls.key --port 8443";

pub fn run(args: WebhookArgs) -> ExitCode {
    if args.version {
        println!("{}", crate::version::line());
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
    // Everything the configuration names is read and checked before anything starts:
    // a bad file is a configuration error (exit 2), not a runtime failure.
    let startup = match Startup::read(&cfg, args.offline) {
        Ok(s) => s,
        Err(e) => return fail(&cfg, 2, &e),
    };
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
        Err(e) => return fail(&cfg, 1, &format!("cannot start the async runtime: {e}")),
    };
    let log_cfg = cfg.clone();
    match runtime.block_on(serve(cfg, startup)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&log_cfg, 1, &format!("{e:#}")),
    }
}

/// Reports a start-up error once: as a JSON log line with `--log-format json` (what a log
/// pipeline reads), else as one line on stderr.
fn fail(cfg: &WebhookConfig, code: u8, message: &str) -> ExitCode {
    match cfg.log_format {
        LogFormat::Json => tracing::error!("{message}"),
        LogFormat::Text => eprintln!("winkube webhook: {message}"),
    }
    ExitCode::from(code)
}

/// What the configuration names, read and checked before the server starts.
struct Startup {
    policy: WindowsPolicyConfig,
    resolver: Arc<winkube_registry::Resolver>,
    /// `--state`: the view read from the directory.
    state: Option<FileView>,
    offline: bool,
}

impl Startup {
    fn read(cfg: &WebhookConfig, offline: bool) -> Result<Self, String> {
        config::check_readable(cfg).map_err(|e| e.to_string())?;
        winkube_webhook::install_crypto_provider();
        if let (Some(provider), Certificates::Files { cert, key }) = (
            rustls::crypto::CryptoProvider::get_default(),
            &cfg.certificates,
        ) {
            winkube_webhook::certs::load_pair(cert, key, provider).map_err(|e| {
                let setting = match &e {
                    winkube_webhook::Error::CertFile { what: "key", .. } => {
                        "--tls-key-file / TLS_KEY"
                    }
                    winkube_webhook::Error::CertFile { .. } => "--tls-cert-file / TLS_CRT",
                    _ => "--tls-cert-file / TLS_CRT and --tls-key-file / TLS_KEY",
                };
                format!("{e} ({setting})")
            })?;
        }
        let policy = crate::windows::load_policy(cfg.policy.as_ref()).map_err(|e| e.0)?;
        let resolver = Arc::new(cfg.registry.resolver(Some(cfg.registry_cache))?);
        let state = match &cfg.state {
            Some(dir) => {
                let mut view = FileView::load_dir(dir).map_err(|e| e.to_string())?;
                view.set_hyperv_handlers(policy.os_build.hyperv_handlers.clone());
                Some(view)
            }
            None => None,
        };
        Ok(Self {
            policy,
            resolver,
            state,
            offline,
        })
    }
}

/// The server's settings once the certificate source is known.
fn server_config(cfg: &WebhookConfig, certificates: winkube_webhook::Certificates) -> ServerConfig {
    let mut server = ServerConfig::with_certificates(cfg.addr, certificates);
    server.random_hostname = cfg.random_hostname;
    server.limits = cfg.limits.clone();
    server.client_ca = cfg.client_ca.clone();
    server
}

async fn serve(cfg: WebhookConfig, startup: Startup) -> anyhow::Result<()> {
    let Startup {
        policy,
        resolver,
        state,
        offline,
    } = startup;
    tracing::info!(
        addr = %cfg.addr,
        random_hostname = cfg.random_hostname,
        authorization = cfg.authorization.as_str(),
        certificates = cfg.certificates.mode().as_str(),
        client_ca = cfg.client_ca.is_some(),
        policy = %cfg.policy.as_ref().map_or("(defaults)".into(), |p| p.display().to_string()),
        registry_timeout = ?cfg.registry.timeout,
        windows_policies = cfg.windows_policies,
        read_pull_secrets = cfg.read_pull_secrets,
        offline,
        version = crate::version::VERSION,
        "starting winkube webhook"
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
    let shutdown = cancel.clone().cancelled_owned();
    let files = |cfg: &WebhookConfig| match &cfg.certificates {
        Certificates::Files { cert, key } => Ok(winkube_webhook::Certificates::Files {
            cert: cert.clone(),
            key: key.clone(),
        }),
        Certificates::SelfManaged(_) => Err(anyhow::anyhow!(
            "--certificates self-managed needs a cluster"
        )),
    };
    // The readiness the admission listener's /health and the operations listener's /readyz
    // share; set below once the views' caches have synced.
    let ready = Readiness::new();
    if let Some(addr) = cfg.metrics_addr {
        let ops = OpsServer::bind(addr, registry.clone(), ready.clone()).await?;
        tokio::spawn(ops.run(cancel.clone().cancelled_owned()));
    }
    match state {
        Some(view) => {
            let mut server = server_config(&cfg, files(&cfg)?);
            server.cancel = cancel.child_token();
            tracing::info!(
                state = %cfg.state.as_ref().map_or(String::new(), |d| d.display().to_string()),
                credspecs = view.credspec_count(),
                ignored_documents = view.ignored().len(),
                "serving from a state directory (no cluster)"
            );
            let view = Arc::new(view);
            let mut server =
                Server::bind(server, view.clone(), ready.clone(), metrics, registry).await?;
            if cfg.windows_policies {
                let mut windows = WindowsPolicies::new(policy, resolver, view);
                if offline {
                    windows = windows.offline();
                }
                server = server.with_windows(Arc::new(windows));
            }
            ready.set_ready();
            server.run(shutdown).await?;
        }
        None => {
            let client = crate::apiclient::build_client(&metrics).await?;
            tracing::info!(
                qps = %qps_text(cfg.qps),
                burst = cfg.burst,
                "Kubernetes client ready"
            );
            // Self-managed: serve once the Secret holds a certificate (this replica makes
            // it if it wins the Lease); the task keeps it renewed and reloaded.
            let (certificates, _self_managed) = match &cfg.certificates {
                Certificates::SelfManaged(s) => {
                    let namespace = s
                        .namespace
                        .clone()
                        .unwrap_or_else(|| client.default_namespace().to_owned());
                    let pod = std::env::var("HOSTNAME").unwrap_or_else(|_| "winkube".into());
                    let identity = format!("{pod}_{}", uuid::Uuid::new_v4());
                    tracing::info!(%namespace, secret = %s.secret, %identity, "self-managed certificates: waiting for the serving certificate");
                    let certs = SelfManagedCerts::start(
                        client.clone(),
                        s.config(&namespace, identity),
                        metrics.clone(),
                        &cancel,
                    )
                    .await?;
                    (
                        winkube_webhook::Certificates::Resolver(certs.resolver()),
                        Some(certs),
                    )
                }
                Certificates::Files { .. } => (files(&cfg)?, None),
            };
            let mut server = server_config(&cfg, certificates);
            server.cancel = cancel.child_token();
            let live = LiveViewConfig {
                authorization: match cfg.authorization {
                    Authorization::SubjectAccessReview => AuthorizationMode::SubjectAccessReview,
                    Authorization::RbacCache => AuthorizationMode::RbacCache,
                },
                qps: cfg.qps,
                burst: cfg.burst,
                credspec_cache_size: metrics.credspec_cache_size(),
            };
            // /health waits for the credspec (and RBAC) caches and, when the Windows
            // policies are served, their node and RuntimeClass caches. Without them nothing
            // watches Nodes or RuntimeClasses: the gMSA webhook alone needs no RBAC on them.
            let gmsa_ready = Readiness::new();
            let view =
                LiveView::start_with_cancel(client.clone(), live, gmsa_ready.clone(), &cancel)
                    .await?;
            metrics.track_caches(view.caches());
            let mut waits = vec![gmsa_ready];
            let windows = if cfg.windows_policies {
                let windows_ready = Readiness::new();
                let windows_view = LiveWindowsView::start_with_cancel(
                    client,
                    LiveWindowsOptions {
                        hyperv_handlers: policy.os_build.hyperv_handlers.clone(),
                        secret_timeout: cfg.registry.timeout,
                        read_pull_secrets: cfg.read_pull_secrets,
                    },
                    windows_ready.clone(),
                    &cancel,
                );
                metrics.track_caches(windows_view.caches());
                waits.push(windows_ready);
                Some(WindowsPolicies::new(policy, resolver, windows_view))
            } else {
                None
            };
            let joined = Readiness::all(waits);
            tokio::spawn(cancel.clone().run_until_cancelled_owned({
                let ready = ready.clone();
                async move {
                    joined.wait().await;
                    ready.set_ready();
                }
            }));
            let mut server = Server::bind(server, view, ready, metrics, registry).await?;
            if let Some(windows) = windows {
                server = server.with_windows(Arc::new(windows));
            }
            server.run(shutdown).await?;
        }
    }
    // Whatever ended the server, stop the watches and tasks explicitly.
    cancel.cancel();
    tracing::info!("stopped");
    Ok(())
}

/// QPS for the start-up log: client-go's "no limit" spelled out.
fn qps_text(qps: f32) -> String {
    if qps < 0.0 {
        "unlimited".to_owned()
    } else {
        qps.to_string()
    }
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
