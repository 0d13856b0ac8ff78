//! External tools that some tests run (such as Debian's `docker-registry`).
//!
//! A test that needs a tool must not pass by skipping where it is supposed to run: under CI
//! (`CI=true`) a missing tool fails the test, naming the tool and how to install it.
//! Elsewhere the test may be skipped, with the reason printed to stderr.

use std::path::Path;

/// Whether the tool at `path` is installed. When it is not: panics under CI (`CI=true`);
/// otherwise prints why `test` is skipped and returns false, and the caller returns.
/// `install` says how to get the tool, e.g. `apt-get install -y docker-registry`.
pub fn tool_available(path: &str, install: &str, test: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    missing_tool(path, install, test, ci)
}

fn missing_tool(path: &str, install: &str, test: &str, ci: bool) -> bool {
    assert!(
        !ci,
        "{test} needs {path}, which is missing: under CI (CI=true) a missing tool fails the run. Install it with `{install}` (.ci/run does)."
    );
    eprintln!(
        "\n\n*** SKIPPING {test}: {path} is missing. Install it with `{install}` (.ci/run does); under CI=true this fails. ***\n"
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_tool_is_available() {
        assert!(tool_available("/", "nothing", "this test"));
    }

    #[test]
    fn missing_tool_skips_locally() {
        assert!(!missing_tool(
            "/nonexistent/tool",
            "apt-get install -y tool",
            "t",
            false
        ));
    }

    #[test]
    #[should_panic(expected = "/nonexistent/tool, which is missing: under CI")]
    fn missing_tool_fails_under_ci() {
        missing_tool("/nonexistent/tool", "apt-get install -y tool", "t", true);
    }
}
