//! The resource types the stand-in serves, and those it serves from the start.

/// A resource type the stand-in serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// `""` for the core group.
    pub group: String,
    pub version: String,
    pub plural: String,
    pub kind: String,
    pub namespaced: bool,
}

impl ResourceType {
    pub fn new(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            plural: plural.to_owned(),
            kind: kind.to_owned(),
            namespaced,
        }
    }

    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural` or `plural.group`, as API error messages name the resource.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The types served from the start: winkube's credspecs, RBAC, common core and node
    /// types, and the workload kinds (apps/v1, batch/v1, ReplicationControllers).
    pub fn defaults() -> Vec<Self> {
        vec![
            Self::new(
                "windows.k8s.io",
                "v1",
                "gmsacredentialspecs",
                "GMSACredentialSpec",
                false,
            ),
            Self::new(
                "windows.k8s.io",
                "v1alpha1",
                "gmsacredentialspecs",
                "GMSACredentialSpec",
                false,
            ),
            Self::new("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
            Self::new(
                "rbac.authorization.k8s.io",
                "v1",
                "clusterroles",
                "ClusterRole",
                false,
            ),
            Self::new(
                "rbac.authorization.k8s.io",
                "v1",
                "rolebindings",
                "RoleBinding",
                true,
            ),
            Self::new(
                "rbac.authorization.k8s.io",
                "v1",
                "clusterrolebindings",
                "ClusterRoleBinding",
                false,
            ),
            Self::new("", "v1", "namespaces", "Namespace", false),
            Self::new("", "v1", "nodes", "Node", false),
            Self::new("", "v1", "pods", "Pod", true),
            Self::new("", "v1", "serviceaccounts", "ServiceAccount", true),
            Self::new("", "v1", "configmaps", "ConfigMap", true),
            Self::new("", "v1", "secrets", "Secret", true),
            Self::new("", "v1", "services", "Service", true),
            Self::new(
                "discovery.k8s.io",
                "v1",
                "endpointslices",
                "EndpointSlice",
                true,
            ),
            Self::new(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "CustomResourceDefinition",
                false,
            ),
            Self::new("coordination.k8s.io", "v1", "leases", "Lease", true),
            Self::new(
                "",
                "v1",
                "replicationcontrollers",
                "ReplicationController",
                true,
            ),
            Self::new("apps", "v1", "deployments", "Deployment", true),
            Self::new("apps", "v1", "replicasets", "ReplicaSet", true),
            Self::new("apps", "v1", "statefulsets", "StatefulSet", true),
            Self::new("apps", "v1", "daemonsets", "DaemonSet", true),
            Self::new("batch", "v1", "jobs", "Job", true),
            Self::new("batch", "v1", "cronjobs", "CronJob", true),
            Self::new("node.k8s.io", "v1", "runtimeclasses", "RuntimeClass", false),
            Self::new(
                "admissionregistration.k8s.io",
                "v1",
                "mutatingwebhookconfigurations",
                "MutatingWebhookConfiguration",
                false,
            ),
            Self::new(
                "admissionregistration.k8s.io",
                "v1",
                "validatingwebhookconfigurations",
                "ValidatingWebhookConfiguration",
                false,
            ),
        ]
    }
}
