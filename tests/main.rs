//! vtsql's one integration-test binary (`harness = false`, run by `libtest-mimic`): the sqllogictest files
//! under `tests/slt/`, ingest behaviour, the `vtsql` command line, the REPL, the Flight SQL server, the Ballista
//! cluster and the plan rules checked against DataFusion's own answers.
//!
//! `cargo test --test integration -- [FILTER] [--complete]`: `--complete` rewrites the expected output of the
//! `.slt` files from what vtsql now answers (review the diff before committing). The usual test options work
//! (`--list`, `--exact`, `--ignored`, `--test-threads N`; one at a time by default, as checks start servers and
//! measure memory). A check whose tool is missing (a Python module, `openssl`) is `ignored` with a note saying
//! how to install it; under CI (`$CI` set, as `.ci/run` does) it fails instead.

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

use std::process::ExitCode;

use libtest_mimic::{Arguments, Failed, Trial};

/// A named check; `Err` carries the reason it failed.
pub type Check = fn() -> Result<(), String>;

/// Something a check needs besides vtsql itself.
#[derive(Debug, Clone, Copy)]
pub enum Need {
    /// The Python of `$VTSQL_PYTHON` (else `python3`), able to import these modules.
    Python(&'static str),
    /// A command on the `PATH`, run with this argument to see that it works.
    Command(&'static str, &'static str),
}

impl Need {
    /// Why the need is not met, if it is not.
    fn missing(self) -> Option<String> {
        match self {
            Need::Python(modules) => common::python_with(modules).err(),
            Need::Command(command, arg) => {
                let works = std::process::Command::new(command).arg(arg).output().is_ok_and(|o| o.status.success());
                (!works).then(|| format!("`{command} {arg}` does not run: install {command}"))
            }
        }
    }
}

fn main() -> ExitCode {
    let mut raw: Vec<String> = std::env::args().collect();
    let complete = raw.iter().any(|a| a == "--complete");
    raw.retain(|a| a != "--complete");
    let mut args = Arguments::from_iter(raw);
    args.test_threads.get_or_insert(1);
    let ci = std::env::var_os("CI").is_some();
    let needs: Vec<(&str, Need)> = flight::NEEDS.iter().chain(ingest::NEEDS).chain(slt::NEEDS).copied().collect();
    let mut trials = Vec::new();
    let checks = ingest::CHECKS
        .iter()
        .chain(cli::CHECKS)
        .chain(cbs::CHECKS)
        .chain(one_model::CHECKS)
        .chain(repl::CHECKS)
        .chain(flight::CHECKS)
        .chain(generate::CHECKS)
        .chain(cluster::CHECKS)
        .chain(differential::CHECKS)
        .chain(hardening::CHECKS)
        .chain(hardening2::CHECKS)
        .chain(slt::CHECKS);
    for &(name, check) in checks {
        let missing = needs.iter().filter(|(n, _)| *n == name).find_map(|(_, need)| need.missing());
        trials.push(match missing {
            Some(reason) if ci => {
                Trial::test(name, move || Err(Failed::from(format!("cannot run under CI: {reason}"))))
            }
            Some(reason) => {
                if !args.list && args.filter.as_ref().is_none_or(|f| name.contains(f.as_str())) {
                    eprintln!("note: {name} is skipped: {reason}");
                }
                Trial::test(name, move || Err(Failed::from(reason))).with_ignored_flag(true)
            }
            None => Trial::test(name, move || check().map_err(Failed::from)),
        });
    }
    for file in slt::files() {
        let name = format!("slt::{}", file.file_name().unwrap_or_default().to_string_lossy());
        trials.push(Trial::test(name, move || slt::run_file(&file, complete).map_err(Failed::from)));
    }
    libtest_mimic::run(&args, trials).exit_code()
}
