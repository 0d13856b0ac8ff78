//! The documentation's examples run as written: every code block in README.md and
//! docs/*.md whose info string says `runnable` (```` ```sh runnable ```` or
//! ```` ```console runnable ````).
//!
//! - `sh runnable`: each command (lines joined at a trailing `\`, `#` comments skipped)
//!   must exit 0.
//! - `console runnable`: each `$ ` line is a command; the lines after it are its output
//!   (stderr, then stdout), compared line by line. A line `...` stands for any number of
//!   lines, and a line ending in `...` for any line that starts with what precedes it. The
//!   exit code must be 0 or 1 (1: the example shows a denial), never 2.
//!
//! Commands run in the repository root with `bash`, `winkube` (and `cargo run -q -p
//! winkube --`) being the binary under test. `admit` and `lint` get `--offline` when the
//! example does not give it: tests never ask a registry off this machine (tests/windows.rs
//! covers registries, against a loopback one). cli.rs checks the README's first command
//! in detail; this file checks that every shown command still runs and says what is shown.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;
use support::{BIN, repo};

#[derive(Debug)]
struct Block {
    /// `README.md:51`, for messages.
    at: String,
    console: bool,
    lines: Vec<String>,
}

fn runnable_blocks(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path
        .strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string();
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(info) = line.trim_start().strip_prefix("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => {
                    let words: Vec<&str> = info.split_whitespace().collect();
                    let block = Block {
                        at: format!("{name}:{}", i + 1),
                        console: words.first() == Some(&"console"),
                        lines: Vec::new(),
                    };
                    // Every block opens `current`, so its closing fence is not taken for
                    // an opening one; only runnable ones are kept.
                    current = Some(block);
                    if !words.contains(&"runnable") {
                        current.as_mut().unwrap().at.clear();
                    }
                }
            }
            continue;
        }
        if let Some(block) = current.as_mut() {
            block.lines.push(line.to_owned());
        }
    }
    blocks.retain(|b| !b.at.is_empty());
    blocks
}

/// Joins `\`-continued lines.
fn join_continuations(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending = String::new();
    for line in lines {
        match line.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(line);
                out.push(std::mem::take(&mut pending));
            }
        }
    }
    if !pending.is_empty() {
        out.push(pending);
    }
    out
}

/// A directory with `winkube` pointing at the binary under test, for PATH.
fn bin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(BIN, dir.path().join("winkube")).unwrap();
    dir
}

fn run(bin: &Path, command: &str) -> Output {
    let mut command = command.replace("cargo run -q -p winkube --", "winkube");
    for sub in ["admit", "lint"] {
        let prefix = format!("winkube {sub} ");
        if command.contains(&prefix) && !command.contains("--offline") {
            command = command.replace(&prefix, &format!("{prefix}--offline "));
        }
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("bash")
        .args(["-c", &command])
        .current_dir(repo())
        .env("PATH", path)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// Whether `actual` matches `expected` with the `...` rules above.
fn matches(expected: &[String], actual: &[&str]) -> bool {
    let Some((first, rest)) = expected.split_first() else {
        return actual.is_empty();
    };
    if first.trim() == "..." {
        return (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]));
    }
    let Some((line, others)) = actual.split_first() else {
        return false;
    };
    let ok = match first.strip_suffix("...") {
        Some(prefix) => line.starts_with(prefix),
        None => line.trim_end() == first.trim_end(),
    };
    ok && matches(rest, others)
}

fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

#[test]
fn every_runnable_example_in_the_docs_runs_as_shown() {
    let bin = bin_dir();
    let mut failures = Vec::new();
    let mut ran = 0;
    for file in doc_files() {
        for block in runnable_blocks(&file) {
            if !block.console {
                for command in join_continuations(&block.lines) {
                    let command = command.trim();
                    if command.is_empty() || command.starts_with('#') {
                        continue;
                    }
                    ran += 1;
                    let o = run(bin.path(), command);
                    if !o.status.success() {
                        failures.push(format!(
                            "{}: `{command}` exited {:?}: {}",
                            block.at,
                            o.status.code(),
                            String::from_utf8_lossy(&o.stderr)
                        ));
                    }
                }
                continue;
            }
            // Console: `$ command`, then its output.
            let mut examples: Vec<(String, Vec<String>)> = Vec::new();
            for line in join_continuations(&block.lines) {
                match line.strip_prefix("$ ") {
                    Some(cmd) => examples.push((cmd.to_owned(), Vec::new())),
                    None => match examples.last_mut() {
                        Some((_, out)) => out.push(line),
                        None => failures.push(format!("{}: output before any `$ `", block.at)),
                    },
                }
            }
            for (command, expected) in examples {
                ran += 1;
                let o = run(bin.path(), &command);
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stderr),
                    String::from_utf8_lossy(&o.stdout)
                );
                let actual: Vec<&str> = text.lines().collect();
                if !matches!(o.status.code(), Some(0 | 1)) {
                    failures.push(format!(
                        "{}: `{command}` exited {:?}:\n{text}",
                        block.at,
                        o.status.code()
                    ));
                } else if !matches(&expected, &actual) {
                    failures.push(format!(
                        "{}: `{command}` printed\n{text}\nbut the docs show\n{}",
                        block.at,
                        expected.join("\n")
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // README alone has more than this; a parser that finds nothing must not pass.
    assert!(ran >= 8, "only {ran} runnable commands found");
}

#[test]
fn the_matcher_elides_and_prefixes() {
    let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(matches(&e(&["a", "...", "d"]), &["a", "b", "c", "d"]));
    assert!(matches(&e(&["a", "..."]), &["a"]));
    assert!(matches(&e(&["warning: x..."]), &["warning: x y z"]));
    assert!(!matches(&e(&["a", "d"]), &["a", "b", "d"]));
    assert!(!matches(&e(&["a"]), &["a", "b"]));
    assert!(!matches(&e(&["b..."]), &["a b"]));
}

#[test]
fn runnable_blocks_are_found_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let md = support::temp_file(
        &dir,
        "x.md",
        "text\n```sh\nnot runnable\n```\n```sh runnable\nwinkube version\n```\n```console runnable\n$ winkube \\\n  version\nwinkube ...\n```\n",
    );
    let blocks = runnable_blocks(Path::new(&md));
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert!(blocks[0].at.ends_with("x.md:5"), "{}", blocks[0].at);
    assert_eq!(blocks[0].lines, ["winkube version"]);
    assert!(blocks[1].console);
    assert_eq!(
        join_continuations(&blocks[1].lines),
        ["$ winkube    version", "winkube ..."]
    );
}
