//! Table-driven checks against the examples of
//! https://kubernetes.io/docs/reference/access-authn-authz/rbac/ and the gMSA docs,
//! with the reasons the Kubernetes RBAC authorizer gives.

#![allow(clippy::unwrap_used)] // test fixtures are literals; a failure is a test bug

use std::ops::ControlFlow;
use std::sync::Arc;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde_json::{Value, json};
use winkube_rbac::{
    BindingOutcome, NonResourceRequest, RbacError, RbacSnapshot, RbacSource, Request,
    ResourceRequest, RuleMismatch, UserInfo, authorize, explain, lint_cluster_role_binding,
    lint_role, lint_role_binding,
};

fn role(ns: &str, name: &str, rules: Value) -> Role {
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns}, "rules": rules}))
        .unwrap()
}

fn cluster_role(name: &str, rules: Value) -> ClusterRole {
    serde_json::from_value(json!({"metadata": {"name": name}, "rules": rules})).unwrap()
}

fn role_ref(kind: &str, name: &str) -> Value {
    json!({"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name})
}

fn role_binding(ns: &str, name: &str, kind: &str, role: &str, subjects: Value) -> RoleBinding {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns},
        "roleRef": role_ref(kind, role),
        "subjects": subjects,
    }))
    .unwrap()
}

fn cluster_role_binding(name: &str, kind: &str, role: &str, subjects: Value) -> ClusterRoleBinding {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "roleRef": role_ref(kind, role),
        "subjects": subjects,
    }))
    .unwrap()
}

fn user(name: &str) -> Value {
    json!({"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"})
}

fn group(name: &str) -> Value {
    json!({"kind": "Group", "name": name, "apiGroup": "rbac.authorization.k8s.io"})
}

fn service_account(ns: &str, name: &str) -> Value {
    json!({"kind": "ServiceAccount", "name": name, "namespace": ns})
}

/// The state every case runs against: the documentation's examples side by side.
fn docs_cluster() -> RbacSnapshot {
    let pod_verbs = json!(["get", "watch", "list"]);
    RbacSnapshot::try_from_objects(
        [
            role("default", "pod-reader", json!([{"apiGroups": [""], "resources": ["pods"], "verbs": pod_verbs}])),
            role(
                "default",
                "configmap-updater",
                json!([{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["my-configmap"], "verbs": ["update", "get"]}]),
            ),
            role(
                "default",
                "pod-and-pod-logs-reader",
                json!([{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}]),
            ),
            // A Role in "other" that a RoleBinding in "elsewhere" tries to use.
            role("other", "cross-ns", json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])),
        ],
        [
            cluster_role("secret-reader", json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "watch", "list"]}])),
            cluster_role("everything", json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])),
            cluster_role(
                "status-writer",
                json!([{"apiGroups": ["apps", ""], "resources": ["*/status"], "verbs": ["update"]}]),
            ),
            cluster_role("pod-subresources", json!([{"apiGroups": [""], "resources": ["pods/*"], "verbs": ["get"]}])),
            cluster_role(
                "gmsa-webapp-1-role",
                json!([{"apiGroups": ["windows.k8s.io"], "resources": ["gmsacredentialspecs"], "verbs": ["use"], "resourceNames": ["gmsa-webapp-1"]}]),
            ),
            cluster_role(
                "health",
                json!([{"nonResourceURLs": ["/healthz", "/healthz/*"], "verbs": ["get"]}]),
            ),
            cluster_role("nodes-reader", json!([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}])),
            serde_json::from_value(json!({
                "metadata": {"name": "monitoring"},
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}}]},
                "rules": [{"apiGroups": [""], "resources": ["services", "endpoints"], "verbs": ["get", "list"]}],
            }))
            .unwrap(),
        ],
        [
            role_binding("default", "read-pods", "Role", "pod-reader", json!([user("jane")])),
            role_binding("development", "read-secrets", "ClusterRole", "secret-reader", json!([user("dave")])),
            role_binding("default", "update-my-configmap", "Role", "configmap-updater", json!([user("carol")])),
            role_binding("default", "logs", "Role", "pod-and-pod-logs-reader", json!([user("lee")])),
            role_binding(
                "default",
                "allow-default-svc-account-read-on-gmsa-webapp-1",
                "ClusterRole",
                "gmsa-webapp-1-role",
                json!([service_account("default", "default")]),
            ),
            role_binding("team-a", "team-a-pods", "ClusterRole", "nodes-reader", json!([group("system:serviceaccounts:team-a")])),
            role_binding("default", "implicit-sa-ns", "Role", "pod-reader", json!([{"kind": "ServiceAccount", "name": "builder"}])),
            role_binding("elsewhere", "cross-ns", "Role", "cross-ns", json!([user("xavier")])),
            role_binding("default", "dangling", "ClusterRole", "does-not-exist", json!([user("ghost")])),
            role_binding("default", "dangling-role", "Role", "no-such-role", json!([user("ghost")])),
            role_binding("default", "health-in-ns", "ClusterRole", "health", json!([user("nina")])),
            role_binding("default", "monitoring", "ClusterRole", "monitoring", json!([user("mona")])),
        ],
        [
            cluster_role_binding("read-secrets-global", "ClusterRole", "secret-reader", json!([group("manager")])),
            cluster_role_binding("root", "ClusterRole", "everything", json!([user("admin")])),
            cluster_role_binding("status", "ClusterRole", "status-writer", json!([user("stat")])),
            cluster_role_binding("pods-star", "ClusterRole", "pod-subresources", json!([user("star")])),
            cluster_role_binding("health", "ClusterRole", "health", json!([group("system:authenticated")])),
            cluster_role_binding("crb-to-role", "Role", "pod-reader", json!([user("rolf")])),
            cluster_role_binding("crb-bad-kind", "Policy", "pod-reader", json!([user("rolf")])),
            cluster_role_binding("sa-without-ns", "ClusterRole", "nodes-reader", json!([{"kind": "ServiceAccount", "name": "default"}])),
        ],
    )
    .unwrap()
}

struct Case {
    what: &'static str,
    user: UserInfo,
    request: Request<'static>,
    allowed: bool,
    reason: &'static str,
}

fn res(
    ns: &'static str,
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
) -> ResourceRequest<'static> {
    ResourceRequest::new(verb, group, resource).in_namespace(ns)
}

fn plain(name: &str) -> UserInfo {
    UserInfo::new(name, ["system:authenticated"])
}

fn case(
    what: &'static str,
    user: UserInfo,
    request: impl Into<Request<'static>>,
    allowed: bool,
    reason: &'static str,
) -> Case {
    Case {
        what,
        user,
        request: request.into(),
        allowed,
        reason,
    }
}

#[test]
fn documented_examples() {
    let snap = docs_cluster();
    let sa = UserInfo::service_account;
    let gmsa = |ns| res(ns, "use", "windows.k8s.io", "gmsacredentialspecs");
    let gmsa_allowed = r#"RBAC: allowed by RoleBinding "allow-default-svc-account-read-on-gmsa-webapp-1/default" of ClusterRole "gmsa-webapp-1-role" to ServiceAccount "default/default""#;
    let cases = [
        // Role + RoleBinding: pod-reader for jane in default.
        case(
            "pod reader in its namespace",
            plain("jane"),
            res("default", "get", "", "pods").named("web"),
            true,
            r#"RBAC: allowed by RoleBinding "read-pods/default" of Role "pod-reader" to User "jane""#,
        ),
        case(
            "pod reader lists",
            plain("jane"),
            res("default", "list", "", "pods"),
            true,
            r#"RBAC: allowed by RoleBinding "read-pods/default" of Role "pod-reader" to User "jane""#,
        ),
        case(
            "pod reader cannot delete",
            plain("jane"),
            res("default", "delete", "", "pods").named("web"),
            false,
            "",
        ),
        case(
            "pod reader elsewhere",
            plain("jane"),
            res("kube-system", "get", "", "pods"),
            false,
            "",
        ),
        case(
            "pod reader cluster-wide list",
            plain("jane"),
            res("", "list", "", "pods"),
            false,
            "",
        ),
        case(
            "pod reader not in apps group",
            plain("jane"),
            res("default", "get", "apps", "pods"),
            false,
            "",
        ),
        case(
            "pod reader has no pods/log",
            plain("jane"),
            res("default", "get", "", "pods").with_subresource("log"),
            false,
            "",
        ),
        case(
            "another user",
            plain("bob"),
            res("default", "get", "", "pods"),
            false,
            "",
        ),
        // ClusterRole via RoleBinding: limited to the binding's namespace.
        case(
            "secret reader in development",
            plain("dave"),
            res("development", "get", "", "secrets").named("s"),
            true,
            r#"RBAC: allowed by RoleBinding "read-secrets/development" of ClusterRole "secret-reader" to User "dave""#,
        ),
        case(
            "secret reader not in default",
            plain("dave"),
            res("default", "get", "", "secrets"),
            false,
            "",
        ),
        case(
            "secret reader not cluster-wide",
            plain("dave"),
            res("", "list", "", "secrets"),
            false,
            "",
        ),
        // ClusterRoleBinding to a group: everywhere, and cluster-wide.
        case(
            "group manager reads secrets anywhere",
            UserInfo::new("mia", ["manager"]),
            res("kube-system", "watch", "", "secrets"),
            true,
            r#"RBAC: allowed by ClusterRoleBinding "read-secrets-global" of ClusterRole "secret-reader" to Group "manager""#,
        ),
        case(
            "group manager lists secrets cluster-wide",
            UserInfo::new("mia", ["manager"]),
            res("", "list", "", "secrets"),
            true,
            r#"RBAC: allowed by ClusterRoleBinding "read-secrets-global" of ClusterRole "secret-reader" to Group "manager""#,
        ),
        case(
            "name of a group is not a user",
            plain("manager"),
            res("", "list", "", "secrets"),
            false,
            "",
        ),
        // resourceNames.
        case(
            "named configmap",
            plain("carol"),
            res("default", "update", "", "configmaps").named("my-configmap"),
            true,
            r#"RBAC: allowed by RoleBinding "update-my-configmap/default" of Role "configmap-updater" to User "carol""#,
        ),
        case(
            "other configmap",
            plain("carol"),
            res("default", "get", "", "configmaps").named("other"),
            false,
            "",
        ),
        case(
            "list is not restricted by name, so it is denied",
            plain("carol"),
            res("default", "get", "", "configmaps"),
            false,
            "",
        ),
        // Subresources.
        case(
            "pods/log listed",
            plain("lee"),
            res("default", "get", "", "pods")
                .named("p")
                .with_subresource("log"),
            true,
            r#"RBAC: allowed by RoleBinding "logs/default" of Role "pod-and-pod-logs-reader" to User "lee""#,
        ),
        case(
            "pods/status not listed",
            plain("lee"),
            res("default", "get", "", "pods")
                .named("p")
                .with_subresource("status"),
            false,
            "",
        ),
        case(
            "*/status matches any status",
            plain("stat"),
            res("prod", "update", "apps", "deployments")
                .named("d")
                .with_subresource("status"),
            true,
            r#"RBAC: allowed by ClusterRoleBinding "status" of ClusterRole "status-writer" to User "stat""#,
        ),
        case(
            "*/status does not match the resource",
            plain("stat"),
            res("prod", "update", "apps", "deployments").named("d"),
            false,
            "",
        ),
        case(
            "*/status does not match other subresources",
            plain("stat"),
            res("prod", "update", "", "pods").with_subresource("statusx"),
            false,
            "",
        ),
        case(
            "pods/* is not a wildcard upstream",
            plain("star"),
            res("default", "get", "", "pods").with_subresource("log"),
            false,
            "",
        ),
        case(
            "pods/* does not match pods",
            plain("star"),
            res("default", "get", "", "pods"),
            false,
            "",
        ),
        case(
            "pods/* matches a literal * subresource",
            plain("star"),
            res("default", "get", "", "pods").with_subresource("*"),
            true,
            r#"RBAC: allowed by ClusterRoleBinding "pods-star" of ClusterRole "pod-subresources" to User "star""#,
        ),
        // Full wildcards.
        case(
            "* covers everything",
            plain("admin"),
            res("x", "escalate", "rbac.authorization.k8s.io", "clusterroles").named("c"),
            true,
            r#"RBAC: allowed by ClusterRoleBinding "root" of ClusterRole "everything" to User "admin""#,
        ),
        case(
            "* covers subresources",
            plain("admin"),
            res("", "create", "", "nodes").with_subresource("proxy"),
            true,
            r#"RBAC: allowed by ClusterRoleBinding "root" of ClusterRole "everything" to User "admin""#,
        ),
        case(
            "resource * does not cover URLs",
            plain("admin"),
            NonResourceRequest {
                verb: "get",
                path: "/metrics",
            },
            false,
            "",
        ),
        // gMSA: `use` with resourceNames, bound by RoleBinding to default/default.
        case(
            "gMSA allowed in default",
            sa("default", "default"),
            gmsa("default").named("gmsa-webapp-1"),
            true,
            gmsa_allowed,
        ),
        case(
            "gMSA same for the webhook's identity",
            UserInfo::service_account_without_authenticated("default", "default"),
            gmsa("default").named("gmsa-webapp-1"),
            true,
            gmsa_allowed,
        ),
        case(
            "gMSA denied in other namespaces",
            sa("default", "default"),
            gmsa("other").named("gmsa-webapp-1"),
            false,
            "",
        ),
        case(
            "gMSA denied for other's default SA",
            sa("other", "default"),
            gmsa("other").named("gmsa-webapp-1"),
            false,
            "",
        ),
        case(
            "gMSA denied for other credspecs",
            sa("default", "default"),
            gmsa("default").named("gmsa-webapp-2"),
            false,
            "",
        ),
        case(
            "gMSA denied for other SAs",
            sa("default", "web"),
            gmsa("default").named("gmsa-webapp-1"),
            false,
            "",
        ),
        case(
            "gMSA denied for other verbs",
            sa("default", "default"),
            res("default", "get", "windows.k8s.io", "gmsacredentialspecs").named("gmsa-webapp-1"),
            false,
            "",
        ),
        case(
            "gMSA denied in another group",
            sa("default", "default"),
            res("default", "use", "", "gmsacredentialspecs").named("gmsa-webapp-1"),
            false,
            "",
        ),
        // Service account groups.
        case(
            "system:serviceaccounts:<ns> group",
            sa("team-a", "anything"),
            res("team-a", "get", "", "nodes"),
            true,
            r#"RBAC: allowed by RoleBinding "team-a-pods/team-a" of ClusterRole "nodes-reader" to Group "system:serviceaccounts:team-a""#,
        ),
        case(
            "other namespace's service accounts",
            sa("team-b", "anything"),
            res("team-a", "get", "", "nodes"),
            false,
            "",
        ),
        case(
            "system:authenticated grants",
            sa("default", "default"),
            NonResourceRequest {
                verb: "get",
                path: "/healthz",
            },
            true,
            r#"RBAC: allowed by ClusterRoleBinding "health" of ClusterRole "health" to Group "system:authenticated""#,
        ),
        case(
            "without system:authenticated it does not",
            UserInfo::service_account_without_authenticated("default", "default"),
            NonResourceRequest {
                verb: "get",
                path: "/healthz",
            },
            false,
            "",
        ),
        // Service account subject without namespace: the RoleBinding's namespace (upstream defaulting).
        case(
            "SA subject defaults to binding namespace",
            sa("default", "builder"),
            res("default", "get", "", "pods"),
            true,
            r#"RBAC: allowed by RoleBinding "implicit-sa-ns/default" of Role "pod-reader" to ServiceAccount "builder/default""#,
        ),
        case(
            "SA subject without namespace in a ClusterRoleBinding",
            sa("default", "default"),
            res("", "get", "", "nodes"),
            false,
            "",
        ),
        // Missing and misreferenced roles grant nothing; the API server says why.
        case(
            "missing ClusterRole and Role",
            plain("ghost"),
            res("default", "get", "", "pods"),
            false,
            r#"RBAC: [clusterrole.rbac.authorization.k8s.io "does-not-exist" not found, role.rbac.authorization.k8s.io "no-such-role" not found]"#,
        ),
        case(
            "missing roles are not reported to others",
            plain("bob"),
            res("default", "get", "", "pods"),
            false,
            "",
        ),
        case(
            "Role across namespaces does not grant",
            plain("xavier"),
            res("elsewhere", "get", "", "pods"),
            false,
            r#"RBAC: role.rbac.authorization.k8s.io "cross-ns" not found"#,
        ),
        case(
            "nor in the Role's own namespace",
            plain("xavier"),
            res("other", "get", "", "pods"),
            false,
            "",
        ),
        case(
            "ClusterRoleBinding to a Role and to an unknown kind",
            plain("rolf"),
            res("default", "get", "", "pods"),
            false,
            r#"RBAC: [role.rbac.authorization.k8s.io "pod-reader" not found, unsupported role reference kind: "Policy"]"#,
        ),
        // Non-resource URLs.
        case(
            "URL prefix",
            plain("u"),
            NonResourceRequest {
                verb: "get",
                path: "/healthz/ready",
            },
            true,
            r#"RBAC: allowed by ClusterRoleBinding "health" of ClusterRole "health" to Group "system:authenticated""#,
        ),
        case(
            "URL prefix needs the slash",
            plain("u"),
            NonResourceRequest {
                verb: "get",
                path: "/healthzx",
            },
            false,
            "",
        ),
        case(
            "URL verb",
            plain("u"),
            NonResourceRequest {
                verb: "post",
                path: "/healthz",
            },
            false,
            "",
        ),
        case(
            "URLs through a RoleBinding grant nothing",
            UserInfo::new("nina", Vec::<String>::new()),
            NonResourceRequest {
                verb: "get",
                path: "/healthz",
            },
            false,
            "",
        ),
        case(
            "URL rules do not match resources",
            UserInfo::new("nina", Vec::<String>::new()),
            res("default", "get", "", "healthz"),
            false,
            "",
        ),
        // Aggregated ClusterRole: the stored rules.
        case(
            "aggregated ClusterRole uses stored rules",
            plain("mona"),
            res("default", "list", "", "endpoints"),
            true,
            r#"RBAC: allowed by RoleBinding "monitoring/default" of ClusterRole "monitoring" to User "mona""#,
        ),
        case(
            "and only those",
            plain("mona"),
            res("default", "list", "", "pods"),
            false,
            "",
        ),
    ];
    let mut failures = Vec::new();
    for c in &cases {
        let d = authorize(&snap, &c.user, c.request);
        if d.allowed != c.allowed || d.reason != c.reason {
            failures.push(format!("{}: got {d:?}", c.what));
        }
        // explain must reach the same decision.
        let e = explain(&snap, &c.user, c.request);
        if e.decision != d {
            failures.push(format!(
                "{}: explain decided {:?}, authorize {d:?}",
                c.what, e.decision
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn explain_names_what_did_not_match() {
    let snap = docs_cluster();
    let user = UserInfo::service_account("default", "default");
    let req = ResourceRequest::new("use", "windows.k8s.io", "gmsacredentialspecs")
        .in_namespace("default")
        .named("gmsa-webapp-2");
    let e = explain(&snap, &user, req);
    assert!(!e.decision.allowed);
    let reports: Vec<_> = e
        .bindings
        .iter()
        .map(|b| (b.binding.as_str(), &b.outcome))
        .collect();
    assert_eq!(
        reports,
        [
            (
                r#"ClusterRoleBinding "health" of ClusterRole "health" to Group "system:authenticated""#,
                &BindingOutcome::NoRuleMatches {
                    rules: vec![RuleMismatch::Verb]
                }
            ),
            (
                r#"RoleBinding "allow-default-svc-account-read-on-gmsa-webapp-1/default" of ClusterRole "gmsa-webapp-1-role" to ServiceAccount "default/default""#,
                &BindingOutcome::NoRuleMatches {
                    rules: vec![RuleMismatch::ResourceName]
                }
            ),
        ]
    );
    let text = e.to_string();
    assert!(text.starts_with("denied\n"), "{text}");
    assert!(
        text.contains("rules[0]: resourceNames do not include the requested name"),
        "{text}"
    );

    // A user with a dangling binding sees it, and a user with nothing is told so.
    let e = explain(
        &snap,
        &plain("ghost"),
        ResourceRequest::new("get", "", "pods").in_namespace("default"),
    );
    assert!(
        matches!(&e.bindings[1].outcome, BindingOutcome::RoleUnresolved(err)
        if err.to_string() == r#"clusterrole.rbac.authorization.k8s.io "does-not-exist" not found"#)
    );
    let nobody = UserInfo::new("nobody", Vec::<String>::new());
    let e = explain(&snap, &nobody, ResourceRequest::new("get", "", "pods"));
    assert!(e.bindings.is_empty());
    assert!(e.to_string().contains("no ClusterRoleBinding"), "{e}");

    // Allowed: every applying binding is listed, the first grant gives the reason.
    let e = explain(
        &snap,
        &plain("admin"),
        ResourceRequest::new("get", "", "pods"),
    );
    assert_eq!(e.bindings[0].outcome, BindingOutcome::Allows { rule: 0 });
    assert!(
        e.to_string()
            .starts_with(r#"allowed: RBAC: allowed by ClusterRoleBinding "root""#),
        "{e}"
    );
}

/// A source shaped like kube-rs reflector stores: flat lists of `Arc`s, filtered per
/// call. This one also hands out RoleBindings of every namespace, which must not leak.
struct StoreLike {
    roles: Vec<Arc<Role>>,
    cluster_roles: Vec<Arc<ClusterRole>>,
    role_bindings: Vec<Arc<RoleBinding>>,
}

impl RbacSource for StoreLike {
    fn role(&self, ns: &str, name: &str) -> Option<Arc<Role>> {
        self.roles
            .iter()
            .find(|r| {
                r.metadata.namespace.as_deref() == Some(ns)
                    && r.metadata.name.as_deref() == Some(name)
            })
            .cloned()
    }
    fn cluster_role(&self, name: &str) -> Option<Arc<ClusterRole>> {
        self.cluster_roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .cloned()
    }
    fn visit_role_bindings(
        &self,
        _ns: &str,
        visit: &mut dyn FnMut(&RoleBinding) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        for rb in &self.role_bindings {
            visit(rb)?;
        }
        ControlFlow::Continue(())
    }
    fn visit_cluster_role_bindings(
        &self,
        _visit: &mut dyn FnMut(&ClusterRoleBinding) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

#[test]
fn custom_sources_and_dyn_dispatch() {
    let store = StoreLike {
        roles: vec![Arc::new(role(
            "a",
            "r",
            json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]),
        ))],
        cluster_roles: vec![],
        role_bindings: vec![Arc::new(role_binding(
            "a",
            "rb",
            "Role",
            "r",
            json!([user("u")]),
        ))],
    };
    let source: &dyn RbacSource = &store;
    let u = plain("u");
    assert!(
        authorize(
            source,
            &u,
            ResourceRequest::new("get", "", "pods").in_namespace("a")
        )
        .allowed
    );
    assert!(
        !authorize(
            source,
            &u,
            ResourceRequest::new("get", "", "pods").in_namespace("b")
        )
        .allowed
    );
    let shared = Arc::new(docs_cluster());
    assert!(
        authorize(
            &shared,
            &plain("admin"),
            ResourceRequest::new("get", "", "pods")
        )
        .allowed
    );
}

#[test]
fn snapshot_construction_is_all_or_nothing() {
    let r = || role("default", "r", json!([]));
    let err = RbacSnapshot::try_from_objects([r(), r()], [], [], []).unwrap_err();
    assert_eq!(err.to_string(), "Role default/r is defined more than once");

    let no_ns: RoleBinding = serde_json::from_value(
        json!({"metadata": {"name": "b"}, "roleRef": role_ref("Role", "r")}),
    )
    .unwrap();
    let err = RbacSnapshot::try_from_objects([], [], [no_ns.clone()], []).unwrap_err();
    assert!(matches!(err, RbacError::MissingNamespace { .. }), "{err}");

    let mut snap = RbacSnapshot::new();
    assert!(snap.insert_role_binding(no_ns).is_err());
    assert_eq!(snap.role_bindings().count(), 0);
    let nameless: ClusterRole = serde_json::from_value(json!({"metadata": {}})).unwrap();
    assert_eq!(
        snap.insert_cluster_role(nameless).unwrap_err().to_string(),
        "ClusterRole has no metadata.name"
    );

    // Replacing by key: the later grant wins.
    let b1 = role_binding("ns", "b", "ClusterRole", "c", json!([user("one")]));
    let b2 = role_binding("ns", "b", "ClusterRole", "c", json!([user("two")]));
    snap.insert_cluster_role(cluster_role(
        "c",
        json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]),
    ))
    .unwrap();
    assert!(snap.insert_role_binding(b1).unwrap().is_none());
    assert!(snap.insert_role_binding(b2).unwrap().is_some());
    let req = ResourceRequest::new("get", "", "pods").in_namespace("ns");
    assert!(!authorize(&snap, &plain("one"), req).allowed);
    assert!(authorize(&snap, &plain("two"), req).allowed);
}

#[test]
fn lint_reports_malformed_objects() {
    let errors: Vec<String> = docs_cluster()
        .lint()
        .iter()
        .map(ToString::to_string)
        .collect();
    let expected = [
        "RoleBinding default/dangling: ClusterRole \"does-not-exist\" does not exist, so the binding grants nothing",
        "RoleBinding default/dangling-role: Role \"no-such-role\" does not exist in namespace default, so the binding grants nothing",
        "RoleBinding elsewhere/cross-ns: Role \"cross-ns\" does not exist in namespace elsewhere, so the binding grants nothing",
        "ClusterRoleBinding crb-to-role: a ClusterRoleBinding can reference only a ClusterRole, not Role \"pod-reader\", so it grants nothing",
        "ClusterRoleBinding crb-bad-kind: roleRef.kind \"Policy\" is neither Role nor ClusterRole, so the binding grants nothing",
        "ClusterRoleBinding sa-without-ns: subjects[0] is ServiceAccount \"default\" without a namespace, which in a ClusterRoleBinding matches nobody",
    ];
    for e in &expected {
        assert!(
            errors.iter().any(|got| got == e),
            "missing {e:?} in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");

    let bad_role = role(
        "ns",
        "bad",
        json!([
            {"verbs": [], "apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["get"], "nonResourceURLs": ["/x"], "resources": ["pods"]},
            {"verbs": ["get"]},
        ]),
    );
    let got = lint_role(&bad_role);
    assert_eq!(
        got,
        [
            RbacError::RuleWithoutVerbs {
                object: id("Role", Some("ns"), "bad"),
                index: 0
            },
            RbacError::NonResourceUrlsInRole {
                object: id("Role", Some("ns"), "bad"),
                index: 1
            },
            RbacError::RuleMixesResourcesAndUrls {
                object: id("Role", Some("ns"), "bad"),
                index: 1
            },
            RbacError::RuleWithoutApiGroups {
                object: id("Role", Some("ns"), "bad"),
                index: 2
            },
            RbacError::RuleWithoutResources {
                object: id("Role", Some("ns"), "bad"),
                index: 2
            },
        ]
    );

    let bad_binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "b", "namespace": "ns"},
        "roleRef": {"apiGroup": "", "kind": "Role", "name": ""},
        "subjects": [
            {"kind": "Robot", "name": "r"},
            {"kind": "User", "name": ""},
            {"kind": "ServiceAccount", "name": "sa", "apiGroup": "rbac.authorization.k8s.io"},
        ],
    }))
    .unwrap();
    let got: Vec<String> = lint_role_binding(&bad_binding)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        [
            "RoleBinding ns/b: roleRef.apiGroup is \"\", expected \"rbac.authorization.k8s.io\"",
            "RoleBinding ns/b: roleRef.name is empty",
            "RoleBinding ns/b: subjects[0].kind \"Robot\" is not ServiceAccount, User or Group, so it matches nobody",
            "RoleBinding ns/b: subjects[1] (User) has an empty name",
            "RoleBinding ns/b: subjects[1] (User \"\") has apiGroup \"\", expected \"rbac.authorization.k8s.io\"",
            "RoleBinding ns/b: subjects[2] (ServiceAccount \"sa\") has apiGroup \"rbac.authorization.k8s.io\", expected \"\"",
        ]
    );
    // A well-formed binding has nothing to report.
    assert!(
        lint_cluster_role_binding(&cluster_role_binding(
            "ok",
            "ClusterRole",
            "x",
            json!([group("g")])
        ))
        .is_empty()
    );

    // Aggregated ClusterRole without stored rules: denied offline, and lint says why.
    let agg: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": "agg"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]},
    }))
    .unwrap();
    let snap = RbacSnapshot::try_from_objects(
        [],
        [agg],
        [],
        [cluster_role_binding(
            "agg",
            "ClusterRole",
            "agg",
            json!([user("u")]),
        )],
    )
    .unwrap();
    assert!(!authorize(&snap, &plain("u"), ResourceRequest::new("get", "", "pods")).allowed);
    assert!(
        matches!(&snap.lint()[..], [RbacError::AggregatedWithoutRules { .. }]),
        "{:?}",
        snap.lint()
    );
}

fn id(kind: &'static str, ns: Option<&str>, name: &str) -> winkube_rbac::ObjectId {
    winkube_rbac::ObjectId {
        kind,
        namespace: ns.map(str::to_owned),
        name: name.to_owned(),
    }
}
