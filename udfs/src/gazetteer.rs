//! The Dutch regions vtsql knows without being told: every gemeente 2019–2025 with its validity, the
//! provincies, landsdelen, Nederland and the Veilig Thuis-regio's with their names per year, which gemeente
//! lies in which VT-regio, provincie and landsdeel each year, the herindelingen, and the population on 1
//! January. The files are in `data/gazetteer/` (derived from public CBS material by `derive.py` there, which
//! its README describes) and are compiled in.
//!
//! Functions over it: [`VtRegio`] (`vt_regio(gm_code, year)`), [`GmSuccessor`] (`gm_successor(code, year)`)
//! and [`GmSuccessorShare`] (`gm_successor_share(code, year)`).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::DOC_SECTION;

/// The first and last year the gazetteer covers.
pub const FIRST_YEAR: i32 = 2019;
pub const LAST_YEAR: i32 = 2025;

const REGIONS: &str = include_str!("../../data/gazetteer/regions.csv");
const MEMBERSHIP: &str = include_str!("../../data/gazetteer/region_membership.csv");
const CHANGES: &str = include_str!("../../data/gazetteer/region_changes.csv");
const NAMES: &str = include_str!("../../data/gazetteer/region_names.csv");
const POPULATION: &str = include_str!("../../data/gazetteer/population.csv");

/// One region: a gemeente, VT-regio, provincie, landsdeel or Nederland.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub code: &'static str,
    /// The latest name.
    pub name: &'static str,
    /// `gemeente`, `vt_regio`, `provincie`, `landsdeel` or `land`.
    pub level: &'static str,
    pub provincie_code: Option<&'static str>,
    pub landsdeel_code: Option<&'static str>,
    /// A gemeente's VT-regio in its last year.
    pub vt_regio_code: Option<&'static str>,
    /// Earlier names under the same code.
    pub former_names: Vec<&'static str>,
    /// The first day it is in the gazetteer (`2019-01-01` for what is older).
    pub valid_from: &'static str,
    /// The first day it no longer exists, if it ended.
    pub valid_to: Option<&'static str>,
}

/// Where a gemeente belonged in one year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub year: i32,
    pub gm_code: &'static str,
    pub vt_regio_code: &'static str,
    pub provincie_code: &'static str,
    pub landsdeel_code: &'static str,
}

/// One part of a herindeling: from `date`, `share` of the inhabitants of `old_code` live in `new_code`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub date: &'static str,
    pub old_code: &'static str,
    pub new_code: &'static str,
    pub share: f64,
}

/// Everything the gazetteer holds, read once.
pub struct Gazetteer {
    pub regions: Vec<Region>,
    pub membership: Vec<Membership>,
    pub changes: Vec<Change>,
    /// (year, code, name): every region's name in each year it existed.
    pub names: Vec<(i32, &'static str, &'static str)>,
    /// (code, year, inhabitants on 1 January).
    pub population: Vec<(&'static str, i32, i64)>,
    member_of: HashMap<(i32, &'static str), usize>,
}

/// The rows of one of the files: `;`-separated, a header first.
fn rows(text: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    text.lines().skip(1).filter(|l| !l.is_empty()).map(|l| l.split(';').collect())
}

fn optional(text: &'static str) -> Option<&'static str> {
    (!text.is_empty()).then_some(text)
}

fn number<T: std::str::FromStr>(text: &str) -> T {
    text.parse().unwrap_or_else(|_| panic!("the compiled-in gazetteer holds {text:?} where a number belongs"))
}

impl Gazetteer {
    fn read() -> Gazetteer {
        let regions = rows(REGIONS)
            .map(|f| Region {
                code: f[0],
                name: f[1],
                level: f[2],
                provincie_code: optional(f[3]),
                landsdeel_code: optional(f[4]),
                vt_regio_code: optional(f[5]),
                former_names: f[6].split('|').filter(|n| !n.is_empty()).collect(),
                valid_from: f[7],
                valid_to: optional(f[8]),
            })
            .collect();
        let membership: Vec<Membership> = rows(MEMBERSHIP)
            .map(|f| Membership {
                year: number(f[0]),
                gm_code: f[1],
                vt_regio_code: f[2],
                provincie_code: f[3],
                landsdeel_code: f[4],
            })
            .collect();
        let changes =
            rows(CHANGES).map(|f| Change { date: f[0], old_code: f[1], new_code: f[2], share: number(f[3]) }).collect();
        let names = rows(NAMES).map(|f| (number(f[0]), f[1], f[2])).collect();
        let population = rows(POPULATION).map(|f| (f[0], number(f[1]), number(f[2]))).collect();
        let member_of = membership.iter().enumerate().map(|(i, m)| ((m.year, m.gm_code), i)).collect();
        Gazetteer { regions, membership, changes, names, population, member_of }
    }

    /// Where gemeente `code` belonged in `year`, if it existed then.
    pub fn membership_of(&self, code: &str, year: i32) -> Option<&Membership> {
        self.member_of.get(&(year, code)).map(|&i| &self.membership[i])
    }

    /// The gemeenten that hold the territory of `code` on 1 January of `year`, with the share of its
    /// inhabitants each holds: the code itself where nothing changed, one gemeente with share 1 after a
    /// merger, several after a split. A code the gazetteer does not know is its own successor.
    pub fn successors<'a>(&'a self, code: &'a str, year: i32) -> Vec<(&'a str, f64)> {
        let mut held: Vec<(&'a str, f64)> = vec![(code, 1.0)];
        let until = format!("{year}-01-01");
        for change in self.changes.iter().filter(|c| c.date <= until.as_str()) {
            let Some(at) = held.iter().position(|(c, _)| *c == change.old_code) else { continue };
            let (_, weight) = held[at];
            let parts: Vec<&Change> =
                self.changes.iter().filter(|c| c.old_code == change.old_code && c.date == change.date).collect();
            held.remove(at);
            for part in parts {
                match held.iter_mut().find(|(c, _)| *c == part.new_code) {
                    Some((_, w)) => *w += weight * part.share,
                    None => held.push((part.new_code, weight * part.share)),
                }
            }
        }
        held
    }
}

/// The Arrow `Date32` of a `YYYY-MM-DD` date of the gazetteer's files.
pub fn day_number(date: &str) -> Option<i32> {
    let mut parts = date.splitn(3, '-').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten(), parts.next().flatten()) {
        (Some(year), Some(month), Some(day)) => crate::halfyear::days_of(i32::try_from(year).ok()?, month, day),
        _ => None,
    }
}

/// The gazetteer, read from the compiled-in files on first use.
pub fn gazetteer() -> &'static Gazetteer {
    static GAZETTEER: LazyLock<Gazetteer> = LazyLock::new(Gazetteer::read);
    &GAZETTEER
}

/// Each row's text and year from two arguments (NULL where either is).
fn code_and_year(args: &ScalarFunctionArgs, function: &str) -> Result<Vec<Option<(String, i32)>>> {
    let rows = args.number_rows;
    let codes = cast(&args.args[0].to_array(rows)?, &DataType::Utf8)?;
    let years = cast(&args.args[1].to_array(rows)?, &DataType::Int64)?;
    let (codes, years) = (codes.as_string::<i32>(), years.as_primitive::<Int64Type>());
    (0..rows)
        .map(|i| {
            if codes.is_null(i) || years.is_null(i) {
                return Ok(None);
            }
            match i32::try_from(years.value(i)) {
                Ok(year) => Ok(Some((codes.value(i).trim().to_string(), year))),
                Err(_) => exec_err!("{function}: {} is not a year", years.value(i)),
            }
        })
        .collect()
}

fn coerce_code_and_year(function: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    match arg_types {
        [code, year] if (code.is_string() || code.is_null()) && (year.is_integer() || year.is_null()) => {
            Ok(vec![DataType::Utf8, DataType::Int64])
        }
        _ => plan_err!("{function} takes a region code and a year, e.g. {function}('GM0370', 2024); got {arg_types:?}"),
    }
}

macro_rules! gazetteer_function {
    ($name:ident, $sql:literal, $return:expr, $doc:ident, $body:expr) => {
        #[derive(Debug, PartialEq, Eq, Hash)]
        pub struct $name {
            signature: Signature,
        }

        impl Default for $name {
            fn default() -> Self {
                $name { signature: Signature::user_defined(Volatility::Immutable) }
            }
        }

        impl ScalarUDFImpl for $name {
            fn name(&self) -> &str {
                $sql
            }
            fn signature(&self) -> &Signature {
                &self.signature
            }
            fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
                coerce_code_and_year($sql, arg_types)
            }
            fn return_type(&self, _: &[DataType]) -> Result<DataType> {
                Ok($return)
            }
            fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
                let rows = code_and_year(&args, $sql)?;
                let body: fn(&[Option<(String, i32)>]) -> ArrayRef = $body;
                Ok(ColumnarValue::Array(body(&rows)))
            }
            fn documentation(&self) -> Option<&Documentation> {
                Some(&$doc)
            }
        }
    };
}

static VT_REGIO_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The Veilig Thuis-regio a gemeente belonged to in a year (2019–2025, from the built-in gazetteer; \
         the table region_membership holds them all). NULL for a code that was no gemeente that year.",
        "vt_regio(gm_code, year)",
    )
    .with_sql_example("```sql\n> SELECT vt_regio('GM0797', 2024), vt_regio('GM0744', 2022), vt_regio('GM0744', 2023);\nVT15 | VT21 | VT15\n```")
    .with_argument("gm_code", "A gemeente's CBS code, e.g. GM0141.")
    .with_argument("year", "The year.")
    .build()
});

static SUCCESSOR_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The gemeente that holds a gemeente's territory on 1 January of a year, across the herindelingen of \
         2019–2025 (table region_changes): the code itself when nothing changed, the new gemeente after a \
         merger (Beemster → Purmerend in 2022), and after a split (Haaren in 2021) the gemeente that received \
         the largest share of its inhabitants. GROUP BY gm_successor(region_code, 2024) harmonises a series to \
         2024's gemeenten; with ssum the intervals of merged parts add up honestly. Where \
         gm_successor_share is below 1 the harmonised figure is an estimate: region_successors divides a \
         split gemeente by population share.",
        "gm_successor(code, year)",
    )
    .with_sql_example(
        "```sql\n> SELECT gm_successor('GM0370', 2023), gm_successor('GM0457', 2022), gm_successor('GM0457', 2023);\nGM0439 | GM0457 | GM0363\n```",
    )
    .with_argument("code", "A gemeente's CBS code of any year.")
    .with_argument("year", "The year whose gemeenten the answer is one of.")
    .with_related_udf("gm_successor_share")
    .build()
});

static SHARE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The share of a gemeente's inhabitants that its gm_successor holds in a year: 1 unless the gemeente \
         was split (Haaren 2021: its villages went to Oisterwijk, Vught, Boxtel and Tilburg), when a figure \
         grouped by gm_successor is an estimate. The shares are population shares (data/gazetteer/README.md).",
        "gm_successor_share(code, year)",
    )
    .with_sql_example(
        "```sql\n> SELECT gm_successor('GM0788', 2024), gm_successor_share('GM0788', 2024);\nGM0824 | 0.4174\n```",
    )
    .with_argument("code", "A gemeente's CBS code of any year.")
    .with_argument("year", "The year whose gemeenten the successor is one of.")
    .with_related_udf("gm_successor")
    .build()
});

/// The successor with the largest share (the first of equals).
fn main_successor(code: &str, year: i32) -> (&str, f64) {
    gazetteer()
        .successors(code, year)
        .into_iter()
        .fold((code, 0.0), |best, (c, s)| if s > best.1 { (c, s) } else { best })
}

gazetteer_function!(VtRegio, "vt_regio", DataType::Utf8, VT_REGIO_DOC, |rows| {
    let g = gazetteer();
    Arc::new(
        rows.iter()
            .map(|r| r.as_ref().and_then(|(code, year)| g.membership_of(code, *year)).map(|m| m.vt_regio_code))
            .collect::<StringArray>(),
    )
});

gazetteer_function!(GmSuccessor, "gm_successor", DataType::Utf8, SUCCESSOR_DOC, |rows| {
    Arc::new(
        rows.iter()
            .map(|r| r.as_ref().map(|(code, year)| main_successor(code, *year).0.to_string()))
            .collect::<StringArray>(),
    )
});

gazetteer_function!(GmSuccessorShare, "gm_successor_share", DataType::Float64, SHARE_DOC, |rows| {
    Arc::new(
        rows.iter().map(|r| r.as_ref().map(|(code, year)| main_successor(code, *year).1)).collect::<Float64Array>(),
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_on(date: &str) -> usize {
        gazetteer()
            .regions
            .iter()
            .filter(|r| r.level == "gemeente" && r.valid_from <= date && r.valid_to.is_none_or(|to| to > date))
            .count()
    }

    #[test]
    fn gemeenten_valid_on_the_first_of_january() {
        for (year, count) in [(2019, 355), (2020, 355), (2021, 352), (2022, 345), (2023, 342), (2024, 342), (2025, 342)]
        {
            assert_eq!(valid_on(&format!("{year}-01-01")), count, "{year}");
        }
        assert_eq!(valid_on("2022-06-01"), 344, "Weesp joined Amsterdam on 24 March 2022");
    }

    #[test]
    fn successors_across_the_herindelingen() {
        let g = gazetteer();
        let one = |code, year| {
            let s = g.successors(code, year);
            assert_eq!(s.len(), 1, "{code} {year}: {s:?}");
            s[0].0.to_string()
        };
        assert_eq!(one("GM0370", 2023), "GM0439");
        assert_eq!(one("GM0370", 2021), "GM0370");
        assert_eq!(one("GM0003", 2021), "GM1979");
        assert_eq!(one("GM0457", 2022), "GM0457");
        assert_eq!(one("GM0457", 2023), "GM0363");
        assert_eq!(one("GM1702", 2024), "GM1982");
        assert_eq!(one("GM0614", 2023), "GM1992");
        assert_eq!(one("GM0141", 2025), "GM0141");
        assert_eq!(one("GM9999", 2025), "GM9999");
        let haaren = g.successors("GM0788", 2024);
        assert_eq!(haaren.len(), 4);
        assert!((haaren.iter().map(|(_, s)| s).sum::<f64>() - 1.0).abs() < 1e-3, "{haaren:?}");
        assert_eq!(main_successor("GM0788", 2024).0, "GM0824");
    }

    #[test]
    fn membership_across_the_brabant_re_division() {
        let g = gazetteer();
        let vt = |code, year| g.membership_of(code, year).map(|m| m.vt_regio_code);
        assert_eq!(vt("GM0744", 2022), Some("VT21"), "Baarle-Nassau in West-Brabant");
        assert_eq!(vt("GM0744", 2023), Some("VT15"), "then Midden-Brabant");
        assert_eq!(vt("GM0797", 2023), Some("VT15"), "Heusden");
        assert_eq!(vt("GM0772", 2022), Some("VT26"), "Eindhoven in Zuidoost-Brabant");
        assert_eq!(vt("GM0772", 2023), Some("VT27"), "then Oost-Brabant");
        assert_eq!(vt("GM0450", 2024), Some("VT17"), "Uitgeest");
        assert_eq!(vt("GM0457", 2023), None, "Weesp was no gemeente in 2023");
    }
}
