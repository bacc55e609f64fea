//! Rolling window frames by prefix sums: [`RollingFrames`] swaps DataFusion's window operator for
//! [`RollingWindowExec`] when every window function of it is a `sum`, `count` or `ssum` over
//! `ROWS BETWEEN k PRECEDING AND CURRENT ROW` (or `UNBOUNDED PRECEDING`).
//!
//! DataFusion evaluates such a frame row by row: per row it slices the arguments, updates and retracts
//! an accumulator and builds a `ScalarValue` (for `ssum` a one-row struct), microseconds per row. All three
//! functions keep a fixed number of
//! integer sums that add and subtract, so a frame's totals are the difference of two prefix sums:
//! `sums[i] = prefix[i + 1] − prefix[max(group start, i − k)]`, a few nanoseconds per row.
//!
//! The operator streams: the input arrives sorted by the `PARTITION BY` columns and the window's
//! `ORDER BY` (the window's own requirement, kept), each batch is answered at once, and the last `k`
//! rows of the current partition are carried into the next batch.
//!
//! Local sessions only: the operator has no serialised form, so a cluster's plans keep DataFusion's.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use datafusion::arrow::compute::kernels::cmp::distinct;
use datafusion::arrow::compute::{cast, partition};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{ScalarValue, internal_err};
use datafusion::error::Result;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{WindowFrameBound, WindowFrameUnits};
use datafusion::physical_expr::window::{PlainAggregateWindowExpr, SlidingAggregateWindowExpr, WindowExpr};
use datafusion::physical_expr::{OrderingRequirements, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::apply_expression_roots;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::windows::BoundedWindowAggExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, InputDistributionRequirements, InputOrderMode,
    PlanProperties,
};
use futures::{Stream, StreamExt};
use vtsql_udfs::ssum::{self, Rounding, Totals};

/// Replaces a sorted `BoundedWindowAggExec` whose functions are all rolling sums by
/// [`RollingWindowExec`]; any other window stays as it is.
#[derive(Debug, Default)]
pub struct RollingFrames;

impl PhysicalOptimizerRule for RollingFrames {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        super::replace_each(plan, RollingWindowExec::try_replace)
    }

    fn name(&self) -> &str {
        "rolling_frames"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// What a window function adds up per row, and how the sums become its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Additive {
    /// `sum(x)` of whole numbers: the sum and the number of non-NULL values (NULL when none).
    Sum,
    /// `count(x)` (and `count(*)`, which DataFusion plans as `count(1)`).
    Count,
    /// `ssum(x [, base, threshold])`: its four running totals.
    Ssum(Rounding),
}

impl Additive {
    /// The function of a window expression, if it is one this operator computes.
    fn of(expr: &dyn WindowExpr, input: &SchemaRef) -> Result<Option<(Additive, Arc<dyn PhysicalExpr>)>> {
        let any = expr.as_any();
        let aggregate = if let Some(e) = any.downcast_ref::<SlidingAggregateWindowExpr>() {
            e.get_aggregate_expr()
        } else if let Some(e) = any.downcast_ref::<PlainAggregateWindowExpr>() {
            e.get_aggregate_expr()
        } else {
            return Ok(None);
        };
        // A window aggregate with FILTER never gets here: the physical expression does not tell its filter,
        // so `plan_rules::install` plans such queries without this rule.
        if aggregate.is_distinct() {
            return Ok(None);
        }
        let args = aggregate.expressions();
        let Some(arg) = args.first() else { return Ok(None) };
        let arg_type = arg.data_type(input)?;
        let result_type = aggregate.field().data_type().clone();
        let kind = match aggregate.fun().name() {
            "sum" if args.len() == 1 && arg_type.is_signed_integer() && result_type == DataType::Int64 => Additive::Sum,
            "count" if args.len() == 1 && result_type == DataType::Int64 => Additive::Count,
            "ssum" if arg_type == DataType::Int64 && result_type == DataType::Struct(ssum::result_fields()) => {
                Additive::Ssum(ssum::rounding_of_call(&args)?)
            }
            _ => return Ok(None),
        };
        Ok(Some((kind, Arc::clone(arg))))
    }

    fn parts(&self) -> usize {
        match self {
            Additive::Sum => 2,
            Additive::Count => 1,
            Additive::Ssum(_) => 4,
        }
    }

    /// Appends each row's contribution to every part (kept wider than 64 bits, so that a frame's sum is
    /// exact, or known to be out of range).
    fn contributions(&self, arg: &ArrayRef, parts: &mut [Vec<i128>]) -> Result<()> {
        match self {
            Additive::Count => {
                parts[0].extend((0..arg.len()).map(|i| i128::from(arg.is_valid(i))));
            }
            Additive::Sum => {
                let values = cast(arg, &DataType::Int64)?;
                let values = values.as_primitive::<Int64Type>();
                let (sums, counts) = parts.split_at_mut(1);
                match values.nulls() {
                    None => {
                        sums[0].extend(values.values().iter().map(|&v| i128::from(v)));
                        counts[0].extend(std::iter::repeat_n(1, values.len()));
                    }
                    Some(nulls) => {
                        for (i, &v) in values.values().iter().enumerate() {
                            let valid = i128::from(nulls.is_valid(i));
                            sums[0].push(i128::from(v) * valid);
                            counts[0].push(valid);
                        }
                    }
                }
            }
            Additive::Ssum(rounding) => {
                let cells = arg.as_primitive::<Int64Type>();
                for cell in cells.iter() {
                    let totals = Totals::of_cell(rounding, cell).parts();
                    for (part, total) in parts.iter_mut().zip(totals) {
                        part.push(i128::from(total));
                    }
                }
            }
        }
        Ok(())
    }

    /// The function's results from each row's frame sums: a `sum` beyond 64 bits wraps as DataFusion's
    /// does, an `ssum` beyond them is an error.
    fn finish(&self, sums: Vec<Vec<i128>>) -> Result<ArrayRef> {
        Ok(match self {
            Additive::Count => Arc::new(sums[0].iter().map(|&n| n as i64).collect::<Int64Array>()),
            Additive::Sum => Arc::new(
                sums[0].iter().zip(&sums[1]).map(|(&s, &n)| (n > 0).then_some(s as i64)).collect::<Int64Array>(),
            ),
            Additive::Ssum(rounding) => {
                let totals: Vec<Totals> = (0..sums[0].len())
                    .map(|i| Totals::from_wide_parts([sums[0][i], sums[1][i], sums[2][i], sums[3][i]]))
                    .collect();
                Arc::new(ssum::to_struct(&totals, rounding)?)
            }
        })
    }
}

/// One window function of the operator.
#[derive(Debug, Clone)]
struct Frame {
    /// DataFusion's name for it, for EXPLAIN.
    name: String,
    kind: Additive,
    arg: Arc<dyn PhysicalExpr>,
    /// `k` of `k PRECEDING`; `None` for `UNBOUNDED PRECEDING`.
    preceding: Option<usize>,
}

impl Frame {
    fn of(expr: &Arc<dyn WindowExpr>, input: &SchemaRef) -> Result<Option<Frame>> {
        let frame = expr.get_window_frame();
        if frame.units != WindowFrameUnits::Rows || frame.end_bound != WindowFrameBound::CurrentRow {
            return Ok(None);
        }
        let preceding = match &frame.start_bound {
            WindowFrameBound::Preceding(ScalarValue::UInt64(None)) => None,
            WindowFrameBound::Preceding(ScalarValue::UInt64(Some(k))) => match usize::try_from(*k) {
                Ok(k) => Some(k),
                Err(_) => return Ok(None),
            },
            WindowFrameBound::CurrentRow => Some(0),
            _ => return Ok(None),
        };
        let Some((kind, arg)) = Additive::of(expr.as_ref(), input)? else { return Ok(None) };
        Ok(Some(Frame { name: expr.name().to_string(), kind, arg, preceding }))
    }
}

/// Rolling `sum`/`count`/`ssum` window functions over input sorted by partition and order; emits each
/// input batch with the functions' columns appended (the schema of the window operator it replaces).
#[derive(Debug, Clone)]
pub struct RollingWindowExec {
    input: Arc<dyn ExecutionPlan>,
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    frames: Vec<Frame>,
    properties: Arc<PlanProperties>,
    required_ordering: Vec<Option<OrderingRequirements>>,
    required_distribution: Vec<Distribution>,
    metrics: ExecutionPlanMetricsSet,
}

impl RollingWindowExec {
    /// The replacement for `window`, when its input is sorted and every function is a rolling sum.
    pub fn try_replace(window: &BoundedWindowAggExec) -> Result<Option<RollingWindowExec>> {
        if window.input_order_mode != InputOrderMode::Sorted {
            return Ok(None);
        }
        let exprs = window.window_expr();
        let Some(first) = exprs.first() else { return Ok(None) };
        let same_spec = |e: &Arc<dyn WindowExpr>| {
            e.partition_by().len() == first.partition_by().len()
                && e.partition_by().iter().zip(first.partition_by()).all(|(a, b)| a.as_ref() == b.as_ref())
                && e.order_by() == first.order_by()
        };
        if !exprs.iter().all(same_spec) {
            return Ok(None);
        }
        let input_schema = window.input().schema();
        let mut frames = Vec::with_capacity(exprs.len());
        for expr in exprs {
            match Frame::of(expr, &input_schema)? {
                Some(frame) => frames.push(frame),
                None => return Ok(None),
            }
        }
        Ok(Some(RollingWindowExec {
            input: Arc::clone(window.input()),
            partition_by: first.partition_by().to_vec(),
            frames,
            properties: Arc::clone(window.properties()),
            required_ordering: window.required_input_ordering(),
            required_distribution: window.input_distribution_requirements().into_per_child(),
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }
}

impl DisplayAs for RollingWindowExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let names: Vec<&str> = self.frames.iter().map(|frame| frame.name.as_str()).collect();
        write!(f, "RollingWindowExec: wdw=[{}]", names.join(", "))
    }
}

impl ExecutionPlan for RollingWindowExec {
    fn name(&self) -> &str {
        "RollingWindowExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.required_ordering.clone()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        InputDistributionRequirements::new(self.required_distribution.clone())
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        apply_expression_roots(self.partition_by.iter().chain(self.frames.iter().map(|frame| &frame.arg)), f)
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        let input = super::only_child(self.name(), children)?;
        Ok(Arc::new(RollingWindowExec { input, metrics: ExecutionPlanMetricsSet::new(), ..Self::clone(&self) }))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        Ok(Box::pin(RollingStream {
            input,
            schema: self.schema(),
            state: Rolling::new(self.partition_by.clone(), self.frames.clone()),
            metrics: BaselineMetrics::new(&self.metrics, partition),
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The state carried from one batch to the next.
struct Rolling {
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    frames: Vec<Frame>,
    /// The partition key of the last row seen (one-row arrays).
    last_key: Option<Vec<ArrayRef>>,
    /// Per frame and part, the contributions of the current partition's rows still in reach of the
    /// next row (the last `k`; for `UNBOUNDED PRECEDING` one row holding the partition's total).
    carry: Vec<Vec<Vec<i128>>>,
}

impl Rolling {
    fn new(partition_by: Vec<Arc<dyn PhysicalExpr>>, frames: Vec<Frame>) -> Self {
        let carry = frames.iter().map(|f| vec![Vec::new(); f.kind.parts()]).collect();
        Rolling { partition_by, frames, last_key: None, carry }
    }

    /// The window columns of one batch.
    fn columns(&mut self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        let n = batch.num_rows();
        let keys: Vec<ArrayRef> =
            self.partition_by.iter().map(|e| e.evaluate(batch)?.into_array(n)).collect::<Result<_>>()?;
        let mut starts: Vec<usize> =
            if keys.is_empty() { vec![0] } else { partition(&keys)?.ranges().iter().map(|r| r.start).collect() };
        if starts.is_empty() {
            starts.push(0);
        }
        let continues = match &self.last_key {
            None => false,
            Some(last) => {
                let mut same = true;
                for (previous, key) in last.iter().zip(&keys) {
                    same &= !distinct(previous, &key.slice(0, 1))?.value(0);
                }
                same
            }
        };
        self.last_key = Some(keys.iter().map(|k| k.slice(n - 1, 1)).collect());

        let mut columns = Vec::with_capacity(self.frames.len());
        for (frame, carry) in self.frames.iter().zip(self.carry.iter_mut()) {
            let arg = frame.arg.evaluate(batch)?.into_array(n)?;
            // the carried rows, then this batch's
            let mut rows: Vec<Vec<i128>> =
                if continues { std::mem::take(carry) } else { vec![Vec::with_capacity(n); frame.kind.parts()] };
            let carried = rows[0].len();
            frame.kind.contributions(&arg, &mut rows)?;
            // where each group starts, among `rows`; the first group starts at 0 (it may continue)
            let group_starts: Vec<usize> =
                std::iter::once(0).chain(starts.iter().skip(1).map(|s| s + carried)).collect();
            let mut sums = vec![Vec::with_capacity(n); rows.len()];
            let mut next_carry = Vec::with_capacity(rows.len());
            for (part, out) in rows.iter().zip(sums.iter_mut()) {
                let mut prefix = Vec::with_capacity(part.len() + 1);
                prefix.push(0i128);
                let mut total = 0i128;
                for &v in part {
                    total += v;
                    prefix.push(total);
                }
                for (g, &start) in group_starts.iter().enumerate() {
                    let end = group_starts.get(g + 1).copied().unwrap_or(part.len());
                    for j in start.max(carried)..end {
                        let from = match frame.preceding {
                            Some(k) => start.max(j.saturating_sub(k)),
                            None => start,
                        };
                        out.push(prefix[j + 1] - prefix[from]);
                    }
                }
                let last_start = *group_starts.last().unwrap_or(&0);
                next_carry.push(match frame.preceding {
                    Some(k) => part[last_start.max(part.len().saturating_sub(k))..].to_vec(),
                    None => vec![prefix[part.len()] - prefix[last_start]],
                });
            }
            *carry = next_carry;
            if sums[0].len() != n {
                return internal_err!("RollingWindowExec: {} results for {n} rows", sums[0].len());
            }
            columns.push(frame.kind.finish(sums)?);
        }
        Ok(columns)
    }
}

struct RollingStream {
    input: SendableRecordBatchStream,
    schema: SchemaRef,
    state: Rolling,
    metrics: BaselineMetrics,
}

impl RollingStream {
    fn answer(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let _timer = self.metrics.elapsed_compute().timer();
        if batch.num_rows() == 0 {
            return Ok(RecordBatch::new_empty(Arc::clone(&self.schema)));
        }
        let mut columns = batch.columns().to_vec();
        columns.extend(self.state.columns(&batch)?);
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

impl Stream for RollingStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = match self.input.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(batch))) => Poll::Ready(Some(self.answer(batch))),
            other => other,
        };
        self.metrics.record_poll(polled)
    }
}

impl RecordBatchStream for RollingStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan_rules::testing;
    use datafusion::arrow::array::{Int32Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::catalog::MemTable;
    use datafusion::prelude::SessionConfig;

    /// region, kind, period, x, y
    type Row = (String, i32, i32, Option<i64>, Option<i32>);

    /// 3 regions × 2 kinds × 12 periods over 4 input partitions, with NULLs, small values and gaps
    /// in the sequence (deterministic, no random crate).
    fn table() -> MemTable {
        let schema = Arc::new(Schema::new(vec![
            Field::new("region", DataType::Utf8, false),
            Field::new("kind", DataType::Int32, false),
            Field::new("period", DataType::Int32, false),
            Field::new("x", DataType::Int64, true),
            Field::new("y", DataType::Int32, true),
        ]));
        let mut rows: Vec<Row> = Vec::new();
        let mut seed = 12345u64;
        for region in ["GM0003", "GM0010", "GM0014"] {
            for kind in [1, 2] {
                for period in 0..12 {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let r = (seed >> 33) as i64;
                    let x = (r % 5 != 0).then_some(r % 40);
                    let y = (r % 7 != 0).then_some((r % 11) as i32 - 3);
                    rows.push((region.to_string(), kind, period, x, y));
                }
            }
        }
        // spread rows over partitions out of order, so the plan must sort them
        let partitions: Vec<Vec<RecordBatch>> = (0..4)
            .map(|p| {
                let part: Vec<_> = rows.iter().enumerate().filter(|(i, _)| (i * 7) % 4 == p).map(|(_, r)| r).collect();
                let batch = RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![
                        Arc::new(StringArray::from_iter_values(part.iter().map(|r| r.0.as_str()))),
                        Arc::new(Int32Array::from_iter_values(part.iter().map(|r| r.1))),
                        Arc::new(Int32Array::from_iter_values(part.iter().map(|r| r.2))),
                        Arc::new(part.iter().map(|r| r.3).collect::<Int64Array>()),
                        Arc::new(part.iter().map(|r| r.4).collect::<Int32Array>()),
                    ],
                )
                .unwrap();
                vec![batch]
            })
            .collect();
        MemTable::try_new(schema, partitions).unwrap()
    }

    /// The query's rows (the same with vtsql's rules as without) and whether a window became
    /// [`RollingWindowExec`]. Batches of 5 rows, so partitions span batches.
    async fn both(sql: &str) -> (Vec<String>, bool) {
        let table = Arc::new(table());
        let sessions = async |rules| {
            let ctx = testing::session(SessionConfig::new().with_batch_size(5).with_target_partitions(3), rules);
            ctx.register_table("t", Arc::clone(&table) as _).unwrap();
            ctx
        };
        let compared = testing::off_and_on(sessions, sql).await;
        (compared.rows, !testing::nodes(&compared.plan, "RollingWindowExec").is_empty())
    }

    #[tokio::test]
    async fn rolling_sums_equal_datafusion_across_batches() {
        let frames = [
            "ROWS BETWEEN 3 PRECEDING AND CURRENT ROW",
            "ROWS 1 PRECEDING",
            "ROWS BETWEEN CURRENT ROW AND CURRENT ROW",
            "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
            "ROWS BETWEEN 30 PRECEDING AND CURRENT ROW",
        ];
        let partitions = ["PARTITION BY region, kind", "PARTITION BY kind", ""];
        for frame in frames {
            for partition in partitions {
                let w = format!("({partition} ORDER BY period, region, kind {frame})");
                let sql = format!(
                    "SELECT region, kind, period, sum(x) OVER {w}, sum(y) OVER {w}, count(x) OVER {w}, \
                     count(*) OVER {w}, ssum(x) OVER {w}, ssum(x, 10, 20) OVER {w}, sum(x - 2) OVER {w} \
                     FROM t ORDER BY region, kind, period"
                );
                let (_, replaced) = both(&sql).await;
                assert!(replaced, "not replaced: {sql}");
            }
        }
    }

    #[tokio::test]
    async fn a_constant_partition_column_and_a_filter_before_the_window() {
        let sql = "SELECT region, period, ssum(x) OVER (PARTITION BY region, kind ORDER BY period ROWS 2 PRECEDING) \
                   FROM t WHERE kind = 2 AND period > 1 ORDER BY region, period";
        let (rows, replaced) = both(sql).await;
        assert!(replaced);
        assert!(rows.len() > 10, "{rows:?}");
    }

    #[tokio::test]
    async fn other_windows_are_left_to_datafusion() {
        for sql in [
            // RANGE frame (peers share the frame), a following bound, other functions, FILTER, DISTINCT
            "sum(x) OVER (PARTITION BY region, kind ORDER BY period)",
            "sum(x) OVER (PARTITION BY region, kind ORDER BY period ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING)",
            "avg(x) OVER (PARTITION BY region, kind ORDER BY period ROWS 3 PRECEDING)",
            "sum(x) FILTER (WHERE y > 0) OVER (PARTITION BY region, kind ORDER BY period ROWS 3 PRECEDING)",
            "sum(x) OVER (PARTITION BY region, kind ORDER BY period ROWS 3 PRECEDING), \
             lag(x) OVER (PARTITION BY region, kind ORDER BY period)",
        ] {
            let sql = format!("SELECT region, kind, period, {sql} FROM t ORDER BY region, kind, period");
            let (_, replaced) = both(&sql).await;
            assert!(!replaced, "replaced: {sql}");
        }
    }
}
