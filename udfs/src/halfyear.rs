//! Half-year arithmetic: `halfyear`, `try_halfyear`, `hy_add`, `hy_diff`, `hy_year`, `hy_half`,
//! `hy_start`, `hy_end`, `hy_label`, `hy_cbs`.
//!
//! The canonical value is text `YYYYHn` (`2020H1`): it sorts in time order and is what
//! `veilig_thuis.period` holds. Every function also reads the CBS spellings (`2020HJ01`,
//! `1e halfjaar 2020*`) so that raw labels can be used directly; dates and timestamps fall in
//! the half-year that contains them.

use std::fmt::Write;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Date32Array, Int64Array, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::scalar::ScalarValue;

use crate::period::Period;

use crate::DOC_SECTION;

/// Days from 0001-01-01 (CE day 1) to 1970-01-01, for Date32.
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;

/// What one half-year function computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HalfYearOp {
    Parse,
    TryParse,
    Add,
    Diff,
    Year,
    Half,
    Start,
    End,
    Label,
    Cbs,
}

impl HalfYearOp {
    pub const ALL: [HalfYearOp; 10] = [
        HalfYearOp::Parse,
        HalfYearOp::TryParse,
        HalfYearOp::Add,
        HalfYearOp::Diff,
        HalfYearOp::Year,
        HalfYearOp::Half,
        HalfYearOp::Start,
        HalfYearOp::End,
        HalfYearOp::Label,
        HalfYearOp::Cbs,
    ];

    fn name(self) -> &'static str {
        match self {
            HalfYearOp::Parse => "halfyear",
            HalfYearOp::TryParse => "try_halfyear",
            HalfYearOp::Add => "hy_add",
            HalfYearOp::Diff => "hy_diff",
            HalfYearOp::Year => "hy_year",
            HalfYearOp::Half => "hy_half",
            HalfYearOp::Start => "hy_start",
            HalfYearOp::End => "hy_end",
            HalfYearOp::Label => "hy_label",
            HalfYearOp::Cbs => "hy_cbs",
        }
    }

    fn arity(self) -> usize {
        match self {
            HalfYearOp::Add | HalfYearOp::Diff => 2,
            _ => 1,
        }
    }

    fn return_type(self) -> DataType {
        match self {
            HalfYearOp::Parse | HalfYearOp::TryParse | HalfYearOp::Add | HalfYearOp::Label | HalfYearOp::Cbs => {
                DataType::Utf8
            }
            HalfYearOp::Diff | HalfYearOp::Year | HalfYearOp::Half => DataType::Int64,
            HalfYearOp::Start | HalfYearOp::End => DataType::Date32,
        }
    }

    /// (description, syntax, example, argument notes)
    fn doc(self) -> (&'static str, &'static str, &'static str) {
        match self {
            HalfYearOp::Parse => (
                "Reads a half-year in any CBS spelling (`2020H1`, `2020HJ01`, `1e halfjaar 2020*`) or a date or timestamp, and returns the canonical `YYYYHn`. A whole year (`2023`, `2023JJ00`) stays `2023`. Unreadable text is an error naming the value; see try_halfyear.",
                "halfyear(value)",
                "> SELECT halfyear('2e halfjaar 2020*'), halfyear(DATE '2021-08-15');\n2020H2 | 2021H2",
            ),
            HalfYearOp::TryParse => (
                "Like halfyear, but NULL instead of an error for unreadable text.",
                "try_halfyear(value)",
                "> SELECT try_halfyear('3e halfjaar 2020');\nNULL",
            ),
            HalfYearOp::Add => (
                "The half-year n half-years after p (before it when n is negative).",
                "hy_add(p, n)",
                "> SELECT hy_add('2020H1', 3), hy_add('2020H1', -1);\n2021H2 | 2019H2",
            ),
            HalfYearOp::Diff => (
                "The number of half-years from b to a (a − b).",
                "hy_diff(a, b)",
                "> SELECT hy_diff('2025H1', '2019H2');\n11",
            ),
            HalfYearOp::Year => ("The year of a half-year or year.", "hy_year(p)", "> SELECT hy_year('2020H2');\n2020"),
            HalfYearOp::Half => (
                "1 or 2 for a half-year, 0 for a whole year.",
                "hy_half(p)",
                "> SELECT hy_half('2e halfjaar 2020');\n2",
            ),
            HalfYearOp::Start => (
                "The first day of the period (1 January or 1 July) as a date.",
                "hy_start(p)",
                "> SELECT hy_start('2020H2');\n2020-07-01",
            ),
            HalfYearOp::End => (
                "The last day of the period (30 June or 31 December) as a date.",
                "hy_end(p)",
                "> SELECT hy_end('2020H1');\n2020-06-30",
            ),
            HalfYearOp::Label => (
                "The StatLine label: `1e halfjaar 2020`, or the year for a whole year.",
                "hy_label(p)",
                "> SELECT hy_label('2020H2');\n2e halfjaar 2020",
            ),
            HalfYearOp::Cbs => (
                "The CBS OData period code: `2020HJ01`, or `2020JJ00` for a whole year.",
                "hy_cbs(p)",
                "> SELECT hy_cbs(halfyear('1e halfjaar 2021*'));\n2021HJ01",
            ),
        }
    }
}

/// One half-year function; [`HalfYearOp`] says which.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HalfYearFunction {
    op: HalfYearOp,
    signature: Signature,
}

static DOCS: LazyLock<Vec<Documentation>> = LazyLock::new(|| {
    HalfYearOp::ALL
        .iter()
        .map(|op| {
            let (description, syntax, example) = op.doc();
            let mut builder = Documentation::builder(DOC_SECTION, description, syntax)
                .with_sql_example(format!("```sql\n{example}\n```"));
            builder = match op {
                HalfYearOp::Add => builder
                    .with_argument("p", "A half-year in any spelling halfyear reads.")
                    .with_argument("n", "Number of half-years to add; may be negative."),
                HalfYearOp::Diff => builder
                    .with_argument("a", "A half-year.")
                    .with_argument("b", "A half-year."),
                _ => builder.with_argument(
                    "p",
                    "Text in any spelling halfyear reads (Utf8, LargeUtf8, Utf8View or dictionary), or a date or timestamp.",
                ),
            };
            builder.build()
        })
        .collect()
});

impl HalfYearFunction {
    pub fn new(op: HalfYearOp) -> Self {
        HalfYearFunction { op, signature: Signature::user_defined(Volatility::Immutable) }
    }

    /// Every half-year function, ready to register.
    pub fn all() -> Vec<ScalarUDF> {
        HalfYearOp::ALL.iter().map(|op| ScalarUDF::new_from_impl(HalfYearFunction::new(*op))).collect()
    }
}

fn is_period_like(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => true,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => true,
        DataType::Dictionary(_, value) => is_period_like(value),
        _ => false,
    }
}

impl ScalarUDFImpl for HalfYearFunction {
    fn name(&self) -> &str {
        self.op.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.op.name();
        if arg_types.len() != self.op.arity() {
            return plan_err!("{name} takes {} argument(s), got {}", self.op.arity(), arg_types.len());
        }
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if self.op == HalfYearOp::Add && i == 1 {
                    return if t.is_integer() || t.is_null() {
                        Ok(DataType::Int64)
                    } else {
                        plan_err!("{name}: n must be a whole number, got {t}")
                    };
                }
                if is_period_like(t) {
                    Ok(t.clone())
                } else {
                    plan_err!("{name}: expected a half-year as text, date or timestamp, got {t}")
                }
            })
            .collect()
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.op.return_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let result = self.evaluate(&arrays)?;
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        HalfYearOp::ALL.iter().position(|op| *op == self.op).map(|i| &DOCS[i])
    }
}

fn date_of(days: i32) -> Option<Period> {
    use chrono::{Datelike, NaiveDate};
    let date = NaiveDate::from_num_days_from_ce_opt(days.checked_add(UNIX_EPOCH_CE_DAYS)?)?;
    Period::half_year(date.year(), if date.month() <= 6 { 1 } else { 2 })
}

/// The Arrow `Date32` of a day: days since 1970-01-01.
pub fn days_of(year: i32, month: u32, day: u32) -> Option<i32> {
    use chrono::{Datelike, NaiveDate};
    NaiveDate::from_ymd_opt(year, month, day).map(|d| d.num_days_from_ce() - UNIX_EPOCH_CE_DAYS)
}

/// Reads periods from any accepted array type. `strict`: unreadable text is an error naming it.
fn read_periods(array: &ArrayRef, function: &str, strict: bool) -> Result<Vec<Option<Period>>> {
    let parse = |text: Option<&str>| -> Result<Option<Period>> {
        match text {
            None => Ok(None),
            Some(t) => match Period::parse(t) {
                Some((p, _)) if p.is_year_or_half_year() => Ok(Some(p)),
                Some((p, _)) if strict => exec_err!("{function}: {t:?} is the quarter or month {p}, not a half-year"),
                None if strict => exec_err!(
                    "{function}: {t:?} is not a half-year (expected e.g. 2020H1, 2020HJ01 or 1e halfjaar 2020)"
                ),
                _ => Ok(None),
            },
        }
    };
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().iter().map(parse).collect(),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().map(parse).collect(),
        DataType::Utf8View => array.as_string_view().iter().map(parse).collect(),
        DataType::Null => Ok(vec![None; array.len()]),
        DataType::Dictionary(..) => {
            let dict = array.as_any_dictionary();
            let values = read_periods(dict.values(), function, strict)?;
            let keys = dict.normalized_keys();
            Ok((0..array.len()).map(|i| if array.is_null(i) { None } else { values[keys[i]] }).collect())
        }
        DataType::Date32 => Ok(array
            .as_primitive::<datafusion::arrow::datatypes::Date32Type>()
            .iter()
            .map(|d| d.and_then(date_of))
            .collect()),
        DataType::Date64 | DataType::Timestamp(..) => read_periods(&cast(array, &DataType::Date32)?, function, strict),
        other => exec_err!("{function}: cannot read a half-year from {other}"),
    }
}

fn half_years_only(periods: &[Option<Period>], function: &str) -> Result<()> {
    match periods.iter().flatten().find(|p| p.is_year()) {
        Some(p) => exec_err!("{function}: {p} is a whole year, not a half-year"),
        None => Ok(()),
    }
}

fn text_array(
    periods: &[Option<Period>],
    write: impl Fn(&mut StringBuilder, Period) -> std::fmt::Result,
) -> Result<ArrayRef> {
    let mut builder = StringBuilder::with_capacity(periods.len(), periods.len() * 8);
    for p in periods {
        match p {
            Some(p) => {
                write(&mut builder, *p)?;
                builder.append_value("");
            }
            None => builder.append_null(),
        }
    }
    Ok(Arc::new(builder.finish()))
}

impl HalfYearFunction {
    fn evaluate(&self, arrays: &[ArrayRef]) -> Result<ArrayRef> {
        let name = self.op.name();
        let strict = self.op != HalfYearOp::TryParse;
        let periods = read_periods(&arrays[0], name, strict)?;
        let canonical = |b: &mut StringBuilder, p: Period| write!(b, "{p}");
        match self.op {
            HalfYearOp::Parse | HalfYearOp::TryParse => text_array(&periods, canonical),
            HalfYearOp::Add => {
                half_years_only(&periods, name)?;
                let n = cast(&arrays[1], &DataType::Int64)?;
                let n = n.as_primitive::<Int64Type>();
                let shifted = periods
                    .iter()
                    .zip(n.iter())
                    .map(|(p, n)| match (p, n) {
                        (Some(p), Some(n)) => {
                            p.index().checked_add(n).and_then(Period::from_index).map(Some).ok_or_else(|| {
                                datafusion::error::DataFusionError::Execution(format!(
                                    "{name}: {p} + {n} is out of range"
                                ))
                            })
                        }
                        _ => Ok(None),
                    })
                    .collect::<Result<Vec<_>>>()?;
                text_array(&shifted, canonical)
            }
            HalfYearOp::Diff => {
                let other = read_periods(&arrays[1], name, true)?;
                half_years_only(&periods, name)?;
                half_years_only(&other, name)?;
                let diff: Int64Array =
                    periods.iter().zip(&other).map(|(a, b)| Some((*a)?.index() - (*b)?.index())).collect();
                Ok(Arc::new(diff))
            }
            HalfYearOp::Year => {
                Ok(Arc::new(periods.iter().map(|p| p.map(|p| i64::from(p.year))).collect::<Int64Array>()))
            }
            HalfYearOp::Half => {
                Ok(Arc::new(periods.iter().map(|p| p.map(|p| i64::from(p.half))).collect::<Int64Array>()))
            }
            HalfYearOp::Start | HalfYearOp::End => {
                let start = self.op == HalfYearOp::Start;
                let days: Date32Array = periods
                    .iter()
                    .map(|p| {
                        let p = (*p)?;
                        let (month, day) = match (p.half, start) {
                            (0 | 1, true) => (1, 1),
                            (2, true) => (7, 1),
                            (1, false) => (6, 30),
                            _ => (12, 31),
                        };
                        days_of(p.year, month, day)
                    })
                    .collect();
                Ok(Arc::new(days))
            }
            HalfYearOp::Label => text_array(&periods, |b, p| match p.half {
                0 => write!(b, "{}", p.year),
                h => write!(b, "{h}e halfjaar {}", p.year),
            }),
            HalfYearOp::Cbs => text_array(&periods, |b, p| match p.half {
                0 => write!(b, "{}JJ00", p.year),
                h => write!(b, "{}HJ0{h}", p.year),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trips_across_year_boundaries() {
        for text in ["2019H2", "2020H1", "2020H2", "1999H1"] {
            let (p, _) = Period::parse(text).unwrap();
            assert_eq!(Period::from_index(p.index()), Some(p));
        }
        assert_eq!(Period::from_index(Period::parse("2020H1").unwrap().0.index() + 3).unwrap().to_string(), "2021H2");
        assert_eq!(Period::from_index(Period::parse("2020H1").unwrap().0.index() - 1).unwrap().to_string(), "2019H2");
    }

    #[test]
    fn dates_fall_in_their_half_year() {
        assert_eq!(date_of(days_of(2021, 8, 15).unwrap()).unwrap().to_string(), "2021H2");
        assert_eq!(date_of(days_of(2021, 6, 30).unwrap()).unwrap().to_string(), "2021H1");
        assert_eq!(date_of(0).unwrap().to_string(), "1970H1");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use proptest::prelude::*;

    fn call(op: HalfYearOp, args: Vec<ArrayRef>) -> ArrayRef {
        HalfYearFunction::new(op).evaluate(&args).unwrap()
    }

    fn text(array: &ArrayRef) -> Vec<Option<String>> {
        array.as_string::<i32>().iter().map(|s| s.map(str::to_string)).collect()
    }

    fn half_year() -> impl Strategy<Value = String> {
        // Periods stay within Period::YEARS after any shift the properties apply (±500 years).
        (2400i32..2500, 1u8..=2).prop_map(|(y, h)| format!("{y}H{h}"))
    }

    proptest! {
        #[test]
        fn diff_undoes_add(p in half_year(), n in -1000i64..1000) {
            let p: ArrayRef = Arc::new(StringArray::from(vec![p]));
            let shifted = call(HalfYearOp::Add, vec![p.clone(), Arc::new(Int64Array::from(vec![n]))]);
            let diff = call(HalfYearOp::Diff, vec![shifted, p]);
            prop_assert_eq!(diff.as_primitive::<Int64Type>().value(0), n);
        }

        #[test]
        fn label_and_code_read_back(p in half_year()) {
            let array: ArrayRef = Arc::new(StringArray::from(vec![p.clone()]));
            for op in [HalfYearOp::Label, HalfYearOp::Cbs] {
                let spelled = call(op, vec![array.clone()]);
                let back = call(HalfYearOp::Parse, vec![spelled]);
                prop_assert_eq!(text(&back), vec![Some(p.clone())]);
            }
        }

        #[test]
        fn add_is_associative(p in half_year(), a in -500i64..500, b in -500i64..500) {
            let p: ArrayRef = Arc::new(StringArray::from(vec![p]));
            let n = |v: i64| -> ArrayRef { Arc::new(Int64Array::from(vec![v])) };
            let stepwise = call(HalfYearOp::Add, vec![call(HalfYearOp::Add, vec![p.clone(), n(a)]), n(b)]);
            let at_once = call(HalfYearOp::Add, vec![p, n(a + b)]);
            prop_assert_eq!(text(&stepwise), text(&at_once));
        }

        #[test]
        fn start_and_end_lie_in_the_half_year(p in half_year()) {
            let array: ArrayRef = Arc::new(StringArray::from(vec![p.clone()]));
            for op in [HalfYearOp::Start, HalfYearOp::End] {
                let day = call(op, vec![array.clone()]);
                prop_assert_eq!(text(&call(HalfYearOp::Parse, vec![day])), vec![Some(p.clone())]);
            }
        }
    }
}
