//! sqllogictest over a fixture data directory (see `common::fixture`).

use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::DataFusionError;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};

use vtsql::session::{Options, Placement, Session};

use crate::common;

pub fn files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(common::repo().join("tests/slt"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "slt"));
    files.sort();
    files
}

/// Rows as the `.slt` files and the other checks compare them: every cell as text, NULL as `NULL`.
pub fn batches_to_rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    vtsql::rows::rows(batches, "NULL").expect("printable batches")
}

/// The SQL runner every face uses, one session per `.slt` file.
struct Vtsql {
    session: Session,
}

#[async_trait::async_trait]
impl AsyncDB for Vtsql {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        let running = self.session.start(sql, &Options::default()).await?;
        let schema = running.schema.clone();
        let batches = running.collect().await?;
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
            let session = Session::open(data, Placement::Local).await?;
            Ok::<_, DataFusionError>(Vtsql { session })
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
