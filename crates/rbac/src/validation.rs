//! Checks on RBAC objects: the mistakes that make a binding or rule grant nothing
//! (or not what was meant), reported as [`RbacError`]s. Evaluation never fails on
//! them; it behaves like the API server would with the same objects.

use std::fmt;

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use crate::source::{RbacSnapshot, RbacSource};

/// The API group of RBAC objects, expected in roleRef.apiGroup and User/Group subjects.
pub const RBAC_API_GROUP: &str = "rbac.authorization.k8s.io";

/// Names an RBAC object in messages: kind, then `namespace/name` or `name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectId {
    /// `Role`, `ClusterRole`, `RoleBinding` or `ClusterRoleBinding`.
    pub kind: &'static str,
    /// Namespace for namespaced objects.
    pub namespace: Option<String>,
    /// Object name (`""` when it has none).
    pub name: String,
}

impl ObjectId {
    /// A cluster-scoped object (or a namespaced one whose namespace is missing).
    pub fn cluster(kind: &'static str, name: &str) -> Self {
        Self {
            kind,
            namespace: None,
            name: name.to_owned(),
        }
    }

    fn from_meta(
        kind: &'static str,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> Self {
        Self {
            kind,
            namespace: meta.namespace.clone().filter(|n| !n.is_empty()),
            name: meta.name.clone().unwrap_or_default(),
        }
    }

    /// The id of a Role.
    pub fn of_role(o: &Role) -> Self {
        Self::from_meta("Role", &o.metadata)
    }
    /// The id of a ClusterRole.
    pub fn of_cluster_role(o: &ClusterRole) -> Self {
        Self::from_meta("ClusterRole", &o.metadata)
    }
    /// The id of a RoleBinding.
    pub fn of_role_binding(o: &RoleBinding) -> Self {
        Self::from_meta("RoleBinding", &o.metadata)
    }
    /// The id of a ClusterRoleBinding.
    pub fn of_cluster_role_binding(o: &ClusterRoleBinding) -> Self {
        Self::from_meta("ClusterRoleBinding", &o.metadata)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Something wrong with an RBAC object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RbacError {
    /// The object has no metadata.name.
    #[error("{kind}{} has no metadata.name", namespace.as_ref().map(|n| format!(" in namespace {n}")).unwrap_or_default())]
    MissingName {
        /// Kind of the object.
        kind: &'static str,
        /// Its namespace, if it had one.
        namespace: Option<String>,
    },
    /// A Role or RoleBinding has no metadata.namespace.
    #[error("{object} has no metadata.namespace (Roles and RoleBindings are namespaced)")]
    MissingNamespace {
        /// The object.
        object: ObjectId,
    },
    /// Two objects have the same kind, namespace and name.
    #[error("{object} is defined more than once")]
    Duplicate {
        /// The object.
        object: ObjectId,
    },
    /// roleRef.kind is neither Role nor ClusterRole.
    #[error(
        "{object}: roleRef.kind {kind:?} is neither Role nor ClusterRole, so the binding grants nothing"
    )]
    UnsupportedRoleRefKind {
        /// The binding.
        object: ObjectId,
        /// The kind it names.
        kind: String,
    },
    /// A ClusterRoleBinding references a Role.
    #[error(
        "{object}: a ClusterRoleBinding can reference only a ClusterRole, not Role {name:?}, so it grants nothing"
    )]
    ClusterRoleBindingToRole {
        /// The binding.
        object: ObjectId,
        /// The Role's name.
        name: String,
    },
    /// roleRef.apiGroup is not `rbac.authorization.k8s.io` (the API server refuses it; evaluation ignores it).
    #[error("{object}: roleRef.apiGroup is {api_group:?}, expected \"rbac.authorization.k8s.io\"")]
    RoleRefApiGroup {
        /// The binding.
        object: ObjectId,
        /// The group it names.
        api_group: String,
    },
    /// roleRef.name is empty.
    #[error("{object}: roleRef.name is empty")]
    EmptyRoleRefName {
        /// The binding.
        object: ObjectId,
    },
    /// The referenced role does not exist (Roles are looked up in the binding's namespace).
    #[error("{object}: {kind} {name:?} does not exist{}, so the binding grants nothing", namespace.as_ref().map(|n| format!(" in namespace {n}")).unwrap_or_default())]
    RoleNotFound {
        /// The binding.
        object: ObjectId,
        /// `Role` or `ClusterRole`.
        kind: String,
        /// The role's name.
        name: String,
        /// Namespace searched, for Roles.
        namespace: Option<String>,
    },
    /// A subject's kind is not ServiceAccount, User or Group.
    #[error(
        "{object}: subjects[{index}].kind {kind:?} is not ServiceAccount, User or Group, so it matches nobody"
    )]
    UnsupportedSubjectKind {
        /// The binding.
        object: ObjectId,
        /// Index in subjects.
        index: usize,
        /// The kind it names.
        kind: String,
    },
    /// A subject has no name.
    #[error("{object}: subjects[{index}] ({kind}) has an empty name")]
    EmptySubjectName {
        /// The binding.
        object: ObjectId,
        /// Index in subjects.
        index: usize,
        /// The subject's kind.
        kind: String,
    },
    /// A subject's apiGroup is wrong for its kind (the API server refuses it; evaluation ignores it).
    #[error(
        "{object}: subjects[{index}] ({kind} {name:?}) has apiGroup {api_group:?}, expected {expected:?}"
    )]
    SubjectApiGroup {
        /// The binding.
        object: ObjectId,
        /// Index in subjects.
        index: usize,
        /// The subject's kind.
        kind: String,
        /// The subject's name.
        name: String,
        /// The apiGroup given.
        api_group: String,
        /// The apiGroup that kind needs.
        expected: &'static str,
    },
    /// A ServiceAccount subject of a ClusterRoleBinding has no namespace.
    #[error(
        "{object}: subjects[{index}] is ServiceAccount {name:?} without a namespace, which in a ClusterRoleBinding matches nobody"
    )]
    ServiceAccountWithoutNamespace {
        /// The binding.
        object: ObjectId,
        /// Index in subjects.
        index: usize,
        /// The service account's name.
        name: String,
    },
    /// A rule has no verbs.
    #[error("{object}: rules[{index}] has no verbs, so it grants nothing")]
    RuleWithoutVerbs {
        /// The role.
        object: ObjectId,
        /// Index in rules.
        index: usize,
    },
    /// A rule has nonResourceURLs and also apiGroups, resources or resourceNames.
    #[error(
        "{object}: rules[{index}] mixes nonResourceURLs with apiGroups, resources or resourceNames"
    )]
    RuleMixesResourcesAndUrls {
        /// The role.
        object: ObjectId,
        /// Index in rules.
        index: usize,
    },
    /// A Role has a nonResourceURLs rule (only ClusterRoles bound by ClusterRoleBindings can grant those).
    #[error("{object}: rules[{index}] has nonResourceURLs, which a namespaced Role cannot grant")]
    NonResourceUrlsInRole {
        /// The role.
        object: ObjectId,
        /// Index in rules.
        index: usize,
    },
    /// A resource rule has no apiGroups.
    #[error(
        "{object}: rules[{index}] has no apiGroups (use \"\" for the core group), so it grants nothing"
    )]
    RuleWithoutApiGroups {
        /// The role.
        object: ObjectId,
        /// Index in rules.
        index: usize,
    },
    /// A resource rule has no resources.
    #[error("{object}: rules[{index}] has no resources, so it grants nothing")]
    RuleWithoutResources {
        /// The role.
        object: ObjectId,
        /// Index in rules.
        index: usize,
    },
    /// An aggregated ClusterRole carries no rules; offline evaluation uses stored rules only.
    #[error(
        "{object} has an aggregationRule but no rules; in a cluster the aggregation controller fills them, offline they must be written out"
    )]
    AggregatedWithoutRules {
        /// The ClusterRole.
        object: ObjectId,
    },
}

/// `RoleRef.apiGroup` is a `String` up to Kubernetes 1.35 and an `Option<String>` from
/// 1.36; the binary picks the version, so read it through this.
trait OptionalText {
    fn text(&self) -> &str;
}

impl OptionalText for String {
    fn text(&self) -> &str {
        self
    }
}

impl OptionalText for Option<String> {
    fn text(&self) -> &str {
        self.as_deref().unwrap_or_default()
    }
}

fn is_empty(v: &Option<Vec<String>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

fn lint_rules(object: &ObjectId, rules: &[PolicyRule], namespaced: bool, out: &mut Vec<RbacError>) {
    for (index, rule) in rules.iter().enumerate() {
        let object = || object.clone();
        if rule.verbs.is_empty() {
            out.push(RbacError::RuleWithoutVerbs {
                object: object(),
                index,
            });
        }
        if !is_empty(&rule.non_resource_urls) {
            if namespaced {
                out.push(RbacError::NonResourceUrlsInRole {
                    object: object(),
                    index,
                });
            }
            if !is_empty(&rule.api_groups)
                || !is_empty(&rule.resources)
                || !is_empty(&rule.resource_names)
            {
                out.push(RbacError::RuleMixesResourcesAndUrls {
                    object: object(),
                    index,
                });
            }
            continue;
        }
        if is_empty(&rule.api_groups) {
            out.push(RbacError::RuleWithoutApiGroups {
                object: object(),
                index,
            });
        }
        if is_empty(&rule.resources) {
            out.push(RbacError::RuleWithoutResources {
                object: object(),
                index,
            });
        }
    }
}

fn lint_meta(id: &ObjectId, namespaced: bool, out: &mut Vec<RbacError>) {
    if id.name.is_empty() {
        out.push(RbacError::MissingName {
            kind: id.kind,
            namespace: id.namespace.clone(),
        });
    }
    if namespaced && id.namespace.is_none() {
        out.push(RbacError::MissingNamespace { object: id.clone() });
    }
}

/// Problems with a Role.
pub fn lint_role(role: &Role) -> Vec<RbacError> {
    let id = ObjectId::of_role(role);
    let mut out = Vec::new();
    lint_meta(&id, true, &mut out);
    lint_rules(
        &id,
        role.rules.as_deref().unwrap_or_default(),
        true,
        &mut out,
    );
    out
}

/// Problems with a ClusterRole.
pub fn lint_cluster_role(cluster_role: &ClusterRole) -> Vec<RbacError> {
    let id = ObjectId::of_cluster_role(cluster_role);
    let mut out = Vec::new();
    lint_meta(&id, false, &mut out);
    let rules = cluster_role.rules.as_deref().unwrap_or_default();
    if cluster_role.aggregation_rule.is_some() && rules.is_empty() {
        out.push(RbacError::AggregatedWithoutRules { object: id.clone() });
    }
    lint_rules(&id, rules, false, &mut out);
    out
}

fn lint_role_ref(id: &ObjectId, role_ref: &RoleRef, cluster: bool, out: &mut Vec<RbacError>) {
    match role_ref.kind.as_str() {
        "ClusterRole" => {}
        "Role" if !cluster => {}
        "Role" => out.push(RbacError::ClusterRoleBindingToRole {
            object: id.clone(),
            name: role_ref.name.clone(),
        }),
        other => out.push(RbacError::UnsupportedRoleRefKind {
            object: id.clone(),
            kind: other.to_owned(),
        }),
    }
    let api_group = role_ref.api_group.text();
    if api_group != RBAC_API_GROUP {
        out.push(RbacError::RoleRefApiGroup {
            object: id.clone(),
            api_group: api_group.to_owned(),
        });
    }
    if role_ref.name.is_empty() {
        out.push(RbacError::EmptyRoleRefName { object: id.clone() });
    }
}

fn lint_subjects(id: &ObjectId, subjects: &[Subject], cluster: bool, out: &mut Vec<RbacError>) {
    for (index, s) in subjects.iter().enumerate() {
        let api_group = s.api_group.as_deref().unwrap_or_default();
        let expected = match s.kind.as_str() {
            "User" | "Group" => RBAC_API_GROUP,
            "ServiceAccount" => "",
            other => {
                out.push(RbacError::UnsupportedSubjectKind {
                    object: id.clone(),
                    index,
                    kind: other.to_owned(),
                });
                continue;
            }
        };
        if s.name.is_empty() {
            out.push(RbacError::EmptySubjectName {
                object: id.clone(),
                index,
                kind: s.kind.clone(),
            });
        }
        if api_group != expected {
            out.push(RbacError::SubjectApiGroup {
                object: id.clone(),
                index,
                kind: s.kind.clone(),
                name: s.name.clone(),
                api_group: api_group.to_owned(),
                expected,
            });
        }
        if cluster
            && s.kind == "ServiceAccount"
            && s.namespace.as_deref().unwrap_or_default().is_empty()
        {
            out.push(RbacError::ServiceAccountWithoutNamespace {
                object: id.clone(),
                index,
                name: s.name.clone(),
            });
        }
    }
}

/// Problems with a RoleBinding (not including whether its role exists; see [`RbacSnapshot::lint`]).
pub fn lint_role_binding(binding: &RoleBinding) -> Vec<RbacError> {
    let id = ObjectId::of_role_binding(binding);
    let mut out = Vec::new();
    lint_meta(&id, true, &mut out);
    lint_role_ref(&id, &binding.role_ref, false, &mut out);
    lint_subjects(
        &id,
        binding.subjects.as_deref().unwrap_or_default(),
        false,
        &mut out,
    );
    out
}

/// Problems with a ClusterRoleBinding (not including whether its role exists; see [`RbacSnapshot::lint`]).
pub fn lint_cluster_role_binding(binding: &ClusterRoleBinding) -> Vec<RbacError> {
    let id = ObjectId::of_cluster_role_binding(binding);
    let mut out = Vec::new();
    lint_meta(&id, false, &mut out);
    lint_role_ref(&id, &binding.role_ref, true, &mut out);
    lint_subjects(
        &id,
        binding.subjects.as_deref().unwrap_or_default(),
        true,
        &mut out,
    );
    out
}

impl RbacSnapshot {
    /// Problems with every object in the snapshot, plus bindings whose role does not exist.
    pub fn lint(&self) -> Vec<RbacError> {
        let mut out = Vec::new();
        for r in self.roles() {
            out.extend(lint_role(r));
        }
        for r in self.cluster_roles() {
            out.extend(lint_cluster_role(r));
        }
        for rb in self.role_bindings() {
            out.extend(lint_role_binding(rb));
            let ns = rb.metadata.namespace.as_deref().unwrap_or_default();
            let rr = &rb.role_ref;
            let missing = match rr.kind.as_str() {
                "Role" => self.role(ns, &rr.name).is_none(),
                "ClusterRole" => self.cluster_role(&rr.name).is_none(),
                _ => false,
            };
            if missing {
                out.push(RbacError::RoleNotFound {
                    object: ObjectId::of_role_binding(rb),
                    kind: rr.kind.clone(),
                    name: rr.name.clone(),
                    namespace: (rr.kind == "Role").then(|| ns.to_owned()),
                });
            }
        }
        for crb in self.cluster_role_bindings() {
            out.extend(lint_cluster_role_binding(crb));
            let rr = &crb.role_ref;
            if rr.kind == "ClusterRole" && self.cluster_role(&rr.name).is_none() {
                out.push(RbacError::RoleNotFound {
                    object: ObjectId::of_cluster_role_binding(crb),
                    kind: rr.kind.clone(),
                    name: rr.name.clone(),
                    namespace: None,
                });
            }
        }
        out
    }
}
