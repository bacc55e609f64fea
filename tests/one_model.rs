//! One table model from CBS to SQL (issue 27): what `vtsql fetch` downloads is what `veilig_thuis`, the
//! README's examples and `population` read; a StatLine export and a fetch of the same figures leave one row per
//! cell in either order; a category vtsql never saw loads and is reported; nested topic groups get the same
//! names from a download and from OData; every table prints in every format.
//!
//! The stand-in serves 84851NED with the seed's Almelo figures (all 52 categories, as published) and the
//! published 2023 Drenthe figures of `../shared/data/cbs/reference-totals`; 84850NED with the published
//! Nederland 2023 figures; 70072NED with the population of `../shared/data/cbs/population-2019-2025`. Cells the
//! reference does not give are served as `.`. One category, `Voorbeeldcategorie alleen in de stand-in`, and its
//! figures exist only in the stand-in: it is the category a future CBS release adds.

use std::path::{Path, PathBuf};
use std::time::Duration;

use vtsql::fetch::{self, kept::Api};
use vtsql::ingest::{self, categories, cbs};

use crate::Check;
use crate::cbs_service::{Service, Table, references, region_code};
use crate::common::{ensure, ensure_eq, query, repo, seed, shared};

pub const CHECKS: &[(&str, Check)] = &[
    ("one_model::a_fetch_fills_veilig_thuis_population_and_the_readme_over_v3_and_v4", fetch_fills_everything),
    ("one_model::export_then_fetch_and_fetch_then_export_store_each_cell_once", export_and_fetch_in_either_order),
    ("one_model::a_category_vtsql_never_saw_loads_and_is_reported", unknown_category),
    ("one_model::nested_topic_groups_get_the_same_names_from_downloads_and_odata", nested_topic_groups),
    ("one_model::select_star_of_every_table_in_every_format", every_table_every_format),
];

/// The stand-in's one category CBS does not have (yet): its full title, and the label a text export cuts it to.
const NEW_CATEGORY: &str = "Voorbeeldcategorie alleen in de stand-in van CBS open data";
const NEW_CATEGORY_LABEL: &str = "Voorbeeldcategorie alleen in de sta...";

const AANTAL: &str = "aantal";
const GROUP: &str = "Adviezen, meldingen en diensten";
const AFGEROND: &str = "Adviezen, meldingen en diensten/Afgeronde diensten";
/// 84851NED's five topics: key, title, group.
const TOPICS: [(&str, &str, &str); 5] = [
    ("GestarteAdviezen_1", "Gestarte adviezen", GROUP),
    ("OntvangenMeldingen_2", "Ontvangen meldingen", GROUP),
    ("CasussenMetOntvangenMeldingEn_3", "Casussen met ontvangen melding(en)", GROUP),
    ("AfgerondeDienstenOnderzoek_4", "Afgeronde diensten onderzoek", AFGEROND),
    ("AfgerondeDienstenVoorwaardenEnVervolg_5", "Afgeronde diensten voorwaarden en vervolg", AFGEROND),
];

fn options(service: &Service, api: Api) -> fetch::Options {
    service.options(api, Duration::from_secs(5))
}

fn fetch_into(data: &Path, ids: &[&str], options: &fetch::Options) -> Result<(), String> {
    let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    cbs::fetch_command(data, &ids, &Default::default(), options).map_err(|e| e.to_string())
}

/// The seed export's Almelo rows: (category label as exported, the five cells).
fn seed_rows() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(seed()).expect("the seed");
    text.lines()
        .filter_map(|l| l.split_once(" Almelo 1e halfjaar 2020* "))
        .map(|(label, cells)| (label.to_string(), cells.split(' ').map(str::to_string).collect()))
        .collect()
}

/// 84851NED in the stand-in: CBS-style keys, the full titles and groups of vtsql's fallback list (which are
/// CBS's titles where they are known), the topics in their groups.
fn table_84851() -> Table {
    let kenmerken = categories::fallback("84851NED", categories::KENMERKEN).expect("the fallback list");
    let key_of = |i: usize| if i == 0 { "T001038".to_string() } else { format!("A{:06}", 48_000 + i) };
    let mut items: Vec<(String, String)> =
        kenmerken.categories.iter().enumerate().map(|(i, c)| (key_of(i), c.title.clone())).collect();
    items.push(("A049999".into(), NEW_CATEGORY.into()));
    let mut groups = Vec::new();
    for (i, c) in kenmerken.categories.iter().enumerate() {
        if let Some(g) = c.group.as_deref().and_then(|g| kenmerken.groups.iter().find(|x| x.id == g)) {
            groups.push(("KenmerkenAdviezenMeldingenDiensten".to_string(), key_of(i), g.title.clone()));
        }
    }
    let key_of_label = |label: &str| -> String {
        if label == NEW_CATEGORY_LABEL || label == NEW_CATEGORY {
            return "A049999".into();
        }
        let title = &kenmerken.resolve(label).unwrap_or_else(|| panic!("no category {label}")).title;
        items.iter().find(|(_, t)| t == title).map(|(k, _)| k.clone()).expect("a key")
    };
    let mut rows = Vec::new();
    for (label, cells) in seed_rows() {
        rows.push((vec![key_of_label(&label)], "GM0141".to_string(), "2020HJ01".to_string(), cells));
    }
    rows.push((
        vec!["A049999".into()],
        "GM0141".into(),
        "2020HJ01".into(),
        vec!["10".into(), "15".into(), "10".into(), ".".into(), ".".into()],
    ));
    // the published 2023 figures of Drenthe, its VT-regio and Midden-Drenthe; what was not transcribed is `.`
    let refs = references("84851NED");
    let mut keys: Vec<(String, String, String)> = Vec::new();
    for r in refs.iter().filter(|r| r.period_code == "2023JJ00") {
        let key = (r.dimension.clone(), r.region.clone(), r.period_code.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for (dimension, region, period) in &keys {
        let cells = TOPICS
            .iter()
            .map(|(_, title, _)| {
                refs.iter()
                    .find(|r| {
                        r.dimension == *dimension
                            && r.region == *region
                            && r.period_code == *period
                            && r.measure == *title
                    })
                    .map_or(".".to_string(), |r| r.published.clone())
            })
            .collect();
        rows.push((vec![key_of_label(dimension)], region_code(region), period.clone(), cells));
    }
    // Ede and Enschede in 2025H1: the Totaal of all adviezen and meldingen, which 84849NED publishes (its Totaal
    // counts the same adviezen and meldingen as this table's)
    for r in references("84849NED").iter().filter(|r| r.period_code == "2025HJ01" && r.dimension == "Totaal") {
        let code = region_code(&r.region);
        if !code.starts_with("GM") || rows.iter().any(|(_, c, p, _)| *c == code && p == "2025HJ01") {
            continue;
        }
        let value = |m: &str| {
            references("84849NED")
                .iter()
                .find(|x| {
                    x.region == r.region && x.period_code == "2025HJ01" && x.dimension == "Totaal" && x.measure == m
                })
                .map_or(".".to_string(), |x| x.published.clone())
        };
        let cells = vec![value("Gestarte adviezen"), value("Ontvangen meldingen"), ".".into(), ".".into(), ".".into()];
        rows.push((vec!["T001038".into()], code, "2025HJ01".into(), cells));
    }
    let mut regions: Vec<(String, String)> = Vec::new();
    for (_, code, ..) in &rows {
        if !regions.iter().any(|(c, _)| c == code) {
            let regions_known = vtsql::ingest::regions::Regions::built_in();
            let name = regions_known.by_code(code).map(|r| r.name.clone()).unwrap_or_default();
            regions.push((code.clone(), name));
        }
    }
    Table {
        id: "84851NED".into(),
        title: "Huiselijk geweld; aard geweld, aanvullende informatie, regio".into(),
        modified: "2025-11-28T02:00:00".into(),
        dimensions: vec![("KenmerkenAdviezenMeldingenDiensten".into(), categories::KENMERKEN.into(), items)],
        regions,
        periods: vec![
            ("2020HJ01".into(), "2020 1e halfjaar".into(), "Definitief".into()),
            ("2023JJ00".into(), "2023".into(), "Voorlopig".into()),
            ("2025HJ01".into(), "2025 1e halfjaar".into(), "Voorlopig".into()),
        ],
        topics: TOPICS.iter().map(|(k, t, _)| (k.to_string(), t.to_string(), AANTAL.to_string(), 0)).collect(),
        topic_groups: TOPICS.iter().map(|(.., g)| g.to_string()).collect(),
        category_groups: groups,
        rows,
        ..Default::default()
    }
}

/// 84850NED in the stand-in: the kind of violence and the additional information as two dimensions; Nederland
/// 2023 in total (84849NED's published totals) and with Mensenhandel (84850NED's published figures), one cross
/// tabulation (a kind and Mensenhandel, hidden), and Drenthe's VT-regio (the figures 84851NED has too).
fn table_84850() -> Table {
    let refs = references("84850NED");
    let mensenhandel: Vec<String> = TOPICS
        .iter()
        .map(|(_, title, _)| refs.iter().find(|r| r.measure == *title).map_or(".".to_string(), |r| r.published.clone()))
        .collect();
    let totaal_84849 = |m: &str| {
        references("84849NED")
            .iter()
            .find(|r| {
                r.region == "Nederland" && r.period_code == "2023JJ00" && r.dimension == "Totaal" && r.measure == m
            })
            .map_or(".".to_string(), |r| r.published.clone())
    };
    let drenthe: Vec<String> = TOPICS
        .iter()
        .map(|(_, title, _)| {
            references("84851NED")
                .iter()
                .find(|r| r.region == "Drenthe (VT)" && r.dimension == "Totaal" && r.measure == *title)
                .map_or(".".to_string(), |r| r.published.clone())
        })
        .collect();
    let rows = vec![
        (vec!["T001038".into(), "T001038".into()], "NL01".into(), "2023JJ00".into(), {
            let mut c = vec![totaal_84849("Gestarte adviezen"), totaal_84849("Ontvangen meldingen")];
            c.extend([".".to_string(), ".".into(), ".".into()]);
            c
        }),
        (vec!["T001038".into(), "A025006".into()], "NL01".into(), "2023JJ00".into(), mensenhandel),
        (vec!["A025001".into(), "A025006".into()], "NL01".into(), "2023JJ00".into(), vec![".".to_string(); 5]),
        (vec!["T001038".into(), "T001038".into()], "VT02".into(), "2023JJ00".into(), drenthe),
    ];
    Table {
        id: "84850NED".into(),
        title: "Huiselijk geweld; aard geweld, aanvullende informatie, Veilig Thuis-regio".into(),
        modified: "2025-11-28T02:00:00".into(),
        dimensions: vec![
            (
                "AardVanHetGeweld".into(),
                categories::AARD.into(),
                vec![("T001038".into(), "Totaal".into()), ("A025001".into(), "Kindermishandeling".into())],
            ),
            (
                "AanvullendeInformatie".into(),
                categories::AANVULLEND.into(),
                vec![("T001038".into(), "Totaal".into()), ("A025006".into(), "Mensenhandel".into())],
            ),
        ],
        regions: vec![("NL01".into(), "Nederland".into()), ("VT02".into(), "Drenthe".into())],
        periods: vec![("2023JJ00".into(), "2023".into(), "Voorlopig".into())],
        topics: TOPICS.iter().map(|(k, t, _)| (k.to_string(), t.to_string(), AANTAL.to_string(), 0)).collect(),
        topic_groups: TOPICS.iter().map(|(.., g)| g.to_string()).collect(),
        rows,
        ..Default::default()
    }
}

/// 70072NED in the stand-in: Nederland, Almelo, Ede and Enschede on 1 January 2024 and 2025 as CBS published
/// them, and their density, which the stand-in does not know (`.`).
fn table_70072() -> Table {
    let mut rows = Vec::new();
    for year in [2024, 2025] {
        let path = shared(&format!("data/cbs/population-2019-2025/population_{year}.csv"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if ["NL01", "GM0141", "GM0228", "GM0153"].contains(&f[0]) {
                rows.push((vec![], f[0].to_string(), format!("{year}JJ00"), vec![f[3].to_string(), ".".to_string()]));
            }
        }
    }
    Table {
        id: "70072NED".into(),
        title: "Regionale kerncijfers Nederland".into(),
        modified: "2025-12-11T02:00:00".into(),
        regions: vec![
            ("NL01".into(), "Nederland".into()),
            ("GM0141".into(), "Almelo".into()),
            ("GM0228".into(), "Ede".into()),
            ("GM0153".into(), "Enschede".into()),
        ],
        periods: vec![
            ("2024JJ00".into(), "2024".into(), "Definitief".into()),
            ("2025JJ00".into(), "2025".into(), "Definitief".into()),
        ],
        topics: vec![
            ("TotaleBevolking_1".into(), "Totale bevolking".into(), "aantal".into(), 0),
            ("Bevolkingsdichtheid_57".into(), "Bevolkingsdichtheid".into(), "aantal inwoners per km²".into(), 0),
        ],
        topic_groups: vec!["Bevolking/Bevolkingssamenstelling op 1 januari".into(); 2],
        rows,
        ..Default::default()
    }
}

/// `sql` ordered by every column it gives.
fn ordered(data: &Path, sql: &str) -> Result<String, String> {
    let width = query(data, &format!("SELECT * FROM ({sql}) LIMIT 1"))?.first().map_or(1, Vec::len);
    Ok(format!("{sql} ORDER BY {}", (1..=width).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")))
}

fn service(v4: bool) -> Service {
    let service = Service::start(v4, 40);
    service.put(table_84851());
    service.put(table_84850());
    service.put(table_70072());
    service
}

/// The README's first query (the short session) and its join, verbatim.
fn readme_queries() -> Result<(String, String), String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).map_err(|e| e.to_string())?;
    let short = readme
        .split_once("-- -c \"")
        .and_then(|(_, rest)| rest.split_once("\"\n"))
        .map(|(sql, _)| sql.to_string())
        .ok_or("the README's -c query")?;
    let join = readme
        .split_once("vtsql> SELECT")
        .and_then(|(_, rest)| rest.split_once(';'))
        .map(|(sql, _)| format!("SELECT{}", sql.replace("   ...> ", "")))
        .ok_or("the README's join")?;
    Ok((short, join))
}

fn fetch_fills_everything() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (v3, v4) = (dir.path().join("v3"), dir.path().join("v4"));
    for (data, api) in [(&v3, Api::V3), (&v4, Api::V4)] {
        let service = service(api == Api::V4);
        fetch_into(data, &["84851NED", "84850NED", "70072NED"], &options(&service, api))?;
        // every row 84851NED serves, and the two of 84850NED for a region and period 84851NED lacks (its total
        // and Mensenhandel for Nederland in 2023; the cross tabulation and Drenthe's VT-regio stay out)
        let served = table_84851().rows.len();
        let count = query(data, "SELECT count(*) FROM veilig_thuis")?;
        ensure_eq(count, vec![vec![(served + 2).to_string()]], &format!("{api:?}: rows in veilig_thuis"))?;
        let from_84850 = query(
            data,
            "SELECT category, category_group, gestarte_adviezen, ontvangen_meldingen FROM veilig_thuis \
             WHERE source_table = '84850NED' ORDER BY category DESC",
        )?;
        ensure_eq(
            from_84850,
            vec![
                vec!["Totaal".to_string(), "Totaal".into(), "143210".into(), "127340".into()],
                vec!["Mensenhandel".to_string(), "Aanvullende informatie".into(), "590".into(), "545".into()],
            ],
            &format!("{api:?}: 84850NED's rows in veilig_thuis"),
        )?;
        // the README's short session and its join, verbatim
        let (short, join) = readme_queries()?;
        ensure_eq(query(data, &short)?, vec![vec!["245".to_string()]], "the README's -c query")?;
        let joined = query(data, &join)?;
        ensure(joined.contains(&vec!["Almelo".to_string(), "2020H1".into(), "335.1".into()]), || {
            format!("the README's join: {joined:?}")
        })?;
        // per 100,000 in 2025 (the year an analyst looks at first), from 70072NED's population
        let ede = query(
            data,
            "SELECT round(per_100k(v.ontvangen_meldingen, p.population), 1) FROM veilig_thuis v \
             JOIN population p ON p.region_code = v.region_code AND p.year = v.year \
             WHERE v.region_code = 'GM0228' AND v.period = '2025H1' AND v.category = 'Totaal'",
        )?;
        ensure_eq(ede, vec![vec!["237.5".to_string()]], "Ede 2025H1: 295 meldingen for 124,214 inhabitants")?;
        let years = query(data, "SELECT min(year), max(year), count(DISTINCT year) FROM population")?;
        ensure_eq(years, vec![vec!["2019".to_string(), "2025".into(), "7".into()]], "years of population")?;
        // a directory filled by fetch alone does no first-run ingest
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtsql"))
            .arg("--data")
            .arg(data)
            .args(["-c", "SELECT count(*) FROM cbs_84851ned"])
            .output()
            .map_err(|e| e.to_string())?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure(out.status.success() && !stderr.contains("first run"), || stderr.to_string())?;
    }
    // v3 and v4 give the same tables, cell by cell
    for table in ["cbs_84851ned", "cbs_84850ned", "cbs_70072ned"] {
        let columns = format!(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{table}' ORDER BY ordinal_position"
        );
        ensure_eq(query(&v3, &columns)?, query(&v4, &columns)?, &format!("{table}: columns from v3 and v4"))?;
        let all = ordered(&v3, &format!("SELECT * FROM {table}"))?;
        let (a, b) = (query(&v3, &all)?, query(&v4, &all)?);
        ensure(!a.is_empty(), || format!("{table} is empty"))?;
        ensure_eq(a, b, &format!("{table}: every cell from v3 and v4"))?;
    }
    // the hierarchy CBS serves, in categories and veilig_thuis
    let kinds = query(&v3, "SELECT category_kind, count(*) FROM categories GROUP BY 1 ORDER BY 1 NULLS LAST")?;
    ensure_eq(
        kinds,
        vec![
            vec!["aanvullend".to_string(), "11".into()],
            vec!["hoofdvorm".to_string(), "9".into()],
            vec!["subvorm".to_string(), "32".into()],
            vec!["totaal".to_string(), "1".into()],
        ],
        "categories by kind, from CBS's groups (the stand-in's new category, in no group, is a kind of its own)",
    )
}

/// A text export of the seed with the stand-in's new category, cut as StatLine cuts labels.
fn export(dir: &Path) -> Result<PathBuf, String> {
    let text = std::fs::read_to_string(seed()).map_err(|e| e.to_string())?;
    let line = format!("{NEW_CATEGORY_LABEL} Almelo 1e halfjaar 2020* 10 15 10 . .");
    let path = dir.join("84851NED_almelo_2020H1.txt");
    let text = text.replacen("Totaal Almelo 1e halfjaar 2020*", &format!("{line}\nTotaal Almelo 1e halfjaar 2020*"), 1);
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}

fn export_and_fetch_in_either_order() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = export(dir.path())?;
    let service = service(false);
    let (first_export, first_fetch) = (dir.path().join("export-first"), dir.path().join("fetch-first"));

    let report =
        ingest::ingest_files(&first_export, std::slice::from_ref(&file), &mut |_| {}).map_err(|e| e.to_string())?;
    ensure(report.lines.iter().any(|l| l.contains("vtsql did not know") && l.contains(NEW_CATEGORY_LABEL)), || {
        format!("the new category is reported: {:?}", report.lines)
    })?;
    fetch_into(&first_export, &["84851NED"], &options(&service, Api::V3))?;

    fetch_into(&first_fetch, &["84851NED"], &options(&service, Api::V3))?;
    ingest::ingest_files(&first_fetch, &[file], &mut |_| {}).map_err(|e| e.to_string())?;

    let cells = "SELECT period, region_code, category, category_group, gestarte_adviezen, ontvangen_meldingen, \
                 casussen_met_melding, afgeronde_onderzoeken, afgeronde_voorwaarden_vervolg, suppressed_cells \
                 FROM veilig_thuis ORDER BY 1, 2, 3";
    let (a, b) = (query(&first_export, cells)?, query(&first_fetch, cells)?);
    ensure_eq(a.len(), table_84851().rows.len(), "rows: one per cell CBS serves")?;
    ensure_eq(&a, &b, "export then fetch, and fetch then export")?;
    for data in [&first_export, &first_fetch] {
        let once = query(
            data,
            "SELECT count(*), count(DISTINCT (period, region_code, kenmerken_adviezen_meldingen_diensten)) FROM cbs_84851ned",
        )?;
        ensure_eq(once[0][0].clone(), once[0][1].clone(), "one row per cell")?;
        let almelo =
            query(data, "SELECT count(*) FROM veilig_thuis WHERE region_code = 'GM0141' AND period = '2020H1'")?;
        ensure_eq(almelo, vec![vec!["53".to_string()]], "Almelo's 52 categories and the new one")?;
        let new =
            query(data, &format!("SELECT ontvangen_meldingen FROM veilig_thuis WHERE category = '{NEW_CATEGORY}'"))?;
        ensure_eq(new, vec![vec!["15".to_string()]], "the cut label took CBS's full title")?;
    }
    Ok(())
}

fn unknown_category() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let csv = "\"Kenmerken adviezen, meldingen, diensten\";\"Regio's\";\"Perioden\";\
               \"Adviezen, meldingen en diensten/Ontvangen meldingen (aantal)\"\r\n\
               \"Totaal\";\"Almelo\";\"2025HJ01\";\"250\"\r\n\
               \"Digitaal geweld\";\"Almelo\";\"2025HJ01\";\"15\"\r\n\"Bron: CBS\"\r\n";
    let path = dir.path().join("84851NED_nieuw.csv");
    std::fs::write(&path, csv).map_err(|e| e.to_string())?;
    let report = ingest::ingest_files(&data, &[path], &mut |_| {}).map_err(|e| e.to_string())?;
    ensure(report.lines.iter().any(|l| l.contains("1 category") && l.contains("\"Digitaal geweld\"")), || {
        format!("{:?}", report.lines)
    })?;
    let rows = query(&data, "SELECT category, category_group, ontvangen_meldingen FROM veilig_thuis ORDER BY 1")?;
    ensure_eq(
        rows,
        vec![
            vec!["Digitaal geweld".to_string(), "Digitaal geweld".into(), "15".into()],
            vec!["Totaal".to_string(), "Totaal".into(), "250".into()],
        ],
        "the new category stored as it is",
    )?;
    let listed = query(&data, "SELECT category_kind, parent FROM categories WHERE category = 'Digitaal geweld'")?;
    ensure_eq(listed, vec![vec!["hoofdvorm".to_string(), "Totaal".into()]], "its place in categories")
}

/// 85361NED with nested topic groups, as its StatLine CSV downloads show them: a total under two groups.
const NESTED: [(&str, &str); 5] = [
    ("Vervolgmelding tijdens betrokkenheid VT", "Totaal"),
    ("Vervolgmelding tijdens betrokkenheid VT", "... tijdens veiligheidsbeoordeling"),
    ("Vervolgmelding tijdens betrokkenheid VT", "... na veiligheidsbeoordeling"),
    ("Vervolgmelding tijdens betrokkenheid VT", "... tijdens monitoring"),
    ("Hermelding", "Totaal"),
];

/// The published value of a nested topic (the reference names it `Vervolgmelding tijdens betrokkenheid VT:
/// totaal`, `... tijdens monitoring`); the stand-in's `Hermelding` is not in the reference: `.`.
fn nested_value(region: &str, i: usize, unit: &str) -> String {
    let title = match i {
        0 => "Vervolgmelding tijdens betrokkenheid VT: totaal",
        4 => return ".".into(),
        _ => NESTED[i].1,
    };
    references("85361NED")
        .iter()
        .find(|r| r.region == region && r.measure == format!("{title} ({unit})"))
        .map_or(".".to_string(), |r| r.published.clone())
}

fn nested_topic_groups() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let downloaded = dir.path().join("downloaded");
    let mut files = Vec::new();
    for (unit, name) in [("aantal", "85361NED_aantal.csv"), ("%", "85361NED_pct.csv")] {
        let mut header = vec!["\"Regio's\"".to_string(), "\"Perioden\"".into()];
        header.extend(NESTED.iter().map(|(g, t)| format!("\"{g}/{t} ({unit})\"")));
        let mut lines = vec![header.join(";")];
        for region in ["Nederland", "Almelo"] {
            let mut line = vec![format!("\"{region}\""), "\"2023*\"".into()];
            line.extend((0..NESTED.len()).map(|i| format!("\"{}\"", nested_value(region, i, unit))));
            lines.push(line.join(";"));
        }
        let path = dir.path().join(name);
        std::fs::write(&path, lines.join("\r\n")).map_err(|e| e.to_string())?;
        files.push(path);
    }
    ingest::ingest_files(&downloaded, &files, &mut |_| {}).map_err(|e| e.to_string())?;
    let columns = "SELECT column_name FROM cbs_columns WHERE table_name = 'cbs_85361ned' AND kind = 'topic' ORDER BY 1";
    let names: Vec<String> = query(&downloaded, columns)?.into_iter().map(|r| r[0].clone()).collect();
    let want = [
        "hermelding_totaal",
        "hermelding_totaal_pct",
        "vervolgmelding_tijdens_betrokkenheid_vt_na_veiligheidsbeoordeling",
        "vervolgmelding_tijdens_betrokkenheid_vt_na_veiligheidsbeoordeling_pct",
        "vervolgmelding_tijdens_betrokkenheid_vt_tijdens_monitoring",
        "vervolgmelding_tijdens_betrokkenheid_vt_tijdens_monitoring_pct",
        "vervolgmelding_tijdens_betrokkenheid_vt_tijdens_veiligheidsbeoordeling",
        "vervolgmelding_tijdens_betrokkenheid_vt_tijdens_veiligheidsbeoordeling_pct",
        "vervolgmelding_tijdens_betrokkenheid_vt_totaal",
        "vervolgmelding_tijdens_betrokkenheid_vt_totaal_pct",
    ];
    ensure_eq(names.clone(), want.iter().map(|s| s.to_string()).collect(), "names of the nested topics")?;
    let figures = query(
        &downloaded,
        "SELECT vervolgmelding_tijdens_betrokkenheid_vt_totaal, vervolgmelding_tijdens_betrokkenheid_vt_totaal_pct \
         FROM cbs_85361ned WHERE region_code = 'NL01'",
    )?;
    ensure_eq(
        figures,
        vec![vec!["36355".to_string(), "28.5".into()]],
        "the published total and its share of meldingen",
    )?;

    // the same table through OData (both APIs): the same names
    let mut topics = Vec::new();
    let mut groups = Vec::new();
    for (unit, decimals) in [("aantal", 0), ("%", 1)] {
        for (i, (group, title)) in NESTED.iter().enumerate() {
            topics.push((format!("T{i}_{decimals}"), title.to_string(), unit.to_string(), decimals));
            groups.push(group.to_string());
        }
    }
    let mut rows = Vec::new();
    for (region, code) in [("Nederland", "NL01"), ("Almelo", "GM0141")] {
        let mut cells = Vec::new();
        for unit in ["aantal", "%"] {
            cells.extend((0..NESTED.len()).map(|i| nested_value(region, i, unit).replace(',', ".")));
        }
        rows.push((vec![], code.to_string(), "2023JJ00".to_string(), cells));
    }
    let table = Table {
        id: "85361NED".into(),
        title: "Huiselijk geweld; meldingen naar eerdere betrokkenheid Veilig Thuis, regio".into(),
        modified: "2025-10-31T02:00:00".into(),
        regions: vec![("NL01".into(), "Nederland".into()), ("GM0141".into(), "Almelo".into())],
        periods: vec![("2023JJ00".into(), "2023".into(), "Voorlopig".into())],
        topics,
        topic_groups: groups,
        rows,
        ..Default::default()
    };
    for api in [Api::V3, Api::V4] {
        let service = Service::start(api == Api::V4, 10);
        service.put(table.clone());
        let data = dir.path().join(format!("{api:?}"));
        fetch_into(&data, &["85361NED"], &options(&service, api))?;
        let fetched: Vec<String> = query(&data, columns)?.into_iter().map(|r| r[0].clone()).collect();
        ensure_eq(fetched, names.clone(), &format!("names from OData {api:?} and from the downloads"))?;
        let sql = format!("SELECT {} FROM cbs_85361ned ORDER BY region_code", want.join(", "));
        ensure_eq(query(&data, &sql)?, query(&downloaded, &sql)?, &format!("figures from OData {api:?}"))?;
    }
    Ok(())
}

fn every_table_every_format() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let service = service(false);
    fetch_into(&data, &["84851NED", "84850NED", "70072NED"], &options(&service, Api::V3))?;
    // a second release, so that the history has replaced versions
    ingest::ingest_files(&data, &[export(dir.path())?], &mut |_| {}).map_err(|e| e.to_string())?;
    // a listing of the catalogue, so that cbs_catalog has rows
    service.put_listing(vec![serde_json::json!({
        "Identifier": "84851NED", "Title": "Huiselijk geweld; aard geweld, gemeente", "Period": "2019 - 2025",
        "Modified": "2025-10-31T02:00:00", "RecordCount": 52, "OutputStatus": "Regulier", "Catalog": "CBS"
    })]);
    let (_, listed) = fetch::catalog::listing(&options(&service, Api::V3)).map_err(|e| e.to_string())?;
    cbs::store_catalog(&data, &listed, "the stand-in", &mut |_| {}).map_err(|e| e.to_string())?;
    let tables: Vec<String> =
        query(&data, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")?
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
    ensure(tables.len() >= 17, || format!("tables: {tables:?}"))?;
    for table in &tables {
        for format in ["table", "csv", "tsv", "json", "jsonl", "markdown", "line"] {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtsql"))
                .arg("--data")
                .arg(&data)
                .args(["--format", format, "-c", &format!("SELECT * FROM {table} LIMIT 3")])
                .output()
                .map_err(|e| e.to_string())?;
            ensure(out.status.success() && !out.stdout.is_empty(), || {
                format!("{table} as {format}: {}", String::from_utf8_lossy(&out.stderr))
            })?;
        }
    }
    Ok(())
}
