//! sqllogictest over a fixture data directory (see `common::fixture`).

use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::DataFusionError;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};

use vtsql::session::{Options, Placement, Session};

use crate::common;

pub fn files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(common::repo().join("tests/slt"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "slt"));
    files.sort();
    files
}

/// Rows as the `.slt` files and the other checks compare them: every cell as text, NULL as `NULL`.
pub fn batches_to_rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    vtsql::rows::rows(batches, "NULL").expect("printable batches")
}

/// The SQL runner every face uses, one session per `.slt` file.
struct Vtsql {
    session: Session,
}

#[async_trait::async_trait]
impl AsyncDB for Vtsql {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        let running = self.session.start(sql, &Options::default()).await?;
        let schema = running.schema.clone();
        let batches = running.collect().await?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                t if t.is_integer() => DefaultColumnType::Integer,
                DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
                    DefaultColumnType::FloatingPoint
                }
                _ => DefaultColumnType::Text,
            })
            .collect();
        Ok(DBOutput::Rows { types, rows: batches_to_rows(&batches) })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "vtsql"
    }
}

pub fn run_file(path: &Path, complete: bool) -> Result<(), String> {
    let data = common::fixture();
    common::runtime().block_on(async {
        let mut runner = Runner::new(|| async {
            let session = Session::open(data, Placement::Local).await?;
            Ok::<_, DataFusionError>(Vtsql { session })
        });
        if complete {
            runner
                .update_test_file(
                    path,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .map_err(|e| e.to_string())
        } else {
            runner.run_file_async(path).await.map_err(|e| e.display(true).to_string())
        }
    })
}

/// The Python module the oracle needs.
const DUCKDB: &str = "duckdb";

pub const NEEDS: &[(&str, crate::Need)] =
    &[("slt::duckdb_agrees_with_every_record_it_can_run", crate::Need::Python(DUCKDB))];

pub const CHECKS: &[(&str, crate::Check)] = &[("slt::duckdb_agrees_with_every_record_it_can_run", duckdb_agrees)];

/// Records whose answers are DuckDB's and vtsql's by the engines' own rules, not by a fault of either: why
/// DuckDB answers otherwise. Each was looked at; the rest must agree.
const ENGINES_DIFFER: &[(&str, &str)] = &[];

/// Every `.slt` record DuckDB can run, run by DuckDB over the same tables (each exported from the fixture as
/// vtsql reads it), must give the answer the `.slt` file expects: expectations written from vtsql's own answers
/// get an independent check. Records that call vtsql's functions are left to their hand-checked expectations.
/// Prints how many records each way.
fn duckdb_agrees() -> Result<(), String> {
    use sqllogictest::{QueryExpect, Record, SortMode};
    let python = common::python_with(DUCKDB)?;
    let data = common::fixture();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ours: Vec<String> = {
        let mut names: Vec<String> = vtsql_udfs::scalar_functions().iter().map(|f| f.name().to_string()).collect();
        names.extend(["ssum".to_string(), "halfyears".to_string()]);
        names
    };
    let uses_ours = |sql: &str| {
        let lower = sql.to_lowercase();
        ours.iter().any(|f| {
            lower.match_indices(f.as_str()).any(|(at, _)| {
                let before = lower[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric() && c != '_');
                let after = lower[at + f.len()..].trim_start().starts_with('(');
                before && after
            })
        })
    };
    // the tables, as vtsql reads them, in files of their own
    let tables: Vec<String> = common::query(
        data,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )?
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let mut paths = serde_json::Map::new();
    for table in &tables {
        let path = dir.path().join(format!("{table}.parquet"));
        common::query(data, &format!("COPY (SELECT * FROM {table}) TO '{}' STORED AS PARQUET", path.display()))?;
        paths.insert(table.clone(), serde_json::Value::String(path.display().to_string()));
    }
    // every file's statements and queries; the expected rows of the queries DuckDB is asked
    let mut job_files = Vec::new();
    let mut expected: Vec<Vec<(String, Vec<String>, bool)>> = Vec::new();
    let (mut total, mut with_ours, mut errors_expected) = (0, 0, 0);
    for file in files() {
        let records = sqllogictest::parse_file::<DefaultColumnType>(&file).map_err(|e| e.to_string())?;
        let mut job = Vec::new();
        let mut wanted = Vec::new();
        let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
        for record in records {
            match record {
                Record::Statement { sql, .. } => job.push(serde_json::json!({"kind": "statement", "sql": sql})),
                Record::Query { sql, expected, loc, .. } => {
                    total += 1;
                    if uses_ours(&sql) {
                        with_ours += 1;
                        continue;
                    }
                    let QueryExpect::Results { results, sort_mode, .. } = expected else {
                        errors_expected += 1;
                        continue;
                    };
                    let sorted = matches!(sort_mode, Some(SortMode::RowSort | SortMode::ValueSort));
                    job.push(serde_json::json!({"kind": "query", "sql": sql}));
                    wanted.push((format!("{name}:{}", loc.line()), results, sorted));
                }
                _ => {}
            }
        }
        job_files.push(serde_json::json!({"file": name, "records": job}));
        expected.push(wanted);
    }
    let input = serde_json::json!({"tables": paths, "files": job_files}).to_string();
    let mut child = std::process::Command::new(python)
        .arg(common::repo().join("tests/python/slt_oracle.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        stdin.write_all(input.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    common::ensure(out.status.success(), || String::from_utf8_lossy(&out.stderr).into_owned())?;
    let answers: Vec<Vec<serde_json::Value>> = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let normal = |line: &str| sqllogictest::default_normalizer(&line.to_string());
    let (mut agreed, mut cannot, mut differ) = (0, Vec::new(), Vec::new());
    for (wanted, answers) in expected.iter().zip(&answers) {
        for ((place, results, sorted), answer) in wanted.iter().zip(answers) {
            let Some(rows) = answer.get("rows").and_then(|r| r.as_array()) else {
                cannot.push(format!("{place}: {}", answer.get("error").and_then(|e| e.as_str()).unwrap_or("?")));
                continue;
            };
            let mut theirs: Vec<String> = rows
                .iter()
                .map(|row| {
                    let cells: Vec<String> = row
                        .as_array()
                        .map(|cells| cells.iter().map(|c| c.as_str().unwrap_or_default().to_string()).collect())
                        .unwrap_or_default();
                    normal(&cells.join(" "))
                })
                .collect();
            let mut want: Vec<String> = results.iter().map(|l| normal(l)).collect();
            if *sorted {
                theirs.sort();
                want.sort();
            }
            if theirs == want {
                agreed += 1;
            } else if let Some((_, why)) = ENGINES_DIFFER.iter().find(|(p, _)| p == place) {
                eprintln!("  note: {place}: DuckDB answers otherwise by its own rules: {why}");
            } else {
                differ.push(format!("{place}: the .slt expects {want:?}, DuckDB answers {theirs:?}"));
            }
        }
    }
    eprintln!(
        "  note: {total} query records: {agreed} checked by DuckDB and equal, {with_ours} call vtsql's functions \
         (hand-checked expectations), {errors_expected} expect an error, {} DuckDB cannot run",
        cannot.len()
    );
    for c in &cannot {
        eprintln!("    DuckDB cannot run {c}");
    }
    common::ensure(differ.is_empty(), || differ.join("\n"))
}
