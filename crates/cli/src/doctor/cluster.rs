//! The cluster-wide checks (the GMSACredentialSpec CRD, winkube's webhook configurations and
//! their Service, the credspecs running pods name) and the report that gathers them with the
//! node checks: pure functions over the objects `fetch` read.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Serialize;

use super::checks::{Check, ObjectRef, Status};
use super::fetch::Snapshot;
use super::node::{NodeContext, node_checks};
use super::pods::containers;
use super::version::Version;
use crate::manifests::{NAME, WINDOWS_NAME};

/// The GMSACredentialSpec CRD's name.
pub const CRD_NAME: &str = "gmsacredentialspecs.windows.k8s.io";

pub fn crd_check(crd: Option<&CustomResourceDefinition>) -> Check {
    let id = "cluster.crd";
    let obj = ObjectRef::cluster("CustomResourceDefinition", CRD_NAME);
    let fix = "winkube manifests crd | kubectl apply -f -";
    let Some(crd) = crd else {
        return Check::problem(id, Status::Fail, &obj, "not installed", fix);
    };
    let v1 = crd.spec.versions.iter().find(|v| v.name == "v1");
    let storage: Vec<&str> = crd
        .spec
        .versions
        .iter()
        .filter(|v| v.storage)
        .map(|v| v.name.as_str())
        .collect();
    let problem = match v1 {
        None => Some("has no version v1".to_owned()),
        Some(v) if !v.served => Some("does not serve v1".to_owned()),
        Some(v) if !v.storage => Some(format!(
            "stores {} instead of v1",
            if storage.is_empty() {
                "no version".to_owned()
            } else {
                storage.join(", ")
            }
        )),
        Some(_) => None,
    };
    if let Some(p) = problem {
        return Check::problem(id, Status::Fail, &obj, p, fix);
    }
    let established = crd
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Established"));
    if established.is_some_and(|c| c.status != "True") {
        return Check::problem(
            id,
            Status::Warn,
            &obj,
            "v1 served and stored, but the CRD is not Established",
            format!("kubectl describe crd {CRD_NAME}"),
        );
    }
    Check::pass(id, &obj, "v1 served and stored")
}

/// One webhook of a configuration, mutating or validating alike.
struct Entry<'a> {
    name: &'a str,
    client: &'a WebhookClientConfig,
}

/// The webhooks of a configuration, mutating or validating alike.
fn entries<'a, W>(
    webhooks: Option<&'a [W]>,
    parts: impl Fn(&'a W) -> (&'a String, &'a WebhookClientConfig),
) -> Vec<Entry<'a>> {
    webhooks
        .unwrap_or_default()
        .iter()
        .map(|w| {
            let (name, client) = parts(w);
            Entry { name, client }
        })
        .collect()
}

/// The webhook configurations winkube installs: `winkube` (required), and `winkube-windows`
/// (with --windows-policies; checked when present).
pub fn webhook_checks(
    mutating: &BTreeMap<String, MutatingWebhookConfiguration>,
    validating: &BTreeMap<String, ValidatingWebhookConfiguration>,
    namespace: &str,
) -> Vec<Check> {
    let mut out = Vec::new();
    for (name, required) in [(NAME, true), (WINDOWS_NAME, false)] {
        let m = mutating
            .get(name)
            .map(|c| entries(c.webhooks.as_deref(), |w| (&w.name, &w.client_config)));
        let v = validating
            .get(name)
            .map(|c| entries(c.webhooks.as_deref(), |w| (&w.name, &w.client_config)));
        if !required && m.is_none() && v.is_none() {
            continue;
        }
        for (kind, entries) in [
            ("MutatingWebhookConfiguration", m),
            ("ValidatingWebhookConfiguration", v),
        ] {
            out.push(configuration_check(kind, name, entries, namespace));
        }
    }
    out
}

fn configuration_check(
    kind: &str,
    name: &str,
    entries: Option<Vec<Entry<'_>>>,
    namespace: &str,
) -> Check {
    let id = "cluster.webhook-configuration";
    let obj = ObjectRef::cluster(kind, name);
    let windows = if name == WINDOWS_NAME {
        " --windows-policies"
    } else {
        ""
    };
    let Some(entries) = entries else {
        return Check::problem(
            id,
            Status::Fail,
            &obj,
            "not found: winkube's admission webhook is not installed",
            format!(
                "winkube manifests install --namespace {namespace}{windows} | kubectl apply -f -"
            ),
        );
    };
    if entries.is_empty() {
        return Check::problem(
            id,
            Status::Fail,
            &obj,
            "has no webhooks",
            format!(
                "winkube manifests install --namespace {namespace}{windows} | kubectl apply -f -"
            ),
        );
    }
    let empty: Vec<&str> = entries
        .iter()
        .filter(|e| e.client.ca_bundle.as_ref().is_none_or(|b| b.0.is_empty()))
        .map(|e| e.name)
        .collect();
    if !empty.is_empty() {
        return Check::problem(
            id,
            Status::Fail,
            &obj,
            format!(
                "empty caBundle on {}: the API server cannot verify the webhook's certificate, so every call to it fails",
                empty.join(", ")
            ),
            format!(
                "kubectl -n {namespace} rollout restart deployment {NAME} (self-managed certificates publish the caBundle at start-up; with cert-manager: kubectl -n {namespace} get certificate,certificaterequest)"
            ),
        );
    }
    let elsewhere: BTreeSet<String> = entries
        .iter()
        .filter_map(|e| e.client.service.as_ref())
        .filter(|s| s.namespace != namespace || s.name != NAME)
        .map(|s| format!("{}/{}", s.namespace, s.name))
        .collect();
    if let Some(first) = elsewhere.iter().next() {
        let ns = first.split('/').next().unwrap_or("");
        return Check::problem(
            id,
            Status::Warn,
            &obj,
            format!(
                "caBundle set, but the webhooks call Service {} rather than {namespace}/{NAME}",
                elsewhere.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            format!("winkube doctor --namespace {ns}"),
        );
    }
    Check::pass(
        id,
        &obj,
        format!(
            "{} webhook(s), caBundle set, calling Service {namespace}/{NAME}",
            entries.len()
        ),
    )
}

/// winkube's Service and its ready endpoints (EndpointSlices labelled with its name).
pub fn service_check(
    namespace: &str,
    service: Option<&Service>,
    slices: &[EndpointSlice],
) -> Check {
    let id = "cluster.webhook-service";
    let obj = ObjectRef::namespaced("Service", namespace, NAME);
    if service.is_none() {
        return Check::problem(
            id,
            Status::Fail,
            &obj,
            "not found: the webhook configurations have no Service to call",
            format!("winkube manifests install --namespace {namespace} | kubectl apply -f -"),
        );
    }
    let mine = slices.iter().filter(|s| {
        s.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name"))
            .is_some_and(|n| n == NAME)
    });
    let (mut ready, mut total) = (0usize, 0usize);
    for slice in mine {
        for e in slice.endpoints.iter().flatten() {
            total += 1;
            // EndpointConditions.ready: "nil should be interpreted as true".
            if e.conditions.as_ref().and_then(|c| c.ready) != Some(false) {
                ready += 1;
            }
        }
    }
    if ready == 0 {
        return Check::problem(
            id,
            Status::Fail,
            &obj,
            format!(
                "no ready endpoints ({total} endpoint(s) in its EndpointSlices): the API server's calls to the webhook fail"
            ),
            format!(
                "kubectl -n {namespace} get pods -l app.kubernetes.io/name={NAME} -o wide; kubectl -n {namespace} describe deployment {NAME}"
            ),
        );
    }
    Check::pass(id, &obj, format!("{ready} ready endpoint(s) of {total}"))
}

/// The credspec names a pod's securityContexts give (pod level, every container, init and
/// ephemeral ones included).
pub fn credspec_names(pod: &Pod) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(spec) = pod.spec.as_ref() else {
        return out;
    };
    let pod_level = spec
        .security_context
        .as_ref()
        .and_then(|s| s.windows_options.as_ref())
        .and_then(|w| w.gmsa_credential_spec_name.clone());
    out.extend(pod_level);
    for c in containers(pod) {
        out.extend(
            c.security_context
                .as_ref()
                .and_then(|s| s.windows_options.as_ref())
                .and_then(|w| w.gmsa_credential_spec_name.clone()),
        );
    }
    for c in spec.ephemeral_containers.iter().flatten() {
        out.extend(
            c.security_context
                .as_ref()
                .and_then(|s| s.windows_options.as_ref())
                .and_then(|w| w.gmsa_credential_spec_name.clone()),
        );
    }
    out.retain(|n| !n.is_empty());
    out
}

/// One check per credspec a running pod names: it must exist.
pub fn credspec_checks(pods: &[Pod], existing: &BTreeSet<String>) -> Vec<Check> {
    let id = "cluster.credspec";
    let mut named: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pod in pods {
        let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        if !running {
            continue;
        }
        let who = format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or(""),
            pod.metadata.name.as_deref().unwrap_or("")
        );
        for name in credspec_names(pod) {
            named.entry(name).or_default().push(who.clone());
        }
    }
    if named.is_empty() {
        return vec![Check::pass(
            id,
            &ObjectRef::cluster("GMSACredentialSpec", "*"),
            "no running pod names a credspec",
        )];
    }
    named
        .into_iter()
        .map(|(name, pods)| {
            let obj = ObjectRef::cluster("GMSACredentialSpec", &name);
            let n = pods.len();
            let shown = pods.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            let more = if n > 5 { format!(" and {} more", n - 5) } else { String::new() };
            if existing.contains(&name) {
                Check::pass(id, &obj, format!("exists; named by {n} running pod(s)"))
            } else {
                Check::problem(
                    id,
                    Status::Fail,
                    &obj,
                    format!("missing, but named by running pod(s) {shown}{more}: their containers cannot get the gMSA's identity when they restart"),
                    format!(
                        "winkube credspec import --name {name} <New-CredentialSpec JSON> | kubectl apply -f -"
                    ),
                )
            }
        })
        .collect()
}

/// The checks of one node.
#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    pub name: String,
    pub checks: Vec<Check>,
}

/// Every check of a run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub server_version: String,
    pub namespace: String,
    pub nodes: Vec<NodeReport>,
    pub cluster: Vec<Check>,
}

impl Report {
    pub fn all(&self) -> impl Iterator<Item = &Check> {
        self.nodes
            .iter()
            .flat_map(|n| n.checks.iter())
            .chain(self.cluster.iter())
    }

    pub fn count(&self, status: Status) -> usize {
        self.all().filter(|c| c.status == status).count()
    }
}

/// The report of a snapshot: the node checks of every Windows node (by name), then the
/// cluster checks.
pub fn report(snapshot: &Snapshot, namespace: &str, taint: &winkube_api::windows::Taint) -> Report {
    let ctx = NodeContext {
        server: Version::parse(&snapshot.server_version),
        server_text: &snapshot.server_version,
        runtime_classes: &snapshot.runtime_classes,
        taint,
    };
    let mut nodes: Vec<NodeReport> = snapshot
        .nodes
        .iter()
        .map(|n| {
            let name = n.metadata.name.clone().unwrap_or_default();
            let pods = snapshot
                .pods
                .get(&name)
                .map(Vec::as_slice)
                .unwrap_or_default();
            NodeReport {
                checks: node_checks(n, pods, &ctx),
                name,
            }
        })
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let mut cluster = Vec::new();
    if nodes.is_empty() {
        cluster.push(Check::problem(
            "cluster.windows-nodes",
            Status::Warn,
            &ObjectRef::cluster("Node", "*"),
            "no Windows nodes (label kubernetes.io/os=windows)",
            "kubectl get nodes -L kubernetes.io/os",
        ));
    }
    cluster.push(crd_check(snapshot.crd.as_ref()));
    cluster.extend(webhook_checks(
        &snapshot.mutating,
        &snapshot.validating,
        namespace,
    ));
    cluster.push(service_check(
        namespace,
        snapshot.service.as_ref(),
        &snapshot.endpoint_slices,
    ));
    let pods: Vec<Pod> = snapshot.pods.values().flatten().cloned().collect();
    cluster.extend(credspec_checks(&pods, &snapshot.credspecs));
    Report {
        server_version: snapshot.server_version.clone(),
        namespace: namespace.to_owned(),
        nodes,
        cluster,
    }
}
