//! One table model for any CBS table: its dimensions and topics ([`TableMeta`]), kept beside its Parquet
//! as `DATA/cbs_<id>.json`, and its rows ([`Row`]) as read from OData pages or StatLine downloads.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use vtsql_udfs::period::Period;

use crate::ingest::facts::Text;
use crate::ingest::regions::fold;

/// How a topic's values are typed: whole counts or decimal figures (percentages, averages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Count,
    Decimal,
}

impl Kind {
    /// From CBS's unit and number of decimals: counts are whole numbers of *aantal* (or a multiple of it).
    pub fn from_unit(unit: &str, decimals: Option<u32>) -> Kind {
        let unit = unit.trim().to_lowercase();
        let count_unit = unit.is_empty() || unit == "aantal" || unit.starts_with("x ") || unit == "aantal (x 1 000)";
        if count_unit && decimals.unwrap_or(0) == 0 && !unit.contains('%') { Kind::Count } else { Kind::Decimal }
    }

    pub fn data_type(self) -> DataType {
        match self {
            Kind::Count => DataType::Int64,
            Kind::Decimal => DataType::Float64,
        }
    }
}

/// A dimension other than regions and periods (`Veiligheidstaxatie`, `Aard van het geweld`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dimension {
    /// The OData key (`Veiligheidstaxatie`), or the title where only a download was seen.
    pub key: String,
    pub title: String,
    pub column: String,
    #[serde(default)]
    pub description: String,
}

/// A topic: one figure per row (`Ontvangen meldingen`, in `aantal`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topic {
    /// The OData key (`OntvangenMeldingen_1`), or the title where only a download was seen.
    pub key: String,
    pub title: String,
    /// The topic group it sits under, if any (`Adviezen, meldingen en diensten`).
    #[serde(default)]
    pub group: String,
    pub unit: String,
    #[serde(default)]
    pub description: String,
    pub column: String,
    pub kind: Kind,
}

/// What vtsql knows of one CBS table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableMeta {
    /// `84852NED`.
    pub id: String,
    pub title: String,
    /// The release (CBS's modification date of the table, `2024-06-28`) of the figures last stored.
    #[serde(default)]
    pub release: String,
    /// Whether rows have a region (`RegioS`).
    pub regions: bool,
    pub dimensions: Vec<Dimension>,
    pub topics: Vec<Topic>,
}

/// The columns every `cbs_<id>` table has before its dimensions and after its topics.
pub const LEADING: [&str; 2] = ["period", "provisional"];
pub const REGION_COLUMNS: [&str; 3] = ["region_level", "region_code", "region_name"];
pub const TRAILING: [&str; 4] = ["suppressed_cells", "suppressed_columns", "source_table", "release"];
/// The history table's extra column: the release that replaced a row's figures (NULL: still current).
pub const REPLACED_BY: &str = "replaced_by";

impl TableMeta {
    /// The SQL name: `cbs_84852ned`.
    pub fn table_name(&self) -> String {
        table_name(&self.id)
    }

    /// The stored columns of `cbs_<id>` (the partition columns `year` and `half` are in directory names),
    /// each topic with its unit and CBS description in the field's metadata.
    pub fn schema(&self, history: bool) -> SchemaRef {
        let text = |name: &str| Field::new(name, DataType::Utf8, true);
        let described = |field: Field, pairs: &[(&str, &str)]| {
            field.with_metadata(
                pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            )
        };
        let mut fields = vec![
            described(Field::new("period", DataType::Utf8, false), &[("description", "2020H1 or 2023")]),
            described(
                Field::new("provisional", DataType::Boolean, false),
                &[("description", "CBS marks the figures provisional (voorlopig or nader voorlopig)")],
            ),
        ];
        if self.regions {
            fields.push(described(
                text("region_level"),
                &[("description", "gemeente, vt_regio, provincie, landsdeel, land")],
            ));
            fields.push(described(text("region_code"), &[("description", "CBS region code (GM0363, VT13, NL01)")]));
            fields.push(described(text("region_name"), &[("description", "the region's name as CBS lists it")]));
        }
        for d in &self.dimensions {
            fields.push(described(
                text(&d.column),
                &[("title", &d.title), ("description", &d.description), ("cbs_key", &d.key)],
            ));
        }
        for t in &self.topics {
            fields.push(described(
                Field::new(&t.column, t.kind.data_type(), true),
                &[("title", &t.title), ("unit", &t.unit), ("description", &t.description), ("cbs_key", &t.key)],
            ));
        }
        fields.push(described(
            Field::new("suppressed_cells", DataType::Int32, false),
            &[("description", "how many of the row's figures CBS published as '.' (hidden), not 0")],
        ));
        fields.push(described(
            Field::new(
                "suppressed_columns",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, false))),
                false,
            ),
            &[("description", "the columns of the row's hidden figures")],
        ));
        fields.push(described(text("source_table"), &[("description", "the CBS table id, e.g. 84852NED")]));
        fields.push(described(
            Field::new("release", DataType::Date32, true),
            &[("description", "the table's modification date at CBS when these figures were stored")],
        ));
        if history {
            fields.push(described(
                Field::new(REPLACED_BY, DataType::Date32, true),
                &[("description", "the release that replaced these figures; NULL while they are current")],
            ));
        }
        Arc::new(Schema::new(fields))
    }

    /// The key of a row: its period, region and category of each dimension.
    pub fn key_columns(&self) -> Vec<String> {
        let mut key = vec!["period".to_string()];
        if self.regions {
            key.push("region_code".into());
        }
        key.extend(self.dimensions.iter().map(|d| d.column.clone()));
        key
    }

    /// Finds the topic an input column title names: by key, by title (its unit and any topic group
    /// before it aside), or by the start of a title StatLine cut off (`voorwaarden en verv..`).
    pub fn find_topic(&self, key_or_title: &str, unit: &str) -> Option<usize> {
        let percent = unit.contains('%');
        let same_unit = |t: &Topic| t.unit.contains('%') == percent;
        if let Some(i) = self.topics.iter().position(|t| t.key == key_or_title && same_unit(t)) {
            return Some(i);
        }
        let wanted = fold_title(key_or_title);
        let candidates = || self.topics.iter().enumerate().filter(|(_, t)| same_unit(t));
        if let Some((i, _)) = candidates().find(|(_, t)| fold_title(&t.title) == wanted) {
            return Some(i);
        }
        // A download's title may carry the topic groups before the title, and may be cut off.
        let (stem, cut) = match wanted.strip_suffix("...").or_else(|| wanted.strip_suffix("..")) {
            Some(stem) => (stem.trim_end().to_string(), true),
            None => (wanted.clone(), false),
        };
        let matches: Vec<usize> = candidates()
            .filter(|(_, t)| {
                let title = fold_title(&t.title);
                let grouped = fold_title(&format!("{} {}", t.group, t.title));
                if cut {
                    title.starts_with(&stem) || grouped.ends_with(&stem) || stem.ends_with(&title) || {
                        // group text, then the start of the title
                        (1..=title.len())
                            .rev()
                            .any(|n| title.is_char_boundary(n) && stem.ends_with(&title[..n]) && n >= 8)
                    }
                } else {
                    stem.ends_with(&title)
                        && (stem.len() == title.len() || stem.as_bytes()[stem.len() - title.len() - 1] == b' ')
                }
            })
            .map(|(i, _)| i)
            .collect();
        // the longest title that fits: `x onderzoek` and `onderzoek` both end `... x onderzoek`
        matches.into_iter().max_by_key(|&i| self.topics[i].title.len())
    }
}

/// `84852NED` → `cbs_84852ned`.
pub fn table_name(id: &str) -> String {
    format!("cbs_{}", id.to_lowercase())
}

/// A title folded for comparing: case, diacritics, punctuation and spacing do not count, `...` stays.
pub fn fold_title(title: &str) -> String {
    let folded = fold(title);
    let mut out = String::with_capacity(folded.len());
    for c in folded.chars() {
        if c.is_alphanumeric() || c == '.' || c == '%' {
            out.push(c);
        } else if !out.ends_with(' ') && !out.is_empty() {
            out.push(' ');
        }
    }
    out.trim_end().to_string()
}

/// The snake_case column name of a title: `Casussen met ontvangen melding(en)` →
/// `casussen_met_ontvangen_melding_en`, `Fryslân` → `fryslan`, `... tijdens monitoring` →
/// `tijdens_monitoring`.
pub fn snake_case(title: &str) -> String {
    let folded = fold(title);
    let mut out = String::with_capacity(folded.len());
    for c in folded.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "c_");
    }
    out
}

/// Splits a column title into title and unit: `Ontvangen meldingen (aantal)` → (`Ontvangen meldingen`,
/// `aantal`); `Vervolgmelding tijdens betrokkenheid VT: totaal (%)` → (…, `%`). A title without a unit
/// in brackets at its end has none.
pub fn split_unit(title: &str) -> (&str, Option<&str>) {
    let t = title.trim();
    if let Some(open) = t.strip_suffix(')').and_then(|s| s.rfind('(')) {
        let unit = &t[open + 1..t.len() - 1];
        let known = unit == "%"
            || unit.starts_with("aantal")
            || unit.starts_with("x ")
            || unit.contains("per ")
            || unit.contains("euro")
            || unit.contains("dagen")
            || unit.contains("jaar");
        if known {
            return (t[..open].trim_end(), Some(unit));
        }
    }
    (t, None)
}

/// Gives every topic and dimension a column name: snake_case of its title, `_pct` after a percentage,
/// and, where two would meet, the topic group's words before it (then the CBS key).
pub fn name_columns(meta: &mut TableMeta) {
    let mut taken: std::collections::HashSet<String> = LEADING
        .iter()
        .chain(REGION_COLUMNS.iter())
        .chain(TRAILING.iter())
        .chain([REPLACED_BY, "year", "half"].iter())
        .map(|s| s.to_string())
        .collect();
    for d in &mut meta.dimensions {
        let mut name = snake_case(&d.title);
        if taken.contains(&name) {
            name = format!("{name}_{}", snake_case(&d.key));
        }
        taken.insert(name.clone());
        d.column = name;
    }
    for t in &mut meta.topics {
        let pct = if t.unit.contains('%') && !fold(&t.title).contains("percentage") { "_pct" } else { "" };
        let mut name = format!("{}{pct}", snake_case(&t.title));
        if taken.contains(&name) && !t.group.is_empty() {
            name = format!("{}_{}{pct}", snake_case(&t.group), snake_case(&t.title));
        }
        if taken.contains(&name) {
            name = format!("{name}_{}", snake_case(&t.key));
        }
        taken.insert(name.clone());
        t.column = name;
    }
}

/// One cell as CBS published it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// The input did not hold this topic (a download with some of a table's topics).
    Absent,
    /// Blank: the figure cannot occur.
    Empty,
    /// `.` or `x`: unknown, too unreliable or secret: NULL, and counted as suppressed.
    Suppressed,
    Count(i64),
    Decimal(f64),
}

impl Cell {
    /// Parses a cell of a topic of `kind`: right-aligned OData strings (`"     245"`), `28,5` and `28.5`,
    /// thousands written `1 905` in a text export.
    pub fn parse(text: &str, kind: Kind) -> Result<Cell, String> {
        let t = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{a0}');
        match t {
            "" => return Ok(Cell::Empty),
            "." | "x" | "?" => return Ok(Cell::Suppressed),
            "-" => return Ok(if kind == Kind::Count { Cell::Count(0) } else { Cell::Decimal(0.0) }),
            _ => {}
        }
        let compact: String = t.chars().filter(|c| !matches!(c, ' ' | '\u{a0}')).collect();
        match kind {
            Kind::Count => match compact.parse::<i64>() {
                Ok(v) if v.unsigned_abs() <= MAX_VALUE as u64 => Ok(Cell::Count(v)),
                Ok(_) => Err(format!("{t:?} is larger than any CBS count vtsql reads ({MAX_VALUE} at most)")),
                Err(_) => {
                    // a count table may publish `245.0` in OData's typed form
                    match compact.replace(',', ".").parse::<f64>() {
                        Ok(v) if v.fract() == 0.0 && v.abs() <= MAX_VALUE as f64 => Ok(Cell::Count(v as i64)),
                        _ => Err(format!("{t:?} is not a count (expected a whole number, '.' or blank)")),
                    }
                }
            },
            Kind::Decimal => match compact.replace(',', ".").parse::<f64>() {
                Ok(v) if v.is_finite() && v.abs() <= MAX_VALUE as f64 => Ok(Cell::Decimal(v)),
                _ => Err(format!("{t:?} is not a number (expected 28,5 or 28.5, '.' or blank)")),
            },
        }
    }

    pub fn is_suppressed(self) -> bool {
        self == Cell::Suppressed
    }
}

/// No figure of a CBS table vtsql reads comes near this; a larger one is a wrong column.
pub const MAX_VALUE: i64 = 1_000_000_000_000;

/// A row's region as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionCell {
    pub level: Text,
    pub code: Text,
    pub name: Text,
}

/// One row of a `cbs_<id>` table: a period × region × category of each dimension, with a cell per topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub period: Period,
    pub provisional: bool,
    pub region: Option<RegionCell>,
    pub categories: Vec<Text>,
    /// One per topic of the table, in its order.
    pub cells: Vec<Cell>,
    /// Days since 1970-01-01.
    pub release: Option<i32>,
    /// For history rows: the release that replaced these figures.
    pub replaced_by: Option<i32>,
    /// Where it was read (the input's index and line), for messages; (0, 0) when read back.
    pub origin: (u32, u32),
}

impl Row {
    /// The cells that identify a row within its table.
    pub fn key(&self) -> (Period, Option<&str>, &[Text]) {
        (self.period, self.region.as_ref().map(|r| &*r.code), &self.categories)
    }

    pub fn suppressed_cells(&self) -> i32 {
        self.cells.iter().filter(|c| c.is_suppressed()).count() as i32
    }

    /// The same figures as `other`, whatever their release: what makes loading a download twice store
    /// nothing new.
    pub fn same_figures(&self, other: &Row) -> bool {
        self.provisional == other.provisional
            && self.cells.len() == other.cells.len()
            && self.cells.iter().zip(&other.cells).all(|(a, b)| match (a, b) {
                (Cell::Decimal(x), Cell::Decimal(y)) => x.to_bits() == y.to_bits(),
                (Cell::Absent | Cell::Empty, Cell::Absent | Cell::Empty) => true,
                _ => a == b,
            })
    }
}

/// `2024-06-28T02:00:00` (CBS's `Modified`) → days since 1970-01-01.
pub fn day_of(timestamp: &str) -> Option<i32> {
    let date = timestamp.trim().get(..10)?;
    vtsql_udfs::gazetteer::day_number(date)
}

/// Days since 1970-01-01 → `2024-06-28`.
pub fn date_text(day: i32) -> String {
    // civil-from-days (Howard Hinnant's algorithm)
    let z = i64::from(day) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The level of a CBS region code: `GM0363` gemeente, `VT13` vt_regio, `PV27` provincie, `LD03`
/// landsdeel, `NL01` land; other codes keep their two letters.
pub fn region_level_of(code: &str) -> &'static str {
    match code.get(..2) {
        Some("GM") => "gemeente",
        Some("VT") => "vt_regio",
        Some("PV") => "provincie",
        Some("LD") => "landsdeel",
        Some("NL") => "land",
        Some("WK") => "wijk",
        Some("BU") => "buurt",
        Some("CR") => "corop",
        Some("RE") => "regio",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names() {
        assert_eq!(snake_case("Casussen met ontvangen melding(en)"), "casussen_met_ontvangen_melding_en");
        assert_eq!(snake_case("... tijdens veiligheidsbeoordeling"), "tijdens_veiligheidsbeoordeling");
        assert_eq!(
            snake_case("Vervolgmelding tijdens betrokkenheid VT: totaal"),
            "vervolgmelding_tijdens_betrokkenheid_vt_totaal"
        );
        assert_eq!(snake_case("Fryslân"), "fryslan");
        assert_eq!(snake_case("2020"), "c_2020");
        assert_eq!(split_unit("Ontvangen meldingen (aantal)"), ("Ontvangen meldingen", Some("aantal")));
        assert_eq!(split_unit("... na veiligheidsbeoordeling (%)"), ("... na veiligheidsbeoordeling", Some("%")));
        assert_eq!(split_unit("Casussen met ontvangen melding(en)"), ("Casussen met ontvangen melding(en)", None));
    }

    #[test]
    fn a_percentage_beside_its_count_gets_pct() {
        let topic = |title: &str, unit: &str| Topic {
            key: title.into(),
            title: title.into(),
            group: String::new(),
            unit: unit.into(),
            description: String::new(),
            column: String::new(),
            kind: Kind::from_unit(unit, None),
        };
        let mut meta = TableMeta {
            id: "85361NED".into(),
            title: String::new(),
            release: String::new(),
            regions: true,
            dimensions: vec![],
            topics: vec![topic("... tijdens monitoring", "aantal"), topic("... tijdens monitoring", "%")],
        };
        name_columns(&mut meta);
        assert_eq!(meta.topics[0].column, "tijdens_monitoring");
        assert_eq!(meta.topics[1].column, "tijdens_monitoring_pct");
        assert_eq!(meta.topics[1].kind, Kind::Decimal);
        assert_eq!(meta.find_topic("... tijdens monitoring (%)", "%"), None, "the unit is split off first");
        assert_eq!(meta.find_topic("... tijdens monitoring", "%"), Some(1));
        assert_eq!(meta.find_topic("Vervolgmelding/... tijdens monitoring", "aantal"), Some(0));
    }

    #[test]
    fn cut_off_titles_find_their_topic() {
        let mut meta = TableMeta {
            id: "84851NED".into(),
            title: String::new(),
            release: String::new(),
            regions: true,
            dimensions: vec![],
            topics: ["Afgeronde diensten onderzoek", "Afgeronde diensten voorwaarden en vervolg"]
                .iter()
                .map(|t| Topic {
                    key: t.to_string(),
                    title: t.to_string(),
                    group: "Afgeronde diensten".into(),
                    unit: "aantal".into(),
                    description: String::new(),
                    column: String::new(),
                    kind: Kind::Count,
                })
                .collect(),
        };
        name_columns(&mut meta);
        let text_header = "Adviezen, meldingen en diensten Afgeronde diensten Afgeronde diensten voorwaarden en verv..";
        assert_eq!(meta.find_topic(text_header, "aantal"), Some(1));
        assert_eq!(
            meta.find_topic(
                "Adviezen, meldingen en diensten Afgeronde diensten Afgeronde diensten onderzoek",
                "aantal"
            ),
            Some(0)
        );
    }

    #[test]
    fn cells() {
        assert_eq!(Cell::parse("     245", Kind::Count), Ok(Cell::Count(245)));
        assert_eq!(Cell::parse("       .", Kind::Count), Ok(Cell::Suppressed));
        assert_eq!(Cell::parse("", Kind::Count), Ok(Cell::Empty));
        assert_eq!(Cell::parse("28,5", Kind::Decimal), Ok(Cell::Decimal(28.5)));
        assert_eq!(Cell::parse(" 28.5", Kind::Decimal), Ok(Cell::Decimal(28.5)));
        assert_eq!(Cell::parse("1 905", Kind::Count), Ok(Cell::Count(1905)));
        assert!(Cell::parse("12a", Kind::Count).is_err());
        assert!(Cell::parse("NaN", Kind::Decimal).is_err());
        assert!(Cell::parse("9999999999999999999", Kind::Count).is_err());
    }

    #[test]
    fn dates() {
        let day = day_of("2024-06-28T02:00:00").unwrap();
        assert_eq!(date_text(day), "2024-06-28");
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(day_of("nonsense"), None);
    }
}
