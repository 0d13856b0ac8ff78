//! The Kubernetes API client of `winkube webhook`, `doctor` and `audit`: its client-side
//! rate limit (QPS/BURST, with client-go's meaning, which the reference inherits), its one
//! construction (kubeconfig or in-cluster; with the API call metrics layer for the webhook)
//! and the connection flags the cluster-reading commands share (`KubeArgs`).
//!
//! client-go (`rest.RESTClientFor`): QPS 0 means the default 5, a negative QPS means no
//! client-side limit; BURST 0 means the default 10. The reference reads `QPS` with Go's
//! `strconv.ParseFloat(v, 32)` and `BURST` with `strconv.Atoi`; a value they refuse is
//! logged and the default used. Every value the reference accepts keeps its meaning here.

use std::fmt;

use crate::config::{ConfigError, DEFAULT_BURST, DEFAULT_QPS, ENV_BURST, ENV_QPS};

/// The resolved client-side limit of the calls made while answering reviews.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClientLimits {
    /// Calls per second; `UNLIMITED_QPS` (negative): no client-side limit.
    pub qps: f32,
    pub burst: u32,
}

/// How a resolved configuration says "no client-side limit" (client-go's QPS < 0).
pub const UNLIMITED_QPS: f32 = -1.0;

/// `--qps`/`QPS` and `--burst`/`BURST`, flags first. Invalid environment values warn and use
/// the default, as in the reference; flags are parsed by clap, so only their meaning is
/// resolved here.
pub fn resolve(
    qps_flag: Option<f32>,
    burst_flag: Option<i64>,
    env: &impl Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<ClientLimits, ConfigError> {
    let qps = match qps_flag {
        Some(q) => q,
        None => env_value(env, ENV_QPS, parse_go_float32, DEFAULT_QPS, warnings),
    };
    let burst = match burst_flag {
        Some(b) => b,
        None => env_value(
            env,
            ENV_BURST,
            parse_go_int,
            i64::from(DEFAULT_BURST),
            warnings,
        ),
    };
    // client-go: `if qps == 0 { qps = DefaultQPS }`; a limiter only `if qps > 0` (NaN and
    // negative values are not > 0; +Inf is rate.Inf, no limit either).
    let qps = if qps == 0.0 {
        DEFAULT_QPS
    } else if qps > 0.0 && qps.is_finite() {
        qps
    } else {
        UNLIMITED_QPS
    };
    let burst = match burst {
        0 => DEFAULT_BURST,
        b if b > 0 => u32::try_from(b).unwrap_or(u32::MAX),
        // Without a limiter the burst is never used.
        _ if qps == UNLIMITED_QPS => DEFAULT_BURST,
        b => {
            // client-go builds a limiter whose every Wait fails ("exceeds limiter's
            // burst"): the reference then fails every API call. Say so instead.
            return Err(ConfigError(format!(
                "burst {b} (--burst / {ENV_BURST}) with QPS {qps}: a negative burst allows no API call at all (client-go fails every request); use 0 for the default ({DEFAULT_BURST}), or a negative QPS for no client-side limit"
            )));
        }
    };
    Ok(ClientLimits { qps, burst })
}

/// The reference's `env_float`/`env_int`: unset or empty → default; invalid → warning and
/// default.
fn env_value<T: fmt::Display + Copy>(
    env: &impl Fn(&str) -> Option<String>,
    name: &str,
    parse: fn(&str) -> Option<T>,
    default: T,
    warnings: &mut Vec<String>,
) -> T {
    match env(name) {
        None => default,
        Some(v) => parse(&v).unwrap_or_else(|| {
            warnings.push(format!(
                "unable to parse environment variable {name} with value {v:?}; using default value {default}"
            ));
            default
        }),
    }
}

/// Go's `strconv.Atoi` (64-bit `int`): optional sign, decimal digits, nothing else.
pub fn parse_go_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Go's `strconv.ParseFloat(s, 32)`: decimal and hexadecimal (`0x1p-2`) forms, `inf`,
/// `infinity` (signed or not) and `nan` (unsigned), case-insensitive; a finite value out of
/// float32 range is an error (Go's ErrRange), as are spaces and `_` outside hex literals.
pub fn parse_go_float32(s: &str) -> Option<f32> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let signed = |v: f32| if negative { -v } else { v };
    if lower == "inf" || lower == "infinity" {
        return Some(signed(f32::INFINITY));
    }
    if lower == "nan" {
        // Go accepts "nan" only without a sign.
        return (body.len() == s.len()).then_some(f32::NAN);
    }
    if let Some(hex) = lower.strip_prefix("0x") {
        return parse_hex_float(hex).map(signed);
    }
    // Rust's grammar is Go's decimal one, minus the words handled above.
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let v: f32 = body.parse().ok()?;
    v.is_finite().then_some(signed(v))
}

/// The part after `0x` of a Go hexadecimal float: hex digits with an optional point, then a
/// mandatory binary exponent `p[+-]N`; `_` may separate digits.
fn parse_hex_float(s: &str) -> Option<f32> {
    let (mantissa, exponent) = s.split_once('p')?;
    let exponent: i32 = exponent.replace('_', "").parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let int = int.replace('_', "");
    let frac = frac.replace('_', "");
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in int.chars().chain(frac.chars()) {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let scale = exponent - 4 * i32::try_from(frac.len()).ok()?;
    let v = (value * 2f64.powi(scale)) as f32;
    v.is_finite().then_some(v)
}

/// Where the client's configuration comes from: `--kubeconfig` and `--context` when given,
/// else kube's inference (`$KUBECONFIG` or `~/.kube/config`, then the in-cluster service
/// account), as kubectl does.
#[derive(Clone, Debug, Default)]
pub struct ConfigSource {
    pub kubeconfig: Option<std::path::PathBuf>,
    pub context: Option<String>,
}

/// The connection flags of the commands that read a live cluster (`doctor`, `audit`).
#[derive(clap::Args, Clone, Debug)]
pub struct KubeArgs {
    /// The kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context to use (default: its current context)
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Seconds to wait for the API server to connect and answer each request
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,
}

impl KubeArgs {
    /// The client these flags describe, and the API server's URL (for messages). `Err`
    /// is a configuration error (exit 2).
    pub async fn connect(&self) -> Result<(kube::Client, String), ConfigError> {
        let source = ConfigSource {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        };
        let mut config = kube_config(&source).await?;
        let timeout = std::time::Duration::from_secs(self.request_timeout);
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        let url = config.cluster_url.to_string();
        Ok((client(config, None)?, url))
    }
}

/// The client configuration; `Err` is a configuration error (exit 2 in commands).
pub async fn kube_config(source: &ConfigSource) -> Result<kube::Config, ConfigError> {
    let options = kube::config::KubeConfigOptions {
        context: source.context.clone(),
        ..Default::default()
    };
    let result = match &source.kubeconfig {
        Some(path) => match kube::config::Kubeconfig::read_from(path) {
            Ok(k) => kube::Config::from_custom_kubeconfig(k, &options)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        None if source.context.is_some() => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| e.to_string()),
        None => kube::Config::infer().await.map_err(|e| e.to_string()),
    };
    result.map_err(|e| {
        ConfigError(format!(
            "cannot create a Kubernetes client (in-cluster config or kubeconfig): {e}"
        ))
    })
}

/// The one client construction: `config`, with the API call metrics layer when given.
pub fn client(
    config: kube::Config,
    metrics: Option<&winkube_webhook::Metrics>,
) -> Result<kube::Client, ConfigError> {
    let builder = kube::client::ClientBuilder::try_from(config).map_err(|e| {
        ConfigError(format!(
            "cannot create a Kubernetes client (in-cluster config or kubeconfig): {e}"
        ))
    })?;
    Ok(match metrics {
        Some(m) => builder.with_layer(&m.api_layer()).build(),
        None => builder.build(),
    })
}

/// The webhook's client: in-cluster configuration or the kubeconfig, with every API call
/// counted in `metrics`.
pub async fn build_client(metrics: &winkube_webhook::Metrics) -> anyhow::Result<kube::Client> {
    let config = kube_config(&ConfigSource::default())
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.0))?;
    client(config, Some(metrics)).map_err(|e| anyhow::anyhow!("{}", e.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn limits(env: &[(&str, &str)]) -> (Result<ClientLimits, ConfigError>, Vec<String>) {
        let map: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut warnings = Vec::new();
        let r = resolve(None, None, &|k: &str| map.get(k).cloned(), &mut warnings);
        (r, warnings)
    }

    fn ok(env: &[(&str, &str)]) -> (f32, u32) {
        let (r, w) = limits(env);
        assert!(w.is_empty(), "{env:?}: {w:?}");
        let l = r.unwrap();
        (l.qps, l.burst)
    }

    #[test]
    fn client_go_meanings() {
        assert_eq!(ok(&[]), (5.0, 10));
        assert_eq!(ok(&[("QPS", "30"), ("BURST", "50")]), (30.0, 50));
        // 0 is the default, for both.
        assert_eq!(ok(&[("QPS", "0"), ("BURST", "0")]), (5.0, 10));
        assert_eq!(ok(&[("QPS", "-0")]), (5.0, 10));
        // Negative QPS: no client-side limit (the reference's test setups use -1).
        assert_eq!(ok(&[("QPS", "-1")]), (UNLIMITED_QPS, 10));
        assert_eq!(ok(&[("QPS", "-1"), ("BURST", "-1")]), (UNLIMITED_QPS, 10));
        // Go parses these, and client-go builds no limiter from them.
        for q in ["NaN", "Inf", "+inf", "-Infinity", "INF"] {
            assert_eq!(ok(&[("QPS", q)]).0, UNLIMITED_QPS, "{q}");
        }
        // Other spellings Go's ParseFloat accepts.
        assert_eq!(ok(&[("QPS", "0x1p3")]).0, 8.0);
        assert_eq!(ok(&[("QPS", "2.5e1")]).0, 25.0);
        assert_eq!(ok(&[("QPS", ".5")]).0, 0.5);
        assert_eq!(ok(&[("QPS", "+7")]).0, 7.0);
        assert_eq!(ok(&[("BURST", "+7")]).1, 7);
        // A burst beyond u32 is as good as unlimited.
        assert_eq!(ok(&[("BURST", "9999999999")]).1, u32::MAX);
    }

    #[test]
    fn values_go_refuses_warn_and_use_the_default() {
        for (var, v) in [
            ("QPS", "fast"),
            ("QPS", " 30"),
            ("QPS", "1e39"),
            ("QPS", "+nan"),
            ("QPS", "1_000"),
            ("QPS", "0x1"),
            ("BURST", "ten"),
            ("BURST", "1.5"),
            ("BURST", " 5"),
            ("BURST", "99999999999999999999"),
        ] {
            let (r, w) = limits(&[(var, v)]);
            assert_eq!((r.unwrap().qps, w.len()), (5.0, 1), "{var}={v}: {w:?}");
            assert!(
                w[0].starts_with(&format!(
                    "unable to parse environment variable {var} with value {v:?}; using default value"
                )),
                "{w:?}"
            );
        }
    }

    #[test]
    fn a_negative_burst_with_a_limit_is_refused_naming_the_value() {
        let (r, _) = limits(&[("QPS", "5"), ("BURST", "-3")]);
        let e = r.unwrap_err();
        assert!(
            e.0.starts_with("burst -3 (--burst / BURST) with QPS 5"),
            "{e}"
        );
    }

    #[test]
    fn flags_win_and_mean_the_same() {
        let mut w = Vec::new();
        let env = |k: &str| (k == "QPS").then(|| "30".to_owned());
        let l = resolve(Some(-1.0), Some(0), &env, &mut w).unwrap();
        assert_eq!((l.qps, l.burst), (UNLIMITED_QPS, 10));
        let l = resolve(Some(0.0), None, &env, &mut w).unwrap();
        assert_eq!(l.qps, 5.0);
        assert!(w.is_empty());
    }

    #[test]
    fn go_number_syntax() {
        assert_eq!(parse_go_int("-12"), Some(-12));
        assert_eq!(parse_go_int("+"), None);
        assert_eq!(parse_go_int("1_0"), None);
        assert_eq!(parse_go_float32("0x1.8p1"), Some(3.0));
        assert_eq!(parse_go_float32("-0X_1p-1"), Some(-0.5));
        assert_eq!(parse_go_float32("1e-50"), Some(0.0));
        assert_eq!(parse_go_float32("3.4028236e38"), None);
        assert_eq!(parse_go_float32("infinit"), None);
        assert_eq!(parse_go_float32(""), None);
    }
}
