//! `ssum(x [, base, threshold])`: a suppression-aware sum.
//!
//! CBS rounds every published count to a multiple of `base` (5) and hides counts that would be
//! published below `threshold` (10) as `.` (NULL here). SQL's `SUM` silently skips the hidden
//! cells and ignores the rounding. `ssum` returns a struct:
//!
//! | field | meaning |
//! |---|---|
//! | `value` | sum of the published cells (NULL when none was published) |
//! | `low`, `high` | an interval that contains the true total |
//! | `suppressed` | number of NULL (hidden) cells |
//! | `cells` | number of cells |
//!
//! A published `v` stands for a true count in `[max(v − ⌊base/2⌋, 0), v + ⌊base/2⌋]`; a hidden
//! cell for one in `[0, threshold − ⌊base/2⌋ − 1]` (with 5 and 10: `[v−2, v+2]` and `[0, 7]`).
//!
//! **Kinds of violence are not additive**: one melding can name several kinds, so `ssum` over the
//! categories of one region and period is *not* a number of meldingen. Sum over regions or
//! periods of one category instead.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, StructArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::{max, min};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type};
use datafusion::common::{exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;
use datafusion::scalar::ScalarValue;

use crate::DOC_SECTION;

/// CBS's rounding base for published counts.
pub const DEFAULT_BASE: i64 = 5;
/// Counts published below this are hidden.
pub const DEFAULT_THRESHOLD: i64 = 10;

/// The names of the struct `ssum` returns, in order.
pub const FIELDS: [&str; 5] = ["value", "low", "high", "suppressed", "cells"];

/// The struct type `ssum` returns.
pub fn result_fields() -> Fields {
    Fields::from(FIELDS.iter().map(|name| Field::new(*name, DataType::Int64, *name == "value")).collect::<Vec<_>>())
}

/// How a published or hidden cell widens the interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rounding {
    half: i64,
    hidden_high: i64,
}

impl Rounding {
    pub fn new(base: i64, threshold: i64) -> Result<Self> {
        if base < 1 || threshold < 0 {
            return exec_err!("ssum: base must be at least 1 and threshold at least 0, got {base} and {threshold}");
        }
        let half = base / 2;
        Ok(Rounding { half, hidden_high: (threshold - half - 1).max(0) })
    }

    /// The interval a single cell stands for.
    pub fn interval(&self, cell: Option<i64>) -> (i64, i64) {
        match cell {
            Some(v) => ((v - self.half).max(0), v + self.half),
            None => (0, self.hidden_high),
        }
    }
}

impl Default for Rounding {
    fn default() -> Self {
        Rounding::new(DEFAULT_BASE, DEFAULT_THRESHOLD).expect("defaults are valid")
    }
}

/// Running totals: the sum of published values, the number of published cells, the number of
/// hidden cells and the *deficit* Σ max(⌊base/2⌋ − v, 0) (published values too small to subtract
/// the full half-base from). From these, low = value − half·published + deficit and high = value +
/// half·published + hidden_high·suppressed. Every part is a plain sum, so partial totals merge by
/// addition and retract by subtraction; a row costs two or three additions.
///
/// A sum beyond the range of 64-bit integers is remembered, and the result is an error: never a sum that
/// wrapped around to a wrong value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    sums: [i64; 4],
    overflowed: bool,
}

const VALUE: usize = 0;
const PUBLISHED: usize = 1;
const SUPPRESSED: usize = 2;
const DEFICIT: usize = 3;
const STATE: [&str; 4] = ["value", "published", "suppressed", "deficit"];

impl Totals {
    #[inline]
    fn bump(&mut self, part: usize, by: Option<i64>) {
        let (sum, overflowed) = match by {
            Some(by) => self.sums[part].overflowing_add(by),
            None => (self.sums[part], true),
        };
        self.sums[part] = sum;
        self.overflowed |= overflowed;
    }

    #[inline]
    fn add(&mut self, rounding: &Rounding, cell: Option<i64>, sign: i64) {
        match cell {
            Some(v) => {
                self.bump(VALUE, v.checked_mul(sign));
                self.bump(PUBLISHED, Some(sign));
                if v < rounding.half {
                    self.bump(DEFICIT, rounding.half.checked_sub(v).and_then(|d| d.checked_mul(sign)));
                }
            }
            None => self.bump(SUPPRESSED, Some(sign)),
        }
    }

    /// The totals of one cell.
    pub fn of_cell(rounding: &Rounding, cell: Option<i64>) -> Totals {
        let mut totals = Totals::default();
        totals.add(rounding, cell, 1);
        totals
    }

    /// The four running sums (value, published, suppressed, deficit): each adds and subtracts on its
    /// own, so prefix sums of them give any frame's totals.
    pub fn parts(&self) -> [i64; 4] {
        self.sums
    }

    pub fn from_parts(parts: [i64; 4]) -> Totals {
        Totals { sums: parts, overflowed: false }
    }

    /// Totals from sums kept wider than 64 bits (a rolling frame's): a sum out of range makes the result an
    /// error.
    pub fn from_wide_parts(parts: [i128; 4]) -> Totals {
        let narrow = parts.map(i64::try_from);
        Totals { sums: narrow.map(|p| p.unwrap_or(0)), overflowed: narrow.iter().any(Result::is_err) }
    }

    fn merge(&mut self, other: &Totals) {
        for part in 0..4 {
            self.bump(part, Some(other.sums[part]));
        }
        self.overflowed |= other.overflowed;
    }

    /// value (NULL without published cells), low, high, suppressed, cells; an error where a sum left the
    /// range of 64-bit integers.
    pub fn result(&self, rounding: &Rounding) -> Result<[Option<i64>; 5]> {
        let [value, published, suppressed, deficit] = self.sums;
        let low = rounding
            .half
            .checked_mul(published)
            .and_then(|half| value.checked_sub(half))
            .and_then(|low| low.checked_add(deficit));
        let high = rounding
            .half
            .checked_mul(published)
            .and_then(|half| value.checked_add(half))
            .and_then(|high| rounding.hidden_high.checked_mul(suppressed).and_then(|h| high.checked_add(h)));
        match (self.overflowed, low, high, published.checked_add(suppressed)) {
            (false, Some(low), Some(high), Some(cells)) => {
                Ok([(published > 0).then_some(value), Some(low), Some(high), Some(suppressed), Some(cells)])
            }
            _ => exec_err!("ssum: the sum is beyond the range of 64-bit integers"),
        }
    }
}

/// The `ssum` results (the struct of [`result_fields`]) of the given totals.
pub fn to_struct(totals: &[Totals], rounding: &Rounding) -> Result<StructArray> {
    let results: Vec<[Option<i64>; 5]> = totals.iter().map(|t| t.result(rounding)).collect::<Result<_>>()?;
    let columns: Vec<ArrayRef> =
        (0..5).map(|i| Arc::new(results.iter().map(|r| r[i]).collect::<Int64Array>()) as ArrayRef).collect();
    Ok(StructArray::new(result_fields(), columns, None))
}

/// The `ssum` aggregate.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Ssum {
    signature: Signature,
}

impl Default for Ssum {
    fn default() -> Self {
        Ssum { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Suppression-aware sum of CBS counts. Returns a struct {value, low, high, suppressed, cells}: \
         value is the sum of published cells (NULL if none), [low, high] an interval that contains the true \
         total given that published counts are rounded to a multiple of base (a published v stands for \
         v ± base/2) and that hidden cells (NULL) are below threshold (a hidden cell stands for 0 to \
         threshold − base/2 − 1; with the defaults 5 and 10: 0 to 7), suppressed the number of NULL cells \
         and cells all cells. Partial results merge exactly, and it works as a window function with \
         sliding frames. Kinds of violence are not additive: ssum over the categories of one case is not a \
         count of cases. per_100k(ssum(...), population) gives the interval of rates.",
        "ssum(x [, base, threshold])",
    )
    .with_sql_example(
        "```sql\n> SELECT s['value'], s['low'], s['high'], s['suppressed']\n  FROM (SELECT ssum(x) AS s FROM (VALUES (10), (NULL), (15)) t(x));\n25 | 21 | 36 | 1\n\n\
         -- meldingen over the last four half-years, per gemeente\n\
         SELECT region_code, period, ssum(ontvangen_meldingen) OVER (PARTITION BY region_code ORDER BY period ROWS 3 PRECEDING)\n\
         FROM veilig_thuis WHERE category = 'Totaal';\n```",
    )
    .with_argument("x", "A count; NULL for a cell CBS published as '.'.")
    .with_argument("base", "Rounding base of published counts (literal, default 5).")
    .with_argument("threshold", "Counts below it are hidden (literal, default 10).")
    .with_related_udf("per_100k")
    .build()
});

fn literal_int(exprs: &[Arc<dyn PhysicalExpr>], i: usize, default: i64) -> Result<i64> {
    let Some(expr) = exprs.get(i) else { return Ok(default) };
    match expr.downcast_ref::<Literal>().map(|l| l.value()) {
        Some(ScalarValue::Int64(Some(v))) => Ok(*v),
        Some(v) if !v.is_null() => match v.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(v)) => Ok(v),
            _ => exec_err!("ssum: argument {} must be a whole number", i + 1),
        },
        _ => exec_err!("ssum: argument {} (base or threshold) must be a constant whole number", i + 1),
    }
}

/// The rounding of a call `ssum(x [, base, threshold])` from its argument expressions.
pub fn rounding_of_call(exprs: &[Arc<dyn PhysicalExpr>]) -> Result<Rounding> {
    Rounding::new(literal_int(exprs, 1, DEFAULT_BASE)?, literal_int(exprs, 2, DEFAULT_THRESHOLD)?)
}

fn rounding(args: &AccumulatorArgs) -> Result<Rounding> {
    rounding_of_call(args.exprs)
}

impl AggregateUDFImpl for Ssum {
    fn name(&self) -> &str {
        "ssum"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(1..=3).contains(&arg_types.len()) {
            return plan_err!("ssum takes 1 to 3 arguments (x [, base, threshold]), got {}", arg_types.len());
        }
        arg_types
            .iter()
            .map(|t| {
                if t.is_integer() || t.is_null() {
                    Ok(DataType::Int64)
                } else {
                    plan_err!("ssum sums whole counts; got {t}")
                }
            })
            .collect()
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(result_fields()))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(STATE
            .iter()
            .map(|part| Arc::new(Field::new(format!("{}[{part}]", args.name), DataType::Int64, false)))
            .collect())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SsumAccumulator { rounding: rounding(&args)?, totals: Totals::default() }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SsumGroups { rounding: rounding(&args)?, groups: Vec::new(), magnitude: 0 }))
    }

    fn default_value(&self, _: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Struct(Arc::new(to_struct(&[Totals::default()], &Rounding::default())?)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// One group's `ssum`; also the sliding-window accumulator (it retracts).
#[derive(Debug)]
pub struct SsumAccumulator {
    rounding: Rounding,
    totals: Totals,
}

impl SsumAccumulator {
    pub fn new(rounding: Rounding) -> Self {
        SsumAccumulator { rounding, totals: Totals::default() }
    }

    pub fn totals(&self) -> Totals {
        self.totals
    }

    fn apply(&mut self, values: &[ArrayRef], sign: i64) {
        let cells = values[0].as_primitive::<Int64Type>();
        for cell in cells.iter() {
            self.totals.add(&self.rounding, cell, sign);
        }
    }
}

impl Accumulator for SsumAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.apply(values, 1);
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.apply(values, -1);
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Struct(Arc::new(to_struct(&[self.totals], &self.rounding)?)))
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.totals.result(&self.rounding)?;
        Ok(self.totals.sums.iter().map(|v| ScalarValue::Int64(Some(*v))).collect())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for (part, state) in states.iter().enumerate().take(4) {
            for v in state.as_primitive::<Int64Type>().iter().flatten() {
                self.totals.bump(part, Some(v));
            }
        }
        Ok(())
    }
}

/// `ssum` for many groups at once (GROUP BY), one [`Totals`] per group.
#[derive(Debug)]
struct SsumGroups {
    rounding: Rounding,
    groups: Vec<Totals>,
    /// At least the largest magnitude any group's sums can have reached: while it stays far below the
    /// range of 64-bit integers, rows are added without checking each addition.
    magnitude: u128,
}

impl GroupsAccumulator for SsumGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize(total_num_groups, Totals::default());
        let cells = values[0].as_primitive::<Int64Type>();
        let rounding = self.rounding;
        let largest = [min(cells), max(cells)].into_iter().flatten().map(|v| v.unsigned_abs()).max().unwrap_or(0);
        let per_row = u128::from(largest) + rounding.half.unsigned_abs() as u128 + 1;
        self.magnitude += per_row * cells.len() as u128;
        if self.magnitude > (i64::MAX / 2) as u128 {
            // near the range's end: every addition checked
            for (i, &g) in group_indices.iter().enumerate() {
                if opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i)) {
                    self.groups[g].add(&rounding, (!cells.is_null(i)).then(|| cells.value(i)), 1);
                }
            }
            return Ok(());
        }
        match opt_filter {
            // The common cases: no filter; no hidden cells at all.
            None if cells.null_count() == 0 => {
                for (&g, &v) in group_indices.iter().zip(cells.values()) {
                    self.groups[g].add(&rounding, Some(v), 1);
                }
            }
            // Hidden cells are scattered at random, so a branch on validity mispredicts often:
            // add the validity bit instead.
            None => {
                let (values, nulls) = (cells.values(), cells.nulls().expect("null_count > 0"));
                for (i, &g) in group_indices.iter().enumerate() {
                    let valid = i64::from(nulls.is_valid(i));
                    let v = values[i] * valid;
                    let t = &mut self.groups[g].sums;
                    t[VALUE] += v;
                    t[PUBLISHED] += valid;
                    t[SUPPRESSED] += 1 - valid;
                    if valid == 1 && v < rounding.half {
                        t[DEFICIT] += rounding.half - v;
                    }
                }
            }
            Some(filter) => {
                for ((&g, cell), keep) in group_indices.iter().zip(cells.iter()).zip(filter.iter()) {
                    if keep == Some(true) {
                        self.groups[g].add(&rounding, cell, 1);
                    }
                }
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(Arc::new(to_struct(&emit_to.take_needed(&mut self.groups), &self.rounding)?))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = emit_to.take_needed(&mut self.groups);
        for group in &groups {
            group.result(&self.rounding)?;
        }
        Ok((0..STATE.len())
            .map(|i| Arc::new(Int64Array::from_iter_values(groups.iter().map(|t| t.sums[i]))) as ArrayRef)
            .collect())
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.groups.resize(total_num_groups, Totals::default());
        let parts: Vec<&Int64Array> = values.iter().map(|v| v.as_primitive::<Int64Type>()).collect();
        for (row, &g) in group_indices.iter().enumerate() {
            let mut other = Totals::default();
            for (i, part) in parts.iter().enumerate().take(4) {
                other.sums[i] = part.value(row);
            }
            self.groups[g].merge(&other);
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let cells = values[0].as_primitive::<Int64Type>();
        let rows: Vec<Totals> = (0..cells.len())
            .map(|i| {
                let mut t = Totals::default();
                if opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i)) {
                    t.add(&self.rounding, (!cells.is_null(i)).then(|| cells.value(i)), 1);
                }
                t
            })
            .collect();
        Ok((0..STATE.len())
            .map(|i| Arc::new(Int64Array::from_iter_values(rows.iter().map(|t| t.sums[i]))) as ArrayRef)
            .collect())
    }

    fn size(&self) -> usize {
        self.groups.capacity() * size_of::<Totals>() + size_of_val(self)
    }
}

/// The interval a value of `ssum` stands for, as (value, low, high) arrays: for `per_100k`.
pub fn interval_columns(array: &StructArray) -> Result<[Int64Array; 3]> {
    let column = |name: &str| -> Result<Int64Array> {
        match array.column_by_name(name).map(|c| c.as_primitive_opt::<Int64Type>()) {
            Some(Some(c)) => {
                // A NULL struct counts as NULL in every field.
                let nulls = NullBuffer::union(c.nulls(), array.nulls());
                Ok(Int64Array::new(c.values().clone(), nulls))
            }
            _ => exec_err!("expected a struct from ssum with an Int64 field {name}"),
        }
    };
    Ok([column("value")?, column("low")?, column("high")?])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(cells: &[Option<i64>]) -> [Option<i64>; 5] {
        let mut acc = SsumAccumulator::new(Rounding::default());
        acc.update_batch(&[Arc::new(Int64Array::from(cells.to_vec())) as ArrayRef]).unwrap();
        acc.totals().result(&Rounding::default()).unwrap()
    }

    #[test]
    fn the_issue_example() {
        assert_eq!(sum(&[Some(10), None, Some(15)]), [Some(25), Some(21), Some(36), Some(1), Some(3)]);
    }

    #[test]
    fn empty_and_all_suppressed() {
        assert_eq!(sum(&[]), [None, Some(0), Some(0), Some(0), Some(0)]);
        assert_eq!(sum(&[None, None]), [None, Some(0), Some(14), Some(2), Some(2)]);
    }

    #[test]
    fn never_below_zero() {
        assert_eq!(sum(&[Some(0), Some(1)]), [Some(1), Some(0), Some(5), Some(0), Some(2)]);
    }

    #[test]
    fn base_and_threshold() {
        let r = Rounding::new(1, 10).unwrap();
        assert_eq!(r.interval(Some(12)), (12, 12));
        assert_eq!(r.interval(None), (0, 9));
        assert!(Rounding::new(0, 10).is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A CBS cell: hidden, or a published multiple of 5 from 10 up.
    fn cell() -> impl Strategy<Value = Option<i64>> {
        prop_oneof![Just(None), (2i64..400).prop_map(|k| Some(k * 5)), Just(Some(0))]
    }

    /// The interval by brute force: the sum of every cell's own interval.
    fn brute_force(cells: &[Option<i64>], rounding: &Rounding) -> [Option<i64>; 5] {
        let published: Vec<i64> = cells.iter().flatten().copied().collect();
        let (low, high) = cells.iter().map(|c| rounding.interval(*c)).fold((0, 0), |(l, h), (a, b)| (l + a, h + b));
        [
            (!published.is_empty()).then(|| published.iter().sum()),
            Some(low),
            Some(high),
            Some(cells.iter().filter(|c| c.is_none()).count() as i64),
            Some(cells.len() as i64),
        ]
    }

    fn array(cells: &[Option<i64>]) -> ArrayRef {
        Arc::new(Int64Array::from(cells.to_vec()))
    }

    proptest! {
        /// Split at random points, sum each part, merge the states: the brute-force answer.
        #[test]
        fn partial_states_merge_exactly(cells in prop::collection::vec(cell(), 0..200), cuts in prop::collection::vec(0usize..200, 0..6), base in 1i64..12, threshold in 0i64..30) {
            let rounding = Rounding::new(base, threshold).unwrap();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(cells.len())).collect();
            cuts.extend([0, cells.len()]);
            cuts.sort();
            let mut merged = SsumAccumulator::new(rounding);
            for part in cuts.windows(2) {
                let mut acc = SsumAccumulator::new(rounding);
                acc.update_batch(&[array(&cells[part[0]..part[1]])]).unwrap();
                let state: Vec<ArrayRef> = acc.state().unwrap().iter().map(|s| s.to_array().unwrap()).collect();
                merged.merge_batch(&state).unwrap();
            }
            prop_assert_eq!(merged.totals().result(&rounding).unwrap(), brute_force(&cells, &rounding));
        }

        /// Groups in one pass, with their states merged in another accumulator.
        #[test]
        fn groups_match_brute_force(rows in prop::collection::vec((cell(), 0usize..5), 0..200)) {
            let rounding = Rounding::default();
            let cells: Vec<Option<i64>> = rows.iter().map(|r| r.0).collect();
            let groups: Vec<usize> = rows.iter().map(|r| r.1).collect();
            let mut first = SsumGroups { rounding, groups: vec![], magnitude: 0 };
            first.update_batch(&[array(&cells)], &groups, None, 5).unwrap();
            let state = first.state(EmitTo::All).unwrap();
            let mut second = SsumGroups { rounding, groups: vec![], magnitude: 0 };
            second.merge_batch(&state, &[0, 1, 2, 3, 4], 5).unwrap();
            for g in 0..5 {
                let mine: Vec<Option<i64>> = rows.iter().filter(|r| r.1 == g).map(|r| r.0).collect();
                prop_assert_eq!(second.groups[g].result(&rounding).unwrap(), brute_force(&mine, &rounding));
            }
        }

        /// Sliding frames: adding all, then retracting a prefix, leaves the suffix.
        #[test]
        fn retraction_leaves_the_rest(cells in prop::collection::vec(cell(), 0..100), cut in 0usize..100) {
            let cut = cut.min(cells.len());
            let mut acc = SsumAccumulator::new(Rounding::default());
            acc.update_batch(&[array(&cells)]).unwrap();
            acc.retract_batch(&[array(&cells[..cut])]).unwrap();
            prop_assert_eq!(acc.totals().result(&Rounding::default()).unwrap(), brute_force(&cells[cut..], &Rounding::default()));
        }
    }
}
