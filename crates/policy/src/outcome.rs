//! What both reviews share: the admission phase, the answer to one AdmissionReview, and how
//! a pod is named before the API server has given it a name.

use std::borrow::Cow;

/// Which admission phase a review runs in (`/mutate*` or `/validate*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Mutating webhook: fixes become JSON Patch operations (gMSA: credspec contents are
    /// inlined, and optionally a random hostname).
    Mutate,
    /// Validating webhook (runs after every mutation): gMSA authorises, compares contents and
    /// protects GMSA settings on update; a Windows-policy fix that enforce mode would still
    /// need is a denial, so a pod that bypassed the mutation is not admitted.
    Validate,
}

/// The request's `operation`, as far as metrics need it: the values the API server sends
/// (anything else, including a missing or malformed request, is `Other`, so attacker text
/// never becomes a label).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
    #[default]
    Other,
}

impl Operation {
    /// Every value.
    pub const ALL: [Operation; 5] = [
        Operation::Create,
        Operation::Update,
        Operation::Delete,
        Operation::Connect,
        Operation::Other,
    ];

    /// Exact match, as the reviews compare it (`create` is not CREATE).
    pub fn from_wire(op: &str) -> Self {
        match op {
            "CREATE" => Operation::Create,
            "UPDATE" => Operation::Update,
            "DELETE" => Operation::Delete,
            "CONNECT" => Operation::Connect,
            _ => Operation::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
            Operation::Other => "other",
        }
    }
}

/// The answer to one AdmissionReview, from either review ([`crate::gmsa::review`],
/// [`crate::windows::decode`] / [`crate::windows::PodReview::evaluate`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The full AdmissionReview response. The gMSA paths answer `admission.k8s.io/v1` shaped
    /// byte for byte like the reference's (plus `warnings` when there are any); the Windows
    /// paths answer in the request's version.
    pub body: Vec<u8>,
    pub uid: String,
    pub allowed: bool,
    /// 200 when allowed, otherwise the denial's `status.code`.
    pub code: u16,
    /// The denial's message; empty when allowed.
    pub message: String,
    /// Number of JSON-patch operations in the response.
    pub patch_ops: usize,
    pub warnings: Vec<String>,
    /// The pod's namespace and [display name](pod_display_name), for logs; empty when the
    /// review did not get that far.
    pub namespace: String,
    pub name: String,
    /// The request's operation ([`Operation::Other`] when the review did not get that far).
    pub operation: Operation,
    /// The same decision, finding by finding: the denial (if any) and each warning, with
    /// its rule and the pod field it is about. Not part of the response bytes.
    pub findings: Vec<Finding>,
}

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// A change the mutating phase makes for the pod (the manifest lacks it, the webhook
    /// fixes it).
    Note,
    /// An admission warning: the pod is admitted.
    Warning,
    /// A denial: the pod is not admitted.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One thing a review found: which rule ([`crate::catalog::RULES`]), how serious it is
/// here, the field of the pod it is about, and the message (the denial's or the warning's
/// text, unchanged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    /// The field in the pod (`spec.containers[0].resources.limits.memory`), when the
    /// finding is about one; see [`field_path`].
    pub field: Option<String>,
    pub message: String,
}

impl Finding {
    pub fn new(rule: &'static str, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            rule,
            severity,
            field: None,
            message: message.into(),
        }
    }

    pub fn at(mut self, field: Option<String>) -> Self {
        self.field = field;
        self
    }
}

/// A field path as people write it (kubectl explain, error messages): `.`-separated
/// names, `[n]` for list indexes, `["key"]` for map keys that are not plain names
/// (`spec.nodeSelector["kubernetes.io/os"]`).
pub fn field_path<S: AsRef<str>>(segments: &[S]) -> String {
    // Sized once: growing it push by push was most of its cost.
    let mut out =
        String::with_capacity(segments.iter().map(|s| s.as_ref().len() + 4).sum::<usize>());
    for seg in segments {
        let seg = seg.as_ref();
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(seg);
            out.push(']');
        } else if !seg.is_empty()
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        } else {
            out.push_str("[\"");
            for c in seg.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push_str("\"]");
        }
    }
    out
}

/// How a pod is named in messages and logs: its name; before the API server generated one,
/// the request's name, else `generateName*` (the reference prints `""` then); else empty.
pub fn pod_display_name<'a>(
    pod_name: &'a str,
    request_name: &'a str,
    generate_name: &str,
) -> Cow<'a, str> {
    if !pod_name.is_empty() {
        Cow::Borrowed(pod_name)
    } else if !request_name.is_empty() {
        Cow::Borrowed(request_name)
    } else if !generate_name.is_empty() {
        Cow::Owned(format!("{generate_name}*"))
    } else {
        Cow::Borrowed("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_matched_exactly_and_bounded() {
        for op in Operation::ALL {
            if op != Operation::Other {
                assert_eq!(Operation::from_wire(op.as_str()), op);
            }
        }
        // Attacker text never becomes a label value.
        for other in ["create", "", "CREATE ", "PATCH", "\u{202e}CREATE"] {
            assert_eq!(Operation::from_wire(other), Operation::Other, "{other:?}");
        }
        assert_eq!(Operation::Other.as_str(), "other");
    }

    #[test]
    fn field_paths_read_as_people_write_them() {
        assert_eq!(
            field_path(&["spec", "containers", "0", "resources", "limits", "memory"]),
            "spec.containers[0].resources.limits.memory"
        );
        assert_eq!(
            field_path(&["spec", "nodeSelector", "kubernetes.io/os"]),
            r#"spec.nodeSelector["kubernetes.io/os"]"#
        );
        assert_eq!(field_path(&["a", "we\"ird"]), r#"a["we\"ird"]"#);
        assert_eq!(field_path::<&str>(&[]), "");
    }

    #[test]
    fn pods_are_named_by_name_then_request_then_generate_name() {
        assert_eq!(pod_display_name("a", "b", "c-"), "a");
        assert_eq!(pod_display_name("", "b", "c-"), "b");
        assert_eq!(pod_display_name("", "", "c-"), "c-*");
        assert_eq!(pod_display_name("", "", ""), "");
    }
}
