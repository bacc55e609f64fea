//! `vtsql generate`: the layout ingest writes, CBS's publishing rules, determinism, and no half-written output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::Check;
use crate::common::{ensure, ensure_eq, query};

pub const CHECKS: &[(&str, Check)] = &[
    ("generate::layout_and_rules", layout_and_rules),
    ("generate::deterministic_per_seed", deterministic_per_seed),
    ("generate::refuses_a_non_empty_directory", refuses_a_non_empty_directory),
    ("generate::benchmark_queries_agree_with_their_plain_variants", benchmark_queries_agree_with_their_plain_variants),
    ("generate::benchmark_queries_answer_the_same_over_files_vtsql_did_not_write", over_foreign_files),
];

fn generate(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vtsql"))
        .args(["--data".as_ref(), data.as_os_str()])
        .arg("generate")
        .args(args)
        .output()
        .expect("vtsql runs")
}

/// 2 years × 342 gemeenten with one wijk each: (1 + 27 VT + 342 × 2) regions × 52 categories × 4 half-years.
const SMALL: &[&str] = &["--regions", "400", "--years", "2", "--seed", "7"];
const SMALL_ROWS: usize = (1 + 27 + 342 * 2) * 52 * 4;

fn one(data: &Path, sql: &str) -> Result<String, String> {
    let rows = query(data, sql)?;
    rows.first().and_then(|r| r.first()).cloned().ok_or_else(|| format!("no answer to {sql}"))
}

fn layout_and_rules() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let out = generate(&data, SMALL);
    ensure(out.status.success(), || String::from_utf8_lossy(&out.stderr).into_owned())?;
    let partitions: Vec<PathBuf> = ["year=2024/half=1", "year=2024/half=2", "year=2025/half=1", "year=2025/half=2"]
        .iter()
        .map(|p| crate::common::tables(&data).join("cbs_84851ned").join(p).join("part-0.parquet"))
        .collect();
    for p in &partitions {
        ensure(p.is_file(), || format!("missing {}", p.display()))?;
    }
    for table in ["regions.parquet", "population.parquet", "region_membership.parquet", "cbs_84851ned.json"] {
        ensure(crate::common::tables(&data).join(table).is_file(), || format!("missing {table}"))?;
    }
    // the one stored form, in the first generation: nothing else holds the figures
    let tables = crate::common::tables(&data);
    ensure(tables.ends_with("gen-000001"), || format!("tables in {}", tables.display()))?;
    ensure(!tables.join("veilig_thuis").exists(), || "a second copy of the figures".into())?;
    ensure_eq(one(&data, "SELECT count(*) FROM veilig_thuis")?, SMALL_ROWS.to_string(), "rows")?;
    // the same columns and types as ingest writes, in veilig_thuis and in the table below it
    for table in ["veilig_thuis", "cbs_84851ned", "cbs_84851ned_history"] {
        let sql = format!(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_name = '{table}' ORDER BY ordinal_position"
        );
        ensure_eq(query(&data, &sql)?, query(crate::common::fixture(), &sql)?, &format!("{table}: schema vs ingest"))?;
    }
    // CBS's rules: multiples of 5, nothing below 10, NULL counted in suppressed_cells
    let broken = one(
        &data,
        "SELECT count(*) FROM veilig_thuis WHERE ontvangen_meldingen % 5 <> 0 OR ontvangen_meldingen < 10 \
         OR gestarte_adviezen % 5 <> 0 OR afgeronde_onderzoeken < 10 \
         OR suppressed_cells <> (CASE WHEN gestarte_adviezen IS NULL THEN 1 ELSE 0 END) \
            + (CASE WHEN ontvangen_meldingen IS NULL THEN 1 ELSE 0 END) \
            + (CASE WHEN casussen_met_melding IS NULL THEN 1 ELSE 0 END) \
            + (CASE WHEN afgeronde_onderzoeken IS NULL THEN 1 ELSE 0 END) \
            + (CASE WHEN afgeronde_voorwaarden_vervolg IS NULL THEN 1 ELSE 0 END)",
    )?;
    ensure_eq(broken, "0".to_string(), "rows breaking rounding/suppression rules")?;
    let share: f64 = one(&data, "SELECT sum(suppressed_cells) / (5.0 * count(*)) FROM veilig_thuis")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    ensure((0.15..0.6).contains(&share), || format!("suppressed share {share}"))?;
    // hierarchy: every gemeente and wijk has a VT-regio with rows; wijk codes carry their gemeente's digits
    let orphans = one(
        &data,
        "SELECT count(*) FROM regions r LEFT JOIN regions vt ON vt.region_code = r.vt_regio_code \
         WHERE r.region_level IN ('gemeente', 'wijk') AND vt.region_code IS NULL",
    )?;
    ensure_eq(orphans, "0".to_string(), "gemeenten/wijken without VT-regio")?;
    // membership by year: every gemeente in every year, in its VT-regio
    let membership = one(
        &data,
        "SELECT count(*) FROM region_membership m JOIN regions r ON r.region_code = m.gm_code \
         WHERE r.vt_regio_code = m.vt_regio_code",
    )?;
    ensure_eq(membership, (342 * 2).to_string(), "gemeente-years in region_membership")?;
    let misnamed = one(
        &data,
        "SELECT count(*) FROM regions w JOIN regions g ON g.region_code = 'GM' || substr(w.region_code, 3, 4) \
         WHERE w.region_level = 'wijk' AND g.vt_regio_code <> w.vt_regio_code",
    )?;
    ensure_eq(misnamed, "0".to_string(), "wijken in another VT-regio than their gemeente")?;
    // per 100,000 nationally near CBS's level, with a population for every row
    let missing = one(
        &data,
        "SELECT count(*) FROM veilig_thuis v LEFT JOIN population p ON p.region_code = v.region_code AND p.year = v.year \
         WHERE p.population IS NULL",
    )?;
    ensure_eq(missing, "0".to_string(), "rows without population")?;
    let rate: f64 = one(
        &data,
        "SELECT avg(per_100k(v.ontvangen_meldingen, p.population)) FROM veilig_thuis v \
         JOIN population p ON p.region_code = v.region_code AND p.year = v.year \
         WHERE v.region_code = 'NL01' AND v.category = 'Totaal'",
    )?
    .parse()
    .map_err(|e| format!("{e}"))?;
    ensure((250.0..500.0).contains(&rate), || format!("national meldingen per 100,000: {rate}"))?;
    // the declared sort order holds in the file: DataFusion trusts it
    let batches = vtsql::ingest::store::read_parquet(&partitions[0]).map_err(|e| e.to_string())?;
    let mut keys = Vec::new();
    for batch in &batches {
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<arrow::array::StringArray>())
                .cloned()
                .ok_or_else(|| format!("no text column {name}"))
        };
        let sort = ["region_level", "kenmerken_adviezen_meldingen_diensten", "region_code", "period"];
        let columns: Vec<_> = sort.iter().map(|name| text(name)).collect::<Result<_, _>>()?;
        keys.extend((0..batch.num_rows()).map(|i| columns.iter().map(|c| c.value(i).to_string()).collect::<Vec<_>>()));
    }
    ensure(keys.windows(2).all(|w| w[0] < w[1]), || "rows are not in strict sort order".into())?;
    // every row group holds one region level (its statistics say so), and every level has its own
    let levels = row_group_levels(&partitions[0])?;
    ensure(levels.iter().all(|(min, max)| min == max), || format!("row groups mix region levels: {levels:?}"))?;
    let mut names: Vec<&String> = levels.iter().map(|(min, _)| min).collect();
    names.dedup();
    ensure_eq(names.len(), 4, "levels in row groups of their own (gemeente, land, vt_regio, wijk)")
}

/// (min, max) of `region_level` per row group of a Parquet file, from its statistics.
pub fn row_group_levels(file: &Path) -> Result<Vec<(String, String)>, String> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::statistics::Statistics;
    let reader = std::fs::File::open(file)
        .map_err(|e| e.to_string())
        .and_then(|f| SerializedFileReader::new(f).map_err(|e| e.to_string()))?;
    let metadata = reader.metadata();
    let column = metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == "region_level")
        .ok_or("no region_level column")?;
    let text = |b: Option<&parquet::data_type::ByteArray>| {
        b.map(|b| String::from_utf8_lossy(b.data()).into_owned()).unwrap_or_default()
    };
    metadata
        .row_groups()
        .iter()
        .map(|rg| match rg.column(column).statistics() {
            Some(Statistics::ByteArray(s)) => Ok((text(s.min_opt()), text(s.max_opt()))),
            other => Err(format!("region_level statistics: {other:?}")),
        })
        .collect()
}

fn deterministic_per_seed() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    for (data, seed) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        let out = generate(data, &["--regions", "30", "--years", "1", "--seed", seed]);
        ensure(out.status.success(), || String::from_utf8_lossy(&out.stderr).into_owned())?;
    }
    let file = "cbs_84851ned/year=2025/half=2/part-0.parquet";
    let read = |d: &Path| std::fs::read(crate::common::tables(d).join(file)).map_err(|e| e.to_string());
    ensure(read(&a)? == read(&b)?, || "the same seed gave different files".into())?;
    ensure(read(&a)? != read(&c)?, || "another seed gave the same file".into())
}

fn refuses_a_non_empty_directory() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("keep.txt"), "mine").map_err(|e| e.to_string())?;
    let out = generate(dir.path(), &["--regions", "5", "--years", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure(!out.status.success() && stderr.contains("not empty"), || stderr.to_string())?;
    let entries: Vec<_> = std::fs::read_dir(dir.path()).map_err(|e| e.to_string())?.collect();
    ensure_eq(entries.len(), 1, "files in the directory after the refusal")?;
    let siblings = std::fs::read_dir(dir.path().parent().ok_or("no parent")?)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".generating-"))
        .count();
    ensure_eq(siblings, 0, "leftover .generating directories")
}

/// Every benchmark query gives the same rows with vtsql's functions as its plain-SQL variant (the one peers run).
fn benchmark_queries_agree_with_their_plain_variants() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let out = generate(&data, &["--regions", "100", "--years", "8", "--seed", "3"]);
    ensure(out.status.success(), || String::from_utf8_lossy(&out.stderr).into_owned())?;
    let queries = crate::common::repo().join("benches/queries");
    let ours = vtsql::bench::suite(&queries, false).map_err(|e| e.to_string())?;
    let plain = vtsql::bench::suite(&queries, true).map_err(|e| e.to_string())?;
    ensure(ours.len() >= 8, || format!("only {} benchmark queries", ours.len()))?;
    for (a, b) in ours.iter().zip(&plain) {
        let sql = |f: &Path| std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()));
        let (left, right) = (query(&data, &sql(a)?)?, query(&data, &sql(b)?)?);
        ensure(!left.is_empty(), || format!("{} returns no rows", a.display()))?;
        ensure_eq(left, right, &format!("{} vs {}", a.display(), b.display()))?;
    }
    Ok(())
}

/// `veilig_thuis` of `data` rewritten as a user's files look: hive directories `year=Y/half=H` written by the
/// Parquet crate's plain `ArrowWriter` (zstd, row groups of 10,000 rows, no sorting metadata), rows in the order
/// a generator makes them (period, region, category) rather than vtsql's sort.
fn write_foreign(data: &Path, foreign: &Path) -> Result<(), String> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    let partitions = query(data, "SELECT DISTINCT year, half FROM veilig_thuis ORDER BY 1, 2")?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(10_000))
        .build();
    for p in partitions {
        let (year, half) = (&p[0], &p[1]);
        let sql = format!(
            "SELECT * EXCLUDE (year, half) FROM veilig_thuis WHERE year = {year} AND half = {half} ORDER BY region_code, category"
        );
        let batches = crate::common::runtime().block_on(async {
            let session = vtsql::session::Session::open(data, vtsql::session::Placement::Local)
                .await
                .map_err(|e| e.to_string())?;
            let running = session.start(&sql, &Default::default()).await.map_err(|e| e.to_string())?;
            running.collect().await.map_err(|e| e.to_string())
        })?;
        let dir = foreign.join(format!("year={year}/half={half}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let file = std::fs::File::create(dir.join("data.parquet")).map_err(|e| e.to_string())?;
        let schema = batches.first().ok_or("an empty partition")?.schema();
        let mut writer = ArrowWriter::try_new(file, schema, Some(properties.clone())).map_err(|e| e.to_string())?;
        for batch in &batches {
            writer.write(batch).map_err(|e| e.to_string())?;
        }
        writer.close().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Every benchmark query, both forms, over files vtsql did not write (`CREATE EXTERNAL TABLE ... PARTITIONED BY
/// (year, half)`, as a user would declare them: the partition columns then are text) gives the rows it gives
/// over vtsql's own layout: the plan rules must hold for any file's layout, not only for the one ingest writes.
fn over_foreign_files() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let out = generate(&data, &["--regions", "100", "--years", "8", "--seed", "5"]);
    ensure(out.status.success(), || String::from_utf8_lossy(&out.stderr).into_owned())?;
    let foreign = dir.path().join("foreign");
    write_foreign(&data, &foreign)?;
    let external = format!(
        "CREATE EXTERNAL TABLE veilig_thuis STORED AS PARQUET LOCATION '{}/' PARTITIONED BY (year, half)",
        foreign.display()
    );
    let setup = ["DROP VIEW veilig_thuis", external.as_str()];
    let counted =
        crate::common::query_at(&data, &vtsql::session::Placement::Local, &setup, "SELECT count(*) FROM veilig_thuis")?;
    ensure_eq(counted, query(&data, "SELECT count(*) FROM veilig_thuis")?, "rows in the foreign files")?;
    let queries = crate::common::repo().join("benches/queries");
    for plain in [false, true] {
        for file in vtsql::bench::suite(&queries, plain).map_err(|e| e.to_string())? {
            let sql = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let ours = query(&data, &sql)?;
            let theirs = crate::common::query_at(&data, &vtsql::session::Placement::Local, &setup, &sql)
                .map_err(|e| format!("{} over foreign files: {e}", file.display()))?;
            ensure(!ours.is_empty(), || format!("{} returns no rows", file.display()))?;
            ensure_eq(theirs, ours, &format!("{} over foreign files and over vtsql's", file.display()))?;
        }
    }
    Ok(())
}
