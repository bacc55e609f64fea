//! The region dimension: gemeenten, Veilig Thuis-regio's, provincies, landsdelen and Nederland, and
//! how StatLine labels (`Almelo`, `Drenthe (VT)`, `Drenthe (PV)`, `Noord-Nederland (LD)`) resolve to
//! CBS codes.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Date32Array, RecordBatch, StringArray};

/// The level of a region, as stored in `region_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RegionLevel {
    Land,
    Landsdeel,
    Provincie,
    VtRegio,
    Gemeente,
    /// A district within a gemeente (code `WK` + the gemeente's four digits + two); the generator's
    /// sub-municipal regions.
    Wijk,
}

impl RegionLevel {
    pub const ALL: [RegionLevel; 6] = [
        RegionLevel::Land,
        RegionLevel::Landsdeel,
        RegionLevel::Provincie,
        RegionLevel::VtRegio,
        RegionLevel::Gemeente,
        RegionLevel::Wijk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RegionLevel::Land => "land",
            RegionLevel::Landsdeel => "landsdeel",
            RegionLevel::Provincie => "provincie",
            RegionLevel::VtRegio => "vt_regio",
            RegionLevel::Gemeente => "gemeente",
            RegionLevel::Wijk => "wijk",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// The suffix StatLine puts after a name of this level, if any.
    fn statline_suffix(self) -> Option<&'static str> {
        match self {
            RegionLevel::Landsdeel => Some("(ld)"),
            RegionLevel::Provincie => Some("(pv)"),
            RegionLevel::VtRegio => Some("(vt)"),
            RegionLevel::Gemeente => Some("(gemeente)"),
            RegionLevel::Land | RegionLevel::Wijk => None,
        }
    }
}

/// One region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub code: String,
    pub name: String,
    pub level: RegionLevel,
    pub provincie_code: Option<String>,
    pub landsdeel_code: Option<String>,
    pub vt_regio_code: Option<String>,
    /// Earlier names under the same code (a renamed VT-regio, for example).
    pub former_names: Vec<String>,
    /// The first day it existed (as far as vtsql knows) and the first day it no longer did, as days since
    /// 1970-01-01.
    pub valid_from: Option<i32>,
    pub valid_to: Option<i32>,
}

/// Folds a name for matching: letter case, diacritics, hyphens and repeated spaces do not count,
/// so `Fryslân`, `Fryslan`, `West-brabant` and `West-Brabant` meet.
pub fn fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut last_space = true;
    for c in name.chars() {
        let c = match c {
            'á' | 'à' | 'â' | 'ä' | 'Á' | 'Â' | 'Ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'Ê' | 'Ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' | 'Ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'Ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' | 'Ü' => 'u',
            '-' | '\u{a0}' => ' ',
            c => c,
        };
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.extend(c.to_lowercase());
            last_space = false;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// All known regions, with look-ups by code and by (level, folded name).
#[derive(Debug, Clone, Default)]
pub struct Regions {
    list: Vec<Region>,
    by_code: HashMap<String, usize>,
    by_name: HashMap<(RegionLevel, String), usize>,
}

impl Regions {
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.list.iter()
    }

    pub fn by_code(&self, code: &str) -> Option<&Region> {
        self.by_code.get(code).map(|&i| &self.list[i])
    }

    /// Adds a region or updates the one with the same code. Facts the new record lacks (a VT-regio
    /// that one source knows and another does not) are kept; a new name keeps the old one as former.
    pub fn upsert(&mut self, region: Region) {
        self.upsert_unindexed(region);
        self.reindex_names();
    }

    /// Upserts many regions, indexing their names once at the end (upserting one by one is quadratic).
    pub fn upsert_all(&mut self, regions: impl IntoIterator<Item = Region>) {
        for region in regions {
            self.upsert_unindexed(region);
        }
        self.reindex_names();
    }

    fn upsert_unindexed(&mut self, mut region: Region) {
        match self.by_code.get(&region.code) {
            Some(&i) => {
                let old = self.list[i].clone();
                region.provincie_code = region.provincie_code.or(old.provincie_code);
                region.landsdeel_code = region.landsdeel_code.or(old.landsdeel_code);
                region.vt_regio_code = region.vt_regio_code.or(old.vt_regio_code);
                region.valid_from = region.valid_from.or(old.valid_from);
                region.valid_to = region.valid_to.or(old.valid_to);
                for name in old.former_names.into_iter().chain(std::iter::once(old.name)) {
                    if fold(&name) != fold(&region.name) && !region.former_names.iter().any(|n| fold(n) == fold(&name))
                    {
                        region.former_names.push(name);
                    }
                }
                self.list[i] = region;
            }
            None => {
                self.by_code.insert(region.code.clone(), self.list.len());
                self.list.push(region);
            }
        }
    }

    fn reindex_names(&mut self) {
        self.by_name.clear();
        for (i, r) in self.list.iter().enumerate() {
            // Current names win over former ones, so index former names first.
            for name in &r.former_names {
                self.by_name.insert((r.level, fold(name)), i);
            }
        }
        for (i, r) in self.list.iter().enumerate() {
            self.by_name.insert((r.level, fold(&r.name)), i);
        }
    }

    /// Finds a region by name within one level.
    pub fn by_name(&self, level: RegionLevel, name: &str) -> Option<&Region> {
        self.by_name.get(&(level, fold(name))).map(|&i| &self.list[i])
    }

    /// Resolves a StatLine region label: a CBS code (`GM0141`), a name with a level suffix
    /// (`Drenthe (VT)`, `Groningen (gemeente)`), `Nederland`, or a plain gemeente name.
    pub fn resolve_label(&self, label: &str) -> Option<&Region> {
        let label = label.trim();
        if let Some(r) = self.by_code(label) {
            return Some(r);
        }
        let folded = fold(label);
        for level in RegionLevel::ALL {
            if let Some(suffix) = level.statline_suffix()
                && let Some(name) = folded.strip_suffix(suffix)
            {
                return self.by_name.get(&(level, name.trim_end().to_string())).map(|&i| &self.list[i]);
            }
        }
        [RegionLevel::Gemeente, RegionLevel::Land]
            .into_iter()
            .find_map(|level| self.by_name.get(&(level, folded.clone())))
            .map(|&i| &self.list[i])
    }

    /// Every region of the built-in gazetteer (`vtsql_udfs::gazetteer`): where every data directory starts.
    pub fn built_in() -> Regions {
        let mut regions = Regions::default();
        regions.upsert_all(vtsql_udfs::gazetteer::gazetteer().regions.iter().filter_map(|r| {
            Some(Region {
                code: r.code.to_string(),
                name: r.name.to_string(),
                level: RegionLevel::parse(r.level)?,
                provincie_code: r.provincie_code.map(str::to_string),
                landsdeel_code: r.landsdeel_code.map(str::to_string),
                vt_regio_code: r.vt_regio_code.map(str::to_string),
                former_names: r.former_names.iter().map(|n| n.to_string()).collect(),
                valid_from: vtsql_udfs::gazetteer::day_number(r.valid_from),
                valid_to: r.valid_to.and_then(vtsql_udfs::gazetteer::day_number),
            })
        }));
        regions
    }

    /// The table `regions`, sorted by the text of level, then code (the order its Parquet declares).
    pub fn to_batch(&self) -> arrow::error::Result<RecordBatch> {
        let mut sorted: Vec<&Region> = self.list.iter().collect();
        sorted.sort_by(|a, b| (a.level.as_str(), &a.code).cmp(&(b.level.as_str(), &b.code)));
        let column = |f: &dyn Fn(&Region) -> Option<String>| -> ArrayRef {
            Arc::new(sorted.iter().map(|r| f(r)).collect::<StringArray>())
        };
        RecordBatch::try_new(
            crate::schema::REGIONS.schema(),
            vec![
                column(&|r| Some(r.code.clone())),
                column(&|r| Some(r.name.clone())),
                column(&|r| Some(r.level.as_str().to_string())),
                column(&|r| r.provincie_code.clone()),
                column(&|r| r.landsdeel_code.clone()),
                column(&|r| r.vt_regio_code.clone()),
                column(&|r| (!r.former_names.is_empty()).then(|| r.former_names.join("|"))),
                Arc::new(sorted.iter().map(|r| r.valid_from).collect::<Date32Array>()),
                Arc::new(sorted.iter().map(|r| r.valid_to).collect::<Date32Array>()),
            ],
        )
    }

    /// Reads back what [`Regions::to_batch`] wrote.
    pub fn extend_from_batch(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let column = |name: &str| -> Result<&StringArray, String> {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .ok_or_else(|| format!("regions table has no text column {name}"))
        };
        let (code, name, level) = (column("region_code")?, column("region_name")?, column("region_level")?);
        let (pv, ld, vt, former) =
            (column("provincie_code")?, column("landsdeel_code")?, column("vt_regio_code")?, column("former_names")?);
        let opt = |a: &StringArray, i| (!a.is_null(i)).then(|| a.value(i).to_string());
        // files written before regions had a validity lack its columns
        let date =
            |name: &str| batch.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<Date32Array>().cloned());
        let (valid_from, valid_to) = (date("valid_from"), date("valid_to"));
        let day = |a: &Option<Date32Array>, i: usize| a.as_ref().and_then(|a| (!a.is_null(i)).then(|| a.value(i)));
        let mut read = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let level = RegionLevel::parse(level.value(i))
                .ok_or_else(|| format!("regions table: unknown region_level {:?}", level.value(i)))?;
            read.push(Region {
                code: code.value(i).to_string(),
                name: name.value(i).to_string(),
                level,
                provincie_code: opt(pv, i),
                landsdeel_code: opt(ld, i),
                vt_regio_code: opt(vt, i),
                former_names: opt(former, i).map(|s| s.split('|').map(str::to_string).collect()).unwrap_or_default(),
                valid_from: day(&valid_from, i),
                valid_to: day(&valid_to, i),
            });
        }
        self.upsert_all(read);
        Ok(())
    }
}

/// The landsdeel (LD01..LD04) a provincie belongs to.
pub fn landsdeel_of_provincie(provincie_code: &str) -> Option<&'static str> {
    Some(match provincie_code {
        "PV20" | "PV21" | "PV22" => "LD01",
        "PV23" | "PV24" | "PV25" => "LD02",
        "PV26" | "PV27" | "PV28" | "PV29" => "LD03",
        "PV30" | "PV31" => "LD04",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(code: &str, name: &str, level: RegionLevel) -> Region {
        Region {
            code: code.into(),
            name: name.into(),
            level,
            provincie_code: None,
            landsdeel_code: None,
            vt_regio_code: None,
            former_names: vec![],
            valid_from: None,
            valid_to: None,
        }
    }

    fn sample() -> Regions {
        let mut r = Regions::default();
        r.upsert(region("NL01", "Nederland", RegionLevel::Land));
        r.upsert(region("LD01", "Noord-Nederland", RegionLevel::Landsdeel));
        r.upsert(region("PV22", "Drenthe", RegionLevel::Provincie));
        r.upsert(region("PV21", "Fryslân", RegionLevel::Provincie));
        r.upsert(region("VT02", "Drenthe", RegionLevel::VtRegio));
        r.upsert(region("VT21", "West-brabant", RegionLevel::VtRegio));
        r.upsert(region("GM0141", "Almelo", RegionLevel::Gemeente));
        r.upsert(region("GM0014", "Groningen", RegionLevel::Gemeente));
        r.upsert(region("PV20", "Groningen", RegionLevel::Provincie));
        r
    }

    #[test]
    fn statline_labels_resolve_by_level() {
        let r = sample();
        let code = |label| r.resolve_label(label).map(|r| r.code.as_str());
        assert_eq!(code("Almelo"), Some("GM0141"));
        assert_eq!(code("Drenthe (VT)"), Some("VT02"));
        assert_eq!(code("Drenthe (PV)"), Some("PV22"));
        assert_eq!(code("Noord-Nederland (LD)"), Some("LD01"));
        assert_eq!(code("Nederland"), Some("NL01"));
        assert_eq!(code("Groningen"), Some("GM0014"));
        assert_eq!(code("Groningen (gemeente)"), Some("GM0014"));
        assert_eq!(code("Groningen (PV)"), Some("PV20"));
        assert_eq!(code("Fryslan (PV)"), Some("PV21"));
        assert_eq!(code("West-Brabant (VT)"), Some("VT21"));
        assert_eq!(code("GM0141"), Some("GM0141"));
        assert_eq!(code("Drenthe"), None);
        assert_eq!(code("Atlantis"), None);
    }

    #[test]
    fn renaming_keeps_the_former_name_resolvable() {
        let mut r = sample();
        r.upsert(region("VT16", "Noord-Brabant Noord", RegionLevel::VtRegio));
        r.upsert(region("VT16", "Brabant Noordoost", RegionLevel::VtRegio));
        assert_eq!(r.resolve_label("Noord-Brabant Noord (VT)").unwrap().name, "Brabant Noordoost");
        assert_eq!(r.resolve_label("Brabant Noordoost (VT)").unwrap().code, "VT16");
    }

    #[test]
    fn batch_round_trip() {
        let mut r = sample();
        let mut almelo = region("GM0141", "Almelo", RegionLevel::Gemeente);
        almelo.vt_regio_code = Some("VT19".into());
        r.upsert(almelo);
        let mut back = Regions::default();
        back.extend_from_batch(&r.to_batch().unwrap()).unwrap();
        assert_eq!(back.len(), r.len());
        assert_eq!(back.by_code("GM0141").unwrap().vt_regio_code.as_deref(), Some("VT19"));
    }
}
