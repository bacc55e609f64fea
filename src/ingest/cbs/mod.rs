//! Any CBS table as a `cbs_<id>` table of the data directory, from the pages `vtsql fetch` keeps
//! ([`odata`]) or from a StatLine download ([`statline`]); which table a download is ([`family`]);
//! releases merged in with their history ([`table`]).

pub mod family;
pub mod model;
pub mod odata;
pub mod statline;
pub mod table;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use model::{Row, TableMeta, Text};

use super::error::{IngestError, Result};
use super::store::{Run, Store};

pub use crate::fetch::kept::{kept_dir, kept_ids};

/// One table's incoming figures: its model as the input tells it, and its rows.
pub struct Incoming {
    pub meta: TableMeta,
    pub rows: Vec<Row>,
    /// The inputs, for messages (a row's `origin.0` indexes them).
    pub sources: Vec<PathBuf>,
    /// What reading found worth telling: categories vtsql did not know, regions left out.
    pub notes: Vec<String>,
}

/// Refuses input that gives one cell two different figures (naming both places) and drops repeats of the
/// same figures (a download loaded twice, or two downloads that overlap).
pub fn deduplicate(incoming: &mut Incoming) -> Result<()> {
    let mut seen: HashMap<(vtsql_udfs::period::Period, Option<Text>, Vec<Text>), usize, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(incoming.rows.len(), Default::default());
    let mut keep = vec![true; incoming.rows.len()];
    #[allow(clippy::needless_range_loop)] // rows[first] is written while rows[i] is read
    for i in 0..incoming.rows.len() {
        let row = &incoming.rows[i];
        let key = (row.period, row.region.as_ref().map(|r| Text::clone(&r.code)), row.categories.clone());
        let Some(&first) = seen.get(&key) else {
            seen.insert(key, i);
            continue;
        };
        let earlier = &incoming.rows[first];
        let differs = |a: &model::Cell, b: &model::Cell| match (a, b) {
            (model::Cell::Absent, _) | (_, model::Cell::Absent) => false,
            (model::Cell::Decimal(x), model::Cell::Decimal(y)) => x.to_bits() != y.to_bits(),
            (model::Cell::Empty, model::Cell::Empty) => false,
            _ => a != b,
        };
        if row.provisional != earlier.provisional || row.cells.iter().zip(&earlier.cells).any(|(a, b)| differs(a, b)) {
            let place = |r: &Row| {
                let file =
                    incoming.sources.get(r.origin.0 as usize).map(|p| p.display().to_string()).unwrap_or_default();
                format!("{file}:{}", r.origin.1)
            };
            return Err(IngestError::store(
                incoming.sources.get(row.origin.0 as usize).map(PathBuf::as_path).unwrap_or(Path::new("?")),
                format!(
                    "line {}: {} {} {}{}: other figures than {} for the same cell",
                    row.origin.1,
                    incoming.meta.id,
                    row.period,
                    row.region.as_ref().map(|r| &*r.code).unwrap_or(""),
                    row.categories.iter().map(|c| format!(" {c:?}")).collect::<String>(),
                    place(earlier)
                ),
            ));
        }
        // the same figures: fill in what the first lacked, keep one
        let filled: Vec<model::Cell> = earlier
            .cells
            .iter()
            .zip(&row.cells)
            .map(|(a, b)| if *a == model::Cell::Absent { b.clone() } else { a.clone() })
            .collect();
        incoming.rows[first].cells = filled;
        keep[i] = false;
    }
    let mut flags = keep.into_iter();
    incoming.rows.retain(|_| flags.next().unwrap_or(true));
    Ok(())
}

/// What staging one table did.
pub struct Staged {
    /// Lines for the report (what reading noticed first).
    pub lines: Vec<String>,
    /// Inhabitants on 1 January the table tells (a population table such as 70072NED): `population` takes
    /// them.
    pub population: Vec<super::dimensions::Population>,
}

/// Stages `incoming` into its table in `run`; `tables` is the directory of the tables now (the store's).
pub fn stage(run: &mut Run<'_>, tables: &Path, mut incoming: Incoming) -> Result<Staged> {
    deduplicate(&mut incoming)?;
    let stored = table::stored_meta(tables, &incoming.meta.id)?;
    let source = incoming.sources.first().cloned().unwrap_or_default();
    let merged = table::merge_meta(stored.as_ref(), &incoming.meta, &source)?;
    let population = population_of(&incoming.meta, &incoming.rows);
    let n = incoming.rows.len();
    let changes = table::stage(run, tables, stored.as_ref(), &merged, incoming.rows)?;
    let mut lines = incoming.notes;
    for (d, from, to) in &merged.relabels {
        lines.push(format!(
            "{}: category {from:?} of {:?} is now CBS's full title {to:?}",
            merged.meta.table_name(),
            merged.meta.dimensions[*d].title
        ));
    }
    let completed = match changes.completed {
        0 => String::new(),
        n => format!(", {n} completed (figures of the same release they lacked)"),
    };
    lines.push(format!(
        "{}: {n} rows read: {} new, {} replaced (kept in {}_history), {} unchanged{completed}",
        merged.meta.table_name(),
        changes.added,
        changes.replaced,
        merged.meta.table_name(),
        changes.unchanged
    ));
    if !population.is_empty() {
        lines.push(format!("{}: {} population figures for `population`", merged.meta.table_name(), population.len()));
    }
    Ok(Staged { lines, population })
}

/// The inhabitants on 1 January a table tells, if it is a population table: a count topic titled `Totale
/// bevolking` (70072NED) or `Bevolking op 1 januari`, in rows of a year whose every other dimension is at its
/// total. One figure per region and year.
pub fn population_of(meta: &TableMeta, rows: &[Row]) -> Vec<super::dimensions::Population> {
    let topic = meta.topics.iter().position(|t| {
        let title = model::fold_title(&t.title);
        t.kind == model::Kind::Count && (title == "totale bevolking" || title == "bevolking op 1 januari")
    });
    let Some(topic) = topic.filter(|_| meta.regions) else {
        return vec![];
    };
    let mut out = Vec::new();
    for row in rows {
        let total = row.categories.iter().all(|c| model::fold_title(c).starts_with("totaal"));
        let (Some(region), model::Cell::Count(people), true, true) =
            (&row.region, row.cells.get(topic).cloned().unwrap_or(model::Cell::Empty), total, row.period.is_year())
        else {
            continue;
        };
        out.push(super::dimensions::Population {
            region_code: region.code.to_string(),
            year: row.period.year,
            population: people,
        });
    }
    out
}

/// Ingests the kept downloads of `ids` (every complete one when empty) into their tables: what `vtsql fetch`
/// does after downloading, and `vtsql ingest --kept` offline.
pub fn ingest_kept(data_dir: &Path, ids: &[String], progress: &mut dyn FnMut(&str)) -> Result<Vec<String>> {
    let ids: Vec<String> =
        if ids.is_empty() { kept_ids(data_dir) } else { ids.iter().map(|i| i.to_uppercase()).collect() };
    let store = Store::open(data_dir, progress)?;
    let tables = store.tables().to_path_buf();
    let mut run = store.begin()?;
    let mut lines = Vec::new();
    let mut population = Vec::new();
    // One table at a time, as a family's pages are larger than what one of them needs in memory; the next
    // table is read on a second thread while this one is written.
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel(0);
        scope.spawn(move || {
            for id in &ids {
                let dir = kept_dir(data_dir, id);
                let download = odata::read_download(&dir);
                let failed = download.is_err();
                if send.send((dir, download)).is_err() || failed {
                    break;
                }
            }
        });
        for (dir, download) in receive {
            let download = download?;
            progress(&format!("{}: {} rows of {} kept", dir.display(), download.rows.len(), download.meta.id));
            let incoming =
                Incoming { meta: download.meta, rows: download.rows, sources: vec![dir], notes: download.notes };
            let staged = stage(&mut run, &tables, incoming)?;
            lines.extend(staged.lines);
            population.extend(staged.population);
        }
        Ok::<(), IngestError>(())
    })?;
    if !population.is_empty() {
        lines.push(super::stage_population(&mut run, &tables, population)?);
    }
    run.commit()?;
    Ok(lines)
}

/// Stores the tables of CBS's catalogue as `service` listed them in `cbs_catalog`, in place of the last listing:
/// one row per catalogue and table id (the first where a listing repeats one).
pub fn store_catalog(
    data_dir: &Path,
    entries: &[crate::fetch::catalog::Entry],
    listed_by: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<String> {
    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
    use datafusion::arrow::record_batch::RecordBatch;
    let mut rows: Vec<&crate::fetch::catalog::Entry> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for e in entries {
        if seen.insert((e.catalog.as_str(), e.id.as_str())) {
            rows.push(e);
        }
    }
    rows.sort_by(|a, b| (&a.catalog, &a.id).cmp(&(&b.catalog, &b.id)));
    let text = |f: &dyn Fn(&crate::fetch::catalog::Entry) -> Option<String>| -> ArrayRef {
        std::sync::Arc::new(rows.iter().map(|e| f(e)).collect::<StringArray>())
    };
    let non_empty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    let columns: Vec<ArrayRef> = vec![
        text(&|e| Some(e.id.clone())),
        text(&|e| Some(e.title.clone())),
        text(&|e| e.period.clone()),
        text(&|e| non_empty(&e.modified)),
        std::sync::Arc::new(rows.iter().map(|e| e.size.and_then(|s| i64::try_from(s).ok())).collect::<Int64Array>()),
        text(&|e| non_empty(&e.status)),
        text(&|e| Some(e.catalog.clone())),
        text(&|_| Some(listed_by.to_string())),
    ];
    let table = &crate::schema::CBS_CATALOG;
    let batch = RecordBatch::try_new(table.schema(), columns).map_err(|e| IngestError::store(data_dir, e))?;
    let store = Store::open(data_dir, progress)?;
    let mut run = store.begin()?;
    run.stage_table(table, &batch)?;
    run.commit()?;
    Ok(format!("{}: {} tables", table.name, rows.len()))
}

/// Why `vtsql fetch` stopped.
#[derive(Debug, thiserror::Error)]
pub enum FetchCommandError {
    #[error("{0}")]
    Fetch(#[from] crate::fetch::FetchError),
    #[error("{0}\nnothing was written to the tables (the downloaded pages are kept)")]
    Ingest(#[from] IngestError),
    #[error("{0:?} is not a CBS table id such as 84852NED")]
    NotAnId(String),
}

/// `vtsql fetch [ID...]`: downloads each table (default: the ten of Beleidsinformatie Veilig Thuis) that
/// changed since it was kept, then ingests those into their `cbs_<id>` tables. A table that fails does not
/// stop the others; the first failure is reported at the end.
/// Fetches table `id` from the first service of `options` (see [`crate::fetch::Options::services`]) that has it
/// and answers; a service that lacks it or fails is said, and the next one tried. The last service's error when
/// none served. A failure of the data directory itself (a file that cannot be written) is no reason to ask
/// another service: it ends the fetch.
fn fetch_from_first_that_serves<'o>(
    data_dir: &Path,
    id: &str,
    scope: &crate::fetch::scope::Scope,
    options: &'o crate::fetch::Options,
    progress: &mut crate::fetch::Progress,
) -> Result<(&'o crate::fetch::Options, crate::fetch::Outcome), crate::fetch::FetchError> {
    use crate::fetch::{self, FetchError};
    let mut services = options.services().peekable();
    loop {
        let service = services.next().expect("at least one service");
        match fetch::fetch_table(data_dir, id, scope, service, progress) {
            Ok(outcome) => return Ok((service, outcome)),
            // the data directory, or a part the table does not have: no other service will do better
            Err(e @ (FetchError::Io { .. } | FetchError::Part(_))) => return Err(e),
            Err(e) => match services.peek() {
                Some(next) => eprintln!("{id}: {} failed ({e}); trying {}", served_by(service), served_by(next)),
                None => return Err(e),
            },
        }
    }
}

/// `OData v4 at https://...`.
fn served_by(service: &crate::fetch::Options) -> String {
    format!("{} at {}", service.api.title(), service.base_url)
}

pub fn fetch_command(
    data_dir: &Path,
    ids: &[String],
    scope: &crate::fetch::scope::Scope,
    options: &crate::fetch::Options,
) -> Result<(), FetchCommandError> {
    use crate::fetch::{self, Outcome};
    let ids: Vec<String> = if ids.is_empty() {
        family::FAMILY.iter().map(|m| m.id.to_string()).collect()
    } else {
        ids.iter().map(|i| i.trim().to_uppercase()).collect()
    };
    if let Some(bad) = ids.iter().find(|id| family::id_in(id).as_deref() != Some(id.as_str())) {
        return Err(FetchCommandError::NotAnId(bad.clone()));
    }
    let mut progress = fetch::Progress::new();
    let _lock = fetch::lock(data_dir, &mut progress)?;
    let mut changed = Vec::new();
    let mut failure = None;
    for id in &ids {
        match fetch_from_first_that_serves(data_dir, id, scope, options, &mut progress) {
            Ok((served, Outcome::Unchanged { modified })) => {
                eprintln!("{id}: unchanged since {modified} ({}): nothing downloaded", served_by(served));
                // kept but not stored (its ingest failed, or the tables were removed): ingest it now
                let stored = table::stored_meta(&super::generation::tables_dir(data_dir), id)?.map(|m| m.release);
                if stored != model::day_of(&modified).map(model::date_text) {
                    changed.push(id.clone());
                }
            }
            Ok((served, Outcome::Downloaded { rows, .. })) => {
                let part = match scope.describe() {
                    part if part.is_empty() => String::new(),
                    part => format!(" ({part})"),
                };
                eprintln!(
                    "{id}: {rows} rows{part} downloaded from {} into {}",
                    served_by(served),
                    kept_dir(data_dir, id).display()
                );
                changed.push(id.clone());
            }
            Err(e) => {
                match e.to_string() {
                    said if said.starts_with(id.as_str()) => eprintln!("{said}"),
                    said => eprintln!("{id}: {said}"),
                }
                failure.get_or_insert(e);
            }
        }
    }
    if !changed.is_empty() {
        for line in ingest_kept(data_dir, &changed, &mut |line| eprintln!("{line}"))? {
            eprintln!("{line}");
        }
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
