//! Attacker text in logs. Pod and credspec names reach `/mutate` before the API server has
//! validated them: written raw, a newline forges a log line and an escape sequence rewrites
//! the operator's terminal. [`LogText`] escapes what could do either.

use std::borrow::Cow;
use std::fmt;

/// Displays a string with control characters (`\n`, ESC, ...) and bidirectional overrides
/// (U+202A..U+202E, U+2066..U+2069, U+200E, U+200F, U+061C) escaped as `\n` or `\u{1b}`.
pub(crate) struct LogText<'a>(pub(crate) &'a str);

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{2028}' | '\u{2029}')
}

impl fmt::Display for LogText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some((i, c)) = rest.char_indices().find(|&(_, c)| needs_escape(c)) {
            f.write_str(&rest[..i])?;
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c => write!(f, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[i + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// The string itself when nothing needs escaping (the common case: no allocation), else its
/// [`LogText`]. For span fields, which the text log quotes like strings.
pub(crate) fn escaped(s: &str) -> Cow<'_, str> {
    if s.chars().any(needs_escape) {
        Cow::Owned(LogText(s).to_string())
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_escaped() {
        assert_eq!(
            LogText("a\nb\x1b[31mc\u{202E}d\u{2066}é\t").to_string(),
            "a\\nb\\u{1b}[31mc\\u{202e}d\\u{2066}é\\t"
        );
        assert_eq!(LogText("plain-name").to_string(), "plain-name");
    }
}
