//! `veilig_thuis`, the table users' SQL has always read, defined over the one stored form of the figures:
//! `cbs_84851ned` (aard geweld, aanvullende informatie, regio), and the rows of `cbs_84850ned` (the same per
//! Veilig Thuis-regio) for periods and regions 84851NED does not have.
//!
//! Its columns keep their names; each comes from the CBS topic of that title, whatever column name the table
//! gave it. 84850NED keeps the kind of violence and the additional information in two dimensions: its rows
//! with one of the two at `Totaal` are the categories of 84851NED's one list; its cross tabulations (a kind
//! *and* an additional fact) have no place in that list and stay in `cbs_84850ned`.

use crate::ingest::categories;
use crate::ingest::cbs::model::{self, Dimension, TableMeta};

/// `veilig_thuis`'s five counts and the CBS topic titles (folded) they come from.
const MEASURES: [(&str, &str); 5] = [
    ("gestarte_adviezen", "gestarte adviezen"),
    ("ontvangen_meldingen", "ontvangen meldingen"),
    ("casussen_met_melding", "casussen met ontvangen melding en"),
    ("afgeronde_onderzoeken", "afgeronde diensten onderzoek"),
    ("afgeronde_voorwaarden_vervolg", "afgeronde diensten voorwaarden en vervolg"),
];

/// The SQL of the view, if a table it reads is stored.
pub fn view(tables: &[TableMeta]) -> Option<String> {
    let regio = tables.iter().find(|t| t.id == "84851NED" && t.regions && t.dimensions.len() == 1);
    let vt = tables.iter().find(|t| t.id == "84850NED" && t.regions);
    let mut parts = Vec::new();
    if let Some(regio) = regio {
        let dimension = &regio.dimensions[0];
        parts.push(select(regio, &quoted(&dimension.column), &[dimension], None));
    }
    if let Some(vt) = vt {
        let missing = regio.map(|r| {
            format!(
                "NOT EXISTS (SELECT 1 FROM {r} AS r WHERE r.period = v.period AND r.region_code = v.region_code)",
                r = r.table_name()
            )
        });
        match vt.dimensions.as_slice() {
            [one] => parts.push(select(vt, &quoted(&one.column), &[one], missing.as_deref())),
            [a, b] => {
                let is = |d: &Dimension, word: &str| model::fold_title(&d.title).contains(word);
                let (aard, aanvullend) = if is(a, "aard") && is(b, "aanvullend") {
                    (a, b)
                } else if is(b, "aard") && is(a, "aanvullend") {
                    (b, a)
                } else {
                    return join(parts);
                };
                let (Some(aard_totaal), Some(aanvullend_totaal)) = (totaal(aard), totaal(aanvullend)) else {
                    return join(parts);
                };
                let (aard_column, aanvullend_column) = (quoted(&aard.column), quoted(&aanvullend.column));
                let category = format!(
                    "CASE WHEN {aanvullend_column} = {t} THEN {aard_column} ELSE {aanvullend_column} END",
                    t = literal(aanvullend_totaal)
                );
                let mut only = format!(
                    "({aanvullend_column} = {} OR {aard_column} = {})",
                    literal(aanvullend_totaal),
                    literal(aard_totaal)
                );
                if let Some(missing) = &missing {
                    only = format!("{only} AND {missing}");
                }
                parts.push(select(vt, &category, &[aard, aanvullend], Some(&only)));
            }
            _ => {}
        }
    }
    join(parts)
}

fn join(parts: Vec<String>) -> Option<String> {
    (!parts.is_empty()).then(|| parts.join(" UNION ALL "))
}

/// The title of a dimension's total category (`Totaal`).
fn totaal(dimension: &Dimension) -> Option<&str> {
    dimension.categories.iter().map(|c| c.title.as_str()).find(|t| model::fold_title(t) == "totaal")
}

/// One table's rows in `veilig_thuis`'s columns, `category` the SQL expression of its kind of violence.
fn select(table: &TableMeta, category: &str, dimensions: &[&Dimension], only: Option<&str>) -> String {
    let mut columns = vec![
        "source_table".to_string(),
        "period".into(),
        "provisional".into(),
        "region_level".into(),
        "region_code".into(),
        "region_name".into(),
        format!("{category} AS category"),
        format!("{} AS category_group", group_case(category, dimensions)),
    ];
    let mut found = Vec::new();
    for (name, title) in MEASURES {
        let topic = table.topics.iter().find(|t| !t.unit.contains('%') && model::fold_title(&t.title) == title);
        match topic {
            Some(t) => {
                found.push(t.column.as_str());
                columns.push(format!("{} AS {name}", quoted(&t.column)));
            }
            None => columns.push(format!("CAST(NULL AS BIGINT) AS {name}")),
        }
    }
    // the table's own count of hidden cells where the five are all its topics (it keeps page statistics)
    if table.topics.iter().all(|t| found.contains(&t.column.as_str())) {
        columns.push("suppressed_cells".into());
    } else {
        let hidden: Vec<String> = found
            .iter()
            .map(|c| format!("CASE WHEN array_has(suppressed_columns, {}) THEN 1 ELSE 0 END", literal(c)))
            .collect();
        let sum = if hidden.is_empty() { "0".to_string() } else { hidden.join(" + ") };
        columns.push(format!("CAST({sum} AS INT) AS suppressed_cells"));
    }
    columns.extend(["year".to_string(), "half".to_string()]);
    let from = format!("{} AS v", table.table_name());
    match only {
        Some(only) => format!("SELECT {} FROM {from} WHERE {only}", columns.join(", ")),
        None => format!("SELECT {} FROM {from}", columns.join(", ")),
    }
}

/// `category_group`: the top-level kind a category belongs to, from the dimensions' hierarchy (CBS's, else
/// vtsql's fallback); a category outside any group is its own.
fn group_case(category: &str, dimensions: &[&Dimension]) -> String {
    let mut branches: Vec<(String, String)> = Vec::new();
    for dimension in dimensions {
        let dimension =
            if dimension.groups.is_empty() { with_fallback_groups(dimension) } else { (*dimension).clone() };
        for c in &dimension.categories {
            let group = dimension.top_group(c);
            if group != c.title && !branches.iter().any(|(t, _)| *t == c.title) {
                branches.push((c.title.clone(), group));
            }
        }
    }
    if branches.is_empty() {
        return category.to_string();
    }
    let whens: String =
        branches.iter().map(|(title, group)| format!(" WHEN {} THEN {}", literal(title), literal(group))).collect();
    format!("CASE {category}{whens} ELSE {category} END")
}

/// A dimension without a hierarchy of its own, given vtsql's fallback groups for the categories the fallback
/// list of 84851NED knows.
pub fn with_fallback_groups(dimension: &Dimension) -> Dimension {
    let mut out = dimension.clone();
    let Some(fallback) = categories::fallback("84851NED", categories::KENMERKEN) else {
        return out;
    };
    for c in &mut out.categories {
        if let Some(known) = fallback.resolve(&c.title) {
            c.group.clone_from(&known.group);
        }
    }
    out.groups = fallback.groups;
    out
}

fn quoted(column: &str) -> String {
    format!("\"{}\"", column.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::cbs::model::{Category, Kind, Topic};

    fn topic(title: &str, column: &str) -> Topic {
        Topic {
            key: title.into(),
            title: title.into(),
            group: String::new(),
            unit: "aantal".into(),
            description: String::new(),
            column: column.into(),
            kind: Kind::Count,
        }
    }

    fn dimension(title: &str, column: &str, categories: &[&str]) -> Dimension {
        Dimension {
            key: title.into(),
            title: title.into(),
            column: column.into(),
            description: String::new(),
            categories: categories
                .iter()
                .map(|c| Category { key: c.to_string(), title: c.to_string(), group: None, labels: vec![], cut: false })
                .collect(),
            groups: vec![],
        }
    }

    #[test]
    fn a_regio_table_is_renamed_columns_and_groups() {
        let table = TableMeta {
            id: "84851NED".into(),
            title: String::new(),
            release: String::new(),
            regions: true,
            dimensions: vec![dimension("Kenmerken", "kenmerken", &["Totaal", "Partnergeweld: stalking"])],
            topics: vec![
                topic("Ontvangen meldingen", "ontvangen_meldingen"),
                topic("Casussen met ontvangen melding(en)", "casussen"),
            ],
        };
        let sql = view(&[table]).unwrap();
        assert!(sql.contains("\"casussen\" AS casussen_met_melding"), "{sql}");
        assert!(sql.contains("CAST(NULL AS BIGINT) AS gestarte_adviezen"), "{sql}");
        assert!(sql.contains("WHEN 'Partnergeweld: stalking' THEN '(Ex-)Partnergeweld'"), "{sql}");
        assert!(sql.contains(", suppressed_cells, year, half FROM cbs_84851ned"), "{sql}");
        assert!(!sql.contains("UNION"));
    }

    #[test]
    fn a_vt_regio_table_with_two_dimensions_gives_its_totals() {
        let vt = TableMeta {
            id: "84850NED".into(),
            title: String::new(),
            release: String::new(),
            regions: true,
            dimensions: vec![
                dimension("Aard van het geweld", "aard", &["Totaal", "Kindermishandeling"]),
                dimension("Aanvullende informatie", "aanvullend", &["Totaal", "Mensenhandel"]),
            ],
            topics: vec![topic("Ontvangen meldingen", "ontvangen_meldingen"), topic("Iets anders", "anders")],
        };
        let sql = view(&[vt]).unwrap();
        assert!(
            sql.contains("CASE WHEN \"aanvullend\" = 'Totaal' THEN \"aard\" ELSE \"aanvullend\" END AS category"),
            "{sql}"
        );
        assert!(sql.contains("WHERE (\"aanvullend\" = 'Totaal' OR \"aard\" = 'Totaal')"), "{sql}");
        assert!(sql.contains("array_has(suppressed_columns, 'ontvangen_meldingen')"), "{sql}");
        assert!(view(&[]).is_none());
    }
}
