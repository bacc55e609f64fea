//! Partial states of whole runs: a count or a sum of integers computed over a run's slice of values and
//! merged into its group once, instead of updating the group row by row.

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, ArrowNativeTypeOp, ArrowPrimitiveType, AsArray, Int64Array, PrimitiveArray,
};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::{DataType, Int64Type, Schema, UInt64Type};
use datafusion::functions_aggregate::{count, sum};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;

/// An aggregate whose partial state for a run of rows is computed over the run's values at once and
/// merged into its group (`GroupsAccumulator::merge_batch`), instead of updating the group row by row.
/// Only where that state is exactly what DataFusion's accumulator would reach: a count, and a sum of
/// 64-bit integers (wrapping, as DataFusion's). Sums of floats are left out: a run's subtotal rounds
/// differently from a row-by-row total.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum RunFold {
    Count,
    SumInt64,
    SumUInt64,
}

impl RunFold {
    /// How `aggregate`, taking no `FILTER` clause, folds a run, if it can.
    pub(super) fn of(aggregate: &AggregateFunctionExpr, input_schema: &Schema) -> Option<Self> {
        let [argument] = aggregate.expressions().try_into().ok()?;
        let argument = argument.data_type(input_schema).ok()?;
        let state = aggregate.state_fields().ok()?;
        let [state] = state.as_slice() else {
            return None;
        };
        let function = aggregate.fun().inner();
        match (state.data_type(), &argument) {
            (DataType::Int64, _) if function.is::<count::Count>() => Some(RunFold::Count),
            (DataType::Int64, DataType::Int64) if function.is::<sum::Sum>() => Some(RunFold::SumInt64),
            (DataType::UInt64, DataType::UInt64) if function.is::<sum::Sum>() => Some(RunFold::SumUInt64),
            _ => None,
        }
    }

    /// The partial state of each run of `values`.
    pub(super) fn states(self, values: &ArrayRef, runs: &[Range<usize>]) -> ArrayRef {
        match self {
            RunFold::Count => {
                let valid = values.logical_nulls();
                Arc::new(Int64Array::from_iter_values(runs.iter().map(|run| match &valid {
                    None => run.len() as i64,
                    Some(valid) => valid.inner().slice(run.start, run.len()).count_set_bits() as i64,
                })))
            }
            RunFold::SumInt64 => run_sums::<Int64Type>(values, runs),
            RunFold::SumUInt64 => run_sums::<UInt64Type>(values, runs),
        }
    }
}

/// The wrapping sum of each run's non-NULL values; NULL for a run without any.
fn run_sums<T: ArrowPrimitiveType>(values: &ArrayRef, runs: &[Range<usize>]) -> ArrayRef {
    let values = values.as_primitive::<T>();
    let data = values.values();
    let sums: PrimitiveArray<T> = match values.nulls() {
        None => runs.iter().map(|run| Some(sum_where(&data[run.clone()], None))).collect(),
        Some(nulls) => runs
            .iter()
            .map(|run| {
                let valid = nulls.inner().slice(run.start, run.len());
                (valid.count_set_bits() > 0).then(|| sum_where(&data[run.clone()], Some(&valid)))
            })
            .collect(),
    };
    Arc::new(sums)
}

/// The wrapping sum of `values` where `valid` (as long) is set, 64 rows per validity word: a select per
/// row rather than a bit lookup, so the loop vectorises.
fn sum_where<N: ArrowNativeTypeOp>(values: &[N], valid: Option<&BooleanBuffer>) -> N {
    let Some(valid) = valid else {
        return values.iter().fold(N::ZERO, |a, &v| a.add_wrapping(v));
    };
    let chunks = valid.bit_chunks();
    let words = chunks.iter().chain(std::iter::once(chunks.remainder_bits()));
    values.chunks(64).zip(words).fold(N::ZERO, |a, (values, word)| {
        values.iter().enumerate().fold(a, |a, (i, &v)| a.add_wrapping(if word >> i & 1 == 1 { v } else { N::ZERO }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_state_is_its_wrapping_sum_or_its_count_and_null_without_values() {
        let values: ArrayRef =
            Arc::new(Int64Array::from(vec![Some(1), None, Some(i64::MAX), Some(2), None, None, Some(-5)]));
        let runs = [0..4, 4..6, 6..7];
        let sums = RunFold::SumInt64.states(&values, &runs);
        assert_eq!(sums.as_primitive::<Int64Type>(), &Int64Array::from(vec![Some(i64::MIN + 2), None, Some(-5)]));
        let counts = RunFold::Count.states(&values, &runs);
        assert_eq!(counts.as_primitive::<Int64Type>(), &Int64Array::from(vec![3, 0, 1]));
        // runs longer than a validity word, starting inside one
        let long: Vec<Option<i64>> = (0..300).map(|i| (i % 3 != 0).then_some(i)).collect();
        let values: ArrayRef = Arc::new(Int64Array::from(long.clone()));
        let runs = [0..5, 5..200, 200..300];
        let expected: Vec<Option<i64>> =
            runs.iter().map(|r| long[r.clone()].iter().flatten().copied().reduce(|a, b| a + b)).collect();
        let sums = RunFold::SumInt64.states(&values, &runs);
        assert_eq!(sums.as_primitive::<Int64Type>(), &Int64Array::from(expected));
        let values: ArrayRef = Arc::new(datafusion::arrow::array::UInt64Array::from(vec![3, 4, u64::MAX]));
        let sums = RunFold::SumUInt64.states(&values, &[0..1, 1..3]);
        assert_eq!(sums.as_primitive::<UInt64Type>().values(), &[3, 3]);
        let all = [Range { start: 0, end: 3 }];
        assert_eq!(RunFold::Count.states(&values, &all).as_primitive::<Int64Type>().value(0), 3);
    }
}
