//! Text from the network in log lines: control characters (a newline in a
//! `$type`, an escape sequence in a user name) are written as `\n`, `\u{1b}`…
//! so that input can never forge or split a log line. Use [`escape`] wherever
//! input reaches a log.

use std::fmt;

/// Display wrapper: writes the text with every control character escaped, and
/// a backslash doubled so that an escaped form cannot be faked either.
pub struct Escaped<'a>(pub &'a str);

/// Wrap `text` for a log line: `tracing::info!(user = %escape(name), …)`.
pub fn escape(text: &str) -> Escaped<'_> {
    Escaped(text)
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for c in self.0.chars() {
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\\' => f.write_str("\\\\")?,
                c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => write!(f, "\\u{{{:x}}}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_characters_cannot_split_a_line() {
        assert_eq!(escape("plain text é").to_string(), "plain text é");
        assert_eq!(escape("a\nb\r\tc").to_string(), "a\\nb\\r\\tc");
        assert_eq!(escape("\u{1b}[31m\u{0}").to_string(), "\\u{1b}[31m\\u{0}");
        assert_eq!(escape("back\\slash").to_string(), "back\\\\slash");
        assert!(!escape("x\u{85}y\u{2028}")
            .to_string()
            .chars()
            .any(|c| c.is_control() || c == '\u{2028}'));
    }
}
