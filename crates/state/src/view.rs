//! The file view: cluster state read from a directory of manifests, for `winkube admit`,
//! `lint` and `webhook --state`, and for tests.
//!
//! Every `*.yaml`, `*.yml` and `*.json` file under the directory (recursively, in path
//! order, hidden entries skipped) is read as a stream of documents. Kinds the policies
//! need are kept; any other kind is skipped with a debug log, so a directory can hold a
//! whole application's manifests. `kind: List` is unwrapped. Authorization is evaluated
//! locally with `winkube-rbac` over the Roles, ClusterRoles and bindings found, for the
//! same identity the reference webhook's LocalSubjectAccessReview uses.
//!
//! For the Windows policies it also keeps Nodes (their `node.kubernetes.io/windows-build`
//! labels), RuntimeClasses (`node.k8s.io/v1`) and pull secrets (type
//! `kubernetes.io/dockerconfigjson`), and reads pinned image metadata from files named
//! `images.yaml`, `images.yml` or `images.json` (a map from image reference to its
//! platforms, not Kubernetes objects).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Node, Secret, ServiceAccount};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::de::DeserializeOwned;
use winkube_api::GmsaCredentialSpec;
use winkube_api::windows::{ImagePlatforms, ImageReference, LABEL_WINDOWS_BUILD, WindowsBuild};
use winkube_policy::windows::{
    ImageLookup, ImageRequest, NodeBuildLabel, NodeBuilds, RuntimeClassInfo, RuntimeClassLookup,
    WindowsClusterView, pinned_images_from_yaml, resolutions_from_pinned,
};
use winkube_policy::{ClusterView, CredSpecContents, CredSpecLookup, SharedCredSpec, UseDecision};
use winkube_rbac::{BindingOutcome, Explanation, RbacSnapshot, ResourceRequest, UserInfo, explain};
use winkube_registry::{DockerConfig, ImageMetadataView};

use crate::StateError;
use crate::documents::{
    Document, Source, describe, lazy_json_documents, manifest_files, parse_documents,
};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const RBAC_VERSION: &str = "rbac.authorization.k8s.io/v1";

/// Cluster state read from files. Immutable once loaded.
#[derive(Debug, Default)]
pub struct FileView {
    credspecs: BTreeMap<String, CredSpecLookup>,
    service_accounts: BTreeMap<(String, String), ServiceAccount>,
    rbac: RbacSnapshot,
    /// Where each kept object came from, to name both files on a duplicate.
    origins: BTreeMap<String, String>,
    /// Documents skipped because their kind is not used: (location, apiVersion, kind).
    ignored: Vec<(String, String, String)>,
    /// Windows nodes' builds, by node name (Linux nodes and Windows nodes without the
    /// build label are counted in `nodes` only).
    windows_builds: BTreeMap<String, WindowsBuild>,
    /// Number of Node objects read: none means "the nodes are unknown", not "no nodes".
    nodes: usize,
    runtime_classes: BTreeMap<String, RuntimeClass>,
    /// Handlers that mean Hyper-V isolation (the policy file's `osBuild.hypervHandlers`).
    hyperv_handlers: Vec<String>,
    /// Pull secrets by (namespace, name).
    pull_secrets: BTreeMap<(String, String), DockerConfig>,
    /// Pinned image metadata: reference as written in images.yaml → platforms.
    pinned: BTreeMap<String, ImagePlatforms>,
    /// The images.* files read, for messages.
    pinned_files: Vec<PathBuf>,
}

impl FileView {
    /// An empty cluster: no credspecs, no RBAC (so every `use` is denied).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Reads every manifest file under `dir`. All or nothing: the first bad document
    /// is reported with its file and index, and no view is built.
    pub fn load_dir(dir: &Path) -> Result<Self, StateError> {
        let meta = std::fs::metadata(dir).map_err(|e| {
            io_error(
                format!("--state {}: cannot read directory", dir.display()),
                e,
            )
        })?;
        if !meta.is_dir() {
            return Err(StateError::Invalid(format!(
                "--state {}: not a directory",
                dir.display()
            )));
        }
        let files = manifest_files(dir)?;
        let mut view = Self::default();
        for file in files {
            if is_pinned_images_file(&file) {
                view.add_pinned_images(&file)?;
                continue;
            }
            view.add_file(file)?;
        }
        // Only needed to name both places of a duplicate while loading.
        view.origins = BTreeMap::new();
        Ok(view)
    }

    fn add_file(&mut self, file: PathBuf) -> Result<(), StateError> {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| io_error(format!("{}: cannot read file", file.display()), e))?;
        let source = Source::File(file);
        if let Some(docs) = lazy_json_documents(&source, &text) {
            for lazy in docs {
                match lazy.items {
                    None => self.add(lazy.doc)?,
                    Some(items) => {
                        for (i, raw) in items.into_iter().enumerate() {
                            let item = match winkube_api::strict_json::from_str(raw.get()) {
                                Ok(v) => v,
                                // The whole-file parser words this error (with its position).
                                Err(e) => {
                                    return Err(parse_documents(&source, &text).err().unwrap_or(
                                        StateError::Invalid(format!("{source}: invalid JSON: {e}")),
                                    ));
                                }
                            };
                            let item_doc = lazy.doc.list_item(i, item)?;
                            self.add(item_doc)?;
                        }
                    }
                }
            }
            return Ok(());
        }
        for doc in parse_documents(&source, &text)? {
            self.add(doc)?;
        }
        Ok(())
    }

    /// Reads pinned image metadata (see [`pinned_images_from_yaml`]); every key must be an
    /// image reference and every Windows `os.version` a Windows build.
    fn add_pinned_images(&mut self, file: &Path) -> Result<(), StateError> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| io_error(format!("{}: cannot read file", file.display()), e))?;
        let images = pinned_images_from_yaml(&text)
            .map_err(|e| StateError::Invalid(format!("{}: {e}", file.display())))?;
        for (image, meta) in images {
            let reference = ImageReference::parse(&image).map_err(|e| {
                StateError::Invalid(format!(
                    "{}: image metadata: key {image:?} is not an image reference: {e}",
                    file.display()
                ))
            })?;
            for (i, p) in meta.platforms.iter().enumerate() {
                if p.os.is_empty() {
                    return Err(StateError::Invalid(format!(
                        "{}: image metadata: {image:?} platforms[{i}]: missing `os`",
                        file.display()
                    )));
                }
                if p.is_windows()
                    && let Some(v) = &p.os_version
                    && WindowsBuild::parse(v).is_err()
                {
                    return Err(StateError::Invalid(format!(
                        "{}: image metadata: {image:?} platforms[{i}]: os.version {v:?} is not a Windows version (expected such as 10.0.17763.5458)",
                        file.display()
                    )));
                }
            }
            let key = format!("image {reference}");
            if let Some(first) = self.origins.get(&key) {
                return Err(StateError::Invalid(format!(
                    "{}: image metadata for {image:?} is given twice (first in {first})",
                    file.display()
                )));
            }
            self.origins.insert(key, file.display().to_string());
            self.pinned.insert(image, meta);
        }
        self.pinned_files.push(file.to_path_buf());
        Ok(())
    }

    /// Pinned image metadata from the state directory's `images.yaml`.
    pub fn pinned_images(&self) -> &BTreeMap<String, ImagePlatforms> {
        &self.pinned
    }

    /// `examples/state/images.yaml` (or `the state directory` when there is none).
    pub fn pinned_source(&self) -> String {
        match self.pinned_files.as_slice() {
            [] => "the state directory (no images.yaml)".to_owned(),
            files => files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Sets the handlers that mean Hyper-V isolation (the policy file's
    /// `osBuild.hypervHandlers`), used when reading RuntimeClasses.
    pub fn set_hyperv_handlers(&mut self, handlers: Vec<String>) {
        self.hyperv_handlers = handlers;
    }

    /// Credentials from the named pull secrets of a namespace, first secret first (as the
    /// kubelet merges them), and a warning per secret the state directory does not hold.
    pub fn pull_config(&self, namespace: &str, names: &[String]) -> (DockerConfig, Vec<String>) {
        let mut config = DockerConfig::default();
        let mut missing = Vec::new();
        for name in names {
            match self
                .pull_secrets
                .get(&(namespace.to_owned(), name.clone()))
            {
                Some(c) => config.merge(c.clone()),
                None => missing.push(format!(
                    "imagePullSecret \"{namespace}/{name}\" is not in the state directory (or is not of type kubernetes.io/dockerconfigjson); images are looked up without its credentials"
                )),
            }
        }
        (config, missing)
    }

    /// Builds a view from already parsed documents (as [`Self::load_dir`] does per file).
    pub fn from_documents(docs: impl IntoIterator<Item = Document>) -> Result<Self, StateError> {
        let mut view = Self::default();
        for doc in docs {
            view.add(doc)?;
        }
        Ok(view)
    }

    /// Number of credspecs known.
    pub fn credspec_count(&self) -> usize {
        self.credspecs.len()
    }

    /// Documents that were skipped because winkube does not use their kind.
    pub fn ignored(&self) -> &[(String, String, String)] {
        &self.ignored
    }

    /// Whether the service account exists. `default` exists in every namespace (the
    /// ServiceAccount controller creates it), so it need not be written down.
    pub fn has_service_account(&self, namespace: &str, name: &str) -> bool {
        name == "default"
            || self
                .service_accounts
                .contains_key(&(namespace.to_owned(), name.to_owned()))
    }

    /// Whether a document is cluster state this view reads: a GMSACredentialSpec,
    /// ServiceAccount, Role, ClusterRole, RoleBinding, ClusterRoleBinding, Node,
    /// RuntimeClass or pull secret.
    pub fn is_state(doc: &Document) -> bool {
        let group = doc.api_version().split_once('/').map_or("", |(g, _)| g);
        matches!(
            (group, doc.kind()),
            ("windows.k8s.io", "GMSACredentialSpec")
                | ("", "ServiceAccount" | "Node")
                | (
                    RBAC_GROUP,
                    "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
                )
                | ("node.k8s.io", "RuntimeClass")
        ) || (group.is_empty() && doc.kind() == "Secret" && is_pull_secret(doc))
    }

    /// Adds cluster state found among the inputs of `winkube admit` or `lint` (see
    /// [`Self::is_state`]), checked as in a state directory. An object also read from the
    /// state directory is replaced: the input is what is about to be applied. The same
    /// object twice among the inputs is an error naming both.
    pub fn add_input(&mut self, doc: Document) -> Result<(), StateError> {
        if !Self::is_state(&doc) {
            return Ok(());
        }
        self.add(doc)
    }

    fn add(&mut self, doc: Document) -> Result<(), StateError> {
        let group = doc.api_version().split_once('/').map_or("", |(g, _)| g);
        match (group, doc.kind()) {
            ("", "List") | ("", "ListItems") => self.add_list(doc),
            ("windows.k8s.io", "GMSACredentialSpec") => self.add_credspec(doc),
            ("", "ServiceAccount") => {
                expect_version(&doc, &["v1"])?;
                let sa: ServiceAccount = decode(&doc)?;
                let name = required_name(&doc)?;
                let ns = doc.namespace().unwrap_or("default").to_owned();
                self.claim(format!("ServiceAccount {ns}/{name}"), &doc)?;
                self.service_accounts.insert((ns, name), sa);
                Ok(())
            }
            (RBAC_GROUP, "Role") => {
                expect_version(&doc, &[RBAC_VERSION])?;
                let mut role: Role = decode(&doc)?;
                default_namespace(&mut role.metadata.namespace);
                let key = format!(
                    "Role {}/{}",
                    role.metadata.namespace.as_deref().unwrap_or(""),
                    required_name(&doc)?
                );
                self.claim(key, &doc)?;
                self.rbac
                    .insert_role(role)
                    .map_err(|e| rbac_error(&doc, e))?;
                Ok(())
            }
            (RBAC_GROUP, "ClusterRole") => {
                expect_version(&doc, &[RBAC_VERSION])?;
                let role: ClusterRole = decode(&doc)?;
                self.claim(format!("ClusterRole {}", required_name(&doc)?), &doc)?;
                self.rbac
                    .insert_cluster_role(role)
                    .map_err(|e| rbac_error(&doc, e))?;
                Ok(())
            }
            (RBAC_GROUP, "RoleBinding") => {
                expect_version(&doc, &[RBAC_VERSION])?;
                let mut binding: RoleBinding = decode(&doc)?;
                default_namespace(&mut binding.metadata.namespace);
                let key = format!(
                    "RoleBinding {}/{}",
                    binding.metadata.namespace.as_deref().unwrap_or(""),
                    required_name(&doc)?
                );
                self.claim(key, &doc)?;
                self.rbac
                    .insert_role_binding(binding)
                    .map_err(|e| rbac_error(&doc, e))?;
                Ok(())
            }
            (RBAC_GROUP, "ClusterRoleBinding") => {
                expect_version(&doc, &[RBAC_VERSION])?;
                let binding: ClusterRoleBinding = decode(&doc)?;
                self.claim(format!("ClusterRoleBinding {}", required_name(&doc)?), &doc)?;
                self.rbac
                    .insert_cluster_role_binding(binding)
                    .map_err(|e| rbac_error(&doc, e))?;
                Ok(())
            }
            ("", "Node") => self.add_node(doc),
            ("node.k8s.io", "RuntimeClass") => {
                expect_version(&doc, &["node.k8s.io/v1"])?;
                let rc: RuntimeClass = decode(&doc)?;
                let name = required_name(&doc)?;
                if rc.handler.is_empty() {
                    return Err(StateError::Invalid(format!(
                        "{}: RuntimeClass {name:?} has no handler",
                        doc.location()
                    )));
                }
                self.claim(format!("RuntimeClass {name}"), &doc)?;
                self.runtime_classes.insert(name, rc);
                Ok(())
            }
            ("", "Secret") if is_pull_secret(&doc) => self.add_pull_secret(doc),
            (_, kind) => {
                tracing::debug!(
                    location = %doc.location(),
                    api_version = doc.api_version(),
                    kind,
                    "state: ignoring a kind winkube does not use"
                );
                self.ignored.push((
                    doc.location(),
                    doc.api_version().to_owned(),
                    kind.to_owned(),
                ));
                Ok(())
            }
        }
    }

    fn add_list(&mut self, mut doc: Document) -> Result<(), StateError> {
        // Taken, not cloned: a state dump's List is most of the file.
        let items = match doc.value.get_mut("items").map(serde_json::Value::take) {
            None | Some(serde_json::Value::Null) => return Ok(()),
            Some(serde_json::Value::Array(items)) => items,
            Some(other) => {
                return Err(StateError::Invalid(format!(
                    "{}: List `items` must be a list, got {}",
                    doc.location(),
                    describe(&other)
                )));
            }
        };
        for (i, item) in items.into_iter().enumerate() {
            let item_doc = doc.list_item(i, item)?;
            self.add(item_doc)?;
        }
        Ok(())
    }

    fn add_node(&mut self, doc: Document) -> Result<(), StateError> {
        expect_version(&doc, &["v1"])?;
        let node: Node = decode(&doc)?;
        let name = required_name(&doc)?;
        self.claim(format!("Node {name}"), &doc)?;
        self.nodes += 1;
        let labels = node.metadata.labels.unwrap_or_default();
        match NodeBuildLabel::of(&labels) {
            NodeBuildLabel::NotWindows => {}
            NodeBuildLabel::Build(build) => {
                self.windows_builds.insert(name, build);
            }
            NodeBuildLabel::Invalid { value, error } => {
                return Err(StateError::Invalid(format!(
                    "{}: Node {name:?}: label {LABEL_WINDOWS_BUILD}={value:?}: {error}",
                    doc.location()
                )));
            }
            NodeBuildLabel::Missing => tracing::warn!(
                location = %doc.location(),
                node = %name,
                "Windows node without the {LABEL_WINDOWS_BUILD} label: its build is unknown"
            ),
        }
        Ok(())
    }

    fn add_pull_secret(&mut self, doc: Document) -> Result<(), StateError> {
        expect_version(&doc, &["v1"])?;
        let secret: Secret = decode(&doc)?;
        let name = required_name(&doc)?;
        let ns = doc.namespace().unwrap_or("default").to_owned();
        let legacy = secret.type_.as_deref() == Some("kubernetes.io/dockercfg");
        let key = if legacy {
            ".dockercfg"
        } else {
            ".dockerconfigjson"
        };
        // stringData wins over data, as the API server merges it.
        let bytes = secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|s| s.as_bytes().to_vec())
            .or_else(|| {
                secret
                    .data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .map(|b| b.0.clone())
            })
            .ok_or_else(|| {
                StateError::Invalid(format!(
                    "{}: Secret {ns}/{name} of type {} has no {key:?} in data or stringData",
                    doc.location(),
                    secret.type_.as_deref().unwrap_or("")
                ))
            })?;
        let config = DockerConfig::from_json(&bytes).map_err(|e| {
            StateError::Invalid(format!("{}: Secret {ns}/{name}: {e}", doc.location()))
        })?;
        self.claim(format!("Secret {ns}/{name}"), &doc)?;
        self.pull_secrets.insert((ns, name), config);
        Ok(())
    }

    fn add_credspec(&mut self, doc: Document) -> Result<(), StateError> {
        expect_version(&doc, &["windows.k8s.io/v1", "windows.k8s.io/v1alpha1"])?;
        let cs: GmsaCredentialSpec = decode(&doc)?;
        let name = required_name(&doc)?;
        if doc.namespace().is_some() {
            // Cluster-scoped: the API server ignores metadata.namespace; say so rather than
            // let someone believe a credspec is namespaced.
            tracing::warn!(
                location = %doc.location(),
                "GMSACredentialSpec is cluster-scoped; metadata.namespace is ignored"
            );
        }
        if let Some(v) = &cs.credspec
            && !(v.is_object() || v.is_null() || v.as_str() == Some(""))
        {
            return Err(StateError::Invalid(format!(
                "{}: GMSACredentialSpec {name:?}: `credspec` must be a mapping, got {}",
                doc.location(),
                describe(v)
            )));
        }
        self.claim(format!("GMSACredentialSpec {name}"), &doc)?;
        let lookup = match CredSpecContents::from_resource(&cs) {
            Some(c) => CredSpecLookup::Found(SharedCredSpec::new(c)),
            None => CredSpecLookup::MissingCredspecKey,
        };
        self.credspecs.insert(name, lookup);
        Ok(())
    }

    /// Records where an object came from; the same object twice is an error naming both.
    fn claim(&mut self, key: String, doc: &Document) -> Result<(), StateError> {
        if let Some(first) = self.origins.get(&key) {
            return Err(StateError::Invalid(format!(
                "{}: {key} is defined twice (first in {first})",
                doc.location()
            )));
        }
        self.origins.insert(key, doc.location());
        Ok(())
    }
}

impl ClusterView for FileView {
    fn credspec(&self, name: &str) -> CredSpecLookup {
        self.credspecs
            .get(name)
            .cloned()
            .unwrap_or(CredSpecLookup::NotFound)
    }

    fn may_use_credspec(
        &self,
        namespace: &str,
        service_account: &str,
        credspec: &str,
    ) -> impl std::future::Future<Output = UseDecision> + Send {
        // The reference's review: the SA user and the two service-account groups, not
        // system:authenticated.
        let user = UserInfo::service_account_without_authenticated(namespace, service_account);
        let request = ResourceRequest::new("use", winkube_api::GROUP, winkube_api::PLURAL)
            .in_namespace(namespace)
            .named(credspec);
        let explanation = explain(&self.rbac, &user, request);
        let decision = if explanation.decision.allowed {
            UseDecision {
                allowed: true,
                reason: explanation.decision.reason,
            }
        } else {
            UseDecision {
                allowed: false,
                reason: one_line_explanation(&explanation, namespace, service_account),
            }
        };
        std::future::ready(decision)
    }
}

impl WindowsClusterView for FileView {
    fn windows_node_builds(&self) -> NodeBuilds {
        if self.nodes == 0 {
            // No Node in the state: nothing is known about the nodes, so the policies do
            // not claim that no node of a build exists.
            return NodeBuilds::default();
        }
        NodeBuilds::from_builds(self.windows_builds.values().copied())
    }

    fn runtime_class(&self, name: &str) -> RuntimeClassLookup {
        match self.runtime_classes.get(name) {
            Some(rc) => RuntimeClassLookup::Found(RuntimeClassInfo::from_resource(
                rc,
                &self.hyperv_handlers,
            )),
            None => RuntimeClassLookup::NotFound,
        }
    }
}

impl ImageMetadataView for FileView {
    fn pull_credentials(
        &self,
        namespace: &str,
        names: &[String],
    ) -> impl std::future::Future<Output = (DockerConfig, Vec<String>)> + Send {
        std::future::ready(self.pull_config(namespace, names))
    }

    fn pinned_image(&self, image: &str) -> Option<(ImagePlatforms, String)> {
        let request = ImageRequest {
            image: image.to_owned(),
            pull_secrets: Vec::new(),
        };
        match resolutions_from_pinned(&self.pinned, &[request]).remove(image) {
            Some(ImageLookup::Found(p)) => Some((p, self.pinned_source())),
            _ => None,
        }
    }

    fn pinned_metadata_source(&self) -> Option<String> {
        Some(self.pinned_source())
    }
}

fn is_pinned_images_file(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("images.yaml" | "images.yml" | "images.json")
    )
}

fn is_pull_secret(doc: &Document) -> bool {
    matches!(
        doc.value.get("type").and_then(serde_json::Value::as_str),
        Some("kubernetes.io/dockerconfigjson" | "kubernetes.io/dockercfg")
    )
}

/// A denial explained on one line (it ends up inside a Go-quoted `reason: "..."`).
fn one_line_explanation(e: &Explanation, namespace: &str, service_account: &str) -> String {
    let mut parts = Vec::new();
    if !e.decision.reason.is_empty() {
        parts.push(e.decision.reason.clone());
    }
    if e.bindings.is_empty() {
        parts.push(format!(
            "no ClusterRoleBinding, and no RoleBinding in namespace {namespace:?}, has ServiceAccount \"{namespace}/{service_account}\" (or its groups) as a subject"
        ));
    }
    for b in &e.bindings {
        let what = match &b.outcome {
            BindingOutcome::Allows { rule } => format!("rules[{rule}] grants the request"),
            BindingOutcome::RoleUnresolved(err) => format!("grants nothing: {err}"),
            BindingOutcome::NoRuleMatches { rules } if rules.is_empty() => {
                "the role has no rules".to_owned()
            }
            BindingOutcome::NoRuleMatches { rules } => {
                let rules: Vec<_> = rules
                    .iter()
                    .enumerate()
                    .map(|(i, m)| format!("rules[{i}]: {m}"))
                    .collect();
                format!("no rule grants the request ({})", rules.join("; "))
            }
        };
        parts.push(format!("{}: {what}", b.binding));
    }
    parts.join("; ")
}

fn expect_version(doc: &Document, accepted: &[&str]) -> Result<(), StateError> {
    if accepted.contains(&doc.api_version()) {
        return Ok(());
    }
    Err(StateError::Invalid(format!(
        "{}: {} has unsupported apiVersion {:?} (expected {})",
        doc.location(),
        doc.kind(),
        doc.api_version(),
        accepted.join(" or ")
    )))
}

fn decode<T: DeserializeOwned>(doc: &Document) -> Result<T, StateError> {
    T::deserialize(&doc.value).map_err(|e| {
        StateError::Invalid(format!(
            "{}: invalid {} {:?}: {e}",
            doc.location(),
            doc.kind(),
            doc.name()
        ))
    })
}

fn io_error(context: String, source: std::io::Error) -> StateError {
    StateError::Io { context, source }
}

fn required_name(doc: &Document) -> Result<String, StateError> {
    match doc.name() {
        "" => Err(StateError::Invalid(format!(
            "{}: {} has no metadata.name",
            doc.location(),
            doc.kind()
        ))),
        name => Ok(name.to_owned()),
    }
}

/// Namespaced objects without a namespace land in `default`, as with `kubectl apply`.
fn default_namespace(ns: &mut Option<String>) {
    if ns.as_deref().is_none_or(str::is_empty) {
        *ns = Some("default".to_owned());
    }
}

fn rbac_error(doc: &Document, e: winkube_rbac::RbacError) -> StateError {
    StateError::Invalid(format!("{}: {e}", doc.location()))
}
