//! Loading the offline state (manifests as JSON or YAML documents) and the Windows policy
//! file: errors, never panics; what loads can be asked about.

use winkube_policy::ClusterView as _;
use winkube_policy::windows::{WindowsClusterView as _, WindowsPolicyConfig};
use winkube_state::FileView;
use winkube_state::documents::{Source, parse_documents};

pub fn state_load(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Source::File("state.yaml".into());
    let docs = match parse_documents(&source, text) {
        Ok(d) => d,
        Err(e) => {
            assert!(
                e.to_string().contains("state.yaml"),
                "the error names the file: {e}"
            );
            return;
        }
    };
    for d in &docs {
        assert!(d.value.is_object(), "a document is an object");
        let _ = (
            d.kind(),
            d.api_version(),
            d.name(),
            d.namespace(),
            d.location(),
        );
    }
    let names: Vec<(String, Option<String>)> = docs
        .iter()
        .map(|d| (d.name().to_owned(), d.namespace().map(str::to_owned)))
        .collect();
    let Ok(view) = FileView::from_documents(docs) else {
        return;
    };
    let _ = view.windows_node_builds();
    for (name, ns) in names {
        let _ = view.credspec(&name);
        let _ = view.runtime_class(&name);
        let ns = ns.unwrap_or_default();
        let _ = view.has_service_account(&ns, &name);
        let _ = crate::block_on(view.may_use_credspec(&ns, &name, &name));
        let _ = view.pull_config(&ns, std::slice::from_ref(&name));
    }
}

pub fn policy_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match WindowsPolicyConfig::from_yaml(text) {
        Ok(c) => {
            assert!(!c.os_build.architecture.is_empty());
            // The same text parses to the same configuration.
            assert_eq!(WindowsPolicyConfig::from_yaml(text).ok(), Some(c));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
