//! Running SQL text: one or more statements, each planned and executed in turn.

use std::io::Write;
use std::time::{Duration, Instant};

use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::collect;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;

use super::print_format::PrintFormat;

/// How results are shown.
#[derive(Debug, Clone)]
pub struct PrintOptions {
    pub format: PrintFormat,
    /// Print how long each statement took (to stderr).
    pub timer: bool,
}

/// Runs every statement in `sql`, printing each result to `out`. Stops at the first error.
pub async fn run_sql(ctx: &SessionContext, sql: &str, options: &PrintOptions, out: &mut dyn Write) -> Result<()> {
    let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
    let statements = DFParser::parse_sql_with_dialect(sql, &dialect)?;
    for statement in statements {
        let started = Instant::now();
        let state = ctx.state();
        let plan = state.statement_to_plan(statement).await?;
        let df = ctx.execute_logical_plan(plan).await?;
        let schema = df.schema().inner().clone();
        let physical = df.create_physical_plan().await?;
        let batches = collect(physical, ctx.task_ctx()).await?;
        options.format.print(out, &schema, &batches)?;
        if options.timer {
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            eprintln!("{rows} rows in {}", format_elapsed(started.elapsed()));
        }
    }
    Ok(())
}

fn format_elapsed(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// Reads a SQL script file, naming the file when that fails.
pub fn read_script(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| DataFusionError::Execution(format!("cannot read {}: {e}", path.display())))
}
