//! List and watch selectors as the API server parses them: `fieldSelector` (the fields each
//! resource supports, others refused with 400 as the API server does) and `labelSelector`
//! (equality- and set-based terms).

use crate::Error;
use crate::store::status;
use serde_json::Value;

fn bad_request(message: String) -> Error {
    Error::Status {
        code: 400,
        body: status(400, "BadRequest", message),
    }
}

/// The fields a kind may be selected on besides `metadata.name` and `metadata.namespace`
/// (the API server's `ToSelectableFields`/field label conversion funcs), with the JSON
/// pointer each reads and the value an absent field has.
fn selectable_fields(kind: &str) -> &'static [(&'static str, &'static str, &'static str)] {
    match kind {
        "Pod" => &[
            ("spec.nodeName", "/spec/nodeName", ""),
            ("spec.restartPolicy", "/spec/restartPolicy", ""),
            ("spec.schedulerName", "/spec/schedulerName", ""),
            ("spec.serviceAccountName", "/spec/serviceAccountName", ""),
            ("status.phase", "/status/phase", ""),
            ("status.podIP", "/status/podIP", ""),
            ("status.nominatedNodeName", "/status/nominatedNodeName", ""),
        ],
        "Node" => &[("spec.unschedulable", "/spec/unschedulable", "false")],
        "Secret" => &[("type", "/type", "")],
        _ => &[],
    }
}

/// A parsed `fieldSelector` (`=`, `==`, `!=` terms joined by `,`).
#[derive(Clone, Debug, Default)]
pub(crate) struct FieldSelector(Vec<FieldTerm>);

#[derive(Clone, Debug)]
struct FieldTerm {
    pointer: &'static str,
    absent: &'static str,
    equal: bool,
    value: String,
}

impl FieldSelector {
    /// Parses the selector for objects of `kind`.
    pub fn parse(kind: &str, s: &str) -> Result<Self, Error> {
        let mut out = Vec::new();
        for term in s.split(',').filter(|t| !t.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(bad_request(format!("invalid field selector: {term:?}")));
            };
            let (pointer, absent) = match field {
                "metadata.name" => ("/metadata/name", ""),
                "metadata.namespace" => ("/metadata/namespace", ""),
                other => selectable_fields(kind)
                    .iter()
                    .find(|(f, _, _)| *f == other)
                    .map(|(_, p, a)| (*p, *a))
                    .ok_or_else(|| bad_request(format!("field label not supported: {other}")))?,
            };
            out.push(FieldTerm {
                pointer,
                absent,
                equal,
                value: value.to_owned(),
            });
        }
        Ok(Self(out))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|t| {
            let have = match obj.pointer(t.pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Null) | None => t.absent.to_owned(),
                Some(other) => other.to_string(),
            };
            (have == t.value) == t.equal
        })
    }
}

/// One term of a label selector.
#[derive(Clone, Debug)]
enum LabelTerm {
    Exists(String),
    NotExists(String),
    Equal(String, String),
    NotEqual(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed `labelSelector`.
#[derive(Clone, Debug, Default)]
pub(crate) struct LabelSelector(Vec<LabelTerm>);

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let mut terms = Vec::new();
        // Split on the commas outside parentheses.
        let mut depth = 0usize;
        let mut start = 0;
        let mut raw = Vec::new();
        for (i, c) in s.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    raw.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        raw.push(&s[start..]);
        for term in raw.into_iter().map(str::trim).filter(|t| !t.is_empty()) {
            terms.push(Self::term(term)?);
        }
        Ok(Self(terms))
    }

    fn term(term: &str) -> Result<LabelTerm, Error> {
        let bad = || bad_request(format!("unable to parse requirement: {term:?}"));
        let key_ok = |k: &str| {
            !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
        };
        let set = |rest: &str| -> Result<Vec<String>, Error> {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(bad)?;
            Ok(inner.split(',').map(|v| v.trim().to_owned()).collect())
        };
        if let Some(key) = term.strip_prefix('!') {
            let key = key.trim();
            return if key_ok(key) {
                Ok(LabelTerm::NotExists(key.to_owned()))
            } else {
                Err(bad())
            };
        }
        if let Some((k, v)) = term.split_once("!=") {
            return key_ok(k.trim())
                .then(|| LabelTerm::NotEqual(k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(bad);
        }
        if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            return key_ok(k.trim())
                .then(|| LabelTerm::Equal(k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(bad);
        }
        if let Some((k, rest)) = term.split_once(" notin ") {
            return if key_ok(k.trim()) {
                Ok(LabelTerm::NotIn(k.trim().to_owned(), set(rest)?))
            } else {
                Err(bad())
            };
        }
        if let Some((k, rest)) = term.split_once(" in ") {
            return if key_ok(k.trim()) {
                Ok(LabelTerm::In(k.trim().to_owned(), set(rest)?))
            } else {
                Err(bad())
            };
        }
        if key_ok(term) {
            Ok(LabelTerm::Exists(term.to_owned()))
        } else {
            Err(bad())
        }
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let label = |k: &str| {
            obj.pointer("/metadata/labels")
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
        };
        self.0.iter().all(|t| match t {
            LabelTerm::Exists(k) => label(k).is_some(),
            LabelTerm::NotExists(k) => label(k).is_none(),
            LabelTerm::Equal(k, v) => label(k) == Some(v.as_str()),
            LabelTerm::NotEqual(k, v) => label(k) != Some(v.as_str()),
            LabelTerm::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelTerm::NotIn(k, vs) => label(k).is_none_or(|l| !vs.iter().any(|v| v == l)),
        })
    }
}

/// Both selectors of a list or watch.
#[derive(Clone, Debug, Default)]
pub(crate) struct Selector {
    pub fields: FieldSelector,
    pub labels: LabelSelector,
}

impl Selector {
    pub fn matches(&self, obj: &Value) -> bool {
        self.fields.matches(obj) && self.labels.matches(obj)
    }

    /// Whether nothing is selected on (the API server then reports `remainingItemCount`).
    pub fn is_empty(&self) -> bool {
        self.fields.0.is_empty() && self.labels.0.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let o = json!({"metadata": {"labels": {"kubernetes.io/os": "windows", "app": "a"}}});
        for (sel, want) in [
            ("kubernetes.io/os=windows", true),
            ("kubernetes.io/os==linux", false),
            ("kubernetes.io/os!=linux", true),
            ("app,kubernetes.io/os=windows", true),
            ("!app", false),
            ("!missing", true),
            ("missing!=x", true),
            ("app in (a,b)", true),
            ("app in (b, c)", false),
            ("app notin (b,c),kubernetes.io/os", true),
            ("missing notin (x)", true),
            ("missing in (x)", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&o),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("a in b").is_err());
        assert!(LabelSelector::parse("=x").is_err());
    }

    #[test]
    fn field_selectors_per_kind() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "win-1"}, "status": {"phase": "Running"}});
        let s = FieldSelector::parse("Pod", "spec.nodeName=win-1,status.phase!=Failed").unwrap();
        assert!(s.matches(&pod));
        assert!(
            !FieldSelector::parse("Pod", "spec.nodeName=win-2")
                .unwrap()
                .matches(&pod)
        );
        // Unscheduled pods have no nodeName: they match the empty value.
        assert!(
            FieldSelector::parse("Pod", "spec.nodeName=")
                .unwrap()
                .matches(&json!({"metadata": {"name": "q"}}))
        );
        assert!(FieldSelector::parse("Service", "spec.nodeName=x").is_err());
        assert!(
            FieldSelector::parse("Node", "spec.unschedulable=false")
                .unwrap()
                .matches(&json!({"metadata": {"name": "n"}}))
        );
        // Pull secrets are listed by type.
        let pull = FieldSelector::parse("Secret", "type=kubernetes.io/dockerconfigjson").unwrap();
        assert!(pull.matches(&json!({"type": "kubernetes.io/dockerconfigjson"})));
        assert!(!pull.matches(&json!({"type": "Opaque"})));
    }
}
