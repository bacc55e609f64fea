//! `vtsql`: the command line. Parsing only; the work is in the library's modules.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vtsql::repl::Session;
use vtsql::repl::print_format::Display;
use vtsql::repl::print_format::PrintFormat;
use vtsql::{catalog, ingest, repl};

#[derive(Parser)]
#[command(version, about = "SQL over CBS Beleidsinformatie Veilig Thuis statistics")]
struct Cli {
    /// Data directory (default: $VTSQL_DATA, else ./data)
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,

    /// Run this SQL and exit (repeatable)
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    commands: Vec<String>,

    /// Run the SQL in this file and exit (repeatable)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = PrintFormat::Table)]
    format: PrintFormat,

    /// Print how long each statement took
    #[arg(long)]
    timer: bool,

    /// Text shown for NULL (a suppressed cell) in table output [default: "." at the prompt, NULL otherwise]
    #[arg(long, value_name = "TEXT")]
    nullvalue: Option<String>,

    /// Show at most N rows in table output
    #[arg(long, value_name = "N")]
    maxrows: Option<usize>,

    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Subcommand)]
enum Action {
    /// Load raw CBS files (StatLine export, CSV download, regions, population) into the data directory
    Ingest {
        /// Files to load; the layout of each is detected
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let data_dir = cli.data.clone().unwrap_or_else(catalog::default_data_dir);
    let progress = &mut |line: &str| eprintln!("{line}");
    if let Some(Action::Ingest { files }) = &cli.action {
        return match ingest::ingest_files(&data_dir, files, progress) {
            Ok(report) => {
                for line in &report.lines {
                    eprintln!("{line}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("vtsql ingest: {e}\nnothing was written");
                ExitCode::FAILURE
            }
        };
    }
    if let Err(e) = catalog::build_if_missing(&data_dir, progress) {
        eprintln!("vtsql: cannot build the tables in {}: {e}", data_dir.display());
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vtsql: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(cli, data_dir));
    // A cancelled query may still occupy a worker; do not wait for it on the way out.
    runtime.shutdown_background();
    code
}

async fn run(cli: Cli, data_dir: PathBuf) -> ExitCode {
    let ctx = match catalog::open(&data_dir).await {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("vtsql: cannot open {}: {e}", data_dir.display());
            return ExitCode::FAILURE;
        }
    };
    let mut scripts: Vec<String> = cli.commands.clone();
    for file in &cli.files {
        match repl::exec::read_script(file) {
            Ok(sql) => scripts.push(sql),
            Err(e) => {
                eprintln!("Error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if scripts.is_empty() && !std::io::stdin().is_terminal() {
        let mut sql = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut sql) {
            eprintln!("Error: cannot read standard input: {e}");
            return ExitCode::FAILURE;
        }
        scripts.push(sql);
    }
    let interactive = scripts.is_empty();
    let null = cli.nullvalue.clone().unwrap_or_else(|| if interactive { ".".into() } else { "NULL".into() });
    let display = Display { null, max_rows: cli.maxrows.filter(|n| *n > 0) };
    let mut session = Session::new(ctx, data_dir, cli.format, display);
    session.timer = cli.timer;
    if interactive {
        session.progress = true;
        return match repl::run_interactive(session).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    for script in scripts {
        match session.run_script(&script).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                eprintln!("Error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
