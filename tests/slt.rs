//! sqllogictest over a fixture data directory (see `common::fixture`).

use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};

use crate::common;

pub fn files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(common::repo().join("tests/slt"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "slt"));
    files.sort();
    files
}

pub fn batches_to_rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<ArrayFormatter> =
            batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap()).collect();
        for i in 0..batch.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    rows
}

struct Vtsql {
    ctx: SessionContext,
}

#[async_trait::async_trait]
impl AsyncDB for Vtsql {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        let df = self.ctx.sql(sql).await?;
        let schema = df.schema().inner().clone();
        let batches = df.collect().await?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                t if t.is_integer() => DefaultColumnType::Integer,
                DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
                    DefaultColumnType::FloatingPoint
                }
                _ => DefaultColumnType::Text,
            })
            .collect();
        Ok(DBOutput::Rows { types, rows: batches_to_rows(&batches) })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "vtsql"
    }
}

pub fn run_file(path: &Path, complete: bool) -> Result<(), String> {
    let data = common::fixture();
    common::runtime().block_on(async {
        let mut runner = Runner::new(|| async {
            let ctx = vtsql::catalog::open(data).await?;
            Ok::<_, DataFusionError>(Vtsql { ctx })
        });
        if complete {
            runner
                .update_test_file(
                    path,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .map_err(|e| e.to_string())
        } else {
            runner.run_file_async(path).await.map_err(|e| e.display(true).to_string())
        }
    })
}
