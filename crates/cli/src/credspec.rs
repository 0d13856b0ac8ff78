//! `winkube credspec`: the talk's three gMSA resources (the `GMSACredentialSpec`, a
//! ClusterRole with `use` on that one name, a RoleBinding per service account) from flags
//! (`new`) or from the JSON that PowerShell's `New-CredentialSpec` writes (`import`).
//!
//! Everything is validated before anything is printed: an error names the flag or the JSON
//! field, and the output is either complete or absent.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value, json};
use winkube_api::{GmsaCredentialSpec, names};

use crate::documents::{ObjectsFormat, render};

pub const ABOUT: &str =
    "Print a GMSACredentialSpec with the RBAC to use it, from flags or New-CredentialSpec JSON";

pub const LONG: &str = "\
Print the three resources a gMSA needs in Kubernetes, ready for `kubectl apply -f -`:
the GMSACredentialSpec (windows.k8s.io/v1), a ClusterRole granting the `use` verb on that
credspec only (resourceNames), and one RoleBinding per --service-account NS/NAME binding the
ClusterRole to that service account in its namespace.

`new` builds the credential spec from flags, as New-CredentialSpec would on a domain-joined
machine; `import` reads the JSON New-CredentialSpec wrote (a file, or - for standard input).
SIDs, GUIDs, NetBIOS and DNS names and resource names are checked first; nothing is printed
when any is wrong (exit code 2).";

pub const EXAMPLES: &str = "\
Examples:
  winkube credspec new --name gmsa-webapp-1 --domain contoso.com --netbios CONTOSO \\
      --account WebApp1 --sid S-1-5-21-2126449477-2524075714-3094792973 \\
      --guid 244818ae-87ac-4fcd-92ec-e79e5252348a --service-account default/default \\
      | kubectl apply -f -

  # On a domain-joined Windows machine: New-CredentialSpec -AccountName WebApp1 -Path webapp1.json
  winkube credspec import webapp1.json --service-account web/webapp > gmsa-webapp1.yaml
  Get-Content webapp1.json | winkube credspec import - --name gmsa-webapp-1";

#[derive(Args, Debug, Clone)]
pub struct CredspecArgs {
    #[command(subcommand)]
    pub command: CredspecCommand,
}

#[derive(Subcommand, Debug, Clone)]
pub enum CredspecCommand {
    /// Build the credential spec from flags
    #[command(after_help = EXAMPLES)]
    New(NewArgs),
    /// Read the JSON written by PowerShell's New-CredentialSpec (FILE, or - for stdin)
    #[command(after_help = EXAMPLES)]
    Import(ImportArgs),
}

/// What both subcommands print, and for whom.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// A service account allowed to use the credspec, as NAMESPACE/NAME (repeatable): one
    /// RoleBinding each
    #[arg(long = "service-account", value_name = "NS/NAME")]
    pub service_accounts: Vec<String>,
    /// Output format: a YAML stream, or a JSON `List`
    #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
    pub output: ObjectsFormat,
}

#[derive(Args, Debug, Clone)]
pub struct NewArgs {
    /// The GMSACredentialSpec resource name (a DNS-1123 subdomain), which pods name in
    /// gmsaCredentialSpecName
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// DNS name of the domain that holds the gMSA (e.g. contoso.com)
    #[arg(long, value_name = "DNS")]
    pub domain: String,
    /// NetBIOS name of the domain (e.g. CONTOSO)
    #[arg(long, value_name = "NAME")]
    pub netbios: String,
    /// The gMSA account name (sAMAccountName without the trailing $)
    #[arg(long, value_name = "NAME")]
    pub account: String,
    /// The domain SID (S-1-5-21-a-b-c)
    #[arg(long, value_name = "SID")]
    pub sid: String,
    /// The domain GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)
    #[arg(long, value_name = "GUID")]
    pub guid: String,
    /// DNS name of the forest root (DnsTreeName); default: --domain
    #[arg(long, visible_alias = "tree", value_name = "DNS")]
    pub forest: Option<String>,
    /// Another gMSA the container may use, in --domain (repeatable)
    #[arg(long = "additional-account", value_name = "NAME")]
    pub additional_accounts: Vec<String>,
    /// CLSID of the ccg.exe plug-in for hosts that are not domain joined (HostAccountConfig)
    #[arg(long, value_name = "GUID", requires = "plugin_input")]
    pub plugin_guid: Option<String>,
    /// The plug-in's input (e.g. a secret reference), with --plugin-guid
    #[arg(long, value_name = "TEXT", requires = "plugin_guid")]
    pub plugin_input: Option<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    /// The JSON file New-CredentialSpec wrote, or - for standard input
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The GMSACredentialSpec resource name; default: the account name, lower-cased, `_`
    /// as `-`
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub fn run(args: CredspecArgs) -> ExitCode {
    let result = match &args.command {
        CredspecCommand::New(a) => build_new(a).and_then(|docs| render(&docs, a.out.output)),
        CredspecCommand::Import(a) => read_import(a)
            .and_then(|text| build_import(&text, a))
            .and_then(|docs| render(&docs, a.out.output)),
    };
    crate::evaluate::print_generated(result)
}

/// `credspec new`: the three resources from flags.
pub fn build_new(a: &NewArgs) -> Result<Vec<Value>, String> {
    check_subdomain("--name", &a.name)?;
    check_dns_name("--domain", &a.domain)?;
    let forest = a.forest.as_deref().unwrap_or(&a.domain);
    check_dns_name("--forest", forest)?;
    check_netbios("--netbios", &a.netbios)?;
    check_account("--account", &a.account)?;
    check_sid("--sid", &a.sid)?;
    check_guid("--guid", &a.guid)?;
    for extra in &a.additional_accounts {
        check_account("--additional-account", extra)?;
    }
    let host_account = match (&a.plugin_guid, &a.plugin_input) {
        (Some(g), Some(input)) => {
            let guid = plugin_guid("--plugin-guid", g)?;
            if input.is_empty() {
                return Err("--plugin-input must not be empty".into());
            }
            Some(json!({"PluginGUID": guid, "PluginInput": input, "PortableCcgVersion": "1"}))
        }
        (None, None) => None,
        // clap's `requires` refuses one without the other before this runs.
        _ => return Err("--plugin-guid and --plugin-input go together".into()),
    };
    let bindings = service_accounts(&a.out.service_accounts)?;

    // As New-CredentialSpec writes it: the account with both scopes, then each additional
    // account in the domain.
    let mut accounts = vec![
        json!({"Name": a.account, "Scope": a.netbios}),
        json!({"Name": a.account, "Scope": a.domain}),
    ];
    accounts.extend(
        a.additional_accounts
            .iter()
            .map(|n| json!({"Name": n, "Scope": a.domain})),
    );
    let mut ad = Map::new();
    ad.insert("GroupManagedServiceAccounts".into(), Value::Array(accounts));
    if let Some(h) = host_account {
        ad.insert("HostAccountConfig".into(), h);
    }
    let credspec = json!({
        "ActiveDirectoryConfig": ad,
        "CmsPlugins": ["ActiveDirectory"],
        "DomainJoinConfig": {
            "DnsName": a.domain,
            "DnsTreeName": forest,
            "Guid": a.guid,
            "MachineAccountName": a.account,
            "NetBiosName": a.netbios,
            "Sid": a.sid,
        },
    });
    resources(&a.name, credspec, &bindings)
}

fn read_import(a: &ImportArgs) -> Result<String, String> {
    let (what, bytes) = if a.file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| format!("<stdin>: cannot read: {e}"))?;
        ("<stdin>".to_owned(), buf)
    } else {
        let shown = a.file.display().to_string();
        let buf = std::fs::read(&a.file).map_err(|e| format!("{shown}: cannot read: {e}"))?;
        (shown, buf)
    };
    decode_text(&bytes).map_err(|e| format!("{what}: {e}"))
}

/// Text as Windows writes it: UTF-8 or ASCII, with or without a byte-order mark, or UTF-16LE
/// with its mark (Windows PowerShell's `Out-File` and `>`).
pub fn decode_text(bytes: &[u8]) -> Result<String, String> {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        if rest.len() % 2 != 0 {
            return Err("not UTF-16 text (odd length)".into());
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16(&units).map_err(|_| "not UTF-16 text".into());
    }
    let rest = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    String::from_utf8(rest.to_vec()).map_err(|_| "not JSON (not UTF-8 text)".into())
}

/// `credspec import`: the three resources from New-CredentialSpec's JSON. The document is
/// validated field by field; fields the CRD does not know are refused (the API server would
/// prune them, and the pod would get less than the file says).
pub fn build_import(text: &str, a: &ImportArgs) -> Result<Vec<Value>, String> {
    let doc = winkube_api::strict_json::from_str(text)
        .map_err(|e| format!("not a credential spec: invalid JSON: {e}"))?;
    check_credspec_document(&doc)?;
    let account = doc["DomainJoinConfig"]["MachineAccountName"]
        .as_str()
        .unwrap_or_default();
    let name = match &a.name {
        Some(n) => {
            check_subdomain("--name", n)?;
            n.clone()
        }
        None => {
            let derived = account.to_ascii_lowercase().replace('_', "-");
            check_subdomain("the name derived from MachineAccountName", &derived)
                .map_err(|e| format!("{e}; pass --name"))?;
            derived
        }
    };
    let bindings = service_accounts(&a.out.service_accounts)?;
    resources(&name, doc, &bindings)
}

/// Checks a credential spec document against the CRD's schema and the formats of its
/// fields.
pub fn check_credspec_document(doc: &Value) -> Result<(), String> {
    let top = object(doc, "the document")?;
    known_keys(
        top,
        "the document",
        &["ActiveDirectoryConfig", "CmsPlugins", "DomainJoinConfig"],
    )?;
    let plugins = top
        .get("CmsPlugins")
        .and_then(Value::as_array)
        .ok_or("CmsPlugins: missing, or not a list")?;
    if plugins.is_empty() || plugins.iter().any(|p| !p.is_string()) {
        return Err("CmsPlugins: must be a list of strings, such as [\"ActiveDirectory\"]".into());
    }
    let dj = object(
        top.get("DomainJoinConfig").unwrap_or(&Value::Null),
        "DomainJoinConfig",
    )?;
    known_keys(
        dj,
        "DomainJoinConfig",
        &[
            "DnsName",
            "DnsTreeName",
            "Guid",
            "MachineAccountName",
            "NetBiosName",
            "Sid",
        ],
    )?;
    let field = |k: &str| -> Result<&str, String> {
        dj.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("DomainJoinConfig.{k}: missing, or not a string"))
    };
    check_sid("DomainJoinConfig.Sid", field("Sid")?)?;
    check_guid("DomainJoinConfig.Guid", field("Guid")?)?;
    check_dns_name("DomainJoinConfig.DnsName", field("DnsName")?)?;
    check_dns_name("DomainJoinConfig.DnsTreeName", field("DnsTreeName")?)?;
    check_netbios("DomainJoinConfig.NetBiosName", field("NetBiosName")?)?;
    check_account(
        "DomainJoinConfig.MachineAccountName",
        field("MachineAccountName")?,
    )?;

    let ad = object(
        top.get("ActiveDirectoryConfig").unwrap_or(&Value::Null),
        "ActiveDirectoryConfig",
    )?;
    known_keys(
        ad,
        "ActiveDirectoryConfig",
        &["GroupManagedServiceAccounts", "HostAccountConfig"],
    )?;
    let accounts = ad
        .get("GroupManagedServiceAccounts")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or(
            "ActiveDirectoryConfig.GroupManagedServiceAccounts: missing, or not a non-empty list",
        )?;
    for (i, acct) in accounts.iter().enumerate() {
        let at = format!("ActiveDirectoryConfig.GroupManagedServiceAccounts[{i}]");
        let m = object(acct, &at)?;
        known_keys(m, &at, &["Name", "Scope"])?;
        let name = m
            .get("Name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{at}.Name: missing, or not a string"))?;
        check_account(&format!("{at}.Name"), name)?;
        let scope = m
            .get("Scope")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{at}.Scope: missing, or not a string"))?;
        if check_netbios("", scope).is_err() && check_dns_name("", scope).is_err() {
            return Err(format!(
                "{at}.Scope {scope:?} is neither a NetBIOS nor a DNS domain name"
            ));
        }
    }
    if let Some(h) = ad.get("HostAccountConfig") {
        let at = "ActiveDirectoryConfig.HostAccountConfig";
        let m = object(h, at)?;
        known_keys(m, at, &["PluginGUID", "PluginInput", "PortableCcgVersion"])?;
        for k in ["PluginGUID", "PluginInput", "PortableCcgVersion"] {
            if !m.get(k).is_some_and(Value::is_string) {
                return Err(format!("{at}.{k}: missing, or not a string"));
            }
        }
        let guid = m["PluginGUID"].as_str().unwrap_or_default();
        if plugin_guid(&format!("{at}.PluginGUID"), guid)? != guid {
            return Err(format!(
                "{at}.PluginGUID {guid:?} must be a GUID in braces, like {{859E1386-BDB4-49E8-85C7-3070B13920E1}}"
            ));
        }
    }
    Ok(())
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{at}: missing, or not a JSON object"))
}

fn known_keys(m: &Map<String, Value>, at: &str, known: &[&str]) -> Result<(), String> {
    match m.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(format!(
            "{at}: unknown field {k:?} (a credential spec has {}; the GMSACredentialSpec CRD would drop it)",
            known.join(", ")
        )),
    }
}

/// A service account that gets a RoleBinding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccountRef {
    pub namespace: String,
    pub name: String,
}

/// Parses and checks `--service-account NS/NAME` values; duplicates are dropped.
pub fn service_accounts(values: &[String]) -> Result<Vec<ServiceAccountRef>, String> {
    let mut out: Vec<ServiceAccountRef> = Vec::new();
    for v in values {
        let Some((ns, name)) = v.split_once('/') else {
            return Err(format!(
                "--service-account {v:?}: expected NAMESPACE/NAME, such as default/webapp"
            ));
        };
        check_label(&format!("--service-account {v:?}: namespace"), ns)?;
        check_subdomain(&format!("--service-account {v:?}: name"), name)?;
        let sa = ServiceAccountRef {
            namespace: ns.to_owned(),
            name: name.to_owned(),
        };
        if !out.contains(&sa) {
            out.push(sa);
        }
    }
    Ok(out)
}

/// The ClusterRole's name for a credspec.
pub fn cluster_role_name(credspec: &str) -> String {
    format!("{credspec}-use")
}

/// The three resources: credspec, ClusterRole, RoleBindings.
fn resources(
    name: &str,
    credspec: Value,
    bindings: &[ServiceAccountRef],
) -> Result<Vec<Value>, String> {
    let to_value = |r: Result<Value, serde_json::Error>| r.map_err(|e| e.to_string());
    let labels = Some(
        [(
            "app.kubernetes.io/managed-by".to_owned(),
            "winkube".to_owned(),
        )]
        .into(),
    );
    let cs = GmsaCredentialSpec {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: labels.clone(),
            ..Default::default()
        },
        credspec: Some(credspec),
    };
    let mut cs_value = to_value(serde_json::to_value(&cs))?;
    // The type carries no type meta (it is hand-written, see winkube_api::credspec).
    if let Value::Object(m) = &mut cs_value {
        m.insert(
            "apiVersion".into(),
            format!("{}/{}", winkube_api::GROUP, winkube_api::credspec::VERSION).into(),
        );
        m.insert("kind".into(), winkube_api::KIND.into());
    }
    let role_name = cluster_role_name(name);
    let role = ClusterRole {
        metadata: ObjectMeta {
            name: Some(role_name.clone()),
            labels: labels.clone(),
            ..Default::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![winkube_api::GROUP.to_owned()]),
            resources: Some(vec![winkube_api::PLURAL.to_owned()]),
            verbs: vec!["use".to_owned()],
            resource_names: Some(vec![name.to_owned()]),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let mut out = vec![cs_value, to_value(typed(&role))?];
    for sa in bindings {
        let binding = RoleBinding {
            metadata: ObjectMeta {
                name: Some(format!("{}-use-{name}", sa.name)),
                namespace: Some(sa.namespace.clone()),
                labels: labels.clone(),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".to_owned()),
                kind: "ClusterRole".to_owned(),
                name: role_name.clone(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".to_owned(),
                name: sa.name.clone(),
                namespace: Some(sa.namespace.clone()),
                ..Default::default()
            }]),
        };
        out.push(to_value(typed(&binding))?);
    }
    Ok(out)
}

/// A k8s-openapi object with its apiVersion and kind.
fn typed<T: k8s_openapi::Resource + serde::Serialize>(r: &T) -> Result<Value, serde_json::Error> {
    let mut v = serde_json::to_value(r)?;
    if let Value::Object(m) = &mut v {
        m.insert("apiVersion".into(), T::API_VERSION.into());
        m.insert("kind".into(), T::KIND.into());
    }
    Ok(v)
}

// Validation. `what` names the flag or field; an empty `what` is for probing only.

fn invalid(what: &str, value: &str, why: &str) -> String {
    format!("{what} {value:?}: {why}")
}

/// A DNS-1123 label (namespaces).
pub fn check_label(what: &str, s: &str) -> Result<(), String> {
    let ok = names::is_dns1123_label(s);
    if ok {
        Ok(())
    } else {
        Err(invalid(
            what,
            s,
            "must be a DNS-1123 label (lower-case letters, digits and '-', at most 63, starting and ending alphanumeric)",
        ))
    }
}

/// A DNS-1123 subdomain (resource and service account names).
pub fn check_subdomain(what: &str, s: &str) -> Result<(), String> {
    let ok = names::is_dns1123_subdomain(s);
    if ok {
        Ok(())
    } else {
        Err(invalid(
            what,
            s,
            "must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253, each part starting and ending alphanumeric)",
        ))
    }
}

/// A DNS domain name (contoso.com): letters of any case, digits, '-', dot-separated labels.
pub fn check_dns_name(what: &str, s: &str) -> Result<(), String> {
    let ok = names::is_dns_domain_name(s);
    if ok {
        Ok(())
    } else {
        Err(invalid(
            what,
            s,
            "must be a DNS domain name such as contoso.com (letters, digits and '-' in dot-separated parts)",
        ))
    }
}

/// A NetBIOS domain name, by the API server's rule for runAsUserName domains: 1 to 15
/// characters, not starting with '.', none of \ / : * ? " < > |.
pub fn check_netbios(what: &str, s: &str) -> Result<(), String> {
    let len = s.chars().count();
    if len == 0 || len > 15 {
        return Err(invalid(
            what,
            s,
            &format!("a NetBIOS name has 1 to 15 characters, this has {len}"),
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| "\\/:*?\"<>|".contains(*c) || c.is_control())
    {
        return Err(invalid(
            what,
            s,
            &format!("{c:?} is not allowed in a NetBIOS name (none of \\ / : * ? \" < > |)"),
        ));
    }
    if s.starts_with('.') {
        return Err(invalid(what, s, "a NetBIOS name cannot start with '.'"));
    }
    Ok(())
}

/// A gMSA account name: its sAMAccountName without the trailing `$`, 1 to 15 characters,
/// none of the characters Active Directory refuses in account names.
pub fn check_account(what: &str, s: &str) -> Result<(), String> {
    if s.ends_with('$') {
        return Err(invalid(
            what,
            s,
            "give the account name without the trailing '$'",
        ));
    }
    let len = s.chars().count();
    if len == 0 || len > 15 {
        return Err(invalid(
            what,
            s,
            &format!("a gMSA account name has 1 to 15 characters, this has {len}"),
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| "\"/\\[]:;|=,+*?<>@ ".contains(*c) || c.is_control())
    {
        return Err(invalid(
            what,
            s,
            &format!("{c:?} is not allowed in an account name"),
        ));
    }
    Ok(())
}

/// A domain SID: S-1-5-21-a-b-c (three 32-bit sub-authorities after 21).
pub fn check_sid(what: &str, s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('-').collect();
    let sub_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 10
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok()
    };
    let ok = parts.len() == 7
        && parts[..4] == ["S", "1", "5", "21"]
        && parts[4..].iter().all(|p| sub_ok(p));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            what,
            s,
            "must be a domain SID S-1-5-21-<a>-<b>-<c> (three decimal 32-bit numbers), as (Get-ADDomain).DomainSID prints it",
        ))
    }
}

/// A GUID without braces: xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex).
pub fn check_guid(what: &str, s: &str) -> Result<(), String> {
    if names::is_guid(s) {
        Ok(())
    } else {
        Err(invalid(
            what,
            s,
            "must be a GUID xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hexadecimal digits)",
        ))
    }
}

/// A plug-in CLSID, with or without braces; returned in braces, as ccg.exe reads it.
pub fn plugin_guid(what: &str, s: &str) -> Result<String, String> {
    let bare = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(s);
    if names::is_guid(bare) {
        Ok(format!("{{{bare}}}"))
    } else {
        Err(invalid(
            what,
            s,
            "must be the plug-in's CLSID {xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx} (hexadecimal digits)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_syntax() {
        assert!(check_sid("--sid", "S-1-5-21-2126449477-2524075714-3094792973").is_ok());
        for bad in [
            "",
            "S-1-5-21-1-2",
            "S-1-5-32-1-2-3",
            "s-1-5-21-1-2-3",
            "S-1-5-21-1-2-3-4",
            "S-1-5-21-1-2-4294967296",
            "S-1-5-21-1-2-x",
            "S-1-5-21-1--3",
        ] {
            let e = check_sid("--sid", bad).unwrap_err();
            assert!(e.starts_with("--sid "), "{e}");
        }
    }

    #[test]
    fn guid_syntax() {
        assert!(check_guid("--guid", "244818ae-87ac-4fcd-92ec-e79e5252348a").is_ok());
        for bad in [
            "",
            "{244818ae-87ac-4fcd-92ec-e79e5252348a}",
            "244818ae87ac4fcd92ece79e5252348a",
            "244818ae-87ac-4fcd-92ec-e79e5252348",
            "g44818ae-87ac-4fcd-92ec-e79e5252348a",
        ] {
            assert!(check_guid("--guid", bad).is_err(), "{bad}");
        }
        assert_eq!(
            plugin_guid("x", "859e1386-bdb4-49e8-85c7-3070b13920e1").unwrap(),
            "{859e1386-bdb4-49e8-85c7-3070b13920e1}"
        );
        // Microsoft's documentation placeholder is not hexadecimal.
        assert!(plugin_guid("x", "{GDMA0342-266A-4D1P-831J-20990E82944F}").is_err());
    }

    #[test]
    fn netbios_and_account_names() {
        assert!(check_netbios("n", "CONTOSO").is_ok());
        assert!(check_netbios("n", "ABCDEFGHIJKLMNO").is_ok());
        assert!(check_netbios("n", "ABCDEFGHIJKLMNOP").is_err());
        assert!(check_netbios("n", "CON|TOSO").is_err());
        assert!(check_netbios("n", ".CONTOSO").is_err());
        assert!(check_account("a", "WebApp1").is_ok());
        assert!(check_account("a", "WebApp1$").is_err());
        assert!(check_account("a", "Web App").is_err());
        assert!(check_account("a", "WebApplication12").is_err());
    }

    #[test]
    fn dns_and_kubernetes_names() {
        assert!(check_dns_name("d", "Contoso.com").is_ok());
        assert!(check_dns_name("d", "contoso..com").is_err());
        assert!(check_dns_name("d", "con_toso.com").is_err());
        assert!(check_subdomain("n", "gmsa-webapp-1").is_ok());
        assert!(check_subdomain("n", "Gmsa").is_err());
        assert!(check_label("n", "a.b").is_err());
        let e = service_accounts(&["default".into()]).unwrap_err();
        assert!(e.contains("NAMESPACE/NAME"), "{e}");
        let sas = service_accounts(&["a/b".into(), "a/b".into(), "c/d".into()]).unwrap();
        assert_eq!(sas.len(), 2);
    }

    #[test]
    fn utf16_and_bom_are_read() {
        let text = "{\"a\":1}";
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(decode_text(&utf16).unwrap(), text);
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend(text.as_bytes());
        assert_eq!(decode_text(&bom).unwrap(), text);
        assert!(decode_text(&[0xFF, 0xFE, 0x41]).is_err());
    }
}
