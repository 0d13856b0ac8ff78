//! The `winkube` command: offline admission, the admission webhook server, and manifest
//! generators.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod admit;
mod config;
mod documents;
mod logging;
mod manifests;
mod server;
mod state;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::documents::{Source, read_source, to_yaml_stream};
use crate::state::FileView;

const ABOUT: &str = "winkube: Windows containers as first-class citizens of Kubernetes";

const LONG_ABOUT: &str = "\
winkube: Windows containers as first-class citizens of Kubernetes.

One binary, three jobs:
  admit      run the gMSA admission webhook's decision on manifest files, offline
  webhook    serve the admission webhook (drop-in for kubernetes-sigs/windows-gmsa)
  manifests  print the GMSACredentialSpec CRD and the install manifests

The webhook in the cluster and `winkube admit` on a laptop run the same policy code,
so CI answers what the cluster will answer.";

const EXAMPLES: &str = "\
Examples:
  # Admit the talk's webapp pod against example cluster state
  winkube admit --state examples/state examples/webapp-pod.yaml

  # Serve the webhook from a Deployment (reference environment variables)
  TLS_CRT=/tls/tls.crt TLS_KEY=/tls/tls.key HTTPS_PORT=8443 winkube webhook

  # Install into a cluster
  winkube manifests crd | kubectl apply -f -
  winkube manifests install --cert-manager | kubectl apply -f -

Exit codes: 0 success, 1 a pod was denied (admit) or the server failed, 2 bad usage or input.";

const ADMIT_ABOUT: &str =
    "Run the gMSA admission webhook's decision on manifest files, without a cluster";

const ADMIT_LONG: &str = "\
Run the gMSA admission webhook's decision on manifest files, without a cluster.

Each FILE (or `-` for standard input) holds YAML documents or JSON objects: Pods, or
Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs, ReplicationControllers
and PodTemplates, whose pod template is admitted as the pod their controller would create.
The pod is reviewed as the API server would send it: namespace from the manifest (else
--namespace, else `default`), service account `default` when none is set. The mutating
phase (credspec contents inlined) runs first, then the validating phase (the service
account must be allowed to `use` the credspec; contents must match).

Cluster state comes from --state DIR: every *.yaml, *.yml and *.json file under DIR, from
which GMSACredentialSpecs, ServiceAccounts, Roles, ClusterRoles, RoleBindings and
ClusterRoleBindings are read (other kinds are ignored). RBAC is evaluated locally for the
identity the webhook's SubjectAccessReview uses. Without --state the cluster is empty.

Output: admitted objects, mutated, as YAML (or JSON) on stdout; warnings and denials on
stderr, e.g. `denied (403): service account \"web\" is not authorized to `use` GMSA cred
spec \"gmsa-webapp-1\"`. Every input is processed and reported.

Exit codes: 0 all admitted, 1 at least one denied, 2 bad usage or input (nothing printed).";

const ADMIT_EXAMPLES: &str = "\
Examples:
  winkube admit --state examples/state examples/webapp-pod.yaml
  kubectl get deploy web -o yaml | winkube admit --state cluster-state/ -
  winkube admit --state cluster-state/ --namespace prod -o json k8s/*.yaml";

const WEBHOOK_LONG: &str = "\
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
SIGTERM or SIGINT drains connections and exits.";

const WEBHOOK_EXAMPLES: &str = "\
Examples:
  # As in the reference's Deployment
  TLS_CRT=/tls/tls.crt TLS_KEY=/tls/tls.key winkube webhook

  # Non-root port, cached RBAC, JSON logs
  winkube webhook --tls-cert-file tls.crt --tls-key-file tls.key --port 8443 \\
      --authorization rbac-cache --log-format json

  # No cluster: serve from files (demos, tests)
  winkube webhook --state examples/state --tls-cert-file tls.crt --tls-key-file tls.key --port 8443";

const MANIFESTS_EXAMPLES: &str = "\
Examples:
  winkube manifests crd > crd.yaml
  winkube manifests install --namespace winkube --failure-policy Ignore | kubectl apply -f -
  winkube manifests install --cert-manager --authorization rbac-cache";

#[derive(Parser)]
#[command(name = "winkube", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(about = ADMIT_ABOUT, long_about = ADMIT_LONG, after_help = ADMIT_EXAMPLES)]
    Admit(AdmitArgs),
    /// Serve the gMSA admission webhook (drop-in for kubernetes-sigs/windows-gmsa)
    #[command(long_about = WEBHOOK_LONG, after_help = WEBHOOK_EXAMPLES, disable_version_flag = true)]
    Webhook(config::WebhookArgs),
    /// Print manifests: the GMSACredentialSpec CRD, the install bundle
    #[command(subcommand, after_help = MANIFESTS_EXAMPLES)]
    Manifests(manifests::ManifestsCommand),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Yaml,
    Json,
}

#[derive(Args)]
struct AdmitArgs {
    /// Directory of manifests describing the cluster (credspecs, RBAC, service accounts)
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Namespace of objects that do not set metadata.namespace
    #[arg(long, short = 'n', value_name = "NS", default_value = "default")]
    namespace: String,
    /// Give gMSA pods without a hostname a random 15-character one, as RANDOM_HOSTNAME=true
    #[arg(long)]
    random_hostname: bool,
    /// Output format of the admitted objects
    #[arg(long, short = 'o', value_enum, default_value = "yaml")]
    output: OutputFormat,
    /// Manifest files; `-` reads standard input
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(go_style_flags(std::env::args_os().collect()));
    match cli.command {
        Command::Admit(args) => {
            logging::init_cli();
            run_admit(args)
        }
        Command::Webhook(args) => server::run(args),
        Command::Manifests(cmd) => {
            logging::init_cli();
            manifests::run(cmd)
        }
    }
}

/// The reference is a Go program, and its Deployments pass `-cert-reload=true` or
/// `-version` with one dash, which Go's flag package accepts. Rewrite those (only after
/// `webhook`) so existing manifests keep working.
fn go_style_flags(args: Vec<OsString>) -> Vec<OsString> {
    let mut seen_webhook = false;
    args.into_iter()
        .map(|a| {
            let Some(s) = a.to_str() else { return a };
            if seen_webhook
                && !s.starts_with("--")
                && ["-cert-reload", "-version"]
                    .iter()
                    .any(|f| s == *f || s.starts_with(&format!("{f}=")))
            {
                return OsString::from(format!("-{s}"));
            }
            if s == "webhook" {
                seen_webhook = true;
            }
            a
        })
        .collect()
}

fn run_admit(args: AdmitArgs) -> ExitCode {
    // Everything is read and checked before anything is admitted: bad input prints
    // nothing on stdout.
    let view = match &args.state {
        Some(dir) => match FileView::load_dir(dir) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => FileView::empty(),
    };
    let mut stdin_used = false;
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for file in &args.files {
        let source = Source::from_arg(file);
        if source == Source::Stdin {
            if stdin_used {
                errors.push("`-` (standard input) given more than once".to_owned());
                continue;
            }
            stdin_used = true;
        }
        match read_source(&source) {
            Ok(docs) => {
                if docs.is_empty() {
                    errors.push(format!("{source}: no Kubernetes objects found"));
                }
                for doc in docs {
                    match admit::prepare(doc, &args.namespace) {
                        Ok(input) => inputs.push(input),
                        Err(e) => errors.push(e.0),
                    }
                }
            }
            Err(e) => errors.push(e.0),
        }
    }
    if !errors.is_empty() {
        for e in errors {
            eprintln!("error: {e}");
        }
        return ExitCode::from(2);
    }

    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let state = args.state.as_ref().map(|_| &view);
    let mut admitted_docs = Vec::new();
    let mut denied = 0usize;
    for input in inputs {
        let mut value = input.doc.value.clone();
        let mut all_admitted = true;
        for (item, target) in &input.targets {
            let hostname = args.random_hostname.then(admit::random_hostname);
            let verdict = runtime.block_on(admit::admit_target(target, &view, state, hostname));
            let who = format!("{}: {}", target.location, target.label);
            for w in verdict
                .admitted
                .warnings
                .iter()
                .chain(&verdict.extra_warnings)
            {
                eprintln!("{who}: warning: {w}");
            }
            if verdict.admitted.allowed {
                admit::write_back(&mut value, *item, target, &verdict.admitted.pod);
            } else {
                all_admitted = false;
                denied += 1;
                eprintln!(
                    "{who}: denied ({}): {}",
                    verdict.admitted.code, verdict.admitted.message
                );
            }
        }
        if all_admitted {
            admitted_docs.push(value);
        }
    }

    let out = match args.output {
        OutputFormat::Yaml => to_yaml_stream(&admitted_docs),
        OutputFormat::Json => admitted_docs
            .iter()
            .map(|d| serde_json::to_string_pretty(d).map(|s| s + "\n"))
            .collect::<Result<String, _>>()
            .map_err(anyhow::Error::from),
    };
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: cannot serialise the output: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        eprintln!("error: cannot write the output: {e}");
        return ExitCode::FAILURE;
    }
    if denied > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn go_single_dash_flags_after_webhook() {
        let args = |v: &[&str]| -> Vec<String> {
            go_style_flags(v.iter().map(OsString::from).collect())
                .into_iter()
                .map(|s| s.into_string().unwrap())
                .collect()
        };
        assert_eq!(
            args(&["winkube", "webhook", "-cert-reload=true", "-version"]),
            ["winkube", "webhook", "--cert-reload=true", "--version"]
        );
        assert_eq!(args(&["winkube", "-version"]), ["winkube", "-version"]);
        assert_eq!(
            args(&["winkube", "webhook", "--cert-reload"]),
            ["winkube", "webhook", "--cert-reload"]
        );
    }

    #[test]
    fn webhook_flags_in_go_syntax() {
        for (argv, want) in [
            (vec!["winkube", "webhook", "--cert-reload"], Some(true)),
            (
                vec!["winkube", "webhook", "--cert-reload=false"],
                Some(false),
            ),
            (vec!["winkube", "webhook", "--cert-reload=True"], Some(true)),
            (vec!["winkube", "webhook"], None),
        ] {
            let cli = Cli::try_parse_from(&argv).unwrap();
            match cli.command {
                Command::Webhook(a) => assert_eq!(a.cert_reload, want, "{argv:?}"),
                _ => panic!("not webhook"),
            }
        }
        assert!(Cli::try_parse_from(["winkube", "webhook", "--cert-reload=yes"]).is_err());
        // `--cert-reload false` is not Go syntax either: the value must be attached.
        assert!(Cli::try_parse_from(["winkube", "webhook", "--cert-reload", "false"]).is_err());
    }
}
