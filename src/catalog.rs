//! A data directory as one DataFusion [`SessionContext`]: the tables `veilig_thuis`, `regions`,
//! `population` and `categories`, with every vtsql function registered. The REPL, `-c` and the
//! Flight server all open their session here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::common::config::ParquetOptions;
use datafusion::common::{Constraint, Constraints};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::ingest::{self, store};
use crate::local_files::InlineLocalFiles;
use crate::plan_rules;

/// Where the raw inputs of a data directory live; the first run builds Parquet from them.
pub const RAW_DIR: &str = "raw";

/// The data directory to use: `--data`, else `$VTSQL_DATA`, else `./data`, else the repository's.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VTSQL_DATA") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("data");
    if local.is_dir() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// Builds the Parquet tables from `DATA/raw` when the fact table is missing (a fresh clone).
/// Returns whether it built anything.
pub fn build_if_missing(data_dir: &Path, progress: &mut dyn FnMut(&str)) -> ingest::Result<bool> {
    let raw = data_dir.join(RAW_DIR);
    if data_dir.join(store::FACT_TABLE).exists() || !raw.is_dir() {
        return Ok(false);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&raw)
        .map_err(|e| ingest::IngestError::io(&raw, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    progress(&format!("building Parquet in {} from {} raw files (first run)", data_dir.display(), files.len()));
    ingest::ingest_files(data_dir, &files, progress)?;
    Ok(true)
}

/// The session configuration every vtsql face shares.
pub fn session_config() -> SessionConfig {
    let mut config =
        SessionConfig::new().with_information_schema(true).with_default_catalog_and_schema("vtsql", "public");
    // vtsql writes no bloom filters (store::writer_properties), yet DataFusion evaluates each query's
    // predicate against them in every row group of every file it opens: 2.5% of q01's CPU at 10M rows.
    config.options_mut().execution.parquet.bloom_filter_on_read = false;
    config
}

/// Where a session's queries run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Placement {
    /// In this process.
    #[default]
    Local,
    /// On the Apache Ballista cluster behind this scheduler (`HOST:PORT`); the data directory must be
    /// readable at the same path by every executor.
    Cluster(String),
}

/// Where every vtsql session (local, a cluster's client and its scheduler) starts: DataFusion's default
/// features, `config`, and a runtime without a cache of directory listings whose local files are read
/// through [`InlineLocalFiles`]. DataFusion keeps a listing for ever, so a server or REPL left open would
/// not see a half-year ingested after it started; listing the partition directories costs well under a
/// millisecond here.
pub fn session_builder(config: SessionConfig) -> Result<SessionStateBuilder> {
    let caches = CacheManagerConfig::default().with_list_files_cache_limit(0);
    let runtime = RuntimeEnvBuilder::new().with_cache_manager(caches).build_arc()?;
    runtime.register_object_store(ObjectStoreUrl::local_filesystem().as_ref(), Arc::new(InlineLocalFiles::new()));
    Ok(SessionStateBuilder::new().with_default_features().with_config(config).with_runtime_env(runtime))
}

/// Opens a data directory as an in-process session with all tables and functions.
pub async fn open(data_dir: &Path) -> Result<SessionContext> {
    open_at(data_dir, &Placement::Local).await
}

/// Opens a data directory as a session whose queries run where `placement` says.
pub async fn open_at(data_dir: &Path, placement: &Placement) -> Result<SessionContext> {
    let ctx = match placement {
        Placement::Local => {
            let physical_rules = plan_rules::build_side::BuildOnGroups::placed_in(PhysicalOptimizer::new().rules);
            let state = session_builder(session_config())?
                .with_physical_optimizer_rules(physical_rules)
                .with_optimizer_rule(Arc::new(plan_rules::eager_aggregate::AggregateBeforeUniqueJoin))
                .with_physical_optimizer_rule(Arc::new(plan_rules::rolling::RollingFrames))
                .with_physical_optimizer_rule(Arc::new(plan_rules::run_aggregate::RunAwarePartialAggregate))
                .with_physical_optimizer_rule(Arc::new(plan_rules::text_equality::TextEqualityByView))
                .with_physical_optimizer_rule(Arc::new(plan_rules::file_pruning::PruneFilesOnce))
                .build();
            let ctx = SessionContext::new_with_state(state);
            vtsql_udfs::register_all(&ctx)?;
            ctx
        }
        Placement::Cluster(scheduler) => {
            crate::cluster::connect(scheduler).await.map_err(|e| DataFusionError::External(Box::new(e)))?
        }
    };
    register_tables(&ctx, data_dir).await?;
    Ok(ctx)
}

/// Registers the four tables of `data_dir` in `ctx`, replacing any of the same names. Missing tables are
/// empty, with their schema.
pub async fn register_tables(ctx: &SessionContext, data_dir: &Path) -> Result<()> {
    let facts = data_dir.join(store::FACT_TABLE);
    if !facts.is_dir() {
        std::fs::create_dir_all(&facts)
            .map_err(|e| DataFusionError::External(Box::new(ingest::IngestError::io(&facts, e))))?;
    }
    // The files are sorted by region_level, category, region_code (page statistics prune on that), but the
    // order is not declared to DataFusion: no analyst query needs it preserved, and declared it keeps whole
    // files per scan partition (benches/RESULTS.md).
    let partitions = vec![("year".into(), DataType::Int32), ("half".into(), DataType::Int32)];
    let table = parquet_table(ctx, &facts, &store::fact_file_schema(), partitions)?;
    replace_table(ctx, store::FACT_TABLE, Arc::new(table))?;

    // Primary keys as ingest and the generator keep them (one row per key; population: a later source
    // replaces a stored year). Declared, DataFusion knows a join to these tables repeats no row, which
    // lets plan_rules::eager_aggregate group before joining.
    let regions_schema = ingest::regions::Regions::schema();
    register_dimension(ctx, data_dir, "regions", store::REGIONS_FILE, regions_schema, &["region_code"], None).await?;
    let population_schema = store::population_schema();
    register_dimension(
        ctx,
        data_dir,
        "population",
        store::POPULATION_FILE,
        population_schema,
        &["region_code", "year"],
        None,
    )
    .await?;
    let categories = store::categories_batch();
    register_dimension(
        ctx,
        data_dir,
        "categories",
        store::CATEGORIES_FILE,
        categories.schema(),
        &["category"],
        Some(categories),
    )
    .await?;
    Ok(())
}

/// Makes the tables again when the session's Parquet settings differ from `before`: DataFusion copies
/// them into a table when it is made, so a `SET datafusion.execution.parquet.*` (or `RESET`) would not
/// reach tables already registered. Answers whether it did.
pub async fn parquet_settings_changed(ctx: &SessionContext, data_dir: &Path, before: &ParquetOptions) -> Result<bool> {
    if ctx.copied_config().options().execution.parquet == *before {
        return Ok(false);
    }
    register_tables(ctx, data_dir).await?;
    Ok(true)
}

async fn register_dimension(
    ctx: &SessionContext,
    data_dir: &Path,
    name: &str,
    file: &str,
    schema: SchemaRef,
    primary_key: &[&str],
    fallback: Option<RecordBatch>,
) -> Result<()> {
    let key = primary_key.iter().map(|column| schema.index_of(column)).collect::<std::result::Result<Vec<_>, _>>()?;
    let constraints = Constraints::new_unverified(vec![Constraint::PrimaryKey(key)]);
    let path = data_dir.join(file);
    let table: Arc<dyn TableProvider> = if path.is_file() {
        Arc::new(parquet_table(ctx, &path, &schema, vec![])?.with_constraints(constraints))
    } else {
        let schema = text_as_view(&schema);
        let batches = fallback.map(|batch| cast_batch(&batch, &schema)).transpose()?;
        Arc::new(MemTable::try_new(schema, vec![batches.into_iter().collect()])?.with_constraints(constraints))
    };
    replace_table(ctx, name, table)
}

/// Registers `table` as `name`, in place of a table registered before (tables are registered again
/// to pick up changed session options).
fn replace_table(ctx: &SessionContext, name: &str, table: Arc<dyn TableProvider>) -> Result<()> {
    ctx.deregister_table(name)?;
    ctx.register_table(name, table).map(|_| ())
}

/// The Parquet file or hive-partitioned directory at `path`, with text read as Utf8View.
///
/// The table reads with the session's Parquet options as they are when it is made (a
/// `SET datafusion.execution.parquet.*` reaches a table made after it: [`parquet_settings_changed`]) and
/// keeps per-file statistics in the session's cache: without it every query decodes the statistics in all
/// file footers again while planning (EXPLAIN of q08 at 10M: 6.5 → 3.6 ms). The cache checks each file's
/// size and modification time, so rewritten files are read afresh.
fn parquet_table(
    ctx: &SessionContext,
    path: &Path,
    schema: &Schema,
    partitions: Vec<(String, DataType)>,
) -> Result<ListingTable> {
    let url = ListingTableUrl::parse(absolute(path)?.to_string_lossy())?;
    let state = ctx.state();
    // the session's table options as they were built, with the session's current Parquet settings
    let format = ParquetFormat::default().with_options(state.default_table_options().parquet);
    let options =
        ListingOptions::new(Arc::new(format)).with_file_extension(".parquet").with_table_partition_cols(partitions);
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(text_as_view(schema));
    let statistics = state.runtime_env().cache_manager.get_file_statistic_cache();
    Ok(ListingTable::try_new(config)?.with_cache(statistics))
}

/// `schema` with text read as Utf8View, as DataFusion does for schemas it infers: a declared Utf8 schema
/// forces a copy of every string, and a join of Utf8 to Utf8View casts the Utf8 side row by row.
fn text_as_view(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

fn cast_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| datafusion::arrow::compute::cast(column, field.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(DataFusionError::IoError)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The declared keys reach the planner: a per-100,000 join to population groups the facts first.
    #[tokio::test]
    async fn joins_to_population_group_first() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = open(dir.path()).await.unwrap();
        let sql = "SELECT v.region_code, v.year, sum(v.ontvangen_meldingen), max(p.population)
                   FROM veilig_thuis v JOIN population p ON p.region_code = v.region_code AND p.year = v.year
                   GROUP BY v.region_code, v.year";
        let plan = ctx.sql(sql).await.unwrap().into_optimized_plan().unwrap().display_indent().to_string();
        let join = plan.find("Inner Join: v.region_code = p.region_code, v.year = p.year").expect(&plan);
        assert!(!plan[..join].contains("Aggregate:"), "{plan}");
        assert!(plan[join..].contains("Aggregate: groupBy=[[v.region_code, v.year]]"), "{plan}");
    }

    /// A session that stays open (the Flight server, the REPL) sees half-years written after it opened,
    /// and a rewritten file is read as it is now.
    #[tokio::test]
    async fn sees_files_written_after_it_opened() {
        let dir = crate::generate::generated_dir(2, 1);
        let ctx = open(dir.path()).await.unwrap();
        let count = "SELECT count(*) AS n FROM veilig_thuis";
        let single = |batches: Vec<RecordBatch>| {
            let n = batches[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap();
            n.value(0)
        };
        let before = single(ctx.sql(count).await.unwrap().collect().await.unwrap());
        let facts = dir.path().join(store::FACT_TABLE);
        let year = std::fs::read_dir(&facts).unwrap().next().unwrap().unwrap().path();
        let copy = facts.join("year=2099");
        std::fs::create_dir_all(&copy).unwrap();
        for entry in std::fs::read_dir(&year).unwrap() {
            let from = entry.unwrap().path();
            let to = copy.join(from.file_name().unwrap());
            std::fs::create_dir_all(&to).unwrap();
            for file in std::fs::read_dir(&from).unwrap() {
                let file = file.unwrap().path();
                std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
            }
        }
        let after = single(ctx.sql(count).await.unwrap().collect().await.unwrap());
        assert_eq!(after, before * 2, "{before} rows in one year, then {after} with a copy of it");

        // The copied first half-year rewritten with the second one's rows.
        let file_of = |half: &Path| std::fs::read_dir(half).unwrap().next().unwrap().unwrap().path();
        let second = file_of(&copy.join("half=2"));
        let first = file_of(&copy.join("half=1"));
        let rewritten = first.with_extension("tmp");
        std::fs::copy(&second, &rewritten).unwrap();
        std::fs::rename(&rewritten, &first).unwrap();
        let sum = |half: &str| format!("SELECT sum(ontvangen_meldingen) FROM veilig_thuis WHERE year = 2099 {half}");
        let whole = single(ctx.sql(&sum("")).await.unwrap().collect().await.unwrap());
        let second_half = single(ctx.sql(&sum("AND half = 2")).await.unwrap().collect().await.unwrap());
        assert_eq!(whole, 2 * second_half);
    }

    /// Planning reads each file's statistics once per session, and registering the tables again (after a
    /// change of session options) keeps the answers.
    #[tokio::test]
    async fn file_statistics_are_cached_and_tables_register_again() {
        let dir = crate::generate::generated_dir(2, 1);
        let ctx = open(dir.path()).await.unwrap();
        let cache = ctx.runtime_env().cache_manager.get_file_statistic_cache().expect("a statistics cache");
        assert_eq!(cache.len(), 0);
        let count = "SELECT count(*) AS n FROM veilig_thuis WHERE region_level = 'gemeente'";
        let first = ctx.sql(count).await.unwrap().collect().await.unwrap();
        let cached = cache.len();
        // Two half-year files of facts; the dimension tables are files of their own.
        assert!(cached >= 2, "{cached} files in the cache");
        ctx.sql(count).await.unwrap().collect().await.unwrap();
        assert_eq!(cache.len(), cached);

        // vtsql's files have no bloom filters, so sessions skip checking them unless told otherwise.
        assert!(!ctx.state().table_options().parquet.global.bloom_filter_on_read);
        let before = ctx.state().config_options().execution.parquet.clone();
        assert!(!parquet_settings_changed(&ctx, dir.path(), &before).await.unwrap());
        ctx.sql("SET datafusion.execution.parquet.bloom_filter_on_read = true").await.unwrap();
        assert!(parquet_settings_changed(&ctx, dir.path(), &before).await.unwrap());
        for table in [store::FACT_TABLE, "regions"] {
            let provider = ctx.table_provider(table).await.unwrap();
            let listing = provider.downcast_ref::<ListingTable>().expect("a listing table");
            let format = listing.options().format.downcast_ref::<ParquetFormat>().expect("parquet");
            assert!(format.options().global.bloom_filter_on_read, "{table}");
        }
        let again = ctx.sql(count).await.unwrap().collect().await.unwrap();
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
        assert_eq!(cache.len(), cached);
    }
}
