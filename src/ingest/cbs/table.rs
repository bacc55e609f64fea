//! A `cbs_<id>` table in a data directory: its metadata, its current rows and every earlier version of
//! them, and how a new release or download merges in.
//!
//! ```text
//! DATA/cbs_84852ned.json                           the table model (dimensions, topics, units)
//! DATA/cbs_84852ned/year=2020/half=1/part-0.parquet          current figures
//! DATA/cbs_84852ned_history/year=2020/half=1/part-0.parquet  every version ever stored, with replaced_by
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, ListArray, ListBuilder,
    RecordBatch, StringArray, StringBuilder,
};
use arrow::datatypes::SchemaRef;
use foldhash::fast::RandomState;
use vtsql_udfs::period::Period;

use super::model::{Cell, Kind, RegionCell, Row, TableMeta};
use crate::ingest::error::{IngestError, Result};
use crate::ingest::facts::{Interner, Text};
use crate::ingest::store::{self, Run, StagedDirectory, Staging};

/// `DATA/cbs_<id>.json`.
pub fn meta_path(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join(format!("{}.json", super::model::table_name(id)))
}

/// The stored model of table `id`, if it was ever ingested.
pub fn stored_meta(data_dir: &Path, id: &str) -> Result<Option<TableMeta>> {
    let path = meta_path(data_dir, id);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| IngestError::store(&path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IngestError::io(&path, e)),
    }
}

/// Every stored table model in `data_dir`, by id.
pub fn stored_tables(data_dir: &Path) -> Result<Vec<TableMeta>> {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return Ok(vec![]);
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("cbs_")?.strip_suffix(".json").map(str::to_uppercase)
        })
        .collect();
    ids.sort();
    let mut tables = Vec::new();
    for id in ids {
        if let Some(meta) = stored_meta(data_dir, &id)? {
            tables.push(meta);
        }
    }
    Ok(tables)
}

/// Relative directory of a partition: `cbs_84852ned/year=2020/half=1`.
fn partition(table: &str, period: (i32, u8)) -> String {
    format!("{table}/year={}/half={}", period.0, period.1)
}

/// How an incoming table model fits the stored one: the merged model and, for each incoming topic, its
/// place in the merged topics.
pub struct Merged {
    pub meta: TableMeta,
    pub topic_slots: Vec<usize>,
    /// For each merged dimension, the incoming dimension it comes from.
    pub dimension_slots: Vec<usize>,
}

/// Merges an incoming model into the stored one: the same dimensions (in any order) and region use; new
/// topics join at the end, known ones keep their column.
pub fn merge_meta(stored: Option<&TableMeta>, incoming: &TableMeta, source: &Path) -> Result<Merged> {
    let Some(stored) = stored else {
        return Ok(Merged {
            meta: incoming.clone(),
            topic_slots: (0..incoming.topics.len()).collect(),
            dimension_slots: (0..incoming.dimensions.len()).collect(),
        });
    };
    let differs = |what: String| {
        IngestError::store(
            source,
            format!(
                "{what}: this is not the table {} stored as {} (name the table with --table ID)",
                stored.id,
                stored.table_name()
            ),
        )
    };
    if stored.regions != incoming.regions {
        return Err(differs(if incoming.regions { "it has regions".into() } else { "it has no regions".into() }));
    }
    let mut dimension_slots = Vec::new();
    for d in &stored.dimensions {
        let found = incoming.dimensions.iter().position(|i| i.column == d.column || i.key == d.key);
        dimension_slots.push(found.ok_or_else(|| differs(format!("it has no dimension {:?}", d.title)))?);
    }
    if incoming.dimensions.len() != stored.dimensions.len() {
        let extra = incoming
            .dimensions
            .iter()
            .find(|i| !stored.dimensions.iter().any(|d| d.column == i.column || d.key == i.key));
        return Err(differs(format!("it has a dimension {:?} more", extra.map(|d| d.title.as_str()).unwrap_or("?"))));
    }
    let mut meta = stored.clone();
    let mut topic_slots = Vec::new();
    for t in &incoming.topics {
        let slot = match meta.find_topic(&t.key, &t.unit).or_else(|| meta.find_topic(&t.title, &t.unit)) {
            Some(i) => {
                // OData metadata fills in what a download could not tell
                let known = &mut meta.topics[i];
                if known.description.is_empty() {
                    known.description.clone_from(&t.description);
                }
                i
            }
            None => {
                meta.topics.push(t.clone());
                super::model::name_columns(&mut meta);
                // naming again must not move a stored column
                for (old, new) in stored.topics.iter().zip(&meta.topics) {
                    if old.column != new.column {
                        return Err(differs(format!("topic {:?} would rename column {}", t.title, old.column)));
                    }
                }
                meta.topics.len() - 1
            }
        };
        if topic_slots.contains(&slot) {
            return Err(IngestError::store(source, format!("two columns are topic {:?}", meta.topics[slot].title)));
        }
        topic_slots.push(slot);
    }
    if !incoming.title.is_empty() {
        meta.title.clone_from(&incoming.title);
    }
    Ok(Merged { meta, topic_slots, dimension_slots })
}

impl Merged {
    /// An incoming row in the merged model's order.
    pub fn place(&self, mut row: Row) -> Row {
        let mut cells = vec![Cell::Absent; self.meta.topics.len()];
        for (cell, &slot) in row.cells.iter().zip(&self.topic_slots) {
            cells[slot] = *cell;
        }
        row.cells = cells;
        if self.dimension_slots.iter().enumerate().any(|(i, &s)| i != s) {
            row.categories = self.dimension_slots.iter().map(|&s| Text::clone(&row.categories[s])).collect();
        }
        row
    }
}

/// What merging a release into a partition did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    pub added: usize,
    pub replaced: usize,
    pub unchanged: usize,
}

/// Merges incoming rows into a partition's current rows and history: a new key is added; figures equal to
/// the stored ones change nothing (not even the release); other figures replace the stored row, which
/// stays in the history with `replaced_by`. Topics an incoming row does not hold keep their stored value.
/// `incoming` holds each key once (see [`super::deduplicate`]).
pub fn merge_rows(current: Vec<Row>, history: &mut Vec<Row>, incoming: Vec<Row>) -> (Vec<Row>, Changes) {
    if current.is_empty() && history.is_empty() {
        // a partition's first rows (their keys are distinct: `deduplicate` saw to that) are all new
        let mut rows = incoming;
        for row in &mut rows {
            for c in &mut row.cells {
                if *c == Cell::Absent {
                    *c = Cell::Empty;
                }
            }
        }
        history.clone_from(&rows);
        let changes = Changes { added: rows.len(), ..Changes::default() };
        return (rows, changes);
    }
    type Key = (Period, Option<Text>, Vec<Text>);
    let key = |r: &Row| -> Key { (r.period, r.region.as_ref().map(|x| Text::clone(&x.code)), r.categories.clone()) };
    let index = |rows: &[Row], keep: &dyn Fn(&Row) -> bool| -> HashMap<Key, usize, RandomState> {
        let mut map = HashMap::with_capacity_and_hasher(rows.len(), RandomState::default());
        map.extend(rows.iter().enumerate().filter(|(_, r)| keep(r)).map(|(i, r)| (key(r), i)));
        map
    };
    let mut changes = Changes::default();
    let mut rows = current;
    let mut at = index(&rows, &|_| true);
    // the history row of each current version, found again when a new release replaces it
    let mut version = index(history, &|h| h.replaced_by.is_none());
    for mut new in incoming {
        let k = key(&new);
        match at.get(&k) {
            None => {
                for c in &mut new.cells {
                    if *c == Cell::Absent {
                        *c = Cell::Empty;
                    }
                }
                at.insert(k.clone(), rows.len());
                version.insert(k, history.len());
                history.push(new.clone());
                rows.push(new);
                changes.added += 1;
            }
            Some(&i) => {
                let old = &rows[i];
                for (cell, before) in new.cells.iter_mut().zip(&old.cells) {
                    if *cell == Cell::Absent {
                        *cell = *before;
                    }
                }
                if new.same_figures(old) {
                    changes.unchanged += 1;
                    continue;
                }
                // the old version's history row is marked replaced; the new one joins it
                if let Some(h) = version.get(&k).and_then(|&h| history.get_mut(h)) {
                    h.replaced_by = new.release;
                }
                version.insert(k, history.len());
                history.push(new.clone());
                rows[i] = new;
                changes.replaced += 1;
            }
        }
    }
    (rows, changes)
}

/// The rows of `meta`'s table as one batch with the table's columns (and `replaced_by` for the history).
pub fn rows_to_batch(meta: &TableMeta, rows: &[Row], history: bool) -> arrow::error::Result<RecordBatch> {
    let schema = meta.schema(history);
    let text = |f: &dyn Fn(&Row) -> Option<&str>| -> ArrayRef { Arc::new(rows.iter().map(f).collect::<StringArray>()) };
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| Some(r.period.to_string())).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| Some(r.provisional)).collect::<BooleanArray>()),
    ];
    if meta.regions {
        columns.push(text(&|r| r.region.as_ref().map(|x| &*x.level)));
        columns.push(text(&|r| r.region.as_ref().map(|x| &*x.code)));
        columns.push(text(&|r| r.region.as_ref().map(|x| &*x.name)));
    }
    for d in 0..meta.dimensions.len() {
        columns.push(text(&|r| r.categories.get(d).map(|t| &**t)));
    }
    for (t, topic) in meta.topics.iter().enumerate() {
        let cell = |r: &Row| r.cells.get(t).copied().unwrap_or(Cell::Absent);
        columns.push(match topic.kind {
            Kind::Count => Arc::new(
                rows.iter()
                    .map(|r| match cell(r) {
                        Cell::Count(v) => Some(v),
                        Cell::Decimal(v) => Some(v as i64),
                        _ => None,
                    })
                    .collect::<Int64Array>(),
            ),
            Kind::Decimal => Arc::new(
                rows.iter()
                    .map(|r| match cell(r) {
                        Cell::Decimal(v) => Some(v),
                        Cell::Count(v) => Some(v as f64),
                        _ => None,
                    })
                    .collect::<Float64Array>(),
            ),
        });
    }
    columns.push(Arc::new(rows.iter().map(|r| Some(r.suppressed_cells())).collect::<Int32Array>()));
    let mut list = ListBuilder::new(StringBuilder::new()).with_field(Arc::new(arrow::datatypes::Field::new(
        "item",
        arrow::datatypes::DataType::Utf8,
        false,
    )));
    for r in rows {
        for (t, c) in r.cells.iter().enumerate() {
            if c.is_suppressed() {
                list.values().append_value(&meta.topics[t].column);
            }
        }
        list.append(true);
    }
    columns.push(Arc::new(list.finish()));
    columns.push(Arc::new(rows.iter().map(|_| Some(meta.id.as_str())).collect::<StringArray>()));
    columns.push(Arc::new(rows.iter().map(|r| r.release).collect::<Date32Array>()));
    if history {
        columns.push(Arc::new(rows.iter().map(|r| r.replaced_by).collect::<Date32Array>()));
    }
    RecordBatch::try_new(schema, columns)
}

fn column<'b, T: 'static>(batch: &'b RecordBatch, name: &str, path: &Path) -> Result<Option<&'b T>> {
    match batch.column_by_name(name) {
        None => Ok(None),
        Some(c) => c
            .as_any()
            .downcast_ref::<T>()
            .map(Some)
            .ok_or_else(|| IngestError::store(path, format!("column {name} has type {}", c.data_type()))),
    }
}

fn required<'b, T: 'static>(batch: &'b RecordBatch, name: &str, path: &Path) -> Result<&'b T> {
    column(batch, name, path)?.ok_or_else(|| IngestError::store(path, format!("no column {name}")))
}

/// Reads rows back from a stored partition of `meta`'s table (files written with fewer topics read
/// them as absent).
pub fn batch_to_rows(meta: &TableMeta, batch: &RecordBatch, path: &Path, texts: &mut Interner) -> Result<Vec<Row>> {
    let periods = required::<StringArray>(batch, "period", path)?;
    let provisional = required::<BooleanArray>(batch, "provisional", path)?;
    let regions = if meta.regions {
        Some((
            required::<StringArray>(batch, "region_level", path)?,
            required::<StringArray>(batch, "region_code", path)?,
            required::<StringArray>(batch, "region_name", path)?,
        ))
    } else {
        None
    };
    let dims: Vec<&StringArray> =
        meta.dimensions.iter().map(|d| required::<StringArray>(batch, &d.column, path)).collect::<Result<_>>()?;
    enum Values<'b> {
        Count(&'b Int64Array),
        Decimal(&'b Float64Array),
        Absent,
    }
    let mut values = Vec::new();
    for t in &meta.topics {
        values.push(match batch.column_by_name(&t.column) {
            None => Values::Absent,
            Some(c) => {
                if let Some(a) = c.as_any().downcast_ref::<Int64Array>() {
                    Values::Count(a)
                } else if let Some(a) = c.as_any().downcast_ref::<Float64Array>() {
                    Values::Decimal(a)
                } else {
                    return Err(IngestError::store(path, format!("column {} has type {}", t.column, c.data_type())));
                }
            }
        });
    }
    let suppressed = required::<ListArray>(batch, "suppressed_columns", path)?;
    let release = required::<Date32Array>(batch, "release", path)?;
    let replaced = column::<Date32Array>(batch, super::model::REPLACED_BY, path)?;
    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let period = Period::parse(periods.value(i))
            .map(|(p, _)| p)
            .ok_or_else(|| IngestError::store(path, format!("row {i}: period {:?}", periods.value(i))))?;
        let hidden = suppressed.value(i);
        let hidden = hidden.as_any().downcast_ref::<StringArray>();
        let is_hidden = |column: &str| hidden.is_some_and(|h| h.iter().any(|c| c == Some(column)));
        let cells = meta
            .topics
            .iter()
            .zip(&values)
            .map(|(t, v)| match v {
                Values::Absent => Cell::Absent,
                Values::Count(a) if a.is_valid(i) => Cell::Count(a.value(i)),
                Values::Decimal(a) if a.is_valid(i) => Cell::Decimal(a.value(i)),
                _ if is_hidden(&t.column) => Cell::Suppressed,
                _ => Cell::Empty,
            })
            .collect();
        rows.push(Row {
            period,
            provisional: provisional.value(i),
            region: regions.map(|(l, c, n)| RegionCell {
                level: texts.text(l.value(i)),
                code: texts.text(c.value(i)),
                name: texts.text(n.value(i)),
            }),
            categories: dims.iter().map(|d| texts.text(d.value(i))).collect(),
            cells,
            release: release.is_valid(i).then(|| release.value(i)),
            replaced_by: replaced.and_then(|r| r.is_valid(i).then(|| r.value(i))),
            origin: (0, 0),
        });
    }
    Ok(rows)
}

fn read_rows(meta: &TableMeta, dir: &Path, texts: &mut Interner) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for batch in store::read_parquet(dir)? {
        rows.extend(batch_to_rows(meta, &batch, dir, texts)?);
    }
    Ok(rows)
}

/// The sort order of a `cbs_<id>` file: its key (region level and code, categories, period), then release.
/// Each distinct text is compared once, as rows share few distinct `Arc<str>`s, and the rows are ordered by
/// the ranks of their texts.
fn sort_rows(rows: &mut Vec<Row>) {
    fn texts(r: &Row) -> impl Iterator<Item = &Text> {
        r.region.iter().flat_map(|x| [&x.level, &x.code]).chain(&r.categories)
    }
    let mut distinct: HashMap<*const u8, &str, RandomState> = HashMap::default();
    for t in rows.iter().flat_map(texts) {
        distinct.entry(t.as_ptr()).or_insert(t);
    }
    let mut by_text: Vec<(&str, *const u8)> = distinct.into_iter().map(|(p, t)| (t, p)).collect();
    by_text.sort_unstable();
    let mut rank: HashMap<*const u8, u32, RandomState> =
        HashMap::with_capacity_and_hasher(by_text.len(), RandomState::default());
    let mut r = 0u32;
    for (i, (text, p)) in by_text.iter().enumerate() {
        if i > 0 && by_text[i - 1].0 != *text {
            r += 1;
        }
        rank.insert(*p, r + 1);
    }
    // a row without a region ranks 0 there, before every region (as None sorts before Some)
    let keys: Vec<Vec<u32>> = rows
        .iter()
        .map(|row| {
            let mut key = if row.region.is_none() { vec![0, 0] } else { Vec::new() };
            key.extend(texts(row).map(|t| rank.get(&t.as_ptr()).copied().unwrap_or(0)));
            key
        })
        .collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| {
        (&keys[a], rows[a].period, rows[a].release).cmp(&(&keys[b], rows[b].period, rows[b].release))
    });
    let mut slots: Vec<Option<Row>> = rows.drain(..).map(Some).collect();
    rows.extend(order.iter().filter_map(|&i| slots[i].take()));
}

/// A partition's year and half, and its incoming rows.
type PartitionRows = ((i32, u8), Vec<Row>);
/// What merging into a partition changed, and the directories it wrote.
type StagedPartition = (Changes, Vec<StagedDirectory>);

/// Stages table `merged.meta` with `incoming` rows merged in: each touched partition of the current table
/// and of its history, and the metadata. Answers what changed. Partitions are independent, so they are
/// merged, sorted and encoded on as many threads as there are cores.
pub fn stage(
    run: &mut Run<'_>,
    data_dir: &Path,
    stored: Option<&TableMeta>,
    merged: &Merged,
    incoming: Vec<Row>,
) -> Result<Changes> {
    let meta = &merged.meta;
    let mut by_partition: std::collections::BTreeMap<(i32, u8), Vec<Row>> = Default::default();
    for row in incoming {
        by_partition.entry((row.period.year, row.period.half)).or_default().push(merged.place(row));
    }
    let sort: Vec<&str> = {
        let mut s: Vec<&str> = Vec::new();
        if meta.regions {
            s.extend(["region_level", "region_code"]);
        }
        s.extend(meta.dimensions.iter().map(|d| d.column.as_str()));
        s.push("period");
        s
    };
    let partitions: Vec<Mutex<Option<PartitionRows>>> =
        by_partition.into_iter().map(|partition| Mutex::new(Some(partition))).collect();
    let next = AtomicUsize::new(0);
    let staging = run.staging();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, partitions.len().max(1));
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = partitions.get(i) else { break };
            let taken = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
            let Some((period, rows)) = taken else { continue };
            let staged = stage_partition(meta, data_dir, stored.is_some(), staging, period, rows, &sort);
            let failed = staged.is_err();
            done.push((i, staged));
            if failed {
                // the others stop at their next partition
                next.store(partitions.len(), Ordering::Relaxed);
            }
        }
        done
    };
    let mut staged: Vec<(usize, Result<StagedPartition>)> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..workers).map(|_| scope.spawn(work)).collect();
        let mut all = work();
        for helper in helpers {
            all.extend(helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        all
    });
    staged.sort_by_key(|(i, _)| *i);
    let mut total = Changes::default();
    for (_, partition) in staged {
        let (changes, directories) = partition?;
        total.added += changes.added;
        total.replaced += changes.replaced;
        total.unchanged += changes.unchanged;
        directories.into_iter().for_each(|directory| run.add_directory(directory));
    }
    if total.added + total.replaced > 0 || stored != Some(meta) {
        let name = meta.table_name();
        let json =
            serde_json::to_vec_pretty(meta).map_err(|e| IngestError::store(&meta_path(data_dir, &meta.id), e))?;
        run.stage_file(&format!("{name}.json"), &json)?;
    }
    Ok(total)
}

/// Merges `rows` into the stored partition `period` of the table and of its history, and writes both
/// (unless nothing changed) under `staging`.
fn stage_partition(
    meta: &TableMeta,
    data_dir: &Path,
    stored: bool,
    staging: Staging<'_>,
    period: (i32, u8),
    rows: Vec<Row>,
    sort: &[&str],
) -> Result<StagedPartition> {
    let name = meta.table_name();
    let history_name = format!("{name}_history");
    let current_dir = data_dir.join(partition(&name, period));
    let history_dir = data_dir.join(partition(&history_name, period));
    let mut texts = Interner::default();
    let (current, mut history) = match stored {
        true => (read_rows(meta, &current_dir, &mut texts)?, read_rows(meta, &history_dir, &mut texts)?),
        false => (vec![], vec![]),
    };
    let (mut current, changes) = merge_rows(current, &mut history, rows);
    if changes.added + changes.replaced == 0 {
        return Ok((changes, vec![]));
    }
    sort_rows(&mut current);
    let batch = rows_to_batch(meta, &current, false).map_err(|e| IngestError::store(&current_dir, e))?;
    let table = staging.write_directory(&partition(&name, period), &batch, sort)?;
    // every version current (a partition's first release): the history is the table, none replaced
    let batch = if history.len() == current.len() {
        let mut columns = batch.columns().to_vec();
        columns.push(arrow::array::new_null_array(&arrow::datatypes::DataType::Date32, batch.num_rows()));
        RecordBatch::try_new(meta.schema(true), columns)
    } else {
        sort_rows(&mut history);
        rows_to_batch(meta, &history, true)
    }
    .map_err(|e| IngestError::store(&history_dir, e))?;
    let history = staging.write_directory(&partition(&history_name, period), &batch, sort)?;
    Ok((changes, vec![table, history]))
}

/// The Arrow schema of a stored table (current or history), for the catalog.
pub fn schema_of(meta: &TableMeta, history: bool) -> SchemaRef {
    meta.schema(history)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(code: &str, category: &str, period: &str, value: i64, release: i32) -> Row {
        let text = |s: &str| -> Text { s.into() };
        Row {
            period: Period::parse(period).map(|(p, _)| p).unwrap(),
            provisional: false,
            region: Some(RegionCell {
                level: text(crate::ingest::cbs::model::region_level_of(code)),
                code: text(code),
                name: text(code),
            }),
            categories: vec![text(category)],
            cells: vec![Cell::Count(value)],
            release: Some(release),
            replaced_by: None,
            origin: (0, 0),
        }
    }

    #[test]
    fn rows_sort_by_their_texts_not_where_they_are() {
        // every text its own Arc: equal texts behind different pointers rank the same
        let mut rows = vec![
            row("GM0141", "Totaal", "2020H2", 1, 1),
            row("NL01", "Totaal", "2020H1", 2, 1),
            row("GM0141", "Kindermishandeling", "2020H1", 3, 1),
            row("GM0141", "Totaal", "2020H1", 4, 2),
            row("GM0141", "Totaal", "2020H1", 5, 1),
            row("VT01", "Totaal", "2020H1", 6, 1),
        ];
        sort_rows(&mut rows);
        let values: Vec<i64> = rows.iter().map(|r| if let Cell::Count(v) = r.cells[0] { v } else { 0 }).collect();
        // gemeente < land < vt_regio, then category, period, release
        assert_eq!(values, vec![3, 5, 4, 1, 2, 6]);
    }

    #[test]
    fn three_releases_leave_two_replaced_versions() {
        let mut history = Vec::new();
        let (rows, changes) = merge_rows(vec![], &mut history, vec![row("GM0141", "Totaal", "2023", 10, 1)]);
        assert_eq!((changes.added, rows.len()), (1, 1));
        let (rows, changes) = merge_rows(rows, &mut history, vec![row("GM0141", "Totaal", "2023", 11, 2)]);
        assert_eq!(changes.replaced, 1);
        let (rows, changes) = merge_rows(rows, &mut history, vec![row("GM0141", "Totaal", "2023", 11, 3)]);
        assert_eq!(changes.unchanged, 1, "the same figures change nothing");
        let (rows, _) = merge_rows(rows, &mut history, vec![row("GM0141", "Totaal", "2023", 12, 4)]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].cells, vec![Cell::Count(12)]);
        let versions: Vec<(Option<i32>, Option<i32>)> = history.iter().map(|h| (h.release, h.replaced_by)).collect();
        assert_eq!(versions, vec![(Some(1), Some(2)), (Some(2), Some(4)), (Some(4), None)]);
    }
}
