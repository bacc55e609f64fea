//! Scale-out on Apache Ballista: `vtsql cluster scheduler`, `vtsql cluster executor`, and the client
//! session that `--cluster HOST:PORT` plans on.
//!
//! Ballista sends plans between processes by function *name*, so every process must know vtsql's
//! functions: the scheduler builds each session with them ([`session_state`]), every executor resolves
//! them from its registry ([`function_registry`]), and the client registers them after Ballista has
//! replaced its function lists. None of vtsql's functions carries state beyond its arguments (`ssum`'s
//! partial state is four sums that merge by addition), so they travel by name. Tables are Parquet files
//! under a data directory that every executor can read at the same path; in-memory tables (the result of
//! `halfyears(...)`, a dimension table a data directory lacks) travel inside the plan ([`PlanCodec`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::plan_rules;
use crate::session::{self, Remote};

mod codec;
pub use codec::PlanCodec;

/// Ballista's conventional scheduler port.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// Why a cluster process could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("`{0}` is not HOST:PORT of a Ballista scheduler")]
    Address(String),
    #[error("cannot reach the Ballista scheduler at {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("{0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
}

/// A session with every DataFusion and vtsql function, for the scheduler's planning.
pub fn session_state(config: SessionConfig) -> Result<SessionState> {
    let state = plan_rules::install_for_cluster(session::builder(config)?).build();
    let ctx = SessionContext::new_with_state(state);
    vtsql_udfs::register_all(&ctx)?;
    Ok(ctx.state())
}

/// The functions an executor resolves plans against: DataFusion's and vtsql's.
pub fn function_registry() -> Result<BallistaFunctionRegistry> {
    Ok(BallistaFunctionRegistry::from(&session_state(SessionConfig::new_with_ballista())?))
}

/// `HOST:PORT` (or `df://HOST:PORT`, or `HOST` for port 50050) as host and port.
pub fn parse_scheduler(text: &str) -> Result<(String, u16), ClusterError> {
    let bare = text.trim().trim_start_matches("df://").trim_start_matches("http://").trim_end_matches('/');
    let (host, port) = match bare.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().map_err(|_| ClusterError::Address(text.into()))?),
        None => (bare, DEFAULT_SCHEDULER_PORT),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port == 0 {
        return Err(ClusterError::Address(text.into()));
    }
    Ok((host.to_string(), port))
}

/// The cluster behind a Ballista scheduler, as a place a session's queries run (`--cluster HOST:PORT`).
#[derive(Debug, Clone)]
pub struct Scheduler {
    host: String,
    port: u16,
}

impl Scheduler {
    /// `HOST:PORT`, `df://HOST:PORT` or `HOST` (port 50050).
    pub fn new(address: &str) -> Result<Scheduler, ClusterError> {
        let (host, port) = parse_scheduler(address)?;
        Ok(Scheduler { host, port })
    }
}

#[async_trait::async_trait]
impl Remote for Scheduler {
    async fn context(&self) -> Result<SessionContext> {
        connect(&self.host, self.port).await.map_err(|e| DataFusionError::External(Box::new(e)))
    }
}

/// A client session whose queries Ballista plans and runs on the cluster behind `host:port`.
/// Tables are registered by the catalog as in-process; only `information_schema` queries run locally.
async fn connect(host: &str, port: u16) -> Result<SessionContext, ClusterError> {
    let addr = format!("{host}:{port}");
    // Ballista only dials at the first query; fail here with the address instead.
    tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr.as_str()))
        .await
        .map_err(|_| ClusterError::Unreachable { addr: addr.clone(), reason: "timed out after 5 s".into() })?
        .map_err(|e| ClusterError::Unreachable { addr: addr.clone(), reason: e.to_string() })?;

    // Ballista's adaptive planner (its default) plans with a fixed rule list of its own, which would drop
    // vtsql's window fix; the static planner uses the scheduler session's rules.
    let config = session::config()
        .upgrade_for_ballista()
        .with_ballista_adaptive_query_planner(false)
        .with_ballista_logical_extension_codec(Arc::new(PlanCodec::default()));
    let state = session::builder(config)?.build();
    let state = state.upgrade_for_ballista(format!("http://{host}:{port}"))?;
    let ctx = SessionContext::new_with_state(state);
    // upgrade_for_ballista replaced the function lists with Ballista's; add ours back.
    vtsql_udfs::register_all(&ctx)?;
    Ok(ctx)
}

/// Ballista logs through `log`: warnings by default, RUST_LOG=info (or debug) for more.
fn start_logging() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).try_init();
}

/// `vtsql cluster scheduler`: the first line on standard output is the address bound, so scripts and tests
/// can start on port 0.
pub async fn scheduler_command(options: SchedulerOptions) -> Result<(), ClusterError> {
    start_logging();
    run_scheduler(options, |addr| {
        println!("{addr}");
        eprintln!("vtsql cluster scheduler: listening on {addr}; Ctrl-C or SIGTERM stops");
    })
    .await
}

/// `vtsql cluster executor`: a line on standard output once the scheduler has accepted it.
pub async fn executor_command(options: ExecutorOptions) -> Result<(), ClusterError> {
    start_logging();
    let announce = format!(
        "executor {}:{} (tasks on {}:{}) joined {}",
        options.host, options.port, options.host, options.grpc_port, options.scheduler
    );
    run_executor(options, move || {
        println!("{announce}");
        eprintln!("vtsql cluster {announce}; Ctrl-C or SIGTERM leaves the cluster");
    })
    .await
}

/// `vtsql cluster scheduler`.
pub struct SchedulerOptions {
    pub bind: SocketAddr,
    /// Seconds without a heartbeat before an executor counts as lost and its tasks are rerun.
    pub executor_timeout: u64,
}

/// Runs a Ballista scheduler with vtsql's functions until the process is stopped. `announce` is told the
/// address actually bound (port 0 picks one).
pub async fn run_scheduler(options: SchedulerOptions, announce: impl FnOnce(SocketAddr)) -> Result<(), ClusterError> {
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(|source| ClusterError::Bind { addr: options.bind, source })?;
    let addr = listener.local_addr().map_err(|source| ClusterError::Bind { addr: options.bind, source })?;
    let timeout = options.executor_timeout.max(2);
    let config = SchedulerConfig {
        bind_host: addr.ip().to_string(),
        external_host: addr.ip().to_string(),
        bind_port: addr.port(),
        executor_timeout_seconds: timeout,
        expire_dead_executor_interval_seconds: (timeout / 4).max(1),
        no_executors_grace_period_seconds: timeout,
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        override_session_builder: Some(Arc::new(session_state)),
        override_logical_codec: Some(Arc::new(PlanCodec::default())),
        ..SchedulerConfig::default()
    };
    config.validate()?;
    let cluster = BallistaCluster::new_from_config(&config).await?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config)).await?;
    announce(addr);
    tokio::select! {
        served = start_grpc_service_with_listener(listener, scheduler) => served?,
        _ = crate::shutdown_signal() => {}
    }
    Ok(())
}

/// `vtsql cluster executor`.
pub struct ExecutorOptions {
    pub scheduler: String,
    /// Address the executor listens on and advertises.
    pub host: String,
    /// Arrow Flight port (shuffle and result fetches).
    pub port: u16,
    /// gRPC port the scheduler pushes tasks to.
    pub grpc_port: u16,
    /// Tasks run at once [default: the cores].
    pub concurrent_tasks: Option<usize>,
    /// Shuffle files go here [default: a temporary directory].
    pub work_dir: Option<PathBuf>,
    /// Memory for all running tasks together, in bytes.
    pub memory_limit: Option<u64>,
    pub heartbeat_seconds: u64,
}

/// Runs a Ballista executor with vtsql's functions until SIGTERM or Ctrl-C (Ballista handles both and tells
/// the scheduler). `announce` is called once the scheduler has accepted the executor.
pub async fn run_executor(
    options: ExecutorOptions,
    announce: impl FnOnce() + Send + 'static,
) -> Result<(), ClusterError> {
    let (scheduler_host, scheduler_port) = parse_scheduler(&options.scheduler)?;
    let config = ExecutorProcessConfig {
        bind_host: options.host.clone(),
        external_host: Some(options.host.clone()),
        port: options.port,
        grpc_port: options.grpc_port,
        scheduler_host,
        scheduler_port,
        scheduler_connect_timeout_seconds: 10,
        vcores: options.concurrent_tasks.unwrap_or(0),
        work_dir: options.work_dir.as_ref().map(|d| d.to_string_lossy().into_owned()),
        memory_pool_size: options.memory_limit,
        executor_heartbeat_interval_seconds: options.heartbeat_seconds.max(1),
        override_function_registry: Some(Arc::new(function_registry()?)),
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        ..ExecutorProcessConfig::default()
    };
    let health = config.health.clone();
    let watcher = tokio::spawn(async move {
        while !health.is_ready() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        announce();
    });
    let result = start_executor_process(Arc::new(config)).await;
    watcher.abort();
    Ok(result?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_addresses() {
        assert_eq!(parse_scheduler("localhost:50050").unwrap(), ("localhost".into(), 50050));
        assert_eq!(parse_scheduler("df://10.0.0.5:6000").unwrap(), ("10.0.0.5".into(), 6000));
        assert_eq!(parse_scheduler("sched").unwrap(), ("sched".into(), DEFAULT_SCHEDULER_PORT));
        assert_eq!(parse_scheduler("[::1]:7000").unwrap(), ("::1".into(), 7000));
        assert!(matches!(parse_scheduler("host:port"), Err(ClusterError::Address(_))));
        assert!(matches!(parse_scheduler(":50050"), Err(ClusterError::Address(_))));
    }

    #[test]
    fn window_sorts_by_a_partition_column_made_constant() {
        use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        use datafusion::catalog::MemTable;
        let schema = Arc::new(Schema::new(vec![
            Field::new("region_code", DataType::Utf8, false),
            Field::new("category", DataType::Utf8, false),
            Field::new("period", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec!["GM1", "GM1", "GM2"])),
                Arc::new(StringArray::from(vec!["Totaal", "Totaal", "Totaal"])),
                Arc::new(StringArray::from(vec!["2020H1", "2020H2", "2020H1"])),
                Arc::new(Int64Array::from(vec![Some(10), None, Some(15)])),
            ],
        )
        .unwrap();
        let config = SessionConfig::new().with_target_partitions(2);
        let ctx = SessionContext::new_with_state(session_state(config).unwrap());
        ctx.register_table("t", Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let plan = rt.block_on(async {
            let df = ctx
                .sql(
                    "SELECT region_code, period, sum(n) OVER (PARTITION BY region_code, category ORDER BY period \
                     ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t WHERE category = 'Totaal'",
                )
                .await
                .unwrap();
            df.create_physical_plan().await.unwrap()
        });
        let text = datafusion::physical_plan::displayable(plan.as_ref()).indent(false).to_string();
        let sort = text.lines().find(|l| l.trim_start().starts_with("SortExec")).unwrap_or_default();
        assert!(sort.contains("region_code") && sort.contains("category") && sort.contains("period"), "{text}");
    }

    #[test]
    fn every_process_knows_the_vtsql_functions() {
        let registry = function_registry().unwrap();
        for name in ["per_100k", "per_capita", "hy_add", "hy_diff", "hy_label", "halfyear"] {
            assert!(registry.scalar_functions.contains_key(name), "{name} missing");
        }
        assert!(registry.aggregate_functions.contains_key("ssum"));
        assert!(registry.aggregate_functions.contains_key("sum"), "DataFusion's own functions stay");
        let state = session_state(SessionConfig::new()).unwrap();
        assert!(state.aggregate_functions().contains_key("ssum"));
    }
}
