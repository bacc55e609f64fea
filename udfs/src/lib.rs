//! Functions for CBS Veilig Thuis data that DataFusion lacks.
//!
//! This crate knows nothing of the REPL or the server: it offers [`register_all`] for any
//! [`SessionContext`](datafusion::prelude::SessionContext).

pub mod bounded;
pub mod gazetteer;
pub mod halfyear;
pub mod period;
pub mod rates;
pub mod ssum;
pub mod table;

use datafusion::error::Result;
use std::sync::Arc;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

/// The documentation section of every function of this crate (`.functions` lists it first).
pub const DOC_SECTION: datafusion::logical_expr::DocSection =
    datafusion::logical_expr::DocSection { include: true, label: "Veilig Thuis functions", description: None };

/// Every scalar function of this crate.
pub fn scalar_functions() -> Vec<ScalarUDF> {
    let mut functions = vec![
        ScalarUDF::new_from_impl(rates::Per100k::default()),
        ScalarUDF::new_from_impl(rates::PerCapita::default()),
        ScalarUDF::new_from_impl(gazetteer::VtRegio::default()),
        ScalarUDF::new_from_impl(gazetteer::GmSuccessor::default()),
        ScalarUDF::new_from_impl(gazetteer::GmSuccessorShare::default()),
    ];
    functions.extend(halfyear::HalfYearFunction::all());
    functions
}

/// Registers every function of this crate in `ctx`, and DataFusion's functions whose result can outgrow
/// their arguments in their bounded form ([`bounded`]).
pub fn register_all(ctx: &SessionContext) -> Result<()> {
    let datafusion_functions: Vec<_> = ctx.state().scalar_functions().values().cloned().collect();
    for udf in bounded::bounded(datafusion_functions) {
        ctx.register_udf(udf);
    }
    for udf in scalar_functions() {
        ctx.register_udf(udf);
    }
    ctx.register_udaf(AggregateUDF::new_from_impl(ssum::Ssum::default()));
    ctx.register_udtf("halfyears", Arc::new(table::HalfYears));
    Ok(())
}
