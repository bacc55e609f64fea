//! vtsql: an embedded analytical SQL engine for CBS *Beleidsinformatie Veilig Thuis* statistics.
//!
//! Data flows one way: raw CBS files → [`ingest`] (or [`generate`]) → Parquet, shaped as [`schema`] says →
//! [`catalog`] → a [`session`] (with the functions of `vtsql-udfs` and the [`plan_rules`]) → [`repl`], the
//! command line, [`bench`] and the Flight SQL server ([`flight`]), in this process or on an Apache Ballista
//! cluster ([`cluster`]). No module imports one later in that flow.

pub mod bench;
pub mod catalog;
pub mod cluster;
pub mod fetch;
pub mod flight;
pub mod generate;
pub mod ingest;
pub mod local_files;
pub mod plan_rules;
pub mod repl;
pub mod rows;
pub mod schema;
pub mod session;

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
