//! The `GMSACredentialSpec` CustomResourceDefinition, built from typed apiextensions v1
//! objects so that `winkube manifests crd` and `deploy/crd.yaml` come from one source.
//!
//! The schema is the reference's (kubernetes-sigs/windows-gmsa `gmsa-crd.yml`): same
//! fields, no `required`, no preserve-unknown-fields, so the API server prunes exactly what
//! the reference's CRD prunes and stored objects stay interchangeable. Additions are
//! presentation only: printer columns, descriptions, and a deprecation warning on v1alpha1.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceConversion, CustomResourceDefinition,
    CustomResourceDefinitionNames, CustomResourceDefinitionSpec, CustomResourceDefinitionVersion,
    CustomResourceValidation, JSONSchemaProps, JSONSchemaPropsOrArray,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::credspec::{GROUP, KIND, PLURAL};

/// `metadata.name` of the CRD.
pub const CRD_NAME: &str = "gmsacredentialspecs.windows.k8s.io";
/// Required on CRDs of `*.k8s.io` groups; points at the KEP that approved the API.
pub const API_APPROVED_ANNOTATION: &str = "api-approved.kubernetes.io";
pub const API_APPROVED_URL: &str =
    "https://github.com/kubernetes/enhancements/tree/master/keps/sig-windows/689-windows-gmsa";
pub const SINGULAR: &str = "gmsacredentialspec";
pub const LIST_KIND: &str = "GMSACredentialSpecList";
/// Returned by the API server to clients that still use v1alpha1.
pub const V1ALPHA1_DEPRECATION_WARNING: &str = "windows.k8s.io/v1alpha1 GMSACredentialSpec is deprecated; use windows.k8s.io/v1 GMSACredentialSpec";

fn string(description: &str) -> JSONSchemaProps {
    JSONSchemaProps {
        type_: Some("string".into()),
        description: (!description.is_empty()).then(|| description.to_owned()),
        ..Default::default()
    }
}

fn object(description: &str, properties: Vec<(&str, JSONSchemaProps)>) -> JSONSchemaProps {
    JSONSchemaProps {
        type_: Some("object".into()),
        description: (!description.is_empty()).then(|| description.to_owned()),
        properties: Some(
            properties
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    }
}

fn array(description: &str, items: JSONSchemaProps) -> JSONSchemaProps {
    JSONSchemaProps {
        type_: Some("array".into()),
        description: (!description.is_empty()).then(|| description.to_owned()),
        items: Some(JSONSchemaPropsOrArray::Schema(Box::new(items))),
        ..Default::default()
    }
}

/// The OpenAPI schema shared by v1 and v1alpha1 (the reference's, field for field).
pub fn credspec_schema() -> JSONSchemaProps {
    let gmsa_accounts = array(
        "The group managed service accounts the container may act as.",
        object(
            "",
            vec![
                ("Name", string("gMSA account name.")),
                (
                    "Scope",
                    string("NetBIOS or DNS domain name of the account."),
                ),
            ],
        ),
    );
    let host_account = object(
        "Container Credential Guard plugin used on hosts that are not domain joined.",
        vec![
            ("PluginGUID", string("CLSID of the CCG plugin, in braces.")),
            (
                "PluginInput",
                string("Plugin-specific input, e.g. a secret reference."),
            ),
            ("PortableCcgVersion", string("Portable CCG version.")),
        ],
    );
    let credspec = object(
        "GMSA Credential Spec",
        vec![
            (
                "ActiveDirectoryConfig",
                object(
                    "",
                    vec![
                        ("GroupManagedServiceAccounts", gmsa_accounts),
                        ("HostAccountConfig", host_account),
                    ],
                ),
            ),
            ("CmsPlugins", array("", string(""))),
            (
                "DomainJoinConfig",
                object(
                    "",
                    vec![
                        ("DnsName", string("DNS domain name.")),
                        ("DnsTreeName", string("DNS name of the forest root.")),
                        ("Guid", string("Domain GUID.")),
                        ("MachineAccountName", string("gMSA account name.")),
                        ("NetBiosName", string("NetBIOS domain name.")),
                        ("Sid", string("Domain SID.")),
                    ],
                ),
            ),
        ],
    );
    object("", vec![("credspec", credspec)])
}

fn printer_columns() -> Vec<CustomResourceColumnDefinition> {
    let col =
        |name: &str, type_: &str, path: &str, description: &str| CustomResourceColumnDefinition {
            name: name.into(),
            type_: type_.into(),
            json_path: path.into(),
            description: Some(description.into()),
            ..Default::default()
        };
    vec![
        col(
            "DNS Name",
            "string",
            ".credspec.DomainJoinConfig.DnsName",
            "DNS domain name",
        ),
        col(
            "Account",
            "string",
            ".credspec.DomainJoinConfig.MachineAccountName",
            "gMSA account name",
        ),
        col(
            "NetBIOS",
            "string",
            ".credspec.DomainJoinConfig.NetBiosName",
            "NetBIOS domain name",
        ),
        col(
            "Age",
            "date",
            ".metadata.creationTimestamp",
            "Time since creation",
        ),
    ]
}

fn version(name: &str, storage: bool, deprecated: bool) -> CustomResourceDefinitionVersion {
    CustomResourceDefinitionVersion {
        name: name.into(),
        served: true,
        storage,
        deprecated: deprecated.then_some(true),
        deprecation_warning: deprecated.then(|| V1ALPHA1_DEPRECATION_WARNING.to_owned()),
        schema: Some(CustomResourceValidation {
            open_api_v3_schema: Some(credspec_schema()),
        }),
        additional_printer_columns: Some(printer_columns()),
        ..Default::default()
    }
}

/// The `GMSACredentialSpec` CRD: cluster-scoped, v1 stored, v1alpha1 served and deprecated.
pub fn gmsa_credential_spec_crd() -> CustomResourceDefinition {
    CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some(CRD_NAME.into()),
            annotations: Some(BTreeMap::from([(
                API_APPROVED_ANNOTATION.to_owned(),
                API_APPROVED_URL.to_owned(),
            )])),
            ..Default::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: GROUP.into(),
            scope: "Cluster".into(),
            names: CustomResourceDefinitionNames {
                kind: KIND.into(),
                plural: PLURAL.into(),
                singular: Some(SINGULAR.into()),
                list_kind: Some(LIST_KIND.into()),
                ..Default::default()
            },
            versions: vec![version("v1", true, false), version("v1alpha1", false, true)],
            conversion: Some(CustomResourceConversion {
                strategy: "None".into(),
                webhook: None,
            }),
            ..Default::default()
        },
        status: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_storage_version_and_v1alpha1_deprecated() {
        let crd = gmsa_credential_spec_crd();
        let storage: Vec<_> = crd
            .spec
            .versions
            .iter()
            .filter(|v| v.storage)
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(storage, ["v1"]);
        let alpha = crd
            .spec
            .versions
            .iter()
            .find(|v| v.name == "v1alpha1")
            .unwrap();
        assert!(alpha.served);
        assert_eq!(alpha.deprecated, Some(true));
        assert!(alpha.deprecation_warning.is_some());
        assert_eq!(crd.spec.scope, "Cluster");
    }

    #[test]
    fn schema_has_reference_fields_and_no_required() {
        let json = serde_json::to_value(credspec_schema()).unwrap();
        let cs = &json["properties"]["credspec"];
        assert_eq!(cs["type"], "object");
        assert_eq!(cs["description"], "GMSA Credential Spec");
        let ad = &cs["properties"]["ActiveDirectoryConfig"]["properties"];
        assert_eq!(
            ad["GroupManagedServiceAccounts"]["items"]["properties"]["Scope"]["type"],
            "string"
        );
        assert_eq!(
            ad["HostAccountConfig"]["properties"]["PortableCcgVersion"]["type"],
            "string"
        );
        assert_eq!(cs["properties"]["CmsPlugins"]["items"]["type"], "string");
        let djc = cs["properties"]["DomainJoinConfig"]["properties"]
            .as_object()
            .unwrap();
        let keys: Vec<_> = djc.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "DnsName",
                "DnsTreeName",
                "Guid",
                "MachineAccountName",
                "NetBiosName",
                "Sid"
            ]
        );
        assert!(!json.to_string().contains("required"));
        assert!(
            !json
                .to_string()
                .contains("x-kubernetes-preserve-unknown-fields")
        );
    }

    #[test]
    fn names_and_annotation() {
        let crd = gmsa_credential_spec_crd();
        assert_eq!(crd.metadata.name.as_deref(), Some(CRD_NAME));
        assert_eq!(
            crd.metadata.annotations.unwrap()[API_APPROVED_ANNOTATION],
            API_APPROVED_URL
        );
        assert_eq!(crd.spec.names.list_kind.as_deref(), Some(LIST_KIND));
        assert_eq!(crd.spec.names.singular.as_deref(), Some(SINGULAR));
    }
}
