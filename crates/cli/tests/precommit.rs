//! The pre-commit hook the repository publishes (`.pre-commit-hooks.yaml`) parses, and its
//! entry is a winkube command that runs on files as pre-commit passes them.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::Value;
use support::*;

#[test]
fn the_pre_commit_hook_names_a_command_that_exists() {
    let text = std::fs::read_to_string(repo().join(".pre-commit-hooks.yaml")).unwrap();
    let hooks: Value = serde_saphyr::from_str(&text).unwrap();
    let hooks = hooks.as_array().unwrap();
    let hook = hooks.iter().find(|h| h["id"] == "winkube-lint").unwrap();
    for key in ["name", "entry", "language"] {
        assert!(hook[key].is_string(), "{key} missing: {hook}");
    }
    assert_eq!(hook["language"], "system");
    let types: Vec<&str> = hook["types_or"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(types, ["yaml", "json"]);
    let entry: Vec<&str> = hook["entry"].as_str().unwrap().split_whitespace().collect();
    assert_eq!(entry[..2], ["winkube", "lint"]);

    // pre-commit runs the entry, then the user's args, then the file names.
    let run = |files: &[&str]| {
        let args: Vec<&str> = entry[1..]
            .iter()
            .copied()
            .chain(["--state", "examples/state"])
            .chain(files.iter().copied())
            .collect();
        winkube(&args)
    };
    let o = run(&[
        "examples/webapp-pod.yaml",
        "examples/webapp-deployment.yaml",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("2 objects checked, 0 would be denied"));
    let o = run(&["examples/denied/unauthorized-service-account.yaml"]);
    assert_eq!(code(&o), 1, "a denial fails the hook");
    assert!(
        stdout(&o).contains("rule gmsa/use-not-authorized"),
        "{}",
        stdout(&o)
    );
}
