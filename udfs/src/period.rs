//! CBS reporting periods: half-years and whole years.
//!
//! CBS writes one period in several ways: the StatLine label (`1e halfjaar 2020*`, `2023*`), the
//! OData code (`2020HJ01`, `2023JJ00`) and vtsql's canonical text (`2020H1`, `2023`). A trailing `*`
//! marks provisional figures, `**` more firmly provisional ones (*nader voorlopig*).

use std::fmt;

/// One reporting period as CBS publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    /// Calendar year.
    pub year: i32,
    /// 1 or 2 for a half-year, 0 for a whole year.
    pub half: u8,
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

/// Years outside this range are refused: they are typing errors, not Veilig Thuis data.
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=2999;

impl Period {
    /// A half-year; `half` must be 1 or 2.
    pub fn half_year(year: i32, half: u8) -> Option<Self> {
        (matches!(half, 1 | 2) && YEARS.contains(&year)).then_some(Period { year, half })
    }

    /// A whole year.
    pub fn whole_year(year: i32) -> Option<Self> {
        YEARS.contains(&year).then_some(Period { year, half: 0 })
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

    /// Whether this is a whole year rather than a half-year.
    pub fn is_year(&self) -> bool {
        self.half == 0
    }

    /// Parses every spelling CBS and vtsql use, returning the period and its status.
    ///
    /// Accepted: `2020H1`, `2020h2`, `2020HJ01`, `2020JJ00`, `2020`, `1e halfjaar 2020`,
    /// `2e halfjaar 2020*`, `2023*`, `2023**`, with surrounding white space.
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
        let bytes = body.as_bytes();
        // `1e halfjaar 2020`
        if let Some(rest) = body
            .strip_prefix("1e halfjaar ")
            .map(|r| (1, r))
            .or_else(|| body.strip_prefix("2e halfjaar ").map(|r| (2, r)))
        {
            return Self::half_year(parse_year(rest.1.trim_start())?, rest.0);
        }
        if bytes.len() < 4 {
            return None;
        }
        // a first four bytes that end inside a character are no year either
        let year = parse_year(body.get(..4)?)?;
        match &bytes[4..] {
            [] => Self::whole_year(year),
            [b'H' | b'h', h] => Self::half_year(year, h.wrapping_sub(b'0')),
            [b'H', b'J', b'0', h] => Self::half_year(year, h.wrapping_sub(b'0')),
            b"JJ00" => Self::whole_year(year),
            _ => None,
        }
    }

    /// The StatLine label without status marks: `1e halfjaar 2020` or `2020`.
    pub fn label(&self) -> String {
        match self.half {
            0 => self.year.to_string(),
            h => format!("{h}e halfjaar {}", self.year),
        }
    }

    /// The CBS OData code: `2020HJ01` or `2020JJ00`.
    pub fn cbs_code(&self) -> String {
        match self.half {
            0 => format!("{}JJ00", self.year),
            h => format!("{}HJ0{h}", self.year),
        }
    }
}

/// Canonical text: `2020H1` for a half-year, `2020` for a whole year.
impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.half {
            0 => write!(f, "{}", self.year),
            h => write!(f, "{}H{h}", self.year),
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
    }

    #[test]
    fn refuses_what_is_not_a_period() {
        for bad in ["", "2020H3", "2020HJ03", "3e halfjaar 2020", "20", "2020***", "2020JJ01", "abcd", "1e halfjaar 20"]
        {
            assert_eq!(Period::parse(bad), None, "{bad:?}");
        }
    }

    /// Regression (hardening probe, item 7): multi-byte characters where a year or half is expected.
    #[test]
    fn multi_byte_text_is_refused_not_a_panic() {
        for bad in ["abcé", "é", "20é0", "2020é", "2020Hé", "1e halfjaar 20é0", "ééé*", "2020HJ0é", "€€€€"]
        {
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
        for text in ["2019H1", "2019H2", "2024"] {
            let (period, _) = Period::parse(text).unwrap();
            assert_eq!(Period::parse(&period.label()).unwrap().0, period);
            assert_eq!(Period::parse(&period.cbs_code()).unwrap().0, period);
            assert_eq!(period.to_string(), text);
        }
    }
}
