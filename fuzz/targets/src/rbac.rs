//! The RBAC evaluator over objects and requests from the fuzzer (JSON): `authorize` agrees
//! with `explain`, an allow names a rule that grants the request, and a RoleBinding never
//! grants anything outside its own namespace.

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::Deserialize;
use winkube_rbac::{
    BindingOutcome, NonResourceRequest, RbacSnapshot, Request, ResourceRequest, UserInfo,
    authorize, explain, lint_cluster_role, lint_cluster_role_binding, lint_role, lint_role_binding,
};

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Input {
    roles: Vec<Role>,
    cluster_roles: Vec<ClusterRole>,
    role_bindings: Vec<RoleBinding>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
    user: String,
    groups: Vec<String>,
    requests: Vec<Req>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Req {
    verb: String,
    api_group: String,
    resource: String,
    subresource: String,
    namespace: String,
    name: String,
    /// A non-resource request when set.
    path: Option<String>,
}

pub fn rbac(data: &[u8]) {
    let Ok(input) = serde_json::from_slice::<Input>(data) else {
        return;
    };
    input.roles.iter().for_each(|r| drop(lint_role(r)));
    input
        .cluster_roles
        .iter()
        .for_each(|r| drop(lint_cluster_role(r)));
    input
        .role_bindings
        .iter()
        .for_each(|r| drop(lint_role_binding(r)));
    input
        .cluster_role_bindings
        .iter()
        .for_each(|r| drop(lint_cluster_role_binding(r)));
    let Ok(all) = RbacSnapshot::try_from_objects(
        input.roles.clone(),
        input.cluster_roles.clone(),
        input.role_bindings.clone(),
        input.cluster_role_bindings.clone(),
    ) else {
        return;
    };
    let namespaced_only = RbacSnapshot::try_from_objects(
        input.roles.clone(),
        input.cluster_roles.clone(),
        input.role_bindings.clone(),
        Vec::new(),
    )
    .expect("a subset of a valid snapshot is valid");
    let user = UserInfo::new(input.user.clone(), input.groups.clone());
    for r in &input.requests {
        let request: Request<'_> = match &r.path {
            Some(path) => Request::NonResource(NonResourceRequest {
                verb: &r.verb,
                path,
            }),
            None => Request::Resource(
                ResourceRequest::new(&r.verb, &r.api_group, &r.resource)
                    .in_namespace(&r.namespace)
                    .with_subresource(&r.subresource)
                    .named(&r.name),
            ),
        };
        let d = authorize(&all, &user, request);
        let e = explain(&all, &user, request);
        assert_eq!(d, e.decision, "authorize and explain disagree");
        if d.allowed {
            assert!(d.reason.starts_with("RBAC: allowed by "), "{}", d.reason);
            assert!(
                e.bindings
                    .iter()
                    .any(|b| matches!(b.outcome, BindingOutcome::Allows { .. })),
                "an allow names no binding"
            );
        }
        let n = authorize(&namespaced_only, &user, request);
        if n.allowed {
            assert!(d.allowed, "removing bindings granted more");
            let ns = request.namespace();
            assert!(
                !ns.is_empty()
                    && input
                        .role_bindings
                        .iter()
                        .any(|b| b.metadata.namespace.as_deref() == Some(ns)),
                "a RoleBinding granted a request outside its namespace ({ns:?})"
            );
        }
    }
}
