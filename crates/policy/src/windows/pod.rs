//! Reading a Pod as JSON, and building a JSON Patch against it.

use json_patch::jsonptr::{PointerBuf, Token};
use json_patch::{AddOperation, PatchOperation};
use std::borrow::Cow;

use serde_json::{Map, Value};

/// The three container lists of a pod spec, in the order Kubernetes reports them.
pub(crate) const CONTAINER_LISTS: [&str; 3] =
    ["initContainers", "containers", "ephemeralContainers"];

/// One container of the pod with where it lives.
pub(crate) struct ContainerRef<'a> {
    pub list: &'static str,
    pub index: usize,
    pub value: &'a Value,
}

impl ContainerRef<'_> {
    pub fn name(&self) -> &str {
        self.value.get("name").and_then(Value::as_str).unwrap_or("")
    }

    /// `container "app"`, `init container "setup"`.
    pub fn label(&self) -> String {
        let kind = match self.list {
            "initContainers" => "init container",
            "ephemeralContainers" => "ephemeral container",
            _ => "container",
        };
        format!("{kind} {:?}", self.name())
    }

    pub fn image(&self) -> Option<&str> {
        self.value.get("image").and_then(Value::as_str)
    }
}

/// Every container of the pod.
pub(crate) fn containers(spec: &Value) -> Vec<ContainerRef<'_>> {
    let mut out = Vec::new();
    for list in CONTAINER_LISTS {
        if let Some(arr) = spec.get(list).and_then(Value::as_array) {
            for (index, value) in arr.iter().enumerate() {
                out.push(ContainerRef { list, index, value });
            }
        }
    }
    out
}

/// `value[a][b]...` or `None`.
pub(crate) fn get<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = value;
    for p in path {
        cur = cur.get(*p)?;
    }
    Some(cur)
}

pub(crate) fn get_str<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(value, path).and_then(Value::as_str)
}

/// Builds JSON Patch operations that are valid against the original document, applied in
/// order: missing parents are created with `add`, keys are escaped (`kubernetes.io/os`
/// becomes `kubernetes.io~1os`). Each operation is applied to a working copy as it is
/// added, so later operations see earlier ones. The copy is made at the first operation:
/// a pod that needs no change is never copied.
pub(crate) struct Patcher<'a> {
    doc: Cow<'a, Value>,
    ops: Vec<PatchOperation>,
}

/// An operation that could not be applied to the working copy (a bug, or a pod whose
/// structure has a wrong type at a path a policy writes to).
#[derive(Debug)]
pub(crate) struct PatchError(pub String);

impl<'a> Patcher<'a> {
    pub fn new(doc: &'a Value) -> Self {
        Self {
            doc: Cow::Borrowed(doc),
            ops: Vec::new(),
        }
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub fn doc(&self) -> &Value {
        &self.doc
    }

    pub fn into_ops(self) -> Vec<PatchOperation> {
        self.ops
    }

    fn pointer(path: &[String]) -> PointerBuf {
        PointerBuf::from_tokens(path.iter().map(|s| Token::new(s.as_str())))
    }

    fn apply(&mut self, op: PatchOperation) -> Result<(), PatchError> {
        json_patch::patch(self.doc.to_mut(), std::slice::from_ref(&op))
            .map_err(|e| PatchError(e.to_string()))?;
        self.ops.push(op);
        Ok(())
    }

    /// Creates every missing (or null) object on the way to `path` (exclusive).
    fn ensure_parents(&mut self, path: &[String]) -> Result<(), PatchError> {
        for i in 1..path.len() {
            let prefix = &path[..i];
            // Read in place: cloning the parent to inspect it copied the whole spec.
            let missing = match self.doc.pointer(Self::pointer(prefix).as_str()) {
                Some(Value::Object(_)) | Some(Value::Array(_)) => false,
                Some(Value::Null) | None => true,
                Some(other) => {
                    return Err(PatchError(format!(
                        "{} is a {}, not an object",
                        Self::pointer(prefix),
                        type_name(other)
                    )));
                }
            };
            if missing {
                self.apply(PatchOperation::Add(AddOperation {
                    path: Self::pointer(prefix),
                    value: Value::Object(Map::new()),
                }))?;
            }
        }
        Ok(())
    }

    /// Sets `path` to `value` (adding parents as needed).
    pub fn set(&mut self, path: &[&str], value: Value) -> Result<(), PatchError> {
        let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        self.ensure_parents(&path)?;
        self.apply(PatchOperation::Add(AddOperation {
            path: Self::pointer(&path),
            value,
        }))
    }

    /// Appends `value` to the array at `path`, creating the array when missing.
    pub fn push(&mut self, path: &[&str], value: Value) -> Result<(), PatchError> {
        let owned: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        let exists = matches!(
            self.doc.pointer(Self::pointer(&owned).as_str()),
            Some(Value::Array(_))
        );
        if exists {
            let mut with_end = owned;
            with_end.push("-".into());
            self.apply(PatchOperation::Add(AddOperation {
                path: Self::pointer(&with_end),
                value,
            }))
        } else {
            self.set(path, Value::Array(vec![value]))
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patches_apply_to_the_original() {
        let orig = json!({"spec": {"containers": [{"name": "a"}], "nodeSelector": null}});
        let mut p = Patcher::new(&orig);
        p.set(
            &["spec", "nodeSelector", "kubernetes.io/os"],
            json!("windows"),
        )
        .unwrap();
        p.push(&["spec", "tolerations"], json!({"key": "os"}))
            .unwrap();
        p.push(&["spec", "tolerations"], json!({"key": "b"}))
            .unwrap();
        p.set(
            &["spec", "containers", "0", "resources", "limits", "memory"],
            json!("300Mi"),
        )
        .unwrap();
        let want = p.doc().clone();
        // The original is left alone: the patcher works on its own copy.
        assert!(orig["spec"]["nodeSelector"].is_null());
        let ops = p.into_ops();
        let text = serde_json::to_string(&ops).unwrap();
        assert!(
            text.contains("/spec/nodeSelector/kubernetes.io~1os"),
            "{text}"
        );
        let mut doc = orig.clone();
        json_patch::patch(&mut doc, &ops).unwrap();
        assert_eq!(doc, want);
        assert_eq!(doc["spec"]["tolerations"][1]["key"], "b");
        assert_eq!(
            doc["spec"]["containers"][0]["resources"]["limits"]["memory"],
            "300Mi"
        );
        let bad_doc = json!({"spec": "x"});
        let mut bad = Patcher::new(&bad_doc);
        assert!(bad.set(&["spec", "a"], json!(1)).is_err());
    }
}
