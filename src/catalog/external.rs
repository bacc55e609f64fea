//! `CREATE EXTERNAL TABLE ... STORED AS PARQUET` over files vtsql did not write: DataFusion's own factory, with
//! filters evaluated while the Parquet pages are decoded (`pushdown_filters`, late materialisation) unless the
//! statement says otherwise.
//!
//! vtsql's own tables are sorted by the columns queries filter on and carry a page index, so their filters
//! already skip whole pages and row groups; decoding the filter columns first costs more than it saves there
//! (the suite at 100M: 1.06× slower with it). Someone else's files are in whatever order they were written,
//! usually with row groups of a million rows and no useful statistics for a text filter: without late
//! materialisation every column of every row is decoded before the filter drops most rows (the suite over
//! such files at 100M: 0.56× the time with it). Both numbers are in `benches/RESULTS.md`, round 11.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::datasource::provider::DefaultTableFactory;
use datafusion::error::Result;
use datafusion::logical_expr::CreateExternalTable;

/// The option key, as `OPTIONS ('format.pushdown_filters' 'false')` names it.
const PUSHDOWN: &str = "format.pushdown_filters";

/// The Parquet table factory of a vtsql session: see the module's documentation.
#[derive(Debug, Default)]
pub struct ForeignParquet {
    inner: DefaultTableFactory,
}

#[async_trait]
impl TableProviderFactory for ForeignParquet {
    async fn create(&self, state: &dyn Session, cmd: &CreateExternalTable) -> Result<Arc<dyn TableProvider>> {
        if cmd.options.keys().any(|k| k.eq_ignore_ascii_case(PUSHDOWN)) {
            return self.inner.create(state, cmd).await;
        }
        let mut cmd = cmd.clone();
        cmd.options.insert(PUSHDOWN.to_string(), "true".to_string());
        self.inner.create(state, &cmd).await
    }
}
