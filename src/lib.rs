//! vtsql: an embedded analytical SQL engine for CBS *Beleidsinformatie Veilig Thuis* statistics.
//!
//! Data flows one way: raw CBS files → [`ingest`] → Parquet → [`catalog`] → a DataFusion session
//! (with the functions of `vtsql-udfs`) → [`repl`], the command line and the Flight SQL server ([`flight`]),
//! in this process or on an Apache Ballista cluster ([`cluster`]).

pub mod bench;
pub mod catalog;
pub mod cluster;
pub mod flight;
pub mod generate;
pub mod ingest;
pub mod local_files;
pub mod plan_rules;
pub mod repl;

/// Resolves on SIGTERM or Ctrl-C (only Ctrl-C where SIGTERM cannot be watched): how `vtsql serve` and
/// `vtsql cluster scheduler` are stopped.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
