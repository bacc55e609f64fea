//! CBS reporting periods: whole years, half-years, quarters and months.
//!
//! CBS writes one period in several ways: the StatLine label (`1e halfjaar 2020*`, `2020 1e kwartaal`,
//! `2020 januari`, `2023*`), the OData code (`2020HJ01`, `2020KW01`, `2020MM01`, `2023JJ00`) and vtsql's
//! canonical text (`2020H1`, `2020Q1`, `2020M01`, `2023`). A trailing `*` marks provisional figures, `**`
//! more firmly provisional ones (*nader voorlopig*). Veilig Thuis publishes half-years and years; other CBS
//! tables (`vtsql fetch` of any table) also quarters and months.

use std::fmt;

/// One reporting period as CBS publishes it. Periods order by year, then by half-year (the year itself
/// first), then within a half-year the half-year itself, its quarters and its months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    /// Calendar year.
    pub year: i32,
    /// 1 or 2 for a half-year, or the half-year a quarter or month falls in; 0 for a whole year. Stored
    /// tables are partitioned by it.
    pub half: u8,
    /// A quarter or month within the half-year, or `Whole` for the half-year or year itself.
    pub part: Part,
}

/// What part of its half-year a period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// The whole half-year, or the whole year.
    Whole,
    /// Quarter 1–4 of the year.
    Quarter(u8),
    /// Month 1–12 of the year.
    Month(u8),
}

/// How final a published figure is, read from the asterisks after a period label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Status {
    /// No asterisk: definitive.
    #[default]
    Definitive,
    /// `*`: voorlopig.
    Provisional,
    /// `**`: nader voorlopig.
    RevisedProvisional,
}

impl Status {
    /// Whether a later release will replace the figure.
    pub fn is_provisional(self) -> bool {
        self != Status::Definitive
    }
}

/// Years outside this range are refused: they are typing errors, not CBS data.
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=2999;

/// The Dutch month names StatLine labels months with (`2020 januari`).
const MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
];

impl Period {
    /// A half-year; `half` must be 1 or 2.
    pub fn half_year(year: i32, half: u8) -> Option<Self> {
        (matches!(half, 1 | 2) && YEARS.contains(&year)).then_some(Period { year, half, part: Part::Whole })
    }

    /// A whole year.
    pub fn whole_year(year: i32) -> Option<Self> {
        YEARS.contains(&year).then_some(Period { year, half: 0, part: Part::Whole })
    }

    /// A quarter; `quarter` must be 1 to 4.
    pub fn quarter(year: i32, quarter: u8) -> Option<Self> {
        (matches!(quarter, 1..=4) && YEARS.contains(&year)).then_some(Period {
            year,
            half: quarter.div_ceil(2),
            part: Part::Quarter(quarter),
        })
    }

    /// A month; `month` must be 1 to 12.
    pub fn month(year: i32, month: u8) -> Option<Self> {
        (matches!(month, 1..=12) && YEARS.contains(&year)).then_some(Period {
            year,
            half: month.div_ceil(6),
            part: Part::Month(month),
        })
    }

    /// Half-years as consecutive integers (2020H1 = 4040, 2020H2 = 4041), for arithmetic.
    /// Meaningful for half-years only.
    pub fn index(self) -> i64 {
        i64::from(self.year) * 2 + i64::from(self.half) - 1
    }

    /// The half-year with this [`Period::index`], if its year is in range.
    pub fn from_index(i: i64) -> Option<Self> {
        Self::half_year(i32::try_from(i.div_euclid(2)).ok()?, (i.rem_euclid(2) + 1) as u8)
    }

    /// Whether this is a whole year.
    pub fn is_year(&self) -> bool {
        self.half == 0
    }

    /// Whether this is a whole year or a half-year: the periods of the Veilig Thuis tables and of the half-year
    /// functions.
    pub fn is_year_or_half_year(&self) -> bool {
        self.part == Part::Whole
    }

    /// Parses every spelling CBS and vtsql use, returning the period and its status.
    ///
    /// Accepted: `2020H1`, `2020h2`, `2020HJ01`, `2020JJ00`, `2020`, `1e halfjaar 2020`, `2020 1e halfjaar`,
    /// `2e halfjaar 2020*`, `2023*`, `2023**`; quarters `2020Q1`, `2020KW01`, `2020 1e kwartaal`,
    /// `1e kwartaal 2020`; months `2020M01`, `2020MM01`, `2020 januari`; with surrounding white space.
    pub fn parse(text: &str) -> Option<(Period, Status)> {
        let text = text.trim();
        let stars = text.len() - text.trim_end_matches('*').len();
        let status = match stars {
            0 => Status::Definitive,
            1 => Status::Provisional,
            2 => Status::RevisedProvisional,
            _ => return None,
        };
        let body = text[..text.len() - stars].trim_end();
        Self::parse_body(body).map(|p| (p, status))
    }

    fn parse_body(body: &str) -> Option<Period> {
        // labels of words: `1e halfjaar 2020`, `2020 1e kwartaal`, `2020 januari`
        let words: Vec<&str> = body.split_whitespace().collect();
        match words[..] {
            [n, unit, year] | [year, n, unit] if year.len() == 4 && n.len() == 2 && n.ends_with('e') => {
                let (year, n) = (parse_year(year)?, n.as_bytes()[0].wrapping_sub(b'0'));
                return match unit {
                    "halfjaar" => Self::half_year(year, n),
                    "kwartaal" => Self::quarter(year, n),
                    _ => None,
                };
            }
            [year, month] => {
                let month = MONTHS.iter().position(|m| *m == month.to_lowercase())?;
                return Self::month(parse_year(year)?, month as u8 + 1);
            }
            [_] => {}
            _ => return None,
        }
        let bytes = body.as_bytes();
        if bytes.len() < 4 {
            return None;
        }
        // a first four bytes that end inside a character are no year either
        let year = parse_year(body.get(..4)?)?;
        let two_digits = |d: &[u8]| match d {
            [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Some((a - b'0') * 10 + (b - b'0')),
            _ => None,
        };
        match &bytes[4..] {
            [] => Self::whole_year(year),
            [b'H', b'J', b'0', h] => Self::half_year(year, h.wrapping_sub(b'0')),
            [b'K', b'W', q @ ..] => Self::quarter(year, two_digits(q)?),
            [b'M', b'M', m @ ..] => Self::month(year, two_digits(m)?),
            b"JJ00" => Self::whole_year(year),
            [b'H' | b'h', h] => Self::half_year(year, h.wrapping_sub(b'0')),
            [b'Q' | b'q', q] => Self::quarter(year, q.wrapping_sub(b'0')),
            [b'M' | b'm', m @ ..] => Self::month(year, two_digits(m)?),
            _ => None,
        }
    }

    /// The StatLine label without status marks: `1e halfjaar 2020`, `2020 1e kwartaal`, `2020 januari` or
    /// `2020`.
    pub fn label(&self) -> String {
        match (self.half, self.part) {
            (0, _) => self.year.to_string(),
            (h, Part::Whole) => format!("{h}e halfjaar {}", self.year),
            (_, Part::Quarter(q)) => format!("{} {q}e kwartaal", self.year),
            (_, Part::Month(m)) => format!("{} {}", self.year, MONTHS[usize::from(m - 1)]),
        }
    }

    /// The CBS OData code: `2020HJ01`, `2020KW01`, `2020MM01` or `2020JJ00`.
    pub fn cbs_code(&self) -> String {
        match (self.half, self.part) {
            (0, _) => format!("{}JJ00", self.year),
            (h, Part::Whole) => format!("{}HJ0{h}", self.year),
            (_, Part::Quarter(q)) => format!("{}KW0{q}", self.year),
            (_, Part::Month(m)) => format!("{}MM{m:02}", self.year),
        }
    }
}

/// Canonical text: `2020H1` for a half-year, `2020Q1` a quarter, `2020M01` a month, `2020` a whole year.
impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.half, self.part) {
            (0, _) => write!(f, "{}", self.year),
            (h, Part::Whole) => write!(f, "{}H{h}", self.year),
            (_, Part::Quarter(q)) => write!(f, "{}Q{q}", self.year),
            (_, Part::Month(m)) => write!(f, "{}M{m:02}", self.year),
        }
    }
}

fn parse_year(text: &str) -> Option<i32> {
    if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Option<(String, Status)> {
        Period::parse(text).map(|(p, s)| (p.to_string(), s))
    }

    #[test]
    fn parses_every_spelling() {
        use Status::*;
        assert_eq!(p("1e halfjaar 2020*"), Some(("2020H1".into(), Provisional)));
        assert_eq!(p("2e halfjaar 2020"), Some(("2020H2".into(), Definitive)));
        assert_eq!(p("2e halfjaar 2021**"), Some(("2021H2".into(), RevisedProvisional)));
        assert_eq!(p("2020HJ01"), Some(("2020H1".into(), Definitive)));
        assert_eq!(p("2020HJ02"), Some(("2020H2".into(), Definitive)));
        assert_eq!(p("2023JJ00"), Some(("2023".into(), Definitive)));
        assert_eq!(p("2023*"), Some(("2023".into(), Provisional)));
        assert_eq!(p(" 2020H2 "), Some(("2020H2".into(), Definitive)));
        assert_eq!(p("2020h1"), Some(("2020H1".into(), Definitive)));
        assert_eq!(p("2020 2e halfjaar"), Some(("2020H2".into(), Definitive)));
        assert_eq!(p("2020KW01"), Some(("2020Q1".into(), Definitive)));
        assert_eq!(p("2020 1e kwartaal*"), Some(("2020Q1".into(), Provisional)));
        assert_eq!(p("4e kwartaal 2019"), Some(("2019Q4".into(), Definitive)));
        assert_eq!(p("2020q3"), Some(("2020Q3".into(), Definitive)));
        assert_eq!(p("2021MM12"), Some(("2021M12".into(), Definitive)));
        assert_eq!(p("2021 September"), Some(("2021M09".into(), Definitive)));
        assert_eq!(p("2021m02"), Some(("2021M02".into(), Definitive)));
    }

    /// A quarter or month sits in the half-year it falls in (the partition it is stored in), and periods of
    /// a year order the year first, then each half-year before its quarters and months.
    #[test]
    fn quarters_and_months_fall_in_their_half_year() {
        let q = |t: &str| Period::parse(t).unwrap().0;
        assert_eq!((q("2020Q2").half, q("2020Q3").half, q("2020M06").half, q("2020M07").half), (1, 2, 1, 2));
        assert!(!q("2020Q1").is_year_or_half_year() && q("2020H1").is_year_or_half_year() && q("2020").is_year());
        let mut periods: Vec<Period> =
            ["2020M07", "2020Q3", "2020H2", "2020M01", "2020Q1", "2020H1", "2020"].map(q).into();
        periods.sort();
        let texts: Vec<String> = periods.iter().map(Period::to_string).collect();
        assert_eq!(texts, ["2020", "2020H1", "2020Q1", "2020M01", "2020H2", "2020Q3", "2020M07"]);
    }

    #[test]
    fn refuses_what_is_not_a_period() {
        for bad in [
            "",
            "2020H3",
            "2020HJ03",
            "3e halfjaar 2020",
            "20",
            "2020***",
            "2020JJ01",
            "abcd",
            "1e halfjaar 20",
            "2020Q5",
            "2020KW05",
            "2020KW1",
            "2020MM13",
            "2020M00",
            "2020M1",
            "5e kwartaal 2020",
            "2020 januarie",
            "2020 1e maand",
            "1e kwartaal 2020 extra",
            "2020 januari 3",
        ] {
            assert_eq!(Period::parse(bad), None, "{bad:?}");
        }
    }

    /// Regression (hardening probe, item 7): multi-byte characters where a year or half is expected.
    #[test]
    fn multi_byte_text_is_refused_not_a_panic() {
        for bad in [
            "abcé",
            "é",
            "20é0",
            "2020é",
            "2020Hé",
            "1e halfjaar 20é0",
            "ééé*",
            "2020HJ0é",
            "€€€€",
            "2020 é",
            "éé 1e kwartaal",
            "2020Mé",
            "2020KWé",
        ] {
            assert_eq!(Period::parse(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Any text parses to a period or to nothing, and a period's own spellings read back as it.
        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,24}") {
            if let Some((period, _)) = Period::parse(&text) {
                proptest::prop_assert_eq!(Period::parse(&period.to_string()).map(|(p, _)| p), Some(period));
            }
        }
    }

    #[test]
    fn labels_and_codes_round_trip() {
        for text in ["2019H1", "2019H2", "2024", "2019Q1", "2019Q4", "2019M01", "2019M12"] {
            let (period, _) = Period::parse(text).unwrap();
            assert_eq!(Period::parse(&period.label()).unwrap().0, period);
            assert_eq!(Period::parse(&period.cbs_code()).unwrap().0, period);
            assert_eq!(period.to_string(), text);
        }
    }
}
