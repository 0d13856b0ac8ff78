//! The version `winkube version`, `winkube --version` and `winkube webhook --version` print.

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from (build.rs), or `unknown`.
pub const COMMIT: &str = env!("WINKUBE_GIT_COMMIT");

/// `0.1.0 (commit 0e926ca1b2c3)`: what clap prints after the name for `--version`.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("WINKUBE_GIT_COMMIT"),
    ")"
);

/// `winkube 0.1.0 (commit 0e926ca1b2c3)`.
pub fn line() -> String {
    format!("winkube {VERSION} (commit {COMMIT})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_version_and_commit() {
        assert_eq!(line(), format!("winkube {VERSION} (commit {COMMIT})"));
        assert!(!COMMIT.is_empty());
    }
}
