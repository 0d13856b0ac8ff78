//! The `winkube` command: offline admission, the admission webhook server, and manifest
//! generators.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod admit;
mod config;
mod documents;
mod lint;
mod logging;
mod manifests;
mod registry;
mod runtimeclass;
mod server;
mod windows;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use winkube_state::documents::Source;

use crate::documents::{read_source, source_from_arg, to_yaml_stream};
use winkube_state::FileView;

const ABOUT: &str = "winkube: Windows containers as first-class citizens of Kubernetes";

const LONG_ABOUT: &str = "\
winkube: Windows containers as first-class citizens of Kubernetes.

One binary:
  admit         run the admission webhook's decision (gMSA, then the Windows workload
                policies) on manifest files, offline; print the admitted objects
  lint          the same checks, reported per object (nothing admitted is printed)
  webhook       serve the admission webhook (drop-in for kubernetes-sigs/windows-gmsa)
  manifests     print the GMSACredentialSpec CRD and the install manifests
  runtimeclass  print RuntimeClasses for process and Hyper-V isolation per Windows build

The webhook in the cluster and `winkube admit` on a laptop run the same policy code,
so CI answers what the cluster will answer.";

const EXAMPLES: &str = "\
Examples:
  # Admit the talk's webapp pod against example cluster state
  winkube admit --state examples/state examples/webapp-pod.yaml

  # Check Windows workloads in CI, without network
  winkube lint --state examples/state --policy examples/policy.yaml --offline k8s/*.yaml

  # RuntimeClasses for Windows Server 2019 and 2022
  winkube runtimeclass --build 2019 --build 2022 | kubectl apply -f -

  # Serve the webhook from a Deployment (reference environment variables)
  TLS_CRT=/tls/tls.crt TLS_KEY=/tls/tls.key HTTPS_PORT=8443 winkube webhook

  # Install into a cluster
  winkube manifests crd | kubectl apply -f -
  winkube manifests install --cert-manager | kubectl apply -f -

Exit codes: 0 success, 1 a pod was denied (admit, lint) or the server failed, 2 bad usage or input.";

const ADMIT_ABOUT: &str = "Run the admission webhook's decision (gMSA, Windows policies) on manifest files, without a cluster";

const ADMIT_LONG: &str = "\
Run the admission webhook's decision on manifest files, without a cluster.

Each FILE (or `-` for standard input) holds YAML documents or JSON objects: Pods, or
Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs, ReplicationControllers
and PodTemplates, whose pod template is admitted as the pod their controller would create.
The pod is reviewed as the API server would send it: namespace from the manifest (else
--namespace, else `default`), service account `default` when none is set. The mutating
phase (credspec contents inlined) runs first, then the validating phase (the service
account must be allowed to `use` the credspec; contents must match).

Then the Windows workload policies run on the result (mutate: the patch is applied; then
validate), configured by --policy FILE (see docs/windows-policies.md; by default
scheduling and OS-build compatibility enforce, memory and image tags warn). They are
skipped when every policy is off. Image platforms and Windows builds come from the
registry (--registry-timeout, --insecure-registry, --registry-ca; pull secrets from the
state directory); an image the registry cannot answer for falls back, with a warning, to
the pinned metadata in the state directory's images.yaml. --offline uses only that file.

Cluster state comes from --state DIR: every *.yaml, *.yml and *.json file under DIR, from
which GMSACredentialSpecs, ServiceAccounts, Roles, ClusterRoles, RoleBindings,
ClusterRoleBindings, Nodes (node.kubernetes.io/windows-build), RuntimeClasses and Secrets
of type kubernetes.io/dockerconfigjson are read (other kinds are ignored); a file named
images.yaml holds pinned image metadata instead. RBAC is evaluated locally for the
identity the webhook's SubjectAccessReview uses. Without --state the cluster is empty.

Output: admitted objects, mutated, as YAML (or JSON) on stdout; warnings and denials on
stderr, e.g. `denied (403): service account \"web\" is not authorized to `use` GMSA cred
spec \"gmsa-webapp-1\"`. Every input is processed and reported.

Exit codes: 0 all admitted, 1 at least one denied, 2 bad usage or input (nothing printed).";

const ADMIT_EXAMPLES: &str = "\
Examples:
  winkube admit --state examples/state examples/webapp-pod.yaml
  kubectl get deploy web -o yaml | winkube admit --state cluster-state/ -
  winkube admit --state cluster-state/ --namespace prod -o json k8s/*.yaml
  winkube admit --state examples/state --policy examples/policy.yaml --offline examples/windows/web.yaml";

const LINT_ABOUT: &str = "Report what admission (gMSA, Windows policies) would do to manifest files, without printing them";

const LINT_LONG: &str = "\
Report what admission would do to manifest files, without a cluster and without printing
any manifest: the same evaluation as `winkube admit` (gMSA admission, then the Windows
workload policies from --policy FILE, with image metadata from the registry or the state
directory's images.yaml), printed per object: the target OS and the signals it was decided
from, the changes the mutating phase would make, warnings, and the denial if any.

Exit codes: 0 nothing would be denied, 1 at least one object would be denied, 2 bad usage
or input.";

const LINT_EXAMPLES: &str = "\
Examples:
  winkube lint --state examples/state examples/windows/*.yaml
  winkube lint --state cluster-state/ --policy policy.yaml --offline k8s/*.yaml";

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
resolved is allowed with a warning, or denied with `images: {onUnresolved: deny}`.";

const WEBHOOK_EXAMPLES: &str = "\
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
    /// Serve the admission webhook: gMSA (drop-in for kubernetes-sigs/windows-gmsa) and the Windows workload policies
    #[command(long_about = WEBHOOK_LONG, after_help = WEBHOOK_EXAMPLES, disable_version_flag = true)]
    Webhook(config::WebhookArgs),
    /// Print manifests: the GMSACredentialSpec CRD, the install bundle
    #[command(subcommand, after_help = MANIFESTS_EXAMPLES)]
    Manifests(manifests::ManifestsCommand),
    #[command(about = LINT_ABOUT, long_about = LINT_LONG, after_help = LINT_EXAMPLES)]
    Lint(LintArgs),
    #[command(about = runtimeclass::ABOUT, long_about = runtimeclass::LONG, after_help = runtimeclass::EXAMPLES)]
    Runtimeclass(runtimeclass::RuntimeClassArgs),
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
    #[command(flatten)]
    policy: windows::PolicyArgs,
    /// Manifest files; `-` reads standard input
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct LintArgs {
    /// Directory of manifests describing the cluster (credspecs, RBAC, nodes,
    /// RuntimeClasses, pull secrets, images.yaml)
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Namespace of objects that do not set metadata.namespace
    #[arg(long, short = 'n', value_name = "NS", default_value = "default")]
    namespace: String,
    #[command(flatten)]
    policy: windows::PolicyArgs,
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
        Command::Lint(args) => {
            logging::init_cli();
            run_lint(args)
        }
        Command::Runtimeclass(args) => {
            logging::init_cli();
            runtimeclass::run(&args)
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

/// Everything `admit` and `lint` read before evaluating anything.
struct Loaded {
    view: FileView,
    has_state: bool,
    inputs: Vec<admit::Input>,
    policy: winkube_policy::windows::WindowsPolicyConfig,
    /// `None` with `--offline`.
    resolver: Option<winkube_registry::Resolver>,
}

/// Reads the state, the policy and every input; all errors are reported together (exit 2)
/// and nothing is evaluated when there is one.
fn load(
    state: Option<&PathBuf>,
    policy_args: &windows::PolicyArgs,
    namespace: &str,
    files: &[PathBuf],
) -> Result<Loaded, Vec<String>> {
    let mut errors = Vec::new();
    let mut view = match state {
        Some(dir) => match FileView::load_dir(dir) {
            Ok(v) => v,
            Err(e) => {
                errors.push(e.to_string());
                FileView::empty()
            }
        },
        None => FileView::empty(),
    };
    let policy = match windows::load_policy(policy_args.policy.as_ref()) {
        Ok(p) => p,
        Err(e) => {
            errors.push(e.0);
            Default::default()
        }
    };
    view.set_hyperv_handlers(policy.os_build.hyperv_handlers.clone());
    let resolver = match windows::resolver(policy_args) {
        Ok(i) => Some(i),
        Err(e) => {
            errors.push(e.0);
            None
        }
    };
    let mut stdin_used = false;
    let mut inputs = Vec::new();
    for file in files {
        let source = source_from_arg(file);
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
                    match admit::prepare(doc, namespace) {
                        Ok(input) => inputs.push(input),
                        Err(e) => errors.push(e.0),
                    }
                }
            }
            Err(e) => errors.push(e.0),
        }
    }
    match resolver {
        Some(resolver) if errors.is_empty() => Ok(Loaded {
            view,
            has_state: state.is_some(),
            inputs,
            policy,
            resolver,
        }),
        _ => Err(errors),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    // I/O and timers: the registry client needs both.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        })
}

/// The gMSA admission, then (when it admitted the pod and any Windows policy is on) the
/// Windows policies on its result.
struct Evaluated {
    gmsa: admit::Verdict,
    windows: Option<windows::WindowsOutcome>,
}

impl Evaluated {
    fn denial(&self) -> Option<(u16, &str)> {
        if !self.gmsa.admitted.allowed {
            return Some((self.gmsa.admitted.code, &self.gmsa.admitted.message));
        }
        self.windows.as_ref().and_then(|w| w.denial())
    }

    /// Every warning, in the order the phases produced them.
    fn warnings(&self) -> impl Iterator<Item = &String> {
        self.gmsa
            .admitted
            .warnings
            .iter()
            .chain(&self.gmsa.extra_warnings)
            .chain(self.windows.iter().flat_map(|w| &w.warnings))
    }

    /// The admitted pod (meaningful only when not denied).
    fn pod(&self) -> &serde_json::Value {
        match &self.windows {
            Some(w) => &w.pod,
            None => &self.gmsa.admitted.pod,
        }
    }
}

async fn evaluate(loaded: &Loaded, target: &admit::Target, hostname: Option<String>) -> Evaluated {
    let state = loaded.has_state.then_some(&loaded.view);
    let gmsa = admit::admit_target(target, &loaded.view, state, hostname).await;
    let windows = if gmsa.admitted.allowed && !windows::all_off(&loaded.policy) {
        Some(
            windows::admit(
                &gmsa.admitted.pod,
                &target.namespace,
                &loaded.policy,
                &loaded.view,
                loaded.resolver.as_ref(),
            )
            .await,
        )
    } else {
        None
    };
    Evaluated { gmsa, windows }
}

fn run_admit(args: AdmitArgs) -> ExitCode {
    // Everything is read and checked before anything is admitted: bad input prints
    // nothing on stdout.
    let loaded = match load(
        args.state.as_ref(),
        &args.policy,
        &args.namespace,
        &args.files,
    ) {
        Ok(l) => l,
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            return ExitCode::from(2);
        }
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut admitted_docs = Vec::new();
    let mut denied = 0usize;
    for input in &loaded.inputs {
        let mut value = input.doc.value.clone();
        let mut all_admitted = true;
        for (item, target) in &input.targets {
            let hostname = args.random_hostname.then(admit::random_hostname);
            let result = runtime.block_on(evaluate(&loaded, target, hostname));
            let who = format!("{}: {}", target.location, target.label);
            for w in result.warnings() {
                eprintln!("{who}: warning: {w}");
            }
            match result.denial() {
                None => admit::write_back(&mut value, *item, target, result.pod()),
                Some((code, message)) => {
                    all_admitted = false;
                    denied += 1;
                    eprintln!("{who}: denied ({code}): {message}");
                }
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
    if let Err(code) = write_stdout(&out) {
        return code;
    }
    if denied > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn write_stdout(text: &str) -> Result<(), ExitCode> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| {
            eprintln!("error: cannot write the output: {e}");
            ExitCode::FAILURE
        })
}

fn run_lint(args: LintArgs) -> ExitCode {
    let loaded = match load(
        args.state.as_ref(),
        &args.policy,
        &args.namespace,
        &args.files,
    ) {
        Ok(l) => l,
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            return ExitCode::from(2);
        }
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut report = String::new();
    let (mut objects, mut denied) = (0usize, 0usize);
    for input in &loaded.inputs {
        for (_, target) in &input.targets {
            objects += 1;
            let result = runtime.block_on(evaluate(&loaded, target, None));
            if result.denial().is_some() {
                denied += 1;
            }
            report.push_str(&lint::report(target, &result));
        }
    }
    report.push_str(&format!(
        "{objects} object{} checked, {denied} would be denied\n",
        if objects == 1 { "" } else { "s" }
    ));
    if let Err(code) = write_stdout(&report) {
        return code;
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
