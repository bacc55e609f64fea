//! Raw CBS files → the tidy, typed tables of a data directory.
//!
//! `ingest` reads every file first, detects its layout, resolves periods, regions and categories
//! and checks every cell; only when all files are good does it write, partition by partition, each
//! through staging and an atomic rename (see [`store`]). Re-ingesting a period replaces, within that
//! partition, the rows of the same source table, region and period, and keeps the rest.

pub mod categories;
pub mod cbs;
pub mod dimensions;
mod error;
pub mod facts;
pub mod gazetteer;
pub mod regions;
pub mod store;
pub(crate) mod text;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use error::{IngestError, Result};
use vtsql_udfs::period::Period;

use crate::schema;
use dimensions::{Population, Table};
use facts::Fact;
use regions::Regions;
use store::Store;
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
    /// CBS 70072ned population per gemeente name and year.
    Population,
    /// StatLine CSV download of a Veilig Thuis table.
    StatlineCsv,
    /// StatLine text export of a Veilig Thuis table.
    StatlineText,
}

impl Layout {
    pub fn describe(self) -> &'static str {
        match self {
            Layout::Regions => "vtsql regions table",
            Layout::Gebieden => "CBS Gebieden in Nederland",
            Layout::GemeentenList => "CBS Gemeenten alfabetisch",
            Layout::Population => "CBS population (70072ned)",
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
        } else if has(&|h| h == "perioden") && has(&|h| h.contains("totale bevolking")) {
            Layout::Population
        } else if has(&|h| h == "perioden")
            && (has(&|h| facts::Measure::from_title(h).is_some())
                || header.iter().any(|h| cbs::model::split_unit(h).1.is_some()))
        {
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
    pub facts: usize,
    pub partitions: Vec<Period>,
}

/// Where the raw inputs of a data directory live; the first run builds Parquet from them.
pub const RAW_DIR: &str = "raw";

/// Builds the Parquet tables from `DATA/raw` when the fact table is missing (a fresh clone).
/// Returns whether it built anything.
pub fn build_if_missing(data_dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<bool> {
    let raw = data_dir.join(RAW_DIR);
    if data_dir.join(schema::FACTS.path).exists() || !raw.is_dir() {
        return Ok(false);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&raw)
        .map_err(|e| IngestError::io(&raw, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    if files.is_empty() && data_dir.join(schema::REGIONS.path).exists() {
        // a directory that `vtsql fetch` filled: its raw files are the kept pages, its base tables are there
        return Ok(false);
    }
    progress(&format!("building Parquet in {} from {} raw files (first run)", data_dir.display(), files.len()));
    ingest_files(data_dir, &files, progress)?;
    Ok(true)
}

/// The regions a data directory knows: the built-in gazetteer's, then what is stored (a stored region
/// wins).
fn load_regions(data_dir: &Path) -> Result<Regions> {
    let path = data_dir.join(schema::REGIONS.path);
    let mut regions = Regions::built_in();
    for batch in store::read_parquet(&path)? {
        regions.extend_from_batch(&batch).map_err(|m| IngestError::store(&path, m))?;
    }
    Ok(regions)
}

/// The regions every download resolves through before a regions table is stored: vtsql's shipped list.
const SHIPPED_REGIONS: &[u8] = include_bytes!("../../data/raw/regions.csv");

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
        Layout::Population => {
            let shipped = detect(SourceFile::in_memory("regions.csv", SHIPPED_REGIONS))?;
            let mut regions = Regions::default();
            regions.upsert_all(dimensions::parse_regions(&shipped.table())?);
            dimensions::parse_population(&table, &regions)?.len()
        }
        Layout::StatlineCsv | Layout::StatlineText => {
            // built once: the gazetteer's regions take longer to index than most downloads to read
            static BUILT_IN: std::sync::OnceLock<Regions> = std::sync::OnceLock::new();
            let regions = BUILT_IN.get_or_init(Regions::built_in);
            let (incoming, _) = read_statline(&source, None, regions, &|_| None, 0)?;
            if veilig_thuis_source(&incoming.meta) {
                parse_facts(&source, &incoming.meta.id, regions, &mut |_| {})?;
            }
            incoming.rows.len()
        }
    })
}

/// The tables whose downloads also fill `veilig_thuis` (the aard-geweld tables, with their one list of
/// kinds of violence), as they always have.
fn veilig_thuis_source(meta: &cbs::model::TableMeta) -> bool {
    matches!(meta.id.as_str(), "84851NED" | "84850NED") && meta.dimensions.len() == 1
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

/// Reads the facts of an aard-geweld download for `veilig_thuis`.
fn parse_facts(source: &Source, table: &str, regions: &Regions, sink: &mut dyn FnMut(Fact)) -> Result<usize> {
    match source.layout {
        Layout::StatlineCsv => {
            facts::parse_statline_csv(&source.file, &source.header, source.header_line, table, regions, sink)
        }
        _ => facts::parse_statline_text(&source.file, table, regions, sink),
    }
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
    let mut regions = load_regions(data_dir)?;
    let regions_before = regions.len();
    let mut regions_changed = false;
    let mut population: Vec<Population> = Vec::new();
    // the facts of every file, by partition as they are read
    let mut partitions: BTreeMap<(i32, u8), Vec<Fact>> = BTreeMap::new();
    let mut facts = 0;
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
            Layout::Population => {
                let rows = dimensions::parse_population(&table, &regions)?;
                let n = rows.len();
                population.extend(rows);
                (n, format!("{n} population rows"))
            }
            Layout::StatlineCsv | Layout::StatlineText => {
                let file = u32::try_from(index).unwrap_or(u32::MAX);
                let known = |id: &str| cbs::table::stored_meta(data_dir, id).ok().flatten();
                let (incoming, _) = read_statline(source, table_id, &regions, &known, file)?;
                let n = incoming.rows.len();
                let id = incoming.meta.id.clone();
                if veilig_thuis_source(&incoming.meta) {
                    let mut sink = |mut fact: Fact| {
                        fact.file = file;
                        partitions.entry((fact.period.year, fact.period.half)).or_default().push(fact);
                    };
                    facts += parse_facts(source, &id, &regions, &mut sink)?;
                }
                add_incoming(&mut tables, incoming, &source.file.path)?;
                (n, format!("{n} rows of {id}"))
            }
        };
        if rows == 0 {
            return Err(source.file.error(source.header_line, "rows", "no data rows after the header"));
        }
        progress(&format!("{name}: {}: {summary}", source.layout.describe()));
    }

    report.facts = facts;
    let paths: Vec<&Path> = sources.iter().map(|s| s.file.path.as_path()).collect();
    for incoming in tables.values_mut() {
        incoming.sources = paths.iter().map(|p| p.to_path_buf()).collect();
    }
    write_all(&store, &regions, regions_changed, population, partitions, tables, &paths, &mut report)?;
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
    acc.rows.extend(incoming.rows.into_iter().map(|r| merged.place(r)));
    acc.meta = merged.meta;
    Ok(())
}

/// Keeps one of facts that repeat a cell with the same figures (a download loaded twice, or a CSV beside
/// the text export of the same selection); refuses facts that give one cell other figures (one would
/// silently win), naming both places. `facts` come sorted so that the same cells are neighbours.
fn drop_repeats(facts: &mut Vec<Fact>, paths: &[&Path]) -> Result<()> {
    let same_figures = |a: &Fact, b: &Fact| {
        a.values == b.values
            && a.published == b.published
            && a.provisional == b.provisional
            && a.suppressed_cells == b.suppressed_cells
    };
    let mut kept: Vec<Fact> = Vec::with_capacity(facts.len());
    for fact in facts.drain(..) {
        match kept.last() {
            Some(first) if first.same_cell(&fact) && same_figures(first, &fact) => continue,
            _ => kept.push(fact),
        }
    }
    *facts = kept;
    check_unique(facts, paths)
}

/// Refuses input that names one cell twice (one of the two would silently win), naming both places.
/// `facts` come sorted so that the same cells are neighbours.
fn check_unique(facts: &[Fact], paths: &[&Path]) -> Result<()> {
    for pair in facts.windows(2) {
        let [first, again] = pair else { continue };
        if first.same_cell(again) {
            let place = |f: &Fact| paths.get(f.file as usize).copied().unwrap_or(Path::new("?")).to_path_buf();
            return Err(IngestError::input(
                &place(again),
                again.line as usize,
                "cell",
                format!(
                    "the input names one cell twice: {} {} {} {:?}, also on {}:{}",
                    again.source_table,
                    again.region_code,
                    again.period,
                    again.category,
                    place(first).display(),
                    first.line
                ),
            ));
        }
    }
    Ok(())
}

fn write_all(
    store: &Store,
    regions: &Regions,
    regions_changed: bool,
    population: Vec<Population>,
    partitions: BTreeMap<(i32, u8), Vec<Fact>>,
    tables: BTreeMap<String, cbs::Incoming>,
    paths: &[&Path],
    report: &mut Report,
) -> Result<()> {
    // Stage everything first: an error here leaves the data directory untouched.
    let mut run = store.begin()?;
    if regions_changed {
        let batch = regions.to_batch().map_err(|e| IngestError::store(&store.data_dir, e))?;
        run.stage_table(&schema::REGIONS, &batch)?;
    }
    if !population.is_empty() {
        let path = store.data_dir.join(schema::POPULATION.path);
        // the built-in years, then what is stored, then the new rows: a later source wins
        let mut rows = gazetteer::population();
        let stored = store::population_from_batches(&store::read_parquet(&path)?, &path)?;
        let replaced: HashSet<(String, i32)> = stored.iter().map(|p| (p.region_code.clone(), p.year)).collect();
        rows.retain(|p| !replaced.contains(&(p.region_code.clone(), p.year)));
        rows.extend(stored);
        // A later source wins over an earlier one and over what is stored.
        let mut latest: HashMap<(String, i32), Population> = HashMap::new();
        for p in population {
            latest.insert((p.region_code.clone(), p.year), p);
        }
        rows.retain(|p| !latest.contains_key(&(p.region_code.clone(), p.year)));
        rows.extend(latest.into_values());
        rows.sort_by(|a, b| (&a.region_code, a.year).cmp(&(&b.region_code, b.year)));
        report.lines.push(format!("population: {} rows", rows.len()));
        let batch = store::population_to_batch(&rows).map_err(|e| IngestError::store(&path, e))?;
        run.stage_table(&schema::POPULATION, &batch)?;
    }
    run.stage_table(&schema::CATEGORIES, &categories::table())?;

    for ((year, half), mut new) in partitions {
        let period = Period { year, half };
        new.sort_by(|a, b| {
            (&a.source_table, &a.region_code, &a.category).cmp(&(&b.source_table, &b.region_code, &b.category))
        });
        drop_repeats(&mut new, paths)?;
        let replaced: HashSet<_> = new.iter().map(|f| f.replace_key()).collect();
        let mut rows: Vec<Fact> =
            store.read_partition(period)?.into_iter().filter(|f| !replaced.contains(&f.replace_key())).collect();
        let kept = rows.len();
        rows.extend(new);
        report.lines.push(format!("veilig_thuis year={year}/half={half}: {} rows ({kept} kept)", rows.len()));
        run.stage_partition(period, rows)?;
        report.partitions.push(period);
    }
    for incoming in tables.into_values() {
        report.lines.push(cbs::stage(&mut run, &store.data_dir, incoming)?);
    }
    run.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &[u8] = include_bytes!("../../data/raw/84851NED_almelo_2020H1.txt");
    const POPULATION: &[u8] = include_bytes!("../../data/raw/bevolking_70072ned_almelo.csv");

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
        assert_eq!(read_download("population.csv", POPULATION).unwrap(), 4);
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
            let (name, download) = [("seed.txt", SEED), ("population.csv", POPULATION), ("regions.csv", SHIPPED_REGIONS)][which];
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
