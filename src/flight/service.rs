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

type DoGetStream = <FlightSqlServer as FlightService>::DoGetStream;

/// A prepared statement: who made it, its SQL and the parameter values last bound with DoPut.
#[derive(Clone)]
struct Prepared {
    owner: String,
    sql: String,
    params: Vec<ScalarValue>,
    created: u64,
}

impl Prepared {
    fn bytes(&self) -> usize {
        self.sql.len() + self.params.iter().map(ScalarValue::size).sum::<usize>()
    }
}

/// Prepared statements kept open at once over all clients; creating one more closes the oldest.
const MAX_PREPARED: usize = 1_000;
/// Prepared statements one client identity keeps open; creating one more closes its oldest.
const MAX_PREPARED_PER_OWNER: usize = 100;
/// The SQL and bound values of all open prepared statements together, in bytes.
const MAX_PREPARED_BYTES: usize = 64 << 20;
/// The parameter values one DoPut may send, in bytes of Flight data: one row of values is far less.
const MAX_PARAMETER_BYTES: usize = 1 << 20;

/// The open prepared statements, each usable only by the identity that made it.
#[derive(Default)]
struct PreparedStatements {
    counter: u64,
    by_handle: HashMap<Vec<u8>, Prepared>,
    bytes: usize,
}

impl PreparedStatements {
    fn unknown() -> Status {
        Status::not_found("unknown prepared statement (closed, or the server restarted); prepare it again")
    }

    /// The statement behind `handle`, if `owner` made it (another's handle is as unknown as a closed one).
    fn get_mut(&mut self, owner: &str, handle: &[u8]) -> Result<&mut Prepared, Status> {
        self.by_handle.get_mut(handle).filter(|p| p.owner == owner).ok_or_else(Self::unknown)
    }

    fn remove(&mut self, handle: &[u8]) {
        if let Some(removed) = self.by_handle.remove(handle) {
            self.bytes -= removed.bytes();
        }
    }

    /// The oldest statement, of `owner` if given.
    fn oldest(&self, owner: Option<&str>) -> Option<Vec<u8>> {
        self.by_handle
            .iter()
            .filter(|(_, p)| owner.is_none_or(|o| p.owner == o))
            .min_by_key(|(_, p)| p.created)
            .map(|(handle, _)| handle.clone())
    }

    /// The owner whose open statements (with `new` counted as the owner's) take the most bytes, then the most
    /// statements.
    fn largest_owner(&self, new: &Prepared) -> Option<String> {
        let mut held: HashMap<&str, (usize, usize)> = HashMap::new();
        for p in self.by_handle.values() {
            let entry = held.entry(p.owner.as_str()).or_default();
            entry.0 += p.bytes();
            entry.1 += 1;
        }
        let own = held.entry(new.owner.as_str()).or_default();
        own.0 += new.bytes();
        own.1 += 1;
        held.into_iter()
            .filter(|(owner, (_, n))| *owner != new.owner || *n > 1)
            .max_by_key(|(owner, (bytes, n))| (*bytes, *n, *owner == new.owner))
            .map(|(owner, _)| owner.to_string())
    }

    /// Keeps `sql` under `handle` for `owner`, closing the oldest statements (the owner's first) beyond
    /// the bounds.
    fn insert(&mut self, handle: Vec<u8>, owner: String, sql: String) {
        self.counter += 1;
        let prepared = Prepared { owner, sql, params: Vec::new(), created: self.counter };
        while self.by_handle.values().filter(|p| p.owner == prepared.owner).count() >= MAX_PREPARED_PER_OWNER {
            let Some(oldest) = self.oldest(Some(&prepared.owner)) else { break };
            self.remove(&oldest);
        }
        // over the bounds of all clients together, the client holding the most gives up its oldest: one client's
        // statements never close another's that holds less
        while self.by_handle.len() >= MAX_PREPARED || self.bytes + prepared.bytes() > MAX_PREPARED_BYTES {
            let Some(largest) = self.largest_owner(&prepared) else { break };
            let Some(oldest) = self.oldest(Some(&largest)) else { break };
            self.remove(&oldest);
        }
        self.bytes += prepared.bytes();
        self.by_handle.insert(handle, prepared);
    }

    /// Binds `params` to `owner`'s statement `handle`, within the bound on bytes.
    fn bind(&mut self, owner: &str, handle: &[u8], params: Vec<ScalarValue>) -> Result<(), Status> {
        let statement = self.get_mut(owner, handle)?;
        let before = statement.bytes();
        statement.params = params;
        let after = statement.bytes();
        self.bytes = self.bytes - before + after;
        Ok(())
    }
}

/// vtsql's Flight SQL service: one catalog, read-only, queries streamed batch by batch.
pub struct FlightSqlServer {
    engine: Engine,
    auth: Arc<Auth>,
    sql_info: SqlInfoData,
    xdbc_info: XdbcTypeInfoData,
    prepared: Mutex<PreparedStatements>,
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

    fn statements(&self) -> std::sync::MutexGuard<'_, PreparedStatements> {
        self.prepared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The prepared statement behind `handle`, if the caller made it.
    fn prepared(&self, handle: &[u8], metadata: &tonic::metadata::MetadataMap) -> Result<Prepared, Status> {
        let owner = self.who(metadata);
        self.statements().get_mut(&owner, handle).map(|p| p.clone())
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
        let prepared = self.prepared(&query.prepared_statement_handle, request.metadata())?;
        self.flight_info(&prepared.sql, &prepared.params, query.as_any().encode_to_vec(), request.into_inner()).await
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let prepared = self.prepared(&query.prepared_statement_handle, request.metadata())?;
        self.stream_query(&prepared.sql, &prepared.params, request.metadata()).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let described = self.engine.describe(&query.query).await?;
        let handle = random_handle().map_err(|e| Status::internal(format!("cannot make a handle: {e}")))?.into_bytes();
        let owner = self.who(request.metadata());
        self.statements().insert(handle.clone(), owner, query.query);
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema: ipc_schema(&described.dataset_schema)?,
            parameter_schema: ipc_schema(&described.parameter_schema)?,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let owner = self.who(request.metadata());
        let mut statements = self.statements();
        let handle = query.prepared_statement_handle.as_ref();
        statements.get_mut(&owner, handle)?;
        statements.remove(handle);
        Ok(())
    }

    /// Binds parameter values: one row, one column per parameter. Reading stops at the second row or
    /// beyond [`MAX_PARAMETER_BYTES`], so a client cannot make the server hold what it sends.
    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let handle = query.prepared_statement_handle.to_vec();
        let owner = self.who(request.metadata());
        self.prepared(&handle, request.metadata())?;
        let mut received = 0usize;
        let flight_data = request.into_inner().map_err(FlightError::from).and_then(move |data| {
            received += data.data_header.len() + data.data_body.len() + data.app_metadata.len();
            let within = received <= MAX_PARAMETER_BYTES;
            std::future::ready(if within {
                Ok(data)
            } else {
                Err(FlightError::Tonic(Box::new(Status::invalid_argument(format!(
                    "the parameter values are larger than {} KiB; a query takes one row of values",
                    MAX_PARAMETER_BYTES >> 10
                )))))
            })
        });
        let mut batches = arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(flight_data);
        let mut row = None;
        while let Some(batch) = batches.try_next().await? {
            match (batch.num_rows(), &row) {
                (0, _) => {}
                (1, None) => row = Some(batch),
                _ => {
                    return Err(Status::invalid_argument(
                        "more than one row of parameter values was bound; a query takes one row",
                    ));
                }
            }
        }
        let params = match row {
            None => Vec::new(),
            Some(batch) => batch
                .columns()
                .iter()
                .map(|column| ScalarValue::try_from_array(column, 0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Status::invalid_argument(format!("cannot read the parameter values: {e}")))?,
        };
        self.statements().bind(&owner, &handle, params)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (second probe, item 9): bob's 70 statements of 1 MB closed alice's, as the bound on all
    /// statements together closed the oldest of anyone. Now the client that holds the most gives way.
    #[test]
    fn one_client_never_closes_another_that_holds_less() {
        let mut statements = PreparedStatements::default();
        statements.insert(b"alice-1".to_vec(), "alice".into(), "SELECT 1".into());
        let big = "x".repeat(1 << 20);
        for i in 0..70 {
            statements.insert(format!("bob-{i}").into_bytes(), "bob".into(), big.clone());
        }
        assert!(statements.get_mut("alice", b"alice-1").is_ok(), "alice's statement stays open");
        assert!(statements.bytes <= MAX_PREPARED_BYTES);
        assert!(statements.get_mut("bob", b"bob-0").is_err(), "bob's oldest made room for his newest");
        assert!(statements.get_mut("bob", b"bob-69").is_ok());
        // alice's next statement closes bob's oldest, not hers
        statements.insert(b"alice-2".to_vec(), "alice".into(), big.clone());
        assert!(statements.get_mut("alice", b"alice-1").is_ok() && statements.get_mut("alice", b"alice-2").is_ok());
        assert!(statements.bytes <= MAX_PREPARED_BYTES);
        // the per-client bound still closes the client's own oldest
        for i in 0..MAX_PREPARED_PER_OWNER {
            statements.insert(format!("carol-{i}").into_bytes(), "carol".into(), "SELECT 2".into());
        }
        statements.insert(b"carol-last".to_vec(), "carol".into(), "SELECT 3".into());
        assert!(statements.get_mut("carol", b"carol-0").is_err());
        assert!(statements.get_mut("alice", b"alice-1").is_ok());
    }
}
