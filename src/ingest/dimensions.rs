//! Region sources: vtsql's own regions table, CBS "Gebieden in Nederland" (with its population) and
//! "Gemeenten alfabetisch". The population table 70072ned is a CBS table like any other (`cbs_70072ned`),
//! read by the StatLine and OData readers; `population` takes its inhabitants from there.

use super::error::Result;
use super::regions::{Region, RegionLevel, landsdeel_of_provincie};
use super::text::{SourceFile, is_footer, split_fields};

/// One row of `population`: inhabitants of a region on 1 January of a year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Population {
    pub region_code: String,
    pub year: i32,
    pub population: i64,
}

/// A `;`-separated table with a header: its rows as (line number, fields), footer dropped, each
/// row checked to have as many fields as the header.
pub struct Table<'f> {
    pub file: &'f SourceFile,
    pub header: Vec<String>,
    pub header_line: usize,
}

impl Table<'_> {
    /// The index of the first column whose folded name satisfies `pred`.
    pub fn column(&self, what: &str, pred: impl Fn(&str) -> bool) -> Result<usize> {
        self.header
            .iter()
            .position(|h| pred(&h.to_lowercase()))
            .ok_or_else(|| self.file.error(self.header_line, "header", format!("no {what} column")))
    }

    /// The rows after the header as (line number, fields), up to the footer; a row with fewer or more
    /// fields than the header is an error.
    pub fn rows(&self) -> Result<impl Iterator<Item = Result<(usize, Vec<String>)>> + '_> {
        let lines = self.file.lines()?.skip(self.header_line);
        Ok(lines
            .take_while(|line| !line.as_ref().is_ok_and(|(_, line)| is_footer(line)))
            .filter(|line| !line.as_ref().is_ok_and(|(_, line)| line.trim().is_empty()))
            .map(|line| {
                let (n, line) = line?;
                let fields =
                    split_fields(&line).map_err(|f| self.file.error(n, format!("field {f}"), "quote not closed"))?;
                if fields.len() < self.header.len() {
                    let missing = &self.header[fields.len()];
                    return Err(self.file.error(
                        n,
                        missing.clone(),
                        format!("too few fields: {} of {}", fields.len(), self.header.len()),
                    ));
                }
                if fields.len() > self.header.len() {
                    return Err(self.file.error(
                        n,
                        format!("field {}", self.header.len() + 1),
                        format!(
                            "too many fields: {} of {} (a ';' in an unquoted value?)",
                            fields.len(),
                            self.header.len()
                        ),
                    ));
                }
                Ok((n, fields))
            }))
    }
}

/// Checks a CBS code: `GM` + 4 digits, `PV` + 2 digits.
fn code_field(table: &Table, line: usize, col: usize, value: &str, prefix: &str) -> Result<String> {
    let (digits, example) = if prefix == "GM" { (4, "GM0141") } else { (2, "PV23") };
    let ok = value.len() == prefix.len() + digits
        && value.starts_with(prefix)
        && value[prefix.len()..].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(value.to_string())
    } else {
        Err(table.file.error(
            line,
            table.header[col].clone(),
            format!("{value:?} is not a {prefix}-code like {example}"),
        ))
    }
}

fn optional(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// vtsql's own layout (`data/raw/regions.csv`): region_code;region_name;region_level;
/// provincie_code;landsdeel_code;vt_regio_code;former_names (`|`-separated).
pub fn parse_regions(table: &Table) -> Result<Vec<Region>> {
    let col = |name: &str| table.column(name, |h| h == name);
    let (code, name, level) = (col("region_code")?, col("region_name")?, col("region_level")?);
    let (pv, ld, vt, former) =
        (col("provincie_code")?, col("landsdeel_code")?, col("vt_regio_code")?, col("former_names")?);
    let mut regions = Vec::new();
    for row in table.rows()? {
        let (n, f) = row?;
        let level_value = RegionLevel::parse(&f[level]).ok_or_else(|| {
            table.file.error(
                n,
                "region_level",
                format!("unknown level {:?} (gemeente, vt_regio, provincie, landsdeel, land)", f[level]),
            )
        })?;
        if f[code].trim().is_empty() || f[name].trim().is_empty() {
            return Err(table.file.error(n, "region_code", "code and name are required"));
        }
        let provincie_code = optional(&f[pv]);
        let landsdeel_code =
            optional(&f[ld]).or_else(|| provincie_code.as_deref().and_then(landsdeel_of_provincie).map(str::to_string));
        regions.push(Region {
            code: f[code].trim().to_string(),
            name: f[name].trim().to_string(),
            level: level_value,
            provincie_code,
            landsdeel_code,
            vt_regio_code: optional(&f[vt]),
            former_names: f[former].split('|').filter_map(optional).collect(),
            valid_from: None,
            valid_to: None,
        });
    }
    Ok(regions)
}

/// Strips CBS's disambiguating suffix from a gemeente name: `Groningen (gemeente)` → `Groningen`.
fn gemeente_name(name: &str) -> String {
    let name = name.trim();
    name.strip_suffix("(gemeente)").or_else(|| name.strip_suffix("(Gemeente)")).unwrap_or(name).trim_end().to_string()
}

/// "Gebieden in Nederland": gemeente name and code, provincie code and name, population on
/// 1 January of the file's year. Yields regions and, where a population column and year are
/// present, population rows.
pub fn parse_gebieden(table: &Table, year: Option<i32>) -> Result<(Vec<Region>, Vec<Population>)> {
    let name = table.column("gemeente name", |h| h == "municipalityname" || h.starts_with("gemeentenaam"))?;
    let code = table.column("gemeente code", |h| h == "municipalitycode" || h.starts_with("gemeentecode"))?;
    let pv_code = table.column("provincie code", |h| h == "provincecode" || h.starts_with("provinciecode"))?;
    let pv_name = table.column("provincie name", |h| h == "provincename" || h.starts_with("provincienaam"))?;
    let population = table.column("population", |h| h == "population" || h.contains("bevolking")).ok();
    let mut regions = Vec::new();
    let mut people = Vec::new();
    for row in table.rows()? {
        let (n, f) = row?;
        let gm = code_field(table, n, code, f[code].trim(), "GM")?;
        let pv = code_field(table, n, pv_code, f[pv_code].trim(), "PV")?;
        // One provincie row per provincie, not one per gemeente.
        if !regions.iter().any(|r: &Region| r.code == pv) {
            regions.push(Region {
                code: pv.clone(),
                name: f[pv_name].trim().to_string(),
                level: RegionLevel::Provincie,
                provincie_code: None,
                landsdeel_code: landsdeel_of_provincie(&pv).map(str::to_string),
                vt_regio_code: None,
                former_names: vec![],
                valid_from: None,
                valid_to: None,
            });
        }
        regions.push(Region {
            code: gm.clone(),
            name: gemeente_name(&f[name]),
            level: RegionLevel::Gemeente,
            landsdeel_code: landsdeel_of_provincie(&pv).map(str::to_string),
            provincie_code: Some(pv),
            vt_regio_code: None,
            former_names: vec![],
            valid_from: None,
            valid_to: None,
        });
        if let (Some(col), Some(year)) = (population, year) {
            people.push(Population { region_code: gm, year, population: count(table, n, col, &f[col])? });
        }
    }
    Ok((regions, people))
}

/// "Gemeenten alfabetisch": MunicipalCodeGM; MunicipalName; ProvincialCodePV; ProvincialName.
pub fn parse_gemeenten_list(table: &Table) -> Result<Vec<Region>> {
    let code = table.column("MunicipalCodeGM", |h| h == "municipalcodegm")?;
    let name = table.column("MunicipalName", |h| h == "municipalname")?;
    let pv = table.column("ProvincialCodePV", |h| h == "provincialcodepv")?;
    let mut regions = Vec::new();
    for row in table.rows()? {
        let (n, f) = row?;
        let pv_code = code_field(table, n, pv, f[pv].trim(), "PV")?;
        regions.push(Region {
            code: code_field(table, n, code, f[code].trim(), "GM")?,
            name: gemeente_name(&f[name]),
            level: RegionLevel::Gemeente,
            landsdeel_code: landsdeel_of_provincie(&pv_code).map(str::to_string),
            provincie_code: Some(pv_code),
            vt_regio_code: None,
            former_names: vec![],
            valid_from: None,
            valid_to: None,
        });
    }
    Ok(regions)
}

fn count(table: &Table, line: usize, col: usize, value: &str) -> Result<i64> {
    value.trim().parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
        table.file.error(line, table.header[col].clone(), format!("{value:?} is not a number of inhabitants"))
    })
}
