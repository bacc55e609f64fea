//! The table function `halfyears(from, to)`: every half-year from `from` to `to`, inclusive, for
//! joins that must show half-years without data (a gemeente with no row in a period).
//!
//! ```sql
//! SELECT h.period, v.ontvangen_meldingen
//! FROM halfyears('2019H1', '2021H2') h
//! LEFT JOIN veilig_thuis v ON v.period = h.period AND v.region_code = 'GM0141' AND v.category = 'Totaal';
//! ```
//! Columns: `period` (text, `2019H1`), `year` and `half` (Int32). `from` and `to` are constants in
//! any spelling `halfyear` reads; `from` after `to` gives no rows.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{MemTable, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_datafusion_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::scalar::ScalarValue;

use crate::period::Period;

/// At most this many rows: a range of 5,000 years is a typing error.
const MAX_HALF_YEARS: i64 = 10_000;

/// `halfyears(from, to)`.
#[derive(Debug, Default)]
pub struct HalfYears;

fn literal_period(expr: &Expr, which: &str) -> Result<Period> {
    let text = match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)),
            _,
        ) => s,
        other => return plan_err!("halfyears: {which} must be a text constant such as '2020H1', got {other}"),
    };
    match Period::parse(text) {
        Some((p, _)) if !p.is_year() && p.is_year_or_half_year() => Ok(p),
        _ => plan_err!("halfyears: {which} {text:?} is not a half-year (e.g. 2020H1, 2020HJ01, 1e halfjaar 2020)"),
    }
}

impl TableFunctionImpl for HalfYears {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let [from, to] = args.exprs() else {
            return plan_err!("halfyears takes two arguments: halfyears(from, to)");
        };
        let (from, to) = (literal_period(from, "from")?, literal_period(to, "to")?);
        let (first, last) = (from.index(), to.index());
        if last - first >= MAX_HALF_YEARS {
            return plan_err!("halfyears: {from} to {to} is more than {MAX_HALF_YEARS} half-years");
        }
        let periods: Vec<Period> = (first..=last)
            .map(|i| Period::from_index(i).ok_or_else(|| plan_datafusion_err!("halfyears: {i} out of range")))
            .collect::<Result<_>>()?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("period", DataType::Utf8, false),
            Field::new("year", DataType::Int32, false),
            Field::new("half", DataType::Int32, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(periods.iter().map(|p| p.to_string()))),
            Arc::new(Int32Array::from_iter_values(periods.iter().map(|p| p.year))),
            Arc::new(Int32Array::from_iter_values(periods.iter().map(|p| i32::from(p.half)))),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

/// Documentation of `halfyears` (DataFusion keeps none for table functions): syntax,
/// description, example.
pub const HALFYEARS_DOC: (&str, &str, &str) = (
    "halfyears(from, to)",
    "Table of every half-year from `from` to `to` inclusive, with columns period, year and half: join to it to \
     show half-years without data. from and to are constants in any spelling halfyear reads.",
    "SELECT h.period, v.ontvangen_meldingen FROM halfyears('2019H1', '2021H2') h\n\
     LEFT JOIN veilig_thuis v ON v.period = h.period AND v.region_code = 'GM0141' AND v.category = 'Totaal';",
);
