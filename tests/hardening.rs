//! What an outside probe of the release binary found, each as a regression check named after the item of
//! the probe's report: nothing a user or client sends may crash, hang, corrupt or exhaust vtsql.

use std::process::Command;
use std::time::{Duration, Instant};

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    Any, CommandPreparedStatementQuery, ProstMessageExt, SqlInfo,
};
use arrow_flight::{Action, Ticket};
use futures::TryStreamExt;
use prost::Message;

use crate::Check;
use crate::common::{derived_seed, ensure, ensure_eq, fixture, raw_files, runtime, seed};
use crate::flight::{Server, TOKEN, fetch};

pub const CHECKS: &[(&str, Check)] = &[
    ("hardening::item01_deep_expressions_are_an_error", item01_deep_expressions_are_an_error),
    ("hardening::item02_a_former_panic_answers", item02_a_former_panic_answers),
    ("hardening::item03_planning_is_bounded", item03_planning_is_bounded),
    (
        "hardening::item04_parameters_and_prepared_statements_are_bounded",
        item04_parameters_and_prepared_statements_are_bounded,
    ),
    ("hardening::item05_prepared_statements_belong_to_their_maker", item05_prepared_statements_belong_to_their_maker),
    ("hardening::item06_small_answers_do_not_wait_for_delayed_acks", item06_small_answers_do_not_wait_for_delayed_acks),
    ("hardening::item07_multi_byte_period_labels", item07_multi_byte_period_labels),
    (
        "hardening::item08_long_lines_and_odd_files_are_refused_quickly",
        item08_long_lines_and_odd_files_are_refused_quickly,
    ),
    ("hardening::item09_two_ingests_at_once_keep_every_row", item09_two_ingests_at_once_keep_every_row),
    (
        "hardening::item10_a_killed_ingest_leaves_the_old_or_the_new_state",
        item10_a_killed_ingest_leaves_the_old_or_the_new_state,
    ),
    ("hardening::item11_leftovers_of_dead_processes_are_removed", item11_leftovers_of_dead_processes_are_removed),
    ("hardening::item12_wrong_input_is_refused_with_its_place", item12_wrong_input_is_refused_with_its_place),
    ("hardening::item13_a_mistyped_data_directory_is_an_error", item13_a_mistyped_data_directory_is_an_error),
    ("hardening::item14_structs_in_csv", item14_structs_in_csv),
];

fn vtsql(args: &[&str]) -> Result<std::process::Output, String> {
    Command::new(env!("CARGO_BIN_EXE_vtsql")).args(args).output().map_err(|e| e.to_string())
}

fn sum_of_ones(terms: usize) -> String {
    format!("SELECT {}", vec!["1"; terms].join("+"))
}

fn item01_deep_expressions_are_an_error() -> Result<(), String> {
    let server = Server::with_token(&[])?;
    runtime().block_on(async {
        let mut client = server.client(Some(TOKEN)).await?;
        for terms in [2_000, 10_000] {
            let refused = client.execute(sum_of_ones(terms), None).await;
            let error = refused.err().ok_or(format!("{terms} terms were planned"))?.to_string();
            ensure(error.contains("nests expressions"), || format!("{terms} terms: {error}"))?;
        }
        // the server is still there
        let info = client.execute("SELECT 41 + 1".into(), None).await.map_err(|e| format!("{e}\n{}", server.log()))?;
        let (_, batches) = fetch(&mut client, info).await?;
        ensure_eq(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1, "rows after the refusals")
    })?;
    let out = vtsql(&["--data", &fixture().to_string_lossy(), "-c", &sum_of_ones(10_000)])?;
    ensure_eq(out.status.code(), Some(1), "exit code of the command line")?;
    ensure(String::from_utf8_lossy(&out.stderr).contains("nests expressions"), || {
        String::from_utf8_lossy(&out.stderr).into_owned()
    })
}

/// The probe's panicking statement now answers (the mechanism that turns any panic into an error status is
/// checked in the session's own tests with a function that panics).
fn item02_a_former_panic_answers() -> Result<(), String> {
    let server = Server::with_token(&[])?;
    let regions = crate::common::query(fixture(), "SELECT count(*) FROM regions")?;
    runtime().block_on(async {
        let mut client = server.client(Some(TOKEN)).await?;
        let sql = "SELECT try_halfyear(concat('abc', 'é', region_code)) AS p FROM regions";
        let info = client.execute(sql.into(), None).await.map_err(|e| e.to_string())?;
        let (_, batches) = fetch(&mut client, info).await?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        ensure_eq(rows.to_string(), regions[0][0].clone(), "one NULL per region, not zero rows")
    })
}

fn item03_planning_is_bounded() -> Result<(), String> {
    let server = Server::with_token(&["--memory-limit", "64M", "--query-timeout", "2"])?;
    let before = server.rss_bytes()?;
    runtime().block_on(async {
        let mut client = server.client(Some(TOKEN)).await?;
        // Constant folding tries the call while planning, is refused and leaves the call to run, where it
        // is refused again: the client hears of it at once, and nothing was allocated.
        let answer = match client.execute("SELECT length(repeat('x', 1500000000))".into(), None).await {
            Ok(info) => fetch(&mut client, info).await.map(|_| ()),
            Err(e) => Err(e.to_string()),
        };
        let error = answer.err().ok_or("a repeat of 1.5 GB answered")?;
        ensure(error.contains("more than the 64.0 MiB"), || error.clone())?;
        // and from a table's rows
        let info = client
            .execute("SELECT length(repeat(region_name, 100000000)) FROM regions".into(), None)
            .await
            .map_err(|e| e.to_string())?;
        let fetched = fetch(&mut client, info).await;
        ensure(fetched.as_ref().is_err_and(|e| e.contains("more than the 64.0 MiB")), || format!("{fetched:?}"))
    })?;
    let grown = server.rss_bytes()?.saturating_sub(before);
    ensure(grown < 200 << 20, || format!("the server grew by {} MiB", grown >> 20))
}

/// Creates a prepared statement through `client`; its raw handle.
async fn prepare_raw(
    client: &mut arrow_flight::sql::client::FlightSqlServiceClient<tonic::transport::Channel>,
    sql: &str,
) -> Result<Vec<u8>, String> {
    let request = ActionCreatePreparedStatementRequest { query: sql.into(), transaction_id: None };
    let action = Action { r#type: "CreatePreparedStatement".into(), body: request.as_any().encode_to_vec().into() };
    let mut results = client.do_action(action).await.map_err(|e| e.to_string())?;
    let result = results.try_next().await.map_err(|e| e.to_string())?.ok_or("no result")?;
    let any = Any::decode(result.body).map_err(|e| e.to_string())?;
    let created: ActionCreatePreparedStatementResult =
        any.unpack().map_err(|e| e.to_string())?.ok_or("not a CreatePreparedStatement result")?;
    Ok(created.prepared_statement_handle.to_vec())
}

/// Runs the prepared statement behind `handle`; its rows, or the error.
async fn run_raw(
    client: &mut arrow_flight::sql::client::FlightSqlServiceClient<tonic::transport::Channel>,
    handle: &[u8],
) -> Result<usize, String> {
    let command = CommandPreparedStatementQuery { prepared_statement_handle: handle.to_vec().into() };
    let stream = client.do_get(Ticket::new(command.as_any().encode_to_vec())).await.map_err(|e| e.to_string())?;
    let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(|e| e.to_string())?;
    Ok(batches.iter().map(|b| b.num_rows()).sum())
}

fn item04_parameters_and_prepared_statements_are_bounded() -> Result<(), String> {
    let server = Server::with_token(&[])?;
    let before = server.rss_bytes()?;
    runtime().block_on(async {
        let mut client = server.client(Some(TOKEN)).await?;
        let mut prepared = client.prepare("SELECT length($1) AS n".into(), None).await.map_err(|e| e.to_string())?;
        let schema = std::sync::Arc::new(Schema::new(vec![Field::new("$1", DataType::Utf8, true)]));
        let text = |rows: Vec<String>| {
            RecordBatch::try_new(schema.clone(), vec![std::sync::Arc::new(StringArray::from(rows))])
                .map_err(|e| e.to_string())
        };
        prepared.set_parameters(text(vec!["x".repeat(2 << 20)])?).map_err(|e| e.to_string())?;
        let error = prepared.execute().await.err().ok_or("2 MiB of parameters were bound")?.to_string();
        ensure(error.contains("larger than 1024 KiB"), || error.clone())?;
        prepared.set_parameters(text(vec!["a".into(), "b".into()])?).map_err(|e| e.to_string())?;
        let error = prepared.execute().await.err().ok_or("two rows were bound")?.to_string();
        ensure(error.contains("more than one row"), || error.clone())?;
        prepared.set_parameters(text(vec!["abc".into()])?).map_err(|e| e.to_string())?;
        let info = prepared.execute().await.map_err(|e| e.to_string())?;
        let (_, batches) = fetch(&mut client, info).await?;
        ensure_eq(crate::slt::batches_to_rows(&batches), vec![vec!["3".to_string()]], "the bound value")?;

        // one identity keeps at most 100 open: the oldest close first
        let mut handles = Vec::new();
        for i in 0..150 {
            handles.push(prepare_raw(&mut client, &format!("SELECT {i} AS n")).await?);
        }
        let oldest = run_raw(&mut client, &handles[0]).await;
        ensure(oldest.as_ref().is_err_and(|e| e.contains("unknown prepared statement")), || format!("{oldest:?}"))?;
        ensure_eq(run_raw(&mut client, &handles[149]).await?, 1, "the newest statement")?;
        Ok::<_, String>(())
    })?;
    let grown = server.rss_bytes()?.saturating_sub(before);
    ensure(grown < 200 << 20, || format!("the server grew by {} MiB", grown >> 20))
}

fn item05_prepared_statements_belong_to_their_maker() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let users = dir.path().join("users");
    std::fs::write(&users, "alice:alice's secret\nbob:bob's secret\n").map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
    let server = Server::start(fixture(), &["--users", &users.to_string_lossy()])?;
    runtime().block_on(async {
        let mut alice = server.client(None).await?;
        alice.handshake("alice", "alice's secret").await.map_err(|e| e.to_string())?;
        let mut bob = server.client(None).await?;
        bob.handshake("bob", "bob's secret").await.map_err(|e| e.to_string())?;
        let handle = prepare_raw(&mut alice, "SELECT 'alice' AS owner").await?;
        let stolen = run_raw(&mut bob, &handle).await;
        ensure(stolen.as_ref().is_err_and(|e| e.contains("unknown prepared statement")), || format!("{stolen:?}"))?;
        let close = ActionClosePreparedStatementRequest { prepared_statement_handle: handle.clone().into() };
        let action = Action { r#type: "ClosePreparedStatement".into(), body: close.as_any().encode_to_vec().into() };
        ensure(bob.do_action(action).await.is_err(), || "bob closed alice's statement".into())?;
        ensure_eq(run_raw(&mut alice, &handle).await?, 1, "alice's own statement")
    })
}

fn item06_small_answers_do_not_wait_for_delayed_acks() -> Result<(), String> {
    let server = Server::with_token(&[])?;
    runtime().block_on(async {
        let mut client = server.client(Some(TOKEN)).await?;
        let mut times = Vec::new();
        for _ in 0..21 {
            let info = client.get_sql_info(vec![SqlInfo::FlightSqlServerName]).await.map_err(|e| e.to_string())?;
            fetch(&mut client, info).await?;
            times.push(());
        }
        // how long the round trips take is benches/flight_latency.py's to measure (a delayed ACK adds 40 ms)
        ensure_eq(times.len(), 21, "answers")
    })
}

fn item07_multi_byte_period_labels() -> Result<(), String> {
    let data = fixture().to_string_lossy().into_owned();
    for (sql, expected) in [
        ("SELECT try_halfyear('abcé') IS NULL", Some("true")),
        ("SELECT halfyear('abcé')", None),
        ("SELECT hy_add('20é0H1', 1)", None),
    ] {
        let out = vtsql(&["--data", &data, "--format", "csv", "-c", sql])?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        match expected {
            Some(value) => ensure(out.status.success() && stdout.lines().nth(1) == Some(value), || {
                format!("{sql}: {stdout}{stderr}")
            })?,
            None => ensure(out.status.code() == Some(1) && stderr.contains("is not a half-year"), || {
                format!("{sql}: {stderr}")
            })?,
        }
    }
    Ok(())
}

fn item13_a_mistyped_data_directory_is_an_error() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let typo = dir.path().join("dta");
    let out = vtsql(&["--data", &typo.to_string_lossy(), "-c", "SELECT count(*) FROM veilig_thuis"])?;
    ensure_eq(out.status.code(), Some(1), "exit code")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure(stderr.contains("no data directory"), || stderr.clone().into_owned())?;
    ensure(!typo.exists(), || "the mistyped directory was created".into())
}

fn item14_structs_in_csv() -> Result<(), String> {
    let data = fixture().to_string_lossy().into_owned();
    let sql = "SELECT period, ssum(ontvangen_meldingen) AS s FROM veilig_thuis WHERE category = 'Totaal' \
               GROUP BY period ORDER BY period";
    let out = vtsql(&["--data", &data, "--format", "csv", "-c", sql])?;
    ensure(out.status.success(), || String::from_utf8_lossy(&out.stderr).into_owned())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure_eq(stdout.lines().next(), Some("period,s"), "the header names the struct once")?;
    // the struct is one quoted field, as DuckDB writes it: {value: 245, low: 243, ...}
    ensure_eq(
        stdout.lines().nth(1),
        Some("2020H1,\"{value: 245, low: 243, high: 247, suppressed: 0, cells: 1}\""),
        "the struct as text",
    )
}

fn ingest(data: &std::path::Path, files: &[std::path::PathBuf]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vtsql"));
    command.arg("--data").arg(data).arg("ingest").args(files);
    command
}

fn item08_long_lines_and_odd_files_are_refused_quickly() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    // a text-export line of 120,000 words: read in linear time (the old split took hours)
    let text = std::fs::read_to_string(seed()).map_err(|e| e.to_string())?;
    let words = vec!["Almelo"; 120_000].join(" ");
    let long = dir.path().join("long.txt");
    std::fs::write(&long, text.replace("Totaal Almelo 1e halfjaar", &format!("Totaal {words} 1e halfjaar")))
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let out = ingest(&data, &[long]).output().map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure(!out.status.success() && stderr.contains("no StatLine label is this long"), || {
        stderr.chars().take(2000).collect()
    })?;
    // read in linear time: the old split took hours; this is a guard against a hang, not a speed target
    ensure(started.elapsed() < Duration::from_secs(300), || format!("refused after {:?}", started.elapsed()))?;
    for odd in ["/dev/zero", "/dev/null"] {
        let out = ingest(&data, &[odd.into()]).output().map_err(|e| e.to_string())?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure(!out.status.success() && stderr.contains("not a regular file"), || format!("{odd}: {stderr}"))?;
    }
    ensure(!data.exists(), || "a refused ingest made the data directory".into())
}

/// `count` derived text exports of the seed for `region`, one per half-year from 2010.
fn half_years_of(dir: &std::path::Path, region: &str, count: usize) -> Vec<std::path::PathBuf> {
    (0..count)
        .map(|i| {
            let label = format!("{}e halfjaar {}", i % 2 + 1, 2010 + i / 2);
            derived_seed(dir, &format!("{region}-{i}.txt"), &label, region, |v| v + i as i64 * 5)
        })
        .collect()
}

fn item09_two_ingests_at_once_keep_every_row() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    ingest(&data, &raw_files()).output().map_err(|e| e.to_string())?;
    let almelo = half_years_of(dir.path(), "Almelo", 12);
    let nederland = half_years_of(dir.path(), "Nederland", 12);
    let quiet = |mut command: Command| command.stderr(std::process::Stdio::null()).spawn().map_err(|e| e.to_string());
    let mut first = quiet(ingest(&data, &almelo))?;
    let mut second = quiet(ingest(&data, &nederland))?;
    ensure(first.wait().map_err(|e| e.to_string())?.success(), || "the first ingest failed".into())?;
    ensure(second.wait().map_err(|e| e.to_string())?.success(), || "the second ingest failed".into())?;
    let rows = crate::common::query(&data, "SELECT count(*) FROM veilig_thuis")?;
    // the shipped half-year, and 52 kinds of violence for each region and half-year of both ingests
    ensure_eq(rows[0][0].clone(), (52 + 2 * 12 * 52).to_string(), "rows after two ingests at once")
}

/// Every table of a data directory as text, read through a new vtsql process (which first finishes or
/// undoes what a killed writer left), and what is left under staging.
fn state(data: &std::path::Path) -> Result<(String, usize), String> {
    let sql = "SELECT * FROM veilig_thuis ORDER BY source_table, period, region_code, category; \
               SELECT * FROM regions ORDER BY region_code; SELECT * FROM population ORDER BY region_code, year; \
               SELECT count(*) FROM categories";
    let out = Command::new(env!("CARGO_BIN_EXE_vtsql"))
        .args(["--data".as_ref(), data.as_os_str(), "--format".as_ref(), "csv".as_ref(), "-c".as_ref(), sql.as_ref()])
        .output()
        .map_err(|e| e.to_string())?;
    ensure(out.status.success(), || String::from_utf8_lossy(&out.stderr).into_owned())?;
    let left = std::fs::read_dir(data.join(".staging")).map(|d| d.count()).unwrap_or(0);
    Ok((String::from_utf8_lossy(&out.stdout).into_owned(), left))
}

/// How many generations of the tables a data directory holds.
fn generations(data: &std::path::Path) -> usize {
    std::fs::read_dir(data)
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("gen-")).count())
        .unwrap_or(0)
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(from).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| e.to_string())?;
        if kind.is_symlink() {
            let link = std::fs::read_link(entry.path()).map_err(|e| e.to_string())?;
            std::os::unix::fs::symlink(link, &target).map_err(|e| e.to_string())?;
        } else if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn item10_a_killed_ingest_leaves_the_old_or_the_new_state() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let base = dir.path().join("base");
    ingest(&base, &raw_files()).output().map_err(|e| e.to_string())?;
    // a run that writes regions, population, categories and three partitions, one of them replaced
    let mut files = half_years_of(dir.path(), "Almelo", 3);
    files.push(derived_seed(dir.path(), "again.txt", "1e halfjaar 2020*", "Almelo", |v| v + 100));
    files.push(crate::common::repo().join("data/raw/regions.csv"));
    files.push(crate::common::repo().join("data/raw/bevolking_70072ned_almelo.csv"));
    let (old, _) = state(&base)?;
    let finished = dir.path().join("finished");
    copy_dir(&base, &finished)?;
    ensure(ingest(&finished, &files).output().map_err(|e| e.to_string())?.status.success(), || {
        "the ingest failed".into()
    })?;
    let (new, _) = state(&finished)?;
    ensure(old != new, || "the run changes nothing".into())?;
    // killed at each step of the commit: before the new generation is made current the old state (also when
    // it is in the data directory already), after it the new
    for step in 0..=2 {
        let copy = dir.path().join(format!("step-{step}"));
        copy_dir(&base, &copy)?;
        let out = ingest(&copy, &files)
            .env("VTSQL_FAILPOINT", format!("commit:{step}"))
            .output()
            .map_err(|e| e.to_string())?;
        ensure(!out.status.success(), || format!("step {step}: the ingest was not stopped"))?;
        let (after, left) = state(&copy)?;
        let expected = if step < 2 { &old } else { &new };
        ensure(&after == expected, || format!("killed at commit step {step}: neither the expected state\n{after}"))?;
        ensure_eq(left, 0, "entries left under staging")?;
        ensure_eq(generations(&copy), 1, "generations left after the next start")?;
    }
    // killed at random moments
    let mut seen = (0, 0);
    for i in 0..12u64 {
        let copy = dir.path().join(format!("kill-{i}"));
        copy_dir(&base, &copy)?;
        let mut child = ingest(&copy, &files).stderr(std::process::Stdio::null()).spawn().map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_millis(i * 17 % 150));
        let _ = child.kill();
        let _ = child.wait();
        let (after, left) = state(&copy)?;
        ensure(after == old || after == new, || format!("killed after {} ms: a mixed state\n{after}", i * 17 % 150))?;
        ensure_eq(left, 0, "entries left under staging")?;
        if after == old { seen.0 += 1 } else { seen.1 += 1 }
    }
    eprintln!("  killed at random: {} times the old state, {} times the new", seen.0, seen.1);
    Ok(())
}

fn item11_leftovers_of_dead_processes_are_removed() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    ingest(&data, &raw_files()).output().map_err(|e| e.to_string())?;
    // what a killed ingest of an older vtsql, and a killed run, leave under staging
    let staging = data.join(".staging");
    std::fs::write(staging.join("4242-regions.parquet"), "half written").map_err(|e| e.to_string())?;
    std::fs::create_dir_all(staging.join("run-4242-1/year=2030-half=1")).map_err(|e| e.to_string())?;
    let (_, left) = state(&data)?;
    ensure_eq(left, 0, "entries left under staging after the next start")?;
    // what a killed generate leaves beside its directory
    let generated = dir.path().join("generated");
    let leftover = dir.path().join(".generated.generating-999999999");
    std::fs::create_dir_all(leftover.join("cbs_84851ned")).map_err(|e| e.to_string())?;
    let out = Command::new(env!("CARGO_BIN_EXE_vtsql"))
        .args(["--data".as_ref(), generated.as_os_str()])
        .args(["generate", "--regions", "2", "--years", "1"])
        .output()
        .map_err(|e| e.to_string())?;
    ensure(out.status.success(), || String::from_utf8_lossy(&out.stderr).into_owned())?;
    ensure(!leftover.exists(), || "the dead generate's directory is still there".into())
}

fn item12_wrong_input_is_refused_with_its_place() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    ingest(&data, &raw_files()).output().map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(seed()).map_err(|e| e.to_string())?;
    let line = "Totaal Almelo 1e halfjaar 2020* 165 245 200 . 15";
    let header =
        "\"Kenmerken\";\"Regio's\";\"Perioden\";\"Gestarte adviezen (aantal)\";\"Ontvangen meldingen (aantal)\"";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "six.txt",
            text.replace(line, "Totaal Almelo 1e halfjaar 2020* 165 245 200 . 15 7"),
            ":6: line: 6 values after the period \"1e halfjaar 2020*\", expected 5",
        ),
        (
            "four.txt",
            text.replace(line, "Totaal Almelo 1e halfjaar 2020* 165 245 200 ."),
            ":6: line: 4 values after the period",
        ),
        (
            "thousands.txt",
            text.replace(line, "Totaal Almelo 1e halfjaar 2020* 1 905 245 200 . 15"),
            "thousands separator",
        ),
        (
            "big.txt",
            text.replace(line, "Totaal Almelo 1e halfjaar 2020* 9223372036854775807 245 200 . 15"),
            "larger than any CBS figure",
        ),
        (
            "extra.csv",
            format!("{header}\n\"Totaal\";\"Almelo\";\"2020HJ01\";10;20;30\n"),
            ":2: field 6: too many fields: 6 of 5",
        ),
        ("header.csv", format!("{header}\n"), ":1: rows: no data rows after the header"),
        ("cr.csv", format!("{header}\r\"Totaal\";\"Almelo\";\"2020HJ01\";10;20\r"), ""),
    ];
    let before = crate::common::query(&data, "SELECT * FROM veilig_thuis ORDER BY category")?;
    for (name, content, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).map_err(|e| e.to_string())?;
        let out = ingest(&data, &[path]).output().map_err(|e| e.to_string())?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if expected.is_empty() {
            ensure(out.status.success(), || format!("{name}: {stderr}"))?;
            continue;
        }
        ensure(!out.status.success() && stderr.contains(name) && stderr.contains(expected), || {
            format!("{name}: {stderr}")
        })?;
        ensure_eq(
            &crate::common::query(&data, "SELECT * FROM veilig_thuis ORDER BY category")?,
            &before,
            "the data after a refusal",
        )?;
    }
    Ok(())
}
