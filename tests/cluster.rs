//! `vtsql cluster`: a Ballista scheduler and two executors on loopback answer exactly as the in-process
//! engine does, with vtsql's functions in every process; losing an executor mid-run never gives a wrong answer.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use std::sync::Arc;

use vtsql::session::Placement;

use crate::Check;
use crate::common::{Spawned, ensure, ensure_eq, query, query_at, repo, runtime, spawn_vtsql};

pub const CHECKS: &[(&str, Check)] = &[
    ("cluster::benchmark_suite_matches_in_process", benchmark_suite_matches_in_process),
    ("cluster::functions_match_in_process", functions_match_in_process),
    ("cluster::command_line_and_serve_use_the_cluster", command_line_and_serve_use_the_cluster),
    ("cluster::unreachable_scheduler_is_a_clear_error", unreachable_scheduler_is_a_clear_error),
    ("cluster::losing_an_executor_mid_run", losing_an_executor_mid_run),
];

/// A `vtsql cluster ...` child whose first stdout line says it is ready; killed when dropped.
struct Process {
    child: Child,
    first_line: String,
    log: tempfile::NamedTempFile,
}

impl Process {
    fn start(args: &[&str], ready: impl Fn(&str) -> bool) -> Result<Process, String> {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        let Spawned { child, first_line, log } = spawn_vtsql(&args, ready)?;
        Ok(Process { child, first_line, log })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A scheduler and executors on loopback; the executors send a heartbeat every second.
struct Cluster {
    scheduler: Process,
    executors: Vec<Process>,
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

impl Cluster {
    fn start(executors: usize) -> Result<Cluster, String> {
        let scheduler =
            Process::start(&["cluster", "scheduler", "--bind", "127.0.0.1:0", "--executor-timeout", "4"], |line| {
                line.parse::<std::net::SocketAddr>().is_ok()
            })?;
        let mut cluster = Cluster { scheduler, executors: Vec::new() };
        for _ in 0..executors {
            let (port, grpc) = (free_port()?, free_port()?);
            let (port, grpc) = (port.to_string(), grpc.to_string());
            let executor = Process::start(
                &[
                    "cluster",
                    "executor",
                    "--scheduler",
                    &cluster.scheduler.first_line,
                    "--port",
                    &port,
                    "--grpc-port",
                    &grpc,
                    "--concurrent-tasks",
                    "2",
                    "--heartbeat",
                    "1",
                ],
                |line| line.contains("joined"),
            )
            .map_err(|e| format!("{e}\nscheduler log:\n{}", cluster.scheduler.log()))?;
            cluster.executors.push(executor);
        }
        Ok(cluster)
    }

    fn address(&self) -> String {
        self.scheduler.first_line.clone()
    }

    fn placement(&self) -> Placement {
        Placement::Remote(Arc::new(vtsql::cluster::Scheduler::new(&self.address()).expect("a scheduler address")))
    }

    fn logs(&self) -> String {
        let mut text = format!("scheduler:\n{}", self.scheduler.log());
        for (i, e) in self.executors.iter().enumerate() {
            text.push_str(&format!("\nexecutor {i}:\n{}", e.log()));
        }
        text
    }
}

/// Generated data (4 years, every gemeente with a wijk), built once per test run.
fn data() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let out = Command::new(env!("CARGO_BIN_EXE_vtsql"))
            .args(["--data".as_ref(), dir.path().join("data").as_os_str()])
            .args(["generate", "--regions", "400", "--years", "4", "--seed", "11"])
            .output()
            .expect("vtsql generate runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        dir
    })
    .path()
    .join("data")
    .leak()
}

/// `sql` on the cluster, its rows as text.
fn query_on(data: &Path, placement: &Placement, sql: &str) -> Result<Vec<Vec<String>>, String> {
    query_at(data, placement, &[], sql)
}

fn suite_files() -> Result<Vec<PathBuf>, String> {
    let dir = repo().join("benches/queries");
    let mut files = vtsql::bench::suite(&dir, false).map_err(|e| e.to_string())?;
    files.extend(vtsql::bench::suite(&dir, true).map_err(|e| e.to_string())?);
    files.sort();
    files.dedup();
    Ok(files)
}

fn compare(cluster: &Cluster, sql: &str, what: &str) -> Result<usize, String> {
    let local = query(data(), sql).map_err(|e| format!("{what} in-process: {e}"))?;
    let remote = query_on(data(), &cluster.placement(), sql)
        .map_err(|e| format!("{what} on the cluster: {e}\n{}", cluster.logs()))?;
    ensure_eq(remote, local.clone(), what)?;
    Ok(local.len())
}

fn benchmark_suite_matches_in_process() -> Result<(), String> {
    let cluster = Cluster::start(2)?;
    let files = suite_files()?;
    ensure(files.len() >= 11, || format!("only {} suite files", files.len()))?;
    let mut rows = 0;
    for file in &files {
        let sql = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
        rows += compare(&cluster, &sql, &file.display().to_string())?;
    }
    ensure(rows > 100, || format!("the suite returned only {rows} rows in all"))
}

fn functions_match_in_process() -> Result<(), String> {
    let cluster = Cluster::start(2)?;
    let queries = [
        // per_100k joined with population, grouped by half-year arithmetic
        "SELECT hy_label(hy_add(v.period, 2)) AS later, hy_year(v.period) AS y, \
                round(avg(per_100k(v.ontvangen_meldingen, p.population)), 6) AS rate \
         FROM veilig_thuis v JOIN population p ON p.region_code = v.region_code AND p.year = v.year \
         WHERE v.region_level = 'gemeente' AND v.category = 'Totaal' GROUP BY 1, 2 ORDER BY 1, 2",
        // ssum grouped: partial states from both executors merged
        "SELECT r.vt_regio_code, period, ssum(ontvangen_meldingen) AS s, ssum(gestarte_adviezen, 5, 10)['high'] AS h \
         FROM veilig_thuis v JOIN regions r USING (region_code) \
         WHERE v.region_level = 'gemeente' GROUP BY r.vt_regio_code, period ORDER BY r.vt_regio_code, period",
        // ssum as a sliding window (retraction), per_100k over its struct
        "SELECT region_code, period, s['value'], s['low'], s['high'], s['suppressed'] FROM ( \
            SELECT region_code, period, ssum(ontvangen_meldingen) OVER (PARTITION BY region_code, category \
                ORDER BY period ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS s, category \
            FROM veilig_thuis WHERE region_level = 'gemeente' AND category = 'Totaal') t \
         ORDER BY s['value'] DESC NULLS LAST, region_code, period LIMIT 50",
        "SELECT hy_diff(max(period), min(period)), min(hy_start(period)), max(hy_end(period)), \
                count(DISTINCT hy_cbs(period)) FROM veilig_thuis",
        // the table function's rows travel inside the plan
        "SELECT h.period, count(v.region_code), sum(v.ontvangen_meldingen) FROM halfyears('2020H1', '2026H1') h \
         LEFT JOIN veilig_thuis v ON v.period = h.period AND v.region_level = 'vt_regio' AND v.category = 'Totaal' \
         GROUP BY h.period ORDER BY h.period",
    ];
    for (i, sql) in queries.iter().enumerate() {
        let rows = compare(&cluster, sql, &format!("query {i}"))?;
        ensure(rows > 0, || format!("query {i} returned no rows"))?;
    }
    // information_schema is answered by the client, DataFusion's and vtsql's functions listed
    let routines = query_on(
        data(),
        &cluster.placement(),
        "SELECT count(*) FROM information_schema.routines WHERE routine_name IN ('ssum', 'per_100k', 'hy_add')",
    )?;
    ensure_eq(routines, vec![vec!["3".to_string()]], "vtsql functions in information_schema")
}

fn command_line_and_serve_use_the_cluster() -> Result<(), String> {
    let cluster = Cluster::start(1)?;
    let sql = "SELECT count(*), ssum(ontvangen_meldingen)['value'] FROM veilig_thuis WHERE region_level = 'gemeente'";
    let want = query(data(), sql)?;
    let out = Command::new(env!("CARGO_BIN_EXE_vtsql"))
        .args(["--data".as_ref(), data().as_os_str()])
        .args(["--cluster", &cluster.address(), "--format", "csv", "-c", sql])
        .output()
        .map_err(|e| e.to_string())?;
    ensure(out.status.success(), || String::from_utf8_lossy(&out.stderr).into_owned())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let got: Vec<&str> = stdout.lines().collect();
    ensure_eq(got.get(1).copied(), Some(want[0].join(",").as_str()), "vtsql --cluster -c")?;
    // Flight SQL in front of the cluster
    let server = crate::flight::Server::start(data(), &["--cluster", &cluster.address()])?;
    let got = runtime().block_on(async {
        let mut client = server.client(None).await?;
        let info = client.execute(sql.to_string(), None).await.map_err(|e| format!("{e}\n{}", server.log()))?;
        let (_, batches) = crate::flight::fetch(&mut client, info).await?;
        Ok::<_, String>(crate::slt::batches_to_rows(&batches))
    })?;
    ensure_eq(got, want, "vtsql serve --cluster")
}

fn unreachable_scheduler_is_a_clear_error() -> Result<(), String> {
    let port = free_port()?;
    let out = Command::new(env!("CARGO_BIN_EXE_vtsql"))
        .args(["--data".as_ref(), data().as_os_str()])
        .args(["--cluster", &format!("127.0.0.1:{port}"), "-c", "SELECT 1"])
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure(!out.status.success(), || "vtsql --cluster succeeded without a scheduler".into())?;
    ensure(stderr.contains(&format!("cannot reach the Ballista scheduler at 127.0.0.1:{port}")), || {
        stderr.to_string()
    })?;
    let out = Command::new(env!("CARGO_BIN_EXE_vtsql"))
        .args(["--cluster", "host:port", "-c", "SELECT 1"])
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure(stderr.contains("`host:port` is not HOST:PORT of a Ballista scheduler"), || stderr.to_string())
}

fn losing_an_executor_mid_run() -> Result<(), String> {
    let mut cluster = Cluster::start(2)?;
    let sql = std::fs::read_to_string(repo().join("benches/queries/q06_rolling_four_halfyears.sql"))
        .map_err(|e| e.to_string())?;
    let want = query(data(), &sql)?;
    // Many small tasks, so the query is still running when the executor goes.
    let placement = cluster.placement();
    let started = Instant::now();
    let running = std::thread::spawn(move || {
        let outcome = query_at(data(), &placement, &["SET datafusion.execution.target_partitions = 64"], &sql);
        (outcome, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(400));
    cluster.executors[0].kill();
    let killed_at = started.elapsed();
    let (outcome, took) = running.join().map_err(|_| "the query thread panicked".to_string())?;
    ensure(took > killed_at, || format!("the query was over ({took:?}) before the executor was killed"))?;
    match outcome {
        Ok(rows) => {
            ensure_eq(rows, want.clone(), "answer after losing an executor")?;
            eprintln!(
                "  note: executor killed after {killed_at:?}; the query recovered with the right answer in {took:?}"
            );
        }
        Err(e) => {
            ensure(
                e.contains("executor") || e.contains("Executor") || e.contains("fetch") || e.contains("connect"),
                || format!("unclear error after losing an executor: {e}"),
            )?;
            eprintln!("  note: executor killed after {killed_at:?}; the query failed in {took:?}: {e}");
        }
    }
    ensure(took < Duration::from_secs(120), || "the query hung after the executor died".into())?;
    // the cluster goes on with the executor that is left
    let sql = "SELECT period, ssum(ontvangen_meldingen)['value'] FROM veilig_thuis GROUP BY period ORDER BY period";
    let local = query(data(), sql)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match query_on(data(), &cluster.placement(), sql) {
            Ok(rows) => return ensure_eq(rows, local, "answer with one executor left"),
            Err(e) if Instant::now() > deadline => return Err(format!("{e}\n{}", cluster.logs())),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}
