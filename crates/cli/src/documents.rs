//! The command's manifest input (files, directories or stdin, parsed by
//! [`winkube_state::documents`]) and output (YAML streams with a stable key order).
//!
//! Every error names the source (file path or `<stdin>`) and, where it is about one
//! document, its 1-based index, so a user can find the culprit in a long manifest.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;
use winkube_state::StateError;
use winkube_state::documents::{Document, Source, check_object, manifest_files, parse_values};

/// The manifest inputs of `admit` and `lint`, as kubectl takes them.
#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Manifest files or directories (read recursively: *.yaml, *.yml, *.json); `-` reads
    /// standard input
    #[arg(value_name = "FILE", required_unless_present = "filename")]
    pub files: Vec<PathBuf>,
    /// A manifest file or directory, as kubectl's -f (repeatable; `-` is standard input)
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filename: Vec<PathBuf>,
    /// Accepted as kubectl's -R: directories are always read recursively
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

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

/// Every document of every input, with what could not be read.
#[derive(Debug, Default)]
pub struct Inputs {
    pub docs: Vec<Document>,
    /// Files or documents that cannot be read or parsed (exit code 2); the rest is still
    /// checked.
    pub errors: Vec<String>,
    /// Files of a directory skipped because they are not Kubernetes manifests (values
    /// files, Chart.yaml, kustomization.yaml).
    pub notes: Vec<String>,
}

/// Reads every input: files, directories (recursively) and standard input.
pub fn read_inputs(args: &InputArgs) -> Inputs {
    let mut out = Inputs::default();
    let mut stdin_used = false;
    for arg in args.files.iter().chain(&args.filename) {
        let source = source_from_arg(arg);
        match &source {
            Source::Stdin if stdin_used => {
                out.errors
                    .push("`-` (standard input) given more than once".to_owned());
            }
            Source::Stdin => {
                stdin_used = true;
                read_one(&source, false, &mut out);
            }
            Source::File(path) if path.is_dir() => match manifest_files(path) {
                Ok(files) if files.is_empty() => out.errors.push(format!(
                    "{}: no .yaml, .yml or .json file in this directory",
                    path.display()
                )),
                Ok(files) => {
                    for file in files {
                        read_one(&Source::File(file), true, &mut out);
                    }
                }
                Err(e) => out.errors.push(e.to_string()),
            },
            Source::File(_) | Source::Cluster => read_one(&source, false, &mut out),
        }
    }
    out
}

fn read_one(source: &Source, in_directory: bool, out: &mut Inputs) {
    let text = match read_text(source) {
        Ok(t) => t,
        Err(e) => return out.errors.push(e.0),
    };
    let docs = match parse_values(source, &text) {
        Ok(d) => d,
        Err(_) if in_directory && text.contains("{{") => {
            // A chart's templates/: manifests only once rendered.
            return out.notes.push(format!(
                "{source}: an unrendered template, skipped (render it with `helm template ... | winkube lint -`)"
            ));
        }
        Err(e) => return out.errors.push(e.to_string()),
    };
    if docs.is_empty() && !in_directory {
        return out
            .errors
            .push(format!("{source}: no Kubernetes objects found"));
    }
    let mut kept = Vec::new();
    for doc in docs {
        if let Err(e) = check_object(&doc) {
            if in_directory {
                // A values file or Chart.yaml next to the manifests: not for winkube.
                return out.notes.push(format!(
                    "{source}: not a Kubernetes manifest, skipped ({e})"
                ));
            }
            out.errors.push(e.to_string());
            continue;
        }
        if is_tool_config(&doc) {
            out.notes.push(format!(
                "{}: {} ({}) is a tool's configuration, not a Kubernetes object: skipped",
                doc.location(),
                doc.kind(),
                doc.api_version()
            ));
            continue;
        }
        kept.push(doc);
    }
    out.docs.extend(kept);
}

/// kustomization.yaml and the like: they have `apiVersion` and `kind` but the API server
/// never sees them.
fn is_tool_config(doc: &Document) -> bool {
    doc.api_version()
        .split_once('/')
        .is_some_and(|(group, _)| group.ends_with(".config.k8s.io"))
}

fn read_text(source: &Source) -> Result<String, InputError> {
    let bytes = match source {
        Source::File(path) => std::fs::read(path)
            .map_err(|e| InputError(format!("{source}: cannot read file: {e}")))?,
        Source::Cluster => return Err(InputError(format!("{source}: not a file"))),
        Source::Stdin => {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .map_err(|e| InputError(format!("{source}: cannot read standard input: {e}")))?;
            b
        }
    };
    String::from_utf8(bytes)
        .map_err(|_| InputError(format!("{source}: not YAML or JSON (not UTF-8 text)")))
}

/// The header of every generated file: how to regenerate it, one form for all of them
/// (`command` is what follows `cargo run -q -p winkube --`).
pub fn generated_header(command: &str) -> String {
    format!(
        "# Generated by winkube; do not edit. Regenerate with:\n#   cargo run -q -p winkube -- {command}\n"
    )
}

/// How the generators (`credspec`, `manifests`, `runtimeclass`) print objects: `-o yaml`
/// or `-o json`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ObjectsFormat {
    /// A YAML stream (`---` between objects)
    #[default]
    Yaml,
    /// One JSON `List` of the objects, as `kubectl get -o json` prints several
    Json,
}

/// The objects as a YAML stream, or one JSON `List` (what `kubectl apply -f` reads).
pub fn render(docs: &[Value], format: ObjectsFormat) -> Result<String, String> {
    match format {
        ObjectsFormat::Yaml => to_yaml_stream(docs).map_err(|e| format!("cannot write YAML: {e}")),
        ObjectsFormat::Json => {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": docs});
            serde_json::to_string_pretty(&list)
                .map(|s| s + "\n")
                .map_err(|e| format!("cannot write JSON: {e}"))
        }
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
