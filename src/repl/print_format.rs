//! How results are printed: aligned tables and markdown for people, CSV, TSV, JSON and JSON lines
//! for programs, `line` (one `column = value` per line) for wide rows.

use std::io::Write;

use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::{ArrayWriter, LineDelimitedWriter, WriterBuilder as JsonWriterBuilder};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches_with_options;
use datafusion::error::{DataFusionError, Result};

/// An output format, chosen with `--format` or `.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrintFormat {
    /// An aligned table.
    Table,
    /// RFC 4180 CSV with a header line; NULL is an empty field.
    Csv,
    /// Tab-separated values with a header line.
    Tsv,
    /// One JSON array of objects; NULL is `null`.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// A GitHub-flavoured markdown table.
    Markdown,
    /// One `column = value` line per column, a blank line between rows.
    Line,
}

/// What to print besides the format: the text for NULL and the most rows to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Display {
    /// Shown for NULL in table, markdown, line and TSV output (CSV and JSON keep their own).
    pub null: String,
    /// At most this many rows in table, markdown and line output; `None`: all.
    pub max_rows: Option<usize>,
}

impl Default for Display {
    fn default() -> Self {
        Display { null: "NULL".into(), max_rows: None }
    }
}

impl PrintFormat {
    pub const NAMES: &[&str] = &["table", "csv", "tsv", "json", "jsonl", "markdown", "line"];

    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase();
        let i = Self::NAMES.iter().position(|n| *n == name || (name == "md" && *n == "markdown"))?;
        Some(
            [
                PrintFormat::Table,
                PrintFormat::Csv,
                PrintFormat::Tsv,
                PrintFormat::Json,
                PrintFormat::Jsonl,
                PrintFormat::Markdown,
                PrintFormat::Line,
            ][i],
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            PrintFormat::Table => "table",
            PrintFormat::Csv => "csv",
            PrintFormat::Tsv => "tsv",
            PrintFormat::Json => "json",
            PrintFormat::Jsonl => "jsonl",
            PrintFormat::Markdown => "markdown",
            PrintFormat::Line => "line",
        }
    }

    /// Writes a whole result. An empty result still prints its header (table, CSV, TSV, markdown)
    /// or `[]` (JSON).
    pub fn print(
        self,
        out: &mut dyn Write,
        schema: &SchemaRef,
        batches: &[RecordBatch],
        display: &Display,
    ) -> Result<()> {
        let total: usize = batches.iter().map(|b| b.num_rows()).sum();
        let limited = |n: Option<usize>| -> Vec<RecordBatch> {
            let mut left = n.unwrap_or(usize::MAX);
            let mut out = Vec::new();
            for b in batches {
                if left == 0 {
                    break;
                }
                let take = left.min(b.num_rows());
                out.push(b.slice(0, take));
                left -= take;
            }
            if out.is_empty() {
                out.push(RecordBatch::new_empty(schema.clone()));
            }
            out
        };
        let options = FormatOptions::default().with_null(&display.null);
        match self {
            PrintFormat::Table => {
                let shown = limited(display.max_rows);
                writeln!(out, "{}", pretty_format_batches_with_options(&shown, &options)?)?;
            }
            PrintFormat::Csv | PrintFormat::Tsv => {
                let delimiter = if self == PrintFormat::Csv { b',' } else { b'\t' };
                let mut builder = CsvWriterBuilder::new().with_header(true).with_delimiter(delimiter);
                if self == PrintFormat::Tsv {
                    builder = builder.with_null(display.null.clone()).with_quote(b'\0');
                }
                let mut writer = builder.build(&mut *out);
                for batch in limited(None) {
                    writer.write(&batch)?;
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
            PrintFormat::Jsonl => {
                let mut writer: LineDelimitedWriter<_> =
                    JsonWriterBuilder::new().with_explicit_nulls(true).build(&mut *out);
                for batch in batches {
                    writer.write(batch)?;
                }
                writer.finish()?;
            }
            PrintFormat::Markdown => {
                let names: Vec<String> = schema.fields().iter().map(|f| escape_markdown(f.name())).collect();
                writeln!(out, "| {} |", names.join(" | "))?;
                writeln!(out, "|{}", names.iter().map(|_| "---|").collect::<String>())?;
                for row in rows(&limited(display.max_rows), &options)? {
                    let cells: Vec<String> = row.iter().map(|c| escape_markdown(c)).collect();
                    writeln!(out, "| {} |", cells.join(" | "))?;
                }
            }
            PrintFormat::Line => {
                let width = schema.fields().iter().map(|f| f.name().chars().count()).max().unwrap_or(0);
                for (i, row) in rows(&limited(display.max_rows), &options)?.iter().enumerate() {
                    if i > 0 {
                        writeln!(out)?;
                    }
                    for (field, value) in schema.fields().iter().zip(row) {
                        writeln!(out, "{:>width$} = {value}", field.name())?;
                    }
                }
            }
        }
        let shown =
            display.max_rows.filter(|_| matches!(self, PrintFormat::Table | PrintFormat::Markdown | PrintFormat::Line));
        if let Some(max) = shown.filter(|m| total > *m) {
            writeln!(out, "({} of {total} rows shown; .maxrows changes this)", max)?;
        }
        out.flush().map_err(DataFusionError::IoError)
    }
}

fn escape_markdown(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Every row as display text.
pub fn rows(batches: &[RecordBatch], options: &FormatOptions) -> Result<Vec<Vec<String>>> {
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), options))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for i in 0..batch.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn sample() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("region", DataType::Utf8, false),
            Field::new("meldingen", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec!["Almelo", "a|b"])), Arc::new(Int64Array::from(vec![Some(245), None]))],
        )
        .unwrap();
        (schema, vec![batch])
    }

    fn render(format: PrintFormat, display: &Display) -> String {
        let (schema, batches) = sample();
        let mut out = Vec::new();
        format.print(&mut out, &schema, &batches, display).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_format() {
        let cbs = Display { null: ".".into(), max_rows: None };
        assert_eq!(
            render(PrintFormat::Markdown, &cbs),
            "| region | meldingen |\n|---|---|\n| Almelo | 245 |\n| a\\|b | . |\n"
        );
        assert_eq!(render(PrintFormat::Tsv, &cbs), "region\tmeldingen\nAlmelo\t245\na|b\t.\n");
        assert_eq!(render(PrintFormat::Csv, &cbs), "region,meldingen\nAlmelo,245\na|b,\n");
        assert_eq!(
            render(PrintFormat::Jsonl, &cbs),
            "{\"region\":\"Almelo\",\"meldingen\":245}\n{\"region\":\"a|b\",\"meldingen\":null}\n"
        );
        assert_eq!(
            render(PrintFormat::Line, &cbs),
            "   region = Almelo\nmeldingen = 245\n\n   region = a|b\nmeldingen = .\n"
        );
    }

    #[test]
    fn max_rows_cuts_and_says_so() {
        let one = Display { null: "NULL".into(), max_rows: Some(1) };
        let text = render(PrintFormat::Markdown, &one);
        assert!(text.ends_with("| Almelo | 245 |\n(1 of 2 rows shown; .maxrows changes this)\n"), "{text}");
        assert_eq!(render(PrintFormat::Csv, &one).lines().count(), 3);
    }

    #[test]
    fn names_parse() {
        for name in PrintFormat::NAMES {
            assert_eq!(PrintFormat::parse(name).unwrap().name(), *name);
        }
        assert_eq!(PrintFormat::parse("md"), Some(PrintFormat::Markdown));
    }
}
