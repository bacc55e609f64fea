use std::path::{Path, PathBuf};

/// Why an ingest was refused. Input errors name the file, the line (1-based) and the field, so the
/// analyst can open the file at the right place. Nothing is written when any error occurs.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{}:{line}: {field}: {message}", file.display())]
    Input { file: PathBuf, line: usize, field: String, message: String },

    #[error("{}: unknown layout: {reason}", file.display())]
    UnknownLayout { file: PathBuf, reason: String },

    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{}: {message}", path.display())]
    Store { path: PathBuf, message: String },
}

impl IngestError {
    pub fn input(file: &Path, line: usize, field: impl Into<String>, message: impl Into<String>) -> Self {
        IngestError::Input { file: file.to_path_buf(), line, field: field.into(), message: message.into() }
    }

    pub fn io(path: &Path, source: std::io::Error) -> Self {
        IngestError::Io { path: path.to_path_buf(), source }
    }

    pub fn store(path: &Path, message: impl std::fmt::Display) -> Self {
        IngestError::Store { path: path.to_path_buf(), message: message.to_string() }
    }
}

pub type Result<T, E = IngestError> = std::result::Result<T, E>;
