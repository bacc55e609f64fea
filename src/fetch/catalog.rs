//! The catalogue of CBS open data: which tables there are, for `vtsql fetch --list` and `--search WORDS`.
//!
//! OData v4 lists every catalogue's datasets at `<root>/Datasets` (the root is the table address without its
//! catalogue: `https://datasets.cbs.nl/odata/v1` for `https://datasets.cbs.nl/odata/v1/CBS`), one object per
//! table with `Identifier`, `Title`, `Catalog`, `Modified`, `ObservationCount` and `Status`. OData v3 lists a
//! catalogue's tables at `https://<host>/ODataCatalog/Tables` with `Identifier`, `Title`, `Period` (the
//! periods covered), `Modified`, `RecordCount` and `OutputStatus`. Both page with a next link.

use serde_json::Value;

use super::kept::Api;
use super::{FetchError, Options, agent, get_json, origin};

/// One table of a catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// CBS's id (`84852NED`), upper case.
    pub id: String,
    pub title: String,
    /// The periods the table covers, where the catalogue says (v3 does, v4 does not).
    pub period: Option<String>,
    /// When CBS last changed the table.
    pub modified: String,
    /// Rows (v3) or observations (v4).
    pub size: Option<u64>,
    /// `Regulier`, `Gediscontinueerd`, ...
    pub status: String,
    /// The catalogue (`CBS`, or another such as `dataderden`'s).
    pub catalog: String,
}

/// The address of the service's list of tables: v4's `Datasets` next to the catalogues, v3's `ODataCatalog`
/// on the same host.
pub fn listing_url(options: &Options) -> Result<String, FetchError> {
    let base = options.base_url.trim_end_matches('/');
    let bad = |message: &str| FetchError::Shape { url: base.to_string(), message: message.to_string() };
    match options.api {
        Api::V4 => {
            let (root, _catalog) = base.rsplit_once('/').ok_or_else(|| bad("no catalogue in the address"))?;
            Ok(format!("{root}/Datasets"))
        }
        Api::V3 => {
            let (scheme, host) = origin(base).ok_or_else(|| bad("no scheme and host in the address"))?;
            Ok(format!("{scheme}://{host}/ODataCatalog/Tables?$format=json"))
        }
    }
}

/// The catalogue a v4 address names (`CBS` of `.../odata/v1/CBS`); v3 serves one catalogue per host.
fn catalog_of(options: &Options) -> Option<String> {
    match options.api {
        Api::V4 => options.base_url.trim_end_matches('/').rsplit_once('/').map(|(_, c)| c.to_string()),
        Api::V3 => None,
    }
}

/// Every table of the catalogue `options` address, in the order the service lists them.
pub fn list(options: &Options) -> Result<Vec<Entry>, FetchError> {
    let agent = agent(options);
    let service = origin(&options.base_url);
    let catalog = catalog_of(options);
    let mut url = listing_url(options)?;
    let mut seen = std::collections::HashSet::new();
    let mut entries = Vec::new();
    loop {
        if !seen.insert(url.clone()) {
            return Err(FetchError::Shape {
                url,
                message: "the next link leads back to a page already received".into(),
            });
        }
        let (_, page) = get_json(&agent, options, &url)?;
        let rows = page
            .get("value")
            .and_then(Value::as_array)
            .ok_or_else(|| FetchError::Shape { url: url.clone(), message: "no field \"value\" (the tables)".into() })?;
        for (n, row) in rows.iter().enumerate() {
            let entry = entry(options.api, row).map_err(|message| FetchError::Shape {
                url: url.clone(),
                message: format!("table {}: {message}", n + 1),
            })?;
            if catalog.as_ref().is_none_or(|c| c.eq_ignore_ascii_case(&entry.catalog)) {
                entries.push(entry);
            }
        }
        match page.get("odata.nextLink").or_else(|| page.get("@odata.nextLink")).and_then(Value::as_str) {
            Some(next) if origin(next) != service => {
                return Err(FetchError::Shape { url, message: format!("the next link {next:?} leaves the service") });
            }
            Some(next) => url = next.to_string(),
            None => return Ok(entries),
        }
    }
}

/// One listed table.
fn entry(api: Api, row: &Value) -> Result<Entry, String> {
    let text = |field: &str| row.get(field).and_then(Value::as_str).map(|s| s.trim().to_string());
    let required = |field: &str| text(field).ok_or_else(|| format!("no text field {field:?}"));
    let (size, status, period, catalog) = match api {
        Api::V4 => ("ObservationCount", "Status", None, required("Catalog")?),
        Api::V3 => ("RecordCount", "OutputStatus", text("Period"), text("Catalog").unwrap_or_default()),
    };
    Ok(Entry {
        id: required("Identifier")?.to_uppercase(),
        title: required("Title")?,
        period: period.filter(|p| !p.is_empty()),
        modified: text("Modified").unwrap_or_default(),
        size: row.get(size).and_then(Value::as_u64),
        status: text(status).unwrap_or_default(),
        catalog,
    })
}

/// Whether `entry` has every one of `words` in its id or title (case and accents aside: `Huiselijk` finds
/// `huiselijk`, `geweld` finds `Geweld`).
pub fn matches(entry: &Entry, words: &[String]) -> bool {
    let haystack = fold(&format!("{} {}", entry.id, entry.title));
    words.iter().all(|w| haystack.contains(&fold(w)))
}

/// Lower case without the accents Dutch titles carry (`é`, `ë`, `ï`, ...).
pub(crate) fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ä' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            c => c,
        })
        .collect()
}

/// Every table of the catalogue of the first service of `options` that lists them (`--api auto`: v4, then v3),
/// and that service.
pub fn listing(options: &Options) -> Result<(&Options, Vec<Entry>), FetchError> {
    let mut last = None;
    for service in options.services() {
        match list(service) {
            Ok(all) => return Ok((service, all)),
            Err(e) => {
                if service.fallback.is_some() {
                    eprintln!(
                        "the catalogue of {} at {}: {e}; trying the next service",
                        service.api.title(),
                        service.base_url
                    );
                }
                last = Some(e);
            }
        }
    }
    Err(last.expect("at least one service"))
}

/// The tables of [`listing`] whose id or title has every one of `words` (all tables without words), the
/// service that listed them and how many tables it listed.
pub fn search<'o>(options: &'o Options, words: &[String]) -> Result<(&'o Options, Vec<Entry>, usize), FetchError> {
    let (service, all) = listing(options)?;
    let listed = all.len();
    Ok((service, all.into_iter().filter(|e| matches(e, words)).collect(), listed))
}

/// Writes `entries` as an aligned table: id, title, periods, last modified (the day), size, status.
pub fn print(entries: &[Entry], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            [
                e.id.clone(),
                e.title.clone(),
                e.period.clone().unwrap_or_default(),
                e.modified.get(..10).unwrap_or(&e.modified).to_string(),
                e.size.map(|s| s.to_string()).unwrap_or_default(),
                e.status.clone(),
            ]
        })
        .collect();
    let header = ["id", "title", "periods", "modified", "size", "status"].map(str::to_string);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, w))| if i == 4 { format!("{cell:>w$}") } else { format!("{cell:<w$}") })
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_addresses() {
        let v4 = Options::new(Api::V4);
        assert_eq!(listing_url(&v4).unwrap(), "https://datasets.cbs.nl/odata/v1/Datasets");
        assert_eq!(catalog_of(&v4).as_deref(), Some("CBS"));
        let mut v3 = Options::new(Api::V3);
        assert_eq!(listing_url(&v3).unwrap(), "https://opendata.cbs.nl/ODataCatalog/Tables?$format=json");
        v3.base_url = "https://dataderden.cbs.nl/ODataFeed/odata/".into();
        assert_eq!(listing_url(&v3).unwrap(), "https://dataderden.cbs.nl/ODataCatalog/Tables?$format=json");
    }

    #[test]
    fn words_match_id_and_title_whatever_their_case_and_accents() {
        let entry = Entry {
            id: "84852NED".into(),
            title: "Huiselijk geweld; veiligheidsbeoordeling en -taxatie, regio".into(),
            period: None,
            modified: String::new(),
            size: None,
            status: String::new(),
            catalog: "CBS".into(),
        };
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches(&entry, &words(&["huiselijk", "GEWELD"])));
        assert!(matches(&entry, &words(&["84852"])));
        assert!(matches(&entry, &words(&["veiligheidsbeoordéling"])));
        assert!(!matches(&entry, &words(&["huiselijk", "kinderopvang"])));
    }
}
