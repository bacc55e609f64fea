//! How results are printed: aligned tables and markdown for people, CSV, TSV, JSON and JSON lines
//! for programs, `line` (one `column = value` per line) for wide rows. Every format but `table` (which
//! needs the widths of all rows) writes each batch as it arrives, so a result of any size streams
//! through in bounded memory.

use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, StringArray};
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::json::{ArrayWriter, LineDelimitedWriter, WriterBuilder as JsonWriterBuilder};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches_with_options;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

/// The most rows the table format holds to align them; the rows beyond are counted, and CSV, TSV or JSON, which
/// stream, print every row.
pub const TABLE_MAX_ROWS: usize = 10_000;

/// How CBS shows a suppressed cell, and how NULL shows at the prompt.
pub const SUPPRESSED: &str = ".";

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

impl PrintFormat {
    pub const NAMES: &[&str] = &["table", "csv", "tsv", "json", "jsonl", "markdown", "line"];
    const ALL: [PrintFormat; 7] = [
        PrintFormat::Table,
        PrintFormat::Csv,
        PrintFormat::Tsv,
        PrintFormat::Json,
        PrintFormat::Jsonl,
        PrintFormat::Markdown,
        PrintFormat::Line,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase();
        let i = Self::NAMES.iter().position(|n| *n == name || (name == "md" && *n == "markdown"))?;
        Some(Self::ALL[i])
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[Self::ALL.iter().position(|f| *f == self).unwrap_or(0)]
    }

    /// Whether `.maxrows` cuts this format (the ones people read; programs get every row).
    fn is_cut(self) -> bool {
        matches!(self, PrintFormat::Table | PrintFormat::Markdown | PrintFormat::Line)
    }
}

/// Everything that decides how a result looks: the format, the text for NULL, the most rows to show,
/// and whether to say how long a statement took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintOptions {
    pub format: PrintFormat,
    /// Shown for NULL in table, markdown, line and TSV output (CSV and JSON keep their own).
    pub null: String,
    /// At most this many rows in table, markdown and line output; `None`: all.
    pub max_rows: Option<usize>,
    pub timer: bool,
}

impl PrintOptions {
    /// The defaults: NULL shows as `.` at the prompt, as in CBS tables, and as `NULL` in scripts.
    pub fn new(format: PrintFormat, interactive: bool) -> Self {
        let null = if interactive { SUPPRESSED } else { "NULL" };
        PrintOptions { format, null: null.into(), max_rows: None, timer: false }
    }

    /// Prints a result as its batches arrive; returns the number of rows. `keep` sees every batch.
    /// An empty result still prints its header (table, CSV, TSV, markdown) or `[]` (JSON).
    pub async fn print_stream(
        &self,
        out: &mut dyn Write,
        mut batches: SendableRecordBatchStream,
        keep: &mut dyn FnMut(&RecordBatch),
    ) -> Result<usize> {
        let schema = batches.schema();
        if schema.fields().is_empty() {
            // a statement without a result (SET, CREATE VIEW): nothing to show
            while let Some(batch) = batches.next().await {
                batch?;
            }
            return Ok(0);
        }
        let mut printer = Printer::new(self, &schema)?;
        while let Some(batch) = batches.next().await {
            let batch = batch?;
            keep(&batch);
            printer.write(&batch, out)?;
        }
        printer.finish(out)
    }

    /// Prints a whole result held in memory.
    pub fn print(&self, out: &mut dyn Write, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<usize> {
        let mut printer = Printer::new(self, schema)?;
        for batch in batches {
            printer.write(batch, out)?;
        }
        printer.finish(out)
    }
}

/// The state of one result being printed.
struct Printer<'o> {
    options: &'o PrintOptions,
    schema: SchemaRef,
    format: FormatOptions<'o>,
    /// Rows seen so far, shown or not.
    rows: usize,
    /// Table output: the rows to show, printed at the end.
    held: Vec<RecordBatch>,
    json_open: bool,
    /// The header is still to be written.
    header_pending: bool,
}

impl<'o> Printer<'o> {
    fn new(options: &'o PrintOptions, schema: &SchemaRef) -> Result<Self> {
        let format = FormatOptions::default().with_null(&options.null);
        Ok(Printer {
            options,
            schema: Arc::clone(schema),
            format,
            rows: 0,
            held: Vec::new(),
            json_open: false,
            header_pending: true,
        })
    }

    /// The header of CSV, TSV and markdown, once: before the first rows, or at the end of an empty result; never
    /// before a statement that fails before its first batch.
    fn header(&mut self, out: &mut dyn Write) -> Result<()> {
        if !std::mem::take(&mut self.header_pending) {
            return Ok(());
        }
        match self.options.format {
            PrintFormat::Csv | PrintFormat::Tsv => {
                self.write_csv(&RecordBatch::new_empty(Arc::clone(&self.schema)), true, out)?;
            }
            PrintFormat::Markdown => {
                let names: Vec<String> = self.schema.fields().iter().map(|f| escape_markdown(f.name())).collect();
                writeln!(out, "| {} |", names.join(" | "))?;
                writeln!(out, "|{}", names.iter().map(|_| "---|").collect::<String>())?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The part of `batch` still to show under `.maxrows`.
    fn shown(&self, batch: &RecordBatch) -> Option<RecordBatch> {
        let before = self.rows - batch.num_rows();
        let left = match self.limit() {
            Some(max) => max.saturating_sub(before),
            None => usize::MAX,
        };
        (left > 0 && batch.num_rows() > 0).then(|| batch.slice(0, left.min(batch.num_rows())))
    }

    /// The most rows shown: `.maxrows` in the formats people read; the table format, which must hold its rows
    /// to align them, [`TABLE_MAX_ROWS`] at most even without it (the rest are counted, never held).
    fn limit(&self) -> Option<usize> {
        match self.options.format {
            PrintFormat::Table => Some(self.options.max_rows.unwrap_or(TABLE_MAX_ROWS).min(TABLE_MAX_ROWS)),
            f if f.is_cut() => self.options.max_rows,
            _ => None,
        }
    }

    /// Writes `batch` as CSV or TSV rows, after the header line if `header`.
    fn write_csv(&self, batch: &RecordBatch, header: bool, out: &mut dyn Write) -> Result<()> {
        let delimiter = if self.options.format == PrintFormat::Csv { b',' } else { b'\t' };
        let mut builder = CsvWriterBuilder::new().with_header(header).with_delimiter(delimiter);
        if self.options.format == PrintFormat::Tsv {
            builder = builder.with_null(self.options.null.clone()).with_quote(b'\0');
        }
        builder.build(out).write(&nested_as_text(batch)?)?;
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch, out: &mut dyn Write) -> Result<()> {
        self.header(out)?;
        self.rows += batch.num_rows();
        let Some(batch) = self.shown(batch) else {
            return Ok(());
        };
        match self.options.format {
            PrintFormat::Table => self.held.push(batch),
            PrintFormat::Csv | PrintFormat::Tsv => self.write_csv(&batch, false, out)?,
            PrintFormat::Json => {
                // each batch as an array of its own, joined into one
                let mut text = Vec::new();
                let mut writer: ArrayWriter<_> = JsonWriterBuilder::new().with_explicit_nulls(true).build(&mut text);
                writer.write(&batch)?;
                writer.finish()?;
                drop(writer);
                let inner = text.strip_prefix(b"[").and_then(|t| t.strip_suffix(b"]")).unwrap_or(&text);
                out.write_all(if self.json_open { b"," } else { b"[" })?;
                out.write_all(inner)?;
                self.json_open = true;
            }
            PrintFormat::Jsonl => {
                let mut writer: LineDelimitedWriter<_> =
                    JsonWriterBuilder::new().with_explicit_nulls(true).build(&mut *out);
                writer.write(&batch)?;
                writer.finish()?;
            }
            PrintFormat::Markdown => {
                for row in crate::rows::rows(std::slice::from_ref(&batch), &self.options.null)? {
                    let cells: Vec<String> = row.iter().map(|c| escape_markdown(c)).collect();
                    writeln!(out, "| {} |", cells.join(" | "))?;
                }
            }
            PrintFormat::Line => {
                let width = self.schema.fields().iter().map(|f| f.name().chars().count()).max().unwrap_or(0);
                let before = self.rows - batch.num_rows();
                for (i, row) in crate::rows::rows(std::slice::from_ref(&batch), &self.options.null)?.iter().enumerate()
                {
                    if before + i > 0 {
                        writeln!(out)?;
                    }
                    for (field, value) in self.schema.fields().iter().zip(row) {
                        writeln!(out, "{:>width$} = {value}", field.name())?;
                    }
                }
            }
        }
        out.flush().map_err(DataFusionError::IoError)
    }

    fn finish(mut self, out: &mut dyn Write) -> Result<usize> {
        self.header(out)?;
        match self.options.format {
            PrintFormat::Table => {
                if self.held.is_empty() {
                    self.held.push(RecordBatch::new_empty(Arc::clone(&self.schema)));
                }
                writeln!(out, "{}", pretty_format_batches_with_options(&self.held, &self.format)?)?;
            }
            PrintFormat::Json => {
                out.write_all(if self.json_open { b"]\n" } else { b"[]\n" })?;
            }
            _ => {}
        }
        if let Some(max) = self.limit().filter(|max| self.rows > *max) {
            let hint = if max == TABLE_MAX_ROWS && self.options.format == PrintFormat::Table {
                "the table format shows no more; --format csv (or .mode csv) prints them all"
            } else {
                ".maxrows changes this"
            };
            writeln!(out, "({max} of {} rows shown; {hint})", self.rows)?;
        }
        out.flush().map_err(DataFusionError::IoError)?;
        Ok(self.rows)
    }
}

fn escape_markdown(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// `batch` with every nested column (a list such as `suppressed_columns`, a struct such as an `ssum` result, a
/// map) as the text people read it as, `[a, b]` and `{value: 10, low: 8}`, as DuckDB prints them: CSV and TSV
/// have no nested values. NULL stays NULL.
pub fn nested_as_text(batch: &RecordBatch) -> Result<RecordBatch> {
    let nested = |t: &DataType| t.is_nested() || matches!(t, DataType::Union(..) | DataType::Map(..));
    if !batch.schema().fields().iter().any(|f| nested(f.data_type())) {
        return Ok(batch.clone());
    }
    // a NULL inside a list or struct reads as DuckDB writes it
    let options = FormatOptions::default().with_null("NULL");
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !nested(field.data_type()) {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
            continue;
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let text: StringArray =
            (0..column.len()).map(|i| column.is_valid(i).then(|| formatter.value(i).to_string())).collect();
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(Arc::new(text) as ArrayRef);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &options)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray, StructArray};

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
        // two batches, so every format joins batches
        (schema, vec![batch.slice(0, 1), batch.slice(1, 1)])
    }

    fn render(options: &PrintOptions) -> String {
        let (schema, batches) = sample();
        let mut out = Vec::new();
        assert_eq!(options.print(&mut out, &schema, &batches).unwrap(), 2);
        String::from_utf8(out).unwrap()
    }

    fn cbs(format: PrintFormat) -> PrintOptions {
        PrintOptions::new(format, true)
    }

    #[test]
    fn every_format() {
        assert_eq!(
            render(&cbs(PrintFormat::Markdown)),
            "| region | meldingen |\n|---|---|\n| Almelo | 245 |\n| a\\|b | . |\n"
        );
        assert_eq!(render(&cbs(PrintFormat::Tsv)), "region\tmeldingen\nAlmelo\t245\na|b\t.\n");
        assert_eq!(render(&cbs(PrintFormat::Csv)), "region,meldingen\nAlmelo,245\na|b,\n");
        assert_eq!(
            render(&cbs(PrintFormat::Jsonl)),
            "{\"region\":\"Almelo\",\"meldingen\":245}\n{\"region\":\"a|b\",\"meldingen\":null}\n"
        );
        assert_eq!(
            render(&cbs(PrintFormat::Json)),
            "[{\"region\":\"Almelo\",\"meldingen\":245},{\"region\":\"a|b\",\"meldingen\":null}]\n"
        );
        assert_eq!(
            render(&cbs(PrintFormat::Line)),
            "   region = Almelo\nmeldingen = 245\n\n   region = a|b\nmeldingen = .\n"
        );
        assert!(render(&cbs(PrintFormat::Table)).contains("| a|b    | .         |"));
    }

    /// Regression (second probe, item 11): CSV printed its header before a statement that then failed.
    #[tokio::test]
    async fn no_header_before_a_failing_statement() {
        use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
        let (schema, _) = sample();
        let failing = futures::stream::iter(vec![Err(DataFusionError::Execution("division by zero".into()))]);
        let stream = Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&schema), failing));
        let mut out = Vec::new();
        let result = cbs(PrintFormat::Csv).print_stream(&mut out, stream, &mut |_| {}).await;
        assert!(result.is_err());
        assert_eq!(String::from_utf8(out).unwrap(), "", "no header before the error");
    }

    #[test]
    fn empty_results_keep_their_header() {
        let (schema, _) = sample();
        let print = |format| {
            let mut out = Vec::new();
            cbs(format).print(&mut out, &schema, &[]).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(print(PrintFormat::Csv), "region,meldingen\n");
        assert_eq!(print(PrintFormat::Json), "[]\n");
        assert!(print(PrintFormat::Table).contains("| region | meldingen |"));
    }

    #[test]
    fn max_rows_cuts_and_says_so() {
        let one = PrintOptions { max_rows: Some(1), ..PrintOptions::new(PrintFormat::Markdown, false) };
        let text = render(&one);
        assert!(text.ends_with("| Almelo | 245 |\n(1 of 2 rows shown; .maxrows changes this)\n"), "{text}");
        let csv = PrintOptions { format: PrintFormat::Csv, ..one };
        assert_eq!(render(&csv).lines().count(), 3);
    }

    /// Lists and structs print as text in CSV and TSV (`[a, b]`, `{value: 10, low: 8}`), natively in JSON, and
    /// in every other format too: `SELECT *` of a table with `suppressed_columns` works in every format.
    #[test]
    fn lists_and_structs_in_every_format() {
        use datafusion::arrow::array::{ListBuilder, StringBuilder};
        let value = Arc::new(Int64Array::from(vec![Some(10), None])) as ArrayRef;
        let low = Arc::new(Int64Array::from(vec![Some(8), Some(0)])) as ArrayRef;
        let ssum = StructArray::from(vec![
            (Arc::new(Field::new("value", DataType::Int64, true)), value),
            (Arc::new(Field::new("low", DataType::Int64, true)), low),
        ]);
        let mut list = ListBuilder::new(StringBuilder::new());
        list.values().append_value("gestarte_adviezen");
        list.values().append_value("ontvangen_meldingen");
        list.append(true);
        list.append(false);
        let list = list.finish();
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", ssum.data_type().clone(), true),
            Field::new("hidden", list.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(ssum), Arc::new(list)]).unwrap();
        let print = |format| {
            let mut out = Vec::new();
            PrintOptions::new(format, false).print(&mut out, &schema, std::slice::from_ref(&batch)).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            print(PrintFormat::Csv),
            "s,hidden\n\"{value: 10, low: 8}\",\"[gestarte_adviezen, ontvangen_meldingen]\"\n\"{value: NULL, low: 0}\",\n"
        );
        assert_eq!(
            print(PrintFormat::Tsv),
            "s\thidden\n{value: 10, low: 8}\t[gestarte_adviezen, ontvangen_meldingen]\n{value: NULL, low: 0}\tNULL\n"
        );
        assert_eq!(
            print(PrintFormat::Jsonl),
            "{\"s\":{\"value\":10,\"low\":8},\"hidden\":[\"gestarte_adviezen\",\"ontvangen_meldingen\"]}\n\
             {\"s\":{\"value\":null,\"low\":0},\"hidden\":null}\n"
        );
        assert!(
            print(PrintFormat::Markdown).contains("| {value: 10, low: 8} | [gestarte_adviezen, ontvangen_meldingen] |")
        );
        assert!(print(PrintFormat::Line).contains("hidden = [gestarte_adviezen, ontvangen_meldingen]"));
        assert!(print(PrintFormat::Table).contains("[gestarte_adviezen, ontvangen_meldingen]"));
        assert!(print(PrintFormat::Json).starts_with("[{\"s\":{\"value\":10"));
    }

    /// Regression (second probe, item 7): `-c` in the table format held the whole result (8.8 GB for 20M rows).
    #[test]
    fn the_table_format_holds_a_bounded_number_of_rows() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from_iter_values(0..(TABLE_MAX_ROWS as i64 + 5)))],
        )
        .unwrap();
        let options = PrintOptions::new(PrintFormat::Table, false);
        let mut printer = Printer::new(&options, &schema).unwrap();
        let mut out = Vec::new();
        for _ in 0..3 {
            printer.write(&batch, &mut out).unwrap();
        }
        assert_eq!(printer.held.iter().map(RecordBatch::num_rows).sum::<usize>(), TABLE_MAX_ROWS);
        let rows = printer.finish(&mut out).unwrap();
        assert_eq!(rows, 3 * (TABLE_MAX_ROWS + 5));
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with(&format!("({TABLE_MAX_ROWS} of {rows} rows shown; the table format shows no more; --format csv (or .mode csv) prints them all)\n")), "{}", &text[text.len() - 200..]);
    }

    #[test]
    fn names_parse() {
        for name in PrintFormat::NAMES {
            assert_eq!(PrintFormat::parse(name).unwrap().name(), *name);
        }
        assert_eq!(PrintFormat::parse("md"), Some(PrintFormat::Markdown));
    }
}
