//! `winkube credspec new` and `import`: the printed resources, applied as they are to a
//! state directory, make `winkube admit` inline the credspec for the bound service account
//! and deny any other; every bad input is exit code 2 with nothing printed.
#![allow(clippy::unwrap_used)]

use serde_json::Value;

mod support;
use support::{admit_offline, code, stderr, stdout, temp_file, winkube, winkube_stdin, yaml_docs};

const SID: &str = "S-1-5-21-2126449477-2524075714-3094792973";
const GUID: &str = "244818ae-87ac-4fcd-92ec-e79e5252348a";
const PLUGIN: &str = "859E1386-BDB4-49E8-85C7-3070B13920E1";

/// The flags of a valid `credspec new`, as (flag, value) pairs a test can override.
fn new_flags() -> Vec<(&'static str, String)> {
    [
        ("--name", "gmsa-webapp-1"),
        ("--domain", "contoso.com"),
        ("--netbios", "CONTOSO"),
        ("--account", "WebApp1"),
        ("--sid", SID),
        ("--guid", GUID),
        ("--service-account", "web/webapp"),
    ]
    .into_iter()
    .map(|(f, v)| (f, v.to_owned()))
    .collect()
}

fn args_of(flags: &[(&str, String)]) -> Vec<String> {
    let mut v = vec!["credspec".to_owned(), "new".to_owned()];
    for (f, val) in flags {
        // `--flag=value`, so values starting with '-' reach the validation.
        if f.starts_with("--") {
            v.push(format!("{f}={val}"));
        } else {
            v.push((*f).to_owned());
            v.push(val.clone());
        }
    }
    v
}

fn run_new(flags: &[(&str, String)]) -> std::process::Output {
    let args = args_of(flags);
    winkube(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// A Windows pod in `ns` that runs as `sa` and names credspec `name`.
fn pod(ns: &str, sa: &str, name: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: webapp, namespace: {ns}}}
spec:
  serviceAccountName: {sa}
  securityContext:
    windowsOptions: {{gmsaCredentialSpecName: {name}}}
  nodeSelector: {{kubernetes.io/os: windows}}
  containers:
  - name: webapp
    image: org/iis:ltsc2019
    resources: {{limits: {{memory: 1Gi}}}}
"
    )
}

/// Service accounts that exist in the state directory (so only RBAC decides).
const SERVICE_ACCOUNTS: &str = "apiVersion: v1
kind: ServiceAccount
metadata: {name: webapp, namespace: web}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: billing, namespace: web}
";

/// Writes `output` to a fresh state directory and admits a pod of `web/sa` naming
/// credspec `name`.
fn admit_with(output: &str, sa: &str, name: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    temp_file(&dir, "state/gmsa.yaml", output);
    temp_file(&dir, "state/service-accounts.yaml", SERVICE_ACCOUNTS);
    let pod = temp_file(&dir, "pod.yaml", &pod("web", sa, name));
    admit_offline(&dir.path().join("state"), &pod)
}

/// The admitted pod's inlined credspec contents, parsed.
fn inlined(o: &std::process::Output) -> Value {
    assert_eq!(code(o), 0, "admit: {}", stderr(o));
    let pod = &yaml_docs(&stdout(o))[0];
    let contents = pod["spec"]["securityContext"]["windowsOptions"]["gmsaCredentialSpec"]
        .as_str()
        .unwrap_or_else(|| panic!("no contents inlined: {pod}"));
    serde_json::from_str(contents).unwrap()
}

fn assert_denied(o: &std::process::Output, sa: &str) {
    assert_eq!(code(o), 1, "stderr: {}", stderr(o));
    assert!(
        stderr(o).contains(&format!("service account \"{sa}\" is not authorized")),
        "{}",
        stderr(o)
    );
}

#[test]
fn new_prints_the_three_resources_and_admit_accepts_them() {
    let mut flags = new_flags();
    flags.push(("--forest", "corp.contoso.com".into()));
    flags.push(("--additional-account", "Reports".into()));
    flags.push(("--plugin-guid", PLUGIN.into()));
    flags.push(("--plugin-input", "contoso.com:gmsaccg:<password>".into()));
    flags.push(("--service-account", "ops/deployer".into()));
    let o = run_new(&flags);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let docs = yaml_docs(&out);
    let kinds: Vec<_> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "GMSACredentialSpec",
            "ClusterRole",
            "RoleBinding",
            "RoleBinding"
        ]
    );
    let cs = &docs[0];
    assert_eq!(cs["apiVersion"], "windows.k8s.io/v1");
    assert_eq!(cs["metadata"]["name"], "gmsa-webapp-1");
    let role = &docs[1];
    assert_eq!(
        role["rules"],
        serde_json::json!([{
            "apiGroups": ["windows.k8s.io"],
            "resources": ["gmsacredentialspecs"],
            "verbs": ["use"],
            "resourceNames": ["gmsa-webapp-1"],
        }])
    );
    for (binding, (ns, sa)) in docs[2..]
        .iter()
        .zip([("web", "webapp"), ("ops", "deployer")])
    {
        assert_eq!(binding["metadata"]["namespace"], ns);
        assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
        assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
        assert_eq!(
            binding["subjects"],
            serde_json::json!([{"kind": "ServiceAccount", "name": sa, "namespace": ns}])
        );
    }

    // The printed stream, as it is, is what the webhook reads.
    let contents = inlined(&admit_with(&out, "webapp", "gmsa-webapp-1"));
    assert_eq!(contents, cs["credspec"]);
    let dj = &contents["DomainJoinConfig"];
    assert_eq!(dj["Sid"], SID);
    assert_eq!(dj["Guid"], GUID);
    assert_eq!(dj["DnsName"], "contoso.com");
    assert_eq!(dj["DnsTreeName"], "corp.contoso.com");
    assert_eq!(dj["NetBiosName"], "CONTOSO");
    assert_eq!(dj["MachineAccountName"], "WebApp1");
    assert_eq!(
        contents["ActiveDirectoryConfig"]["GroupManagedServiceAccounts"],
        serde_json::json!([
            {"Name": "WebApp1", "Scope": "CONTOSO"},
            {"Name": "WebApp1", "Scope": "contoso.com"},
            {"Name": "Reports", "Scope": "contoso.com"},
        ])
    );
    assert_eq!(
        contents["ActiveDirectoryConfig"]["HostAccountConfig"],
        serde_json::json!({
            "PluginGUID": format!("{{{PLUGIN}}}"),
            "PluginInput": "contoso.com:gmsaccg:<password>",
            "PortableCcgVersion": "1",
        })
    );
    assert_eq!(
        contents["CmsPlugins"],
        serde_json::json!(["ActiveDirectory"])
    );

    assert_denied(&admit_with(&out, "billing", "gmsa-webapp-1"), "billing");
}

#[test]
fn new_defaults_the_tree_to_the_domain_and_omits_host_account_config() {
    let o = run_new(&new_flags());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let cs = &yaml_docs(&stdout(&o))[0]["credspec"];
    assert_eq!(cs["DomainJoinConfig"]["DnsTreeName"], "contoso.com");
    assert!(
        cs["ActiveDirectoryConfig"]
            .get("HostAccountConfig")
            .is_none()
    );
}

#[test]
fn json_output_is_a_list_admit_reads() {
    let mut flags = new_flags();
    flags.push(("-o", "json".into()));
    let o = run_new(&flags);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let list: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    let contents = inlined(&admit_with(&stdout(&o), "webapp", "gmsa-webapp-1"));
    assert_eq!(contents, list["items"][0]["credspec"]);
}

/// What New-CredentialSpec writes (`ConvertTo-Json -Depth 5`: its key order, its
/// indentation), with an additional account and a ccg.exe plug-in.
const NEW_CREDENTIALSPEC_JSON: &str = r#"{
    "CmsPlugins":  [
                       "ActiveDirectory"
                   ],
    "DomainJoinConfig":  {
                             "Sid":  "S-1-5-21-2126449477-2524075714-3094792973",
                             "MachineAccountName":  "Web_App1",
                             "Guid":  "244818ae-87ac-4fcd-92ec-e79e5252348a",
                             "DnsTreeName":  "contoso.com",
                             "DnsName":  "contoso.com",
                             "NetBiosName":  "CONTOSO"
                         },
    "ActiveDirectoryConfig":  {
                                  "GroupManagedServiceAccounts":  [
                                                                      {
                                                                          "Name":  "Web_App1",
                                                                          "Scope":  "contoso.com"
                                                                      },
                                                                      {
                                                                          "Name":  "Web_App1",
                                                                          "Scope":  "CONTOSO"
                                                                      }
                                                                  ],
                                  "HostAccountConfig":  {
                                                            "PortableCcgVersion":  "1",
                                                            "PluginGUID":  "{859E1386-BDB4-49E8-85C7-3070B13920E1}",
                                                            "PluginInput":  "contoso.com:gmsaccg:<password>"
                                                        }
                              }
}"#;

#[test]
fn import_from_a_file_keeps_the_document_and_derives_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = temp_file(&dir, "webapp1.json", NEW_CREDENTIALSPEC_JSON);
    let o = winkube(&[
        "credspec",
        "import",
        &file,
        "--service-account",
        "web/webapp",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let docs = yaml_docs(&out);
    assert_eq!(docs.len(), 3);
    // The account name, lower-cased, `_` as `-`.
    assert_eq!(docs[0]["metadata"]["name"], "web-app1");
    assert_eq!(docs[1]["rules"][0]["resourceNames"][0], "web-app1");
    let original: Value = serde_json::from_str(NEW_CREDENTIALSPEC_JSON).unwrap();
    assert_eq!(docs[0]["credspec"], original);

    assert_eq!(inlined(&admit_with(&out, "webapp", "web-app1")), original);
    assert_denied(&admit_with(&out, "billing", "web-app1"), "billing");
}

#[test]
fn import_from_stdin_with_a_name() {
    let o = winkube_stdin(
        &[
            "credspec",
            "import",
            "-",
            "--name",
            "gmsa-webapp-1",
            "--service-account",
            "web/webapp",
        ],
        NEW_CREDENTIALSPEC_JSON,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(yaml_docs(&out)[0]["metadata"]["name"], "gmsa-webapp-1");
    let original: Value = serde_json::from_str(NEW_CREDENTIALSPEC_JSON).unwrap();
    assert_eq!(
        inlined(&admit_with(&out, "webapp", "gmsa-webapp-1")),
        original
    );
}

#[test]
fn import_reads_utf16_as_windows_powershell_redirects_it() {
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(
        NEW_CREDENTIALSPEC_JSON
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("utf16.json");
    std::fs::write(&file, bytes).unwrap();
    let o = winkube(&["credspec", "import", &file.to_string_lossy()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(yaml_docs(&stdout(&o))[0]["metadata"]["name"], "web-app1");
}

/// Exit code 2, nothing on stdout, and the error names `needle`.
fn assert_input_error(o: &std::process::Output, needle: &str, case: &str) {
    assert_eq!(code(o), 2, "{case}: stderr {}", stderr(o));
    assert!(stdout(o).is_empty(), "{case}: printed {}", stdout(o));
    assert!(
        stderr(o).contains(needle),
        "{case}: {:?} does not name {needle:?}",
        stderr(o)
    );
}

#[test]
fn new_refuses_every_bad_flag_and_prints_nothing() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "--name",
            "Gmsa_WebApp",
            "--name \"Gmsa_WebApp\": must be a DNS-1123 subdomain",
        ),
        ("--name", "-gmsa", "--name \"-gmsa\""),
        ("--domain", "contoso..com", "--domain \"contoso..com\""),
        ("--domain", "con_toso.com", "--domain \"con_toso.com\""),
        ("--forest", "-corp.com", "--forest \"-corp.com\""),
        (
            "--netbios",
            "CONTOSOCONTOSOCO",
            "a NetBIOS name has 1 to 15 characters, this has 16",
        ),
        (
            "--netbios",
            "CON*TOSO",
            "'*' is not allowed in a NetBIOS name",
        ),
        ("--netbios", ".CONTOSO", "cannot start with '.'"),
        (
            "--account",
            "WebApp1$",
            "--account \"WebApp1$\": give the account name without the trailing '$'",
        ),
        (
            "--account",
            "WebApplication12",
            "--account \"WebApplication12\": a gMSA account name has 1 to 15",
        ),
        (
            "--account",
            "Web App",
            "--account \"Web App\": ' ' is not allowed",
        ),
        (
            "--additional-account",
            "a/b",
            "--additional-account \"a/b\"",
        ),
        (
            "--sid",
            "S-1-5-21-1-2",
            "--sid \"S-1-5-21-1-2\": must be a domain SID",
        ),
        ("--sid", "S-1-5-32-544-1-2", "--sid \"S-1-5-32-544-1-2\""),
        ("--sid", "S-1-5-21-1-2-99999999999", "--sid"),
        (
            "--guid",
            "244818ae-87ac-4fcd-92ec-e79e5252348",
            "--guid \"244818ae-87ac-4fcd-92ec-e79e5252348\": must be a GUID",
        ),
        ("--guid", "zz4818ae-87ac-4fcd-92ec-e79e5252348a", "--guid"),
        (
            "--service-account",
            "webapp",
            "--service-account \"webapp\": expected NAMESPACE/NAME",
        ),
        (
            "--service-account",
            "Web/webapp",
            "--service-account \"Web/webapp\": namespace \"Web\": must be a DNS-1123 label",
        ),
        ("--service-account", "we.b/webapp", "namespace \"we.b\""),
        (
            "--service-account",
            "web/Web_App",
            "--service-account \"web/Web_App\": name \"Web_App\"",
        ),
        ("--service-account", "web/", "name \"\""),
    ];
    for (flag, value, needle) in cases {
        let mut flags = new_flags();
        match flags.iter_mut().find(|(f, _)| f == flag) {
            Some(slot) if *flag != "--service-account" => slot.1 = (*value).to_owned(),
            _ => flags.push((flag, (*value).to_owned())),
        }
        assert_input_error(&run_new(&flags), needle, &format!("{flag} {value}"));
    }

    // The plug-in flags: a bad CLSID (Microsoft's documentation placeholder), an empty
    // input, and one without the other.
    let mut flags = new_flags();
    flags.push((
        "--plugin-guid",
        "{GDMA0342-266A-4D1P-831J-20990E82944F}".into(),
    ));
    flags.push(("--plugin-input", "x".into()));
    assert_input_error(
        &run_new(&flags),
        "--plugin-guid \"{GDMA0342",
        "placeholder CLSID",
    );
    let mut flags = new_flags();
    flags.push(("--plugin-guid", PLUGIN.into()));
    flags.push(("--plugin-input", String::new()));
    assert_input_error(
        &run_new(&flags),
        "--plugin-input must not be empty",
        "empty input",
    );
    let mut flags = new_flags();
    flags.push(("--plugin-guid", PLUGIN.into()));
    assert_input_error(&run_new(&flags), "--plugin-input", "guid without input");

    // A missing required flag is clap's usage error, also exit code 2.
    let flags: Vec<_> = new_flags()
        .into_iter()
        .filter(|(f, _)| *f != "--sid")
        .collect();
    assert_input_error(&run_new(&flags), "--sid", "missing --sid");
}

#[test]
fn import_refuses_every_bad_document_and_prints_nothing() {
    let base: Value = serde_json::from_str(NEW_CREDENTIALSPEC_JSON).unwrap();
    let edit = |path: &[&str], value: Option<Value>| -> String {
        let mut doc = base.clone();
        let mut at = &mut doc;
        for key in &path[..path.len() - 1] {
            at = match key.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*key],
            };
        }
        let last = path[path.len() - 1];
        let map = at.as_object_mut().unwrap();
        match value {
            Some(v) => map.insert(last.to_owned(), v),
            None => map.remove(last),
        };
        doc.to_string()
    };
    let s = |v: &str| Some(Value::String(v.to_owned()));
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "invalid JSON"),
        ("[]".into(), "the document: missing, or not a JSON object"),
        (
            r#"{"CmsPlugins":["ActiveDirectory"],"CmsPlugins":[]}"#.into(),
            "invalid JSON",
        ),
        (
            edit(&["DomainJoinConfig", "Sid"], s("S-1-5-21-1")),
            "DomainJoinConfig.Sid \"S-1-5-21-1\"",
        ),
        (
            edit(
                &["DomainJoinConfig", "Guid"],
                s("{244818ae-87ac-4fcd-92ec-e79e5252348a}"),
            ),
            "DomainJoinConfig.Guid",
        ),
        (
            edit(&["DomainJoinConfig", "NetBiosName"], s("CONTOSO-CORPORATE")),
            "DomainJoinConfig.NetBiosName \"CONTOSO-CORPORATE\": a NetBIOS name has 1 to 15",
        ),
        (
            edit(&["DomainJoinConfig", "DnsName"], s("contoso com")),
            "DomainJoinConfig.DnsName",
        ),
        (
            edit(&["DomainJoinConfig", "DnsTreeName"], None),
            "DomainJoinConfig.DnsTreeName: missing",
        ),
        (
            edit(
                &["DomainJoinConfig", "MachineAccountName"],
                Some(Value::from(1)),
            ),
            "DomainJoinConfig.MachineAccountName: missing, or not a string",
        ),
        (
            edit(&["DomainJoinConfig", "Extra"], s("x")),
            "DomainJoinConfig: unknown field \"Extra\"",
        ),
        (edit(&["CmsPlugins"], None), "CmsPlugins: missing"),
        (
            edit(
                &["ActiveDirectoryConfig", "GroupManagedServiceAccounts"],
                Some(Value::Array(vec![])),
            ),
            "ActiveDirectoryConfig.GroupManagedServiceAccounts: missing, or not a non-empty list",
        ),
        (
            edit(
                &[
                    "ActiveDirectoryConfig",
                    "GroupManagedServiceAccounts",
                    "1",
                    "Scope",
                ],
                s("CON|TOSO"),
            ),
            "GroupManagedServiceAccounts[1].Scope \"CON|TOSO\" is neither",
        ),
        (
            edit(
                &[
                    "ActiveDirectoryConfig",
                    "GroupManagedServiceAccounts",
                    "0",
                    "Name",
                ],
                s("Web$"),
            ),
            "GroupManagedServiceAccounts[0].Name \"Web$\"",
        ),
        (
            edit(
                &["ActiveDirectoryConfig", "HostAccountConfig", "PluginGUID"],
                s("{GDMA0342-266A-4D1P-831J-20990E82944F}"),
            ),
            "HostAccountConfig.PluginGUID \"{GDMA0342",
        ),
        (
            edit(
                &["ActiveDirectoryConfig", "HostAccountConfig", "PluginGUID"],
                s(PLUGIN),
            ),
            "must be a GUID in braces",
        ),
        (
            edit(
                &["ActiveDirectoryConfig", "HostAccountConfig", "PluginInput"],
                None,
            ),
            "HostAccountConfig.PluginInput: missing",
        ),
        (
            edit(&["Extra"], Some(Value::Null)),
            "the document: unknown field \"Extra\"",
        ),
    ];
    for (text, needle) in &cases {
        let o = winkube_stdin(&["credspec", "import", "-"], text);
        assert_input_error(&o, needle, text);
    }

    // The default name cannot be made from this account: --name is needed.
    let o = winkube_stdin(
        &["credspec", "import", "-"],
        &edit(&["DomainJoinConfig", "MachineAccountName"], s("Web.App-")),
    );
    assert_input_error(
        &o,
        "the name derived from MachineAccountName \"web.app-\"",
        "derived",
    );
    assert!(stderr(&o).contains("pass --name"), "{}", stderr(&o));
    // Import's own flags.
    let o = winkube_stdin(
        &["credspec", "import", "-", "--name", "A"],
        NEW_CREDENTIALSPEC_JSON,
    );
    assert_input_error(&o, "--name \"A\"", "--name");
    let o = winkube_stdin(
        &["credspec", "import", "-", "--service-account", "web"],
        NEW_CREDENTIALSPEC_JSON,
    );
    assert_input_error(&o, "--service-account \"web\"", "--service-account");
    let o = winkube(&["credspec", "import", "/nonexistent/credspec.json"]);
    assert_input_error(
        &o,
        "/nonexistent/credspec.json: cannot read",
        "missing file",
    );
}
