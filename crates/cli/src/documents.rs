//! Reading Kubernetes manifests: multi-document YAML or JSON, from a file or stdin.
//!
//! Every error names the source (file path or `<stdin>`) and, where it is about one
//! document, its 1-based index, so a user can find the culprit in a long manifest.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where a document came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Stdin,
}

impl Source {
    /// `-` means standard input, like kubectl's `-f -`.
    pub fn from_arg(arg: &Path) -> Self {
        if arg.as_os_str() == "-" {
            Source::Stdin
        } else {
            Source::File(arg.to_path_buf())
        }
    }
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
    pub fn list_item(&self, i: usize, value: Value) -> Result<Document, InputError> {
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

/// A manifest could not be read or parsed.
#[derive(Debug)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Reads all documents of `source`. Empty documents (only comments or `---`) are skipped,
/// as kubectl does; every remaining document must be a mapping with `apiVersion` and `kind`.
pub fn read_source(source: &Source) -> Result<Vec<Document>, InputError> {
    let text = match source {
        Source::File(path) => std::fs::read_to_string(path)
            .map_err(|e| InputError(format!("{source}: cannot read file: {e}")))?,
        Source::Stdin => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| InputError(format!("{source}: cannot read standard input: {e}")))?;
            s
        }
    };
    parse_documents(source, &text)
}

/// Parses `text` (JSON values, or YAML documents separated by `---`) from `source`.
pub fn parse_documents(source: &Source, text: &str) -> Result<Vec<Document>, InputError> {
    let values = parse_values(text).map_err(|e| InputError(format!("{source}: {e}")))?;
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
        for v in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
            values.push(v.map_err(|e| format!("invalid JSON: {e}"))?);
        }
        return Ok(values);
    }
    let values: Vec<Value> =
        serde_saphyr::from_str_multiple(text).map_err(|e| format!("invalid YAML: {e}"))?;
    Ok(values.into_iter().filter(|v| !v.is_null()).collect())
}

fn check_object(doc: &Document) -> Result<(), InputError> {
    let Some(obj) = doc.value.as_object() else {
        return Err(InputError(format!(
            "{}: expected a Kubernetes object (a mapping with apiVersion and kind), got {}",
            doc.location(),
            describe(&doc.value)
        )));
    };
    for field in ["apiVersion", "kind"] {
        match obj.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(other) => {
                return Err(InputError(format!(
                    "{}: `{field}` must be a non-empty string, got {}",
                    doc.location(),
                    describe(other)
                )));
            }
            None => {
                return Err(InputError(format!("{}: missing `{field}`", doc.location())));
            }
        }
    }
    if let Some(meta) = obj.get("metadata")
        && !meta.is_object()
    {
        return Err(InputError(format!(
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

/// Serialises values as a multi-document YAML stream (`---` between documents), keys in
/// [`Ordered`] order.
pub fn to_yaml_stream(values: &[Value]) -> anyhow::Result<String> {
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        let doc = serde_saphyr::to_string(&Ordered(v))?;
        out.push_str(&doc);
        if !doc.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// Serialises a JSON value with object keys in a fixed order that does not depend on
/// serde_json's map implementation: `apiVersion`, `kind`, `metadata`, `name`, then the
/// rest by byte order. Generated files must be byte-stable across builds.
pub struct Ordered<'a>(pub &'a Value);

impl serde::Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        fn rank(k: &str) -> u8 {
            match k {
                "apiVersion" => 0,
                "kind" => 1,
                "metadata" => 2,
                "name" => 3,
                _ => 4,
            }
        }
        match self.0 {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_by(|a, b| (rank(a), a.as_bytes()).cmp(&(rank(b), b.as_bytes())));
                let mut map = s.serialize_map(Some(keys.len()))?;
                for k in keys {
                    if let Some(v) = m.get(k) {
                        map.serialize_entry(k, &Ordered(v))?;
                    }
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&Ordered(v))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
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
            e.0.starts_with("m.yaml (document 2): expected a Kubernetes object"),
            "{e}"
        );
        let e = parse_documents(&src(), "apiVersion: v1\n").unwrap_err();
        assert_eq!(e.0, "m.yaml (document 1): missing `kind`");
        let e = parse_documents(&src(), "a: [1\n").unwrap_err();
        assert!(e.0.starts_with("m.yaml: invalid YAML"), "{e}");
        let e = parse_documents(&src(), "{\"a\": 1,}").unwrap_err();
        assert!(e.0.starts_with("m.yaml: invalid JSON"), "{e}");
    }
}
