//! What the server tells clients about itself and its catalog: GetSqlInfo, GetXdbcTypeInfo, GetCatalogs,
//! GetDbSchemas, GetTables and GetTableTypes.

use arrow::array::RecordBatch;
use arrow_flight::sql::metadata::{
    GetCatalogsBuilder, GetDbSchemasBuilder, GetTablesBuilder, SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo,
    XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    CommandGetDbSchemas, CommandGetTableTypes, CommandGetTables, Nullable, Searchable, SqlInfo, SqlNullOrdering,
    SqlSupportedCaseSensitivity, SqlSupportedTransaction, XdbcDataType, XdbcDatetimeSubcode,
};
use datafusion::datasource::TableType;
use datafusion::prelude::SessionContext;
use tonic::Status;

use super::query::wire_schema;

/// Table types as Flight SQL names them.
pub const TABLE_TYPES: [&str; 3] = ["TABLE", "VIEW", "LOCAL TEMPORARY"];

fn table_type_name(t: TableType) -> &'static str {
    match t {
        TableType::Base => TABLE_TYPES[0],
        TableType::View => TABLE_TYPES[1],
        TableType::Temporary => TABLE_TYPES[2],
    }
}

fn arrow_error(e: impl std::fmt::Display) -> Status {
    Status::internal(format!("cannot build the metadata result: {e}"))
}

/// The answers to GetSqlInfo, fixed for the life of the server.
pub fn sql_info(statement_timeout_seconds: i32) -> Result<SqlInfoData, Status> {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "vtsql");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    // The Arrow IPC format version the server speaks (arrow-rs writes metadata version 5).
    b.append(SqlInfo::FlightSqlServerArrowVersion, "1.5 (arrow-rs 59)");
    b.append(SqlInfo::FlightSqlServerReadOnly, true);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(SqlInfo::FlightSqlServerTransaction, SqlSupportedTransaction::None as i32);
    b.append(SqlInfo::FlightSqlServerCancel, false);
    b.append(SqlInfo::FlightSqlServerBulkIngestion, false);
    b.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, false);
    b.append(SqlInfo::FlightSqlServerStatementTimeout, statement_timeout_seconds);
    b.append(SqlInfo::FlightSqlServerTransactionTimeout, 0i32);
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, false);
    b.append(SqlInfo::SqlDdlTable, false);
    b.append(SqlInfo::SqlIdentifierCase, SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32);
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.append(SqlInfo::SqlQuotedIdentifierCase, SqlSupportedCaseSensitivity::SqlCaseSensitivityCaseInsensitive as i32);
    b.append(SqlInfo::SqlAllTablesAreSelectable, true);
    // DataFusion sorts NULLs last in ascending and first in descending order, as "high" values do.
    b.append(SqlInfo::SqlNullOrdering, SqlNullOrdering::SqlNullsSortedHigh as i32);
    b.append(SqlInfo::SqlSearchStringEscape, "\\");
    b.append(SqlInfo::SqlSupportsColumnAliasing, true);
    b.append(SqlInfo::SqlNullPlusNullIsNull, true);
    b.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    b.append(SqlInfo::SqlSupportsDifferentTableCorrelationNames, false);
    b.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    b.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    b.append(SqlInfo::SqlTransactionsSupported, false);
    b.build().map_err(arrow_error)
}

fn xdbc(name: &str, data_type: XdbcDataType) -> XdbcTypeInfo {
    XdbcTypeInfo {
        type_name: name.into(),
        data_type,
        nullable: Nullable::NullabilityNullable,
        searchable: Searchable::Full,
        local_type_name: Some(name.into()),
        sql_data_type: data_type,
        ..Default::default()
    }
}

fn numeric(name: &str, data_type: XdbcDataType, precision: i32, radix: i32) -> XdbcTypeInfo {
    XdbcTypeInfo {
        column_size: Some(precision),
        unsigned_attribute: Some(false),
        num_prec_radix: Some(radix),
        searchable: Searchable::Basic,
        ..xdbc(name, data_type)
    }
}

/// The SQL types DataFusion accepts in CAST and column types, for GetXdbcTypeInfo.
pub fn xdbc_type_info() -> Result<XdbcTypeInfoData, Status> {
    let text = |name: &str, t| XdbcTypeInfo {
        literal_prefix: Some("'".into()),
        literal_suffix: Some("'".into()),
        case_sensitive: true,
        ..xdbc(name, t)
    };
    let datetime = |name: &str, subcode| XdbcTypeInfo {
        literal_prefix: Some(format!("{name} '")),
        literal_suffix: Some("'".into()),
        searchable: Searchable::Basic,
        sql_data_type: XdbcDataType::XdbcDatetime,
        datetime_subcode: Some(subcode),
        ..xdbc(name, XdbcDataType::XdbcDatetime)
    };
    let mut b = XdbcTypeInfoDataBuilder::new();
    b.append(XdbcTypeInfo { searchable: Searchable::Basic, ..xdbc("BOOLEAN", XdbcDataType::XdbcBit) });
    b.append(numeric("TINYINT", XdbcDataType::XdbcTinyint, 3, 10));
    b.append(numeric("SMALLINT", XdbcDataType::XdbcSmallint, 5, 10));
    b.append(numeric("INTEGER", XdbcDataType::XdbcInteger, 10, 10));
    b.append(numeric("BIGINT", XdbcDataType::XdbcBigint, 19, 10));
    b.append(numeric("REAL", XdbcDataType::XdbcReal, 24, 2));
    b.append(numeric("DOUBLE", XdbcDataType::XdbcDouble, 53, 2));
    b.append(XdbcTypeInfo {
        create_params: Some(vec!["precision".into(), "scale".into()]),
        fixed_prec_scale: true,
        minimum_scale: Some(0),
        maximum_scale: Some(38),
        ..numeric("DECIMAL", XdbcDataType::XdbcDecimal, 38, 10)
    });
    b.append(text("VARCHAR", XdbcDataType::XdbcVarchar));
    b.append(XdbcTypeInfo { searchable: Searchable::None, ..xdbc("BYTEA", XdbcDataType::XdbcVarbinary) });
    // The protocol's XDBC_SUBCODE_DATE is an alias of code 1, which prost names after YEAR.
    b.append(datetime("DATE", XdbcDatetimeSubcode::XdbcSubcodeYear));
    b.append(datetime("TIME", XdbcDatetimeSubcode::XdbcSubcodeTime));
    b.append(datetime("TIMESTAMP", XdbcDatetimeSubcode::XdbcSubcodeTimestamp));
    b.build().map_err(arrow_error)
}

/// GetCatalogs: every catalog of the session, sorted.
pub fn catalogs(ctx: &SessionContext) -> Result<RecordBatch, Status> {
    let mut b = GetCatalogsBuilder::new();
    let mut names = ctx.catalog_names();
    names.sort();
    for name in names {
        b.append(name);
    }
    b.build().map_err(arrow_error)
}

/// Every (catalog, schema) pair, sorted.
fn schemas(ctx: &SessionContext) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for catalog_name in ctx.catalog_names() {
        if let Some(catalog) = ctx.catalog(&catalog_name) {
            for schema in catalog.schema_names() {
                pairs.push((catalog_name.clone(), schema));
            }
        }
    }
    pairs.sort();
    pairs
}

/// GetDbSchemas, with the command's catalog and pattern filters applied by the builder.
pub fn db_schemas(ctx: &SessionContext, command: CommandGetDbSchemas) -> Result<RecordBatch, Status> {
    let mut b = command.into_builder();
    for (catalog, schema) in schemas(ctx) {
        b.append(catalog, schema);
    }
    b.build().map_err(arrow_error)
}

/// Builder for GetDbSchemas without data, for its schema.
pub fn db_schemas_schema(command: CommandGetDbSchemas) -> arrow::datatypes::SchemaRef {
    GetDbSchemasBuilder::from(command).schema()
}

/// GetTables: tables of every catalog and schema, with their wire schemas when asked for.
pub async fn tables(ctx: &SessionContext, command: CommandGetTables) -> Result<RecordBatch, Status> {
    let mut b: GetTablesBuilder = command.into_builder();
    for (catalog_name, schema_name) in schemas(ctx) {
        let Some(schema) = ctx.catalog(&catalog_name).and_then(|c| c.schema(&schema_name)) else { continue };
        let mut names = schema.table_names();
        names.sort();
        for name in names {
            let table =
                schema.table(&name).await.map_err(|e| Status::internal(format!("cannot open table {name}: {e}")))?;
            let Some(table) = table else { continue };
            let wire = wire_schema(&table.schema());
            b.append(&catalog_name, &schema_name, &name, table_type_name(table.table_type()), &wire)
                .map_err(arrow_error)?;
        }
    }
    b.build().map_err(arrow_error)
}

/// GetTableTypes.
pub fn table_types() -> Result<RecordBatch, Status> {
    let mut b = CommandGetTableTypes {}.into_builder();
    for t in TABLE_TYPES {
        b.append(t);
    }
    b.build().map_err(arrow_error)
}
