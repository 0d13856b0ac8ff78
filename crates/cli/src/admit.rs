//! `winkube admit`: the webhook's decision on manifest files, without a cluster.
//!
//! Pods are admitted as they are; workloads (Deployments, ReplicaSets, StatefulSets,
//! DaemonSets, Jobs, CronJobs, ReplicationControllers, PodTemplates) by admitting the pod
//! their controller would create from the template. The request is what the API server
//! would send: namespace from the manifest (else `--namespace`, else `default`), service
//! account defaulted to `default` as the ServiceAccount admission plugin does.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};
use winkube_policy::{Admitted, Finding, ReviewContext, Severity, admit_pod, check_manifest_keys};

use winkube_state::documents::{Document, Source, describe};

use crate::documents::{InputError, to_yaml_stream};
use crate::evaluate::{self, EvalArgs};
use winkube_state::FileView;

/// Where the pod is inside an object of a given kind: `(group, kind)` → JSON pointer of the
/// pod template (`""` for a Pod itself).
fn template_pointer(api_version: &str, kind: &str) -> Option<&'static str> {
    let group = api_version.split_once('/').map_or("", |(g, _)| g);
    Some(match (group, kind) {
        ("", "Pod") => "",
        ("", "PodTemplate") => "/template",
        ("", "ReplicationController") => "/spec/template",
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => "/spec/template",
        ("batch", "Job") => "/spec/template",
        ("batch", "CronJob") => "/spec/jobTemplate/spec/template",
        _ => return None,
    })
}

/// Where the API server serves a kind `template_pointer` knows: (path prefix, plural).
pub fn api_resource(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "Pod" => ("api/v1", "pods"),
        "PodTemplate" => ("api/v1", "podtemplates"),
        "ReplicationController" => ("api/v1", "replicationcontrollers"),
        "Deployment" => ("apis/apps/v1", "deployments"),
        "ReplicaSet" => ("apis/apps/v1", "replicasets"),
        "StatefulSet" => ("apis/apps/v1", "statefulsets"),
        "DaemonSet" => ("apis/apps/v1", "daemonsets"),
        "Job" => ("apis/batch/v1", "jobs"),
        "CronJob" => ("apis/batch/v1", "cronjobs"),
        _ => return None,
    })
}

const SUPPORTED: &str = "Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController, PodTemplate or a List of them";

/// One pod to admit, taken from a document.
#[derive(Debug)]
pub struct Target {
    /// `Pod default/webapp` or `Deployment prod/web (pod template)`, for messages.
    pub label: String,
    /// The document's location (`file (document n)`).
    pub location: String,
    /// The object as findings name it: kind, name, where it was read from.
    pub kind: String,
    pub name: String,
    pub source: Source,
    /// The line the document starts on, when known.
    pub line: Option<usize>,
    /// Index in a `kind: List`'s items.
    pub item: Option<usize>,
    pub namespace: String,
    /// The pod as the API server would see it at CREATE.
    pub pod: Value,
    /// The service account was not set and has been defaulted: remove it again on output,
    /// the manifest should come back as written plus the webhook's changes.
    defaulted_service_account: bool,
    /// Metadata keys winkube added to build the request; removed again on output.
    added_metadata: Vec<&'static str>,
    /// Pointer of the pod template in the document (`""` for a Pod).
    pointer: &'static str,
}

impl Target {
    /// A workload's pod template, not a Pod.
    pub fn is_workload(&self) -> bool {
        !self.pointer.is_empty()
    }

    /// A field of the pod the policies evaluated, as a field of the object in the
    /// manifest: `spec.containers[0].image` of a Deployment's pod is
    /// `spec.template.spec.containers[0].image`.
    pub fn object_field(&self, pod_field: &str) -> String {
        object_field(self.pointer, pod_field)
    }
}

/// [`Target::object_field`] for a template pointer.
fn object_field(pointer: &str, pod_field: &str) -> String {
    match pointer_to_path(pointer) {
        None => pod_field.to_owned(),
        Some(prefix) if pod_field.is_empty() => prefix,
        Some(prefix) => format!("{prefix}.{pod_field}"),
    }
}

/// A document and the pods in it (several for a List).
#[derive(Debug)]
pub struct Input {
    pub doc: Document,
    /// For a List: (item index, targets of the item); otherwise one entry with index 0.
    pub targets: Vec<(Option<usize>, Target)>,
    /// Objects that are not pods or workloads (Namespaces, Services, ConfigMaps, CRDs...):
    /// `admit` prints them unchanged, `lint` counts them as skipped.
    pub others: usize,
    /// Those of `others` that are cluster state (credspecs, RBAC, ...), added to the view.
    pub state: usize,
}

/// Turns a document into pods to admit. Cluster state (credspecs, RBAC, service
/// accounts, nodes, RuntimeClasses, pull secrets) is added to `view`; any other kind
/// passes through. A pod or workload that cannot be read is an input error.
pub fn prepare(
    doc: Document,
    default_namespace: &str,
    view: &mut FileView,
) -> Result<Input, InputError> {
    let mut input = Input {
        doc,
        targets: Vec::new(),
        others: 0,
        state: 0,
    };
    let group = input
        .doc
        .api_version()
        .split_once('/')
        .map_or("", |(g, _)| g);
    if group.is_empty() && input.doc.kind() == "List" {
        let items = match input.doc.value.get("items") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(other) => {
                return Err(InputError(format!(
                    "{}: List `items` must be a list, got {}",
                    input.doc.location(),
                    describe(other)
                )));
            }
        };
        for (i, item) in items.into_iter().enumerate() {
            let item_doc = input.doc.list_item(i, item)?;
            input.add(Some(i), item_doc, default_namespace, view)?;
        }
    } else {
        let doc = input.doc.clone();
        input.add(None, doc, default_namespace, view)?;
    }
    Ok(input)
}

impl Input {
    fn add(
        &mut self,
        item: Option<usize>,
        doc: Document,
        default_namespace: &str,
        view: &mut FileView,
    ) -> Result<(), InputError> {
        if template_pointer(doc.api_version(), doc.kind()).is_some() {
            self.targets.push((item, target(&doc, default_namespace)?));
            return Ok(());
        }
        self.others += 1;
        if FileView::is_state(&doc) {
            self.state += 1;
            view.add_input(doc)?;
        }
        Ok(())
    }
}

fn target(doc: &Document, default_namespace: &str) -> Result<Target, InputError> {
    let Some(pointer) = template_pointer(doc.api_version(), doc.kind()) else {
        return Err(InputError(format!(
            "{}: {} {:?} ({}) is not a pod or workload: expected a {SUPPORTED}",
            doc.location(),
            doc.kind(),
            doc.name(),
            doc.api_version()
        )));
    };
    let namespace = doc.namespace().unwrap_or(default_namespace).to_owned();
    let is_pod = pointer.is_empty();
    let label = if is_pod {
        format!("Pod {namespace}/{}", doc.name())
    } else {
        format!("{} {namespace}/{} (pod template)", doc.kind(), doc.name())
    };
    let template = doc.value.pointer(pointer).ok_or_else(|| {
        InputError(format!(
            "{}: {label}: missing {}",
            doc.location(),
            pointer_to_path(pointer).unwrap_or_default()
        ))
    })?;
    // The API server reads manifests with exact keys, the gMSA policy folds them as Go does:
    // a key that means a field to one and nothing to the other is refused.
    if let Err(mut e) = check_manifest_keys(template) {
        if let Some(prefix) = pointer_to_path(pointer) {
            e.path = if e.path.is_empty() {
                prefix
            } else {
                format!("{prefix}.{}", e.path)
            };
        }
        return Err(InputError(format!("{}: {label}: {e}", doc.location())));
    }
    let spec = match template.get("spec") {
        Some(spec @ Value::Object(_)) => spec.clone(),
        Some(other) => {
            return Err(InputError(format!(
                "{}: {label}: {}spec must be a mapping, got {}",
                doc.location(),
                pointer_to_path(pointer).map_or(String::new(), |p| format!("{p}.")),
                describe(other)
            )));
        }
        None => {
            return Err(InputError(format!(
                "{}: {label}: missing {}spec",
                doc.location(),
                pointer_to_path(pointer).map_or(String::new(), |p| format!("{p}."))
            )));
        }
    };
    let mut metadata = match template.get("metadata") {
        Some(Value::Object(m)) => m.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(other) => {
            return Err(InputError(format!(
                "{}: {label}: pod metadata must be a mapping, got {}",
                doc.location(),
                describe(other)
            )));
        }
    };
    let mut added_metadata = Vec::new();
    if !is_pod && !metadata.contains_key("name") && !metadata.contains_key("generateName") {
        // What the workload controller sends: a generated name, empty at mutation time.
        metadata.insert("generateName".into(), json!(format!("{}-", doc.name())));
        added_metadata.push("generateName");
    }
    if metadata.get("namespace").and_then(Value::as_str) != Some(namespace.as_str()) {
        if !metadata.contains_key("namespace") {
            added_metadata.push("namespace");
        }
        metadata.insert("namespace".into(), json!(namespace));
    }
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec});
    let defaulted_service_account = default_service_account(&mut pod);
    Ok(Target {
        label,
        location: doc.location(),
        kind: doc.kind().to_owned(),
        name: doc.name().to_owned(),
        source: doc.source.clone(),
        line: doc.line,
        item: doc.item,
        namespace,
        pod,
        defaulted_service_account,
        added_metadata,
        pointer,
    })
}

fn pointer_to_path(pointer: &str) -> Option<String> {
    (!pointer.is_empty()).then(|| pointer.trim_start_matches('/').replace('/', "."))
}

/// The ServiceAccount admission plugin: `serviceAccountName` from the deprecated
/// `serviceAccount`, else `default`. Returns whether the field was absent.
fn default_service_account(pod: &mut Value) -> bool {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return false;
    };
    let current = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !current.is_empty() {
        return false;
    }
    let name = spec
        .get("serviceAccount")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_owned();
    spec.insert("serviceAccountName".into(), json!(name));
    true
}

/// The result of admitting one target.
#[derive(Debug)]
pub struct Verdict {
    pub admitted: Admitted,
    /// Warnings winkube adds itself (state consistency), after the policies' own.
    pub extra_warnings: Vec<Finding>,
}

/// Where the view's cluster state came from, for the warnings about what it lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateSource {
    /// No `--state` and none among the inputs.
    None,
    /// `--state` or state objects among the inputs.
    Files,
    /// A live cluster (`winkube audit`).
    Cluster,
}

/// Admits one pod against `view`. `hostname` is the random hostname to offer when
/// `--random-hostname` is on. With cluster state given, a service account missing from it
/// is worth a warning.
pub async fn admit_target(
    target: &Target,
    view: &FileView,
    state: StateSource,
    hostname: Option<String>,
) -> Verdict {
    let ctx = ReviewContext {
        random_hostname: hostname,
    };
    let admitted = admit_pod(&target.pod, &target.namespace, view, &ctx).await;
    let mut extra_warnings = Vec::new();
    if state != StateSource::None {
        let sa = target
            .pod
            .pointer("/spec/serviceAccountName")
            .and_then(Value::as_str)
            .unwrap_or("default");
        if !view.has_service_account(&target.namespace, sa) {
            extra_warnings.push(
                Finding::new(
                    "state/service-account-not-found",
                    Severity::Warning,
                    format!(
                        "service account \"{}/{sa}\" {}; the API server refuses pods whose service account does not exist",
                        target.namespace,
                        if state == StateSource::Cluster {
                            "does not exist in the cluster"
                        } else {
                            "is not in the state directory"
                        }
                    ),
                )
                .at(Some("spec.serviceAccountName".to_owned())),
            );
        }
    }
    if !admitted.allowed && admitted.code == 404 && view.credspec_count() == 0 {
        // The usual cause: no --state at all, a state directory without credspecs, or a
        // cluster without the CRD.
        let message = match state {
            StateSource::Cluster => "the cluster has no GMSACredentialSpec (is the CRD installed? `winkube doctor` checks it)".to_owned(),
            StateSource::Files | StateSource::None => format!(
                "the cluster state has no GMSACredentialSpec ({}): build a state directory from the cluster with `{}` and pass --state state/ (see README, \"Cluster state\")",
                if state == StateSource::Files {
                    "none in --state or among the inputs"
                } else {
                    "no --state given, and none among the inputs"
                },
                crate::evaluate::STATE_HOWTO
            ),
        };
        extra_warnings.push(Finding::new(
            "state/no-credspecs",
            Severity::Warning,
            message,
        ));
    }
    Verdict {
        admitted,
        extra_warnings,
    }
}

/// Writes an admitted pod back into its document: the whole object for a Pod, the
/// template's spec and metadata for a workload.
pub fn write_back(doc: &mut Value, item: Option<usize>, target: &Target, admitted_pod: &Value) {
    let mut pod = admitted_pod.clone();
    if target.defaulted_service_account
        && let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.remove("serviceAccountName");
    }
    let object = match item {
        Some(i) => match doc.pointer_mut(&format!("/items/{i}")) {
            Some(o) => o,
            None => return,
        },
        None => doc,
    };
    if let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in &target.added_metadata {
            meta.remove(*key);
        }
    }
    let Some(dest) = object
        .pointer_mut(target.pointer)
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for key in ["metadata", "spec"] {
        match pod.get(key) {
            Some(Value::Object(m))
                if key == "metadata" && m.is_empty() && !dest.contains_key(key) => {}
            Some(v) => {
                dest.insert(key.into(), v.clone());
            }
            None => {}
        }
    }
}

/// The 15-character random hostname the reference generates: a lowercase UUIDv4 cut to
/// 15 characters (`xxxxxxxx-xxxx-4`), NetBIOS's computer-name limit.
pub fn random_hostname() -> String {
    let mut s = uuid::Uuid::new_v4().hyphenated().to_string();
    s.truncate(15);
    s
}

pub const ABOUT: &str =
    "Run the admission webhook's decision (gMSA, Windows policies) on manifests, without a cluster";

pub const LONG: &str = "\
Run the admission webhook's decision on manifests, without a cluster.

Inputs are files, directories (read recursively: *.yaml, *.yml, *.json) and `-` for
standard input, as arguments or with kubectl's -f/--filename (repeatable; -R is accepted).
Each holds YAML documents or JSON objects, such as `helm template` output. Pods are
admitted as they are; Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs,
ReplicationControllers and PodTemplates through their pod template, as the pod their
controller would create; `kind: List` items one by one. Any other object (Namespace,
Service, ConfigMap, CRD...) passes through unchanged. Cluster state among the inputs
(credspecs, RBAC, service accounts, nodes, RuntimeClasses, pull secrets) is used as well
as --state. In a directory, files that are not Kubernetes manifests (Helm values,
Chart.yaml, kustomization.yaml) are skipped with a note.

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
identity the webhook's SubjectAccessReview uses. Without --state the cluster is empty;
build a state directory from a cluster with
  mkdir -p state && kubectl get gmsacredentialspecs,clusterroles,clusterrolebindings,roles,rolebindings,nodes,runtimeclasses -A -o yaml > state/cluster.yaml

Output, safe to apply: Pods as admission changes them (credspec contents inlined,
scheduling added); every other object as the API server would store it, so workloads come
back unchanged: the webhook changes the pods a workload creates, never the workload (a
template with the contents baked in would break every later pod once the credspec
changes). --show-pods prints, instead of each workload, the pod its controller would
create as admission changes it (to read, not to apply). YAML (or JSON with -o json) on
stdout; warnings and denials on stderr, e.g. `denied (403): service account \"web\" is
not authorized to `use` GMSA cred spec \"gmsa-webapp-1\"`. Every input is processed and
reported; denied objects are not printed.

Exit codes: 0 all admitted, 1 at least one denied, 2 bad usage or input (a file that does
not parse is named with its line, the rest is still checked, and nothing is printed on
stdout).";

pub const EXAMPLES: &str = "\
Examples:
  winkube admit --state examples/state examples/webapp-pod.yaml
  kubectl get deploy web -o yaml | winkube admit --state cluster-state/ -
  helm template my-release ./chart | winkube admit --state cluster-state/ -
  winkube admit --state cluster-state/ --namespace prod -o json -f k8s/ -R
  winkube admit --state examples/state --policy examples/policy.yaml --offline examples/windows/iis-pod.yaml
  winkube admit --state examples/state --show-pods examples/webapp-deployment.yaml
  helm template web ./chart | winkube admit --state cluster-state/ --offline --diff -";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Yaml,
    Json,
}

/// Flags of `winkube admit`.
#[derive(Args)]
pub struct AdmitArgs {
    #[command(flatten)]
    pub eval: EvalArgs,
    /// Give gMSA pods without a hostname a random 15-character one, as the webhook's
    /// --random-hostname and RANDOM_HOSTNAME=true (Go ParseBool syntax: --random-hostname,
    /// --random-hostname=false)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = crate::config::parse_go_bool)]
    pub random_hostname: bool,
    /// Output format of the admitted objects
    #[arg(long, short = 'o', value_enum, default_value = "yaml")]
    pub output: OutputFormat,
    /// Print, instead of each workload, the pod its controller would create as admission
    /// changes it (not for applying: the workload itself is never changed)
    #[arg(long)]
    pub show_pods: bool,
    /// Print a unified diff per input of what admission changes (the object as written
    /// against the object as admitted; for a workload, its pod template) instead of the
    /// admitted objects. Unchanged inputs print nothing; exit codes are unchanged
    #[arg(long, conflicts_with = "show_pods")]
    pub diff: bool,
}

pub fn run(args: AdmitArgs) -> ExitCode {
    // Everything is read and checked before anything is admitted; with an input error,
    // the rest is still checked but nothing is printed on stdout.
    let (loaded, runtime) = match evaluate::prepare(&args.eval) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut admitted_docs = Vec::new();
    let mut diffs = String::new();
    let paint = crate::lint::Paint(args.diff && crate::logging::colours_on(&std::io::stdout()));
    let mut denied = 0usize;
    for input in &loaded.inputs {
        let mut value = input.doc.value.clone();
        // With --diff, a workload's template gets the changes its pods would get.
        let mut changed = args.diff.then(|| input.doc.value.clone());
        let mut all_admitted = true;
        for (item, target) in &input.targets {
            let hostname = args.random_hostname.then(random_hostname);
            let result = runtime.block_on(evaluate::evaluate(&loaded, target, hostname));
            let who = format!("{}: {}", target.location, target.label);
            let found = crate::findings::collect(target, &result);
            let tag = |severity: Severity| {
                found
                    .iter()
                    .filter(|f| f.severity == severity)
                    .map(|f| match &f.field {
                        Some(field) => format!("{} at {field}", f.rule.id),
                        None => f.rule.id.to_owned(),
                    })
                    .collect::<Vec<_>>()
            };
            let warnings = found.iter().filter(|f| f.severity == Severity::Warning);
            for (w, tag) in warnings.zip(tag(Severity::Warning)) {
                eprintln!("{who}: warning: {} [{tag}]", w.message);
            }
            if let Some(changed) = changed.as_mut()
                && result.denial().is_none()
            {
                write_back(changed, *item, target, result.pod());
                continue;
            }
            match result.denial() {
                None if !target.is_workload() => {
                    write_back(&mut value, *item, target, result.pod());
                }
                None if args.show_pods => replace(&mut value, *item, result.pod().clone()),
                None => {
                    let changes = json_patch::diff(&target.pod, result.pod()).0.len();
                    if changes > 0 {
                        eprintln!(
                            "{who}: admitted; printed unchanged, as the API server stores it: each pod it creates would get {changes} change{} (--show-pods prints that pod)",
                            if changes == 1 { "" } else { "s" }
                        );
                    }
                }
                Some((code, message)) => {
                    all_admitted = false;
                    denied += 1;
                    let rules = tag(Severity::Error);
                    if rules.is_empty() {
                        eprintln!("{who}: denied ({code}): {message}");
                    } else {
                        eprintln!("{who}: denied ({code}): {message} [{}]", rules.join("; "));
                    }
                }
            }
        }
        if let Some(changed) = &changed {
            let name = match input.targets.as_slice() {
                [(_, t)] => format!("{}: {}", t.location, t.label),
                [(_, t), ..] => format!("{} ({} objects)", t.location, input.targets.len()),
                [] => continue,
            };
            match crate::diff::unified(&input.doc.value, changed, &name, args.output, paint) {
                Ok(Some(d)) => diffs.push_str(&d),
                Ok(None) => {}
                Err(e) => {
                    eprintln!("error: cannot render the diff of {name}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        } else if all_admitted {
            admitted_docs.push(value);
        }
    }
    if !loaded.input_errors.is_empty() {
        // Half a stream would be applied as if it were all of it.
        eprintln!(
            "error: {} input error{}: nothing printed",
            loaded.input_errors.len(),
            if loaded.input_errors.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        return evaluate::exit_code(&loaded, denied);
    }

    if args.diff {
        if let Err(code) = evaluate::write_stdout(&diffs) {
            return code;
        }
        return evaluate::exit_code(&loaded, denied);
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
    if let Err(code) = evaluate::write_stdout(&out) {
        return code;
    }
    evaluate::exit_code(&loaded, denied)
}

/// Replaces the document (or its List item) with `object`.
fn replace(doc: &mut Value, item: Option<usize>, object: Value) {
    let dest = match item {
        Some(i) => doc.pointer_mut(&format!("/items/{i}")),
        None => Some(doc),
    };
    if let Some(dest) = dest {
        *dest = object;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use winkube_state::documents::{Source, parse_documents};

    fn doc(yaml: &str) -> Document {
        parse_documents(&Source::File("w.yaml".into()), yaml)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn deployment_template_becomes_a_pod_with_defaults() {
        let input = prepare(
            doc("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: i}]}\n"),
            "default",
            &mut FileView::empty(),
        )
        .unwrap();
        let t = &input.targets[0].1;
        assert_eq!(t.namespace, "prod");
        assert_eq!(t.label, "Deployment prod/web (pod template)");
        assert_eq!(t.pod["metadata"]["generateName"], "web-");
        assert_eq!(t.pod["spec"]["serviceAccountName"], "default");
        assert_eq!(t.pod["kind"], "Pod");
    }

    #[test]
    fn cronjob_and_deprecated_service_account() {
        let input = prepare(
            doc("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec: {serviceAccount: batch, containers: []}\n"),
            "ops",
            &mut FileView::empty(),
        )
        .unwrap();
        let t = &input.targets[0].1;
        assert_eq!(t.namespace, "ops");
        assert_eq!(t.pod["spec"]["serviceAccountName"], "batch");
    }

    #[test]
    fn other_kinds_pass_through_and_state_kinds_feed_the_view() {
        let mut view = FileView::empty();
        let input = prepare(
            doc("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"),
            "default",
            &mut view,
        )
        .unwrap();
        assert!(input.targets.is_empty());
        assert_eq!((input.others, input.state), (1, 0));
        let input = prepare(
            doc("apiVersion: v1\nkind: List\nitems:\n- apiVersion: windows.k8s.io/v1\n  kind: GMSACredentialSpec\n  metadata: {name: cs}\n  credspec: {CmsPlugins: [ActiveDirectory]}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n  spec: {containers: []}\n"),
            "default",
            &mut view,
        )
        .unwrap();
        assert_eq!(input.targets.len(), 1);
        assert_eq!(input.targets[0].0, Some(2));
        assert_eq!((input.others, input.state), (2, 1));
        assert_eq!(view.credspec_count(), 1);
    }

    #[test]
    fn missing_specs_are_input_errors() {
        let e = prepare(
            doc("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n"),
            "default",
            &mut FileView::empty(),
        )
        .unwrap_err();
        assert_eq!(
            e.0,
            "w.yaml (document 1): Deployment default/d (pod template): missing spec.template"
        );
        let e = prepare(
            doc("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"),
            "default",
            &mut FileView::empty(),
        )
        .unwrap_err();
        assert_eq!(e.0, "w.yaml (document 1): Pod default/p: missing spec");
    }

    #[test]
    fn write_back_restores_absent_service_account() {
        let d = doc(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec: {containers: [{name: c}]}\n",
        );
        let mut value = d.value.clone();
        let input = prepare(d, "default", &mut FileView::empty()).unwrap();
        let t = &input.targets[0].1;
        let mut pod = t.pod.clone();
        pod["spec"]["hostname"] = json!("h");
        write_back(&mut value, None, t, &pod);
        assert_eq!(value["spec"]["template"]["spec"]["hostname"], "h");
        assert!(
            value["spec"]["template"]["spec"]
                .get("serviceAccountName")
                .is_none()
        );
    }

    #[test]
    fn pod_fields_map_back_through_the_template() {
        let field = "spec.containers[0].securityContext.windowsOptions.runAsUserName";
        for (api_version, kind, want) in [
            ("v1", "Pod", field.to_owned()),
            ("apps/v1", "Deployment", format!("spec.template.{field}")),
            ("apps/v1", "StatefulSet", format!("spec.template.{field}")),
            ("apps/v1", "DaemonSet", format!("spec.template.{field}")),
            ("apps/v1", "ReplicaSet", format!("spec.template.{field}")),
            ("batch/v1", "Job", format!("spec.template.{field}")),
            (
                "batch/v1",
                "CronJob",
                format!("spec.jobTemplate.spec.template.{field}"),
            ),
            (
                "v1",
                "ReplicationController",
                format!("spec.template.{field}"),
            ),
            ("v1", "PodTemplate", format!("template.{field}")),
        ] {
            let pointer = template_pointer(api_version, kind).unwrap();
            assert_eq!(object_field(pointer, field), want, "{kind}");
        }
        // A finding about the whole pod is about the template.
        assert_eq!(object_field("/spec/template", ""), "spec.template");
        assert_eq!(object_field("", ""), "");
        // Metadata of the pod is the template's metadata.
        assert_eq!(
            object_field("/spec/template", "metadata.labels"),
            "spec.template.metadata.labels"
        );
    }

    #[test]
    fn targets_know_their_object_and_line() {
        let docs = parse_documents(
            &Source::File("d.yaml".into()),
            "# Source: chart/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n# Source: chart/templates/web.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  template:\n    spec: {containers: [{name: c, image: i}]}\n",
        )
        .unwrap();
        let input = prepare(docs[1].clone(), "default", &mut FileView::empty()).unwrap();
        let t = &input.targets[0].1;
        assert_eq!(
            (t.kind.as_str(), t.name.as_str(), t.line, t.item),
            ("Deployment", "web", Some(7), None)
        );
        assert_eq!(
            t.object_field("spec.containers[0].image"),
            "spec.template.spec.containers[0].image"
        );
    }

    #[test]
    fn random_hostname_shape() {
        let h = random_hostname();
        assert_eq!(h.len(), 15);
        assert!(h.ends_with("-4"), "{h}");
        assert_eq!(h.as_bytes()[8], b'-');
        assert!(
            h.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase() || c == '-')
        );
    }
}
