//! Reading CBS downloads: UTF-8 with or without BOM, CRLF or LF, `;`-separated fields that may be
//! quoted (`""` inside quotes is one quote).

use std::path::{Path, PathBuf};

use super::error::{IngestError, Result};

/// A source file as numbered lines.
pub struct SourceFile {
    pub path: PathBuf,
    text: String,
}

impl SourceFile {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| IngestError::io(path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
            IngestError::input(path, line, "encoding", "not valid UTF-8 (save the download as UTF-8)")
        })?;
        let text = text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text);
        Ok(SourceFile { path: path.to_path_buf(), text })
    }

    /// Lines with their 1-based numbers, line ends removed.
    pub fn lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
    }

    pub fn error(&self, line: usize, field: impl Into<String>, message: impl Into<String>) -> IngestError {
        IngestError::input(&self.path, line, field, message)
    }

    /// The file name, for `source_table` guesses and messages.
    pub fn file_name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

/// Splits one `;`-separated line. Returns the fields unquoted, or the 1-based field number at
/// which a quote was left open.
pub fn split_fields(line: &str) -> Result<Vec<String>, usize> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            }
            '"' if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            ';' if !quoted => {
                fields.push(finish(&mut field, was_quoted));
                was_quoted = false;
            }
            c => field.push(c),
        }
    }
    if quoted {
        return Err(fields.len() + 1);
    }
    fields.push(finish(&mut field, was_quoted));
    Ok(fields)
}

fn finish(field: &mut String, was_quoted: bool) -> String {
    let value = std::mem::take(field);
    if was_quoted { value } else { value.trim().to_string() }
}

/// Whether a line is the CBS footer (`Bron: CBS` / `"Bron: CBS."`) that ends the data.
pub fn is_footer(line: &str) -> bool {
    line.trim().trim_matches('"').trim_start().starts_with("Bron: CBS")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_and_plain_fields() {
        assert_eq!(split_fields(r#""2020";"Aa en Hunze";25445;92"#).unwrap(), ["2020", "Aa en Hunze", "25445", "92"]);
        assert_eq!(split_fields(r#""a;b";"say ""hi""";"#).unwrap(), ["a;b", "say \"hi\"", ""]);
        assert_eq!(split_fields("x; y ;z").unwrap(), ["x", "y", "z"]);
        assert_eq!(split_fields(r#""open;x"#), Err(1));
        assert_eq!(split_fields(r#"a;"open"#), Err(2));
    }

    #[test]
    fn recognises_the_footer() {
        assert!(is_footer("\"Bron: CBS\""));
        assert!(is_footer("Bron: CBS."));
        assert!(!is_footer("\"Bronckhorst\";1"));
    }
}
