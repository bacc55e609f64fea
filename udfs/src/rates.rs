//! Per-capita rates: `per_100k(count, population)` and `per_capita(count, population, per)`.
//!
//! CBS and the news publish rates per 100,000 inhabitants of a half-year's or year's counts
//! (not annualised). A suppressed count (NULL) has no rate, and neither has an unknown or zero
//! population: the answer is NULL, never a division error or infinity.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};

const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "Veilig Thuis functions",
    description: None,
};

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
        Per100k {
            signature: Signature::uniform(2, vec![DataType::Float64], Volatility::Immutable),
        }
    }
}

impl Default for PerCapita {
    fn default() -> Self {
        PerCapita {
            signature: Signature::uniform(3, vec![DataType::Float64], Volatility::Immutable),
        }
    }
}

static PER_100K_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Rate per 100,000 inhabitants: count × 100000 / population, as a float. NULL when the count \
         is NULL (suppressed by CBS) or the population is NULL or 0.",
        "per_100k(count, population)",
    )
    .with_sql_example(
        "```sql\n> SELECT round(per_100k(245, 73107), 1);\n+------+\n| 335.1 |\n```\n\
         Almelo's ontvangen meldingen in H1 2020 per 100,000 inhabitants on 1 January 2020:\n\
         ```sql\nSELECT v.region_name, per_100k(v.ontvangen_meldingen, p.population)\n\
         FROM veilig_thuis v JOIN population p ON p.region_code = v.region_code AND p.year = v.year\n\
         WHERE v.category = 'Totaal';\n```",
    )
    .with_argument("count", "A count (adviezen, meldingen, ...); NULL for a suppressed cell.")
    .with_argument("population", "Inhabitants, usually on 1 January of the period's year.")
    .with_related_udf("per_capita")
    .build()
});

static PER_CAPITA_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Rate per `per` inhabitants: count × per / population, as a float. NULL when any argument \
         is NULL or the population is 0.",
        "per_capita(count, population, per)",
    )
    .with_sql_example(
        "```sql\n> SELECT per_capita(64960, 17300000, 10000);  -- 37.5 meldingen per 10,000\n```",
    )
    .with_argument("count", "A count; NULL for a suppressed cell.")
    .with_argument("population", "Inhabitants.")
    .with_argument("per", "The base of the rate: 1000, 10000, 100000, ...")
    .with_related_udf("per_100k")
    .build()
});

/// count × per / population, NULL where any input is NULL or the population is 0.
fn rate(count: &Float64Array, population: &Float64Array, per: &Float64Array) -> Float64Array {
    count
        .iter()
        .zip(population.iter())
        .zip(per.iter())
        .map(|((c, p), k)| match (c, p, k) {
            (Some(c), Some(p), Some(k)) if p != 0.0 => Some(c * k / p),
            _ => None,
        })
        .collect()
}

fn as_f64(array: &ArrayRef) -> Result<Arc<Float64Array>> {
    let array = cast(array, &DataType::Float64)?;
    array
        .as_any()
        .downcast_ref::<Float64Array>()
        .cloned()
        .map(Arc::new)
        .ok_or_else(|| DataFusionError::Internal("cast to Float64 gave another type".into()))
}

fn invoke_rate(args: ScalarFunctionArgs, per: Option<f64>) -> Result<ColumnarValue> {
    let all_scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = ColumnarValue::values_to_arrays(&args.args)?;
    let count = as_f64(&arrays[0])?;
    let population = as_f64(&arrays[1])?;
    let per = match per {
        Some(k) => Arc::new(Float64Array::from_value(k, count.len())),
        None => as_f64(&arrays[2])?,
    };
    let result: ArrayRef = Arc::new(rate(&count, &population, &per));
    if all_scalar {
        Ok(ColumnarValue::Scalar(
            datafusion::scalar::ScalarValue::try_from_array(&result, 0)?,
        ))
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
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
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
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
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
        let per = Float64Array::from_value(100_000.0, 4);
        let r = rate(&count, &population, &per);
        assert!((r.value(0) - 335.125).abs() < 0.001);
        assert_eq!(r.null_count(), 3);
    }
}
