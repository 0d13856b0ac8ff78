//! What is being asked: the attributes of an API request, as the RBAC authorizer sees them.

/// A request on an API resource. Empty strings mean "absent", as in Kubernetes'
/// authorizer attributes: `namespace: ""` is a cluster-scoped (or all-namespaces) request,
/// `subresource: ""` targets the resource itself, `name: ""` is a collection request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResourceRequest<'a> {
    /// Namespace of the object, `""` for cluster-scoped requests.
    pub namespace: &'a str,
    /// API verb: `get`, `list`, `create`, `use`, ...
    pub verb: &'a str,
    /// API group, `""` for the core group.
    pub api_group: &'a str,
    /// Resource (plural, lower case), e.g. `pods`.
    pub resource: &'a str,
    /// Subresource, e.g. `log` or `status`; `""` for none.
    pub subresource: &'a str,
    /// Object name; `""` when the request names no object.
    pub name: &'a str,
}

impl<'a> ResourceRequest<'a> {
    /// A cluster-scoped request with no subresource and no name.
    pub fn new(verb: &'a str, api_group: &'a str, resource: &'a str) -> Self {
        Self {
            verb,
            api_group,
            resource,
            ..Self::default()
        }
    }

    /// The same request in `namespace`.
    pub fn in_namespace(mut self, namespace: &'a str) -> Self {
        self.namespace = namespace;
        self
    }

    /// The same request on `subresource`.
    pub fn with_subresource(mut self, subresource: &'a str) -> Self {
        self.subresource = subresource;
        self
    }

    /// The same request on the object called `name`.
    pub fn named(mut self, name: &'a str) -> Self {
        self.name = name;
        self
    }
}

/// A request on a non-resource URL such as `/healthz` or `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NonResourceRequest<'a> {
    /// HTTP verb in lower case as RBAC sees it: `get`, `post`, ...
    pub verb: &'a str,
    /// Request path, e.g. `/healthz/ready`.
    pub path: &'a str,
}

/// Any request the RBAC authorizer can be asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Request<'a> {
    /// A request on an API resource.
    Resource(ResourceRequest<'a>),
    /// A request on a non-resource URL (always cluster-wide).
    NonResource(NonResourceRequest<'a>),
}

impl<'a> Request<'a> {
    /// The namespace RoleBindings are looked up in; `""` for cluster-wide requests.
    pub fn namespace(&self) -> &'a str {
        match self {
            Request::Resource(r) => r.namespace,
            Request::NonResource(_) => "",
        }
    }

    /// The requested verb.
    pub fn verb(&self) -> &'a str {
        match self {
            Request::Resource(r) => r.verb,
            Request::NonResource(r) => r.verb,
        }
    }
}

impl<'a> From<ResourceRequest<'a>> for Request<'a> {
    fn from(r: ResourceRequest<'a>) -> Self {
        Request::Resource(r)
    }
}

impl<'a> From<NonResourceRequest<'a>> for Request<'a> {
    fn from(r: NonResourceRequest<'a>) -> Self {
        Request::NonResource(r)
    }
}
