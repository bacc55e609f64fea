//! `vtsql`: the command line. Parsing only; each subcommand is one call into the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use vtsql::repl::print_format::PrintFormat;
use vtsql::session::{self, Placement, Session};
use vtsql::{bench, cluster, fetch, flight, generate, ingest, repl};

/// jemalloc: malloc and free take a large share of a small query's CPU on the system allocator
/// (benches/RESULTS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Two arenas instead of jemalloc's four per core: each thread (tokio workers, the blocking pool that
/// reads files) keeps the pages it freed in its arena, and more arenas raise a query's peak memory above
/// the system allocator's (benches/RESULTS.md). `_RJEM_MALLOC_CONF` still overrides it.
#[unsafe(export_name = "_rjem_malloc_conf")]
static ALLOCATOR_OPTIONS: &[u8; 10] = b"narenas:2\0";

#[derive(Parser)]
#[command(version, about = "SQL over CBS Beleidsinformatie Veilig Thuis statistics")]
struct Cli {
    /// Data directory (default: $VTSQL_DATA, else ./data)
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,

    /// Plan and run queries on the Apache Ballista cluster behind this scheduler (see `vtsql cluster`);
    /// every executor must read the data directory at the same path
    #[arg(long, global = true, env = "VTSQL_CLUSTER", value_name = "HOST:PORT")]
    cluster: Option<String>,

    /// Run this SQL and exit (repeatable)
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    commands: Vec<String>,

    /// Run the SQL in this file and exit (repeatable)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = PrintFormat::Table)]
    format: PrintFormat,

    /// Print how long each statement took
    #[arg(long)]
    timer: bool,

    /// Text shown for NULL (a suppressed cell) in table output [default: "." at the prompt, NULL otherwise]
    #[arg(long, value_name = "TEXT")]
    nullvalue: Option<String>,

    /// Show at most N rows in table output
    #[arg(long, value_name = "N")]
    maxrows: Option<usize>,

    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Subcommand)]
enum Action {
    /// Load raw CBS files (StatLine export, CSV download, regions, population) into the data directory
    Ingest {
        /// Files to load; the layout of each is detected
        #[arg(required_unless_present = "kept")]
        files: Vec<PathBuf>,
        /// The CBS table the downloads are (such as 84852NED), where vtsql cannot tell it
        #[arg(long, value_name = "ID")]
        table: Option<String>,
        /// Rebuild the cbs_<id> tables from the pages `vtsql fetch` kept in DATA/raw/cbs (offline)
        #[arg(long)]
        kept: bool,
    },
    /// Download CBS open data tables (default: the ten of Beleidsinformatie Veilig Thuis) into
    /// DATA/raw/cbs/ID and their tables cbs_<id>; a table unchanged since the last fetch is skipped
    Fetch {
        /// Table ids such as 84852NED [default: 84847NED-84855NED and 85361NED]
        ids: Vec<String>,
        /// The catalogue's address for --api v3 or v4, in place of --catalog [default: https://datasets.cbs.nl/odata/v1/CBS
        /// for v4, https://opendata.cbs.nl/ODataFeed/odata for v3]
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// The catalogue: CBS (CBS's own tables), dataderden (tables CBS makes for others), or any other v4
        /// catalogue by name
        #[arg(long, value_name = "NAME", default_value = "CBS", conflicts_with = "base_url")]
        catalog: String,
        /// OData API: auto (v4 at datasets.cbs.nl, then v3 at opendata.cbs.nl where v4 lacks the table or
        /// fails), v4 or v3
        #[arg(long, value_name = "VERSION", default_value = "auto", value_parser = ["auto", "v4", "v3"])]
        api: String,
        /// Seconds a request may take, connection to last byte
        #[arg(long, value_name = "SECONDS", default_value_t = 120)]
        timeout: u64,
        /// Retries of a failed request (backoff doubling from half a second)
        #[arg(long, value_name = "N", default_value_t = 6)]
        retries: u32,
        /// Download even a table whose release is the one kept
        #[arg(long)]
        force: bool,
        /// List the tables of the catalogue whose id or title has every one of these words (case and
        /// accents aside), with their periods, last change and size; downloads nothing
        #[arg(long, value_name = "WORDS", num_args = 1.., conflicts_with_all = ["ids", "list"])]
        search: Vec<String>,
        /// List every table of the catalogue; downloads nothing
        #[arg(long, conflicts_with = "ids")]
        list: bool,
        /// Only these regions (codes: GM0363,VT13,NL01); the table's other rows stay as stored
        #[arg(long, value_name = "CODES", value_delimiter = ',', conflicts_with_all = ["search", "list"])]
        regions: Vec<String>,
        /// Only the periods of these years: 2024 or 2023..2025
        #[arg(long, value_name = "YEARS", conflicts_with_all = ["search", "list"])]
        periods: Option<String>,
        /// Only these topics, by CBS key or title (OntvangenMeldingen_1, "Ontvangen meldingen"); the others keep
        /// their stored figures
        #[arg(long, value_name = "TOPICS", value_delimiter = ',', conflicts_with_all = ["search", "list"])]
        topics: Vec<String>,
    },
    /// Write synthetic data at scale (the schema and layout ingest writes) into a new data directory
    Generate {
        /// At least this many fact rows: 1000000, 10M, 100M, 1G
        #[arg(long, value_name = "N", value_parser = parse_count, conflicts_with = "regions")]
        rows: Option<u64>,
        /// Gemeenten and wijken with rows (instead of --rows)
        #[arg(long, value_name = "R", value_parser = parse_count)]
        regions: Option<u64>,
        /// Years of half-years, ending in 2025 [default: 10]
        #[arg(long, value_name = "Y")]
        years: Option<u32>,
        /// Seed: the same seed and shape give the same files
        #[arg(long, value_name = "S", default_value_t = 1)]
        seed: u64,
    },
    /// Time benchmark queries: a warm-up, then the median of N runs; one JSON line per query on stdout
    Bench {
        /// SQL files [default: every query in benches/queries/]
        files: Vec<PathBuf>,
        /// Timed runs per query
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Use each query's `.plain.sql` variant (no vtsql functions) where there is one
        #[arg(long)]
        plain: bool,
        /// A session setting to try, e.g. `datafusion.execution.parquet.pushdown_filters=true` (repeatable)
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// SQL statements to run once before the timings, such as CREATE EXTERNAL TABLE over other files
        /// (repeatable)
        #[arg(long, value_name = "FILE")]
        setup: Vec<PathBuf>,
    },
    /// Serve the tables over Arrow Flight SQL (pyarrow, ADBC, pandas, polars), read-only
    Serve(ServeArgs),
    /// Run a process of an Apache Ballista cluster that knows vtsql's functions
    #[command(subcommand)]
    Cluster(ClusterRole),
}

#[derive(Subcommand)]
enum ClusterRole {
    /// The scheduler: plans queries from `--cluster` clients and hands tasks to executors
    Scheduler {
        /// Address to listen on (port 0 picks a free one; the address is the first line on stdout)
        #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:50050")]
        bind: std::net::SocketAddr,
        /// Seconds without a heartbeat before an executor counts as lost and its tasks run elsewhere
        #[arg(long, value_name = "SECONDS", default_value_t = 60)]
        executor_timeout: u64,
    },
    /// An executor: runs tasks over the shared data directory; SIGTERM or Ctrl-C leaves the cluster
    Executor(ExecutorArgs),
}

#[derive(clap::Args)]
struct ExecutorArgs {
    /// The scheduler to join
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50050")]
    scheduler: String,
    /// Host to listen on and advertise to the scheduler and the other executors
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    host: String,
    /// Arrow Flight port (shuffle data and results)
    #[arg(long, value_name = "PORT", default_value_t = 50061)]
    port: u16,
    /// gRPC port the scheduler sends tasks to
    #[arg(long, value_name = "PORT", default_value_t = 50062)]
    grpc_port: u16,
    /// Tasks at once [default: the number of cores]
    #[arg(long, value_name = "N")]
    concurrent_tasks: Option<usize>,
    /// Directory for shuffle files [default: a temporary directory]
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Memory for all running tasks together (e.g. 4G); beyond it sorts and joins spill
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<usize>,
    /// Seconds between heartbeats to the scheduler
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    heartbeat: u64,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on; without --token or --users only a loopback address is accepted
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:50051")]
    bind: std::net::SocketAddr,

    /// Bearer token clients must send (`authorization: Bearer T`)
    #[arg(long, env = "VTSQL_TOKEN", hide_env_values = true, value_name = "T", conflicts_with = "users")]
    token: Option<String>,

    /// File of `name:password` lines (mode 600); clients log in through Handshake with Basic auth
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,

    /// TLS certificate chain (PEM)
    #[arg(long, value_name = "C", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// TLS private key (PEM)
    #[arg(long, value_name = "K", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Memory one query may use for sorts, joins and aggregations (e.g. 512M, 2G)
    #[arg(long, value_name = "SIZE", default_value = "2G", value_parser = parse_size)]
    memory_limit: usize,

    /// Seconds a query may run before it is stopped
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    query_timeout: u64,

    /// Queries running at once; more wait for a free slot
    #[arg(long, value_name = "N", default_value_t = 8)]
    max_concurrent: usize,

    /// Seconds a query waits for a slot before it is refused with RESOURCE_EXHAUSTED
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    queue_timeout: u64,
}

/// `1000000`, `10M`, `1B`: a count with an optional K/M/B suffix (powers of 1000; `G` is taken as `B`).
fn parse_count(text: &str) -> Result<u64, String> {
    let text = text.trim().replace('_', "");
    let (digits, factor) = match text.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&text[..text.len() - 1], 1_000),
        Some('M') => (&text[..text.len() - 1], 1_000_000),
        Some('B' | 'G') => (&text[..text.len() - 1], 1_000_000_000),
        _ => (text.as_str(), 1),
    };
    let n: u64 = digits.parse().map_err(|_| format!("`{text}` is not a count such as 1000000, 10M or 1B"))?;
    n.checked_mul(factor).filter(|n| *n > 0).ok_or_else(|| format!("`{text}` is out of range"))
}

/// `512M`, `2G`, `1048576`: a byte count with an optional K/M/G/T suffix (powers of 1024).
fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("unknown size suffix `{c}` (use K, M, G or T)")),
            };
            (&text[..i], shift)
        }
        _ => (text, 0),
    };
    let n: usize = digits.trim().parse().map_err(|_| format!("`{text}` is not a size such as 512M or 2G"))?;
    n.checked_mul(1usize << shift).filter(|n| *n > 0).ok_or_else(|| format!("`{text}` is out of range"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let data_dir = cli.data.clone().unwrap_or_else(session::default_data_dir);
    match cli.action {
        Some(Action::Ingest { files, table, kept }) => {
            report("vtsql ingest", ingest::command(&data_dir, &files, table.as_deref(), kept))
        }
        Some(Action::Fetch {
            ids,
            base_url,
            catalog,
            api,
            timeout,
            retries,
            force,
            search,
            list,
            regions,
            periods,
            topics,
        }) => {
            let api = fetch::kept::Api::parse(&api);
            let mut options = match (base_url, api) {
                (Some(base_url), Some(api)) => fetch::Options { base_url, ..fetch::Options::new(api) },
                (Some(_), None) => {
                    eprintln!("vtsql fetch: --base-url is the address of one API: give --api v4 or --api v3 with it");
                    return ExitCode::FAILURE;
                }
                (None, api) => match fetch::Options::for_catalog(api, &catalog) {
                    Ok(options) => options,
                    Err(e) => {
                        eprintln!("vtsql fetch: --catalog: {e}");
                        return ExitCode::FAILURE;
                    }
                },
            };
            options.set_requests(std::time::Duration::from_secs(timeout.max(1)), retries, force);
            if list || !search.is_empty() {
                return report("vtsql fetch", catalog_command(&data_dir, &options, &search));
            }
            let scope = match fetch::scope::Scope::new(&regions, periods.as_deref(), &topics) {
                Ok(scope) => scope,
                Err(e) => {
                    eprintln!("vtsql fetch: {e}");
                    return ExitCode::FAILURE;
                }
            };
            report("vtsql fetch", ingest::cbs::fetch_command(&data_dir, &ids, &scope, &options))
        }
        Some(Action::Generate { rows, regions, years, seed }) => {
            let shape = match regions {
                Some(regions) => generate::Shape::for_regions(regions, years, seed),
                None => generate::Shape::for_rows(rows.unwrap_or(1_000_000), years, seed),
            };
            report("vtsql generate", generate::command(&data_dir, &shape))
        }
        Some(Action::Cluster(role)) => block_on(cluster_process(role)),
        action => {
            if let Err(e) = ingest::build_if_missing(&data_dir, &mut |line| eprintln!("{line}")) {
                eprintln!("vtsql: cannot build the tables in {}: {e}", data_dir.display());
                return ExitCode::FAILURE;
            }
            let placement = match cli.cluster.as_deref().map(cluster::Scheduler::new).transpose() {
                Ok(None) => Placement::Local,
                Ok(Some(scheduler)) => Placement::Remote(Arc::new(scheduler)),
                Err(e) => {
                    eprintln!("vtsql: {e}");
                    return ExitCode::FAILURE;
                }
            };
            block_on(async move {
                let session = match Session::open(&data_dir, placement).await {
                    Ok(session) => session,
                    Err(e) => {
                        eprintln!("vtsql: cannot open {}: {e}", data_dir.display());
                        return ExitCode::FAILURE;
                    }
                };
                match action {
                    Some(Action::Serve(args)) => report("vtsql serve", flight::command(session, args.into()).await),
                    Some(Action::Bench { files, runs, plain, settings, setup }) => {
                        report("vtsql bench", bench::run(&session, files, runs, plain, &settings, &setup).await)
                    }
                    _ => {
                        let invocation = repl::Invocation {
                            commands: cli.commands,
                            files: cli.files,
                            format: cli.format,
                            timer: cli.timer,
                            null: cli.nullvalue,
                            max_rows: cli.maxrows,
                        };
                        report("Error", repl::main(session, invocation).await)
                    }
                }
            })
        }
    }
}

/// Runs `work` on a runtime of all cores.
fn block_on(work: impl Future<Output = ExitCode>) -> ExitCode {
    let runtime = match vtsql::session::runtime("vtsql-worker") {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vtsql: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(work);
    // A cancelled query may still occupy a worker; do not wait for it on the way out.
    runtime.shutdown_background();
    code
}

/// The exit code of a subcommand's result; an error is printed after `what`.
/// `vtsql fetch --list` / `--search WORDS`: the matching tables on stdout, what was searched on stderr; the
/// whole listing is stored as `cbs_catalog`.
fn catalog_command(
    data_dir: &std::path::Path,
    options: &fetch::Options,
    words: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    let (service, all) = fetch::catalog::listing(options)?;
    let found: Vec<_> = all.iter().filter(|e| fetch::catalog::matches(e, words)).cloned().collect();
    fetch::catalog::print(&found, &mut std::io::stdout().lock())?;
    let listed_by = format!("{} at {}", service.api.title(), service.base_url);
    eprintln!(
        "{} of the {} tables of the catalogue of {listed_by}{}",
        found.len(),
        all.len(),
        if words.is_empty() { String::new() } else { format!(" have {:?} in their id or title", words.join(" ")) }
    );
    eprintln!("{}", ingest::cbs::store_catalog(data_dir, &all, &listed_by, &mut |line| eprintln!("{line}"))?);
    Ok(())
}

fn report<E: std::fmt::Display>(what: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{what}: {e}");
            ExitCode::FAILURE
        }
    }
}

impl From<ServeArgs> for flight::ServeOptions {
    fn from(args: ServeArgs) -> Self {
        flight::ServeOptions {
            bind: args.bind,
            token: args.token,
            users: args.users,
            tls: args.tls_cert.zip(args.tls_key),
            limits: flight::Limits {
                memory_per_query: args.memory_limit,
                query_timeout: std::time::Duration::from_secs(args.query_timeout.max(1)),
                max_concurrent: args.max_concurrent.max(1),
                queue_timeout: std::time::Duration::from_secs(args.queue_timeout),
            },
        }
    }
}

impl From<ExecutorArgs> for cluster::ExecutorOptions {
    fn from(args: ExecutorArgs) -> Self {
        cluster::ExecutorOptions {
            scheduler: args.scheduler,
            host: args.host,
            port: args.port,
            grpc_port: args.grpc_port,
            concurrent_tasks: args.concurrent_tasks,
            work_dir: args.work_dir,
            memory_limit: args.memory_limit.map(|m| m as u64),
            heartbeat_seconds: args.heartbeat,
        }
    }
}

async fn cluster_process(role: ClusterRole) -> ExitCode {
    let result = match role {
        ClusterRole::Scheduler { bind, executor_timeout } => {
            cluster::scheduler_command(cluster::SchedulerOptions { bind, executor_timeout }).await
        }
        ClusterRole::Executor(args) => cluster::executor_command(args.into()).await,
    };
    report("vtsql cluster", result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_the_suffixes_a_benchmark_names() {
        assert_eq!(parse_count("1B"), Ok(1_000_000_000));
        assert_eq!(parse_count("1g"), Ok(1_000_000_000));
        assert_eq!(parse_count("10M"), Ok(10_000_000));
        assert_eq!(parse_count("250k"), Ok(250_000));
        assert_eq!(parse_count("1_000_000"), Ok(1_000_000));
        assert!(parse_count("0").is_err());
        assert!(parse_count("ten").unwrap_err().contains("1B"));
        assert!(parse_count("99999999999B").unwrap_err().contains("out of range"));
    }
}
