//! What the second outside probe of the release binary found (issue 28), each as a regression check named after
//! the item of the probe's report: nothing a hostile server, client or crash can do.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use vtsql::fetch::kept::Api;
use vtsql::ingest::cbs;

use crate::Check;
use crate::cbs_service::{Fault, Service, table_84852};
use crate::common::{ensure, ensure_eq, query};

pub const CHECKS: &[(&str, Check)] = &[
    (
        "hardening2::item01_a_server_cannot_name_a_path_outside_the_data_directory",
        item01_a_server_cannot_name_a_path_outside_the_data_directory,
    ),
    ("hardening2::item02_set_operation_chains_are_refused_not_a_crash", item02_set_operation_chains_are_refused),
    (
        "hardening2::item03_planning_stays_within_the_memory_limit_and_the_deadline",
        item03_planning_stays_within_the_memory_limit_and_the_deadline,
    ),
    ("hardening2::item04_live_readers_never_see_a_mixed_state", item04_live_readers_never_see_a_mixed_state),
    ("hardening2::item05_fetch_keeps_to_the_service_and_stops", item05_fetch_keeps_to_the_service_and_stops),
    ("hardening2::item11_password_guessing_is_bounded_per_address", item11_password_guessing_is_bounded),
    ("hardening2::item11_the_server_keeps_its_file_paths", item11_the_server_keeps_its_file_paths),
    ("hardening2::item11_a_negative_count_is_refused", item11_a_negative_count_is_refused),
];

/// Regression: `SELECT input_file_name() FROM regions` showed the server's file paths over Flight.
fn item11_the_server_keeps_its_file_paths() -> Result<(), String> {
    let server = crate::flight::Server::with_token(&[])?;
    crate::common::runtime().block_on(async {
        let mut client = server.client(Some(crate::flight::TOKEN)).await?;
        let sql = "SELECT input_file_name() FROM regions LIMIT 1";
        let refused = client.execute(sql.into(), None).await.err().ok_or("a file path was served")?;
        ensure(refused.to_string().contains("input_file_name"), || refused.to_string())
    })
}

/// Regression: a negative figure in a count topic from OData was stored as a count.
fn item11_a_negative_count_is_refused() -> Result<(), String> {
    for api in [Api::V3, Api::V4] {
        let mut table = table_84852();
        table.rows[0].3[0] = "-5".into();
        let service = Service::start(api == Api::V4, 50);
        service.put(table);
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        let options = service.options(api, Duration::from_secs(5));
        let error = cbs::fetch_command(&data, &["84852NED".into()], &Default::default(), &options)
            .err()
            .ok_or("-5 was stored")?;
        ensure(error.to_string().contains("negative, and a count cannot be"), || error.to_string())?;
        ensure_eq(query(&data, "SELECT count(*) FROM cbs_tables")?, vec![vec!["0".to_string()]], "tables stored")?;
    }
    Ok(())
}

/// Regression: under `--memory-limit 64M --query-timeout 2` constant folding took the server to 1-4 GB per
/// statement (each call within the bound on one call's result, together far beyond it), and a planning thread
/// kept running after the client had its timeout. Now the values planning makes are counted in the statement's
/// pool, and planning checks the deadline at every rule and function call.
fn item03_planning_stays_within_the_memory_limit_and_the_deadline() -> Result<(), String> {
    let repeats = |f: &str, n: usize| {
        let args = vec!["repeat('x', 50000000)"; n].join(", ");
        format!("SELECT length(CAST({f}({args}) AS VARCHAR))")
    };
    let mut encode = "repeat('x', 50000000)".to_string();
    for _ in 0..7 {
        encode = format!("encode({encode}, 'hex')");
    }
    let concatenated = format!("SELECT length({})", vec!["repeat('x', 50000000)"; 40].join(" || "));
    let hostile = [
        format!("SELECT length({encode})"),
        repeats("concat_ws", 40).replace("concat_ws(", "concat_ws(',', "),
        repeats("make_array", 40),
        concatenated,
    ];
    let server = crate::flight::Server::with_token(&["--memory-limit", "64M", "--query-timeout", "2"])?;
    let before = server.rss_bytes()?;
    crate::common::runtime().block_on(async {
        let mut client = server.client(Some(crate::flight::TOKEN)).await?;
        for sql in &hostile {
            let short = &sql[..sql.len().min(60)];
            let refused = client.execute(sql.clone(), None).await.err().ok_or_else(|| format!("{short}: answered"))?;
            let message = refused.to_string();
            ensure(message.contains("memory limit") || message.contains("a call may make here"), || {
                format!("{short}: {message}")
            })?;
        }
        // what an analyst writes still plans and runs under the same limits
        let info =
            client.execute("SELECT length(repeat('x', 1000000)) AS n".into(), None).await.map_err(|e| e.to_string())?;
        let (_, batches) = crate::flight::fetch(&mut client, info).await.map_err(|e| e.to_string())?;
        ensure_eq(crate::flight::rows(&batches), vec![vec!["1000000".to_string()]], "an ordinary constant")
    })?;
    let peak = server.peak_rss_bytes()?;
    ensure(peak < before + (64 << 20) + (200 << 20), || {
        format!("the server grew from {} MiB to a peak of {} MiB", before >> 20, peak >> 20)
    })?;
    // a statement that plans for longer than the deadline: its planning thread stops on its own
    let server = crate::flight::Server::with_token(&["--memory-limit", "4G", "--query-timeout", "1"])?;
    let slow =
        (0..1500).map(|i| format!("length(encode(sha512(repeat('x', {})), 'hex'))", 2_000_000 + i)).collect::<Vec<_>>();
    let slow = format!("SELECT {}", slow.join(", "));
    crate::common::runtime().block_on(async {
        let mut client = server.client(Some(crate::flight::TOKEN)).await?;
        let refused = client.execute(slow, None).await.err().ok_or("the slow statement answered")?;
        ensure(refused.to_string().contains("longer than the server's limit"), || refused.to_string())
    })?;
    let waited = std::time::Instant::now();
    while server.threads_named("vtsql-plan") > 0 {
        ensure(waited.elapsed() < Duration::from_secs(30), || "planning still runs 30 s after its deadline".into())?;
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "  note: peak {} MiB (from {} MiB); planning stopped {:?} after the deadline",
        peak >> 20,
        before >> 20,
        waited.elapsed()
    );
    Ok(())
}

/// Regression: a `vtsql serve` already running when an ingest was killed mid-commit answered with mixed sums (neither
/// the old nor the new state), and a live query failed during an ordinary commit ("Required field num_values is
/// missing"). Every run here writes two half-years with the same figures; a query that saw one run's half-year and
/// another's would see two sums. Runs are killed at random moments and at each step of the commit, while a client
/// queries the server all along: every answer must be whole, and no query may fail.
fn item04_live_readers_never_see_a_mixed_state() -> Result<(), String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let out = crate::common::ingest_quiet(&data, &crate::common::raw_files());
    out.map_err(|e| e.to_string())?;
    let server = crate::flight::Server::start(&data, &["--token", crate::flight::TOKEN])?;
    let stop = AtomicBool::new(false);
    let sql = "SELECT sum(ontvangen_meldingen) FILTER (WHERE period = '2030H1'), \
               sum(ontvangen_meldingen) FILTER (WHERE period = '2030H2'), count(*) FROM veilig_thuis";
    let (answers, kills) = std::thread::scope(|scope| -> Result<(Vec<Vec<String>>, usize), String> {
        let reader = scope.spawn(|| {
            crate::common::runtime().block_on(async {
                let mut client = server.client(Some(crate::flight::TOKEN)).await?;
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let info =
                        client.execute(sql.into(), None).await.map_err(|e| format!("a live query failed: {e}"))?;
                    let (_, batches) = crate::flight::fetch(&mut client, info)
                        .await
                        .map_err(|e| format!("a live query failed: {e}"))?;
                    answers.extend(crate::flight::rows(&batches));
                }
                Ok::<_, String>(answers)
            })
        });
        let mut kills = 0;
        for i in 0..45u64 {
            let m = i as i64 + 2;
            let files = [
                crate::common::derived_seed(
                    dir.path(),
                    &format!("h1-{i}.txt"),
                    "1e halfjaar 2030",
                    "Almelo",
                    move |v| v * m,
                ),
                crate::common::derived_seed(
                    dir.path(),
                    &format!("h2-{i}.txt"),
                    "2e halfjaar 2030",
                    "Almelo",
                    move |v| v * m,
                ),
            ];
            let mut command = Command::new(env!("CARGO_BIN_EXE_vtsql"));
            command.arg("--data").arg(&data).arg("ingest").args(files).stderr(std::process::Stdio::null());
            if i % 3 == 0 {
                command.env("VTSQL_FAILPOINT", format!("commit:{}", i % 3 + (i / 3) % 3));
            }
            let mut child = command.spawn().map_err(|e| e.to_string())?;
            if i % 3 == 1 {
                std::thread::sleep(Duration::from_millis(2 + i * 7 % 40));
                let _ = child.kill();
            }
            let status = child.wait().map_err(|e| e.to_string())?;
            kills += usize::from(!status.success());
        }
        stop.store(true, Ordering::Relaxed);
        let answers = reader.join().map_err(|_| "the reader panicked".to_string())??;
        Ok((answers, kills))
    })?;
    ensure(kills >= 20, || format!("only {kills} runs killed"))?;
    ensure(answers.len() >= 20, || format!("only {} answers", answers.len()))?;
    let mixed: Vec<&Vec<String>> = answers.iter().filter(|a| a[0] != a[1]).collect();
    ensure(mixed.is_empty(), || {
        format!("{} of {} answers mixed two runs: {:?}", mixed.len(), answers.len(), &mixed[..mixed.len().min(3)])
    })?;
    let states: std::collections::BTreeSet<&String> = answers.iter().map(|a| &a[0]).collect();
    ensure(states.len() >= 3, || format!("the reader saw only {} states: {states:?}", states.len()))?;
    eprintln!("  note: {} answers over {kills} killed runs, none mixed", answers.len());
    Ok(())
}

/// Regression: `fetch` followed an `odata.nextLink` that pointed to itself for ever (845 MB in 20 s, "5530000 of 4
/// rows"), followed links to other hosts, and asked six times again for a body that was whole but not JSON.
fn item05_fetch_keeps_to_the_service_and_stops() -> Result<(), String> {
    let page = |next: &str| -> &'static str {
        Box::leak(
            format!("{{\"odata.metadata\":\"x\",\"value\":[{{\"ID\":0}}],\"odata.nextLink\":\"{next}\"}}")
                .into_boxed_str(),
        )
    };
    let fetch_into = |service: &Service| {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut options = service.options(Api::V3, Duration::from_secs(5));
        options.backoff = Duration::from_millis(1);
        let error =
            cbs::fetch_command(&dir.path().join("data"), &["84852NED".into()], &Default::default(), &options).err();
        let asked = service.take_log().iter().filter(|t| t.contains("UntypedDataSet")).count();
        Ok::<_, String>((error.map(|e| e.to_string()).ok_or("the fetch ended")?, asked))
    };
    // a page whose next link is itself, and one whose next link is another host
    for (next, want) in
        [("SELF", "leads back to a page already received"), ("http://203.0.113.9/x", "leaves the service")]
    {
        let service = Service::start(false, 50);
        service.put(table_84852());
        let link =
            if next == "SELF" { format!("{}/84852NED/UntypedDataSet?$format=json", service.base) } else { next.into() };
        service.fault("/UntypedDataSet", Fault::Replace(page(&link)), 1_000);
        let (error, asked) = fetch_into(&service)?;
        ensure(error.contains(want), || error.clone())?;
        ensure_eq(asked, 1, &format!("{want}: pages asked"))?;
    }
    // pages that never repeat and never end: no more rows than the table announces
    let service = Service::start(false, 2_000);
    let mut table = table_84852();
    let row = table.rows[0].clone();
    table.rows = vec![row; 30_000];
    service.put(table);
    let info = "{\"odata.metadata\":\"x\",\"value\":[{\"Identifier\":\"84852NED\",\"Title\":\"t\",\
                \"Modified\":\"2024-06-28T02:00:00\",\"RecordCount\":4}]}";
    service.fault("/TableInfos", Fault::Replace(info), 10);
    let (error, asked) = fetch_into(&service)?;
    ensure(error.contains("more than the 10004 the table announces"), || error.clone())?;
    ensure(asked <= 7, || format!("{asked} pages asked"))?;
    // a whole body that is not JSON is an answer: asked once
    let service = Service::start(false, 50);
    service.put(table_84852());
    service.fault("/UntypedDataSet", Fault::Replace("<html>maintenance</html>"), 100);
    let (error, asked) = fetch_into(&service)?;
    ensure(error.contains("is not JSON"), || error.clone())?;
    ensure_eq(asked, 1, "requests for a body that is not JSON")
}

/// Regression: one client tried 7,302 wrong passwords a second without any slow-down. Now ten failures a minute
/// lock the address out, and then even the right password is refused unchecked.
fn item11_password_guessing_is_bounded() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let users = dir.path().join("users");
    std::fs::write(&users, "ana:correct horse\n").map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
    let server = crate::flight::Server::start(crate::common::fixture(), &["--users", &users.to_string_lossy()])?;
    crate::common::runtime().block_on(async {
        let mut client = server.client(None).await?;
        let mut answers = Vec::new();
        for i in 0..30 {
            let refused = client.handshake("ana", &format!("guess {i}")).await.err().ok_or("a guess was accepted")?;
            answers.push(refused.to_string());
        }
        let wrong = answers.iter().filter(|a| a.contains("invalid user name or password")).count();
        let locked = answers.iter().filter(|a| a.contains("too many failed logins")).count();
        ensure_eq((wrong, locked), (10, 20), "guesses checked, and refused unchecked")?;
        let refused = client.handshake("ana", "correct horse").await.err().ok_or("the locked address got in")?;
        ensure(refused.to_string().contains("too many failed logins"), || refused.to_string())
    })
}

/// Every file under `dir`, relative to it.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Regression: the server's `TableInfos.Identifier` went into file paths unchecked: `84852NED/../../../..` wrote
/// outside `--data`, `84852NED/../veilig_thuis` replaced a partition, `84851NED_history` a history table.
fn item01_a_server_cannot_name_a_path_outside_the_data_directory() -> Result<(), String> {
    for evil in ["84852NED/../../../../outside/settings", "84852NED/../veilig_thuis", "84851NED_history", "84851NED"] {
        let service = Service::start(false, 50);
        service.put(table_84852());
        let body = format!(
            "{{\"odata.metadata\":\"x\",\"value\":[{{\"Identifier\":\"{evil}\",\"Title\":\"t\",\
             \"Modified\":\"2024-06-28T02:00:00\",\"RecordCount\":36}}]}}"
        );
        service.fault("/TableInfos", Fault::Replace(Box::leak(body.into_boxed_str())), 10);
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data = dir.path().join("a/b/c/data");
        let mut options = service.options(Api::V3, Duration::from_secs(5));
        options.retries = 0;
        let error = cbs::fetch_command(&data, &["84852NED".into()], &Default::default(), &options)
            .err()
            .ok_or("the fetch was taken")?;
        ensure(error.to_string().contains("Identifier") && error.to_string().contains(evil), || error.to_string())?;
        // nothing outside the data directory, and no table inside it: only the pages as received
        let written = files(dir.path());
        ensure(written.iter().all(|f| f.starts_with("a/b/c/data/raw/cbs/") || f.starts_with("a/b/c/data/.")), || {
            format!("{evil}: written {written:?}")
        })?;
        ensure_eq(query(&data, "SELECT count(*) FROM cbs_tables")?, vec![vec!["0".to_string()]], "tables stored")?;
    }
    Ok(())
}

/// Regression: `SELECT 1 UNION ALL SELECT 1 ...` 5,000 times overflowed the planning thread's stack of `vtsql serve`
/// and aborted `vtsql -f` (exit 134).
fn item02_set_operation_chains_are_refused() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    for op in ["UNION ALL", "INTERSECT", "EXCEPT"] {
        let sql = vec!["SELECT 1 AS a"; 5_001].join(&format!(" {op} "));
        let file = dir.path().join("chain.sql");
        std::fs::write(&file, format!("{sql};\n")).map_err(|e| e.to_string())?;
        let out = Command::new(env!("CARGO_BIN_EXE_vtsql"))
            .arg("--data")
            .arg(dir.path())
            .arg("-f")
            .arg(&file)
            .output()
            .map_err(|e| e.to_string())?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure_eq(out.status.code(), Some(1), &format!("{op}: exit code ({stderr})"))?;
        ensure(stderr.contains("5000 set operations"), || stderr.to_string())?;
    }
    let server = crate::flight::Server::with_token(&[])?;
    crate::common::runtime().block_on(async {
        let mut client = server.client(Some(crate::flight::TOKEN)).await?;
        let sql = vec!["SELECT 1 AS a"; 5_001].join(" UNION ALL ");
        let refused = client.execute(sql, None).await.err().ok_or("the chain was taken")?;
        ensure(refused.to_string().contains("set operations"), || refused.to_string())?;
        // the server still answers
        let info = client.execute("SELECT 42".into(), None).await.map_err(|e| e.to_string())?;
        let (_, batches) = crate::flight::fetch(&mut client, info).await?;
        ensure_eq(crate::flight::rows(&batches), vec![vec!["42".to_string()]], "an answer after the refusal")
    })
}
