//! Reading Kubernetes manifests: multi-document YAML or JSON.
//!
//! Every error names the source (file path or `<stdin>`) and, where it is about one
//! document, its 1-based index, so a user can find the culprit in a long manifest.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::StateError;
use winkube_api::strict_json::{self, StrictValue, UniqueMap};

/// Where a document came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Stdin,
    /// Read from a live cluster (`winkube audit`): there is no file, the object's
    /// namespace, kind and name say where it is.
    Cluster,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Stdin => f.write_str("<stdin>"),
            Source::Cluster => f.write_str("the cluster"),
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
    /// The 1-based line the document starts on in its source (its first line that is not
    /// blank, a comment or `---`), when known: a List item has its List's line.
    pub line: Option<usize>,
    pub value: Value,
}

impl Document {
    /// `file.yaml (document 2)`: how messages refer to this document.
    /// An object of the cluster is `namespace/Kind/name` (`Kind/name` when cluster-scoped).
    pub fn location(&self) -> String {
        if self.source == Source::Cluster {
            return match self.namespace() {
                Some(ns) => format!("{ns}/{}/{}", self.kind(), self.name()),
                None => format!("{}/{}", self.kind(), self.name()),
            };
        }
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
            line: self.line,
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
    let mut docs = Vec::new();
    for doc in parse_values(source, text)? {
        check_object(&doc)?;
        docs.push(doc);
    }
    Ok(docs)
}

/// Parses `text` into documents without checking that they are Kubernetes objects (for
/// callers that skip what is not one, such as values files in a directory). Empty
/// documents are skipped. A syntax error names the source and the line.
pub fn parse_values(source: &Source, text: &str) -> Result<Vec<Document>, StateError> {
    let (values, lines) = values_of(source, text).map_err(StateError::Invalid)?;
    if !has_manifest_extension(source) && values.iter().any(|v| !v.is_object()) {
        // A text file (README, TOML...) read as YAML is a plain string: say what it is.
        return Err(StateError::Invalid(format!(
            "{source}: not YAML or JSON (no Kubernetes object in it)"
        )));
    }
    // Lines are known when there is one per document (a YAML stream whose documents all
    // hold something, or JSON); otherwise none is guessed.
    let lines = (lines.len() == values.len()).then_some(lines);
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(i, value)| Document {
            source: source.clone(),
            index: i + 1,
            item: None,
            line: lines.as_ref().map(|l| l[i]),
            value,
        })
        .collect())
}

/// Whether the source's name ends in `.yaml`, `.yml` or `.json` (stdin counts as one).
fn has_manifest_extension(source: &Source) -> bool {
    match source {
        Source::Stdin | Source::Cluster => true,
        Source::File(p) => is_manifest_file(p),
    }
}

/// `.yaml`, `.yml` or `.json`: the files read from a directory.
pub fn is_manifest_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// The `.yaml`, `.yml` and `.json` files under `dir`, recursively, in path order; hidden
/// entries (`.git`) are skipped.
pub fn manifest_files(dir: &Path) -> Result<Vec<PathBuf>, StateError> {
    let mut out = Vec::new();
    collect_files(dir, &mut out)?;
    Ok(out)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), StateError> {
    let io = |e| StateError::Io {
        context: format!("{}: cannot read directory", dir.display()),
        source: e,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        paths.push(entry.path());
    }
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if is_manifest_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// The 1-based line each document of a YAML stream starts on: its first line that is not
/// blank, a comment, a directive or a document marker. Documents with no such line (empty
/// ones, which the parser drops) are not counted.
fn yaml_document_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut in_document = false;
    for (i, line) in text.lines().enumerate() {
        let marker =
            line.starts_with("---") && line[3..].chars().next().is_none_or(char::is_whitespace);
        if marker || line.starts_with("...") {
            in_document = false;
            // `--- {a: 1}`: content on the marker line.
            let rest = if marker { line[3..].trim() } else { "" };
            if !rest.is_empty() && !rest.starts_with('#') {
                lines.push(i + 1);
                in_document = true;
            }
            continue;
        }
        let t = line.trim();
        if in_document || t.is_empty() || t.starts_with('#') || line.starts_with('%') {
            continue;
        }
        lines.push(i + 1);
        in_document = true;
    }
    lines
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The documents of `text` and the line each starts on.
fn values_of(source: &Source, text: &str) -> Result<(Vec<Value>, Vec<usize>), String> {
    let trimmed = text.trim_start();
    let extension =
        |x: &str| matches!(source, Source::File(p) if p.extension().is_some_and(|e| e == x));
    let json_name = extension("json");
    let yaml_name = extension("yaml") || extension("yml");
    // JSON first when it looks like JSON: YAML is a superset in theory, but JSON files with
    // tab indentation are not valid YAML block syntax and JSON errors are clearer.
    let json_error = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let mut values = Vec::new();
        let mut lines = Vec::new();
        let mut error = None;
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<StrictValue>();
        loop {
            // Where the next value starts: after the previous one and any whitespace.
            let start = stream.byte_offset();
            let skipped = text[start..].len() - text[start..].trim_start().len();
            match stream.next() {
                None => break,
                Some(Ok(v)) => {
                    values.push(v.0);
                    lines.push(line_of(text, start + skipped));
                }
                Some(Err(e)) => {
                    error = Some(e);
                    break;
                }
            }
        }
        match error {
            None => return Ok((values, lines)),
            Some(e) if json_name || !e.is_syntax() => {
                return Err(format!(
                    "{source}:{}:{}: invalid JSON: {}",
                    e.line(),
                    e.column(),
                    json_message(&e)
                ));
            }
            Some(e) => Some(e),
        }
    } else {
        None
    };
    // serde-saphyr refuses duplicate keys by default (`DuplicateKeyPolicy::Error`). Its
    // default budget (1024 documents, 250k nodes) is for small configuration files; a
    // rendered chart or a `kubectl get -A -o yaml` dump is a local file the user chose and
    // is longer. Depth, alias and scalar-size limits stay as they are.
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 1_000_000,
            max_nodes: 50_000_000,
            max_events: 200_000_000,
        },
    };
    match serde_saphyr::from_str_multiple_with_options::<Value, Vec<Value>>(text, options) {
        Ok(values) => Ok((
            values.into_iter().filter(|v| !v.is_null()).collect(),
            yaml_document_lines(text),
        )),
        Err(e) => {
            let at = e
                .location()
                .map_or(String::new(), |l| format!(":{}:{}", l.line(), l.column()));
            let message = first_line(&e.to_string());
            if !has_manifest_extension(source) {
                Err(format!("{source}{at}: not YAML or JSON ({message})"))
            } else if let Some(je) = json_error.filter(|_| !yaml_name) {
                // Looked like JSON and is neither: word it as JSON, where the error is.
                Err(format!(
                    "{source}:{}:{}: invalid JSON: {}",
                    je.line(),
                    je.column(),
                    json_message(&je)
                ))
            } else {
                Err(format!("{source}{at}: invalid YAML: {message}"))
            }
        }
    }
}

/// serde_json's message without its ` at line L column C` suffix.
fn json_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rsplit_once(" at line ") {
        Some((message, _)) => message.to_owned(),
        None => s,
    }
}

/// The first line of a parser message (serde-saphyr appends a source snippet), without
/// the `error: line L column C:` prefix the caller already gives as `file:L:C`.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match line.split_once(": ") {
        Some((at, rest)) if at.starts_with("line ") && at.contains(" column ") => rest.to_owned(),
        _ => line.to_owned(),
    }
}

/// Checks that a document is a Kubernetes object: a mapping with `apiVersion` and `kind`.
pub fn check_object(doc: &Document) -> Result<(), StateError> {
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
                // Cluster state: no finding points into it.
                line: None,
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
        assert_eq!((docs[0].line, docs[1].line), (Some(4), Some(7)));
    }

    #[test]
    fn cluster_objects_are_located_by_namespace_kind_and_name() {
        let doc = |value: Value| Document {
            source: Source::Cluster,
            index: 7,
            item: None,
            line: None,
            value,
        };
        let pod =
            doc(serde_json::json!({"kind": "Pod", "metadata": {"name": "p", "namespace": "web"}}));
        assert_eq!(pod.location(), "web/Pod/p");
        let node = doc(serde_json::json!({"kind": "Node", "metadata": {"name": "win-1"}}));
        assert_eq!(node.location(), "Node/win-1");
    }

    #[test]
    fn documents_know_the_line_they_start_on() {
        for (text, want) in [
            // helm template: a comment naming the template before each document.
            (
                "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: Pod\n---\n# Source: c/templates/b.yaml\n\napiVersion: v1\nkind: Pod\n",
                vec![Some(3), Some(8)],
            ),
            // Content on the marker line, a block scalar holding `---` indented, `...`.
            (
                "--- {apiVersion: v1, kind: Pod}\n---\napiVersion: v1\nkind: ConfigMap\ndata:\n  x: |\n    ---\n    y\n...\n---\napiVersion: v1\nkind: Pod\n",
                vec![Some(1), Some(3), Some(11)],
            ),
            // A document the parser reads as null: no line is guessed.
            ("apiVersion: v1\nkind: Pod\n--- ~\n", vec![None]),
        ] {
            let docs = parse_values(&src(), text).unwrap();
            let got: Vec<_> = docs.iter().map(|d| d.line).collect();
            assert_eq!(got, want, "{text:?}");
        }
        let json = "\n\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}\n\n  {\"apiVersion\":\"v1\",\n\"kind\":\"Pod\"}";
        let docs = parse_documents(&Source::File("m.json".into()), json).unwrap();
        let got: Vec<_> = docs.iter().map(|d| d.line).collect();
        assert_eq!(got, [Some(3), Some(5)]);
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
        assert!(e.to_string().starts_with("m.yaml:"), "{e}");
        assert!(e.to_string().contains(": invalid YAML: "), "{e}");
        let e = parse_documents(&src(), "{\"a\": 1,").unwrap_err();
        assert!(e.to_string().starts_with("m.yaml:1:"), "{e}");
        assert!(e.to_string().contains(": invalid JSON: "), "{e}");
    }

    #[test]
    fn a_syntax_error_names_the_line() {
        let e = parse_documents(
            &src(),
            "apiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: [Pod\n",
        )
        .unwrap_err()
        .to_string();
        let line: u32 = e.split(':').nth(1).unwrap().parse().unwrap();
        assert!((5..=6).contains(&line), "{e}");
    }

    #[test]
    fn long_streams_parse() {
        // A rendered chart or a cluster dump: past the YAML parser's default 1024 documents.
        let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n";
        let text = vec![doc; 3000].join("---\n");
        let docs = parse_documents(&src(), &text).unwrap();
        assert_eq!(docs.len(), 3000);
        // Duplicate keys are still refused with the larger budget.
        let e = parse_documents(&src(), "apiVersion: v1\nkind: Pod\nkind: Pod\n").unwrap_err();
        assert!(e.to_string().contains("invalid YAML"), "{e}");
    }

    #[test]
    fn text_files_are_not_yaml_or_json() {
        let toml = Source::File("Cargo.toml".into());
        let e = parse_documents(&toml, "[workspace]\nresolver = \"2\"\nmembers = [\"a\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("Cargo.toml"), "{e}");
        assert!(e.contains("not YAML or JSON"), "{e}");
        assert!(!e.contains("invalid JSON"), "{e}");
        let md = Source::File("README.md".into());
        let e = parse_documents(&md, "# winkube\n\nWindows containers\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "README.md: not YAML or JSON (no Kubernetes object in it)"
        );
        // Flow-style YAML that is not JSON is still YAML.
        let docs = parse_documents(&src(), "{apiVersion: v1, kind: Pod}").unwrap();
        assert_eq!(docs[0].kind(), "Pod");
    }
}
