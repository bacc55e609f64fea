//! The `vtsql` binary as a user runs it: `-c`, `-f`, stdin, formats, exit codes, first-run build.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::Check;
use crate::common::*;

pub const CHECKS: &[(&str, Check)] = &[
    ("cli::command_prints_the_seed_figures", command_prints_the_seed_figures),
    ("cli::formats_csv_and_json", formats_csv_and_json),
    ("cli::file_and_stdin_scripts", file_and_stdin_scripts),
    ("cli::errors_exit_non_zero", errors_exit_non_zero),
    ("cli::first_run_builds_parquet_from_raw", first_run_builds_parquet_from_raw),
    ("cli::ingest_command_reports_and_refuses", ingest_command_reports_and_refuses),
    ("cli::set_parquet_option_reaches_the_tables", set_parquet_option_reaches_the_tables),
    ("cli::the_data_directory_is_never_the_build_checkout", data_directory_default),
    ("cli::the_executable_is_linked_at_a_fixed_address", linked_at_a_fixed_address),
];

/// On Linux the executable is linked at a fixed address (`build.rs`): an ELF file of type `ET_EXEC` (2), not a
/// position-independent `ET_DYN` (3) whose pointers the loader rewrites at every start. Its libraries,
/// stack and heap are still placed at random.
fn linked_at_a_fixed_address() -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Ok(());
    }
    let mut header = [0u8; 18];
    let mut file = std::fs::File::open(env!("CARGO_BIN_EXE_vtsql")).map_err(|e| e.to_string())?;
    std::io::Read::read_exact(&mut file, &mut header).map_err(|e| e.to_string())?;
    ensure_eq(&header[..4], b"\x7fELF".as_slice(), "an ELF file")?;
    ensure_eq(u16::from_le_bytes([header[16], header[17]]), 2, "e_type: ET_EXEC")?;
    let out = Command::new(env!("CARGO_BIN_EXE_vtsql")).arg("--version").output().map_err(|e| e.to_string())?;
    ensure(out.status.success() && stdout(&out).starts_with("vtsql "), || stdout(&out))
}

/// Without `--data` and `$VTSQL_DATA`, vtsql reads `./data` of where it runs, never the checkout it was built
/// in; where there is none it says how to name one.
fn data_directory_default() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let run = |envs: &[(&str, &Path)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vtsql"));
        command.current_dir(dir.path()).env_remove("VTSQL_DATA").args(["-c", "SELECT count(*) FROM veilig_thuis"]);
        for (k, v) in envs {
            command.env(k, v);
        }
        command.output().map_err(|e| e.to_string())
    };
    let out = run(&[])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure(
        !out.status.success() && stderr.contains("no data directory data") && stderr.contains("--data DIR"),
        || stderr.to_string(),
    )?;
    let data = dir.path().join("elsewhere");
    crate::common::ingest_quiet(&data, &[seed()]).map_err(|e| e.to_string())?;
    let out = run(&[("VTSQL_DATA", &data)])?;
    ensure_eq(String::from_utf8_lossy(&out.stdout).contains("52"), true, "$VTSQL_DATA is read")?;
    std::fs::rename(&data, dir.path().join("data")).map_err(|e| e.to_string())?;
    let out = run(&[])?;
    ensure_eq(String::from_utf8_lossy(&out.stdout).contains("52"), true, "./data is read")
}

fn vtsql(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vtsql"))
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vtsql starts");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: Output) -> Result<String, String> {
    ensure(o.status.success(), || format!("exit {:?}: {}", o.status, String::from_utf8_lossy(&o.stderr)))?;
    Ok(stdout(&o))
}

const ALMELO: &str = "FROM veilig_thuis WHERE region_code = 'GM0141' AND period = '2020H1' AND category = 'Totaal'";

fn command_prints_the_seed_figures() -> Result<(), String> {
    for (column, want) in
        [("ontvangen_meldingen", "245"), ("gestarte_adviezen", "165"), ("afgeronde_onderzoeken", "NULL")]
    {
        let out = ok(vtsql(fixture(), &["-c", &format!("SELECT {column} {ALMELO}")], None))?;
        let cells: Vec<&str> =
            out.lines().filter(|l| l.starts_with("| ")).map(|l| l.trim_matches(|c| c == '|' || c == ' ')).collect();
        ensure_eq(cells, vec![column, want], column)?;
    }
    Ok(())
}

fn formats_csv_and_json() -> Result<(), String> {
    let sql = format!("SELECT region_code, gestarte_adviezen, afgeronde_onderzoeken {ALMELO}");
    let csv = ok(vtsql(fixture(), &["--format", "csv", "-c", &sql], None))?;
    ensure_eq(csv.as_str(), "region_code,gestarte_adviezen,afgeronde_onderzoeken\nGM0141,165,\n", "csv")?;
    let json = ok(vtsql(fixture(), &["--format", "json", "-c", &sql], None))?;
    ensure_eq(json.trim(), r#"[{"region_code":"GM0141","gestarte_adviezen":165,"afgeronde_onderzoeken":null}]"#, "json")
}

fn file_and_stdin_scripts() -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("q.sql");
    std::fs::write(&script, format!("-- two statements\nSELECT 1 AS one;\nSELECT ontvangen_meldingen\n{ALMELO};\n"))
        .unwrap();
    let out = ok(vtsql(fixture(), &["--format", "csv", "-f", script.to_str().unwrap()], None))?;
    ensure_eq(out.as_str(), "one\n1\nontvangen_meldingen\n245\n", "-f")?;
    let out = ok(vtsql(fixture(), &["--format", "csv"], Some("SELECT count(*) AS n FROM categories;")))?;
    ensure_eq(out.as_str(), "n\n52\n", "stdin")
}

/// A `SET` in `-c` reaches the statement after it (the session's own test checks that a Parquet setting
/// reaches the scans, from the plan's metrics).
fn set_parquet_option_reaches_the_tables() -> Result<(), String> {
    let sql = "SET datafusion.execution.parquet.enable_page_index = false; \
               SELECT value FROM information_schema.df_settings \
               WHERE name = 'datafusion.execution.parquet.enable_page_index'";
    let out = ok(vtsql(fixture(), &["--format", "csv", "-c", sql], None))?;
    ensure_eq(out.as_str(), "value\nfalse\n", "the setting after SET")
}

fn errors_exit_non_zero() -> Result<(), String> {
    let o = vtsql(fixture(), &["-c", "SELECT nope FROM veilig_thuis"], None);
    ensure(!o.status.success(), || "bad SQL exited 0".into())?;
    ensure(String::from_utf8_lossy(&o.stderr).contains("nope"), || "error does not name the column".into())?;
    let o = vtsql(fixture(), &["-f", "/nonexistent/q.sql"], None);
    ensure(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("/nonexistent/q.sql"), || {
        "missing file".into()
    })
}

fn first_run_builds_parquet_from_raw() -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("raw")).unwrap();
    for f in raw_files() {
        std::fs::copy(&f, data.join("raw").join(f.file_name().unwrap())).unwrap();
    }
    let o = vtsql(&data, &["--format", "csv", "-c", &format!("SELECT ontvangen_meldingen {ALMELO}")], None);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    ensure_eq(ok(o)?.as_str(), "ontvangen_meldingen\n245\n", "first run")?;
    ensure(stderr.contains("first run"), || format!("no progress line: {stderr}"))?;
    ensure(tables(&data).join("cbs_84851ned/year=2020/half=1").is_dir(), || "partition missing".into())?;
    let o = vtsql(&data, &["-c", "SELECT 1"], None);
    ensure(!String::from_utf8_lossy(&o.stderr).contains("first run"), || "rebuilt on the second run".into())
}

fn ingest_command_reports_and_refuses() -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut args = vec!["ingest".to_string()];
    args.extend(raw_files().iter().map(|f| f.to_string_lossy().into_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = vtsql(&data, &args, None);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    ensure(o.status.success(), || stderr.clone())?;
    ensure(
        stderr.contains("StatLine text export: 52 rows of 84851NED")
            && stderr.contains("cbs_84851ned: 52 rows read: 52 new")
            && stderr.contains("cbs_70072ned: 4 population figures for `population`"),
        || stderr.clone(),
    )?;
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "x;y\n").unwrap();
    let o = vtsql(&data, &["ingest", bad.to_str().unwrap()], None);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    ensure(!o.status.success() && stderr.contains("bad.csv") && stderr.contains("nothing was written"), || stderr)
}
