//! A data directory as a query session, and the one way every face runs SQL.
//!
//! [`Session::open`] makes a DataFusion context with vtsql's functions and plan rules (or a client of a
//! cluster, through [`Remote`]) and registers the data directory's tables ([`crate::catalog`]). The REPL,
//! `-c`/`-f`, `vtsql bench` and the Flight server all run statements through [`Session::execute`] (or
//! [`Session::start`] for one statement): it plans each statement in turn, refuses what
//! [`Options::read_only`] forbids, binds parameters, gives the statement a memory pool of its own where
//! asked, turns a panic into an error, and makes the tables again after a `SET` that changed how they
//! are read.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use futures::{FutureExt, Stream, StreamExt};

use vtsql_udfs::bounded::{Budget, PlanningStopped, StatementLimits, VtsqlOptions};

use crate::catalog;
use crate::ingest::generation::{self, Lease};
use crate::local_files::InlineLocalFiles;
use crate::plan_rules;

/// Where a session's queries run.
#[derive(Clone, Debug, Default)]
pub enum Placement {
    /// In this process.
    #[default]
    Local,
    /// Elsewhere: on an Apache Ballista cluster (`crate::cluster::Scheduler`).
    Remote(Arc<dyn Remote>),
}

/// A place queries can run other than this process. The cluster module implements it, so a session need
/// not know how a cluster is reached.
#[async_trait::async_trait]
pub trait Remote: std::fmt::Debug + Send + Sync {
    /// A context whose queries run there, with vtsql's functions registered and no tables yet.
    async fn context(&self) -> Result<SessionContext>;
}

/// The multi-threaded runtime every vtsql face runs its queries on, its threads named `name`.
///
/// Its workers keep no LIFO slot (tokio's `disable_lifo_slot`, an unstable option: `.cargo/config.toml`
/// sets `--cfg tokio_unstable`). tokio puts a task woken by a running task into that worker's LIFO slot,
/// which no other worker may take (tokio#4941), and a scan partition runs its whole input without yielding.
/// Where one partition built a hash join's table and woke the other, which was waiting for it, both then
/// ran on one core: a third of q03's processes over foreign files took 61 ms against 35 (benches/RESULTS.md,
/// round 15).
pub fn runtime(name: &str) -> std::io::Result<tokio::runtime::Runtime> {
    runtime_builder(name).build()
}

/// The builder of [`runtime`], for a runtime that differs only in its size (the tests' two workers).
pub fn runtime_builder(name: &str) -> tokio::runtime::Builder {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name(name);
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    builder
}

/// The session configuration every vtsql face shares.
pub fn config() -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema("vtsql", "public")
        .with_option_extension(VtsqlOptions::default());
    // vtsql writes no bloom filters (see `ingest::store::writer_properties`), yet DataFusion would
    // evaluate each query's predicate against them in every row group of every file it opens.
    config.options_mut().execution.parquet.bloom_filter_on_read = false;
    config.options_mut().execution.parquet.metadata_size_hint = Some(METADATA_SIZE_HINT);
    config
}

/// Bytes a scan reads from the end of a Parquet file to find its footer. DataFusion reads 512 KiB, to save
/// a remote store's second round trip; vtsql reads local files, where each read of 512 KiB is a copy into
/// fresh memory: a process's first query over 100M generated rows (80 files) took 40 ms, 30 with 16 KiB.
/// A footer beyond it costs one more read. vtsql's own footers are 2–100 KiB (a billion rows); someone
/// else's with hundreds of row groups can be more.
pub const METADATA_SIZE_HINT: usize = 16 << 10;

/// Bytes of Parquet footers and page indexes a session keeps between queries (DataFusion's default is 50 MB).
/// vtsql's files carry a page index of their sort columns, about 9 MB per 50 million rows: past about 300
/// million rows the default held too few files' metadata, and every query read footers and page indexes
/// again (a billion rows: a VT-regio × half-year sum took 183 ms instead of 48). `SET
/// datafusion.runtime.metadata_cache_limit` changes it for a session.
pub const METADATA_CACHE_LIMIT: usize = 512 << 20;

/// Where every vtsql session (local, a cluster's client and its scheduler) starts: DataFusion's default
/// features, `config`, and a runtime without DataFusion's cache of directory listings whose local files are
/// read through [`InlineLocalFiles`]. DataFusion would keep any listing for ever, so a server or REPL left
/// open would not see files added to someone else's directory; [`InlineLocalFiles`] keeps the listings of a
/// data directory's generations only, which never change once read.
pub fn builder(config: SessionConfig) -> Result<SessionStateBuilder> {
    let caches =
        CacheManagerConfig::default().with_list_files_cache_limit(0).with_metadata_cache_limit(METADATA_CACHE_LIMIT);
    let runtime = RuntimeEnvBuilder::new().with_cache_manager(caches).build_arc()?;
    runtime.register_object_store(ObjectStoreUrl::local_filesystem().as_ref(), Arc::new(InlineLocalFiles::new()));
    Ok(SessionStateBuilder::new()
        .with_default_features()
        .with_table_factory("PARQUET".into(), Arc::new(crate::catalog::external::ForeignParquet::default()))
        .with_config(config)
        .with_runtime_env(runtime))
}

/// An in-process context with vtsql's functions and plan rules, without tables.
pub fn local_context(config: SessionConfig) -> Result<SessionContext> {
    local_context_with(config, true)
}

/// An in-process context with vtsql's functions, and its plan rules where `rules` says.
fn local_context_with(config: SessionConfig, rules: bool) -> Result<SessionContext> {
    let builder = builder(config)?;
    let state = plan_rules::deadline::watch(if rules { plan_rules::install(builder) } else { builder }.build());
    let ctx = SessionContext::new_with_state(state);
    vtsql_udfs::register_all(&ctx)?;
    Ok(ctx)
}

/// The data directory to use when none is given: `$VTSQL_DATA`, else `./data`. Never a path fixed at build
/// time: an installed binary must not read or write the checkout it was built in.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("VTSQL_DATA").filter(|d| !d.is_empty()).map_or_else(|| PathBuf::from("data"), PathBuf::from)
}

/// How one statement may run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only queries: DDL, DML, `COPY`, `SET` and other statements are refused before anything runs.
    pub read_only: bool,
    /// Values for the statement's `$1`, `$2`, ... (`?` is numbered in order).
    pub params: Vec<ScalarValue>,
    /// Memory the statement's operators may reserve, in a pool of its own, and the most bytes one call of a
    /// function that makes text or lists may produce (`vtsql_udfs::bounded`); `None`: the session's pool,
    /// and the session's bound.
    pub memory_limit: Option<usize>,
    /// How long the statement may take, planning included: planning stops at its next step once it is past
    /// (`vtsql_udfs::bounded::Budget`), and a stream the caller keeps reading is the caller's to end.
    pub timeout: Option<std::time::Duration>,
}

/// A statement [`Options::read_only`] refused; the reason says what it was.
#[derive(Debug, thiserror::Error)]
#[error("only queries (SELECT, WITH, VALUES, EXPLAIN, SHOW, DESCRIBE) are allowed; {0}")]
pub struct ReadOnly(String);

/// A data directory's tables with every vtsql function, where [`Placement`] says.
pub struct Session {
    ctx: SessionContext,
    data_dir: PathBuf,
    placement: Placement,
    /// The generation of the tables the context reads (`ingest::generation`): a statement plans while holding it
    /// for reading, and a commit seen between statements replaces it (and the tables) under the write lock, so
    /// that no statement reads two generations.
    generation: tokio::sync::RwLock<Arc<Lease>>,
}

/// A planned statement, ready to run: [`Running::stream`] starts it.
pub struct Running {
    /// The result's schema as planned (what a client is told and receives).
    pub schema: SchemaRef,
    pub plan: Arc<dyn ExecutionPlan>,
    task_ctx: Arc<TaskContext>,
    /// The generation of the tables it reads, kept from removal while it runs.
    generation: Arc<Lease>,
    /// When planning began.
    pub started: Instant,
    /// How long parsing, optimising and physical planning took.
    pub planning: Duration,
}

/// The shape of a statement before values are bound: its result and its parameters (`$1`, `$2`, ...).
pub struct Described {
    pub schema: SchemaRef,
    /// One type per parameter, `None` where DataFusion cannot infer it.
    pub parameters: Vec<Option<DataType>>,
}

impl Session {
    /// Opens `data_dir` (which must exist) with its tables and every vtsql function.
    pub async fn open(data_dir: &Path, placement: Placement) -> Result<Session> {
        if !data_dir.is_dir() {
            return Err(DataFusionError::Plan(format!(
                "no data directory {}: name one with --data DIR or $VTSQL_DATA (the default is ./data); \
                 `vtsql --data DIR fetch` or `vtsql --data DIR ingest FILE...` makes one",
                data_dir.display()
            )));
        }
        // What a dead writer left (staged runs, generations never made current) goes, if no writer is busy.
        if let Err(e) = crate::ingest::store::Store::recover_if_idle(data_dir) {
            eprintln!("vtsql: {e}");
        }
        let ctx = match &placement {
            Placement::Local => local_context(config())?,
            Placement::Remote(remote) => {
                let ctx = remote.context().await?;
                // its plans travel to the cluster, which knows DataFusion's Parquet format only
                ctx.state_ref().write().config_mut().set_extension(Arc::new(catalog::footers::SerialisedPlans));
                ctx
            }
        };
        Session::with_tables(ctx, data_dir, placement).await
    }

    /// Opens `data_dir` in this process with DataFusion's plan rules only: the reference that vtsql's rules
    /// are checked against, answer for answer.
    pub async fn open_without_plan_rules(data_dir: &Path) -> Result<Session> {
        Session::with_tables(local_context_with(config(), false)?, data_dir, Placement::Local).await
    }

    /// `ctx` with the tables of `data_dir`'s current generation.
    async fn with_tables(ctx: SessionContext, data_dir: &Path, placement: Placement) -> Result<Session> {
        let lease = generation::lease(data_dir).map_err(|e| DataFusionError::External(Box::new(e)))?;
        catalog::register_tables(&ctx, lease.root()).await?;
        let generation = tokio::sync::RwLock::new(Arc::new(lease));
        Ok(Session { ctx, data_dir: data_dir.to_path_buf(), placement, generation })
    }

    /// The generation a statement plans on, held for reading while it plans: the current one, taken (its tables
    /// registered again) when a writer has committed since the last statement.
    async fn generation(&self) -> Result<tokio::sync::RwLockReadGuard<'_, Arc<Lease>>> {
        let current = || generation::current_name(&self.data_dir).ok().flatten();
        {
            let held = self.generation.read().await;
            if held.name() == current().as_deref() {
                return Ok(held);
            }
        }
        {
            let mut held = self.generation.write().await;
            if held.name() != current().as_deref() {
                let lease = generation::lease(&self.data_dir).map_err(|e| DataFusionError::External(Box::new(e)))?;
                catalog::register_tables(&self.ctx, lease.root()).await?;
                *held = Arc::new(lease);
            }
        }
        Ok(self.generation.read().await)
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Every statement of `sql`, each planned only once the one before has run: [`Execution::next`].
    pub fn execute(&self, sql: &str, options: &Options) -> Result<Execution<'_>> {
        Ok(Execution { session: self, statements: parse(sql)?.into(), options: options.clone() })
    }

    /// Plans the one statement of `sql`; more or fewer than one is an error.
    pub async fn start(&self, sql: &str, options: &Options) -> Result<Running> {
        let statement = single(sql)?;
        self.plan(statement, options).await
    }

    /// The result schema and parameter types of the one statement of `sql`, before values are bound.
    pub async fn describe(&self, sql: &str, options: &Options) -> Result<Described> {
        let statement = single(sql)?;
        let _generation = self.generation().await?;
        let (ctx, budget) = self.context_for(options, Instant::now());
        let plan = caught(self.logical_plan(&ctx, statement, options)).await?;
        if let Some(budget) = budget {
            budget.end_planning()?;
        }
        Ok(Described { schema: Arc::clone(plan.schema().inner()), parameters: parameter_types(&plan)? })
    }

    /// The context one statement is planned and run in: the session's own, or, when the statement has a
    /// memory limit or a timeout, one with a memory pool of its own and a [`Budget`] that planning answers
    /// to (constant folding counts its values in the pool; every rule and function call checks the deadline).
    fn context_for(&self, options: &Options, started: Instant) -> (SessionContext, Option<Arc<Budget>>) {
        if options.memory_limit.is_none() && options.timeout.is_none() {
            return (self.ctx.clone(), None);
        }
        let state = self.ctx.state();
        let mut runtime = RuntimeEnv::clone(state.runtime_env());
        let mut bounds = None;
        if let Some(limit) = options.memory_limit {
            // Fair, not greedy: operators that spill (final aggregates, sorts, joins) each get their share of
            // what the others leave, and spill when it is used up; under a greedy pool the first took it all and
            // the next could not even get the room to spill ("Resources exhausted" at a limit the query fits in).
            let pool = TrackConsumersPool::new(FairSpillPool::new(limit), std::num::NonZeroUsize::new(3).expect("3"));
            runtime.memory_pool = Arc::new(pool);
            let mut options = VtsqlOptions::default();
            options.max_result_bytes = limit;
            bounds = Some(options);
        }
        let budget = Budget::new(options.memory_limit.map(|_| &runtime.memory_pool), started, options.timeout);
        let mut state = SessionStateBuilder::new_from_existing(state).with_runtime_env(Arc::new(runtime)).build();
        let extensions = &mut state.config_mut().options_mut().extensions;
        if let Some(bounds) = bounds {
            extensions.insert(bounds);
        }
        extensions.insert(StatementLimits { budget: Some(Arc::clone(&budget)) });
        (SessionContext::new_with_state(state), Some(budget))
    }

    async fn logical_plan(&self, ctx: &SessionContext, statement: Statement, options: &Options) -> Result<LogicalPlan> {
        let plan = ctx.state().statement_to_plan(statement).await?;
        if options.read_only {
            let only_queries =
                SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
            only_queries.verify_plan(&plan).map_err(|e| {
                let reason = e.strip_backtrace().trim_start_matches("Error during planning: ").to_string();
                DataFusionError::External(Box::new(ReadOnly(reason)))
            })?;
        }
        self.check_writes(ctx, &plan).await?;
        Ok(plan)
    }

    /// Refuses a statement that would write into the data directory (`INSERT INTO` one of its tables, `COPY ...
    /// TO` a path inside it): its tables change only through ingest, which takes the directory's lock, checks
    /// what it writes and commits it whole. A table of the session's own (`CREATE TABLE`) or a file elsewhere
    /// may be written.
    async fn check_writes(&self, ctx: &SessionContext, plan: &LogicalPlan) -> Result<()> {
        let refuse = |what: String| {
            Err(DataFusionError::Plan(format!(
                "{what} would write into the data directory {}, whose tables change only through `vtsql ingest` \
                 and `vtsql fetch`",
                self.data_dir.display()
            )))
        };
        match plan {
            LogicalPlan::Dml(dml) => {
                let provider = ctx.table_provider(dml.table_name.clone()).await?;
                if let Some(listing) = provider.downcast_ref::<datafusion::datasource::listing::ListingTable>()
                    && listing.table_paths().iter().any(|url| {
                        let path = url.as_str().strip_prefix("file://").unwrap_or(url.as_str());
                        self.inside_data_dir(&percent_decoded(path))
                    })
                {
                    return refuse(format!("{} into {}", dml.op, dml.table_name));
                }
            }
            LogicalPlan::Copy(copy) => {
                let target = copy.output_url.strip_prefix("file://").unwrap_or(&copy.output_url);
                if !target.contains("://") && self.inside_data_dir(target) {
                    return refuse(format!("COPY TO {:?}", copy.output_url));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether `path` (absolute, or relative to the working directory; `..` followed lexically, symbolic links
    /// of the part that exists resolved) lies inside the data directory.
    fn inside_data_dir(&self, path: &str) -> bool {
        let Ok(data) = std::fs::canonicalize(&self.data_dir) else { return false };
        let Ok(absolute) =
            std::path::absolute(Path::new(if path.starts_with('/') { path } else { path.trim_start_matches("./") }))
        else {
            return true;
        };
        let mut normal = PathBuf::new();
        for part in absolute.components() {
            match part {
                std::path::Component::ParentDir => {
                    normal.pop();
                }
                std::path::Component::CurDir => {}
                other => normal.push(other),
            }
        }
        // the longest part that exists, with its links resolved, and the rest as written
        let mut existing = normal.clone();
        let mut rest = Vec::new();
        while !existing.exists() {
            match existing.file_name() {
                Some(name) => rest.push(name.to_os_string()),
                None => break,
            }
            existing.pop();
        }
        let mut resolved = std::fs::canonicalize(&existing).unwrap_or(existing);
        resolved.extend(rest.iter().rev());
        resolved.starts_with(&data)
    }

    async fn plan(&self, statement: Statement, options: &Options) -> Result<Running> {
        let started = Instant::now();
        let held = self.generation().await?;
        let generation = Arc::clone(&held);
        let (ctx, budget) = self.context_for(options, started);
        let parquet_before = ctx.copied_config().options().execution.parquet.clone();
        let (schema, plan, task_ctx) = caught(async {
            let mut plan = self.logical_plan(&ctx, statement, options).await?;
            let types = parameter_types(&plan)?;
            if types.len() != options.params.len() {
                return Err(DataFusionError::Plan(format!(
                    "the statement has {} parameter(s) but {} value(s) were bound",
                    types.len(),
                    options.params.len()
                )));
            }
            if !types.is_empty() {
                plan = plan.with_param_values(ParamValues::from(bind(&options.params, &types)?))?;
            }
            let frame = ctx.execute_logical_plan(plan).await?;
            let schema = Arc::clone(frame.schema().inner());
            let task_ctx = Arc::new(frame.task_ctx());
            let plan = frame.create_physical_plan().await?;
            if let Some(budget) = &budget {
                budget.end_planning()?;
            }
            Ok((schema, plan, task_ctx))
        })
        .await?;
        // DataFusion copies the Parquet settings into a table when it is made: after a `SET` (or `RESET`)
        // of one, the tables are made again so that the next statement reads with it.
        if self.ctx.copied_config().options().execution.parquet != parquet_before {
            catalog::register_tables(&self.ctx, generation.root()).await?;
        }
        drop(held);
        Ok(Running { schema, plan, task_ctx, generation, started, planning: started.elapsed() })
    }
}

/// The statements of one text, planned and started one at a time.
pub struct Execution<'s> {
    session: &'s Session,
    statements: VecDeque<Statement>,
    options: Options,
}

impl Execution<'_> {
    /// Plans the next statement, once the caller is done with the one before (a statement may depend on
    /// what the one before did: `SET`, `CREATE VIEW`). `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Running>> {
        let Some(statement) = self.statements.pop_front() else {
            return Ok(None);
        };
        self.session.plan(statement, &self.options).await.map(Some)
    }
}

impl Running {
    /// Starts the statement: its batches as they are computed. A panic inside it ends the stream with
    /// an error instead of ending it early as if the result were complete.
    pub fn stream(&self) -> Result<SendableRecordBatchStream> {
        let plan = Arc::clone(&self.plan);
        let task_ctx = Arc::clone(&self.task_ctx);
        let inner = std::panic::catch_unwind(AssertUnwindSafe(|| execute_stream(plan, task_ctx)))
            .map_err(|panic| panicked(panic.as_ref()))??;
        Ok(Box::pin(Caught { schema: inner.schema(), inner: Some(inner), _generation: Arc::clone(&self.generation) }))
    }

    /// Runs the statement to the end and keeps every batch.
    pub async fn collect(&self) -> Result<Vec<RecordBatch>> {
        self.stream()?.collect::<Vec<_>>().await.into_iter().collect()
    }
}

/// The statements of `sql`, split by the SQL parser (so a `;` inside a string does not split), once
/// [`check_nesting`] has let them through.
pub fn parse(sql: &str) -> Result<Vec<Statement>> {
    check_nesting(sql)?;
    Ok(DFParser::parse_sql_with_dialect(sql, &GenericDialect {})?.into_iter().collect())
}

/// How deeply a statement may nest expressions. Parsing a chain of operators (`1+1+...+1`) takes a loop,
/// but planning, evaluating and even dropping the expression it makes recurse once per operator, and a
/// thread's stack ends somewhere: a statement nested deeper is refused before it is parsed.
pub const MAX_NESTING: usize = 1000;

/// How large a statement may be in its parts, each of which the planner handles with recursion or in time
/// and memory that grow faster than their number: set operations (`UNION`, `INTERSECT`, `EXCEPT`; a chain of
/// 5,000 overflowed a thread's stack, 4,000 took 19 s), `SELECT`s (subqueries and common table expressions),
/// joins (DataFusion's cross-join elimination takes time that grows with the cube of their number and with
/// the columns joined, inside one rule call the deadline cannot interrupt: 100 joins of 100-column tables took
/// 7 s to plan, 200 of `veilig_thuis` 12 s, 500 of `regions` more than two minutes), and items in one
/// `SELECT`, `GROUP BY`, `ORDER BY` or `PARTITION BY` list (20,000 grouping expressions took 12 GB to plan).
/// An analyst's statement stays far below each.
pub const MAX_SET_OPERATIONS: usize = 500;
pub const MAX_SELECTS: usize = 1000;
pub const MAX_JOINS: usize = 50;
pub const MAX_LIST_ITEMS: usize = 2000;

/// Refuses `sql` when its operators may nest expressions deeper than [`MAX_NESTING`], or it has more set
/// operations, `SELECT`s, joins or list items than the bounds above. The estimates come from the tokens (the
/// tokenizer keeps no stack): for nesting, the operators of each parenthesised level since the last comma or
/// clause, summed over the open levels, which is never below the real depth.
pub fn check_nesting(sql: &str) -> Result<()> {
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize()
        .map_err(|e| DataFusionError::SQL(Box::new(e.into()), None))?;
    // per open parenthesis: operators since the last clause or comma, the clause it is in, items in its list
    struct Level {
        operators: usize,
        clause: Option<Keyword>,
        items: usize,
    }
    let mut levels = vec![Level { operators: 0, clause: None, items: 0 }];
    let (mut deepest, mut set_operations, mut selects, mut joins, mut longest_list) = (0, 0, 0, 0, 0);
    for token in &tokens {
        let level = levels.last_mut().expect("one level at least");
        let operator = match token {
            Token::Word(word) => match word.keyword {
                Keyword::AND | Keyword::OR | Keyword::NOT | Keyword::IS | Keyword::LIKE | Keyword::ILIKE => true,
                Keyword::UNION | Keyword::INTERSECT | Keyword::EXCEPT | Keyword::MINUS => {
                    set_operations += 1;
                    level.operators = 0;
                    level.clause = None;
                    false
                }
                Keyword::JOIN => {
                    joins += 1;
                    false
                }
                keyword @ (Keyword::SELECT
                | Keyword::FROM
                | Keyword::WHERE
                | Keyword::GROUP
                | Keyword::HAVING
                | Keyword::ORDER
                | Keyword::PARTITION
                | Keyword::LIMIT
                | Keyword::WHEN
                | Keyword::THEN
                | Keyword::ELSE
                | Keyword::END
                | Keyword::ON) => {
                    selects += usize::from(keyword == Keyword::SELECT);
                    level.operators = 0;
                    if !matches!(keyword, Keyword::WHEN | Keyword::THEN | Keyword::ELSE | Keyword::END | Keyword::ON) {
                        level.clause = Some(keyword);
                        level.items = 1;
                    }
                    false
                }
                _ => false,
            },
            Token::Comma | Token::SemiColon => {
                level.operators = 0;
                match level.clause {
                    Some(Keyword::FROM) => joins += 1,
                    Some(Keyword::SELECT | Keyword::GROUP | Keyword::ORDER | Keyword::PARTITION) => {
                        level.items += 1;
                        longest_list = longest_list.max(level.items);
                    }
                    _ => {}
                }
                false
            }
            Token::LParen => {
                levels.push(Level { operators: 0, clause: None, items: 0 });
                false
            }
            Token::RParen => {
                if levels.len() > 1 {
                    levels.pop();
                }
                false
            }
            Token::Eq
            | Token::DoubleEq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq
            | Token::Spaceship
            | Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::DuckIntDiv
            | Token::Mod
            | Token::StringConcat
            | Token::DoubleColon
            | Token::Ampersand
            | Token::Pipe
            | Token::Caret
            | Token::ShiftLeft
            | Token::ShiftRight
            | Token::Tilde
            | Token::ExclamationMark
            | Token::Arrow
            | Token::LongArrow
            | Token::LBracket
            | Token::CustomBinaryOperator(_) => true,
            _ => false,
        };
        if operator {
            levels.last_mut().expect("one level at least").operators += 1;
        }
        deepest = deepest.max(levels.iter().map(|l| l.operators).sum::<usize>() + levels.len() - 1);
    }
    if deepest > MAX_NESTING {
        return Err(DataFusionError::Plan(format!(
            "the statement nests expressions about {deepest} deep, and vtsql takes up to {MAX_NESTING} \
             (a long list of alternatives reads better as `IN (...)`)"
        )));
    }
    let too_many = |what: &str, n: usize, max: usize, hint: &str| {
        Err(DataFusionError::Plan(format!("the statement has {n} {what}, and vtsql takes up to {max}{hint}")))
    };
    if set_operations > MAX_SET_OPERATIONS {
        return too_many(
            "set operations (UNION, INTERSECT, EXCEPT)",
            set_operations,
            MAX_SET_OPERATIONS,
            " (rows of constants read better as one VALUES list)",
        );
    }
    if selects > MAX_SELECTS {
        return too_many("SELECTs (subqueries and common table expressions)", selects, MAX_SELECTS, "");
    }
    if joins > MAX_JOINS {
        return too_many("joins", joins, MAX_JOINS, "");
    }
    if longest_list > MAX_LIST_ITEMS {
        return too_many(
            "items in one SELECT, GROUP BY, ORDER BY or PARTITION BY list",
            longest_list,
            MAX_LIST_ITEMS,
            "",
        );
    }
    Ok(())
}

/// A URL path with its `%XX` escapes decoded (a table path with a space or `=` in it).
fn percent_decoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn single(sql: &str) -> Result<Statement> {
    let mut statements = parse(sql)?;
    match statements.len() {
        1 => Ok(statements.remove(0)),
        0 => Err(DataFusionError::Plan("no SQL statement was given".into())),
        n => Err(DataFusionError::Plan(format!("one statement at a time, please: this text holds {n}"))),
    }
}

/// Parameter types in `$1, $2, ...` order; `None` where DataFusion cannot infer one.
fn parameter_types(plan: &LogicalPlan) -> Result<Vec<Option<DataType>>> {
    let mut numbered = Vec::new();
    for (id, t) in plan.get_parameter_types()? {
        let n: usize = id
            .strip_prefix('$')
            .and_then(|n| n.parse().ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| DataFusionError::Plan(format!("parameter `{id}`: use `?` or `$1`, `$2`, ...")))?;
        numbered.push((n, t));
    }
    numbered.sort_by_key(|(n, _)| *n);
    if let Some((i, (n, _))) = numbered.iter().enumerate().find(|(i, (n, _))| *n != i + 1) {
        return Err(DataFusionError::Plan(format!("parameter ${} is missing (found ${n})", i + 1)));
    }
    Ok(numbered.into_iter().map(|(_, t)| t).collect())
}

/// The bound values cast to the types the statement wants where those are known.
fn bind(values: &[ScalarValue], types: &[Option<DataType>]) -> Result<Vec<ScalarValue>> {
    values
        .iter()
        .zip(types)
        .enumerate()
        .map(|(i, (value, wanted))| match wanted {
            Some(t) if value.data_type() != *t => value
                .cast_to(t)
                .map_err(|e| DataFusionError::Plan(format!("parameter {}: cannot use {value:?} as {t}: {e}", i + 1))),
            _ => Ok(value.clone()),
        })
        .collect()
}

/// The error a panic becomes: a bug of vtsql or DataFusion met on this input, never a result; or the limit a
/// function met while planning ([`PlanningStopped`], an unwind that is no panic).
fn panicked(panic: &(dyn Any + Send)) -> DataFusionError {
    if let Some(PlanningStopped(limit)) = panic.downcast_ref::<PlanningStopped>() {
        return DataFusionError::ResourcesExhausted(limit.clone());
    }
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("no message");
    DataFusionError::Internal(format!("the statement stopped on an internal error ({message}); please report it"))
}

/// Awaits `work`, turning a panic into an error.
async fn caught<T>(work: impl Future<Output = Result<T>>) -> Result<T> {
    AssertUnwindSafe(work).catch_unwind().await.unwrap_or_else(|panic| Err(panicked(panic.as_ref())))
}

/// A statement's batches, with a panic turned into a last error; the generation of the tables it reads is kept
/// until the stream is dropped.
struct Caught {
    schema: SchemaRef,
    inner: Option<SendableRecordBatchStream>,
    _generation: Arc<Lease>,
}

impl Stream for Caught {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll_next_unpin(cx))) {
            Ok(polled) => polled,
            Err(panic) => {
                self.inner = None;
                Poll::Ready(Some(Err(panicked(panic.as_ref()))))
            }
        }
    }
}

impl RecordBatchStream for Caught {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, Int64Array};
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::datasource::file_format::parquet::ParquetFormat;
    use datafusion::datasource::listing::ListingTable;
    use datafusion::physical_plan::metrics::MetricValue;

    /// The Parquet format a listing table reads with: vtsql's own tables wrap DataFusion's, external ones
    /// use it as it is.
    fn parquet_format(listing: &ListingTable) -> &ParquetFormat {
        let format = &listing.options().format;
        match format.downcast_ref::<crate::catalog::footers::FooterStatistics>() {
            Some(footers) => footers.parquet(),
            None => format.downcast_ref::<ParquetFormat>().expect("parquet"),
        }
    }

    /// A task woken by a running task is taken by another worker while the one that woke it keeps its own
    /// worker busy, as a scan partition does that built a hash join's table the other partition waits for.
    /// With tokio's LIFO slot the woken task would wait for the busy one to finish.
    #[test]
    fn a_woken_task_runs_beside_the_task_that_woke_it() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let runtime = runtime_builder("woken").worker_threads(2).build().unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        let busy_ran = Arc::clone(&ran);
        let kept_waiting = runtime.block_on(async move {
            let (waiting, waits) = tokio::sync::oneshot::channel::<()>();
            let (wake, woken) = tokio::sync::oneshot::channel::<()>();
            let waiter = tokio::spawn(async move {
                let _ = waiting.send(());
                let _ = woken.await;
                ran.store(true, Ordering::SeqCst);
            });
            waits.await.unwrap();
            // the waiter registered with `woken` in the poll that sent `waiting`; give that poll time to end
            tokio::time::sleep(Duration::from_millis(20)).await;
            let busy = tokio::spawn(async move {
                wake.send(()).unwrap();
                let started = Instant::now();
                // no await: this worker stays busy until the woken task ran elsewhere (or ten seconds)
                while !busy_ran.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(10) {
                    std::hint::spin_loop();
                }
                started.elapsed()
            });
            let kept = busy.await.unwrap();
            waiter.await.unwrap();
            kept
        });
        assert!(kept_waiting < Duration::from_secs(10), "the woken task waited for its waker's worker");
    }

    /// Footers are read from a file's last 16 KiB, not 512 ([`METADATA_SIZE_HINT`]), in the tables' options too.
    #[tokio::test]
    async fn footers_are_read_from_a_files_last_16_kib() {
        assert_eq!(config().options().execution.parquet.metadata_size_hint, Some(16 << 10));
        let dir = crate::generate::generated_dir(2, 1);
        let session = Session::open(dir.path(), Placement::Local).await.unwrap();
        let provider = session.context().table_provider("cbs_84851ned").await.unwrap();
        let listing = provider.downcast_ref::<ListingTable>().expect("a listing table");
        assert_eq!(parquet_format(listing).metadata_size_hint(), Some(METADATA_SIZE_HINT));
    }

    /// Footers and page indexes of a billion generated rows fit the session's metadata cache; `SET` changes it.
    #[tokio::test]
    async fn the_metadata_cache_holds_what_a_billion_rows_need() {
        let ctx = local_context(config()).unwrap();
        assert_eq!(ctx.runtime_env().cache_manager.get_metadata_cache_limit(), METADATA_CACHE_LIMIT);
        ctx.sql("SET datafusion.runtime.metadata_cache_limit = '1G'").await.unwrap().collect().await.unwrap();
        assert_eq!(ctx.runtime_env().cache_manager.get_metadata_cache_limit(), 1 << 30);
    }

    async fn single(session: &Session, sql: &str) -> i64 {
        let batches = session.start(sql, &Options::default()).await.unwrap().collect().await.unwrap();
        batches[0].column(0).as_primitive::<Int64Type>().value(0)
    }

    /// The declared keys reach the planner: a per-100,000 join to population groups the facts first.
    #[tokio::test]
    async fn joins_to_population_group_first() {
        let dir = crate::generate::generated_dir(2, 1);
        let session = Session::open(dir.path(), Placement::Local).await.unwrap();
        let sql = "SELECT v.region_code, v.year, sum(v.ontvangen_meldingen), max(p.population)
                   FROM veilig_thuis v JOIN population p ON p.region_code = v.region_code AND p.year = v.year
                   GROUP BY v.region_code, v.year";
        let plan = session.context().sql(sql).await.unwrap().into_optimized_plan().unwrap();
        // the first join from the top has an aggregate below it and none above
        let mut node = &plan;
        while !matches!(node, LogicalPlan::Join(_)) {
            assert!(!matches!(node, LogicalPlan::Aggregate(_)), "{}", plan.display_indent());
            node = node.inputs()[0];
        }
        let mut below = false;
        node.apply(|n| {
            below |= matches!(n, LogicalPlan::Aggregate(_));
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        assert!(below, "{}", plan.display_indent());
    }

    /// A session that stays open (the Flight server, the REPL) over a data directory from before generations
    /// (its tables at its top level, which an outside copy may change) sees half-years written after it
    /// opened, and a rewritten file is read as it is now. Inside a generation nothing changes once it is read
    /// (an ingest builds the next one), and the store keeps its listings (`local_files`).
    #[tokio::test]
    async fn sees_files_written_after_it_opened() {
        let dir = crate::generate::generated_dir(2, 1);
        // the tables moved to the top level, without the generation's link and readers' lock file
        let generation = generation::tables_dir(dir.path());
        for entry in std::fs::read_dir(&generation).unwrap() {
            let from = entry.unwrap().path();
            if from.file_name().is_some_and(|name| name != generation::READERS) {
                std::fs::rename(&from, dir.path().join(from.file_name().unwrap())).unwrap();
            }
        }
        std::fs::remove_file(dir.path().join(generation::CURRENT)).unwrap();
        std::fs::remove_dir_all(&generation).unwrap();
        assert_eq!(generation::tables_dir(dir.path()), dir.path());
        let session = Session::open(dir.path(), Placement::Local).await.unwrap();
        let count = "SELECT count(*) AS n FROM veilig_thuis";
        let before = single(&session, count).await;
        let facts = generation::tables_dir(dir.path()).join("cbs_84851ned");
        let year = std::fs::read_dir(&facts).unwrap().next().unwrap().unwrap().path();
        let copy = facts.join("year=2099");
        for entry in std::fs::read_dir(&year).unwrap() {
            let from = entry.unwrap().path();
            let to = copy.join(from.file_name().unwrap());
            std::fs::create_dir_all(&to).unwrap();
            for file in std::fs::read_dir(&from).unwrap() {
                let file = file.unwrap().path();
                std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
            }
        }
        let after = single(&session, count).await;
        assert_eq!(after, before * 2, "{before} rows in one year, then {after} with a copy of it");

        // The copied first half-year rewritten with the second one's rows.
        let file_of = |half: &Path| std::fs::read_dir(half).unwrap().next().unwrap().unwrap().path();
        let first = file_of(&copy.join("half=1"));
        let rewritten = first.with_extension("tmp");
        std::fs::copy(file_of(&copy.join("half=2")), &rewritten).unwrap();
        std::fs::rename(&rewritten, &first).unwrap();
        let sum = |half: &str| format!("SELECT sum(ontvangen_meldingen) FROM veilig_thuis WHERE year = 2099 {half}");
        let whole = single(&session, &sum("")).await;
        let second_half = single(&session, &sum("AND half = 2")).await;
        assert_eq!(whole, 2 * second_half);
    }

    /// Files vtsql did not write are read with filters pushed into the Parquet decoder unless the statement
    /// says otherwise; vtsql's own tables keep the session's setting (off); the answers are the same.
    #[tokio::test]
    async fn external_parquet_tables_decode_filters_first() {
        let dir = crate::generate::generated_dir(2, 1);
        let session = Session::open(dir.path(), Placement::Local).await.unwrap();
        let facts = crate::ingest::generation::tables_dir(dir.path()).join("cbs_84851ned");
        let pushdown = async |table: &str| {
            let provider = session.context().table_provider(table).await.unwrap();
            let listing = provider.downcast_ref::<ListingTable>().expect("a listing table");
            let format = parquet_format(listing);
            format.options().global.pushdown_filters
        };
        for (name, options, expected) in
            [("theirs", "", true), ("told", " OPTIONS ('format.pushdown_filters' 'false')", false)]
        {
            let create = format!(
                "CREATE EXTERNAL TABLE {name} STORED AS PARQUET LOCATION '{}/' PARTITIONED BY (year, half){options}",
                facts.display()
            );
            session.start(&create, &Options::default()).await.unwrap().collect().await.unwrap();
            assert_eq!(pushdown(name).await, expected, "{name}");
        }
        assert!(!pushdown("cbs_84851ned").await);
        let count = |table: &str| {
            format!(
                "SELECT count(*) FROM {table} WHERE kenmerken_adviezen_meldingen_diensten = 'Totaal' AND ontvangen_meldingen > 10"
            )
        };
        let ours = single(&session, &count("cbs_84851ned")).await;
        assert!(ours > 0);
        assert_eq!(single(&session, &count("theirs")).await, ours);
        assert_eq!(single(&session, &count("told")).await, ours);
    }

    /// Planning reads each file's statistics once per session, and a `SET` of a Parquet setting makes the
    /// tables again, with the same answers.
    #[tokio::test]
    async fn file_statistics_are_cached_and_parquet_settings_reach_the_tables() {
        let dir = crate::generate::generated_dir(2, 1);
        let session = Session::open(dir.path(), Placement::Local).await.unwrap();
        let cache = session.context().runtime_env().cache_manager.get_file_statistic_cache().expect("a cache");
        assert_eq!(cache.len(), 0);
        let count = "SELECT count(*) AS n FROM veilig_thuis WHERE region_level = 'gemeente'";
        let first = single(&session, count).await;
        let cached = cache.len();
        // Two half-year files of facts; the dimension tables are files of their own.
        assert!(cached >= 2, "{cached} files in the cache");
        single(&session, count).await;
        assert_eq!(cache.len(), cached);

        // vtsql's files have no bloom filters, so sessions skip checking them unless told otherwise.
        let bloom = async |session: &Session| {
            let mut settings = Vec::new();
            for table in ["cbs_84851ned", crate::schema::REGIONS.name] {
                let provider = session.context().table_provider(table).await.unwrap();
                let listing = provider.downcast_ref::<ListingTable>().expect("a listing table");
                let format = parquet_format(listing);
                settings.push(format.options().global.bloom_filter_on_read);
            }
            settings
        };
        assert_eq!(bloom(&session).await, [false, false]);
        let mut statements = session
            .execute("SET datafusion.execution.parquet.bloom_filter_on_read = true; SELECT 1", &Options::default())
            .unwrap();
        while let Some(running) = statements.next().await.unwrap() {
            running.collect().await.unwrap();
        }
        assert_eq!(bloom(&session).await, [true, true]);
        assert_eq!(single(&session, count).await, first);
        assert_eq!(cache.len(), cached);
    }

    /// Regression (second probe, item 2): a chain of 5,000 `UNION ALL`s overflowed the planning thread's stack;
    /// 5,000 common table expressions, 2,000 joins and 20,000 grouping expressions took gigabytes to plan. Each
    /// is refused before parsing, and a statement at every bound plans and runs.
    #[tokio::test]
    async fn statements_are_bounded_in_their_parts() {
        let dir = tempfile::tempdir().unwrap();
        let session = Session::open(dir.path(), Placement::Local).await.unwrap();
        let union = |n: usize, op: &str| vec!["SELECT 1 AS a"; n + 1].join(&format!(" {op} "));
        let ctes = |n: usize| {
            let list: Vec<String> = (0..n).map(|i| format!("c{i} AS (SELECT {i} AS x)")).collect();
            format!("WITH {} SELECT count(*) FROM c0", list.join(", "))
        };
        let joins = |n: usize| {
            let mut sql = "SELECT count(*) FROM (VALUES (1)) t0(x)".to_string();
            for i in 1..=n {
                sql.push_str(&format!(" JOIN (VALUES (1)) t{i}(x) ON t{i}.x = t0.x"));
            }
            sql
        };
        let comma_joins = |n: usize| {
            let tables: Vec<String> = (0..=n).map(|i| format!("(VALUES (1)) t{i}(x)")).collect();
            format!("SELECT count(*) FROM {}", tables.join(", "))
        };
        let group_by = |n: usize| {
            let list: Vec<String> = (0..n).map(|i| format!("x + {i}")).collect();
            format!("SELECT count(*) FROM (VALUES (1)) t(x) GROUP BY {}", list.join(", "))
        };
        for (sql, what) in [
            (union(5_000, "UNION ALL"), "set operations"),
            (union(MAX_SET_OPERATIONS + 1, "INTERSECT"), "set operations"),
            (ctes(5_000), "SELECTs"),
            (joins(2_000), "joins"),
            (comma_joins(MAX_JOINS + 1), "joins"),
            (group_by(20_000), "items in one"),
        ] {
            let error = session.start(&sql, &Options::default()).await.err().expect("refused");
            assert!(error.to_string().contains(what), "{error}");
        }
        for sql in [union(MAX_SET_OPERATIONS, "UNION ALL"), group_by(MAX_LIST_ITEMS), joins(MAX_JOINS)] {
            let running = session.start(&sql, &Options::default()).await.unwrap();
            assert!(!running.collect().await.unwrap().is_empty());
        }
        // an IN list is no list of items: thousands of values stay fine
        let values: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
        let sql = format!("SELECT count(*) FROM (VALUES (1)) t(x) WHERE x IN ({})", values.join(", "));
        session.start(&sql, &Options::default()).await.unwrap().collect().await.unwrap();
    }

    /// Regression (second probe, item 10): `INSERT INTO` a table of the data directory added a file to a
    /// partition, `COPY ... TO` a table's file overwrote it, past the ingest lock and its checks.
    #[tokio::test]
    async fn writes_into_the_data_directory_are_refused() {
        let dir = crate::generate::generated_dir(2, 1);
        let session = Session::open(dir.path(), Placement::Local).await.unwrap();
        let data = dir.path().display().to_string();
        let tables = generation::tables_dir(dir.path()).display().to_string();
        let elsewhere = tempfile::tempdir().unwrap();
        for sql in [
            "INSERT INTO cbs_84851ned SELECT * FROM cbs_84851ned LIMIT 1".to_string(),
            format!("COPY regions TO '{data}/regions.parquet'"),
            format!("COPY regions TO '{tables}/regions.parquet'"),
            format!("COPY (SELECT 1 AS x) TO '{tables}/cbs_84851ned/year=2025/half=1/extra.parquet'"),
            format!(
                "COPY (SELECT 1 AS x) TO '{}/../{}/x.parquet'",
                data,
                dir.path().file_name().unwrap().to_string_lossy()
            ),
            format!(
                "CREATE EXTERNAL TABLE mine STORED AS PARQUET LOCATION '{tables}/cbs_84851ned/'; INSERT INTO mine SELECT * FROM cbs_84851ned LIMIT 1"
            ),
        ] {
            let mut statements = session.execute(&sql, &Options::default()).unwrap();
            let mut refused = None;
            loop {
                match statements.next().await {
                    Ok(Some(running)) => {
                        running.collect().await.unwrap();
                    }
                    Ok(None) => break,
                    Err(e) => {
                        refused = Some(e.to_string());
                        break;
                    }
                }
            }
            let refused = refused.unwrap_or_else(|| panic!("{sql} was taken"));
            assert!(refused.contains("change only through `vtsql ingest`"), "{refused}");
        }
        assert_eq!(single(&session, "SELECT count(*) AS n FROM cbs_84851ned").await, 2 * 52 * 30);
        // a table of the session's own, and a file elsewhere, may be written
        let own = format!(
            "CREATE TABLE t (x INT); INSERT INTO t VALUES (1); COPY t TO '{}/t.parquet'",
            elsewhere.path().display()
        );
        let mut statements = session.execute(&own, &Options::default()).unwrap();
        while let Some(running) = statements.next().await.unwrap() {
            running.collect().await.unwrap();
        }
        assert!(elsewhere.path().join("t.parquet").exists());
    }

    /// Regression (hardening probe, item 1): `1+1+...+1` with thousands of terms overflowed a thread's stack.
    #[tokio::test]
    async fn deep_expressions_are_an_error_and_the_limit_itself_runs() {
        let dir = tempfile::tempdir().unwrap();
        let session = Session::open(dir.path(), Placement::Local).await.unwrap();
        let sum = |terms: usize| format!("SELECT {}", vec!["1"; terms].join("+"));
        for terms in [2_000, 10_000, 200_000] {
            let error = session.start(&sum(terms), &Options::default()).await.err().expect("refused");
            assert!(error.to_string().contains("nests expressions"), "{error}");
        }
        let nested = format!("SELECT {}1{}", "(".repeat(5_000), ")".repeat(5_000));
        assert!(session.start(&nested, &Options::default()).await.is_err());
        // at the limit, on a runtime worker's stack, it plans and runs
        let at_limit = sum(MAX_NESTING);
        let answer = tokio::spawn(async move {
            let batches = session.start(&at_limit, &Options::default()).await?.collect().await?;
            Ok::<_, DataFusionError>(batches[0].column(0).as_primitive::<Int64Type>().value(0))
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(answer, MAX_NESTING as i64);
        let alternatives = (0..400).map(|i| format!("x = {i}")).collect::<Vec<_>>().join(" OR ");
        check_nesting(&format!("SELECT * FROM t WHERE {alternatives}")).unwrap();
    }

    /// A function that panics, as a bug in a function would.
    #[derive(Debug, PartialEq, Eq, Hash)]
    struct Boom(datafusion::logical_expr::Signature);

    impl datafusion::logical_expr::ScalarUDFImpl for Boom {
        fn name(&self) -> &str {
            "boom"
        }
        fn signature(&self) -> &datafusion::logical_expr::Signature {
            &self.0
        }
        fn return_type(&self, _: &[DataType]) -> Result<DataType> {
            Ok(DataType::Int64)
        }
        fn invoke_with_args(
            &self,
            _: datafusion::logical_expr::ScalarFunctionArgs,
        ) -> Result<datafusion::logical_expr::ColumnarValue> {
            panic!("boom")
        }
    }

    /// Regression (hardening probe, item 2): a panic inside a query ended its stream early, which a Flight
    /// client took for a complete, empty result. It is an error now, while planning and while running,
    /// also in a task DataFusion spawned for one of several partitions.
    #[tokio::test]
    async fn a_panic_is_an_error_never_a_short_result() {
        let dir = tempfile::tempdir().unwrap();
        let session = Session::open(dir.path(), Placement::Local).await.unwrap();
        let signature = datafusion::logical_expr::Signature::any(1, datafusion::logical_expr::Volatility::Immutable);
        session.context().register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(Boom(signature)));
        // constant folding calls it while planning
        let planning = session.start("SELECT boom(1)", &Options::default()).await.err().expect("an error");
        assert!(planning.to_string().contains("internal error (boom)"), "{planning}");
        // in every partition of a table of several
        let values = (0..4000).map(|i| format!("({i})")).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT boom(x) FROM (SELECT x FROM (VALUES {values}) t(x) WHERE x % 7 <> 1 ORDER BY x) u");
        let running = session.start(&sql, &Options::default()).await.unwrap();
        let error = running.collect().await.expect_err("an error");
        assert!(error.to_string().contains("boom"), "{error}");
    }

    /// Rows the scans' page indexes ruled out, from the plan's metrics after it ran.
    fn rows_pruned_by_page_index(plan: &Arc<dyn ExecutionPlan>) -> usize {
        let mut pruned = 0;
        plan.apply(|node| {
            for metric in node.metrics().iter().flat_map(|m| m.iter()) {
                if let MetricValue::PruningMetrics { name, pruning_metrics } = metric.value()
                    && name == "page_index_rows_pruned"
                {
                    pruned += pruning_metrics.pruned();
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        pruned
    }

    /// A `SET` of a Parquet setting reaches the scans of the statements after it: the page index prunes by
    /// default, and not once it is switched off.
    #[tokio::test]
    async fn a_parquet_setting_reaches_the_scans() {
        // a few pages per region level in each file, so that a filter on one kind of violence skips some
        let dir = crate::generate::generated_dir(3000, 1);
        let session = Session::open(dir.path(), Placement::Local).await.unwrap();
        let count = "SELECT count(*) FROM veilig_thuis WHERE region_level = 'gemeente' AND category = 'Totaal'";
        let pruned = async |sql: &str| {
            let mut execution = session.execute(sql, &Options::default()).unwrap();
            let mut last = 0;
            while let Some(running) = execution.next().await.unwrap() {
                running.collect().await.unwrap();
                last = rows_pruned_by_page_index(&running.plan);
            }
            last
        };
        assert!(pruned(count).await > 0, "the page index prunes by default");
        let off = format!("SET datafusion.execution.parquet.enable_page_index = false; {count}");
        assert_eq!(pruned(&off).await, 0, "switched off, it prunes nothing");
    }

    #[tokio::test]
    async fn a_missing_data_directory_is_an_error_not_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("typo");
        let error = Session::open(&missing, Placement::Local).await.err().expect("an error");
        assert!(error.to_string().contains("no data directory"), "{error}");
        assert!(!missing.exists());
    }

    #[tokio::test]
    async fn statements_run_one_after_the_other_and_refuse_what_they_must() {
        let dir = tempfile::tempdir().unwrap();
        let session = Session::open(dir.path(), Placement::Local).await.unwrap();
        let mut execution =
            session.execute("CREATE VIEW v AS SELECT 41 AS x; SELECT x + 1 FROM v", &Options::default()).unwrap();
        let mut last = None;
        while let Some(running) = execution.next().await.unwrap() {
            last = Some(running.collect().await.unwrap());
        }
        let last = last.unwrap();
        assert_eq!(last[0].column(0).as_primitive::<Int64Type>().value(0), 42);

        let read_only = Options { read_only: true, ..Options::default() };
        let refused = session.start("CREATE VIEW w AS SELECT 1", &read_only).await.err().unwrap();
        assert!(matches!(refused.find_root(), DataFusionError::External(e) if e.is::<ReadOnly>()), "{refused}");
        let two = session.start("SELECT 1; SELECT 2", &Options::default()).await.err().unwrap();
        assert!(two.to_string().contains("one statement at a time"), "{two}");

        let bound = Options { params: vec![ScalarValue::Int64(Some(5))], ..Options::default() };
        let batches = session.start("SELECT $1 + 1", &bound).await.unwrap().collect().await.unwrap();
        assert_eq!(batches[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0), 6);
        let missing = session.start("SELECT $1 + 1", &Options::default()).await.err().unwrap();
        assert!(missing.to_string().contains("1 parameter(s) but 0 value(s)"), "{missing}");
    }
}
