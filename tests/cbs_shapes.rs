//! CBS open data's response shapes, for the test service ([`crate::cbs_service`]) and the ingest benchmark
//! (`benches/family_ingest.rs`, which writes them as `vtsql fetch` keeps them).
//!
//! Shapes followed:
//! - OData v3 (`opendata.cbs.nl/ODataFeed/odata/<ID>/<set>?$format=json`), as the `cbsodata` package
//!   (`cbsodata3.py`: `_download_metadata`) and `cbsodataR` read it: a body `{"odata.metadata": ..., "value":
//!   [...]}`, the next page in `odata.nextLink`; `TableInfos` with `Identifier`, `Title`, `Modified`,
//!   `RecordCount`; `DataProperties` entries with `Type` (`Dimension`, `GeoDimension`, `TimeDimension`,
//!   `TopicGroup`, `Topic`), `Key`, `Title`, `Unit`, `Decimals`, `Datatype`; dimension sets of `Key`/`Title`
//!   (`RegioS` keys right-padded to ten characters, `Perioden` with `Status`); `UntypedDataSet` rows with the
//!   dimension keys and one right-aligned string per topic, `.` for a hidden figure.
//! - OData v4 (`datasets.cbs.nl/odata/v1/CBS/<ID>/<set>`), as `cbsodata4.py` reads it: `Properties` (a singleton),
//!   `Dimensions` (`Identifier`, `Kind`), `MeasureCodes` (`Identifier`, `Title`, `Unit`, `Decimals`,
//!   `DataType`), `<Dimension>Codes` (`Identifier`, `Title`, `Status`) and `Observations` (`Measure`,
//!   `Value`, `StringValue`, `ValueAttribute`, the dimension codes), the next page in `@odata.nextLink`.

use serde_json::{Value, json};

/// The topic group the service puts every topic in (v3 `TopicGroup`, v4 `MeasureGroups`) unless a table says
/// otherwise, as CBS groups a table's topics.
pub const TOPIC_GROUP: &str = "Meldingen";

/// A dimension: key, title, categories (key, title).
pub type Dimension = (String, String, Vec<(String, String)>);

/// One table as the service holds it.
#[derive(Clone, Default)]
pub struct Table {
    pub id: String,
    pub title: String,
    pub modified: String,
    /// (key, title, categories (key, title)) of the dimensions other than regions and periods.
    pub dimensions: Vec<Dimension>,
    /// Region codes (unpadded) and titles.
    pub regions: Vec<(String, String)>,
    /// Period code, title, status.
    pub periods: Vec<(String, String, String)>,
    /// Key, title, unit, decimals.
    pub topics: Vec<(String, String, String, u32)>,
    /// Per row: the dimension category keys (in order), region code, period code, and per topic the value as
    /// CBS publishes it (`245`, `28.5`, `.`).
    pub rows: Vec<(Vec<String>, String, String, Vec<String>)>,
    /// Per topic, its group path (`Adviezen, meldingen en diensten/Afgeronde diensten`); none given: every topic
    /// in [`TOPIC_GROUP`].
    pub topic_groups: Vec<String>,
    /// The hierarchy of categories: (dimension key, category key, group title), groups one level deep.
    pub category_groups: Vec<(String, String, String)>,
    /// Keys of the topics CBS types `String` (v3 `Datatype`, v4 `DataType`): their values are text.
    pub text_topics: Vec<String>,
}

impl Table {
    /// CBS's data type of a topic: `String` for text, `Double` with decimals, `Long` without.
    fn data_type(&self, key: &str, decimals: u32) -> &'static str {
        if self.text_topics.iter().any(|k| k == key) {
            "String"
        } else if decimals > 0 {
            "Double"
        } else {
            "Long"
        }
    }

    /// Every topic group path with its id and parent id: (id, title, parent id, path).
    fn topic_group_list(&self) -> Vec<(String, String, Option<String>, String)> {
        let paths: Vec<String> = if self.topic_groups.is_empty() {
            vec![TOPIC_GROUP.to_string()]
        } else {
            self.topic_groups.iter().filter(|g| !g.is_empty()).cloned().collect()
        };
        let mut out: Vec<(String, String, Option<String>, String)> = Vec::new();
        for path in paths {
            let mut parent: Option<String> = None;
            let mut so_far = String::new();
            for part in path.split('/') {
                so_far = if so_far.is_empty() { part.to_string() } else { format!("{so_far}/{part}") };
                let id = match out.iter().find(|g| g.3 == so_far) {
                    Some(g) => g.0.clone(),
                    None => {
                        let id = format!("G{:03}", out.len() + 1);
                        out.push((id.clone(), part.to_string(), parent.clone(), so_far.clone()));
                        id
                    }
                };
                parent = Some(id);
            }
        }
        out
    }

    /// The id of topic `i`'s innermost group.
    fn topic_group_id(&self, i: usize) -> Option<String> {
        let path = if self.topic_groups.is_empty() { TOPIC_GROUP.to_string() } else { self.topic_groups[i].clone() };
        self.topic_group_list().into_iter().find(|g| g.3 == path).map(|g| g.0)
    }

    /// The category groups of dimension `key`: (id, title).
    fn category_group_list(&self, key: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (dim, _, title) in &self.category_groups {
            if dim == key && !out.iter().any(|(_, t)| t == title) {
                out.push((format!("{}", 100 + out.len()), title.clone()));
            }
        }
        out
    }

    /// The group id of a category, if it sits in one.
    fn category_group_id(&self, key: &str, category: &str) -> Option<String> {
        let title = self.category_groups.iter().find(|(d, c, _)| d == key && c == category).map(|(.., t)| t)?;
        self.category_group_list(key).into_iter().find(|(_, t)| t == title).map(|(id, _)| id)
    }
}

/// A response: an entity set (paged) or a singleton.
pub enum Entity {
    Set(Vec<Value>),
    Single(Value),
}

/// CBS pads region keys to ten characters (`'GM0363    '`), as `cbsodataR` notes.
pub fn padded(code: &str) -> String {
    format!("{code:<10}")
}

pub fn v3_set(t: &Table, set: &str) -> Option<Entity> {
    let categories = |dim: &str, items: &[(String, String)]| -> Vec<Value> {
        items
            .iter()
            .map(|(k, title)| {
                let group = t.category_group_id(dim, k).and_then(|g| g.parse::<u64>().ok());
                json!({"Key": k, "Title": title, "Description": null, "CategoryGroupID": group})
            })
            .collect()
    };
    Some(Entity::Set(match set {
        "TableInfos" => vec![json!({
            "ID": 0, "Title": t.title, "ShortTitle": t.title, "Identifier": t.id, "Summary": "",
            "Modified": t.modified, "ReasonDelivery": "Actualisering", "ExplanatoryText": "", "Language": "nl",
            "Catalog": "CBS", "Frequency": "Perhalfjaar", "Period": "", "ShortDescription": "", "Description": "",
            "RecordCount": t.rows.len(), "ColumnCount": t.topics.len() + t.dimensions.len() + 2,
            "OutputStatus": "Regulier", "Source": "CBS."
        })],
        "DataProperties" => {
            let mut props = Vec::new();
            for (i, (key, title, _)) in t.dimensions.iter().enumerate() {
                props.push(json!({"odata.type": "Cbs.OData.Dimension", "ID": i, "Position": i, "ParentID": null,
                    "Type": "Dimension", "Key": key, "Title": title, "Description": format!("{title} volgens Veilig Thuis")}));
            }
            let n = t.dimensions.len();
            props.push(json!({"odata.type": "Cbs.OData.GeoDimension", "ID": n, "Position": n, "ParentID": null,
                "Type": "GeoDimension", "Key": "RegioS", "Title": "Regio's", "Description": "", "MapYear": "2023", "ReleasePolicy": true}));
            props.push(
                json!({"odata.type": "Cbs.OData.TimeDimension", "ID": n + 1, "Position": n + 1, "ParentID": null,
                "Type": "TimeDimension", "Key": "Perioden", "Title": "Perioden", "Description": ""}),
            );
            // topic groups get ids after the dimensions, topics after the groups
            let groups = t.topic_group_list();
            let id_of = |g: &str| n + 2 + groups.iter().position(|x| x.0 == g).unwrap_or(0);
            for (id, title, parent, _) in &groups {
                props.push(json!({"odata.type": "Cbs.OData.TopicGroup", "ID": id_of(id), "Position": null,
                    "ParentID": parent.as_deref().map(id_of), "Type": "TopicGroup", "Key": "", "Title": title,
                    "Description": null}));
            }
            let first = n + 2 + groups.len();
            for (i, (key, title, unit, decimals)) in t.topics.iter().enumerate() {
                let parent = t.topic_group_id(i).map(|g| id_of(&g));
                props.push(
                    json!({"odata.type": "Cbs.OData.Topic", "ID": first + i, "Position": n + 2 + i, "ParentID": parent,
                    "Type": "Topic", "Key": key, "Title": title, "Description": format!("{title}: zie de toelichting"),
                    "Datatype": t.data_type(key, *decimals), "Unit": unit, "Decimals": decimals,
                    "Default": "Impossible", "PresentationType": "Absolute"}),
                );
            }
            props
        }
        "RegioS" => t
            .regions
            .iter()
            .map(|(k, title)| json!({"Key": padded(k), "Title": title, "Description": null, "CategoryGroupID": null}))
            .collect(),
        "Perioden" => t
            .periods
            .iter()
            .map(|(k, title, status)| json!({"Key": k, "Title": title, "Description": null, "Status": status}))
            .collect(),
        "UntypedDataSet" => t
            .rows
            .iter()
            .enumerate()
            .map(|(i, (categories, region, period, values))| {
                let mut row = serde_json::Map::new();
                row.insert("ID".into(), json!(i));
                for ((key, _, _), c) in t.dimensions.iter().zip(categories) {
                    row.insert(key.clone(), json!(c));
                }
                row.insert("RegioS".into(), json!(padded(region)));
                row.insert("Perioden".into(), json!(period));
                for ((key, ..), v) in t.topics.iter().zip(values) {
                    let text = t.text_topics.contains(key);
                    row.insert(key.clone(), if text { json!(v) } else { json!(format!("{v:>10}")) });
                }
                Value::Object(row)
            })
            .collect(),
        "CategoryGroups" => {
            let mut groups = Vec::new();
            for (key, ..) in &t.dimensions {
                for (id, title) in t.category_group_list(key) {
                    groups.push(json!({"ID": id.parse::<u64>().unwrap_or(0), "DimensionKey": key, "Title": title,
                        "Description": null, "ParentID": null}));
                }
            }
            if groups.is_empty() {
                return None;
            }
            groups
        }
        other => categories(other, &t.dimensions.iter().find(|(k, ..)| k == other)?.2),
    }))
}

pub fn v4_set(t: &Table, set: &str) -> Option<Entity> {
    Some(match set {
        "Properties" => Entity::Single(json!({
            "@odata.context": "$metadata#Properties", "Identifier": t.id, "Title": t.title, "Description": "",
            "Modified": t.modified, "ObservationCount": t.rows.len() * t.topics.len(), "Status": "Regulier"
        })),
        "Dimensions" => {
            let mut dims: Vec<Value> = t
                .dimensions
                .iter()
                .map(|(k, title, _)| json!({"Identifier": k, "Title": title, "Description": "", "Kind": "Dimension"}))
                .collect();
            dims.push(json!({"Identifier": "RegioS", "Title": "Regio's", "Description": "", "Kind": "GeoDimension"}));
            dims.push(
                json!({"Identifier": "Perioden", "Title": "Perioden", "Description": "", "Kind": "TimeDimension"}),
            );
            Entity::Set(dims)
        }
        "MeasureCodes" => Entity::Set(
            t.topics
                .iter()
                .enumerate()
                .map(|(i, (k, title, unit, decimals))| {
                    json!({"Identifier": k, "Index": i, "Title": title, "Description": "", "MeasureGroupId": t.topic_group_id(i),
                        "DataType": t.data_type(k, *decimals), "Unit": unit, "Decimals": decimals,
                        "PresentationType": "Absolute"})
                })
                .collect(),
        ),
        "RegioSCodes" => Entity::Set(
            t.regions
                .iter()
                .map(|(k, title)| json!({"Identifier": k, "Title": title, "Description": "", "DimensionGroupId": null}))
                .collect(),
        ),
        "PeriodenCodes" => Entity::Set(
            t.periods
                .iter()
                .map(|(k, title, status)| json!({"Identifier": k, "Title": title, "Description": "", "Status": status}))
                .collect(),
        ),
        "Observations" => {
            let mut out = Vec::new();
            for (categories, region, period, values) in &t.rows {
                for ((key, _, _, decimals), v) in t.topics.iter().zip(values) {
                    let mut o = serde_json::Map::new();
                    o.insert("Id".into(), json!(out.len()));
                    o.insert("Measure".into(), json!(key));
                    // since release 1.14 every observation has a `StringValue`: a text measure's value, a
                    // figure written out
                    match v.trim() {
                        "." => {
                            o.insert("ValueAttribute".into(), json!("Confidential"));
                            o.insert("Value".into(), Value::Null);
                            o.insert("StringValue".into(), Value::Null);
                        }
                        text if t.text_topics.contains(key) => {
                            o.insert("ValueAttribute".into(), json!("None"));
                            o.insert("Value".into(), Value::Null);
                            o.insert("StringValue".into(), json!(text));
                        }
                        text => {
                            o.insert("ValueAttribute".into(), json!("None"));
                            let number: f64 = text.parse().unwrap();
                            o.insert("Value".into(), if *decimals > 0 { json!(number) } else { json!(number as i64) });
                            o.insert("StringValue".into(), json!(text.replace('.', ",")));
                        }
                    }
                    for ((k, _, _), c) in t.dimensions.iter().zip(categories) {
                        o.insert(k.clone(), json!(c));
                    }
                    o.insert("RegioS".into(), json!(region));
                    o.insert("Perioden".into(), json!(period));
                    out.push(Value::Object(o));
                }
            }
            Entity::Set(out)
        }
        "MeasureGroups" => Entity::Set(
            t.topic_group_list()
                .into_iter()
                .enumerate()
                .map(|(i, (id, title, parent, _))| {
                    json!({"Id": id, "Index": i, "Title": title, "Description": null, "ParentId": parent})
                })
                .collect(),
        ),
        other => {
            if let Some(dim) = other.strip_suffix("Groups") {
                let groups = t.category_group_list(dim);
                if groups.is_empty() || !t.dimensions.iter().any(|(k, ..)| k == dim) {
                    return None;
                }
                return Some(Entity::Set(
                    groups
                        .into_iter()
                        .enumerate()
                        .map(|(i, (id, title))| json!({"Id": id, "Index": i, "Title": title, "ParentId": null}))
                        .collect(),
                ));
            }
            let dim = other.strip_suffix("Codes")?;
            let (_, _, categories) = t.dimensions.iter().find(|(k, ..)| k == dim)?;
            Entity::Set(
                categories
                    .iter()
                    .map(|(k, title)| {
                        json!({"Identifier": k, "Title": title, "Description": "",
                            "DimensionGroupId": t.category_group_id(dim, k)})
                    })
                    .collect(),
            )
        }
    })
}

/// One page of an entity set: `{"odata.metadata": ..., "value": rows[skip..skip+page_size]}`, with the link to
/// the next page where rows remain.
/// `keep`: query options the next link carries on (`$filter=...&`, as asked), or empty.
pub fn page_body(
    v4: bool,
    base: &str,
    path: &str,
    keep: &str,
    rows: &[Value],
    skip: usize,
    page_size: usize,
) -> String {
    let page: Vec<Value> = rows.iter().skip(skip).take(page_size).cloned().collect();
    let mut body = serde_json::Map::new();
    let context = if v4 { "@odata.context" } else { "odata.metadata" };
    body.insert(context.into(), json!(format!("{base}/$metadata")));
    body.insert("value".into(), Value::Array(page));
    if skip + page_size < rows.len() {
        let link = if v4 { "@odata.nextLink" } else { "odata.nextLink" };
        let format = if v4 { "" } else { "$format=json&" };
        body.insert(link.into(), json!(format!("{base}{path}?{format}{keep}$skip={}", skip + page_size)));
    }
    Value::Object(body).to_string()
}
