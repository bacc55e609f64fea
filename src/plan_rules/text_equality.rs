//! `column = 'text'` in a filter, compared by view: [`TextEqualityByView`] swaps DataFusion's comparison for
//! [`ViewEqualsText`] where the column is `Utf8View`, in a `FilterExec` and in the filter a Parquet scan
//! evaluates while it decodes (`pushdown_filters`, as over files vtsql did not write).
//!
//! The Parquet reader decodes a dictionary-encoded text column into views that point into the page's
//! dictionary, so every row with the same value carries the very same 16-byte view. Once a view has
//! matched the text, the next row with that view matches without reading its bytes. Arrow's kernel
//! compares each row's bytes (the view holds only a 4-byte prefix, and the names of kinds of violence
//! share theirs: "Partnergeweld: stalking", "Partnergeweld: fysiek"), and a filter on one kind of
//! violence compares every row of the scan. Two equal views always hold equal text, so the shortcut is
//! exact for any input; a column stored plain just does not profit. [`same_text`] uses the same shortcut to
//! compare two columns of text (`run_aggregate`'s sequence of groups).
//!
//! Where a scan reads a column it only compares this way as an Arrow dictionary
//! (`super::dictionary_filters`), the comparison gets the dictionary cast to views and compares the
//! dictionary instead, by its keys ([`equal_by_key`]): its few values are compared once.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, DictionaryArray, RecordBatch, StringViewArray};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer};
use datafusion::arrow::datatypes::Int32Type;
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{ScalarValue, internal_err};
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{BinaryExpr, CastExpr, Literal};
use datafusion::physical_expr::utils::{conjunction, split_conjunction};
use datafusion::physical_expr_common::datum::apply_cmp;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};

/// Rewrites `expr = 'text'` and `expr <> 'text'` (either side) in every `FilterExec`'s predicate, where
/// `expr` is `Utf8View`, to [`ViewEqualsText`].
#[derive(Debug, Default)]
pub struct TextEqualityByView;

impl PhysicalOptimizerRule for TextEqualityByView {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = super::replace_each(plan, |filter: &FilterExec| {
            let schema = filter.input().schema();
            let rewritten = Arc::clone(filter.predicate()).transform_up(|expr| by_view(expr, &schema))?;
            if !rewritten.transformed {
                return Ok(None);
            }
            FilterExecBuilder::from(filter).with_predicate(rewritten.data).build().map(Some)
        })?;
        super::replace_each(plan, |scan: &DataSourceExec| {
            Ok(decoding_filter_by_view(scan)?.map(|s| scan.clone().with_data_source(Arc::new(s))))
        })
    }

    fn name(&self) -> &str {
        "text_equality_by_view"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The scan's files with each top-level conjunct `text = 'literal'` of the filter a Parquet scan evaluates
/// while decoding (`pushdown_filters`) compared by view; `None` where there is nothing to change. Only whole
/// conjuncts are rewritten, so a dynamic filter (a join's or a TopK's, which changes while the query runs)
/// is left as it is. Statistics and page-index pruning read the comparison as DataFusion's own
/// ([`ViewEqualsText`]'s snapshot), so they prune as before.
fn decoding_filter_by_view(scan: &DataSourceExec) -> Result<Option<FileScanConfig>> {
    let Some((config, parquet)) = scan.downcast_to_file_source::<ParquetSource>() else {
        return Ok(None);
    };
    let Some(predicate) = parquet.filter() else {
        return Ok(None);
    };
    if !parquet.table_parquet_options().global.pushdown_filters {
        return Ok(None);
    }
    let schema = Arc::clone(parquet.table_schema().table_schema());
    let conjuncts = split_conjunction(&predicate)
        .into_iter()
        .map(|conjunct| by_view(Arc::clone(conjunct), &schema))
        .collect::<Result<Vec<_>>>()?;
    if !conjuncts.iter().any(|conjunct| conjunct.transformed) {
        return Ok(None);
    }
    let predicate = conjunction(conjuncts.into_iter().map(|conjunct| conjunct.data));
    let mut config = config.clone();
    config.file_source = Arc::new(parquet.with_predicate(predicate));
    Ok(Some(config))
}

/// `expr` compared by view where it is a comparison [`ViewEqualsText`] takes; itself (not transformed) where not.
fn by_view(expr: Arc<dyn PhysicalExpr>, schema: &Schema) -> Result<Transformed<Arc<dyn PhysicalExpr>>> {
    Ok(match ViewEqualsText::try_from_binary(&expr, schema)? {
        Some(by_view) => Transformed::yes(Arc::new(by_view) as Arc<dyn PhysicalExpr>),
        None => Transformed::no(expr),
    })
}

/// `text_expr = 'text'` (or `<>`), remembering per batch the last view that matched and the last that did
/// not (see the module documentation).
#[derive(Debug, Clone, Eq)]
pub struct ViewEqualsText {
    expr: Arc<dyn PhysicalExpr>,
    text: String,
    negated: bool,
}

// Written out, as DataFusion's own expressions do (rust-lang/rust#78808 stops the derive).
impl PartialEq for ViewEqualsText {
    fn eq(&self, other: &Self) -> bool {
        self.expr.eq(&other.expr) && self.text == other.text && self.negated == other.negated
    }
}

impl Hash for ViewEqualsText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.expr.hash(state);
        self.text.hash(state);
        self.negated.hash(state);
    }
}

impl ViewEqualsText {
    /// The comparison `text_expr = 'text'` by view, for any `Utf8View` expression.
    pub fn new(expr: Arc<dyn PhysicalExpr>, text: impl Into<String>, negated: bool) -> Self {
        ViewEqualsText { expr, text: text.into(), negated }
    }

    /// The text expression compared.
    pub fn operand(&self) -> &Arc<dyn PhysicalExpr> {
        &self.expr
    }

    /// `expr` as a comparison by view, when it is a `Utf8View` expression `=` or `<>` a non-NULL text literal.
    fn try_from_binary(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Result<Option<Self>> {
        let Some(binary) = expr.downcast_ref::<BinaryExpr>() else {
            return Ok(None);
        };
        let negated = match binary.op() {
            Operator::Eq => false,
            Operator::NotEq => true,
            _ => return Ok(None),
        };
        let text_of = |e: &Arc<dyn PhysicalExpr>| match e.downcast_ref::<Literal>().map(Literal::value) {
            Some(ScalarValue::Utf8(Some(t)) | ScalarValue::Utf8View(Some(t)) | ScalarValue::LargeUtf8(Some(t))) => {
                Some(t.clone())
            }
            _ => None,
        };
        let (operand, text) = match (text_of(binary.left()), text_of(binary.right())) {
            (None, Some(text)) => (binary.left(), text),
            (Some(text), None) => (binary.right(), text),
            _ => return Ok(None),
        };
        // an operand whose type cannot be told keeps DataFusion's comparison
        if !matches!(operand.data_type(schema), Ok(DataType::Utf8View)) {
            return Ok(None);
        }
        Ok(Some(ViewEqualsText::new(Arc::clone(operand), text, negated)))
    }

    fn operator(&self) -> &'static str {
        if self.negated { "<>" } else { "=" }
    }
}

/// The longest text a view holds itself (Arrow's format: longer text is in a data buffer, and a view
/// holds its length, first four bytes, buffer and offset).
const INLINE: u32 = 12;

/// Whether each value of `array` equals `text` (NULL where the value is NULL).
pub fn equal_by_view(array: &StringViewArray, text: &str) -> BooleanArray {
    let text = text.as_bytes();
    let views = array.views();
    if text.len() <= INLINE as usize {
        // the whole text is in the view, zero-padded
        let mut inline = [0u8; 16];
        inline[..4].copy_from_slice(&(text.len() as u32).to_le_bytes());
        inline[4..4 + text.len()].copy_from_slice(text);
        let inline = u128::from_le_bytes(inline);
        let values = BooleanBuffer::collect_bool(views.len(), |row| views[row] == inline);
        return BooleanArray::new(values, array.nulls().cloned());
    }
    // a view's low 64 bits: the length, then the first four bytes
    let head =
        u64::from(text.len() as u32) | (u64::from(u32::from_le_bytes([text[0], text[1], text[2], text[3]])) << 32);
    let (mut matched, mut missed) = (None, None);
    let values = BooleanBuffer::collect_bool(views.len(), |row| {
        let view = views[row];
        if Some(view) == matched {
            return true;
        }
        if view as u64 != head || Some(view) == missed {
            return false;
        }
        let equal = array.value(row).as_bytes() == text;
        if equal {
            matched = Some(view);
        } else {
            missed = Some(view);
        }
        equal
    });
    BooleanArray::new(values, array.nulls().cloned())
}

/// Whether each value of `dictionary` (of text) equals `text`, or differs from it where `negated`; NULL where
/// the value is NULL. The dictionary's values are compared once; a row's answer is its key's. Where one
/// value matches (`=` on a dictionary without repeated values, as a Parquet page's) or one fails (`<>`), the
/// answer is whether the key is (or is not) that value's, a comparison of integers. Arrow's comparison of a
/// dictionary gathers the answers bit by bit instead, and took more time than decoding the column
/// (`benches/RESULTS.md`, round 16).
pub fn equal_by_key(dictionary: &DictionaryArray<Int32Type>, text: &str, negated: bool) -> Result<BooleanArray> {
    let values = dictionary.values();
    let text = ScalarValue::Utf8(Some(text.to_string())).cast_to(values.data_type())?;
    let op = if negated { Operator::NotEq } else { Operator::Eq };
    let on_values = apply_cmp(op, &ColumnarValue::Array(Arc::clone(values)), &ColumnarValue::Scalar(text))?
        .into_array(values.len())?;
    let on_values = on_values.as_boolean();
    // a NULL value's rows are NULL whatever their bit says
    let (matching, failing): (Vec<i32>, Vec<i32>) = (0..on_values.len())
        .filter(|&v| on_values.is_valid(v))
        .map(|v| v as i32)
        .partition(|&v| on_values.value(v as usize));
    let keys = dictionary.keys().values();
    let answers = match (matching.as_slice(), failing.as_slice()) {
        ([], _) => BooleanBuffer::new_unset(keys.len()),
        ([only], _) => keys_equal(keys, *only, false),
        (_, [only]) => keys_equal(keys, *only, true),
        _ => {
            let mut per_key = vec![false; on_values.len()];
            for &v in &matching {
                per_key[v as usize] = true;
            }
            // a NULL row's key need not point at a value; its answer is NULL whatever it is
            BooleanBuffer::collect_bool(keys.len(), |row| {
                usize::try_from(keys[row]).ok().and_then(|k| per_key.get(k)).copied().unwrap_or(false)
            })
        }
    };
    Ok(BooleanArray::new(answers, dictionary.logical_nulls()))
}

/// For each key, whether it is `value` (whether it is not, where `negated`), 64 keys to a word of the
/// answer. `BooleanBuffer::collect_bool` asks for each row by its index, and neither that nor a shift per key
/// let the compiler compare several keys at once.
fn keys_equal(keys: &[i32], value: i32, negated: bool) -> BooleanBuffer {
    let flip = if negated { u64::MAX } else { 0 };
    let chunks = keys.chunks_exact(64);
    let rest = chunks.remainder();
    let mut words: Vec<u64> = chunks.map(|chunk| equal_word(chunk, value) ^ flip).collect();
    if !rest.is_empty() {
        words.push((equal_bits(rest, value) ^ flip) & (u64::MAX >> (64 - rest.len())));
    }
    BooleanBuffer::new(Buffer::from_vec(words), 0, keys.len())
}

/// Bit `i`: whether `keys[i]` (of 64) is `value`. SSE2, which every x86-64 processor has, compares four keys
/// in one instruction and gathers their answers in one more: 0.05 ns a key against 0.32 for a shift per key
/// and 0.16 for the best portable loop tried (a micro-benchmark of 8,192 keys, `benches/RESULTS.md` round 16).
#[cfg(target_arch = "x86_64")]
fn equal_word(keys: &[i32], value: i32) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_castsi128_ps, _mm_cmpeq_epi32, _mm_loadu_si128, _mm_movemask_ps, _mm_set1_epi32,
    };
    debug_assert_eq!(keys.len(), 64);
    let mut word = 0u64;
    // SAFETY: SSE2 is part of x86-64, so every x86-64 processor runs these instructions; each load reads the
    // 16 bytes of four `i32`s of `keys` and asks for no alignment
    unsafe {
        let value = _mm_set1_epi32(value);
        for (i, four) in keys.chunks_exact(4).enumerate() {
            let four = _mm_loadu_si128(four.as_ptr().cast::<__m128i>());
            let answers = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(four, value)));
            word |= u64::from(answers as u32) << (4 * i);
        }
    }
    word
}

#[cfg(not(target_arch = "x86_64"))]
fn equal_word(keys: &[i32], value: i32) -> u64 {
    equal_bits(keys, value)
}

/// Bit `i`: whether `keys[i]` (at most 64) is `value`, a key at a time.
fn equal_bits(keys: &[i32], value: i32) -> u64 {
    keys.iter().enumerate().fold(0u64, |word, (bit, &key)| word | (u64::from(key == value) << bit))
}

/// Whether `left` and `right` hold the same text row by row (NULL equal to NULL). A pair of views found
/// equal once is remembered, so a run of one value against a run of the same value compares its bytes
/// once (as where `run_aggregate`'s sequence meets the text it saw in an earlier file).
pub fn same_text(left: &StringViewArray, right: &StringViewArray) -> bool {
    if left.len() != right.len() {
        return false;
    }
    let (left_views, right_views) = (left.views(), right.views());
    let nulls = left.nulls().is_some() || right.nulls().is_some();
    let mut known = None;
    for row in 0..left.len() {
        if nulls {
            match (left.is_valid(row), right.is_valid(row)) {
                (true, true) => {}
                (false, false) => continue,
                _ => return false,
            }
        }
        let pair = (left_views[row], right_views[row]);
        if Some(pair) == known {
            continue;
        }
        // the length and first four bytes first; text of up to 12 bytes is all in the view
        if pair.0 as u64 != pair.1 as u64 || (pair.0 as u32 <= INLINE && pair.0 != pair.1) {
            return false;
        }
        if pair.0 as u32 > INLINE && left.value(row) != right.value(row) {
            return false;
        }
        known = Some(pair);
    }
    true
}

impl fmt::Display for ViewEqualsText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} (by view)", self.expr, self.operator(), self.text)
    }
}

impl PhysicalExpr for ViewEqualsText {
    fn return_field(&self, input_schema: &Schema) -> Result<FieldRef> {
        let nullable = self.expr.nullable(input_schema)?;
        Ok(Arc::new(datafusion::arrow::datatypes::Field::new(self.to_string(), DataType::Boolean, nullable)))
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let value = match self.expr.downcast_ref::<CastExpr>() {
            // a dictionary cast to text (a scan reading a column it only filters on as a dictionary,
            // `dictionary_filters`): compared by its keys below, where the cast would make a view per row
            Some(cast) => {
                let uncast = cast.expr().evaluate(batch)?;
                match uncast.data_type() {
                    DataType::Dictionary(_, values) if values.is_string() => uncast,
                    _ => uncast.cast_to(cast.cast_type(), Some(cast.cast_options()))?,
                }
            }
            None => self.expr.evaluate(batch)?,
        };
        if let ColumnarValue::Array(array) = &value
            && let Some(views) = array.as_string_view_opt()
        {
            let equal = equal_by_view(views, &self.text);
            let answer = if self.negated { BooleanArray::new(!equal.values(), equal.nulls().cloned()) } else { equal };
            return Ok(ColumnarValue::Array(Arc::new(answer)));
        }
        if let ColumnarValue::Array(array) = &value
            && let Some(dictionary) = array.as_dictionary_opt::<Int32Type>()
        {
            return Ok(ColumnarValue::Array(Arc::new(equal_by_key(dictionary, &self.text, self.negated)?)));
        }
        // a scalar, or another text type: arrow's comparison
        let text = ScalarValue::Utf8(Some(self.text.clone())).cast_to(&value.data_type())?;
        let op = if self.negated { Operator::NotEq } else { Operator::Eq };
        apply_cmp(op, &value, &ColumnarValue::Scalar(text))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.expr]
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn PhysicalExpr>>) -> Result<Arc<dyn PhysicalExpr>> {
        let Ok([expr]) = <[_; 1]>::try_from(children) else {
            return internal_err!("ViewEqualsText has one child");
        };
        Ok(Arc::new(ViewEqualsText { expr, ..ViewEqualsText::clone(&self) }))
    }

    /// DataFusion's own comparison, the same for every row: what the statistics and page-index pruning
    /// (and a plan's wire form) understand.
    fn snapshot(&self) -> Result<Option<Arc<dyn PhysicalExpr>>> {
        let op = if self.negated { Operator::NotEq } else { Operator::Eq };
        let text = Arc::new(Literal::new(ScalarValue::Utf8View(Some(self.text.clone()))));
        Ok(Some(Arc::new(BinaryExpr::new(Arc::clone(&self.expr), op, text))))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt_sql(f)?;
        write!(f, " {} '{}'", self.operator(), self.text.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan_rules::testing;
    use datafusion::arrow::array::{ArrayRef, StringArray};
    use datafusion::arrow::datatypes::Field;
    use datafusion::catalog::MemTable;
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::prelude::SessionConfig;

    const KINDS: [&str; 5] =
        ["Partnergeweld: stalking", "Partnergeweld: fysiek", "Partnergeweld: stalkinG", "Totaal", "Tot"];

    #[test]
    fn equal_views_and_equal_text_agree_for_dictionary_and_plain_views() {
        // views into one dictionary (as the Parquet reader makes them), then each value with its own bytes
        // 12 bytes (all in the view) and 13 (in a buffer), sharing their first four
        let edges = ["Kindermishan", "Kindermishand", "Kindermishaa"];
        let dictionary = StringViewArray::from_iter(KINDS.iter().chain(&edges).map(|k| Some(*k)).chain([None]));
        let keys = [0u32, 0, 1, 0, 2, 2, 8, 3, 4, 0, 3, 1, 8, 0, 5, 6, 7, 5, 5, 6];
        let by_dictionary = datafusion::arrow::compute::take(
            &dictionary,
            &datafusion::arrow::array::UInt32Array::from(keys.to_vec()),
            None,
        )
        .unwrap();
        let plain: StringViewArray = by_dictionary.as_string_view().iter().collect();
        for array in [by_dictionary.as_string_view(), &plain] {
            for text in KINDS.iter().chain(&edges).copied().chain(["", "Partnergeweld: stalking ", "Kindermishanx"]) {
                let expected = datafusion::arrow::compute::kernels::cmp::eq(
                    array,
                    &datafusion::arrow::array::Scalar::new(StringViewArray::from(vec![text])),
                )
                .unwrap();
                assert_eq!(equal_by_view(array, text), expected, "{text:?}");
                let same = StringViewArray::from(vec![Some(text); array.len()]);
                let expected = datafusion::arrow::compute::kernels::cmp::not_distinct(array, &same).unwrap();
                assert_eq!(same_text(array, &same), expected.true_count() == array.len(), "{text:?}");
            }
        }
    }

    /// By key as arrow compares: one matching value, none, a value repeated in the dictionary, a NULL value,
    /// NULL keys (one pointing past the values), `=` and `<>`.
    #[test]
    fn equal_by_key_agrees_with_arrow_for_dictionaries() {
        use datafusion::arrow::array::{Int32Array, Scalar};
        let values =
            StringArray::from(vec![Some("Totaal"), Some("Partnergeweld: fysiek"), None, Some("Totaal"), Some("Tot")]);
        let keys = Int32Array::from(vec![Some(0), Some(1), None, Some(2), Some(4), Some(3), Some(1), Some(0), Some(4)]);
        let dictionary = DictionaryArray::new(keys, Arc::new(values.clone()));
        let mut past_end = dictionary.keys().values().to_vec();
        past_end[2] = 9;
        let past_end = DictionaryArray::new(
            datafusion::arrow::array::Int32Array::new(past_end.into(), dictionary.keys().nulls().cloned()),
            Arc::new(values),
        );
        // more than a word of answers: three words of 64 and eight rows more
        let long = DictionaryArray::new(
            Int32Array::from_iter((0..200).map(|i| (i % 13 != 12).then_some(i % 5))),
            Arc::clone(dictionary.values()),
        );
        // the NULL row of `past_end` is NULL in `dictionary` too
        for (array, same_as) in [(&dictionary, &dictionary), (&past_end, &dictionary), (&long, &long)] {
            for text in ["Totaal", "Partnergeweld: fysiek", "Tot", "", "Partnergeweld"] {
                let scalar = Scalar::new(StringArray::from(vec![text]));
                let plain = datafusion::arrow::compute::cast(same_as, &DataType::Utf8).unwrap();
                let expected = datafusion::arrow::compute::kernels::cmp::eq(&plain, &scalar).unwrap();
                assert_eq!(equal_by_key(array, text, false).unwrap(), expected, "= {text:?}");
                let expected = datafusion::arrow::compute::kernels::cmp::neq(&plain, &scalar).unwrap();
                assert_eq!(equal_by_key(array, text, true).unwrap(), expected, "<> {text:?}");
            }
        }
    }

    /// The word of 64 answers agrees with the answers a key at a time, for every position of a match.
    #[test]
    fn a_word_of_answers_agrees_with_a_key_at_a_time() {
        for at in 0..64 {
            let keys: Vec<i32> = (0..64).map(|i| if i == at || i % 9 == 4 { 7 } else { i }).collect();
            for value in [7, at, -1] {
                assert_eq!(equal_word(&keys, value), equal_bits(&keys, value), "{at} {value}");
            }
        }
    }

    #[test]
    fn same_text_agrees_with_arrow_for_runs_plain_values_and_nulls() {
        let dictionary = StringViewArray::from_iter(KINDS.iter().map(|k| Some(*k)).chain([None]));
        let by_keys = |keys: &[u32]| {
            let keys = datafusion::arrow::array::UInt32Array::from(keys.to_vec());
            datafusion::arrow::compute::take(&dictionary, &keys, None).unwrap()
        };
        let left = by_keys(&[0, 0, 0, 1, 1, 5, 3, 3]);
        let left = left.as_string_view();
        let plain: StringViewArray = left.iter().collect();
        for right in [
            &[0, 0, 0, 1, 1, 5, 3, 3][..],
            &[0, 0, 2, 1, 1, 5, 3, 3],
            &[0, 0, 0, 1, 1, 3, 3, 3],
            &[0, 0, 0, 1, 1, 5, 3, 4],
        ] {
            let right = by_keys(right);
            let right = right.as_string_view();
            let expected =
                datafusion::arrow::compute::kernels::cmp::not_distinct(left, right).unwrap().true_count() == 8;
            assert_eq!(same_text(left, right), expected, "{right:?}");
            assert_eq!(same_text(&plain, right), expected, "{right:?}");
            assert_eq!(same_text(right, &plain), expected, "{right:?}");
        }
        assert!(!same_text(left, &plain.slice(0, 7)));
    }

    /// The answer of `sql` over a table with a text column of each type (the same with vtsql's rules as
    /// without), and how many comparisons the plan makes by view.
    async fn by_view(sql: &str) -> usize {
        let schema = Arc::new(Schema::new(vec![
            Field::new("kind", DataType::Utf8View, true),
            Field::new("plain", DataType::Utf8, true),
        ]));
        let kinds: Vec<Option<&str>> = (0..40).map(|i| (i % 7 != 6).then_some(KINDS[i % 5])).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(kinds.iter().copied().collect::<StringViewArray>()),
            Arc::new(kinds.iter().copied().collect::<StringArray>()),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
        let table = Arc::new(MemTable::try_new(schema, vec![vec![batch.slice(0, 17), batch.slice(17, 23)]]).unwrap());
        let sessions = async |rules| {
            let ctx = testing::session(SessionConfig::new().with_target_partitions(1), rules);
            ctx.register_table("t", Arc::clone(&table) as _).unwrap();
            ctx
        };
        let compared = testing::off_and_on(sessions, sql).await;
        let mut found = 0;
        compared
            .plan
            .apply(|node| {
                node.apply_expressions(&mut |root| {
                    root.apply(|e| {
                        found += usize::from(e.downcast_ref::<ViewEqualsText>().is_some());
                        Ok(TreeNodeRecursion::Continue)
                    })
                })
            })
            .unwrap();
        found
    }

    #[tokio::test]
    async fn filters_give_the_same_rows_by_view() {
        for (sql, expected) in [
            ("SELECT kind, count(*) FROM t WHERE kind = 'Partnergeweld: stalking' GROUP BY kind", 1),
            ("SELECT kind, count(*) FROM t WHERE 'Tot' = kind OR kind <> 'Totaal' GROUP BY kind", 2),
            ("SELECT kind FROM t WHERE upper(kind) = 'TOTAAL' AND kind <> 'Tot'", 2),
            ("SELECT kind FROM t WHERE kind = 'Partnergeweld: stalking' AND plain = 'Partnergeweld: stalking'", 1),
            ("SELECT kind FROM t WHERE kind = NULL", 0),
            ("SELECT kind FROM t WHERE kind IS NOT DISTINCT FROM 'Tot'", 0),
        ] {
            assert_eq!(by_view(sql).await, expected, "{sql}");
        }
    }

    /// A Parquet scan that filters while it decodes compares by view, and its row groups are still pruned by
    /// their statistics: three row groups, one kind each; a filter on one kind reads one, on all but one two.
    #[tokio::test]
    async fn a_scan_filtering_while_it_decodes_compares_by_view_and_still_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("kind", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let file = std::fs::File::create(dir.path().join("t.parquet")).unwrap();
        let properties = datafusion::parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(30))
            .build();
        let mut writer =
            datafusion::parquet::arrow::ArrowWriter::try_new(file, Arc::clone(&schema), Some(properties)).unwrap();
        for kind in ["Partnergeweld: fysiek", "Partnergeweld: stalking", "Totaal"] {
            let kinds: Vec<Option<&str>> = (0..30).map(|i| (i % 7 != 6).then_some(kind)).collect();
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(kinds)),
                Arc::new(datafusion::arrow::array::Int64Array::from_iter_values(0..30)),
            ];
            writer.write(&RecordBatch::try_new(Arc::clone(&schema), columns).unwrap()).unwrap();
        }
        writer.close().unwrap();
        let create = format!(
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}/' OPTIONS ('format.pushdown_filters' 'true')",
            dir.path().display()
        );
        let sessions = async |rules| {
            let ctx = testing::session(SessionConfig::new().with_target_partitions(1), rules);
            ctx.sql(&create).await.unwrap();
            ctx
        };
        // rows 6, 13, 20 and 27 of each row group have no kind; n is the row's number in its row group
        for (sql, answer, read) in [
            ("SELECT count(*) AS c, sum(n) AS s FROM t WHERE kind = 'Partnergeweld: stalking'", "26 | 369", 1),
            ("SELECT count(*) AS c, sum(n) AS s FROM t WHERE kind = 'Totaal' AND n > 20", "8 | 198", 1),
            ("SELECT count(*) AS c, sum(n) AS s FROM t WHERE kind <> 'Totaal'", "52 | 738", 2),
        ] {
            let compared = testing::off_and_on(sessions, sql).await;
            assert_eq!(compared.rows, vec![answer.to_string()], "{sql}");
            let text =
                datafusion::physical_plan::display::DisplayableExecutionPlan::with_metrics(compared.plan.as_ref())
                    .indent(true)
                    .to_string();
            let scan = text.lines().find(|l| l.contains("DataSourceExec")).unwrap_or_default();
            assert!(scan.contains("(by view)"), "{sql}: {text}");
            assert!(
                scan.contains(&format!("row_groups_pruned_statistics=3 total \u{2192} {read} matched")),
                "{sql}: {scan}"
            );
        }
    }
}
