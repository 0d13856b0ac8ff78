//! What the API server refuses in a pod's Windows fields, reported before `kubectl apply`
//! meets it: `runAsUserName` and the gMSA fields (`validateWindowsSecurityContextOptions`),
//! the fields a `spec.os.name: windows` pod cannot set (`validateWindows`), `windowsOptions`
//! on a Linux pod (`validateLinux`) and HostProcess consistency
//! (`validateWindowsHostProcessPod`), all in kubernetes/kubernetes
//! `pkg/apis/core/validation/validation.go`. Each rule carries the first Kubernetes version
//! whose API server refuses by default, so `apiServer.kubernetesVersion` can leave out what
//! an older cluster still accepts.

use serde_json::Value;
use winkube_api::names::is_dns1123_subdomain;
use winkube_api::windows::{OS_LINUX, OS_WINDOWS};

use super::{At, Ctx};
use crate::windows::PolicyName;
use crate::windows::config::Mode;
use crate::windows::pod::{ContainerRef, containers, get, get_str};

/// A Kubernetes minor version: (1, 24).
type Version = (u32, u32);

/// `windowsOptions` validation (runAsUserName GA in 1.18, validated since its alpha in 1.16;
/// the gMSA fields since 1.14).
const SINCE_RUN_AS_USER_NAME: Version = (1, 16);
const SINCE_GMSA_FIELDS: Version = (1, 14);
/// `spec.os.name` checks: the IdentifyPodOS gate is on by default from 1.24 (GA in 1.25).
const SINCE_OS_FIELD: Version = (1, 24);
/// HostProcess: beta and on by default from 1.23 (GA in 1.26).
const SINCE_HOST_PROCESS: Version = (1, 23);

/// Go's `len()` limits and character sets (validation.go's constants).
const MAX_DOMAIN_BYTES: usize = 256;
const MAX_USER_BYTES: usize = 104;
const MAX_GMSA_SPEC_BYTES: usize = 64 * 1024;
const NETBIOS_FORBIDDEN: &[char] = &['\\', '/', ':', '*', '?', '"', '<', '>', '|'];
const USER_FORBIDDEN: &[char] = &[
    '"', '/', '\\', ':', ';', '|', '=', ',', '+', '*', '?', '<', '>', '@', '[', ']',
];

/// Pod-level fields a Windows pod cannot set, as paths under `spec`, with the version from
/// which each is refused (fields added later are refused from the release that added them).
const POD_FORBIDDEN_ON_WINDOWS: &[(&[&str], Version)] = &[
    (&["securityContext", "appArmorProfile"], (1, 30)),
    (&["securityContext", "seLinuxOptions"], SINCE_OS_FIELD),
    (&["hostUsers"], (1, 25)),
    (&["hostIPC"], SINCE_OS_FIELD),
    (&["hostPID"], SINCE_OS_FIELD),
    (&["securityContext", "seccompProfile"], SINCE_OS_FIELD),
    (&["securityContext", "fsGroup"], SINCE_OS_FIELD),
    (&["securityContext", "fsGroupChangePolicy"], SINCE_OS_FIELD),
    (&["securityContext", "sysctls"], SINCE_OS_FIELD),
    (&["shareProcessNamespace"], SINCE_OS_FIELD),
    (&["securityContext", "runAsUser"], SINCE_OS_FIELD),
    (&["securityContext", "runAsGroup"], SINCE_OS_FIELD),
    (&["securityContext", "supplementalGroups"], SINCE_OS_FIELD),
    (&["securityContext", "supplementalGroupsPolicy"], (1, 31)),
    (&["securityContext", "seLinuxChangePolicy"], (1, 32)),
];

/// Container `securityContext` fields a Windows pod cannot set, in every container list.
const CONTAINER_FORBIDDEN_ON_WINDOWS: &[(&str, Version)] = &[
    ("appArmorProfile", (1, 30)),
    ("seLinuxOptions", SINCE_OS_FIELD),
    ("seccompProfile", SINCE_OS_FIELD),
    ("capabilities", SINCE_OS_FIELD),
    ("readOnlyRootFilesystem", SINCE_OS_FIELD),
    ("privileged", SINCE_OS_FIELD),
    ("allowPrivilegeEscalation", SINCE_OS_FIELD),
    ("procMount", SINCE_OS_FIELD),
    ("runAsUser", SINCE_OS_FIELD),
    ("runAsGroup", SINCE_OS_FIELD),
];

/// Is the field set as the API server sees it? Its Go type is a pointer (so `false` and `0`
/// are set), except `hostIPC`/`hostPID` (plain booleans: only `true`) and the lists
/// (`sysctls`, `supplementalGroups`: only when non-empty).
fn is_set(field: &str, value: &Value) -> bool {
    match (field, value) {
        (_, Value::Null) => false,
        ("hostIPC" | "hostPID", v) => v.as_bool() == Some(true),
        (_, Value::Array(items)) => !items.is_empty(),
        _ => true,
    }
}

/// The API server's complaints about one `runAsUserName`, in its words and order.
pub(crate) fn run_as_user_name_errors(name: &str) -> Vec<String> {
    if name.is_empty() {
        return vec!["runAsUserName cannot be an empty string".into()];
    }
    // Go's [[:cntrl:]] is ASCII only.
    if name.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return vec!["runAsUserName cannot contain control characters".into()];
    }
    let parts: Vec<&str> = name.split('\\').collect();
    // `\\user` has a domain, an empty one, which matches neither format.
    let (domain, user) = match parts.as_slice() {
        [user] => (None, *user),
        [domain, user] => (Some(*domain), *user),
        _ => return vec!["runAsUserName cannot contain more than one backslash".into()],
    };
    let mut errors = Vec::new();
    if domain.is_some_and(|d| d.len() >= MAX_DOMAIN_BYTES) {
        errors.push(format!(
            "runAsUserName's Domain length must be under {MAX_DOMAIN_BYTES} characters"
        ));
    }
    if domain.is_some_and(|d| !is_netbios_domain(d) && !is_dns_domain(d)) {
        errors.push("runAsUserName's Domain doesn't match the NetBios nor the DNS format".into());
    }
    if user.is_empty() {
        errors.push("runAsUserName's User cannot be empty".into());
    } else if user.len() > MAX_USER_BYTES {
        errors.push(format!(
            "runAsUserName's User length must not be longer than {MAX_USER_BYTES} characters"
        ));
    }
    if !user.is_empty() && user.chars().all(|c| c == '.' || c == ' ') {
        errors.push("runAsUserName's User cannot contain only periods or spaces".into());
    }
    if user.contains(USER_FORBIDDEN) {
        errors.push(
            "runAsUserName's User cannot contain the following characters: \"/\\:;|=,+*?<>@[]"
                .into(),
        );
    }
    errors
}

/// 1 to 15 characters, none of `\ / : * ? " < > |`, not starting with `.` (spaces are fine:
/// `NT AUTHORITY`).
fn is_netbios_domain(s: &str) -> bool {
    let n = s.chars().count();
    (1..=15).contains(&n) && !s.starts_with('.') && !s.contains(NETBIOS_FORBIDDEN)
}

/// Dot-separated labels of letters (either case), digits and inner `-`, at most 63 each. No
/// overall limit here: the domain's length is its own rule.
fn is_dns_domain(s: &str) -> bool {
    s.split('.').all(|l| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    })
}

/// One `windowsOptions` of the pod: where it is (pod-level or a container) and its value.
struct WindowsOptions<'v> {
    path: Vec<String>,
    value: &'v Value,
}

fn windows_options<'v>(spec: &'v Value) -> Vec<WindowsOptions<'v>> {
    let mut out = Vec::new();
    if let Some(value) = get(spec, &["securityContext", "windowsOptions"]).filter(|v| !v.is_null())
    {
        out.push(WindowsOptions {
            path: path(&["spec", "securityContext", "windowsOptions"]),
            value,
        });
    }
    for c in containers(spec) {
        if let Some(value) =
            get(c.value, &["securityContext", "windowsOptions"]).filter(|v| !v.is_null())
        {
            let mut p = container_path(&c);
            p.extend(path(&["securityContext", "windowsOptions"]));
            out.push(WindowsOptions { path: p, value });
        }
    }
    out
}

fn path(segments: &[&str]) -> Vec<String> {
    segments.iter().map(|s| (*s).to_owned()).collect()
}

/// `spec.<list>[<index>]`.
pub(super) fn container_path(c: &ContainerRef<'_>) -> Vec<String> {
    vec!["spec".into(), c.list.into(), c.index.to_string()]
}

fn joined(base: &[String], more: &[&str]) -> Vec<String> {
    let mut p = base.to_vec();
    p.extend(path(more));
    p
}

impl Ctx<'_> {
    /// Every rule of this module, unless `apiServer.mode` is off.
    pub(in crate::windows) fn api_server(&mut self) {
        if self.config.api_server.mode == Mode::Off {
            return;
        }
        self.windows_options_formats();
        match get_str(self.spec, &["os", "name"]) {
            Some(OS_WINDOWS) => self.forbidden_on_windows(),
            Some(OS_LINUX) => self.windows_options_on_linux(),
            _ => {}
        }
        self.host_process_consistency();
    }

    /// Reports `message` unless the configured cluster version predates `since`.
    fn refused(&mut self, rule: &'static str, field: &[String], since: Version, message: String) {
        if self
            .config
            .api_server
            .kubernetes_version
            .is_some_and(|v| v < since)
        {
            return;
        }
        let (major, minor) = since;
        let mode = self.config.api_server.mode;
        self.violate(
            At::field(rule, field),
            PolicyName::ApiServer,
            mode,
            format!("{message}; the API server refuses this from Kubernetes {major}.{minor}"),
        );
    }

    fn windows_options_formats(&mut self) {
        for opts in windows_options(self.spec) {
            let at = crate::outcome::field_path(&opts.path);
            if let Some(name) = opts.value.get("runAsUserName").and_then(Value::as_str) {
                let errors = run_as_user_name_errors(name);
                if !errors.is_empty() {
                    self.refused(
                        "windows/run-as-user-name-invalid",
                        &joined(&opts.path, &["runAsUserName"]),
                        SINCE_RUN_AS_USER_NAME,
                        format!("{at}.runAsUserName {name:?}: {}", errors.join("; ")),
                    );
                }
            }
            if let Some(name) = opts
                .value
                .get("gmsaCredentialSpecName")
                .and_then(Value::as_str)
                && !is_dns1123_subdomain(name)
            {
                self.refused(
                    "windows/gmsa-credspec-name-invalid",
                    &joined(&opts.path, &["gmsaCredentialSpecName"]),
                    SINCE_GMSA_FIELDS,
                    format!(
                        "{at}.gmsaCredentialSpecName {name:?} is not a lowercase RFC 1123 subdomain (lower case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253)"
                    ),
                );
            }
            if let Some(spec) = opts.value.get("gmsaCredentialSpec").and_then(Value::as_str) {
                let why = if spec.is_empty() {
                    Some("cannot be an empty string")
                } else if spec.len() > MAX_GMSA_SPEC_BYTES {
                    Some("size must be under 64 KiB")
                } else {
                    None
                };
                if let Some(why) = why {
                    self.refused(
                        "windows/gmsa-credspec-invalid",
                        &joined(&opts.path, &["gmsaCredentialSpec"]),
                        SINCE_GMSA_FIELDS,
                        format!("{at}.gmsaCredentialSpec {why}"),
                    );
                }
            }
        }
    }

    fn forbidden_on_windows(&mut self) {
        let spec = self.spec;
        for (fields, since) in POD_FORBIDDEN_ON_WINDOWS {
            let field = fields.last().copied().unwrap_or_default();
            if get(spec, fields).is_some_and(|v| is_set(field, v)) {
                let mut p = path(&["spec"]);
                p.extend(path(fields));
                let at = crate::outcome::field_path(&p);
                self.refused(
                    "windows/field-forbidden-on-windows",
                    &p,
                    *since,
                    format!("{at} cannot be set for a windows pod (spec.os.name: windows)"),
                );
            }
        }
        for c in containers(spec) {
            for (field, since) in CONTAINER_FORBIDDEN_ON_WINDOWS {
                if get(c.value, &["securityContext", field]).is_some_and(|v| is_set(field, v)) {
                    let p = joined(&container_path(&c), &["securityContext", field]);
                    let at = crate::outcome::field_path(&p);
                    self.refused(
                        "windows/field-forbidden-on-windows",
                        &p,
                        *since,
                        format!(
                            "{at} ({}) cannot be set for a windows pod (spec.os.name: windows)",
                            c.label()
                        ),
                    );
                }
            }
        }
    }

    fn windows_options_on_linux(&mut self) {
        for opts in windows_options(self.spec) {
            let at = crate::outcome::field_path(&opts.path);
            self.refused(
                "windows/windows-options-on-linux",
                &opts.path,
                SINCE_OS_FIELD,
                format!(
                    "{at}: windows options cannot be set for a linux pod (spec.os.name: linux)"
                ),
            );
        }
    }

    /// All containers HostProcess or none, the pod's and a container's value equal when both
    /// are given, and `hostNetwork` with them.
    fn host_process_consistency(&mut self) {
        let spec = self.spec;
        let pod_value = host_process_value(spec);
        let mut total = 0;
        let mut host_process = 0;
        let mut disagreements = Vec::new();
        for c in containers(spec) {
            total += 1;
            let own = host_process_value(c.value);
            if let (Some(pod), Some(own)) = (pod_value, own)
                && pod != own
            {
                disagreements.push((
                    joined(
                        &container_path(&c),
                        &["securityContext", "windowsOptions", "hostProcess"],
                    ),
                    c.label().to_string(),
                    pod,
                ));
            }
            if own.or(pod_value) == Some(true) {
                host_process += 1;
            }
        }
        for (p, label, pod) in disagreements {
            self.refused(
                "windows/host-process-mixed",
                &p,
                SINCE_HOST_PROCESS,
                format!(
                    "{label}: pod hostProcess value must be identical if both are specified, was {pod}"
                ),
            );
        }
        if host_process == 0 {
            return;
        }
        if host_process != total {
            self.refused(
                "windows/host-process-mixed",
                &path(&["spec"]),
                SINCE_HOST_PROCESS,
                format!(
                    "{host_process} of {total} containers are HostProcess containers; if a pod contains any hostProcess containers then all containers must be HostProcess containers"
                ),
            );
        }
        if get(spec, &["hostNetwork"]).and_then(Value::as_bool) != Some(true) {
            self.refused(
                "windows/host-process-host-network",
                &path(&["spec", "hostNetwork"]),
                SINCE_HOST_PROCESS,
                "hostNetwork must be true if pod contains any hostProcess containers".into(),
            );
        }
    }
}

/// `securityContext.windowsOptions.hostProcess` of a pod spec or a container, when given.
pub(super) fn host_process_value(v: &Value) -> Option<bool> {
    get(v, &["securityContext", "windowsOptions", "hostProcess"]).and_then(Value::as_bool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_as_user_name_follows_the_api_server() {
        let ok = [
            "ContainerUser",
            "NT AUTHORITY\\SYSTEM",
            "NT AUTHORITY\\Local service",
            "contoso.com\\svc-web",
            "CONTOSO\\gmsa$",
            &"u".repeat(104),
        ];
        for name in ok {
            assert_eq!(
                run_as_user_name_errors(name),
                Vec::<String>::new(),
                "{name:?}"
            );
        }
        let cases: &[(&str, &[&str])] = &[
            ("", &["cannot be an empty string"]),
            ("bad\tname", &["control characters"]),
            ("a\\b\\c", &["more than one backslash"]),
            ("\\user", &["NetBios nor the DNS"]),
            ("domain\\", &["User cannot be empty"]),
            (&*"u".repeat(105), &["longer than 104"]),
            ("...", &["only periods or spaces"]),
            ("user@contoso", &["following characters"]),
            ("-bad-label.example.com\\user", &["NetBios nor the DNS"]),
            (".corp\\user", &["NetBios nor the DNS"]),
        ];
        for (name, expected) in cases {
            let errors = run_as_user_name_errors(name);
            for e in *expected {
                assert!(
                    errors.iter().any(|m| m.contains(e)),
                    "{name:?}: {errors:?} lacks {e:?}"
                );
            }
            assert!(!errors.is_empty(), "{name:?} was accepted");
        }
        // A 256-byte domain is refused for its length and for matching neither format.
        let long = format!("{}\\user", "d".repeat(256));
        let errors = run_as_user_name_errors(&long);
        assert_eq!(errors.len(), 2, "{errors:?}");
        // Steps after the backslash split are not short-circuited.
        let errors = run_as_user_name_errors(".x\\a@b");
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn netbios_and_dns_domains() {
        assert!(is_netbios_domain("NT AUTHORITY"));
        assert!(is_netbios_domain(&"N".repeat(15)));
        assert!(!is_netbios_domain(&"N".repeat(16)));
        assert!(!is_netbios_domain(".x"));
        assert!(is_dns_domain(&format!("{}.com", "a".repeat(63))));
        assert!(!is_dns_domain(&format!("{}.com", "a".repeat(64))));
        assert!(!is_dns_domain("a..b"));
    }
}
