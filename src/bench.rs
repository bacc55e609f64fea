//! `vtsql bench`: times SQL files on one session the way the peer script times DuckDB, datafusion-python
//! and Polars: one warm-up run, then the median of N runs, each collecting the whole result, with the
//! process's peak resident memory during the runs.
//!
//! The benchmark queries live in `benches/queries/`: `NAME.sql` as an analyst writes it with vtsql's
//! functions, and `NAME.plain.sql`, where it differs, without them (what every peer can run).

use std::path::{Path, PathBuf};
use std::time::Instant;

use datafusion::error::{DataFusionError, Result};

use crate::session::{Options, Session};

/// One query's timings.
#[derive(Debug, Clone)]
pub struct Timing {
    pub query: String,
    pub file: PathBuf,
    pub rows: usize,
    pub runs_ms: Vec<f64>,
    /// Of each run, the time to plan (parse, optimise, physical plan) before the first batch is asked for.
    pub plan_ms: Vec<f64>,
    /// Peak resident memory of the process during the runs (Linux), in bytes.
    pub peak_bytes: Option<u64>,
}

impl Timing {
    pub fn median_ms(&self) -> f64 {
        median(&self.runs_ms)
    }

    pub fn plan_median_ms(&self) -> f64 {
        median(&self.plan_ms)
    }

    /// One JSON object per line, for the peer script.
    pub fn to_json(&self) -> String {
        let runs: Vec<String> = self.runs_ms.iter().map(|r| format!("{r:.3}")).collect();
        format!(
            "{{\"engine\":\"vtsql\",\"query\":{:?},\"file\":{:?},\"rows\":{},\"median_ms\":{:.3},\"plan_median_ms\":{:.3},\"runs_ms\":[{}],\"peak_bytes\":{}}}",
            self.query,
            self.file.display().to_string(),
            self.rows,
            self.median_ms(),
            self.plan_median_ms(),
            runs.join(","),
            self.peak_bytes.map_or("null".into(), |b| b.to_string())
        )
    }
}

/// The query name of a benchmark file: `q03_vt_regio_halfyear_ssum.plain.sql` → `q03_vt_regio_halfyear_ssum`.
pub fn query_name(file: &Path) -> String {
    let stem = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    stem.trim_end_matches(".sql").trim_end_matches(".plain").to_string()
}

/// The benchmark files of `dir`: each query once, its `.plain.sql` variant when `plain` and one exists.
pub fn suite(dir: &Path, plain: bool) -> Result<Vec<PathBuf>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DataFusionError::Execution(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql") && !p.to_string_lossy().ends_with(".plain.sql"))
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .map(|file| {
            let variant = file.with_extension("plain.sql");
            if plain && variant.is_file() { variant } else { file }
        })
        .collect())
}

/// Resets the kernel's peak-RSS mark of this process (Linux `clear_refs` 5); false where unsupported.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Runs `sql` once, collecting every batch; returns the number of rows and the planning time in ms.
pub async fn run_once(session: &Session, sql: &str) -> Result<(usize, f64)> {
    let running = session.start(sql, &Options::default()).await?;
    let batches = running.collect().await?;
    Ok((batches.iter().map(|b| b.num_rows()).sum(), running.planning.as_secs_f64() * 1000.0))
}

/// Times one file: a warm-up, then `runs` timed runs.
pub async fn time_file(session: &Session, file: &Path, runs: usize) -> Result<Timing> {
    let sql =
        std::fs::read_to_string(file).map_err(|e| DataFusionError::Execution(format!("{}: {e}", file.display())))?;
    let (rows, _) = run_once(session, &sql).await?;
    let measured_peak = reset_peak_rss();
    let mut runs_ms = Vec::with_capacity(runs);
    let mut plan_ms = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let (_, planned) = run_once(session, &sql).await?;
        runs_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        plan_ms.push(planned);
    }
    Ok(Timing {
        query: query_name(file),
        file: file.to_path_buf(),
        rows,
        runs_ms,
        plan_ms,
        peak_bytes: if measured_peak { peak_rss() } else { None },
    })
}

/// Runs every statement of the `setup` files once, in order (`CREATE EXTERNAL TABLE` over someone else's files,
/// a view in place of a table): what the timed queries then read.
pub async fn set_up(session: &Session, setup: &[PathBuf]) -> Result<()> {
    for file in setup {
        let sql = std::fs::read_to_string(file)
            .map_err(|e| DataFusionError::Execution(format!("--setup {}: {e}", file.display())))?;
        let mut execution = session.execute(&sql, &Options::default())?;
        while let Some(running) = execution.next().await.map_err(|e| e.context(file.display().to_string()))? {
            running.collect().await.map_err(|e| e.context(file.display().to_string()))?;
        }
    }
    Ok(())
}

/// `vtsql bench`: applies `settings` (`KEY=VALUE`) and the `setup` files, then times `files` (default: the
/// suite in `benches/queries/`), printing one JSON line per query on standard output and a summary on
/// standard error.
pub async fn run(
    session: &Session,
    mut files: Vec<PathBuf>,
    runs: usize,
    plain: bool,
    settings: &[String],
    setup: &[PathBuf],
) -> Result<()> {
    for setting in settings {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| DataFusionError::Plan(format!("--set {setting}: expected KEY=VALUE")))?;
        let sql = format!("SET {} = '{}'", key.trim(), value.trim().replace('\'', "''"));
        // a Parquet setting reaches the tables as a `SET` at the prompt does
        session.start(&sql, &Options::default()).await.map_err(|e| e.context(format!("--set {setting}")))?;
    }
    set_up(session, setup).await?;
    if files.is_empty() {
        let dir = ["benches/queries", concat!(env!("CARGO_MANIFEST_DIR"), "/benches/queries")]
            .into_iter()
            .map(PathBuf::from)
            .find(|d| d.is_dir())
            .unwrap_or_else(|| PathBuf::from("benches/queries"));
        files = suite(&dir, plain)?;
    }
    for file in &files {
        let timing = time_file(session, file, runs).await.map_err(|e| e.context(file.display().to_string()))?;
        println!("{}", timing.to_json());
        eprintln!(
            "{:<36} {:>10.1} ms  (planning {:>5.1} ms)  {:>8} rows",
            timing.query,
            timing.median_ms(),
            timing.plan_median_ms(),
            timing.rows
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_medians() {
        assert_eq!(query_name(Path::new("benches/queries/q03_x.plain.sql")), "q03_x");
        assert_eq!(query_name(Path::new("q01_y.sql")), "q01_y");
        let t = Timing {
            query: "q".into(),
            file: "q.sql".into(),
            rows: 1,
            runs_ms: vec![5.0, 1.0, 3.0],
            plan_ms: vec![1.0, 2.0],
            peak_bytes: None,
        };
        assert_eq!(t.median_ms(), 3.0);
        assert_eq!(t.plan_median_ms(), 1.5);
        assert!(t.to_json().contains("\"median_ms\":3.000") && t.to_json().contains("\"peak_bytes\":null"));
    }
}
