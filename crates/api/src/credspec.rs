//! The `GMSACredentialSpec` custom resource.
//!
//! The object has no `spec`: the credential spec document lives at the top level under
//! `credspec`, so the type is written by hand rather than with `#[derive(CustomResource)]`.
//! `credspec` is kept as raw JSON: the webhook must inline exactly what is stored,
//! including fields a newer CRD schema might add.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "windows.k8s.io";
pub const VERSION: &str = "v1";
pub const KIND: &str = "GMSACredentialSpec";
pub const PLURAL: &str = "gmsacredentialspecs";

/// A cluster-scoped gMSA credential spec resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GmsaCredentialSpec {
    pub metadata: ObjectMeta,
    /// The credential spec document (CmsPlugins, DomainJoinConfig, ActiveDirectoryConfig).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credspec: Option<serde_json::Value>,
}

impl k8s_openapi::Resource for GmsaCredentialSpec {
    const API_VERSION: &'static str = "windows.k8s.io/v1";
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = KIND;
    const VERSION: &'static str = VERSION;
    const URL_PATH_SEGMENT: &'static str = PLURAL;
    type Scope = k8s_openapi::ClusterResourceScope;
}

impl k8s_openapi::ListableResource for GmsaCredentialSpec {
    const LIST_KIND: &'static str = "GMSACredentialSpecList";
}

impl k8s_openapi::Metadata for GmsaCredentialSpec {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl GmsaCredentialSpec {
    /// The object's name, or `""` when it has none.
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }

    /// The credspec contents as the reference webhook would inline them, or `None` when the
    /// object has no usable `credspec` key (absent, JSON null, or the empty string: the
    /// reference treats all three as "does not have a credspec key").
    pub fn canonical_contents(&self) -> Option<String> {
        match &self.credspec {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) if s.is_empty() => None,
            Some(v) => Some(crate::canonical_json(v)),
        }
    }
}
