//! Upstream csi-proxy's Go-style flags, rewritten into this binary's clap flags.
//!
//! Existing Windows service registrations start csi-proxy with Go's `flag`
//! syntax: one or two dashes, `-name=value` or `-name value`, booleans bare
//! or `-name=true|false` (never `-name false`). [`normalise`] rewrites every
//! flag upstream knows (its own and klog's, see [`GO_FLAGS`]) into the clap
//! form before clap parses, so replacing the binary keeps the service
//! starting. klog flags that mean nothing here are accepted and returned as
//! [`Normalised::ignored`] for the log. Single-dash spellings of this
//! binary's own long flags (`-socket-dir`) are accepted the same way, as Go
//! would; anything else is a clear error instead of clap's "unexpected
//! argument '-w'".

use std::ffi::OsString;

/// How a Go flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `-name` (true) or `-name=BOOL`.
    Bool,
    /// `-name=VALUE` or `-name VALUE`.
    Value,
}

/// What a Go flag becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The clap long flag with the same meaning.
    Long(&'static str),
    /// Accepted for compatibility; it has no effect here (noted in the log).
    Ignored,
}

/// One flag upstream csi-proxy accepts.
#[derive(Debug, Clone, Copy)]
pub struct GoFlag {
    /// Go name, without dashes.
    pub name: &'static str,
    /// Value syntax.
    pub kind: Kind,
    /// Meaning here.
    pub target: Target,
}

const fn flag(name: &'static str, kind: Kind, target: Target) -> GoFlag {
    GoFlag { name, kind, target }
}

use Kind::{Bool, Value};
use Target::{Ignored, Long};

/// Every flag of upstream `cmd/csi-proxy/main.go` (master and pre-1.0) and of
/// `klog/v2.InitFlags`.
pub const GO_FLAGS: &[GoFlag] = &[
    flag("kubelet-path", Value, Long("kubelet-path")),
    flag("working-dir", Value, Long("working-dir")),
    flag("windows-service", Bool, Long("windows-service")),
    flag("require-privacy", Bool, Long("require-privacy")),
    flag("metrics-bind-address", Value, Long("metrics-bind-address")),
    // Before 1.0 two prefixes, both allowed roots: the same as --working-dir.
    flag("kubelet-csi-plugins-path", Value, Long("working-dir")),
    flag("kubelet-pod-path", Value, Long("working-dir")),
    // klog flags with a meaning here.
    flag("v", Value, Long("v")),
    flag("log_file", Value, Long("log-file")),
    flag("log_dir", Value, Long("log-dir")),
    flag("logtostderr", Bool, Long("logtostderr")),
    flag("alsologtostderr", Bool, Long("alsologtostderr")),
    // klog flags about its own file format, rotation and thresholds.
    flag("log_file_max_size", Value, Ignored),
    flag("add_dir_header", Bool, Ignored),
    flag("skip_headers", Bool, Ignored),
    flag("skip_log_headers", Bool, Ignored),
    flag("one_output", Bool, Ignored),
    flag("stderrthreshold", Value, Ignored),
    flag("vmodule", Value, Ignored),
    flag("log_backtrace_at", Value, Ignored),
    flag("legacy_stderr_threshold_behavior", Bool, Ignored),
    // Go's flag package answers -h and -help with the usage.
    flag("h", Bool, Long("help")),
    flag("help", Bool, Long("help")),
];

/// argv rewritten for clap, and the flags accepted without effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalised {
    /// Arguments for clap, program name first.
    pub args: Vec<OsString>,
    /// `(flag, value)` of each accepted flag that has no effect here.
    pub ignored: Vec<(String, String)>,
}

/// A command line that is not valid upstream syntax nor this binary's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// A flag neither upstream nor this binary knows.
    #[error(
        "unknown flag {0}: neither an upstream csi-proxy flag (-kubelet-path, -working-dir, -windows-service, -require-privacy, -metrics-bind-address, klog's -v, -log_file, -logtostderr, ...) nor one of winkube-csi-proxy's (see --help)"
    )]
    Unknown(String),
    /// A value flag last on the line.
    #[error("flag needs an argument: {0}")]
    MissingValue(String),
    /// `-bool=x` with x not a Go boolean.
    #[error("invalid boolean value {value:?} for {flag}: use true or false")]
    InvalidBool {
        /// The flag as written.
        flag: String,
        /// The value given.
        value: String,
    },
    /// `-flag=` with a value that is not UTF-8.
    #[error("{0}: the value is not valid UTF-8")]
    NotUtf8(String),
}

/// Go's `strconv.ParseBool`.
fn go_bool(flag: &str, value: &str) -> Result<bool, FlagError> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(FlagError::InvalidBool {
            flag: flag.to_string(),
            value: value.to_string(),
        }),
    }
}

fn lookup(name: &str) -> Option<&'static GoFlag> {
    GO_FLAGS.iter().find(|f| f.name == name)
}

/// Rewrites `argv` (program name first) for clap. `native` lists this
/// binary's clap long flags; they keep their clap syntax when written with two
/// dashes, and are accepted with one.
pub fn normalise<I>(argv: I, native: &[&str]) -> Result<Normalised, FlagError>
where
    I: IntoIterator<Item = OsString>,
{
    let mut it = argv.into_iter();
    let mut out = Normalised {
        args: it.next().into_iter().collect(),
        ignored: Vec::new(),
    };
    while let Some(arg) = it.next() {
        // Non-UTF-8 arguments are values (paths): clap judges them.
        let Some(text) = arg.to_str() else {
            out.args.push(arg);
            continue;
        };
        if text == "--" {
            out.args.push(arg);
            out.args.extend(it);
            break;
        }
        let (dashes, body) = if let Some(b) = text.strip_prefix("--") {
            (2, b)
        } else if let Some(b) = text.strip_prefix('-') {
            (1, b)
        } else {
            (0, text)
        };
        if dashes == 0 || body.is_empty() {
            out.args.push(arg);
            continue;
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let is_native = native.contains(&name);
        // Two dashes and a native name: clap's own syntax, untouched.
        if dashes == 2 && is_native {
            out.args.push(arg);
            continue;
        }
        if dashes == 1 && (name == "V" || name == "version") {
            out.args.push(OsString::from("--version"));
            continue;
        }
        let Some(go) = lookup(name) else {
            if is_native {
                out.args.push(OsString::from(format!("-{text}")));
                continue;
            }
            return Err(FlagError::Unknown(text.to_string()));
        };
        let written = format!("{}{}", "-".repeat(dashes), name);
        let value = match go.kind {
            Kind::Bool => {
                let b = match inline {
                    Some(v) => go_bool(&written, v)?,
                    None => true,
                };
                b.to_string()
            }
            Kind::Value => match inline {
                Some(v) => v.to_string(),
                None => match it.next() {
                    Some(v) => v
                        .into_string()
                        .map_err(|_| FlagError::NotUtf8(written.clone()))?,
                    None => return Err(FlagError::MissingValue(written)),
                },
            },
        };
        match go.target {
            Target::Long("help") => {
                if value == "true" {
                    out.args.push(OsString::from("--help"));
                }
            }
            Target::Long(long) => out.args.push(OsString::from(format!("--{long}={value}"))),
            Target::Ignored => out.ignored.push((format!("-{name}"), value)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
    use super::*;

    const NATIVE: &[&str] = &["kubelet-path", "socket-dir", "fake-host", "require-privacy"];

    fn norm(args: &[&str]) -> Result<Normalised, FlagError> {
        normalise(
            std::iter::once("csi-proxy.exe")
                .chain(args.iter().copied())
                .map(OsString::from),
            NATIVE,
        )
    }

    fn args(n: &Normalised) -> Vec<&str> {
        n.args[1..].iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn upstream_service_command_lines_become_clap_flags() {
        let n = norm(&[
            "-windows-service",
            "-log_file=C:\\etc\\kubernetes\\logs\\csi-proxy.log",
            "-logtostderr=false",
            "-v=4",
            "-kubelet-path",
            "D:\\kubelet",
            "-working-dir=C:\\csi",
            "-require-privacy=F",
            "-metrics-bind-address=localhost:8888",
        ])
        .unwrap();
        assert_eq!(
            args(&n),
            [
                "--windows-service=true",
                "--log-file=C:\\etc\\kubernetes\\logs\\csi-proxy.log",
                "--logtostderr=false",
                "--v=4",
                "--kubelet-path=D:\\kubelet",
                "--working-dir=C:\\csi",
                "--require-privacy=false",
                "--metrics-bind-address=localhost:8888",
            ]
        );
        assert!(n.ignored.is_empty());
    }

    #[test]
    fn double_dash_go_flags_and_klog_flags_without_meaning() {
        let n = norm(&[
            "--log_file",
            "x.log",
            "--alsologtostderr",
            "-skip_headers",
            "-stderrthreshold=INFO",
            "-log_file_max_size",
            "100",
            "-kubelet-pod-path=C:\\pods",
        ])
        .unwrap();
        assert_eq!(
            args(&n),
            [
                "--log-file=x.log",
                "--alsologtostderr=true",
                "--working-dir=C:\\pods"
            ]
        );
        assert_eq!(
            n.ignored,
            [
                ("-skip_headers".to_string(), "true".to_string()),
                ("-stderrthreshold".to_string(), "INFO".to_string()),
                ("-log_file_max_size".to_string(), "100".to_string()),
            ]
        );
    }

    #[test]
    fn native_flags_keep_their_syntax_and_accept_one_dash() {
        let n = norm(&[
            "--require-privacy",
            "false",
            "--socket-dir",
            "/run/x",
            "-fake-host",
            "-socket-dir=/run/y",
            "--",
            "-windows-service",
        ])
        .unwrap();
        assert_eq!(
            args(&n),
            [
                "--require-privacy",
                "false",
                "--socket-dir",
                "/run/x",
                "--fake-host",
                "--socket-dir=/run/y",
                "--",
                "-windows-service"
            ]
        );
        assert_eq!(args(&norm(&["-h"]).unwrap()), ["--help"]);
        assert_eq!(args(&norm(&["-help=false"]).unwrap()), Vec::<&str>::new());
        assert_eq!(args(&norm(&["-V"]).unwrap()), ["--version"]);
    }

    #[test]
    fn a_value_may_start_with_a_dash_as_in_go() {
        let n = norm(&["-log_file", "-odd.log"]).unwrap();
        assert_eq!(args(&n), ["--log-file=-odd.log"]);
    }

    #[test]
    fn bad_lines_are_clear_errors() {
        assert_eq!(
            norm(&["-windows-servic"]).unwrap_err(),
            FlagError::Unknown("-windows-servic".into())
        );
        let e = norm(&["--nope=1"]).unwrap_err();
        assert!(e.to_string().starts_with("unknown flag --nope=1: "), "{e}");
        assert_eq!(
            norm(&["-v"]).unwrap_err().to_string(),
            "flag needs an argument: -v"
        );
        assert_eq!(
            norm(&["-logtostderr=maybe"]).unwrap_err().to_string(),
            "invalid boolean value \"maybe\" for -logtostderr: use true or false"
        );
    }
}
