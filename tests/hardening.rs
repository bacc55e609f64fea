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
use crate::common::{ensure, ensure_eq, fixture, runtime};
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
        let started = Instant::now();
        let answer = match client.execute("SELECT length(repeat('x', 1500000000))".into(), None).await {
            Ok(info) => fetch(&mut client, info).await.map(|_| ()),
            Err(e) => Err(e.to_string()),
        };
        let error = answer.err().ok_or("a repeat of 1.5 GB answered")?;
        ensure(error.contains("more than the 64.0 MiB"), || error.clone())?;
        ensure(started.elapsed() < Duration::from_secs(2), || format!("refused after {:?}", started.elapsed()))?;
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
            let started = Instant::now();
            let info = client.get_sql_info(vec![SqlInfo::FlightSqlServerName]).await.map_err(|e| e.to_string())?;
            fetch(&mut client, info).await?;
            times.push(started.elapsed());
        }
        times.sort();
        // Linux delays an ACK by 40 ms; an answer that waited for one would take at least that long.
        ensure(times[10] < Duration::from_millis(20), || format!("median round trip {:?}", times[10]))
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
    ensure_eq(
        stdout.lines().next(),
        Some("period,s.value,s.low,s.high,s.suppressed,s.cells"),
        "the header spreads the struct's fields",
    )?;
    ensure_eq(stdout.lines().nth(1).map(|l| l.split(',').count()), Some(6), "fields of a row")
}
