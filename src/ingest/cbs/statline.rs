//! A StatLine download of any CBS table (the `;`-separated CSV download or the space-separated text
//! export) read into the table model: its table told by [`family::identify`], its dimensions and topics
//! from the header, every row checked.

use std::collections::BTreeSet;
use std::path::Path;

use vtsql_udfs::period::Period;

use super::Incoming;
use super::family::{self, Evidence, Member};
use super::model::{self, Cell, Dimension, Interner, Kind, RegionCell, Row, TableMeta, Topic};
use crate::ingest::categories;
use crate::ingest::error::Result;
use crate::ingest::regions::{Region, Regions};
use crate::ingest::text::{SourceFile, data_lines, header_fields, split_fields};

/// The two StatLine layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Text,
}

/// What reading a download needs besides the file.
pub struct Options<'a> {
    /// `--table ID`, if the user named the table.
    pub table: Option<&'a str>,
    pub regions: &'a Regions,
    /// The stored model of a table, if it was ingested before.
    pub known: &'a dyn Fn(&str) -> Option<TableMeta>,
    /// The download's index among an ingest's inputs (for messages).
    pub index: u32,
}

/// Topics whose full titles vtsql knows, so that a title StatLine cut off (`voorwaarden en verv..`)
/// gets the column of the full one.
const KNOWN_TOPICS: [&str; 5] = [
    "Gestarte adviezen",
    "Ontvangen meldingen",
    "Casussen met ontvangen melding(en)",
    "Afgeronde diensten onderzoek",
    "Afgeronde diensten voorwaarden en vervolg",
];

/// One data line as read, before the table is known.
struct Line<'r> {
    line: usize,
    period: String,
    region: Option<&'r Region>,
    /// A region label nothing resolves: allowed for a line without figures only (70072ned lists every
    /// gemeente that ever was, most of them empty), which is left out and counted.
    unknown_region: Option<String>,
    /// The category words (text export) or fields (CSV) before the region.
    categories: Vec<String>,
    cells: Vec<String>,
}

/// Splits the topic part of a text export's header into titles with their units:
/// `A (aantal) B (%)` → [(`A`, `aantal`), (`B`, `%`)]. Brackets that are no unit (`melding(en)`) stay.
fn text_topics(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (close, _) in text.match_indices(')') {
        let segment = &text[start..=close];
        if let (title, Some(unit)) = model::split_unit(segment) {
            out.push((title.trim().to_string(), unit.to_string()));
            start = close + 1;
        }
    }
    out
}

/// Separates topic groups from titles: a CSV header's groups stand before `/`; a text export repeats the
/// group words before every title (common to all titles), and a sub-group whose title starts its topics'
/// titles (`Afgeronde diensten Afgeronde diensten onderzoek`).
fn split_groups(raw: &[String], format: Format) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = raw
        .iter()
        .map(|t| match (format, t.rsplit_once('/')) {
            (Format::Csv, Some((group, title))) => (group.trim().to_string(), title.trim().to_string()),
            _ => (String::new(), t.trim().to_string()),
        })
        .collect();
    if format == Format::Text && out.len() > 1 {
        let words: Vec<Vec<&str>> = out.iter().map(|(_, t)| t.split_whitespace().collect()).collect();
        let shortest = words.iter().map(Vec::len).min().unwrap_or(0);
        let common = (0..shortest.saturating_sub(1)).take_while(|&i| words.iter().all(|w| w[i] == words[0][i])).count();
        let group = words[0][..common].join(" ");
        let titles: Vec<String> = words.iter().map(|w| w[common..].join(" ")).collect();
        out = titles.into_iter().map(|t| (group.clone(), t)).collect();
        for (group, title) in &mut out {
            let w: Vec<&str> = title.split_whitespace().collect();
            if let Some(n) = (1..=w.len() / 2).rev().find(|&n| w[..n] == w[n..2 * n] && w.len() > 2 * n - 1) {
                let sub = w[..n].join(" ");
                *group = if group.is_empty() { sub } else { format!("{group}/{sub}") };
                *title = w[n..].join(" ");
            }
        }
    }
    for (_, title) in &mut out {
        if let Some(stem) = title.strip_suffix("...").or_else(|| title.strip_suffix("..")) {
            let stem = model::fold_title(stem);
            if let Some(full) = KNOWN_TOPICS.iter().find(|k| model::fold_title(k).starts_with(&stem)) {
                *title = full.to_string();
            }
        }
    }
    out
}

/// The day a download was made: the date StatLine puts in its file name (`..._01122026_101500.csv`), else
/// the file's modification date, else today.
fn download_day(file: &SourceFile) -> Option<i32> {
    let name = file.file_name();
    let parts: Vec<&str> = name.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).collect();
    for pair in parts.windows(2) {
        if pair[0].len() == 8 && pair[1].len() == 6 {
            let (d, m, y) = (&pair[0][..2], &pair[0][2..4], &pair[0][4..]);
            if let Some(day) = vtsql_udfs::gazetteer::day_number(&format!("{y}-{m}-{d}")) {
                return Some(day);
            }
        }
    }
    let modified =
        std::fs::metadata(&file.path).and_then(|m| m.modified()).unwrap_or_else(|_| std::time::SystemTime::now());
    let seconds = modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    i32::try_from(seconds / 86_400).ok()
}

/// Reads a StatLine download of any table.
pub fn read(file: &SourceFile, format: Format, options: &Options<'_>) -> Result<(Incoming, Option<&'static Member>)> {
    let mut lines = file.lines()?;
    let mut title = None;
    let mut header_line = 0;
    // the dimension titles' text, the topics' titles and units, and for a CSV the columns
    let mut dims_text = String::new();
    let mut topic_titles: Vec<(String, String)> = Vec::new();
    let mut csv_columns: Option<CsvColumns> = None;
    for next in lines.by_ref() {
        let (n, line) = next?;
        let trimmed = line.trim().trim_start_matches('\u{feff}');
        if trimmed.is_empty() {
            continue;
        }
        match format {
            Format::Csv => {
                let header =
                    split_fields(trimmed).map_err(|f| file.error(n, format!("field {f}"), "quote not closed"))?;
                let lower: Vec<String> = header.iter().map(|h| h.to_lowercase()).collect();
                let period = lower
                    .iter()
                    .position(|h| h == "perioden")
                    .ok_or_else(|| file.error(n, "header", "no Perioden column"))?;
                let region = lower.iter().position(|h| h.starts_with("regio"));
                let topics: Vec<usize> =
                    (0..header.len()).filter(|&i| model::split_unit(&header[i]).1.is_some()).collect();
                let dims: Vec<usize> = (0..header.len())
                    .filter(|i| *i != period && Some(*i) != region && !topics.contains(i) && !header[*i].is_empty())
                    .filter(|&i| lower[i] != "id")
                    .collect();
                topic_titles = topics
                    .iter()
                    .map(|&i| {
                        let (t, unit) = model::split_unit(&header[i]);
                        (t.to_string(), unit.unwrap_or_default().to_string())
                    })
                    .collect();
                dims_text = dims.iter().map(|&i| header[i].clone()).collect::<Vec<_>>().join(" ");
                csv_columns = Some((header, period, region, dims, topics));
                header_line = n;
                break;
            }
            Format::Text => {
                if trimmed.contains("Regio's") && trimmed.contains("Perioden") && !trimmed.contains(';') {
                    let (before, rest) = trimmed.split_once("Regio's").unwrap_or_default();
                    dims_text = before.trim().to_string();
                    let after = rest.split_once("Perioden").map(|(_, a)| a).unwrap_or_default();
                    topic_titles = text_topics(after);
                    header_line = n;
                    break;
                }
                if title.is_none() {
                    title = Some(trimmed.to_string());
                }
            }
        }
    }
    if header_line == 0 {
        return Err(file.error(1, "header", "no header line with \"Regio's\" and \"Perioden\""));
    }
    if topic_titles.is_empty() {
        return Err(file.error(
            header_line,
            "header",
            "no topic columns (titles ending in a unit such as (aantal) or (%))",
        ));
    }
    let has_dims = !dims_text.is_empty();

    // Every line, resolved as far as can be without knowing the table.
    let mut read: Vec<Line<'_>> = Vec::new();
    for next in data_lines(lines) {
        let (n, line) = next?;
        read.push(match &csv_columns {
            Some((header, period, region, dims, topics)) => {
                let fields = header_fields(file, n, &line, header)?;
                let cells: Vec<String> = topics.iter().map(|&t| fields[t].clone()).collect();
                let (region, unknown_region) = match region {
                    Some(r) => match options.regions.resolve_label(&fields[*r]) {
                        Some(found) => (Some(found), None),
                        None if cells.iter().all(|c| c.trim().is_empty()) => (None, Some(fields[*r].clone())),
                        None => {
                            return Err(file.error(
                                n,
                                header[*r].clone(),
                                format!("unknown region {:?} (load a regions table that names it)", fields[*r]),
                            ));
                        }
                    },
                    None => (None, None),
                };
                Line {
                    line: n,
                    period: fields[*period].clone(),
                    region,
                    unknown_region,
                    categories: dims.iter().map(|&d| fields[d].clone()).collect(),
                    cells,
                }
            }
            None => text_line(file, n, &line, has_dims, topic_titles.len(), options.regions)?,
        });
    }
    if read.is_empty() {
        return Err(file.error(header_line, "rows", "no data rows after the header"));
    }

    // Which table it is.
    let categories: BTreeSet<&str> =
        read.iter().flat_map(|l| l.categories.iter().map(String::as_str)).take(5000).collect();
    let levels: BTreeSet<&str> = read.iter().filter_map(|l| l.region.map(|r| r.level.as_str())).collect();
    let dimension_titles: Vec<&str> = match &csv_columns {
        Some((header, _, _, dims, _)) => dims.iter().map(|&d| header[d].as_str()).collect(),
        None if has_dims => vec![dims_text.as_str()],
        None => vec![],
    };
    let evidence = Evidence {
        dimension_titles,
        categories: categories.into_iter().collect(),
        topics: topic_titles.iter().map(|(t, _)| t.as_str()).collect(),
        levels: levels.into_iter().collect(),
    };
    let (id, member) = family::identify(options.table, &file.file_name(), title.as_deref(), &evidence)
        .map_err(|m| file.error(header_line, "table", m))?;
    let known = (options.known)(&id);
    // A topic CBS types as text has no unit in a CSV's header, so it was read as a dimension: the stored model
    // of the table tells it is a topic, and its fields become cells.
    if let (Some((header, _, _, dims, topics)), Some(k)) = (&mut csv_columns, &known) {
        // the column as a topic without a unit, found as any other topic of a download is
        let is_text_topic = |title: &str| {
            let (group, title) = split_groups(&[title.to_string()], format).remove(0);
            let topic = Topic {
                key: String::new(),
                title,
                group,
                unit: String::new(),
                description: String::new(),
                column: String::new(),
                kind: Kind::Text,
            };
            k.find_topic(&topic).is_some_and(|i| k.topics[i].kind == Kind::Text)
        };
        for at in (0..dims.len()).rev() {
            if is_text_topic(&header[dims[at]]) {
                let column = dims.remove(at);
                topics.push(column);
                topic_titles.push((header[column].clone(), String::new()));
                for l in &mut read {
                    let value = l.categories.remove(at);
                    l.cells.push(value);
                }
            }
        }
    }

    // Its dimensions: a CSV names each; a text export's header runs their titles together.
    let dimension_titles: Vec<String> = match &csv_columns {
        Some((header, _, _, dims, _)) => dims
            .iter()
            .map(|&d| {
                let title = &header[d];
                member.and_then(|m| m.dimension_titled(title)).map_or_else(|| title.clone(), str::to_string)
            })
            .collect(),
        None if !has_dims => vec![],
        None => {
            let folded = model::fold_title(&dims_text);
            let known_titles: Vec<Vec<String>> = [
                member.map(|m| m.dimensions.iter().map(|d| d.to_string()).collect::<Vec<_>>()),
                known.as_ref().map(|k| k.dimensions.iter().map(|d| d.title.clone()).collect()),
            ]
            .into_iter()
            .flatten()
            .collect();
            known_titles
                .into_iter()
                .find(|t| !t.is_empty() && model::fold_title(&t.join(" ")) == folded)
                .unwrap_or_else(|| vec![dims_text.clone()])
        }
    };
    let release = download_day(file);
    let topic_paths = split_groups(&topic_titles.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(), format);
    let mut meta = TableMeta {
        id: id.clone(),
        title: member.map(|m| format!("Huiselijk geweld; {}", m.title)).or(title).unwrap_or_default(),
        release: release.map(model::date_text).unwrap_or_default(),
        regions: read.iter().any(|l| l.region.is_some()),
        dimensions: dimension_titles
            .iter()
            .map(|t| {
                // the categories and their hierarchy as far as known: from what is stored, else vtsql's fallback
                let stored = known
                    .as_ref()
                    .and_then(|k| k.dimensions.iter().find(|d| model::fold_title(&d.title) == model::fold_title(t)));
                let reference =
                    stored.filter(|d| !d.categories.is_empty()).cloned().or_else(|| categories::fallback(&id, t));
                let (categories, groups) = reference.map(|d| (d.categories, d.groups)).unwrap_or_default();
                let key = stored.map_or_else(|| t.clone(), |d| d.key.clone());
                Dimension {
                    key,
                    title: t.clone(),
                    column: String::new(),
                    description: String::new(),
                    categories,
                    groups,
                }
            })
            .collect(),
        topics: topic_paths
            .into_iter()
            .zip(&topic_titles)
            .map(|((group, title), (_, unit))| Topic {
                // a download's key is the topic's path with its unit: `Totaal (%)` may stand under two groups
                key: if group.is_empty() { format!("{title} ({unit})") } else { format!("{group}/{title} ({unit})") },
                title,
                group,
                unit: unit.clone(),
                description: String::new(),
                column: String::new(),
                kind: Kind::from_unit(unit, None),
            })
            .collect(),
    };
    if let Some(known) = &known {
        // a known topic keeps its type and group
        for t in &mut meta.topics {
            if let Some(i) = known.find_topic(t) {
                t.kind = known.topics[i].kind;
            }
        }
    }
    model::name_columns(&mut meta);

    let mut texts = Interner::default();
    let source_dims = meta.dimensions.len();
    let mut rows = Vec::with_capacity(read.len());
    // each distinct label once: the category it names (a new one is kept as it is, and reported)
    let mut resolved: Vec<std::collections::HashMap<String, model::Text>> = vec![Default::default(); source_dims];
    let mut new_labels: Vec<Vec<String>> = vec![Vec::new(); source_dims];
    let mut skipped_regions: BTreeSet<String> = BTreeSet::new();
    for l in read {
        if let Some(label) = l.unknown_region {
            skipped_regions.insert(label);
            continue;
        }
        let (period, status) = Period::parse(&l.period)
            .ok_or_else(|| file.error(l.line, "Perioden", format!("unknown period label {:?}", l.period)))?;
        let labels: Vec<String> = match source_dims {
            _ if csv_columns.is_some() => l.categories,
            0 if l.categories.is_empty() => l.categories,
            0 => {
                return Err(file.error(l.line, "Regio's", format!("unknown region {:?}", l.categories.join(" "))));
            }
            1 => vec![l.categories.join(" ")],
            k if l.categories.len() == k => l.categories,
            _ => {
                return Err(file.error(
                    l.line,
                    dims_text.clone(),
                    format!(
                        "cannot tell where the categories of {} part in {:?}: use the StatLine CSV download of this \
                         table, or `vtsql fetch {id}`",
                        meta.dimensions.iter().map(|d| d.title.as_str()).collect::<Vec<_>>().join(" and "),
                        l.categories.join(" ")
                    ),
                ));
            }
        };
        let mut categories = Vec::with_capacity(source_dims);
        for (d, label) in labels.iter().enumerate() {
            let label = label.trim();
            if label.is_empty() {
                return Err(file.error(l.line, meta.dimensions[d].title.clone(), "no category"));
            }
            if label.chars().count() > MAX_LABEL_CHARS {
                return Err(file.error(
                    l.line,
                    meta.dimensions[d].title.clone(),
                    format!(
                        "a category of {} characters before the region (\"{}...\"): no StatLine label is this long; \
                         is the region one vtsql does not know?",
                        label.chars().count(),
                        label.chars().take(40).collect::<String>()
                    ),
                ));
            }
            let text = match resolved[d].get(label) {
                Some(text) => model::Text::clone(text),
                None => {
                    let dimension = &mut meta.dimensions[d];
                    let title = match dimension.resolve(label) {
                        Some(c) => c.title.clone(),
                        None => {
                            let stem = model::cut_stem(label);
                            let title = stem.unwrap_or(label).to_string();
                            if !dimension.categories.is_empty() || known.is_some() {
                                new_labels[d].push(label.to_string());
                            }
                            dimension.categories.push(model::Category {
                                key: title.clone(),
                                title: title.clone(),
                                group: None,
                                labels: if stem.is_some() { vec![label.to_string()] } else { vec![] },
                                cut: stem.is_some(),
                            });
                            title
                        }
                    };
                    // a cut label is remembered, so that the same label in a later download needs no guess
                    if let Some(c) = dimension.categories.iter_mut().find(|c| c.title == title)
                        && model::fold_title(label) != model::fold_title(&c.title)
                        && !c.labels.iter().any(|l| l == label)
                    {
                        c.labels.push(label.to_string());
                    }
                    let text = texts.text(&title);
                    resolved[d].insert(label.to_string(), model::Text::clone(&text));
                    text
                }
            };
            categories.push(text);
        }
        let mut cells = Vec::with_capacity(meta.topics.len());
        for ((topic, text), (title, unit)) in meta.topics.iter().zip(&l.cells).zip(&topic_titles) {
            // the field as the file titles it; the column it goes to in the message
            cells.push(Cell::parse(text, topic.kind).map_err(|m| {
                file.error(l.line, format!("{title} ({unit})"), format!("{m} (column {})", topic.column))
            })?);
        }
        rows.push(Row {
            period,
            provisional: status.is_provisional(),
            region: l.region.map(|r| RegionCell {
                level: texts.text(r.level.as_str()),
                code: texts.text(&r.code),
                name: texts.text(&r.name),
            }),
            categories,
            cells,
            release,
            replaced_by: None,
            origin: (options.index, u32::try_from(l.line).unwrap_or(u32::MAX)),
        });
    }
    let mut notes = Vec::new();
    for (d, labels) in new_labels.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
        notes.push(format!(
            "{}: {} {} of {:?} that vtsql did not know, stored as {}: {}",
            file.path.display(),
            labels.len(),
            if labels.len() == 1 { "category" } else { "categories" },
            meta.dimensions[d].title,
            if labels.len() == 1 { "it is" } else { "they are" },
            labels.iter().map(|l| format!("{l:?}")).collect::<Vec<_>>().join(", ")
        ));
    }
    if !skipped_regions.is_empty() {
        let shown: Vec<String> = skipped_regions.iter().take(5).map(|r| format!("{r:?}")).collect();
        notes.push(format!(
            "{}: {} regions vtsql does not know, without figures, left out: {}{}",
            file.path.display(),
            skipped_regions.len(),
            shown.join(", "),
            if skipped_regions.len() > shown.len() { ", ..." } else { "" }
        ));
    }
    if rows.is_empty() {
        return Err(file.error(header_line, "rows", "no data rows with a region vtsql knows"));
    }
    let incoming = Incoming { meta, rows, sources: vec![], notes };
    Ok((incoming, member))
}

/// The longest category label vtsql takes from a download (StatLine's are far shorter, and cut at about 40
/// characters in text exports): anything longer is a line read wrongly, not a category.
const MAX_LABEL_CHARS: usize = 200;

/// The most words a region label has (`Capelle aan den IJssel`, `Gooi en Vechtstreek (VT)`), with room to
/// spare: it keeps the search for the region linear in the length of a line.
const MAX_REGION_WORDS: usize = 8;

/// A CSV download's header and where in it the period, the regions, the dimensions and the topics are.
type CsvColumns = (Vec<String>, usize, Option<usize>, Vec<usize>, Vec<usize>);

/// One line of a text export: the category words, the region (the longest run of words before the period
/// that names one), the period and the cells.
fn text_line<'r>(
    file: &SourceFile,
    n: usize,
    line: &str,
    has_dims: bool,
    n_topics: usize,
    regions: &'r Regions,
) -> Result<Line<'r>> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let first = if has_dims { 2 } else { 1 };
    let found = find_period_from(&words, first)
        .map_err(|label| file.error(n, "Perioden", format!("unknown period label {label:?}")))?;
    let Some((at, period)) = found else {
        return Err(file.error(n, "Perioden", "no period (such as `1e halfjaar 2020` or `2023*`) after the region"));
    };
    let cells: Vec<String> = words[at + period.split_whitespace().count()..].iter().map(|w| w.to_string()).collect();
    if cells.len() != n_topics {
        let hint = if cells.len() > n_topics { " (a thousands separator such as `1 905`? write 1905)" } else { "" };
        return Err(file.error(
            n,
            "line",
            format!("{} values after the period {period:?}, expected {n_topics}{hint}", cells.len()),
        ));
    }
    let head = &words[..at];
    let min_categories = usize::from(has_dims);
    // the longest region name first: `Bergen op Zoom`, `Noord-Nederland (LD)`
    let longest = head.len().saturating_sub(MAX_REGION_WORDS).max(min_categories);
    let region = (longest..head.len())
        .find_map(|split| regions.resolve_label(&head[split..].join(" ")).map(|r| (split, r)))
        .ok_or_else(|| {
            let last = head.last().copied().unwrap_or_default();
            file.error(
                n,
                "Regio's",
                format!(
                    "unknown region {last:?} (no region vtsql knows ends {:?}; load a regions table that names it)",
                    head.join(" ")
                ),
            )
        })?;
    Ok(Line {
        line: n,
        period,
        region: Some(region.1),
        unknown_region: None,
        categories: head[..region.0].iter().map(|w| w.to_string()).collect(),
        cells,
    })
}

/// Where the period starts in a text-export line's words, and its label: `1e halfjaar 2020*` (three words) or
/// one word such as `2023*`; the first such place after `first` words (the category words, if any, and the
/// region's). A half-year label that does not read is an error (its label), not a part of a region's name.
pub(crate) fn find_period_from(words: &[&str], first: usize) -> std::result::Result<Option<(usize, String)>, String> {
    for at in first..words.len() {
        if let [half, word, year, ..] = &words[at..]
            && word.eq_ignore_ascii_case("halfjaar")
        {
            let label = format!("{half} {word} {year}");
            return match Period::parse(&label) {
                Some(_) => Ok(Some((at, label))),
                None => Err(label),
            };
        }
        if Period::parse(words[at]).is_some() {
            return Ok(Some((at, words[at].to_string())));
        }
    }
    Ok(None)
}

/// Whether `path`'s name suggests a StatLine download rather than another CBS file.
pub fn is_download(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "csv" || e == "txt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_header_topics() {
        let header = "Adviezen, meldingen en diensten Gestarte adviezen (aantal) Adviezen, meldingen en diensten \
                      Casussen met ontvangen melding(en) (aantal) Adviezen, meldingen en diensten Afgeronde diensten \
                      Afgeronde diensten voorwaarden en verv.. (aantal)";
        let topics = text_topics(header);
        assert_eq!(topics.len(), 3);
        assert_eq!(topics[1].0, "Adviezen, meldingen en diensten Casussen met ontvangen melding(en)");
        let titles: Vec<String> = topics.into_iter().map(|(t, _)| t).collect();
        let split = split_groups(&titles, Format::Text);
        assert_eq!(split[0], ("Adviezen, meldingen en diensten".into(), "Gestarte adviezen".into()));
        assert_eq!(split[1].1, "Casussen met ontvangen melding(en)");
        assert_eq!(
            split[2],
            (
                "Adviezen, meldingen en diensten/Afgeronde diensten".into(),
                "Afgeronde diensten voorwaarden en vervolg".into()
            )
        );
    }

    #[test]
    fn csv_groups_and_download_days() {
        let split = split_groups(&["Vervolgmelding/... tijdens monitoring".to_string()], Format::Csv);
        assert_eq!(split[0], ("Vervolgmelding".into(), "... tijdens monitoring".into()));
        let file = SourceFile::in_memory("Huiselijk_geweld__regio_01122026_101500.csv", b"");
        assert_eq!(download_day(&file).map(model::date_text).as_deref(), Some("2026-12-01"));
    }
}
