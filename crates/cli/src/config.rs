//! `winkube webhook` configuration: flags first, then the reference webhook's environment
//! variables (so its Deployment manifests work unchanged), then defaults.
//!
//! Environment parsing follows the reference where that is safe (an invalid `HTTPS_PORT`,
//! `QPS` or `BURST` warns and uses the default) and departs where the reference panics
//! (an invalid `RANDOM_HOSTNAME` is a clear start-up error, not a crash).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::certificates::{CertificateArgs, Certificates};
use crate::registry::{CacheSettings, RegistryArgs};

/// The reference's environment variable names.
pub const ENV_TLS_CRT: &str = "TLS_CRT";
pub const ENV_TLS_KEY: &str = "TLS_KEY";
pub const ENV_HTTPS_PORT: &str = "HTTPS_PORT";
pub const ENV_RANDOM_HOSTNAME: &str = "RANDOM_HOSTNAME";
pub const ENV_QPS: &str = "QPS";
pub const ENV_BURST: &str = "BURST";
pub const ENV_LOG_LEVEL: &str = "LOG_LEVEL";
/// winkube's own switches, named in the same style.
pub const ENV_WINDOWS_POLICIES: &str = "WINDOWS_POLICIES";
pub const ENV_READ_PULL_SECRETS: &str = "READ_PULL_SECRETS";

pub const DEFAULT_PORT: u16 = 443;
/// client-go's defaults, which the reference keeps unless QPS/BURST are set.
pub const DEFAULT_QPS: f32 = 5.0;
pub const DEFAULT_BURST: u32 = 10;
/// The timeout the install manifests give the webhooks; registry lookups stay below it.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_REGISTRY_TIMEOUT: Duration = Duration::from_secs(4);
pub const DEFAULT_REGISTRY_CACHE_SIZE: usize = 1024;
pub const DEFAULT_REGISTRY_CACHE_TTL: Duration = Duration::from_secs(600);

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// How `may this service account use this credspec` is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Authorization {
    /// A LocalSubjectAccessReview per check, as the reference does: exact for every
    /// authorizer the API server runs (RBAC, webhooks, ABAC), one API call per check.
    SubjectAccessReview,
    /// Evaluate RBAC locally from watched Roles and bindings; a local allow is final, a
    /// local deny is confirmed by a LocalSubjectAccessReview. No API call for authorized
    /// pods, but a revoked grant may be honoured for the watch latency, and the webhook
    /// needs list/watch on RBAC objects.
    RbacCache,
}

impl Authorization {
    pub fn as_str(self) -> &'static str {
        match self {
            Authorization::SubjectAccessReview => "subject-access-review",
            Authorization::RbacCache => "rbac-cache",
        }
    }
}

/// Log levels accepted by `LOG_LEVEL`/`--log-level` (the reference's logrus names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Panic,
    Fatal,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub const NAMES: [&'static str; 7] =
        ["panic", "fatal", "error", "warn", "info", "debug", "trace"];

    /// Case-insensitive, as logrus' `ParseLevel` (which also accepts `warning`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "panic" => LogLevel::Panic,
            "fatal" => LogLevel::Fatal,
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }

    /// tracing has no panic/fatal levels: both mean "errors only".
    pub fn tracing_level(self) -> tracing::Level {
        match self {
            LogLevel::Panic | LogLevel::Fatal | LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Trace => tracing::Level::TRACE,
        }
    }
}

fn parse_log_level(s: &str) -> Result<LogLevel, String> {
    LogLevel::parse(s).ok_or_else(|| {
        format!(
            "unknown log level {s:?}, valid log levels are: {}",
            LogLevel::NAMES.join(", ")
        )
    })
}

/// Go's `strconv.ParseBool`, which the reference uses for `RANDOM_HOSTNAME` and flags.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "invalid boolean {s:?} (expected one of 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False)"
        )),
    }
}

/// Flags of `winkube webhook`. Every flag overrides the environment variable of the same
/// meaning.
#[derive(Args, Debug, Clone)]
pub struct WebhookArgs {
    /// Serving certificate (PEM); env TLS_CRT. Reloaded whenever it changes.
    #[arg(long, value_name = "PATH")]
    pub tls_cert_file: Option<PathBuf>,
    /// Private key of the serving certificate (PEM); env TLS_KEY.
    #[arg(long, value_name = "PATH")]
    pub tls_key_file: Option<PathBuf>,
    #[command(flatten)]
    pub certificates: CertificateArgs,
    /// HTTPS port; env HTTPS_PORT [default: 443].
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Address to listen on.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// Give gMSA pods without a hostname a random 15-character one; env RANDOM_HOSTNAME
    /// [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_go_bool)]
    pub random_hostname: Option<bool>,
    /// Kubernetes API client queries per second; env QPS [default: 5]. As client-go: 0 is the
    /// default, a negative value means no client-side limit.
    #[arg(long, value_name = "QPS", allow_negative_numbers = true)]
    pub qps: Option<f32>,
    /// Kubernetes API client burst; env BURST [default: 10; 0 is the default].
    #[arg(long, value_name = "N")]
    pub burst: Option<u32>,
    /// panic, fatal, error, warn, info, debug or trace; env LOG_LEVEL [default: info].
    #[arg(long, value_name = "LEVEL", value_parser = parse_log_level)]
    pub log_level: Option<LogLevel>,
    /// Log line format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Accepted for compatibility with the reference (`--cert-reload`, `--cert-reload=false`):
    /// winkube always reloads the certificate when its directory changes.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_go_bool)]
    pub cert_reload: Option<bool>,
    /// How service accounts' right to `use` a credspec is checked.
    #[arg(long, value_enum, default_value = "subject-access-review")]
    pub authorization: Authorization,
    /// Serve from cluster state in this directory (as `winkube admit --state`) instead of
    /// a cluster: no API server needed, ready immediately. For tests and demos.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// With --state: never ask a registry; image metadata only from the state directory's
    /// images.yaml (as `winkube admit --offline`)
    #[arg(long, requires = "state")]
    pub offline: bool,
    /// Windows workload policy file (YAML; see docs/windows-policies.md), served on
    /// /mutate-windows and /validate-windows. Those paths are always served: without this
    /// flag, with the defaults (scheduling and OS-build compatibility enforce, memory and
    /// image tags warn, the rest off).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Serve the Windows workload policies (/mutate-windows, /validate-windows), watching
    /// Nodes and RuntimeClasses (the install's --windows-policies grants that); env
    /// WINDOWS_POLICIES [default: true with --policy or --state, else false: the gMSA
    /// webhook alone, ready with the reference's RBAC]. Off, those paths answer 404.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_go_bool)]
    pub windows_policies: Option<bool>,
    /// Read the imagePullSecrets a pod names (cluster-wide `get` on Secrets) to look its
    /// images up in private registries; env READ_PULL_SECRETS [default: false: images are
    /// looked up anonymously, so a private registry's images need pinned metadata]. With
    /// --state, the directory's Secrets are always used.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_go_bool)]
    pub read_pull_secrets: Option<bool>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub limits: crate::limits::LimitArgs,
    /// Most image lookups kept in the registry cache.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_REGISTRY_CACHE_SIZE)]
    pub registry_cache_size: usize,
    /// How long a successful image lookup is reused (tags move; failures are kept 10s).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = crate::windows::parse_duration)]
    pub registry_cache_ttl: Duration,
    /// Print `winkube <version>` and exit.
    #[arg(long)]
    pub version: bool,
    #[command(flatten)]
    pub ops: crate::ops::OpsArgs,
}

impl Default for WebhookArgs {
    /// What clap produces when no flag is given.
    fn default() -> Self {
        Self {
            tls_cert_file: None,
            tls_key_file: None,
            certificates: CertificateArgs::default(),
            port: None,
            bind_address: IpAddr::from([0, 0, 0, 0]),
            random_hostname: None,
            qps: None,
            burst: None,
            log_level: None,
            log_format: LogFormat::Text,
            cert_reload: None,
            authorization: Authorization::SubjectAccessReview,
            state: None,
            offline: false,
            policy: None,
            windows_policies: None,
            read_pull_secrets: None,
            registry: RegistryArgs::default(),
            limits: crate::limits::LimitArgs::default(),
            registry_cache_size: DEFAULT_REGISTRY_CACHE_SIZE,
            registry_cache_ttl: DEFAULT_REGISTRY_CACHE_TTL,
            version: false,
            ops: crate::ops::OpsArgs::default(),
        }
    }
}

/// Everything `winkube webhook` needs, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookConfig {
    pub addr: SocketAddr,
    pub certificates: Certificates,
    /// Review paths require a client certificate signed by these CAs (PEM file).
    pub client_ca: Option<PathBuf>,
    pub random_hostname: bool,
    /// Calls per second; negative ([`crate::apiclient::UNLIMITED_QPS`]): no client-side limit.
    pub qps: f32,
    pub burst: u32,
    /// The operations listener (`/metrics`, `/healthz`, `/readyz`); `None`: off.
    pub metrics_addr: Option<SocketAddr>,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    pub authorization: Authorization,
    pub state: Option<PathBuf>,
    /// The Windows policy file; `None`: the defaults.
    pub policy: Option<PathBuf>,
    /// Serve the Windows policies' paths (and, over a cluster, watch what they need).
    pub windows_policies: bool,
    /// Read pods' imagePullSecrets from the cluster.
    pub read_pull_secrets: bool,
    /// How the Windows policies reach registries.
    pub registry: RegistryArgs,
    pub registry_cache: CacheSettings,
    /// Body sizes, deadlines, the in-flight budget, caps on reviews and connections.
    pub limits: winkube_webhook::Limits,
    /// Problems that do not stop the server (the reference logs them as warnings); they
    /// are logged once logging is set up.
    pub warnings: Vec<String>,
}

/// A configuration that cannot start a server.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Resolves flags and environment (`env` looks a variable up; `std::env::var` in main).
pub fn resolve(
    args: &WebhookArgs,
    env: impl Fn(&str) -> Option<String>,
) -> Result<WebhookConfig, ConfigError> {
    let mut warnings = Vec::new();
    let env = |name: &str| env(name).filter(|v| !v.is_empty());

    let files = || {
        let tls_cert = args
            .tls_cert_file
            .clone()
            .or_else(|| env(ENV_TLS_CRT).map(PathBuf::from))
            .ok_or_else(|| {
                ConfigError(format!(
                    "no serving certificate: set --tls-cert-file or the {ENV_TLS_CRT} environment variable"
                ))
            })?;
        let tls_key = args
            .tls_key_file
            .clone()
            .or_else(|| env(ENV_TLS_KEY).map(PathBuf::from))
            .ok_or_else(|| {
                ConfigError(format!(
                    "no serving key: set --tls-key-file or the {ENV_TLS_KEY} environment variable"
                ))
            })?;
        Ok((tls_cert, tls_key))
    };
    let certificates =
        crate::certificates::resolve(&args.certificates, files, args.state.is_some())?;

    let port = match args.port {
        Some(p) => p,
        None => env_number(&env, ENV_HTTPS_PORT, DEFAULT_PORT, &mut warnings),
    };
    // client-go's meanings (0: default, negative QPS: no limit); see apiclient.
    let crate::apiclient::ClientLimits { qps, burst } =
        crate::apiclient::resolve(args.qps, args.burst.map(i64::from), &env, &mut warnings)?;

    let switch = |flag: Option<bool>, name: &str, default: bool| match flag {
        Some(b) => Ok(b),
        None => match env(name) {
            None => Ok(default),
            Some(v) => parse_go_bool(&v).map_err(|e| {
                ConfigError(format!("unable to parse environment variable {name}: {e}"))
            }),
        },
    };
    let random_hostname = switch(args.random_hostname, ENV_RANDOM_HOSTNAME, false)?;
    // Off by default so that the gMSA webhook alone becomes ready with the reference's
    // RBAC (no nodes or RuntimeClasses); a policy file asks for the policies, and a state
    // directory needs no RBAC.
    let windows_policies = switch(
        args.windows_policies,
        ENV_WINDOWS_POLICIES,
        args.policy.is_some() || args.state.is_some(),
    )?;
    let read_pull_secrets = switch(args.read_pull_secrets, ENV_READ_PULL_SECRETS, false)?;
    if args.policy.is_some() && !windows_policies {
        return Err(ConfigError(
            "--policy configures the Windows policies, which --windows-policies=false (or WINDOWS_POLICIES) turns off".into(),
        ));
    }

    let log_level = match args.log_level {
        Some(l) => l,
        None => match env(ENV_LOG_LEVEL) {
            None => LogLevel::Info,
            Some(v) => match LogLevel::parse(&v) {
                Some(l) => l,
                None => {
                    warnings.push(format!(
                        "unknown log level {v:?} in {ENV_LOG_LEVEL}, valid log levels are: {}; using info",
                        LogLevel::NAMES.join(", ")
                    ));
                    LogLevel::Info
                }
            },
        },
    };

    if args.cert_reload == Some(false) {
        warnings.push(
            "--cert-reload=false is ignored: winkube always reloads the serving certificate when it changes"
                .into(),
        );
    }

    if args.registry.timeout >= WEBHOOK_TIMEOUT {
        return Err(ConfigError(format!(
            "--registry-timeout {:?} must be below the API server's {}s webhook timeout (default 4s)",
            args.registry.timeout,
            WEBHOOK_TIMEOUT.as_secs()
        )));
    }
    if args.registry_cache_size == 0 {
        return Err(ConfigError(
            "--registry-cache-size must be at least 1".into(),
        ));
    }

    Ok(WebhookConfig {
        addr: SocketAddr::new(args.bind_address, port),
        certificates,
        client_ca: args.certificates.client_ca.clone(),
        random_hostname,
        qps,
        burst,
        metrics_addr: args.ops.metrics_addr(),
        log_level,
        log_format: args.log_format,
        authorization: args.authorization,
        state: args.state.clone(),
        policy: args.policy.clone(),
        windows_policies,
        read_pull_secrets,
        registry: args.registry.clone(),
        registry_cache: CacheSettings {
            capacity: args.registry_cache_size,
            ttl: args.registry_cache_ttl,
        },
        limits: args.limits.limits().map_err(ConfigError)?,
        warnings,
    })
}

/// The reference's `env_int`/`env_float`: unset → default; invalid → warning and default.
fn env_number<T: std::str::FromStr + fmt::Display + Copy>(
    env: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
    warnings: &mut Vec<String>,
) -> T {
    match env(name) {
        None => default,
        // No trimming: Go's Atoi refuses " 443" too (and the reference then uses the default).
        Some(v) => match v.parse::<T>() {
            Ok(n) => n,
            Err(_) => {
                warnings.push(format!(
                    "unable to parse environment variable {name} with value {v:?}; using default value {default}"
                ));
                default
            }
        },
    }
}

/// Checks that the certificate and key files can be read, so a wrong path is reported
/// before anything else starts (the reference panics on it, issue #50).
pub fn check_readable(config: &WebhookConfig) -> Result<(), ConfigError> {
    if let Some(ca) = &config.client_ca {
        crate::certificates::check_client_ca(ca)?;
    }
    let Certificates::Files { cert, key } = &config.certificates else {
        return Ok(());
    };
    for (what, path, var) in [
        ("certificate", cert, ENV_TLS_CRT),
        ("key", key, ENV_TLS_KEY),
    ] {
        let content = std::fs::read(path).map_err(|e| {
            ConfigError(format!(
                "cannot read the TLS {what} file {} (--tls-{}-file / {var}): {e}",
                path.display(),
                if what == "key" { "key" } else { "cert" }
            ))
        })?;
        if !content.windows(10).any(|w| w == b"-----BEGIN") {
            return Err(ConfigError(format!(
                "the TLS {what} file {} (--tls-{}-file / {var}) contains no PEM data",
                path.display(),
                if what == "key" { "key" } else { "cert" }
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const TLS: [(&str, &str); 2] = [("TLS_CRT", "/tls/crt"), ("TLS_KEY", "/tls/key")];

    fn resolve_env(extra: &[(&str, &str)]) -> Result<WebhookConfig, ConfigError> {
        let mut pairs: Vec<(&str, &str)> = TLS.to_vec();
        pairs.extend_from_slice(extra);
        resolve(&default_args(), env_of(&pairs))
    }

    fn default_args() -> WebhookArgs {
        WebhookArgs::default()
    }

    #[test]
    fn reference_defaults() {
        let c = resolve_env(&[]).unwrap();
        assert_eq!(c.addr.port(), 443);
        assert_eq!(
            c.certificates,
            Certificates::Files {
                cert: PathBuf::from("/tls/crt"),
                key: PathBuf::from("/tls/key")
            }
        );
        assert!(!c.random_hostname);
        assert_eq!((c.qps, c.burst), (5.0, 10));
        assert_eq!(c.log_level, LogLevel::Info);
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn env_values_are_used() {
        let c = resolve_env(&[
            ("HTTPS_PORT", "8443"),
            ("QPS", "30.5"),
            ("BURST", "50"),
            ("RANDOM_HOSTNAME", "T"),
            ("LOG_LEVEL", "DEBUG"),
        ])
        .unwrap();
        assert_eq!(c.addr.port(), 8443);
        assert_eq!((c.qps, c.burst), (30.5, 50));
        assert!(c.random_hostname);
        assert_eq!(c.log_level, LogLevel::Debug);
    }

    #[test]
    fn invalid_https_port_warns_and_uses_default() {
        let c = resolve_env(&[("HTTPS_PORT", "https")]).unwrap();
        assert_eq!(c.addr.port(), 443);
        assert_eq!(
            c.warnings,
            [
                "unable to parse environment variable HTTPS_PORT with value \"https\"; using default value 443"
            ]
        );
        // Go's Atoi does not trim: the reference uses the default for " 8443" too.
        let c = resolve_env(&[("HTTPS_PORT", " 8443")]).unwrap();
        assert_eq!((c.addr.port(), c.warnings.len()), (443, 1));
        // Out of range for a port is invalid too.
        let c = resolve_env(&[("HTTPS_PORT", "70000")]).unwrap();
        assert_eq!(c.addr.port(), 443);
        assert_eq!(c.warnings.len(), 1);
    }

    #[test]
    fn invalid_qps_and_burst_warn_and_use_defaults() {
        let c = resolve_env(&[("QPS", "fast"), ("BURST", "many")]).unwrap();
        assert_eq!((c.qps, c.burst), (5.0, 10));
        assert_eq!(c.warnings.len(), 2);
    }

    #[test]
    fn qps_and_burst_keep_client_go_meanings() {
        // The reference's test setups run with QPS=-1: no client-side limit.
        let c = resolve_env(&[("QPS", "-1")]).unwrap();
        assert_eq!((c.qps, c.burst), (crate::apiclient::UNLIMITED_QPS, 10));
        let c = resolve_env(&[("QPS", "0"), ("BURST", "0")]).unwrap();
        assert_eq!((c.qps, c.burst), (5.0, 10));
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn random_hostname_accepts_exactly_go_parsebool() {
        for (v, want) in [
            ("1", true),
            ("t", true),
            ("T", true),
            ("TRUE", true),
            ("true", true),
            ("True", true),
            ("0", false),
            ("f", false),
            ("F", false),
            ("FALSE", false),
            ("false", false),
            ("False", false),
        ] {
            assert_eq!(
                resolve_env(&[("RANDOM_HOSTNAME", v)])
                    .unwrap()
                    .random_hostname,
                want,
                "{v}"
            );
        }
        for bad in ["yes", "on", "tRuE", "2", " true"] {
            let e = resolve_env(&[("RANDOM_HOSTNAME", bad)]).unwrap_err();
            assert!(
                e.0.starts_with(
                    "unable to parse environment variable RANDOM_HOSTNAME: invalid boolean"
                ),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn windows_switches_default_to_least_privilege() {
        let c = resolve_env(&[]).unwrap();
        assert!(!c.windows_policies && !c.read_pull_secrets);
        let c = resolve_env(&[("WINDOWS_POLICIES", "true"), ("READ_PULL_SECRETS", "1")]).unwrap();
        assert!(c.windows_policies && c.read_pull_secrets);
        // A policy file (or a state directory) turns the policies on unless told otherwise.
        let pairs: Vec<(&str, &str)> = TLS.to_vec();
        let with_policy = WebhookArgs {
            policy: Some(PathBuf::from("/etc/winkube/policy.yaml")),
            ..default_args()
        };
        let c = resolve(&with_policy, env_of(&pairs)).unwrap();
        assert!(c.windows_policies && !c.read_pull_secrets);
        let off = WebhookArgs {
            windows_policies: Some(false),
            ..with_policy
        };
        let e = resolve(&off, env_of(&pairs)).unwrap_err();
        assert!(e.0.contains("--windows-policies=false"), "{e}");
        // The flag wins over the variable; a bad variable names itself.
        let args = WebhookArgs {
            read_pull_secrets: Some(false),
            ..default_args()
        };
        let mut env = pairs.clone();
        env.push(("READ_PULL_SECRETS", "true"));
        assert!(!resolve(&args, env_of(&env)).unwrap().read_pull_secrets);
        let e = resolve_env(&[("WINDOWS_POLICIES", "yes")]).unwrap_err();
        assert!(
            e.0.starts_with("unable to parse environment variable WINDOWS_POLICIES"),
            "{e}"
        );
    }

    #[test]
    fn missing_tls_is_a_clear_error() {
        let e = resolve(&default_args(), env_of(&[("TLS_KEY", "/k")])).unwrap_err();
        assert_eq!(
            e.0,
            "no serving certificate: set --tls-cert-file or the TLS_CRT environment variable"
        );
        let e = resolve(&default_args(), env_of(&[("TLS_CRT", "/c")])).unwrap_err();
        assert!(e.0.contains("TLS_KEY"), "{e}");
    }

    #[test]
    fn flags_override_environment() {
        let args = WebhookArgs {
            tls_cert_file: Some("/flag/crt".into()),
            port: Some(9443),
            random_hostname: Some(false),
            log_level: Some(LogLevel::Warn),
            ..default_args()
        };
        let c = resolve(
            &args,
            env_of(&[
                ("TLS_CRT", "/env/crt"),
                ("TLS_KEY", "/env/key"),
                ("HTTPS_PORT", "1"),
                // An invalid env value that a flag overrides is never parsed.
                ("RANDOM_HOSTNAME", "maybe"),
                ("LOG_LEVEL", "trace"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.certificates,
            Certificates::Files {
                cert: PathBuf::from("/flag/crt"),
                key: PathBuf::from("/env/key")
            }
        );
        assert_eq!(c.addr.port(), 9443);
        assert!(!c.random_hostname);
        assert_eq!(c.log_level, LogLevel::Warn);
    }

    #[test]
    fn unknown_log_level_warns_and_uses_info() {
        let c = resolve_env(&[("LOG_LEVEL", "verbose")]).unwrap();
        assert_eq!(c.log_level, LogLevel::Info);
        assert!(
            c.warnings[0]
                .contains("valid log levels are: panic, fatal, error, warn, info, debug, trace")
        );
        assert_eq!(
            LogLevel::parse("Panic").unwrap().tracing_level(),
            tracing::Level::ERROR
        );
    }

    #[test]
    fn registry_settings_are_checked() {
        let c = resolve_env(&[]).unwrap();
        assert_eq!(c.registry.timeout, Duration::from_secs(4));
        assert_eq!(c.registry_cache.capacity, 1024);
        assert_eq!(c.policy, None);
        let pairs: Vec<(&str, &str)> = TLS.to_vec();
        let args = WebhookArgs {
            registry: RegistryArgs {
                timeout: Duration::from_secs(10),
                ..RegistryArgs::default()
            },
            ..default_args()
        };
        let e = resolve(&args, env_of(&pairs)).unwrap_err();
        assert!(
            e.0.contains("below the API server's 10s webhook timeout"),
            "{e}"
        );
        let args = WebhookArgs {
            registry_cache_size: 0,
            ..default_args()
        };
        let e = resolve(&args, env_of(&pairs)).unwrap_err();
        assert!(e.0.contains("--registry-cache-size"), "{e}");
    }

    #[test]
    fn check_readable_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("crt");
        std::fs::write(&cert, "not pem").unwrap();
        let mut c = resolve_env(&[]).unwrap();
        c.certificates = Certificates::Files {
            cert: cert.clone(),
            key: PathBuf::from("/tls/key"),
        };
        let e = check_readable(&c).unwrap_err();
        assert!(
            e.0.contains("contains no PEM data") && e.0.contains(&*cert.to_string_lossy()),
            "{e}"
        );
        c.certificates = Certificates::Files {
            cert: dir.path().join("missing"),
            key: PathBuf::from("/tls/key"),
        };
        let e = check_readable(&c).unwrap_err();
        assert!(
            e.0.starts_with("cannot read the TLS certificate file"),
            "{e}"
        );
    }
}
