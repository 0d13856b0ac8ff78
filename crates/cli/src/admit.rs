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
use winkube_policy::{Admitted, ClusterView, ReviewContext, admit_pod, check_manifest_keys};

use winkube_state::documents::{Document, describe};

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

const SUPPORTED: &str = "Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController, PodTemplate or a List of them";

/// One pod to admit, taken from a document.
#[derive(Debug)]
pub struct Target {
    /// `Pod default/webapp` or `Deployment prod/web (pod template)`, for messages.
    pub label: String,
    /// The document's location (`file (document n)`).
    pub location: String,
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

/// A document and the pods in it (several for a List).
#[derive(Debug)]
pub struct Input {
    pub doc: Document,
    /// For a List: (item index, targets of the item); otherwise one entry with index 0.
    pub targets: Vec<(Option<usize>, Target)>,
}

/// Turns a document into pods to admit. Anything that is not a pod or a workload is an
/// input error: admitting a Service would silently prove nothing.
pub fn prepare(doc: Document, default_namespace: &str) -> Result<Input, InputError> {
    let mut targets = Vec::new();
    let group = doc.api_version().split_once('/').map_or("", |(g, _)| g);
    if group.is_empty() && doc.kind() == "List" {
        let items = match doc.value.get("items") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(other) => {
                return Err(InputError(format!(
                    "{}: List `items` must be a list, got {}",
                    doc.location(),
                    describe(other)
                )));
            }
        };
        for (i, item) in items.into_iter().enumerate() {
            let item_doc = doc.list_item(i, item)?;
            targets.push((Some(i), target(&item_doc, default_namespace)?));
        }
    } else {
        targets.push((None, target(&doc, default_namespace)?));
    }
    Ok(Input { doc, targets })
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
    pub extra_warnings: Vec<String>,
}

/// Admits one pod against `view`. `hostname` is the random hostname to offer when
/// `--random-hostname` is on.
pub async fn admit_target<V: ClusterView>(
    target: &Target,
    view: &V,
    state: Option<&FileView>,
    hostname: Option<String>,
) -> Verdict {
    let ctx = ReviewContext {
        random_hostname: hostname,
    };
    let admitted = admit_pod(&target.pod, &target.namespace, view, &ctx).await;
    let mut extra_warnings = Vec::new();
    if let Some(state) = state {
        let sa = target
            .pod
            .pointer("/spec/serviceAccountName")
            .and_then(Value::as_str)
            .unwrap_or("default");
        if !state.has_service_account(&target.namespace, sa) {
            extra_warnings.push(format!(
                "service account \"{}/{sa}\" is not in the state directory; the API server refuses pods whose service account does not exist",
                target.namespace
            ));
        }
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

pub const ABOUT: &str = "Run the admission webhook's decision (gMSA, Windows policies) on manifest files, without a cluster";

pub const LONG: &str = "\
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

pub const EXAMPLES: &str = "\
Examples:
  winkube admit --state examples/state examples/webapp-pod.yaml
  kubectl get deploy web -o yaml | winkube admit --state cluster-state/ -
  winkube admit --state cluster-state/ --namespace prod -o json k8s/*.yaml
  winkube admit --state examples/state --policy examples/policy.yaml --offline examples/windows/web.yaml";

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
    /// Give gMSA pods without a hostname a random 15-character one, as RANDOM_HOSTNAME=true
    #[arg(long)]
    pub random_hostname: bool,
    /// Output format of the admitted objects
    #[arg(long, short = 'o', value_enum, default_value = "yaml")]
    pub output: OutputFormat,
}

pub fn run(args: AdmitArgs) -> ExitCode {
    // Everything is read and checked before anything is admitted: bad input prints
    // nothing on stdout.
    let (loaded, runtime) = match evaluate::prepare(&args.eval) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut admitted_docs = Vec::new();
    let mut denied = 0usize;
    for input in &loaded.inputs {
        let mut value = input.doc.value.clone();
        let mut all_admitted = true;
        for (item, target) in &input.targets {
            let hostname = args.random_hostname.then(random_hostname);
            let result = runtime.block_on(evaluate::evaluate(&loaded, target, hostname));
            let who = format!("{}: {}", target.location, target.label);
            for w in result.warnings() {
                eprintln!("{who}: warning: {w}");
            }
            match result.denial() {
                None => write_back(&mut value, *item, target, result.pod()),
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
    if let Err(code) = evaluate::write_stdout(&out) {
        return code;
    }
    evaluate::exit_code(denied)
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
        )
        .unwrap();
        let t = &input.targets[0].1;
        assert_eq!(t.namespace, "ops");
        assert_eq!(t.pod["spec"]["serviceAccountName"], "batch");
    }

    #[test]
    fn non_workloads_and_missing_specs_are_input_errors() {
        let e = prepare(
            doc("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"),
            "default",
        )
        .unwrap_err();
        assert!(
            e.0.starts_with("w.yaml (document 1): Service \"s\" (v1) is not a pod or workload"),
            "{e}"
        );
        let e = prepare(
            doc("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n"),
            "default",
        )
        .unwrap_err();
        assert_eq!(
            e.0,
            "w.yaml (document 1): Deployment default/d (pod template): missing spec.template"
        );
        let e = prepare(
            doc("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"),
            "default",
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
        let input = prepare(d, "default").unwrap();
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
