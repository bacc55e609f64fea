//! Plan rules vtsql adds to DataFusion's. In local sessions: [`eager_aggregate::AggregateBeforeUniqueJoin`]
//! (logical: group before joining to a side unique on its keys), [`build_side::BuildOnGroups`] (physical:
//! a hash join builds on those groups, not on the keyed table), [`rolling::RollingFrames`] (physical:
//! rolling sums by prefix sums), [`run_aggregate::RunAwarePartialAggregate`] (physical: a partial
//! aggregate looks up a run of equal keys once), [`text_equality::TextEqualityByView`] (physical: a
//! filter compares text by its view) and [`file_pruning::PruneFilesOnce`] (physical: a scan's files are
//! checked against its predicate once per query, not once per file). On a cluster's scheduler:
//! [`SortWindowPartitionsFully`] (a window's sort must survive being cut at a shuffle).

pub mod build_side;
pub mod eager_aggregate;
pub mod file_pruning;
pub mod rolling;
pub mod run_aggregate;
pub mod text_equality;

/// A query's answer as sorted table lines, to compare answers with and without a rule in tests.
#[cfg(test)]
pub(crate) fn sorted_lines(batches: &[datafusion::arrow::array::RecordBatch]) -> Vec<String> {
    let table = datafusion::arrow::util::pretty::pretty_format_batches(batches).expect("printable batches");
    let mut lines: Vec<String> = table.to_string().lines().map(String::from).collect();
    lines.sort();
    lines
}

use std::sync::Arc;

use datafusion::common::DataFusionError;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowAggExec};
use datafusion::physical_plan::{ExecutionPlan, replace_children_if_necessary};

/// Replaces every node of type `E` in `plan` (bottom up) for which `replace` returns an operator; the
/// walk of vtsql's physical rules that swap one DataFusion operator for their own.
pub(crate) fn replace_each<E: ExecutionPlan + 'static, R: ExecutionPlan + 'static>(
    plan: Arc<dyn ExecutionPlan>,
    replace: impl Fn(&E) -> Result<Option<R>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(original) = node.downcast_ref::<E>() else {
            return Ok(Transformed::no(node));
        };
        match replace(original)? {
            Some(replacement) => Ok(Transformed::yes(Arc::new(replacement) as Arc<dyn ExecutionPlan>)),
            None => Ok(Transformed::no(node)),
        }
    })
    .map(|t| t.data)
}

/// The one child `with_new_children` gives an operator of one input (`name`), or an internal error.
pub(crate) fn only_child(name: &str, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
    let [input] = <[_; 1]>::try_from(children)
        .map_err(|c| DataFusionError::Internal(format!("{name} has one child, got {}", c.len())))?;
    Ok(input)
}

/// Makes the sort below a window sort by *every* `PARTITION BY` column.
///
/// DataFusion leaves a column out of that sort when a filter made it constant (`WHERE category = 'Totaal'`
/// with `PARTITION BY region_code, category`): the window knows the column is constant from the filter.
/// Ballista cuts the plan at the shuffle between filter and sort, and the executor that runs the sort no
/// longer knows it, so the window refuses to run ("Expects PARTITION BY expression to be ordered",
/// apache/datafusion-ballista#1296). Sorting by a constant costs a comparison per row and restores the
/// ordering the executor checks.
#[derive(Debug)]
pub struct SortWindowPartitionsFully;

impl PhysicalOptimizerRule for SortWindowPartitionsFully {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let (window_expr, input) = if let Some(window) = node.downcast_ref::<BoundedWindowAggExec>() {
                (window.window_expr(), window.input())
            } else if let Some(window) = node.downcast_ref::<WindowAggExec>() {
                (window.window_expr(), window.input())
            } else {
                return Ok(Transformed::no(node));
            };
            let Some(sort) = input.downcast_ref::<SortExec>() else {
                return Ok(Transformed::no(node));
            };
            let partition_by = window_expr.first().map(|w| w.partition_by().to_vec()).unwrap_or_default();
            let sorted: Vec<PhysicalSortExpr> = sort.expr().iter().cloned().collect();
            let missing: Vec<PhysicalSortExpr> = partition_by
                .iter()
                .filter(|p| !sorted.iter().any(|s| s.expr.as_ref() == p.as_ref()))
                .map(|p| PhysicalSortExpr::new_default(Arc::clone(p)))
                .collect();
            if missing.is_empty() {
                return Ok(Transformed::no(node));
            }
            // partition columns first (those already sorted, then the missing ones), then the rest
            let leading =
                sorted.iter().take_while(|s| partition_by.iter().any(|p| p.as_ref() == s.expr.as_ref())).count();
            let ordering = sorted[..leading].iter().cloned().chain(missing).chain(sorted[leading..].iter().cloned());
            let Some(ordering) = LexOrdering::new(ordering) else {
                return Ok(Transformed::no(node));
            };
            let new_sort = SortExec::new(ordering, Arc::clone(sort.input()))
                .with_preserve_partitioning(sort.preserve_partitioning())
                .with_fetch(sort.fetch());
            let window = replace_children_if_necessary(Arc::clone(&node), vec![Arc::new(new_sort)])?;
            Ok(Transformed::yes(window))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "sort_window_partitions_fully"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
