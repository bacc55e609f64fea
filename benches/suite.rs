//! The analyst query suite (`benches/queries/`) on generated Parquet, through the same catalog as the REPL:
//! each query as written with vtsql's functions and, where it differs, in plain SQL.
//!
//! `cargo bench --bench suite` generates `target/bench-data/rows-<N>` once (N from `VTSQL_BENCH_ROWS`,
//! default 10M) or uses `VTSQL_BENCH_DATA`. The comparison with DuckDB, datafusion-python and Polars on the
//! same files is `benches/peers/run.py`; results are in `benches/RESULTS.md`.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VTSQL_BENCH_DATA") {
        return PathBuf::from(dir);
    }
    let rows: u64 = std::env::var("VTSQL_BENCH_ROWS").ok().and_then(|r| r.parse().ok()).unwrap_or(10_000_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/bench-data/rows-{rows}"));
    if !dir.join("current").exists() {
        let shape = vtsql::generate::Shape::for_rows(rows, None, 1);
        vtsql::generate::generate(&dir, &shape, &mut |line: &str| eprintln!("{line}")).expect("generate bench data");
    }
    dir
}

fn suite(c: &mut Criterion) {
    let runtime = vtsql::session::runtime("vtsql-bench").expect("runtime");
    let data = data_dir();
    let session = runtime
        .block_on(vtsql::session::Session::open(&data, vtsql::session::Placement::Local))
        .expect("open bench data");
    let queries = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/queries");
    let ours = vtsql::bench::suite(&queries, false).expect("queries");
    let plain = vtsql::bench::suite(&queries, true).expect("queries");
    let mut group = c.benchmark_group("suite");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    for (file, plain_file) in ours.iter().zip(&plain) {
        let name = vtsql::bench::query_name(file);
        let sql = std::fs::read_to_string(file).expect("query file");
        group.bench_function(format!("{name}/vtsql"), |b| {
            b.iter(|| runtime.block_on(vtsql::bench::run_once(&session, &sql)).expect("query runs"))
        });
        if plain_file != file {
            let sql = std::fs::read_to_string(plain_file).expect("query file");
            group.bench_function(format!("{name}/plain"), |b| {
                b.iter(|| runtime.block_on(vtsql::bench::run_once(&session, &sql)).expect("query runs"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, suite);
criterion_main!(benches);
