//! Plan rules vtsql adds to DataFusion's, and where they go ([`install`]). In local sessions:
//! [`eager_aggregate::AggregateBeforeUniqueJoin`] (logical: group before joining to a side unique on its
//! keys), [`build_side::BuildOnGroups`] (physical: a hash join builds on those groups, not on the keyed
//! table), [`window_keys::PartitionKeysInFileOrder`] (physical: a window sorts its partition keys in the
//! order the files hold them), [`rolling::RollingFrames`] (physical: rolling sums by prefix sums),
//! [`run_aggregate::RunAwarePartialAggregate`] (physical: a partial aggregate looks up a run of equal keys
//! once), [`text_equality::TextEqualityByView`] (physical: a filter compares text by its view),
//! [`dictionary_filters::FilterColumnsAsDictionaries`] (physical: a scan that filters while it decodes reads
//! the text columns it only compares as dictionaries) and [`file_pruning::PruneFilesOnce`] (physical: a
//! scan's files are checked against its predicate once per query, not once per file). On a cluster's scheduler: [`SortWindowPartitionsFully`] (a window's sort
//! must survive being cut at a shuffle). Every rule of a local session, DataFusion's and vtsql's, is wrapped by
//! [`deadline::watch`] so that planning stops at the statement's deadline or memory limit.

pub mod build_side;
pub mod deadline;
pub mod dictionary_filters;
pub mod eager_aggregate;
pub mod file_pruning;
pub mod rolling;
pub mod run_aggregate;
pub mod text_equality;
pub mod window_keys;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::DataFusionError;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::execution::SessionState;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowAggExec};
use datafusion::physical_plan::{ExecutionPlan, replace_children_if_necessary};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};

type PhysicalRule = Arc<dyn PhysicalOptimizerRule + Send + Sync>;

/// The name of DataFusion's last physical rule: it checks every node's ordering and distribution
/// requirements and changes nothing. vtsql's operator-swapping rules run just before it, so it checks the
/// plans they make too.
const SANITY_CHECK: &str = "SanityCheckPlan";

/// vtsql's rules in a local session's builder, in their order among DataFusion's:
/// - [`eager_aggregate::AggregateBeforeUniqueJoin`] after DataFusion's logical rules;
/// - [`build_side::BuildOnGroups`] right after `JoinSelection`: it must see the chosen build side before
///   distribution is planned around it and dynamic filters are made;
/// - [`rolling::RollingFrames`], [`run_aggregate::RunAwarePartialAggregate`],
///   [`text_equality::TextEqualityByView`], [`dictionary_filters::FilterColumnsAsDictionaries`] (which reads
///   the comparisons by view the rule before it made) and [`file_pruning::PruneFilesOnce`] after every rule that
///   changes the plan (the last pushes dynamic filters, which `PruneFilesOnce` must see), before
///   `SanityCheckPlan`.
///
/// The query planner leaves `RollingFrames` out of a plan that has a window aggregate with `FILTER`: the
/// operator does not filter, and DataFusion's physical window expression does not tell its filter.
pub fn install(builder: SessionStateBuilder) -> SessionStateBuilder {
    builder
        .with_optimizer_rule(Arc::new(eager_aggregate::AggregateBeforeUniqueJoin))
        .with_physical_optimizer_rules(physical_rules(true))
        .with_query_planner(Arc::new(VtsqlPlanner))
}

/// The rules of a cluster scheduler's sessions: DataFusion's, and [`SortWindowPartitionsFully`] last. vtsql's
/// own operators have no serialised form, so a cluster's plans keep DataFusion's.
pub fn install_for_cluster(builder: SessionStateBuilder) -> SessionStateBuilder {
    builder.with_physical_optimizer_rule(Arc::new(SortWindowPartitionsFully))
}

/// DataFusion's physical rules with vtsql's in place (see [`install`]); `rolling` says whether
/// [`rolling::RollingFrames`] is among them.
fn physical_rules(rolling: bool) -> Vec<PhysicalRule> {
    let mut rules = PhysicalOptimizer::new().rules;
    let after_join_selection = rules.iter().position(|rule| rule.name() == "join_selection").map_or(0, |i| i + 1);
    rules.insert(after_join_selection, Arc::new(build_side::BuildOnGroups));
    // before the window operator is swapped: DataFusion's own window rebuilds itself over the new sort
    let mut swapping: Vec<PhysicalRule> = vec![Arc::new(window_keys::PartitionKeysInFileOrder)];
    if rolling {
        swapping.push(Arc::new(rolling::RollingFrames));
    }
    swapping.push(Arc::new(run_aggregate::RunAwarePartialAggregate));
    swapping.push(Arc::new(text_equality::TextEqualityByView));
    swapping.push(Arc::new(dictionary_filters::FilterColumnsAsDictionaries));
    swapping.push(Arc::new(file_pruning::PruneFilesOnce));
    let before_sanity_check = rules.iter().position(|rule| rule.name() == SANITY_CHECK).unwrap_or(rules.len());
    rules.splice(before_sanity_check..before_sanity_check, swapping);
    rules
}

/// DataFusion's physical planner, with the physical rules chosen for the plan (see [`install`]).
#[derive(Debug)]
struct VtsqlPlanner;

#[async_trait]
impl QueryPlanner for VtsqlPlanner {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        session: &dyn datafusion::catalog::Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let planner = DefaultPhysicalPlanner::default();
        let state = session
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| DataFusionError::Internal("vtsql plans in DataFusion's own session state".into()))?;
        if !has_filtered_window_aggregate(plan)? {
            return planner.create_physical_plan(plan, state).await;
        }
        let state = SessionStateBuilder::new_from_existing(state.clone())
            .with_physical_optimizer_rules(deadline::watch_physical(physical_rules(false)))
            .build();
        planner.create_physical_plan(plan, &state).await
    }
}

/// Whether a window expression anywhere in `plan` (subqueries too) has a `FILTER` clause.
fn has_filtered_window_aggregate(plan: &LogicalPlan) -> Result<bool> {
    let mut found = false;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Window(window) = node {
            for expr in &window.window_expr {
                expr.apply(|e| {
                    if let Expr::WindowFunction(function) = e
                        && function.params.filter.is_some()
                    {
                        found = true;
                        return Ok(TreeNodeRecursion::Stop);
                    }
                    Ok(TreeNodeRecursion::Continue)
                })?;
            }
        }
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    })?;
    Ok(found)
}

/// A query's answer as sorted rows (cells joined by ` | `), to compare answers with and without the rules
/// in tests.
#[cfg(test)]
pub(crate) fn sorted_lines(batches: &[datafusion::arrow::array::RecordBatch]) -> Vec<String> {
    let mut lines: Vec<String> =
        crate::rows::rows(batches, "NULL").expect("printable batches").into_iter().map(|row| row.join(" | ")).collect();
    lines.sort();
    lines
}

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

/// What the rules' tests share: sessions with vtsql's rules off or on, and a query run in both.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::LogicalPlan;
    use datafusion::physical_plan::ExecutionPlan;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// A session with DataFusion's rules only (`rules` false) or with vtsql's installed as every local
    /// session has them, with vtsql's functions and no tables.
    pub fn session(config: SessionConfig, rules: bool) -> SessionContext {
        let builder = crate::session::builder(config).expect("a session builder");
        let builder = if rules { super::install(builder) } else { builder };
        let ctx = SessionContext::new_with_state(builder.build());
        vtsql_udfs::register_all(&ctx).expect("vtsql's functions");
        ctx
    }

    /// One query run with the rules off and on.
    pub struct Compared {
        /// The answer with the rules, as sorted table lines (equal to the answer without them).
        pub rows: Vec<String>,
        /// The physical plan with the rules, after it ran (its metrics are filled in).
        pub plan: Arc<dyn ExecutionPlan>,
        /// The physical plan without them.
        pub plan_without: Arc<dyn ExecutionPlan>,
        /// The optimised logical plan with the rules.
        pub logical: LogicalPlan,
    }

    /// Runs `sql` in `sessions(false)` and `sessions(true)` and checks that the answers are the same.
    pub async fn off_and_on(sessions: impl AsyncFn(bool) -> SessionContext, sql: &str) -> Compared {
        let mut runs = Vec::new();
        for rules in [false, true] {
            let ctx = sessions(rules).await;
            let frame = ctx.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            let logical = frame.clone().into_optimized_plan().unwrap();
            let plan = frame.create_physical_plan().await.unwrap();
            let batches = datafusion::physical_plan::collect(Arc::clone(&plan), ctx.task_ctx())
                .await
                .unwrap_or_else(|e| panic!("{sql} (rules {rules}): {e}"));
            runs.push((super::sorted_lines(&batches), plan, logical));
        }
        let (rows, plan, logical) = runs.pop().expect("two runs");
        let (expected, plan_without, _) = runs.pop().expect("two runs");
        assert_eq!(rows, expected, "{sql}: the rules changed the answer");
        Compared { rows, plan, plan_without, logical }
    }

    /// The nodes of `plan` called `name`.
    pub fn nodes(plan: &Arc<dyn ExecutionPlan>, name: &str) -> Vec<Arc<dyn ExecutionPlan>> {
        let mut found = Vec::new();
        plan.apply(|node| {
            if node.name() == name {
                found.push(Arc::clone(node));
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .expect("a walk that cannot fail");
        found
    }
}
