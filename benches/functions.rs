//! vtsql's functions against the same logic written in plain SQL, over 10M rows in memory.
//!
//! `cargo bench --bench functions` (set `VTSQL_BENCH_ROWS` for another size). Targets (UDF issue):
//! per_100k and the half-year functions within 5% of the plain-SQL form or faster; ssum at most
//! 1.2× plain SUM.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

/// A deterministic pseudo-random sequence (no dependency, same data every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Rows like the fact table: a count (about 40% NULL, else a multiple of 5 from 10), a
/// population, a half-year and a group key (≈ gemeente).
fn table(rows: usize) -> MemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("cnt", DataType::Int64, true),
        Field::new("pop", DataType::Int64, false),
        Field::new("period", DataType::Utf8, false),
        Field::new("grp", DataType::Int64, false),
    ]));
    let mut rng = Lcg(42);
    let periods: Vec<String> = (2019..2026).flat_map(|y| [format!("{y}H1"), format!("{y}H2")]).collect();
    let batch_rows = 64 * 1024;
    let mut batches = Vec::new();
    let mut left = rows;
    while left > 0 {
        let n = left.min(batch_rows);
        left -= n;
        let cnt: Int64Array =
            (0..n).map(|_| (rng.next() % 10 >= 4).then(|| 10 + 5 * (rng.next() % 200) as i64)).collect();
        let pop: Int64Array = (0..n).map(|_| Some(1000 + (rng.next() % 900_000) as i64)).collect();
        let period: StringArray = (0..n).map(|_| Some(periods[rng.next() as usize % periods.len()].as_str())).collect();
        let grp: Int64Array = (0..n).map(|_| Some((rng.next() % 1000) as i64)).collect();
        let columns: Vec<ArrayRef> = vec![Arc::new(cnt), Arc::new(pop), Arc::new(period), Arc::new(grp)];
        batches.push(RecordBatch::try_new(schema.clone(), columns).expect("columns match"));
    }
    // One partition per core, as a scan of Parquet files would give.
    let parts = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let mut partitions = vec![Vec::new(); parts];
    for (i, b) in batches.into_iter().enumerate() {
        partitions[i % parts].push(b);
    }
    MemTable::try_new(schema, partitions).expect("table builds")
}

/// (name, with vtsql's function, the same in plain SQL)
const PAIRS: &[(&str, &str, &str)] = &[
    (
        "per_100k",
        "SELECT sum(per_100k(cnt, pop)) FROM t",
        "SELECT sum(CASE WHEN pop <> 0 THEN CAST(cnt AS DOUBLE) * 100000 / pop END) FROM t",
    ),
    (
        "hy_add",
        "SELECT max(hy_add(period, 3)) FROM t",
        "SELECT max(concat(CAST((CAST(substr(period, 1, 4) AS BIGINT) * 2 + CAST(substr(period, 6, 1) AS BIGINT) - 1 + 3) / 2 AS VARCHAR), \
         'H', CAST((CAST(substr(period, 1, 4) AS BIGINT) * 2 + CAST(substr(period, 6, 1) AS BIGINT) - 1 + 3) % 2 + 1 AS VARCHAR))) FROM t",
    ),
    (
        "hy_diff",
        "SELECT sum(hy_diff(period, '2019H1')) FROM t",
        "SELECT sum(CAST(substr(period, 1, 4) AS BIGINT) * 2 + CAST(substr(period, 6, 1) AS BIGINT) - (2019 * 2 + 1)) FROM t",
    ),
    (
        "hy_label",
        "SELECT max(hy_label(period)) FROM t",
        "SELECT max(concat(substr(period, 6, 1), 'e halfjaar ', substr(period, 1, 4))) FROM t",
    ),
    ("ssum_vs_sum", "SELECT grp, ssum(cnt) FROM t GROUP BY grp", "SELECT grp, sum(cnt) FROM t GROUP BY grp"),
    (
        "ssum_vs_interval_sql",
        "SELECT grp, ssum(cnt) FROM t GROUP BY grp",
        "SELECT grp, sum(cnt), sum(CASE WHEN cnt IS NULL THEN 0 ELSE greatest(cnt - 2, 0) END), \
         sum(CASE WHEN cnt IS NULL THEN 7 ELSE cnt + 2 END), count(*) - count(cnt), count(*) FROM t GROUP BY grp",
    ),
];

fn functions(c: &mut Criterion) {
    let rows: usize = std::env::var("VTSQL_BENCH_ROWS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000_000);
    let runtime = vtsql::session::runtime("vtsql-bench").expect("runtime");
    let ctx = SessionContext::new_with_config(SessionConfig::new());
    vtsql_udfs::register_all(&ctx).expect("functions register");
    ctx.register_table("t", Arc::new(table(rows))).expect("table registers");
    let mut group = c.benchmark_group(format!("functions_{rows}_rows"));
    group.sample_size(10);
    for (name, ours, plain) in PAIRS {
        for (variant, sql) in [("vtsql", ours), ("plain_sql", plain)] {
            group.bench_function(format!("{name}/{variant}"), |b| {
                b.iter(|| runtime.block_on(async { ctx.sql(sql).await.unwrap().collect().await.unwrap() }))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, functions);
criterion_main!(benches);
