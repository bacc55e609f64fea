//! vtsql's one integration-test binary (`harness = false`): the sqllogictest files under
//! `tests/slt/`, ingest behaviour, the `vtsql` command line, the REPL, the Flight SQL server, the Ballista cluster
//! and the plan rules checked against DataFusion's own answers.
//!
//! `cargo test --test integration -- [FILTER] [--complete]`: `--complete` rewrites the expected
//! output of the `.slt` files from what vtsql now answers (review the diff before committing).

mod cbs;
mod cbs_service;
mod cbs_shapes;
mod cli;
mod cluster;
mod common;
mod differential;
mod flight;
mod generate;
mod hardening;
mod hardening2;
mod ingest;
mod one_model;
mod repl;
mod slt;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;

/// A named check; `Err` carries the reason it failed.
pub type Check = fn() -> Result<(), String>;
/// A check that may capture (one per `.slt` file).
type Named = dyn Fn() -> Result<(), String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let complete = args.iter().any(|a| a == "--complete");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let mut checks: Vec<(String, Box<Named>)> = Vec::new();
    for (name, check) in ingest::CHECKS
        .iter()
        .chain(cli::CHECKS)
        .chain(cbs::CHECKS)
        .chain(repl::CHECKS)
        .chain(flight::CHECKS)
        .chain(generate::CHECKS)
        .chain(cluster::CHECKS)
        .chain(differential::CHECKS)
        .chain(hardening::CHECKS)
        .chain(hardening2::CHECKS)
        .chain(one_model::CHECKS)
    {
        checks.push((name.to_string(), Box::new(*check)));
    }
    for file in slt::files() {
        let name = format!("slt::{}", file.file_name().unwrap_or_default().to_string_lossy());
        checks.push((name, Box::new(move || slt::run_file(&file, complete))));
    }
    let (mut passed, mut failed) = (0, 0);
    for (name, check) in &checks {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let outcome = catch_unwind(AssertUnwindSafe(check)).unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panicked: {message}"))
        });
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Err(reason) => {
                failed += 1;
                println!("test {name} ... FAILED\n{reason}\n");
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
