//! DataFusion's functions whose result can be far larger than their arguments (`repeat('x', 1500000000)`,
//! `lpad`, `range(1, 1e10)`, ...), bounded: before a call computes anything, the bytes it could produce
//! for the batch are worked out from its arguments, and a call that could make more than
//! [`VtsqlOptions::max_result_bytes`] is an error instead of an allocation that takes the process's
//! memory. The bound holds wherever the function runs, constant folding at planning included.
//!
//! Operators' memory is counted by DataFusion's memory pool; a function's result is not, which is why
//! these calls need a bound of their own. One call within the bound is not enough at planning, though:
//! constant folding keeps every value it makes in the plan, so fifty `repeat`s of 60 MB each, or a chain of
//! `encode`s that each double their argument, pass the bound call by call and take gigabytes together.
//! A statement with a [`StatementLimits`] therefore counts what every function makes while it is planned
//! against its memory pool, and every call checks the statement's deadline (see [`Budget`]).

use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::config::{ConfigEntry, ConfigExtension, ConfigOptions, ExtensionOptions};
use datafusion::common::{DataFusionError, ScalarValue, exec_err, extensions_options};
use datafusion::error::Result;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::preimage::PreimageResult;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ExpressionPlacement, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, StructFieldMapping,
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

/// How many copies of a value constant folding holds at once, which is what planning counts for each value a
/// function makes: the function's result, the `ScalarValue` folding turns it into, and, when the value is the
/// argument of the next call, the literal of the physical expression that evaluates that call and the array
/// the literal becomes. Measured on a release server: a `repeat` of 47.7 MiB, folded and passed to `length`,
/// took it from 49 to 250 MiB.
pub const COPIES_WHILE_PLANNING: usize = 4;

/// What one statement may use while it is planned: its memory pool, for the values constant folding makes,
/// and its deadline. Planning has no operator to count its memory and no stream to cancel, so the functions
/// it calls ([`bounded`]) and the planner's rules (vtsql wraps each) ask the budget instead; the first limit
/// hit is kept, and [`Budget::end_planning`] turns it into the statement's error.
///
/// DataFusion's constant folding swallows a function's error and leaves the call in the plan, partly folded:
/// a value of tens of megabytes inside an expression whose name DataFusion then formats, byte by byte, each
/// time it derives a schema (an `encode` chain past the limit took 18 s and gigabytes more after the error).
/// So a function that hits a limit while planning does not return: it unwinds with [`PlanningStopped`]
/// (without the panic hook: this is no panic), which the session catches around planning and turns into the
/// error.
#[derive(Debug)]
pub struct Budget {
    /// When the statement must be done, and the limit it came from (for the message).
    deadline: Option<(Instant, Duration)>,
    /// Bytes of values made while planning, held in the statement's pool until planning ends, and that pool.
    reservation: Option<(MemoryReservation, Arc<dyn MemoryPool>)>,
    /// Until [`Budget::end_planning`]: values made now stay in the plan and are counted.
    planning: AtomicBool,
    /// The first limit planning hit.
    hit: OnceLock<String>,
}

impl Budget {
    /// A budget that counts planning's values in `pool` (if any) and stops at `deadline` (if any): `timeout`
    /// from `started`.
    pub fn new(pool: Option<&Arc<dyn MemoryPool>>, started: Instant, timeout: Option<Duration>) -> Arc<Budget> {
        Arc::new(Budget {
            deadline: timeout.map(|t| (started + t, t)),
            reservation: pool
                .map(|pool| (MemoryConsumer::new("values made while planning").register(pool), Arc::clone(pool))),
            planning: AtomicBool::new(true),
            hit: OnceLock::new(),
        })
    }

    /// An error once the deadline has passed (while planning and while running).
    pub fn check_deadline(&self) -> Result<()> {
        if let Some((deadline, timeout)) = self.deadline
            && Instant::now() >= deadline
        {
            return Err(self.hit(format!("the statement took longer than its limit of {timeout:?}")));
        }
        if let Some(hit) = self.hit.get() {
            return Err(DataFusionError::ResourcesExhausted(hit.clone()));
        }
        Ok(())
    }

    /// Counts `bytes` a function made while planning, in the copies folding holds of it; an error when the pool
    /// has no room for them.
    fn charge(&self, bytes: usize) -> Result<()> {
        let Some((reservation, pool)) = self.planning() else { return Ok(()) };
        let bytes = bytes.saturating_mul(COPIES_WHILE_PLANNING);
        reservation.try_grow(bytes).map_err(|_| {
            self.hit(format!(
                "planning the statement holds more than {} in constant values, more than its memory limit of {} \
                 leaves room for",
                human(reservation.size() as u128 + bytes as u128),
                limit(pool)
            ))
        })
    }

    /// An error when a call that could make `bytes` while planning would pass the memory limit: refused before
    /// it allocates.
    fn refuses(&self, bytes: u128) -> Option<DataFusionError> {
        let (reservation, pool) = self.planning()?;
        let bytes = bytes.saturating_mul(COPIES_WHILE_PLANNING as u128);
        let room = match pool.memory_limit() {
            MemoryLimit::Finite(limit) => limit.saturating_sub(pool.reserved()) as u128,
            MemoryLimit::Infinite | MemoryLimit::Unknown => return None,
        };
        (bytes > room).then(|| {
            self.hit(format!(
                "planning the statement would hold {} more in constant values, beyond its memory limit of {} ({} \
                 held so far)",
                human(bytes),
                limit(pool),
                human(reservation.size() as u128)
            ))
        })
    }

    /// The reservation and pool, while planning.
    fn planning(&self) -> Option<&(MemoryReservation, Arc<dyn MemoryPool>)> {
        self.reservation.as_ref().filter(|_| self.planning.load(Ordering::Relaxed))
    }

    fn hit(&self, message: String) -> DataFusionError {
        DataFusionError::ResourcesExhausted(self.hit.get_or_init(|| message).clone())
    }

    /// `result`, unless it is an error of this budget's while planning: then planning stops here.
    fn or_stop<T>(&self, result: Result<T>) -> Result<T> {
        match (result, self.planning.load(Ordering::Relaxed), self.hit.get()) {
            (Err(_), true, Some(hit)) => std::panic::resume_unwind(Box::new(PlanningStopped(hit.clone()))),
            (result, _, _) => result,
        }
    }

    /// Planning is over: its values are in the plan, no longer counted; the first limit it hit, if any, is
    /// the statement's error.
    pub fn end_planning(&self) -> Result<()> {
        self.planning.store(false, Ordering::Relaxed);
        if let Some((reservation, _)) = &self.reservation {
            reservation.free();
        }
        match self.hit.get() {
            Some(hit) => Err(DataFusionError::ResourcesExhausted(hit.clone())),
            None => self.check_deadline(),
        }
    }
}

/// A pool's limit for people.
fn limit(pool: &Arc<dyn MemoryPool>) -> String {
    match pool.memory_limit() {
        MemoryLimit::Finite(limit) => human(limit as u128),
        MemoryLimit::Infinite | MemoryLimit::Unknown => "no bound".into(),
    }
}

/// What a function unwinds with when it hits the statement's limit while planning (see [`Budget`]): the
/// message of the limit.
#[derive(Debug)]
pub struct PlanningStopped(pub String);

/// The session setting that carries a statement's [`Budget`] (absent: no limits). It is not settable
/// with `SET`: the session puts it into the statement's own configuration.
#[derive(Debug, Clone, Default)]
pub struct StatementLimits {
    pub budget: Option<Arc<Budget>>,
}

impl ConfigExtension for StatementLimits {
    const PREFIX: &'static str = "vtsql_statement";
}

impl ExtensionOptions for StatementLimits {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, _value: &str) -> Result<()> {
        Err(DataFusionError::Configuration(format!("{}.{key} is set by vtsql, not by SET", Self::PREFIX)))
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        Vec::new()
    }
}

/// The budget of the statement `config` belongs to, if it has one.
pub fn budget(config: &ConfigOptions) -> Option<&Arc<Budget>> {
    config.extensions.get::<StatementLimits>()?.budget.as_ref()
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
    /// `encode(value, 'hex' | 'base64')`: up to two characters per byte.
    Encode,
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
            "encode" => Growth::Encode,
            _ => return None,
        })
    }
}

/// Each of `functions` in its bounded form: it checks the statement's deadline and counts what it makes while
/// planning ([`Budget`]), and one whose result can outgrow its arguments is called only when what it could
/// make stays within [`VtsqlOptions::max_result_bytes`]. Register them in place of the originals (same names,
/// same behaviour within the limits).
pub fn bounded(functions: impl IntoIterator<Item = Arc<ScalarUDF>>) -> Vec<ScalarUDF> {
    functions
        .into_iter()
        .map(|f| ScalarUDF::new_from_impl(Bounded { growth: Growth::of(f.name()), inner: f.as_ref().clone() }))
        .collect()
}

/// A function within the statement's limits; `growth` says how its result can outgrow its arguments.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: ScalarUDF,
    growth: Option<Growth>,
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
        let Some(growth) = self.growth else { return Ok(0) };
        Ok(match growth {
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
            Growth::Encode => rows_total(size(0)?.into_iter().map(|b| b * 2).collect()),
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
        let budget = budget(&args.config_options).cloned();
        if let Some(budget) = &budget {
            budget.or_stop(budget.check_deadline())?;
        }
        if self.growth.is_some() {
            let most = self.most_bytes(&args.args, args.number_rows)?;
            if let Some(bound) = bound(&args.config_options)
                && most > bound as u128
            {
                let message = format!(
                    "{} could make {} for {} row(s), more than the {} a call may make here (vtsql.max_result_bytes)",
                    self.name(),
                    human(most),
                    args.number_rows,
                    human(bound as u128)
                );
                return match &budget {
                    Some(budget) => budget.or_stop(Err(budget.hit(message))),
                    None => exec_err!("{message}"),
                };
            }
            if let Some(budget) = &budget
                && let Some(refused) = budget.refuses(most)
            {
                return budget.or_stop(Err(refused));
            }
        }
        let result = self.inner.invoke_with_args(args)?;
        if let Some(budget) = &budget {
            let made = match &result {
                ColumnarValue::Scalar(value) => value.size(),
                ColumnarValue::Array(array) => array.get_array_memory_size(),
            };
            budget.or_stop(budget.charge(made))?;
        }
        Ok(result)
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

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        let inner = self.inner.inner().with_updated_config(config)?;
        Some(ScalarUDF::new_from_impl(Bounded { inner, growth: self.growth }))
    }

    fn preimage(&self, args: &[Expr], lit_expr: &Expr, info: &SimplifyContext) -> Result<PreimageResult> {
        self.inner.inner().preimage(args, lit_expr, info)
    }

    fn conditional_arguments<'a>(&self, args: &'a [Expr]) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        self.inner.inner().conditional_arguments(args)
    }

    fn strictly_order_preserving(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.inner().strictly_order_preserving(inputs)
    }

    fn struct_field_mapping(&self, literal_args: &[Option<ScalarValue>]) -> Option<StructFieldMapping> {
        self.inner.inner().struct_field_mapping(literal_args)
    }

    fn placement(&self, args: &[ExpressionPlacement]) -> ExpressionPlacement {
        self.inner.inner().placement(args)
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

    /// Regression (hardening probe 2, item 3): calls each within the bound on one call, together beyond the
    /// statement's memory, stop planning (with the limit's message, not a panic's); what fits is folded as before
    /// and counted until planning ends.
    #[tokio::test]
    async fn planning_stops_when_its_values_pass_the_statements_memory() {
        use datafusion::execution::memory_pool::GreedyMemoryPool;
        async fn planned(sql: &'static str) -> (Result<String, String>, Arc<dyn MemoryPool>, Arc<Budget>) {
            let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1 << 20));
            let budget = Budget::new(Some(&pool), Instant::now(), None);
            let ctx = session(1 << 20).await;
            let limits = StatementLimits { budget: Some(Arc::clone(&budget)) };
            ctx.state_ref().write().config_mut().options_mut().extensions.insert(limits);
            // a task of its own, whose unwinding the join hands back
            let joined = tokio::spawn(async move {
                let plan = ctx.sql(sql).await?.into_optimized_plan()?;
                Ok::<_, DataFusionError>(plan.display_indent().to_string())
            })
            .await;
            let outcome = match joined {
                Ok(planned) => Ok(planned.expect(sql)),
                Err(e) => Err(e.into_panic().downcast::<PlanningStopped>().expect("planning stopped").0),
            };
            (outcome, pool, budget)
        }
        for sql in [
            "SELECT length(concat(repeat('a', 100000), repeat('b', 100000), repeat('c', 100000)))",
            "SELECT cardinality(make_array(repeat('a', 100000), repeat('b', 100000), repeat('c', 100000)))",
        ] {
            let stopped = planned(sql).await.0.expect_err(sql);
            assert!(stopped.contains("beyond its memory limit of 1.0 MiB"), "{sql}: {stopped}");
        }
        // 100,000 bytes, counted as the copies folding holds of them
        let (outcome, pool, budget) = planned("SELECT length(repeat('a', 100000)) AS n").await;
        assert!(outcome.unwrap().contains("Int32(100000) AS n"));
        assert!(pool.reserved() >= COPIES_WHILE_PLANNING * 100000, "the value is counted while planning");
        budget.end_planning().unwrap();
        assert_eq!(pool.reserved(), 0, "and no longer once planning ends");
    }
}
