//! Running SQL text: one or more statements, each planned and executed in turn, with a live
//! progress line for long queries on a terminal.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;

use crate::catalog;

/// A finished statement: its schema, batches and how long it took.
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub elapsed: Duration,
}

impl QueryResult {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// The statements in `sql`, split by the SQL parser (so `;` inside strings does not split).
pub fn split_statements(sql: &str) -> Result<Vec<datafusion::sql::parser::Statement>> {
    let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
    Ok(DFParser::parse_sql_with_dialect(sql, &dialect)?.into_iter().collect())
}

/// Runs every statement in `sql` on the tables of `data_dir`, handing each result to `on_result` as soon
/// as it is complete. Stops at the first error. With `progress`, a query still running after a second
/// shows the elapsed time and the rows and bytes scanned so far on standard error, if that is a terminal.
/// A statement that changes `datafusion.execution.parquet.*` makes the tables again, so the statements
/// after it read with the new settings.
pub async fn run_sql(
    ctx: &SessionContext,
    data_dir: &Path,
    sql: &str,
    progress: bool,
    on_result: &mut dyn FnMut(QueryResult) -> Result<()>,
) -> Result<()> {
    for statement in split_statements(sql)? {
        let started = Instant::now();
        let parquet_settings = ctx.copied_config().options().execution.parquet.clone();
        let plan = ctx.state().statement_to_plan(statement).await?;
        let df = ctx.execute_logical_plan(plan).await?;
        let schema = df.schema().inner().clone();
        let physical = df.create_physical_plan().await?;
        let batches =
            collect_with_progress(physical, ctx, progress && std::io::stderr().is_terminal(), started).await?;
        catalog::parquet_settings_changed(ctx, data_dir, &parquet_settings).await?;
        on_result(QueryResult { schema, batches, elapsed: started.elapsed() })?;
    }
    Ok(())
}

async fn collect_with_progress(
    plan: Arc<dyn ExecutionPlan>,
    ctx: &SessionContext,
    progress: bool,
    started: Instant,
) -> Result<Vec<RecordBatch>> {
    let work = collect(plan.clone(), ctx.task_ctx());
    tokio::pin!(work);
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let mut shown = false;
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = ticker.tick(), if progress => {
                if started.elapsed() >= Duration::from_secs(1) {
                    let (rows, bytes) = scanned(plan.as_ref());
                    eprint!("\r\x1b[2K{:.1} s, {} rows, {} scanned", started.elapsed().as_secs_f64(), group_digits(rows), human_bytes(bytes));
                    let _ = std::io::stderr().flush();
                    shown = true;
                }
            }
        }
    };
    if shown {
        eprint!("\r\x1b[2K");
    }
    result
}

/// Rows and bytes read so far by the plan's leaves (its scans).
fn scanned(plan: &dyn ExecutionPlan) -> (usize, usize) {
    if plan.children().is_empty() {
        let metrics = plan.metrics();
        let rows = metrics.as_ref().and_then(|m| m.output_rows()).unwrap_or(0);
        let bytes = metrics.as_ref().and_then(|m| m.sum_by_name("bytes_scanned")).map(|v| v.as_usize()).unwrap_or(0);
        return (rows, bytes);
    }
    plan.children().iter().map(|c| scanned(c.as_ref())).fold((0, 0), |(r, b), (r2, b2)| (r + r2, b + b2))
}

/// `12345678` → `12,345,678`.
pub fn group_digits(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn human_bytes(n: usize) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Reads a SQL script file, naming the file when that fails.
pub fn read_script(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| DataFusionError::Execution(format!("cannot read {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(1234567), "1,234,567");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
