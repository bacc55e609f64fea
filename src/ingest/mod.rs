//! Raw CBS files → the tidy, typed tables of a data directory.
//!
//! `ingest` reads every file first, detects its layout, resolves periods, regions and categories
//! and checks every cell; only when all files are good does it write, every table and partition through
//! one staged run committed whole (see [`store`]). Every CBS figure, whichever way it came (OData pages,
//! a StatLine CSV download or text export), is stored once, in its `cbs_<id>` table ([`cbs`]); the
//! friendly tables (`veilig_thuis`, the `vt_*` views) are defined over those, and `population` takes the
//! inhabitants a population table (70072NED) tells.

pub mod categories;
pub mod cbs;
pub mod dimensions;
mod error;
pub mod gazetteer;
pub mod generation;
pub mod regions;
pub mod store;
pub(crate) mod text;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use error::{IngestError, Result};

use crate::schema;
use dimensions::{Population, Table};
use regions::Regions;
use store::{Run, Store};
use text::{SourceFile, split_fields};

/// The layouts vtsql recognises, detected from the file's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layout {
    /// vtsql's own regions table (`data/raw/regions.csv`).
    Regions,
    /// CBS "Gebieden in Nederland": gemeenten with provincie and population.
    Gebieden,
    /// CBS "Gemeenten alfabetisch": gemeente codes and names.
    GemeentenList,
    /// StatLine CSV download of any CBS table (70072ned's population among them).
    StatlineCsv,
    /// StatLine text export of any CBS table.
    StatlineText,
}

impl Layout {
    pub fn describe(self) -> &'static str {
        match self {
            Layout::Regions => "vtsql regions table",
            Layout::Gebieden => "CBS Gebieden in Nederland",
            Layout::GemeentenList => "CBS Gemeenten alfabetisch",
            Layout::StatlineCsv => "StatLine CSV download",
            Layout::StatlineText => "StatLine text export",
        }
    }
}

struct Source {
    file: SourceFile,
    layout: Layout,
    header: Vec<String>,
    header_line: usize,
}

impl Source {
    fn table(&self) -> Table<'_> {
        Table { file: &self.file, header: self.header.clone(), header_line: self.header_line }
    }
}

fn detect(file: SourceFile) -> Result<Source> {
    // The first lines tell the layout.
    let head: Vec<(usize, String)> = file.lines()?.take(20).collect::<Result<_>>()?;
    let Some((line_no, first)) = head.iter().find(|(_, l)| !l.trim().is_empty()) else {
        return Err(IngestError::UnknownLayout { file: file.path.clone(), reason: "the file is empty".into() });
    };
    let line_no = *line_no;
    // A StatLine text export's title may contain ';' ("Huiselijk geweld; aard geweld, ..."), its
    // header line never does.
    let text_header = head.iter().find(|(_, l)| l.contains("Regio's") && l.contains("Perioden") && !l.contains(';'));
    if let Some((n, _)) = text_header {
        let header_line = *n;
        return Ok(Source { file, layout: Layout::StatlineText, header: vec![], header_line });
    }
    if first.contains(';') {
        let header = split_fields(first).map_err(|f| file.error(line_no, format!("field {f}"), "quote not closed"))?;
        let lower: Vec<String> = header.iter().map(|h| h.to_lowercase()).collect();
        let has = |pred: &dyn Fn(&str) -> bool| lower.iter().any(|h| pred(h));
        let layout = if has(&|h| h == "region_code") && has(&|h| h == "region_level") {
            Layout::Regions
        } else if has(&|h| h == "municipalitycode" || h.starts_with("gemeentecode")) {
            Layout::Gebieden
        } else if has(&|h| h == "municipalcodegm") {
            Layout::GemeentenList
        } else if has(&|h| h == "perioden") && header.iter().any(|h| cbs::model::split_unit(h).1.is_some()) {
            Layout::StatlineCsv
        } else {
            return Err(IngestError::UnknownLayout {
                file: file.path.clone(),
                reason: format!("line {line_no}: header {:?} matches no known CBS table", header),
            });
        };
        return Ok(Source { file, layout, header, header_line: line_no });
    }
    Err(IngestError::UnknownLayout {
        file: file.path.clone(),
        reason: "neither a ';'-separated CBS download nor a StatLine text export (no header with Regio's and Perioden)"
            .into(),
    })
}

/// A four-digit year standing alone in a file name (`Gebieden_in_Nederland_2020_0712...` → 2020).
fn year_in_file_name(name: &str) -> Option<i32> {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|t| t.parse().ok())
        .find(|y| (1990..=2100).contains(y))
}

/// What one ingest wrote: a line per table and partition.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<String>,
}

/// Where the raw inputs of a data directory live; the first run builds Parquet from them.
pub const RAW_DIR: &str = "raw";

/// Builds the Parquet tables from `DATA/raw` when a data directory has none yet (a fresh clone). A directory
/// that holds any table (`vtsql fetch` filled it, or an ingest did) is left as it is. Returns whether it
/// built anything.
pub fn build_if_missing(data_dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<bool> {
    let raw = data_dir.join(RAW_DIR);
    if !raw.is_dir() || has_tables(data_dir) {
        return Ok(false);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&raw)
        .map_err(|e| IngestError::io(&raw, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    if files.is_empty() {
        return Ok(false);
    }
    progress(&format!("building Parquet in {} from {} raw files (first run)", data_dir.display(), files.len()));
    ingest_files(data_dir, &files, progress)?;
    Ok(true)
}

/// Whether a data directory holds any table vtsql wrote (a generation of them, or tables written before
/// generations existed).
fn has_tables(data_dir: &Path) -> bool {
    let stored = |name: &str| name.starts_with("cbs_") && name.ends_with(".json");
    data_dir.join(generation::CURRENT).symlink_metadata().is_ok()
        || data_dir.join(schema::REGIONS.path).exists()
        || data_dir.join(schema::POPULATION.path).exists()
        || std::fs::read_dir(data_dir).into_iter().flatten().flatten().any(|e| stored(&e.file_name().to_string_lossy()))
}

/// The regions a data directory knows: the built-in gazetteer's, then what is stored in its tables directory (a
/// stored region wins).
fn load_regions(tables: &Path) -> Result<Regions> {
    let path = tables.join(schema::REGIONS.path);
    let mut regions = Regions::built_in();
    for batch in store::read_parquet(&path)? {
        regions.extend_from_batch(&batch).map_err(|m| IngestError::store(&path, m))?;
    }
    Ok(regions)
}

/// Reads `bytes` as a download called `name` would be ingested, writing nothing: its layout, then every
/// row, resolving regions through the shipped list. Answers the number of rows; what the fuzz targets and
/// property tests drive with arbitrary input.
pub fn read_download(name: &str, bytes: &[u8]) -> Result<usize> {
    let source = detect(SourceFile::in_memory(name, bytes))?;
    let table = source.table();
    Ok(match source.layout {
        Layout::Regions => dimensions::parse_regions(&table)?.len(),
        Layout::GemeentenList => dimensions::parse_gemeenten_list(&table)?.len(),
        Layout::Gebieden => dimensions::parse_gebieden(&table, Some(2020))?.0.len(),
        Layout::StatlineCsv | Layout::StatlineText => {
            // built once: the gazetteer's regions take longer to index than most downloads to read
            static BUILT_IN: std::sync::OnceLock<Regions> = std::sync::OnceLock::new();
            let regions = BUILT_IN.get_or_init(Regions::built_in);
            let (incoming, _) = read_statline(&source, None, regions, &|_| None, 0)?;
            incoming.rows.len()
        }
    })
}

/// Reads a StatLine download into its `cbs_<id>` table's model.
fn read_statline(
    source: &Source,
    table: Option<&str>,
    regions: &Regions,
    known: &dyn Fn(&str) -> Option<cbs::model::TableMeta>,
    index: u32,
) -> Result<(cbs::Incoming, Option<&'static cbs::family::Member>)> {
    let format =
        if source.layout == Layout::StatlineCsv { cbs::statline::Format::Csv } else { cbs::statline::Format::Text };
    cbs::statline::read(&source.file, format, &cbs::statline::Options { table, regions, known, index })
}

/// An ingest that was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("{0}\nnothing was written")]
pub struct NothingWritten(#[from] pub IngestError);

/// `vtsql ingest FILE...`: ingests `files` into `data_dir`, telling what it read and wrote on standard
/// error.
pub fn command(
    data_dir: &Path,
    files: &[PathBuf],
    table: Option<&str>,
    kept: bool,
) -> std::result::Result<(), NothingWritten> {
    let mut progress = |line: &str| eprintln!("{line}");
    if kept {
        for line in cbs::ingest_kept(data_dir, &[], &mut progress)? {
            eprintln!("{line}");
        }
        if files.is_empty() {
            return Ok(());
        }
    }
    let report = ingest_files_as(data_dir, files, table, &mut progress)?;
    for line in &report.lines {
        eprintln!("{line}");
    }
    Ok(())
}

/// Ingests `files` into `data_dir`. Nothing is written unless every file is good, and a run is written
/// whole or not at all (see [`Store`]); one ingest writes a data directory at a time.
pub fn ingest_files(data_dir: &Path, files: &[PathBuf], progress: &mut dyn FnMut(&str)) -> Result<Report> {
    ingest_files_as(data_dir, files, None, progress)
}

/// [`ingest_files`], the StatLine downloads among `files` named as CBS table `table` (`--table ID`).
pub fn ingest_files_as(
    data_dir: &Path,
    files: &[PathBuf],
    table_id: Option<&str>,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    let mut sources = Vec::new();
    for path in files {
        sources.push(detect(SourceFile::open(path)?)?);
    }
    // Dimensions first, whatever the order on the command line: facts resolve through them.
    sources.sort_by_key(|s| s.layout);

    // Held from reading what is stored to the commit: another ingest waits, so neither loses the other's rows.
    let store = Store::open(data_dir, progress)?;
    let mut report = Report::default();
    let tables_dir = store.tables().to_path_buf();
    let mut regions = load_regions(&tables_dir)?;
    let regions_before = regions.len();
    let mut regions_changed = false;
    let mut population: Vec<Population> = Vec::new();
    // the rows of every download, by CBS table
    let mut tables: BTreeMap<String, cbs::Incoming> = BTreeMap::new();
    for (index, source) in sources.iter().enumerate() {
        let name = source.file.path.display();
        let table = source.table();
        let (rows, summary) = match source.layout {
            Layout::Regions | Layout::GemeentenList | Layout::Gebieden => {
                let (found, people) = match source.layout {
                    Layout::Regions => (dimensions::parse_regions(&table)?, vec![]),
                    Layout::GemeentenList => (dimensions::parse_gemeenten_list(&table)?, vec![]),
                    _ => dimensions::parse_gebieden(&table, year_in_file_name(&source.file.file_name()))?,
                };
                let n = found.len();
                regions.upsert_all(found);
                regions_changed = true;
                let people_note =
                    if people.is_empty() { String::new() } else { format!(", {} population rows", people.len()) };
                population.extend(people);
                (n, format!("{n} regions{people_note}"))
            }
            Layout::StatlineCsv | Layout::StatlineText => {
                let file = u32::try_from(index).unwrap_or(u32::MAX);
                let known = |id: &str| cbs::table::stored_meta(&tables_dir, id).ok().flatten();
                let (incoming, _) = read_statline(source, table_id, &regions, &known, file)?;
                let n = incoming.rows.len();
                let id = incoming.meta.id.clone();
                add_incoming(&mut tables, incoming, &source.file.path)?;
                (n, format!("{n} rows of {id}"))
            }
        };
        if rows == 0 {
            return Err(source.file.error(source.header_line, "rows", "no data rows after the header"));
        }
        progress(&format!("{name}: {}: {summary}", source.layout.describe()));
    }

    let paths: Vec<&Path> = sources.iter().map(|s| s.file.path.as_path()).collect();
    for incoming in tables.values_mut() {
        incoming.sources = paths.iter().map(|p| p.to_path_buf()).collect();
    }
    // Stage everything first: an error here leaves the data directory untouched.
    let mut run = store.begin()?;
    if regions_changed {
        let batch = regions.to_batch().map_err(|e| IngestError::store(&store.data_dir, e))?;
        run.stage_table(&schema::REGIONS, &batch)?;
    }
    for incoming in tables.into_values() {
        let staged = cbs::stage(&mut run, &tables_dir, incoming)?;
        report.lines.extend(staged.lines);
        population.extend(staged.population);
    }
    if !population.is_empty() {
        report.lines.push(stage_population(&mut run, &tables_dir, population)?);
    }
    run.commit()?;
    if regions_changed {
        report.lines.push(format!("regions: {} (was {regions_before})", regions.len()));
    }
    Ok(report)
}

/// Adds a download's rows to those of its table from other downloads of this ingest.
fn add_incoming(tables: &mut BTreeMap<String, cbs::Incoming>, incoming: cbs::Incoming, path: &Path) -> Result<()> {
    let Some(acc) = tables.get_mut(&incoming.meta.id) else {
        tables.insert(incoming.meta.id.clone(), incoming);
        return Ok(());
    };
    let merged = cbs::table::merge_meta(Some(&acc.meta), &incoming.meta, path)?;
    let width = merged.meta.topics.len();
    for row in &mut acc.rows {
        row.cells.resize(width, cbs::model::Cell::Absent);
    }
    let relabel: HashMap<(usize, &str), &str> =
        merged.relabels.iter().map(|(d, from, to)| ((*d, from.as_str()), to.as_str())).collect();
    if !relabel.is_empty() {
        for row in &mut acc.rows {
            for (d, category) in row.categories.iter_mut().enumerate() {
                if let Some(to) = relabel.get(&(d, &**category)) {
                    *category = (*to).into();
                }
            }
        }
    }
    acc.rows.extend(incoming.rows.into_iter().map(|r| merged.place(r)));
    acc.notes.extend(incoming.notes);
    acc.meta = merged.meta;
    Ok(())
}

/// Stages `population` with `new` figures: the built-in years, then what is stored (in `tables`), then the new
/// rows (a later source wins). Answers a line for the report.
pub(crate) fn stage_population(run: &mut Run<'_>, tables: &Path, new: Vec<Population>) -> Result<String> {
    let path = tables.join(schema::POPULATION.path);
    let mut rows = gazetteer::population();
    let stored = store::population_from_batches(&store::read_parquet(&path)?, &path)?;
    let replaced: HashSet<(String, i32)> = stored.iter().map(|p| (p.region_code.clone(), p.year)).collect();
    rows.retain(|p| !replaced.contains(&(p.region_code.clone(), p.year)));
    rows.extend(stored);
    let mut latest: HashMap<(String, i32), Population> = HashMap::new();
    for p in new {
        latest.insert((p.region_code.clone(), p.year), p);
    }
    rows.retain(|p| !latest.contains_key(&(p.region_code.clone(), p.year)));
    rows.extend(latest.into_values());
    rows.sort_by(|a, b| (&a.region_code, a.year).cmp(&(&b.region_code, b.year)));
    let batch = store::population_to_batch(&rows).map_err(|e| IngestError::store(&path, e))?;
    run.stage_table(&schema::POPULATION, &batch)?;
    Ok(format!("population: {} rows", rows.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &[u8] = include_bytes!("../../data/raw/84851NED_almelo_2020H1.txt");
    const POPULATION: &[u8] = include_bytes!("../../data/raw/bevolking_70072ned_almelo.csv");
    const SHIPPED_REGIONS: &[u8] = include_bytes!("../../data/raw/regions.csv");

    /// A download damaged by `edits`: (position, bytes removed, bytes put in).
    fn damaged(download: &[u8], edits: &[(usize, usize, Vec<u8>)]) -> Vec<u8> {
        let mut bytes = download.to_vec();
        for (at, remove, insert) in edits {
            let at = at % (bytes.len() + 1);
            let end = (at + remove).min(bytes.len());
            bytes.splice(at..end, insert.iter().copied());
        }
        bytes
    }

    #[test]
    fn the_shipped_downloads_read() {
        assert_eq!(read_download("seed.txt", SEED).unwrap(), 52);
        assert_eq!(read_download("bevolking_70072ned_almelo.csv", POPULATION).unwrap(), 4);
        assert_eq!(read_download("regions.csv", SHIPPED_REGIONS).unwrap(), 46);
    }

    proptest::proptest! {
        /// Any damage to a download, or any bytes at all, give rows or an error, never a panic (the short
        /// form of the `statline_text` and `statline_csv` fuzz targets).
        #[test]
        fn damaged_downloads_are_read_or_refused(
            edits in proptest::collection::vec((0usize..5000, 0usize..40, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12)), 1..6),
            which in 0usize..3,
        ) {
            let (name, download) = [("seed.txt", SEED), ("bevolking_70072ned.csv", POPULATION), ("regions.csv", SHIPPED_REGIONS)][which];
            let _ = read_download(name, &damaged(download, &edits));
        }

        #[test]
        fn arbitrary_bytes_are_read_or_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = read_download("any.txt", &bytes);
        }
    }

    #[test]
    fn years_in_file_names() {
        assert_eq!(year_in_file_name("Gebieden_in_Nederland_2020_07122020_202646.csv"), Some(2020));
        assert_eq!(year_in_file_name("gebieden.csv"), None);
    }
}
