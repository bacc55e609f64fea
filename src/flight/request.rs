//! What a client's request bytes become before anything runs: the Flight SQL command in a descriptor,
//! ticket or action, and the statement or name patterns in it. [`read_request`] does all of it on bytes
//! alone, for the fuzz target and the property tests: any bytes give a command or an error, never a panic.

use arrow::datatypes::Schema;
use arrow_flight::sql::{Any, Command};
use prost::Message;
use tonic::Status;

use super::query::{client_sql, status};
use crate::session;

/// Decodes `bytes` as a client's command and reads what vtsql reads of it: a statement is numbered and
/// parsed as the server would plan it, name patterns are applied to a few names.
pub fn read_request(bytes: &[u8]) -> Result<(), Status> {
    let any = Any::decode(bytes).map_err(|e| Status::invalid_argument(format!("not a Flight SQL command: {e}")))?;
    let command = Command::try_from(any).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let sql = match command {
        Command::CommandStatementQuery(query) => query.query,
        Command::ActionCreatePreparedStatementRequest(request) => request.query,
        Command::TicketStatementQuery(ticket) => String::from_utf8(ticket.statement_handle.to_vec())
            .map_err(|_| Status::invalid_argument("the ticket is not a vtsql statement"))?,
        Command::CommandGetTables(query) => {
            let mut tables = query.into_builder();
            for name in ["veilig_thuis", "regions", "population", "Ä_ünicode"] {
                tables
                    .append("vtsql", "public", name, "TABLE", &Schema::empty())
                    .map_err(|e| Status::internal(e.to_string()))?;
            }
            tables.build().map_err(|e| Status::invalid_argument(e.to_string()))?;
            return Ok(());
        }
        Command::CommandGetDbSchemas(query) => {
            let mut schemas = query.into_builder();
            schemas.append("vtsql", "public");
            schemas.append("vtsql", "information_schema");
            schemas.build().map_err(|e| Status::invalid_argument(e.to_string()))?;
            return Ok(());
        }
        _ => return Ok(()),
    };
    session::parse(&client_sql(&sql)?).map_err(status)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_flight::sql::{CommandGetTables, CommandStatementQuery, ProstMessageExt};

    #[test]
    fn commands_are_read() {
        let query = CommandStatementQuery { query: "SELECT ? + 1".into(), transaction_id: None };
        read_request(&query.as_any().encode_to_vec()).unwrap();
        let bad = CommandStatementQuery { query: "SELEC".into(), transaction_id: None };
        assert!(read_request(&bad.as_any().encode_to_vec()).is_err());
        let tables = CommandGetTables {
            table_name_filter_pattern: Some("%a_%".into()),
            include_schema: true,
            ..Default::default()
        };
        read_request(&tables.as_any().encode_to_vec()).unwrap();
        assert!(read_request(b"\xff\x00junk").is_err());
    }

    proptest::proptest! {
        /// Any bytes, and any text as a statement or a name pattern, are read or refused, never a panic
        /// (the short form of the `flight_request` fuzz target).
        #[test]
        fn requests_are_read_or_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = read_request(&bytes);
        }

        #[test]
        fn statements_and_patterns_are_read_or_refused(text in "[ -~é€\\n]{0,120}") {
            let query = CommandStatementQuery { query: text.clone(), transaction_id: None };
            let _ = read_request(&query.as_any().encode_to_vec());
            let tables = CommandGetTables { table_name_filter_pattern: Some(text), ..Default::default() };
            let _ = read_request(&tables.as_any().encode_to_vec());
        }
    }
}
