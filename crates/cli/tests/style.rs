//! One command-line style: kubectl's short flags, Go boolean flags in `admit` as in
//! `webhook`, start-up errors once with one exit code per class, plain logs when piped,
//! `version` and shell completions.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

mod support;
use support::{BIN, code, repo, stderr, stdout, winkube, yaml_docs};

/// `winkube webhook ARGS` with exactly the reference's variables in `env`.
fn webhook(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("webhook").args(args).current_dir(repo());
    for var in [
        "TLS_CRT",
        "TLS_KEY",
        "HTTPS_PORT",
        "RANDOM_HOSTNAME",
        "QPS",
        "BURST",
        "LOG_LEVEL",
        "RUST_LOG",
        "NO_COLOR",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

#[test]
fn a_tls_file_with_bad_pem_is_a_configuration_error_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let crt = support::temp_file(
        &dir,
        "tls.crt",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    );
    let key = support::temp_file(
        &dir,
        "tls.key",
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    );
    let o = webhook(
        &[("TLS_CRT", &crt), ("TLS_KEY", &key), ("HTTPS_PORT", "8443")],
        &["--state", "examples/state", "--offline"],
    );
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert_eq!(err.lines().count(), 1, "one message: {err}");
    assert!(err.starts_with("winkube webhook: "), "{err}");
    assert!(err.contains("TLS_CRT") || err.contains("TLS_KEY"), "{err}");
    assert!(err.contains(&crt) || err.contains(&key), "{err}");
    // Not repeated in the log on stdout either.
    assert!(!stdout(&o).contains(&crt), "{}", stdout(&o));

    // With JSON logs, the one message is the JSON error line.
    let o = webhook(
        &[("TLS_CRT", &crt), ("TLS_KEY", &key)],
        &["--state", "examples/state", "--log-format", "json"],
    );
    assert_eq!(code(&o), 2);
    assert_eq!(stderr(&o), "");
    let line = stdout(&o);
    let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    assert_eq!(v["level"], "ERROR", "{line}");
}

#[test]
fn a_bad_state_directory_or_policy_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let crt = support::temp_file(&dir, "tls.crt", &cert.pem());
    let key = support::temp_file(&dir, "tls.key", &signing_key.serialize_pem());
    let tls = [("TLS_CRT", crt.as_str()), ("TLS_KEY", key.as_str())];
    let o = webhook(&tls, &["--state", "no/such/dir", "--port", "0"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("no/such/dir"), "{}", stderr(&o));
    let policy = support::temp_file(&dir, "policy.yaml", "scheduling: {mode: sometimes}\n");
    let o = webhook(&tls, &["--state", "examples/state", "--policy", &policy]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    // One message (the parser adds a snippet of the file under it).
    assert_eq!(
        stderr(&o).matches("winkube webhook:").count(),
        1,
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--policy"), "{}", stderr(&o));
}

#[test]
fn offline_needs_state() {
    let o = webhook(&[], &["--offline"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--state"), "{}", stderr(&o));
}

#[test]
fn piped_logs_have_no_colours() {
    // An invalid HTTPS_PORT is a logged warning, then the missing key stops start-up.
    let o = webhook(
        &[("TLS_CRT", "/no/such/crt"), ("HTTPS_PORT", "http")],
        &["--tls-key-file", "/no/such/key"],
    );
    let log = stdout(&o);
    assert!(log.contains("HTTPS_PORT"), "{log}");
    assert!(!log.contains('\x1b'), "{log:?}");
    assert_eq!(code(&o), 2);
}

#[test]
fn manifests_take_kubectl_short_namespace() {
    let o = winkube(&["manifests", "install", "-n", "gmsa"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let docs = yaml_docs(&stdout(&o));
    assert_eq!(docs[0]["kind"], "Namespace");
    assert_eq!(docs[0]["metadata"]["name"], "gmsa");
}

#[test]
fn windows_failure_policy_help_is_about_the_windows_policies() {
    let help = stdout(&winkube(&["manifests", "install", "--help"]));
    let at = help.find("--windows-failure-policy").unwrap();
    let text = &help[at..];
    let text = &text[..text[2..].find("\n  -").map_or(text.len(), |i| i + 2)];
    assert!(text.contains("Windows"), "{text}");
    assert!(!text.contains("gMSA"), "{text}");
}

#[test]
fn admit_random_hostname_takes_go_booleans_like_the_webhook() {
    let pod = "examples/webapp-pod.yaml";
    let base = ["admit", "--offline", "--state", "examples/state"];
    let hostname = |flag: Option<&str>| {
        let mut args = base.to_vec();
        args.extend(flag);
        args.push(pod);
        let o = winkube(&args);
        assert_eq!(code(&o), 0, "{flag:?}: {}", stderr(&o));
        yaml_docs(&stdout(&o))[0]["spec"]["hostname"].clone()
    };
    assert!(hostname(None).is_null());
    assert_eq!(
        hostname(Some("--random-hostname")).as_str().unwrap().len(),
        15
    );
    assert_eq!(
        hostname(Some("--random-hostname=T"))
            .as_str()
            .unwrap()
            .len(),
        15
    );
    assert!(hostname(Some("--random-hostname=false")).is_null());
    let o = winkube(&[&base[..], &["--random-hostname=yes", pod]].concat());
    assert_eq!(code(&o), 2);
}

#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef winkube"),
        ("fish", "complete -c winkube"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let o = winkube(&["completion", shell]);
        assert_eq!(code(&o), 0, "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        assert!(script.contains(marker), "{shell}");
        for sub in ["admit", "lint", "webhook", "manifests", "completion"] {
            assert!(script.contains(sub), "{shell} lacks {sub}");
        }
    }
    assert_eq!(code(&winkube(&["completion", "tcsh"])), 2);
}

#[test]
fn bash_completion_loads_in_bash() {
    let o = winkube(&["completion", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let script = support::temp_file(&dir, "winkube.bash", &stdout(&o));
    let Ok(out) = Command::new("bash")
        .args(["-c", &format!("source {script} && complete -p winkube")])
        .output()
    else {
        return; // no bash on this machine
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("winkube"));
}

#[test]
fn help_names_only_files_that_exist_and_says_what_the_webhook_answers() {
    for cmd in [
        vec!["--help"],
        vec!["admit", "--help"],
        vec!["lint", "--help"],
        vec!["webhook", "--help"],
        vec!["manifests", "--help"],
        vec!["manifests", "install", "--help"],
        vec!["runtimeclass", "--help"],
        vec!["completion", "--help"],
    ] {
        let help = stdout(&winkube(&cmd));
        for word in help.split_whitespace() {
            let word = word.trim_matches(|c: char| "`'\",;:()".contains(c));
            if word.starts_with("examples/") {
                assert!(
                    repo().join(word).exists(),
                    "{cmd:?} names {word}, which does not exist"
                );
            }
        }
    }
    let webhook = stdout(&winkube(&["webhook", "--help"]));
    assert!(webhook.contains("admission.k8s.io/v1"), "{webhook}");
    assert!(!webhook.contains("v1 or\nv1beta1"), "{webhook}");
    for s in [
        "--offline",
        "--show-pods",
        "-f, --filename",
        "-R, --recursive",
    ] {
        let admit = stdout(&winkube(&["admit", "--help"]));
        if s == "--offline" {
            assert!(webhook.contains(s), "webhook --help lacks {s}");
        }
        assert!(admit.contains(s), "admit --help lacks {s}");
    }
}
