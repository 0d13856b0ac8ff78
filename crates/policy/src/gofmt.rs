//! Go formatting the reference's messages and responses depend on: `encoding/json` string
//! encoding (HTML-safe) and `strconv.Quote` (`%q`).

use std::fmt::Write;

/// Appends `s` as a JSON string encoded the way Go's `json.Marshal` encodes it.
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // Everything to escape is ASCII except U+2028/U+2029 (E2 80 A8/A9).
        let (esc, len): (&str, usize) = match b {
            b'"' => ("\\\"", 1),
            b'\\' => ("\\\\", 1),
            b'\n' => ("\\n", 1),
            b'\r' => ("\\r", 1),
            b'\t' => ("\\t", 1),
            0x08 => ("\\b", 1),
            0x0c => ("\\f", 1),
            b'<' => ("\\u003c", 1),
            b'>' => ("\\u003e", 1),
            b'&' => ("\\u0026", 1),
            0xE2 if bytes.get(i + 1) == Some(&0x80) && bytes.get(i + 2) == Some(&0xA8) => {
                ("\\u2028", 3)
            }
            0xE2 if bytes.get(i + 1) == Some(&0x80) && bytes.get(i + 2) == Some(&0xA9) => {
                ("\\u2029", 3)
            }
            b if b < 0x20 => {
                out.push_str(&s[start..i]);
                let _ = write!(out, "\\u{:04x}", b);
                i += 1;
                start = i;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&s[start..i]);
        out.push_str(esc);
        i += len;
        start = i;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Go's `strconv.Quote`, as printed by `%q`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `strconv.IsPrint` (letters, marks, numbers, punctuation,
/// symbols and the ASCII space): control, separator, format and private-use characters
/// are escaped. Unassigned code points are treated as printable (Go escapes them).
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    let format_or_private = matches!(u,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0xFFFE | 0xFFFF | 0xE000..=0xF8FF | 0x110BD | 0x110CD
        | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F
        | 0xF0000..=0x10FFFF);
    !format_or_private
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        let mut o = String::new();
        push_json_string(&mut o, s);
        o
    }

    #[test]
    fn json_strings_like_go() {
        assert_eq!(enc("a\"b\\c<d>&e"), r#""a\"b\\c\u003cd\u003e\u0026e""#);
        assert_eq!(
            enc("\n\r\t\u{8}\u{c}\u{1}\u{2028}é"),
            r#""\n\r\t\b\f\u0001\u2028é""#
        );
        assert_eq!(enc(""), r#""""#);
    }

    #[test]
    fn quote_like_go() {
        assert_eq!(quote("sa1"), r#""sa1""#);
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("i ain't\n"), r#""i ain't\n""#);
        assert_eq!(
            quote("\u{1}\u{7f}é\u{a0}\u{feff}"),
            r#""\x01\x7fé\u00a0\ufeff""#
        );
        assert_eq!(quote("\u{10FFFD}"), r#""\U0010fffd""#);
    }
}
