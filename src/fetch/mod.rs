//! `vtsql fetch`: CBS open data tables downloaded page by page into `DATA/raw/cbs/<ID>/` ([`kept`]), the
//! way the `cbsodata` and `cbsodataR` packages call the service: metadata entity sets, then the figures,
//! following `odata.nextLink` (v3) or `@odata.nextLink` (v4) until there is none.
//!
//! A download survives the real service: every request is retried with backoff after a 5xx or 429, a
//! timeout, a dropped connection or a body that is cut off (it must parse as the JSON CBS sends); every
//! page is kept as it arrives, so a killed fetch resumes with the page it was getting; and a table whose
//! modification date (`TableInfos.Modified`) is that of the kept download is not downloaded again.

pub mod catalog;
pub mod kept;
pub mod scope;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kept::{API_FILE, Api, COMPLETE, DONE, NEXT};
use serde_json::Value;

/// Why a fetch stopped. What was kept stays and a next fetch resumes from it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("CBS open data has no table {id} ({url} answered 404 Not Found)")]
    UnknownTable { id: String, url: String },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: gave up after {attempts} attempts: {last}")]
    GaveUp { url: String, attempts: u32, last: String },
    #[error("{url}: not a CBS open data response: {message}")]
    Shape { url: String, message: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// `--regions`, `--periods` or `--topics` name what the table does not have.
    #[error("{0}")]
    Part(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io { path: path.to_path_buf(), source }
}

/// How to reach the service.
#[derive(Debug, Clone)]
pub struct Options {
    pub api: Api,
    /// Up to the catalogue: `https://opendata.cbs.nl/ODataFeed/odata` (a table's URL is `BASE/<ID>/`).
    pub base_url: String,
    /// For every request, from connecting to the last byte of the body.
    pub timeout: Duration,
    /// Attempts after the first.
    pub retries: u32,
    /// The wait before the first retry; doubled after each.
    pub backoff: Duration,
    /// Download even a table whose kept download is of the same modification date.
    pub force: bool,
    /// The service to try when this one lacks the table or fails (`--api auto`: v4, then v3).
    pub fallback: Option<Box<Options>>,
}

impl Options {
    /// One API at CBS's own address.
    pub fn new(api: Api) -> Options {
        Options {
            api,
            base_url: api.default_base_url().to_string(),
            timeout: Duration::from_secs(120),
            retries: 6,
            backoff: Duration::from_millis(500),
            force: false,
            fallback: None,
        }
    }

    /// Catalogue `catalog` (`CBS`, `dataderden`, ...) in `api`, or with `None` as `--api auto` does: v4, then v3
    /// where v3 serves that catalogue (CBS is phasing v3 out, and each has been down for days while the other
    /// answered). An error names the catalogue where no API asked for serves it.
    pub fn for_catalog(api: Option<Api>, catalog: &str) -> Result<Options, String> {
        let at = |api: Api| api.catalog_base_url(catalog).map(|base_url| Options { base_url, ..Options::new(api) });
        let unknown = || format!("{catalog:?} is not a catalogue name such as CBS or dataderden");
        match api {
            Some(api) => at(api).ok_or_else(|| match api {
                Api::V3 if Api::V4.catalog_base_url(catalog).is_some() => {
                    format!("OData v3 serves the catalogues CBS and dataderden, not {catalog:?}: use --api v4 or auto")
                }
                _ => unknown(),
            }),
            None => {
                let mut v4 = at(Api::V4).ok_or_else(unknown)?;
                v4.fallback = at(Api::V3).map(Box::new);
                Ok(v4)
            }
        }
    }

    /// This service and the ones it falls back to, in order.
    pub fn services(&self) -> impl Iterator<Item = &Options> {
        std::iter::successors(Some(self), |o| o.fallback.as_deref())
    }

    /// Sets the request settings of this service and of every one it falls back to.
    pub fn set_requests(&mut self, timeout: Duration, retries: u32, force: bool) {
        let mut next = Some(self);
        while let Some(o) = next {
            (o.timeout, o.retries, o.force) = (timeout, retries, force);
            next = o.fallback.as_deref_mut();
        }
    }
}

/// What fetching one table did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The kept download has the table's current modification date.
    Unchanged { modified: String },
    /// Downloaded (or finished) now: so many rows of the figures' entity set.
    Downloaded { modified: String, rows: usize },
}

/// The largest response vtsql accepts: a page of 10,000 rows is a few MiB.
const MAX_BODY: u64 = 512 << 20;
/// The most rows of a metadata entity set (categories, topics): CBS's largest dimensions have tens of thousands.
const MAX_METADATA_ROWS: usize = 5_000_000;

/// A client with the options' timeout that reads any status itself.
fn agent(options: &Options) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(options.timeout))
        .http_status_as_error(false)
        .user_agent(format!("vtsql/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Reports progress: a bar redrawn in place on a terminal, plain lines otherwise.
pub struct Progress {
    terminal: bool,
    last_line: usize,
}

impl Progress {
    pub fn new() -> Progress {
        Progress { terminal: std::io::stderr().is_terminal(), last_line: 0 }
    }

    fn say(&mut self, line: &str) {
        if self.terminal && self.last_line > 0 {
            eprint!("\r{:width$}\r", "", width = self.last_line);
            self.last_line = 0;
        }
        eprintln!("{line}");
    }

    fn rows(&mut self, id: &str, rows: usize, total: Option<usize>) {
        let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
        if self.terminal {
            let bar = match total {
                Some(t) if t > 0 => {
                    let filled = (rows.min(t) * 30) / t;
                    format!("[{}{}] ", "#".repeat(filled), ".".repeat(30 - filled))
                }
                _ => String::new(),
            };
            let line = format!("{id}: {bar}{rows}{of} rows");
            eprint!("\r{line}");
            self.last_line = line.chars().count();
        } else {
            eprintln!("{id}: {rows}{of} rows");
        }
    }

    fn done(&mut self) {
        if self.terminal && self.last_line > 0 {
            eprintln!();
            self.last_line = 0;
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// Why one attempt failed, and whether another may succeed.
enum Failure {
    Retry(String),
    Final(FetchError),
}

/// One GET whose body must be JSON: retried with backoff while it fails in a way that can pass (a status that
/// says so, a timeout, a connection dropped before the body's end). A whole body that is not the JSON CBS
/// sends is an answer, not a hiccup: it is not asked again.
fn get_body(agent: &ureq::Agent, options: &Options, url: &str) -> Result<Vec<u8>, FetchError> {
    with_retries(agent, options, url, &mut |body| {
        body.with_config().limit(MAX_BODY).read_to_vec().map_err(|e| Failure::Retry(format!("reading the body: {e}")))
    })
}

/// Asks for `url` until `read` has the body of a successful answer, as [`get_body`] describes.
fn with_retries<T>(
    agent: &ureq::Agent,
    options: &Options,
    url: &str,
    read: &mut dyn FnMut(&mut ureq::Body) -> Result<T, Failure>,
) -> Result<T, FetchError> {
    let mut wait = options.backoff;
    let mut last = String::new();
    for attempt in 0..=options.retries {
        if attempt > 0 {
            std::thread::sleep(wait);
            wait = wait.saturating_mul(2).min(Duration::from_secs(60));
        }
        match get_once(agent, url).and_then(|mut response| read(response.body_mut())) {
            Ok(body) => return Ok(body),
            Err(Failure::Final(e)) => return Err(e),
            Err(Failure::Retry(why)) => last = why,
        }
    }
    Err(FetchError::GaveUp { url: url.to_string(), attempts: options.retries + 1, last })
}

/// [`get_body`], parsed as a JSON value: for the small answers (a table's information).
fn get_json(agent: &ureq::Agent, options: &Options, url: &str) -> Result<(Vec<u8>, Value), FetchError> {
    let body = get_body(agent, options, url)?;
    let value = serde_json::from_slice(&body).map_err(|e| FetchError::Shape {
        url: url.to_string(),
        message: format!("the body is not JSON ({} bytes: {e})", body.len()),
    })?;
    Ok((body, value))
}

/// One GET: the response of a successful status, or why not.
fn get_once(agent: &ureq::Agent, url: &str) -> Result<ureq::http::Response<ureq::Body>, Failure> {
    let response = agent.get(url).header("Accept", "application/json").call();
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            return Err(match e {
                ureq::Error::BadUri(_) | ureq::Error::RequireHttpsOnly(_) => {
                    Failure::Final(FetchError::Shape { url: url.to_string(), message: e.to_string() })
                }
                e => Failure::Retry(e.to_string()),
            });
        }
    };
    let status = response.status().as_u16();
    match status {
        200..=299 => Ok(response),
        404 => Err(Failure::Final(FetchError::Status { url: url.to_string(), status })),
        429 | 500..=599 | 408 => Err(Failure::Retry(format!("HTTP {status}"))),
        _ => Err(Failure::Final(FetchError::Status { url: url.to_string(), status })),
    }
}

/// Copies what is read through it into a file, counting the bytes; a failed write is kept apart from a failed
/// read (the first is the data directory's, the second the connection's).
struct Tee<R, W> {
    from: R,
    into: W,
    bytes: u64,
    write_failed: Option<std::io::Error>,
}

impl<R: std::io::Read, W: std::io::Write> std::io::Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.from.read(buf)?;
        if let Err(e) = self.into.write_all(&buf[..n]) {
            let failed = std::io::Error::new(e.kind(), e.to_string());
            self.write_failed = Some(e);
            return Err(failed);
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

/// One page of an entity set, written to `path` as it arrives and parsed as it is written (its rows counted,
/// its next link read): memory does not grow with the page. Retried as [`get_body`] says; `path` holds the
/// whole body, as received, only once the page is whole and parsed.
fn get_page(
    agent: &ureq::Agent,
    options: &Options,
    url: &str,
    path: &Path,
) -> Result<(usize, Option<String>), FetchError> {
    let tmp = path.with_extension("writing");
    let result = with_retries(agent, options, url, &mut |body| {
        let file = std::fs::File::create(&tmp).map_err(|e| Failure::Final(io(&tmp)(e)))?;
        let reader = body.with_config().limit(MAX_BODY).reader();
        let mut tee = Tee { from: reader, into: std::io::BufWriter::new(file), bytes: 0, write_failed: None };
        let parsed = serde_json::from_reader::<_, PageShape>(std::io::BufReader::new(&mut tee));
        if let Some(e) = tee.write_failed.take() {
            return Err(Failure::Final(io(&tmp)(e)));
        }
        let page = match parsed {
            // a connection that drops mid-body fails the read: asked again
            Err(e) if e.is_io() => return Err(Failure::Retry(format!("reading the body: {e}"))),
            Err(e) => return Err(Failure::Final(page_error(url, tee.bytes, &e))),
            Ok(page) => page,
        };
        let file = tee.into.into_inner().map_err(|e| Failure::Final(io(&tmp)(e.into_error())))?;
        file.sync_all().map_err(|e| Failure::Final(io(&tmp)(e)))?;
        rows_and_link(url, page).map_err(Failure::Final)
    });
    match result {
        Ok(shape) => {
            std::fs::rename(&tmp, path).map_err(io(path))?;
            Ok(shape)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// What fetching needs of an entity-set page: how many rows it holds and its next link. Read as the page is
/// parsed, row by row, without building a tree of it: a page of small objects as a `serde_json::Value` takes
/// about a hundred times its size.
#[derive(Debug, Default)]
struct PageShape {
    rows: usize,
    next: Option<String>,
    has_value: bool,
}

impl<'de> serde::Deserialize<'de> for PageShape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct Rows<'a>(&'a mut PageShape);
        impl<'de> de::DeserializeSeed<'de> for Rows<'_> {
            type Value = ();
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_seq(self)
            }
        }
        impl<'de> Visitor<'de> for Rows<'_> {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of rows")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                while seq.next_element::<IsObject>()?.is_some() {
                    self.0.rows += 1;
                }
                Ok(())
            }
        }
        /// A row, which must be an object; its content is skipped (anything else is a data error).
        struct IsObject;
        impl<'de> serde::Deserialize<'de> for IsObject {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = IsObject;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a row object")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IsObject, A::Error> {
                        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                        Ok(IsObject)
                    }
                }
                d.deserialize_map(V)
            }
        }
        struct Page;
        impl<'de> Visitor<'de> for Page {
            type Value = PageShape;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PageShape, A::Error> {
                let mut shape = PageShape::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "value" => {
                            shape.has_value = true;
                            map.next_value_seed(Rows(&mut shape))?;
                        }
                        "odata.nextLink" | "@odata.nextLink" => shape.next = Some(map.next_value::<String>()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(shape)
            }
        }
        d.deserialize_map(Page)
    }
}

/// The rows of an entity-set page (the body of `url`) and its next link; an error naming the URL when the body
/// is no such page. Public for the `fetch_page` fuzz target.
pub fn page_shape(url: &str, body: &[u8]) -> Result<(usize, Option<String>), FetchError> {
    let page: PageShape = serde_json::from_slice(body).map_err(|e| page_error(url, body.len() as u64, &e))?;
    rows_and_link(url, page)
}

/// Why a body of `bytes` is no page.
fn page_error(url: &str, bytes: u64, e: &serde_json::Error) -> FetchError {
    let what = if e.is_data() { "is not a page of rows" } else { "is not JSON" };
    FetchError::Shape { url: url.to_string(), message: format!("the body {what} ({bytes} bytes: {e})") }
}

fn rows_and_link(url: &str, page: PageShape) -> Result<(usize, Option<String>), FetchError> {
    if !page.has_value {
        return Err(FetchError::Shape { url: url.to_string(), message: "no field \"value\" (the rows)".into() });
    }
    Ok((page.rows, page.next))
}

/// The scheme and host (with port) of a URL, in lower case: a next link must keep to the service's. Public for
/// the `fetch_page` fuzz target.
pub fn origin(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some((scheme.to_ascii_lowercase(), host.to_ascii_lowercase()))
}

/// The URL of an entity set: v3 asks for JSON explicitly (`$format=json`, as `cbsodata` does).
fn set_url(options: &Options, id: &str, set: &str) -> String {
    let base = options.base_url.trim_end_matches('/');
    match options.api {
        Api::V3 => format!("{base}/{id}/{set}?$format=json"),
        Api::V4 => format!("{base}/{id}/{set}"),
    }
}

/// Downloads an entity set into `dir/set/`, continuing a kept `NEXT` where there is one, following next links
/// only to pages of the service (never back to one already received), and refusing more than `max_rows` rows.
/// Answers the rows it holds in all.
fn fetch_set(
    agent: &ureq::Agent,
    options: &Options,
    dir: &Path,
    set: &str,
    url: String,
    max_rows: Option<usize>,
    on_page: &mut dyn FnMut(usize),
) -> Result<usize, FetchError> {
    let set_dir = dir.join(set);
    std::fs::create_dir_all(&set_dir).map_err(io(&set_dir))?;
    let count_kept = |upto: usize| -> Result<usize, FetchError> {
        let mut rows = 0;
        for page in kept::pages(dir, set).map_err(io(&set_dir))?.iter().take(upto) {
            let bytes = std::fs::read(page).map_err(io(page))?;
            rows += page_shape(&page.display().to_string(), &bytes)?.0;
        }
        Ok(rows)
    };
    if set_dir.join(DONE).is_file() {
        return count_kept(usize::MAX);
    }
    let next_path = set_dir.join(NEXT);
    let (mut n, mut url) = match std::fs::read_to_string(&next_path) {
        Ok(text) => match text.split_once('\t') {
            Some((n, url)) if n.parse::<usize>().is_ok() => (n.parse().unwrap_or(1), url.trim().to_string()),
            _ => (1, url),
        },
        Err(_) => (1, url),
    };
    // pages from an attempt that stopped after writing them but before moving NEXT on are got again
    for page in kept::pages(dir, set).map_err(io(&set_dir))? {
        let number = page
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.strip_prefix("page-"))
            .and_then(|s| s.parse::<usize>().ok());
        if number.is_none_or(|k| k >= n) {
            std::fs::remove_file(&page).map_err(io(&page))?;
        }
    }
    let mut rows = count_kept(n - 1)?;
    on_page(rows);
    let service = origin(&options.base_url);
    let mut seen = std::collections::HashSet::new();
    loop {
        if !seen.insert(url.clone()) {
            return Err(FetchError::Shape {
                url,
                message: "the next link leads back to a page already received".into(),
            });
        }
        let page = set_dir.join(kept::page_name(n));
        let (page_rows, next) = get_page(agent, options, &url, &page)?;
        rows += page_rows;
        if let Some(limit) = max_rows
            && rows > limit
        {
            let _ = std::fs::remove_file(&page);
            return Err(FetchError::Shape {
                url,
                message: format!("{rows} rows so far, more than the {limit} the table announces"),
            });
        }
        on_page(rows);
        match next {
            Some(next) if origin(&next) != service => {
                return Err(FetchError::Shape {
                    url,
                    message: format!("the next link {next:?} leaves the service at {}", options.base_url),
                });
            }
            Some(next) => {
                n += 1;
                url = next;
                kept::write_atomically(&next_path, format!("{n}\t{url}").as_bytes()).map_err(io(&next_path))?;
            }
            None => {
                kept::write_atomically(&set_dir.join(DONE), b"").map_err(io(&set_dir))?;
                let _ = std::fs::remove_file(&next_path);
                return Ok(rows);
            }
        }
    }
}

/// The modification date and row count of a table's info response.
fn info_of(api: Api, url: &str, value: &Value) -> Result<(String, Option<usize>), FetchError> {
    let shape = |message: &str| FetchError::Shape { url: url.to_string(), message: message.to_string() };
    let info = match api {
        Api::V3 => value
            .get("value")
            .and_then(Value::as_array)
            .and_then(|v| v.first())
            .ok_or_else(|| shape("no table information in field \"value\""))?,
        Api::V4 => value,
    };
    let modified = info
        .get("Modified")
        .and_then(Value::as_str)
        .ok_or_else(|| shape("no field \"Modified\" (the table's modification date)"))?
        .to_string();
    let count = ["RecordCount", "ObservationCount"].iter().find_map(|k| info.get(*k)).and_then(Value::as_u64);
    Ok((modified, count.map(|c| c as usize)))
}

/// The kept info page's modification date, if the download at `dir` is of `api`.
fn kept_modified(dir: &Path, api: Api) -> Option<String> {
    if std::fs::read_to_string(dir.join(API_FILE)).ok().and_then(|a| Api::parse(&a)) != Some(api) {
        return None;
    }
    let page = kept::pages(dir, api.info_set()).ok()?.into_iter().next()?;
    let value: Value = serde_json::from_slice(&std::fs::read(&page).ok()?).ok()?;
    info_of(api, "", &value).ok().map(|(m, _)| m)
}

/// The objects of every kept page of an entity set of the download at `dir`, in order ([`kept::objects`]).
fn kept_objects(dir: &Path, set: &str) -> Result<Vec<Value>, FetchError> {
    match kept::objects(dir, set) {
        Ok(objects) => Ok(objects.into_iter().map(|(_, o)| Value::Object(o)).collect()),
        Err(kept::PageError::Io(path, source)) => Err(FetchError::Io { path, source }),
        Err(kept::PageError::Shape(page, message)) => {
            Err(FetchError::Shape { url: page.display().to_string(), message })
        }
    }
}

/// A dimension of a kept download: its field in the figures (`RegioS`), its kind (`GeoDimension`,
/// `TimeDimension`, `Dimension`) and the entity set of its codes (v3 `RegioS`, v4 `RegioSCodes`).
struct Dimension {
    field: String,
    kind: String,
    codes_set: String,
}

/// The dimensions of the download at `dir`, from its v3 `DataProperties` or v4 `Dimensions`.
fn dimensions(api: Api, dir: &Path) -> Result<Vec<Dimension>, FetchError> {
    let (list, kind_field, key_field) = match api {
        Api::V3 => ("DataProperties", "Type", "Key"),
        Api::V4 => ("Dimensions", "Kind", "Identifier"),
    };
    let text = |item: &Value, field: &str| item.get(field).and_then(Value::as_str).map(str::to_string);
    let mut dimensions = Vec::new();
    for item in kept_objects(dir, list)? {
        let kind = text(&item, kind_field).unwrap_or_default();
        // v3 lists topics beside the dimensions; every entry of v4's list is a dimension
        if api == Api::V3 && !matches!(kind.as_str(), "Dimension" | "GeoDimension" | "TimeDimension") {
            continue;
        }
        let Some(field) = text(&item, key_field) else { continue };
        // an entity set name is a path segment: nothing else may reach the URL or the disk
        if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(FetchError::Shape {
                url: dir.join(list).display().to_string(),
                message: format!("dimension {field:?} is no entity set name"),
            });
        }
        let codes_set = if api == Api::V4 { format!("{field}Codes") } else { field.clone() };
        dimensions.push(Dimension { field, kind, codes_set });
    }
    Ok(dimensions)
}

/// Downloads table `id`, or the part of it `scope` names, into `DATA/raw/cbs/<ID>/`, unless the kept download is
/// of its current release and of the same part.
pub fn fetch_table(
    data_dir: &Path,
    id: &str,
    scope: &scope::Scope,
    options: &Options,
    progress: &mut Progress,
) -> Result<Outcome, FetchError> {
    let id = id.trim().to_uppercase();
    let agent = agent(options);
    let info_url = set_url(options, &id, options.api.info_set());
    let (info_body, info) = match get_json(&agent, options, &info_url) {
        Err(FetchError::Status { status: 404, url }) => return Err(FetchError::UnknownTable { id, url }),
        other => other?,
    };
    let (modified, count) = info_of(options.api, &info_url, &info)?;
    let kept_dir = kept::kept_dir(data_dir, &id);
    let part = scope.describe();
    if !options.force
        && kept_dir.join(COMPLETE).is_file()
        && kept_modified(&kept_dir, options.api).as_deref() == Some(&modified)
        && scope::kept_scope(&kept_dir) == part
    {
        return Ok(Outcome::Unchanged { modified });
    }
    // A download under way of the same release and part resumes; of another it starts again.
    let partial = kept::partial_dir(data_dir, &id);
    if partial.exists()
        && (kept_modified(&partial, options.api).as_deref() != Some(&modified) || scope::kept_scope(&partial) != part)
    {
        std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
    }
    let resumed = partial.exists();
    std::fs::create_dir_all(&partial).map_err(io(&partial))?;
    kept::write_atomically(&partial.join(API_FILE), options.api.as_str().as_bytes()).map_err(io(&partial))?;
    let info_dir = partial.join(options.api.info_set());
    std::fs::create_dir_all(&info_dir).map_err(io(&info_dir))?;
    let info_page = info_dir.join(kept::page_name(1));
    kept::write_atomically(&info_page, &info_body).map_err(io(&info_page))?;
    kept::write_atomically(&info_dir.join(DONE), b"").map_err(io(&info_dir))?;
    progress
        .say(&format!("{id}: release {modified}{}", if resumed { ", resuming the download that stopped" } else { "" }));

    let mut quiet = |_: usize| {};
    // (entity set, whether a table may lack it): not every table has measure or category groups
    let metadata: &[(&str, bool)] = match options.api {
        Api::V3 => &[("DataProperties", false), ("CategoryGroups", true)],
        Api::V4 => &[("Dimensions", false), ("MeasureCodes", false), ("MeasureGroups", true)],
    };
    let mut fetch_optional = |set: &str, optional: bool| -> Result<(), FetchError> {
        let url = set_url(options, &id, set);
        match fetch_set(&agent, options, &partial, set, url, Some(MAX_METADATA_ROWS), &mut quiet) {
            Err(FetchError::Status { status: 404, .. }) if optional => {
                let _ = std::fs::remove_dir_all(partial.join(set));
                Ok(())
            }
            other => other.map(|_| ()),
        }
    };
    for (set, optional) in metadata {
        fetch_optional(set, *optional)?;
    }
    for dimension in dimensions(options.api, &partial)? {
        fetch_optional(&dimension.codes_set, false)?;
        // v4 keeps a dimension's hierarchy in `<Dimension>Groups`
        if options.api == Api::V4 {
            fetch_optional(&format!("{}Groups", dimension.field), true)?;
        }
    }
    let data_set = options.api.data_set();
    let mut url = set_url(options, &id, data_set);
    if !scope.is_whole() {
        let request = scope::request(scope, options.api, &id, &partial)?;
        let scope_file = partial.join(scope::SCOPE);
        kept::write_atomically(&scope_file, request.kept.as_bytes()).map_err(io(&scope_file))?;
        if !request.query.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&request.query);
        }
    }
    // the figures may exceed the announced count a little (the count can lag), never by a page of their own
    let max_rows = count.map(|c| c + c / 10 + 10_000);
    let rows =
        fetch_set(&agent, options, &partial, data_set, url, max_rows, &mut |rows| progress.rows(&id, rows, count))?;
    progress.done();
    kept::write_atomically(&partial.join(COMPLETE), modified.as_bytes()).map_err(io(&partial))?;

    // The complete download takes the place of the kept one.
    if kept_dir.exists() {
        let old = kept::cbs_dir(data_dir).join(format!(".old-{id}"));
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(&kept_dir, &old).map_err(io(&kept_dir))?;
        std::fs::rename(&partial, &kept_dir).map_err(io(&kept_dir))?;
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    } else {
        std::fs::rename(&partial, &kept_dir).map_err(io(&kept_dir))?;
    }
    Ok(Outcome::Downloaded { modified, rows })
}

/// Holds `DATA/raw/cbs/.lock` while fetching: two fetches into one data directory wait for each other.
pub fn lock(data_dir: &Path, progress: &mut Progress) -> Result<std::fs::File, FetchError> {
    let dir = kept::cbs_dir(data_dir);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let path = dir.join(".lock");
    let file = std::fs::File::options().create(true).truncate(false).write(true).open(&path).map_err(io(&path))?;
    if file.try_lock().is_err() {
        progress.say(&format!("waiting for another vtsql fetch into {}", data_dir.display()));
        file.lock().map_err(io(&path))?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_links() {
        let page = br#"{"odata.metadata":"x","value":[{"a":1,"b":[1,{"c":2}]}],"odata.nextLink":"http://h/n"}"#;
        assert_eq!(page_shape("u", page).unwrap(), (1, Some("http://h/n".to_string())));
        let v4 = br#"{"@odata.context":"x","value":[],"@odata.nextLink":"http://h/m"}"#;
        assert_eq!(page_shape("u", v4).unwrap(), (0, Some("http://h/m".to_string())));
        let not_a_row = page_shape("u", br#"{"value":[{}, 1]}"#).unwrap_err().to_string();
        assert!(
            not_a_row.contains("is not a page of rows") && not_a_row.contains("expected a row object"),
            "{not_a_row}"
        );
        assert!(page_shape("http://x/y", br#"{"error":"x"}"#).unwrap_err().to_string().starts_with("http://x/y: "));
        assert!(page_shape("u", br#"{"value":[{"a":1}"#).unwrap_err().to_string().contains("is not JSON"));
        assert!(page_shape("u", br#"{"value":[], "odata.nextLink": 5}"#).is_err());
        assert_eq!(
            origin("HTTPS://Opendata.cbs.nl:443/ODataFeed?x=1"),
            Some(("https".into(), "opendata.cbs.nl:443".into()))
        );
    }

    #[test]
    fn auto_asks_v4_at_datasets_cbs_nl_then_v3() {
        let mut auto = Options::for_catalog(None, "CBS").unwrap();
        auto.set_requests(Duration::from_secs(7), 2, true);
        let services: Vec<(Api, &str, Duration, u32, bool)> =
            auto.services().map(|o| (o.api, o.base_url.as_str(), o.timeout, o.retries, o.force)).collect();
        let seven = Duration::from_secs(7);
        assert_eq!(
            services,
            [
                (Api::V4, "https://datasets.cbs.nl/odata/v1/CBS", seven, 2, true),
                (Api::V3, "https://opendata.cbs.nl/ODataFeed/odata", seven, 2, true)
            ]
        );
        assert_eq!(Options::new(Api::V3).services().count(), 1);
    }

    #[test]
    fn catalogues_by_name() {
        let bases = |o: Options| o.services().map(|s| s.base_url.clone()).collect::<Vec<_>>();
        assert_eq!(
            bases(Options::for_catalog(None, "dataderden").unwrap()),
            ["https://datasets.cbs.nl/odata/v1/dataderden", "https://dataderden.cbs.nl/ODataFeed/odata"]
        );
        assert_eq!(
            bases(Options::for_catalog(None, "cbs").unwrap()),
            ["https://datasets.cbs.nl/odata/v1/CBS", "https://opendata.cbs.nl/ODataFeed/odata"]
        );
        assert_eq!(bases(Options::for_catalog(None, "CBS-asd").unwrap()), ["https://datasets.cbs.nl/odata/v1/CBS-asd"]);
        assert!(Options::for_catalog(Some(Api::V3), "CBS-asd").unwrap_err().contains("use --api v4"));
        assert!(Options::for_catalog(None, "../x").unwrap_err().contains("not a catalogue name"));
        assert!(Options::for_catalog(Some(Api::V4), "").is_err());
    }

    #[test]
    fn urls() {
        let mut options = Options::new(Api::V3);
        options.base_url = "http://127.0.0.1:9/ODataFeed/odata/".into();
        assert_eq!(
            set_url(&options, "84852NED", "TableInfos"),
            "http://127.0.0.1:9/ODataFeed/odata/84852NED/TableInfos?$format=json"
        );
        options.api = Api::V4;
        assert_eq!(
            set_url(&options, "84852NED", "Observations"),
            "http://127.0.0.1:9/ODataFeed/odata/84852NED/Observations"
        );
    }

    proptest::proptest! {
        /// Any bytes as a page, and any text as a next link, give a count and a link or an error, never a panic
        /// (the short form of the `fetch_page` fuzz target); a page of rows with a link counts them all.
        #[test]
        fn pages_are_read_or_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = page_shape("u", &bytes);
        }

        #[test]
        fn links_are_read_or_refused(link in "[ -~é€]{0,80}", rows in 0usize..50) {
            let _ = origin(&link);
            let values = vec!["{\"ID\":1}"; rows].join(",");
            let page = format!("{{\"value\":[{values}],\"odata.nextLink\":{}}}", serde_json::Value::from(link.clone()));
            proptest::prop_assert_eq!(page_shape("u", page.as_bytes()).unwrap(), (rows, Some(link)));
        }
    }
}
