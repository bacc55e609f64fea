//! How results are printed: an aligned table for people, CSV and JSON for programs.

use std::io::Write;

use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::{ArrayWriter, WriterBuilder as JsonWriterBuilder};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::FormatOptions;
use datafusion::arrow::util::pretty::pretty_format_batches_with_options;
use datafusion::error::{DataFusionError, Result};

/// An output format, chosen with `--format` or `.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrintFormat {
    /// An aligned table; NULL shown as `NULL`.
    Table,
    /// RFC 4180 CSV with a header line; NULL is an empty field.
    Csv,
    /// One JSON array of objects; NULL is `null`.
    Json,
}

impl PrintFormat {
    pub const NAMES: &[&str] = &["table", "csv", "json"];

    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "table" => Some(PrintFormat::Table),
            "csv" => Some(PrintFormat::Csv),
            "json" => Some(PrintFormat::Json),
            _ => None,
        }
    }

    /// Writes a whole result. An empty result still prints its header (table, CSV) or `[]` (JSON).
    pub fn print(self, out: &mut dyn Write, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<()> {
        let empty;
        let batches = if batches.is_empty() {
            empty = [RecordBatch::new_empty(schema.clone())];
            &empty[..]
        } else {
            batches
        };
        match self {
            PrintFormat::Table => {
                let options = FormatOptions::default().with_null("NULL");
                let table = pretty_format_batches_with_options(batches, &options)?;
                writeln!(out, "{table}")?;
            }
            PrintFormat::Csv => {
                let mut writer = CsvWriterBuilder::new().with_header(true).build(&mut *out);
                for batch in batches {
                    writer.write(batch)?;
                }
            }
            PrintFormat::Json => {
                let mut writer: ArrayWriter<_> = JsonWriterBuilder::new().with_explicit_nulls(true).build(&mut *out);
                for batch in batches {
                    writer.write(batch)?;
                }
                writer.finish()?;
                drop(writer);
                writeln!(out)?;
            }
        }
        out.flush().map_err(DataFusionError::IoError)
    }
}
