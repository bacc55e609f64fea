//! A table of built-in rows that are made when a statement first reads the table, not when the session opens.
//!
//! Every process opens a session before its first statement, and most statements read none of the
//! gazetteer's tables: building their rows (and the built-in regions and population, where a data directory
//! has none of its own) took about a quarter of a `vtsql -c 'SELECT 1'` process's own work (benches/RESULTS.md,
//! round 14). The schema is known without the rows; the primary key is declared only where the rows keep it,
//! so it too waits for the rows.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{MemTable, Session, TableProvider};
use datafusion::common::{Constraints, Statistics};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

/// Makes the table's rows: called at most once.
pub type Make = Box<dyn Fn() -> Result<MemTable> + Send + Sync>;

/// A [`MemTable`] made on first use by `make`. Every [`TableProvider`] method that needs the rows makes them;
/// [`TableProvider::schema`] does not.
pub struct Deferred {
    schema: SchemaRef,
    make: Make,
    table: OnceLock<std::result::Result<MemTable, String>>,
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferred").field("schema", &self.schema).field("made", &self.table.get().is_some()).finish()
    }
}

impl Deferred {
    /// A table of `schema` whose rows `make` makes; the table it makes must have the same schema.
    pub fn new(schema: SchemaRef, make: Make) -> Deferred {
        Deferred { schema, make, table: OnceLock::new() }
    }

    /// Whether the rows have been made.
    #[cfg(test)]
    pub fn is_made(&self) -> bool {
        self.table.get().is_some()
    }

    /// The table, its rows made now if no statement has read them yet.
    pub fn table(&self) -> Result<&MemTable> {
        let made = self.table.get_or_init(|| {
            let table = (self.make)().map_err(|e| e.to_string())?;
            if table.schema() != self.schema {
                return Err(format!(
                    "built-in rows of schema {:?} for a table declared as {:?}",
                    table.schema(),
                    self.schema
                ));
            }
            Ok(table)
        });
        made.as_ref().map_err(|e| DataFusionError::Execution(e.clone()))
    }
}

#[async_trait]
impl TableProvider for Deferred {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The key the rows keep; none if the rows cannot be made (the scan then says why).
    fn constraints(&self) -> Option<&Constraints> {
        self.table().ok()?.constraints()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn statistics(&self) -> Option<Statistics> {
        self.table().ok()?.statistics()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.table()?.scan(state, projection, filters, limit).await
    }

    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.table()?.insert_into(state, input, insert_op).await
    }

    async fn delete_from(&self, state: &dyn Session, filters: Vec<Expr>) -> Result<Arc<dyn ExecutionPlan>> {
        self.table()?.delete_from(state, filters).await
    }

    async fn update(
        &self,
        state: &dyn Session,
        assignments: Vec<(String, Expr)>,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.table()?.update(state, assignments, filters).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::prelude::SessionContext;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, false)]))
    }

    #[tokio::test]
    async fn rows_are_made_once_and_only_when_read() {
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let make: Make = Box::new(|| {
            MADE.fetch_add(1, Ordering::SeqCst);
            let batch = RecordBatch::try_new(schema(), vec![Arc::new(Int32Array::from(vec![3, 4]))])?;
            MemTable::try_new(schema(), vec![vec![batch]])
        });
        let table = Arc::new(Deferred::new(schema(), make));
        let config = datafusion::prelude::SessionConfig::new().with_information_schema(true);
        let ctx = SessionContext::new_with_config(config);
        ctx.register_table("t", Arc::clone(&table) as Arc<dyn TableProvider>).unwrap();
        ctx.sql("SELECT 1").await.unwrap().collect().await.unwrap();
        let columns = ctx.sql("SELECT * FROM information_schema.columns WHERE table_name = 't'").await.unwrap();
        assert_eq!(columns.collect().await.unwrap()[0].num_rows(), 1);
        assert!(!table.is_made(), "neither a statement without the table nor its columns make its rows");
        for _ in 0..2 {
            let batches = ctx.sql("SELECT sum(n) AS s FROM t").await.unwrap().collect().await.unwrap();
            let sum = batches[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap();
            assert_eq!(sum.value(0), 7);
        }
        assert_eq!(MADE.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn rows_that_cannot_be_made_fail_the_statement_that_reads_them() {
        let make: Make = Box::new(|| Err(DataFusionError::Execution("no gazetteer".into())));
        let ctx = SessionContext::new();
        ctx.register_table("t", Arc::new(Deferred::new(schema(), make))).unwrap();
        let error = ctx.sql("SELECT n FROM t").await.unwrap().collect().await.unwrap_err();
        assert!(error.to_string().contains("no gazetteer"), "{error}");
        let other: Make = Box::new(|| {
            let wrong = Arc::new(Schema::new(vec![Field::new("m", DataType::Int32, false)]));
            MemTable::try_new(Arc::clone(&wrong), vec![vec![RecordBatch::new_empty(wrong)]])
        });
        ctx.register_table("u", Arc::new(Deferred::new(schema(), other))).unwrap();
        let error = ctx.sql("SELECT n FROM u").await.unwrap().collect().await.unwrap_err();
        assert!(error.to_string().contains("built-in rows of schema"), "{error}");
    }
}
