//! Reading CBS downloads: UTF-8 with or without BOM, lines ended by CRLF, LF or a lone CR, `;`-separated
//! fields that may be quoted (`""` inside quotes is one quote).
//!
//! A file is read line by line as it is parsed, never whole: only regular files are read (a FIFO or a
//! device could block or never end), of at most [`MAX_FILE_BYTES`], in lines of at most
//! [`MAX_LINE_BYTES`]; anything beyond is refused with the file and line.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{IngestError, Result};

/// The largest file ingest reads. CBS's largest Veilig Thuis download is tens of megabytes.
pub const MAX_FILE_BYTES: u64 = 1 << 30;
/// The longest line ingest reads. A StatLine line is a few hundred bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A source file, read as numbered lines.
pub struct SourceFile {
    pub path: PathBuf,
    /// The content, for a download held in memory rather than in a file.
    bytes: Option<Arc<[u8]>>,
}

impl SourceFile {
    /// A regular file of at most [`MAX_FILE_BYTES`].
    pub fn open(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| IngestError::io(path, e))?;
        if !meta.is_file() {
            let what = if meta.is_dir() { "a directory" } else { "not a regular file (a pipe, socket or device)" };
            return Err(IngestError::input(path, 0, "file", format!("{what}: ingest reads files of CBS downloads")));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(IngestError::input(
                path,
                0,
                "file",
                format!("{} MiB, more than the {} MiB ingest reads", meta.len() >> 20, MAX_FILE_BYTES >> 20),
            ));
        }
        Ok(SourceFile { path: path.to_path_buf(), bytes: None })
    }

    /// A download held in memory, named `name` in messages.
    pub fn in_memory(name: &str, bytes: &[u8]) -> Self {
        SourceFile { path: PathBuf::from(name), bytes: Some(bytes.into()) }
    }

    /// The lines with their 1-based numbers, line ends removed, read as they are asked for.
    pub fn lines(&self) -> Result<Lines> {
        let source: Box<dyn Read> = match &self.bytes {
            Some(bytes) => Box::new(std::io::Cursor::new(Arc::clone(bytes))),
            None => Box::new(File::open(&self.path).map_err(|e| IngestError::io(&self.path, e))?),
        };
        Ok(Lines { path: self.path.clone(), reader: BufReader::new(source), number: 0, read: 0, pending_lf: false })
    }

    pub fn error(&self, line: usize, field: impl Into<String>, message: impl Into<String>) -> IngestError {
        IngestError::input(&self.path, line, field, message)
    }

    /// The file name, for messages.
    pub fn file_name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

/// The lines of a [`SourceFile`].
pub struct Lines {
    path: PathBuf,
    reader: BufReader<Box<dyn Read>>,
    number: usize,
    read: u64,
    /// The last line ended with a CR: an LF right after it belongs to that line end.
    pending_lf: bool,
}

impl Lines {
    fn next_line(&mut self) -> Result<Option<String>> {
        let mut line: Vec<u8> = Vec::new();
        let mut any = false;
        loop {
            let buffer = self.reader.fill_buf().map_err(|e| IngestError::io(&self.path, e))?;
            if buffer.is_empty() {
                break;
            }
            let mut start = 0;
            if std::mem::take(&mut self.pending_lf) && buffer[0] == b'\n' {
                start = 1;
            }
            let end = buffer[start..].iter().position(|b| *b == b'\n' || *b == b'\r').map(|i| start + i);
            let (take, consumed, ended) = match end {
                Some(i) => (i - start, i + 1, Some(buffer[i])),
                None => (buffer.len() - start, buffer.len(), None),
            };
            if line.len() + take > MAX_LINE_BYTES {
                return Err(IngestError::input(
                    &self.path,
                    self.number + 1,
                    "line",
                    format!("longer than {} KiB: not a CBS download", MAX_LINE_BYTES >> 10),
                ));
            }
            line.extend_from_slice(&buffer[start..start + take]);
            any = true;
            self.read += consumed as u64;
            self.reader.consume(consumed);
            if self.read > MAX_FILE_BYTES {
                return Err(IngestError::input(
                    &self.path,
                    self.number + 1,
                    "file",
                    format!("more than the {} MiB ingest reads", MAX_FILE_BYTES >> 20),
                ));
            }
            if let Some(end) = ended {
                self.pending_lf = end == b'\r';
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.number += 1;
        let mut text = String::from_utf8(line).map_err(|_| {
            IngestError::input(&self.path, self.number, "encoding", "not valid UTF-8 (save the download as UTF-8)")
        })?;
        if self.number == 1 && text.starts_with('\u{feff}') {
            text.remove(0);
        }
        Ok(Some(text))
    }
}

/// The data lines of a CBS file: up to its footer (`Bron: CBS`, ...), blank lines skipped.
pub fn data_lines(
    lines: impl Iterator<Item = Result<(usize, String)>>,
) -> impl Iterator<Item = Result<(usize, String)>> {
    lines
        .take_while(|l| !matches!(l, Ok((_, line)) if is_footer(line)))
        .filter(|l| !matches!(l, Ok((_, line)) if line.trim().is_empty()))
}

impl Iterator for Lines {
    type Item = Result<(usize, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_line() {
            Ok(Some(line)) => Some(Ok((self.number, line))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// The fields of line `n` of a `;`-separated file, one per column of `header`: an error names the field
/// where the line and the header part (a value too many shifts every value after it).
pub fn header_fields(file: &SourceFile, n: usize, line: &str, header: &[String]) -> Result<Vec<String>> {
    let fields = split_fields(line).map_err(|f| file.error(n, format!("field {f}"), "quote not closed"))?;
    if fields.len() != header.len() {
        let (field, problem) = if fields.len() < header.len() {
            (header[fields.len()].clone(), "too few")
        } else {
            (format!("field {}", header.len() + 1), "too many")
        };
        return Err(file.error(
            n,
            field,
            format!("{problem} fields: {} of {} (a ';' in an unquoted value?)", fields.len(), header.len()),
        ));
    }
    Ok(fields)
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

    fn lines_of(bytes: &[u8]) -> Result<Vec<(usize, String)>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        std::fs::write(&path, bytes).unwrap();
        SourceFile::open(&path)?.lines()?.collect()
    }

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

    /// Regression (hardening probe, item 12): CR-only line ends made one line of the whole file.
    #[test]
    fn every_line_end_and_a_bom() {
        let expected: Vec<(usize, String)> = vec![(1, "a".into()), (2, "".into()), (3, "b".into())];
        for text in ["\u{feff}a\n\nb\n", "a\r\n\r\nb", "a\r\rb\r", "a\n\r\nb"] {
            assert_eq!(lines_of(text.as_bytes()).unwrap(), expected, "{text:?}");
        }
        assert_eq!(lines_of(b"").unwrap(), vec![]);
    }

    /// Regression (hardening probe, item 8): a FIFO blocked for ever, /dev/zero grew memory without end,
    /// and a 10 MB line took hours.
    #[test]
    fn refuses_what_is_not_a_download() {
        let error = SourceFile::open(Path::new("/dev/zero")).err().unwrap().to_string();
        assert!(error.contains("not a regular file"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let error = SourceFile::open(dir.path()).err().unwrap().to_string();
        assert!(error.contains("a directory"), "{error}");
        let fifo = dir.path().join("fifo");
        let name = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let error = SourceFile::open(&fifo).err().unwrap().to_string();
        assert!(error.contains("not a regular file"), "{error}");
        let long = format!("ok\n{}\n", "x".repeat(MAX_LINE_BYTES + 1));
        let error = lines_of(long.as_bytes()).err().unwrap().to_string();
        assert!(error.contains(":2: line: longer than 1024 KiB"), "{error}");
        let error = lines_of(b"ok\n\xff\xfe\n").err().unwrap().to_string();
        assert!(error.contains(":2: encoding"), "{error}");
    }
}
