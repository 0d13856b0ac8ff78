//! PATCH (JSON merge patch and JSON patch, as the API server applies them), the per-kind
//! validation the API server does on writes (422 `Invalid`), and field selectors on list and
//! watch.

use crate::Error;
use crate::store::status;
use base64::Engine as _;
use serde_json::{Value, json};

/// The patch types a PATCH request may carry (its `Content-Type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchType {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/json-patch+json` (RFC 6902).
    Json,
}

impl PatchType {
    pub fn from_content_type(ct: Option<&str>) -> Result<Self, Error> {
        let ct = ct.unwrap_or("").split(';').next().unwrap_or("").trim();
        match ct {
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/json-patch+json" => Ok(Self::Json),
            // Strategic merge and server-side apply exist on a real server; this stand-in does
            // not implement them, and says so rather than guessing.
            other => Err(Error::Status {
                code: 415,
                body: status(
                    415,
                    "UnsupportedMediaType",
                    format!(
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json (got {other:?})"
                    ),
                ),
            }),
        }
    }
}

/// Applies `patch` to `current` as the API server does. A patched object that names another
/// resourceVersion than the stored one is a conflict (409), as a PUT would be.
pub(crate) fn apply(current: &Value, kind: PatchType, patch: &[u8]) -> Result<Value, Error> {
    let bad = |msg: String| Error::Status {
        code: 400,
        body: status(400, "BadRequest", msg),
    };
    let mut doc = current.clone();
    match kind {
        PatchType::Merge => {
            let p: Value = serde_json::from_slice(patch)
                .map_err(|e| bad(format!("error decoding patch: {e}")))?;
            if !p.is_object() {
                return Err(bad("merge patch must be a JSON object".into()));
            }
            json_patch::merge(&mut doc, &p);
        }
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_slice(patch)
                .map_err(|e| bad(format!("error decoding patch: {e}")))?;
            // A failed operation (a `test` that does not hold, a missing path) is 422, as
            // on a real server.
            json_patch::patch(&mut doc, &p.0).map_err(|e| Error::Status {
                code: 422,
                body: status(422, "Invalid", e.to_string()),
            })?;
        }
    }
    Ok(doc)
}

/// The per-kind checks of the API server's validation that clients can run into here.
/// `old` is the stored object on update.
pub(crate) fn validate(
    kind: &str,
    qualified: &str,
    old: Option<&Value>,
    new: &Value,
) -> Result<(), Error> {
    let name = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut causes: Vec<(String, String)> = Vec::new();
    match kind {
        "Secret" => {
            let ty = new.get("type").and_then(Value::as_str).unwrap_or("Opaque");
            if let Some(old) = old {
                let old_ty = old.get("type").and_then(Value::as_str).unwrap_or("Opaque");
                if old_ty != ty {
                    causes.push(("type".into(), "field is immutable".into()));
                }
            }
            let data = new.get("data").and_then(Value::as_object);
            if let Some(data) = data {
                for (k, v) in data {
                    let ok = v.as_str().is_some_and(|s| {
                        base64::engine::general_purpose::STANDARD.decode(s).is_ok()
                    });
                    if !ok {
                        causes.push((format!("data[{k}]"), "Invalid value: not base64".into()));
                    }
                }
            }
            if ty == "kubernetes.io/tls" {
                for key in ["tls.crt", "tls.key"] {
                    if data.is_none_or(|d| !d.contains_key(key)) {
                        causes.push((format!("data[{key}]"), "Required value".into()));
                    }
                }
            }
        }
        "Lease" => {
            if let Some(d) = new.pointer("/spec/leaseDurationSeconds")
                && d.as_i64().is_none_or(|d| d <= 0)
            {
                causes.push((
                    "spec.leaseDurationSeconds".into(),
                    format!("Invalid value: {d}: must be greater than 0"),
                ));
            }
        }
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
            let hooks = new.get("webhooks").and_then(Value::as_array);
            let mut seen = Vec::new();
            for (i, w) in hooks.into_iter().flatten().enumerate() {
                let n = w.get("name").and_then(Value::as_str).unwrap_or("");
                if seen.contains(&n) {
                    causes.push((
                        format!("webhooks[{i}].name"),
                        format!("Duplicate value: {n:?}"),
                    ));
                }
                seen.push(n);
                if let Some(b) = w.pointer("/clientConfig/caBundle") {
                    let ok = b.as_str().is_some_and(|s| {
                        base64::engine::general_purpose::STANDARD.decode(s).is_ok()
                    });
                    if !ok {
                        causes.push((
                            format!("webhooks[{i}].clientConfig.caBundle"),
                            "Invalid value: not base64".into(),
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
    let mut body = status(
        422,
        "Invalid",
        format!("{kind} {name:?} is invalid: {}", text.join(", ")),
    );
    body["details"] = json!({
        "name": name,
        "group": qualified.split_once('.').map_or("", |(_, g)| g),
        "kind": qualified.split_once('.').map_or(qualified, |(p, _)| p),
        "causes": causes.iter().map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f})).collect::<Vec<_>>(),
    });
    Err(Error::Status { code: 422, body })
}
