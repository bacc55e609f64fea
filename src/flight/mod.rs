//! `vtsql serve`: the catalog over Arrow Flight SQL, for notebooks (pyarrow, ADBC, pandas, polars).
//!
//! One process serves one data directory, read-only. Auth is a bearer token (`--token`) or users with
//! passwords (`--users`, traded for a token through Handshake); without either the server listens on
//! loopback only. Every query gets its own memory pool, a deadline and a slot among `max_concurrent`.

pub mod auth;
pub mod metadata;
pub mod query;
pub mod request;
pub mod service;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Server, ServerTlsConfig};

use crate::session::Session;
pub use auth::Auth;
pub use query::{Engine, Limits};
pub use request::read_request;
pub use service::FlightSqlServer;

/// How long in-flight queries may run on after SIGTERM or Ctrl-C before the server exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum FlightError {
    #[error("refusing to listen on {0} without authentication: pass --token or --users, or bind to 127.0.0.1")]
    UnsafeBind(SocketAddr),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}: {reason}", path.display())]
    Users { path: PathBuf, line: usize, reason: String },
    #[error("--tls-cert and --tls-key go together")]
    HalfTls,
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot open the data directory: {0}")]
    Catalog(#[from] datafusion::error::DataFusionError),
    #[error("{0}")]
    Setup(String),
    #[error("the server stopped: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Everything `vtsql serve` is told on the command line.
pub struct ServeOptions {
    pub bind: SocketAddr,
    pub token: Option<String>,
    pub users: Option<PathBuf>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub limits: Limits,
}

fn read(path: &Path) -> Result<Vec<u8>, FlightError> {
    std::fs::read(path).map_err(|source| FlightError::Io { path: path.to_path_buf(), source })
}

/// `vtsql serve`: serves `session` until SIGTERM or Ctrl-C. The first line on standard output is the address
/// bound, so scripts and tests can start on port 0 and read it.
pub async fn command(session: Session, options: ServeOptions) -> Result<(), FlightError> {
    let scheme = if options.tls.is_some() { "grpc+tls" } else { "grpc" };
    serve(session, options, |addr, auth| {
        let access = if auth.is_required() { "clients must authenticate" } else { "no authentication, loopback only" };
        println!("{scheme}://{addr}");
        eprintln!("vtsql serve: listening on {scheme}://{addr} ({access}); Ctrl-C or SIGTERM stops");
    })
    .await
}

/// Functions that tell a client the server's file paths (`input_file_name()`): not served.
const SERVER_PATH_FUNCTIONS: [&str; 1] = ["input_file_name"];

/// Runs the server until SIGTERM or Ctrl-C. `announce` is told the address actually bound (port 0 picks one).
pub async fn serve(
    session: Session,
    options: ServeOptions,
    announce: impl FnOnce(SocketAddr, &Auth),
) -> Result<(), FlightError> {
    let users = options.users.as_deref().map(auth::read_users).transpose()?.unwrap_or_default();
    let auth = Arc::new(Auth::new(options.token.filter(|t| !t.is_empty()), users));
    if !auth.is_required() && !options.bind.ip().is_loopback() {
        return Err(FlightError::UnsafeBind(options.bind));
    }
    let mut server = Server::builder();
    if let Some((cert, key)) = &options.tls {
        let identity = tonic::transport::Identity::from_pem(read(cert)?, read(key)?);
        server = server
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| FlightError::Setup(format!("TLS: {e}")))?;
    }
    // where the server keeps its files is none of a client's business
    for function in SERVER_PATH_FUNCTIONS {
        session.context().deregister_udf(function);
    }
    let engine = Engine::new(session, options.limits)
        .map_err(|e| FlightError::Setup(format!("cannot start the query runtime: {e}")))?;
    let service = FlightSqlServer::new(engine, Arc::clone(&auth)).map_err(|e| FlightError::Setup(e.to_string()))?;
    let interceptor_auth = Arc::clone(&auth);
    let service = FlightServiceServer::with_interceptor(service, move |request| interceptor_auth.intercept(request));

    let listener =
        TcpListener::bind(options.bind).await.map_err(|source| FlightError::Bind { addr: options.bind, source })?;
    let addr = listener.local_addr().map_err(|source| FlightError::Bind { addr: options.bind, source })?;
    announce(addr, &auth);

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let stopping = async move {
        crate::shutdown_signal().await;
        eprintln!("vtsql serve: shutting down; waiting up to {SHUTDOWN_GRACE:?} for running queries");
        let _ = stop_tx.send(true);
    };
    // Without TCP_NODELAY every small response waits for the client's delayed ACK (about 40 ms); the
    // builder's own setting does not reach connections from an incoming stream the server is handed.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let run = server.add_service(service).serve_with_incoming_shutdown(incoming, stopping);
    let forced = async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        result = run => result?,
        () = forced => eprintln!("vtsql serve: queries still running after {SHUTDOWN_GRACE:?}; stopped them"),
    }
    Ok(())
}
