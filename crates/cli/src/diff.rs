//! `winkube admit --diff`: what admission changes in one input document, as a unified diff
//! of the object as written against the object as admitted, both rendered the same way
//! (so formatting of the input file never shows up as a change).

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use crate::admit::OutputFormat;
use crate::documents::to_yaml_stream;
use crate::lint::Paint;

/// Lines of context around each change, as `diff -u` and `kubectl diff`.
const CONTEXT: usize = 3;

fn render(value: &Value, format: OutputFormat) -> anyhow::Result<String> {
    match format {
        OutputFormat::Yaml => to_yaml_stream(std::slice::from_ref(value)),
        OutputFormat::Json => {
            Ok(serde_json::to_string_pretty(&crate::documents::Ordered(value))? + "\n")
        }
    }
}

/// The unified diff from `before` to `after`, headed `--- name` / `+++ name (admitted)`;
/// `None` when admission changes nothing.
pub fn unified(
    before: &Value,
    after: &Value,
    name: &str,
    format: OutputFormat,
    paint: Paint,
) -> anyhow::Result<Option<String>> {
    if before == after {
        return Ok(None);
    }
    let (old, new) = (render(before, format)?, render(after, format)?);
    let diff = TextDiff::from_lines(&old, &new);
    let mut out = String::new();
    out.push_str(&paint.code("1", &format!("--- {name}")));
    out.push('\n');
    out.push_str(&paint.code("1", &format!("+++ {name} (admitted)")));
    out.push('\n');
    for hunk in diff.unified_diff().context_radius(CONTEXT).iter_hunks() {
        out.push_str(&paint.code("36", &hunk.header().to_string()));
        out.push('\n');
        for change in hunk.iter_changes() {
            let (sign, colour) = match change.tag() {
                ChangeTag::Delete => ('-', Some("31")),
                ChangeTag::Insert => ('+', Some("32")),
                ChangeTag::Equal => (' ', None),
            };
            // Both renderings end with a newline, so every line has one.
            let line = format!("{sign}{}", change.value().trim_end_matches('\n'));
            match colour {
                Some(c) => out.push_str(&paint.code(c, &line)),
                None => out.push_str(&line),
            }
            out.push('\n');
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_become_hunks_and_equal_objects_nothing() {
        let before = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let mut after = before.clone();
        after["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "windows"});
        let d = unified(&before, &after, "p.yaml", OutputFormat::Yaml, Paint(false))
            .unwrap()
            .unwrap();
        let lines: Vec<&str> = d.lines().collect();
        assert_eq!(lines[0], "--- p.yaml");
        assert_eq!(lines[1], "+++ p.yaml (admitted)");
        assert!(lines[2].starts_with("@@ -"), "{d}");
        assert!(lines.contains(&"+  nodeSelector:"), "{d}");
        assert!(lines.contains(&"+    kubernetes.io/os: windows"), "{d}");
        assert!(
            !lines
                .iter()
                .any(|l| l.starts_with('-') && !l.starts_with("---"))
        );
        assert!(
            unified(&before, &before, "p.yaml", OutputFormat::Yaml, Paint(false))
                .unwrap()
                .is_none()
        );
        // JSON renders keys in the same fixed order on both sides.
        let d = unified(&before, &after, "p.yaml", OutputFormat::Json, Paint(false))
            .unwrap()
            .unwrap();
        assert!(d.contains("+    \"nodeSelector\": {"), "{d}");
        // Colour codes only when painting.
        let d = unified(&before, &after, "p.yaml", OutputFormat::Yaml, Paint(true))
            .unwrap()
            .unwrap();
        assert!(d.contains("\x1b[32m+  nodeSelector:\x1b[0m"), "{d}");
    }
}
