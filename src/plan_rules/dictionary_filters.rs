//! Text columns that a Parquet scan only filters on, decoded as Arrow dictionaries:
//! [`FilterColumnsAsDictionaries`].
//!
//! A scan that evaluates its filter while it decodes (`pushdown_filters`, as over files vtsql did not write)
//! decodes each filter column before the columns it returns. Where a text column is dictionary-encoded in
//! the file (every writer's default for a column of few distinct values), decoding it into Arrow's string
//! views writes a 16-byte view per row, and the comparison then reads each of them: together half of the
//! time of a query that filters on the region level and on a kind of violence over 100 million rows
//! (`benches/RESULTS.md`, round 16). Decoded as an Arrow dictionary instead, a row is a 4-byte key taken
//! from the page as it is stored, and `column = 'text'` compares the page's few distinct values once and
//! looks each row's answer up by its key (Arrow's comparison of a dictionary with a scalar).
//!
//! Only columns the scan does not return, and filters only by `column = 'text'` or `column <> 'text'`
//! ([`ViewEqualsText`]), are read this way: no operator above the scan sees a dictionary (a dictionary in a
//! `GROUP BY` costs more than it saves in DataFusion 55), and no filter casts one back to text row by row
//! (`LIKE`, `IN`, a function of the column, a join's dynamic filter). The Parquet reader
//! takes the type of each column from the Arrow schema stored in the file's footer (`ARROW:schema`, as
//! pyarrow and DuckDB write it), else from the Parquet types; [`DictionaryReads`] gives the scan each
//! footer with that schema saying "dictionary" for the chosen columns, which is the way a file written from
//! a dictionary column reads. DataFusion's scan then casts the filter's comparisons to the column's type
//! while opening the file, and [`ViewEqualsText`] compares the dictionary by its keys
//! ([`super::text_equality::equal_by_key`]) instead of casting it. The statistics and page index prune as
//! before: DataFusion's pruning reads through a cast of a dictionary of text. Footers in the session's
//! metadata cache are not changed: each scan gets its own copy.
//!
//! A column whose pages fall back from dictionary to plain encoding (a dictionary grown past the writer's
//! limit) is still read correctly: the Parquet reader then builds the dictionary itself.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::config::ConfigOptions;
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::parquet;
use datafusion::parquet::arrow::{ARROW_SCHEMA_META_KEY, encode_arrow_schema, parquet_to_arrow_schema};
use datafusion::parquet::file::metadata::{FileMetaData, KeyValue, ParquetMetaData, ParquetMetaDataBuilder};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

use super::text_equality::ViewEqualsText;
use crate::catalog::footers::{FooterChange, FooterReaders};

/// Gives every Parquet scan that filters while decoding a reader of its filter-only text columns as
/// dictionaries (see the module documentation).
#[derive(Debug, Default)]
pub struct FilterColumnsAsDictionaries;

impl PhysicalOptimizerRule for FilterColumnsAsDictionaries {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        super::replace_each(plan, |scan: &DataSourceExec| {
            Ok(dictionary_scan(scan)?.map(|config| scan.clone().with_data_source(Arc::new(config))))
        })
    }

    fn name(&self) -> &str {
        "filter_columns_as_dictionaries"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The scan's files read with [`DictionaryReads`] for its filter-only text columns; `None` where the scan
/// does not filter while decoding or has no such column.
fn dictionary_scan(scan: &DataSourceExec) -> Result<Option<FileScanConfig>> {
    let Some((config, parquet)) = scan.downcast_to_file_source::<ParquetSource>() else {
        return Ok(None);
    };
    let (Some(predicate), Some(readers)) = (parquet.filter(), parquet.parquet_file_reader_factory()) else {
        return Ok(None);
    };
    if !parquet.table_parquet_options().global.pushdown_filters {
        return Ok(None);
    }
    let file_schema = parquet.table_schema().file_schema();
    let returned: Option<HashSet<String>> = parquet.projection().map(|projection| {
        projection.expr_iter().flat_map(|expr| collect_columns(&expr)).map(|c| c.name().to_string()).collect()
    });
    let Some(returned) = returned else {
        return Ok(None);
    };
    let (mut compared, mut other) = (HashSet::new(), HashSet::new());
    uses(&predicate, &mut compared, &mut other);
    let mut columns: Vec<String> = compared
        .into_iter()
        .filter(|name| !returned.contains(name) && !other.contains(name))
        .filter(|name| {
            file_schema
                .field_with_name(name)
                .is_ok_and(|f| matches!(f.data_type(), DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8))
        })
        .collect();
    if columns.is_empty() {
        return Ok(None);
    }
    columns.sort();
    let readers = FooterReaders::new(Arc::clone(readers), DictionaryReads { columns });
    let mut config = config.clone();
    config.file_source = Arc::new(parquet.clone().with_parquet_file_reader_factory(Arc::new(readers)));
    Ok(Some(config))
}

/// Sorts the columns `expr` reads into those it only compares with a text by view (the operand of a
/// [`ViewEqualsText`]), which a dictionary answers by its keys, and the rest, which would need the
/// dictionary cast back to text row by row (`LIKE`, `IN`, a function, a dynamic filter).
fn uses(expr: &Arc<dyn PhysicalExpr>, compared: &mut HashSet<String>, other: &mut HashSet<String>) {
    if let Some(by_view) = expr.downcast_ref::<ViewEqualsText>()
        && let Some(column) = by_view.operand().downcast_ref::<Column>()
    {
        compared.insert(column.name().to_string());
    } else if let Some(column) = expr.downcast_ref::<Column>() {
        other.insert(column.name().to_string());
    } else {
        for child in expr.children() {
            uses(child, compared, other);
        }
    }
}

/// The footers of a scan's files say that `columns` (text) are dictionaries ([`with_dictionaries`]).
#[derive(Debug)]
pub struct DictionaryReads {
    columns: Vec<String>,
}

impl FooterChange for DictionaryReads {
    fn footer(&self, footer: Arc<ParquetMetaData>) -> parquet::errors::Result<Arc<ParquetMetaData>> {
        with_dictionaries(footer, &self.columns)
    }
}

/// `footer` with its stored Arrow schema saying that `columns` are dictionaries of text, where the file
/// holds them as text; the footer itself where it holds none of them.
pub fn with_dictionaries(
    footer: Arc<ParquetMetaData>,
    columns: &[String],
) -> parquet::errors::Result<Arc<ParquetMetaData>> {
    let file = footer.file_metadata();
    let schema = parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())?;
    let mut changed = false;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| {
            let text = matches!(field.data_type(), DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8);
            if text && columns.iter().any(|c| c == field.name()) {
                changed = true;
                let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
                Field::clone(field).with_data_type(dictionary)
            } else {
                Field::clone(field)
            }
        })
        .collect();
    if !changed {
        return Ok(footer);
    }
    let schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    let mut key_values: Vec<KeyValue> =
        file.key_value_metadata().into_iter().flatten().filter(|kv| kv.key != ARROW_SCHEMA_META_KEY).cloned().collect();
    key_values.push(KeyValue::new(ARROW_SCHEMA_META_KEY.to_string(), encode_arrow_schema(&schema)));
    let file = FileMetaData::new(
        file.version(),
        file.num_rows(),
        file.created_by().map(str::to_owned),
        Some(key_values),
        file.schema_descr_ptr(),
        file.column_orders().cloned(),
    );
    let footer = ParquetMetaDataBuilder::new(file)
        .set_row_groups(footer.row_groups().to_vec())
        .set_column_index(footer.column_index().cloned())
        .set_offset_index(footer.offset_index().cloned())
        .build();
    Ok(Arc::new(footer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan_rules::testing;
    use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::properties::WriterProperties;
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    use datafusion::prelude::SessionConfig;

    const LEVELS: [&str; 3] = ["gemeente", "wijk", "land"];

    /// A row as written: region level, kind of violence, number.
    type Row = (Option<&'static str>, String, i64);

    /// Row `i`'s region level (NULL every eleventh row), kind of violence (one of 500, so that the
    /// writer's dictionary of 64 bytes overflows and later pages are stored plain) and number.
    fn row(i: i64) -> Row {
        let level = (i % 11 != 10).then_some(LEVELS[(i % 3) as usize]);
        (level, format!("kind {}", i * 7 % 500), i)
    }

    /// 3,000 rows in row groups of 1,000, written as another program would (text as Arrow strings).
    fn write_table(dir: &std::path::Path) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("level", DataType::Utf8, true),
            Field::new("kind", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(1000))
            .set_data_page_row_count_limit(100)
            .set_write_batch_size(100)
            .set_dictionary_page_size_limit(64)
            .build();
        let file = std::fs::File::create(dir.join("t.parquet")).unwrap();
        let mut writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(properties)).unwrap();
        for start in (0..3000).step_by(100) {
            let rows: Vec<_> = (start..start + 100).map(row).collect();
            let columns: Vec<ArrayRef> = vec![
                Arc::new(rows.iter().map(|r| r.0).collect::<StringArray>()),
                Arc::new(rows.iter().map(|r| Some(r.1.as_str())).collect::<StringArray>()),
                Arc::new(rows.iter().map(|r| r.2).collect::<Int64Array>()),
            ];
            writer.write(&RecordBatch::try_new(Arc::clone(&schema), columns).unwrap()).unwrap();
        }
        writer.close().unwrap();
    }

    /// The columns each Parquet scan of `plan` reads as dictionaries.
    fn dictionary_columns(plan: &Arc<dyn ExecutionPlan>) -> Vec<Vec<String>> {
        let mut found = Vec::new();
        plan.apply(|node| {
            if let Some(scan) = node.downcast_ref::<DataSourceExec>()
                && let Some((_, parquet)) = scan.downcast_to_file_source::<ParquetSource>()
            {
                // the factory has no `Any`; its debug form names it and its columns
                let readers = format!("{:?}", parquet.parquet_file_reader_factory());
                let columns = readers.split("DictionaryReads").nth(1).map(|rest| {
                    let list = &rest[rest.find("columns: [").expect("the columns") + 10..];
                    list[..list.find(']').expect("a list")]
                        .split(", ")
                        .map(|c| c.trim_matches('"').to_string())
                        .collect()
                });
                found.push(columns.unwrap_or_default());
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        found
    }

    /// Filters on columns read as dictionaries answer as DataFusion does with the text decoded, where a
    /// column's pages hold a dictionary and where they fell back to plain values, with NULLs; a column the
    /// scan returns, or filters in any other way than `=`/`<>` a text, is decoded as text.
    #[tokio::test]
    async fn columns_only_compared_with_a_text_are_read_as_dictionaries() {
        let dir = tempfile::tempdir().unwrap();
        write_table(dir.path());
        let reader = SerializedFileReader::new(std::fs::File::open(dir.path().join("t.parquet")).unwrap()).unwrap();
        let kind_encodings: HashSet<String> = (0..reader.num_row_groups())
            .flat_map(|g| {
                reader.metadata().row_group(g).column(1).encodings().map(|e| format!("{e:?}")).collect::<Vec<_>>()
            })
            .collect();
        assert!(kind_encodings.contains("PLAIN") && kind_encodings.contains("RLE_DICTIONARY"), "{kind_encodings:?}");
        let create = format!(
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}/' OPTIONS ('format.pushdown_filters' 'true')",
            dir.path().display()
        );
        let sessions = async |rules| {
            let ctx = testing::session(SessionConfig::new().with_target_partitions(2), rules);
            ctx.sql(&create).await.unwrap();
            ctx
        };
        // (count, sum of n) by hand, over the rows as written
        let by_hand = |keep: &dyn Fn(&Row) -> bool| {
            let kept: Vec<_> = (0..3000).map(row).filter(|r| keep(r)).collect();
            format!("{} | {}", kept.len(), kept.iter().map(|r| r.2).sum::<i64>())
        };
        let cases: [(&str, String, &[&str]); 6] = [
            (
                "SELECT count(*), sum(n) FROM t WHERE level = 'gemeente'",
                by_hand(&|r| r.0 == Some("gemeente")),
                &["level"],
            ),
            (
                "SELECT count(*), sum(n) FROM t WHERE level <> 'wijk' AND kind = 'kind 21'",
                by_hand(&|r| r.0.is_some_and(|l| l != "wijk") && r.1 == "kind 21"),
                &["kind", "level"],
            ),
            (
                "SELECT count(*), sum(n) FROM t WHERE kind <> 'kind 7' AND level = 'land'",
                by_hand(&|r| r.1 != "kind 7" && r.0 == Some("land")),
                &["kind", "level"],
            ),
            (
                "SELECT count(*), sum(n) FROM t WHERE level = 'gemeente' AND kind LIKE 'kind 1%'",
                by_hand(&|r| r.0 == Some("gemeente") && r.1.starts_with("kind 1")),
                &["level"],
            ),
            ("SELECT count(*), sum(n) FROM t WHERE level = 'provincie'", "0 | NULL".to_string(), &["level"]),
            (
                "SELECT count(*), sum(n) FROM t WHERE upper(level) = 'WIJK' OR level = 'land'",
                by_hand(&|r| r.0 == Some("wijk") || r.0 == Some("land")),
                &[],
            ),
        ];
        for (sql, answer, columns) in cases {
            let compared = testing::off_and_on(sessions, sql).await;
            assert_eq!(compared.rows, vec![answer], "{sql}");
            assert_eq!(dictionary_columns(&compared.plan), vec![columns.to_vec()], "{sql}");
            assert_eq!(dictionary_columns(&compared.plan_without), vec![Vec::<String>::new()], "{sql}");
        }
        // a column the scan returns stays text: the operators above it see what they always saw
        let sql = "SELECT level, count(*) FROM t WHERE level = 'wijk' AND kind = 'kind 3' GROUP BY level";
        let compared = testing::off_and_on(sessions, sql).await;
        let count = (0..3000).map(row).filter(|r| r.0 == Some("wijk") && r.1 == "kind 3").count();
        assert_eq!(compared.rows, vec![format!("wijk | {count}")], "{sql}");
        assert_eq!(dictionary_columns(&compared.plan), vec![vec!["kind".to_string()]]);
    }

    /// A footer given to a scan says "dictionary" for the text columns named, and only for them; one that
    /// holds none of them is the footer itself.
    #[test]
    fn a_footer_says_dictionary_for_the_text_columns_named() {
        let dir = tempfile::tempdir().unwrap();
        write_table(dir.path());
        let file = std::fs::File::open(dir.path().join("t.parquet")).unwrap();
        let footer = Arc::new(SerializedFileReader::new(file).unwrap().metadata().clone());
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let given = with_dictionaries(Arc::clone(&footer), &names(&["level", "n", "absent"])).unwrap();
        let schema =
            parquet_to_arrow_schema(given.file_metadata().schema_descr(), given.file_metadata().key_value_metadata())
                .unwrap();
        let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let types: Vec<_> = schema.fields().iter().map(|f| (f.name().as_str(), f.data_type().clone())).collect();
        assert_eq!(types, vec![("level", dictionary), ("kind", DataType::Utf8), ("n", DataType::Int64)]);
        assert_eq!(given.row_groups().len(), footer.row_groups().len());
        assert_eq!(given.file_metadata().num_rows(), 3000);
        // pyarrow's and DataFusion's other entries are kept
        let keys = |f: &ParquetMetaData| {
            f.file_metadata()
                .key_value_metadata()
                .into_iter()
                .flatten()
                .map(|kv| kv.key.clone())
                .collect::<HashSet<_>>()
        };
        assert_eq!(keys(&given), keys(&footer));
        let same = with_dictionaries(Arc::clone(&footer), &names(&["n", "absent"])).unwrap();
        assert!(Arc::ptr_eq(&same, &footer));
    }
}
