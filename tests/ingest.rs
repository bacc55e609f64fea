//! Ingest behaviour on real files: the seed, the shared CBS downloads, bad input, re-ingest.

use std::path::{Path, PathBuf};

use crate::Check;
use crate::common::*;

/// The Python module the DuckDB check needs.
const DUCKDB: &str = "duckdb";

pub const NEEDS: &[(&str, crate::Need)] = &[("ingest::duckdb_reads_the_same_numbers", crate::Need::Python(DUCKDB))];

pub const CHECKS: &[(&str, Check)] = &[
    ("ingest::seed_round_trips_all_260_cells", seed_round_trips_all_260_cells),
    ("ingest::writes_hive_partitions", writes_hive_partitions),
    ("ingest::reingest_replaces_exactly_its_rows", reingest_replaces_exactly_its_rows),
    ("ingest::corrupted_seed_fails_with_line_and_keeps_data", corrupted_seed_fails_with_line_and_keeps_data),
    ("ingest::bad_input_names_file_line_and_field", bad_input_names_file_line_and_field),
    ("ingest::unknown_region_is_named", unknown_region_is_named),
    ("ingest::population_and_regions_from_shared_cbs_files", population_and_regions_from_shared_cbs_files),
    ("ingest::statline_csv_download_layout", statline_csv_download_layout),
    ("ingest::year_filter_prunes_partitions", year_filter_prunes_partitions),
    ("ingest::duckdb_reads_the_same_numbers", duckdb_reads_the_same_numbers),
    ("ingest::one_cell_twice_is_refused", one_cell_twice_is_refused),
    (
        "ingest::an_export_into_an_empty_directory_knows_every_region",
        an_export_into_an_empty_directory_knows_every_region,
    ),
];

fn one_cell_twice_is_refused() -> Result<(), String> {
    let (dir, data) = fresh();
    let copy = derived_seed(dir.path(), "copy.txt", "1e halfjaar 2020*", "Almelo", |v| v + 5);
    let mut files = raw_files();
    files.push(copy);
    let err = ingest_quiet(&data, &files).err().ok_or("two values for one cell were accepted")?.to_string();
    ensure(err.contains("84851NED 2020H1 GM0141 \"Totaal\": other figures than"), || err)?;
    ensure(!tables(&data).join("cbs_84851ned").exists(), || "figures written".into())
}

fn fresh() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    (dir, data)
}

fn seed_round_trips_all_260_cells() -> Result<(), String> {
    let (_dir, data) = fresh();
    ingest_quiet(&data, &raw_files()).map_err(|e| e.to_string())?;
    let rows = query(
        &data,
        "SELECT count(*), count(DISTINCT category), \
         sum((gestarte_adviezen IS NULL)::int + (ontvangen_meldingen IS NULL)::int + (casussen_met_melding IS NULL)::int \
             + (afgeronde_onderzoeken IS NULL)::int + (afgeronde_voorwaarden_vervolg IS NULL)::int), \
         sum(suppressed_cells) FROM veilig_thuis WHERE region_code = 'GM0141' AND period = '2020H1'",
    )?;
    ensure_eq(
        rows,
        vec![vec!["52".into(), "52".into(), "206".into(), "206".into()]],
        "rows, categories, NULL cells, suppressed",
    )?;
    // Every published cell, compared with the seed text itself.
    let text = std::fs::read_to_string(seed()).unwrap();
    let stored = query(
        &data,
        "SELECT c.sort_order, v.gestarte_adviezen, v.ontvangen_meldingen, v.casussen_met_melding, \
         v.afgeronde_onderzoeken, v.afgeronde_voorwaarden_vervolg FROM veilig_thuis v \
         JOIN categories c USING (category) ORDER BY c.sort_order",
    )?;
    let expected: Vec<Vec<String>> = text
        .lines()
        .filter(|l| l.contains(" Almelo 1e halfjaar 2020* "))
        .map(|l| {
            l.rsplitn(6, ' ').take(5).map(|c| if c == "." { "NULL".into() } else { c.to_string() }).collect::<Vec<_>>()
        })
        .map(|mut cells: Vec<String>| {
            cells.reverse();
            cells
        })
        .collect();
    let got: Vec<Vec<String>> = stored.into_iter().map(|r| r[1..].to_vec()).collect();
    ensure_eq(got.len(), 52, "stored rows")?;
    ensure_eq(got, expected, "cells in seed order")
}

fn writes_hive_partitions() -> Result<(), String> {
    let data = fixture();
    for part in ["year=2020/half=1", "year=2020/half=2", "year=2021/half=1"] {
        let dir = tables(data).join("cbs_84851ned").join(part);
        let files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "parquet")))
            .collect();
        ensure(files.len() == 1, || format!("{part}: {} Parquet files", files.len()))?;
        // one region level per row group, in sorted order (store::write_facts_parquet)
        let levels = crate::generate::row_group_levels(&dir.join("part-0.parquet"))?;
        ensure(levels.iter().all(|(min, max)| min == max) && levels.windows(2).all(|w| w[0].0 < w[1].0), || {
            format!("{part}: row groups by level {levels:?}")
        })?;
    }
    ensure(!data.join(".staging").read_dir().map_err(|e| e.to_string())?.any(|_| true), || "staging left behind".into())
}

fn reingest_replaces_exactly_its_rows() -> Result<(), String> {
    let (dir, data) = fresh();
    ingest_quiet(&data, &raw_files()).map_err(|e| e.to_string())?;
    ingest_quiet(&data, &[seed()]).map_err(|e| e.to_string())?;
    let count = |data: &Path| query(data, "SELECT count(*) FROM veilig_thuis").map(|r| r[0][0].clone());
    ensure_eq(count(&data)?, "52".to_string(), "after ingesting the seed twice")?;
    // A corrected release of the same period replaces its values.
    let revised = derived_seed(dir.path(), "revised.txt", "1e halfjaar 2020", "Almelo", |v| v + 5);
    ingest_quiet(&data, &[revised]).map_err(|e| e.to_string())?;
    let totaal = query(
        &data,
        "SELECT ontvangen_meldingen, provisional FROM veilig_thuis WHERE category = 'Totaal' AND region_code = 'GM0141'",
    )?;
    ensure_eq(totaal, vec![vec!["250".to_string(), "false".to_string()]], "revised Totaal")?;
    // Another region in the same partition is added, not replacing Almelo.
    let twente = derived_seed(dir.path(), "twente.txt", "1e halfjaar 2020*", "Twente (VT)", |v| v * 10);
    ingest_quiet(&data, &[twente]).map_err(|e| e.to_string())?;
    let per_region =
        query(&data, "SELECT region_code, region_level, count(*) FROM veilig_thuis GROUP BY 1, 2 ORDER BY 1")?;
    ensure_eq(
        per_region,
        vec![
            vec!["GM0141".into(), "gemeente".into(), "52".into()],
            vec!["VT19".into(), "vt_regio".into(), "52".into()],
        ],
        "regions after adding Twente",
    )
}

/// Bytes of every file under `dir`, for "nothing changed" checks.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn corrupted_seed_fails_with_line_and_keeps_data() -> Result<(), String> {
    let (dir, data) = fresh();
    ingest_quiet(&data, &raw_files()).map_err(|e| e.to_string())?;
    let before = snapshot(&data);
    let text = std::fs::read_to_string(seed()).unwrap();
    let corrupted: String = text
        .lines()
        .map(|l| {
            if l.starts_with("Partnergeweld: stalking") {
                l.replace(" . . . . .", " . 1O . . .")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let line = text.lines().position(|l| l.starts_with("Partnergeweld: stalking")).unwrap() + 1;
    let bad = dir.path().join("corrupt.txt");
    std::fs::write(&bad, corrupted).unwrap();
    // The corrupted file comes with a good one: neither may be written.
    let good = derived_seed(dir.path(), "good.txt", "2e halfjaar 2020", "Almelo", |v| v);
    let err = ingest_quiet(&data, &[good, bad.clone()]).err().ok_or("corrupted input was accepted")?.to_string();
    ensure(
        err.contains(&format!("corrupt.txt:{line}:")) && err.contains("ontvangen_meldingen") && err.contains("\"1O\""),
        || format!("error should name file, line {line} and field: {err}"),
    )?;
    ensure(snapshot(&data) == before, || "the data directory changed".into())?;
    ensure_eq(query(&data, "SELECT count(*) FROM veilig_thuis")?[0][0].clone(), "52".to_string(), "rows still readable")
}

fn bad_input_names_file_line_and_field() -> Result<(), String> {
    let (dir, data) = fresh();
    let text = std::fs::read_to_string(seed()).unwrap();
    let cases = [
        ("period.txt", text.replace("Totaal Almelo 1e halfjaar 2020*", "Totaal Almelo 3e halfjaar 2020*"), ":6: Perioden: unknown period label"),
        ("short.txt", text.replace("Totaal Almelo 1e halfjaar 2020* 165 245 200 . 15", "Totaal Almelo 165"), ":6: Perioden: no period"),
        ("layout.csv", "a;b;c\n1;2;3\n".to_string(), "unknown layout"),
        ("empty.txt", String::new(), "unknown layout: the file is empty"),
        ("pop_70072ned.csv", "\"Perioden\";\"Regio's\";\"Totale bevolking (aantal)\"\n\"2020\";\"Almelo\";73107\n\"2021\";\"Almelo\";zeven\n".to_string(), ":3: Totale bevolking (aantal):"),
        ("popshort_70072ned.csv", "\"Perioden\";\"Regio's\";\"Totale bevolking (aantal)\"\n\"2020\";\"Almelo\"\n".to_string(), ":2: Totale bevolking (aantal): too few fields"),
    ];
    for (name, content, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let mut files = raw_files();
        files.retain(|f| !f.to_string_lossy().ends_with(".txt"));
        files.push(path);
        let err = ingest_quiet(&data, &files).err().ok_or(format!("{name} was accepted"))?.to_string();
        ensure(err.contains(name) && err.contains(want), || format!("{name}: {err:?} should contain {want:?}"))?;
    }
    ensure(!data.exists(), || "a refused ingest into a new directory left it behind".into())
}

fn unknown_region_is_named() -> Result<(), String> {
    let (dir, data) = fresh();
    let atlantis = derived_seed(dir.path(), "atlantis.txt", "1e halfjaar 2020*", "Atlantis", |v| v);
    let mut files = raw_files();
    files.push(atlantis);
    let err = ingest_quiet(&data, &files).err().ok_or("Atlantis was accepted")?.to_string();
    ensure(err.contains("atlantis.txt:6: Regio's: unknown region \"Atlantis\""), || err)
}

fn population_and_regions_from_shared_cbs_files() -> Result<(), String> {
    let (_dir, data) = fresh();
    let mut files = raw_files();
    files.push(shared("data/cbs/gebieden-2020/Gebieden_in_Nederland_2020_07122020_202646.csv"));
    files.push(shared("data/cbs/population-70072ned/municipalities_alphabetically_2022.csv"));
    files.push(shared("data/cbs/population-70072ned/Regionale_kerncijfers_Nederland_23012024_192144.csv"));
    ingest_quiet(&data, &files).map_err(|e| e.to_string())?;
    let per_year = query(
        &data,
        "SELECT year, count(*) FROM population p JOIN regions r USING (region_code) WHERE r.region_level = 'gemeente' GROUP BY year ORDER BY year",
    )?;
    let want: Vec<Vec<String>> = [
        ("2019", "355"),
        ("2020", "355"),
        ("2021", "352"),
        ("2022", "345"),
        ("2023", "342"),
        ("2024", "342"),
        ("2025", "342"),
    ]
    .iter()
    .map(|(y, n)| vec![y.to_string(), n.to_string()])
    .collect();
    ensure_eq(per_year, want, "gemeenten with a population per year")?;
    let almelo = query(&data, "SELECT year, population FROM population WHERE region_code = 'GM0141' ORDER BY year")?;
    // 2019, 2024 and 2025 from the built-in gazetteer; 2020-2023 as 70072ned tells them
    ensure_eq(
        almelo.iter().map(|r| r[1].as_str()).collect::<Vec<_>>(),
        vec!["72849", "73107", "73132", "73155", "73949", "74317", "74776"],
        "Almelo",
    )?;
    let stored = query(
        &data,
        "SELECT count(*), count(DISTINCT region_code) FROM cbs_70072ned WHERE totale_bevolking IS NOT NULL",
    )?;
    ensure_eq(stored, vec![vec!["1394".to_string(), "360".into()]], "70072ned's own figures in cbs_70072ned")?;
    let names = query(
        &data,
        "SELECT region_code, region_name, provincie_code, landsdeel_code, vt_regio_code FROM regions WHERE region_code IN ('GM0014', 'GM0518', 'GM0141') ORDER BY 1",
    )?;
    ensure_eq(
        names,
        vec![
            vec!["GM0014".into(), "Groningen".into(), "PV20".into(), "LD01".into(), "VT08".into()],
            vec!["GM0141".into(), "Almelo".into(), "PV23".into(), "LD02".into(), "VT19".into()],
            vec!["GM0518".into(), "'s-Gravenhage".into(), "PV28".into(), "LD03".into(), "VT09".into()],
        ],
        "regions merged from three sources and the built-in gazetteer",
    )
}

fn statline_csv_download_layout() -> Result<(), String> {
    let (dir, data) = fresh();
    let csv = "\u{feff}\"Kenmerken adviezen, meldingen, diensten\";\"Regio's\";\"Perioden\";\"Adviezen, meldingen en diensten/Gestarte adviezen (aantal)\";\"Adviezen, meldingen en diensten/Ontvangen meldingen (aantal)\"\r\n\
               \"Totaal\";\"Drenthe (PV)\";\"2023*\";\"2960\";\"1905\"\r\n\
               \"Kindermishandeling\";\"Drenthe (VT)\";\"2023JJ00\";1605;1060\r\n\
               \"Andere problematiek...\";\"Nederland\";\"2e halfjaar 2022**\";\".\";\"\"\r\n\
               \"Bron: CBS\"\r\n";
    let path = dir.path().join("84851NED_download.csv");
    std::fs::write(&path, csv).unwrap();
    let mut files = raw_files();
    files.push(path);
    ingest_quiet(&data, &files).map_err(|e| e.to_string())?;
    let rows = query(
        &data,
        "SELECT source_table, period, year, half, provisional, region_code, category, gestarte_adviezen, ontvangen_meldingen, \
         casussen_met_melding, suppressed_cells FROM veilig_thuis WHERE region_code <> 'GM0141' ORDER BY region_code",
    )?;
    let row = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    ensure_eq(
        rows,
        vec![
            row(&[
                "84851NED",
                "2022H2",
                "2022",
                "2",
                "true",
                "NL01",
                "Andere problematiek",
                "NULL",
                "NULL",
                "NULL",
                "1",
            ]),
            row(&["84851NED", "2023", "2023", "0", "true", "PV22", "Totaal", "2960", "1905", "NULL", "0"]),
            row(&["84851NED", "2023", "2023", "0", "false", "VT02", "Kindermishandeling", "1605", "1060", "NULL", "0"]),
        ],
        "CSV rows",
    )
}

fn year_filter_prunes_partitions() -> Result<(), String> {
    let plan = query(fixture(), "EXPLAIN SELECT sum(ontvangen_meldingen) FROM veilig_thuis WHERE year = 2021")?;
    let physical = plan.iter().find(|r| r[0] == "physical_plan").ok_or("no physical plan")?[1].clone();
    ensure(physical.contains("year=2021/half=1"), || format!("2021 not read: {physical}"))?;
    ensure(!physical.contains("year=2020"), || format!("2020 files read for a 2021 filter: {physical}"))
}

pub fn duckdb_reads_the_same_numbers() -> Result<(), String> {
    let python = crate::common::python_with(DUCKDB)?;
    let out = std::process::Command::new(python)
        .arg(repo().join("tests/python/duckdb_check.py"))
        .arg(fixture())
        .output()
        .map_err(|e| e.to_string())?;
    ensure(out.status.success(), || String::from_utf8_lossy(&out.stderr).into_owned())?;
    let duck: Vec<Vec<String>> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split(',').map(str::to_string).collect()).collect();
    let ours = query(
        fixture(),
        "SELECT period, year, half, gestarte_adviezen, ontvangen_meldingen, afgeronde_onderzoeken FROM veilig_thuis \
         WHERE region_code = 'GM0141' AND category = 'Totaal' ORDER BY period",
    )?;
    ensure_eq(duck.len(), 3, "DuckDB rows")?;
    ensure_eq(duck, ours, "DuckDB vs vtsql")
}

/// Without any regions or population file: the built-in gazetteer resolves gemeente and VT-regio labels, and
/// per_100k works at once.
fn an_export_into_an_empty_directory_knows_every_region() -> Result<(), String> {
    let (dir, data) = fresh();
    let drenthe = derived_seed(dir.path(), "drenthe.txt", "1e halfjaar 2020*", "Drenthe (VT)", |v| v * 4);
    let eemsdelta = derived_seed(dir.path(), "eemsdelta.txt", "1e halfjaar 2021", "Eemsdelta", |v| v + 5);
    ingest_quiet(&data, &[seed(), drenthe, eemsdelta]).map_err(|e| e.to_string())?;
    let rows = query(
        &data,
        "SELECT v.region_code, v.region_level, round(per_100k(v.ontvangen_meldingen, p.population), 1)
         FROM veilig_thuis v JOIN population p ON p.region_code = v.region_code AND p.year = v.year
         WHERE v.category = 'Totaal' ORDER BY v.region_code",
    )?;
    ensure_eq(
        rows,
        vec![
            vec!["GM0141".to_string(), "gemeente".into(), "335.1".into()],
            vec!["GM1979".to_string(), "gemeente".into(), "548.4".into()],
            vec!["VT02".to_string(), "vt_regio".into(), "198.5".into()],
        ],
        "per 100,000 without a population file",
    )
}
