//! `vtsql fetch --regions --periods --topics`: a download of part of a table. The user's words are resolved
//! against the table's own codes (its region and period dimensions, its topics), which the fetch has already
//! kept before the figures, so that what goes to the service is only `eq`, `or` and `and` over codes it served
//! (both APIs understand those; v3 keys keep their padding, `'GM0363    '`), and a code the table lacks is an
//! error naming the table and the dimension, before any figure is asked for.
//!
//! The figures' entity set is asked with `$filter` over the dimensions, and the topics by `$select` (v3: the
//! row's ID, its dimensions and the chosen topics) or by `Measure` in the `$filter` (v4, where a topic is a
//! row). What a part covered is kept beside its pages ([`SCOPE`]): a fetch of the same release and the same
//! part is not downloaded again, and ingest leaves the topics outside the part as they were stored.

use std::path::Path;

use serde_json::Value;

use super::catalog::fold;
use super::kept::Api;
use super::{Dimension, FetchError, dimensions, kept_objects};

/// The file of a kept download that says which part of the table it holds: the first line in words (`regions
/// GM0363,VT13; periods 2023..2025`), then `topics\tKEY,KEY` with the keys of the topics it holds where it
/// holds only some. Absent: the whole table.
pub const SCOPE: &str = "SCOPE";

/// Which part of a table to fetch; empty lists and no periods: the whole table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Region codes (`GM0363`, `VT13`, `NL01`), upper case, as given.
    pub regions: Vec<String>,
    /// First and last year, both included.
    pub periods: Option<(i32, i32)>,
    /// Topics by CBS key (`OntvangenMeldingen_1`, `M004200`) or title (`Ontvangen meldingen`), in lower case
    /// without accents.
    pub topics: Vec<String>,
}

impl Scope {
    /// The part `--regions`, `--periods` (`2023`, `2023..2025`) and `--topics` name.
    pub fn new(regions: &[String], periods: Option<&str>, topics: &[String]) -> Result<Scope, String> {
        let regions: Vec<String> =
            regions.iter().map(|r| r.trim().to_uppercase()).filter(|r| !r.is_empty()).collect::<Vec<_>>();
        if let Some(bad) = regions.iter().find(|r| !r.chars().all(|c| c.is_ascii_alphanumeric())) {
            return Err(format!("--regions: {bad:?} is not a CBS region code such as GM0363, VT13 or NL01"));
        }
        let periods = match periods.map(str::trim) {
            None => None,
            Some(text) => {
                let year = |s: &str| {
                    s.trim()
                        .parse::<i32>()
                        .ok()
                        .filter(|y| (1000..=9999).contains(y))
                        .ok_or_else(|| format!("--periods: {text:?} is not a year or years such as 2023..2025"))
                };
                let (first, last) = match text.split_once("..") {
                    Some((a, b)) => (year(a)?, year(b)?),
                    None => (year(text)?, year(text)?),
                };
                if first > last {
                    return Err(format!("--periods: {text:?} ends before it begins"));
                }
                Some((first, last))
            }
        };
        // folded, so that a part asked again in other letters is the same part
        let topics = topics.iter().map(|t| fold(t.trim())).filter(|t| !t.is_empty()).collect();
        Ok(Scope { regions, periods, topics })
    }

    pub fn is_whole(&self) -> bool {
        self.regions.is_empty() && self.periods.is_none() && self.topics.is_empty()
    }

    /// In words, as kept in [`SCOPE`] and said in messages; empty for the whole table.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.regions.is_empty() {
            parts.push(format!("regions {}", self.regions.join(",")));
        }
        if let Some((first, last)) = self.periods {
            parts.push(if first == last { format!("periods {first}") } else { format!("periods {first}..{last}") });
        }
        if !self.topics.is_empty() {
            parts.push(format!("topics {}", self.topics.join(",")));
        }
        parts.join("; ")
    }
}

/// The part of a kept download as its [`SCOPE`] says it in words: empty for the whole table.
pub fn kept_scope(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(SCOPE)).ok().and_then(|t| t.lines().next().map(str::to_string)).unwrap_or_default()
}

/// The keys of the topics a kept download holds, where it holds only some of them.
pub fn kept_topics(dir: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(dir.join(SCOPE)).ok()?;
    let keys = text.lines().find_map(|l| l.strip_prefix("topics\t"))?;
    Some(keys.split(',').map(str::to_string).collect())
}

/// What to ask of the figures' entity set for a part, and what to keep about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Query options to append to the figures' URL (`$filter=...&$select=...`), percent-encoded.
    pub query: String,
    /// The [`SCOPE`] file's text.
    pub kept: String,
}

fn text<'v>(object: &'v Value, field: &str) -> &'v str {
    object.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// An OData string literal: quoted, a quote doubled.
fn literal(code: &str) -> String {
    format!("'{}'", code.replace('\'', "''"))
}

/// `D eq 'a'`, or `(D eq 'a' or D eq 'b')`.
fn any_of(field: &str, codes: &[String]) -> String {
    let terms: Vec<String> = codes.iter().map(|c| format!("{field} eq {}", literal(c))).collect();
    if terms.len() == 1 { terms[0].clone() } else { format!("({})", terms.join(" or ")) }
}

/// Percent-encodes a query option's value: everything but unreserved characters.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 2);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Resolves `scope` against the metadata kept in `dir` (a download of `id` over `api` under way): the query for
/// the figures, or why the table has no such part.
pub fn request(scope: &Scope, api: Api, id: &str, dir: &Path) -> Result<Request, FetchError> {
    let dimensions = dimensions(api, dir)?;
    let key_field = match api {
        Api::V3 => "Key",
        Api::V4 => "Identifier",
    };
    let codes_of = |d: &Dimension| -> Result<Vec<String>, FetchError> {
        Ok(kept_objects(dir, &d.codes_set)?.iter().map(|c| text(c, key_field).to_string()).collect())
    };
    let mut filter = Vec::new();
    if !scope.regions.is_empty() {
        let region = dimensions.iter().find(|d| d.kind == "GeoDimension").ok_or_else(|| {
            FetchError::Part(format!("{id} has no region dimension: --regions cannot choose its rows"))
        })?;
        let codes = codes_of(region)?;
        let mut chosen = Vec::new();
        for wanted in &scope.regions {
            match codes.iter().find(|c| c.trim().eq_ignore_ascii_case(wanted)) {
                Some(code) => chosen.push(code.clone()),
                None => {
                    let some: Vec<&str> = codes.iter().take(5).map(|c| c.trim()).collect();
                    return Err(FetchError::Part(format!(
                        "{id} has no region {wanted} in {} ({} regions, such as {})",
                        region.field,
                        codes.len(),
                        some.join(", ")
                    )));
                }
            }
        }
        filter.push(any_of(&region.field, &chosen));
    }
    if let Some((first, last)) = scope.periods {
        let time = dimensions.iter().find(|d| d.kind == "TimeDimension").ok_or_else(|| {
            FetchError::Part(format!("{id} has no period dimension: --periods cannot choose its rows"))
        })?;
        let codes = codes_of(time)?;
        let chosen: Vec<String> = codes
            .iter()
            .filter(|c| {
                c.trim().get(..4).and_then(|y| y.parse::<i32>().ok()).is_some_and(|y| (first..=last).contains(&y))
            })
            .cloned()
            .collect();
        if chosen.is_empty() {
            let (a, b) =
                (codes.first().map(|c| c.trim()).unwrap_or("-"), codes.last().map(|c| c.trim()).unwrap_or("-"));
            return Err(FetchError::Part(format!("{id} has no periods in {first}..{last} (its periods: {a} to {b})")));
        }
        filter.push(any_of(&time.field, &chosen));
    }
    let mut select = None;
    let mut kept_topics = None;
    if !scope.topics.is_empty() {
        // (key, title) of every topic
        let topics: Vec<(String, String)> = match api {
            Api::V3 => kept_objects(dir, "DataProperties")?
                .iter()
                .filter(|p| text(p, "Type") == "Topic")
                .map(|p| (text(p, "Key").to_string(), text(p, "Title").trim().to_string()))
                .collect(),
            Api::V4 => kept_objects(dir, "MeasureCodes")?
                .iter()
                .map(|m| (text(m, "Identifier").to_string(), text(m, "Title").trim().to_string()))
                .collect(),
        };
        let mut keys: Vec<String> = Vec::new();
        for wanted in &scope.topics {
            let found = topics.iter().find(|(k, t)| fold(k) == *wanted || fold(t) == *wanted).ok_or_else(|| {
                let some: Vec<&str> = topics.iter().take(5).map(|(_, t)| t.as_str()).collect();
                FetchError::Part(format!(
                    "{id} has no topic {wanted:?} ({} topics, such as {})",
                    topics.len(),
                    some.join("; ")
                ))
            })?;
            if !keys.contains(&found.0) {
                keys.push(found.0.clone());
            }
        }
        match api {
            Api::V3 => {
                let mut fields = vec!["ID".to_string()];
                fields.extend(dimensions.iter().map(|d| d.field.clone()));
                fields.extend(keys.iter().cloned());
                select = Some(fields.join(","));
            }
            Api::V4 => filter.insert(0, any_of("Measure", &keys)),
        }
        kept_topics = Some(keys);
    }
    let mut query = Vec::new();
    if !filter.is_empty() {
        query.push(format!("$filter={}", encode(&filter.join(" and "))));
    }
    if let Some(select) = select {
        query.push(format!("$select={}", encode(&select)));
    }
    let mut kept = scope.describe();
    if let Some(keys) = kept_topics {
        kept.push_str(&format!("\ntopics\t{}", keys.join(",")));
    }
    Ok(Request { query: query.join("&"), kept })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_a_scope_or_an_error() {
        let s = |r: &[&str], p: Option<&str>, t: &[&str]| {
            Scope::new(
                &r.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
                p,
                &t.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            )
        };
        let scope = s(&["gm0363", " VT13"], Some("2023..2025"), &["Ontvangen meldingen"]).unwrap();
        assert_eq!(scope.describe(), "regions GM0363,VT13; periods 2023..2025; topics ontvangen meldingen");
        assert_eq!(s(&[], Some("2024"), &[]).unwrap().periods, Some((2024, 2024)));
        assert!(s(&[], None, &[]).unwrap().is_whole());
        assert!(s(&["GM0363'; drop"], None, &[]).unwrap_err().contains("not a CBS region code"));
        assert!(s(&[], Some("2025..2023"), &[]).unwrap_err().contains("ends before it begins"));
        assert!(s(&[], Some("last year"), &[]).unwrap_err().contains("not a year"));
    }

    #[test]
    fn filters_are_eq_or_and_over_the_served_codes_encoded() {
        assert_eq!(any_of("RegioS", &["GM0363    ".into()]), "RegioS eq 'GM0363    '");
        assert_eq!(any_of("P", &["a".into(), "b'c".into()]), "(P eq 'a' or P eq 'b''c')");
        assert_eq!(encode("RegioS eq 'GM0363 '"), "RegioS%20eq%20%27GM0363%20%27");
    }
}
