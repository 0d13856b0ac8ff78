//! The command's manifest input (files or stdin, parsed by [`winkube_state::documents`])
//! and output (YAML streams with a stable key order).
//!
//! Every error names the source (file path or `<stdin>`) and, where it is about one
//! document, its 1-based index, so a user can find the culprit in a long manifest.

use std::fmt;
use std::io::Read;
use std::path::Path;

use serde_json::Value;
use winkube_state::StateError;
use winkube_state::documents::{Document, Source, parse_documents};

/// `-` means standard input, like kubectl's `-f -`.
pub fn source_from_arg(arg: &Path) -> Source {
    if arg.as_os_str() == "-" {
        Source::Stdin
    } else {
        Source::File(arg.to_path_buf())
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

impl From<StateError> for InputError {
    fn from(e: StateError) -> Self {
        InputError(e.to_string())
    }
}

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
    Ok(parse_documents(source, &text)?)
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
