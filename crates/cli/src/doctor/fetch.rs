//! What `winkube doctor` reads from the cluster, read once into a [`Snapshot`]: every list
//! paged (`limit`/`continue`), the pods of each Windows node by field selector, and only
//! winkube's own webhook configurations, Service and EndpointSlices.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde::de::DeserializeOwned;
use winkube_api::windows::{LABEL_OS, OS_WINDOWS};

use super::cluster::CRD_NAME;
use crate::manifests::{NAME, WINDOWS_NAME};

/// How many nodes' pods are listed at once.
const CONCURRENT_NODE_LISTS: usize = 4;

/// Everything the checks look at.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The API server's `gitVersion`.
    pub server_version: String,
    /// The Windows nodes.
    pub nodes: Vec<Node>,
    /// The pods on each Windows node, by node name.
    pub pods: BTreeMap<String, Vec<Pod>>,
    pub runtime_classes: Vec<RuntimeClass>,
    pub crd: Option<CustomResourceDefinition>,
    /// winkube's configurations, by name (absent: not found).
    pub mutating: BTreeMap<String, MutatingWebhookConfiguration>,
    pub validating: BTreeMap<String, ValidatingWebhookConfiguration>,
    pub service: Option<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    /// The GMSACredentialSpecs' names (none when the CRD is not served).
    pub credspecs: BTreeSet<String>,
}

/// A failed read, named by what was being read.
#[derive(Debug)]
pub struct FetchError {
    pub what: String,
    pub source: kube::Error,
    /// What the command needs to read, for a 403.
    pub needs: &'static str,
}

/// What doctor reads, for a 403.
const DOCTOR_NEEDS: &str = "winkube doctor needs read access to nodes, pods, RuntimeClasses, CRDs, webhook configurations, Services, EndpointSlices and GMSACredentialSpecs (docs/windows-nodes.md, \"Checking a node: winkube doctor\")";

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            kube::Error::Api(s) if s.code == 401 => write!(
                f,
                "cannot {}: unauthorized ({}): check the kubeconfig's credentials",
                self.what, s.message
            ),
            kube::Error::Api(s) if s.code == 403 => write!(
                f,
                "cannot {}: forbidden ({}): {}",
                self.what, s.message, self.needs
            ),
            kube::Error::Api(s) => write!(
                f,
                "cannot {}: the API server answered {} {}: {}",
                self.what, s.code, s.reason, s.message
            ),
            other => {
                write!(
                    f,
                    "cannot {}: the API server cannot be reached: {other}",
                    self.what
                )?;
                // The causes say why (refused, timed out, certificate unknown...).
                let mut cause = std::error::Error::source(other);
                while let Some(c) = cause {
                    write!(f, ": {c}")?;
                    cause = c.source();
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for FetchError {}

fn context<T>(what: &str, r: Result<T, kube::Error>) -> Result<T, FetchError> {
    r.map_err(|source| FetchError {
        what: what.to_owned(),
        source,
        needs: DOCTOR_NEEDS,
    })
}

/// Every item of a list, `chunk` per request.
pub async fn list_all<K>(
    api: &Api<K>,
    params: ListParams,
    chunk: u32,
) -> Result<Vec<K>, kube::Error>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    list_pages(api, params, chunk, |_| {}).await
}

/// [`list_all`], calling `on_page` with each page's item count (for progress).
pub async fn list_pages<K>(
    api: &Api<K>,
    params: ListParams,
    chunk: u32,
    mut on_page: impl FnMut(usize),
) -> Result<Vec<K>, kube::Error>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut params = params.limit(chunk);
    let mut out = Vec::new();
    loop {
        let page = api.list(&params).await?;
        on_page(page.items.len());
        out.extend(page.items);
        match page.metadata.continue_.as_deref() {
            Some(token) if !token.is_empty() => params = params.continue_token(token),
            _ => return Ok(out),
        }
    }
}

pub fn not_found_is_none<T>(r: Result<T, kube::Error>) -> Result<Option<T>, kube::Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads everything the checks need.
pub async fn snapshot(
    client: &kube::Client,
    namespace: &str,
    chunk: u32,
) -> Result<Snapshot, FetchError> {
    let version = context(
        "read the API server's version",
        client.apiserver_version().await,
    )?;
    let nodes: Vec<Node> = context(
        "list nodes",
        list_all(
            &Api::all(client.clone()),
            ListParams::default().labels(&format!("{LABEL_OS}={OS_WINDOWS}")),
            chunk,
        )
        .await,
    )?;
    let names: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    let pods: BTreeMap<String, Vec<Pod>> = futures::stream::iter(names)
        .map(|name| {
            let api: Api<Pod> = Api::all(client.clone());
            async move {
                let params = ListParams::default().fields(&format!("spec.nodeName={name}"));
                let pods = list_all(&api, params, chunk).await;
                context(&format!("list the pods on node {name}"), pods).map(|p| (name, p))
            }
        })
        .buffered(CONCURRENT_NODE_LISTS)
        .try_collect()
        .await?;
    let runtime_classes = context(
        "list RuntimeClasses",
        list_all(&Api::all(client.clone()), ListParams::default(), chunk).await,
    )?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = context(
        &format!("read CustomResourceDefinition {CRD_NAME}"),
        not_found_is_none(crds.get(CRD_NAME).await),
    )?;
    let mut mutating = BTreeMap::new();
    let mut validating = BTreeMap::new();
    let m_api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let v_api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    for name in [NAME, WINDOWS_NAME] {
        let m = context(
            &format!("read MutatingWebhookConfiguration {name}"),
            not_found_is_none(m_api.get(name).await),
        )?;
        mutating.extend(m.map(|c| (name.to_owned(), c)));
        let v = context(
            &format!("read ValidatingWebhookConfiguration {name}"),
            not_found_is_none(v_api.get(name).await),
        )?;
        validating.extend(v.map(|c| (name.to_owned(), c)));
    }
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let service = context(
        &format!("read Service {namespace}/{NAME}"),
        not_found_is_none(services.get(NAME).await),
    )?;
    let endpoint_slices = context(
        &format!("list the EndpointSlices of Service {namespace}/{NAME}"),
        list_all(
            &Api::namespaced(client.clone(), namespace),
            ListParams::default().labels(&format!("kubernetes.io/service-name={NAME}")),
            chunk,
        )
        .await,
    )?;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("windows.k8s.io", "v1", "GMSACredentialSpec"),
        "gmsacredentialspecs",
    );
    let credspec_api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let credspecs = context(
        "list GMSACredentialSpecs",
        not_found_is_none(list_all(&credspec_api, ListParams::default(), chunk).await),
    )?
    .unwrap_or_default()
    .into_iter()
    .filter_map(|o| o.metadata.name)
    .collect();
    Ok(Snapshot {
        server_version: version.git_version,
        nodes,
        pods,
        runtime_classes,
        crd,
        mutating,
        validating,
        service,
        endpoint_slices,
        credspecs,
    })
}
