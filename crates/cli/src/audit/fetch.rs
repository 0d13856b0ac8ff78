//! What `winkube audit` reads from the cluster, once, every list paged: the cluster state
//! the policies consult (credspecs, RBAC, service accounts, nodes, RuntimeClasses, pull
//! secrets when asked), then the pods and workloads to audit.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Node, Pod, ReplicationController, Secret, ServiceAccount};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;

use super::progress::Progress;
use crate::doctor::fetch::{FetchError, list_pages, not_found_is_none};

/// What audit reads, for a 403 (the ClusterRole is in `winkube audit --help`).
const AUDIT_NEEDS: &str = "winkube audit needs list on pods, workloads and the cluster state the policies read (the ClusterRole in `winkube audit --help`)";

/// The kinds audited, in report order.
pub const WORKLOAD_KINDS: [&str; 8] = [
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicationController",
];

/// One kind to list: its resource, whether it is namespaced, and how messages name it.
struct Kind {
    resource: ApiResource,
    namespaced: bool,
    what: &'static str,
}

fn kind<K>(what: &'static str) -> Kind
where
    K: kube::Resource<DynamicType = ()>,
    K::Scope: 'static,
{
    use std::any::TypeId;
    Kind {
        resource: ApiResource::erase::<K>(&()),
        namespaced: TypeId::of::<K::Scope>() == TypeId::of::<k8s_openapi::NamespaceResourceScope>(),
        what,
    }
}

/// Everything audit reads, as JSON objects with `apiVersion` and `kind` set.
#[derive(Debug, Default)]
pub struct ClusterObjects {
    pub state: Vec<Value>,
    pub workloads: Vec<Value>,
}

/// Reads the state, then the workloads; `namespace` limits the namespaced lists.
pub async fn read(
    client: &kube::Client,
    namespace: Option<&str>,
    page_size: u32,
    pull_secrets: bool,
    progress: &mut Progress,
) -> Result<ClusterObjects, FetchError> {
    let mut out = ClusterObjects::default();
    // Absent when the CRD is not installed: no credspec, every gMSA pod is then denied.
    let credspec = Kind {
        resource: ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("windows.k8s.io", "v1", "GMSACredentialSpec"),
            "gmsacredentialspecs",
        ),
        namespaced: false,
        what: "GMSACredentialSpecs",
    };
    let params = ListParams::default();
    out.state.extend(
        list(
            client,
            &credspec,
            namespace,
            params.clone(),
            page_size,
            progress,
            true,
        )
        .await?,
    );
    let state = [
        kind::<ClusterRole>("ClusterRoles"),
        kind::<ClusterRoleBinding>("ClusterRoleBindings"),
        kind::<Role>("Roles"),
        kind::<RoleBinding>("RoleBindings"),
        kind::<ServiceAccount>("ServiceAccounts"),
        kind::<Node>("Nodes"),
        kind::<RuntimeClass>("RuntimeClasses"),
    ];
    for k in &state {
        let objects = list(
            client,
            k,
            namespace,
            params.clone(),
            page_size,
            progress,
            false,
        );
        out.state.extend(objects.await?);
    }
    if pull_secrets {
        let secrets = kind::<Secret>("pull secrets");
        for ty in ["kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"] {
            let params = ListParams::default().fields(&format!("type={ty}"));
            let objects = list(
                client, &secrets, namespace, params, page_size, progress, false,
            );
            out.state.extend(objects.await?);
        }
    }
    let workloads = [
        kind::<Pod>("pods"),
        kind::<Deployment>("Deployments"),
        kind::<ReplicaSet>("ReplicaSets"),
        kind::<StatefulSet>("StatefulSets"),
        kind::<DaemonSet>("DaemonSets"),
        kind::<Job>("Jobs"),
        kind::<CronJob>("CronJobs"),
        kind::<ReplicationController>("ReplicationControllers"),
    ];
    for k in &workloads {
        let objects = list(
            client,
            k,
            namespace,
            params.clone(),
            page_size,
            progress,
            false,
        );
        out.workloads.extend(objects.await?);
    }
    Ok(out)
}

/// Every object of one kind, paged; `optional`: a 404 (the type is not served) is none.
async fn list(
    client: &kube::Client,
    kind: &Kind,
    namespace: Option<&str>,
    params: ListParams,
    page_size: u32,
    progress: &mut Progress,
    optional: bool,
) -> Result<Vec<Value>, FetchError> {
    let api: Api<DynamicObject> = match namespace {
        Some(ns) if kind.namespaced => Api::namespaced_with(client.clone(), ns, &kind.resource),
        _ => Api::all_with(client.clone(), &kind.resource),
    };
    let result = list_pages(&api, params, page_size, |n| progress.listed(n)).await;
    let result = if optional {
        not_found_is_none(result).map(Option::unwrap_or_default)
    } else {
        result
    };
    let what = match namespace {
        Some(ns) if kind.namespaced => format!("list {} in namespace {ns}", kind.what),
        _ => format!("list {}", kind.what),
    };
    let objects = result.map_err(|source| FetchError {
        what,
        source,
        needs: AUDIT_NEEDS,
    })?;
    Ok(objects
        .into_iter()
        .filter_map(|o| to_value(o, &kind.resource))
        .collect())
}

/// The object as a manifest: list items carry no `apiVersion` and `kind` on the API
/// server, so they are set from the list; managedFields, large and unread, are dropped.
fn to_value(object: DynamicObject, resource: &ApiResource) -> Option<Value> {
    let mut v = serde_json::to_value(object).ok()?;
    let map = v.as_object_mut()?;
    map.insert("apiVersion".into(), resource.api_version.clone().into());
    map.insert("kind".into(), resource.kind.clone().into());
    if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    Some(v)
}
