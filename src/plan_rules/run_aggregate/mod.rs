//! Partial aggregation that looks up a run of equal group keys once: [`RunAwarePartialAggregate`] swaps
//! DataFusion's partial `AggregateExec` for [`RunPartialAggregateExec`].
//!
//! The fact files are sorted by region level, kind of violence and region, and each file holds one
//! half-year, so a query grouped by period, level or kind gets batches in which the keys come in long
//! runs of thousands of rows. DataFusion hashes and compares the keys of every row, which for text keys
//! costs more than reading them. This operator finds the
//! runs first (arrow's `partition`, a comparison of neighbouring rows), looks up only each run's first
//! row in DataFusion's own group table, and gives every row of a run that group. The aggregates are
//! DataFusion's own accumulators and the output is the partial state DataFusion's final stage expects,
//! so only the lookup changes. Batches with short runs (grouped by region and kind, every row is a new
//! key) take the next path, and after a few such batches in a row the stream stops looking for runs.
//!
//! The second path follows the order in which groups were first seen (`Sequence`): every half-year file
//! holds the same regions and kinds in the same order, so a query grouped by region and kind meets its
//! groups in the same sequence once per file. A batch whose keys equal the next stretch of that sequence gets its
//! groups by comparison, without hashing; any other batch goes to DataFusion's lookup.
//!
//! On the run path, a `sum` of integers and a `count` do not take their rows one by one either: the
//! partial state of each run (its sum, its number of non-NULL values) is computed over the run's slice of
//! values and merged into the group once (`RunFold`), so a run costs as much as one row of the group
//! table.
//!
//! Local sessions only: the operator has no serialised form, so a cluster's plans keep DataFusion's.

use std::collections::VecDeque;
use std::fmt;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{partition, take};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::internal_err;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::{GroupsAccumulatorAdapter, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode, aggregate_expressions, evaluate_many};
use datafusion::physical_plan::execution_plan::apply_expression_roots;
use datafusion::physical_plan::metrics::{BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, InputOrderMode, PlanProperties};
use futures::{Stream, StreamExt};

mod fold;
mod sequence;

use fold::RunFold;
use sequence::Sequence;

/// A batch takes the run path when its rows are at least this many times its runs.
const MIN_RUN_LENGTH: usize = 4;
/// After this many batches in a row without runs (or off the sequence), a stream stops looking for them.
const GIVE_UP_AFTER: usize = 4;

/// Replaces each partial `AggregateExec` of a plain `GROUP BY` (no grouping sets, `DISTINCT`, ordered
/// aggregates, limit or dynamic filter; keys of text, integer, date or boolean type) by
/// [`RunPartialAggregateExec`].
#[derive(Debug, Default)]
pub struct RunAwarePartialAggregate;

impl PhysicalOptimizerRule for RunAwarePartialAggregate {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        super::replace_each(plan, RunPartialAggregateExec::try_replace)
    }

    fn name(&self) -> &str {
        "run_aware_partial_aggregate"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether neighbouring-row equality (`partition`) agrees with grouping equality for this key type.
/// Floats are left out: -0.0 and 0.0, and NaNs, are where the two could part.
fn run_comparable(data_type: &DataType) -> bool {
    use DataType::*;
    matches!(
        data_type,
        Utf8 | LargeUtf8
            | Utf8View
            | Boolean
            | Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Date32
            | Date64
    )
}

/// The share of a bounded memory pool a partial aggregate leaves free (one part in this many): it emits its groups
/// rather than take the room the operators after it (a final aggregate that spills, a sort) need.
const HEADROOM: usize = 4;

/// DataFusion's partial aggregate with run-aware group lookup (see the module documentation).
#[derive(Debug, Clone)]
pub struct RunPartialAggregateExec {
    input: Arc<dyn ExecutionPlan>,
    group_by: Vec<Arc<dyn PhysicalExpr>>,
    group_names: Vec<String>,
    aggregates: Vec<Arc<AggregateFunctionExpr>>,
    filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    /// For each aggregate, how a run's partial state is computed at once, where it can be.
    folds: Vec<Option<RunFold>>,
    /// The schema of the group keys, as DataFusion's group table wants it.
    group_schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl RunPartialAggregateExec {
    /// The replacement of `aggregate`, or `None` when it is not a partial aggregate this operator
    /// computes exactly as DataFusion does.
    pub fn try_replace(aggregate: &AggregateExec) -> Result<Option<Self>> {
        let group_by = aggregate.group_expr();
        let input_schema = aggregate.input().schema();
        let eligible = *aggregate.mode() == AggregateMode::Partial
            && group_by.is_single()
            && !group_by.expr().is_empty()
            && aggregate.limit_options().is_none()
            && aggregate.dynamic_expressions_produced().is_empty()
            && *aggregate.input_order_mode() == InputOrderMode::Linear
            && aggregate.aggr_expr().iter().all(|a| !a.is_distinct() && a.order_bys().is_empty());
        if !eligible {
            return Ok(None);
        }
        let group_schema = group_by.group_schema(&input_schema)?;
        if !group_schema.fields().iter().all(|f| run_comparable(f.data_type())) {
            return Ok(None);
        }
        let folds = aggregate
            .aggr_expr()
            .iter()
            .zip(aggregate.filter_expr())
            .map(|(a, filter)| filter.is_none().then(|| RunFold::of(a, &input_schema)).flatten())
            .collect();
        Ok(Some(RunPartialAggregateExec {
            input: Arc::clone(aggregate.input()),
            group_by: group_by.expr().iter().map(|(e, _)| Arc::clone(e)).collect(),
            group_names: group_by.expr().iter().map(|(_, name)| name.clone()).collect(),
            aggregates: aggregate.aggr_expr().to_vec(),
            filters: aggregate.filter_expr().to_vec(),
            folds,
            group_schema,
            properties: Arc::clone(aggregate.properties()),
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }
}

impl DisplayAs for RunPartialAggregateExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let aggregates: Vec<&str> = self.aggregates.iter().map(|a| a.name()).collect();
        write!(f, "RunPartialAggregateExec: gby=[{}], aggr=[{}]", self.group_names.join(", "), aggregates.join(", "))
    }
}

impl ExecutionPlan for RunPartialAggregateExec {
    fn name(&self) -> &str {
        "RunPartialAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        let arguments = self.aggregates.iter().flat_map(|a| a.expressions());
        let roots: Vec<Arc<dyn PhysicalExpr>> =
            self.group_by.iter().cloned().chain(arguments).chain(self.filters.iter().flatten().cloned()).collect();
        apply_expression_roots(roots.iter(), f)
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        let input = super::only_child(self.name(), children)?;
        Ok(Arc::new(RunPartialAggregateExec { input, metrics: ExecutionPlanMetricsSet::new(), ..Self::clone(&self) }))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let accumulators = self.aggregates.iter().map(groups_accumulator).collect::<Result<Vec<_>>>()?;
        let reservation = MemoryConsumer::new(format!("RunPartialAggregateExec[{partition}]"))
            .with_can_spill(false)
            .register(context.memory_pool());
        let pool = Arc::clone(context.memory_pool());
        Ok(Box::pin(RunAggregateStream {
            input: Some(self.input.execute(partition, Arc::clone(&context))?),
            schema: self.schema(),
            group_by: self.group_by.clone(),
            arguments: aggregate_expressions(&self.aggregates, &AggregateMode::Partial, 0)?,
            filters: self.filters.clone(),
            folds: self.folds.clone(),
            group_values: new_group_values(Arc::clone(&self.group_schema), &GroupOrdering::None)?,
            accumulators,
            groups: Vec::new(),
            runs: Vec::new(),
            run_groups: Vec::new(),
            look_for_runs: true,
            batches_without_runs: 0,
            sequence: Sequence::default(),
            reservation,
            pool,
            batch_size: context.session_config().batch_size(),
            pending: VecDeque::new(),
            rows_in_runs: MetricBuilder::new(&self.metrics).counter("rows_in_runs", partition),
            rows_in_sequence: MetricBuilder::new(&self.metrics).counter("rows_in_sequence", partition),
            emitted_under_pressure: MetricBuilder::new(&self.metrics).counter("emitted_under_pressure", partition),
            sequence_over_limit: MetricBuilder::new(&self.metrics).counter("sequence_over_limit", partition),
            metrics: BaselineMetrics::new(&self.metrics, partition),
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The aggregate's own groups accumulator, or DataFusion's adapter over per-group accumulators (as
/// DataFusion's aggregate does).
fn groups_accumulator(aggregate: &Arc<AggregateFunctionExpr>) -> Result<Box<dyn GroupsAccumulator>> {
    if aggregate.groups_accumulator_supported() {
        return aggregate.create_groups_accumulator();
    }
    let aggregate = Arc::clone(aggregate);
    Ok(Box::new(GroupsAccumulatorAdapter::new(move || aggregate.create_accumulator())))
}

/// One input partition's groups and accumulators.
struct RunAggregateStream {
    /// `None` once the input has ended.
    input: Option<SendableRecordBatchStream>,
    schema: SchemaRef,
    group_by: Vec<Arc<dyn PhysicalExpr>>,
    arguments: Vec<Vec<Arc<dyn PhysicalExpr>>>,
    filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    folds: Vec<Option<RunFold>>,
    group_values: Box<dyn GroupValues>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    /// The group of each row of the current batch (on the run path, only when an aggregate takes rows).
    groups: Vec<usize>,
    /// The runs of the current batch, when it took the run path.
    runs: Vec<Range<usize>>,
    /// The group of each run of the current batch.
    run_groups: Vec<usize>,
    look_for_runs: bool,
    batches_without_runs: usize,
    sequence: Sequence,
    reservation: MemoryReservation,
    /// The pool it reserves from: it stops growing while the pool is crowded.
    pool: Arc<dyn MemoryPool>,
    batch_size: usize,
    /// Output not yet handed on.
    pending: VecDeque<RecordBatch>,
    /// Rows whose group came from their run's first row (`EXPLAIN ANALYZE` shows it).
    rows_in_runs: Count,
    /// Rows whose groups followed the order groups were first seen in.
    rows_in_sequence: Count,
    /// Times the groups were handed on before the input ended, for want of memory.
    emitted_under_pressure: Count,
    /// 1 where the stream stopped following the sequence because its groups outgrew it.
    sequence_over_limit: Count,
    metrics: BaselineMetrics,
}

impl RunAggregateStream {
    /// Finds the group of each row: each run looked up once where runs are long (`self.runs` and
    /// `self.run_groups`; `self.runs` stays empty otherwise), else by following the sequence where the keys
    /// do, else by DataFusion's lookup (`self.groups`).
    fn assign_groups(&mut self, keys: &[ArrayRef], rows: usize) -> Result<()> {
        let known = self.group_values.len();
        self.runs.clear();
        if self.look_for_runs {
            let ranges = partition(keys)?.ranges();
            if ranges.len() * MIN_RUN_LENGTH <= rows {
                self.batches_without_runs = 0;
                self.rows_in_runs.add(rows);
                let starts = UInt32Array::from_iter_values(ranges.iter().map(|r| r.start as u32));
                let firsts = keys.iter().map(|k| take(k.as_ref(), &starts, None)).collect::<Result<Vec<_>, _>>()?;
                self.group_values.intern(&firsts, &mut self.run_groups)?;
                self.runs = ranges;
                let total = self.group_values.len();
                return self.sequence.learn(&firsts, &self.run_groups, known, total);
            }
            self.batches_without_runs += 1;
            self.look_for_runs = self.batches_without_runs < GIVE_UP_AFTER;
        }
        if self.sequence.follow(keys, rows, &mut self.groups)? {
            self.rows_in_sequence.add(rows);
            return Ok(());
        }
        self.group_values.intern(keys, &mut self.groups)?;
        self.sequence.learn(keys, &self.groups, known, self.group_values.len())
    }

    fn aggregate(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let keys = self.group_by.iter().map(|e| e.evaluate(batch)?.into_array(rows)).collect::<Result<Vec<_>>>()?;
        self.assign_groups(&keys, rows)?;
        let in_runs = !self.runs.is_empty();
        if in_runs && self.folds.iter().any(Option::is_none) {
            self.groups.clear();
            for (run, &group) in self.runs.iter().zip(&self.run_groups) {
                self.groups.extend(std::iter::repeat_n(group, run.len()));
            }
        }
        let arguments = evaluate_many(&self.arguments, batch)?;
        let total_groups = self.group_values.len();
        for (((accumulator, values), filter), fold) in
            self.accumulators.iter_mut().zip(&arguments).zip(&self.filters).zip(&self.folds)
        {
            if let (true, Some(fold)) = (in_runs, fold) {
                let states = [fold.states(&values[0], &self.runs)];
                accumulator.merge_batch(&states, &self.run_groups, total_groups)?;
                continue;
            }
            let filter = match filter {
                Some(expr) => Some(expr.evaluate(batch)?.into_array(rows)?),
                None => None,
            };
            let filter = match &filter {
                Some(array) => match array.as_boolean_opt() {
                    Some(mask) => Some(mask),
                    None => return internal_err!("aggregate filter is {}, not boolean", array.data_type()),
                },
                None => None,
            };
            accumulator.update_batch(values, &self.groups, filter, total_groups)?;
        }
        let size =
            self.group_values.size() + self.sequence.size() + self.accumulators.iter().map(|a| a.size()).sum::<usize>();
        // A partial aggregate may hand on a group more than once: emit what there is and start over when the
        // pool cannot give more, or would keep less than a quarter of it free. This operator cannot spill; the
        // final aggregate after it can, and needs room in the pool to do so.
        let growth = size.saturating_sub(self.reservation.size());
        let crowded = match self.pool.memory_limit() {
            MemoryLimit::Finite(limit) => self.pool.reserved() + growth > limit - limit / HEADROOM,
            _ => false,
        };
        if crowded || self.reservation.try_resize(size).is_err() {
            self.emitted_under_pressure.add(1);
            self.emit()?;
        }
        Ok(())
    }

    /// Moves every group's keys and partial state into `pending`, in batches of at most `batch_size`.
    fn emit(&mut self) -> Result<()> {
        if self.group_values.is_empty() {
            return Ok(());
        }
        self.sequence.forget();
        let mut columns = self.group_values.emit(EmitTo::All)?;
        // emitting all leaves the group table's index behind; it must start empty for the next batch
        self.group_values.clear_shrink(self.batch_size);
        for accumulator in &mut self.accumulators {
            columns.extend(accumulator.state(EmitTo::All)?);
        }
        let output = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        self.reservation.free();
        let mut offset = 0;
        while offset < output.num_rows() {
            let length = self.batch_size.min(output.num_rows() - offset);
            self.pending.push_back(output.slice(offset, length));
            offset += length;
        }
        Ok(())
    }
}

impl Stream for RunAggregateStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(batch) = self.pending.pop_front() {
                return self.metrics.record_poll(Poll::Ready(Some(Ok(batch))));
            }
            let Some(input) = self.input.as_mut() else {
                return Poll::Ready(None);
            };
            let polled = match input.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(polled) => polled,
            };
            let elapsed_compute = self.metrics.elapsed_compute().clone();
            let _timer = elapsed_compute.timer();
            let done = match polled {
                Some(Ok(batch)) => self.aggregate(&batch),
                Some(Err(e)) => Err(e),
                None => {
                    self.input = None;
                    self.sequence_over_limit.add(usize::from(self.sequence.over_limit));
                    self.emit()
                }
            };
            if let Err(e) = done {
                self.input = None;
                self.pending.clear();
                return Poll::Ready(Some(Err(e)));
            }
        }
    }
}

impl RecordBatchStream for RunAggregateStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan_rules::testing;
    use datafusion::arrow::array::{Float64Array, Int32Array, Int64Array, StringArray, StringViewArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::catalog::MemTable;
    use datafusion::common::tree_node::TreeNode;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// level, kind, region, x, and what y is made of (0: NULL)
    type Row = (Option<&'static str>, Option<i32>, String, Option<i64>, i64);

    /// level, kind, region, x, y: rows sorted by level and kind in two partitions (long runs), then an
    /// unsorted third partition (runs of one), with NULL keys and NULL values.
    fn table() -> MemTable {
        let schema = Arc::new(Schema::new(vec![
            Field::new("level", DataType::Utf8, true),
            Field::new("kind", DataType::Int32, true),
            Field::new("region", DataType::Utf8, false),
            Field::new("x", DataType::Int64, true),
            Field::new("y", DataType::Float64, true),
        ]));
        let mut seed = 977u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as i64
        };
        let mut sorted: Vec<Row> = Vec::new();
        for level in [None, Some("gemeente"), Some("vt_regio")] {
            for kind in [None, Some(1), Some(2)] {
                for region in 0..30 {
                    let r = next();
                    sorted.push((level, kind, format!("GM{:04}", region % 7), (r % 5 != 0).then_some(r % 40), r % 13));
                }
            }
        }
        let mut shuffled = sorted.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, next() as usize % (i + 1));
        }
        let batch = |rows: &[Row]| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(rows.iter().map(|r| r.0).collect::<StringArray>()),
                    Arc::new(rows.iter().map(|r| r.1).collect::<Int32Array>()),
                    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2.as_str()))),
                    Arc::new(rows.iter().map(|r| r.3).collect::<Int64Array>()),
                    Arc::new(rows.iter().map(|r| (r.4 != 0).then_some(r.4 as f64 / 4.0)).collect::<Float64Array>()),
                ],
            )
            .unwrap()
        };
        let half = sorted.len() / 2;
        // batches of 10 rows: runs of 30 span batches
        let batches = |rows: &[_]| rows.chunks(10).map(batch).collect::<Vec<_>>();
        let partitions = vec![batches(&sorted[..half]), batches(&sorted[half..]), batches(&shuffled)];
        MemTable::try_new(schema, partitions).unwrap()
    }

    /// Each period the same regions × kinds in the same order (as in the half-year files), some regions
    /// NULL, in batches of 10 rows that do not line up with a period's 27; and a partition of its own with
    /// the periods' rows shuffled.
    fn periods() -> MemTable {
        let schema = Arc::new(Schema::new(vec![
            Field::new("region", DataType::Utf8View, true),
            Field::new("kind", DataType::Int32, false),
            Field::new("period", DataType::Int32, false),
            Field::new("x", DataType::Int64, true),
        ]));
        let mut rows = Vec::new();
        for period in 0..7 {
            for kind in 0..3 {
                for region in 0..9 {
                    let name = (region != 4).then(|| format!("Kindermishandeling: gemeente {region:02}"));
                    rows.push((name, kind, period, i64::from((period * 31 + kind * 7 + region) % 11)));
                }
            }
        }
        let batch = |rows: &[(Option<String>, i32, i32, i64)]| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(rows.iter().map(|r| r.0.as_deref()).collect::<StringViewArray>()),
                    Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.1))),
                    Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.2))),
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
                ],
            )
            .unwrap()
        };
        let mut shuffled = rows.clone();
        shuffled.reverse();
        shuffled.swap(3, 50);
        let partitions = vec![rows.chunks(10).map(batch).collect(), shuffled.chunks(10).map(batch).collect()];
        MemTable::try_new(schema, partitions).unwrap()
    }

    /// A session with vtsql's rules or without; output batches of at most 7 rows.
    async fn session(rules: bool) -> SessionContext {
        let ctx = testing::session(SessionConfig::new().with_batch_size(7).with_target_partitions(3), rules);
        ctx.register_table("t", Arc::new(table())).unwrap();
        ctx.register_table("p", Arc::new(periods())).unwrap();
        ctx
    }

    /// What a query gave with the rules: its rows, and the rows the new operator grouped by runs and by
    /// following the sequence.
    struct Checked {
        rows: Vec<String>,
        in_runs: usize,
        in_sequence: usize,
    }

    /// Runs `sql` with and without the rules (same rows), and asserts that an aggregate was replaced
    /// (`replaced`) or none.
    async fn check(sql: &str, replaced: bool) -> Checked {
        let compared = testing::off_and_on(session, sql).await;
        let operators = testing::nodes(&compared.plan, "RunPartialAggregateExec");
        assert_eq!(!operators.is_empty(), replaced, "replaced {}: {sql}", !operators.is_empty());
        let count = |name| {
            operators
                .iter()
                .map(|node| node.metrics().and_then(|m| m.sum_by_name(name)).map_or(0, |v| v.as_usize()))
                .sum()
        };
        Checked { rows: compared.rows, in_runs: count("rows_in_runs"), in_sequence: count("rows_in_sequence") }
    }

    #[tokio::test]
    async fn groups_equal_datafusion_with_runs_and_without() {
        // kind is NULL in whole runs: their sums are NULL, their counts 0
        let aggregates = "count(*), count(x), sum(x), sum(kind), count(kind), min(x), max(region), avg(x), sum(y), \
                          sum(x) FILTER (WHERE y > 1), count(*) FILTER (WHERE region = 'GM0003'), median(x), \
                          ssum(x), ssum(x, 10, 20), array_length(array_agg(x))";
        // (keys, whether the sorted partitions have runs of them)
        for (keys, runs) in [
            ("level", true),
            ("level, kind", true),
            ("kind, level", true),
            ("upper(level)", true),
            ("region", false),
            ("level, region", false),
            ("kind, x % 3", false),
        ] {
            let sql = format!("SELECT {keys}, {aggregates} FROM t GROUP BY {keys}");
            let checked = check(&sql, true).await;
            assert_eq!(checked.in_runs > 0, runs, "{sql}: {} rows in runs", checked.in_runs);
            assert!(checked.rows.len() >= 3, "{sql}: {:?}", checked.rows);
        }
    }

    #[tokio::test]
    async fn counts_and_integer_sums_without_filter_fold_their_runs() {
        let sql = "SELECT level, count(*), count(region), sum(x), sum(kind), sum(y), min(x), \
                   sum(x) FILTER (WHERE y > 1), sum(x + 1.5) FROM t GROUP BY level";
        let ctx = session(true).await;
        let plan = ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
        let mut folds = Vec::new();
        plan.apply(|node| {
            if let Some(aggregate) = node.downcast_ref::<RunPartialAggregateExec>() {
                folds.clone_from(&aggregate.folds);
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        use RunFold::*;
        assert_eq!(folds, [Some(Count), Some(Count), Some(SumInt64), Some(SumInt64), None, None, None, None]);
        check(sql, true).await;
    }

    #[tokio::test]
    async fn groups_follow_the_order_each_period_repeats() {
        // (keys, whether the rows follow the sequence of groups; regions alone repeat every 9 rows, which
        // a batch may or may not fit in, and eleven values of x may happen to)
        for (keys, follows) in [
            ("region, kind", Some(true)),
            ("kind, region", Some(true)),
            ("region", None),
            ("region, kind, period", Some(false)),
            ("x", None),
        ] {
            let sql = format!(
                "SELECT {keys}, count(*), sum(x), min(period), max(period), avg(x) FILTER (WHERE kind > 0) \
                 FROM p GROUP BY {keys}"
            );
            let in_sequence = check(&sql, true).await.in_sequence;
            if let Some(follows) = follows {
                assert_eq!(in_sequence > 0, follows, "{sql}: {in_sequence} rows in sequence");
            }
        }
    }

    #[tokio::test]
    async fn a_filter_before_the_groups_having_after_and_a_distinct_planned_as_groups() {
        for sql in [
            "SELECT level, kind, sum(x) FROM t WHERE region <> 'GM0002' GROUP BY level, kind HAVING count(*) > 3",
            // DataFusion groups by (level, region) first, then counts
            "SELECT level, count(DISTINCT region) FROM t GROUP BY level",
        ] {
            check(sql, true).await;
        }
    }

    #[tokio::test]
    async fn other_aggregates_are_left_to_datafusion() {
        for sql in [
            "SELECT level, count(DISTINCT region), count(DISTINCT x) FROM t GROUP BY level",
            "SELECT level, kind, sum(x) FROM t GROUP BY ROLLUP (level, kind)",
            "SELECT y, count(*) FROM t GROUP BY y",
            "SELECT level, array_agg(x ORDER BY x) FROM t GROUP BY level",
            "SELECT count(*), sum(x) FROM t",
        ] {
            check(sql, false).await;
        }
    }
}
