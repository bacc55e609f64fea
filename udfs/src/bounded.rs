//! DataFusion's functions whose result can be far larger than their arguments (`repeat('x', 1500000000)`,
//! `lpad`, `range(1, 1e10)`, ...), bounded: before a call computes anything, the bytes it could produce
//! for the batch are worked out from its arguments, and a call that could make more than
//! [`VtsqlOptions::max_result_bytes`] is an error instead of an allocation that takes the process's
//! memory. The bound holds wherever the function runs, constant folding at planning included.
//!
//! Operators' memory is counted by DataFusion's memory pool; a function's result is not, which is why
//! these calls need a bound of their own.

use std::hash::Hash;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::config::{ConfigExtension, ConfigOptions};
use datafusion::common::{ScalarValue, exec_err, extensions_options};
use datafusion::error::Result;
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

extensions_options! {
    /// vtsql's session settings (`SET vtsql.max_result_bytes = 67108864`).
    pub struct VtsqlOptions {
        /// The most bytes one call of a function that makes text or lists (`repeat`, `lpad`, `range`, ...)
        /// may produce for one batch of rows; 0: no bound.
        pub max_result_bytes: usize, default = 0
    }
}

impl ConfigExtension for VtsqlOptions {
    const PREFIX: &'static str = "vtsql";
}

/// How a function's result grows with its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// `repeat(text, n)`: the text n times.
    Repeat,
    /// `lpad(text, n [, fill])`, `rpad`: n characters of up to four bytes.
    Pad,
    /// `replace(text, from, to)`: every match of `from` replaced by `to`.
    Replace,
    /// `regexp_replace(text, pattern, replacement [, flags])`: a match may be empty (one per position), and a
    /// replacement may repeat the match (`\0`).
    RegexpReplace,
    /// `concat(...)`, `concat_ws(separator, ...)`: the arguments (and separators) together.
    Concat,
    /// `array_repeat(value, n)`: n copies of the value.
    ArrayRepeat,
    /// `range(start, stop [, step])`, `generate_series`: one value per step.
    Range,
    /// `array_resize(list, n [, fill])`: n values.
    Resize,
}

impl Growth {
    fn of(name: &str) -> Option<Growth> {
        Some(match name {
            "repeat" => Growth::Repeat,
            "lpad" | "rpad" => Growth::Pad,
            "replace" => Growth::Replace,
            "regexp_replace" => Growth::RegexpReplace,
            "concat" | "concat_ws" => Growth::Concat,
            "array_repeat" => Growth::ArrayRepeat,
            "range" | "generate_series" => Growth::Range,
            "array_resize" => Growth::Resize,
            _ => return None,
        })
    }
}

/// The bounded version of each of `functions` whose result can outgrow its arguments; the others are
/// left out. Register them in place of DataFusion's (same names, same behaviour within the bound).
pub fn bounded(functions: impl IntoIterator<Item = std::sync::Arc<ScalarUDF>>) -> Vec<ScalarUDF> {
    functions
        .into_iter()
        .filter_map(|f| {
            Growth::of(f.name()).map(|growth| ScalarUDF::new_from_impl(Bounded { inner: f.as_ref().clone(), growth }))
        })
        .collect()
}

/// A function called only when the bytes it could produce stay within the session's bound.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: ScalarUDF,
    growth: Growth,
}

/// Each row's value of an argument as a whole number (NULL and what is not a number: 0).
fn integers(arg: &ColumnarValue, rows: usize) -> Result<Vec<i64>> {
    let array = arg.to_array(rows)?;
    let array = cast(&array, &DataType::Int64)
        .unwrap_or_else(|_| std::sync::Arc::new(datafusion::arrow::array::Int64Array::from(vec![0; rows])));
    Ok(array.as_primitive::<Int64Type>().iter().map(|v| v.unwrap_or(0)).collect())
}

/// Each row's size of an argument in bytes: the length of text, the bytes of a list's values (NULL: 0).
fn sizes(arg: &ColumnarValue, rows: usize) -> Result<Vec<u64>> {
    if let ColumnarValue::Scalar(value) = arg {
        let size = scalar_size(value);
        return Ok(vec![size; rows]);
    }
    let array = arg.to_array(rows)?;
    Ok((0..rows).map(|i| value_size(&array, i)).collect())
}

fn scalar_size(value: &ScalarValue) -> u64 {
    match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => s.len() as u64,
        v if v.is_null() => 0,
        v => v.size() as u64,
    }
}

fn value_size(array: &ArrayRef, i: usize) -> u64 {
    if array.is_null(i) {
        return 0;
    }
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(i).len() as u64,
        DataType::LargeUtf8 => array.as_string::<i64>().value(i).len() as u64,
        DataType::Utf8View => array.as_string_view().value(i).len() as u64,
        _ => (array.get_array_memory_size() / array.len().max(1)) as u64,
    }
}

impl Bounded {
    /// The most bytes the call could produce for the batch.
    fn most_bytes(&self, args: &[ColumnarValue], rows: usize) -> Result<u128> {
        let n = |i: usize| -> Result<Vec<u128>> {
            Ok(match args.get(i) {
                Some(arg) => integers(arg, rows)?.into_iter().map(|v| v.max(0) as u128).collect(),
                None => vec![0; rows],
            })
        };
        let size = |i: usize| -> Result<Vec<u128>> {
            Ok(match args.get(i) {
                Some(arg) => sizes(arg, rows)?.into_iter().map(u128::from).collect(),
                None => vec![0; rows],
            })
        };
        let rows_total = |per_row: Vec<u128>| per_row.into_iter().sum::<u128>();
        Ok(match self.growth {
            Growth::Repeat => {
                let (text, times) = (size(0)?, n(1)?);
                rows_total(text.iter().zip(&times).map(|(t, k)| t * k).collect())
            }
            Growth::Pad => rows_total(n(1)?.into_iter().map(|k| k * 4).collect()),
            Growth::Replace => {
                let (text, from, to) = (size(0)?, size(1)?, size(2)?);
                rows_total((0..rows).map(|r| text[r] + (text[r] + 1) / from[r].max(1) * to[r]).collect())
            }
            Growth::RegexpReplace => {
                let (text, replacement) = (size(0)?, size(2)?);
                // each of up to len + 1 matches becomes the replacement, whose `\N` may repeat the text
                rows_total((0..rows).map(|r| (text[r] + 1) * replacement[r] * (text[r] + 1)).collect())
            }
            Growth::Concat => {
                // every argument once, and for concat_ws the separator (the first) between each two
                let all: Vec<Vec<u128>> = (0..args.len()).map(size).collect::<Result<_>>()?;
                let between = args.len() as u128;
                rows_total((0..rows).map(|r| all.iter().map(|a| a[r]).sum::<u128>() + all[0][r] * between).collect())
            }
            Growth::ArrayRepeat => {
                let (value, times) = (size(0)?, n(1)?);
                rows_total(value.iter().zip(&times).map(|(v, k)| (v + 8) * k).collect())
            }
            Growth::Range => {
                let (start, stop) = (integers_or_zero(args.first(), rows)?, integers_or_zero(args.get(1), rows)?);
                let step = match args.get(2) {
                    Some(step) => integers(step, rows)?,
                    None => vec![1; rows],
                };
                rows_total(
                    (0..rows)
                        .map(|r| {
                            let span = (i128::from(stop[r]) - i128::from(start[r])).unsigned_abs();
                            (span / i128::from(step[r]).unsigned_abs().max(1) + 1) * 8
                        })
                        .collect(),
                )
            }
            Growth::Resize => {
                let (list, length) = (size(0)?, n(1)?);
                rows_total(list.iter().zip(&length).map(|(l, k)| l + (k + 1) * 16).collect())
            }
        })
    }
}

fn integers_or_zero(arg: Option<&ColumnarValue>, rows: usize) -> Result<Vec<i64>> {
    match arg {
        Some(arg) => integers(arg, rows),
        None => Ok(vec![0; rows]),
    }
}

/// `bytes` for people: `1.4 GiB`.
fn human(bytes: u128) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// The bound set for the session, if any.
fn bound(config: &ConfigOptions) -> Option<usize> {
    config.extensions.get::<VtsqlOptions>().map(|o| o.max_result_bytes).filter(|b| *b > 0)
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn is_strict(&self) -> bool {
        self.inner.inner().is_strict()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let Some(bound) = bound(&args.config_options) {
            let most = self.most_bytes(&args.args, args.number_rows)?;
            if most > bound as u128 {
                return exec_err!(
                    "{} could make {} for {} row(s), more than the {} a call may make here (vtsql.max_result_bytes)",
                    self.name(),
                    human(most),
                    args.number_rows,
                    human(bound as u128)
                );
            }
        }
        self.inner.invoke_with_args(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn evaluate_bounds(&self, input: &[&Interval]) -> Result<Interval> {
        self.inner.evaluate_bounds(input)
    }

    fn propagate_constraints(&self, interval: &Interval, inputs: &[&Interval]) -> Result<Option<Vec<Interval>>> {
        self.inner.propagate_constraints(interval, inputs)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(inputs)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.preserves_lex_ordering(inputs)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{SessionConfig, SessionContext};

    async fn session(bound: usize) -> SessionContext {
        let config = SessionConfig::new().with_option_extension(VtsqlOptions { max_result_bytes: bound });
        let ctx = SessionContext::new_with_config(config);
        let functions: Vec<_> = ctx.state().scalar_functions().values().cloned().collect();
        for udf in bounded(functions) {
            ctx.register_udf(udf);
        }
        ctx
    }

    async fn answer(ctx: &SessionContext, sql: &str) -> Result<String> {
        let batches = ctx.sql(sql).await?.collect().await?;
        Ok(datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string())
    }

    /// Regression (hardening probe, item 3): a call that would make more than the bound is refused, at
    /// planning (constant folding) and while running, before it allocates.
    #[tokio::test]
    async fn calls_beyond_the_bound_are_refused_and_others_answer_as_before() {
        let bounded = session(1 << 20).await;
        let free = session(0).await;
        for sql in [
            "SELECT length(repeat('x', 1500000000))",
            "SELECT lpad('x', 2000000000)",
            "SELECT rpad('x', 400000, 'ab')",
            "SELECT cardinality(range(1, 10000000000))",
            "SELECT cardinality(array_repeat(1, 1000000000))",
            "SELECT length(replace(repeat('a', 1000), 'a', repeat('b', 5000)))",
            "SELECT length(repeat(v, 300000)) FROM (VALUES ('abcd'), ('efgh')) t(v)",
        ] {
            let error = answer(&bounded, sql).await.expect_err(sql).to_string();
            assert!(error.contains("more than the 1.0 MiB a call may make here"), "{sql}: {error}");
        }
        for sql in [
            "SELECT repeat('ab', 3), lpad('7', 3, '0'), rpad('x', 2), replace('aXb', 'X', 'yy')",
            "SELECT concat('a', NULL, 'b'), concat_ws('-', 'a', 'b'), regexp_replace('abc', 'b', 'BB')",
            "SELECT range(1, 4), array_repeat('v', 2), array_resize([1, 2], 3), generate_series(1, 3)",
            "SELECT repeat(v, 2) FROM (VALUES ('abcd'), (NULL)) t(v)",
        ] {
            assert_eq!(answer(&bounded, sql).await.unwrap(), answer(&free, sql).await.unwrap(), "{sql}");
        }
    }
}
