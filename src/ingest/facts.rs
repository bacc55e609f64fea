//! The fact table `veilig_thuis` and the two layouts it is read from: the StatLine text export
//! (space-separated, as in `seeds/001_*.txt`) and the StatLine CSV download (`;`-separated).

use vtsql_udfs::period::{Period, Status};

use super::categories::{self, Category};
use super::error::Result;
use super::regions::{Region, Regions};
use super::text::{SourceFile, data_lines, header_fields};

/// The five measures of the Veilig Thuis core tables, in column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    GestarteAdviezen,
    OntvangenMeldingen,
    CasussenMetMelding,
    AfgerondeOnderzoeken,
    AfgerondeVoorwaardenVervolg,
}

impl Measure {
    pub const ALL: [Measure; 5] = [
        Measure::GestarteAdviezen,
        Measure::OntvangenMeldingen,
        Measure::CasussenMetMelding,
        Measure::AfgerondeOnderzoeken,
        Measure::AfgerondeVoorwaardenVervolg,
    ];

    pub fn column(self) -> &'static str {
        crate::schema::MEASURES[self as usize]
    }

    /// Recognises a StatLine column title, full or cut off
    /// (`Adviezen, meldingen en diensten/Afgeronde diensten voorwaarden en verv.. (aantal)`).
    pub fn from_title(title: &str) -> Option<Measure> {
        let t = title.to_lowercase();
        if t.contains("casussen met ontvangen melding") {
            Some(Measure::CasussenMetMelding)
        } else if t.contains("gestarte adviezen") {
            Some(Measure::GestarteAdviezen)
        } else if t.contains("ontvangen meldingen") {
            Some(Measure::OntvangenMeldingen)
        } else if t.contains("afgeronde diensten onderzoek") {
            Some(Measure::AfgerondeOnderzoeken)
        } else if t.contains("afgeronde diensten voorwaarden en verv") {
            Some(Measure::AfgerondeVoorwaardenVervolg)
        } else {
            None
        }
    }
}

/// Text shared by many facts (a region's code, a kind of violence): one allocation, however many rows name it.
pub type Text = std::sync::Arc<str>;

/// Gives the same [`Text`] for the same string: facts are many, their distinct texts few.
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

/// One row of `veilig_thuis`: a source table × region × category × period.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub source_table: Text,
    pub period: Period,
    pub provisional: bool,
    pub region_level: Text,
    pub region_code: Text,
    pub region_name: Text,
    pub category: Text,
    pub category_group: Text,
    /// Indexed like [`Measure::ALL`]; a value counts where its bit of `published` is set.
    pub(super) values: [i64; 5],
    /// Bit `i` set: value `i` was published; clear: CBS published `.` or left the cell blank.
    pub(super) published: u8,
    /// How many of the five cells were `.` (suppressed), as opposed to blank (cannot occur).
    pub suppressed_cells: i32,
    /// Where it was read: the index of its file among an ingest's sources and its line (0, 0 for a row
    /// read back from the data directory), for messages.
    pub file: u32,
    pub line: u32,
}

impl Fact {
    /// The `i`th count ([`Measure::ALL`]), `None` where none was published.
    pub fn value(&self, i: usize) -> Option<i64> {
        (self.published >> i & 1 == 1).then_some(self.values[i])
    }

    /// Sets the `i`th count.
    pub fn set_value(&mut self, i: usize, value: Option<i64>) {
        self.values[i] = value.unwrap_or(0);
        self.published = (self.published & !(1 << i)) | (u8::from(value.is_some()) << i);
    }

    /// The same cell (table, region, period and kind of violence) as `other`.
    pub fn same_cell(&self, other: &Fact) -> bool {
        self.replace_key() == other.replace_key() && self.category == other.category
    }

    /// What a re-ingest replaces: the same table, region and period.
    pub fn replace_key(&self) -> (&str, &str, Period) {
        (&self.source_table, &self.region_code, self.period)
    }
}

/// No Veilig Thuis count comes near this (the national yearly totals are in the hundreds of thousands): a
/// larger one is a wrong column or a typing error, and would make sums overflow long before their time.
pub const MAX_COUNT: i64 = 100_000_000;

/// Parses one cell: a count, `.` (suppressed), or blank (cannot occur). CBS sometimes writes
/// thousands with a `.` or a space when exporting for display; counts are whole numbers.
fn parse_cell(cell: &str) -> Result<(Option<i64>, bool), String> {
    let cell = cell.trim();
    match cell {
        "." | "x" => Ok((None, true)),
        "" => Ok((None, false)),
        "-" => Ok((Some(0), false)),
        _ => {
            let digits: String = cell.chars().filter(|c| !matches!(c, ' ' | '\u{a0}')).collect();
            match digits.parse::<i64>() {
                Ok(v) if (0..=MAX_COUNT).contains(&v) => Ok((Some(v), false)),
                Ok(v) if v > 0 => Err(format!("{v} is larger than any Veilig Thuis count ({MAX_COUNT} at most)")),
                _ if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    Err(format!("{cell:?} is larger than any Veilig Thuis count ({MAX_COUNT} at most)"))
                }
                _ => Err(format!("{cell:?} is not a count (expected a whole number, '.' or blank)")),
            }
        }
    }
}

struct RowBuilder<'a> {
    file: &'a SourceFile,
    measures: Vec<Measure>,
    source_table: Text,
    texts: std::cell::RefCell<Interner>,
}

impl RowBuilder<'_> {
    fn fact(
        &self,
        line: usize,
        category: &Category,
        region: &Region,
        period_text: &str,
        cells: &[&str],
    ) -> Result<Fact> {
        let (period, status) = Period::parse(period_text)
            .ok_or_else(|| self.file.error(line, "Perioden", format!("unknown period label {period_text:?}")))?;
        let mut texts = self.texts.borrow_mut();
        let mut fact = Fact {
            source_table: Text::clone(&self.source_table),
            period,
            provisional: status != Status::Definitive,
            region_level: texts.text(region.level.as_str()),
            region_code: texts.text(&region.code),
            region_name: texts.text(&region.name),
            category: texts.text(category.name),
            category_group: texts.text(category.group),
            values: [0; 5],
            published: 0,
            suppressed_cells: 0,
            file: 0,
            line: u32::try_from(line).unwrap_or(u32::MAX),
        };
        for (measure, cell) in self.measures.iter().zip(cells) {
            let (value, suppressed) = parse_cell(cell).map_err(|m| self.file.error(line, measure.column(), m))?;
            fact.set_value(*measure as usize, value);
            fact.suppressed_cells += i32::from(suppressed);
        }
        Ok(fact)
    }
}

fn measures_from_titles<'t>(
    file: &SourceFile,
    line: usize,
    titles: impl Iterator<Item = &'t str>,
) -> Result<Vec<Measure>> {
    let mut measures = Vec::new();
    for (i, title) in titles.enumerate() {
        let measure = Measure::from_title(title).ok_or_else(|| {
            file.error(line, format!("measure {}", i + 1), format!("unknown measure {:?}", title.trim()))
        })?;
        if measures.contains(&measure) {
            return Err(file.error(line, format!("measure {}", i + 1), format!("{} appears twice", measure.column())));
        }
        measures.push(measure);
    }
    if measures.is_empty() {
        return Err(file.error(line, "header", "no measure columns"));
    }
    Ok(measures)
}

/// The most words a category label has (`Politie: overige zorg minderjarig/Prokid` and the longest
/// cut-off labels have fewer): a line's category is looked for among its first this many words only, so a
/// line is read in time linear in its length.
const MAX_CATEGORY_WORDS: usize = 12;

/// Where the period starts in a text-export line's words, and its label: `1e halfjaar 2020*` (three words) or
/// one word such as `2023*`; the first such place after the category and region. A half-year label that
/// does not read is an error (its label), not a part of a region's name.
fn find_period(words: &[&str]) -> Result<Option<(usize, String)>, String> {
    find_period_from(words, 2)
}

/// [`find_period`] for lines with `first` words at least before the period (a table without a dimension
/// besides regions has only the region's).
pub(crate) fn find_period_from(words: &[&str], first: usize) -> Result<Option<(usize, String)>, String> {
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

/// Reads the StatLine text export: title lines, a header of dimension titles followed by measure
/// titles ending in `(aantal)`, then one space-separated line per category × region × period.
/// Category and region names contain spaces: the period (the first word that is one, after two) ends
/// them, and the split between them is where the left part is a known category and the right part a
/// known region.
pub fn parse_statline_text(
    file: &SourceFile,
    source_table: &str,
    regions: &Regions,
    sink: &mut dyn FnMut(Fact),
) -> Result<usize> {
    let mut lines = file.lines()?;
    let mut title = None;
    let (header_line, header) = loop {
        let Some(next) = lines.next() else {
            return Err(file.error(1, "header", "no header line with \"Regio's\" and \"Perioden\""));
        };
        let (n, line) = next?;
        if line.contains("Regio's") && line.contains("Perioden") {
            break (n, line);
        }
        if title.is_none() && !line.trim().is_empty() {
            title = Some(line.trim().to_string());
        }
    };
    let after_periods = header.split_once("Perioden").map(|(_, rest)| rest).unwrap_or_default();
    let titles: Vec<&str> = after_periods.split("(aantal)").filter(|t| !t.trim().is_empty()).collect();
    let builder = RowBuilder {
        file,
        measures: measures_from_titles(file, header_line, titles.into_iter())?,
        source_table: source_table.into(),
        texts: Default::default(),
    };
    let n_measures = builder.measures.len();
    let mut rows = 0;
    for next in data_lines(lines) {
        let (n, line) = next?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let found = find_period(&words)
            .map_err(|label| file.error(n, "Perioden", format!("unknown period label {label:?}")))?;
        let Some((at, period)) = found else {
            return Err(file.error(
                n,
                "Perioden",
                format!(
                    "no period (such as `1e halfjaar 2020` or `2023*`) after the category and region: {:?}",
                    short(&line)
                ),
            ));
        };
        let cells = &words[at + period.split_whitespace().count()..];
        if cells.len() != n_measures {
            let hint =
                if cells.len() > n_measures { " (a thousands separator such as `1 905`? write 1905)" } else { "" };
            return Err(file.error(
                n,
                "line",
                format!("{} values after the period {period:?}, expected {n_measures}{hint}", cells.len()),
            ));
        }
        let head = &words[..at];
        let (category, region) = (1..head.len().min(MAX_CATEGORY_WORDS + 1))
            .find_map(|split| {
                let category = categories::lookup(&head[..split].join(" "))?;
                let region = regions.resolve_label(&head[split..].join(" "))?;
                Some((category, region))
            })
            .ok_or_else(|| unresolved(file, n, head, regions))?;
        sink(builder.fact(n, category, region, &period, cells)?);
        rows += 1;
    }
    Ok(rows)
}

/// At most 80 characters of a line, for a message.
fn short(line: &str) -> String {
    if line.chars().count() > 80 {
        format!("{}…", line.chars().take(80).collect::<String>())
    } else {
        line.to_string()
    }
}

/// Says which of category and region could not be resolved in a text-export line.
fn unresolved(file: &SourceFile, line: usize, head: &[&str], regions: &Regions) -> super::error::IngestError {
    let splits = 1..head.len().min(MAX_CATEGORY_WORDS + 1);
    for split in splits.clone() {
        if categories::lookup(&head[..split].join(" ")).is_some() {
            let region = head[split..].join(" ");
            return file.error(
                line,
                "Regio's",
                format!("unknown region {region:?} (load a regions table that names it)"),
            );
        }
    }
    for split in splits.rev() {
        if regions.resolve_label(&head[split..].join(" ")).is_some() {
            let category = head[..split].join(" ");
            return file.error(line, "Kenmerken", format!("unknown category {category:?}"));
        }
    }
    file.error(line, "Kenmerken/Regio's", format!("cannot tell category from region in {:?}", short(&head.join(" "))))
}

/// Reads the StatLine CSV download: a header `"Kenmerken ...";"Regio's";"Perioden";"...(aantal)"...`,
/// one `;`-separated row per category × region × period, a `Bron: CBS` footer.
pub fn parse_statline_csv(
    file: &SourceFile,
    header: &[String],
    header_line: usize,
    source_table: &str,
    regions: &Regions,
    sink: &mut dyn FnMut(Fact),
) -> Result<usize> {
    let find = |pred: &dyn Fn(&str) -> bool| header.iter().position(|h| pred(&h.to_lowercase()));
    let region_col =
        find(&|h| h.starts_with("regio")).ok_or_else(|| file.error(header_line, "header", "no Regio's column"))?;
    let period_col =
        find(&|h| h == "perioden").ok_or_else(|| file.error(header_line, "header", "no Perioden column"))?;
    let measure_cols: Vec<usize> = (0..header.len()).filter(|&i| Measure::from_title(&header[i]).is_some()).collect();
    let category_col = (0..header.len()).find(|i| ![region_col, period_col].contains(i) && !measure_cols.contains(i));
    let builder = RowBuilder {
        file,
        measures: measures_from_titles(file, header_line, measure_cols.iter().map(|&i| header[i].as_str()))?,
        source_table: source_table.into(),
        texts: Default::default(),
    };
    let totaal = categories::lookup("Totaal").expect("Totaal is a category");
    let mut rows = 0;
    for next in data_lines(file.lines()?.skip(header_line)) {
        let (n, line) = next?;
        let fields = header_fields(file, n, &line, header)?;
        let category = match category_col {
            Some(c) => categories::lookup(&fields[c])
                .ok_or_else(|| file.error(n, header[c].clone(), format!("unknown category {:?}", fields[c])))?,
            None => totaal,
        };
        let region = regions.resolve_label(&fields[region_col]).ok_or_else(|| {
            file.error(
                n,
                "Regio's",
                format!("unknown region {:?} (load a regions table that names it)", fields[region_col]),
            )
        })?;
        let cells: Vec<&str> = measure_cols.iter().map(|&i| fields[i].as_str()).collect();
        sink(builder.fact(n, category, region, &fields[period_col], &cells)?);
        rows += 1;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells() {
        assert_eq!(parse_cell("245"), Ok((Some(245), false)));
        assert_eq!(parse_cell("."), Ok((None, true)));
        assert_eq!(parse_cell(""), Ok((None, false)));
        assert_eq!(parse_cell("1 905"), Ok((Some(1905), false)));
        assert!(parse_cell("12a").is_err());
        assert!(parse_cell("-5").is_err());
        assert!(parse_cell("2,5").is_err());
        // Regression (hardening probe, item 12): the largest 64-bit number was taken as a count.
        assert!(parse_cell("9223372036854775807").unwrap_err().contains("larger than any Veilig Thuis count"));
        assert!(parse_cell("99999999999999999999").unwrap_err().contains("larger than any Veilig Thuis count"));
        assert_eq!(parse_cell("100000000"), Ok((Some(MAX_COUNT), false)));
    }

    #[test]
    fn measure_titles() {
        assert_eq!(
            Measure::from_title("Adviezen, meldingen en diensten Ontvangen meldingen "),
            Some(Measure::OntvangenMeldingen)
        );
        assert_eq!(
            Measure::from_title("Adviezen, meldingen en diensten/Casussen met ontvangen melding(en) (aantal)"),
            Some(Measure::CasussenMetMelding)
        );
        assert_eq!(
            Measure::from_title("Afgeronde diensten Afgeronde diensten voorwaarden en verv.. "),
            Some(Measure::AfgerondeVoorwaardenVervolg)
        );
        assert_eq!(Measure::from_title("Bevolking"), None);
    }
}
