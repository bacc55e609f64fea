//! `vtsql serve` as a process, queried with arrow-flight's `FlightSqlServiceClient` and, through
//! tests/python/flight_client.py, with the ADBC Flight SQL driver, pyarrow, pandas and polars.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables, SqlInfo};
use arrow_flight::{FlightInfo, IpcMessage};
use futures::TryStreamExt;
use tonic::transport::Channel;

use crate::Check;
use crate::common::{ensure, ensure_eq, fixture, query, repo, runtime, spawn_vtsql};

/// The Python modules the client check imports.
const CLIENTS: &str = "adbc_driver_flightsql, pandas, polars, pyarrow";

pub const NEEDS: &[(&str, crate::Need)] = &[
    ("flight::python_clients", crate::Need::Python(CLIENTS)),
    ("flight::tls", crate::Need::Command("openssl", "version")),
];

pub const CHECKS: &[(&str, Check)] = &[
    ("flight::statement_schema_and_rows", statement_schema_and_rows),
    ("flight::prepared_statement_with_parameters", prepared_statement_with_parameters),
    ("flight::catalog_metadata", catalog_metadata),
    ("flight::token_is_required", token_is_required),
    ("flight::basic_auth_handshake_issues_a_token", basic_auth_handshake_issues_a_token),
    ("flight::writes_are_refused", writes_are_refused),
    ("flight::limits_timeout_slots_memory", limits_timeout_slots_memory),
    ("flight::streaming_backpressure_and_disconnect", streaming_backpressure_and_disconnect),
    ("flight::tls", tls),
    ("flight::unsafe_bind_is_refused", unsafe_bind_is_refused),
    ("flight::sigterm_stops_gracefully", sigterm_stops_gracefully),
    ("flight::python_clients", python_clients),
];

pub const TOKEN: &str = "test-token-3f9a";

/// A `vtsql serve` child on a free loopback port, its stderr in a file; stopped with SIGTERM when dropped.
pub struct Server {
    child: Child,
    pub uri: String,
    log: tempfile::NamedTempFile,
}

impl Server {
    pub fn start(data: &Path, args: &[&str]) -> Result<Server, String> {
        let mut all: Vec<&OsStr> = vec!["--data".as_ref(), data.as_os_str()];
        all.extend(["serve", "--bind", "127.0.0.1:0"].map(OsStr::new));
        all.extend(args.iter().map(OsStr::new));
        let spawned = spawn_vtsql(&all, |uri| uri.starts_with("grpc://") || uri.starts_with("grpc+tls://"))?;
        Ok(Server { child: spawned.child, uri: spawned.first_line, log: spawned.log })
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Resident memory of the server process, from /proc.
    pub fn rss_bytes(&self) -> Result<u64, String> {
        self.status_bytes("VmRSS")
    }

    /// The most resident memory the server process has had, from /proc.
    pub fn peak_rss_bytes(&self) -> Result<u64, String> {
        self.status_bytes("VmHWM")
    }

    fn status_bytes(&self, field: &str) -> Result<u64, String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).map_err(|e| e.to_string())?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .ok_or_else(|| format!("no {field} in /proc/PID/status"))?;
        Ok(kb * 1024)
    }

    /// How many of the server's threads have the name `name`, from /proc.
    pub fn threads_named(&self, name: &str) -> usize {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).into_iter().flatten().flatten();
        tasks.filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name)).count()
    }

    /// A server that asks for the test token.
    pub fn with_token(args: &[&str]) -> Result<Server, String> {
        let mut all = vec!["--token", TOKEN];
        all.extend_from_slice(args);
        Server::start(fixture(), &all)
    }

    pub async fn client(&self, token: Option<&str>) -> Result<FlightSqlServiceClient<Channel>, String> {
        let channel = Channel::from_shared(self.uri.replace("grpc://", "http://"))
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.uri))?;
        let mut client = FlightSqlServiceClient::new(channel);
        if let Some(token) = token {
            client.set_token(token.to_string());
        }
        Ok(client)
    }

    fn terminate(&mut self) -> Result<std::process::ExitStatus, String> {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return Err("vtsql serve did not stop within 30 s of SIGTERM".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.terminate();
        }
    }
}

/// Fetches every endpoint of a FlightInfo; returns the announced schema and the batches.
pub async fn fetch(
    client: &mut FlightSqlServiceClient<Channel>,
    info: FlightInfo,
) -> Result<(Schema, Vec<RecordBatch>), String> {
    let announced = info.clone().try_decode_schema().map_err(|e| e.to_string())?;
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.ok_or("endpoint without ticket")?;
        let stream = client.do_get(ticket).await.map_err(|e| e.to_string())?;
        batches.extend(stream.try_collect::<Vec<_>>().await.map_err(|e| e.to_string())?);
    }
    Ok((announced, batches))
}

pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    crate::slt::batches_to_rows(batches)
}

fn statement_schema_and_rows() -> Result<(), String> {
    let server = Server::with_token(&[])?;
    let sql = "SELECT v.region_code, v.period, per_100k(v.ontvangen_meldingen, p.population) AS per_100k, \
               ssum(v.ontvangen_meldingen) OVER (PARTITION BY v.region_code) AS total, hy_start(v.period) AS start \
               FROM veilig_thuis v JOIN population p ON p.region_code = v.region_code AND p.year = v.year \
               WHERE v.category = 'Totaal' ORDER BY v.period";
    let in_process = query(fixture(), sql)?;
    runtime().block_on(async {
        let mut client = server.client(Some(TOKEN)).await?;
        let info = client.execute(sql.to_string(), None).await.map_err(|e| e.to_string())?;
        let (announced, batches) = fetch(&mut client, info).await?;
        for batch in &batches {
            ensure_eq(batch.schema().as_ref(), &announced, "streamed vs announced schema")?;
        }
        ensure_eq(announced.field(0).data_type(), &DataType::Utf8, "region_code on the wire")?;
        ensure(matches!(announced.field(3).data_type(), DataType::Struct(_)), || format!("{announced:?}"))?;
        ensure_eq(rows(&batches), in_process, "Flight SQL vs in-process")?;
        let first = rows(&batches).into_iter().next().ok_or("no rows")?;
        let rate: f64 = first[2].parse().map_err(|_| format!("per_100k is not a number: {}", first[2]))?;
        ensure_eq((rate * 100.0).round() / 100.0, 335.13, "Almelo 2020H1 meldingen per 100,000")
    })
}

fn prepared_statement_with_parameters() -> Result<(), String> {
    let server = Server::with_token(&[])?;
    runtime().block_on(async {
        let mut client = server.client(Some(TOKEN)).await?;
        let sql = "SELECT period, ontvangen_meldingen FROM veilig_thuis \
                   WHERE region_code = ? AND category = 'Totaal' AND year >= ? ORDER BY period";
        let mut prepared = client.prepare(sql.to_string(), None).await.map_err(|e| e.to_string())?;
        let parameters = prepared.parameter_schema().map_err(|e| e.to_string())?.clone();
        ensure_eq(parameters.fields().len(), 2, "parameters")?;
        ensure_eq(parameters.field(0).name().as_str(), "$1", "first parameter name")?;
        let dataset = prepared.dataset_schema().map_err(|e| e.to_string())?.clone();
        ensure_eq(dataset.field(0).data_type(), &DataType::Utf8, "period type")?;
        let bind = |region: &str, year: i64| {
            let schema =
                Schema::new(vec![Field::new("$1", DataType::Utf8, true), Field::new("$2", DataType::Int64, true)]);
            RecordBatch::try_new(
                schema.into(),
                vec![
                    std::sync::Arc::new(arrow::array::StringArray::from(vec![region])),
                    std::sync::Arc::new(arrow::array::Int64Array::from(vec![year])),
                ],
            )
            .map_err(|e| e.to_string())
        };
        prepared.set_parameters(bind("GM0141", 2021)?).map_err(|e| e.to_string())?;
        let info = prepared.execute().await.map_err(|e| e.to_string())?;
        let (announced, batches) = fetch(&mut client, info).await?;
        ensure_eq(announced, dataset.clone(), "announced vs prepared dataset schema")?;
        ensure_eq(rows(&batches), vec![vec!["2021H1".to_string(), "255".to_string()]], "2021 onwards")?;
        prepared.set_parameters(bind("GM0141", 2020)?).map_err(|e| e.to_string())?;
        let info = prepared.execute().await.map_err(|e| e.to_string())?;
        let (_, batches) = fetch(&mut client, info).await?;
        ensure_eq(rows(&batches).len(), 3, "2020 onwards")?;
        prepared.close().await.map_err(|e| e.to_string())
    })
}

fn catalog_metadata() -> Result<(), String> {
    let server = Server::with_token(&[])?;
    runtime().block_on(async {
        let mut client = server.client(Some(TOKEN)).await?;
        let info = client.get_catalogs().await.map_err(|e| e.to_string())?;
        let (_, batches) = fetch(&mut client, info).await?;
        ensure_eq(rows(&batches), vec![vec!["vtsql".to_string()]], "catalogs")?;

        // the gazetteer's functions and tables, as every other
        let sql = "SELECT vt_regio('GM0744', 2023), gm_successor('GM0370', 2024), \
                   (SELECT count(*) FROM region_membership WHERE year = 2023)";
        let info = client.execute(sql.into(), None).await.map_err(|e| e.to_string())?;
        let (_, batches) = fetch(&mut client, info).await?;
        ensure_eq(rows(&batches), vec![vec!["VT15".to_string(), "GM0439".into(), "342".into()]], "gazetteer")?;

        let command =
            CommandGetDbSchemas { catalog: Some("vtsql".into()), db_schema_filter_pattern: Some("pub%".into()) };
        let info = client.get_db_schemas(command).await.map_err(|e| e.to_string())?;
        let (_, batches) = fetch(&mut client, info).await?;
        ensure_eq(rows(&batches), vec![vec!["vtsql".to_string(), "public".to_string()]], "schemas like pub%")?;

        let all = CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: Some("public".into()),
            table_name_filter_pattern: None,
            table_types: vec![],
            include_schema: false,
        };
        let info = client.get_tables(all).await.map_err(|e| e.to_string())?;
        let (_, batches) = fetch(&mut client, info).await?;
        let names: Vec<String> = rows(&batches).into_iter().map(|r| r[2].clone()).collect();
        ensure_eq(
            names,
            [
                "categories",
                "cbs_70072ned",
                "cbs_70072ned_history",
                "cbs_84851ned",
                "cbs_84851ned_history",
                "cbs_catalog",
                "cbs_columns",
                "cbs_tables",
                "population",
                "region_changes",
                "region_membership",
                "region_names",
                "region_successors",
                "regions",
                "veilig_thuis",
                "vt_aard_geweld",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            "tables",
        )?;

        let with_schema = CommandGetTables {
            catalog: Some("vtsql".into()),
            db_schema_filter_pattern: None,
            table_name_filter_pattern: Some("veilig%".into()),
            // a view over cbs_84851ned, the table that holds the figures
            table_types: vec!["VIEW".into()],
            include_schema: true,
        };
        let info = client.get_tables(with_schema).await.map_err(|e| e.to_string())?;
        let (_, batches) = fetch(&mut client, info).await?;
        let batch = batches.first().ok_or("no tables batch")?;
        ensure_eq(batch.num_rows(), 1, "tables like veilig%")?;
        let column = batch.column_by_name("table_schema").ok_or("no table_schema column")?;
        let bytes = column.as_any().downcast_ref::<arrow::array::BinaryArray>().ok_or("table_schema is not binary")?;
        let schema = Schema::try_from(IpcMessage(bytes.value(0).to_vec().into())).map_err(|e| e.to_string())?;
        ensure(
            schema.field_with_name("ontvangen_meldingen").is_ok() && schema.field_with_name("year").is_ok(),
            || format!("{schema:?}"),
        )?;

        // a CBS table's columns carry CBS's title and unit in the schema clients see
        let cbs_table = CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: None,
            table_name_filter_pattern: Some("cbs_84851ned".into()),
            table_types: vec![],
            include_schema: true,
        };
        let info = client.get_tables(cbs_table).await.map_err(|e| e.to_string())?;
        let (_, batches) = fetch(&mut client, info).await?;
        let batch = batches.first().ok_or("no tables batch")?;
        let column = batch.column_by_name("table_schema").ok_or("no table_schema column")?;
        let bytes = column.as_any().downcast_ref::<arrow::array::BinaryArray>().ok_or("table_schema is not binary")?;
        let schema = Schema::try_from(IpcMessage(bytes.value(0).to_vec().into())).map_err(|e| e.to_string())?;
        let field = schema.field_with_name("ontvangen_meldingen").map_err(|e| e.to_string())?;
        ensure_eq(
            field.metadata().get("unit").map(String::as_str),
            Some("aantal"),
            "unit of cbs_84851ned.ontvangen_meldingen",
        )?;
        ensure_eq(
            field.metadata().get("title").map(String::as_str),
            Some("Ontvangen meldingen"),
            "title of cbs_84851ned.ontvangen_meldingen",
        )?;

        let keys = arrow_flight::sql::CommandGetPrimaryKeys { catalog: None, db_schema: None, table: "regions".into() };
        let unimplemented = client.get_primary_keys(keys).await.err().ok_or("GetPrimaryKeys answered")?;
        ensure(unimplemented.to_string().contains("not implemented"), || unimplemented.to_string())?;

        let info = client.get_table_types().await.map_err(|e| e.to_string())?;
        let (_, batches) = fetch(&mut client, info).await?;
        ensure(rows(&batches).contains(&vec!["TABLE".to_string()]), || format!("{:?}", rows(&batches)))?;

        let info = client
            .get_sql_info(vec![SqlInfo::FlightSqlServerName, SqlInfo::FlightSqlServerReadOnly])
            .await
            .map_err(|e| e.to_string())?;
        let (_, batches) = fetch(&mut client, info).await?;
        let info_rows = rows(&batches);
        ensure_eq(info_rows.len(), 2, "sql info rows")?;
        ensure(info_rows[0][1].contains("vtsql") && info_rows[1][1].contains("true"), || format!("{info_rows:?}"))?;

        let info = client
            .get_xdbc_type_info(arrow_flight::sql::CommandGetXdbcTypeInfo { data_type: None })
            .await
            .map_err(|e| e.to_string())?;
        let (announced, batches) = fetch(&mut client, info).await?;
        let types: Vec<String> = rows(&batches).into_iter().map(|r| r[0].clone()).collect();
        ensure(types.contains(&"VARCHAR".to_string()) && types.contains(&"BIGINT".to_string()), || {
            format!("{types:?}")
        })?;
        ensure_eq(batches[0].schema().as_ref(), &announced, "xdbc schema")
    })
}

fn token_is_required() -> Result<(), String> {
    let server = Server::with_token(&[])?;
    runtime().block_on(async {
        for token in [None, Some("wrong")] {
            let mut client = server.client(token).await?;
            let err = client.execute("SELECT 1".into(), None).await.err().ok_or("query ran without a valid token")?;
            let message = err.to_string();
            ensure(message.contains("authorization header") || message.contains("invalid bearer token"), || {
                format!("{token:?}: {message}")
            })?;
        }
        Ok(())
    })
}

fn basic_auth_handshake_issues_a_token() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let users = dir.path().join("users");
    std::fs::write(&users, "# analysts\nana:correct horse\n").map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
    let server = Server::start(fixture(), &["--users", &users.to_string_lossy()])?;
    runtime().block_on(async {
        let mut client = server.client(None).await?;
        ensure(client.handshake("ana", "wrong").await.is_err(), || "a wrong password was accepted".into())?;
        client.handshake("ana", "correct horse").await.map_err(|e| e.to_string())?;
        let token = client.token().cloned().ok_or("no bearer token in the handshake response")?;
        ensure_eq(token.len(), 64, "token length")?;
        let mut fresh = server.client(Some(&token)).await?;
        let info = fresh.execute("SELECT 41 + 1 AS answer".into(), None).await.map_err(|e| e.to_string())?;
        let (_, batches) = fetch(&mut fresh, info).await?;
        ensure_eq(rows(&batches), vec![vec!["42".to_string()]], "query with the issued token")
    })
}

fn writes_are_refused() -> Result<(), String> {
    let server = Server::with_token(&[])?;
    let regions = query(fixture(), "SELECT count(*) FROM regions")?;
    runtime().block_on(async {
        let mut client = server.client(Some(TOKEN)).await?;
        for sql in [
            "CREATE TABLE t AS SELECT 1",
            "CREATE VIEW v AS SELECT 1",
            "DROP TABLE regions",
            "DELETE FROM regions",
            "COPY regions TO '/tmp/vtsql-flight-copy.parquet'",
            "CREATE EXTERNAL TABLE pw STORED AS CSV LOCATION '/etc/passwd'",
            "SET datafusion.execution.target_partitions = 1",
        ] {
            let err = client.execute(sql.into(), None).await.err().ok_or_else(|| format!("{sql} was accepted"))?;
            ensure(err.to_string().contains("read-only"), || format!("{sql}: {err}"))?;
        }
        let err = client.execute_update("DELETE FROM regions".into(), None).await.err().ok_or("update accepted")?;
        ensure(err.to_string().contains("read-only"), || format!("execute_update: {err}"))?;
        ensure(!Path::new("/tmp/vtsql-flight-copy.parquet").exists(), || "COPY wrote a file".into())?;
        let err = client.execute("SELECT * FROM '/etc/passwd'".into(), None).await.err().ok_or("file read")?;
        ensure(err.to_string().contains("not found"), || format!("file as table: {err}"))?;
        // the catalog is as it was
        let info = client.execute("SELECT count(*) FROM regions".into(), None).await.map_err(|e| e.to_string())?;
        let (_, batches) = fetch(&mut client, info).await?;
        ensure_eq(rows(&batches), regions, "regions after refused writes")
    })
}

/// Runs for hours; `sum` over a computed value, so statistics cannot answer it without executing.
/// (The left side, which a cross join holds in memory, is small: 80 KB.)
const ENDLESS: &str =
    "SELECT sum(a.value % 7 + b.value % 7) FROM generate_series(1, 10000) a, generate_series(1, 1000000000) b";

fn limits_timeout_slots_memory() -> Result<(), String> {
    let server = Server::with_token(&[
        "--query-timeout",
        "2",
        "--max-concurrent",
        "1",
        "--queue-timeout",
        "0",
        "--memory-limit",
        "4M",
    ])?;
    runtime().block_on(async {
        let mut first = server.client(Some(TOKEN)).await?;
        let mut second = server.client(Some(TOKEN)).await?;
        let info = first.execute(ENDLESS.into(), None).await.map_err(|e| e.to_string())?;
        let ticket = info.endpoint[0].ticket.clone().ok_or("no ticket")?;
        let running = first.do_get(ticket).await.map_err(|e| e.to_string())?;
        // while the endless query holds the only slot, another is refused at once
        let info = second.execute("SELECT 1".into(), None).await.map_err(|e| e.to_string())?;
        let busy = fetch(&mut second, info)
            .await
            .err()
            .ok_or_else(|| format!("a second query ran beside the first\n{}", server.log()))?;
        ensure(busy.contains("ResourceExhausted") || busy.contains("queries are running"), || busy.clone())?;
        let timed_out = running.try_collect::<Vec<_>>().await.err().ok_or("the endless query finished")?;
        ensure(timed_out.to_string().contains("limit of 2s"), || timed_out.to_string())?;
        // the slot is free again, and a query that needs more than 4 MiB is stopped by the memory pool
        let big_sort = "SELECT value FROM generate_series(1, 2000000) ORDER BY value DESC";
        let info = second.execute(big_sort.into(), None).await.map_err(|e| e.to_string())?;
        let memory = fetch(&mut second, info).await.err().ok_or("a sort over 2M rows fitted in 4 MiB")?;
        ensure(memory.contains("ResourceExhausted") || memory.contains("esources exhausted"), || memory.clone())?;
        let info = second.execute("SELECT 1 AS one".into(), None).await.map_err(|e| e.to_string())?;
        let (_, batches) = fetch(&mut second, info).await?;
        ensure_eq(rows(&batches), vec![vec!["1".to_string()]], "after the limits")
    })
}

/// A 200M-row result (1.6 GB as Int64) read one batch at a time: the server holds only what the client has
/// not yet read, and when the client goes away the query stops.
fn streaming_backpressure_and_disconnect() -> Result<(), String> {
    let server = Server::with_token(&[])?;
    runtime().block_on(async {
        let mut client = server.client(Some(TOKEN)).await?;
        let sql = "SELECT value FROM generate_series(1, 200000000)";
        let info = client.execute(sql.into(), None).await.map_err(|e| e.to_string())?;
        let ticket = info.endpoint[0].ticket.clone().ok_or("no ticket")?;
        let mut stream = client.do_get(ticket).await.map_err(|e| e.to_string())?;
        let first = stream.try_next().await.map_err(|e| e.to_string())?.ok_or("no batch")?;
        ensure(first.num_rows() > 0, || "empty first batch".into())?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = server.rss_bytes()?;
        ensure(rss < 600 << 20, || format!("server holds {} MiB while the client reads slowly", rss >> 20))?;
        drop(stream);
        drop(client);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !server.log().contains("cancelled") {
            ensure(Instant::now() < deadline, || format!("the query was not cancelled: {}", server.log()))?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    })
}

/// TLS with a test CA and a server certificate for `localhost`, made by `openssl` (skipped where it is missing,
/// a failure under CI: `NEEDS`).
fn tls() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let (ca, ca_key, csr, cert, key, ext) =
        (path("ca.pem"), path("ca.key"), path("leaf.csr"), path("cert.pem"), path("key.pem"), path("ext.cnf"));
    std::fs::write(&ext, "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n").map_err(|e| e.to_string())?;
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let steps: [Vec<&str>; 3] = [
        [&["req", "-x509"][..], &ec, &["-days", "1", "-subj", "/CN=vtsql test CA", "-keyout", &ca_key, "-out", &ca]]
            .concat(),
        [&["req"][..], &ec, &["-subj", "/CN=localhost", "-keyout", &key, "-out", &csr]].concat(),
        vec!["x509", "-req", "-in", &csr, "-CA", &ca, "-CAkey", &ca_key, "-CAcreateserial", "-days", "1"]
            .into_iter()
            .chain(["-extfile", &ext, "-out", &cert])
            .collect(),
    ];
    for step in &steps {
        let made = Command::new("openssl").args(step).output().map_err(|e| format!("openssl: {e}"))?;
        ensure(made.status.success(), || format!("openssl {step:?}: {}", String::from_utf8_lossy(&made.stderr)))?;
    }
    let server = Server::with_token(&["--tls-cert", &cert, "--tls-key", &key])?;
    ensure(server.uri.starts_with("grpc+tls://"), || server.uri.clone())?;
    let pem = std::fs::read(&ca).map_err(|e| e.to_string())?;
    let port = server.uri.rsplit(':').next().unwrap_or_default().to_string();
    runtime().block_on(async {
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(pem))
            .domain_name("localhost");
        let channel = Channel::from_shared(format!("https://127.0.0.1:{port}"))
            .map_err(|e| e.to_string())?
            .tls_config(tls)
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| format!("TLS connect: {e:?}"))?;
        let mut client = FlightSqlServiceClient::new(channel);
        client.set_token(TOKEN.into());
        let info = client.execute("SELECT hy_add('2020H1', 3) AS p".into(), None).await.map_err(|e| e.to_string())?;
        let (_, batches) = fetch(&mut client, info).await?;
        ensure_eq(rows(&batches), vec![vec!["2021H2".to_string()]], "query over TLS")?;
        // plain text to a TLS port fails
        let mut plain = server.client(Some(TOKEN)).await.map(Some).unwrap_or(None);
        if let Some(plain) = plain.as_mut() {
            ensure(plain.execute("SELECT 1".into(), None).await.is_err(), || "plain gRPC worked on TLS".into())?;
        }
        Ok(())
    })
}

fn unsafe_bind_is_refused() -> Result<(), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_vtsql"))
        .args(["--data".as_ref(), fixture().as_os_str()])
        .args(["serve", "--bind", "0.0.0.0:0"])
        .env_remove("VTSQL_TOKEN")
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure(!out.status.success(), || "served on 0.0.0.0 without auth".into())?;
    ensure(stderr.contains("without authentication"), || stderr.to_string())
}

fn sigterm_stops_gracefully() -> Result<(), String> {
    let mut server = Server::with_token(&[])?;
    runtime().block_on(async {
        let mut client = server.client(Some(TOKEN)).await?;
        let info = client.execute("SELECT 1 AS one".into(), None).await.map_err(|e| e.to_string())?;
        fetch(&mut client, info).await.map(|_| ())
    })?;
    let status = server.terminate()?;
    ensure(status.success(), || format!("exit status after SIGTERM: {status}"))
}

/// The Python clients (ADBC, pyarrow, pandas, polars) from `$VTSQL_PYTHON` (set by `.ci/run`). Without them
/// the check fails under CI and is skipped elsewhere (`NEEDS`).
fn python_clients() -> Result<(), String> {
    let python = crate::common::python_with(CLIENTS)?;
    let server = Server::with_token(&[])?;
    let out = Command::new(&python)
        .arg(repo().join("tests/python/flight_client.py"))
        .args([&server.uri, TOKEN, env!("CARGO_BIN_EXE_vtsql")])
        .arg(fixture())
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines().filter(|l| l.starts_with("ok ")) {
        println!("  python {line}");
    }
    ensure(out.status.success(), || format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)))?;
    let plots = tempfile::tempdir().map_err(|e| e.to_string())?;
    let plot = plots.path().join("meldingen.png");
    let example = Command::new(&python)
        .arg(repo().join("examples/notebook.py"))
        .env("VTSQL_URI", &server.uri)
        .env("VTSQL_TOKEN", TOKEN)
        .env("VTSQL_PLOT", &plot)
        .env("MPLBACKEND", "Agg")
        .output()
        .map_err(|e| e.to_string())?;
    ensure(example.status.success(), || format!("examples/notebook.py: {}", String::from_utf8_lossy(&example.stderr)))?;
    ensure(plot.is_file(), || "examples/notebook.py drew no plot".into())
}
