//! What the Windows policies may know about the cluster, and the image metadata that the
//! caller resolved before the policy ran (registry lookups are I/O, policies are not).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Toleration;
use k8s_openapi::api::node::v1::RuntimeClass;
use winkube_api::windows::{
    ImagePlatforms, Isolation, LABEL_OS, LABEL_WINDOWS_BUILD, OS_WINDOWS, WindowsBuild,
    WindowsError, runtime_class_isolation,
};

/// A RuntimeClass as the policies need it.
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeClassInfo {
    pub name: String,
    pub handler: String,
    pub isolation: Isolation,
    /// `scheduling.nodeSelector` (merged into pods by the RuntimeClass admission plugin).
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
}

impl RuntimeClassInfo {
    /// Reads a RuntimeClass; `hyperv_handlers` are the configured extra Hyper-V handlers.
    pub fn from_resource(rc: &RuntimeClass, hyperv_handlers: &[String]) -> Self {
        let sched = rc.scheduling.as_ref();
        Self {
            name: rc.metadata.name.clone().unwrap_or_default(),
            handler: rc.handler.clone(),
            isolation: runtime_class_isolation(rc, hyperv_handlers),
            node_selector: sched
                .and_then(|s| s.node_selector.clone())
                .unwrap_or_default(),
            tolerations: sched
                .and_then(|s| s.tolerations.clone())
                .unwrap_or_default(),
        }
    }

    /// The OS the class's scheduling selects, if any.
    pub fn os(&self) -> Option<&str> {
        self.node_selector.get(LABEL_OS).map(String::as_str)
    }

    /// The Windows build the class's scheduling selects, if any.
    pub fn windows_build(&self) -> Option<&str> {
        self.node_selector
            .get(LABEL_WINDOWS_BUILD)
            .map(String::as_str)
    }
}

/// The result of looking a RuntimeClass up.
#[derive(Clone, Debug, PartialEq)]
pub enum RuntimeClassLookup {
    Found(RuntimeClassInfo),
    NotFound,
    /// The view could not answer (cache not synced).
    Unavailable(String),
}

/// The builds of the cluster's Windows nodes (`node.kubernetes.io/windows-build`), with
/// how many nodes have each.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NodeBuilds {
    pub builds: BTreeMap<WindowsBuild, usize>,
    /// False when the view has not synced yet: "no node of that build" is then unknown.
    pub known: bool,
}

impl NodeBuilds {
    pub fn from_builds(builds: impl IntoIterator<Item = WindowsBuild>) -> Self {
        let mut m = BTreeMap::new();
        for b in builds {
            *m.entry(b).or_insert(0) += 1;
        }
        Self {
            builds: m,
            known: true,
        }
    }

    /// Builds from nodes' label values; unparseable values are skipped.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a str>) -> Self {
        Self::from_builds(
            labels
                .into_iter()
                .filter_map(|l| WindowsBuild::parse(l).ok()),
        )
    }

    pub fn set(&self) -> BTreeSet<WindowsBuild> {
        self.builds.keys().copied().collect()
    }
}

/// What a Node's labels say about its Windows build: the one reading of
/// `kubernetes.io/os` and `node.kubernetes.io/windows-build` that every view uses (each
/// decides what an unlabelled or invalid node means to it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeBuildLabel<'a> {
    /// Not a Windows node (`kubernetes.io/os` is not `windows`): its build label, if any,
    /// means nothing.
    NotWindows,
    /// A Windows node without the build label: its build is unknown.
    Missing,
    Build(WindowsBuild),
    /// The label's value is not a Windows build.
    Invalid {
        value: &'a str,
        error: WindowsError,
    },
}

impl<'a> NodeBuildLabel<'a> {
    /// Reads a Node's `metadata.labels`.
    pub fn of(labels: &'a BTreeMap<String, String>) -> Self {
        if labels.get(LABEL_OS).map(String::as_str) != Some(OS_WINDOWS) {
            return Self::NotWindows;
        }
        match labels.get(LABEL_WINDOWS_BUILD) {
            None => Self::Missing,
            Some(value) => match WindowsBuild::parse(value) {
                Ok(b) => Self::Build(b),
                Err(error) => Self::Invalid { value, error },
            },
        }
    }
}

/// What the Windows policies may ask about the cluster. Must not block on the network:
/// the live implementation answers from reflector caches.
pub trait WindowsClusterView {
    /// Builds of the Windows nodes.
    fn windows_node_builds(&self) -> NodeBuilds;
    /// A RuntimeClass by name.
    fn runtime_class(&self, name: &str) -> RuntimeClassLookup;
}

/// A fixed view: for tests, `winkube admit`'s state directory, and as a snapshot.
#[derive(Clone, Debug, Default)]
pub struct StaticWindowsView {
    pub node_builds: NodeBuilds,
    pub runtime_classes: BTreeMap<String, RuntimeClassInfo>,
}

impl StaticWindowsView {
    pub fn new(node_builds: impl IntoIterator<Item = WindowsBuild>) -> Self {
        Self {
            node_builds: NodeBuilds::from_builds(node_builds),
            runtime_classes: BTreeMap::new(),
        }
    }

    pub fn with_runtime_class(mut self, rc: RuntimeClassInfo) -> Self {
        self.runtime_classes.insert(rc.name.clone(), rc);
        self
    }
}

impl WindowsClusterView for StaticWindowsView {
    fn windows_node_builds(&self) -> NodeBuilds {
        self.node_builds.clone()
    }
    fn runtime_class(&self, name: &str) -> RuntimeClassLookup {
        match self.runtime_classes.get(name) {
            Some(rc) => RuntimeClassLookup::Found(rc.clone()),
            None => RuntimeClassLookup::NotFound,
        }
    }
}

/// An image the caller should resolve before running the policies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImageRequest {
    /// The image as written in the pod (the key of [`ImageResolutions`]).
    pub image: String,
    /// The pod's `imagePullSecrets` (names in the pod's namespace), for registry auth.
    pub pull_secrets: Vec<String>,
}

/// The outcome of resolving one image.
#[derive(Clone, Debug, PartialEq)]
pub enum ImageLookup {
    Found(ImagePlatforms),
    /// The registry could not be asked or answered with an error; the text says why.
    Unavailable(String),
}

/// Image metadata resolved before the policy runs, keyed by the image string as written
/// in the pod. An image missing from the map counts as unresolved.
pub type ImageResolutions = BTreeMap<String, ImageLookup>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_build_label_reads_os_then_build() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let linux = labels(&[(LABEL_OS, "linux"), (LABEL_WINDOWS_BUILD, "10.0.17763")]);
        assert_eq!(NodeBuildLabel::of(&linux), NodeBuildLabel::NotWindows);
        let bare = labels(&[(LABEL_OS, OS_WINDOWS)]);
        assert_eq!(NodeBuildLabel::of(&bare), NodeBuildLabel::Missing);
        let w = labels(&[(LABEL_OS, OS_WINDOWS), (LABEL_WINDOWS_BUILD, "10.0.17763")]);
        assert_eq!(
            NodeBuildLabel::of(&w),
            NodeBuildLabel::Build(WindowsBuild::ten(17763))
        );
        let bad = labels(&[(LABEL_OS, OS_WINDOWS), (LABEL_WINDOWS_BUILD, "ten")]);
        assert!(matches!(
            NodeBuildLabel::of(&bad),
            NodeBuildLabel::Invalid { value: "ten", .. }
        ));
    }
}
