//! Per-capita rates: `per_100k(count, population)` and `per_capita(count, population, per)`.
//!
//! CBS and the news publish rates per 100,000 inhabitants of a half-year's or year's counts
//! (not annualised). A suppressed count (NULL) has no rate, and neither has an unknown or zero
//! population: the answer is NULL, never a division error or infinity. Given the struct that
//! `ssum` returns, both give the struct `{value, low, high}` of rates: the interval that holds
//! the true rate.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, StructArray};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer};
use datafusion::arrow::compute::{binary, cast};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::plan_err;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::DOC_SECTION;

/// `per_100k(count, population)`: count × 100000 / population as Float64.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Per100k {
    signature: Signature,
}

/// `per_capita(count, population, per)`: count × per / population as Float64.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PerCapita {
    signature: Signature,
}

impl Default for Per100k {
    fn default() -> Self {
        Per100k { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl Default for PerCapita {
    fn default() -> Self {
        PerCapita { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

static PER_100K_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Rate per 100,000 inhabitants: count × 100000 / population, as a float. NULL when the count \
         is NULL (suppressed by CBS) or the population is NULL or 0. Given an ssum result, returns the \
         struct {value, low, high} of rates: the interval that holds the true rate.",
        "per_100k(count, population)",
    )
    .with_sql_example(
        "```sql\n> SELECT round(per_100k(245, 73107), 1);\n335.1\n\n\
         -- Almelo's meldingen per 100,000 inhabitants on 1 January\n\
         SELECT v.region_name, v.period, per_100k(v.ontvangen_meldingen, p.population)\n\
         FROM veilig_thuis v JOIN population p ON p.region_code = v.region_code AND p.year = v.year\n\
         WHERE v.category = 'Totaal';\n```",
    )
    .with_argument("count", "A count (adviezen, meldingen, ...), NULL for a suppressed cell; or an ssum result.")
    .with_argument("population", "Inhabitants, usually on 1 January of the period's year.")
    .with_related_udf("per_capita")
    .with_related_udf("ssum")
    .build()
});

static PER_CAPITA_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Rate per `per` inhabitants: count × per / population, as a float. NULL when any argument \
         is NULL or the population is 0. Given an ssum result, returns the struct {value, low, high}.",
        "per_capita(count, population, per)",
    )
    .with_sql_example(
        "```sql\n> SELECT round(per_capita(64960, 17300000, 10000), 1);  -- meldingen per 10,000\n37.5\n```",
    )
    .with_argument("count", "A count, NULL for a suppressed cell; or an ssum result.")
    .with_argument("population", "Inhabitants.")
    .with_argument("per", "The base of the rate: 1000, 10000, 100000, ...")
    .with_related_udf("per_100k")
    .build()
});

/// The base of a rate: one constant (per_100k) or a value per row (per_capita).
enum Per {
    Constant(f64),
    Column(Float64Array),
}

/// count × per / population, NULL where any input is NULL or the population is 0. Vectorised:
/// a zero population becomes NULL first, then one arithmetic kernel runs over whole buffers.
fn rate(count: &Float64Array, population: &Float64Array, per: &Per) -> Float64Array {
    let values = population.values();
    let nonzero = NullBuffer::new(BooleanBuffer::collect_bool(values.len(), |i| values[i] != 0.0));
    let population = Float64Array::new(values.clone(), NullBuffer::union(population.nulls(), Some(&nonzero)));
    let same_length = "arguments of a scalar function have one length";
    match per {
        Per::Constant(k) => binary(count, &population, |c, p| c * k / p).expect(same_length),
        Per::Column(k) => {
            let scaled: Float64Array = binary(count, k, |c, k| c * k).expect(same_length);
            binary(&scaled, &population, |ck, p| ck / p).expect(same_length)
        }
    }
}

fn as_f64(array: &ArrayRef) -> Result<Float64Array> {
    cast(array, &DataType::Float64)?
        .as_any()
        .downcast_ref::<Float64Array>()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal("cast to Float64 gave another type".into()))
}

/// The rate interval that a rate of an `ssum` result returns.
fn interval_fields() -> Fields {
    Fields::from(["value", "low", "high"].map(|name| Field::new(name, DataType::Float64, true)).to_vec())
}

/// Arguments: a count (any number, or an `ssum` struct), a population and, for `per_capita`, a
/// base. Numbers become Float64; an `ssum` struct stays as it is.
fn coerce_rate_args(name: &str, arg_types: &[DataType], arity: usize) -> Result<Vec<DataType>> {
    if arg_types.len() != arity {
        return plan_err!("{name} takes {arity} arguments, got {}", arg_types.len());
    }
    arg_types
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            DataType::Struct(fields) if i == 0 && fields.find("low").is_some() && fields.find("high").is_some() => {
                Ok(t.clone())
            }
            t if t.is_numeric() || t.is_null() => Ok(DataType::Float64),
            t => plan_err!(
                "{name}: argument {} must be a number{}, got {t}",
                i + 1,
                if i == 0 { " or an ssum result" } else { "" }
            ),
        })
        .collect()
}

fn rate_return_type(arg_types: &[DataType]) -> DataType {
    match arg_types.first() {
        Some(DataType::Struct(_)) => DataType::Struct(interval_fields()),
        _ => DataType::Float64,
    }
}

fn invoke_rate(args: ScalarFunctionArgs, per: Option<f64>) -> Result<ColumnarValue> {
    let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = ColumnarValue::values_to_arrays(&args.args)?;
    let population = as_f64(&arrays[1])?;
    let per = match per {
        Some(k) => Per::Constant(k),
        None => Per::Column(as_f64(&arrays[2])?),
    };
    let result: ArrayRef = match arrays[0].data_type() {
        DataType::Struct(_) => {
            let rates = crate::ssum::interval_columns(arrays[0].as_struct())?
                .into_iter()
                .map(|c| Ok(Arc::new(rate(&as_f64(&(Arc::new(c) as ArrayRef))?, &population, &per)) as ArrayRef))
                .collect::<Result<Vec<_>>>()?;
            Arc::new(StructArray::new(interval_fields(), rates, None))
        }
        _ => Arc::new(rate(&as_f64(&arrays[0])?, &population, &per)),
    };
    if all_scalar {
        Ok(ColumnarValue::Scalar(datafusion::scalar::ScalarValue::try_from_array(&result, 0)?))
    } else {
        Ok(ColumnarValue::Array(result))
    }
}

impl ScalarUDFImpl for Per100k {
    fn name(&self) -> &str {
        "per_100k"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_rate_args(self.name(), arg_types, 2)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(rate_return_type(arg_types))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_rate(args, Some(100_000.0))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&PER_100K_DOC)
    }
}

impl ScalarUDFImpl for PerCapita {
    fn name(&self) -> &str {
        "per_capita"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_rate_args(self.name(), arg_types, 3)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(rate_return_type(arg_types))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_rate(args, None)
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&PER_CAPITA_DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_zero_give_null() {
        let count = Float64Array::from(vec![Some(245.0), None, Some(10.0), Some(5.0)]);
        let population = Float64Array::from(vec![Some(73107.0), Some(1000.0), Some(0.0), None]);
        let r = rate(&count, &population, &Per::Constant(100_000.0));
        let per = Per::Column(Float64Array::from(vec![Some(100_000.0), Some(1.0), Some(1.0), None]));
        assert_eq!(rate(&count, &population, &per), r);
        assert!((r.value(0) - 335.125).abs() < 0.001);
        assert_eq!(r.null_count(), 3);
    }
}
