//! Build a hash join on grouped rows rather than on a keyed table: [`BuildOnGroups`].
//!
//! After [`super::eager_aggregate::AggregateBeforeUniqueJoin`], a per-100,000 query joins the facts,
//! grouped by (region_code, year), to `population`, whose primary key is (region_code, year). Both sides
//! then hold one row per key. DataFusion's `JoinSelection` builds its hash table on the side it estimates
//! smaller. Without distinct counts it estimates the groups as large as the filtered facts (a fixed share
//! of them), so it builds on population (every region and year) and probes with the few gemeente-years
//! the query asked for: the larger table held in memory, and the larger side hashed.
//!
//! When both sides are unique on their join keys, every key on the grouped side has come from the facts,
//! and a dimension table holds every region (and year) that the facts name. So the groups are at most
//! as many as the dimension's rows, and usually far fewer after a filter. The groups are already held in
//! memory by the aggregate (it emits only after its input ends), so building on them adds no new pipeline
//! breaker, and the table streams through as the probe side. The rule runs right after `JoinSelection`
//! and turns the join around when:
//! - the join is an inner hash join with no extra filter;
//! - the build side is unique on its join keys (a declared primary key or unique constraint);
//! - the probe side is a final aggregate grouped by exactly the columns its join keys are computed from
//!   (under projections that pick, rename or compute from columns: `CAST(year AS INT)` where a user's
//!   files give `year` as text), and its row count is only an estimate (an exact count smaller than the
//!   table's would have been chosen already).
//!
//! A computed key need not keep the groups apart (`'2020'` and `'02020'` cast alike); the hash table then
//! holds a few groups per key, still the groups the aggregate already holds in memory.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Constraint, JoinType};
use datafusion::error::Result;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr_common::physical_expr::is_volatile;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, StatisticsArgs, StatisticsContext};

/// Turns an inner hash join around so that it builds on grouped rows instead of a keyed table (module docs).
#[derive(Debug, Default)]
pub struct BuildOnGroups;

impl PhysicalOptimizerRule for BuildOnGroups {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            if !should_build_on_probe_side(join)? {
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(join.swap_inputs(*join.partition_mode())?))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "build_on_groups"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

fn should_build_on_probe_side(join: &HashJoinExec) -> Result<bool> {
    if *join.join_type() != JoinType::Inner || join.filter().is_some() {
        return Ok(false);
    }
    let build_keys: Option<Vec<usize>> = join.on().iter().map(|(left, _)| column_index(left)).collect();
    let probe_keys: Option<Vec<Vec<usize>>> = join.on().iter().map(|(_, right)| columns_read(right)).collect();
    let (Some(build_keys), Some(probe_keys)) = (build_keys, probe_keys.map(|k| k.concat())) else {
        return Ok(false);
    };
    let build_unique = join.left().equivalence_properties().constraints().iter().any(|constraint| match constraint {
        // unique on some of the keys is unique on all of them
        Constraint::PrimaryKey(columns) | Constraint::Unique(columns) => {
            !columns.is_empty() && columns.iter().all(|c| build_keys.contains(c))
        }
    });
    if !build_unique {
        return Ok(false);
    }
    // Through projections (a subquery's aliases, a key computed from columns), keys follow the columns
    // they are computed from.
    let mut probe = join.right();
    let mut probe_keys = probe_keys;
    while let Some(projection) = probe.downcast_ref::<ProjectionExec>() {
        let read: Option<Vec<Vec<usize>>> =
            probe_keys.iter().map(|&k| columns_read(&projection.expr()[k].expr)).collect();
        let Some(read) = read else {
            return Ok(false);
        };
        probe_keys = read.concat();
        probe = projection.input();
    }
    let Some(aggregate) = probe.downcast_ref::<AggregateExec>() else {
        return Ok(false);
    };
    let finished = matches!(
        aggregate.mode(),
        AggregateMode::Final
            | AggregateMode::FinalPartitioned
            | AggregateMode::Single
            | AggregateMode::SinglePartitioned
    );
    let group_by = aggregate.group_expr();
    // Output columns 0..n of an aggregate are its group expressions, in order.
    let groups: Vec<usize> = (0..group_by.expr().len()).collect();
    let grouped_by_keys = finished && group_by.is_single() && same_set(&groups, &probe_keys);
    if !grouped_by_keys {
        return Ok(false);
    }
    let statistics = StatisticsContext::new().compute(join.right().as_ref(), &StatisticsArgs::new())?;
    let estimated = !statistics.num_rows.is_exact().unwrap_or(false);
    Ok(estimated)
}

fn column_index(expr: &Arc<dyn PhysicalExpr>) -> Option<usize> {
    expr.downcast_ref::<Column>().map(Column::index)
}

/// The input columns a deterministic key expression is computed from (a column: itself); `None` for a
/// volatile one or one that reads no column.
fn columns_read(expr: &Arc<dyn PhysicalExpr>) -> Option<Vec<usize>> {
    if is_volatile(expr) {
        return None;
    }
    let columns: Vec<usize> = collect_columns(expr).iter().map(Column::index).collect();
    (!columns.is_empty()).then_some(columns)
}

fn same_set(a: &[usize], b: &[usize]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    a.dedup();
    b.sort_unstable();
    b.dedup();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan_rules::testing;
    use datafusion::prelude::SessionContext;

    /// A session on `dir`, with vtsql's rules or without.
    async fn session(dir: &std::path::Path, rules: bool) -> SessionContext {
        let ctx = testing::session(crate::session::config(), rules);
        crate::catalog::register_tables(&ctx, &crate::ingest::generation::tables_dir(dir)).await.unwrap();
        ctx
    }

    /// Whether the build side (first child) of the first hash join of `plan` holds an aggregate.
    fn builds_on_groups(plan: &Arc<dyn ExecutionPlan>) -> bool {
        let joins = testing::nodes(plan, "HashJoinExec");
        let join = joins.first().expect("a hash join");
        !testing::nodes(join.children()[0], "AggregateExec").is_empty()
            || !testing::nodes(join.children()[0], "RunPartialAggregateExec").is_empty()
    }

    #[tokio::test]
    async fn builds_on_the_groups_of_a_per_100k_join() {
        let dir = crate::generate::generated_dir(400, 2);
        let sql = "SELECT g.region_code, g.year, g.meldingen * 100000.0 / p.population AS per_100k
                   FROM (SELECT region_code, year, sum(ontvangen_meldingen) AS meldingen FROM veilig_thuis
                         WHERE region_level = 'gemeente' AND category = 'Totaal' GROUP BY region_code, year) g
                   JOIN population p ON p.region_code = g.region_code AND p.year = g.year";
        let compared = testing::off_and_on(async |rules| session(dir.path(), rules).await, sql).await;
        assert!(builds_on_groups(&compared.plan));
        assert!(!builds_on_groups(&compared.plan_without));
        assert!(compared.rows.len() > 100, "{} rows", compared.rows.len());
    }

    #[tokio::test]
    async fn builds_on_groups_whose_key_is_computed() {
        // the year as text, as a user's partition column gives it, cast to join population's integer year
        let dir = crate::generate::generated_dir(400, 2);
        let sql = "SELECT g.region_code, g.y, g.meldingen * 100000.0 / p.population AS per_100k
                   FROM (SELECT region_code, CAST(year AS TEXT) AS y, sum(ontvangen_meldingen) AS meldingen
                         FROM veilig_thuis WHERE region_level = 'gemeente' AND category = 'Totaal'
                         GROUP BY region_code, CAST(year AS TEXT)) g
                   JOIN population p ON p.region_code = g.region_code AND p.year = CAST(g.y AS INT)";
        let compared = testing::off_and_on(async |rules| session(dir.path(), rules).await, sql).await;
        assert!(builds_on_groups(&compared.plan));
        assert!(!builds_on_groups(&compared.plan_without));
        assert!(compared.rows.len() > 100, "{} rows", compared.rows.len());
    }

    #[tokio::test]
    async fn leaves_other_joins_alone() {
        let dir = crate::generate::generated_dir(400, 2);
        let groups = "SELECT region_code, year, category, sum(ontvangen_meldingen) AS meldingen FROM veilig_thuis
                      GROUP BY region_code, year, category";
        for sql in [
            // grouped by more than the join keys: several rows per key
            format!(
                "SELECT * FROM ({groups}) g JOIN population p ON p.region_code = g.region_code AND p.year = g.year"
            ),
            // the table is not unique on the join key
            "SELECT * FROM (SELECT region_code, sum(ontvangen_meldingen) AS m FROM veilig_thuis GROUP BY region_code) g
             JOIN population p ON p.region_code = g.region_code"
                .to_string(),
            // an outer join, and a join with a filter beside the keys
            "SELECT * FROM (SELECT region_code, year, sum(ontvangen_meldingen) AS m FROM veilig_thuis
                            GROUP BY region_code, year) g
             LEFT JOIN population p ON p.region_code = g.region_code AND p.year = g.year"
                .to_string(),
            "SELECT * FROM (SELECT region_code, year, sum(ontvangen_meldingen) AS m FROM veilig_thuis
                            GROUP BY region_code, year) g
             JOIN population p ON p.region_code = g.region_code AND p.year = g.year AND p.population > g.m"
                .to_string(),
        ] {
            let compared = testing::off_and_on(async |rules| session(dir.path(), rules).await, &sql).await;
            assert_eq!(builds_on_groups(&compared.plan), builds_on_groups(&compared.plan_without), "{sql}");
            assert!(!compared.rows.is_empty(), "{sql}");
        }
    }
}
