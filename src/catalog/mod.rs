//! The tables of a data directory, registered in a DataFusion context: every stored `cbs_<id>` table with
//! its `_history`, `regions`, `population`, the gazetteer's tables, and the views defined over the CBS
//! tables: `veilig_thuis` (over `cbs_84851ned`), `categories` and the family's `vt_*` views. Read side only:
//! nothing here writes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::common::{Column, ScalarValue};
use datafusion::common::{Constraint, Constraints};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, cast, col, lit};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::SessionContext;

use crate::ingest::cbs::{family as cbs_family, model as cbs_model, table as cbs_table};
use crate::ingest::regions::Regions;
use crate::ingest::store::unique_rows;
use crate::ingest::{self, categories, gazetteer};
use crate::schema::{self, Table};

pub mod deferred;
pub mod external;
pub mod footers;
mod veilig_thuis;

/// Registers the tables of `data_dir` in `ctx`, replacing any of the same names. A table without files is
/// empty, with its schema (`categories` then holds vtsql's own list of kinds of violence).
pub async fn register_tables(ctx: &SessionContext, data_dir: &Path) -> Result<()> {
    for table in schema::DIMENSIONS {
        register_dimension(ctx, data_dir, table, move || built_in(table))?;
    }
    for (table, rows) in gazetteer::tables() {
        // a data directory of generated regions has its own membership, which takes the gazetteer's place
        register_dimension(ctx, data_dir, table, move || rows().map(Some).map_err(arrow_error))?;
    }
    register_cbs_tables(ctx, data_dir).await
}

/// The `cbs_<id>` tables of a data directory (each with its `_history`), the catalogue tables `cbs_tables`
/// and `cbs_columns`, `veilig_thuis` and `categories`, and the friendly views of the Veilig Thuis family over
/// whichever of them are stored.
async fn register_cbs_tables(ctx: &SessionContext, data_dir: &Path) -> Result<()> {
    let tables = cbs_table::stored_tables(data_dir).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let partitions: Vec<(String, DataType)> =
        schema::PARTITIONS.iter().map(|(name, t)| (name.to_string(), t.clone())).collect();
    let empty = |stored: SchemaRef| -> Result<Arc<dyn TableProvider>> {
        let mut fields = stored.fields().to_vec();
        fields.extend(partitions.iter().map(|(name, t)| Arc::new(Field::new(name, t.clone(), false))));
        Ok(Arc::new(MemTable::try_new(text_as_view(&Schema::new(fields)), vec![vec![]])?))
    };
    let mut views: Vec<(String, String)> = Vec::new();
    for meta in &tables {
        let name = meta.table_name();
        let history = format!("{name}{}", cbs_table::HISTORY);
        let replaced = format!("{name}{}", cbs_table::REPLACED);
        let dir = data_dir.join(&name);
        let table: Arc<dyn TableProvider> = if dir.is_dir() {
            Arc::new(parquet_table(ctx, &dir, &meta.schema(false), partitions.clone())?)
        } else {
            empty(meta.schema(false))?
        };
        replace_table(ctx, &name, table)?;
        if data_dir.join(&history).is_dir() {
            // written by an earlier vtsql: every version in one table (the next ingest of it moves it on)
            let table = parquet_table(ctx, &data_dir.join(&history), &meta.schema(true), partitions.clone())?;
            replace_table(ctx, &history, Arc::new(table))?;
            continue;
        }
        // every version: the current ones, and those a later release replaced (read here, not a table of its own)
        let current = ctx.table(name.as_str()).await?;
        let columns: Vec<Expr> = current
            .schema()
            .fields()
            .iter()
            .map(|f| col(Column::from_name(f.name())))
            .chain([cast(lit(ScalarValue::Null), DataType::Date32).alias(cbs_model::REPLACED_BY)])
            .collect();
        let mut versions = current.select(columns)?;
        if data_dir.join(&replaced).is_dir() {
            let table = parquet_table(ctx, &data_dir.join(&replaced), &meta.schema(true), partitions.clone())?;
            versions = versions.union_by_name(ctx.read_table(Arc::new(table))?)?;
        }
        ctx.deregister_table(history.as_str())?;
        ctx.register_table(history.as_str(), versions.into_view())?;
    }
    let (catalogue, columns) = cbs_catalogue(&tables).map_err(arrow_error)?;
    for (name, batch) in [("cbs_tables", catalogue), ("cbs_columns", columns)] {
        let provider = MemTable::try_new(
            text_as_view(&batch.schema()),
            vec![vec![cast_batch(&batch, &text_as_view(&batch.schema()))?]],
        )?;
        replace_table(ctx, name, Arc::new(provider))?;
    }
    let categories = categories_batch(&tables)?;
    register_memory(ctx, &schema::CATEGORIES, move || Ok(Some(categories.clone())))?;
    match veilig_thuis::view(&tables) {
        Some(sql) => views.push((schema::FACTS.name.to_string(), sql)),
        None => replace_table(ctx, schema::FACTS.name, empty(schema::FACTS.schema())?)?,
    }
    views.extend(family_views(&tables));
    for (view, sql) in views {
        ctx.deregister_table(view.as_str())?;
        ctx.sql(&format!("CREATE VIEW {view} AS {sql}")).await?;
    }
    Ok(())
}

/// `categories`: the hierarchy of `cbs_84851ned`'s dimension as stored (CBS's, or vtsql's fallback for a table
/// only downloads filled), else vtsql's fallback list.
fn categories_batch(tables: &[cbs_model::TableMeta]) -> Result<RecordBatch> {
    let stored = tables
        .iter()
        .find(|t| t.id == "84851NED")
        .and_then(|t| t.dimensions.first())
        .filter(|d| !d.categories.is_empty());
    let dimension = match stored {
        Some(d) if !d.groups.is_empty() => d.clone(),
        Some(d) => veilig_thuis::with_fallback_groups(d),
        None => categories::fallback("84851NED", categories::KENMERKEN)
            .ok_or_else(|| DataFusionError::Internal("no fallback for 84851NED".into()))?,
    };
    categories::table(&dimension).map_err(arrow_error)
}

/// `cbs_tables` (a row per stored CBS table) and `cbs_columns` (a row per column, with CBS's title, unit and
/// description): what `.schema` and clients read to know what a column holds.
fn cbs_catalogue(tables: &[cbs_model::TableMeta]) -> datafusion::arrow::error::Result<(RecordBatch, RecordBatch)> {
    use datafusion::arrow::array::{Int32Array, StringArray};
    let text = |values: Vec<String>| -> ArrayRef { Arc::new(StringArray::from(values)) };
    let catalogue = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("table_name", DataType::Utf8, false),
            Field::new("table_id", DataType::Utf8, false),
            Field::new("title", DataType::Utf8, false),
            Field::new("release", DataType::Utf8, false),
            Field::new("view_name", DataType::Utf8, true),
        ])),
        vec![
            text(tables.iter().map(|t| t.table_name()).collect()),
            text(tables.iter().map(|t| t.id.clone()).collect()),
            text(tables.iter().map(|t| t.title.clone()).collect()),
            text(tables.iter().map(|t| t.release.clone()).collect()),
            Arc::new(StringArray::from(
                tables.iter().map(|t| cbs_family::member(&t.id).map(|m| m.view)).collect::<Vec<_>>(),
            )),
        ],
    )?;
    let (mut names, mut columns, mut positions, mut kinds, mut titles, mut units, mut descriptions) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for t in tables {
        for (i, field) in t.schema(false).fields().iter().enumerate() {
            let meta = field.metadata();
            let get = |k: &str| meta.get(k).cloned().unwrap_or_default();
            let kind = if t.dimensions.iter().any(|d| &d.column == field.name()) {
                "dimension"
            } else if t.topics.iter().any(|d| &d.column == field.name()) {
                "topic"
            } else {
                "vtsql"
            };
            names.push(t.table_name());
            columns.push(field.name().clone());
            positions.push(i as i32 + 1);
            kinds.push(kind.to_string());
            titles.push(get("title"));
            units.push(get("unit"));
            descriptions.push(get("description"));
        }
    }
    let columns = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("table_name", DataType::Utf8, false),
            Field::new("column_name", DataType::Utf8, false),
            Field::new("ordinal_position", DataType::Int32, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("title", DataType::Utf8, false),
            Field::new("unit", DataType::Utf8, false),
            Field::new("description", DataType::Utf8, false),
        ])),
        vec![
            text(names),
            text(columns),
            Arc::new(Int32Array::from(positions)),
            text(kinds),
            text(titles),
            text(units),
            text(descriptions),
        ],
    )?;
    Ok((catalogue, columns))
}

/// The friendly views of the family (`vt_veiligheid`, `vt_melders`, ...), one per subject: its regio table,
/// with the rows of its Veilig Thuis-regio table that the regio table does not have (the same period, region
/// and category of every dimension both have), columns matched by name and every dimension kept (NULL where a
/// table lacks it). `vt_aard_geweld` is `veilig_thuis`: 84851NED's one list of kinds and 84850NED's two
/// dimensions as that one list.
fn family_views(tables: &[cbs_model::TableMeta]) -> Vec<(String, String)> {
    let stored = |id: &str| tables.iter().find(|t| t.id == id);
    let mut views: Vec<(String, String)> = Vec::new();
    for member in cbs_family::FAMILY.iter().filter(|m| stored(m.id).is_some()) {
        if views.iter().any(|(v, _)| v == member.view) {
            continue;
        }
        if member.view == "vt_aard_geweld" {
            views.push((member.view.to_string(), format!("SELECT * FROM {}", schema::FACTS.name)));
            continue;
        }
        let mut ids: Vec<&cbs_model::TableMeta> =
            cbs_family::FAMILY.iter().filter(|m| m.view == member.view).filter_map(|m| stored(m.id)).collect();
        ids.sort_by_key(|t| cbs_family::member(&t.id).is_some_and(|m| m.scope != cbs_family::Scope::Regio));
        let sql = match ids.as_slice() {
            [one] => format!("SELECT * FROM {}", one.table_name()),
            [regio, vt, ..] => {
                let mut same = vec!["r.period = v.period".to_string()];
                if regio.regions && vt.regions {
                    same.push("r.region_code = v.region_code".into());
                }
                for d in &regio.dimensions {
                    if vt.dimensions.iter().any(|e| e.column == d.column) {
                        same.push(format!("r.{c} = v.{c}", c = d.column));
                    }
                }
                format!(
                    "SELECT * FROM {r} UNION ALL BY NAME SELECT * FROM {v} AS v WHERE NOT EXISTS \
                     (SELECT 1 FROM {r} AS r WHERE {same})",
                    r = regio.table_name(),
                    v = vt.table_name(),
                    same = same.join(" AND ")
                )
            }
            [] => continue,
        };
        views.push((member.view.to_string(), sql));
    }
    views
}

fn arrow_error(e: datafusion::arrow::error::ArrowError) -> DataFusionError {
    DataFusionError::ArrowError(Box::new(e), None)
}

/// What a data directory without its own file of `table` holds: vtsql's list of kinds of violence, and the
/// built-in gazetteer's regions and population, so that every data directory knows them.
fn built_in(table: &Table) -> Result<Option<RecordBatch>> {
    Ok(match table.name {
        n if n == schema::REGIONS.name => Some(Regions::built_in().to_batch().map_err(arrow_error)?),
        n if n == schema::POPULATION.name => {
            Some(ingest::store::population_to_batch(&gazetteer::population()).map_err(arrow_error)?)
        }
        _ => None,
    })
}

/// A dimension table, with its primary key declared where its rows keep it. Declared, DataFusion knows a
/// join to the table repeats no row, which lets `plan_rules::eager_aggregate` group before joining.
fn register_dimension(
    ctx: &SessionContext,
    data_dir: &Path,
    table: &'static Table,
    fallback: impl Fn() -> Result<Option<RecordBatch>> + Send + Sync + 'static,
) -> Result<()> {
    let path = data_dir.join(table.path);
    if table.path.is_empty() || !path.is_file() {
        return register_memory(ctx, table, fallback);
    }
    let schema = table.schema();
    let key = table.primary_key.iter().map(|column| schema.index_of(column)).collect::<Result<Vec<_>, _>>()?;
    let unique = key_is_unique(&path, table.primary_key)?;
    let provider = parquet_table(ctx, &path, &schema, vec![])?.with_constraints(constraints(&key, unique));
    replace_table(ctx, table.name, Arc::new(provider))
}

/// `table` as an in-memory table of the rows `rows` makes (empty without any) when a statement first reads
/// it, its key declared where its rows keep it.
fn register_memory(
    ctx: &SessionContext,
    table: &'static Table,
    rows: impl Fn() -> Result<Option<RecordBatch>> + Send + Sync + 'static,
) -> Result<()> {
    let schema = text_as_view(&table.schema());
    let key = table.primary_key.iter().map(|column| schema.index_of(column)).collect::<Result<Vec<_>, _>>()?;
    let declared = Arc::clone(&schema);
    let make: deferred::Make = Box::new(move || {
        let batches: Vec<RecordBatch> =
            rows()?.map(|batch| cast_batch(&batch, &schema)).transpose()?.into_iter().collect();
        let unique = batches
            .iter()
            .try_fold(true, |unique, batch| Ok::<_, DataFusionError>(unique && unique_rows(batch, &key)?))?;
        Ok(MemTable::try_new(Arc::clone(&schema), vec![batches])?.with_constraints(constraints(&key, unique)))
    });
    replace_table(ctx, table.name, Arc::new(deferred::Deferred::new(declared, make)))
}

/// A primary key on the columns `key`, where the rows keep it.
fn constraints(key: &[usize], unique: bool) -> Constraints {
    Constraints::new_unverified(if unique && !key.is_empty() {
        vec![Constraint::PrimaryKey(key.to_vec())]
    } else {
        vec![]
    })
}

/// Whether the rows of the Parquet file at `path` are unique on `key`. vtsql's writer checks its rows when
/// it writes the file and records the answer in the footer ([`ingest::store::UNIQUE_KEY`]), so opening the
/// tables reads only the footer: a generated directory of a billion rows has 9.6 million population rows,
/// whose check took 0.8 s and 0.6 GiB in every process. A file written by something else is checked before
/// the planner relies on it. The answer is kept per file (by its size and modification time), so
/// registering the tables again reads nothing.
fn key_is_unique(path: &Path, key: &[&str]) -> Result<bool> {
    type Checked = HashMap<(PathBuf, Vec<String>), (u64, SystemTime, bool)>;
    static CHECKED: Mutex<Option<Checked>> = Mutex::new(None);
    if key.is_empty() {
        return Ok(false);
    }
    let io = |e: std::io::Error| DataFusionError::Execution(format!("{}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(io)?;
    let stamp = (meta.len(), meta.modified().map_err(io)?);
    let mut checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner());
    let checked = checked.get_or_insert_with(HashMap::new);
    let entry = (path.to_path_buf(), key.iter().map(|k| k.to_string()).collect());
    if let Some(&(len, modified, unique)) = checked.get(&entry)
        && (len, modified) == stamp
    {
        return Ok(unique);
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    // a file vtsql wrote says in its footer whether it found the rows unique on the key when writing
    if ingest::store::footer_says_unique(builder.metadata().file_metadata(), key) {
        checked.insert(entry, (stamp.0, stamp.1, true));
        return Ok(true);
    }
    let columns: Vec<usize> =
        key.iter().map(|name| builder.schema().index_of(name)).collect::<std::result::Result<_, _>>()?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), columns);
    let batches = builder.with_projection(mask).build()?.collect::<std::result::Result<Vec<_>, _>>()?;
    let all: Vec<usize> = (0..key.len()).collect();
    let unique = match batches.as_slice() {
        [] => true,
        [batch] => unique_rows(batch, &all)?,
        batches => unique_rows(&datafusion::arrow::compute::concat_batches(&batches[0].schema(), batches)?, &all)?,
    };
    checked.insert(entry, (stamp.0, stamp.1, unique));
    Ok(unique)
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
/// `SET datafusion.execution.parquet.*` reaches a table made after it, see `Session`), takes its files'
/// statistics from their footers alone ([`footers::FooterStatistics`], but for a session that sends its
/// plans to a cluster, [`footers::SerialisedPlans`]) and keeps per-file
/// statistics in the session's cache: without it every query decodes the statistics in all file footers
/// again while planning. The cache checks each file's size and modification time, so rewritten files are
/// read afresh.
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
    let format: Arc<dyn FileFormat> = match state.config().get_extension::<footers::SerialisedPlans>() {
        Some(_) => Arc::new(format),
        None => Arc::new(footers::FooterStatistics::new(format)),
    };
    let options = ListingOptions::new(format).with_file_extension(".parquet").with_table_partition_cols(partitions);
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
    use datafusion::arrow::array::{Int32Array, StringArray};

    #[test]
    fn unique_rows_sorted_or_not() {
        let check = |codes: Vec<Option<&str>>, years: Vec<i32>| {
            let batch = RecordBatch::try_from_iter([
                ("c", Arc::new(StringArray::from(codes)) as ArrayRef),
                ("y", Arc::new(Int32Array::from(years)) as ArrayRef),
            ])
            .unwrap();
            unique_rows(&batch, &[0, 1]).unwrap()
        };
        assert!(check(vec![Some("a"), Some("a"), Some("b")], vec![1, 2, 1]), "sorted, unique");
        assert!(check(vec![Some("b"), Some("a"), Some("a")], vec![1, 2, 1]), "unsorted, unique");
        assert!(!check(vec![Some("a"), Some("a"), Some("b")], vec![1, 1, 1]), "sorted, a repeat");
        assert!(!check(vec![Some("b"), Some("a"), Some("b")], vec![1, 2, 1]), "unsorted, a repeat");
        assert!(!check(vec![None, Some("a"), None], vec![1, 2, 1]), "NULL is a value");
        assert!(check(vec![None, None], vec![1, 2]), "NULL with two years");
    }

    fn write(path: &Path, codes: &[&str], years: &[i32]) {
        let batch = RecordBatch::try_new(
            schema::POPULATION.schema(),
            vec![
                Arc::new(StringArray::from(codes.to_vec())),
                Arc::new(Int32Array::from(years.to_vec())),
                Arc::new(datafusion::arrow::array::Int64Array::from(vec![1; codes.len()])),
            ],
        )
        .unwrap();
        let file = std::fs::File::create(path).unwrap();
        let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    /// A key is declared only where the rows keep it, and a rewritten file is checked again.
    #[test]
    fn keys_are_checked_before_they_are_declared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("population.parquet");
        write(&path, &["GM1", "GM1", "GM2"], &[2020, 2021, 2020]);
        assert!(key_is_unique(&path, &["region_code", "year"]).unwrap());
        assert!(!key_is_unique(&path, &["region_code"]).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(&path, &["GM1", "GM1", "GM2", "GM2"], &[2020, 2021, 2020, 2020]);
        assert!(!key_is_unique(&path, &["region_code", "year"]).unwrap());
    }

    #[tokio::test]
    async fn a_dimension_with_repeated_keys_declares_none() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join(schema::POPULATION.path), &["GM1", "GM1"], &[2020, 2020]);
        let ctx = SessionContext::new();
        register_tables(&ctx, dir.path()).await.unwrap();
        let population = ctx.table_provider("population").await.unwrap();
        assert!(population.constraints().is_none_or(|c| c.is_empty()));
        let categories = ctx.table_provider("categories").await.unwrap();
        assert!(categories.constraints().is_some_and(|c| !c.is_empty()), "the built-in list keeps its key");
        let facts = ctx.sql("SELECT count(*) FROM veilig_thuis").await.unwrap().collect().await.unwrap();
        assert_eq!(facts[0].column(0).len(), 1, "no facts yet: an empty table");
        let count = ctx.sql("SELECT count(*) FROM categories").await.unwrap().collect().await.unwrap();
        assert_eq!(crate::rows::rows(&count, "").unwrap(), vec![vec!["52".to_string()]]);
    }

    /// Opening the tables makes no built-in rows; a statement that reads a built-in table makes its rows then,
    /// with the same key as before.
    #[tokio::test]
    async fn built_in_rows_are_made_when_first_read() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = SessionContext::new();
        register_tables(&ctx, dir.path()).await.unwrap();
        let made = |provider: &Arc<dyn TableProvider>| {
            provider.as_ref().downcast_ref::<deferred::Deferred>().expect("a built-in table").is_made()
        };
        let names =
            ["regions", "population", "region_membership", "region_changes", "region_successors", "region_names"];
        for name in names {
            assert!(!made(&ctx.table_provider(name).await.unwrap()), "{name} made at opening");
        }
        let changes = ctx.sql("SELECT count(*) > 0 FROM region_changes").await.unwrap().collect().await.unwrap();
        assert_eq!(crate::rows::rows(&changes, "").unwrap(), vec![vec!["true".to_string()]]);
        let provider = ctx.table_provider("region_changes").await.unwrap();
        assert!(made(&provider));
        assert!(provider.constraints().is_some_and(|c| !c.is_empty()), "the gazetteer's changes keep their key");
        assert!(!made(&ctx.table_provider("region_names").await.unwrap()), "another table stays as it was");
    }
}
