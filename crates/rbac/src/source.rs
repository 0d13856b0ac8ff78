//! Where RBAC objects come from: the [`RbacSource`] trait and the in-memory [`RbacSnapshot`].

// Errors here are built at most once per object while loading, never per request,
// so a large error type costs nothing that matters.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};

use crate::validation::{ObjectId, RbacError};

/// Read access to the RBAC objects of one cluster.
///
/// Lookups hand out `Arc`s and bindings are visited in place, so the trait can be
/// implemented over `kube::runtime::reflector::Store<T>` (which stores `Arc<T>`)
/// without copying objects, e.g.:
///
/// ```text
/// fn role(&self, ns: &str, name: &str) -> Option<Arc<Role>> {
///     self.roles.get(&ObjectRef::new(name).within(ns))
/// }
/// fn visit_role_bindings(&self, ns: &str, visit: &mut dyn FnMut(&RoleBinding) -> ControlFlow<()>) -> ControlFlow<()> {
///     for rb in self.role_bindings.state() {
///         if rb.metadata.namespace.as_deref() == Some(ns) { visit(&rb)?; }
///     }
///     ControlFlow::Continue(())
/// }
/// ```
///
/// Visitors return `ControlFlow::Break` to stop early (evaluation stops at the first
/// grant); implementations pass a `Break` on by returning it.
pub trait RbacSource {
    /// The Role `name` in `namespace`, if it exists.
    fn role(&self, namespace: &str, name: &str) -> Option<Arc<Role>>;
    /// The ClusterRole `name`, if it exists.
    fn cluster_role(&self, name: &str) -> Option<Arc<ClusterRole>>;
    /// Calls `visit` for each RoleBinding in `namespace` until it breaks.
    fn visit_role_bindings(
        &self,
        namespace: &str,
        visit: &mut dyn FnMut(&RoleBinding) -> ControlFlow<()>,
    ) -> ControlFlow<()>;
    /// Calls `visit` for each ClusterRoleBinding until it breaks.
    fn visit_cluster_role_bindings(
        &self,
        visit: &mut dyn FnMut(&ClusterRoleBinding) -> ControlFlow<()>,
    ) -> ControlFlow<()>;
}

macro_rules! forward_source {
    ($($ty:ty),*) => {$(
        impl<T: RbacSource + ?Sized> RbacSource for $ty {
            fn role(&self, namespace: &str, name: &str) -> Option<Arc<Role>> {
                (**self).role(namespace, name)
            }
            fn cluster_role(&self, name: &str) -> Option<Arc<ClusterRole>> {
                (**self).cluster_role(name)
            }
            fn visit_role_bindings(
                &self,
                namespace: &str,
                visit: &mut dyn FnMut(&RoleBinding) -> ControlFlow<()>,
            ) -> ControlFlow<()> {
                (**self).visit_role_bindings(namespace, visit)
            }
            fn visit_cluster_role_bindings(
                &self,
                visit: &mut dyn FnMut(&ClusterRoleBinding) -> ControlFlow<()>,
            ) -> ControlFlow<()> {
                (**self).visit_cluster_role_bindings(visit)
            }
        }
    )*};
}
forward_source!(&T, Arc<T>, Box<T>);

/// An in-memory set of RBAC objects, e.g. read from a directory of YAML files.
///
/// Objects are keyed like the API server keys them; inserting an object with the
/// same key replaces the earlier one. Bindings are visited in insertion order.
#[derive(Clone, Debug, Default)]
pub struct RbacSnapshot {
    roles: BTreeMap<String, BTreeMap<String, Arc<Role>>>,
    cluster_roles: BTreeMap<String, Arc<ClusterRole>>,
    role_bindings: BTreeMap<String, Vec<Arc<RoleBinding>>>,
    cluster_role_bindings: Vec<Arc<ClusterRoleBinding>>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

fn require_name(
    kind: &'static str,
    name: &Option<String>,
    namespace: Option<&str>,
) -> Result<String, RbacError> {
    match non_empty(name) {
        Some(n) => Ok(n.to_owned()),
        None => Err(RbacError::MissingName {
            kind,
            namespace: namespace.map(str::to_owned),
        }),
    }
}

fn require_namespace(
    kind: &'static str,
    name: &str,
    namespace: &Option<String>,
) -> Result<String, RbacError> {
    match non_empty(namespace) {
        Some(ns) => Ok(ns.to_owned()),
        None => Err(RbacError::MissingNamespace {
            object: ObjectId::cluster(kind, name),
        }),
    }
}

impl RbacSnapshot {
    /// An empty snapshot: every request is denied.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a snapshot from lists of objects, all or nothing: the first object
    /// without a name (or namespace, for Roles and RoleBindings) or with the same key
    /// as an earlier one is reported and nothing is built.
    pub fn try_from_objects(
        roles: impl IntoIterator<Item = Role>,
        cluster_roles: impl IntoIterator<Item = ClusterRole>,
        role_bindings: impl IntoIterator<Item = RoleBinding>,
        cluster_role_bindings: impl IntoIterator<Item = ClusterRoleBinding>,
    ) -> Result<Self, RbacError> {
        let mut s = Self::new();
        fn dup<T>(
            replaced: Option<Arc<T>>,
            id: impl FnOnce() -> ObjectId,
        ) -> Result<(), RbacError> {
            match replaced {
                Some(_) => Err(RbacError::Duplicate { object: id() }),
                None => Ok(()),
            }
        }
        for r in roles {
            let id = ObjectId::of_role(&r);
            dup(s.insert_role(r)?, || id)?;
        }
        for r in cluster_roles {
            let id = ObjectId::of_cluster_role(&r);
            dup(s.insert_cluster_role(r)?, || id)?;
        }
        for r in role_bindings {
            let id = ObjectId::of_role_binding(&r);
            dup(s.insert_role_binding(r)?, || id)?;
        }
        for r in cluster_role_bindings {
            let id = ObjectId::of_cluster_role_binding(&r);
            dup(s.insert_cluster_role_binding(r)?, || id)?;
        }
        Ok(s)
    }

    /// Adds a Role; returns the Role it replaced. Fails, changing nothing, without a
    /// name or namespace.
    pub fn insert_role(
        &mut self,
        role: impl Into<Arc<Role>>,
    ) -> Result<Option<Arc<Role>>, RbacError> {
        let role = role.into();
        let ns_opt = non_empty(&role.metadata.namespace);
        let name = require_name("Role", &role.metadata.name, ns_opt)?;
        let ns = require_namespace("Role", &name, &role.metadata.namespace)?;
        Ok(self.roles.entry(ns).or_default().insert(name, role))
    }

    /// Adds a ClusterRole; returns the ClusterRole it replaced. Fails, changing
    /// nothing, without a name.
    pub fn insert_cluster_role(
        &mut self,
        cluster_role: impl Into<Arc<ClusterRole>>,
    ) -> Result<Option<Arc<ClusterRole>>, RbacError> {
        let cr = cluster_role.into();
        let name = require_name("ClusterRole", &cr.metadata.name, None)?;
        Ok(self.cluster_roles.insert(name, cr))
    }

    /// Adds a RoleBinding; returns the RoleBinding it replaced. Fails, changing
    /// nothing, without a name or namespace.
    pub fn insert_role_binding(
        &mut self,
        binding: impl Into<Arc<RoleBinding>>,
    ) -> Result<Option<Arc<RoleBinding>>, RbacError> {
        let rb = binding.into();
        let ns_opt = non_empty(&rb.metadata.namespace);
        let name = require_name("RoleBinding", &rb.metadata.name, ns_opt)?;
        let ns = require_namespace("RoleBinding", &name, &rb.metadata.namespace)?;
        let list = self.role_bindings.entry(ns).or_default();
        match list
            .iter_mut()
            .find(|b| b.metadata.name.as_deref() == Some(name.as_str()))
        {
            Some(slot) => Ok(Some(std::mem::replace(slot, rb))),
            None => {
                list.push(rb);
                Ok(None)
            }
        }
    }

    /// Adds a ClusterRoleBinding; returns the ClusterRoleBinding it replaced. Fails,
    /// changing nothing, without a name.
    pub fn insert_cluster_role_binding(
        &mut self,
        binding: impl Into<Arc<ClusterRoleBinding>>,
    ) -> Result<Option<Arc<ClusterRoleBinding>>, RbacError> {
        let crb = binding.into();
        let name = require_name("ClusterRoleBinding", &crb.metadata.name, None)?;
        let list = &mut self.cluster_role_bindings;
        match list
            .iter_mut()
            .find(|b| b.metadata.name.as_deref() == Some(name.as_str()))
        {
            Some(slot) => Ok(Some(std::mem::replace(slot, crb))),
            None => {
                list.push(crb);
                Ok(None)
            }
        }
    }

    /// All Roles, by namespace then name.
    pub fn roles(&self) -> impl Iterator<Item = &Arc<Role>> {
        self.roles.values().flat_map(BTreeMap::values)
    }

    /// All ClusterRoles, by name.
    pub fn cluster_roles(&self) -> impl Iterator<Item = &Arc<ClusterRole>> {
        self.cluster_roles.values()
    }

    /// All RoleBindings, by namespace then insertion order.
    pub fn role_bindings(&self) -> impl Iterator<Item = &Arc<RoleBinding>> {
        self.role_bindings.values().flatten()
    }

    /// All ClusterRoleBindings, in insertion order.
    pub fn cluster_role_bindings(&self) -> impl Iterator<Item = &Arc<ClusterRoleBinding>> {
        self.cluster_role_bindings.iter()
    }
}

impl RbacSource for RbacSnapshot {
    fn role(&self, namespace: &str, name: &str) -> Option<Arc<Role>> {
        self.roles.get(namespace)?.get(name).cloned()
    }

    fn cluster_role(&self, name: &str) -> Option<Arc<ClusterRole>> {
        self.cluster_roles.get(name).cloned()
    }

    fn visit_role_bindings(
        &self,
        namespace: &str,
        visit: &mut dyn FnMut(&RoleBinding) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        for rb in self.role_bindings.get(namespace).into_iter().flatten() {
            visit(rb)?;
        }
        ControlFlow::Continue(())
    }

    fn visit_cluster_role_bindings(
        &self,
        visit: &mut dyn FnMut(&ClusterRoleBinding) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        for crb in &self.cluster_role_bindings {
            visit(crb)?;
        }
        ControlFlow::Continue(())
    }
}
