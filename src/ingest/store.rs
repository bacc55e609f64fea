//! Parquet storage of the data directory (the tables are described in [`crate::schema`] and
//! [`super::cbs::table`]); ingest and the generator write through it.
//!
//! ```text
//! DATA/.staging/     scratch space, never read by queries
//! ```
//! Nothing is written in place: a partition is built complete under `.staging` and then swapped in
//! with one atomic rename, so a reader sees the old partition or the new one, never a mixture, and a
//! failure leaves the old data as it was.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::dimensions::Population;
use super::error::{IngestError, Result};
use super::generation;
use crate::schema;
use arrow::array::{Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

const STAGING: &str = ".staging";

/// Rows per data page at most (the writer's default is 20,000): small enough that the page index narrows
/// a filter on one kind of violence within a level to its run.
pub const PAGE_ROWS: usize = 4096;

/// Columns outside the sort order that keep page statistics: a filter for rows with suppressed cells
/// skips the pages without any.
const PAGE_STATISTICS_ALSO: [&str; 1] = ["suppressed_cells"];

/// Parquet settings of every vtsql file: LZ4 (raw) but zstd for region codes and names, page statistics
/// for the sort columns and `suppressed_cells` (column-chunk statistics for the rest), the sort order
/// declared.
///
/// Readers keep each file's page index in memory for as long as the session runs, a few entries per page
/// of every column that has one. The minimum and maximum of a page of names or of unsorted counts prune
/// next to nothing, while the sort columns' narrow a filter to its run of pages.
///
/// LZ4 rather than zstd: the reader creates a codec per column chunk it reads, and a zstd codec allocates
/// a compression and a decompression context each time, on every query. Region codes and names stay zstd:
/// with a few hundred thousand (synthetic) wijken per file their dictionaries overflow and the strings are
/// stored plain, which zstd shrinks several times better than LZ4 (sizes in benches/RESULTS.md).
pub fn writer_properties(schema: &Schema, sorted_by: &[&str]) -> WriterProperties {
    let sorting = sorted_by
        .iter()
        .filter_map(|name| schema.index_of(name).ok())
        .map(|i| SortingColumn { column_idx: i as i32, descending: false, nulls_first: false })
        .collect();
    let chunk_statistics_only = schema
        .fields()
        .iter()
        .filter(|f| !sorted_by.contains(&f.name().as_str()) && !PAGE_STATISTICS_ALSO.contains(&f.name().as_str()));
    let mut builder = WriterProperties::builder();
    for field in chunk_statistics_only {
        builder =
            builder.set_column_statistics_enabled(ColumnPath::from(field.name().as_str()), EnabledStatistics::Chunk);
    }
    builder
        .set_compression(Compression::LZ4_RAW)
        .set_column_compression(ColumnPath::from("region_code"), Compression::ZSTD(ZstdLevel::default()))
        .set_column_compression(ColumnPath::from("region_name"), Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_sorting_columns(Some(sorting))
        .set_created_by(format!("vtsql {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A writer of a new Parquet file at `path` with [`writer_properties`].
///
/// The files carry no Arrow schema of their own: every column's type follows from its Parquet type
/// (text, Int32, Int64, Boolean), and readers would decode an embedded copy (base64, then IPC) each time
/// they open a file.
fn file_writer(path: &Path, schema: SchemaRef, sorted_by: &[&str]) -> Result<ArrowWriter<File>> {
    let file = File::create(path).map_err(|e| IngestError::io(path, e))?;
    let options =
        ArrowWriterOptions::new().with_properties(writer_properties(&schema, sorted_by)).with_skip_arrow_metadata(true);
    ArrowWriter::try_new_with_options(file, schema, options).map_err(|e| IngestError::store(path, e))
}

/// The footer entry (key-value metadata) of a file whose rows its writer found unique on the table's primary
/// key: the key's columns, joined by `,`. Readers take it instead of reading the key columns again.
pub const UNIQUE_KEY: &str = "vtsql.unique_key";

/// Whether a file's footer says its rows are unique on `key` ([`UNIQUE_KEY`]).
pub fn footer_says_unique(footer: &parquet::file::metadata::FileMetaData, key: &[&str]) -> bool {
    let told = footer.key_value_metadata().and_then(|kvs| kvs.iter().find(|kv| kv.key == UNIQUE_KEY));
    told.and_then(|kv| kv.value.as_deref()) == Some(key.join(",").as_str())
}

/// Whether no two rows of `batch` have the same values in `columns` (NULL counts as a value).
///
/// Most of vtsql's files are sorted on their key, and rows that strictly increase are unique without
/// hashing; others are hashed.
pub fn unique_rows(batch: &RecordBatch, columns: &[usize]) -> arrow::error::Result<bool> {
    use arrow::row::{RowConverter, SortField};
    let arrays: Vec<arrow::array::ArrayRef> = columns.iter().map(|&i| std::sync::Arc::clone(batch.column(i))).collect();
    let converter = RowConverter::new(arrays.iter().map(|a| SortField::new(a.data_type().clone())).collect())?;
    let rows = converter.convert_columns(&arrays)?;
    if (1..rows.num_rows()).all(|i| rows.row(i - 1) < rows.row(i)) {
        return Ok(true);
    }
    let mut seen =
        std::collections::HashSet::with_capacity_and_hasher(rows.num_rows(), foldhash::fast::RandomState::default());
    Ok(rows.iter().all(|row| seen.insert(row)))
}

/// Writes `table`'s rows (one batch, already in the table's order) to a new Parquet file and syncs it; where
/// the rows are unique on the table's primary key, the footer says so ([`UNIQUE_KEY`]).
pub fn write_table(path: &Path, table: &schema::Table, batch: &RecordBatch) -> Result<()> {
    let mut writer = file_writer(path, batch.schema(), table.sort)?;
    let key: Option<Vec<usize>> = table.primary_key.iter().map(|c| batch.schema().index_of(c).ok()).collect();
    if let Some(key) = key.filter(|k| !k.is_empty())
        && unique_rows(batch, &key).map_err(|e| IngestError::store(path, e))?
    {
        let columns = table.primary_key.join(",");
        writer.append_key_value_metadata(parquet::file::metadata::KeyValue::new(UNIQUE_KEY.to_string(), columns));
    }
    writer.write(batch).map_err(|e| IngestError::store(path, e))?;
    let file = writer.into_inner().map_err(|e| IngestError::store(path, e))?;
    file.sync_all().map_err(|e| IngestError::io(path, e))
}

/// Rows of a partition from which each region level goes in a file of its own ([`SortedFileWriter`]): a
/// row group's worth.
pub const LEVEL_FILES_FROM: u64 = 1 << 20;

/// A partition directory's Parquet files, written batch by batch from rows already in the order `sort`
/// names: `part-0.parquet`, and where levels go apart, `part-1.parquet` and on.
///
/// Where that order starts with `region_level`, each level goes in row groups of its own: a gemeente-only
/// query reads a dictionary of gemeente codes, not one filled by the wijken after them, and row-group
/// statistics skip the other levels outright.
///
/// A partition of at least [`LEVEL_FILES_FROM`] rows puts each level in a file of its own. A process's
/// first query reads the footer of every file it lists and the page index of every file it opens; a
/// file's statistics tell its level, so a query of gemeenten opens no file of wijken and leaves their page
/// index (99% of a generated partition's, megabytes at a billion rows) unread. Smaller partitions, such as
/// CBS's own tables, stay one file: there a file more costs more than the page index it would leave unread.
pub struct SortedFileWriter {
    dir: PathBuf,
    schema: SchemaRef,
    sort: Vec<String>,
    /// The file being written and its writer.
    path: PathBuf,
    writer: ArrowWriter<File>,
    /// Files finished so far.
    finished: usize,
    by_level: bool,
    level_files: bool,
    /// The region level of the row group being written.
    level: Option<String>,
}

impl SortedFileWriter {
    /// Starts writing partition directory `dir` (which exists), of about `rows` rows.
    pub fn create(dir: &Path, schema: SchemaRef, sort: &[&str], rows: u64) -> Result<Self> {
        let by_level = sort.first() == Some(&"region_level") && schema.index_of("region_level").is_ok();
        let path = Self::file(dir, 0);
        let writer = file_writer(&path, Arc::clone(&schema), sort)?;
        Ok(SortedFileWriter {
            dir: dir.to_path_buf(),
            schema,
            sort: sort.iter().map(|c| c.to_string()).collect(),
            path,
            writer,
            finished: 0,
            by_level,
            level_files: by_level && rows >= LEVEL_FILES_FROM,
            level: None,
        })
    }

    fn file(dir: &Path, index: usize) -> PathBuf {
        dir.join(format!("part-{index}.parquet"))
    }

    /// Appends rows that follow the rows written so far in the partition's order.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if !self.by_level {
            return self.writer.write(batch).map_err(|e| IngestError::store(&self.path, e));
        }
        let error = |path: &Path, e: &dyn std::fmt::Display| IngestError::store(path, e);
        let column =
            batch.column_by_name("region_level").ok_or_else(|| error(&self.path, &"a batch without region_level"))?;
        let levels = column
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| error(&self.path, &"region_level is not text"))?;
        let runs = arrow::compute::partition(std::slice::from_ref(column)).map_err(|e| error(&self.path, &e))?.ranges();
        for run in runs {
            let level = if levels.is_null(run.start) { "" } else { levels.value(run.start) };
            if self.level.as_deref().is_some_and(|current| current != level) {
                if self.level_files {
                    self.next_file()?;
                } else {
                    self.writer.flush().map_err(|e| error(&self.path, &e))?;
                }
            }
            self.level = Some(level.to_string());
            self.writer.write(&batch.slice(run.start, run.len())).map_err(|e| error(&self.path, &e))?;
        }
        Ok(())
    }

    /// Finishes the file being written and starts the next.
    fn next_file(&mut self) -> Result<()> {
        let path = Self::file(&self.dir, self.finished + 1);
        let sort: Vec<&str> = self.sort.iter().map(String::as_str).collect();
        let writer = file_writer(&path, Arc::clone(&self.schema), &sort)?;
        let done = std::mem::replace(&mut self.writer, writer);
        let done_path = std::mem::replace(&mut self.path, path);
        self.finished += 1;
        finish_file(&done_path, done)
    }

    /// Finishes the last file and syncs it to disk (each earlier one was synced when it was finished).
    pub fn finish(self) -> Result<()> {
        finish_file(&self.path, self.writer)
    }
}

fn finish_file(path: &Path, writer: ArrowWriter<File>) -> Result<()> {
    let file = writer.into_inner().map_err(|e| IngestError::store(path, e))?;
    file.sync_all().map_err(|e| IngestError::io(path, e))
}

/// Reads every batch of every Parquet file directly in `dir` (or of the file `path`).
pub fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| IngestError::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        // part-2 before part-10: a partition's files in the order they were written
        files.sort_by_key(|p| (p.as_os_str().len(), p.clone()));
        files
    } else if path.exists() {
        vec![path.to_path_buf()]
    } else {
        vec![]
    };
    let mut batches = Vec::new();
    for file_path in files {
        let file = File::open(&file_path).map_err(|e| IngestError::io(&file_path, e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| IngestError::store(&file_path, e))?;
        for batch in reader {
            batches.push(batch.map_err(|e| IngestError::store(&file_path, e))?);
        }
    }
    Ok(batches)
}

/// Lets a crash test stop the process at a named step of a commit (`VTSQL_FAILPOINT=commit:1` aborts after the
/// new generation is in the data directory, before it is made current): the steps a kill -9 can fall between.
fn failpoint(step: &str, index: usize) {
    if let Ok(wanted) = std::env::var("VTSQL_FAILPOINT")
        && wanted == format!("{step}:{index}")
    {
        std::process::abort();
    }
}

/// The name of the file that holds a data directory's writer lock.
const LOCK: &str = ".lock";

/// The data directory and its staging area, held by one writer at a time.
///
/// A writer takes the directory's lock (`DATA/.lock`, waiting for another writer to finish), then removes what
/// a writer that died left behind ([`Store::open`]). A run stages every table and partition it writes under
/// `DATA/.staging/run-*` and commits them together ([`Run::commit`]) as a new generation of the tables
/// ([`super::generation`]): the unchanged files linked, the staged ones moved in, and the generation made
/// current by one rename. A reader sees the old generation or the new one, never a mixture, even when the
/// writer dies at any moment, and a reader still reading the old generation keeps it until it is done.
pub struct Store {
    pub data_dir: PathBuf,
    staging: PathBuf,
    /// The current tables when the store was opened: a generation, or the data directory's top level in a
    /// directory written before generations existed.
    tables: PathBuf,
    _lock: File,
    /// This writer made the data directory: if nothing is committed, it takes it away again.
    created: bool,
    committed: std::cell::Cell<bool>,
}

impl Store {
    /// Takes the writer lock of `data_dir` (creating the directory), waiting for another writer if there is
    /// one (`waiting` is told), and removes what a dead writer left.
    pub fn open(data_dir: &Path, waiting: &mut dyn FnMut(&str)) -> Result<Self> {
        let created = !data_dir.exists();
        std::fs::create_dir_all(data_dir).map_err(|e| IngestError::io(data_dir, e))?;
        let lock_path = data_dir.join(LOCK);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| IngestError::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                waiting(&format!("waiting for another vtsql that is writing {}", data_dir.display()));
                lock.lock().map_err(|e| IngestError::io(&lock_path, e))?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(IngestError::io(&lock_path, e)),
        }
        let staging = data_dir.join(STAGING);
        std::fs::create_dir_all(&staging).map_err(|e| IngestError::io(&staging, e))?;
        let store = Store {
            data_dir: data_dir.to_path_buf(),
            tables: generation::tables_dir(data_dir),
            staging,
            _lock: lock,
            created,
            committed: std::cell::Cell::new(false),
        };
        store.recover()?;
        Ok(store)
    }

    /// The directory of the tables this writer reads and changes.
    pub fn tables(&self) -> &Path {
        &self.tables
    }

    /// Removes what a dead writer left in `data_dir` (runs under staging, generations that never became current
    /// or are no longer read), if no writer holds it now. Answers whether it looked. Readers do not need it: they
    /// never see a half-written generation.
    pub fn recover_if_idle(data_dir: &Path) -> Result<bool> {
        let staging = data_dir.join(STAGING);
        let pending = std::fs::read_dir(&staging).is_ok_and(|mut entries| entries.next().is_some());
        let lock_path = data_dir.join(LOCK);
        if !pending || !lock_path.is_file() {
            return Ok(false);
        }
        let Ok(lock) = File::options().write(true).open(&lock_path) else {
            return Ok(false); // a read-only data directory: nothing to remove, nothing that needs removing
        };
        if lock.try_lock().is_err() {
            return Ok(false);
        }
        let store = Store {
            data_dir: data_dir.to_path_buf(),
            tables: generation::tables_dir(data_dir),
            staging,
            _lock: lock,
            created: false,
            committed: std::cell::Cell::new(false),
        };
        store.recover()?;
        Ok(true)
    }

    /// Removes everything under staging and every generation that is not current and not read (no other writer
    /// is alive: this one holds the lock).
    fn recover(&self) -> Result<()> {
        let entries = std::fs::read_dir(&self.staging).map_err(|e| IngestError::io(&self.staging, e))?;
        let mut leftovers: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        leftovers.sort();
        for path in leftovers {
            remove_any(&path)?;
        }
        generation::remove_unused(&self.data_dir, &self.staging)
    }

    /// Starts a run: its staging directory.
    pub fn begin(&self) -> Result<Run<'_>> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let id = format!("run-{}-{nanos}", std::process::id());
        let dir = self.staging.join(&id);
        std::fs::create_dir_all(&dir).map_err(|e| IngestError::io(&dir, e))?;
        Ok(Run { store: self, dir, moves: Vec::new(), done: false })
    }
}

impl Drop for Store {
    /// A data directory this writer made and committed nothing to is taken away again: a refused ingest
    /// into a new directory leaves none behind. Only empty directories are removed.
    fn drop(&mut self) {
        if self.created && !self.committed.get() {
            let _ = std::fs::remove_dir(&self.staging);
            let _ = std::fs::remove_file(self.data_dir.join(LOCK));
            let _ = std::fs::remove_dir(&self.data_dir);
        }
    }
}

fn remove_any(path: &Path) -> Result<()> {
    let removed = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    match removed {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(IngestError::io(path, e)),
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| IngestError::io(dir, e))
}

/// A run's staging directory, shared by the threads that write partitions side by side.
#[derive(Clone, Copy)]
pub struct Staging<'r> {
    dir: &'r Path,
}

impl Staging<'_> {
    /// Writes partition directory `target` (`cbs_84852ned/year=2020/half=1`): `batch` becomes its files
    /// ([`SortedFileWriter`]), declared sorted by `sort`. It takes effect once [`Run::add_directory`] has it and the run commits.
    pub fn write_directory(&self, target: &str, batch: &RecordBatch, sort: &[&str]) -> Result<StagedDirectory> {
        let staged = format!("dir-{}", target.replace('/', "-"));
        let dir = self.dir.join(&staged);
        std::fs::create_dir_all(&dir).map_err(|e| IngestError::io(&dir, e))?;
        let mut writer = SortedFileWriter::create(&dir, batch.schema(), sort, batch.num_rows() as u64)?;
        writer.write(batch)?;
        writer.finish()?;
        sync_dir(&dir)?;
        Ok(StagedDirectory { staged, target: target.to_string() })
    }
}

/// A partition directory written under a run's staging directory, not yet part of the run.
#[derive(Debug)]
pub struct StagedDirectory {
    staged: String,
    target: String,
}

/// What a change of a run does to its target in the new generation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum MoveKind {
    /// A staged file or partition directory takes the target's place.
    Replace,
    /// The target is left out.
    Remove,
}

/// One change of a run.
#[derive(Debug, Clone, PartialEq)]
struct Move {
    /// The name under the run's staging directory.
    staged: String,
    /// The target, relative to the tables directory.
    target: String,
    kind: MoveKind,
}

/// Writes staged under one staging directory, committed together as one new generation.
pub struct Run<'s> {
    store: &'s Store,
    dir: PathBuf,
    moves: Vec<Move>,
    done: bool,
}

impl<'s> Run<'s> {
    /// Leaves `target` (a directory or file, relative to the tables directory) out of the new generation: a
    /// table that is no longer written in this form.
    pub fn remove(&mut self, target: &str) {
        let staged = format!("removed-{}", self.moves.len());
        self.moves.push(Move { staged, target: target.to_string(), kind: MoveKind::Remove });
    }

    /// Stages a dimension table; it replaces the table at commit.
    pub fn stage_table(&mut self, table: &schema::Table, batch: &RecordBatch) -> Result<()> {
        let staged = format!("table-{}", table.path);
        write_table(&self.dir.join(&staged), table, batch)?;
        self.moves.push(Move { staged, target: table.path.to_string(), kind: MoveKind::Replace });
        Ok(())
    }

    /// Where this run's partition directories are written, by as many threads as share it.
    pub fn staging(&self) -> Staging<'_> {
        Staging { dir: &self.dir }
    }

    /// Makes a directory written through [`Run::staging`] part of this run: it replaces its target at commit.
    pub fn add_directory(&mut self, directory: StagedDirectory) {
        self.moves.push(Move { staged: directory.staged, target: directory.target, kind: MoveKind::Replace });
    }

    /// Stages a small file (a table's metadata) that replaces `target` at commit.
    pub fn stage_file(&mut self, target: &str, bytes: &[u8]) -> Result<()> {
        let staged = format!("file-{}", target.replace('/', "-"));
        let path = self.dir.join(&staged);
        let mut file = File::create(&path).map_err(|e| IngestError::io(&path, e))?;
        std::io::Write::write_all(&mut file, bytes).map_err(|e| IngestError::io(&path, e))?;
        file.sync_all().map_err(|e| IngestError::io(&path, e))?;
        self.moves.push(Move { staged, target: target.to_string(), kind: MoveKind::Replace });
        Ok(())
    }

    /// Makes every staged write take effect, or none: a new generation of the tables is built beside the current
    /// one (the files this run does not change are hard links, the staged ones moved in), put in the data
    /// directory, and made current by one rename. A crash before that rename leaves the old generation current
    /// (and a leftover the next writer removes); after it, the new one.
    pub fn commit(mut self) -> Result<()> {
        let store = self.store;
        failpoint("commit", 0);
        let generation = self.dir.join("generation");
        let changed: std::collections::HashSet<PathBuf> = self.moves.iter().map(|m| PathBuf::from(&m.target)).collect();
        let skip = |path: &Path| changed.contains(path);
        let legacy = generation::current_name(&store.data_dir)?.is_none();
        let only: Option<&dyn Fn(&str) -> bool> = if legacy { Some(&generation::is_legacy_table) } else { None };
        if store.tables.is_dir() {
            generation::link_tree(&store.tables, &generation, &skip, only)?;
        } else {
            std::fs::create_dir_all(&generation).map_err(|e| IngestError::io(&generation, e))?;
        }
        for m in self.moves.iter().filter(|m| m.kind == MoveKind::Replace) {
            let target = generation.join(&m.target);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| IngestError::io(parent, e))?;
            }
            let staged = self.dir.join(&m.staged);
            std::fs::rename(&staged, &target).map_err(|e| IngestError::io(&target, e))?;
            if let Some(parent) = target.parent() {
                sync_dir(parent)?;
            }
        }
        let readers = generation.join(generation::READERS);
        File::create(&readers).map_err(|e| IngestError::io(&readers, e))?;
        sync_dir(&generation)?;
        let name = generation::next_name(&store.data_dir);
        let placed = store.data_dir.join(&name);
        std::fs::rename(&generation, &placed).map_err(|e| IngestError::io(&placed, e))?;
        sync_dir(&store.data_dir)?;
        failpoint("commit", 1);
        generation::switch(&store.data_dir, &name)?;
        self.done = true;
        store.committed.set(true);
        failpoint("commit", 2);
        if legacy {
            // the tables at the top level, now in the first generation, are read there no more
            for entry in std::fs::read_dir(&store.data_dir).map_err(|e| IngestError::io(&store.data_dir, e))?.flatten()
            {
                if generation::is_legacy_table(&entry.file_name().to_string_lossy()) {
                    remove_any(&entry.path())?;
                }
            }
        }
        remove_any(&self.dir)?;
        generation::remove_unused(&store.data_dir, &store.staging)?;
        sync_dir(&store.staging)
    }
}

impl Drop for Run<'_> {
    /// A run that was not committed leaves nothing behind.
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn population_to_batch(rows: &[Population]) -> arrow::error::Result<RecordBatch> {
    RecordBatch::try_new(
        schema::POPULATION.schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.region_code.as_str()))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.year))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.population))),
        ],
    )
}

pub fn population_from_batches(batches: &[RecordBatch], path: &Path) -> Result<Vec<Population>> {
    let mut rows = Vec::new();
    for batch in batches {
        let bad = || IngestError::store(path, "not a vtsql population file");
        let code = batch.column(0).as_any().downcast_ref::<StringArray>().ok_or_else(bad)?;
        let year = batch.column(1).as_any().downcast_ref::<Int32Array>().ok_or_else(bad)?;
        let people = batch.column(2).as_any().downcast_ref::<Int64Array>().ok_or_else(bad)?;
        for i in 0..batch.num_rows() {
            rows.push(Population {
                region_code: code.value(i).to_string(),
                year: year.value(i),
                population: people.value(i),
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::ArrayRef;
    use arrow::datatypes::{DataType, Field};

    /// The files hold no embedded Arrow schema, so each table's schema must follow from the Parquet types
    /// alone: same names, types and nullability as written.
    #[test]
    fn files_read_back_with_their_schema_without_an_embedded_one() {
        let dir = tempfile::tempdir().unwrap();
        for table in schema::DIMENSIONS {
            let (name, schema) = (table.name, table.schema());
            let path = dir.path().join(format!("{name}.parquet"));
            let empty = RecordBatch::new_empty(schema.clone());
            write_table(&path, table, &empty).unwrap();
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
            let key_values = reader.metadata().file_metadata().key_value_metadata().cloned().unwrap_or_default();
            assert!(key_values.iter().all(|kv| kv.key != "ARROW:schema"), "{name}: {key_values:?}");
            assert_eq!(reader.schema().fields(), schema.fields(), "{name}");
        }
    }

    /// The region levels of each file of a partition directory written by [`SortedFileWriter`]: per file,
    /// per row group, the level (all rows of a row group have one).
    fn levels_per_file(dir: &Path, files: usize) -> Vec<Vec<String>> {
        (0..files)
            .map(|i| {
                let file = File::open(dir.join(format!("part-{i}.parquet"))).unwrap();
                let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
                let groups = reader.metadata().num_row_groups();
                let row_groups: Vec<RecordBatch> = (0..groups)
                    .flat_map(|g| {
                        let file = File::open(dir.join(format!("part-{i}.parquet"))).unwrap();
                        ParquetRecordBatchReaderBuilder::try_new(file)
                            .unwrap()
                            .with_row_groups(vec![g])
                            .build()
                            .unwrap()
                    })
                    .map(|b| b.unwrap())
                    .collect();
                row_groups
                    .iter()
                    .map(|b| {
                        let levels = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
                        assert!(levels.iter().all(|l| l == Some(levels.value(0))), "one level per row group");
                        levels.value(0).to_string()
                    })
                    .collect()
            })
            .collect()
    }

    /// A partition sorted by level: row groups per level in one file, or a file per level from
    /// [`LEVEL_FILES_FROM`] rows on; read back whole and in order either way.
    #[test]
    fn levels_go_in_row_groups_of_their_own_and_in_files_of_their_own_in_large_partitions() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("region_level", DataType::Utf8, false),
            Field::new("region_code", DataType::Utf8, false),
        ]));
        let batch = |rows: &[(&str, &str)]| {
            let (levels, codes): (Vec<&str>, Vec<&str>) = rows.iter().copied().unzip();
            let columns = vec![Arc::new(StringArray::from(levels)) as ArrayRef, Arc::new(StringArray::from(codes))];
            RecordBatch::try_new(Arc::clone(&schema), columns).unwrap()
        };
        // a batch across a level's end, then a batch of one level
        let batches =
            [batch(&[("gemeente", "GM01"), ("gemeente", "GM02"), ("land", "NL01")]), batch(&[("wijk", "WK0101")])];
        for (rows, files) in [(10, 1), (LEVEL_FILES_FROM, 3)] {
            let dir = tempfile::tempdir().unwrap();
            let mut writer =
                SortedFileWriter::create(dir.path(), Arc::clone(&schema), &["region_level", "region_code"], rows)
                    .unwrap();
            for b in &batches {
                writer.write(b).unwrap();
            }
            writer.finish().unwrap();
            let written = std::fs::read_dir(dir.path()).unwrap().count();
            assert_eq!(written, files, "{rows} rows");
            let expected: Vec<Vec<String>> = if files == 1 {
                vec![vec!["gemeente".into(), "land".into(), "wijk".into()]]
            } else {
                vec![vec!["gemeente".into()], vec!["land".into()], vec!["wijk".into()]]
            };
            assert_eq!(levels_per_file(dir.path(), files), expected);
            let back = read_parquet(dir.path()).unwrap();
            let codes: Vec<String> = back
                .iter()
                .flat_map(|b| {
                    b.column(1)
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .unwrap()
                        .iter()
                        .map(|c| c.unwrap().to_string())
                        .collect::<Vec<_>>()
                })
                .collect();
            assert_eq!(codes, ["GM01", "GM02", "NL01", "WK0101"]);
        }
    }

    #[test]
    fn column_chunks_are_lz4_but_region_codes_and_names_zstd_and_page_statistics_where_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("counts.parquet");
        let schema = Arc::new(Schema::new(vec![
            Field::new("meldingen", DataType::Int64, true),
            Field::new("region_code", DataType::Utf8, false),
            Field::new("region_name", DataType::Utf8, false),
        ]));
        let text = |v: &str| Arc::new(StringArray::from(vec![v, v])) as ArrayRef;
        let columns =
            vec![Arc::new(Int64Array::from(vec![Some(5), None])) as ArrayRef, text("GM0363"), text("Amsterdam")];
        let batch = RecordBatch::try_new(schema, columns).unwrap();
        let table = schema::Table { sort: &["region_code"], ..schema::REGIONS };
        write_table(&path, &table, &batch).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        let chunks: Vec<_> = reader.metadata().row_groups().iter().flat_map(|group| group.columns()).collect();
        let compressions: Vec<_> = chunks.iter().map(|c| c.compression()).collect();
        let zstd = Compression::ZSTD(ZstdLevel::default());
        assert_eq!(compressions, [Compression::LZ4_RAW, zstd, zstd]);
        // sort columns have a page index of minimum and maximum; other columns have none
        let page_statistics: Vec<_> = chunks.iter().map(|c| c.column_index_offset().is_some()).collect();
        assert_eq!(page_statistics, [false, true, false]);
        assert!(chunks.iter().all(|c| c.statistics().is_some_and(|s| s.min_bytes_opt().is_some())));
    }

    /// The footer says the rows are unique on the table's key only where they are.
    #[test]
    fn the_footer_tells_a_unique_key() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("region_code", DataType::Utf8, false),
            Field::new("year", DataType::Int32, false),
        ]));
        let table = schema::Table { primary_key: &["region_code", "year"], ..schema::POPULATION };
        for (years, unique) in [([2024, 2025, 2024], true), ([2024, 2024, 2025], false)] {
            let codes = Arc::new(StringArray::from(vec!["GM0363", "GM0363", "GM0599"])) as ArrayRef;
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![codes, Arc::new(arrow::array::Int32Array::from(years.to_vec()))],
            )
            .unwrap();
            let path = dir.path().join(format!("{unique}.parquet"));
            write_table(&path, &table, &batch).unwrap();
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
            let told = footer_says_unique(reader.metadata().file_metadata(), &["region_code", "year"]);
            assert_eq!(told, unique, "{years:?}");
            assert!(!footer_says_unique(reader.metadata().file_metadata(), &["region_code"]), "{years:?}");
        }
    }
}
