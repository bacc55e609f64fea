//! Running SQL text at the prompt and in scripts: each statement through the session's runner, its
//! batches printed as they arrive, with a live progress line for long queries on a terminal.

use std::io::{IsTerminal, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use datafusion::physical_plan::ExecutionPlan;
use futures::{Stream, StreamExt};

use super::Output;
use super::print_format::PrintOptions;
use crate::session::{Options, Session};

/// The last result, kept for `.chart` while it is small: a result too big to chart is not held in
/// memory only in case it is charted.
#[derive(Default)]
pub struct Kept {
    pub schema: Option<SchemaRef>,
    pub batches: Vec<RecordBatch>,
    /// More rows came than are kept.
    pub cut: bool,
    bytes: usize,
}

/// At most this many rows (and bytes) of the last result are kept for `.chart`.
const KEEP_ROWS: usize = 100_000;
const KEEP_BYTES: usize = 64 << 20;

impl Kept {
    fn new(schema: SchemaRef) -> Self {
        Kept { schema: Some(schema), ..Kept::default() }
    }

    fn add(&mut self, batch: &RecordBatch) {
        if self.cut {
            return;
        }
        let rows: usize = self.batches.iter().map(|b| b.num_rows()).sum::<usize>() + batch.num_rows();
        self.bytes += batch.get_array_memory_size();
        if rows > KEEP_ROWS || self.bytes > KEEP_BYTES {
            self.cut = true;
            self.batches.clear();
        } else {
            self.batches.push(batch.clone());
        }
    }
}

/// Runs every statement in `sql`, printing each result to `out` as its batches arrive; returns the last
/// result (for `.chart`). Stops at the first error. With `progress`, a query still running after a second
/// shows the elapsed time and the rows and bytes scanned so far on standard error, if that is a terminal.
pub async fn run_sql(
    session: &Session,
    sql: &str,
    print: &PrintOptions,
    progress: bool,
    output: &mut Output,
) -> Result<Option<Kept>> {
    let mut execution = session.execute(sql, &Options::default())?;
    let mut last = None;
    while let Some(running) = execution.next().await? {
        let mut batches = running.stream()?;
        if progress && std::io::stderr().is_terminal() {
            batches = Box::pin(Progress::new(batches, Arc::clone(&running.plan), running.started));
        }
        let mut kept = Kept::new(batches.schema());
        let rows = print.print_stream(&mut *output.for_next_result(), batches, &mut |batch| kept.add(batch)).await?;
        if print.timer {
            eprintln!("{} rows in {:.3} s", group_digits(rows), running.started.elapsed().as_secs_f64());
        }
        last = Some(kept);
    }
    Ok(last)
}

/// A statement's batches, with a progress line on standard error while it runs longer than a second.
struct Progress {
    inner: SendableRecordBatchStream,
    plan: Arc<dyn ExecutionPlan>,
    started: Instant,
    ticker: tokio::time::Interval,
    shown: bool,
}

impl Progress {
    fn new(inner: SendableRecordBatchStream, plan: Arc<dyn ExecutionPlan>, started: Instant) -> Self {
        let ticker = tokio::time::interval(Duration::from_millis(250));
        Progress { inner, plan, started, ticker, shown: false }
    }

    fn clear(&mut self) {
        if std::mem::take(&mut self.shown) {
            eprint!("\r\x1b[2K");
        }
    }
}

impl Stream for Progress {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = self.inner.poll_next_unpin(cx) {
            self.clear();
            return Poll::Ready(item);
        }
        while self.ticker.poll_tick(cx).is_ready() {
            if self.started.elapsed() >= Duration::from_secs(1) {
                let (rows, bytes) = scanned(self.plan.as_ref());
                let seconds = self.started.elapsed().as_secs_f64();
                eprint!("\r\x1b[2K{seconds:.1} s, {} rows, {} scanned", group_digits(rows), human_bytes(bytes));
                let _ = std::io::stderr().flush();
                self.shown = true;
            }
        }
        Poll::Pending
    }
}

impl RecordBatchStream for Progress {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
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
