//! Running one client query through the session's runner (read-only, parameters bound, a memory pool of
//! its own): `?` placeholders, a deadline, a bounded number of queries at once, and the schema that goes
//! over the wire.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use arrow_flight::error::FlightError;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use futures::{Stream, StreamExt};
use tokio::runtime::Runtime;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tonic::Status;

use crate::session::{Options, ReadOnly, Running, Session};

/// Limits that keep one client from taking the server down.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Memory one query's operators may reserve (sorts, joins, aggregations).
    pub memory_per_query: usize,
    /// Wall time from the start of execution to the last batch.
    pub query_timeout: Duration,
    /// Queries executing at once; more wait for a slot.
    pub max_concurrent: usize,
    /// How long a query waits for a slot before RESOURCE_EXHAUSTED.
    pub queue_timeout: Duration,
}

/// The shared session plus the limits; every query gets a memory pool of its own.
///
/// Queries execute on a runtime of their own, so CPU-bound operators never delay the runtime that answers
/// RPCs: a client's GetTables or a new connection is served while other queries keep every core busy.
pub struct Engine {
    session: Arc<Session>,
    limits: Limits,
    slots: Arc<Semaphore>,
    queries: Option<Runtime>,
}

/// Batches a query task may run ahead of its client: the rest waits until the client reads (backpressure).
const BATCHES_AHEAD: usize = 2;

/// The stack of a planning thread: planning recurses over a statement's expressions.
const PLANNING_STACK: usize = 16 << 20;

/// The longest statement a client may send, in bytes.
const MAX_SQL_BYTES: usize = 1 << 20;

/// A planned query, ready to run; `wire_schema` is what the client is told and what it receives.
pub struct Planned {
    running: Running,
    pub wire_schema: SchemaRef,
}

/// The shape of a prepared statement: its result columns and its parameters (`$1`, `$2`, ...).
pub struct Described {
    pub dataset_schema: SchemaRef,
    pub parameter_schema: SchemaRef,
}

impl Engine {
    pub fn new(session: Session, limits: Limits) -> std::io::Result<Self> {
        let slots = Arc::new(Semaphore::new(limits.max_concurrent.max(1)));
        let queries = crate::session::runtime("vtsql-query")?;
        Ok(Engine { session: Arc::new(session), limits, slots, queries: Some(queries) })
    }

    pub fn context(&self) -> &SessionContext {
        self.session.context()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How a client statement runs: read-only, in a memory pool of the query's own.
    fn options(&self, params: &[ScalarValue]) -> Options {
        Options {
            read_only: true,
            params: params.to_vec(),
            memory_limit: Some(self.limits.memory_per_query),
            timeout: Some(self.limits.query_timeout),
        }
    }

    /// Plans `sql` with parameter values bound, down to the physical plan whose schema is streamed.
    pub async fn plan(&self, sql: &str, params: &[ScalarValue]) -> Result<Planned, Status> {
        let (session, sql, options) = (Arc::clone(&self.session), client_sql(sql)?, self.options(params));
        let running = self.within_deadline(async move { session.start(&sql, &options).await }).await?;
        let wire_schema = wire_schema(&running.plan.schema());
        Ok(Planned { running, wire_schema })
    }

    /// The result and parameter schemas of a statement, before values are bound.
    pub async fn describe(&self, sql: &str) -> Result<Described, Status> {
        let (session, sql, options) = (Arc::clone(&self.session), client_sql(sql)?, self.options(&[]));
        let described = self.within_deadline(async move { session.describe(&sql, &options).await }).await?;
        let parameter_schema = Schema::new(
            described
                .parameters
                .iter()
                .enumerate()
                .map(|(i, t)| Field::new(format!("${}", i + 1), t.clone().unwrap_or(DataType::Null), true))
                .collect::<Vec<_>>(),
        );
        Ok(Described { dataset_schema: wire_schema(&described.schema), parameter_schema: Arc::new(parameter_schema) })
    }

    fn runtime(&self) -> Result<&Runtime, Status> {
        self.queries.as_ref().ok_or_else(|| Status::unavailable("the server is shutting down"))
    }

    /// Plans on a thread of its own, and waits for it up to the query's deadline: constant folding
    /// evaluates functions, and a statement can make that as costly as running a query. Neither the
    /// runtime that answers RPCs nor the one that runs queries (busy with other clients' queries) waits for
    /// it; a plan past its deadline is abandoned to finish on its thread.
    async fn within_deadline<T: Send + 'static>(
        &self,
        planning: impl Future<Output = datafusion::error::Result<T>> + Send + 'static,
    ) -> Result<T, Status> {
        let runtime = self.runtime()?.handle().clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("vtsql-plan".into())
            .stack_size(PLANNING_STACK)
            .spawn(move || {
                let _ = tx.send(runtime.block_on(planning));
            })
            .map_err(|e| Status::internal(format!("cannot start planning: {e}")))?;
        match tokio::time::timeout(self.limits.query_timeout, rx).await {
            Ok(Ok(done)) => done.map_err(status),
            Ok(Err(_)) => Err(Status::internal("planning stopped without an answer")),
            Err(_) => Err(Status::deadline_exceeded(format!(
                "planning the statement took longer than the server's limit of {:?}",
                self.limits.query_timeout
            ))),
        }
    }

    /// Starts a planned query once a slot is free; the stream ends at the deadline with DEADLINE_EXCEEDED.
    pub async fn execute(&self, planned: Planned, label: String) -> Result<QueryStream, Status> {
        let permit = match tokio::time::timeout(self.limits.queue_timeout, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(Status::unavailable("the server is shutting down")),
            Err(_) => {
                return Err(Status::resource_exhausted(format!(
                    "{} queries are running and none finished within {:?}; try again later",
                    self.limits.max_concurrent, self.limits.queue_timeout
                )));
            }
        };
        let queries = self.runtime()?;
        let started = planned.running.started;
        let (tx, rx) = mpsc::channel(BATCHES_AHEAD);
        let task = queries.spawn(async move {
            // The slot is held until the work has really stopped, not only until the client left, and is
            // free again before the client hears of the end: a client's next query never finds it taken.
            let mut batches = match planned.running.stream() {
                Ok(batches) => batches,
                Err(e) => {
                    drop(permit);
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            while let Some(item) = batches.next().await {
                if let Err(e) = item {
                    drop(batches);
                    drop(permit);
                    let _ = tx.send(Err(e)).await;
                    return;
                }
                if tx.send(item).await.is_err() {
                    break;
                }
            }
            drop(batches);
            drop(permit);
        });
        Ok(QueryStream {
            rx,
            task,
            wire_schema: planned.wire_schema,
            // the deadline counts from when planning began
            deadline: Box::pin(tokio::time::sleep_until((started + self.limits.query_timeout).into())),
            timeout: self.limits.query_timeout,
            ended: None,
            started: Instant::now(),
            rows: 0,
            label,
        })
    }
}

/// A client's statement as DataFusion reads it, if it is not too long: `?` placeholders numbered.
pub(super) fn client_sql(sql: &str) -> Result<String, Status> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(Status::invalid_argument(format!(
            "the statement is {} KiB long; vtsql serve takes statements of up to {} KiB",
            sql.len() >> 10,
            MAX_SQL_BYTES >> 10
        )));
    }
    number_placeholders(sql)
}

/// Rewrites `?` placeholders (what ADBC and DB-API clients write) as `$1`, `$2`, ... (what DataFusion reads).
/// The tokenizer finds them, so a `?` inside a string or comment stays.
pub fn number_placeholders(sql: &str) -> Result<String, Status> {
    if !sql.contains('?') {
        return Ok(sql.to_string());
    }
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| Status::invalid_argument(format!("SQL error: {e}")))?;
    // Token locations are 1-based line and column (in characters); turn them into byte offsets.
    let mut line_starts = vec![0];
    line_starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
    let offset = |line: u64, column: u64| -> Option<usize> {
        let start = *line_starts.get(usize::try_from(line).ok()?.checked_sub(1)?)?;
        let skip = usize::try_from(column).ok()?.checked_sub(1)?;
        sql[start..].char_indices().nth(skip).map(|(i, _)| start + i)
    };
    let mut out = String::with_capacity(sql.len() + 8);
    let mut copied = 0;
    let mut n = 0;
    for token in tokens {
        if token.token == Token::Placeholder("?".into()) {
            let at = offset(token.span.start.line, token.span.start.column)
                .filter(|at| sql[*at..].starts_with('?'))
                .ok_or_else(|| Status::internal("cannot locate a `?` placeholder"))?;
            n += 1;
            out.push_str(&sql[copied..at]);
            out.push_str(&format!("${n}"));
            copied = at + 1;
        }
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

/// The schema sent to clients: dictionaries expanded and view types as plain strings and binaries, which
/// every Flight SQL client (ADBC's Go driver, JDBC, older pyarrow) reads.
pub fn wire_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<FieldRef> = schema.fields().iter().map(wire_field).collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn wire_field(field: &FieldRef) -> FieldRef {
    let t = wire_type(field.data_type());
    if &t == field.data_type() { Arc::clone(field) } else { Arc::new(field.as_ref().clone().with_data_type(t)) }
}

fn wire_type(t: &DataType) -> DataType {
    match t {
        DataType::Dictionary(_, values) => wire_type(values),
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::List(f) => DataType::List(wire_field(f)),
        DataType::LargeList(f) => DataType::LargeList(wire_field(f)),
        DataType::ListView(f) => DataType::List(wire_field(f)),
        DataType::LargeListView(f) => DataType::LargeList(wire_field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(wire_field(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(wire_field).collect::<Fields>()),
        DataType::Map(f, sorted) => DataType::Map(wire_field(f), *sorted),
        other => other.clone(),
    }
}

/// Casts a batch to the wire schema (a no-op when nothing needs converting).
pub fn to_wire(batch: RecordBatch, wire: &SchemaRef) -> Result<RecordBatch, DataFusionError> {
    if batch.schema().fields() == wire.fields() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(wire.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                cast(column, field.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(wire), columns)?)
}

/// Maps an engine error to a gRPC status: exhausted memory is RESOURCE_EXHAUSTED, bugs are INTERNAL, and
/// everything else is the client's statement (INVALID_ARGUMENT).
pub fn status(e: DataFusionError) -> Status {
    let message = e.strip_backtrace();
    if let DataFusionError::External(inner) = e.find_root()
        && let Some(refused) = inner.downcast_ref::<ReadOnly>()
    {
        return Status::permission_denied(format!("vtsql serve is read-only: {refused}"));
    }
    match e.find_root() {
        DataFusionError::ResourcesExhausted(_) => Status::resource_exhausted(message),
        DataFusionError::Internal(_) => Status::internal(message),
        _ => Status::invalid_argument(message),
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed inside the server's own runtime.
        if let Some(queries) = self.queries.take() {
            queries.shutdown_background();
        }
    }
}

/// A running query as the client sees it: batches cast to the wire schema, ended by the deadline. Dropping
/// it (the client went away, or the deadline passed) aborts the query task, which cancels the query.
pub struct QueryStream {
    rx: mpsc::Receiver<Result<RecordBatch, DataFusionError>>,
    task: JoinHandle<()>,
    wire_schema: SchemaRef,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
    /// How the query ended, once it has: `done`, `failed`, `timed out`; `None` at drop means cancelled.
    ended: Option<&'static str>,
    started: Instant,
    rows: usize,
    label: String,
}

impl Stream for QueryStream {
    type Item = Result<RecordBatch, FlightError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended.is_some() {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            // Stop the work, and answer only once it has stopped and its slot is free.
            self.task.abort();
            if Pin::new(&mut self.task).poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.ended = Some("timed out");
            let message = format!("the query ran longer than the server's limit of {:?} and was stopped", self.timeout);
            return Poll::Ready(Some(Err(FlightError::Tonic(Box::new(Status::deadline_exceeded(message))))));
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(batch))) => {
                self.rows += batch.num_rows();
                let wire = Arc::clone(&self.wire_schema);
                Poll::Ready(Some(to_wire(batch, &wire).map_err(|e| FlightError::Tonic(Box::new(status(e))))))
            }
            Poll::Ready(Some(Err(e))) => {
                self.ended = Some("failed");
                Poll::Ready(Some(Err(FlightError::Tonic(Box::new(status(e))))))
            }
            Poll::Ready(None) => {
                self.ended = Some("done");
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for QueryStream {
    fn drop(&mut self) {
        self.task.abort();
        let state = self.ended.unwrap_or("cancelled");
        eprintln!(
            "vtsql serve: {state} in {:.1} ms, {} rows: {}",
            self.started.elapsed().as_secs_f64() * 1000.0,
            self.rows,
            self.label
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_marks_become_numbered_placeholders() {
        let sql = "SELECT '?', x -- why?\nFROM t WHERE a = ? AND b IN (?, ?) /* ? */";
        assert_eq!(
            number_placeholders(sql).unwrap(),
            "SELECT '?', x -- why?\nFROM t WHERE a = $1 AND b IN ($2, $3) /* ? */"
        );
        assert_eq!(number_placeholders("SELECT 'é', ?").unwrap(), "SELECT 'é', $1");
        assert_eq!(number_placeholders("SELECT $1").unwrap(), "SELECT $1");
    }

    #[test]
    fn wire_schema_expands_dictionaries_and_views() {
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8View));
        let schema = Schema::new(vec![
            Field::new("a", dict, true),
            Field::new("b", DataType::Int64, false),
            Field::new("s", DataType::Struct(vec![Field::new("v", DataType::Utf8View, true)].into()), true),
        ]);
        let wire = wire_schema(&schema);
        assert_eq!(wire.field(0).data_type(), &DataType::Utf8);
        assert!(!wire.field(1).is_nullable());
        assert_eq!(wire.field(2).data_type(), &DataType::Struct(vec![Field::new("v", DataType::Utf8, true)].into()));
    }
}
