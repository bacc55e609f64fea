//! A window's partitions sorted in the order the scanned files already hold: [`PartitionKeysInFileOrder`].
//!
//! A window `PARTITION BY a, b ORDER BY c` needs its rows grouped by `a` and `b` together, in either order
//! of the two, and ordered by `c` within a group. DataFusion sorts by the partition keys in the order the
//! query names them. Where the scanned files are sorted by the same keys in another order, each batch
//! arrives sorted by that other order, and the sort has to reorder every batch from scratch; sorted by the
//! files' order it finds each batch in order already and only merges. vtsql's files are sorted by region
//! level, category, region code and period: `PARTITION BY region_code, category ORDER BY period` over
//! gemeente rows took 200 ms at 100M rows sorted as named, 130 ms sorted (category, region_code, period)
//! (`benches/RESULTS.md`, round 13).
//!
//! The rule puts the sort's partition keys in the order of the files' declared sort order (the Parquet
//! footer's sorting columns, which the listing table reads), when the keys are columns of the scan below
//! through projections, filters and repartitions. Keys the files are not sorted by stay after the others,
//! in their own order. The answer is the same for any order of the keys; the rule is a choice of speed,
//! keyed on the plan's shape and the files' declared order, never on names. It leaves the plan as it was
//! when anything above the window relied on the old order: the new plan must satisfy every ordering and
//! distribution requirement (DataFusion's own sanity check) or it is not taken.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::sanity_checker::check_plan_sanity;
use datafusion::physical_plan::execution_plan::ReplaceChildrenOptions;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::windows::BoundedWindowAggExec;
use datafusion::physical_plan::{ChildrenPropertiesMode, ExecutionPlan};

/// Orders a window's sort by its partition keys as the scanned files are sorted (module docs).
#[derive(Debug, Default)]
pub struct PartitionKeysInFileOrder;

impl PhysicalOptimizerRule for PartitionKeysInFileOrder {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        let rewritten = Arc::clone(&plan).transform_up(|node| {
            let Some(window) = node.downcast_ref::<BoundedWindowAggExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some(sort) = in_file_order(window) else {
                return Ok(Transformed::no(node));
            };
            let recompute = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
            Ok(Transformed::yes(Arc::clone(&node).replace_children(vec![sort], recompute)?))
        })?;
        if rewritten.transformed && sound(&rewritten.data, config) { Ok(rewritten.data) } else { Ok(plan) }
    }

    fn name(&self) -> &str {
        "partition_keys_in_file_order"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether every node of `plan` has the ordering and distribution its operator requires.
fn sound(plan: &Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> bool {
    let mut sound = true;
    let _ = plan.apply(|node| {
        sound = check_plan_sanity(node, &config.optimizer).is_ok();
        Ok(if sound { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
    });
    sound
}

/// The window's sort with its partition keys in the files' order, if that differs from the sort's.
fn in_file_order(window: &BoundedWindowAggExec) -> Option<Arc<dyn ExecutionPlan>> {
    let sort = window.input().downcast_ref::<SortExec>()?;
    let partition_by = window.window_expr().first()?.partition_by();
    let count = partition_by.len();
    let keys: &[PhysicalSortExpr] = sort.expr();
    if count < 2 || keys.len() < count || sort.fetch().is_some() {
        return None;
    }
    // The sort starts with the partition keys, each once, in some order.
    let (partition_keys, rest) = keys.split_at(count);
    let each_once =
        partition_by.iter().all(|p| partition_keys.iter().filter(|k| k.expr.as_ref() == p.as_ref()).count() == 1);
    if !each_once {
        return None;
    }
    let positions: Vec<usize> = partition_keys
        .iter()
        .map(|key| {
            let column = key.expr.downcast_ref::<Column>()?;
            let (name, file_order) = scan_column(sort.input(), column.index())?;
            file_order.iter().position(|c| *c == name)
        })
        .map(|position| position.unwrap_or(usize::MAX))
        .collect();
    let mut order: Vec<usize> = (0..count).collect();
    order.sort_by_key(|&i| positions[i]);
    if order.iter().enumerate().all(|(at, &i)| at == i) {
        return None;
    }
    let exprs = order.iter().map(|&i| partition_keys[i].clone()).chain(rest.iter().cloned());
    let ordering = LexOrdering::new(exprs)?;
    let sorted =
        SortExec::new(ordering, Arc::clone(sort.input())).with_preserve_partitioning(sort.preserve_partitioning());
    Some(Arc::new(sorted))
}

/// The name of output column `index` of `plan` at the file scan it comes from, and the names of the
/// columns the scan's files are sorted by; `None` when it is computed, or comes from elsewhere.
fn scan_column(plan: &Arc<dyn ExecutionPlan>, index: usize) -> Option<(String, Vec<String>)> {
    if let Some(scan) = plan.downcast_ref::<DataSourceExec>() {
        let config = scan.data_source().downcast_ref::<FileScanConfig>()?;
        let ordering = config.output_ordering.first()?;
        let sorted_by: Vec<String> =
            ordering.iter().map_while(|key| Some(key.expr.downcast_ref::<Column>()?.name().to_string())).collect();
        return Some((plan.schema().field(index).name().clone(), sorted_by));
    }
    if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        let column = projection.expr().get(index)?.expr.downcast_ref::<Column>()?;
        return scan_column(projection.input(), column.index());
    }
    if let Some(filter) = plan.downcast_ref::<FilterExec>() {
        let index = match filter.projection() {
            Some(projection) => *projection.get(index)?,
            None => index,
        };
        return scan_column(filter.input(), index);
    }
    // a node that passes its one input's columns on as they are: a repartition, a coalesce
    match plan.children().as_slice() {
        [child] if child.schema() == plan.schema() => scan_column(child, index),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan_rules::testing;

    /// A session over `dir` with vtsql's rules or without.
    async fn session(dir: &std::path::Path, rules: bool) -> datafusion::prelude::SessionContext {
        let ctx = testing::session(crate::session::config(), rules);
        crate::catalog::register_tables(&ctx, &crate::ingest::generation::tables_dir(dir)).await.unwrap();
        ctx
    }

    /// The keys of the first sort below a window of `plan`, as column names.
    fn window_sort_keys(plan: &Arc<dyn ExecutionPlan>) -> Vec<String> {
        let windows =
            [testing::nodes(plan, "RollingWindowExec"), testing::nodes(plan, "BoundedWindowAggExec")].concat();
        let window = windows.first().expect("a window");
        let sort = window.children()[0].downcast_ref::<SortExec>().expect("a sort below the window");
        sort.expr().iter().map(|k| k.expr.downcast_ref::<Column>().expect("a column").name().to_string()).collect()
    }

    const ROLLING: &str = "SELECT region_code, category, period,
               sum(ontvangen_meldingen) OVER (PARTITION BY region_code, category ORDER BY period
                                             ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS s,
               avg(ontvangen_meldingen) OVER (PARTITION BY region_code, category ORDER BY period) AS a
        FROM veilig_thuis WHERE region_level = 'gemeente'";

    /// vtsql's files are sorted by level, category, region code and period: the window sorts by category
    /// first, and answers as DataFusion's plan does.
    #[tokio::test]
    async fn a_window_sorts_its_partition_keys_as_the_files_are_sorted() {
        let dir = crate::generate::generated_dir(120, 3);
        for sql in [
            ROLLING.to_string(),
            // the rolling sums of q06: vtsql's own window operator over the same sort
            format!("SELECT * FROM ({ROLLING}) ORDER BY s DESC NULLS LAST, region_code, category, period LIMIT 20"),
        ] {
            let compared = testing::off_and_on(async |rules| session(dir.path(), rules).await, &sql).await;
            assert_eq!(window_sort_keys(&compared.plan_without)[..2], ["region_code", "category"], "{sql}");
            assert_eq!(window_sort_keys(&compared.plan)[..3], ["category", "region_code", "period"], "{sql}");
            assert!(compared.rows.len() >= 20, "{sql}: {} rows", compared.rows.len());
        }
    }

    /// An order that a node above relies on stays: the query's own `ORDER BY region_code, category,
    /// period` is met by the window's sort as named, and no second sort is added for it.
    #[tokio::test]
    async fn an_order_the_plan_relies_on_is_kept() {
        let dir = crate::generate::generated_dir(120, 3);
        let sql = format!("{ROLLING} ORDER BY region_code, category, period");
        let compared = testing::off_and_on(async |rules| session(dir.path(), rules).await, &sql).await;
        let sorts =
            |plan| testing::nodes(plan, "SortExec").len() + testing::nodes(plan, "SortPreservingMergeExec").len();
        assert_eq!(sorts(&compared.plan), sorts(&compared.plan_without));
        assert_eq!(
            window_sort_keys(&compared.plan)[..3],
            window_sort_keys(&compared.plan_without)[..3],
            "{}",
            datafusion::physical_plan::displayable(compared.plan.as_ref()).indent(true)
        );
        assert!(!compared.rows.is_empty());
    }

    /// Files without a declared order (someone else's) leave the sort as named.
    #[tokio::test]
    async fn files_without_a_declared_order_leave_the_sort_alone() {
        let ctx = testing::session(crate::session::config(), true);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        ctx.sql(&format!(
            "COPY (SELECT * FROM (VALUES ('a', 'x', 1, 5), ('a', 'y', 2, 6), ('b', 'x', 1, 7)) AS t(region, kind, period, n))
             TO '{}'",
            path.display()
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
        ctx.register_parquet("f", path.to_str().unwrap(), Default::default()).await.unwrap();
        let sql = "SELECT region, kind, sum(n) OVER (PARTITION BY kind, region ORDER BY period) FROM f";
        let plan = ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
        assert_eq!(window_sort_keys(&plan)[..2], ["kind", "region"]);
    }
}
