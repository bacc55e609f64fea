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
pub mod plan_rules;
pub mod ingest;
pub mod repl;
