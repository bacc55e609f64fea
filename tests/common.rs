//! Fixtures: data directories built by the real ingest from the shipped raw files, plus files
//! derived from the seed for more periods.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use vtsql::ingest;
use vtsql::session::{Options, Placement, Session};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/data/cbs/...` beside the repository, as CI lays it out.
pub fn shared(path: &str) -> PathBuf {
    repo().join("..").join("shared").join(path)
}

/// The directory of a data directory's current tables (its current generation).
pub fn tables(data: &Path) -> PathBuf {
    vtsql::ingest::generation::tables_dir(data)
}

pub fn raw_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(repo().join("data/raw")).expect("data/raw exists").map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

pub fn seed() -> PathBuf {
    repo().join("data/raw/84851NED_almelo_2020H1.txt")
}

/// The seed with its period label and every count changed by `f`, written to `dir/name`.
pub fn derived_seed(dir: &Path, name: &str, period_label: &str, region: &str, f: impl Fn(i64) -> i64) -> PathBuf {
    let text = std::fs::read_to_string(seed()).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if line.contains(" Almelo 1e halfjaar 2020* ") {
            let (head, cells) = line.split_once(" Almelo 1e halfjaar 2020* ").unwrap();
            let cells: Vec<String> =
                cells.split(' ').map(|c| c.parse::<i64>().map(|v| f(v).to_string()).unwrap_or(c.to_string())).collect();
            out.push_str(&format!("{head} {region} {period_label} {}\n", cells.join(" ")));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    let path = dir.join(name);
    std::fs::write(&path, out).unwrap();
    path
}

pub fn ingest_quiet(data: &Path, files: &[PathBuf]) -> Result<ingest::Report, ingest::IngestError> {
    ingest::ingest_files(data, files, &mut |_| {})
}

/// A data directory with the shipped data plus Almelo in H2 2020 (counts + 5) and 2021 H1
/// (counts + 10, definitive), for queries across partitions. Built once per test run.
pub fn fixture() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut files = raw_files();
        files.push(derived_seed(dir.path(), "h2.txt", "2e halfjaar 2020*", "Almelo", |v| v + 5));
        files.push(derived_seed(dir.path(), "h3.txt", "1e halfjaar 2021", "Almelo", |v| v + 10));
        ingest_quiet(&data, &files).expect("fixture ingests");
        dir
    })
    .path()
    .join("data")
    .leak()
}

pub fn runtime() -> tokio::runtime::Runtime {
    vtsql::session::runtime_builder("vtsql-test").worker_threads(2).build().unwrap()
}

/// Runs SQL on a data directory and returns the rows as text, NULL as `NULL`.
pub fn query(data: &Path, sql: &str) -> Result<Vec<Vec<String>>, String> {
    query_at(data, &Placement::Local, &[], sql)
}

/// Runs the `setup` statements, then `sql`, where `placement` says; `sql`'s rows as text.
pub fn query_at(data: &Path, placement: &Placement, setup: &[&str], sql: &str) -> Result<Vec<Vec<String>>, String> {
    runtime().block_on(async {
        let session = Session::open(data, placement.clone()).await.map_err(|e| e.to_string())?;
        for statement in setup {
            session.start(statement, &Options::default()).await.map_err(|e| e.to_string())?;
        }
        let batches = session.start(sql, &Options::default()).await.map_err(|e| e.to_string())?;
        let batches = batches.collect().await.map_err(|e| e.to_string())?;
        vtsql::rows::rows(&batches, "NULL").map_err(|e| e.to_string())
    })
}

/// A `vtsql` child with stdin closed and stderr in a temporary file, once it has printed its first stdout
/// line (the address it serves, or that it is ready). A child that prints nothing within 60 s, or a line
/// `ready` refuses, is killed and reported with its stderr.
pub struct Spawned {
    pub child: std::process::Child,
    pub first_line: String,
    pub log: tempfile::NamedTempFile,
}

pub fn spawn_vtsql(args: &[&std::ffi::OsStr], ready: impl Fn(&str) -> bool) -> Result<Spawned, String> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let log = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let stderr = log.reopen().map_err(|e| e.to_string())?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vtsql"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start vtsql {args:?}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    // read on a thread so that a child that hangs cannot stall the suite
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap_or_default().trim().to_string();
    if !ready(&line) {
        let _ = child.kill();
        let status = child.wait().map_err(|e| e.to_string())?;
        let log = std::fs::read_to_string(log.path()).unwrap_or_default();
        return Err(format!("vtsql {args:?} did not become ready ({status}): {line:?}\n{log}"));
    }
    Ok(Spawned { child, first_line: line, log })
}

/// The Python the tests drive (`$VTSQL_PYTHON`, set by `.ci/run`, else `python3`) if it can import `modules`;
/// else why not. A check that needs it says so in its module's `NEEDS`: the harness skips it (and fails it under
/// CI) before it runs.
pub fn python_with(modules: &str) -> Result<String, String> {
    let python = std::env::var("VTSQL_PYTHON").unwrap_or_else(|_| "python3".into());
    let importable = std::process::Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if importable {
        Ok(python)
    } else {
        Err(format!(
            "{python} cannot import {modules}: pip install -r tests/python/requirements.txt, or set VTSQL_PYTHON"
        ))
    }
}

/// `Err` with a message unless `cond`.
pub fn ensure(cond: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(message()) }
}

pub fn ensure_eq<T: PartialEq + std::fmt::Debug>(got: T, want: T, what: &str) -> Result<(), String> {
    ensure(got == want, || format!("{what}: got {got:?}, want {want:?}"))
}
