//! The file view: cluster state read from a directory of manifests, for `winkube admit`
//! and `winkube webhook --state`.
//!
//! Every `*.yaml`, `*.yml` and `*.json` file under the directory (recursively, in path
//! order, hidden entries skipped) is read as a stream of documents. Kinds the policies
//! need are kept; any other kind is skipped with a debug log, so a directory can hold a
//! whole application's manifests. `kind: List` is unwrapped. Authorization is evaluated
//! locally with `winkube-rbac` over the Roles, ClusterRoles and bindings found, for the
//! same identity the reference webhook's LocalSubjectAccessReview uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::de::DeserializeOwned;
use winkube_api::GmsaCredentialSpec;
use winkube_policy::{ClusterView, CredSpecContents, CredSpecLookup, UseDecision};
use winkube_rbac::{BindingOutcome, Explanation, RbacSnapshot, ResourceRequest, UserInfo, explain};

use crate::documents::{Document, InputError, Source, describe, read_source};

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
}

impl FileView {
    /// An empty cluster: no credspecs, no RBAC (so every `use` is denied).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Reads every manifest file under `dir`. All or nothing: the first bad document
    /// is reported with its file and index, and no view is built.
    pub fn load_dir(dir: &Path) -> Result<Self, InputError> {
        let meta = std::fs::metadata(dir).map_err(|e| {
            InputError(format!(
                "--state {}: cannot read directory: {e}",
                dir.display()
            ))
        })?;
        if !meta.is_dir() {
            return Err(InputError(format!(
                "--state {}: not a directory",
                dir.display()
            )));
        }
        let mut files = Vec::new();
        collect_files(dir, &mut files)?;
        let mut view = Self::default();
        for file in files {
            for doc in read_source(&Source::File(file))? {
                view.add(doc)?;
            }
        }
        Ok(view)
    }

    /// Builds a view from already parsed documents.
    #[cfg(test)]
    pub fn from_documents(docs: impl IntoIterator<Item = Document>) -> Result<Self, InputError> {
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

    fn add(&mut self, doc: Document) -> Result<(), InputError> {
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
            // Later: Nodes, RuntimeClasses and image metadata for the Windows policies.
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

    fn add_list(&mut self, doc: Document) -> Result<(), InputError> {
        let items = match doc.value.get("items") {
            None | Some(serde_json::Value::Null) => return Ok(()),
            Some(serde_json::Value::Array(items)) => items.clone(),
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
            self.add(item_doc)?;
        }
        Ok(())
    }

    fn add_credspec(&mut self, doc: Document) -> Result<(), InputError> {
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
            return Err(InputError(format!(
                "{}: GMSACredentialSpec {name:?}: `credspec` must be a mapping, got {}",
                doc.location(),
                describe(v)
            )));
        }
        self.claim(format!("GMSACredentialSpec {name}"), &doc)?;
        let lookup = match CredSpecContents::from_resource(&cs) {
            Some(c) => CredSpecLookup::Found(Arc::new(c)),
            None => CredSpecLookup::MissingCredspecKey,
        };
        self.credspecs.insert(name, lookup);
        Ok(())
    }

    /// Records where an object came from; the same object twice is an error naming both.
    fn claim(&mut self, key: String, doc: &Document) -> Result<(), InputError> {
        if let Some(first) = self.origins.get(&key) {
            return Err(InputError(format!(
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

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| InputError(format!("{}: cannot read directory: {e}", dir.display())))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry
            .map_err(|e| InputError(format!("{}: cannot read directory: {e}", dir.display())))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        paths.push(entry.path());
    }
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

fn expect_version(doc: &Document, accepted: &[&str]) -> Result<(), InputError> {
    if accepted.contains(&doc.api_version()) {
        return Ok(());
    }
    Err(InputError(format!(
        "{}: {} has unsupported apiVersion {:?} (expected {})",
        doc.location(),
        doc.kind(),
        doc.api_version(),
        accepted.join(" or ")
    )))
}

fn decode<T: DeserializeOwned>(doc: &Document) -> Result<T, InputError> {
    serde_json::from_value(doc.value.clone()).map_err(|e| {
        InputError(format!(
            "{}: invalid {} {:?}: {e}",
            doc.location(),
            doc.kind(),
            doc.name()
        ))
    })
}

fn required_name(doc: &Document) -> Result<String, InputError> {
    match doc.name() {
        "" => Err(InputError(format!(
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

fn rbac_error(doc: &Document, e: winkube_rbac::RbacError) -> InputError {
    InputError(format!("{}: {e}", doc.location()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::parse_documents;

    fn view(yaml: &str) -> Result<FileView, InputError> {
        FileView::from_documents(parse_documents(&Source::File("state.yaml".into()), yaml)?)
    }

    const TALK: &str = r#"
apiVersion: windows.k8s.io/v1alpha1
kind: GMSACredentialSpec
metadata:
  name: gmsa-webapp-1
credspec:
  CmsPlugins: [ActiveDirectory]
  DomainJoinConfig: {DnsName: contoso.com}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: webapp1-role
rules:
- apiGroups: ["windows.k8s.io"]
  resources: ["gmsacredentialspecs"]
  verbs: ["use"]
  resourceNames: ["gmsa-webapp-1"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: default-svc-account-read-gmsa
  namespace: default
subjects:
- kind: ServiceAccount
  name: default
  namespace: default
roleRef:
  kind: ClusterRole
  name: webapp1-role
  apiGroup: rbac.authorization.k8s.io
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
"#;

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn talk_state_authorizes_default_sa_only() {
        let v = view(TALK).unwrap();
        match v.credspec("gmsa-webapp-1") {
            CredSpecLookup::Found(c) => assert_eq!(
                &*c.canonical,
                r#"{"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"DnsName":"contoso.com"}}"#
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(v.credspec("other"), CredSpecLookup::NotFound);
        assert!(block(v.may_use_credspec("default", "default", "gmsa-webapp-1")).allowed);
        let denied = block(v.may_use_credspec("default", "default", "gmsa-other"));
        assert!(!denied.allowed);
        assert!(
            denied
                .reason
                .contains("resourceNames do not include the requested name"),
            "{}",
            denied.reason
        );
        let denied = block(v.may_use_credspec("prod", "default", "gmsa-webapp-1"));
        assert!(!denied.allowed);
        assert!(
            denied.reason.contains("no ClusterRoleBinding"),
            "{}",
            denied.reason
        );
        assert_eq!(v.ignored().len(), 1);
        assert_eq!(v.ignored()[0].2, "ConfigMap");
    }

    #[test]
    fn credspec_without_key_is_417_material() {
        let v = view(
            "apiVersion: windows.k8s.io/v1\nkind: GMSACredentialSpec\nmetadata: {name: nokey}\n",
        )
        .unwrap();
        assert_eq!(v.credspec("nokey"), CredSpecLookup::MissingCredspecKey);
    }

    #[test]
    fn errors_name_file_and_document() {
        let e = view("apiVersion: v1\nkind: ConfigMap\n---\napiVersion: windows.k8s.io/v2\nkind: GMSACredentialSpec\nmetadata: {name: x}\n")
            .unwrap_err();
        assert!(
            e.0.starts_with(
                "state.yaml (document 2): GMSACredentialSpec has unsupported apiVersion"
            ),
            "{e}"
        );
        let e = view("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules: 3\n")
            .unwrap_err();
        assert!(
            e.0.starts_with("state.yaml (document 1): invalid ClusterRole \"r\""),
            "{e}"
        );
        let e = view("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n")
            .unwrap_err();
        assert_eq!(
            e.0,
            "state.yaml (document 2): ClusterRole r is defined twice (first in state.yaml (document 1))"
        );
        let e = view("apiVersion: windows.k8s.io/v1\nkind: GMSACredentialSpec\nmetadata: {name: s}\ncredspec: [1]\n")
            .unwrap_err();
        assert!(e.0.contains("`credspec` must be a mapping"), "{e}");
    }

    #[test]
    fn lists_are_unwrapped() {
        let v = view("apiVersion: v1\nkind: List\nitems:\n- apiVersion: windows.k8s.io/v1\n  kind: GMSACredentialSpec\n  metadata: {name: a}\n  credspec: {CmsPlugins: [ActiveDirectory]}\n")
            .unwrap();
        assert_eq!(v.credspec_count(), 1);
    }

    #[test]
    fn default_service_account_always_exists() {
        let v =
            view("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web, namespace: prod}\n")
                .unwrap();
        assert!(v.has_service_account("anything", "default"));
        assert!(v.has_service_account("prod", "web"));
        assert!(!v.has_service_account("default", "web"));
    }
}
