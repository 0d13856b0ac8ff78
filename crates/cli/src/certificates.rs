//! `winkube webhook`'s certificate flags: where the serving certificate comes from (files, as
//! the reference does, or self-managed in a Secret) and the optional client CA.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use winkube_webhook::SelfCertConfig;

use crate::config::ConfigError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CertificateMode {
    /// PEM files (--tls-cert-file/--tls-key-file, or TLS_CRT/TLS_KEY as in the reference),
    /// reloaded when they change.
    Files,
    /// winkube makes a CA and the certificate, keeps them in a Secret, sets caBundle in its
    /// webhook configurations and renews and rotates both (one replica holds a Lease).
    SelfManaged,
}

impl CertificateMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateMode::Files => "files",
            CertificateMode::SelfManaged => "self-managed",
        }
    }
}

/// Certificate flags, flattened into `winkube webhook`'s.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct CertificateArgs {
    /// Where the serving certificate comes from.
    #[arg(long, value_enum, default_value = "files")]
    pub certificates: CertificateMode,
    /// self-managed: the Secret holding the CA and the serving certificate (the Lease that
    /// elects the replica maintaining it has the same name).
    #[arg(long, value_name = "NAME", default_value = "winkube-tls")]
    pub certificate_secret: String,
    /// self-managed: namespace of the Secret, the Lease and the Service [default: the
    /// webhook's own namespace].
    #[arg(long, value_name = "NAMESPACE")]
    pub certificate_namespace: Option<String>,
    /// self-managed: the Service the API server calls; the certificate is for its DNS names.
    #[arg(long, value_name = "NAME", default_value = "winkube")]
    pub service_name: String,
    /// self-managed: the Mutating/ValidatingWebhookConfigurations whose webhooks get the CA
    /// bundle (absent ones are skipped).
    #[arg(
        long,
        value_name = "NAME,...",
        value_delimiter = ',',
        default_value = "winkube,winkube-windows"
    )]
    pub webhook_configurations: Vec<String>,
    /// self-managed: lifetime of the serving certificate (s, m, h or d).
    #[arg(long, value_name = "DURATION", default_value = "90d", value_parser = parse_cert_duration)]
    pub certificate_validity: Duration,
    /// self-managed: renew the serving certificate this long before it ends.
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = parse_cert_duration)]
    pub certificate_renew_before: Duration,
    /// self-managed: lifetime of the CA (rotated, with both CAs trusted meanwhile, when it
    /// has less than validity + renew-before left).
    #[arg(long, value_name = "DURATION", default_value = "1825d", value_parser = parse_cert_duration)]
    pub ca_validity: Duration,
    /// PEM file of the CA(s) that sign the API server's client certificate: review paths
    /// then answer only clients presenting such a certificate (probes of /health and /info
    /// need none).
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
}

impl Default for CertificateArgs {
    fn default() -> Self {
        Self {
            certificates: CertificateMode::Files,
            certificate_secret: "winkube-tls".into(),
            certificate_namespace: None,
            service_name: "winkube".into(),
            webhook_configurations: vec!["winkube".into(), "winkube-windows".into()],
            certificate_validity: Duration::from_secs(90 * 86_400),
            certificate_renew_before: Duration::from_secs(30 * 86_400),
            ca_validity: Duration::from_secs(1825 * 86_400),
            client_ca: None,
        }
    }
}

/// `90d`, `36h`, `30m`, `45s`: whole numbers.
pub fn parse_cert_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (such as 90d, 36h or 30m)"))?;
    let unit_secs = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use d, h, m or s)")),
    };
    if n == 0 {
        return Err(format!("{s:?} must be more than 0"));
    }
    n.checked_mul(unit_secs)
        .filter(|v| *v <= 100 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is longer than 100 years"))
}

/// The serving certificate's source, resolved.
#[derive(Clone, Debug, PartialEq)]
pub enum Certificates {
    Files { cert: PathBuf, key: PathBuf },
    SelfManaged(SelfManaged),
}

impl Certificates {
    pub fn mode(&self) -> CertificateMode {
        match self {
            Certificates::Files { .. } => CertificateMode::Files,
            Certificates::SelfManaged(_) => CertificateMode::SelfManaged,
        }
    }
}

/// The self-managed settings; the namespace defaults to the client's once it exists.
#[derive(Clone, Debug, PartialEq)]
pub struct SelfManaged {
    pub namespace: Option<String>,
    pub secret: String,
    pub service: String,
    pub webhook_configurations: Vec<String>,
    pub validity: Duration,
    pub renew_before: Duration,
    pub ca_validity: Duration,
}

impl SelfManaged {
    /// The library's configuration for `namespace`; `identity` names this replica in the
    /// Lease.
    pub fn config(&self, namespace: &str, identity: String) -> SelfCertConfig {
        let mut c = SelfCertConfig::new(namespace, &self.secret, &self.service);
        c.webhook_configurations = self.webhook_configurations.clone();
        c.validity = self.validity;
        c.renew_before = self.renew_before;
        c.ca_validity = self.ca_validity;
        c.identity = identity;
        c
    }
}

/// Resolves the mode; `files` are the certificate and key paths from flags or environment
/// (required only in files mode, so the error names them then).
pub fn resolve(
    args: &CertificateArgs,
    files: impl FnOnce() -> Result<(PathBuf, PathBuf), ConfigError>,
    state: bool,
) -> Result<Certificates, ConfigError> {
    match args.certificates {
        CertificateMode::Files => {
            let (cert, key) = files()?;
            Ok(Certificates::Files { cert, key })
        }
        CertificateMode::SelfManaged => {
            if state {
                return Err(ConfigError(
                    "--certificates self-managed needs a cluster; with --state use --certificates files".into(),
                ));
            }
            if args.webhook_configurations.iter().any(String::is_empty) {
                return Err(ConfigError(
                    "--webhook-configurations: empty name in the list".into(),
                ));
            }
            let s = SelfManaged {
                namespace: args.certificate_namespace.clone(),
                secret: args.certificate_secret.clone(),
                service: args.service_name.clone(),
                webhook_configurations: args.webhook_configurations.clone(),
                validity: args.certificate_validity,
                renew_before: args.certificate_renew_before,
                ca_validity: args.ca_validity,
            };
            // Checked now, before anything starts (the namespace, if not given, is the pod's).
            let ns = s.namespace.clone().unwrap_or_else(|| "default".into());
            s.config(&ns, String::new())
                .validate()
                .map_err(|e| ConfigError(e.to_string()))?;
            Ok(Certificates::SelfManaged(s))
        }
    }
}

/// Reads `--client-ca` the way the server will, so an unreadable or invalid file stops
/// start-up with its name.
pub fn check_client_ca(path: &std::path::Path) -> Result<(), ConfigError> {
    winkube_webhook::certs::check_client_ca(path)
        .map_err(|e| ConfigError(format!("--client-ca: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_cert_duration("90d").unwrap().as_secs(), 90 * 86_400);
        assert_eq!(parse_cert_duration("36h").unwrap().as_secs(), 36 * 3_600);
        assert_eq!(parse_cert_duration("45s").unwrap().as_secs(), 45);
        for bad in ["", "d", "0d", "1w", "1.5d", "-1d", "999999999d"] {
            assert!(parse_cert_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn self_managed_settings_are_checked_up_front() {
        let files = || Err(ConfigError("no files".into()));
        let mut args = CertificateArgs {
            certificates: CertificateMode::SelfManaged,
            ..CertificateArgs::default()
        };
        let c = resolve(&args, files, false).unwrap();
        assert!(matches!(c, Certificates::SelfManaged(_)));
        args.certificate_renew_before = args.certificate_validity;
        let e = resolve(&args, files, false).unwrap_err();
        assert!(e.0.contains("renew-before"), "{e}");
        let args = CertificateArgs {
            certificates: CertificateMode::SelfManaged,
            certificate_secret: "Not_A_Label".into(),
            ..CertificateArgs::default()
        };
        assert!(
            resolve(&args, files, false)
                .unwrap_err()
                .0
                .contains("Not_A_Label")
        );
        let args = CertificateArgs {
            certificates: CertificateMode::SelfManaged,
            ..CertificateArgs::default()
        };
        assert!(
            resolve(&args, files, true)
                .unwrap_err()
                .0
                .contains("--state")
        );
        // Files mode asks for the files.
        let e = resolve(&CertificateArgs::default(), files, false).unwrap_err();
        assert_eq!(e.0, "no files");
    }

    #[test]
    fn client_ca_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = check_client_ca(&missing).unwrap_err();
        assert!(e.0.contains(&*missing.to_string_lossy()), "{e}");
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let e = check_client_ca(&bad).unwrap_err();
        assert!(
            e.0.contains(&*bad.to_string_lossy()) && e.0.contains("no CERTIFICATE"),
            "{e}"
        );
    }
}
