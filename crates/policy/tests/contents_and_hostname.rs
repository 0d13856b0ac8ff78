//! Contents comparison (reference §2.5), the inlined canonical strings of the reference's
//! integration tests (§2.6), random hostnames (M5) and offline admission.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::*;
use winkube_policy::{Phase, ReviewContext, admit_pod};

fn ctx() -> ReviewContext {
    ReviewContext::default()
}

fn validate_contents(view: &MemView, cs: &str, contents: &str) -> winkube_policy::Outcome {
    let pod = json!({"metadata": {"name": "p1"}, "spec": {"serviceAccountName": "sa1", "containers": [{"name": "c0",
        "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": cs, "gmsaCredentialSpec": contents}}}]}});
    run(
        Phase::Validate,
        &review_body("u", "CREATE", &pod, None),
        view,
        &ctx(),
    )
}

#[test]
fn contents_compare_as_json_values() {
    let view = MemView::default()
        .with(
            "cs",
            json!({"A": "<b>&", "B": [1, 2], "N": {"x": "y", "z": [true, null]}}),
        )
        .with("big", json!({"N": 9007199254740993u64}));
    let prefix = r#"the GMSA cred spec contents for container "c0" does not match the contents of GMSA resource "cs""#;
    // (contents, None = match, Some(suffix) = mismatch with the message suffix "" or ": unable to parse …")
    let rows: &[(&str, Option<&str>)] = &[
        (
            r#"{"A":"\u003cb\u003e\u0026","B":[1,2],"N":{"x":"y","z":[true,null]}}"#,
            None,
        ),
        (
            r#"{"N":{"z":[true,null],"x":"y"},"B":[1,2],"A":"<b>&"}"#,
            None,
        ),
        (
            "  {\n \"A\" : \"<b>&\" ,\t\"B\" : [ 1 , 2.0 ], \"N\": {\"x\":\"y\",\"z\":[true,null]} }  ",
            None,
        ),
        (
            r#"{"A":"<b>&","B":[1e0,0.2e1],"N":{"x":"y","z":[true,null]}}"#,
            None,
        ),
        // Equal last-key-wins (the reference admits it), but duplicate keys are refused
        // (issue 9: which one Windows reads is not known).
        (
            r#"{"A":"x","A":"<b>&","B":[1,2],"N":{"x":"y","z":[true,null]}}"#,
            Some(r#": contents with duplicate keys are refused: duplicate key "A""#),
        ),
        (
            r#"{"A":"<b>&","A":"x","B":[1,2],"N":{"x":"y","z":[true,null]}}"#,
            Some(r#": contents with duplicate keys are refused: duplicate key "A""#),
        ),
        (
            r#"{"A":"<b>&","B":[2,1],"N":{"x":"y","z":[true,null]}}"#,
            Some(""),
        ),
        (
            r#"{"A":"<b>&","B":["1",2],"N":{"x":"y","z":[true,null]}}"#,
            Some(""),
        ),
        (
            r#"{"A":"<b>&","B":[1,2],"N":{"x":"y","z":[true,null]},"C":null}"#,
            Some(""),
        ),
        (
            r#"{"A":"<b>&","B":[1,2],"N":{"x":"y","z":[true]}}"#,
            Some(""),
        ),
        (
            r#"{"A":"<b>&","B":[1,2],"N":{"x":"y","z":[true,false]}}"#,
            Some(""),
        ),
        (
            r#"{"a":"<b>&","B":[1,2],"N":{"x":"y","z":[true,null]}}"#,
            Some(""),
        ),
        ("null", Some("")),
        (" null ", Some("")),
        ("{}", Some("")),
        (
            "[1,2]",
            Some(r#": unable to parse "[1,2]" as a JSON object: "#),
        ),
        (
            r#""str""#,
            Some(r#": unable to parse "\"str\"" as a JSON object: "#),
        ),
        ("42", Some(r#": unable to parse "42" as a JSON object: "#)),
        (
            "nope",
            Some(r#": unable to parse "nope" as a JSON object: "#),
        ),
        (
            "",
            Some(r#": unable to parse "" as a JSON object: unexpected end of JSON input"#),
        ),
        (
            r#"{"A":"<b>&"} x"#,
            Some(r#": unable to parse "{\"A\":\"<b>&\"} x" as a JSON object: "#),
        ),
        (
            "{\"A\":\n",
            Some(r#": unable to parse "{\"A\":\n" as a JSON object: unexpected end of JSON input"#),
        ),
    ];
    for (contents, expect) in rows {
        let o = validate_contents(&view, "cs", contents);
        match expect {
            None => assert!(o.allowed, "{contents}: {}", o.message),
            Some(suffix) => {
                assert_eq!(o.code, 422, "{contents}");
                assert!(
                    o.message.starts_with(&format!("{prefix}{suffix}")),
                    "{contents}: {}",
                    o.message
                );
                if suffix.is_empty() {
                    assert_eq!(o.message, prefix, "{contents}: no suffix expected");
                }
            }
        }
    }
    // Numbers are float64, as in Go: 2^53+1 equals 2^53.
    assert!(validate_contents(&view, "big", r#"{"N":9007199254740992}"#).allowed);
    assert!(validate_contents(&view, "big", r#"{"N":9.007199254740993e15}"#).allowed);
    assert!(!validate_contents(&view, "big", r#"{"N":9007199254740994.5}"#).allowed);
}

#[test]
fn credspec_that_is_not_an_object_cannot_match() {
    let view = MemView::default().with("str", json!("just a string"));
    let o = validate_contents(&view, "str", "{}");
    assert_eq!(o.code, 422);
    assert!(o.message.ends_with(r#"does not match the contents of GMSA resource "str": unable to parse CRD "\"just a string\"" as a JSON object: invalid type: string, expected a map"#), "{}", o.message);
    // Byte-identical contents still match (the reference's fast path).
    assert!(validate_contents(&view, "str", r#""just a string""#).allowed);
}

fn credspec_yaml(i: u32, sid: &str) -> Value {
    json!({
        "ActiveDirectoryConfig": {"GroupManagedServiceAccounts": [
            {"Name": format!("WebApplication{i}"), "Scope": "CONTOSO"},
            {"Name": format!("WebApplication{i}"), "Scope": "contoso.com"}]},
        "CmsPlugins": ["ActiveDirectory"],
        "DomainJoinConfig": {"DnsName": "contoso.com", "DnsTreeName": "contoso.com",
            "Guid": "244818ae-87ca-4fcd-92ec-e79e5252348a", "MachineAccountName": format!("WebApplication{i}"),
            "NetBiosName": "CONTOSO", "Sid": sid}
    })
}

fn inlined(view: &MemView, cs: &str) -> String {
    let pod = json!({"metadata": {"name": "p1"}, "spec": {"securityContext": {"windowsOptions": {"gmsaCredentialSpecName": cs}}, "containers": [{"name": "nginx"}]}});
    let o = run(
        Phase::Mutate,
        &review_body("u", "CREATE", &pod, None),
        view,
        &ctx(),
    );
    patch_ops(&o)[0]["value"].as_str().unwrap().to_owned()
}

#[test]
fn integration_test_canonical_strings() {
    let mut hostagent = credspec_yaml(2, "S-1-5-21-2126729477-2524275714-3294792973");
    hostagent["ActiveDirectoryConfig"]["HostAccountConfig"] = json!({
        "PortableCcgVersion": "1", "PluginGUID": "{GDMA0342-266A-4D1P-831J-20990E82944F}",
        "PluginInput": "contoso.com:gmsaccg:<password>"});
    let view = MemView::default()
        .with(
            "credspec-0",
            credspec_yaml(0, "S-1-5-21-2126729477-2524075714-3094792973"),
        )
        .with(
            "credspec-1",
            credspec_yaml(1, "S-1-5-21-2126729477-2524175714-3194792973"),
        )
        .with("credspec-with-hostagentconfig", hostagent);
    let cs0 = r#"{"ActiveDirectoryConfig":{"GroupManagedServiceAccounts":[{"Name":"WebApplication0","Scope":"CONTOSO"},{"Name":"WebApplication0","Scope":"contoso.com"}]},"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"DnsName":"contoso.com","DnsTreeName":"contoso.com","Guid":"244818ae-87ca-4fcd-92ec-e79e5252348a","MachineAccountName":"WebApplication0","NetBiosName":"CONTOSO","Sid":"S-1-5-21-2126729477-2524075714-3094792973"}}"#;
    assert_eq!(inlined(&view, "credspec-0"), cs0);
    assert_eq!(
        inlined(&view, "credspec-with-hostagentconfig"),
        r#"{"ActiveDirectoryConfig":{"GroupManagedServiceAccounts":[{"Name":"WebApplication2","Scope":"CONTOSO"},{"Name":"WebApplication2","Scope":"contoso.com"}],"HostAccountConfig":{"PluginGUID":"{GDMA0342-266A-4D1P-831J-20990E82944F}","PluginInput":"contoso.com:gmsaccg:\u003cpassword\u003e","PortableCcgVersion":"1"}},"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"DnsName":"contoso.com","DnsTreeName":"contoso.com","Guid":"244818ae-87ca-4fcd-92ec-e79e5252348a","MachineAccountName":"WebApplication2","NetBiosName":"CONTOSO","Sid":"S-1-5-21-2126729477-2524275714-3294792973"}}"#
    );
    // I4: reordered keys and extra spaces match; I9: the contents of another credspec do not.
    let preset = r#"{"CmsPlugins":["ActiveDirectory"],  "ActiveDirectoryConfig":{"GroupManagedServiceAccounts":[{"Name":"WebApplication0","Scope":"CONTOSO"},{"Name":"WebApplication0","Scope":"contoso.com"}]},"DomainJoinConfig":{"Sid":"S-1-5-21-2126729477-2524075714-3094792973",  "DnsName":"contoso.com","DnsTreeName":"contoso.com","Guid":"244818ae-87ca-4fcd-92ec-e79e5252348a","MachineAccountName":"WebApplication0","NetBiosName":"CONTOSO"}}"#;
    assert!(validate_contents(&view, "credspec-0", preset).allowed);
    let cs1 = inlined(&view, "credspec-1");
    let o = validate_contents(&view, "credspec-0", &cs1);
    assert_eq!(
        o.message,
        r#"the GMSA cred spec contents for container "c0" does not match the contents of GMSA resource "credspec-0""#
    );
}

// ---- M5: random hostname ----

fn host_ctx() -> ReviewContext {
    ReviewContext {
        random_hostname: Some("c5c0cb67-605d-4".into()),
    }
}

#[test]
fn random_hostname_rules() {
    let view = MemView::default().with("cs", json!({"CmsPlugins": ["ActiveDirectory"]}));
    let pod = |spec: Value| json!({"metadata": {"name": "p1"}, "spec": spec});
    let hostname_op = json!({"op": "add", "path": "/spec/hostname", "value": "c5c0cb67-605d-4"});
    let rows: Vec<(&str, Value, ReviewContext, Option<usize>)> = vec![
        // (case, spec, ctx, Some(index of the hostname op) or None)
        (
            "pod-level name",
            json!({"securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}}}),
            host_ctx(),
            Some(1),
        ),
        (
            "container-level name",
            json!({"containers": [{"name": "c", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}}}]}),
            host_ctx(),
            Some(1),
        ),
        (
            "name and contents preset",
            json!({"securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs", "gmsaCredentialSpec": "{}"}}}),
            host_ctx(),
            Some(0),
        ),
        (
            "hostname preset",
            json!({"hostname": "hostnameset-no-hostname-randomization", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}}}),
            host_ctx(),
            None,
        ),
        (
            "empty hostname counts as unset",
            json!({"hostname": "", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}}}),
            host_ctx(),
            Some(1),
        ),
        (
            "contents only",
            json!({"securityContext": {"windowsOptions": {"gmsaCredentialSpec": "{}"}}}),
            host_ctx(),
            None,
        ),
        (
            "no gmsa",
            json!({"containers": [{"name": "c"}]}),
            host_ctx(),
            None,
        ),
        (
            "option off",
            json!({"securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}}}),
            ctx(),
            None,
        ),
    ];
    for (case, spec, c, at) in rows {
        let o = run(
            Phase::Mutate,
            &review_body("u", "CREATE", &pod(spec), None),
            &view,
            &c,
        );
        assert!(o.allowed, "{case}");
        let ops = patch_ops(&o);
        match at {
            Some(i) => {
                assert_eq!(ops.len(), i + 1, "{case}: hostname op is last");
                assert_eq!(ops[i], hostname_op, "{case}");
            }
            None => assert!(
                ops.iter().all(|op| op["path"] != "/spec/hostname"),
                "{case}"
            ),
        }
    }
}

// ---- offline admission ----

#[test]
fn admit_pod_mutates_then_validates() {
    let view =
        MemView::default().with("cs", json!({"CmsPlugins": ["ActiveDirectory"], "X": "<&>"}));
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1"}, "spec": {"serviceAccountName": "sa1",
        "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}},
        "containers": [{"name": "c0", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}}}],
        "initContainers": [{"name": "i0", "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}}}]}});
    let a = block_on(admit_pod(&pod, NS, &view, &host_ctx()));
    assert!(a.allowed, "{}", a.message);
    assert_eq!(a.code, 200);
    let canonical = r#"{"CmsPlugins":["ActiveDirectory"],"X":"\u003c\u0026\u003e"}"#;
    assert_eq!(
        a.pod["spec"]["securityContext"]["windowsOptions"]["gmsaCredentialSpec"],
        canonical
    );
    assert_eq!(
        a.pod["spec"]["containers"][0]["securityContext"]["windowsOptions"]["gmsaCredentialSpec"],
        canonical
    );
    assert_eq!(
        a.pod["spec"]["initContainers"][0]["securityContext"]["windowsOptions"]["gmsaCredentialSpec"],
        canonical
    );
    assert_eq!(a.pod["spec"]["hostname"], "c5c0cb67-605d-4");
    assert_eq!(
        view.log(),
        vec![
            "get:cs", "get:cs", "get:cs", "sar:cs", "get:cs", "get:cs", "get:cs"
        ],
        "mutate GETs, then one SAR per (service account, credspec) pair (not one per \
         reference, as the reference does: issue 9), then validate GETs"
    );
    assert!(a.warnings.is_empty());
}

#[test]
fn admit_pod_denials_return_the_original_pod() {
    let view = MemView::default()
        .with("cs", json!({"CmsPlugins": ["ActiveDirectory"]}))
        .deny(NS, "sa1", "cs", "");
    let pod = json!({"metadata": {"name": "p1"}, "spec": {"serviceAccountName": "sa1",
        "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "cs"}}, "containers": [{"name": "c0"}]}});
    let a = block_on(admit_pod(&pod, NS, &view, &ctx()));
    assert_eq!((a.allowed, a.code), (false, 403));
    assert_eq!(
        a.message,
        r#"service account "sa1" is not authorized to `use` GMSA cred spec "cs""#
    );
    assert_eq!(a.pod, pod);

    let missing = json!({"metadata": {"name": "p1"}, "spec": {"securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "nope"}}}});
    let a = block_on(admit_pod(&missing, NS, &view, &ctx()));
    assert_eq!(
        (a.code, a.message.as_str()),
        (404, "cred spec nope does not exist")
    );

    let a = block_on(admit_pod(&json!("not a pod"), NS, &view, &ctx()));
    assert_eq!(a.code, 400);
    assert!(
        a.message
            .starts_with("unable to unmarshall pod JSON object: ")
    );

    let plain = json!({"metadata": {"name": "p1"}, "spec": {"containers": [{"name": "c0"}]}});
    let a = block_on(admit_pod(&plain, NS, &view, &host_ctx()));
    assert!(a.allowed);
    assert_eq!(a.pod, plain, "no gMSA, no hostname");
}
