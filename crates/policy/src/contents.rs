//! Whether a pod's `gmsaCredentialSpec` matches a credspec, decided as the reference does
//! (Go `json.Unmarshal` into `map[string]interface{}` and `reflect.DeepEqual`).

use crate::gofmt::quote;
use crate::view::CredSpecContents;
use crate::wire::json_error_text;
use serde_json::{Map, Value};

/// The comparison's answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Comparison {
    Match,
    Mismatch,
    /// A side could not be parsed as a JSON object, or the pod's has duplicate keys; the
    /// text follows the reference's `: %v`.
    Unparsable(String),
}

/// Compares pod-side contents with a credspec: byte equality with the canonical string
/// first (the normal case: the mutating webhook wrote it), then JSON equality.
pub(crate) fn compare(pod_contents: &str, credspec: &CredSpecContents) -> Comparison {
    if pod_contents.as_bytes() == credspec.canonical().as_bytes() {
        return Comparison::Match;
    }
    // Go decodes `null` into a nil map: no error, and unequal to any real map.
    let pod = match serde_json::from_str::<Option<Map<String, Value>>>(pod_contents) {
        Ok(m) => m,
        Err(e) => {
            return Comparison::Unparsable(format!(
                "unable to parse {} as a JSON object: {}",
                quote_bounded(pod_contents),
                json_error_text(&e)
            ));
        }
    };
    // The reference compares last-key-wins: B's values followed by A's under the same keys
    // passed as A. Which duplicate Windows reads is not known, so none is accepted.
    if pod.is_some()
        && let Err(e) = winkube_api::strict_json::from_str(pod_contents)
    {
        return Comparison::Unparsable(format!(
            "contents with duplicate keys are refused: {}",
            json_error_text(&e)
        ));
    }
    // The cache keeps only the canonical string (written from a parsed document, so it
    // parses); one that does not parse counts as `null`, like a missing document.
    let crd_value = serde_json::from_str::<Value>(credspec.canonical()).unwrap_or(Value::Null);
    let crd = match &crd_value {
        Value::Object(m) => Some(m),
        Value::Null => None,
        other => {
            return Comparison::Unparsable(format!(
                "unable to parse CRD {} as a JSON object: invalid type: {}, expected a map",
                quote_bounded(credspec.canonical()),
                type_name(other)
            ));
        }
    };
    let equal = match (&pod, crd) {
        (None, None) => true,
        (Some(a), Some(b)) => maps_equal(a, b),
        _ => false,
    };
    if equal {
        Comparison::Match
    } else {
        Comparison::Mismatch
    }
}

/// How many bytes of unparsable contents a message echoes. The reference quotes them whole:
/// 3 MB of contents made a 7 MB denial (and log line). Shorter values are quoted exactly as
/// the reference quotes them.
pub(crate) const ECHO_LIMIT: usize = 256;

/// Go's `%q` of `s`, or of its first [`ECHO_LIMIT`] bytes (cut at a character boundary)
/// followed by `…(N bytes)` when it is longer.
pub(crate) fn quote_bounded(s: &str) -> String {
    if s.len() <= ECHO_LIMIT {
        return quote(s);
    }
    let mut end = ECHO_LIMIT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…({} bytes)", quote(&s[..end]), s.len())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "map",
    }
}

fn maps_equal(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(k, v)| b.get(k).is_some_and(|w| values_equal(v, w)))
}

/// JSON equality with Go's number model: every number is a float64.
pub(crate) fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| values_equal(v, w))
        }
        (Value::Object(x), Value::Object(y)) => maps_equal(x, y),
        _ => false,
    }
}
