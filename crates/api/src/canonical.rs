//! Credspec contents serialised byte for byte as Go's `json.Marshal` does for a
//! `map[string]interface{}`: compact, object keys sorted by bytes, HTML-safe escaping.
//! Existing tooling compares the inlined string with what the reference wrote, so the
//! bytes matter, not just the JSON value.

use serde_json::Value;
use std::fmt::Write;

/// Serialise `value` exactly as Go's `encoding/json.Marshal` would.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_value(out, v);
                }
            }
            out.push('}');
        }
    }
}

/// Go encodes integers in decimal and float64 with 'f' formatting for exponents in
/// [-6, 21) and 'e' formatting (two-digit minimum exponent) otherwise.
fn write_number(out: &mut String, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        let abs = f.abs();
        if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            // Rust prints `1e21`; Go prints `1e+21` and pads the exponent to two digits.
            let s = format!("{f:e}");
            let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            let _ = write!(out, "{mantissa}e{sign}{digits:0>2}");
        } else if f.fract() == 0.0 && abs < 1e21 {
            let _ = write!(out, "{f:.0}");
        } else {
            let _ = write!(out, "{f}");
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_escapes_html_like_go() {
        // Appendix A of the reference specification.
        let v = json!({"DomainJoinConfig":{"Sid":"S-1","DnsName":"contoso.com"},"CmsPlugins":["ActiveDirectory"],"ActiveDirectoryConfig":{"HostAccountConfig":{"PluginInput":"a:<password>&"}}});
        assert_eq!(
            canonical_json(&v),
            r#"{"ActiveDirectoryConfig":{"HostAccountConfig":{"PluginInput":"a:\u003cpassword\u003e\u0026"}},"CmsPlugins":["ActiveDirectory"],"DomainJoinConfig":{"DnsName":"contoso.com","Sid":"S-1"}}"#
        );
    }

    #[test]
    fn control_characters_and_separators() {
        let v = json!({"k": "a\"b\\c\nd\re\tf\u{8}g\u{c}h\u{1}i\u{2028}j\u{2029}é"});
        assert_eq!(
            canonical_json(&v),
            r#"{"k":"a\"b\\c\nd\re\tf\bg\fh\u0001i\u2028j\u2029é"}"#
        );
    }

    #[test]
    fn numbers_as_go_prints_them() {
        assert_eq!(
            canonical_json(&json!([1, -2, 1.5, 1e21, 1e-7, 2.0])),
            "[1,-2,1.5,1e+21,1e-07,2]"
        );
    }

    #[test]
    fn keys_sort_by_bytes_not_case() {
        assert_eq!(
            canonical_json(&json!({"b":1,"B":2,"a":3})),
            r#"{"B":2,"a":3,"b":1}"#
        );
    }
}
