//! `vtsql ingest --kept` of the whole Beleidsinformatie Veilig Thuis family: the ten tables, with the
//! family's shapes (regions, half-years and years, dimensions, counts and percentages, about 30% of the
//! cells hidden as `.`), written as `vtsql fetch` keeps CBS's OData v3 pages (10,000 rows a page), then
//! ingested by the `vtsql` binary under `/usr/bin/time`. Prints observations (row × topic), seconds,
//! observations per second and peak memory; the figures are recorded in `benches/RESULTS.md`.
//!
//! ```sh
//! cargo bench --bench family_ingest                 # the release binary
//! VTSQL_BIN=target/debug/vtsql cargo bench --bench family_ingest -- --observations 500000 --data /tmp/family
//! cargo bench --bench family_ingest -- --fetch v4   # the whole `vtsql fetch` of the family instead
//! ```
//!
//! With `--fetch v3` or `--fetch v4` the same ten tables are served over HTTP by a local stand-in of CBS open
//! data in that API's shapes (`tests/cbs_shapes.rs`; v3 pages of 10,000 rows, v4 pages of 10,000
//! observations), and the measured command is `vtsql fetch` of the family from it: the download, the kept
//! pages and the ingest, as a user's first `vtsql fetch` runs against CBS.
//!
//! The figures are synthetic: the shapes are the family's, the values are drawn.

#[path = "../tests/cbs_shapes.rs"]
#[allow(dead_code)]
mod cbs_shapes;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use cbs_shapes::{Entity, Table, page_body, v3_set, v4_set};

/// CBS's bulk feed pages by 10,000 rows.
const PAGE_ROWS: usize = 10_000;

/// A table of the family: id, title, VT-regio's only, dimensions (key, title, categories), topics
/// (counts, percentages).
struct Shape {
    id: &'static str,
    title: &'static str,
    vt_only: bool,
    dimensions: &'static [(&'static str, &'static str, usize)],
    counts: usize,
    percentages: usize,
}

const FAMILY: &[Shape] = &[
    Shape {
        id: "84847NED",
        title: "Kerncijfers Veilig Thuis, regio",
        vt_only: false,
        dimensions: &[],
        counts: 5,
        percentages: 0,
    },
    Shape {
        id: "84848NED",
        title: "Rol/functie adviesvrager en melder, organisatie, duur geweld, VT-regio",
        vt_only: true,
        dimensions: &[("RolFunctieAdviesvragerEnMelder", "Rol/functie adviesvrager en melder", 40)],
        counts: 2,
        percentages: 0,
    },
    Shape {
        id: "84849NED",
        title: "Rol/functie adviesvrager en melder, organisatie, duur geweld, regio",
        vt_only: false,
        dimensions: &[("RolFunctieAdviesvragerEnMelder", "Rol/functie adviesvrager en melder", 40)],
        counts: 2,
        percentages: 0,
    },
    Shape {
        id: "84850NED",
        title: "Aard geweld, aanvullende informatie, VT-regio",
        vt_only: true,
        dimensions: &[
            ("AardVanHetGeweld", "Aard van het geweld", 25),
            ("AanvullendeInformatie", "Aanvullende informatie", 6),
        ],
        counts: 5,
        percentages: 0,
    },
    Shape {
        id: "84851NED",
        title: "Aard geweld, aanvullende informatie, regio",
        vt_only: false,
        dimensions: &[("KenmerkenAdviezenMeldingenDiensten", "Kenmerken adviezen, meldingen, diensten", 52)],
        counts: 5,
        percentages: 0,
    },
    Shape {
        id: "84852NED",
        title: "Veiligheidsbeoordeling en -taxatie, regio",
        vt_only: false,
        dimensions: &[
            ("Veiligheidstaxatie", "Veiligheidstaxatie", 4),
            ("Veiligheidsbeoordeling", "Veiligheidsbeoordeling", 5),
        ],
        counts: 1,
        percentages: 0,
    },
    Shape {
        id: "84853NED",
        title: "Uitkomsten onderzoeken, VT-regio",
        vt_only: true,
        dimensions: &[],
        counts: 10,
        percentages: 10,
    },
    Shape {
        id: "84854NED",
        title: "Organisatie van overdracht, type hulp, VT-regio",
        vt_only: true,
        dimensions: &[],
        counts: 10,
        percentages: 10,
    },
    Shape {
        id: "84855NED",
        title: "Organisatie van overdracht, type hulp, regio",
        vt_only: false,
        dimensions: &[],
        counts: 10,
        percentages: 10,
    },
    Shape {
        id: "85361NED",
        title: "Meldingen naar eerdere betrokkenheid Veilig Thuis, regio",
        vt_only: false,
        dimensions: &[],
        counts: 10,
        percentages: 10,
    },
];

/// A small deterministic generator (the same files every run).
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn regions(vt_only: bool) -> Vec<(String, String)> {
    let mut regions = vec![("NL01".to_string(), "Nederland".to_string())];
    regions.extend((1..=26).map(|i| (format!("VT{i:02}"), format!("Veilig Thuis-regio {i} (VT)"))));
    if !vt_only {
        regions.extend((1..=4).map(|i| (format!("LD{i:02}"), format!("Landsdeel {i} (LD)"))));
        regions.extend((20..32).map(|i| (format!("PV{i}"), format!("Provincie {i} (PV)"))));
        regions.extend((1..=342).map(|i| (format!("GM{i:04}"), format!("Gemeente {i}"))));
    }
    regions
}

/// 2020H1 ... 2024H2 and the years 2020-2023; the last year's periods provisional.
fn periods() -> Vec<(String, String, String)> {
    let mut periods = Vec::new();
    for year in 2020..=2024 {
        let status = if year == 2024 { "Voorlopig" } else { "Definitief" };
        for half in 1..=2 {
            periods.push((format!("{year}HJ0{half}"), format!("{half}e halfjaar {year}"), status.to_string()));
        }
        if year < 2024 {
            periods.push((format!("{year}JJ00"), year.to_string(), status.to_string()));
        }
    }
    periods
}

fn table(shape: &Shape, draw: &mut Draw) -> Table {
    let dimensions: Vec<cbs_shapes::Dimension> = shape
        .dimensions
        .iter()
        .map(|(key, title, n)| {
            let categories = (0..*n)
                .map(|i| (format!("C{:06}", 1000 + i), if i == 0 { "Totaal".into() } else { format!("{title} {i}") }));
            (key.to_string(), title.to_string(), categories.collect())
        })
        .collect();
    let mut topics = Vec::new();
    for i in 0..shape.counts {
        topics.push((format!("Aantal_{}", i + 1), format!("Onderwerp {}", i + 1), "aantal".to_string(), 0));
    }
    for i in 0..shape.percentages {
        topics.push((format!("Percentage_{}", i + 1), format!("Onderwerp {}", i + 1), "%".to_string(), 1));
    }
    let mut combinations: Vec<Vec<String>> = vec![vec![]];
    for (_, _, categories) in &dimensions {
        combinations = combinations
            .iter()
            .flat_map(|c| categories.iter().map(move |(k, _)| [c.clone(), vec![k.clone()]].concat()))
            .collect();
    }
    let (regions, periods) = (regions(shape.vt_only), periods());
    let mut rows = Vec::new();
    for categories in &combinations {
        for (region, _) in &regions {
            for (period, ..) in &periods {
                let values = topics
                    .iter()
                    .map(|(.., decimals)| match (draw.next() % 10, decimals) {
                        (0..=2, _) => ".".to_string(),
                        (_, 0) => (5 * (draw.next() % 2000)).to_string(),
                        _ => format!("{:.1}", (draw.next() % 1000) as f64 / 10.0),
                    })
                    .collect();
                rows.push((categories.clone(), region.clone(), period.clone(), values));
            }
        }
    }
    Table {
        id: shape.id.to_string(),
        title: format!("Huiselijk geweld; {}", shape.title),
        modified: "2025-06-30T02:00:00".to_string(),
        dimensions,
        regions,
        periods,
        topics,
        rows,
        ..Default::default()
    }
}

/// Writes `table` as `vtsql fetch` keeps it: every entity set as pages, `DONE` after each, `api`, `COMPLETE`.
fn keep(data: &Path, table: &Table) -> std::io::Result<()> {
    let dir = data.join("raw").join("cbs").join(&table.id);
    let base = "https://opendata.cbs.nl/ODataFeed/odata";
    let mut sets = vec!["TableInfos".to_string(), "DataProperties".to_string()];
    sets.extend(table.dimensions.iter().map(|(k, ..)| k.clone()));
    sets.extend(["RegioS".to_string(), "Perioden".to_string()]);
    for set in &sets {
        let Some(Entity::Set(rows)) = v3_set(table, set) else { continue };
        write_pages(&dir.join(set), base, &format!("/{}/{set}", table.id), &rows)?;
    }
    // the data set chunk by chunk, so that the benchmark itself stays small
    let set_dir = dir.join("UntypedDataSet");
    std::fs::create_dir_all(&set_dir)?;
    for (n, chunk) in table.rows.chunks(PAGE_ROWS).enumerate() {
        let part = Table { rows: chunk.to_vec(), ..table.clone() };
        let Some(Entity::Set(rows)) = v3_set(&part, "UntypedDataSet") else { continue };
        let body = page_body(false, base, &format!("/{}/UntypedDataSet", table.id), "", &rows, 0, PAGE_ROWS);
        std::fs::write(set_dir.join(format!("page-{:05}.json", n + 1)), body)?;
    }
    std::fs::write(set_dir.join("DONE"), "")?;
    std::fs::write(dir.join("api"), "v3")?;
    std::fs::write(dir.join("COMPLETE"), &table.modified)
}

fn write_pages(dir: &Path, base: &str, path: &str, rows: &[serde_json::Value]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (n, skip) in (0..rows.len().max(1)).step_by(PAGE_ROWS).enumerate() {
        std::fs::write(
            dir.join(format!("page-{:05}.json", n + 1)),
            page_body(false, base, path, "", rows, skip, PAGE_ROWS),
        )?;
    }
    std::fs::write(dir.join("DONE"), "")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let limit: Option<usize> =
        args.iter().position(|a| a == "--observations").and_then(|i| args.get(i + 1)).and_then(|n| n.parse().ok());
    let vtsql = std::env::var_os("VTSQL_BIN").map(PathBuf::from).unwrap_or_else(|| env!("CARGO_BIN_EXE_vtsql").into());
    let dir = tempfile::tempdir()?;
    // `--data DIR`: keep the data directory there (for looking at it, or timing other builds on it)
    let data = match args.iter().position(|a| a == "--data").and_then(|i| args.get(i + 1)) {
        Some(path) => PathBuf::from(path),
        None => dir.path().join("data"),
    };
    let mut draw = Draw(1);
    if let Some(api) = args.iter().position(|a| a == "--fetch").and_then(|i| args.get(i + 1)) {
        return fetch(&vtsql, &data, api == "v4", FAMILY.iter().map(|shape| table(shape, &mut draw)).collect());
    }
    let (mut observations, mut rows, mut bytes) = (0usize, 0usize, 0u64);
    let started = Instant::now();
    for shape in FAMILY {
        let table = table(shape, &mut draw);
        if limit.is_some_and(|l| observations >= l) {
            break;
        }
        observations += table.rows.len() * table.topics.len();
        rows += table.rows.len();
        keep(&data, &table)?;
    }
    for entry in walk(&data.join("raw"))? {
        bytes += entry.metadata()?.len();
    }
    println!(
        "kept pages: 10 tables, {rows} rows, {observations} observations, {:.0} MiB of JSON (written in {:.1} s)",
        bytes as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );
    let (stdout, _, seconds, peak_kib) = timed(&vtsql, &data, &["ingest", "--kept"])?;
    println!("{}", stdout.trim_end());
    println!(
        "ingest --kept: {seconds:.2} s, {:.2} million observations/s, peak {:.0} MiB ({})",
        observations as f64 / seconds / 1e6,
        peak_kib / 1024.0,
        vtsql.display()
    );
    Ok(())
}

/// Runs `vtsql --data DATA ARGS...` under `/usr/bin/time`: its stdout and stderr, seconds and peak KiB.
fn timed(vtsql: &Path, data: &Path, args: &[&str]) -> Result<(String, String, f64, f64), Box<dyn std::error::Error>> {
    let out =
        Command::new("/usr/bin/time").args(["-f", "%e %M"]).arg(vtsql).arg("--data").arg(data).args(args).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(format!("{} {} failed:\n{stderr}", vtsql.display(), args.join(" ")).into());
    }
    let mut last = stderr.lines().last().unwrap_or_default().split_whitespace();
    let seconds: f64 = last.next().and_then(|s| s.parse().ok()).ok_or("no time from /usr/bin/time")?;
    let peak_kib: f64 = last.next().and_then(|s| s.parse().ok()).ok_or("no peak memory from /usr/bin/time")?;
    Ok((String::from_utf8_lossy(&out.stdout).into_owned(), stderr, seconds, peak_kib))
}

/// The stand-in's answers: every page of an entity set, made once when the set is first asked for. Only the
/// table being fetched is held: `vtsql fetch` takes the tables one after another.
type Pages = HashMap<(String, String), Arc<Vec<String>>>;

/// Serves `tables` in one API on a local port and runs `vtsql fetch` of them under `/usr/bin/time`.
fn fetch(vtsql: &Path, data: &Path, v4: bool, tables: Vec<Table>) -> Result<(), Box<dyn std::error::Error>> {
    let (rows, observations): (usize, usize) =
        tables.iter().fold((0, 0), |(r, o), t| (r + t.rows.len(), o + t.rows.len() * t.topics.len()));
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let root = if v4 { "/CBS" } else { "/ODataFeed/odata" };
    let base = format!("http://127.0.0.1:{}{root}", listener.local_addr()?.port());
    let tables: Arc<HashMap<String, Table>> = Arc::new(tables.into_iter().map(|t| (t.id.clone(), t)).collect());
    let pages: Arc<Mutex<Pages>> = Arc::default();
    let serving = base.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (tables, pages, base) = (Arc::clone(&tables), Arc::clone(&pages), serving.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                while let Ok(n) = reader.read_line(&mut String::new()) {
                    if n <= 2 {
                        break;
                    }
                }
                let target = request.split_whitespace().nth(1).unwrap_or("/");
                let (status, body) = answer(&tables, &pages, &base, v4, target);
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let mut stream = &stream;
                let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
            });
        }
    });
    let api = if v4 { "v4" } else { "v3" };
    println!("serving 10 tables, {rows} rows, {observations} observations over OData {api} at {base}");
    let (_, stderr, seconds, peak_kib) = timed(vtsql, data, &["fetch", "--api", api, "--base-url", &base])?;
    for line in stderr.lines().filter(|l| l.contains(" rows read: ") || l.contains("downloaded")) {
        println!("{line}");
    }
    println!(
        "fetch of the family over OData {api}: {seconds:.1} s, peak {:.0} MiB ({})",
        peak_kib / 1024.0,
        vtsql.display()
    );
    Ok(())
}

/// One request's status line and body: `/<root>/<ID>/<set>?...$skip=N`.
fn answer(
    tables: &HashMap<String, Table>,
    pages: &Mutex<Pages>,
    base: &str,
    v4: bool,
    target: &str,
) -> (&'static str, String) {
    const MISSING: (&str, String) = ("404 Not Found", String::new());
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let skip: usize = query.split('&').find_map(|p| p.strip_prefix("$skip=")).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut parts = path.rsplitn(3, '/');
    let (Some(set), Some(id)) = (parts.next(), parts.next()) else { return MISSING };
    let Some(table) = tables.get(id) else { return MISSING };
    let key = (id.to_string(), set.to_string());
    let cached = pages.lock().map(|p| p.get(&key).cloned()).unwrap_or(None);
    let set_pages = match cached {
        Some(p) => p,
        None => {
            let rows = match if v4 { v4_set(table, set) } else { v3_set(table, set) } {
                Some(Entity::Set(rows)) => rows,
                Some(Entity::Single(value)) => return ("200 OK", value.to_string()),
                None => return MISSING,
            };
            let made: Vec<String> = (0..rows.len().max(1))
                .step_by(PAGE_ROWS)
                .map(|skip| page_body(v4, base, &format!("/{id}/{set}"), "", &rows, skip, PAGE_ROWS))
                .collect();
            let made = Arc::new(made);
            if let Ok(mut p) = pages.lock() {
                p.retain(|(other, _), _| other == id);
                p.insert(key, Arc::clone(&made));
            }
            made
        }
    };
    match set_pages.get(skip / PAGE_ROWS) {
        Some(body) => ("200 OK", body.clone()),
        None => MISSING,
    }
}

fn walk(dir: &Path) -> std::io::Result<Vec<std::fs::DirEntry>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            files.extend(walk(&entry.path())?);
        } else {
            files.push(entry);
        }
    }
    Ok(files)
}
