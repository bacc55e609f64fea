//! Files pruned by their statistics once per query, not once per file: [`PruneFilesOnce`].
//!
//! A Parquet scan whose files carry statistics (the listing table collects them) checks each file against
//! the scan's predicate as it opens it. For that check DataFusion builds a pruning predicate per file from
//! the query's predicate, and evaluates it against that one file's statistics: work that grows with the
//! files of every query, for a check that skips no file when the predicate is on region level or kind of
//! violence (every half-year holds every level and kind). [`PruneFilesOnce`] builds the pruning predicate once per scan, evaluates it against the
//! statistics of all files together, drops the files it rules out, and takes the statistics off the files
//! it keeps, so that opening a file no longer repeats the check. Row-group and page pruning inside each
//! file are untouched.
//!
//! The statistics stay on the files where the scan reads a column that is constant in a file (`period`
//! in a half-year's file): DataFusion then gives the column as that constant instead of decoding it,
//! which saves more than the per-file check costs.
//!
//! A predicate holding a dynamic filter (a hash join's build side, a `LIMIT`'s running bound) is left to
//! DataFusion: its bounds tighten while the query runs, and the per-file check sees the tightened bounds.

use std::sync::Arc;

use datafusion::common::Statistics;
use datafusion::common::config::ConfigOptions;
use datafusion::common::pruning::PrunableStatistics;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::physical_expr::{DynamicFilterTracking, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::ExecutionPlan;

/// Prunes each Parquet scan's files against its static predicate at planning time, in one evaluation over
/// all files, and leaves the kept files without statistics unless the scan reads a column constant in a
/// file (see the module documentation).
#[derive(Debug, Default)]
pub struct PruneFilesOnce;

impl PhysicalOptimizerRule for PruneFilesOnce {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(scan) = node.downcast_ref::<DataSourceExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some((config, parquet)) = scan.downcast_to_file_source::<ParquetSource>() else {
                return Ok(Transformed::no(node));
            };
            let Some(predicate) = parquet.filter() else {
                return Ok(Transformed::no(node));
            };
            if DynamicFilterTracking::classify(&predicate).contains_dynamic_filter() {
                return Ok(Transformed::no(node));
            }
            Ok(match files_pruned_once(config, parquet, &predicate) {
                Some(config) => {
                    let scan = scan.clone().with_data_source(Arc::new(config));
                    Transformed::yes(Arc::new(scan) as Arc<dyn ExecutionPlan>)
                }
                None => Transformed::no(node),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "prune_files_once"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `config` without the files `predicate` rules out by their statistics, and with no statistics on the
/// files it keeps unless `parquet` reads a column constant in a file; `None` (leave the scan as it is)
/// when a file lacks statistics of the whole table, the predicate cannot be turned into a pruning
/// predicate, or there is nothing to change.
fn files_pruned_once(
    config: &FileScanConfig,
    parquet: &ParquetSource,
    predicate: &Arc<dyn PhysicalExpr>,
) -> Option<FileScanConfig> {
    let schema = Arc::clone(config.file_source.table_schema().table_schema());
    let statistics: Vec<Arc<Statistics>> = config
        .file_groups
        .iter()
        .flat_map(|group| group.iter())
        .map(|file| file.statistics.clone().filter(|s| s.column_statistics.len() == schema.fields().len()))
        .collect::<Option<_>>()?;
    if statistics.is_empty() {
        return None;
    }
    let pruning =
        PruningPredicateBuilder::new().with_file_schema(Arc::clone(&schema)).try_build(Arc::clone(predicate)).ok()?;
    let keep_statistics = reads_a_constant(parquet, &statistics);
    let keep = if pruning.always_true() {
        vec![true; statistics.len()]
    } else {
        pruning.prune(&PrunableStatistics::new(statistics, schema)).ok()?
    };
    if keep_statistics && keep.iter().all(|&k| k) {
        return None;
    }
    let mut keep = keep.into_iter();
    let file_groups = config
        .file_groups
        .iter()
        .map(|group| {
            let files: Vec<PartitionedFile> =
                group
                    .iter()
                    .filter(|_| keep.next().unwrap_or(true))
                    .map(|file| {
                        if keep_statistics {
                            file.clone()
                        } else {
                            PartitionedFile { statistics: None, ..file.clone() }
                        }
                    })
                    .collect();
            let pruned = files.len() < group.len();
            let kept = FileGroup::new(files);
            match group.file_statistics(None) {
                // what the group's statistics say of the pruned files no longer holds exactly
                Some(stats) if pruned => kept.with_statistics(Arc::new(stats.clone().to_inexact())),
                Some(stats) => kept.with_statistics(Arc::new(stats.clone())),
                None => kept,
            }
        })
        .collect();
    let mut config = config.clone();
    config.file_groups = file_groups;
    Some(config)
}

/// Whether `parquet` reads a column that some file's `statistics` show to be constant there (one value, or
/// only NULLs), which DataFusion then gives as that constant instead of decoding it.
fn reads_a_constant(parquet: &ParquetSource, statistics: &[Arc<Statistics>]) -> bool {
    let file_columns = parquet.table_schema().file_schema().fields().len();
    let read = match parquet.projection() {
        Some(projection) => projection.column_indices(),
        None => (0..file_columns).collect(),
    };
    read.into_iter().filter(|&i| i < file_columns).any(|i| {
        statistics.iter().any(|file| {
            let column = &file.column_statistics[i];
            let one_value = matches!((&column.min_value, &column.max_value),
                (Precision::Exact(min), Precision::Exact(max)) if min == max && !min.is_null())
                && column.null_count == Precision::Exact(0);
            let only_nulls = matches!((file.num_rows, column.null_count), (Precision::Exact(rows), Precision::Exact(nulls)) if rows == nulls);
            one_value || only_nulls
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::prelude::SessionContext;

    /// A session on `dir`, with vtsql's rules or without.
    async fn session(dir: &std::path::Path, rules: bool) -> SessionContext {
        let ctx = crate::plan_rules::testing::session(crate::session::config(), rules);
        crate::catalog::register_tables(&ctx, &crate::ingest::generation::tables_dir(dir)).await.unwrap();
        ctx
    }

    /// One Parquet scan of the fact table as planned: its files, how many carry statistics, and whether its
    /// predicate holds a dynamic filter.
    #[derive(Debug, PartialEq)]
    struct Scan {
        files: usize,
        with_statistics: usize,
        dynamic: bool,
    }

    /// The scans of `sql`'s plan, its answer as sorted lines, and its number of rows.
    async fn scans_and_rows(ctx: &SessionContext, sql: &str) -> (Vec<Scan>, Vec<String>, usize) {
        let frame = ctx.sql(sql).await.unwrap();
        let plan = frame.clone().create_physical_plan().await.unwrap();
        let mut scans = Vec::new();
        plan.apply(|node| {
            if let Some((config, parquet)) =
                node.downcast_ref::<DataSourceExec>().and_then(|s| s.downcast_to_file_source::<ParquetSource>())
                && config.file_groups.iter().flat_map(|g| g.iter()).all(|f| f.path().as_ref().contains("cbs_84851ned"))
            {
                let files: Vec<&PartitionedFile> = config.file_groups.iter().flat_map(|g| g.iter()).collect();
                scans.push(Scan {
                    files: files.len(),
                    with_statistics: files.iter().filter(|f| f.statistics.is_some()).count(),
                    dynamic: parquet
                        .filter()
                        .is_some_and(|p| DynamicFilterTracking::classify(&p).contains_dynamic_filter()),
                });
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        let batches = frame.collect().await.unwrap();
        (scans, crate::plan_rules::sorted_lines(&batches), batches.iter().map(|b| b.num_rows()).sum())
    }

    #[tokio::test]
    async fn prunes_files_once_and_keeps_the_answers() {
        let dir = crate::generate::generated_dir(50, 2);
        let (with, without) = (session(dir.path(), true).await, session(dir.path(), false).await);
        let periods = without.sql("SELECT DISTINCT period FROM veilig_thuis ORDER BY period").await.unwrap();
        let periods = periods.collect().await.unwrap();
        let periods =
            datafusion::arrow::compute::cast(periods[0].column(0), &datafusion::arrow::datatypes::DataType::Utf8)
                .unwrap();
        let periods = datafusion::arrow::array::AsArray::as_string::<i32>(&periods);
        assert_eq!(datafusion::arrow::array::Array::len(periods), 4, "{periods:?}");
        let second = periods.value(1);
        let all = |with_statistics| Scan { files: 4, with_statistics, dynamic: false };
        let (_, _, levels) = scans_and_rows(&without, "SELECT DISTINCT region_level FROM veilig_thuis").await;
        let by_level = "SELECT region_level, count(*), sum(ontvangen_meldingen) FROM veilig_thuis";
        let by_period = "SELECT period, region_level, count(*), sum(ontvangen_meldingen) FROM veilig_thuis";
        for (sql, scan, rows) in [
            // every file holds every level and kind: nothing to rule out, and no file keeps statistics
            (
                format!("{by_level} WHERE region_level = 'gemeente' AND category = 'Totaal' GROUP BY region_level"),
                all(0),
                1,
            ),
            // a column constant in each file rules out all files but one, which keeps its statistics: the
            // scan reads that constant column
            (
                format!("{by_level} WHERE period = '{second}' AND category = 'Totaal' GROUP BY region_level"),
                Scan { files: 1, with_statistics: 1, dynamic: false },
                levels,
            ),
            // nothing to rule out, and the scan reads a constant column: the scan is left as it was
            (format!("{by_period} WHERE category = 'Totaal' GROUP BY period, region_level"), all(4), 4 * levels),
            // nothing left
            (
                format!("{by_level} WHERE period = '1999H1' GROUP BY region_level"),
                Scan { files: 0, with_statistics: 0, dynamic: false },
                0,
            ),
        ] {
            let (scans, answer, answered) = scans_and_rows(&with, &sql).await;
            let (scans_without, expected, _) = scans_and_rows(&without, &sql).await;
            assert_eq!(scans, [scan], "{sql}");
            assert_eq!(scans_without, [all(4)], "{sql}");
            assert_eq!(answer, expected, "{sql}");
            assert_eq!(answered, rows, "{sql}: {answer:?}");
        }
    }

    #[tokio::test]
    async fn leaves_scans_without_a_static_predicate_alone() {
        let dir = crate::generate::generated_dir(50, 2);
        let (with, without) = (session(dir.path(), true).await, session(dir.path(), false).await);
        for sql in [
            // no predicate: the files keep the statistics that make `period` a constant of each file
            "SELECT period, sum(ontvangen_meldingen) FROM veilig_thuis GROUP BY period",
            // a hash join's dynamic filter, whose bounds are known only while the query runs
            "SELECT v.region_code, sum(v.ontvangen_meldingen) FROM veilig_thuis v
             JOIN regions r ON r.region_code = v.region_code WHERE r.region_name LIKE 'A%'
             GROUP BY v.region_code",
        ] {
            let (scans, answer, answered) = scans_and_rows(&with, sql).await;
            let (scans_without, expected, _) = scans_and_rows(&without, sql).await;
            assert_eq!(scans, scans_without, "{sql}");
            assert_eq!(scans.iter().map(|s| s.with_statistics).collect::<Vec<_>>(), [4], "{sql}");
            assert_eq!(answer, expected, "{sql}");
            assert!(answered > 0, "{sql}: {answer:?}");
        }
        let (scans, _, _) = scans_and_rows(&with, "SELECT count(*) FROM veilig_thuis v JOIN regions r ON r.region_code = v.region_code WHERE r.region_name LIKE 'A%'").await;
        assert!(scans.iter().all(|s| s.dynamic), "{scans:?}");
    }
}
