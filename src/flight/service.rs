//! The Flight SQL RPCs, on arrow-flight's `FlightSqlService`.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, XdbcTypeInfoData};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandGetXdbcTypeInfo, CommandPreparedStatementQuery, CommandPreparedStatementUpdate, CommandStatementIngest,
    CommandStatementQuery, CommandStatementSubstraitPlan, CommandStatementUpdate, DoPutPreparedStatementResult,
    ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage, SchemaAsIpc,
    Ticket,
};
use datafusion::common::ScalarValue;
use futures::{Stream, TryStreamExt, stream};
use prost::Message;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use super::auth::{Auth, random_handle};
use super::metadata;
use super::query::Engine;

/// Prepared statements kept open at once (over all clients); creating one more closes the oldest.
const MAX_PREPARED: usize = 10_000;

type DoGetStream = <FlightSqlServer as FlightService>::DoGetStream;

/// A prepared statement: its SQL and the parameter values last bound with DoPut.
#[derive(Clone)]
struct Prepared {
    sql: String,
    params: Vec<ScalarValue>,
    created: u64,
}

/// vtsql's Flight SQL service: one catalog, read-only, queries streamed batch by batch.
pub struct FlightSqlServer {
    engine: Engine,
    auth: Arc<Auth>,
    sql_info: SqlInfoData,
    xdbc_info: XdbcTypeInfoData,
    prepared: Mutex<(u64, HashMap<Vec<u8>, Prepared>)>,
}

impl FlightSqlServer {
    pub fn new(engine: Engine, auth: Arc<Auth>) -> Result<Self, Status> {
        let timeout = i32::try_from(engine.limits().query_timeout.as_secs()).unwrap_or(i32::MAX);
        Ok(FlightSqlServer {
            sql_info: metadata::sql_info(timeout)?,
            xdbc_info: metadata::xdbc_type_info()?,
            engine,
            auth,
            prepared: Mutex::default(),
        })
    }

    fn prepared(&self, handle: &[u8]) -> Result<Prepared, Status> {
        let prepared = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
        prepared.1.get(handle).cloned().ok_or_else(|| {
            Status::not_found("unknown prepared statement (closed, or the server restarted); prepare it again")
        })
    }

    fn who(&self, metadata: &tonic::metadata::MetadataMap) -> String {
        match self.auth.check(metadata) {
            Ok(super::auth::Identity::User(user)) => user,
            Ok(super::auth::Identity::Token) => "token".into(),
            _ => "anonymous".into(),
        }
    }

    /// Plans and streams `sql`: the schema message first (the same wire schema FlightInfo announced), then
    /// one message per batch, produced only as fast as the client reads.
    async fn stream_query(
        &self,
        sql: &str,
        params: &[ScalarValue],
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<Response<DoGetStream>, Status> {
        let planned = self.engine.plan(sql, params).await?;
        let schema = planned.wire_schema.clone();
        let label = format!("{}: {}", self.who(metadata), one_line(sql));
        let batches = self.engine.execute(planned, label).await?;
        Ok(encode(schema, batches))
    }

    async fn flight_info(
        &self,
        sql: &str,
        params: &[ScalarValue],
        ticket: Vec<u8>,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let planned = self.engine.plan(sql, params).await?;
        info(&planned.wire_schema, ticket, descriptor)
    }
}

/// A FlightInfo with one endpoint on this server.
fn info(schema: &Schema, ticket: Vec<u8>, descriptor: FlightDescriptor) -> Result<Response<FlightInfo>, Status> {
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("cannot encode the schema: {e}")))?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
        .with_descriptor(descriptor)
        .with_ordered(true);
    Ok(Response::new(info))
}

fn encode<S>(schema: SchemaRef, batches: S) -> Response<DoGetStream>
where
    S: Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static,
{
    let stream = FlightDataEncoderBuilder::new().with_schema(schema).build(batches).map_err(Status::from);
    Response::new(Box::pin(stream))
}

fn one_batch(batch: RecordBatch) -> Response<DoGetStream> {
    encode(batch.schema(), stream::iter([Ok(batch)]))
}

fn one_line(sql: &str) -> String {
    let line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 200 { format!("{}…", line.chars().take(200).collect::<String>()) } else { line }
}

fn ipc_schema(schema: &Schema) -> Result<prost::bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow::error::ArrowError| Status::internal(format!("cannot encode the schema: {e}")))?;
    Ok(bytes)
}

fn read_only(what: &str) -> Status {
    Status::permission_denied(format!("vtsql serve is read-only: {what} is not allowed"))
}

#[tonic::async_trait]
impl FlightSqlService for FlightSqlServer {
    type FlightService = FlightSqlServer;

    /// Basic credentials (checked by the interceptor) are answered with a bearer token, in the
    /// `authorization` header and as the payload, as the JDBC and ADBC drivers expect.
    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>, Status> {
        let identity = self.auth.check(request.metadata())?;
        let token = self.auth.token_for(&identity, request.metadata())?;
        let payload = token.clone().unwrap_or_default();
        let response = HandshakeResponse { protocol_version: 0, payload: payload.into_bytes().into() };
        let mut response = Response::new(Box::pin(stream::iter([Ok(response)])) as Pin<Box<_>>);
        if let Some(token) = token {
            let value: MetadataValue<_> = format!("Bearer {token}")
                .parse()
                .map_err(|_| Status::internal("the token is not a valid header value"))?;
            response.metadata_mut().insert("authorization", value);
        }
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        // The ticket carries the SQL itself, so DoGet needs no server-side state and plans it again.
        let ticket = TicketStatementQuery { statement_handle: query.query.clone().into_bytes().into() };
        self.flight_info(&query.query, &[], ticket.as_any().encode_to_vec(), request.into_inner()).await
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let sql = String::from_utf8(ticket.statement_handle.to_vec())
            .map_err(|_| Status::invalid_argument("the ticket is not a vtsql statement"))?;
        self.stream_query(&sql, &[], request.metadata()).await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let prepared = self.prepared(&query.prepared_statement_handle)?;
        self.flight_info(&prepared.sql, &prepared.params, query.as_any().encode_to_vec(), request.into_inner()).await
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let prepared = self.prepared(&query.prepared_statement_handle)?;
        self.stream_query(&prepared.sql, &prepared.params, request.metadata()).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let described = self.engine.describe(&query.query).await?;
        let handle = random_handle().map_err(|e| Status::internal(format!("cannot make a handle: {e}")))?.into_bytes();
        let mut prepared = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
        let (counter, statements) = &mut *prepared;
        *counter += 1;
        if statements.len() >= MAX_PREPARED
            && let Some(oldest) = statements.iter().min_by_key(|(_, p)| p.created).map(|(h, _)| h.clone())
        {
            statements.remove(&oldest);
        }
        statements.insert(handle.clone(), Prepared { sql: query.query, params: Vec::new(), created: *counter });
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema: ipc_schema(&described.dataset_schema)?,
            parameter_schema: ipc_schema(&described.parameter_schema)?,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        let mut prepared = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
        prepared.1.remove(query.prepared_statement_handle.as_ref());
        Ok(())
    }

    /// Binds parameter values: one row, one column per parameter.
    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let handle = query.prepared_statement_handle.to_vec();
        self.prepared(&handle)?;
        let flight_data = request.into_inner().map_err(FlightError::from);
        let batches: Vec<RecordBatch> =
            arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(flight_data).try_collect().await?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let params = match batches.iter().find(|b| b.num_rows() > 0) {
            None => Vec::new(),
            Some(_) if rows > 1 => {
                return Err(Status::invalid_argument(format!(
                    "{rows} parameter rows were bound; a query takes one row of values"
                )));
            }
            Some(batch) => batch
                .columns()
                .iter()
                .map(|column| ScalarValue::try_from_array(column, 0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Status::invalid_argument(format!("cannot read the parameter values: {e}")))?,
        };
        let mut prepared = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
        let statement =
            prepared.1.get_mut(&handle).ok_or_else(|| Status::not_found("the prepared statement was closed"))?;
        statement.params = params;
        Ok(DoPutPreparedStatementResult { prepared_statement_handle: Some(handle.into()) })
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        info(&schema, query.as_any().encode_to_vec(), request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        _query: CommandGetCatalogs,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        Ok(one_batch(metadata::catalogs(self.engine.context())?))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = metadata::db_schemas_schema(query.clone());
        info(&schema, query.as_any().encode_to_vec(), request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        Ok(one_batch(metadata::db_schemas(self.engine.context(), query)?))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        info(&schema, query.as_any().encode_to_vec(), request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        Ok(one_batch(metadata::tables(self.engine.context(), query).await?))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        info(&schema, query.as_any().encode_to_vec(), request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        _query: CommandGetTableTypes,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        Ok(one_batch(metadata::table_types()?))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder(&self.sql_info).schema();
        info(&schema, query.as_any().encode_to_vec(), request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let batch = query.into_builder(&self.sql_info).build().map_err(|e| Status::internal(e.to_string()))?;
        Ok(one_batch(batch))
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder(&self.xdbc_info).schema();
        info(&schema, query.as_any().encode_to_vec(), request.into_inner())
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let batch = query.into_builder(&self.xdbc_info).build().map_err(|e| Status::internal(e.to_string()))?;
        Ok(one_batch(batch))
    }

    async fn do_put_statement_update(
        &self,
        _ticket: CommandStatementUpdate,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(read_only("an update statement (DDL or DML)"))
    }

    async fn do_put_prepared_statement_update(
        &self,
        _query: CommandPreparedStatementUpdate,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(read_only("a prepared update statement"))
    }

    async fn do_put_statement_ingest(
        &self,
        _ticket: CommandStatementIngest,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(read_only("bulk ingestion (load CBS files with `vtsql ingest`)"))
    }

    async fn do_put_substrait_plan(
        &self,
        _query: CommandStatementSubstraitPlan,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(Status::unimplemented("Substrait plans are not supported; send SQL"))
    }

    /// The SqlInfo answers are fixed when the server starts (see `metadata::sql_info`); arrow-flight
    /// requires this hook but never calls it.
    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
