//! Aggregating before a join to a side with at most one row per key.
//!
//! `SELECT v.region_code, v.category, sum(v.meldingen), max(t.total) FROM v JOIN t USING (region_code)
//! GROUP BY v.region_code, v.category`, where `t` is itself grouped by `region_code`: DataFusion joins
//! every row of `v` to its total and then groups, so every fact row goes through the hash join. Since `t` has at most one row per key and the key is among the group columns, every group of
//! `v` meets the same single row of `t` or none: grouping `v` first and joining the groups gives the same
//! answer with a join of a few thousand rows.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, DFSchema, Dependency, NullEquality};
use datafusion::error::Result;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Aggregate, Expr, Join, JoinType, LogicalPlan, Projection};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// Moves an aggregate below an inner equi-join when the other side is unique on its join keys.
///
/// Applies when all of these hold (otherwise the plan is left as it is):
/// - the aggregate's input is an inner equi-join without a further filter (a projection of plain columns
///   between them is allowed);
/// - one side (the *one* side) joins on columns and is unique on them, as DataFusion's functional
///   dependencies know it: a `GROUP BY` of exactly those columns, or a declared primary key;
/// - every join key of the other (*many*) side is a group column or a deterministic expression of group
///   columns only (a cast of a text `year` to the dimension's integer);
/// - each group expression reads only one side, and each aggregate either reads only the many side
///   (any aggregate: its groups reach the join whole) or is `min`/`max`/`first_value`/`last_value` of
///   one-side columns without a filter (constant within a group, so it is that value).
#[derive(Debug, Default)]
pub struct AggregateBeforeUniqueJoin;

impl OptimizerRule for AggregateBeforeUniqueJoin {
    fn name(&self) -> &str {
        "aggregate_before_unique_join"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let rewritten = match &plan {
            LogicalPlan::Aggregate(aggregate) => push_below_join(aggregate),
            _ => None,
        };
        Ok(match rewritten {
            Some(plan) => Transformed::yes(plan),
            None => Transformed::no(plan),
        })
    }
}

/// Which input of the join an expression reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Only the many side, or no column at all (`count(*)`).
    Many,
    One,
}

fn side_of(expr: &Expr, many: &DFSchema, one: &DFSchema) -> Option<Side> {
    let columns = expr.column_refs();
    if columns.iter().all(|c| many.has_column(c)) {
        Some(Side::Many)
    } else if columns.iter().all(|c| one.has_column(c)) {
        Some(Side::One)
    } else {
        None
    }
}

/// Whether `schema` has at most one row per value of `keys` among the rows an equi-join can match.
fn unique_on(schema: &DFSchema, keys: &[&Column], nulls: NullEquality) -> bool {
    let Ok(indices) = keys.iter().map(|c| schema.index_of_column(c)).collect::<Result<HashSet<usize>>>() else {
        return false;
    };
    schema.functional_dependencies().iter().any(|dependence| {
        dependence.mode == Dependency::Single
            // several NULL keys only meet if the join matches NULL with NULL
            && (!dependence.nullable || nulls == NullEquality::NullEqualsNothing)
            && dependence.source_indices.iter().all(|i| indices.contains(i))
    })
}

/// The value a one-side aggregate takes in every group: its argument, when it is one whose result is
/// that argument's value whenever the argument is constant.
fn constant_in_group(aggregate: &Expr) -> Option<Expr> {
    let Expr::AggregateFunction(AggregateFunction { func, params }) = aggregate.clone().unalias() else {
        return None;
    };
    let keeps_value = matches!(func.name(), "min" | "max" | "first_value" | "last_value");
    match params.args.as_slice() {
        [arg] if keeps_value && params.filter.is_none() => Some(arg.clone()),
        _ => None,
    }
}

fn push_below_join(aggregate: &Aggregate) -> Option<LogicalPlan> {
    let join = match aggregate.input.as_ref() {
        LogicalPlan::Join(join) => join,
        LogicalPlan::Projection(Projection { expr, input, .. })
            if expr.iter().all(|e| matches!(e, Expr::Column(_))) =>
        {
            match input.as_ref() {
                LogicalPlan::Join(join) => join,
                _ => return None,
            }
        }
        _ => return None,
    };
    if join.join_type != JoinType::Inner || join.filter.is_some() || join.null_aware || join.on.is_empty() {
        return None;
    }
    if aggregate.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
        return None;
    }
    [true, false].into_iter().find_map(|many_is_left| {
        let (many_keys, one_keys): (Vec<&Expr>, Vec<&Expr>) =
            join.on.iter().map(|(l, r)| if many_is_left { (l, r) } else { (r, l) }).unzip();
        let one_keys: Vec<&Column> = one_keys
            .into_iter()
            .map(|key| if let Expr::Column(c) = key { Some(c) } else { None })
            .collect::<Option<_>>()?;
        let group_keys_covered = many_keys.iter().all(|key| function_of_groups(key, &aggregate.group_expr));
        let one = if many_is_left { &join.right } else { &join.left };
        if !group_keys_covered || !unique_on(one.schema(), &one_keys, join.null_equality) {
            return None;
        }
        rewrite(aggregate, join, many_is_left)
    })
}

/// Whether a many-side join key takes one value per group: a group column, or a deterministic expression
/// of group columns only, such as `CAST(v.year AS INT)` where a user's files give `year` as text. The
/// grouped rows still carry those columns, so the join evaluates the key on them, once per group instead
/// of once per row.
fn function_of_groups(key: &Expr, groups: &[Expr]) -> bool {
    let is_group = |c: &Column| groups.iter().any(|e| matches!(e, Expr::Column(g) if g == c));
    !key.is_volatile() && key.column_refs().into_iter().all(is_group)
}

/// Builds `Projection(Join(Aggregate(many), one))` with the aggregate's own output schema.
fn rewrite(aggregate: &Aggregate, join: &Join, many_is_left: bool) -> Option<LogicalPlan> {
    let (many, one) = if many_is_left { (&join.left, &join.right) } else { (&join.right, &join.left) };
    let (many_schema, one_schema) = (many.schema(), one.schema());

    // Where each output column of the aggregate comes from after the rewrite.
    enum Output {
        /// the i-th column of the new aggregate
        Grouped(usize),
        /// an expression over the join's output
        AfterJoin(Expr),
    }
    let (mut many_groups, mut many_aggregates, mut outputs) = (vec![], vec![], vec![]);
    for group in &aggregate.group_expr {
        match side_of(group, many_schema, one_schema)? {
            Side::Many => {
                outputs.push(Output::Grouped(many_groups.len()));
                many_groups.push(group.clone());
            }
            Side::One => outputs.push(Output::AfterJoin(group.clone())),
        }
    }
    for expr in &aggregate.aggr_expr {
        match side_of(expr, many_schema, one_schema)? {
            // the new aggregate's output: its groups, then its aggregates
            Side::Many => {
                outputs.push(Output::Grouped(many_groups.len() + many_aggregates.len()));
                many_aggregates.push(expr.clone());
            }
            Side::One => outputs.push(Output::AfterJoin(constant_in_group(expr)?)),
        }
    }
    let many_aggregate =
        Arc::new(LogicalPlan::Aggregate(Aggregate::try_new(Arc::clone(many), many_groups, many_aggregates).ok()?));
    let (left, right) = if many_is_left {
        (Arc::clone(&many_aggregate), Arc::clone(one))
    } else {
        (Arc::clone(one), Arc::clone(&many_aggregate))
    };
    let new_join = Join::try_new(
        left,
        right,
        join.on.clone(),
        None,
        JoinType::Inner,
        join.join_constraint,
        join.null_equality,
        false,
    )
    .ok()?;
    let exprs = outputs
        .into_iter()
        .zip(aggregate.schema.iter())
        .map(|(output, (qualifier, field))| {
            let expr = match output {
                Output::Grouped(i) => Expr::Column(Column::from(many_aggregate.schema().qualified_field(i))),
                Output::AfterJoin(expr) => expr,
            };
            expr.alias_qualified(qualifier.cloned(), field.name())
        })
        .collect();
    let projection = Projection::try_new(exprs, Arc::new(LogicalPlan::Join(new_join))).ok()?;
    Some(LogicalPlan::Projection(projection))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan_rules::testing;
    use datafusion::prelude::SessionConfig;

    /// Meldingen per region, kind and period; `T` is the total over kinds. NULL regions and NULL counts
    /// on purpose (a NULL key must meet nothing, grouped or not).
    const FACTS: &str = "CREATE TABLE f (region TEXT, kind TEXT, period INT, x BIGINT) AS VALUES
        ('GM01', 'T', 1, 30), ('GM01', 'a', 1, 10), ('GM01', 'b', 1, 20),
        ('GM01', 'T', 2, 40), ('GM01', 'a', 2, NULL), ('GM01', 'b', 2, 25),
        ('GM02', 'T', 1, 5), ('GM02', 'a', 1, 5),
        ('GM03', 'a', 1, 7),
        (NULL, 'T', 1, 100), (NULL, 'a', 1, 60)";

    /// The answer (sorted; the same with vtsql's rules as without) and the optimised logical plan with them.
    async fn run(sql: &str) -> (String, LogicalPlan) {
        let config = SessionConfig::new().with_target_partitions(3);
        let sessions = async |rules| {
            let ctx = testing::session(config.clone(), rules);
            ctx.sql(FACTS).await.unwrap().collect().await.unwrap();
            ctx
        };
        let compared = testing::off_and_on(sessions, sql).await;
        (compared.rows.join("\n"), compared.logical)
    }

    /// Whether the query's aggregate went below its join: no Aggregate above the (outermost) join.
    fn grouped_before_join(plan: &LogicalPlan) -> bool {
        let mut node = plan;
        loop {
            match node {
                LogicalPlan::Join(_) => return true,
                LogicalPlan::Aggregate(_) => return false,
                _ => match node.inputs().as_slice() {
                    [input] => node = input,
                    _ => panic!("no join in\n{}", plan.display_indent()),
                },
            }
        }
    }

    async fn check(sql: &str, rewritten: bool) {
        let (_, plan) = run(sql).await;
        assert_eq!(grouped_before_join(&plan), rewritten, "{sql}\n{}", plan.display_indent());
    }

    const TOTALS: &str = "(SELECT region, sum(x) AS total FROM f WHERE kind = 'T' GROUP BY region) t";

    #[tokio::test]
    async fn share_of_the_total_groups_first() {
        let sql = format!(
            "SELECT f.region, f.kind, sum(f.x) AS s, max(t.total) AS total, count(*) AS n,
                    count(DISTINCT f.period) AS periods, sum(f.x) FILTER (WHERE f.period > 1) AS late,
                    min(t.total) + 1 AS plus
             FROM f JOIN {TOTALS} ON t.region = f.region WHERE f.kind <> 'T' GROUP BY f.region, f.kind"
        );
        check(&sql, true).await;
        let (answer, _) = run(&sql).await;
        // GM03 has no total, the NULL region meets nothing
        assert_eq!(
            answer.lines().collect::<Vec<_>>(),
            [
                "GM01 | a | 10 | 70 | 2 | 2 | NULL | 71",
                "GM01 | b | 45 | 70 | 2 | 2 | 25 | 71",
                "GM02 | a | 5 | 5 | 1 | 1 | NULL | 6"
            ]
        );
    }

    #[tokio::test]
    async fn either_side_and_one_side_groups() {
        check(
            &format!("SELECT f.region, sum(f.x) FROM {TOTALS} JOIN f ON f.region = t.region GROUP BY f.region"),
            true,
        )
        .await;
        check(
            &format!("SELECT f.region, t.total, sum(f.x) FROM f JOIN {TOTALS} ON t.region = f.region GROUP BY f.region, t.total"),
            true,
        )
        .await;
    }

    #[tokio::test]
    async fn keys_computed_from_group_columns() {
        // the one side gives the period as text, as a user's partition column does; the many side casts
        let periods = "(SELECT CAST(period AS TEXT) AS p, max(x) AS top FROM f GROUP BY CAST(period AS TEXT)) t";
        let sql = format!(
            "SELECT f.region, f.period, sum(f.x) AS s, max(t.top) AS top
             FROM f JOIN {periods} ON t.p = CAST(f.period AS TEXT) GROUP BY f.region, f.period"
        );
        check(&sql, true).await;
        let (answer, _) = run(&sql).await;
        // by hand: period 1's largest x is 100, period 2's 40; the NULL region still has a period
        assert_eq!(
            answer.lines().collect::<Vec<_>>(),
            [
                "GM01 | 1 | 60 | 100",
                "GM01 | 2 | 65 | 40",
                "GM02 | 1 | 10 | 100",
                "GM03 | 1 | 7 | 100",
                "NULL | 1 | 160 | 100"
            ]
        );
        // the key reads a column that is not a group column
        check(
            &format!(
                "SELECT f.region, sum(f.x) FROM f JOIN {periods} ON t.p = CAST(f.period AS TEXT) GROUP BY f.region"
            ),
            false,
        )
        .await;
        // the key mixes a group column with one that is not
        check(
            &format!(
                "SELECT f.region, f.period, sum(f.x) FROM f JOIN {periods} ON t.p = CAST(f.period + f.x AS TEXT)
                 GROUP BY f.region, f.period"
            ),
            false,
        )
        .await;
    }

    #[tokio::test]
    async fn left_alone_when_it_would_change_the_answer() {
        // the other side repeats keys
        check("SELECT a.region, sum(a.x) FROM f a JOIN f ON f.region = a.region GROUP BY a.region", false).await;
        // a sum over the one side counts it once per joined row
        check(
            &format!("SELECT f.region, sum(t.total) FROM f JOIN {TOTALS} ON t.region = f.region GROUP BY f.region"),
            false,
        )
        .await;
        // the join key is not a group column
        check(&format!("SELECT f.kind, sum(f.x) FROM f JOIN {TOTALS} ON t.region = f.region GROUP BY f.kind"), false)
            .await;
        // outer joins keep unmatched rows
        check(
            &format!("SELECT f.region, sum(f.x), max(t.total) FROM f LEFT JOIN {TOTALS} ON t.region = f.region GROUP BY f.region"),
            false,
        )
        .await;
        // a condition beyond the keys
        check(
            &format!("SELECT f.region, sum(f.x) FROM f JOIN {TOTALS} ON t.region = f.region AND f.x < t.total GROUP BY f.region"),
            false,
        )
        .await;
    }
}
