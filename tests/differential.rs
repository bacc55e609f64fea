//! vtsql's plan rules change how a query runs, never what it answers: the benchmark suite and a few dozen
//! generated queries (grouped, filtered, joined, windowed) over 1.3 million generated rows give the same
//! rows with every rule on as with DataFusion's rules only, including where `RunAwarePartialAggregate`
//! outgrows its sequence of groups and where it runs short of memory.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::physical_plan::ExecutionPlan;
use vtsql::session::{Options, Placement, Session};

use crate::Check;
use crate::common::{ensure, ensure_eq, repo, runtime};

pub const CHECKS: &[(&str, Check)] = &[
    ("differential::benchmark_suite_rules_off_and_on", benchmark_suite_rules_off_and_on),
    ("differential::benchmark_suite_over_foreign_files_rules_off_and_on", benchmark_suite_over_foreign_files),
    ("differential::generated_queries_rules_off_and_on", generated_queries_rules_off_and_on),
    ("differential::groups_of_every_region_and_kind_follow_their_sequence", groups_follow_their_sequence),
    ("differential::partial_aggregate_under_memory_pressure", partial_aggregate_under_memory_pressure),
];

/// 6,184 regions (gemeenten with wijken) × 52 kinds × 4 half-years: 1,286,272 rows, and 321,568 groups of
/// region and kind in every half-year file.
fn data() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let shape = vtsql::generate::Shape::for_regions(6000, Some(2), 7);
        vtsql::generate::generate(&dir.path().join("data"), &shape, &mut |_| {}).expect("generated data");
        dir
    })
    .path()
    .join("data")
    .leak()
}

/// One query's run: its rows sorted as text, and its physical plan after it ran (metrics filled in).
struct Ran {
    rows: Vec<String>,
    plan: Arc<dyn ExecutionPlan>,
}

async fn run(session: &Session, sql: &str, options: &Options) -> Result<Ran, String> {
    let running = session.start(sql, options).await.map_err(|e| format!("{sql}: {e}"))?;
    let batches = running.collect().await.map_err(|e| format!("{sql}: {e}"))?;
    let mut rows: Vec<String> = crate::slt::batches_to_rows(&batches).into_iter().map(|row| row.join(" | ")).collect();
    rows.sort();
    Ok(Ran { rows, plan: running.plan })
}

/// The two sessions: DataFusion's rules only, and vtsql's.
fn sessions() -> Result<(Session, Session), String> {
    runtime().block_on(async {
        let plain = Session::open_without_plan_rules(data()).await.map_err(|e| e.to_string())?;
        let rules = Session::open(data(), Placement::Local).await.map_err(|e| e.to_string())?;
        Ok((plain, rules))
    })
}

/// Runs every query in both sessions; the answers must be equal. Returns how many rows each gave.
fn compare(queries: &[String]) -> Result<Vec<usize>, String> {
    Ok(compare_after(&[], &[], queries)?.iter().map(|ran| ran.rows.len()).collect())
}

/// Runs the statements of `once` in the first session, those of `each` in both, then every query of `queries`
/// in both; the answers must be equal. Returns the runs with vtsql's rules.
fn compare_after(once: &[String], each: &[String], queries: &[String]) -> Result<Vec<Ran>, String> {
    let (plain, rules) = sessions()?;
    runtime().block_on(async {
        for sql in once {
            run(&plain, sql, &Options::default()).await?;
        }
        for sql in each {
            for session in [&plain, &rules] {
                run(session, sql, &Options::default()).await?;
            }
        }
        let mut runs = Vec::new();
        for sql in queries {
            let expected = run(&plain, sql, &Options::default()).await?;
            let got = run(&rules, sql, &Options::default()).await?;
            if got.rows != expected.rows {
                let first = got.rows.iter().zip(&expected.rows).find(|(g, e)| g != e);
                return Err(format!(
                    "{sql}\nwith the rules: {} rows, without: {}; first difference: {first:?}",
                    got.rows.len(),
                    expected.rows.len()
                ));
            }
            runs.push(got);
        }
        Ok(runs)
    })
}

/// The suite's files (each query with functions and its plain variant) and their SQL.
fn suite() -> Result<(Vec<std::path::PathBuf>, Vec<String>), String> {
    let dir = repo().join("benches/queries");
    let mut files = vtsql::bench::suite(&dir, false).map_err(|e| e.to_string())?;
    files.extend(vtsql::bench::suite(&dir, true).map_err(|e| e.to_string())?);
    files.dedup();
    let queries: Vec<String> =
        files.iter().map(|f| std::fs::read_to_string(f).map_err(|e| e.to_string())).collect::<Result<_, _>>()?;
    Ok((files, queries))
}

/// Every suite query answered something but q07, which reads 2019-2021: the data (2024-2025) lacks those
/// years, so it answers nothing, with the rules and without. `sizes` are the queries' numbers of rows.
fn only_q07_answers_nothing(files: &[std::path::PathBuf], sizes: &[usize]) -> Result<(), String> {
    let empty: Vec<_> =
        files.iter().zip(sizes).filter(|(_, n)| **n == 0).map(|(f, _)| vtsql::bench::query_name(f)).collect();
    ensure(empty.iter().all(|q| q.starts_with("q07")), || format!("suite queries answered nothing: {empty:?}"))
}

fn benchmark_suite_rules_off_and_on() -> Result<(), String> {
    let (files, queries) = suite()?;
    only_q07_answers_nothing(&files, &compare(&queries)?)
}

/// The suite over files vtsql did not write, as a user (and the peers benchmark) reads them: the facts copied
/// by DataFusion into `year=/half=` directories (its row groups, unsorted, no vtsql footer entries), read
/// through `CREATE EXTERNAL TABLE`, which filters while it decodes (`pushdown_filters`).
fn benchmark_suite_over_foreign_files() -> Result<(), String> {
    let foreign = tempfile::tempdir().map_err(|e| e.to_string())?;
    let location = format!("{}/veilig_thuis/", foreign.path().display());
    let copy = format!(
        "COPY (SELECT * FROM veilig_thuis ORDER BY region_code DESC, category) TO '{location}' \
         STORED AS PARQUET PARTITIONED BY (year, half)"
    );
    let read = vec![
        "DROP VIEW veilig_thuis".to_string(),
        format!(
            "CREATE EXTERNAL TABLE veilig_thuis STORED AS PARQUET LOCATION '{location}' PARTITIONED BY (year, half)"
        ),
    ];
    let (files, queries) = suite()?;
    let runs = compare_after(&[copy], &read, &queries)?;
    only_q07_answers_nothing(&files, &runs.iter().map(|ran| ran.rows.len()).collect::<Vec<_>>())?;
    // the scans filter while they decode, comparing text by view
    let by_view = runs
        .iter()
        .filter(|ran| {
            let text = datafusion::physical_plan::displayable(ran.plan.as_ref()).indent(true).to_string();
            text.lines().any(|l| l.contains("DataSourceExec") && l.contains("(by view)"))
        })
        .count();
    ensure(by_view >= 6, || format!("{by_view} of {} queries' scans compare text by view", runs.len()))?;
    // and read the text columns they only compare as dictionaries (`plan_rules::dictionary_filters`)
    let by_key = runs.iter().filter(|ran| reads_dictionaries(&ran.plan)).count();
    ensure(by_key >= 6, || format!("{by_key} of {} queries' scans read text as dictionaries", runs.len()))
}

/// Whether a Parquet scan of `plan` reads columns as dictionaries (its file readers, which have no `Any`,
/// name themselves in their debug form).
fn reads_dictionaries(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let mut found = false;
    plan.apply(|node| {
        if let Some(scan) = node.downcast_ref::<datafusion::datasource::source::DataSourceExec>()
            && let Some((_, parquet)) =
                scan.downcast_to_file_source::<datafusion::datasource::physical_plan::ParquetSource>()
        {
            found |= format!("{:?}", parquet.parquet_file_reader_factory()).contains("DictionaryReads");
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .expect("a walk that cannot fail");
    found
}

/// A small deterministic generator (no random crate): the same queries on every run.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.next() as usize % from.len()]
    }

    fn some<'a>(&mut self, from: &[&'a str], most: usize) -> Vec<&'a str> {
        let n = 1 + self.next() as usize % most;
        let mut picked: Vec<&str> = Vec::new();
        while picked.len() < n.min(from.len()) {
            let one = self.pick(from);
            if !picked.contains(&one) {
                picked.push(one);
            }
        }
        picked
    }
}

const MEASURES: [&str; 5] = [
    "gestarte_adviezen",
    "ontvangen_meldingen",
    "casussen_met_melding",
    "afgeronde_onderzoeken",
    "afgeronde_voorwaarden_vervolg",
];
const KEYS: [&str; 8] =
    ["region_level", "category", "category_group", "period", "year", "half", "provisional", "region_code"];
const FILTERS: [&str; 9] = [
    "region_level = 'gemeente'",
    "region_level <> 'wijk'",
    "category = 'Totaal'",
    "category <> 'Totaal'",
    "category_group = 'Kindermishandeling'",
    "period >= '2024H2'",
    "suppressed_cells > 0",
    "ontvangen_meldingen IS NULL",
    "gestarte_adviezen > 20",
];

/// `count` queries of every kind the rules touch, drawn from `seed`.
fn generated_queries(seed: u64, count: usize) -> Vec<String> {
    let mut draw = Draw(seed);
    let mut queries = Vec::new();
    for i in 0..count {
        let m = draw.pick(&MEASURES);
        let filters = draw.some(&FILTERS, 2).join(" AND ");
        let sql = match i % 5 {
            // grouped, filtered
            0 | 1 => {
                let keys = draw.some(&KEYS[..7], 3).join(", ");
                let aggregates = [
                    "count(*)".to_string(),
                    format!("count({m})"),
                    format!("sum({m})"),
                    format!("min({m})"),
                    format!("max({m})"),
                    format!("round(avg({m}), 6)"),
                    format!("ssum({m})"),
                    format!("sum({m}) FILTER (WHERE suppressed_cells = 0)"),
                    "count(DISTINCT region_code)".to_string(),
                ];
                let chosen: Vec<&str> = aggregates.iter().map(String::as_str).collect();
                let aggregates = draw.some(&chosen, 4).join(", ");
                format!("SELECT {keys}, {aggregates} FROM veilig_thuis WHERE {filters} GROUP BY {keys}")
            }
            // grouped by region and kind: the sequence path
            2 => format!(
                "SELECT region_code, category, count(*), sum({m}), ssum({m}) FROM veilig_thuis WHERE {filters} \
                 GROUP BY region_code, category"
            ),
            // joined to a dimension
            3 => match draw.next() % 3 {
                0 => format!(
                    "SELECT v.region_code, v.year, round(per_100k(sum(v.{m}), max(p.population)), 6) \
                     FROM veilig_thuis v JOIN population p ON p.region_code = v.region_code AND p.year = v.year \
                     WHERE v.{} GROUP BY v.region_code, v.year",
                    draw.pick(&FILTERS[..5])
                ),
                1 => format!(
                    "SELECT r.vt_regio_code, v.period, sum(v.{m}), count(*) FROM veilig_thuis v \
                     JOIN regions r ON r.region_code = v.region_code WHERE v.{} GROUP BY r.vt_regio_code, v.period",
                    draw.pick(&FILTERS[..5])
                ),
                _ => format!(
                    "SELECT c.category_kind, v.region_level, sum(v.{m}) FROM veilig_thuis v \
                     JOIN categories c ON c.category = v.category WHERE v.{} GROUP BY c.category_kind, v.region_level",
                    draw.pick(&FILTERS[..5])
                ),
            },
            // windowed: rolling sums, counts and ssum
            _ => {
                let frame = draw.pick(&[
                    "ROWS 1 PRECEDING",
                    "ROWS BETWEEN 3 PRECEDING AND CURRENT ROW",
                    "ROWS UNBOUNDED PRECEDING",
                ]);
                let w = format!("(PARTITION BY region_code, category ORDER BY period {frame})");
                format!(
                    "SELECT region_code, category, period, sum({m}) OVER {w}, count({m}) OVER {w}, \
                     ssum({m}) OVER {w} FROM veilig_thuis WHERE region_level IN ('gemeente', 'vt_regio') AND {}",
                    draw.pick(&FILTERS[2..6])
                )
            }
        };
        queries.push(sql);
    }
    queries
}

fn generated_queries_rules_off_and_on() -> Result<(), String> {
    let queries = generated_queries(2026, 30);
    let sizes = compare(&queries)?;
    let answered = sizes.iter().filter(|n| **n > 0).count();
    ensure(answered >= 25, || format!("only {answered} of {} queries answered rows: {sizes:?}", sizes.len()))
}

/// The sum of the metric `name` over the plan's nodes called `node`.
fn metric(plan: &Arc<dyn ExecutionPlan>, node: &str, name: &str) -> usize {
    let mut total = 0;
    plan.apply(|n| {
        if n.name() == node {
            total += n.metrics().and_then(|m| m.sum_by_name(name)).map_or(0, |v| v.as_usize());
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .expect("a walk that cannot fail");
    total
}

const BY_REGION_AND_KIND: &str = "SELECT region_code, category, count(*), sum(ontvangen_meldingen), \
                                  ssum(gestarte_adviezen) FROM veilig_thuis GROUP BY region_code, category";

/// 321,568 groups in every half-year file (more than the 2^18 the sequence held before a billion rows
/// needed more): the partial aggregates follow them, and answer as DataFusion does. Past its limit the
/// sequence gives up (a unit test of `run_aggregate::sequence`).
fn groups_follow_their_sequence() -> Result<(), String> {
    let (plain, rules) = sessions()?;
    runtime().block_on(async {
        let expected = run(&plain, BY_REGION_AND_KIND, &Options::default()).await?;
        let got = run(&rules, BY_REGION_AND_KIND, &Options::default()).await?;
        ensure_eq(got.rows.len(), 321_568, "groups")?;
        ensure(got.rows == expected.rows, || "the rules changed the answer".into())?;
        ensure_eq(metric(&got.plan, "RunPartialAggregateExec", "sequence_over_limit"), 0, "streams over the limit")?;
        let followed = metric(&got.plan, "RunPartialAggregateExec", "rows_in_sequence");
        // each of the two streams learns the sequence from its first file and follows it through its second
        ensure(followed >= 600_000, || format!("{followed} rows found their group in the sequence"))
    })
}

fn partial_aggregate_under_memory_pressure() -> Result<(), String> {
    let (plain, rules) = sessions()?;
    runtime().block_on(async {
        let expected = run(&plain, BY_REGION_AND_KIND, &Options::default()).await?;
        // Too little for the groups of one half-year, enough for DataFusion's final aggregate to spill. Regression
        // (second probe, item 12): the partial aggregates, which cannot spill, refilled the pool between their
        // emits and the final aggregate could not get the room to spill ("Resources exhausted"), now and then
        // at 64 MiB; now they leave a quarter of the pool free, at every limit.
        // At every limit where DataFusion's own plan runs, vtsql's runs too, with the same answer.
        let mut checked = Vec::new();
        // (below 40 MiB DataFusion's own plan fails, and at 32 MiB vtsql's plan can wait for ever: an open finding
        // of this check, whose bound turns such a wait into a failure)
        let bounded = |session, options| async move {
            tokio::time::timeout(Duration::from_secs(300), run(session, BY_REGION_AND_KIND, &options))
                .await
                .map_err(|_| "no answer within 300 s".to_string())?
        };
        for mib in [32, 40, 48, 56, 64] {
            let tight = Options { memory_limit: Some(mib << 20), ..Options::default() };
            if bounded(&plain, tight.clone()).await.is_err() {
                continue;
            }
            let got = bounded(&rules, tight).await.map_err(|e| format!("at {mib} MiB: {e}"))?;
            ensure(got.rows == expected.rows, || format!("the answer changed under memory pressure ({mib} MiB)"))?;
            let early = metric(&got.plan, "RunPartialAggregateExec", "emitted_under_pressure");
            checked.push((mib, early));
        }
        ensure(checked.len() >= 3, || format!("limits where DataFusion's plan runs: {checked:?}"))?;
        ensure(checked.iter().any(|(_, early)| *early > 0), || "the partial aggregate never ran short of memory".into())
    })
}
