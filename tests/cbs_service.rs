//! A stand-in for CBS open data in the test binary: a small HTTP/1.1 server answering in CBS's documented
//! shapes, with faults on request, and the tables it serves built from the real published values in
//! `../shared/data/cbs/reference-totals`. The shapes it answers in are [`crate::cbs_shapes`]; a table can also
//! be served as recorded from CBS's service (`tests/data/odata-v4-*`), paged by the stand-in.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

pub use crate::cbs_shapes::Table;
use crate::cbs_shapes::{Entity, page_body, v3_set, v4_set};

use crate::common::shared;

/// A fault the server plays on the next requests whose target contains a text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Answer 500 Internal Server Error.
    ServerError,
    /// Send the headers and half the body, then close the connection.
    DropMidBody,
    /// Wait this long before answering.
    Slow(Duration),
    /// Answer 200 with this body instead.
    Replace(&'static str),
}

#[derive(Default)]
struct State {
    tables: HashMap<String, Table>,
    /// Tables served from recorded responses: id → entity set → the recorded body.
    recorded: HashMap<String, HashMap<String, Value>>,
    /// The list of tables (v4 `Datasets`, v3 `ODataCatalog/Tables`), where the service has one.
    listing: Option<Vec<Value>>,
    faults: Vec<(String, Fault, usize)>,
    log: Vec<String>,
    v4: bool,
    page_size: usize,
}

/// The running service. Dropped, it stops answering (its thread ends with the test binary).
#[derive(Clone)]
pub struct Service {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl Service {
    /// A v3 (`/ODataFeed/odata`) or v4 (`/CBS`) service paging by `page_size` rows.
    pub fn start(v4: bool, page_size: usize) -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
        let port = listener.local_addr().unwrap().port();
        let root = if v4 { "/CBS" } else { "/ODataFeed/odata" };
        let state = Arc::new(Mutex::new(State { v4, page_size, ..Default::default() }));
        let service = Service { base: format!("http://127.0.0.1:{port}{root}"), state };
        let serving = service.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let serving = serving.clone();
                std::thread::spawn(move || serving.answer(stream));
            }
        });
        service
    }

    /// Options for fetching from this service: `timeout` per request, three quick retries.
    pub fn options(&self, api: vtsql::fetch::kept::Api, timeout: Duration) -> vtsql::fetch::Options {
        let mut options = vtsql::fetch::Options::new(api);
        options.base_url = self.base.clone();
        options.timeout = timeout;
        options.retries = 3;
        options.backoff = Duration::from_millis(20);
        options
    }

    /// Serves table `id` from the responses recorded in `dir` (one `<entity set>.json` each): an entity set's
    /// rows paged as the service pages them, a singleton (`Properties`) as recorded.
    pub fn put_recorded(&self, id: &str, dir: &std::path::Path) {
        let mut sets = HashMap::new();
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                sets.insert(path.file_stem().unwrap().to_string_lossy().to_string(), body);
            }
        }
        self.state.lock().unwrap().recorded.insert(id.to_uppercase(), sets);
    }

    /// Serves `tables` as the service's list of tables, paged as the service pages it.
    pub fn put_listing(&self, tables: Vec<Value>) {
        self.state.lock().unwrap().listing = Some(tables);
    }

    pub fn put(&self, table: Table) {
        self.state.lock().unwrap().tables.insert(table.id.clone(), table);
    }

    /// Plays `fault` on the next `times` requests whose target contains `target`.
    pub fn fault(&self, target: &str, fault: Fault, times: usize) {
        self.state.lock().unwrap().faults.push((target.to_string(), fault, times));
    }

    pub fn clear_faults(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    /// The request targets so far, and forgets them.
    pub fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut self.state.lock().unwrap().log)
    }

    fn answer(&self, mut stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                break;
            }
        }
        let target = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let (fault, response) = {
            let mut state = self.state.lock().unwrap();
            state.log.push(target.clone());
            let fault = state.faults.iter_mut().find(|(t, _, n)| *n > 0 && target.contains(t.as_str())).map(|f| {
                f.2 -= 1;
                f.1
            });
            (fault, respond(&state, &self.base, &target))
        };
        let (status, body) = match fault {
            Some(Fault::ServerError) => (500, "{\"error\":\"try again\"}".to_string()),
            Some(Fault::Replace(body)) => (200, body.to_string()),
            _ => response,
        };
        if let Some(Fault::Slow(wait)) = fault {
            std::thread::sleep(wait);
        }
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            _ => "Internal Server Error",
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        if fault == Some(Fault::DropMidBody) {
            let _ = stream.write_all(&body.as_bytes()[..body.len() / 2]);
            let _ = stream.flush();
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        let _ = stream.write_all(body.as_bytes());
        let _ = stream.flush();
    }
}

/// `{"odata.metadata": ..., "value": rows[skip..skip+page]}` with the next link where rows remain.
fn paged(state: &State, base: &str, path: &str, rows: Vec<Value>, skip: usize) -> String {
    page_body(state.v4, base, path, "", &rows, skip, state.page_size)
}

/// A query option's value with its `%XX` escapes (and `+`) decoded.
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The rows a `$filter` of the shape vtsql sends keeps: clauses joined by ` and `, each one `F eq 'v'` or
/// `(F eq 'a' or F eq 'b')`. Any other shape answers 400, as a service that does not understand it would.
fn filtered(rows: Vec<Value>, filter: &str) -> Result<Vec<Value>, String> {
    let mut clauses: Vec<Vec<(String, String)>> = Vec::new();
    for clause in filter.split(" and ") {
        let clause = clause.trim().trim_start_matches('(').trim_end_matches(')');
        let mut terms = Vec::new();
        for term in clause.split(" or ") {
            let (field, value) = term.split_once(" eq ").ok_or_else(|| format!("not an eq: {term:?}"))?;
            let value = value.trim();
            let value = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .ok_or_else(|| format!("not a quoted text: {value:?}"))?;
            terms.push((field.trim().to_string(), value.replace("''", "'")));
        }
        clauses.push(terms);
    }
    Ok(rows
        .into_iter()
        .filter(|row| {
            clauses.iter().all(|terms| terms.iter().any(|(f, v)| row.get(f).and_then(Value::as_str) == Some(v)))
        })
        .collect())
}

fn respond(state: &State, base: &str, target: &str) -> (u16, String) {
    let root =
        base.split_once("//").and_then(|(_, r)| r.split_once('/')).map(|(_, p)| format!("/{p}")).unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let skip: usize = query.split('&').find_map(|p| p.strip_prefix("$skip=")).and_then(|s| s.parse().ok()).unwrap_or(0);
    if path.ends_with("/Datasets") || path.ends_with("/ODataCatalog/Tables") {
        return match &state.listing {
            Some(tables) => (200, paged(state, base, path.trim_start_matches(&root), tables.clone(), skip)),
            None => (404, "{}".into()),
        };
    }
    let Some(rest) = path.strip_prefix(&root) else {
        return (404, "{}".into());
    };
    let mut parts = rest.trim_start_matches('/').splitn(2, '/');
    let (id, set) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if let Some(sets) = state.recorded.get(&id.to_uppercase()) {
        return match sets.get(set) {
            Some(body) => match body.get("value").and_then(Value::as_array) {
                Some(rows) => (200, paged(state, base, &format!("/{id}/{set}"), rows.clone(), skip)),
                None => (200, body.to_string()),
            },
            None => (404, "{}".into()),
        };
    }
    let Some(table) = state.tables.get(id) else {
        return (404, "{\"odata.error\":{\"message\":{\"value\":\"Resource not found\"}}}".into());
    };
    let rows = if state.v4 { v4_set(table, set) } else { v3_set(table, set) };
    // `$filter` and `$select` as vtsql sends them for a part of a table, carried on in the next links
    let option = |name: &str| query.split('&').find_map(|p| p.strip_prefix(name)).map(decode);
    let keep: String = query
        .split('&')
        .filter(|p| p.starts_with("$filter=") || p.starts_with("$select="))
        .map(|p| format!("{p}&"))
        .collect();
    match rows {
        Some(Entity::Set(mut rows)) => {
            if let Some(filter) = option("$filter=") {
                rows = match filtered(rows, &filter) {
                    Ok(rows) => rows,
                    Err(e) => return (400, format!("{{\"error\":{}}}", Value::from(e))),
                };
            }
            if let Some(select) = option("$select=") {
                let fields: Vec<&str> = select.split(',').collect();
                for row in rows.iter_mut() {
                    if let Some(object) = row.as_object_mut() {
                        object.retain(|k, _| fields.contains(&k.as_str()));
                    }
                }
            }
            (200, page_body(state.v4, base, &format!("/{id}/{set}"), &keep, &rows, skip, state.page_size))
        }
        Some(Entity::Single(value)) => (200, value.to_string()),
        None => (404, "{}".into()),
    }
}

/// One published value of `../shared/data/cbs/reference-totals/veilig_thuis_reference_values.csv`.
#[derive(Debug, Clone)]
pub struct Reference {
    pub table: String,
    pub period_label: String,
    pub period_code: String,
    pub region: String,
    pub dimension: String,
    pub measure: String,
    /// As published (`64505`, `28,5`, `.`).
    pub published: String,
}

/// Splits one CSV line on `,`, quotes respected.
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

pub fn references(table: &str) -> Vec<Reference> {
    let path = shared("data/cbs/reference-totals/veilig_thuis_reference_values.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .map(csv_fields)
        .filter(|f| f[0] == table)
        .map(|f| Reference {
            table: f[0].clone(),
            period_label: f[1].clone(),
            period_code: f[2].clone(),
            region: f[3].clone(),
            dimension: f[4].clone(),
            measure: f[5].clone(),
            published: f[6].clone(),
        })
        .collect()
}

/// The CBS region code of a StatLine label (`Noord-Nederland (LD)` → `LD01`).
pub fn region_code(label: &str) -> String {
    let regions = vtsql::ingest::regions::Regions::built_in();
    regions.resolve_label(label).unwrap_or_else(|| panic!("no region {label}")).code.clone()
}

fn period_title(code: &str) -> String {
    match &code[4..] {
        "JJ00" => code[..4].to_string(),
        half => format!("{} {}e halfjaar", &code[..4], &half[3..]),
    }
}

/// 84852NED (veiligheidsbeoordeling en -taxatie, regio) with its published 2020 totals: Nederland, the four
/// landsdelen and seven provincies, each half year and the year. The category `Acute onveiligheid` was not
/// transcribed: its cells are served as `.` (hidden), which the table's shape allows.
pub fn table_84852() -> Table {
    let refs = references("84852NED");
    let mut regions: Vec<(String, String)> = Vec::new();
    let mut periods: Vec<(String, String, String)> = Vec::new();
    let mut rows = Vec::new();
    for r in &refs {
        let code = region_code(&r.region);
        let name = r.region.split(" (").next().unwrap().to_string();
        if !regions.iter().any(|(c, _)| *c == code) {
            regions.push((code.clone(), name));
        }
        if !periods.iter().any(|(c, ..)| *c == r.period_code) {
            periods.push((r.period_code.clone(), period_title(&r.period_code), "Definitief".into()));
        }
        rows.push((
            vec!["T001038".to_string(), "T001038".to_string()],
            code.clone(),
            r.period_code.clone(),
            vec![r.published.clone()],
        ));
        if code == "NL01" {
            rows.push((
                vec!["T001038".to_string(), "A047001".to_string()],
                code,
                r.period_code.clone(),
                vec![".".to_string()],
            ));
        }
    }
    Table {
        id: "84852NED".into(),
        title: "Huiselijk geweld; veiligheidsbeoordeling en -taxatie, regio".into(),
        modified: "2024-06-28T02:00:00".into(),
        dimensions: vec![
            ("Veiligheidstaxatie".into(), "Veiligheidstaxatie".into(), vec![("T001038".into(), "Totaal".into())]),
            (
                "Veiligheidsbeoordeling".into(),
                "Veiligheidsbeoordeling".into(),
                vec![("T001038".into(), "Totaal".into()), ("A047001".into(), "Acute onveiligheid".into())],
            ),
        ],
        regions,
        periods,
        topics: vec![("OntvangenMeldingen_1".into(), "Ontvangen meldingen".into(), "aantal".into(), 0)],
        rows,
        ..Default::default()
    }
}

/// The topics of 85361NED as StatLine shows them: four counts and the same four as percentages.
pub const TOPICS_85361: [&str; 4] = [
    "Vervolgmelding tijdens betrokkenheid VT: totaal",
    "... tijdens veiligheidsbeoordeling",
    "... na veiligheidsbeoordeling",
    "... tijdens monitoring",
];

/// 85361NED (meldingen naar eerdere betrokkenheid Veilig Thuis, regio), 2023 provisional: Nederland and
/// Almelo as published; Almelo's figures that were not transcribed are served as `.`.
pub fn table_85361() -> Table {
    let refs = references("85361NED");
    let mut topics = Vec::new();
    for (unit, decimals) in [("aantal", 0), ("%", 1)] {
        for (i, title) in TOPICS_85361.iter().enumerate() {
            topics.push((
                format!("T{}_{}", i + 1, if decimals == 0 { "A" } else { "P" }),
                title.to_string(),
                unit.to_string(),
                decimals,
            ));
        }
    }
    let mut rows = Vec::new();
    for (region, code) in [("Nederland", "NL01"), ("Almelo", "GM0141")] {
        let values = topics
            .iter()
            .map(|(_, title, unit, _)| {
                let unit = if unit == "%" { "(%)" } else { "(aantal)" };
                refs.iter()
                    .find(|r| r.region == region && r.measure == format!("{title} {unit}"))
                    .map(|r| r.published.replace(',', "."))
                    .unwrap_or_else(|| ".".to_string())
            })
            .collect();
        rows.push((vec![], code.to_string(), "2023JJ00".to_string(), values));
    }
    Table {
        id: "85361NED".into(),
        title: "Huiselijk geweld; meldingen naar eerdere betrokkenheid Veilig Thuis, regio".into(),
        modified: "2024-10-31T02:00:00".into(),
        dimensions: vec![],
        regions: vec![("NL01".into(), "Nederland".into()), ("GM0141".into(), "Almelo".into())],
        periods: vec![("2023JJ00".into(), "2023".into(), "Voorlopig".into())],
        topics,
        rows,
        ..Default::default()
    }
}
