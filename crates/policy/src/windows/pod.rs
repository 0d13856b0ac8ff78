//! Reading a Pod as JSON, and building a JSON Patch against it.

use json_patch::jsonptr::{PointerBuf, Token};
use json_patch::{AddOperation, PatchOperation};

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

impl<'a> ContainerRef<'a> {
    pub fn name(&self) -> &'a str {
        self.value.get("name").and_then(Value::as_str).unwrap_or("")
    }

    /// `container "app"`, `init container "setup"`: written when a message is, not before.
    pub fn label(&self) -> Label<'_> {
        Label(self)
    }

    pub fn image(&self) -> Option<&'a str> {
        self.value.get("image").and_then(Value::as_str)
    }
}

/// A container as messages name it ([`ContainerRef::label`]).
pub(crate) struct Label<'c>(&'c ContainerRef<'c>);

impl std::fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.0.list {
            "initContainers" => "init container",
            "ephemeralContainers" => "ephemeral container",
            _ => "container",
        };
        write!(f, "{kind} {:?}", self.0.name())
    }
}

/// Every container of the pod, in list order (no list is copied).
pub(crate) fn containers(spec: &Value) -> impl Iterator<Item = ContainerRef<'_>> {
    CONTAINER_LISTS.into_iter().flat_map(move |list| {
        spec.get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(move |(index, value)| ContainerRef { list, index, value })
    })
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
/// becomes `kubernetes.io~1os`). Later operations see earlier ones through a record of what
/// each wrote; the pod itself is never copied (a copy of a whole pod and its drop were 18 %
/// of a Windows review, callgrind, issue 9).
pub(crate) struct Patcher<'a> {
    doc: &'a Value,
    /// Per operation: its path (tokens unescaped) and the whole value at that path after it.
    /// Operations only add, so what lies at a path is decided by the newest write at or
    /// above it, or else by the original.
    writes: Vec<(Vec<String>, Value)>,
    ops: Vec<PatchOperation>,
}

/// An operation that could not be applied (a bug, or a pod whose structure has a wrong type
/// at a path a policy writes to).
#[derive(Debug)]
pub(crate) struct PatchError(pub String);

impl<'a> Patcher<'a> {
    pub fn new(doc: &'a Value) -> Self {
        Self {
            doc,
            writes: Vec::new(),
            ops: Vec::new(),
        }
    }

    /// The document with every operation so far applied.
    #[cfg(test)]
    pub fn doc(&self) -> Value {
        let mut doc = self.doc.clone();
        // The operations were checked as they were added.
        json_patch::patch(&mut doc, &self.ops).unwrap_or_default();
        doc
    }

    pub fn into_ops(self) -> Vec<PatchOperation> {
        self.ops
    }

    fn pointer(path: &[String]) -> PointerBuf {
        // Sized once (`from_tokens` grows its string token by token); the tokens are
        // escaped by `Token`, so the text always parses.
        let mut text = String::with_capacity(path.iter().map(|t| t.len() + 3).sum());
        for token in path {
            text.push('/');
            text.push_str(Token::new(token.as_str()).encoded());
        }
        PointerBuf::parse(text)
            .unwrap_or_else(|_| PointerBuf::from_tokens(path.iter().map(|s| s.as_str())))
    }

    /// What is at `path` now: the original with every write so far.
    fn at(&self, path: &[String]) -> Option<&Value> {
        let (base, rest) = self
            .writes
            .iter()
            .rev()
            .find(|(w, _)| path.starts_with(w))
            .map_or((self.doc, path), |(w, v)| (v, &path[w.len()..]));
        rest.iter().try_fold(base, |v, token| step(v, token))
    }

    /// Records `add path value` after checking that the API server could apply it: the parent
    /// is an object, or an array and the last token an index within it (or `-`).
    fn add(&mut self, path: Vec<String>, value: Value) -> Result<(), PatchError> {
        let (last, parent) = path
            .split_last()
            .ok_or_else(|| PatchError("cannot replace the whole pod".into()))?;
        let fits = match self.at(parent) {
            Some(Value::Object(_)) => true,
            Some(Value::Array(items)) => {
                last == "-" || last.parse::<usize>().is_ok_and(|i| i <= items.len())
            }
            _ => false,
        };
        if !fits {
            return Err(PatchError(format!(
                "cannot add {}: no object or array to add to",
                Self::pointer(&path)
            )));
        }
        self.ops.push(PatchOperation::Add(AddOperation {
            path: Self::pointer(&path),
            value: value.clone(),
        }));
        self.writes.push((path, value));
        Ok(())
    }

    /// Creates every missing (or null) object on the way to `path` (exclusive).
    fn ensure_parents(&mut self, path: &[String]) -> Result<(), PatchError> {
        for i in 1..path.len() {
            let prefix = &path[..i];
            let missing = match self.at(prefix) {
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
                self.add(prefix.to_vec(), Value::Object(Map::new()))?;
            }
        }
        Ok(())
    }

    /// Sets `path` to `value` (adding parents as needed).
    pub fn set(&mut self, path: &[&str], value: Value) -> Result<(), PatchError> {
        let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        self.ensure_parents(&path)?;
        self.add(path, value)
    }

    /// Appends `value` to the array at `path`, creating the array when missing.
    pub fn push(&mut self, path: &[&str], value: Value) -> Result<(), PatchError> {
        let owned: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        let Some(Value::Array(items)) = self.at(&owned) else {
            return self.set(path, Value::Array(vec![value]));
        };
        // The record holds the whole array after the append (a short list, unlike the pod).
        let mut after = items.clone();
        after.push(value.clone());
        let mut with_end = owned.clone();
        with_end.push("-".into());
        self.ops.push(PatchOperation::Add(AddOperation {
            path: Self::pointer(&with_end),
            value,
        }));
        self.writes.push((owned, Value::Array(after)));
        Ok(())
    }
}

/// `value[token]`: a key of an object, an index of an array.
fn step<'v>(value: &'v Value, token: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map.get(token),
        Value::Array(items) => items.get(token.parse::<usize>().ok()?),
        _ => None,
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
        p.set(&["spec", "nodeSelector", "tier"], json!("web"))
            .unwrap();
        p.push(&["spec", "tolerations"], json!({"key": "os"}))
            .unwrap();
        p.push(&["spec", "tolerations"], json!({"key": "b"}))
            .unwrap();
        p.set(&["spec", "tolerations", "1", "value"], json!("x"))
            .unwrap();
        p.set(
            &["spec", "containers", "0", "resources", "limits", "memory"],
            json!("300Mi"),
        )
        .unwrap();
        let ops = p.into_ops();
        let text = serde_json::to_string(&ops).unwrap();
        assert!(
            text.contains("/spec/nodeSelector/kubernetes.io~1os"),
            "{text}"
        );
        // One `add {}` per missing parent, none for parents an earlier operation made.
        let paths: Vec<String> = ops
            .iter()
            .map(|op| match op {
                PatchOperation::Add(a) => a.path.to_string(),
                other => panic!("not an add: {other:?}"),
            })
            .collect();
        assert_eq!(
            paths,
            [
                "/spec/nodeSelector",
                "/spec/nodeSelector/kubernetes.io~1os",
                "/spec/nodeSelector/tier",
                "/spec/tolerations",
                "/spec/tolerations/-",
                "/spec/tolerations/1/value",
                "/spec/containers/0/resources",
                "/spec/containers/0/resources/limits",
                "/spec/containers/0/resources/limits/memory",
            ]
        );
        // The API server's view: the operations apply in order to the original.
        let mut doc = orig.clone();
        json_patch::patch(&mut doc, &ops).unwrap();
        assert_eq!(
            doc,
            json!({"spec": {
                "containers": [{"name": "a", "resources": {"limits": {"memory": "300Mi"}}}],
                "nodeSelector": {"kubernetes.io/os": "windows", "tier": "web"},
                "tolerations": [{"key": "os"}, {"key": "b", "value": "x"}],
            }})
        );
        // The original is left alone.
        assert!(orig["spec"]["nodeSelector"].is_null());
    }

    #[test]
    fn writes_through_wrong_types_are_refused() {
        let doc = json!({"spec": "x", "list": [1, 2], "obj": {"s": "v"}});
        let mut p = Patcher::new(&doc);
        assert!(p.set(&["spec", "a"], json!(1)).is_err());
        assert!(p.set(&["list", "name"], json!(1)).is_err());
        assert!(p.set(&["list", "3"], json!(1)).is_err());
        assert!(p.set(&["obj", "s", "t"], json!(1)).is_err());
        assert!(p.into_ops().is_empty());
        // A later write replaces what an earlier one made.
        let empty = json!({});
        let mut p = Patcher::new(&empty);
        p.set(&["a", "b"], json!(1)).unwrap();
        p.set(&["a"], json!("scalar")).unwrap();
        assert!(p.set(&["a", "c"], json!(1)).is_err());
        assert_eq!(p.doc(), json!({"a": "scalar"}));
    }
}
