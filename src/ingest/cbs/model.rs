//! One table model for any CBS table: its dimensions and topics ([`TableMeta`]), kept beside its Parquet
//! as `DATA/cbs_<id>.json`, and its rows ([`Row`]) as read from OData pages or StatLine downloads.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use vtsql_udfs::period::Period;

use crate::ingest::regions::fold;

/// Text shared by many rows (a region's code, a category): one allocation, however many rows name it.
pub type Text = std::sync::Arc<str>;

/// Gives the same [`Text`] for the same string: rows are many, their distinct texts few.
#[derive(Default)]
pub struct Interner(std::collections::HashSet<Text>);

impl Interner {
    pub fn text(&mut self, s: &str) -> Text {
        if let Some(text) = self.0.get(s) {
            return Text::clone(text);
        }
        let text: Text = s.into();
        self.0.insert(Text::clone(&text));
        text
    }
}

/// How a topic's values are typed, from CBS's data type, unit and decimals: whole counts of something (never
/// negative), whole amounts that may be negative (euro, a balance), decimal figures (percentages, averages,
/// rates), or text (a topic CBS types `String`: the gemeente's name or the most common postcode of the
/// *Kerncijfers wijken en buurten*, the values of a `Text` dataset). A column only ever widens: a count that
/// meets a decimal figure becomes decimal, a figure that meets text becomes text, never the other way, so no
/// value is truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Count,
    Amount,
    Decimal,
    Text,
}

impl Kind {
    /// From CBS's unit and number of decimals: a whole number of *aantal* (or a multiple, `x 1 000`) is a
    /// count; another whole number (euro, `aantal inwoners per km²`) an amount; anything with decimals, a
    /// percentage or a rate `per` something with decimals, a decimal.
    pub fn from_unit(unit: &str, decimals: Option<u32>) -> Kind {
        let unit = unit.trim().to_lowercase();
        if unit.contains('%') || decimals.unwrap_or(0) > 0 {
            return Kind::Decimal;
        }
        let count_unit =
            unit.is_empty() || unit.starts_with("aantal") && !unit.contains(" per ") || unit.starts_with("x ");
        if count_unit && !unit.contains("euro") { Kind::Count } else { Kind::Amount }
    }

    /// From a topic's metadata as CBS serves it (v3 `DataProperties.Datatype`, v4 `MeasureCodes.DataType`):
    /// `String` is text, whatever its unit; any other data type is read by [`Kind::from_unit`].
    pub fn from_cbs(data_type: &str, unit: &str, decimals: Option<u32>) -> Kind {
        if data_type.trim().eq_ignore_ascii_case("string") { Kind::Text } else { Kind::from_unit(unit, decimals) }
    }

    pub fn data_type(self) -> DataType {
        match self {
            Kind::Count | Kind::Amount => DataType::Int64,
            Kind::Decimal => DataType::Float64,
            Kind::Text => DataType::Utf8,
        }
    }

    /// The kind that holds the values of both: the wider.
    pub fn widest(self, other: Kind) -> Kind {
        match (self, other) {
            (Kind::Text, _) | (_, Kind::Text) => Kind::Text,
            (Kind::Decimal, _) | (_, Kind::Decimal) => Kind::Decimal,
            (Kind::Amount, _) | (_, Kind::Amount) => Kind::Amount,
            _ => Kind::Count,
        }
    }
}

/// One category of a dimension as CBS serves it: its key (`T001038`; a download, which has none, uses the
/// title), its full title, the group it sits in (CBS's `CategoryGroups` in v3, `<Dimension>Groups` in v4), and
/// the labels downloads gave it where they differ from the title (StatLine cuts long ones: `Mishandeling kind:
/// emotionele mish...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub key: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Only a label cut short is known: the full title may come with a later fetch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut: bool,
}

/// A group of categories (`Kindermishandeling`, `Aanvullende informatie`), within its parent group if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// The part of a label before StatLine's cut (`emotionele mish...` → `emotionele mish`), if it was cut.
pub fn cut_stem(label: &str) -> Option<&str> {
    let t = label.trim();
    t.strip_suffix("...").or_else(|| t.strip_suffix("..")).or_else(|| t.strip_suffix('…')).map(str::trim_end)
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
    /// Its categories in CBS's order, as far as they are known.
    #[serde(default)]
    pub categories: Vec<Category>,
    /// The groups its categories sit in, where CBS tells them.
    #[serde(default)]
    pub groups: Vec<Group>,
}

impl Dimension {
    /// The category a label names: by key, by title or an earlier label (case, accents and spacing aside), or,
    /// for a label StatLine cut short, the one category whose title starts with what is left of it.
    pub fn resolve(&self, label: &str) -> Option<&Category> {
        let wanted = fold_title(label);
        let found = self.categories.iter().find(|c| {
            c.key == label.trim() || fold_title(&c.title) == wanted || c.labels.iter().any(|l| fold_title(l) == wanted)
        });
        if found.is_some() {
            return found;
        }
        let stem = fold_title(cut_stem(label)?);
        if stem.is_empty() {
            return None;
        }
        let mut starting = self.categories.iter().filter(|c| fold_title(&c.title).starts_with(&stem));
        match (starting.next(), starting.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }

    /// The title of the outermost group a category sits in, or its own title where it sits in none: the kind
    /// of violence a subtype belongs to (`Mishandeling kind: fysiek` → `Kindermishandeling`).
    pub fn top_group(&self, category: &Category) -> String {
        let mut group = category.group.as_deref().and_then(|id| self.groups.iter().find(|g| g.id == id));
        let mut seen = 0;
        while let Some(g) = group {
            match g.parent.as_deref().and_then(|id| self.groups.iter().find(|p| p.id == id)) {
                Some(parent) if seen < self.groups.len() => {
                    group = Some(parent);
                    seen += 1;
                }
                _ => return g.title.clone(),
            }
        }
        category.title.clone()
    }
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

    /// Finds the stored topic an incoming topic is: by its key, else by its title (case, accents and spacing
    /// aside) where one topic of the same unit has it or its group tells which, else by the start of a title
    /// StatLine cut short (`voorwaarden en verv..`), or a title a text export ran together with its group's
    /// words. A percentage is never the count of the same title.
    pub fn find_topic(&self, wanted: &Topic) -> Option<usize> {
        let percent = wanted.unit.contains('%');
        let candidates = || self.topics.iter().enumerate().filter(move |(_, t)| t.unit.contains('%') == percent);
        if let Some((i, _)) = candidates().find(|(_, t)| t.key == wanted.key) {
            return Some(i);
        }
        let title = fold_title(&wanted.title);
        let innermost = |group: &str| fold_title(group.rsplit('/').next().unwrap_or(""));
        // a group both tell must be the same: `Hermelding/Totaal` is not `Vervolgmelding/Totaal`
        let groups_agree = |t: &Topic| {
            t.group.is_empty() || wanted.group.is_empty() || innermost(&t.group) == innermost(&wanted.group)
        };
        let same: Vec<usize> =
            candidates().filter(|(_, t)| fold_title(&t.title) == title && groups_agree(t)).map(|(i, _)| i).collect();
        match same.as_slice() {
            [one] => return Some(*one),
            [] => {}
            several => {
                let by_group: Vec<usize> = several
                    .iter()
                    .copied()
                    .filter(|&i| innermost(&self.topics[i].group) == innermost(&wanted.group))
                    .collect();
                return match by_group.as_slice() {
                    [one] => Some(*one),
                    _ => None,
                };
            }
        }
        // A text export's title may carry the topic groups before the title, and may be cut off.
        let (stem, cut) = match cut_stem(&wanted.title) {
            Some(stem) => (fold_title(stem), true),
            None => (title.clone(), false),
        };
        let matches: Vec<usize> = candidates()
            .filter(|(_, t)| groups_agree(t))
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
/// `casussen_met_ontvangen_meldingen` (a plural in brackets joins its word), `Fryslân` → `fryslan`,
/// `1e melding` → `eerste_melding` (an ordinal at the start is spelled, so that no name starts with a digit).
pub fn snake_case(title: &str) -> String {
    let mut text = fold(title);
    for plural in ["(en)", "(s)", "(n)", "(e)"] {
        while let Some(at) = text.find(plural) {
            let joined = text[..at].chars().next_back().is_some_and(char::is_alphabetic);
            let part = if joined { &plural[1..plural.len() - 1] } else { " " };
            text.replace_range(at..at + plural.len(), part);
        }
    }
    const ORDINALS: [&str; 10] =
        ["eerste", "tweede", "derde", "vierde", "vijfde", "zesde", "zevende", "achtste", "negende", "tiende"];
    let trimmed = text.trim_start();
    let first = trimmed.split_whitespace().next().unwrap_or("");
    if let Some(n) = first.strip_suffix('e').and_then(|n| n.parse::<usize>().ok()).filter(|n| (1..=10).contains(n)) {
        text = format!("{}{}", ORDINALS[n - 1], &trimmed[first.len()..]);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

/// The column name of a topic, from its path alone (so that every source that tells the same path, a CSV
/// download, a text export, OData v3 or v4, gives the same name): the snake case of its title, with the
/// innermost group's words before a title that does not stand on its own (one word such as `Totaal`, a title
/// CBS continues from its group with `...`, or one that starts with a number), and `_pct` after a percentage.
/// `Hermelding/Totaal (%)` → `hermelding_totaal_pct`; `Adviezen, meldingen en diensten/Gestarte adviezen
/// (aantal)` → `gestarte_adviezen`.
pub fn topic_column(group: &str, title: &str, unit: &str) -> String {
    let innermost = group.rsplit('/').next().unwrap_or("").trim();
    let title = title.trim();
    let (continued, rest) = match title.strip_prefix("...").or_else(|| title.strip_prefix('…')) {
        Some(rest) => (true, rest.trim_start()),
        None => (false, title),
    };
    let alone = rest.split_whitespace().count() <= 1;
    let number = rest.starts_with(|c: char| c.is_ascii_digit())
        && !rest.split_whitespace().next().is_some_and(|w| w.ends_with('e') && w.len() <= 3);
    let base = if (continued || alone || number) && !innermost.is_empty() {
        format!("{innermost} {rest}")
    } else {
        rest.to_string()
    };
    let pct = if unit.contains('%') && !fold(title).contains("percentage") { "_pct" } else { "" };
    format!("{}{pct}", snake_case(&base))
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

/// Gives every topic and dimension a column name ([`topic_column`], the snake case of a dimension's title).
/// Where two would still meet, the topic's whole group path goes before its title, then its CBS key after it;
/// a name vtsql gives a column of its own (`period`, `release`, ...) gets the key too.
pub fn name_columns(meta: &mut TableMeta) {
    let reserved: std::collections::HashSet<&str> = LEADING
        .iter()
        .chain(REGION_COLUMNS.iter())
        .chain(TRAILING.iter())
        .chain([REPLACED_BY, "year", "half"].iter())
        .copied()
        .collect();
    // a column named before (stored, or from an earlier download) keeps its name
    let mut taken: std::collections::HashSet<String> = meta
        .dimensions
        .iter()
        .map(|d| d.column.clone())
        .chain(meta.topics.iter().map(|t| t.column.clone()))
        .filter(|c| !c.is_empty())
        .collect();
    for d in meta.dimensions.iter_mut().filter(|d| d.column.is_empty()) {
        let mut name = snake_case(&d.title);
        if reserved.contains(name.as_str()) || taken.contains(&name) {
            name = format!("{name}_{}", snake_case(&d.key));
        }
        taken.insert(name.clone());
        d.column = name;
    }
    let names: Vec<String> = meta.topics.iter().map(|t| topic_column(&t.group, &t.title, &t.unit)).collect();
    for (i, t) in meta.topics.iter_mut().enumerate() {
        if !t.column.is_empty() {
            continue;
        }
        let mut name = names[i].clone();
        let shared = names.iter().filter(|n| **n == name).count() > 1;
        if (shared || taken.contains(&name)) && !t.group.is_empty() {
            let pct = if name.ends_with("_pct") { "_pct" } else { "" };
            let title = t.title.trim().trim_start_matches("...").trim_start_matches('…');
            name = format!("{}{pct}", snake_case(&format!("{} {title}", t.group.replace('/', " "))));
        }
        if reserved.contains(name.as_str()) || taken.contains(&name) {
            name = format!("{name}_{}", snake_case(&t.key));
        }
        taken.insert(name.clone());
        t.column = name;
    }
}

/// One cell as CBS published it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// The input did not hold this topic (a download with some of a table's topics).
    Absent,
    /// Blank: the figure cannot occur.
    Empty,
    /// `.` or `x`: unknown, too unreliable or secret: NULL, and counted as suppressed.
    Suppressed,
    Count(i64),
    Decimal(f64),
    /// The value of a text topic. Behind one thin pointer, so a cell stays 16 bytes: a table's rows hold
    /// one per topic, and text topics are rare.
    Text(std::sync::Arc<String>),
}

const _: () = assert!(std::mem::size_of::<Cell>() == 16, "a cell is held once per row and topic: keep it small");

impl Cell {
    /// The value of a text topic.
    pub fn text(value: &str) -> Cell {
        Cell::Text(std::sync::Arc::new(value.to_string()))
    }

    /// Parses a cell of a topic of `kind`: right-aligned OData strings (`"     245"`), `28,5` and `28.5`,
    /// thousands written `1 905` in a text export. A count is a whole number of at least 0, an amount a whole
    /// number, a decimal any number: a figure that does not fit its topic's kind is an error, never rounded.
    /// A text topic's value is kept as written, trimmed; blank and `.` (`x`, `?`) mean what they mean for
    /// figures.
    pub fn parse(text: &str, kind: Kind) -> Result<Cell, String> {
        let t = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{a0}');
        match t {
            "" => return Ok(Cell::Empty),
            "." | "x" | "?" => return Ok(Cell::Suppressed),
            _ if kind == Kind::Text => return Ok(Cell::text(t)),
            "-" => return Ok(if kind == Kind::Decimal { Cell::Decimal(0.0) } else { Cell::Count(0) }),
            _ => {}
        }
        let compact: String = t.chars().filter(|c| !matches!(c, ' ' | '\u{a0}')).collect();
        let number = match compact.parse::<i64>() {
            Ok(v) => v as f64,
            Err(_) => match compact.replace(',', ".").parse::<f64>() {
                Ok(v) if v.is_finite() => v,
                _ => {
                    let expected = match kind {
                        Kind::Count => "a whole number",
                        Kind::Amount => "a whole number such as -12 or 340",
                        Kind::Decimal | Kind::Text => "28,5 or 28.5",
                    };
                    return Err(format!("{t:?} is not a number (expected {expected}, '.' or blank)"));
                }
            },
        };
        Cell::of_number(number, kind).map_err(|m| format!("{t:?} {m}"))
    }

    /// A figure CBS served as a number (OData v4's `Value`), for a topic of `kind`.
    pub fn of_number(v: f64, kind: Kind) -> Result<Cell, String> {
        if !v.is_finite() || v.abs() > MAX_VALUE as f64 {
            return Err(format!("is larger than any CBS figure vtsql reads ({MAX_VALUE} at most)"));
        }
        match kind {
            Kind::Decimal => Ok(Cell::Decimal(v)),
            Kind::Text => Ok(Cell::text(&v.to_string())),
            _ if v.fract() != 0.0 => Err(format!(
                "is not a whole number, and the topic is a {} (its unit and decimals say so)",
                if kind == Kind::Count { "count" } else { "whole amount" }
            )),
            Kind::Count if v < 0.0 => Err("is negative, and a count cannot be".into()),
            _ => Ok(Cell::Count(v as i64)),
        }
    }

    pub fn is_suppressed(&self) -> bool {
        *self == Cell::Suppressed
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

    /// Whether this row holds `other`'s figures and more: it differs only where `other` is blank.
    pub fn completes(&self, other: &Row) -> bool {
        self.provisional == other.provisional
            && self.cells.len() == other.cells.len()
            && self.cells.iter().zip(&other.cells).all(|(a, b)| match (a, b) {
                (_, Cell::Absent | Cell::Empty) => true,
                (Cell::Decimal(x), Cell::Decimal(y)) => x.to_bits() == y.to_bits(),
                _ => a == b,
            })
    }

    /// The same figures as `other`, whatever their release: what makes loading a download twice store
    /// nothing new. Each holds the other's figures, so they differ at most in which blanks are absent.
    pub fn same_figures(&self, other: &Row) -> bool {
        self.completes(other) && other.completes(self)
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

    /// `String` is text whatever the unit; figures are typed by unit and decimals; text is the widest kind.
    #[test]
    fn kinds_from_cbs_metadata_and_text_cells() {
        assert_eq!(Kind::from_cbs("String", "aantal", Some(0)), Kind::Text);
        assert_eq!(Kind::from_cbs("Long", "aantal", Some(0)), Kind::Count);
        assert_eq!(Kind::from_cbs("Double", "%", Some(1)), Kind::Decimal);
        assert_eq!(Kind::from_cbs("Integer", "euro", None), Kind::Amount);
        assert_eq!(Kind::Count.widest(Kind::Text), Kind::Text);
        assert_eq!(Kind::Text.widest(Kind::Decimal), Kind::Text);
        assert_eq!(Kind::Text.data_type(), DataType::Utf8);
        let text = Cell::text;
        assert_eq!(Cell::parse("  Almelo\u{a0}", Kind::Text), Ok(text("Almelo")));
        assert_eq!(Cell::parse("7611", Kind::Text), Ok(text("7611")));
        assert_eq!(Cell::parse("-", Kind::Text), Ok(text("-")));
        assert_eq!(Cell::parse(" . ", Kind::Text), Ok(Cell::Suppressed));
        assert_eq!(Cell::parse("", Kind::Text), Ok(Cell::Empty));
        assert_eq!(Cell::of_number(28.5, Kind::Text), Ok(text("28.5")));
        assert!(Cell::parse("Almelo", Kind::Count).is_err());
    }

    #[test]
    fn column_names() {
        assert_eq!(snake_case("Casussen met ontvangen melding(en)"), "casussen_met_ontvangen_meldingen");
        assert_eq!(snake_case("1e melding"), "eerste_melding");
        assert_eq!(snake_case("65 jaar (of ouder)"), "c_65_jaar_of_ouder");
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

    /// The name of a topic follows from its path alone, whichever source tells it.
    #[test]
    fn topic_names_from_their_path() {
        assert_eq!(topic_column("Adviezen, meldingen en diensten", "Gestarte adviezen", "aantal"), "gestarte_adviezen");
        assert_eq!(
            topic_column(
                "Adviezen, meldingen en diensten/Afgeronde diensten",
                "Afgeronde diensten onderzoek",
                "aantal"
            ),
            "afgeronde_diensten_onderzoek"
        );
        assert_eq!(topic_column("Hermelding", "Totaal", "%"), "hermelding_totaal_pct");
        assert_eq!(
            topic_column("Vervolgmelding tijdens betrokkenheid VT", "Totaal", "aantal"),
            "vervolgmelding_tijdens_betrokkenheid_vt_totaal"
        );
        assert_eq!(
            topic_column("Vervolgmelding", "... tijdens monitoring", "%"),
            "vervolgmelding_tijdens_monitoring_pct"
        );
        assert_eq!(topic_column("", "... tijdens monitoring", "aantal"), "tijdens_monitoring");
        assert_eq!(topic_column("Eerdere betrokkenheid", "1e melding", "aantal"), "eerste_melding");
        assert_eq!(topic_column("Leeftijd", "65 jaar of ouder", "aantal"), "leeftijd_65_jaar_of_ouder");
        assert_eq!(topic_column("", "Percentage acuut", "%"), "percentage_acuut");
    }

    #[test]
    fn cut_labels_resolve_to_their_category() {
        let category = |key: &str, title: &str| Category {
            key: key.into(),
            title: title.into(),
            group: None,
            labels: vec![],
            cut: false,
        };
        let dimension = Dimension {
            key: "Kenmerken".into(),
            title: "Kenmerken".into(),
            column: String::new(),
            description: String::new(),
            categories: vec![
                category("A1", "Mishandeling kind: emotionele mishandeling"),
                category("A2", "Mishandeling kind: emotionele verwaarlozing"),
                category("A3", "Totaal"),
            ],
            groups: vec![],
        };
        let title = |label: &str| dimension.resolve(label).map(|c| c.title.as_str());
        assert_eq!(title("Mishandeling kind: emotionele mish..."), Some("Mishandeling kind: emotionele mishandeling"));
        assert_eq!(title("Mishandeling kind: emotionele verw.."), Some("Mishandeling kind: emotionele verwaarlozing"));
        assert_eq!(title("Mishandeling kind: emotionele..."), None, "two titles start so");
        assert_eq!(title("totaal"), Some("Totaal"));
        assert_eq!(title("A1"), Some("Mishandeling kind: emotionele mishandeling"));
        assert_eq!(title("Iets nieuws"), None);
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
        let wanted = |key: &str, title: &str, unit: &str| Topic {
            key: key.into(),
            title: title.into(),
            group: String::new(),
            unit: unit.into(),
            description: String::new(),
            column: String::new(),
            kind: Kind::Decimal,
        };
        assert_eq!(
            meta.find_topic(&wanted("x", "... tijdens monitoring (%)", "%")),
            None,
            "the unit is split off first"
        );
        assert_eq!(meta.find_topic(&wanted("x", "... tijdens monitoring", "%")), Some(1));
        assert_eq!(meta.find_topic(&wanted("x", "Vervolgmelding ... tijdens monitoring", "aantal")), Some(0));
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
        let wanted = |title: &str| Topic {
            key: "x".into(),
            title: title.into(),
            group: String::new(),
            unit: "aantal".into(),
            description: String::new(),
            column: String::new(),
            kind: Kind::Count,
        };
        let text_header = "Adviezen, meldingen en diensten Afgeronde diensten Afgeronde diensten voorwaarden en verv..";
        assert_eq!(meta.find_topic(&wanted(text_header)), Some(1));
        assert_eq!(
            meta.find_topic(&wanted("Adviezen, meldingen en diensten Afgeronde diensten Afgeronde diensten onderzoek")),
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
        // a count is never negative nor rounded; an amount may be negative; a decimal keeps its fraction
        assert!(Cell::parse("-5", Kind::Count).unwrap_err().contains("negative"));
        assert!(Cell::parse("2,5", Kind::Count).unwrap_err().contains("not a whole number"));
        assert_eq!(Cell::parse("-5", Kind::Amount), Ok(Cell::Count(-5)));
        assert_eq!(Cell::parse("245.0", Kind::Count), Ok(Cell::Count(245)));
        assert_eq!(Cell::parse("245", Kind::Decimal), Ok(Cell::Decimal(245.0)));
        assert_eq!(Kind::from_unit("aantal", Some(0)), Kind::Count);
        assert_eq!(Kind::from_unit("x 1 000 euro", Some(0)), Kind::Amount);
        assert_eq!(Kind::from_unit("aantal inwoners per km²", Some(0)), Kind::Amount);
        assert_eq!(Kind::from_unit("%", Some(1)), Kind::Decimal);
        assert_eq!(Kind::Count.widest(Kind::Decimal), Kind::Decimal);
    }

    #[test]
    fn dates() {
        let day = day_of("2024-06-28T02:00:00").unwrap();
        assert_eq!(date_text(day), "2024-06-28");
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(day_of("nonsense"), None);
    }
}
