//! Reading Kubernetes manifests: multi-document YAML or JSON.
//!
//! Every error names the source (file path or `<stdin>`) and, where it is about one
//! document, its 1-based index, so a user can find the culprit in a long manifest.

use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

use crate::StateError;
use winkube_api::strict_json::{self, StrictValue, UniqueMap};

/// Where a document came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Stdin,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Stdin => f.write_str("<stdin>"),
        }
    }
}

/// One parsed document and its position in its source.
#[derive(Clone, Debug)]
pub struct Document {
    pub source: Source,
    /// 1-based index among the non-empty documents of the source.
    pub index: usize,
    /// Index in the `items` of a `kind: List` document, for objects taken out of one.
    pub item: Option<usize>,
    pub value: Value,
}

impl Document {
    /// `file.yaml (document 2)`: how messages refer to this document.
    pub fn location(&self) -> String {
        match self.item {
            None => format!("{} (document {})", self.source, self.index),
            Some(i) => format!("{} (document {}, items[{i}])", self.source, self.index),
        }
    }

    /// The `i`-th item of this `kind: List` document, checked like a document.
    pub fn list_item(&self, i: usize, value: Value) -> Result<Document, StateError> {
        let doc = Document {
            source: self.source.clone(),
            index: self.index,
            item: Some(i),
            value,
        };
        check_object(&doc)?;
        Ok(doc)
    }

    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    pub fn api_version(&self) -> &str {
        self.value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn namespace(&self) -> Option<&str> {
        self.value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty())
    }
}

/// Parses `text` (JSON values, or YAML documents separated by `---`) from `source`.
pub fn parse_documents(source: &Source, text: &str) -> Result<Vec<Document>, StateError> {
    let values = parse_values(text).map_err(|e| StateError::Invalid(format!("{source}: {e}")))?;
    let mut docs = Vec::with_capacity(values.len());
    for (i, value) in values.into_iter().enumerate() {
        let doc = Document {
            source: source.clone(),
            index: i + 1,
            item: None,
            value,
        };
        check_object(&doc)?;
        docs.push(doc);
    }
    Ok(docs)
}

fn parse_values(text: &str) -> Result<Vec<Value>, String> {
    let trimmed = text.trim_start();
    // JSON first when it looks like JSON: YAML is a superset in theory, but JSON files with
    // tab indentation are not valid YAML block syntax and JSON errors are clearer.
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let mut values = Vec::new();
        for v in serde_json::Deserializer::from_str(text).into_iter::<StrictValue>() {
            values.push(v.map_err(|e| format!("invalid JSON: {e}"))?.0);
        }
        return Ok(values);
    }
    // serde-saphyr refuses duplicate keys by default (`DuplicateKeyPolicy::Error`).
    let values: Vec<Value> =
        serde_saphyr::from_str_multiple(text).map_err(|e| format!("invalid YAML: {e}"))?;
    Ok(values.into_iter().filter(|v| !v.is_null()).collect())
}

fn check_object(doc: &Document) -> Result<(), StateError> {
    let Some(obj) = doc.value.as_object() else {
        return Err(StateError::Invalid(format!(
            "{}: expected a Kubernetes object (a mapping with apiVersion and kind), got {}",
            doc.location(),
            describe(&doc.value)
        )));
    };
    for field in ["apiVersion", "kind"] {
        match obj.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(other) => {
                return Err(StateError::Invalid(format!(
                    "{}: `{field}` must be a non-empty string, got {}",
                    doc.location(),
                    describe(other)
                )));
            }
            None => {
                return Err(StateError::Invalid(format!(
                    "{}: missing `{field}`",
                    doc.location()
                )));
            }
        }
    }
    if let Some(meta) = obj.get("metadata")
        && !meta.is_object()
    {
        return Err(StateError::Invalid(format!(
            "{}: `metadata` must be a mapping, got {}",
            doc.location(),
            describe(meta)
        )));
    }
    Ok(())
}

/// A short description of a JSON value's type for error messages.
pub fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A top-level document of a JSON file, with the `items` of a `kind: List` still unparsed.
pub(crate) struct LazyDocument<'t> {
    pub(crate) doc: Document,
    pub(crate) items: Option<Vec<&'t serde_json::value::RawValue>>,
}

/// The documents of a JSON file whose `kind: List` items are left as raw text, so that a
/// state dump of thousands of objects becomes one `Value` per item while it is added rather
/// than one tree for the whole file (about ten times the size of the text).
///
/// `None` when the text is not JSON or a document would fail the checks of
/// [`parse_documents`]: the caller then reads it with that function, which words the error.
pub(crate) fn lazy_json_documents<'t>(
    source: &Source,
    text: &'t str,
) -> Option<Vec<LazyDocument<'t>>> {
    use serde_json::value::RawValue;
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    let mut docs = Vec::new();
    for (i, raw) in serde_json::Deserializer::from_str(text)
        .into_iter::<&RawValue>()
        .enumerate()
    {
        // Duplicate keys are refused, as by `parse_documents` (which then words the error).
        let UniqueMap(mut fields) =
            serde_json::from_str::<UniqueMap<&RawValue>>(raw.ok()?.get()).ok()?;
        let items = fields.remove("items");
        let mut map = serde_json::Map::new();
        for (k, v) in fields {
            map.insert(k, strict_json::from_str(v.get()).ok()?);
        }
        // The checks of `parse_documents`; anything it would refuse goes the slow way.
        let non_empty = |f: &str| {
            map.get(f)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        };
        if !non_empty("apiVersion")
            || !non_empty("kind")
            || map.get("metadata").is_some_and(|m| !m.is_object())
        {
            return None;
        }
        let is_list = !map["apiVersion"].as_str()?.contains('/')
            && matches!(map["kind"].as_str(), Some("List" | "ListItems"));
        let items = match items {
            Some(raw) if is_list && raw.get().starts_with('[') => {
                Some(serde_json::from_str::<Vec<&RawValue>>(raw.get()).ok()?)
            }
            Some(raw) => {
                map.insert("items".to_owned(), strict_json::from_str(raw.get()).ok()?);
                None
            }
            None => None,
        };
        docs.push(LazyDocument {
            doc: Document {
                source: source.clone(),
                index: i + 1,
                item: None,
                value: Value::Object(map),
            },
            items,
        });
    }
    Some(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> Source {
        Source::File("m.yaml".into())
    }

    #[test]
    fn yaml_multi_document_skips_empty_documents() {
        let docs = parse_documents(
            &src(),
            "---\n# only a comment\n---\napiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: ServiceAccount\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].kind(), "Pod");
        assert_eq!(docs[1].index, 2);
    }

    #[test]
    fn json_stream() {
        let docs = parse_documents(
            &src(),
            "{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn errors_name_file_and_document() {
        let e = parse_documents(&src(), "apiVersion: v1\nkind: Pod\n---\n- a\n- b\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("m.yaml (document 2): expected a Kubernetes object"),
            "{e}"
        );
        let e = parse_documents(&src(), "apiVersion: v1\n").unwrap_err();
        assert_eq!(e.to_string(), "m.yaml (document 1): missing `kind`");
        let e = parse_documents(&src(), "a: [1\n").unwrap_err();
        assert!(e.to_string().starts_with("m.yaml: invalid YAML"), "{e}");
        let e = parse_documents(&src(), "{\"a\": 1,}").unwrap_err();
        assert!(e.to_string().starts_with("m.yaml: invalid JSON"), "{e}");
    }
}
