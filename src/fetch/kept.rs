//! How `vtsql fetch` keeps a table's pages, as received, under `DATA/raw/cbs/<ID>/`: what it writes and
//! `vtsql ingest` reads offline.
//!
//! ```text
//! DATA/raw/cbs/84852NED/api                                v3 or v4
//! DATA/raw/cbs/84852NED/<entity set>/page-00001.json       each response body as received
//! DATA/raw/cbs/84852NED/<entity set>/DONE                  the entity set has no next page
//! DATA/raw/cbs/84852NED/SCOPE                              the part of the table, if a part (fetch::scope)
//! DATA/raw/cbs/84852NED/COMPLETE                           written last: the download is whole
//! DATA/raw/cbs/.partial-84852NED/                          a download under way (resumed where it stopped)
//! ```

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Which OData API a download comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    V3,
    V4,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::V3 => "v3",
            Api::V4 => "v4",
        }
    }

    pub fn parse(text: &str) -> Option<Api> {
        match text.trim() {
            "v3" | "3" => Some(Api::V3),
            "v4" | "4" => Some(Api::V4),
            _ => None,
        }
    }

    /// The entity set holding the figures.
    pub fn data_set(self) -> &'static str {
        match self {
            Api::V3 => "UntypedDataSet",
            Api::V4 => "Observations",
        }
    }

    /// The entity set with the table's title and modification date.
    pub fn info_set(self) -> &'static str {
        match self {
            Api::V3 => "TableInfos",
            Api::V4 => "Properties",
        }
    }

    /// CBS's own service: the bulk feed of OData v3 (it pages by 10,000 rows), or OData v4 at the address CBS's
    /// own clients use since the service's release 1.12.0 (January 2023; `odata4.cbs.nl` was the beta's name).
    pub fn default_base_url(self) -> &'static str {
        match self {
            Api::V3 => "https://opendata.cbs.nl/ODataFeed/odata",
            Api::V4 => "https://datasets.cbs.nl/odata/v1/CBS",
        }
    }

    /// The address of catalogue `catalog` in this API: v4 serves every catalogue under one root
    /// (`https://datasets.cbs.nl/odata/v1/<catalogue>`); v3 one catalogue per host, of which vtsql knows CBS's own
    /// (`CBS`, at `opendata.cbs.nl`) and third parties' (`dataderden`, at `dataderden.cbs.nl`), as the
    /// `cbsodata` clients do. `None`: no such catalogue in this API, or not a name.
    pub fn catalog_base_url(self, catalog: &str) -> Option<String> {
        if catalog.is_empty() || !catalog.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return None;
        }
        match (self, catalog.to_ascii_lowercase().as_str()) {
            (_, "cbs") => Some(self.default_base_url().to_string()),
            (Api::V4, _) => {
                let root = self.default_base_url().rsplit_once('/').map(|(root, _)| root).unwrap_or_default();
                Some(format!("{root}/{catalog}"))
            }
            (Api::V3, "dataderden") => Some("https://dataderden.cbs.nl/ODataFeed/odata".to_string()),
            (Api::V3, _) => None,
        }
    }

    /// How a message names the API: `OData v3`, `OData v4`.
    pub fn title(self) -> &'static str {
        match self {
            Api::V3 => "OData v3",
            Api::V4 => "OData v4",
        }
    }
}

/// The file written last into a kept download.
pub const COMPLETE: &str = "COMPLETE";
/// The file naming the API of a kept download.
pub const API_FILE: &str = "api";
/// An entity set whose last page is kept.
pub const DONE: &str = "DONE";
/// The page an unfinished entity set continues with: `N\tURL`.
pub const NEXT: &str = "NEXT";

/// Where the pages of table `id` are kept: `DATA/raw/cbs/<ID>`.
pub fn kept_dir(data_dir: &Path, id: &str) -> PathBuf {
    cbs_dir(data_dir).join(id.to_uppercase())
}

/// Where a download of table `id` is under way.
pub fn partial_dir(data_dir: &Path, id: &str) -> PathBuf {
    cbs_dir(data_dir).join(format!(".partial-{}", id.to_uppercase()))
}

/// `DATA/raw/cbs`.
pub fn cbs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("raw").join("cbs")
}

/// The name of page `n` (1-based) of an entity set.
pub fn page_name(n: usize) -> String {
    format!("page-{n:05}.json")
}

/// The page files of one entity set, in order.
pub fn pages(dir: &Path, set: &str) -> std::io::Result<Vec<PathBuf>> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir.join(set))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("page-")))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    pages.sort();
    Ok(pages)
}

/// What went wrong reading a kept page: the path (the page, or the entity set's directory) and the cause.
#[derive(Debug)]
pub enum PageError {
    Io(PathBuf, std::io::Error),
    /// The page is not a CBS open data response body.
    Shape(PathBuf, String),
}

/// One object of a kept page, with the page it is on (for messages).
pub type PageObject = (PathBuf, Map<String, Value>);

/// The objects of every kept page of an entity set, in order, each with its page: the `value` list of a page,
/// or a page's whole body where it is a singleton (v4 `Properties`). The one reader of kept metadata pages, for
/// `fetch` (which asks for part of a table by them) and `ingest` (which builds the table model from them).
pub fn objects(dir: &Path, set: &str) -> Result<Vec<PageObject>, PageError> {
    let mut out = Vec::new();
    for page in pages(dir, set).map_err(|e| PageError::Io(dir.join(set), e))? {
        let bytes = std::fs::read(&page).map_err(|e| PageError::Io(page.clone(), e))?;
        let shape = |message: String| PageError::Shape(page.clone(), message);
        match serde_json::from_slice(&bytes).map_err(|e| shape(e.to_string()))? {
            Value::Object(mut map) => match map.remove("value") {
                Some(Value::Array(items)) => {
                    for (i, item) in items.into_iter().enumerate() {
                        match item {
                            Value::Object(o) => out.push((page.clone(), o)),
                            _ => return Err(shape(format!("value[{i}] is not an object"))),
                        }
                    }
                }
                Some(_) => return Err(shape("\"value\" is not an array".into())),
                None => out.push((page.clone(), map)),
            },
            _ => return Err(shape("the body is not a JSON object".into())),
        }
    }
    Ok(out)
}

/// The ids of every complete kept download in `data_dir`.
pub fn kept_ids(data_dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(cbs_dir(data_dir))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.') && e.path().join(COMPLETE).is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    ids
}

/// Writes `bytes` to `path` whole or not at all: a temporary file beside it, synced, then renamed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("writing");
    {
        let mut file = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut file, bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
