//! Plans that travel between a cluster's processes: Ballista's logical codec plus in-memory tables.

use std::sync::Arc;

use ballista_core::serde::BallistaLogicalExtensionCodec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion_proto::logical_plan::LogicalExtensionCodec;

use crate::catalog::deferred::Deferred;

/// Ballista's logical codec plus in-memory tables, which DataFusion's protobuf format has no node for: a
/// `MemTable` (or a built-in table, [`Deferred`]) is sent as an Arrow IPC stream behind a marker byte. Clients
/// and the scheduler both use it.
#[derive(Debug, Default)]
pub struct PlanCodec {
    ballista: BallistaLogicalExtensionCodec,
}

const MEMORY_TABLE: u8 = b'M';
const OTHER_TABLE: u8 = b'B';

impl PlanCodec {
    fn encode_memory(table: &MemTable, buf: &mut Vec<u8>) -> Result<()> {
        buf.push(MEMORY_TABLE);
        let mut writer = StreamWriter::try_new(&mut *buf, &table.schema())?;
        for partition in &table.batches {
            let batches = partition
                .try_read()
                .map_err(|_| DataFusionError::Internal("an in-memory table is being written while planned".into()))?;
            for batch in batches.iter() {
                writer.write(batch)?;
            }
        }
        writer.finish()?;
        Ok(())
    }

    fn decode_memory(bytes: &[u8], schema: SchemaRef) -> Result<Arc<dyn TableProvider>> {
        let reader = StreamReader::try_new(bytes, None)?;
        let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
    }
}

impl LogicalExtensionCodec for PlanCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match buf.split_first() {
            Some((&MEMORY_TABLE, bytes)) => Self::decode_memory(bytes, schema),
            Some((&OTHER_TABLE, bytes)) => self.ballista.try_decode_table_provider(bytes, table_ref, schema, ctx),
            _ => Err(DataFusionError::Internal(format!("table {table_ref} came without vtsql's table marker"))),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let any = node.as_ref() as &dyn std::any::Any;
        // a built-in table travels with its rows, made here if no statement of this process has read them
        let memory = match any.downcast_ref::<Deferred>() {
            Some(deferred) => Some(deferred.table()?),
            None => any.downcast_ref::<MemTable>(),
        };
        if let Some(table) = memory {
            return Self::encode_memory(table, buf);
        }
        buf.push(OTHER_TABLE);
        self.ballista.try_encode_table_provider(table_ref, node, buf).map_err(|e| match e {
            DataFusionError::NotImplemented(_) => DataFusionError::NotImplemented(format!(
                "table {table_ref} cannot run on a cluster: only Parquet tables and in-memory tables travel to it"
            )),
            e => e,
        })
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.ballista.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        self.ballista.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.ballista.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udwf(node, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[test]
    fn in_memory_tables_travel_in_the_plan() {
        let ctx = SessionContext::new();
        vtsql_udfs::register_all(&ctx).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let plan = rt.block_on(async {
            ctx.sql("SELECT * FROM halfyears('2019H2', '2021H1')").await.unwrap().into_optimized_plan()
        });
        let plan = plan.unwrap();
        let codec = PlanCodec::default();
        let bytes = datafusion_proto::bytes::logical_plan_to_bytes_with_extension_codec(&plan, &codec).unwrap();
        let back =
            datafusion_proto::bytes::logical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), &codec)
                .unwrap();
        let rows = rt.block_on(async {
            let batches = datafusion::prelude::DataFrame::new(ctx.state(), back).collect().await.unwrap();
            batches.iter().map(|b| b.num_rows()).sum::<usize>()
        });
        assert_eq!(rows, 4, "2019H2, 2020H1, 2020H2, 2021H1");
    }

    /// A built-in table that no statement has read yet travels with its rows, and reads back alike.
    #[test]
    fn built_in_tables_travel_with_their_rows() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = SessionContext::new();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(crate::catalog::register_tables(&ctx, dir.path())).unwrap();
        let sql = "SELECT count(*) AS n FROM region_names";
        let plan = rt.block_on(async { ctx.sql(sql).await.unwrap().into_unoptimized_plan() });
        let codec = PlanCodec::default();
        let provider = rt.block_on(ctx.table_provider("region_names")).unwrap();
        let mut buf = Vec::new();
        codec.try_encode_table_provider(&"region_names".into(), provider, &mut buf).unwrap();
        assert_eq!(buf.first(), Some(&MEMORY_TABLE), "sent as rows, not as a table the other side lacks");
        let bytes = datafusion_proto::bytes::logical_plan_to_bytes_with_extension_codec(&plan, &codec).unwrap();
        let back =
            datafusion_proto::bytes::logical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), &codec)
                .unwrap();
        let count = |plan: LogicalPlan| {
            rt.block_on(async {
                let batches = datafusion::prelude::DataFrame::new(ctx.state(), plan).collect().await.unwrap();
                crate::rows::rows(&batches, "").unwrap()
            })
        };
        let here = count(rt.block_on(async { ctx.sql(sql).await.unwrap().into_unoptimized_plan() }));
        assert_eq!(count(back), here);
        assert_ne!(here, vec![vec!["0".to_string()]], "the gazetteer names regions");
    }
}
