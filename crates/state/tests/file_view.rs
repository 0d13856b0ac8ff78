//! The file view read from YAML and JSON: what it keeps, and how its errors name the
//! file and document.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use winkube_api::windows::WindowsBuild;
use winkube_policy::windows::{RuntimeClassLookup, WindowsClusterView};
use winkube_policy::{ClusterView, CredSpecLookup};
use winkube_state::documents::{Source, parse_documents};
use winkube_state::{FileView, StateError};

fn view(yaml: &str) -> Result<FileView, StateError> {
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
            c.canonical(),
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
    let v =
        view("apiVersion: windows.k8s.io/v1\nkind: GMSACredentialSpec\nmetadata: {name: nokey}\n")
            .unwrap();
    assert_eq!(v.credspec("nokey"), CredSpecLookup::MissingCredspecKey);
}

#[test]
fn errors_name_file_and_document() {
    let e = view("apiVersion: v1\nkind: ConfigMap\n---\napiVersion: windows.k8s.io/v2\nkind: GMSACredentialSpec\nmetadata: {name: x}\n")
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("state.yaml (document 2): GMSACredentialSpec has unsupported apiVersion"),
        "{e}"
    );
    let e = view("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules: 3\n")
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("state.yaml (document 1): invalid ClusterRole \"r\""),
        "{e}"
    );
    let e = view("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "state.yaml (document 2): ClusterRole r is defined twice (first in state.yaml (document 1))"
    );
    let e = view("apiVersion: windows.k8s.io/v1\nkind: GMSACredentialSpec\nmetadata: {name: s}\ncredspec: [1]\n")
        .unwrap_err();
    assert!(
        e.to_string().contains("`credspec` must be a mapping"),
        "{e}"
    );
}

#[test]
fn lists_are_unwrapped() {
    let v = view("apiVersion: v1\nkind: List\nitems:\n- apiVersion: windows.k8s.io/v1\n  kind: GMSACredentialSpec\n  metadata: {name: a}\n  credspec: {CmsPlugins: [ActiveDirectory]}\n")
        .unwrap();
    assert_eq!(v.credspec_count(), 1);
}

#[test]
fn windows_view_from_nodes_runtime_classes_and_pull_secrets() {
    let v = view(r#"
apiVersion: v1
kind: Node
metadata: {name: w19, labels: {kubernetes.io/os: windows, node.kubernetes.io/windows-build: 10.0.17763}}
---
apiVersion: v1
kind: Node
metadata: {name: w19b, labels: {kubernetes.io/os: windows, node.kubernetes.io/windows-build: 10.0.17763}}
---
apiVersion: v1
kind: Node
metadata: {name: lin, labels: {kubernetes.io/os: linux, node.kubernetes.io/windows-build: 10.0.20348}}
---
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: hv}
handler: runhcs-wcow-hypervisor
---
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: custom}
handler: vm
---
apiVersion: v1
kind: Secret
metadata: {name: pull, namespace: prod}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{"auths": {"reg.example:5000": {"username": "u", "password": "p"}}}'
---
apiVersion: v1
kind: Secret
metadata: {name: opaque, namespace: prod}
data: {x: eA==}
"#)
    .unwrap();
    let mut v = v;
    let builds = v.windows_node_builds();
    assert!(builds.known);
    // Linux nodes do not count, whatever their labels say.
    assert_eq!(
        builds.builds,
        BTreeMap::from([(WindowsBuild::ten(17763), 2)])
    );
    match v.runtime_class("hv") {
        RuntimeClassLookup::Found(rc) => {
            assert_eq!(rc.isolation, winkube_api::windows::Isolation::HyperV)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(v.runtime_class("nope"), RuntimeClassLookup::NotFound);
    let iso = |v: &FileView| match v.runtime_class("custom") {
        RuntimeClassLookup::Found(rc) => rc.isolation,
        other => panic!("{other:?}"),
    };
    assert_eq!(iso(&v), winkube_api::windows::Isolation::Process);
    v.set_hyperv_handlers(vec!["vm".into()]);
    assert_eq!(iso(&v), winkube_api::windows::Isolation::HyperV);

    let (cfg, missing) = v.pull_config("prod", &["pull".into(), "gone".into()]);
    assert_eq!(
        cfg.credentials_for("reg.example:5000").unwrap().username,
        "u"
    );
    assert_eq!(missing.len(), 1);
    assert!(missing[0].contains("\"prod/gone\""), "{}", missing[0]);
    // The secret is namespaced: another namespace does not see it.
    assert!(v.pull_config("dev", &["pull".into()]).0.is_empty());
    // The opaque secret is not kept (ignored like any unused kind).
    assert!(v.ignored().iter().any(|(_, _, k)| k == "Secret"));
}

#[test]
fn without_nodes_the_node_builds_are_unknown() {
    let v = view("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n").unwrap();
    assert!(!v.windows_node_builds().known);
    let e =
        view("apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: r}\nhandler: ''\n")
            .unwrap_err();
    assert_eq!(
        e.to_string(),
        "state.yaml (document 1): RuntimeClass \"r\" has no handler"
    );
    let e = view(
        "apiVersion: node.k8s.io/v1beta1\nkind: RuntimeClass\nmetadata: {name: r}\nhandler: h\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("unsupported apiVersion"), "{e}");
}

#[test]
fn default_service_account_always_exists() {
    let v = view("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web, namespace: prod}\n")
        .unwrap();
    assert!(v.has_service_account("anything", "default"));
    assert!(v.has_service_account("prod", "web"));
    assert!(!v.has_service_account("default", "web"));
}

/// A `kind: List` JSON file is read item by item; it must answer, and fail, exactly as
/// the same documents parsed whole.
#[test]
fn json_list_files_read_item_by_item_like_whole_documents() {
    let cs = |name: &str| {
        serde_json::json!({"apiVersion": "windows.k8s.io/v1", "kind": "GMSACredentialSpec",
            "metadata": {"name": name}, "credspec": {"CmsPlugins": ["ActiveDirectory"], "A": "<b>"}})
    };
    let load = |text: &str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), text).unwrap();
        let lazy = FileView::load_dir(dir.path());
        let whole = parse_documents(&Source::File(dir.path().join("state.json")), text)
            .and_then(FileView::from_documents);
        (lazy, whole)
    };
    let list = |items: Vec<serde_json::Value>| {
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
    };

    let text = format!(
        "{}\n{}",
        list(vec![cs("a"), cs("b")]),
        serde_json::json!({"apiVersion": "windows.k8s.io/v1", "kind": "GMSACredentialSpec",
            "metadata": {"name": "c"}})
    );
    let (lazy, whole) = load(&text);
    let (lazy, whole) = (lazy.unwrap(), whole.unwrap());
    assert_eq!(lazy.credspec_count(), 3);
    for name in ["a", "b", "c", "d"] {
        assert_eq!(lazy.credspec(name), whole.credspec(name), "{name}");
    }
    assert_eq!(lazy.credspec("c"), CredSpecLookup::MissingCredspecKey);
    match lazy.credspec("a") {
        CredSpecLookup::Found(c) => {
            assert_eq!(
                c.canonical(),
                r#"{"A":"\u003cb\u003e","CmsPlugins":["ActiveDirectory"]}"#
            )
        }
        other => panic!("{other:?}"),
    }

    // Errors name the same item, with the same words.
    for bad in [
        list(vec![cs("a"), cs("a")]),
        list(vec![cs("a"), serde_json::json!("not an object")]),
        list(vec![serde_json::json!({"apiVersion": "v1"})]),
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": "x"}).to_string(),
        format!("{}\n[1]", list(vec![cs("a")])),
        format!("{} trailing", list(vec![cs("a")])),
    ] {
        let (lazy, whole) = load(&bad);
        let (lazy, whole) = (
            lazy.unwrap_err().to_string(),
            whole.unwrap_err().to_string(),
        );
        assert_eq!(lazy, whole, "{bad}");
    }
}

/// `winkube webhook --state` serves the Windows paths from this view: a registry failure
/// falls back to the example state's pinned images.
#[test]
fn example_state_serves_its_pinned_images() {
    use winkube_registry::ImageMetadataView;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/state");
    let view = FileView::load_dir(&dir).unwrap();
    let (p, source) = view
        .pinned_image("mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2019")
        .unwrap();
    assert!(source.ends_with("images.yaml"), "{source}");
    assert!(p.platforms.iter().any(|x| x.is_windows()));
    assert!(view.pinned_image("contoso/unknown:1").is_none());
    assert!(view.windows_node_builds().known);
}

#[test]
fn duplicate_keys_in_state_files_are_errors_in_json_and_yaml() {
    // serde_json alone keeps the last duplicate silently; the credspec must not be B's
    // contents read as A's.
    let item = r#"{"apiVersion":"windows.k8s.io/v1","kind":"GMSACredentialSpec","metadata":{"name":"a"},"credspec":{"X":"b","X":"a"}}"#;
    let top = r#"{"apiVersion":"v1","kind":"List","kind":"List","items":[]}"#;
    for text in [
        item.to_owned(),
        format!(r#"{{"apiVersion":"v1","kind":"List","items":[{item}]}}"#),
        top.to_owned(),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), &text).unwrap();
        let e = FileView::load_dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("invalid JSON: duplicate key"), "{text}: {e}");
    }
    let e = view("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a, name: b}\n")
        .unwrap_err()
        .to_string();
    assert!(e.to_lowercase().contains("duplicate"), "{e}");
}

#[test]
fn state_among_inputs_is_added_and_the_same_object_twice_among_them_is_an_error() {
    let docs = |yaml: &str| parse_documents(&Source::File("in.yaml".into()), yaml).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("state.yaml"), TALK).unwrap();
    let mut v = FileView::load_dir(dir.path()).unwrap();
    assert_eq!(v.credspec_count(), 1);
    let ignored = v.ignored().len();
    let inputs = docs(
        "apiVersion: windows.k8s.io/v1\nkind: GMSACredentialSpec\nmetadata: {name: gmsa-webapp-1}\ncredspec: {CmsPlugins: [ActiveDirectory]}\n---\napiVersion: windows.k8s.io/v1\nkind: GMSACredentialSpec\nmetadata: {name: other}\ncredspec: {CmsPlugins: [ActiveDirectory]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
    );
    let kinds: Vec<bool> = inputs.iter().map(FileView::is_state).collect();
    assert_eq!(kinds, [true, true, false, false]);
    for doc in inputs {
        // The input replaces what --state had; other kinds are not the view's.
        v.add_input(doc).unwrap();
    }
    assert_eq!(v.credspec_count(), 2);
    assert_eq!(v.ignored().len(), ignored, "{:?}", v.ignored());
    let again =
        docs("apiVersion: windows.k8s.io/v1\nkind: GMSACredentialSpec\nmetadata: {name: other}\n");
    let e = v.add_input(again.into_iter().next().unwrap()).unwrap_err();
    assert!(
        e.to_string()
            .contains("GMSACredentialSpec other is defined twice (first in in.yaml (document 2))"),
        "{e}"
    );
}

#[test]
fn manifest_files_walks_directories_in_order_and_skips_hidden_entries() {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "b/x.yml",
        "a.json",
        "c.yaml",
        "notes.txt",
        ".git/config.yaml",
        "b/.hidden.yaml",
    ] {
        let p = dir.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "{}").unwrap();
    }
    let files: Vec<String> = winkube_state::documents::manifest_files(dir.path())
        .unwrap()
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(files, ["a.json", "b/x.yml", "c.yaml"]);
}
