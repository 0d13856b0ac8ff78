//! What the policies may know about the cluster. Two implementations exist: the live view
//! (reflector caches and SubjectAccessReviews, in `winkube-webhook`) and the file view
//! (YAML state and local RBAC evaluation, used by `winkube admit`).

use once_cell::race::OnceBox;
use std::future::Future;
use std::sync::Arc;

/// A credspec as cached by a view: its name and the canonical (Go `json.Marshal`) string that
/// is inlined into pods. Computed once per cache update, never per review.
///
/// Only the canonical string is kept (no parsed document), in one allocation with the name: a
/// view may cache tens of thousands of credspecs (issue 9 measures 10,000 against a memory
/// target), and the rare comparison that is not byte-identical re-parses the string.
#[derive(Clone, Debug)]
pub struct CredSpecContents {
    /// The name followed by the canonical string.
    text: Box<str>,
    name_len: usize,
    /// The canonical string as a JSON string value (quotes included, Go's HTML-safe escaping),
    /// as the mutating patch carries it. Built on first use: most cached credspecs are never
    /// inlined, and this would otherwise double the cache. A `OnceBox` (one pointer) rather
    /// than a `OnceLock<Box<str>>` (three words): 16 bytes less per cached credspec.
    patch_value: OnceBox<Box<str>>,
}

impl PartialEq for CredSpecContents {
    fn eq(&self, other: &Self) -> bool {
        self.name_len == other.name_len && self.text == other.text
    }
}

impl CredSpecContents {
    /// A credspec whose canonical string is already known.
    pub fn new(name: &str, canonical: &str) -> Self {
        let mut text = String::with_capacity(name.len() + canonical.len());
        text.push_str(name);
        text.push_str(canonical);
        Self {
            text: text.into_boxed_str(),
            name_len: name.len(),
            patch_value: OnceBox::new(),
        }
    }

    /// Builds the cached form of a `GMSACredentialSpec`, or `None` when it has no usable
    /// `credspec` key.
    pub fn from_resource(cs: &winkube_api::GmsaCredentialSpec) -> Option<Self> {
        let canonical = cs.canonical_contents()?;
        Some(Self::new(cs.name(), &canonical))
    }

    /// The credspec's name.
    pub fn name(&self) -> &str {
        &self.text[..self.name_len]
    }

    /// The contents as the reference webhook inlines them (Go `json.Marshal` of the document).
    pub fn canonical(&self) -> &str {
        &self.text[self.name_len..]
    }

    /// `canonical` encoded as a JSON string the way Go's `json.Marshal` encodes it.
    pub(crate) fn patch_value(&self) -> &str {
        self.patch_value.get_or_init(|| {
            let mut s = String::new();
            crate::gofmt::push_json_string(&mut s, self.canonical());
            Box::new(s.into_boxed_str())
        })
    }
}

impl AsRef<CredSpecContents> for CredSpecContents {
    fn as_ref(&self) -> &CredSpecContents {
        self
    }
}

/// A credspec's contents shared by a view's cache and the reviews that use them. The view
/// decides what holds them: the file view an `Arc<CredSpecContents>`, the live view its cache
/// entry as it is (one allocation per cached credspec, not two).
#[derive(Clone)]
pub struct SharedCredSpec(Arc<dyn AsRef<CredSpecContents> + Send + Sync>);

impl SharedCredSpec {
    pub fn new(contents: CredSpecContents) -> Self {
        Self(Arc::new(contents))
    }

    /// Shares `entry` (a cache's own entry) without copying the contents.
    pub fn from_entry(entry: Arc<impl AsRef<CredSpecContents> + Send + Sync + 'static>) -> Self {
        Self(entry)
    }
}

impl std::ops::Deref for SharedCredSpec {
    type Target = CredSpecContents;
    fn deref(&self) -> &CredSpecContents {
        (*self.0).as_ref()
    }
}

impl PartialEq for SharedCredSpec {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for SharedCredSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// The result of looking a credspec up by name.
#[derive(Clone, Debug, PartialEq)]
pub enum CredSpecLookup {
    Found(SharedCredSpec),
    /// No `GMSACredentialSpec` of that name exists (reference: 404).
    NotFound,
    /// The object exists but has no `credspec` key (reference: 417).
    MissingCredspecKey,
    /// The view could not answer (cache not synced, API error; reference: 500).
    Unavailable(String),
}

/// Whether a service account may `use` a credspec, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UseDecision {
    pub allowed: bool,
    /// The authorizer's reason; empty when it gave none (the common case for RBAC denials).
    pub reason: String,
}

/// Everything the admission policies may ask about the cluster.
pub trait ClusterView: Send + Sync {
    /// Looks a cluster-scoped credspec up by name. Must not block on the network.
    fn credspec(&self, name: &str) -> CredSpecLookup;

    /// May `system:serviceaccount:<namespace>:<service_account>` `use` the credspec
    /// `windows.k8s.io/gmsacredentialspecs/<credspec>`? May call the API server.
    /// When the question cannot be answered, return "not allowed" with the reason
    /// `error when checking authz access: <error>` (the reference answers 403 then).
    fn may_use_credspec(
        &self,
        namespace: &str,
        service_account: &str,
        credspec: &str,
    ) -> impl Future<Output = UseDecision> + Send;
}
