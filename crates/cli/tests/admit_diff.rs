//! `winkube admit --diff`: one unified diff per input that admission changes, on the
//! examples and on a stream that mixes changed, unchanged, denied and broken inputs.
#![allow(clippy::unwrap_used)]

mod support;
use support::{code, repo, stderr, stdout, temp_file, winkube};

/// The diff's hunks for the input named `header` (`--- <header>` to the next `--- `).
fn section<'a>(diff: &'a str, header: &str) -> &'a str {
    let start = diff
        .find(&format!("--- {header}\n"))
        .unwrap_or_else(|| panic!("no diff for {header}:\n{diff}"));
    let rest = &diff[start + 4..];
    match rest.find("\n--- ") {
        Some(end) => &diff[start..start + 4 + end + 1],
        None => &diff[start..],
    }
}

/// The section's lines that `sign` (`+` or `-`) marks, without the `+++`/`---` headers.
fn marked(section: &str, sign: char) -> Vec<&str> {
    let header = sign.to_string().repeat(3);
    section
        .lines()
        .filter(|l| l.starts_with(sign) && !l.starts_with(&header))
        .collect()
}

fn added(section: &str) -> Vec<&str> {
    marked(section, '+')
}

fn removed(section: &str) -> Vec<&str> {
    marked(section, '-')
}

#[test]
fn the_examples_diff_shows_exactly_what_admission_adds() {
    let o = winkube(&[
        "admit",
        "--offline",
        "--state",
        "examples/state",
        "--diff",
        "examples/webapp-pod.yaml",
        "examples/webapp-deployment.yaml",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let diff = stdout(&o);
    let pod = section(
        &diff,
        "examples/webapp-pod.yaml (document 1): Pod default/webapp",
    );
    assert!(pod.contains(
        "+++ examples/webapp-pod.yaml (document 1): Pod default/webapp (admitted)\n@@ -"
    ));
    // The gMSA contents and the build selector are added; nothing is removed.
    let plus = added(pod);
    assert_eq!(plus.len(), 2, "{pod}");
    assert_eq!(
        plus[0],
        "+    node.kubernetes.io/windows-build: \"10.0.17763\""
    );
    assert!(
        plus[1].starts_with("+      gmsaCredentialSpec: \"{"),
        "{pod}"
    );
    assert!(removed(pod).is_empty(), "{pod}");

    // The same lines, as `admit` without --diff prints them.
    let admitted = winkube(&[
        "admit",
        "--offline",
        "--state",
        "examples/state",
        "examples/webapp-pod.yaml",
    ]);
    let full = stdout(&admitted);
    for line in &plus {
        assert!(
            full.lines().any(|l| l == &line[1..]),
            "{line} not in:\n{full}"
        );
    }

    // A workload's diff is of its template, at the template's indentation.
    let dep = section(
        &diff,
        "examples/webapp-deployment.yaml (document 1): Deployment default/webapp (pod template)",
    );
    assert!(
        added(dep).contains(&"+        node.kubernetes.io/windows-build: \"10.0.17763\""),
        "{dep}"
    );
    assert_eq!(
        diff.matches("\n+++ ").count() + usize::from(diff.starts_with("+++ ")),
        2
    );
}

#[test]
fn unchanged_denied_and_broken_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let linux = temp_file(
        &dir,
        "linux.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {nodeSelector: {kubernetes.io/os: linux}, containers: [{name: c, image: \"nginx:1.27\"}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n",
    );
    let denied = repo()
        .join("examples/denied/unknown-credspec.yaml")
        .display()
        .to_string();
    let o = winkube(&[
        "admit",
        "--offline",
        "--state",
        "examples/state",
        "--diff",
        &linux,
        &denied,
        "examples/webapp-pod.yaml",
    ]);
    // The denial is reported and makes the exit code; the unchanged Linux pod and the
    // Service print nothing; the webapp's diff is printed.
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("denied (404)"), "{}", stderr(&o));
    let diff = stdout(&o);
    assert_eq!(diff.matches("--- ").count(), 1, "{diff}");
    assert!(diff.starts_with("--- examples/webapp-pod.yaml"), "{diff}");

    // A broken file: nothing on stdout, exit 2, the file named.
    let broken = temp_file(
        &dir,
        "broken.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: [\n",
    );
    let o = winkube(&[
        "admit",
        "--offline",
        "--state",
        "examples/state",
        "--diff",
        "examples/webapp-pod.yaml",
        &broken,
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("broken.yaml"), "{}", stderr(&o));

    // --diff and --show-pods answer different questions.
    let o = winkube(&["admit", "--diff", "--show-pods", "examples/webapp-pod.yaml"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--show-pods"), "{}", stderr(&o));
}

#[test]
fn json_diffs_render_both_sides_as_json() {
    let o = winkube(&[
        "admit",
        "--offline",
        "--state",
        "examples/state",
        "--diff",
        "-o",
        "json",
        "examples/webapp-pod.yaml",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let diff = stdout(&o);
    assert!(
        added(&diff).contains(&"+      \"node.kubernetes.io/windows-build\": \"10.0.17763\""),
        "{diff}"
    );
    // Every line is a unified diff line: nothing to apply by mistake.
    assert!(
        diff.lines().all(|l| ["--- ", "+++ ", "@@ ", " ", "+", "-"]
            .iter()
            .any(|p| l.starts_with(p))),
        "{diff}"
    );
}
