//! [`FooterStatistics`]: vtsql's own Parquet tables read as DataFusion reads Parquet, with each file's table
//! statistics taken from its footer alone.
//!
//! A listing table collects every listed file's statistics (row count, minimum and maximum per column)
//! the first time a process plans a query over it. DataFusion's Parquet format reads them through the
//! session's metadata cache and, because there is a cache, asks for the page index as well ("it will be
//! used"): every file of the table has its page index read and parsed, including files that the query's
//! filter then skips on those very statistics. vtsql's files keep a page index of their sort columns in
//! pages of 4,096 rows (`ingest::store::PAGE_ROWS`); a file of 50 million rows carries about 9 MB of it,
//! and at a billion rows reading all of them was most of a process's first query (`benches/RESULTS.md`,
//! round 13).
//!
//! Here the statistics come from the footer only. A scan opens the files that survive pruning on those
//! statistics with their page index, through the session's metadata cache ([`PageIndexFirst`]): left to
//! itself, DataFusion's scan finds a cached footer without page index, reads the page index where its
//! filters can use it, and does not cache it, so every query would read it again. Everything else is
//! DataFusion's `ParquetFormat`, which this wraps.
//!
//! The files are pruned while planning, by `plan_rules::file_pruning`. DataFusion's own check as it opens
//! a file does not skip a file on a column that is constant in it (a partition of a file per region level,
//! `ingest::store::SortedFileWriter`): it first puts the constant in place of the column, and the pruning
//! predicate it then builds cannot use `'wijk' = 'gemeente'` (a candidate for DataFusion upstream).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{Statistics, internal_err};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::DataSourceExec;
use datafusion::datasource::physical_plan::parquet::ParquetFileReaderFactory;
use datafusion::datasource::physical_plan::parquet::metadata::{DFParquetMetadata, ordering_from_parquet_metadata};
use datafusion::datasource::physical_plan::{FileScanConfig, FileSinkConfig, FileSource};
use datafusion::datasource::physical_plan::{FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result;
use datafusion::object_store::{ObjectMeta, ObjectStore};
use datafusion::parquet;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use datafusion::physical_expr::{LexOrdering, LexRequirement};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::FutureExt;
use futures::future::BoxFuture;

/// Marks a session whose plans go elsewhere as data (a cluster's client): its tables read with DataFusion's
/// own Parquet format, which a plan's wire form knows and [`FooterStatistics`] is not.
#[derive(Debug, Default)]
pub struct SerialisedPlans;

/// DataFusion's Parquet format with table statistics read from footers only (module docs).
#[derive(Debug)]
pub struct FooterStatistics {
    parquet: ParquetFormat,
}

impl FooterStatistics {
    pub fn new(parquet: ParquetFormat) -> Self {
        FooterStatistics { parquet }
    }

    /// The Parquet format (and its options) this reads with.
    pub fn parquet(&self) -> &ParquetFormat {
        &self.parquet
    }

    /// The file's footer, from the session's metadata cache or the file; a cached footer that already has
    /// its page index is returned as it is.
    async fn footer(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        object: &ObjectMeta,
    ) -> Result<Arc<ParquetMetaData>> {
        DFParquetMetadata::new(store.as_ref(), object)
            .with_metadata_size_hint(self.parquet.metadata_size_hint())
            .with_file_metadata_cache(Some(state.runtime_env().cache_manager.get_file_metadata_cache()))
            .with_page_index_policy(Some(PageIndexPolicy::Skip))
            .fetch_metadata()
            .await
    }
}

#[async_trait]
impl FileFormat for FooterStatistics {
    fn get_ext(&self) -> String {
        self.parquet.get_ext()
    }

    fn get_ext_with_compression(&self, compression: &FileCompressionType) -> Result<String> {
        self.parquet.get_ext_with_compression(compression)
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        self.parquet.compression_type()
    }

    async fn infer_schema(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        objects: &[ObjectMeta],
    ) -> Result<SchemaRef> {
        self.parquet.infer_schema(state, store, objects).await
    }

    async fn infer_stats(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> Result<Statistics> {
        let footer = self.footer(state, store, object).await?;
        DFParquetMetadata::statistics_from_parquet_metadata(&footer, &table_schema)
    }

    async fn infer_ordering(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> Result<Option<LexOrdering>> {
        let footer = self.footer(state, store, object).await?;
        ordering_from_parquet_metadata(&footer, &table_schema)
    }

    async fn infer_stats_and_ordering(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> Result<datafusion::datasource::file_format::FileMeta> {
        let footer = self.footer(state, store, object).await?;
        let statistics = DFParquetMetadata::statistics_from_parquet_metadata(&footer, &table_schema)?;
        let ordering = ordering_from_parquet_metadata(&footer, &table_schema)?;
        Ok(datafusion::datasource::file_format::FileMeta::new(statistics).with_ordering(ordering))
    }

    async fn create_physical_plan(&self, state: &dyn Session, conf: FileScanConfig) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.parquet.create_physical_plan(state, conf).await?;
        let scan = plan
            .downcast_ref::<DataSourceExec>()
            .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
            .and_then(|config| Some((config, config.file_source().downcast_ref::<ParquetSource>()?)))
            .and_then(|(config, source)| Some((config, source, source.parquet_file_reader_factory()?)));
        let Some((config, source, readers)) = scan else {
            return internal_err!("DataFusion's Parquet format planned a scan of another shape: {plan:?}");
        };
        let readers = FooterReaders::new(Arc::clone(readers), PageIndexFirst);
        let source = source.clone().with_parquet_file_reader_factory(Arc::new(readers));
        Ok(DataSourceExec::from_data_source(
            FileScanConfigBuilder::from(config.clone()).with_source(Arc::new(source)).build(),
        ))
    }

    async fn create_writer_physical_plan(
        &self,
        input: Arc<dyn ExecutionPlan>,
        state: &dyn Session,
        conf: FileSinkConfig,
        order_requirements: Option<LexRequirement>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.parquet.create_writer_physical_plan(input, state, conf, order_requirements).await
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        self.parquet.file_source(table_schema)
    }
}

/// What a scan's file readers ([`FooterReaders`]) change in the footer they answer with: the options it is
/// read with, and the footer as read. Byte ranges are read as the wrapped readers read them.
pub trait FooterChange: fmt::Debug + Send + Sync + 'static {
    /// The options the wrapped reader reads the footer with (the scan's own by default).
    fn options(&self, options: Option<&ArrowReaderOptions>) -> Option<ArrowReaderOptions> {
        options.cloned()
    }

    /// The footer the scan gets (the one read by default).
    fn footer(&self, footer: Arc<ParquetMetaData>) -> parquet::errors::Result<Arc<ParquetMetaData>> {
        Ok(footer)
    }
}

/// A scan's file readers (DataFusion's, which go through the session's metadata cache) whose footers are
/// changed by `C`.
#[derive(Debug)]
pub struct FooterReaders<C> {
    inner: Arc<dyn ParquetFileReaderFactory>,
    change: Arc<C>,
}

impl<C: FooterChange> FooterReaders<C> {
    pub fn new(inner: Arc<dyn ParquetFileReaderFactory>, change: C) -> Self {
        FooterReaders { inner, change: Arc::new(change) }
    }
}

impl<C: FooterChange> ParquetFileReaderFactory for FooterReaders<C> {
    fn create_reader(
        &self,
        partition_index: usize,
        partitioned_file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> Result<Box<dyn AsyncFileReader + Send>> {
        let reader = self.inner.create_reader(partition_index, partitioned_file, metadata_size_hint, metrics)?;
        Ok(Box::new(FooterReader { inner: reader, change: Arc::clone(&self.change) }))
    }
}

/// One file's reader of a [`FooterReaders`].
struct FooterReader<C> {
    inner: Box<dyn AsyncFileReader + Send>,
    change: Arc<C>,
}

impl<C: FooterChange> AsyncFileReader for FooterReader<C> {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.inner.get_bytes(range)
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        self.inner.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        let options = self.change.options(options);
        async move {
            let footer = self.inner.get_metadata(options.as_ref()).await?;
            self.change.footer(footer)
        }
        .boxed()
    }
}

/// Opens a scan's files with their page index: a request for the footer alone asks for the footer together
/// with the page index, where the scan asks for the footer alone and reads the page index past the cache
/// when its filters can use it.
///
/// A file that pruning on its statistics skips is never opened, so its page index is never read.
#[derive(Debug)]
pub struct PageIndexFirst;

impl FooterChange for PageIndexFirst {
    fn options(&self, options: Option<&ArrowReaderOptions>) -> Option<ArrowReaderOptions> {
        Some(options.cloned().unwrap_or_default().with_page_index_policy(PageIndexPolicy::Optional))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::datasource::physical_plan::parquet::metadata::CachedParquetMetaData;
    use datafusion::prelude::SessionContext;

    /// Per cached file of the fact table: whether the session holds its page index.
    fn page_indexes(ctx: &SessionContext) -> Vec<(String, bool)> {
        let cache = ctx.runtime_env().cache_manager.get_file_metadata_cache();
        let mut files: Vec<(String, bool)> = cache
            .list_entries()
            .into_iter()
            .filter(|(path, _)| path.as_ref().contains("cbs_84851ned/"))
            .map(|(path, entry)| {
                let parquet = entry.value.file_metadata.as_any().downcast_ref::<CachedParquetMetaData>().unwrap();
                let metadata = parquet.parquet_metadata();
                (path.to_string(), metadata.column_index().is_some() && metadata.offset_index().is_some())
            })
            .collect();
        files.sort();
        files
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> usize {
        ctx.sql(sql).await.unwrap().collect().await.unwrap().iter().map(|b| b.num_rows()).sum()
    }

    /// Planning reads the footers of the files it lists and no page index; a scan whose filter the page
    /// index serves reads it, for the files it scans.
    #[tokio::test]
    async fn statistics_come_from_footers_and_the_scan_reads_the_page_index() {
        let dir = crate::generate::generated_dir(40, 2);
        let ctx = SessionContext::new();
        crate::catalog::register_tables(&ctx, &crate::ingest::generation::tables_dir(dir.path())).await.unwrap();
        assert!(page_indexes(&ctx).is_empty());

        // answered from the statistics of the two 2025 files: listed and read, not scanned
        assert_eq!(rows(&ctx, "SELECT count(*) FROM cbs_84851ned WHERE year = 2025").await, 1);
        let listed = page_indexes(&ctx);
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(listed.iter().all(|(_, page_index)| !page_index), "{listed:?}");

        // one kind of violence at one level: the page index narrows the scan to its pages
        let sql = "SELECT sum(ontvangen_meldingen) FROM veilig_thuis
                   WHERE year = 2025 AND region_level = 'gemeente' AND category = 'Totaal'";
        assert_eq!(rows(&ctx, sql).await, 1);
        let scanned = page_indexes(&ctx);
        assert_eq!(scanned.len(), 2, "{scanned:?}");
        assert!(scanned.iter().all(|(_, page_index)| *page_index), "{scanned:?}");
    }

    /// In a partition written a file per level, a query of one level opens that level's file only: the
    /// others' page indexes stay unread.
    #[tokio::test]
    async fn a_query_of_one_level_reads_the_page_index_of_that_levels_file_only() {
        let dir = crate::generate::generated_dir(40, 1);
        let tables = crate::ingest::generation::tables_dir(dir.path());
        files_per_level(&tables);
        let partition = tables.join("cbs_84851ned/year=2025/half=1");
        let files = std::fs::read_dir(&partition).unwrap().count();
        assert!(files >= 3, "{files} files");

        // vtsql's session: its plan rules prune files on their statistics while planning
        // (`plan_rules::file_pruning`)
        let ctx = crate::plan_rules::testing::session(crate::session::config(), true);
        crate::catalog::register_tables(&ctx, &tables).await.unwrap();
        let sql = "SELECT sum(ontvangen_meldingen) FROM veilig_thuis
                   WHERE year = 2025 AND half = 1 AND region_level = 'gemeente' AND category = 'Totaal'";
        assert_eq!(rows(&ctx, sql).await, 1);
        let cached = page_indexes(&ctx);
        assert_eq!(cached.len(), files, "every file's footer: {cached:?}");
        let with_page_index: Vec<&str> =
            cached.iter().filter(|(_, page_index)| *page_index).map(|(path, _)| path.as_str()).collect();
        // gemeente sorts first among the levels: part-0
        assert_eq!(with_page_index.len(), 1, "{cached:?}");
        assert!(with_page_index[0].ends_with("half=1/part-0.parquet"), "{cached:?}");
    }

    /// Rewrites every partition of the generated facts with a file per region level, as a partition of
    /// [`LEVEL_FILES_FROM`](crate::ingest::store::LEVEL_FILES_FROM) rows or more is written.
    fn files_per_level(tables: &std::path::Path) {
        use crate::ingest::cbs::table::{sort_columns, stored_tables};
        use crate::ingest::store::{self, LEVEL_FILES_FROM, SortedFileWriter};
        let meta = stored_tables(tables).unwrap().into_iter().find(|m| m.id == "84851NED").unwrap();
        let sort = sort_columns(&meta);
        let facts = tables.join("cbs_84851ned");
        for year in std::fs::read_dir(&facts).unwrap() {
            for half in std::fs::read_dir(year.unwrap().path()).unwrap() {
                let partition = half.unwrap().path();
                let batches = store::read_parquet(&partition).unwrap();
                std::fs::remove_file(partition.join("part-0.parquet")).unwrap();
                let mut writer =
                    SortedFileWriter::create(&partition, batches[0].schema(), &sort, LEVEL_FILES_FROM).unwrap();
                for batch in &batches {
                    writer.write(batch).unwrap();
                }
                writer.finish().unwrap();
                assert!(std::fs::read_dir(&partition).unwrap().count() >= 3);
            }
        }
    }

    /// Every benchmark query answers the same over a file per level as over one file per partition, with
    /// vtsql's plan rules and without.
    #[tokio::test]
    async fn the_suite_answers_alike_over_a_file_per_level() {
        let dir = crate::generate::generated_dir(40, 2);
        let tables = crate::ingest::generation::tables_dir(dir.path());
        let queries = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/queries");
        let mut files = crate::bench::suite(&queries, false).unwrap();
        files.extend(crate::bench::suite(&queries, true).unwrap());
        let answers = async || {
            let mut answers = Vec::new();
            for file in &files {
                let sql = std::fs::read_to_string(file).unwrap();
                let sessions = async |rules| {
                    let ctx = crate::plan_rules::testing::session(crate::session::config(), rules);
                    crate::catalog::register_tables(&ctx, &tables).await.unwrap();
                    ctx
                };
                answers.push(crate::plan_rules::testing::off_and_on(sessions, &sql).await.rows);
            }
            answers
        };
        let one_file = answers().await;
        files_per_level(&tables);
        let per_level = answers().await;
        for ((file, before), after) in files.iter().zip(&one_file).zip(&per_level) {
            assert_eq!(after, before, "{}", file.display());
        }
        // q07 asks for 2019-2021, which two generated years lack; every other query answers rows
        let answered = one_file.iter().filter(|rows| !rows.is_empty()).count();
        assert!(answered >= files.len() - 2, "{answered} of {} queries answered rows", files.len());
    }
}
