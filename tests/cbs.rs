//! Every table of Beleidsinformatie Veilig Thuis: `vtsql fetch` against a local stand-in for CBS open data
//! ([`crate::cbs_service`]), and StatLine downloads of other tables of the family, checked against the
//! published values in `../shared/data/cbs/reference-totals`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use vtsql::fetch::{self, kept::Api};
use vtsql::ingest::{self, cbs};

use crate::Check;
use crate::cbs_service::{Fault, Reference, Service, TOPICS_85361, references, region_code, table_84852, table_85361};
use crate::cbs_shapes::TOPIC_GROUP;
use crate::common::{ensure, ensure_eq, query};

pub const CHECKS: &[(&str, Check)] = &[
    ("cbs::fetch_survives_errors_drops_and_timeouts_and_reproduces_84852", fetch_reproduces_84852),
    ("cbs::fetch_of_an_unchanged_table_downloads_nothing", unchanged_downloads_nothing),
    ("cbs::a_new_release_replaces_figures_and_keeps_the_old_ones", new_release_keeps_history),
    ("cbs::a_killed_fetch_resumes_where_it_stopped", killed_fetch_resumes),
    ("cbs::fetch_errors_name_the_table_url_and_field", fetch_errors),
    ("cbs::fetch_over_odata_v4_gives_the_same_figures", fetch_v4),
    ("cbs::auto_fetches_from_v4_and_from_v3_where_v4_lacks_the_table_or_fails", fetch_auto),
    ("cbs::a_table_as_cbs_v4_served_it_is_stored_cell_for_cell", recorded_v4),
    ("cbs::the_catalogue_is_listed_and_searched_by_words", catalogue),
    ("cbs::part_of_a_table_then_wider_parts_give_the_table_of_one_whole_fetch", parts_then_whole),
    ("cbs::statline_downloads_of_three_more_tables_reproduce_the_reference", statline_downloads),
    ("cbs::the_same_figures_loaded_twice_are_stored_once", same_figures_once),
    ("cbs::a_download_of_some_topics_fills_only_those", some_topics),
    ("cbs::text_topics_are_stored_as_text_the_same_from_v3_and_v4", text_topics),
    ("cbs::the_readme_joins_two_tables_of_the_family", readme_example),
];

/// Two seconds a request: a slow answer (three) times out.
fn options(service: &Service, api: Api) -> fetch::Options {
    service.options(api, Duration::from_secs(2))
}

fn fetch_into(data: &Path, id: &str, options: &fetch::Options) -> Result<(), String> {
    fetch_part(data, id, &[], None, &[], options)
}

/// `vtsql fetch ID --regions ... --periods ... --topics ...`.
fn fetch_part(
    data: &Path,
    id: &str,
    regions: &[&str],
    periods: Option<&str>,
    topics: &[&str],
    options: &fetch::Options,
) -> Result<(), String> {
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let scope = fetch::scope::Scope::new(&words(regions), periods, &words(topics))?;
    cbs::fetch_command(data, &[id.to_string()], &scope, options).map_err(|e| e.to_string())
}

/// `2020HJ01` → `2020H1`, `2020KW03` → `2020Q3`, `2020MM07` → `2020M07`, `2023JJ00` → `2023`.
fn period(code: &str) -> String {
    let (year, rest) = code.split_at(4);
    match rest.split_at(2) {
        ("JJ", _) => year.to_string(),
        ("HJ", n) => format!("{year}H{}", &n[1..]),
        ("KW", n) => format!("{year}Q{}", &n[1..]),
        (_, n) => format!("{year}M{n}"),
    }
}

/// The column of a StatLine column title in the stand-in's topic group: `... na veiligheidsbeoordeling (%)` →
/// `meldingen_na_veiligheidsbeoordeling_pct`, the same whether OData or a download told it.
fn column(measure: &str) -> String {
    let (title, unit) = match measure.strip_suffix(" (%)") {
        Some(t) => (t, "%"),
        None => (measure.strip_suffix(" (aantal)").unwrap_or(measure), "aantal"),
    };
    ingest::cbs::model::topic_column(TOPIC_GROUP, title, unit)
}

/// Checks every reference value of a table against `table` in `data`; `dimension` filters the rows
/// (`veiligheidsbeoordeling = 'Totaal'`).
fn check_references(
    data: &Path,
    refs: &[Reference],
    table: &str,
    dimension: &dyn Fn(&Reference) -> String,
) -> Result<usize, String> {
    for r in refs {
        let sql = format!(
            "SELECT {col}, provisional, suppressed_cells FROM {table} WHERE region_code = '{code}' AND period = '{p}' {dim}",
            col = column(&r.measure),
            code = region_code(&r.region),
            p = period(&r.period_code),
            dim = dimension(r),
        );
        let rows = query(data, &sql)?;
        let want = if r.published == "." { "NULL".to_string() } else { r.published.replace(',', ".") };
        ensure(rows.len() == 1, || format!("{sql}: {} rows", rows.len()))?;
        ensure_eq(rows[0][0].clone(), want, &format!("{} {} {} {}", r.table, r.region, r.period_label, r.measure))?;
        ensure_eq(rows[0][1].clone(), r.period_label.ends_with('*').to_string(), &format!("provisional of {sql}"))?;
    }
    Ok(refs.len())
}

fn totaal(_: &Reference) -> String {
    "AND veiligheidstaxatie = 'Totaal' AND veiligheidsbeoordeling = 'Totaal'".into()
}

fn fetch_reproduces_84852() -> Result<(), String> {
    let service = Service::start(false, 12);
    service.put(table_84852());
    // 36 rows in three pages; each fault once
    service.fault("/DataProperties", Fault::Slow(Duration::from_secs(3)), 1);
    service.fault("UntypedDataSet?$format=json&$skip=12", Fault::ServerError, 1);
    service.fault("UntypedDataSet?$format=json&$skip=24", Fault::DropMidBody, 1);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    fetch_into(&data, "84852NED", &options(&service, Api::V3))?;
    let log = service.take_log();
    let asked = |part: &str| log.iter().filter(|t| t.contains(part)).count();
    ensure_eq(asked("/DataProperties"), 2, "DataProperties asked again after the timeout")?;
    ensure_eq(asked("$skip=12"), 2, "page 2 asked again after the 500")?;
    ensure_eq(asked("$skip=24"), 2, "page 3 asked again after the dropped connection")?;
    let pages = std::fs::read_dir(data.join("raw/cbs/84852NED/UntypedDataSet")).map_err(|e| e.to_string())?.count();
    ensure_eq(pages, 4, "three pages kept as received, and DONE")?;

    let refs = references("84852NED");
    ensure(refs.len() == 33, || format!("{} reference values of 84852NED", refs.len()))?;
    check_references(&data, &refs, "cbs_84852ned", &totaal)?;
    // the rounded landsdelen do not add up to Nederland (64,500 against 64,505), as published
    let sums = query(
        &data,
        "SELECT sum(ontvangen_meldingen) FILTER (WHERE region_level = 'landsdeel'), \
                sum(ontvangen_meldingen) FILTER (WHERE region_level = 'land') \
         FROM cbs_84852ned WHERE period = '2020H1' AND veiligheidsbeoordeling = 'Totaal'",
    )?;
    ensure_eq(sums, vec![vec!["64500".to_string(), "64505".to_string()]], "landsdelen and Nederland, H1 2020")?;
    let hidden = query(
        &data,
        "SELECT count(*), count(ontvangen_meldingen), sum(suppressed_cells), min(region_code) FROM vt_veiligheid \
         WHERE veiligheidsbeoordeling = 'Acute onveiligheid'",
    )?;
    ensure_eq(
        hidden,
        vec![vec!["3".into(), "0".into(), "3".into(), "NL01".into()]],
        "hidden cells are NULL and counted",
    )?;
    let described = query(
        &data,
        "SELECT unit, title, description FROM cbs_columns WHERE table_name = 'cbs_84852ned' AND column_name = 'ontvangen_meldingen'",
    )?;
    ensure_eq(
        described,
        vec![vec!["aantal".into(), "Ontvangen meldingen".into(), "Ontvangen meldingen: zie de toelichting".into()]],
        "the topic's unit and CBS description",
    )?;
    let release = query(&data, "SELECT DISTINCT release, source_table FROM cbs_84852ned")?;
    ensure_eq(release, vec![vec!["2024-06-28".into(), "84852NED".into()]], "release from TableInfos.Modified")
}

fn unchanged_downloads_nothing() -> Result<(), String> {
    let service = Service::start(false, 12);
    service.put(table_84852());
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    fetch_into(&data, "84852NED", &options(&service, Api::V3))?;
    service.take_log();
    let parquet_before = std::fs::read_dir(crate::common::tables(&data).join("cbs_84852ned/year=2020/half=1"))
        .map_err(|e| e.to_string())?
        .count();
    fetch_into(&data, "84852NED", &options(&service, Api::V3))?;
    let log = service.take_log();
    ensure_eq(
        log,
        vec!["/ODataFeed/odata/84852NED/TableInfos?$format=json".to_string()],
        "requests of a second fetch",
    )?;
    let parquet_after = std::fs::read_dir(crate::common::tables(&data).join("cbs_84852ned/year=2020/half=1"))
        .map_err(|e| e.to_string())?
        .count();
    ensure_eq(parquet_after, parquet_before, "files of the partition")
}

fn new_release_keeps_history() -> Result<(), String> {
    let service = Service::start(false, 100);
    let mut table = table_85361();
    service.put(table.clone());
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    fetch_into(&data, "85361NED", &options(&service, Api::V3))?;
    check_references(&data, &references("85361NED"), "cbs_85361ned", &|_| String::new())?;

    // A later release: 2023 definitive, one figure revised (a test value, not a published one).
    table.modified = "2025-06-30T02:00:00".into();
    table.periods[0].2 = "Definitief".into();
    table.rows[0].3[0] = "36360".into();
    service.put(table);
    fetch_into(&data, "85361NED", &options(&service, Api::V3))?;
    let now = query(
        &data,
        "SELECT provisional, vervolgmelding_tijdens_betrokkenheid_vt_totaal, release FROM cbs_85361ned WHERE region_code = 'NL01'",
    )?;
    ensure_eq(now, vec![vec!["false".into(), "36360".into(), "2025-06-30".into()]], "the current figure")?;
    let history = query(
        &data,
        "SELECT release, provisional, vervolgmelding_tijdens_betrokkenheid_vt_totaal, replaced_by FROM cbs_85361ned_history \
         WHERE region_code = 'NL01' AND period = '2023' ORDER BY release",
    )?;
    ensure_eq(
        history,
        vec![
            vec!["2024-10-31".into(), "true".into(), "36355".into(), "2025-06-30".into()],
            vec!["2025-06-30".into(), "false".into(), "36360".into(), "NULL".into()],
        ],
        "how the provisional 2023 figure changed",
    )?;
    // the same release again changes nothing
    ingest::cbs::ingest_kept(&data, &["85361NED".into()], &mut |_| {}).map_err(|e| e.to_string())?;
    let versions = query(&data, "SELECT count(*) FROM cbs_85361ned_history")?;
    ensure_eq(versions, vec![vec!["4".into()]], "versions after ingesting the kept pages again")
}

fn killed_fetch_resumes() -> Result<(), String> {
    let service = Service::start(false, 12);
    service.put(table_84852());
    service.fault("UntypedDataSet?$format=json&$skip=24", Fault::Slow(Duration::from_secs(60)), 1);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vtsql"))
        .arg("--data")
        .arg(&data)
        .args(["fetch", "84852NED", "--api", "v3", "--base-url", &service.base, "--timeout", "120"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let second_page = data.join("raw/cbs/.partial-84852NED/UntypedDataSet/page-00002.json");
    let waited = std::time::Instant::now();
    while !second_page.exists() && waited.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().map_err(|e| e.to_string())?;
    child.wait().map_err(|e| e.to_string())?;
    ensure(second_page.exists(), || "the fetch kept no second page before it was killed".into())?;
    ensure(!crate::common::tables(&data).join("cbs_84852ned").exists(), || "a killed fetch wrote a table".into())?;
    service.clear_faults();
    service.take_log();
    fetch_into(&data, "84852NED", &options(&service, Api::V3))?;
    let log = service.take_log();
    ensure(!log.iter().any(|t| t.ends_with("UntypedDataSet?$format=json") || t.contains("$skip=12")), || {
        format!("pages kept before the kill were asked again: {log:?}")
    })?;
    ensure(!log.iter().any(|t| t.contains("DataProperties") || t.contains("/RegioS")), || {
        format!("metadata kept before the kill was asked again: {log:?}")
    })?;
    ensure(log.iter().any(|t| t.contains("$skip=24")), || format!("the third page was not asked: {log:?}"))?;
    check_references(&data, &references("84852NED"), "cbs_84852ned", &totaal).map(|_| ())
}

fn fetch_errors() -> Result<(), String> {
    let service = Service::start(false, 12);
    service.put(table_84852());
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let options = options(&service, Api::V3);
    let unknown = fetch_into(&data, "99999NED", &options).unwrap_err();
    ensure(unknown.contains("no table 99999NED") && unknown.contains("404"), || unknown.clone())?;
    let not_an_id = fetch_into(&data, "../etc", &options).unwrap_err();
    ensure(not_an_id.contains("not a CBS table id"), || not_an_id.clone())?;

    // a page without rows names its URL and the field
    service.fault("UntypedDataSet", Fault::Replace("{\"odata.metadata\":\"x\",\"rows\":[]}"), 1);
    let shape = fetch_into(&data, "84852NED", &options).unwrap_err();
    ensure(
        shape.contains("/84852NED/UntypedDataSet?$format=json: not a CBS open data response: no field \"value\""),
        || shape.clone(),
    )?;
    ensure(!crate::common::tables(&data).join("cbs_84852ned").exists(), || "a refused fetch wrote a table".into())?;

    // a row whose period the table does not list names the kept page, the row and the field
    service.fault(
        "UntypedDataSet",
        Fault::Replace(
            "{\"odata.metadata\":\"x\",\"value\":[{\"ID\":0,\"Veiligheidstaxatie\":\"T001038\",\"Veiligheidsbeoordeling\":\"T001038\",\
             \"RegioS\":\"NL01      \",\"Perioden\":\"2031HJ01\",\"OntvangenMeldingen_1\":\"     5\"}]}",
        ),
        1,
    );
    let mut fresh = options.clone();
    fresh.force = true;
    let row = fetch_into(&data, "84852NED", &fresh).unwrap_err();
    ensure(
        row.contains("page-00001.json") && row.contains("row 1: field \"Perioden\"") && row.contains("2031HJ01"),
        || row.clone(),
    )?;
    ensure(!crate::common::tables(&data).join("cbs_84852ned").exists(), || "a refused ingest wrote a table".into())?;
    Ok(())
}

fn fetch_v4() -> Result<(), String> {
    let service = Service::start(true, 5);
    service.put(table_85361());
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    fetch_into(&data, "85361NED", &options(&service, Api::V4))?;
    let log = service.take_log();
    ensure(log.iter().filter(|t| t.contains("/Observations")).count() == 4, || {
        format!("16 observations in pages of 5: {log:?}")
    })?;
    check_references(&data, &references("85361NED"), "cbs_85361ned", &|_| String::new())?;
    let hidden = query(
        &data,
        "SELECT suppressed_cells, meldingen_tijdens_monitoring FROM cbs_85361ned WHERE region_code = 'GM0141'",
    )?;
    ensure_eq(hidden, vec![vec!["4".into(), "NULL".into()]], "Almelo's untranscribed cells")
}

/// `--api auto`: v4 serves a table it has, and v3 one that v4 lacks (404) or fails to give (500s past the
/// retries); each way the table holds the same rows, cell for cell.
fn fetch_auto() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let table = "SELECT * FROM cbs_85361ned ORDER BY region_code, period";
    let mut tables = Vec::new();
    for case in ["v4 has it", "v4 lacks it", "v4 fails"] {
        let (v4, v3) = (Service::start(true, 5), Service::start(false, 5));
        v3.put(table_85361());
        if case != "v4 lacks it" {
            v4.put(table_85361());
        }
        if case == "v4 fails" {
            v4.fault("/Observations", Fault::ServerError, 100);
        }
        let mut auto = options(&v4, Api::V4);
        auto.fallback = Some(Box::new(options(&v3, Api::V3)));
        let data = dir.path().join(case.replace(' ', "-"));
        fetch_into(&data, "85361NED", &auto)?;
        let asked_v3 = v3.take_log().len();
        ensure((asked_v3 == 0) == (case == "v4 has it"), || format!("{case}: v3 was asked {asked_v3} times"))?;
        let api = std::fs::read_to_string(data.join("raw/cbs/85361NED/api")).map_err(|e| e.to_string())?;
        ensure_eq(api.trim(), if case == "v4 has it" { "v4" } else { "v3" }, &format!("{case}: the kept download"))?;
        check_references(&data, &references("85361NED"), "cbs_85361ned", &|_| String::new())?;
        tables.push(query(&data, table)?);
    }
    ensure(!tables[0].is_empty(), || "no rows".to_string())?;
    ensure_eq(&tables[1], &tables[0], "from v3 (v4 lacks the table) and from v4")?;
    ensure_eq(&tables[2], &tables[0], "from v3 (v4 fails) and from v4")
}

/// 84852NED with a second topic (a share) and the year 2021 besides 2020: the figures a part is taken of.
fn table_84852_two_years() -> crate::cbs_service::Table {
    let mut table = table_84852();
    table.topics.push(("Aandeel_2".into(), "Aandeel".into(), "%".into(), 1));
    for row in table.rows.iter_mut() {
        let share = if row.3[0] == "." { ".".to_string() } else { format!("{}.5", row.3[0].len() * 7) };
        row.3.push(share);
    }
    let later: Vec<_> = table
        .rows
        .iter()
        .map(|(categories, region, period, values)| {
            let values = values.iter().map(|v| v.parse::<f64>().map(|x| format!("{}", x + 1.0)).unwrap_or(v.clone()));
            (categories.clone(), region.clone(), period.replace("2020", "2021"), values.collect())
        })
        .collect();
    table.rows.extend(later);
    let later: Vec<_> = table
        .periods
        .iter()
        .map(|(c, t, s)| (c.replace("2020", "2021"), t.replace("2020", "2021"), s.clone()))
        .collect();
    table.periods.extend(later);
    table
}

/// `--regions`, `--periods` and `--topics` over both APIs: the part asks the service with `$filter` (and v3
/// `$select`), stores only its cells (a topic left out is NULL, not 0, and keeps what was stored), a second
/// fetch of the same part downloads nothing, and wider parts then the whole table leave exactly the table
/// and history of one whole fetch. A code the table lacks is an error naming it, and nothing is stored.
fn parts_then_whole() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let table = "SELECT * FROM cbs_84852ned ORDER BY region_code, period, veiligheidsbeoordeling";
    let history = "SELECT * FROM cbs_84852ned_history ORDER BY region_code, period, veiligheidsbeoordeling, release";
    for (api, v4) in [(Api::V3, false), (Api::V4, true)] {
        let service = Service::start(v4, 4);
        service.put(table_84852_two_years());
        let options = options(&service, api);
        let whole = dir.path().join(format!("whole-{}", api.as_str()));
        fetch_into(&whole, "84852NED", &options)?;
        let (whole_table, whole_history) = (query(&whole, table)?, query(&whole, history)?);
        // 11 regions and Nederland's second category, 3 periods a year, 2 years
        ensure(whole_table.len() == 2 * 3 * (11 + 1), || format!("{api:?}: {} rows", whole_table.len()))?;
        service.take_log();

        let data = dir.path().join(format!("parts-{}", api.as_str()));
        fetch_part(&data, "84852NED", &["pv22", "NL01"], Some("2021"), &["Ontvangen meldingen"], &options)?;
        let asked: Vec<String> = service.take_log().into_iter().filter(|t| t.contains(api.data_set())).collect();
        ensure(asked.iter().all(|t| t.contains("$filter=")), || format!("{api:?}: figures asked as {asked:?}"))?;
        ensure(!v4 || asked.iter().all(|t| t.contains("Measure%20eq")), || format!("{asked:?}"))?;
        ensure(v4 || asked.iter().all(|t| t.contains("$select=")), || format!("{asked:?}"))?;
        let part = query(
            &data,
            "SELECT region_code, period, veiligheidsbeoordeling, ontvangen_meldingen, meldingen_aandeel_pct FROM cbs_84852ned \
             ORDER BY 1, 2, 3",
        )?;
        let expected = query(
            &whole,
            "SELECT region_code, period, veiligheidsbeoordeling, ontvangen_meldingen, NULL AS meldingen_aandeel_pct \
             FROM cbs_84852ned WHERE region_code IN ('PV22', 'NL01') AND period LIKE '2021%' ORDER BY 1, 2, 3",
        )?;
        ensure(expected.len() == 9, || format!("{api:?}: {expected:?}"))?;
        ensure_eq(&part, &expected, &format!("{api:?}: the part's cells"))?;
        let scope = std::fs::read_to_string(data.join("raw/cbs/84852NED/SCOPE")).map_err(|e| e.to_string())?;
        ensure(scope.starts_with("regions PV22,NL01; periods 2021; topics ontvangen meldingen\ntopics\t"), || {
            format!("{api:?}: kept scope {scope:?}")
        })?;

        // the same part again: only the table's release is asked
        fetch_part(&data, "84852NED", &["PV22", "NL01"], Some("2021"), &["ontvangen MELDINGEN"], &options)?;
        let again = service.take_log();
        ensure(again.len() == 1 && !again[0].contains(api.data_set()), || format!("{api:?}: {again:?}"))?;

        // wider: those regions, every period and topic (completes the 2021 rows), then the whole table
        fetch_part(&data, "84852NED", &["PV22", "NL01"], None, &[], &options)?;
        let counts = "SELECT count(*), count(ontvangen_meldingen), count(meldingen_aandeel_pct) FROM cbs_84852ned";
        ensure_eq(
            query(&data, counts)?,
            query(&whole, &format!("{counts} WHERE region_code IN ('PV22', 'NL01')"))?,
            &format!("{api:?}: after the wider part"),
        )?;
        fetch_into(&data, "84852NED", &options)?;
        ensure_eq(&query(&data, table)?, &whole_table, &format!("{api:?}: parts, then whole"))?;
        ensure_eq(&query(&data, history)?, &whole_history, &format!("{api:?}: the history of parts, then whole"))?;

        // what the table lacks is named, and nothing is stored
        let before = query(&data, table)?;
        for (regions, periods, topics, says) in [
            (&["GM9999"][..], None, &[][..], "has no region GM9999 in RegioS"),
            (&[][..], Some("2030..2031"), &[][..], "has no periods in 2030..2031"),
            (&[][..], None, &["Afgesloten casussen"][..], "has no topic \"afgesloten casussen\""),
        ] {
            let error = fetch_part(&data, "84852NED", regions, periods, topics, &options).err().unwrap_or_default();
            ensure(error.contains("84852NED") && error.contains(says), || format!("{api:?}: {error:?}"))?;
        }
        ensure_eq(query(&data, table)?, before, &format!("{api:?}: the table after refused parts"))?;
    }
    // the command line: a part by key, and words that are no part
    let service = Service::start(false, 50);
    service.put(table_84852_two_years());
    let data = dir.path().join("command");
    let vtsql = |part: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vtsql"))
            .arg("--data")
            .arg(&data)
            .args(["fetch", "84852NED", "--api", "v3", "--base-url", &service.base])
            .args(part)
            .output()
            .map_err(|e| e.to_string())
    };
    let out = vtsql(&["--regions", "PV22,PV23", "--periods", "2020..2020", "--topics", "OntvangenMeldingen_1"])?;
    ensure(out.status.success(), || String::from_utf8_lossy(&out.stderr).into_owned())?;
    ensure_eq(
        query(&data, "SELECT count(*), count(ontvangen_meldingen), count(meldingen_aandeel_pct) FROM cbs_84852ned")?,
        vec![vec!["6".into(), "6".into(), "0".into()]],
        "two provincies, 2020's three periods, one topic",
    )?;
    let out = vtsql(&["--periods", "2025..2023"])?;
    let said = String::from_utf8_lossy(&out.stderr);
    ensure(!out.status.success() && said.contains("--periods: \"2025..2023\" ends before it begins"), || {
        said.to_string()
    })
}

/// A table as CBS's v4 service served it (responses recorded by a public v4 client, `tests/data/odata-v4-80072ned`),
/// fetched through the stand-in in pages of 50: every observation is stored, cell for cell, under its year and
/// the category's title, with the table's title, the measure's unit and the categories' hierarchy.
fn recorded_v4() -> Result<(), String> {
    let recorded = crate::common::repo().join("tests/data/odata-v4-80072ned");
    let service = Service::start(true, 50);
    service.put_recorded("80072NED", &recorded);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    fetch_into(&data, "80072NED", &options(&service, Api::V4))?;
    // what CBS served: (year, category title, value) for every observation
    let read = |set: &str| -> Result<Vec<serde_json::Value>, String> {
        let text = std::fs::read_to_string(recorded.join(format!("{set}.json"))).map_err(|e| e.to_string())?;
        let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        Ok(body["value"].as_array().cloned().unwrap_or_default())
    };
    let titles: std::collections::HashMap<String, String> = read("BedrijfskenmerkenSBI2008Codes")?
        .iter()
        .map(|c| {
            (
                c["Identifier"].as_str().unwrap_or_default().to_string(),
                c["Title"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let provisional: std::collections::HashSet<String> = read("PeriodenCodes")?
        .iter()
        .filter(|p| p["Status"].as_str() == Some("Voorlopig"))
        .filter_map(|p| p["Identifier"].as_str().map(str::to_string))
        .collect();
    // (period, category title, value, provisional) of every observation, years and quarters
    let mut served: Vec<Vec<String>> = read("Observations")?
        .iter()
        .map(|o| {
            let code = o["Perioden"].as_str().unwrap_or_default();
            let category = o["BedrijfskenmerkenSBI2008"].as_str().unwrap_or_default();
            vec![
                period(code),
                titles[category].clone(),
                format!("{:.1}", o["Value"].as_f64().unwrap_or(f64::NAN)),
                provisional.contains(code).to_string(),
            ]
        })
        .collect();
    served.sort();
    ensure_eq(served.len(), 726, "observations recorded")?;
    ensure_eq(served.iter().filter(|r| r[3] == "true").count(), 6, "observations of the provisional 2020KW01")?;
    let stored = query(
        &data,
        "SELECT period, bedrijfskenmerken_sbi_2008, ziekteverzuimpercentage, provisional FROM cbs_80072ned \
         WHERE suppressed_cells = 0 ORDER BY 1, 2",
    )?;
    ensure_eq(stored, served, "cbs_80072ned against the observations CBS served")?;
    // a quarter is stored in the half-year it falls in
    ensure_eq(
        query(&data, "SELECT DISTINCT year, half FROM cbs_80072ned WHERE period IN ('2019Q2', '2019Q3') ORDER BY 2")?,
        vec![vec!["2019".to_string(), "1".to_string()], vec!["2019".to_string(), "2".to_string()]],
        "the partitions of 2019Q2 and 2019Q3",
    )?;
    ensure_eq(
        query(&data, "SELECT title, release FROM cbs_tables WHERE table_id = '80072NED'")?,
        vec![vec!["Ziekteverzuimpercentage; bedrijfstakken (SBI 2008) en bedrijfsgrootte".into(), "2020-06-19".into()]],
        "the table's title and release",
    )?;
    ensure_eq(
        query(&data, "SELECT title, unit FROM cbs_columns WHERE column_name = 'ziekteverzuimpercentage'")?,
        vec![vec!["Ziekteverzuimpercentage".into(), "%".into()]],
        "the measure's title and unit",
    )
}

/// `vtsql fetch --list` and `--search`: the list of datasets CBS's v4 service gave (recorded, 53 tables),
/// served in pages of 20; words find tables by id or title, whatever their case; `--api auto` lists v3's
/// catalogue where v4 has none.
fn catalogue() -> Result<(), String> {
    let text = std::fs::read_to_string(crate::common::repo().join("tests/data/odata-v4-catalog/Datasets.json"))
        .map_err(|e| e.to_string())?;
    let recorded: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let datasets = recorded["value"].as_array().cloned().unwrap_or_default();
    let v4 = Service::start(true, 20);
    v4.put_listing(datasets.clone());
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let options = options(&v4, Api::V4);
    let (_, all, listed) = fetch::catalog::search(&options, &[]).map_err(|e| e.to_string())?;
    ensure_eq((all.len(), listed), (53, 53), "tables listed")?;
    let asked = v4.take_log().iter().filter(|t| t.contains("Datasets")).count();
    ensure_eq(asked, 3, "pages of 20 asked for")?;
    let (_, found, _) = fetch::catalog::search(&options, &words(&["ZIEKTEVERZUIM"])).map_err(|e| e.to_string())?;
    let first = found.first().ok_or("ziekteverzuim: nothing found")?;
    ensure_eq(
        (first.id.as_str(), first.title.as_str(), first.size, first.modified.get(..10)),
        (
            "80072NED",
            "Ziekteverzuimpercentage; bedrijfstakken (SBI 2008) en bedrijfsgrootte",
            Some(4409),
            Some("2020-06-19"),
        ),
        "the table found by a word of its title",
    )?;
    // every word must match; the recorded titles decide
    for (query, want) in [(vec!["wijken", "buurten"], "Kerncijfers wijken en buurten"), (vec!["80784"], "Landbouw")] {
        let (_, found, _) = fetch::catalog::search(&options, &words(&query)).map_err(|e| e.to_string())?;
        let expected = datasets
            .iter()
            .filter(|d| {
                let hay = format!("{} {}", d["Identifier"], d["Title"]).to_lowercase();
                query.iter().all(|w| hay.contains(w))
            })
            .count();
        ensure(!found.is_empty() && found.len() == expected && found.iter().all(|e| e.title.contains(want)), || {
            format!("{query:?}: {} found, {expected} expected: {found:?}", found.len())
        })?;
    }
    // the command: the matches on stdout, the whole listing as cbs_catalog
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtsql"))
        .arg("--data")
        .arg(&data)
        .args(["fetch", "--api", "v4", "--base-url", &v4.base, "--search", "Ziekteverzuim"])
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure(out.status.success() && stdout.lines().count() == 1 + found.len(), || {
        format!("{}\n{stdout}{}", out.status, String::from_utf8_lossy(&out.stderr))
    })?;
    ensure(stdout.lines().nth(1).is_some_and(|l| l.starts_with("80072NED  Ziekteverzuimpercentage; ")), || {
        stdout.to_string()
    })?;
    ensure_eq(
        query(
            &data,
            "SELECT count(*), count(DISTINCT table_id), min(listed_by) LIKE 'OData v4 at http%' FROM cbs_catalog",
        )?,
        vec![vec!["53".into(), "53".into(), "true".into()]],
        "cbs_catalog after a search",
    )?;
    ensure_eq(
        query(&data, "SELECT title, size, status FROM cbs_catalog WHERE table_id = '81075NED'")?,
        vec![vec![
            "Werkloze beroepsbevolking; werkloosheidsduur en persoonskenmerken 2003-2018".into(),
            "2432".into(),
            "Gediscontinueerd".into(),
        ]],
        "a discontinued table in cbs_catalog",
    )?;
    // a catalogue by name: refused before any request where no API asked for serves it
    for (args, says) in [
        (&["--catalog", "../x", "--list"][..], "\"../x\" is not a catalogue name"),
        (&["--catalog", "CBS-asd", "--api", "v3", "84852NED"][..], "OData v3 serves the catalogues CBS and dataderden"),
        (&["--catalog", "dataderden", "--base-url", &v4.base, "--list"][..], "cannot be used with"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtsql"))
            .arg("--data")
            .arg(dir.path().join("refused"))
            .arg("fetch")
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        let said = String::from_utf8_lossy(&out.stderr);
        ensure(!out.status.success() && said.contains(says), || format!("{args:?}: {said}"))?;
    }
    ensure(!dir.path().join("refused").exists(), || "a refused fetch made the data directory".to_string())?;
    let (_, none, _) =
        fetch::catalog::search(&options, &words(&["ziekteverzuim", "kinderopvang"])).map_err(|e| e.to_string())?;
    ensure(none.is_empty(), || format!("two words, one absent: {none:?}"))?;
    // auto: v4 has no list (404), v3 has one
    let (empty_v4, v3) = (Service::start(true, 20), Service::start(false, 20));
    v3.put_listing(vec![serde_json::json!({
        "Identifier": "84852NED", "Title": "Huiselijk geweld; veiligheidsbeoordeling en -taxatie, regio",
        "Period": "2019 - 2025 1e halfjaar", "Modified": "2025-10-31T02:00:00", "RecordCount": 12345,
        "OutputStatus": "Regulier", "Catalog": "CBS"
    })]);
    let mut auto =
        fetch::Options { fallback: Some(Box::new(self::options(&v3, Api::V3))), ..self::options(&empty_v4, Api::V4) };
    auto.retries = 0;
    let (served, found, _) =
        fetch::catalog::search(&auto, &words(&["huiselijk", "GEWELD"])).map_err(|e| e.to_string())?;
    ensure_eq(served.api, Api::V3, "the service that listed")?;
    ensure_eq(
        found.iter().map(|e| (e.id.as_str(), e.period.as_deref(), e.size)).collect::<Vec<_>>(),
        vec![("84852NED", Some("2019 - 2025 1e halfjaar"), Some(12345))],
        "v3's catalogue",
    )
}

/// Writes `lines` to `dir/name`.
fn write(dir: &Path, name: &str, lines: &[String]) -> Result<PathBuf, String> {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\r\n") + "\r\n").map_err(|e| e.to_string())?;
    Ok(path)
}

fn quoted(fields: &[&str]) -> String {
    fields.iter().map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(";")
}

/// The header of a StatLine CSV download of 84852NED with one topic.
const HEADER_84852: [&str; 5] =
    ["Veiligheidstaxatie", "Veiligheidsbeoordeling", "Regio's", "Perioden", "Ontvangen meldingen (aantal)"];

/// A StatLine CSV download of 84852NED, a text export of 85361NED and a CSV download of 84849NED, written
/// from the published values.
fn downloads(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut csv = vec![quoted(&HEADER_84852)];
    for r in references("84852NED") {
        csv.push(quoted(&["Totaal", "Totaal", &r.region, &r.period_label, &r.published]));
    }
    csv.push("\"Bron: CBS\"".into());
    let a = write(dir, "Huiselijk_geweld__veiligheidsbeoordeling_en__taxatie__regio_01122026_101500.csv", &csv)?;

    let refs = references("85361NED");
    // a text export writes each topic's group before its title
    let mut header = "Regio's Perioden".to_string();
    for unit in ["aantal", "%"] {
        for t in TOPICS_85361 {
            header.push_str(&format!(" {TOPIC_GROUP} {t} ({unit})"));
        }
    }
    let mut text = vec![
        "Huiselijk geweld; meldingen naar eerdere betrokkenheid Veilig Thuis, regio".to_string(),
        String::new(),
        header,
    ];
    for region in ["Nederland", "Almelo"] {
        let mut line = format!("{region} 2023*");
        for unit in ["(aantal)", "(%)"] {
            for t in TOPICS_85361 {
                let v = refs.iter().find(|r| r.region == region && r.measure == format!("{t} {unit}"));
                line.push_str(&format!(" {}", v.map(|r| r.published.as_str()).unwrap_or(".")));
            }
        }
        text.push(line);
    }
    text.push("Bron: CBS".into());
    let b = write(dir, "export.txt", &text)?;

    let mut csv = vec![quoted(&[
        "Rol/functie adviesvrager en melder",
        "Regio's",
        "Perioden",
        "Gestarte adviezen (aantal)",
        "Ontvangen meldingen (aantal)",
    ])];
    let refs = references("84849NED");
    let mut keys: Vec<(String, String, String)> = Vec::new();
    for r in &refs {
        let key = (r.dimension.clone(), r.region.clone(), r.period_label.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for (dim, region, period) in keys {
        let value = |m: &str| {
            refs.iter()
                .find(|r| r.dimension == dim && r.region == region && r.period_label == period && r.measure == m)
                .map(|r| r.published.clone())
                .unwrap_or_else(|| ".".into())
        };
        csv.push(quoted(&[&dim, &region, &period, &value("Gestarte adviezen"), &value("Ontvangen meldingen")]));
    }
    let c = write(dir, "download.csv", &csv)?;
    Ok(vec![a, b, c])
}

fn statline_downloads() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let files = downloads(dir.path())?;
    let report = ingest::ingest_files(&data, &files, &mut |_| {}).map_err(|e| e.to_string())?;
    ensure(report.lines.iter().any(|l| l.starts_with("cbs_84849ned:")), || format!("{:?}", report.lines))?;
    let n = check_references(&data, &references("84852NED"), "cbs_84852ned", &totaal)?;
    let m = check_references(&data, &references("85361NED"), "cbs_85361ned", &|_| String::new())?;
    let k = check_references(&data, &references("84849NED"), "cbs_84849ned", &|r| {
        format!("AND rol_functie_adviesvrager_en_melder = '{}'", r.dimension)
    })?;
    ensure_eq(n + m + k, 33 + 12 + 24, "reference values checked")?;
    let views = query(&data, "SELECT table_name, view_name FROM cbs_tables ORDER BY 1")?;
    ensure_eq(
        views,
        vec![
            vec!["cbs_84849ned".into(), "vt_melders".into()],
            vec!["cbs_84852ned".into(), "vt_veiligheid".into()],
            vec!["cbs_85361ned".into(), "vt_eerdere_betrokkenheid".into()],
        ],
        "tables and their views",
    )?;
    // one query across two tables of the family
    let joined = query(
        &data,
        "SELECT m.region_code, m.ontvangen_meldingen, v.ontvangen_meldingen FROM vt_melders m \
         JOIN vt_veiligheid v ON v.region_code = m.region_code AND v.veiligheidsbeoordeling = 'Totaal' \
         WHERE m.rol_functie_adviesvrager_en_melder = 'Totaal' AND m.period = '2025H1' AND v.period = '2020H1' \
         ORDER BY 1",
    )?;
    ensure_eq(joined.len(), 5, "Nederland and the landsdelen in both tables")?;
    ensure_eq(joined[0].clone(), vec!["LD01".to_string(), "5775".into(), "5275".into()], "Noord-Nederland in both")
}

fn same_figures_once() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    // the seed export, and a CSV download of the same Almelo figures (named as a browser would save it)
    let text = std::fs::read_to_string(crate::common::seed()).map_err(|e| e.to_string())?;
    let mut csv = vec![quoted(&[
        "Kenmerken adviezen, meldingen, diensten",
        "Regio's",
        "Perioden",
        "Adviezen, meldingen en diensten/Gestarte adviezen (aantal)",
        "Adviezen, meldingen en diensten/Ontvangen meldingen (aantal)",
        "Adviezen, meldingen en diensten/Casussen met ontvangen melding(en) (aantal)",
        "Adviezen, meldingen en diensten/Afgeronde diensten/Afgeronde diensten onderzoek (aantal)",
        "Adviezen, meldingen en diensten/Afgeronde diensten/Afgeronde diensten voorwaarden en vervolg (aantal)",
    ])];
    for line in text.lines().filter(|l| l.contains(" Almelo 1e halfjaar 2020* ")) {
        let (category, cells) = line.split_once(" Almelo 1e halfjaar 2020* ").unwrap_or_default();
        let mut fields = vec![category, "Almelo", "1e halfjaar 2020*"];
        fields.extend(cells.split(' '));
        csv.push(quoted(&fields));
    }
    let download = write(dir.path(), "Almelo (1).csv", &csv)?;
    ingest::ingest_files(&data, &[crate::common::seed(), download.clone()], &mut |_| {}).map_err(|e| e.to_string())?;
    let total = query(&data, "SELECT sum(ontvangen_meldingen), count(*) FROM veilig_thuis WHERE category = 'Totaal'")?;
    ensure_eq(total, vec![vec!["245".into(), "1".into()]], "Almelo's meldingen, seed and CSV")?;
    let rows = query(&data, "SELECT count(*), count(DISTINCT source_table) FROM veilig_thuis")?;
    ensure_eq(rows, vec![vec!["52".into(), "1".into()]], "veilig_thuis rows")?;
    let generic = query(&data, "SELECT count(*) FROM cbs_84851ned")?;
    ensure_eq(generic, vec![vec!["52".into()]], "cbs_84851ned rows")?;
    // loading the download once more stores nothing new
    let report = ingest::ingest_files(&data, &[download], &mut |_| {}).map_err(|e| e.to_string())?;
    ensure(report.lines.iter().any(|l| l.contains("0 new, 0 replaced") && l.contains("52 unchanged")), || {
        format!("{:?}", report.lines)
    })?;

    // a download that shows no kind of violence and no title is refused, and named it loads
    let bare = write(
        dir.path(),
        "x.csv",
        &[
            quoted(&["Kenmerken adviezen, meldingen, diensten", "Regio's", "Perioden", "Ontvangen meldingen (aantal)"]),
            quoted(&["Totaal", "Drenthe (VT)", "2023*", "1905"]),
        ],
    )?;
    let refused = ingest::ingest_files(&data, std::slice::from_ref(&bare), &mut |_| {}).unwrap_err().to_string();
    ensure(refused.contains("x.csv:1: table: cannot tell which CBS table") && refused.contains("--table"), || {
        refused.clone()
    })?;
    ingest::ingest_files_as(&data, &[bare], Some("84849NED"), &mut |_| {}).map_err(|e| e.to_string())?;
    let named = query(&data, "SELECT ontvangen_meldingen, source_table FROM cbs_84849ned")?;
    ensure_eq(named, vec![vec!["1905".into(), "84849NED".into()]], "the named download")
}

fn some_topics() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let refs = references("85361NED");
    let part = |unit: &str, name: &str| -> Result<PathBuf, String> {
        let mut header = vec!["Regio's".to_string(), "Perioden".to_string()];
        header.extend(TOPICS_85361.iter().map(|t| format!("{TOPIC_GROUP}/{t} ({unit})")));
        let mut line = vec!["Nederland".to_string(), "2023*".to_string()];
        for t in TOPICS_85361 {
            line.push(
                refs.iter()
                    .find(|r| r.region == "Nederland" && r.measure == format!("{t} ({unit})"))
                    .unwrap()
                    .published
                    .clone(),
            );
        }
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        let l: Vec<&str> = line.iter().map(String::as_str).collect();
        write(dir.path(), name, &[quoted(&h), quoted(&l)])
    };
    let counts = part("aantal", "85361NED_aantal.csv")?;
    let percentages = part("%", "85361NED_pct.csv")?;
    ingest::ingest_files(&data, &[counts], &mut |_| {}).map_err(|e| e.to_string())?;
    ingest::ingest_files(&data, &[percentages], &mut |_| {}).map_err(|e| e.to_string())?;
    let both = query(
        &data,
        "SELECT meldingen_tijdens_monitoring, meldingen_tijdens_monitoring_pct, suppressed_cells FROM cbs_85361ned",
    )?;
    ensure_eq(both, vec![vec!["6545".into(), "5.1".into(), "0".into()]], "counts kept, percentages filled in")
}

/// 85361NED with a topic CBS types `String` added, as *Kerncijfers wijken en buurten* has `Gemeentenaam_1`:
/// Almelo's name (served with the trailing blanks CBS pads names with), hidden (`.`) for Nederland.
fn table_85361_with_text() -> crate::cbs_service::Table {
    let mut table = table_85361();
    table.topics.push(("Gemeentenaam_9".into(), "Gemeentenaam".into(), String::new(), 0));
    table.text_topics.push("Gemeentenaam_9".into());
    for row in &mut table.rows {
        row.3.push(if row.1 == "GM0141" { "Almelo    ".into() } else { ".".into() });
    }
    table
}

/// A text topic through v3 (a string in the data set) and v4 (`StringValue`, with `Value` null) is a TEXT
/// column of the same cells, the figures beside it as published, a hidden text counted as suppressed; a
/// StatLine download afterwards reads the text topic as text too.
fn text_topics() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut tables = Vec::new();
    for api in [Api::V3, Api::V4] {
        let service = Service::start(api == Api::V4, 5);
        service.put(table_85361_with_text());
        let data = dir.path().join(format!("{api:?}"));
        fetch_into(&data, "85361NED", &options(&service, api))?;
        check_references(&data, &references("85361NED"), "cbs_85361ned", &|_| String::new())?;
        let names = query(
            &data,
            "SELECT region_code, meldingen_gemeentenaam, arrow_typeof(meldingen_gemeentenaam), suppressed_cells \
             FROM cbs_85361ned ORDER BY region_code",
        )?;
        let row = |cells: [&str; 4]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        ensure_eq(
            names,
            vec![row(["GM0141", "Almelo", "Utf8View", "4"]), row(["NL01", "NULL", "Utf8View", "1"])],
            &format!("{api:?}: the text topic"),
        )?;
        tables.push(query(&data, "SELECT * FROM cbs_85361ned ORDER BY region_code")?);
    }
    ensure_eq(&tables[1], &tables[0], "the table from v4 and from v3")?;
    // a StatLine CSV download afterwards: the text topic's header has no unit, and the stored model tells
    // it is a topic, not a dimension
    let data = dir.path().join("V3");
    let (count, name) = (format!("{TOPIC_GROUP}/{} (aantal)", TOPICS_85361[0]), format!("{TOPIC_GROUP}/Gemeentenaam"));
    let header = ["Regio's", "Perioden", count.as_str(), name.as_str()];
    let line = ["Enschede", "2023*", "120", "Enschede"];
    let download = write(dir.path(), "85361NED_namen.csv", &[quoted(&header), quoted(&line)])?;
    ingest::ingest_files(&data, &[download], &mut |_| {}).map_err(|e| e.to_string())?;
    let enschede = query(
        &data,
        "SELECT meldingen_gemeentenaam, vervolgmelding_tijdens_betrokkenheid_vt_totaal, provisional FROM cbs_85361ned \
         WHERE region_name = 'Enschede'",
    )?;
    let want = vec![vec!["Enschede".to_string(), "120".to_string(), "true".to_string()]];
    ensure_eq(enschede, want, "a StatLine download (its figures made up) with the text topic")
}

/// The README's query across 84852NED and 84851NED, over the seed export and a CSV download of 84852NED
/// for Almelo (its figures made up for this check: CBS publishes none per gemeente in the reference), and
/// `.schema` showing CBS's units.
fn readme_example() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let readme = std::fs::read_to_string(crate::common::repo().join("README.md")).map_err(|e| e.to_string())?;
    let sql = readme
        .split_once("The share of meldingen assessed as acute onveiligheid")
        .and_then(|(_, rest)| rest.split_once("```sql\n"))
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(sql, _)| sql.to_string())
        .ok_or("the README's example query")?;
    let mut csv = vec![quoted(&HEADER_84852)];
    for (beoordeling, value) in [("Totaal", "240"), ("Acute onveiligheid", "30"), ("Structurele onveiligheid", ".")] {
        csv.push(quoted(&["Totaal", beoordeling, "Almelo", "1e halfjaar 2020*", value]));
    }
    let download = write(dir.path(), "veiligheid.csv", &csv)?;
    ingest::ingest_files(&data, &[crate::common::seed(), download], &mut |_| {}).map_err(|e| e.to_string())?;
    ensure_eq(
        query(&data, sql.trim().trim_end_matches(';'))?,
        vec![vec!["Almelo".to_string(), "2020H1".into(), "12.5".into(), "335.1".into()]],
        "acute onveiligheid beside meldingen per 100,000",
    )?;

    let mut vtsql = std::process::Command::new(env!("CARGO_BIN_EXE_vtsql"))
        .arg("--data")
        .arg(&data)
        .args(["--format", "csv"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut stdin) = vtsql.stdin.take() {
        use std::io::Write;
        stdin.write_all(b".schema cbs_84852ned\n").map_err(|e| e.to_string())?;
    }
    let out = vtsql.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure(out.status.success(), || String::from_utf8_lossy(&out.stderr).into_owned())?;
    ensure(
        stdout.lines().any(|l| l.starts_with("cbs_84852ned,ontvangen_meldingen,Int64,") && l.contains(",aantal,")),
        || stdout.clone().into_owned(),
    )
}
