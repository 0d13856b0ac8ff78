//! `winkube audit`: the admission policies run over what a live cluster holds today. `fetch`
//! reads the cluster once (paged lists) into the one offline view (`FileView`) and the
//! objects to audit; each is evaluated as `lint` evaluates a manifest (`evaluate`), and
//! reported in lint's formats (`findings`) with a `summary` per namespace and rule.

pub mod fetch;
mod progress;
mod summary;

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};
use winkube_policy::Severity;
use winkube_state::FileView;
use winkube_state::documents::{Document, Source};

use crate::apiclient::KubeArgs;
use crate::evaluate::{self, Loaded};
use crate::findings::{self, Counts, Format, ObjectSummary, Reported};
use crate::lint::{self, Paint};
use crate::{admit, windows};
use fetch::WORKLOAD_KINDS;
use progress::Progress;
use summary::Summary;

pub const ABOUT: &str =
    "Report what admission (gMSA, Windows policies) would deny or change in a live cluster today";

pub const LONG: &str = "\
Report what admission would deny or change in a live cluster today: the pods and workloads
(Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs,
ReplicationControllers) of every namespace, or of -n NS, each evaluated as a CREATE by the
same code as `winkube lint` (gMSA admission, then the Windows workload policies from
--policy FILE) against the cluster's own state: GMSACredentialSpecs, Roles, ClusterRoles
and their bindings (the `use` check is evaluated locally), ServiceAccounts, Nodes and
RuntimeClasses, read once with paged lists (--page-size objects per request). Pull secrets
are read only with --read-pull-secrets. --state DIR adds pinned image metadata
(images.yaml, all --offline uses) and extra state.

A pod or workload owned by a controller that is audited too (the pods of a ReplicaSet, the
ReplicaSets of a Deployment, the Jobs of a CronJob) is skipped and counted, so each problem
is reported once, on the object to edit; bare pods are audited. Findings and formats are
lint's (-o text|json|sarif, docs/lint-output.md); objects are named namespace/Kind/name,
and only those that would be denied, changed or warned about are listed. The report ends
with a summary per namespace and per rule. A progress line is drawn on stderr when it is a
terminal (--no-progress turns it off).

The client is configured as kubectl's (--kubeconfig, --context, $KUBECONFIG,
~/.kube/config, or the in-cluster service account). Audit only lists; it needs:

  apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata:
    name: winkube-audit
  rules:
  - apiGroups: [\"\"]
    resources: [pods, replicationcontrollers, serviceaccounts, nodes]
    verbs: [list]
  - apiGroups: [apps]
    resources: [deployments, replicasets, statefulsets, daemonsets]
    verbs: [list]
  - apiGroups: [batch]
    resources: [jobs, cronjobs]
    verbs: [list]
  - apiGroups: [rbac.authorization.k8s.io]
    resources: [roles, rolebindings, clusterroles, clusterrolebindings]
    verbs: [list]
  - apiGroups: [node.k8s.io]
    resources: [runtimeclasses]
    verbs: [list]
  - apiGroups: [windows.k8s.io]
    resources: [gmsacredentialspecs]
    verbs: [list]

and, with --read-pull-secrets, list on secrets.

Exit codes: 0 nothing fails --fail-on (default: nothing would be denied), 1 something does,
2 bad usage or configuration, or the cluster could not be read (the list that failed is
named, with why).";

pub const EXAMPLES: &str = "\
Examples:
  winkube audit
  winkube audit -n prod --policy policy.yaml --fail-on warning
  winkube audit --context prod-admin -o json | jq '.summary.rules'
  winkube audit --offline --state cluster-state/ -o sarif > audit.sarif";

/// Flags of `winkube audit`.
#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Audit this namespace only (default: all namespaces)
    #[arg(long, short = 'n', value_name = "NS", value_parser = crate::manifests::parse_namespace,
          conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// Audit every namespace (the default; accepted as kubectl's -A)
    #[arg(long, short = 'A')]
    pub all_namespaces: bool,
    /// Directory of pinned image metadata (images.yaml) and extra cluster state, read
    /// before the cluster's own
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub policy: windows::PolicyArgs,
    /// Read the image pull secrets (Secrets of type kubernetes.io/dockerconfigjson) for
    /// registry lookups; off by default, Secrets are sensitive
    #[arg(long)]
    pub read_pull_secrets: bool,
    #[command(flatten)]
    pub report: crate::findings::ReportArgs,
    /// Objects per LIST request: lists are read in pages of this size (kubectl's
    /// --chunk-size)
    #[arg(long, value_name = "N", default_value_t = 500, visible_alias = "chunk-size",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: u32,
    /// No progress line on stderr (it is drawn only when stderr is a terminal)
    #[arg(long)]
    pub no_progress: bool,
}

pub fn run(args: AuditArgs) -> ExitCode {
    let runtime = match crate::evaluate::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(run_async(args))
}

/// Prints `error: ...` lines; exit code 2.
fn usage_error(errors: &[String]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    ExitCode::from(2)
}

async fn run_async(args: AuditArgs) -> ExitCode {
    winkube_webhook::install_crypto_provider();
    // Local flags and files first: a mistake there costs no API call.
    let mut errors = Vec::new();
    let mut view = match &args.state {
        Some(dir) => FileView::load_dir(dir).unwrap_or_else(|e| {
            errors.push(e.to_string());
            FileView::empty()
        }),
        None => FileView::empty(),
    };
    let policy = windows::load_policy(args.policy.policy.as_ref()).unwrap_or_else(|e| {
        errors.push(e.0);
        Default::default()
    });
    view.set_hyperv_handlers(policy.os_build.hyperv_handlers.clone());
    let resolver = windows::resolver(&args.policy).unwrap_or_else(|e| {
        errors.push(e.0);
        None
    });
    if !errors.is_empty() {
        return usage_error(&errors);
    }
    let (client, url) = match args.kube.connect().await {
        Ok(c) => c,
        Err(e) => return usage_error(&[e.0]),
    };
    let mut progress = Progress::new(!args.no_progress && std::io::stderr().is_terminal());
    let namespace = args.namespace.as_deref();
    let read = fetch::read(
        &client,
        namespace,
        args.page_size,
        args.read_pull_secrets,
        &mut progress,
    )
    .await;
    progress.finish();
    let objects = match read {
        Ok(o) => o,
        Err(e) => return usage_error(&[format!("{e} (API server {url})")]),
    };
    let mut summary = Summary {
        state: objects.state.len(),
        ..Summary::default()
    };
    for (i, value) in objects.state.into_iter().enumerate() {
        // One odd object (a node's bad build label) should not stop the audit.
        if let Err(e) = view.add_input(cluster_document(i, value)) {
            eprintln!("warning: {e}: not used");
        }
    }
    let (inputs, input_errors) = targets(objects.workloads, &mut view, &mut summary);
    for e in &input_errors {
        eprintln!("error: {e}");
    }
    let loaded = Loaded {
        view,
        state: admit::StateSource::Cluster,
        inputs,
        input_errors,
        notes: Vec::new(),
        policy,
        resolver,
    };
    let report = audit(&loaded, &args, &mut summary, &mut progress).await;
    progress.finish();
    let out = match args.report.format {
        Format::Text => report.text + &summary.text(),
        Format::Json => {
            let counts = Counts {
                objects: summary.total().objects,
                denied: summary.total().denied,
                skipped: summary.skipped_owned,
                state: summary.state,
            };
            let mut v =
                findings::to_json(&counts, &report.objects, &report.all, &loaded.input_errors);
            v["apiVersion"] = json!("winkube.io/audit/v1");
            v["cluster"] = json!({"server": url, "namespace": namespace});
            if let (Some(to), Value::Object(from)) = (v["summary"].as_object_mut(), summary.json())
            {
                to.extend(from);
            }
            lint::json_text(&v)
        }
        Format::Sarif => {
            let cwd = std::env::current_dir().unwrap_or_default();
            let sarif = findings::to_sarif(&report.all, &loaded.input_errors, &cwd, Some(&url));
            lint::json_text(&sarif)
        }
    };
    if let Err(code) = evaluate::write_stdout(&out) {
        return code;
    }
    if !loaded.input_errors.is_empty() {
        return ExitCode::from(2);
    }
    let worst = report.all.iter().map(|f| f.severity).max();
    let worst = if summary.total().denied > 0 {
        Some(Severity::Error)
    } else {
        worst
    };
    if args.report.fail_on.fails(worst) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn cluster_document(i: usize, value: Value) -> Document {
    Document {
        source: Source::Cluster,
        index: i + 1,
        item: None,
        line: None,
        value,
    }
}

/// The objects to audit, in namespace, kind, name order; those whose controller is
/// audited too are counted in `summary` instead.
fn targets(
    mut workloads: Vec<Value>,
    view: &mut FileView,
    summary: &mut Summary,
) -> (Vec<admit::Input>, Vec<String>) {
    let str_at = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let uids: HashSet<String> = workloads
        .iter()
        .filter_map(|v| str_at(v, "/metadata/uid"))
        .collect();
    workloads.retain(|v| {
        let owned = controller_uid(v).is_some_and(|uid| uids.contains(uid));
        summary.skipped_owned += usize::from(owned);
        !owned
    });
    let kind_rank = |v: &Value| {
        let kind = v["kind"].as_str().unwrap_or("");
        WORKLOAD_KINDS.iter().position(|k| *k == kind)
    };
    workloads.sort_by_cached_key(|v| {
        (
            str_at(v, "/metadata/namespace"),
            kind_rank(v),
            str_at(v, "/metadata/name"),
        )
    });
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for (i, value) in workloads.into_iter().enumerate() {
        match admit::prepare(cluster_document(i, value), "default", view) {
            Ok(input) => inputs.push(input),
            Err(e) => errors.push(e.0),
        }
    }
    (inputs, errors)
}

/// The uid of the object's controller when it is of an audited kind.
fn controller_uid(v: &Value) -> Option<&str> {
    v.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| {
            r["controller"] == true
                && r["kind"]
                    .as_str()
                    .is_some_and(|k| WORKLOAD_KINDS.contains(&k))
        })?
        .get("uid")?
        .as_str()
}

/// What the evaluation produced, for the chosen format.
struct Report {
    text: String,
    objects: Vec<ObjectSummary>,
    all: Vec<Reported>,
}

/// Evaluates every target; objects with nothing to say are only counted.
async fn audit(
    loaded: &Loaded,
    args: &AuditArgs,
    summary: &mut Summary,
    progress: &mut Progress,
) -> Report {
    let paint =
        Paint(args.report.format == Format::Text && crate::logging::colours_on(&std::io::stdout()));
    let mut report = Report {
        text: String::new(),
        objects: Vec::new(),
        all: Vec::new(),
    };
    let total = loaded.inputs.len();
    for (done, input) in loaded.inputs.iter().enumerate() {
        progress.evaluated(done, total);
        for (_, target) in &input.targets {
            let result = evaluate::evaluate(loaded, target, None).await;
            let found = findings::collect(target, &result);
            let changes = lint::changes(target, &result);
            let denial = result.denial().map(|(code, _)| code);
            summary.add(
                &target.namespace,
                denial.is_some(),
                !changes.is_empty(),
                &found,
            );
            if denial.is_none() && changes.is_empty() && found.is_empty() {
                continue;
            }
            match args.report.format {
                Format::Text => report
                    .text
                    .push_str(&lint::report(target, &result, &found, paint)),
                Format::Json => report
                    .objects
                    .push(ObjectSummary::new(target, &result, changes)),
                Format::Sarif => {}
            }
            report.all.extend(found);
        }
    }
    progress.evaluated(total, total);
    report
}
