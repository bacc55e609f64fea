//! Every planner rule of a session, each asking the statement's [`Budget`] first: a statement planned past
//! its deadline, or one whose constant folding has used up its memory, stops at the next rule instead of
//! running every rule left (a plan of 50 joins of wide tables takes a second; a thread that plans for a client
//! who has already had a timeout must stop on its own, as nothing can stop it from outside).
//!
//! The wrappers change no plan and keep each rule's name, order and settings, so where vtsql's own rules
//! go among DataFusion's ([`super::install`]) is decided before they are wrapped.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::error::Result;
use datafusion::execution::SessionState;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::analyzer::AnalyzerRule;
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use vtsql_udfs::bounded::{Budget, budget};

/// `state` with every analyzer, optimizer and physical optimizer rule wrapped in a check of the statement's
/// budget (the analyzer's function rewrites and every other part of the state as they were).
pub fn watch(state: SessionState) -> SessionState {
    let mut builder = SessionStateBuilder::new_from_existing(state);
    if let Some(analyzer) = builder.analyzer() {
        for rule in &mut analyzer.rules {
            *rule = Arc::new(Watched(Arc::clone(rule)));
        }
    }
    if let Some(optimizer) = builder.optimizer() {
        for rule in &mut optimizer.rules {
            *rule = Arc::new(Watched(Arc::clone(rule)));
        }
    }
    if let Some(physical) = builder.physical_optimizers() {
        physical.rules = watch_physical(std::mem::take(&mut physical.rules));
    }
    builder.build()
}

/// `rules`, each wrapped in a check of the statement's budget.
pub fn watch_physical(rules: Vec<PhysicalRule>) -> Vec<PhysicalRule> {
    rules.into_iter().map(|rule| Arc::new(Watched(rule)) as PhysicalRule).collect()
}

type PhysicalRule = Arc<dyn PhysicalOptimizerRule + Send + Sync>;

/// A rule that runs only while the statement is within its budget.
#[derive(Debug)]
struct Watched<R: ?Sized>(Arc<R>);

fn check(config: &ConfigOptions) -> Result<()> {
    budget(config).map_or(Ok(()), |b: &Arc<Budget>| b.check_deadline())
}

impl AnalyzerRule for Watched<dyn AnalyzerRule + Send + Sync> {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        check(config)?;
        self.0.analyze(plan, config)
    }

    fn name(&self) -> &str {
        self.0.name()
    }
}

impl OptimizerRule for Watched<dyn OptimizerRule + Send + Sync> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.0.apply_order()
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        check(config.options().as_ref())?;
        self.0.rewrite(plan, config)
    }
}

impl PhysicalOptimizerRule for Watched<dyn PhysicalOptimizerRule + Send + Sync> {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        check(config)?;
        self.0.optimize(plan, config)
    }

    fn name(&self) -> &str {
        self.0.name()
    }

    fn schema_check(&self) -> bool {
        self.0.schema_check()
    }
}
