//! `winkube manifests`: the CRD and the install bundle, generated so that `deploy/` can be
//! checked against the code (`crates/cli/tests/cli.rs`, `deploy_*` tests).

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use winkube_policy::scope::{GMSA_MATCH_CONDITION_NAME, gmsa_match_expression};

use winkube_webhook::paths::{
    HEALTH_PATH, INFO_PATH, MUTATE_PATH, MUTATE_WINDOWS_PATH, VALIDATE_PATH, VALIDATE_WINDOWS_PATH,
};

use winkube_webhook::ops::METRICS_PATH as OPS_METRICS_PATH;

use crate::config::Authorization;
use crate::documents::{ObjectsFormat, generated_header, render, to_yaml_stream};
use crate::ops::METRICS_PORT;

/// The webhook entries' name: the reference's, so API-server error messages
/// (`admission webhook "admission-webhook.windows-gmsa.sigs.k8s.io" denied the request: ...`)
/// and anything matching on them keep working.
pub const WEBHOOK_NAME: &str = "admission-webhook.windows-gmsa.sigs.k8s.io";
/// Name of every namespaced object and of the webhook configurations.
pub const NAME: &str = "winkube";
pub const TLS_SECRET: &str = "winkube-tls";
pub const CONTAINER_PORT: u16 = 8443;
/// The gMSA webhooks' `timeoutSeconds`: answers take well under a millisecond, and a stuck
/// webhook must not hold pod creation for long.
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 5;
pub const DEFAULT_IMAGE: &str = concat!("ghcr.io/winkube/winkube:v", env!("CARGO_PKG_VERSION"));
/// Namespaces labelled `windows.k8s.io/disabled=true` are skipped (the reference chart's label).
pub const OPT_OUT_LABEL: &str = "windows.k8s.io/disabled";
/// The Windows workload policies' webhooks: their own configurations (installable or
/// removable without touching the gMSA webhook), paths and name.
pub const WINDOWS_NAME: &str = "winkube-windows";
pub const WINDOWS_WEBHOOK_NAME: &str = "windows-policies.winkube.io";
/// The ConfigMap holding the Windows policy file, mounted as a directory (no subPath, so
/// edits reach the volume; the webhook reads the file at start-up).
pub const WINDOWS_POLICY_CONFIGMAP: &str = "winkube-windows-policy";
pub const WINDOWS_POLICY_DIR: &str = "/etc/winkube";
pub const WINDOWS_POLICY_FILE: &str = "policy.yaml";
/// The policy file installed with `--windows-policies`: the defaults, spelled out
/// (`NAMESPACE` is replaced by the install namespace, which is exempt like kube-system).
const DEFAULT_POLICY_YAML: &str = "\
# winkube Windows workload policies (docs/windows-policies.md). Restart the webhook
# (kubectl -n <namespace> rollout restart deployment winkube) after editing.
exemptNamespaces: [kube-system, NAMESPACE]
images:
  onUnresolved: allow        # allow = fail open with a warning; deny = fail closed
  detectOs: true
scheduling:
  mode: enforce
  taint: os=windows:NoSchedule   # your Windows nodes' taint; \"\" if they are not tainted
  setOsName: false
linuxPinning:
  mode: off
memory:
  mode: warn                 # deny (= enforce) | default | warn | off
  floor: 300Mi
imageTags:
  mode: warn
osBuild:
  mode: enforce
  architecture: amd64
  hypervHandlers: []
gmsaDomainReadiness:
  mode: off
  timeoutSeconds: 120
  intervalSeconds: 5
apiServer:
  mode: enforce              # what the API server would refuse in Windows fields
  kubernetesVersion: \"\"      # e.g. \"1.29\": leave out rules newer clusters only apply
hostProcess:
  mode: enforce              # HostProcess pods only in these namespaces
  allowedNamespaces: [kube-system]
containerAdministrator:
  mode: warn                 # runAsUserName: ContainerAdministrator
";

pub const EXAMPLES: &str = "\
Without a subcommand, prints the whole installation (the CRD, then the install bundle for
the flags given), ready for `kubectl apply -f -`.

Examples:
  winkube manifests | kubectl apply -f -
  winkube manifests --certificates cert-manager --failure-policy Ignore | kubectl apply -f -
  winkube manifests crd > crd.yaml
  winkube manifests install --namespace winkube --failure-policy Ignore | kubectl apply -f -
  winkube manifests install --certificates secret --authorization rbac-cache
  winkube manifests --service-monitor | kubectl apply -f -   # with the Prometheus Operator";

/// `winkube manifests [FLAGS]` (the whole installation) or `winkube manifests SUBCOMMAND`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ManifestsArgs {
    #[command(subcommand)]
    pub command: Option<ManifestsCommand>,
    #[command(flatten)]
    pub install: InstallArgs,
    /// Output format: a YAML stream (with a header naming the command), or one JSON `List`
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value = "yaml",
        global = true
    )]
    pub output: ObjectsFormat,
}

#[derive(Subcommand)]
pub enum ManifestsCommand {
    /// Print the GMSACredentialSpec CustomResourceDefinition (deploy/crd.yaml)
    Crd,
    /// Print the webhook's install manifests (deploy/install.yaml)
    Install(InstallArgs),
    /// Print the Windows kube-proxy DaemonSet (HostProcess) for a cluster version and CNI
    KubeProxy(crate::kube_proxy::KubeProxyArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailurePolicy {
    /// Refuse pods while the webhook is unreachable (the reference's only setting): no gMSA
    /// pod escapes the checks, but an outage blocks pod creation outside the excluded
    /// namespaces.
    #[value(name = "Fail")]
    Fail,
    /// Admit pods unchecked while the webhook is unreachable: no outage blocks the cluster,
    /// but gMSA pods created meanwhile are neither filled in nor authorized.
    #[value(name = "Ignore")]
    Ignore,
}

impl FailurePolicy {
    fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Fail => "Fail",
            FailurePolicy::Ignore => "Ignore",
        }
    }
}

/// Who makes the serving certificate of an installation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InstallCertificates {
    /// winkube itself (`winkube webhook --certificates self-managed`): a CA and the
    /// certificate in the Secret winkube-tls, caBundle set and both rotated by the webhook;
    /// adds a Role for that Secret and its Lease, and get/patch on winkube's webhook
    /// configurations.
    SelfManaged,
    /// You: create the Secret winkube-tls (tls.crt, tls.key) and set caBundle.
    Secret,
    /// cert-manager (self-signed CA in the namespace), which also injects the CA bundle.
    CertManager,
}

impl InstallCertificates {
    pub fn as_str(self) -> &'static str {
        match self {
            InstallCertificates::SelfManaged => "self-managed",
            InstallCertificates::Secret => "secret",
            InstallCertificates::CertManager => "cert-manager",
        }
    }
}

#[derive(Args, Clone, Debug)]
pub struct InstallArgs {
    /// Namespace to install into (created; excluded from the webhook); a DNS label
    #[arg(long, short = 'n', default_value = NAME, value_parser = parse_namespace)]
    pub namespace: String,
    /// Container image of winkube
    #[arg(long, default_value = DEFAULT_IMAGE)]
    pub image: String,
    /// What the API server does when the webhook cannot be reached
    #[arg(long, value_enum, default_value = "Fail")]
    pub failure_policy: FailurePolicy,
    /// How long the API server waits for the gMSA webhook (1-30 s; answers take well under
    /// a millisecond)
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECONDS, value_parser = clap::value_parser!(u32).range(1..=30))]
    pub timeout_seconds: u32,
    /// Leave out the gMSA webhooks' matchConditions (GA in Kubernetes 1.30), for older
    /// clusters: every pod in the selected namespaces is then sent to the webhook
    #[arg(long)]
    pub no_match_conditions: bool,
    /// How the webhook checks that a service account may use a credspec
    #[arg(long, value_enum, default_value = "subject-access-review")]
    pub authorization: Authorization,
    /// Who makes and rotates the serving certificate
    #[arg(long, value_enum, default_value = "self-managed")]
    pub certificates: InstallCertificates,
    /// Same as --certificates cert-manager (kept for existing scripts)
    #[arg(long, hide = true, conflicts_with = "certificates")]
    pub cert_manager: bool,
    /// Webhook replicas (a PodDisruptionBudget keeps one available)
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub replicas: u32,
    /// Give gMSA pods without a hostname a random one (RANDOM_HOSTNAME)
    #[arg(long)]
    pub random_hostname: bool,
    /// Also install the Windows workload policies' webhooks (/mutate-windows,
    /// /validate-windows, in their own configurations named winkube-windows) and the RBAC
    /// their cluster view needs (list/watch on nodes and RuntimeClasses)
    #[arg(long)]
    pub windows_policies: bool,
    /// With --windows-policies: let the webhook read the imagePullSecrets pods name (a
    /// cluster-wide `get` on Secrets) to look images up in private registries. Without it,
    /// images are looked up anonymously: a private registry's images need pinned metadata
    #[arg(long, requires = "windows_policies")]
    pub read_pull_secrets: bool,
    /// What the API server does when the Windows policies' webhook cannot be reached:
    /// Ignore (default) admits pods without the Windows policies, so a policy outage never
    /// blocks Windows pods; Fail refuses every pod the policies' webhook would see until it
    /// answers again
    #[arg(
        long,
        value_enum,
        default_value = "Ignore",
        requires = "windows_policies",
        hide_possible_values = true
    )]
    pub windows_failure_policy: FailurePolicy,
    /// Also install a Prometheus Operator ServiceMonitor (monitoring.coreos.com/v1) that
    /// scrapes the webhook's /metrics (the CRD must exist: install the operator first)
    #[arg(long)]
    pub service_monitor: bool,
}

impl Default for InstallArgs {
    fn default() -> Self {
        Self {
            namespace: NAME.into(),
            image: DEFAULT_IMAGE.into(),
            failure_policy: FailurePolicy::Fail,
            timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
            no_match_conditions: false,
            authorization: Authorization::SubjectAccessReview,
            certificates: InstallCertificates::SelfManaged,
            cert_manager: false,
            replicas: 2,
            random_hostname: false,
            windows_policies: false,
            read_pull_secrets: false,
            windows_failure_policy: FailurePolicy::Ignore,
            service_monitor: false,
        }
    }
}

impl InstallArgs {
    /// `--certificates`, with the older `--cert-manager` folded in.
    pub fn certificate_mode(&self) -> InstallCertificates {
        if self.cert_manager {
            InstallCertificates::CertManager
        } else {
            self.certificates
        }
    }

    /// The webhook configurations the installation has (their caBundle is set).
    fn webhook_configuration_names(&self) -> Vec<&'static str> {
        let mut names = vec![NAME];
        if self.windows_policies {
            names.push(WINDOWS_NAME);
        }
        names
    }
}

pub fn run(args: ManifestsArgs) -> ExitCode {
    let text = match args.output {
        ObjectsFormat::Yaml => match &args.command {
            None => all_yaml(&args.install),
            Some(ManifestsCommand::Crd) => crd_yaml(),
            Some(ManifestsCommand::Install(install)) => install_yaml(install),
            Some(ManifestsCommand::KubeProxy(args)) => crate::kube_proxy::kube_proxy_yaml(args),
        },
        ObjectsFormat::Json => {
            objects(&args).and_then(|o| render(&o, ObjectsFormat::Json).map_err(anyhow::Error::msg))
        }
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        eprintln!("error: cannot write the output: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The objects `args` prints, in order (what the YAML functions below print, without the
/// header).
fn objects(args: &ManifestsArgs) -> anyhow::Result<Vec<Value>> {
    let crd = || serde_json::to_value(winkube_api::crd::gmsa_credential_spec_crd());
    Ok(match &args.command {
        None => {
            let mut objects = vec![crd()?];
            objects.extend(install_objects(&args.install));
            objects
        }
        Some(ManifestsCommand::Crd) => vec![crd()?],
        Some(ManifestsCommand::Install(install)) => install_objects(install),
        Some(ManifestsCommand::KubeProxy(args)) => crate::kube_proxy::kube_proxy_objects(args),
    })
}

/// `deploy/crd.yaml`.
pub fn crd_yaml() -> anyhow::Result<String> {
    let crd = serde_json::to_value(winkube_api::crd::gmsa_credential_spec_crd())?;
    Ok(format!(
        "{}{}",
        generated_header("manifests crd > deploy/crd.yaml"),
        to_yaml_stream(&[crd])?
    ))
}

/// The whole installation: the CRD first (the webhook watches credspecs), then the bundle.
pub fn all_yaml(args: &InstallArgs) -> anyhow::Result<String> {
    let mut objects = vec![serde_json::to_value(
        winkube_api::crd::gmsa_credential_spec_crd(),
    )?];
    objects.extend(install_objects(args));
    Ok(format!(
        "{}{}",
        generated_header(&command_line("manifests", args)),
        to_yaml_stream(&objects)?
    ))
}

/// `deploy/install.yaml` (and variants).
pub fn install_yaml(args: &InstallArgs) -> anyhow::Result<String> {
    let mut command = command_line("manifests install", args);
    // The files in deploy/ say where they go, so the header is the whole command.
    let file = match command.as_str() {
        "manifests install" => Some("deploy/install.yaml"),
        "manifests install --certificates cert-manager" => Some("deploy/install-cert-manager.yaml"),
        "manifests install --windows-policies" => Some("deploy/install-windows-policies.yaml"),
        _ => None,
    };
    if let Some(file) = file {
        command.push_str(&format!(" > {file}"));
    }
    Ok(format!(
        "{}{}",
        generated_header(&command),
        to_yaml_stream(&install_objects(args))?
    ))
}

/// The command that prints `args`' output: `base` and the flags that differ from the defaults.
fn command_line(base: &str, args: &InstallArgs) -> String {
    let mut command = String::from(base);
    let defaults = InstallArgs::default();
    if args.namespace != defaults.namespace {
        command.push_str(&format!(" --namespace {}", args.namespace));
    }
    if args.image != defaults.image {
        command.push_str(&format!(" --image {}", args.image));
    }
    if args.failure_policy != defaults.failure_policy {
        command.push_str(&format!(
            " --failure-policy {}",
            args.failure_policy.as_str()
        ));
    }
    if args.timeout_seconds != defaults.timeout_seconds {
        command.push_str(&format!(" --timeout-seconds {}", args.timeout_seconds));
    }
    if args.no_match_conditions {
        command.push_str(" --no-match-conditions");
    }
    if args.authorization != defaults.authorization {
        command.push_str(&format!(" --authorization {}", args.authorization.as_str()));
    }
    if args.certificate_mode() != defaults.certificate_mode() {
        command.push_str(&format!(
            " --certificates {}",
            args.certificate_mode().as_str()
        ));
    }
    if args.replicas != defaults.replicas {
        command.push_str(&format!(" --replicas {}", args.replicas));
    }
    if args.random_hostname {
        command.push_str(" --random-hostname");
    }
    if args.service_monitor {
        command.push_str(" --service-monitor");
    }
    if args.windows_policies {
        command.push_str(" --windows-policies");
        if args.read_pull_secrets {
            command.push_str(" --read-pull-secrets");
        }
        if args.windows_failure_policy != defaults.windows_failure_policy {
            command.push_str(&format!(
                " --windows-failure-policy {}",
                args.windows_failure_policy.as_str()
            ));
        }
    }
    command
}

/// `--namespace`: a DNS-1123 label, as namespaces must be.
pub(crate) fn parse_namespace(ns: &str) -> Result<String, String> {
    check_namespace(ns).map(|()| ns.to_owned())
}

/// A DNS-1123 label, as namespaces must be.
fn check_namespace(ns: &str) -> Result<(), String> {
    let ok = !ns.is_empty()
        && ns.len() <= 63
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !ns.starts_with('-')
        && !ns.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{ns:?} is not a valid namespace name (lower-case letters, digits and '-', at most 63, starting and ending alphanumeric)"
        ))
    }
}

fn labels() -> Value {
    json!({
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/component": "admission-webhook",
        "app.kubernetes.io/part-of": NAME,
    })
}

fn selector_labels() -> Value {
    json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": "admission-webhook"})
}

/// The install bundle, in apply order.
pub fn install_objects(args: &InstallArgs) -> Vec<Value> {
    let ns = args.namespace.as_str();
    let mut objects = vec![
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": ns,
                "labels": {
                    "app.kubernetes.io/part-of": NAME,
                    // The webhook needs nothing the restricted profile forbids.
                    "pod-security.kubernetes.io/enforce": "restricted",
                },
            },
        }),
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": NAME, "namespace": ns, "labels": labels()},
        }),
        cluster_role(args),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": NAME, "labels": labels()},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": ns}],
        }),
    ];
    match args.certificate_mode() {
        InstallCertificates::CertManager => objects.extend(cert_manager_objects(ns)),
        InstallCertificates::SelfManaged => objects.extend(self_managed_rbac(ns)),
        InstallCertificates::Secret => {}
    }
    if args.windows_policies {
        objects.push(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": WINDOWS_POLICY_CONFIGMAP, "namespace": ns, "labels": labels()},
            "data": {WINDOWS_POLICY_FILE: DEFAULT_POLICY_YAML.replace("NAMESPACE", ns)},
        }));
    }
    objects.extend([
        deployment(args),
        json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": NAME, "namespace": ns, "labels": labels()},
            "spec": {
                "maxUnavailable": 1,
                "selector": {"matchLabels": selector_labels()},
            },
        }),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": NAME, "namespace": ns, "labels": labels()},
            "spec": {
                "selector": selector_labels(),
                "ports": [
                    {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"},
                    {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
                ],
            },
        }),
        webhook_configuration(args, "MutatingWebhookConfiguration"),
        webhook_configuration(args, "ValidatingWebhookConfiguration"),
    ]);
    if args.windows_policies {
        objects.extend([
            windows_webhook_configuration(args, "MutatingWebhookConfiguration"),
            windows_webhook_configuration(args, "ValidatingWebhookConfiguration"),
        ]);
    }
    if args.service_monitor {
        objects.push(service_monitor(ns));
    }
    objects
}

/// Prometheus Operator's scrape configuration for the Service's `metrics` port.
fn service_monitor(ns: &str) -> Value {
    json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": NAME, "namespace": ns, "labels": labels()},
        "spec": {
            "selector": {"matchLabels": selector_labels()},
            "namespaceSelector": {"matchNames": [ns]},
            "endpoints": [{"port": "metrics", "path": OPS_METRICS_PATH, "scheme": "http", "interval": "30s"}],
        },
    })
}

fn cluster_role(args: &InstallArgs) -> Value {
    let mut rules = vec![
        // Watched into a cache: no GET per pod.
        json!({"apiGroups": ["windows.k8s.io"], "resources": ["gmsacredentialspecs"], "verbs": ["get", "list", "watch"]}),
        json!({"apiGroups": ["authorization.k8s.io"], "resources": ["localsubjectaccessreviews"], "verbs": ["create"]}),
    ];
    if args.authorization == Authorization::RbacCache {
        rules.push(json!({
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["roles", "rolebindings", "clusterroles", "clusterrolebindings"],
            "verbs": ["list", "watch"],
        }));
    }
    if args.windows_policies {
        // The Windows policies' live view: node builds and RuntimeClasses are watched into
        // caches.
        rules.extend([
            json!({"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "watch"]}),
            json!({"apiGroups": ["node.k8s.io"], "resources": ["runtimeclasses"], "verbs": ["list", "watch"]}),
        ]);
        if args.read_pull_secrets {
            // A pod's imagePullSecrets, read (in its namespace) when its images are looked up.
            rules.push(json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}));
        }
    }
    if args.certificate_mode() == InstallCertificates::SelfManaged {
        // caBundle of winkube's own webhook configurations, and nothing else.
        rules.push(json!({
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
            "resourceNames": args.webhook_configuration_names(),
            "verbs": ["get", "patch"],
        }));
    }
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": NAME, "labels": labels()},
        "rules": rules,
    })
}

/// The self-managed mode's namespaced rights: its Secret and its Lease, by name (create
/// cannot be limited by name; RBAC checks it before the name is known).
fn self_managed_rbac(ns: &str) -> Vec<Value> {
    const CERTS: &str = "winkube-certificates";
    vec![
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": CERTS, "namespace": ns, "labels": labels()},
            "rules": [
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
                // list/watch by name: the watch selects metadata.name.
                {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [TLS_SECRET], "verbs": ["get", "list", "watch", "update"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [TLS_SECRET], "verbs": ["get", "update"]},
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": CERTS, "namespace": ns, "labels": labels()},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": CERTS},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": ns}],
        }),
    ]
}

fn cert_manager_objects(ns: &str) -> Vec<Value> {
    // Namespaced issuers only: a ClusterIssuer per install collides across installs.
    vec![
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": "winkube-selfsigned", "namespace": ns, "labels": labels()},
            "spec": {"selfSigned": {}},
        }),
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": "winkube-ca", "namespace": ns, "labels": labels()},
            "spec": {
                "isCA": true,
                "commonName": "winkube-ca",
                "secretName": "winkube-ca",
                "duration": "87600h",
                "privateKey": {"algorithm": "ECDSA", "size": 256},
                "issuerRef": {"name": "winkube-selfsigned", "kind": "Issuer", "group": "cert-manager.io"},
            },
        }),
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": "winkube-ca", "namespace": ns, "labels": labels()},
            "spec": {"ca": {"secretName": "winkube-ca"}},
        }),
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": NAME, "namespace": ns, "labels": labels()},
            "spec": {
                "secretName": TLS_SECRET,
                "dnsNames": [format!("{NAME}.{ns}.svc"), format!("{NAME}.{ns}.svc.cluster.local")],
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                "usages": ["server auth", "digital signature"],
                "issuerRef": {"name": "winkube-ca", "kind": "Issuer", "group": "cert-manager.io"},
            },
        }),
    ]
}

fn deployment(args: &InstallArgs) -> Value {
    let ns = args.namespace.as_str();
    let env = |name: &str, value: String| json!({"name": name, "value": value});
    let mut container_args = vec![
        format!("--authorization={}", args.authorization.as_str()),
        // /metrics, /healthz, /readyz over plain HTTP, for Prometheus.
        format!("--metrics-bind-address=:{METRICS_PORT}"),
    ];
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    let self_managed = args.certificate_mode() == InstallCertificates::SelfManaged;
    let mut env_vars = Vec::new();
    if self_managed {
        // No files: the webhook reads (and one replica maintains) the Secret itself.
        container_args.push("--certificates=self-managed".into());
        container_args.push(format!(
            "--webhook-configurations={}",
            args.webhook_configuration_names().join(",")
        ));
    } else {
        // The whole Secret as a directory (no subPath): rotations swap the `..data`
        // symlink, which winkube watches.
        mounts.push(json!({"name": "tls", "mountPath": "/tls", "readOnly": true}));
        volumes.push(json!({"name": "tls", "secret": {"secretName": TLS_SECRET}}));
        // The reference's variables: the same Deployment knobs work.
        env_vars.push(env("TLS_CRT", "/tls/tls.crt".into()));
        env_vars.push(env("TLS_KEY", "/tls/tls.key".into()));
    }
    env_vars.extend([
        env("HTTPS_PORT", CONTAINER_PORT.to_string()),
        env("RANDOM_HOSTNAME", args.random_hostname.to_string()),
        env("QPS", "30".into()),
        env("BURST", "50".into()),
        env("LOG_LEVEL", "info".into()),
    ]);
    if args.windows_policies {
        // Explicit: the webhook watches nodes and RuntimeClasses only when told to, and
        // reads pull secrets only when the ClusterRole grants it.
        container_args.push("--windows-policies".into());
        container_args.push(format!(
            "--policy={WINDOWS_POLICY_DIR}/{WINDOWS_POLICY_FILE}"
        ));
        if args.read_pull_secrets {
            container_args.push("--read-pull-secrets".into());
        }
        mounts.push(
            json!({"name": "windows-policy", "mountPath": WINDOWS_POLICY_DIR, "readOnly": true}),
        );
        volumes.push(
            json!({"name": "windows-policy", "configMap": {"name": WINDOWS_POLICY_CONFIGMAP}}),
        );
    }
    let mut deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": ns, "labels": labels()},
        "spec": {
            "replicas": args.replicas,
            "selector": {"matchLabels": selector_labels()},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels()},
                "spec": {
                    "serviceAccountName": NAME,
                    "os": {"name": "linux"},
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    // Small clusters run the webhook on the control plane.
                    "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
                    "topologySpreadConstraints": [
                        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": selector_labels()}},
                        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": selector_labels()}},
                    ],
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": selector_labels()}},
                    }]}},
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": 65532,
                        "runAsGroup": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "terminationGracePeriodSeconds": 30,
                    "containers": [{
                        "name": "webhook",
                        "image": args.image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["/winkube", "webhook"],
                        "args": container_args,
                        "env": env_vars,
                        "ports": [
                            {"name": "https", "containerPort": CONTAINER_PORT, "protocol": "TCP"},
                            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
                        ],
                        // Ready once credspecs (and RBAC, in rbac-cache mode) are cached.
                        "readinessProbe": {
                            "httpGet": {"path": HEALTH_PATH, "port": "https", "scheme": "HTTPS"},
                            "periodSeconds": 5,
                            "failureThreshold": 3,
                        },
                        // Alive as long as it answers HTTPS at all.
                        "livenessProbe": {
                            "httpGet": {"path": INFO_PATH, "port": "https", "scheme": "HTTPS"},
                            "initialDelaySeconds": 10,
                            "periodSeconds": 10,
                            "failureThreshold": 6,
                        },
                        "resources": {
                            "requests": {"cpu": "50m", "memory": "64Mi"},
                            "limits": {"memory": "256Mi"},
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": mounts,
                    }],
                    "volumes": volumes,
                },
            },
        },
    });
    // Self-managed without the Windows policies mounts nothing.
    let pod = &mut deployment["spec"]["template"]["spec"];
    if pod["volumes"].as_array().is_some_and(Vec::is_empty) {
        if let Some(p) = pod.as_object_mut() {
            p.remove("volumes");
        }
        if let Some(c) = pod["containers"][0].as_object_mut() {
            c.remove("volumeMounts");
        }
    }
    deployment
}

fn webhook_configuration(args: &InstallArgs, kind: &str) -> Value {
    let ns = args.namespace.as_str();
    let mutating = kind == "MutatingWebhookConfiguration";
    let (path, rules) = if mutating {
        (
            MUTATE_PATH,
            json!([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"], "scope": "Namespaced"}]),
        )
    } else {
        (
            VALIDATE_PATH,
            json!([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods", "pods/ephemeralcontainers"], "scope": "Namespaced"}]),
        )
    };
    let mut webhook = json!({
        "name": WEBHOOK_NAME,
        "clientConfig": {"service": {"name": NAME, "namespace": ns, "path": path, "port": 443}},
        "rules": rules,
        "failurePolicy": args.failure_policy.as_str(),
        "matchPolicy": "Equivalent",
        "sideEffects": "None",
        "timeoutSeconds": args.timeout_seconds,
        "admissionReviewVersions": ["v1"],
        "namespaceSelector": namespace_selector(ns),
    });
    if !args.no_match_conditions {
        // Only pods with gMSA settings (now or, on UPDATE, before) reach the webhook: no
        // other pod waits for it or fails with it.
        webhook["matchConditions"] = json!([{
            "name": GMSA_MATCH_CONDITION_NAME,
            "expression": gmsa_match_expression(),
        }]);
    }
    if mutating {
        webhook["reinvocationPolicy"] = json!("Never");
    }
    let mut metadata = json!({"name": NAME, "labels": labels()});
    if args.certificate_mode() == InstallCertificates::CertManager {
        metadata["annotations"] = json!({"cert-manager.io/inject-ca-from": format!("{ns}/{NAME}")});
    }
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": metadata,
        "webhooks": [webhook],
    })
}

/// The namespaces no winkube webhook sees: kube-system, winkube's own, and opted-out ones.
fn namespace_selector(ns: &str) -> Value {
    json!({"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", ns]},
        {"key": OPT_OUT_LABEL, "operator": "NotIn", "values": ["true"]},
    ]})
}

/// The Windows policies' configurations: pod CREATE (a pod's scheduling fields are
/// immutable afterwards, and re-validating label updates of running pods against today's
/// nodes would block them); the validating one also sees `kubectl debug` adding ephemeral
/// containers, the only containers a pod gains later (HostProcess, ContainerAdministrator).
fn windows_rules(mutating: bool) -> Value {
    let create = json!({"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"], "scope": "Namespaced"});
    if mutating {
        json!([create])
    } else {
        json!([create, {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["pods/ephemeralcontainers"], "scope": "Namespaced"}])
    }
}

fn windows_webhook_configuration(args: &InstallArgs, kind: &str) -> Value {
    let ns = args.namespace.as_str();
    let mutating = kind == "MutatingWebhookConfiguration";
    let path = if mutating {
        MUTATE_WINDOWS_PATH
    } else {
        VALIDATE_WINDOWS_PATH
    };
    let mut webhook = json!({
        "name": WINDOWS_WEBHOOK_NAME,
        "clientConfig": {"service": {"name": NAME, "namespace": ns, "path": path, "port": 443}},
        "rules": windows_rules(mutating),
        "failurePolicy": args.windows_failure_policy.as_str(),
        "matchPolicy": "Equivalent",
        "sideEffects": "None",
        // Registry lookups are bounded well below this.
        "timeoutSeconds": 10,
        "admissionReviewVersions": ["v1"],
        "namespaceSelector": namespace_selector(ns),
    });
    if mutating {
        // The policies keep what a pod already has, so running again after a later
        // webhook changed the pod (an added sidecar image) is safe and useful.
        webhook["reinvocationPolicy"] = json!("IfNeeded");
    }
    let mut metadata = json!({"name": WINDOWS_NAME, "labels": labels()});
    if args.certificate_mode() == InstallCertificates::CertManager {
        metadata["annotations"] = json!({"cert-manager.io/inject-ca-from": format!("{ns}/{NAME}")});
    }
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": metadata,
        "webhooks": [webhook],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::admissionregistration::v1::{
        MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
    };
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    /// Decoding into the typed object and encoding again must give the same JSON: a
    /// misspelt field would be dropped by the typed decoder and show up here.
    fn round_trips<T: DeserializeOwned + Serialize>(v: &Value) {
        let typed: T = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(&serde_json::to_value(typed).unwrap(), v, "{}", v["kind"]);
    }

    fn check_all(args: &InstallArgs) {
        for o in install_objects(args) {
            match o["kind"].as_str().unwrap() {
                "Namespace" => round_trips::<Namespace>(&o),
                "ServiceAccount" => round_trips::<ServiceAccount>(&o),
                "ConfigMap" => round_trips::<ConfigMap>(&o),
                "ClusterRole" => round_trips::<ClusterRole>(&o),
                "ClusterRoleBinding" => round_trips::<ClusterRoleBinding>(&o),
                "Deployment" => round_trips::<Deployment>(&o),
                "PodDisruptionBudget" => round_trips::<PodDisruptionBudget>(&o),
                "Service" => round_trips::<Service>(&o),
                "MutatingWebhookConfiguration" => round_trips::<MutatingWebhookConfiguration>(&o),
                "ValidatingWebhookConfiguration" => {
                    round_trips::<ValidatingWebhookConfiguration>(&o)
                }
                "Issuer" | "Certificate" => {
                    assert_eq!(args.certificate_mode(), InstallCertificates::CertManager)
                }
                "Role" => round_trips::<k8s_openapi::api::rbac::v1::Role>(&o),
                "RoleBinding" => round_trips::<k8s_openapi::api::rbac::v1::RoleBinding>(&o),
                "ServiceMonitor" => assert!(args.service_monitor),
                other => panic!("unexpected kind {other}"),
            }
        }
    }

    #[test]
    fn install_objects_are_well_formed_kubernetes_objects() {
        check_all(&InstallArgs::default());
        check_all(&InstallArgs {
            certificates: InstallCertificates::CertManager,
            authorization: Authorization::RbacCache,
            failure_policy: FailurePolicy::Ignore,
            ..InstallArgs::default()
        });
        check_all(&InstallArgs {
            certificates: InstallCertificates::Secret,
            ..InstallArgs::default()
        });
        check_all(&InstallArgs {
            windows_policies: true,
            ..InstallArgs::default()
        });
    }

    fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
        objects.iter().find(|o| o["kind"] == kind).unwrap()
    }

    #[test]
    fn webhook_configurations_match_the_reference_surface() {
        let objects = install_objects(&InstallArgs {
            namespace: "gmsa".into(),
            ..InstallArgs::default()
        });
        let m = &find(&objects, "MutatingWebhookConfiguration")["webhooks"][0];
        let v = &find(&objects, "ValidatingWebhookConfiguration")["webhooks"][0];
        for (w, path) in [(m, "/mutate"), (v, "/validate")] {
            assert_eq!(w["name"], WEBHOOK_NAME);
            assert_eq!(w["clientConfig"]["service"]["path"], path);
            assert_eq!(w["sideEffects"], "None");
            assert_eq!(w["timeoutSeconds"], 5);
            assert_eq!(w["failurePolicy"], "Fail");
            assert_eq!(
                w["namespaceSelector"]["matchExpressions"][0]["values"],
                json!(["kube-system", "gmsa"])
            );
            assert_eq!(
                w["namespaceSelector"]["matchExpressions"][1]["key"],
                OPT_OUT_LABEL
            );
        }
        assert_eq!(m["rules"][0]["operations"], json!(["CREATE"]));
        assert_eq!(v["rules"][0]["operations"], json!(["CREATE", "UPDATE"]));
        assert_eq!(
            v["rules"][0]["resources"],
            json!(["pods", "pods/ephemeralcontainers"])
        );
    }

    #[test]
    fn rbac_objects_only_in_rbac_cache_mode() {
        let rules = |a: Authorization| {
            let objects = install_objects(&InstallArgs {
                authorization: a,
                ..InstallArgs::default()
            });
            find(&objects, "ClusterRole")["rules"].to_string()
        };
        assert!(!rules(Authorization::SubjectAccessReview).contains("rolebindings"));
        assert!(rules(Authorization::RbacCache).contains("clusterrolebindings"));
        assert!(rules(Authorization::RbacCache).contains("localsubjectaccessreviews"));
    }

    #[test]
    fn self_managed_gets_exactly_the_rights_it_needs() {
        for windows in [false, true] {
            let args = InstallArgs {
                namespace: "gmsa".into(),
                windows_policies: windows,
                ..InstallArgs::default()
            };
            let objects = install_objects(&args);
            let names = if windows {
                json!(["winkube", "winkube-windows"])
            } else {
                json!(["winkube"])
            };
            let rules = find(&objects, "ClusterRole")["rules"]
                .as_array()
                .unwrap()
                .clone();
            let hooks: Vec<&Value> = rules
                .iter()
                .filter(|r| r["apiGroups"][0] == "admissionregistration.k8s.io")
                .collect();
            assert_eq!(hooks.len(), 1);
            assert_eq!(hooks[0]["resourceNames"], names);
            assert_eq!(hooks[0]["verbs"], json!(["get", "patch"]));
            let role = find(&objects, "Role");
            assert_eq!(role["metadata"]["namespace"], "gmsa");
            for r in role["rules"].as_array().unwrap() {
                // Anything but create is limited to the one Secret and Lease.
                if r["verbs"] != json!(["create"]) {
                    assert_eq!(r["resourceNames"], json!([TLS_SECRET]), "{r}");
                }
            }
            assert_eq!(
                find(&objects, "RoleBinding")["subjects"][0]["namespace"],
                "gmsa"
            );
            let c = &find(&objects, "Deployment")["spec"]["template"]["spec"]["containers"][0];
            let args_text = c["args"].to_string();
            assert!(
                args_text.contains("--certificates=self-managed"),
                "{args_text}"
            );
            assert!(
                args_text.contains(&format!(
                    "--webhook-configurations={}",
                    names
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|n| n.as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join(",")
                )),
                "{args_text}"
            );
            assert!(!c["env"].to_string().contains("TLS_CRT"));
            assert!(
                !serde_json::to_string(&objects)
                    .unwrap()
                    .contains("cert-manager.io")
            );
        }
        // Other modes have neither the Role nor the webhook-configuration rights.
        for mode in [
            InstallCertificates::Secret,
            InstallCertificates::CertManager,
        ] {
            let objects = install_objects(&InstallArgs {
                certificates: mode,
                ..InstallArgs::default()
            });
            assert!(!objects.iter().any(|o| o["kind"] == "Role"));
            assert!(
                !find(&objects, "ClusterRole")["rules"]
                    .to_string()
                    .contains("webhookconfigurations")
            );
        }
    }

    #[test]
    fn cert_manager_injects_the_ca() {
        let objects = install_objects(&InstallArgs {
            certificates: InstallCertificates::CertManager,
            ..InstallArgs::default()
        });
        let v = find(&objects, "ValidatingWebhookConfiguration");
        assert_eq!(
            v["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "winkube/winkube"
        );
        let cert = objects
            .iter()
            .find(|o| o["kind"] == "Certificate" && o["metadata"]["name"] == NAME)
            .unwrap();
        assert_eq!(cert["spec"]["secretName"], TLS_SECRET);
        assert_eq!(cert["spec"]["dnsNames"][0], "winkube.winkube.svc");
    }

    #[test]
    fn deployment_is_hardened_and_uses_reference_env() {
        let objects = install_objects(&InstallArgs {
            certificates: InstallCertificates::Secret,
            ..InstallArgs::default()
        });
        let d = find(&objects, "Deployment");
        let pod = &d["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        assert_eq!(d["spec"]["replicas"], 2);
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/health");
        assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
        let env: Vec<_> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        for var in [
            "TLS_CRT",
            "TLS_KEY",
            "HTTPS_PORT",
            "RANDOM_HOSTNAME",
            "QPS",
            "BURST",
            "LOG_LEVEL",
        ] {
            assert!(env.contains(&var), "{var}");
        }
    }

    #[test]
    fn windows_policies_are_separate_optional_configurations() {
        let plain = install_objects(&InstallArgs::default());
        assert!(
            !serde_json::to_string(&plain)
                .unwrap()
                .contains("windows-policies")
        );
        assert!(
            !find(&plain, "ClusterRole")["rules"]
                .to_string()
                .contains("nodes")
        );
        let args = InstallArgs {
            namespace: "gmsa".into(),
            windows_policies: true,
            certificates: InstallCertificates::CertManager,
            ..InstallArgs::default()
        };
        check_all(&args);
        let objects = install_objects(&args);
        let windows: Vec<&Value> = objects
            .iter()
            .filter(|o| o["metadata"]["name"] == WINDOWS_NAME)
            .collect();
        assert_eq!(windows.len(), 2);
        for (w, kind, path) in [
            (
                windows[0],
                "MutatingWebhookConfiguration",
                MUTATE_WINDOWS_PATH,
            ),
            (
                windows[1],
                "ValidatingWebhookConfiguration",
                VALIDATE_WINDOWS_PATH,
            ),
        ] {
            assert_eq!(w["kind"], kind);
            let hook = &w["webhooks"][0];
            assert_eq!(hook["clientConfig"]["service"]["path"], path);
            assert_eq!(hook["failurePolicy"], "Ignore");
            assert_eq!(hook["name"], WINDOWS_WEBHOOK_NAME);
            assert_eq!(hook["namespaceSelector"], namespace_selector("gmsa"));
            assert_eq!(
                w["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
                "gmsa/winkube"
            );
        }
        // The gMSA webhook keeps its own failure policy.
        let gmsa = objects
            .iter()
            .find(|o| {
                o["kind"] == "ValidatingWebhookConfiguration" && o["metadata"]["name"] == NAME
            })
            .unwrap();
        assert_eq!(gmsa["webhooks"][0]["failurePolicy"], "Fail");
        let rules = find(&objects, "ClusterRole")["rules"].to_string();
        for r in ["\"nodes\"", "\"runtimeclasses\""] {
            assert!(rules.contains(r), "{r} missing from {rules}");
        }
        // Pull secrets are read only with --read-pull-secrets.
        assert!(!rules.contains("\"secrets\""), "{rules}");
        // The policy file: a ConfigMap the Deployment mounts and passes to --policy.
        let cm = find(&objects, "ConfigMap");
        let text = cm["data"][WINDOWS_POLICY_FILE].as_str().unwrap();
        let want = winkube_policy::windows::WindowsPolicyConfig {
            exempt_namespaces: vec!["kube-system".into(), "gmsa".into()],
            ..Default::default()
        };
        assert_eq!(
            winkube_policy::windows::WindowsPolicyConfig::from_yaml(text).unwrap(),
            want
        );
        let pod = &find(&objects, "Deployment")["spec"]["template"]["spec"];
        assert!(
            pod["containers"][0]["args"]
                .as_array()
                .unwrap()
                .contains(&json!("--policy=/etc/winkube/policy.yaml"))
        );
        assert_eq!(
            pod["volumes"][1]["configMap"]["name"],
            WINDOWS_POLICY_CONFIGMAP
        );
        assert_eq!(
            pod["containers"][0]["volumeMounts"][1]["mountPath"],
            WINDOWS_POLICY_DIR
        );
        // Without the Windows policies, no ConfigMap and no --policy.
        assert!(!plain.iter().any(|o| o["kind"] == "ConfigMap"));
    }

    #[test]
    fn metrics_port_is_served_and_monitored_on_request() {
        let objects = install_objects(&InstallArgs::default());
        let c = &find(&objects, "Deployment")["spec"]["template"]["spec"]["containers"][0];
        assert!(
            c["args"]
                .as_array()
                .unwrap()
                .contains(&json!("--metrics-bind-address=:8080"))
        );
        assert_eq!(
            c["ports"][1],
            json!({"name": "metrics", "containerPort": 8080, "protocol": "TCP"})
        );
        assert_eq!(
            find(&objects, "Service")["spec"]["ports"][1]["targetPort"],
            "metrics"
        );
        assert!(!objects.iter().any(|o| o["kind"] == "ServiceMonitor"));
        let objects = install_objects(&InstallArgs {
            namespace: "ops".into(),
            service_monitor: true,
            ..InstallArgs::default()
        });
        let sm = find(&objects, "ServiceMonitor");
        assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
        assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
        assert_eq!(
            sm["spec"]["namespaceSelector"]["matchNames"],
            json!(["ops"])
        );
        assert_eq!(sm["spec"]["selector"]["matchLabels"], selector_labels());
    }

    #[test]
    fn namespace_is_checked() {
        assert!(check_namespace("winkube").is_ok());
        assert!(check_namespace("Winkube").is_err());
        assert!(check_namespace("-a").is_err());
        assert!(check_namespace("").is_err());
    }
}
