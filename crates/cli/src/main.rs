//! The `winkube` command: offline admission, the admission webhook server, and manifest
//! generators.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod admit;
mod apiclient;
mod audit;
mod certificates;
mod config;
mod credspec;
mod diff;
mod doctor;
mod documents;
mod evaluate;
mod findings;
mod kube_proxy;
mod limits;
mod lint;
mod logging;
mod manifests;
mod ops;
mod registry;
mod runtimeclass;
mod server;
mod version;
mod windows;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

const ABOUT: &str = "winkube: Windows containers as first-class citizens of Kubernetes";

const LONG_ABOUT: &str = "\
winkube: Windows containers as first-class citizens of Kubernetes.

One binary:
  admit         run the admission webhook's decision (gMSA, then the Windows workload
                policies) on manifest files, offline; print the admitted objects
  lint          the same checks, reported per object (nothing admitted is printed)
  webhook       serve the admission webhook (drop-in for kubernetes-sigs/windows-gmsa)
  manifests     print the whole installation (CRD first, for `kubectl apply -f -`), or
                the GMSACredentialSpec CRD or the install bundle alone
  runtimeclass  print RuntimeClasses for process and Hyper-V isolation per Windows build
  credspec      print a GMSACredentialSpec and the RBAC to use it, from flags or from
                New-CredentialSpec's JSON
  doctor        check a live cluster's Windows nodes and winkube's installation, and say
                what to fix
  audit         run the policies over a live cluster's pods and workloads: what would be
                denied or changed today, per namespace and rule
  version       print the version and the git commit it was built from
  completion    print shell completions (bash, zsh, fish, powershell, elvish)

The webhook in the cluster and `winkube admit` on a laptop run the same policy code,
so CI answers what the cluster will answer.";

const EXAMPLES: &str = "\
Examples:
  # Admit the talk's webapp pod against example cluster state
  winkube admit --state examples/state examples/webapp-pod.yaml

  # Check Windows workloads in CI, without network: a directory, or a rendered chart
  winkube lint --state examples/state --policy examples/policy.yaml --offline -R -f k8s/
  helm template my-release ./chart | winkube lint --state examples/state -

  # Shell completions
  winkube completion bash > /etc/bash_completion.d/winkube

  # RuntimeClasses for Windows Server 2019 and 2022
  winkube runtimeclass --build 2019 --build 2022 | kubectl apply -f -

  # A gMSA credspec and the RBAC for one service account to use it
  winkube credspec new --name gmsa-webapp-1 --domain contoso.com --netbios CONTOSO \\
      --account WebApp1 --sid S-1-5-21-2126449477-2524075714-3094792973 \\
      --guid 244818ae-87ac-4fcd-92ec-e79e5252348a --service-account default/default \\
      | kubectl apply -f -

  # Serve the webhook from a Deployment (reference environment variables)
  TLS_CRT=/tls/tls.crt TLS_KEY=/tls/tls.key HTTPS_PORT=8443 winkube webhook

  # Install into a cluster (the CRD, then the webhook)
  winkube manifests --cert-manager | kubectl apply -f -

  # Check the Windows nodes and the installation in the current kubeconfig's cluster
  winkube doctor

  # What admission would deny or change in that cluster today
  winkube audit --policy examples/policy.yaml

Exit codes: 0 success, 1 a pod was denied (admit, lint, audit), a check failed (doctor) or
the server failed at run time, 2 bad usage, configuration or input (audit: or a failed
list).";

#[derive(Parser)]
#[command(name = "winkube", version = version::LONG, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(about = admit::ABOUT, long_about = admit::LONG, after_help = admit::EXAMPLES)]
    Admit(admit::AdmitArgs),
    /// Serve the admission webhook: gMSA (drop-in for kubernetes-sigs/windows-gmsa) and the Windows workload policies
    #[command(long_about = server::LONG, after_help = server::EXAMPLES, disable_version_flag = true)]
    Webhook(Box<config::WebhookArgs>),
    /// Print manifests: the whole installation, the GMSACredentialSpec CRD, the install bundle
    #[command(after_help = manifests::EXAMPLES)]
    Manifests(manifests::ManifestsArgs),
    #[command(about = lint::ABOUT, long_about = lint::LONG, after_help = lint::EXAMPLES)]
    Lint(lint::LintArgs),
    #[command(about = runtimeclass::ABOUT, long_about = runtimeclass::LONG, after_help = runtimeclass::EXAMPLES)]
    Runtimeclass(runtimeclass::RuntimeClassArgs),
    #[command(about = credspec::ABOUT, long_about = credspec::LONG, after_help = credspec::EXAMPLES)]
    Credspec(credspec::CredspecArgs),
    #[command(about = doctor::ABOUT, long_about = doctor::LONG, after_help = doctor::EXAMPLES)]
    Doctor(doctor::DoctorArgs),
    #[command(about = audit::ABOUT, long_about = audit::LONG, after_help = audit::EXAMPLES)]
    Audit(Box<audit::AuditArgs>),
    /// Print the version and the git commit it was built from (as --version)
    Version,
    /// Print shell completions for winkube
    #[command(after_help = COMPLETION_EXAMPLES)]
    Completion {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

const COMPLETION_EXAMPLES: &str = "\
Examples:
  winkube completion bash > /etc/bash_completion.d/winkube
  winkube completion zsh > \"${fpath[1]}/_winkube\"
  winkube completion fish > ~/.config/fish/completions/winkube.fish
  winkube completion powershell >> $PROFILE";

fn main() -> ExitCode {
    let cli = Cli::parse_from(go_style_flags(std::env::args_os().collect()));
    match cli.command {
        Command::Admit(args) => {
            logging::init_cli();
            admit::run(args)
        }
        Command::Webhook(args) => server::run(*args),
        Command::Manifests(cmd) => {
            logging::init_cli();
            manifests::run(cmd)
        }
        Command::Lint(args) => {
            logging::init_cli();
            lint::run(args)
        }
        Command::Runtimeclass(args) => {
            logging::init_cli();
            runtimeclass::run(&args)
        }
        Command::Credspec(args) => {
            logging::init_cli();
            credspec::run(args)
        }
        Command::Doctor(args) => {
            logging::init_cli_api();
            doctor::run(args)
        }
        Command::Audit(args) => {
            logging::init_cli_api();
            audit::run(*args)
        }
        Command::Version => match evaluate::write_stdout(&format!("{}\n", version::line())) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Command::Completion { shell } => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "winkube", &mut out);
            match evaluate::write_stdout(&String::from_utf8_lossy(&out)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(code) => code,
            }
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
        // client-go's "no limit" can be given as a flag too, detached or not.
        for argv in [
            ["winkube", "webhook", "--qps", "-1"],
            ["winkube", "webhook", "--qps=-1", "--burst=0"],
        ] {
            match Cli::try_parse_from(argv).unwrap().command {
                Command::Webhook(a) => assert_eq!(a.qps, Some(-1.0), "{argv:?}"),
                _ => panic!("not webhook"),
            }
        }
        // `--cert-reload false` is not Go syntax either: the value must be attached.
        assert!(Cli::try_parse_from(["winkube", "webhook", "--cert-reload", "false"]).is_err());
    }
}
