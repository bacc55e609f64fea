//! A `cbs_<id>` table in a data directory: its metadata, its current rows and the versions that releases
//! replaced, and how a new release or download merges in.
//!
//! ```text
//! DATA/cbs_84852ned.json                             the table model (dimensions, categories, topics, units)
//! DATA/cbs_84852ned/year=2020/half=1/part-0.parquet           current figures
//! DATA/cbs_84852ned_replaced/year=2020/half=1/part-0.parquet  figures a later release replaced, with replaced_by
//! ```
//!
//! Every figure is stored once: `cbs_<id>_history` (every version) is a view over the two. Files are sorted by
//! region level (each level in row groups of its own), the categories of each dimension, region code and
//! period, so that the page index narrows a filter on a level and a category to one run of pages.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, ListArray, ListBuilder,
    RecordBatch, StringArray, StringBuilder,
};
use foldhash::fast::RandomState;
use vtsql_udfs::period::Period;

use super::model::{self, Cell, Dimension, Interner, Kind, RegionCell, Row, TableMeta, Text};
use crate::ingest::error::{IngestError, Result};
use crate::ingest::store::{self, Run, StagedDirectory, Staging};

/// The suffix of the table of replaced versions: `cbs_84852ned_replaced`.
pub const REPLACED: &str = "_replaced";
/// The suffix of the history view, and of the directory earlier versions of vtsql wrote every version to.
pub const HISTORY: &str = "_history";

/// `DATA/cbs_<id>.json`.
pub fn meta_path(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join(format!("{}.json", model::table_name(id)))
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
        .filter(|id| super::family::id_in(id).as_deref() == Some(id.as_str()))
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
pub fn partition(table: &str, period: (i32, u8)) -> String {
    format!("{table}/year={}/half={}", period.0, period.1)
}

/// The partitions (year, half) stored under a table's directory.
fn stored_partitions(dir: &Path) -> Vec<(i32, u8)> {
    let mut found = Vec::new();
    for year in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let year_name = year.file_name().to_string_lossy().into_owned();
        let Some(y) = year_name.strip_prefix("year=").and_then(|y| y.parse::<i32>().ok()) else { continue };
        for half in std::fs::read_dir(year.path()).into_iter().flatten().flatten() {
            let half_name = half.file_name().to_string_lossy().into_owned();
            if let Some(h) = half_name.strip_prefix("half=").and_then(|h| h.parse::<u8>().ok()) {
                found.push((y, h));
            }
        }
    }
    found.sort_unstable();
    found
}

/// The sort order of a `cbs_<id>` file: region level, each dimension's category, region code, period.
pub fn sort_columns(meta: &TableMeta) -> Vec<&str> {
    let mut sort: Vec<&str> = Vec::new();
    if meta.regions {
        sort.push("region_level");
    }
    sort.extend(meta.dimensions.iter().map(|d| d.column.as_str()));
    if meta.regions {
        sort.push("region_code");
    }
    sort.push("period");
    sort
}

/// How an incoming table model fits the stored one: the merged model and, for each incoming topic, its
/// place in the merged topics.
pub struct Merged {
    pub meta: TableMeta,
    pub topic_slots: Vec<usize>,
    /// For each merged dimension, the incoming dimension it comes from.
    pub dimension_slots: Vec<usize>,
    /// Category titles that change in stored rows: (merged dimension, stored title, title now). A label
    /// StatLine cut short gets its full title once CBS's metadata tells it.
    pub relabels: Vec<(usize, String, String)>,
}

/// Merges an incoming model into the stored one: the same dimensions (in any order) and region use; new
/// topics join at the end, known ones keep their column and widen their kind where the incoming one is wider;
/// categories join their dimension, a category only known by a cut label takes its full title.
pub fn merge_meta(stored: Option<&TableMeta>, incoming: &TableMeta, source: &Path) -> Result<Merged> {
    let Some(stored) = stored else {
        return Ok(Merged {
            meta: incoming.clone(),
            topic_slots: (0..incoming.topics.len()).collect(),
            dimension_slots: (0..incoming.dimensions.len()).collect(),
            relabels: vec![],
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
    let same_dimension = |d: &Dimension, i: &Dimension| {
        i.column == d.column || i.key == d.key || model::fold_title(&i.title) == model::fold_title(&d.title)
    };
    let mut dimension_slots = Vec::new();
    for d in &stored.dimensions {
        let found = incoming.dimensions.iter().position(|i| same_dimension(d, i));
        dimension_slots.push(found.ok_or_else(|| differs(format!("it has no dimension {:?}", d.title)))?);
    }
    if incoming.dimensions.len() != stored.dimensions.len() {
        let extra = incoming.dimensions.iter().find(|i| !stored.dimensions.iter().any(|d| same_dimension(d, i)));
        return Err(differs(format!("it has a dimension {:?} more", extra.map(|d| d.title.as_str()).unwrap_or("?"))));
    }
    let mut meta = stored.clone();
    let mut relabels = Vec::new();
    for (d, &slot) in dimension_slots.iter().enumerate() {
        let incoming_dimension = &incoming.dimensions[slot];
        if meta.dimensions[d].key == meta.dimensions[d].title && incoming_dimension.key != incoming_dimension.title {
            // OData tells the key a download could not
            meta.dimensions[d].key.clone_from(&incoming_dimension.key);
        }
        if meta.dimensions[d].description.is_empty() {
            meta.dimensions[d].description.clone_from(&incoming_dimension.description);
        }
        for (from, to) in merge_categories(&mut meta.dimensions[d], incoming_dimension) {
            relabels.push((d, from, to));
        }
    }
    let mut topic_slots = Vec::new();
    for t in &incoming.topics {
        let slot = match meta.find_topic(t) {
            Some(i) => {
                let known = &mut meta.topics[i];
                // OData metadata fills in what a download could not tell, and a figure is never truncated
                if known.description.is_empty() {
                    known.description.clone_from(&t.description);
                }
                if known.key == format!("{}/{} ({})", known.group, known.title, known.unit)
                    || known.key == format!("{} ({})", known.title, known.unit)
                {
                    known.key.clone_from(&t.key);
                }
                known.kind = known.kind.widest(t.kind);
                i
            }
            None => {
                let mut topic = t.clone();
                topic.column = String::new();
                meta.topics.push(topic);
                model::name_columns(&mut meta);
                meta.topics.len() - 1
            }
        };
        if topic_slots.contains(&slot) {
            return Err(IngestError::store(
                source,
                format!("two columns are topic {:?} ({})", meta.topics[slot].title, meta.topics[slot].column),
            ));
        }
        topic_slots.push(slot);
    }
    if !incoming.title.is_empty() {
        meta.title.clone_from(&incoming.title);
    }
    Ok(Merged { meta, topic_slots, dimension_slots, relabels })
}

/// Adds an incoming dimension's categories to the stored ones; answers the stored titles that change. CBS's
/// own hierarchy (from OData) takes the place of a fallback's.
fn merge_categories(stored: &mut Dimension, incoming: &Dimension) -> Vec<(String, String)> {
    let mut relabels = Vec::new();
    let from_cbs = incoming.categories.iter().any(|c| c.key != c.title);
    if !incoming.groups.is_empty() && (from_cbs || stored.groups.is_empty()) {
        stored.groups.clone_from(&incoming.groups);
    }
    for new in &incoming.categories {
        let fold = |t: &str| model::fold_title(t);
        let found = stored.categories.iter().position(|c| c.key == new.key && c.key != c.title).or_else(|| {
            stored.categories.iter().position(|c| {
                fold(&c.title) == fold(&new.title)
                    || (c.cut && !new.cut && fold(&new.title).starts_with(&fold(&c.title)))
                    || (new.cut && !c.cut && fold(&c.title).starts_with(&fold(&new.title)))
                    || c.labels
                        .iter()
                        .chain(&new.labels)
                        .any(|l| fold(l) == fold(&c.title) || fold(l) == fold(&new.title))
            })
        });
        let Some(i) = found else {
            stored.categories.push(new.clone());
            continue;
        };
        let known = &mut stored.categories[i];
        for label in &new.labels {
            if !known.labels.contains(label) {
                known.labels.push(label.clone());
            }
        }
        // a full title (OData's, or any not cut short) wins over a cut one; CBS's key over a download's
        let better_title = (known.cut && !new.cut) || (from_cbs && new.key != new.title && known.title != new.title);
        if better_title {
            if known.title != new.title {
                relabels.push((known.title.clone(), new.title.clone()));
                let old = std::mem::replace(&mut known.title, new.title.clone());
                if !known.labels.contains(&old) {
                    known.labels.push(old);
                }
            }
            known.cut = false;
        }
        if new.key != new.title {
            known.key.clone_from(&new.key);
        }
        if new.group.is_some() && (from_cbs || known.group.is_none()) {
            known.group.clone_from(&new.group);
        }
    }
    relabels
}

impl Merged {
    /// An incoming row in the merged model's order.
    pub fn place(&self, mut row: Row) -> Row {
        let mut cells = vec![Cell::Absent; self.meta.topics.len()];
        for (cell, &slot) in std::mem::take(&mut row.cells).into_iter().zip(&self.topic_slots) {
            cells[slot] = cell;
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
    /// Rows of the same release given figures they lacked (a download of some topics, then of others).
    pub completed: usize,
}

type Key = (Period, Option<Text>, Vec<Text>);

fn key_of(r: &Row) -> Key {
    (r.period, r.region.as_ref().map(|x| Text::clone(&x.code)), r.categories.clone())
}

/// Merges incoming rows into a partition's current rows: a new key is added; figures equal to the stored ones
/// change nothing (not even the release); other figures replace the stored row, which moves to `replaced`
/// with `replaced_by`. Topics an incoming row does not hold keep their stored value. A row of the same release
/// that only fills blanks of the stored one completes it in place: within one release a figure arrives (a
/// download of some topics, then of others), it is not replaced. `incoming` holds each key once (see
/// [`super::deduplicate`]).
pub fn merge_rows(current: Vec<Row>, replaced: &mut Vec<Row>, incoming: Vec<Row>) -> (Vec<Row>, Changes) {
    let fill = |row: &mut Row| {
        for c in &mut row.cells {
            if *c == Cell::Absent {
                *c = Cell::Empty;
            }
        }
    };
    if current.is_empty() {
        // a partition's first rows (their keys are distinct: `deduplicate` saw to that) are all new
        let mut rows = incoming;
        rows.iter_mut().for_each(fill);
        let changes = Changes { added: rows.len(), ..Changes::default() };
        return (rows, changes);
    }
    let mut changes = Changes::default();
    let mut rows = current;
    let mut at: HashMap<Key, usize, RandomState> =
        HashMap::with_capacity_and_hasher(rows.len(), RandomState::default());
    at.extend(rows.iter().enumerate().map(|(i, r)| (key_of(r), i)));
    for mut new in incoming {
        let k = key_of(&new);
        match at.get(&k) {
            None => {
                fill(&mut new);
                at.insert(k, rows.len());
                rows.push(new);
                changes.added += 1;
            }
            Some(&i) => {
                let old = &rows[i];
                for (cell, before) in new.cells.iter_mut().zip(&old.cells) {
                    if *cell == Cell::Absent {
                        *cell = before.clone();
                    }
                }
                fill(&mut new);
                if new.same_figures(old) {
                    changes.unchanged += 1;
                    continue;
                }
                if new.release == old.release && new.completes(old) {
                    rows[i] = new;
                    changes.completed += 1;
                    continue;
                }
                let mut old = std::mem::replace(&mut rows[i], new);
                old.replaced_by = rows[i].release;
                replaced.push(old);
                changes.replaced += 1;
            }
        }
    }
    (rows, changes)
}

/// Gives stored rows the titles their categories have now, and keeps one current row per key where two
/// titles became one (the newer release; the other is replaced by it).
fn relabel(
    current: &mut Vec<Row>,
    replaced: &mut Vec<Row>,
    relabels: &[(usize, String, String)],
    texts: &mut Interner,
) {
    if relabels.is_empty() {
        return;
    }
    for row in current.iter_mut().chain(replaced.iter_mut()) {
        for (d, from, to) in relabels {
            if row.categories.get(*d).is_some_and(|c| &**c == from.as_str()) {
                row.categories[*d] = texts.text(to);
            }
        }
    }
    let mut newest: HashMap<Key, (usize, Option<i32>), RandomState> = HashMap::default();
    for (i, row) in current.iter().enumerate() {
        let entry = newest.entry(key_of(row)).or_insert((i, row.release));
        if row.release > entry.1 {
            *entry = (i, row.release);
        }
    }
    if newest.len() == current.len() {
        return;
    }
    for (i, mut row) in std::mem::take(current).into_iter().enumerate() {
        let (keep, release) = newest[&key_of(&row)];
        if keep == i {
            current.push(row);
        } else {
            row.replaced_by = release;
            replaced.push(row);
        }
    }
}

/// The rows of `meta`'s table as one batch with the table's columns (and `replaced_by` for replaced versions).
pub fn rows_to_batch(meta: &TableMeta, rows: &[Row], replaced: bool) -> arrow::error::Result<RecordBatch> {
    let schema = meta.schema(replaced);
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
        let cell = |r: &Row| r.cells.get(t).cloned().unwrap_or(Cell::Absent);
        // a figure column never takes text: the topic's kind widens first
        let text_in_figures = |r: &Row, v: &str| {
            arrow::error::ArrowError::InvalidArgumentError(format!(
                "{}: text {v:?} in figure column {}",
                r.period, topic.column
            ))
        };
        columns.push(match topic.kind {
            Kind::Count | Kind::Amount => {
                let mut values = Vec::with_capacity(rows.len());
                for r in rows {
                    values.push(match cell(r) {
                        Cell::Count(v) => Some(v),
                        // a whole-number column never takes a fraction: the topic's kind widens first
                        Cell::Decimal(v) => {
                            return Err(arrow::error::ArrowError::InvalidArgumentError(format!(
                                "{}: {v} in whole-number column {}",
                                r.period, topic.column
                            )));
                        }
                        Cell::Text(v) => return Err(text_in_figures(r, &v)),
                        _ => None,
                    });
                }
                Arc::new(Int64Array::from(values))
            }
            Kind::Decimal => {
                let mut values = Vec::with_capacity(rows.len());
                for r in rows {
                    values.push(match cell(r) {
                        Cell::Decimal(v) => Some(v),
                        Cell::Count(v) => Some(v as f64),
                        Cell::Text(v) => return Err(text_in_figures(r, &v)),
                        _ => None,
                    });
                }
                Arc::new(Float64Array::from(values))
            }
            // figures stored before the topic became text keep their value, written out
            Kind::Text => Arc::new(
                rows.iter()
                    .map(|r| match cell(r) {
                        Cell::Text(v) => Some(v.to_string()),
                        Cell::Count(v) => Some(v.to_string()),
                        Cell::Decimal(v) => Some(v.to_string()),
                        _ => None,
                    })
                    .collect::<StringArray>(),
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
    if replaced {
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
        Text(&'b StringArray),
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
                } else if let Some(a) = c.as_any().downcast_ref::<StringArray>() {
                    Values::Text(a)
                } else {
                    return Err(IngestError::store(path, format!("column {} has type {}", t.column, c.data_type())));
                }
            }
        });
    }
    let suppressed = required::<ListArray>(batch, "suppressed_columns", path)?;
    let release = required::<Date32Array>(batch, "release", path)?;
    let replaced = column::<Date32Array>(batch, model::REPLACED_BY, path)?;
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
                Values::Text(a) if a.is_valid(i) => Cell::text(a.value(i)),
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

/// Sorts rows in the order of [`sort_columns`] (then release). Each distinct text is compared once, as rows
/// share few distinct `Arc<str>`s, and the rows are ordered by the ranks of their texts.
pub fn sort_rows(rows: &mut Vec<Row>) {
    // the texts a row sorts by, in order: level, categories, code
    fn texts(r: &Row) -> impl Iterator<Item = &Text> {
        r.region.iter().map(|x| &x.level).chain(&r.categories).chain(r.region.iter().map(|x| &x.code))
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
            let mut key = if row.region.is_none() { vec![0] } else { Vec::new() };
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
/// and of its replaced versions (every stored partition where categories are relabelled), and the metadata.
/// Answers what changed. Partitions are independent, so they are merged, sorted and encoded on as many
/// threads as there are cores. A table earlier versions of vtsql stored with a whole history is moved to
/// this layout on the way.
pub fn stage(
    run: &mut Run<'_>,
    data_dir: &Path,
    stored: Option<&TableMeta>,
    merged: &Merged,
    incoming: Vec<Row>,
) -> Result<Changes> {
    let meta = &merged.meta;
    let name = meta.table_name();
    let legacy = data_dir.join(format!("{name}{HISTORY}"));
    let legacy = stored.is_some() && legacy.is_dir();
    let mut by_partition: std::collections::BTreeMap<(i32, u8), Vec<Row>> = Default::default();
    for row in incoming {
        by_partition.entry((row.period.year, row.period.half)).or_default().push(merged.place(row));
    }
    if stored.is_some() && (!merged.relabels.is_empty() || legacy) {
        for suffix in ["", REPLACED, HISTORY] {
            for period in stored_partitions(&data_dir.join(format!("{name}{suffix}"))) {
                by_partition.entry(period).or_default();
            }
        }
    }
    let sort = sort_columns(meta);
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
            let context = PartitionContext { meta, data_dir, stored: stored.is_some(), legacy, merged, sort: &sort };
            let staged = stage_partition(&context, staging, period, rows);
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
        total.completed += changes.completed;
        directories.into_iter().for_each(|directory| run.add_directory(directory));
    }
    if legacy {
        run.remove(&format!("{name}{HISTORY}"));
    }
    if total.added + total.replaced > 0 || stored != Some(meta) || legacy {
        let json =
            serde_json::to_vec_pretty(meta).map_err(|e| IngestError::store(&meta_path(data_dir, &meta.id), e))?;
        run.stage_file(&format!("{name}.json"), &json)?;
    }
    Ok(total)
}

/// What staging one partition needs to know of its table.
struct PartitionContext<'a> {
    meta: &'a TableMeta,
    data_dir: &'a Path,
    /// The table is stored already (its partitions are read and merged into).
    stored: bool,
    /// Its replaced versions are still in the whole-history layout of earlier versions of vtsql.
    legacy: bool,
    merged: &'a Merged,
    sort: &'a [&'a str],
}

/// Merges `rows` into the stored partition `period` of the table and of its replaced versions, and writes
/// both (unless nothing changed) under `staging`.
fn stage_partition(
    context: &PartitionContext<'_>,
    staging: Staging<'_>,
    period: (i32, u8),
    rows: Vec<Row>,
) -> Result<StagedPartition> {
    let meta = context.meta;
    let name = meta.table_name();
    let replaced_name = format!("{name}{REPLACED}");
    let mut texts = Interner::default();
    let (mut current, mut replaced) = if context.stored {
        let current = read_rows(meta, &context.data_dir.join(partition(&name, period)), &mut texts)?;
        let mut replaced = read_rows(meta, &context.data_dir.join(partition(&replaced_name, period)), &mut texts)?;
        if context.legacy {
            let legacy = context.data_dir.join(partition(&format!("{name}{HISTORY}"), period));
            replaced.extend(read_rows(meta, &legacy, &mut texts)?.into_iter().filter(|r| r.replaced_by.is_some()));
        }
        (current, replaced)
    } else {
        (vec![], vec![])
    };
    let replaced_before = replaced.len();
    relabel(&mut current, &mut replaced, &context.merged.relabels, &mut texts);
    let relabelled = !context.merged.relabels.is_empty();
    let (mut current, changes) = merge_rows(current, &mut replaced, rows);
    if changes.added + changes.replaced + changes.completed == 0 && !relabelled && !context.legacy {
        return Ok((changes, vec![]));
    }
    let mut directories = Vec::new();
    if !current.is_empty() {
        sort_rows(&mut current);
        let batch =
            rows_to_batch(meta, &current, false).map_err(|e| IngestError::store(&context.data_dir.join(&name), e))?;
        directories.push(staging.write_directory(&partition(&name, period), &batch, context.sort)?);
    }
    if !replaced.is_empty() && (replaced.len() != replaced_before || relabelled || context.legacy) {
        sort_rows(&mut replaced);
        let batch = rows_to_batch(meta, &replaced, true)
            .map_err(|e| IngestError::store(&context.data_dir.join(&replaced_name), e))?;
        directories.push(staging.write_directory(&partition(&replaced_name, period), &batch, context.sort)?);
    }
    Ok((changes, directories))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(code: &str, category: &str, period: &str, value: i64, release: i32) -> Row {
        let text = |s: &str| -> Text { s.into() };
        Row {
            period: Period::parse(period).map(|(p, _)| p).unwrap(),
            provisional: false,
            region: Some(RegionCell { level: text(model::region_level_of(code)), code: text(code), name: text(code) }),
            categories: vec![text(category)],
            cells: vec![Cell::Count(value)],
            release: Some(release),
            replaced_by: None,
            origin: (0, 0),
        }
    }

    fn value(r: &Row) -> i64 {
        if let Cell::Count(v) = r.cells[0] { v } else { 0 }
    }

    /// A text topic is written as text, figures stored before it became text written out; read back, the same
    /// cells. Text in a figure column is refused, never dropped.
    #[test]
    fn text_topics_are_written_and_read_back() {
        let topic = |kind| model::Topic {
            key: "Gemeentenaam_1".into(),
            title: "Gemeentenaam".into(),
            group: String::new(),
            unit: String::new(),
            description: String::new(),
            column: "gemeentenaam".into(),
            kind,
        };
        let mut meta = TableMeta {
            id: "99999NED".into(),
            title: "t".into(),
            release: String::new(),
            regions: true,
            dimensions: vec![],
            topics: vec![topic(Kind::Text)],
        };
        let text = Cell::text;
        let cells = [text("Almelo"), Cell::Count(12), Cell::Decimal(28.5), Cell::Suppressed, Cell::Empty];
        let rows: Vec<Row> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| Row {
                categories: vec![],
                cells: vec![c.clone()],
                ..row(&format!("GM{i:04}"), "x", "2023", 0, 1)
            })
            .collect();
        let batch = rows_to_batch(&meta, &rows, false).unwrap();
        let back = batch_to_rows(&meta, &batch, Path::new("t"), &mut Interner::default()).unwrap();
        let back: Vec<Cell> = back.into_iter().map(|r| r.cells[0].clone()).collect();
        assert_eq!(back, [text("Almelo"), text("12"), text("28.5"), Cell::Suppressed, Cell::Empty]);
        meta.topics[0] = topic(Kind::Decimal);
        let err = rows_to_batch(&meta, &rows[..1], false).unwrap_err().to_string();
        assert!(err.contains("text \"Almelo\" in figure column gemeentenaam"), "{err}");
    }

    #[test]
    fn rows_sort_by_level_category_code_and_period() {
        // every text its own Arc: equal texts behind different pointers rank the same
        let mut rows = vec![
            row("GM0141", "Totaal", "2020H2", 1, 1),
            row("NL01", "Totaal", "2020H1", 2, 1),
            row("GM0141", "Kindermishandeling", "2020H1", 3, 1),
            row("GM0141", "Totaal", "2020H1", 4, 2),
            row("GM0141", "Totaal", "2020H1", 5, 1),
            row("GM0003", "Totaal", "2020H1", 7, 1),
            row("VT01", "Totaal", "2020H1", 6, 1),
        ];
        sort_rows(&mut rows);
        // gemeente < land < vt_regio, then category, code, period, release
        assert_eq!(rows.iter().map(value).collect::<Vec<_>>(), vec![3, 7, 5, 4, 1, 2, 6]);
    }

    #[test]
    fn three_releases_leave_two_replaced_versions() {
        let mut replaced = Vec::new();
        let (rows, changes) = merge_rows(vec![], &mut replaced, vec![row("GM0141", "Totaal", "2023", 10, 1)]);
        assert_eq!((changes.added, rows.len()), (1, 1));
        let (rows, changes) = merge_rows(rows, &mut replaced, vec![row("GM0141", "Totaal", "2023", 11, 2)]);
        assert_eq!(changes.replaced, 1);
        let (rows, changes) = merge_rows(rows, &mut replaced, vec![row("GM0141", "Totaal", "2023", 11, 3)]);
        assert_eq!(changes.unchanged, 1, "the same figures change nothing");
        let (rows, _) = merge_rows(rows, &mut replaced, vec![row("GM0141", "Totaal", "2023", 12, 4)]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].cells, vec![Cell::Count(12)]);
        assert_eq!(rows[0].replaced_by, None);
        let versions: Vec<(Option<i32>, Option<i32>)> = replaced.iter().map(|h| (h.release, h.replaced_by)).collect();
        assert_eq!(versions, vec![(Some(1), Some(2)), (Some(2), Some(4))]);
    }

    #[test]
    fn figures_a_row_lacked_complete_it_in_its_release_and_replace_it_in_another() {
        let two = |a: Cell, b: Cell, release: i32| {
            let mut r = row("GM0141", "Totaal", "2023", 0, release);
            r.cells = vec![a, b];
            r
        };
        let mut replaced = Vec::new();
        // a part with the first topic, then the second: one row, no history
        let (rows, _) = merge_rows(vec![], &mut replaced, vec![two(Cell::Count(5), Cell::Absent, 1)]);
        assert_eq!(rows[0].cells, vec![Cell::Count(5), Cell::Empty]);
        let (rows, changes) = merge_rows(rows, &mut replaced, vec![two(Cell::Absent, Cell::Count(7), 1)]);
        assert_eq!((changes.completed, changes.replaced, replaced.len()), (1, 0, 0));
        assert_eq!(rows[0].cells, vec![Cell::Count(5), Cell::Count(7)]);
        // a figure of the same release that differs is a replacement, not a completion
        let (_, changes) = merge_rows(rows, &mut replaced, vec![two(Cell::Count(6), Cell::Absent, 1)]);
        assert_eq!((changes.completed, changes.replaced), (0, 1));
        // a blank filled by a later release is a new version of the row
        let mut replaced = Vec::new();
        let (rows, _) = merge_rows(vec![], &mut replaced, vec![two(Cell::Count(5), Cell::Empty, 1)]);
        let (_, changes) = merge_rows(rows, &mut replaced, vec![two(Cell::Count(5), Cell::Count(7), 2)]);
        assert_eq!((changes.completed, changes.replaced, replaced.len()), (0, 1, 1));
    }

    #[test]
    fn a_relabel_joins_a_cut_label_with_its_full_title() {
        let mut current = vec![row("GM0141", "Andere problematiek", "2020H1", 30, 1)];
        let mut replaced = Vec::new();
        let relabels = vec![(0, "Andere problematiek".to_string(), "Andere problematiek, geen geweld".to_string())];
        relabel(&mut current, &mut replaced, &relabels, &mut Interner::default());
        assert_eq!(&*current[0].categories[0], "Andere problematiek, geen geweld");
        // a fetch of the same figures then changes nothing
        let (rows, changes) = merge_rows(
            current,
            &mut replaced,
            vec![row("GM0141", "Andere problematiek, geen geweld", "2020H1", 30, 2)],
        );
        assert_eq!((rows.len(), changes.unchanged, replaced.len()), (1, 1, 0));
    }
}
