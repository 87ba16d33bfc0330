//! OpenSimulator-style INI files: `[Section]`, `key = value`, `;` or `#`
//! comments, quoted or bare values; section and key names without regard to case.

use std::path::{Path, PathBuf};

/// One `key = value` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub section: String,
    pub key: String,
    pub value: String,
    pub line: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum IniError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{file}:{line}: {message}")]
    Syntax { file: PathBuf, line: usize, message: String },
}

/// Parse INI text. Entries keep the file's spelling of names.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Entry>, IniError> {
    let mut section = String::new();
    let mut entries = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.strip_suffix(']').ok_or_else(|| IniError::Syntax {
                file: file.to_path_buf(),
                line: line_no,
                message: format!("section header {line:?} has no closing ]"),
            })?;
            section = name.trim().to_owned();
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| IniError::Syntax {
            file: file.to_path_buf(),
            line: line_no,
            message: format!("expected `key = value`, found {line:?}"),
        })?;
        if section.is_empty() {
            return Err(IniError::Syntax {
                file: file.to_path_buf(),
                line: line_no,
                message: "key outside any [Section]".into(),
            });
        }
        entries.push(Entry {
            section: section.clone(),
            key: key.trim().to_owned(),
            value: unquote(value.trim()),
            line: line_no,
        });
    }
    Ok(entries)
}

/// Strip surrounding quotes, or a trailing comment from a bare value.
fn unquote(value: &str) -> String {
    for q in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(q) {
            if let Some(end) = inner.find(q) {
                return inner[..end].to_owned();
            }
        }
    }
    let cut = value
        .find([';', '#'])
        .filter(|i| *i == 0 || value[..*i].ends_with(char::is_whitespace))
        .unwrap_or(value.len());
    value[..cut].trim().to_owned()
}

/// Read and parse a file.
pub fn read(path: &Path) -> Result<Vec<Entry>, IniError> {
    let text = std::fs::read_to_string(path).map_err(|e| IniError::Read(path.to_path_buf(), e))?;
    parse(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_quotes_and_comments() {
        let text = "; top\n[Dispatcher]\nHTTPPath = \"/Dispatcher\"\nUDPPort=23997 ; comment\n# x\nPattern = ^\\d#x$\n";
        let e = parse(text, Path::new("t.ini")).expect("parse");
        assert_eq!(e[0].value, "/Dispatcher");
        assert_eq!(e[1].value, "23997");
        assert_eq!(e[2].value, "^\\d#x$");
        assert!(parse("x=1", Path::new("t.ini")).is_err());
        assert!(parse("[A\n", Path::new("t.ini")).is_err());
    }
}
