//! The pages of a CBS open data table as `vtsql fetch` keeps them under `DATA/raw/cbs/<ID>/`, read into
//! the table model.
//!
//! ```text
//! DATA/raw/cbs/84852NED/api                       v3 or v4
//! DATA/raw/cbs/84852NED/<entity set>/page-00001.json   each response body as received
//! DATA/raw/cbs/84852NED/COMPLETE                  written last: the download is whole
//! ```
//!
//! OData v3 (`opendata.cbs.nl/ODataFeed/odata/<ID>/`, the shapes the `cbsodata` and `cbsodataR` packages
//! read): `TableInfos` (title, `Modified`), `DataProperties` (dimensions of type `Dimension`,
//! `GeoDimension`, `TimeDimension`; `TopicGroup`s and `Topic`s with `Unit` and `Decimals`), one entity set
//! per dimension (`Key` → `Title`; `Perioden` with `Status`, `RegioS` keys right-padded), and
//! `UntypedDataSet`: one object per row with the dimension keys and one right-aligned string per topic;
//! `CategoryGroups` (where kept) the hierarchy of a dimension's categories (`ID`, `DimensionKey`, `Title`,
//! `ParentID`; a category's `CategoryGroupID`).
//! OData v4 (`datasets.cbs.nl/odata/v1/CBS/<ID>/`): `Properties`, `Dimensions`, `MeasureCodes`, `MeasureGroups`,
//! `<Dimension>Codes` (a code's `DimensionGroupId`), `<Dimension>Groups` (`Id`, `Title`, `ParentId`) and
//! `Observations` (one cell per object: `Measure`, `Value`, `ValueAttribute`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use vtsql_udfs::period::Period;

use super::model::{self, Cell, Dimension, Interner, Kind, RegionCell, Row, TableMeta, Text, Topic};
pub use crate::fetch::kept::{self, API_FILE, Api, COMPLETE};
use crate::ingest::error::{IngestError, Result};

fn pages(dir: &Path, set: &str) -> Result<Vec<PathBuf>> {
    kept::pages(dir, set).map_err(|e| IngestError::io(&dir.join(set), e))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| IngestError::io(path, e))
}

fn shape(path: &Path, message: impl fmt::Display) -> IngestError {
    IngestError::store(path, format!("not a CBS open data response: {message}"))
}

/// The objects of every page of a (small) metadata entity set; a singleton (v4 `Properties`) is one.
fn objects(dir: &Path, set: &str) -> Result<Vec<kept::PageObject>> {
    let out = kept::objects(dir, set).map_err(|e| match e {
        kept::PageError::Io(path, e) => IngestError::io(&path, e),
        kept::PageError::Shape(path, message) => shape(&path, message),
    })?;
    if out.is_empty() {
        return Err(IngestError::store(&dir.join(set), format!("no {set} kept (an incomplete download?)")));
    }
    Ok(out)
}

/// [`objects`] of a set that may be empty (a table without category groups).
fn objects_or_none(dir: &Path, set: &str) -> Result<Vec<kept::PageObject>> {
    if !dir.join(set).is_dir() || pages(dir, set)?.is_empty() { Ok(vec![]) } else { objects(dir, set) }
}

fn text_field(page: &Path, object: &serde_json::Map<String, Value>, field: &str) -> Result<String> {
    match object.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Null) | None => Ok(String::new()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(shape(page, format!("field {field:?} is {other}, not text"))),
    }
}

fn required(page: &Path, object: &serde_json::Map<String, Value>, field: &str) -> Result<String> {
    let value = text_field(page, object, field)?;
    if value.trim().is_empty() {
        return Err(shape(page, format!("field {field:?} is missing")));
    }
    Ok(value)
}

/// How a kept download's row cells resolve to the table model.
struct Resolver {
    meta: TableMeta,
    /// Per dimension: its key and its categories (key → title).
    dimensions: Vec<(String, HashMap<String, Text>)>,
    geo: Option<(String, HashMap<String, RegionCell>)>,
    time: String,
    /// Period code → the period and whether CBS marks it provisional.
    periods: HashMap<String, (Period, bool)>,
    release: Option<i32>,
    source: Text,
}

/// The API a kept download came from.
pub fn api_of(dir: &Path) -> Result<Api> {
    let path = dir.join(API_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| IngestError::io(&path, e))?;
    Api::parse(&text).ok_or_else(|| IngestError::store(&path, format!("unknown API {:?}", text.trim())))
}

/// Reads the table's metadata from a kept download.
pub fn read_meta(dir: &Path) -> Result<TableMeta> {
    Ok(resolver(dir)?.meta)
}

fn status_is_provisional(status: &str) -> bool {
    let s = status.to_lowercase();
    s.contains("voorlopig") || s.contains("provisional")
}

fn period_of(page: &Path, key: &str) -> Result<Period> {
    Period::parse(key.trim()).map(|(p, _)| p).ok_or_else(|| {
        shape(
            page,
            format!(
                "period {key:?} is not a year (2020JJ00), half-year (2020HJ01), quarter (2020KW01) or month (2020MM01)"
            ),
        )
    })
}

/// The path of every topic group, its ancestors' titles first, joined by `/` (as a StatLine CSV download
/// writes them), from each group's title and parent.
fn group_paths(parents: &HashMap<String, (String, String)>) -> HashMap<String, String> {
    parents
        .keys()
        .map(|id| {
            let mut path = Vec::new();
            let mut at = id.as_str();
            while let Some((title, parent)) = parents.get(at) {
                path.push(title.as_str());
                if path.len() > parents.len() {
                    break; // a cycle: CBS sends none, a damaged page might
                }
                at = parent;
            }
            path.reverse();
            (id.clone(), path.join("/"))
        })
        .collect()
}

/// A group id as text, whether CBS sends a number (v3 `CategoryGroupID`) or a string.
fn group_id(value: &Value) -> String {
    match value {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    }
}

/// The groups of dimension `key`'s categories, where the download holds them: v3's `CategoryGroups` (one set
/// for every dimension, told apart by `DimensionKey`), v4's `<key>Groups`.
fn category_groups(dir: &Path, api: Api, key: &str) -> Result<Vec<model::Group>> {
    let set = match api {
        Api::V3 => "CategoryGroups".to_string(),
        Api::V4 => format!("{key}Groups"),
    };
    if !dir.join(&set).is_dir() {
        return Ok(vec![]);
    }
    let (id_field, parent_field) = if api == Api::V3 { ("ID", "ParentID") } else { ("Id", "ParentId") };
    let mut groups = Vec::new();
    for (page, o) in objects_or_none(dir, &set)? {
        if api == Api::V3 && text_field(&page, &o, "DimensionKey")?.trim() != key {
            continue;
        }
        let id = o.get(id_field).filter(|g| !g.is_null()).map(group_id);
        let Some(id) = id else {
            return Err(shape(&page, format!("a group without field {id_field:?}")));
        };
        groups.push(model::Group {
            id,
            title: text_field(&page, &o, "Title")?.trim().to_string(),
            parent: o.get(parent_field).filter(|g| !g.is_null()).map(group_id),
        });
    }
    Ok(groups)
}

fn resolver(dir: &Path) -> Result<Resolver> {
    let api = api_of(dir)?;
    let mut texts = Interner::default();
    let info = objects(dir, api.info_set())?;
    let (info_page, info) = &info[0];
    let served = required(info_page, info, "Identifier")?;
    // the id names files and tables: only a CBS table id, and the one this download was made of
    let id = served.trim().to_uppercase();
    let expected = dir.file_name().map(|n| n.to_string_lossy().to_uppercase());
    if super::family::id_in(&id).as_deref() != Some(id.as_str())
        || expected.as_deref().is_some_and(|e| super::family::id_in(e).as_deref() == Some(e) && e != id)
    {
        return Err(shape(
            info_page,
            format!(
                "field \"Identifier\" is {served:?}, not the CBS table id {} this download was made of",
                expected.as_deref().unwrap_or("?")
            ),
        ));
    }
    let title = text_field(info_page, info, "Title")?;
    let modified = text_field(info_page, info, "Modified")?;
    let release = model::day_of(&modified);
    let mut meta = TableMeta {
        id,
        title,
        release: release.map(model::date_text).unwrap_or_default(),
        regions: false,
        dimensions: Vec::new(),
        topics: Vec::new(),
    };
    let mut dimensions = Vec::new();
    let mut geo = None;
    let mut time = None;
    let mut periods = HashMap::new();

    // (key, title, description, kind) of every dimension
    let mut dims: Vec<(String, String, String, String)> = Vec::new();
    match api {
        Api::V3 => {
            let properties = objects(dir, "DataProperties")?;
            // every topic group's path, outermost first (`Bevolking/Bevolkingssamenstelling op 1 januari`)
            let parents: HashMap<String, (String, String)> = properties
                .iter()
                .filter(|(_, o)| o.get("Type").and_then(Value::as_str) == Some("TopicGroup"))
                .filter_map(|(_, o)| {
                    let parent = o.get("ParentID").filter(|p| !p.is_null()).map(Value::to_string).unwrap_or_default();
                    Some((o.get("ID")?.to_string(), (o.get("Title")?.as_str()?.trim().to_string(), parent)))
                })
                .collect();
            let groups = group_paths(&parents);
            for (page, o) in &properties {
                let kind = required(page, o, "Type")?;
                match kind.as_str() {
                    "Dimension" | "GeoDimension" | "TimeDimension" => dims.push((
                        required(page, o, "Key")?,
                        text_field(page, o, "Title")?,
                        text_field(page, o, "Description")?,
                        kind,
                    )),
                    "Topic" => {
                        let unit = text_field(page, o, "Unit")?;
                        let decimals = o.get("Decimals").and_then(Value::as_u64).map(|d| d as u32);
                        let kind = Kind::from_cbs(&text_field(page, o, "Datatype")?, &unit, decimals);
                        let parent =
                            o.get("ParentID").filter(|p| !p.is_null()).map(Value::to_string).unwrap_or_default();
                        meta.topics.push(Topic {
                            key: required(page, o, "Key")?,
                            title: text_field(page, o, "Title")?,
                            group: groups.get(&parent).cloned().unwrap_or_default(),
                            unit,
                            description: text_field(page, o, "Description")?,
                            column: String::new(),
                            kind,
                        });
                    }
                    _ => {}
                }
            }
        }
        Api::V4 => {
            for (page, o) in objects(dir, "Dimensions")? {
                let kind = text_field(&page, &o, "Kind")?;
                dims.push((
                    required(&page, &o, "Identifier")?,
                    text_field(&page, &o, "Title")?,
                    text_field(&page, &o, "Description")?,
                    kind,
                ));
            }
            let parents: HashMap<String, (String, String)> = objects_or_none(dir, "MeasureGroups")?
                .iter()
                .filter_map(|(_, o)| {
                    let parent = o.get("ParentId").filter(|p| !p.is_null()).map(group_id).unwrap_or_default();
                    Some((group_id(o.get("Id")?), (o.get("Title")?.as_str()?.trim().to_string(), parent)))
                })
                .collect();
            let groups = group_paths(&parents);
            for (page, o) in objects(dir, "MeasureCodes")? {
                let unit = text_field(&page, &o, "Unit")?;
                let decimals = o.get("Decimals").and_then(Value::as_u64).map(|d| d as u32);
                let kind = Kind::from_cbs(&text_field(&page, &o, "DataType")?, &unit, decimals);
                let parent = o.get("MeasureGroupId").filter(|p| !p.is_null()).map(group_id).unwrap_or_default();
                meta.topics.push(Topic {
                    key: required(&page, &o, "Identifier")?,
                    title: text_field(&page, &o, "Title")?,
                    group: groups.get(&parent).cloned().unwrap_or_default(),
                    unit,
                    description: text_field(&page, &o, "Description")?,
                    column: String::new(),
                    kind,
                });
            }
        }
    }
    for (key, title, description, kind) in dims {
        let set = match api {
            Api::V3 => key.clone(),
            Api::V4 => format!("{key}Codes"),
        };
        let code_field = if api == Api::V3 { "Key" } else { "Identifier" };
        let categories = objects(dir, &set)?;
        match kind.as_str() {
            "GeoDimension" => {
                let mut regions = HashMap::new();
                for (page, o) in &categories {
                    let code = required(page, o, code_field)?.trim().to_string();
                    let name = text_field(page, o, "Title")?;
                    let cell = RegionCell {
                        level: texts.text(model::region_level_of(&code)),
                        code: texts.text(&code),
                        name: texts.text(name.trim()),
                    };
                    regions.insert(code, cell);
                }
                meta.regions = true;
                geo = Some((key, regions));
            }
            "TimeDimension" => {
                for (page, o) in &categories {
                    let code = required(page, o, code_field)?;
                    let status = text_field(page, o, "Status")?;
                    periods.insert(code.trim().to_string(), (period_of(page, &code)?, status_is_provisional(&status)));
                }
                time = Some(key);
            }
            _ => {
                let mut map = HashMap::new();
                let group_field = if api == Api::V3 { "CategoryGroupID" } else { "DimensionGroupId" };
                let mut list = Vec::new();
                for (page, o) in &categories {
                    let code = required(page, o, code_field)?.trim().to_string();
                    let title = text_field(page, o, "Title")?.trim().to_string();
                    let group = o.get(group_field).filter(|g| !g.is_null()).map(group_id);
                    map.insert(code.clone(), texts.text(&title));
                    list.push(model::Category { key: code, title, group, labels: vec![], cut: false });
                }
                let groups = category_groups(dir, api, &key)?;
                meta.dimensions.push(Dimension {
                    key: key.clone(),
                    title,
                    column: String::new(),
                    description,
                    categories: list,
                    groups,
                });
                dimensions.push((key, map));
            }
        }
    }
    let Some(time) = time else {
        return Err(shape(&dir.join(api.info_set()), "the table has no time dimension (Perioden)"));
    };
    model::name_columns(&mut meta);
    let source = texts.text(&meta.id);
    Ok(Resolver { meta, dimensions, geo, time, periods, release, source })
}

/// A JSON text, borrowed from the page where it has no escapes.
#[derive(Debug)]
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// One value of a row object.
#[derive(Debug)]
enum Scalar<'a> {
    Text(Cow<'a, str>),
    Number(f64),
    Null,
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Scalar<'a>, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Scalar<'a>, A::Error> {
                while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One object of a data page, its fields in the order received.
#[derive(Debug)]
struct RawRow<'a>(Vec<(Cow<'a, str>, Scalar<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for RawRow<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawRow<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a row object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<RawRow<'a>, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(key) = map.next_key::<Str<'a>>()? {
                    fields.push((key.0, map.next_value::<Scalar<'a>>()?));
                }
                Ok(RawRow(fields))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

impl RawRow<'_> {
    fn get(&self, key: &str) -> Option<&Scalar<'_>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Calls `each` with every row of a data page (1-based number and the row) as the page is parsed: only one row
/// is held at a time, whatever the page's size. The first error `each` answers stops the parse and is the result.
fn for_each_row(page: &Path, bytes: &[u8], each: &mut dyn FnMut(usize, &RawRow<'_>) -> Result<()>) -> Result<()> {
    struct Rows<'f, 'e> {
        each: &'f mut dyn FnMut(usize, &RawRow<'_>) -> Result<()>,
        failed: &'e mut Option<IngestError>,
        found: bool,
    }
    impl<'de> de::DeserializeSeed<'de> for &mut Rows<'_, '_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for &mut Rows<'_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array of rows")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
            let mut n = 0;
            while let Some(raw) = seq.next_element::<RawRow<'de>>()? {
                n += 1;
                if let Err(e) = (self.each)(n, &raw) {
                    *self.failed = Some(e);
                    return Err(de::Error::custom("stopped"));
                }
            }
            Ok(())
        }
    }
    struct Page<'r, 'f, 'e>(&'r mut Rows<'f, 'e>);
    impl<'de> Visitor<'de> for Page<'_, '_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a page: an object with the rows in \"value\"")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
            while let Some(key) = map.next_key::<Str<'de>>()? {
                if key.0 == "value" {
                    self.0.found = true;
                    map.next_value_seed(&mut *self.0)?;
                } else {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }
    let mut failed = None;
    let mut rows = Rows { each, failed: &mut failed, found: false };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = deserializer.deserialize_map(Page(&mut rows)).and_then(|()| deserializer.end());
    let found = rows.found;
    if let Some(e) = failed {
        return Err(e);
    }
    parsed.map_err(|e| shape(page, e))?;
    if !found {
        return Err(shape(page, "no field \"value\" (the rows)"));
    }
    Ok(())
}

impl Resolver {
    fn text_of<'r>(&self, page: &Path, n: usize, row: &'r RawRow<'_>, field: &str) -> Result<&'r str> {
        match row.get(field) {
            Some(Scalar::Text(t)) => Ok(t),
            Some(_) => Err(shape(page, format!("row {n}: field {field:?} is not text"))),
            None => Err(shape(page, format!("row {n}: field {field:?} is missing"))),
        }
    }

    /// The row of one data object, without cells (v4) or with them (v3).
    fn row_of(&self, page: &Path, n: usize, raw: &RawRow<'_>, cells: Vec<Cell>) -> Result<Row> {
        let code = self.text_of(page, n, raw, &self.time)?.trim();
        let &(period, provisional) = self.periods.get(code).ok_or_else(|| {
            shape(page, format!("row {n}: field {:?}: period {code:?} is not in {}", self.time, self.time))
        })?;
        let region = match &self.geo {
            Some((key, regions)) => {
                let code = self.text_of(page, n, raw, key)?.trim();
                let region = regions
                    .get(code)
                    .ok_or_else(|| shape(page, format!("row {n}: field {key:?}: region {code:?} is not in {key}")))?;
                Some(region.clone())
            }
            None => None,
        };
        let mut categories = Vec::with_capacity(self.dimensions.len());
        for (key, map) in &self.dimensions {
            let code = self.text_of(page, n, raw, key)?.trim();
            let title = map
                .get(code)
                .ok_or_else(|| shape(page, format!("row {n}: field {key:?}: category {code:?} is not in {key}")))?;
            categories.push(Text::clone(title));
        }
        Ok(Row {
            period,
            provisional,
            region,
            categories,
            cells,
            release: self.release,
            replaced_by: None,
            origin: (0, u32::try_from(n).unwrap_or(u32::MAX)),
        })
    }
}

/// What a kept download holds: its table and rows.
pub struct Download {
    pub meta: TableMeta,
    pub rows: Vec<Row>,
    pub source: Text,
    /// What the ingest reports of the download: cells whose attribute vtsql does not know, and how it stored them.
    pub notes: Vec<String>,
}

/// Reads a kept download whole: the table model and every row, checked.
pub fn read_download(dir: &Path) -> Result<Download> {
    if !dir.join(COMPLETE).is_file() {
        return Err(IngestError::store(dir, "the download is not complete: run `vtsql fetch` again to finish it"));
    }
    let api = api_of(dir)?;
    let resolver = resolver(dir)?;
    let mut rows = Vec::new();
    let notes = match api {
        Api::V3 => read_v3(dir, &resolver, &mut rows).map(|()| Vec::new())?,
        Api::V4 => read_v4(dir, &resolver, &mut rows)?,
    };
    Ok(Download { meta: resolver.meta, rows, source: resolver.source, notes })
}

/// For each topic of the table, whether the download holds it: all, unless it is of some topics
/// (`vtsql fetch --topics`, kept in its `SCOPE`); the others are `Absent`, and keep their stored figures.
fn held_topics(dir: &Path, resolver: &Resolver) -> Vec<bool> {
    let some = crate::fetch::scope::kept_topics(dir);
    resolver.meta.topics.iter().map(|t| some.as_ref().is_none_or(|keys| keys.contains(&t.key))).collect()
}

fn read_v3(dir: &Path, resolver: &Resolver, rows: &mut Vec<Row>) -> Result<()> {
    let held = held_topics(dir, resolver);
    let topics: Vec<(&str, Kind, bool)> =
        resolver.meta.topics.iter().zip(&held).map(|(t, h)| (t.key.as_str(), t.kind, *h)).collect();
    for page in pages(dir, Api::V3.data_set())? {
        let bytes = read(&page)?;
        for_each_row(&page, &bytes, &mut |n, raw| {
            let mut cells = Vec::with_capacity(topics.len());
            for &(key, kind, held) in &topics {
                if !held {
                    cells.push(Cell::Absent);
                    continue;
                }
                let cell = match raw.get(key) {
                    Some(Scalar::Text(t)) => Cell::parse(t, kind),
                    Some(Scalar::Number(v)) => Cell::parse(&v.to_string(), kind),
                    Some(Scalar::Null) => Ok(Cell::Empty),
                    Some(Scalar::Other) => Err("not a figure".to_string()),
                    None => Err("missing".to_string()),
                }
                .map_err(|m| shape(&page, format!("row {n}: field {key:?}: {m}")))?;
                cells.push(cell);
            }
            rows.push(resolver.row_of(&page, n, raw, cells)?);
            Ok(())
        })?;
    }
    Ok(())
}

/// A v4 observation's `ValueAttribute` vtsql knows: `None` (a figure, or no figure and no reason: `.`) and
/// `Impossible` (no figure: it cannot occur, blank). Any other is stored as the cell says (its value, or `.`
/// without one) and reported with how many cells carried it, never dropped.
const KNOWN_ATTRIBUTES: [&str; 2] = ["None", "Impossible"];

/// Reads the observations into `rows`; the notes on attributes vtsql does not know.
fn read_v4(dir: &Path, resolver: &Resolver, rows: &mut Vec<Row>) -> Result<Vec<String>> {
    // attribute → (cells with a value, cells without)
    let mut unknown: std::collections::BTreeMap<String, (usize, usize)> = std::collections::BTreeMap::new();
    let topics: HashMap<&str, (usize, Kind)> =
        resolver.meta.topics.iter().enumerate().map(|(i, t)| (t.key.as_str(), (i, t.kind))).collect();
    let n_topics = topics.len();
    // One object per cell: gathered into one row per period × region × categories.
    let mut index: HashMap<(Period, Option<Text>, Vec<Text>), usize> = HashMap::new();
    for page in pages(dir, Api::V4.data_set())? {
        let bytes = read(&page)?;
        for_each_row(&page, &bytes, &mut |n, raw| {
            let measure = resolver.text_of(&page, n, raw, "Measure")?.trim();
            let Some(&(slot, kind)) = topics.get(measure) else {
                return Err(shape(&page, format!("row {n}: field \"Measure\": {measure:?} is not in MeasureCodes")));
            };
            let attribute = match raw.get("ValueAttribute") {
                Some(Scalar::Text(t)) => t.trim().to_string(),
                _ => "None".to_string(),
            };
            // a text measure's value (a `Text` or `Mixed` dataset) is in `StringValue`; a figure's `StringValue`
            // only repeats its `Value` as text, and is not read
            let (field, value) = match (raw.get("Value"), raw.get("StringValue")) {
                (Some(Scalar::Null) | None, Some(text @ Scalar::Text(_))) if kind == Kind::Text => {
                    ("StringValue", Some(text))
                }
                (value, _) => ("Value", value),
            };
            if !KNOWN_ATTRIBUTES.contains(&attribute.as_str()) {
                let tally = unknown.entry(attribute.clone()).or_default();
                match value {
                    Some(Scalar::Null) | None => tally.1 += 1,
                    Some(_) => tally.0 += 1,
                }
            }
            let cell = match value {
                Some(Scalar::Number(v)) => {
                    Cell::of_number(*v, kind).map_err(|m| shape(&page, format!("row {n}: field {field:?}: {v} {m}")))?
                }
                Some(Scalar::Text(t)) => {
                    Cell::parse(t, kind).map_err(|m| shape(&page, format!("row {n}: field {field:?}: {m}")))?
                }
                Some(Scalar::Null) | None if attribute == "Impossible" => Cell::Empty,
                Some(Scalar::Null) | None => Cell::Suppressed,
                Some(Scalar::Other) => return Err(shape(&page, format!("row {n}: field {field:?} is not a figure"))),
            };
            let row = resolver.row_of(&page, n, raw, Vec::new())?;
            let key = (row.period, row.region.as_ref().map(|r| Text::clone(&r.code)), row.categories.clone());
            let at = *index.entry(key).or_insert_with(|| {
                let mut row = row;
                row.cells = vec![Cell::Absent; n_topics];
                rows.push(row);
                rows.len() - 1
            });
            rows[at].cells[slot] = cell;
            Ok(())
        })?;
    }
    // v4 leaves out empty cells: a topic the download holds and a row lacks is blank
    let held = held_topics(dir, resolver);
    for row in rows.iter_mut() {
        for (cell, held) in row.cells.iter_mut().zip(&held) {
            if *cell == Cell::Absent && *held {
                *cell = Cell::Empty;
            }
        }
    }
    let id = &resolver.meta.id;
    Ok(unknown
        .into_iter()
        .map(|(attribute, (with, without))| {
            format!(
                "{id}: {} cell(s) with ValueAttribute {attribute:?}, which vtsql does not know: {with} with a value \
                 (stored), {without} without (stored as suppressed, `.`)",
                with + without
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETS: [&str; 6] =
        ["TableInfos", "DataProperties", "Veiligheidsbeoordeling", "RegioS", "Perioden", "UntypedDataSet"];

    /// A copy of `tests/data/odata-v3` (a small kept v3 download) to damage.
    fn example() -> tempfile::TempDir {
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/odata-v3");
        let dir = tempfile::tempdir().unwrap();
        for file in [API_FILE, COMPLETE] {
            std::fs::copy(from.join(file), dir.path().join(file)).unwrap();
        }
        for set in SETS {
            std::fs::create_dir(dir.path().join(set)).unwrap();
            for file in ["page-00001.json", "DONE"] {
                std::fs::copy(from.join(set).join(file), dir.path().join(set).join(file)).unwrap();
            }
        }
        dir
    }

    #[test]
    fn the_example_reads() {
        let dir = example();
        let download = read_download(dir.path()).unwrap();
        assert_eq!(download.meta.id, "84852NED");
        assert_eq!(download.rows.len(), 4);
        assert_eq!(download.rows[0].cells, vec![Cell::Count(64505), Cell::Decimal(100.0)]);
        assert_eq!(download.rows[1].cells, vec![Cell::Suppressed, Cell::Suppressed]);
        assert_eq!(download.rows[2].cells, vec![Cell::Count(490), Cell::Decimal(28.5)]);
        assert_eq!(download.rows[3].cells, vec![Cell::Suppressed, Cell::Empty]);
        assert!(download.rows[3].provisional);
    }

    /// The responses CBS's v4 service gave for 80072NED (`tests/data/odata-v4-80072ned`) as a kept download,
    /// with `edit` applied to each observation.
    fn recorded_v4(edit: impl Fn(usize, &mut serde_json::Map<String, Value>)) -> tempfile::TempDir {
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/odata-v4-80072ned");
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let set = path.file_stem().unwrap().to_string_lossy().to_string();
            let mut body: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            if set == "Observations" {
                for (i, o) in body["value"].as_array_mut().unwrap().iter_mut().enumerate() {
                    edit(i, o.as_object_mut().unwrap());
                }
            }
            std::fs::create_dir_all(dir.path().join(&set)).unwrap();
            std::fs::write(dir.path().join(&set).join("page-00001.json"), body.to_string()).unwrap();
            std::fs::write(dir.path().join(&set).join(crate::fetch::kept::DONE), "").unwrap();
        }
        std::fs::write(dir.path().join(API_FILE), "v4").unwrap();
        std::fs::write(dir.path().join(COMPLETE), "2020-06-19T02:00:00+02:00").unwrap();
        dir
    }

    /// Attributes vtsql does not know are stored as the cell says and reported with their counts; `Impossible`
    /// without a value is blank, `None` without one suppressed.
    #[test]
    fn value_attributes_are_stored_and_unknown_ones_reported() {
        let plain = read_download(recorded_v4(|_, _| {}).path()).unwrap();
        assert_eq!(plain.rows.len(), 726);
        assert!(plain.notes.is_empty(), "{:?}", plain.notes);
        let edited = read_download(
            recorded_v4(|i, o| match i {
                0 => _ = o.insert("ValueAttribute".into(), "Impossible".into()),
                1 | 2 => {
                    o.insert("Value".into(), Value::Null);
                    o.insert("ValueAttribute".into(), "Confidential".into());
                }
                3 => _ = o.insert("ValueAttribute".into(), "Estimate".into()),
                4 => _ = o.insert("Value".into(), Value::Null),
                5 => {
                    o.insert("Value".into(), Value::Null);
                    o.insert("ValueAttribute".into(), "Impossible".into());
                }
                _ => {}
            })
            .path(),
        )
        .unwrap();
        let cells: Vec<&Cell> = edited.rows.iter().take(6).map(|r| &r.cells[0]).collect();
        let plain_cells: Vec<&Cell> = plain.rows.iter().take(6).map(|r| &r.cells[0]).collect();
        assert_eq!(cells[0], plain_cells[0], "a value with Impossible is the value");
        assert_eq!([cells[1], cells[2]], [&Cell::Suppressed, &Cell::Suppressed]);
        assert_eq!(cells[3], plain_cells[3], "a value with an attribute vtsql does not know is stored");
        assert_eq!(cells[4], &Cell::Suppressed, "no value and no attribute: `.`");
        assert_eq!(cells[5], &Cell::Empty, "no value, Impossible: blank");
        assert_eq!(
            edited.notes,
            [
                "80072NED: 2 cell(s) with ValueAttribute \"Confidential\", which vtsql does not know: 0 with a value \
                 (stored), 2 without (stored as suppressed, `.`)",
                "80072NED: 1 cell(s) with ValueAttribute \"Estimate\", which vtsql does not know: 1 with a value \
                 (stored), 0 without (stored as suppressed, `.`)"
            ]
        );
    }

    /// A measure CBS types `String` is a text topic: its value comes from `StringValue` when `Value` is null
    /// (a figure given as `Value` is written out), and the symbols and attributes mean what they do for figures.
    #[test]
    fn a_text_measure_is_read_from_string_value() {
        let dir = recorded_v4(|i, o| match i {
            0 => {
                o.insert("Value".into(), Value::Null);
                o.insert("StringValue".into(), Value::from("  n.v.t. "));
            }
            1 => {
                o.insert("Value".into(), Value::Null);
                o.insert("StringValue".into(), Value::Null);
            }
            2 => {
                o.insert("Value".into(), Value::Null);
                o.insert("StringValue".into(), Value::from("."));
            }
            3 => {
                o.insert("Value".into(), Value::Null);
                o.insert("ValueAttribute".into(), Value::from("Impossible"));
            }
            _ => {}
        });
        let measures = dir.path().join("MeasureCodes/page-00001.json");
        let mut body: Value = serde_json::from_slice(&std::fs::read(&measures).unwrap()).unwrap();
        body["value"][0]["DataType"] = Value::from("String");
        std::fs::write(&measures, body.to_string()).unwrap();
        let download = read_download(dir.path()).unwrap();
        assert_eq!(download.meta.topics[0].kind, Kind::Text);
        let cells: Vec<&Cell> = download.rows.iter().take(5).map(|r| &r.cells[0]).collect();
        let text = Cell::text;
        assert_eq!(cells, [&text("n.v.t."), &Cell::Suppressed, &Cell::Suppressed, &Cell::Empty, &text("4.7")]);
        assert!(download.notes.is_empty(), "{:?}", download.notes);
    }

    /// An observation of a measure `MeasureCodes` does not have is an error naming the page, row and field.
    #[test]
    fn an_observation_of_an_unknown_measure_is_refused() {
        let dir = recorded_v4(|i, o| {
            if i == 7 {
                o.insert("Measure".into(), Value::from("M999999"));
            }
        });
        let err = read_download(dir.path()).err().unwrap().to_string();
        assert!(err.contains("Observations") && err.contains("\"Measure\"") && err.contains("M999999"), "{err}");
    }

    proptest::proptest! {
        /// Any damage to any page of a kept download gives rows or an error naming the page, never a panic
        /// (the short form of the `odata` fuzz target).
        #[test]
        fn damaged_pages_are_read_or_refused(
            which in 0usize..6,
            edits in proptest::collection::vec((0usize..2000, 0usize..20, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12)), 1..5),
        ) {
            let dir = example();
            let page = dir.path().join(SETS[which]).join("page-00001.json");
            let mut bytes = std::fs::read(&page).unwrap();
            for (at, remove, insert) in &edits {
                let at = at % (bytes.len() + 1);
                let end = (at + remove).min(bytes.len());
                bytes.splice(at..end, insert.iter().copied());
            }
            std::fs::write(&page, &bytes).unwrap();
            if let Err(e) = read_download(dir.path()) {
                // the error names the damaged file (or the download it belongs to)
                proptest::prop_assert!(e.to_string().contains(&dir.path().display().to_string()), "{e}");
            }
        }
    }
}
