//! Meta commands: lines starting with `.` (or `\` as in psql) that steer the REPL itself: what they
//! are ([`Command`]), how they are read ([`Command::parse`]) and what they do ([`run`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use datafusion::error::DataFusionError;

use super::print_format::PrintFormat;
use super::{Repl, ReplError, chart, create, exec, functions, map};
use crate::session::Session;

/// One meta command, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Tables,
    Schema(Option<String>),
    Functions(Option<String>),
    Mode(Option<PrintFormat>),
    /// `.output FILE` sends results to FILE from now on; `.output` alone back to the terminal.
    Output(Option<String>),
    /// `.once FILE`: only the next result goes to FILE.
    Once(String),
    Read(String),
    Timer(Option<bool>),
    MaxRows(Option<usize>),
    NullValue(Option<String>),
    Open(String),
    Chart(Option<String>),
    Map(Option<String>),
    Quit,
}

/// Name, aliases, arguments and what it does: the source of `.help`, of suggestions and of
/// completion.
pub const COMMANDS: &[(&str, &[&str], &str, &str)] = &[
    ("help", &["?", "h"], "", "show this help"),
    ("tables", &["d", "dt"], "", "list the tables"),
    ("schema", &["d+"], "[TABLE]", "show the columns of one table or of all"),
    ("functions", &["df"], "[PATTERN]", "list functions; with a pattern, their syntax, description and example"),
    ("mode", &["pset"], "[table|csv|tsv|json|jsonl|markdown|line]", "set or show the output format"),
    ("output", &["o"], "[FILE]", "send results to FILE (no FILE: back to the terminal)"),
    ("once", &[], "FILE", "send only the next result to FILE"),
    ("read", &["i"], "FILE", "run the SQL in FILE"),
    ("timer", &["timing"], "[on|off]", "print how long each statement takes"),
    ("maxrows", &[], "[N|0]", "show at most N rows in table, markdown and line mode (0: all)"),
    ("nullvalue", &[], "[TEXT]", "how NULL (a suppressed cell) is shown; default '.' as CBS does"),
    ("open", &["c", "connect"], "DIR", "open another data directory"),
    ("chart", &[], "[FILE.svg]", "chart the last result in the terminal, or as SVG"),
    ("map", &[], "[FILE.svg]", "map the last result (region codes and a number) in the terminal, or as SVG"),
    ("quit", &["q", "exit"], "", "leave vtsql (Ctrl-D does the same)"),
];

impl Command {
    /// Parses `.name args` or `\name args`. The error says what went wrong and, for an unknown
    /// name, which command was probably meant.
    pub fn parse(line: &str) -> Result<Command, String> {
        let line = line.trim().trim_end_matches(';');
        let body = line.strip_prefix('.').or_else(|| line.strip_prefix('\\')).ok_or("not a meta command")?;
        let (name, arg) = body.split_once(char::is_whitespace).map(|(n, a)| (n, a.trim())).unwrap_or((body, ""));
        let arg = (!arg.is_empty()).then(|| arg.to_string());
        let canonical = COMMANDS
            .iter()
            .find(|(n, aliases, _, _)| *n == name || aliases.contains(&name))
            .map(|(n, ..)| *n)
            .ok_or_else(|| match suggest(name) {
                Some(s) => {
                    format!("unknown command .{name}; did you mean .{s}? (.help lists them)")
                }
                None => format!("unknown command .{name} (.help lists them)"),
            })?;
        let needs = |what: &str| format!(".{canonical} needs {what}");
        match canonical {
            "help" => Ok(Command::Help),
            "tables" => Ok(Command::Tables),
            "schema" => Ok(Command::Schema(arg)),
            "functions" => Ok(Command::Functions(arg)),
            "mode" => match arg {
                None => Ok(Command::Mode(None)),
                Some(a) => PrintFormat::parse(&a)
                    .map(|f| Command::Mode(Some(f)))
                    .ok_or_else(|| format!("unknown mode {a:?}; choose one of {}", PrintFormat::NAMES.join(", "))),
            },
            "output" => Ok(Command::Output(arg.map(unquote))),
            "once" => arg.map(|a| Command::Once(unquote(a))).ok_or_else(|| needs("a file name")),
            "read" => arg.map(|a| Command::Read(unquote(a))).ok_or_else(|| needs("a file name")),
            "timer" => match arg.as_deref() {
                None => Ok(Command::Timer(None)),
                Some("on") => Ok(Command::Timer(Some(true))),
                Some("off") => Ok(Command::Timer(Some(false))),
                Some(a) => Err(format!(".timer takes on or off, not {a:?}")),
            },
            "maxrows" => match arg {
                None => Ok(Command::MaxRows(None)),
                Some(a) => a
                    .parse()
                    .map(|n| Command::MaxRows(Some(n)))
                    .map_err(|_| format!(".maxrows takes a number, not {a:?}")),
            },
            "nullvalue" => Ok(Command::NullValue(arg.map(unquote))),
            "open" => arg.map(|a| Command::Open(unquote(a))).ok_or_else(|| needs("a data directory")),
            "chart" => Ok(Command::Chart(arg.map(unquote))),
            "map" => Ok(Command::Map(arg.map(unquote))),
            _ => Ok(Command::Quit),
        }
    }

    pub fn help() -> String {
        let mut text = String::from("Meta commands (also with \\ instead of .):\n");
        for (name, aliases, args, what) in COMMANDS {
            let usage = format!(".{name} {args}");
            let aliases = aliases.iter().map(|a| format!("\\{a}")).collect::<Vec<_>>().join(" ");
            text.push_str(&format!("  {usage:<28}{what} ({aliases})\n"));
        }
        text.push_str("SQL statements end with ';' and may span lines. Ctrl-C cancels a running query.\n");
        text
    }
}

/// Does what `command` says. Returns false when the user asked to quit.
pub(super) async fn run(repl: &mut Repl, command: Command) -> Result<bool, ReplError> {
    let mut stdout = std::io::stdout();
    let io = DataFusionError::IoError;
    match command {
        Command::Help => write!(stdout, "{}", Command::help()).map_err(io)?,
        Command::Tables => {
            let sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' \
                       ORDER BY table_name";
            repl.run_query(sql).await?
        }
        Command::Schema(table) => {
            // cbs_columns carries CBS's unit and description of every column of a `cbs_<id>` table
            let filter = table.map(|t| format!("AND c.table_name = '{}'", t.replace('\'', "''"))).unwrap_or_default();
            let sql = format!(
                "SELECT c.table_name, c.column_name, c.data_type, c.is_nullable, d.unit, d.description \
                 FROM information_schema.columns c LEFT JOIN cbs_columns d \
                 ON d.table_name = c.table_name AND d.column_name = c.column_name \
                 WHERE c.table_schema = 'public' {filter} ORDER BY c.table_name, c.ordinal_position"
            );
            repl.run_query(&sql).await?
        }
        Command::Functions(pattern) => {
            write!(stdout, "{}", functions::describe(repl.session.context(), pattern.as_deref())).map_err(io)?
        }
        Command::Mode(None) => println!("mode: {}", repl.print.format.name()),
        Command::Mode(Some(format)) => repl.print.format = format,
        Command::Output(None) => repl.output.file = None,
        Command::Output(Some(path)) => repl.output.file = Some(create(&path)?),
        Command::Once(path) => repl.output.once = Some(create(&path)?),
        Command::Timer(None) => println!("timer: {}", if repl.print.timer { "on" } else { "off" }),
        Command::Timer(Some(on)) => repl.print.timer = on,
        Command::MaxRows(None) => match repl.print.max_rows {
            Some(n) => println!("maxrows: {n}"),
            None => println!("maxrows: all"),
        },
        Command::MaxRows(Some(n)) => repl.print.max_rows = (n > 0).then_some(n),
        Command::NullValue(None) => println!("nullvalue: {:?}", repl.print.null),
        Command::NullValue(Some(text)) => repl.print.null = text,
        Command::Read(file) => {
            let script = exec::read_script(Path::new(&file))?;
            repl.run_script(&script).await?;
        }
        Command::Open(dir) => {
            let dir = PathBuf::from(dir);
            crate::ingest::build_if_missing(&dir, &mut |line| eprintln!("{line}"))
                .map_err(|e| ReplError::Command(e.to_string()))?;
            repl.session = Session::open(&dir, repl.session.placement().clone()).await?;
            println!("opened {}", dir.display());
        }
        Command::Chart(file) => {
            let (schema, batches) = last_result(repl, "chart")?;
            let chart = chart::Chart::from_result(schema, batches).map_err(ReplError::Command)?;
            match file {
                Some(path) => {
                    chart.write_svg(Path::new(&path)).map_err(ReplError::Command)?;
                    println!("wrote {path}");
                }
                None => write!(stdout, "{}", chart.render_text(100)).map_err(io)?,
            }
        }
        Command::Map(file) => {
            let (schema, batches) = last_result(repl, "map")?;
            let map = map::Map::from_result(schema, batches).map_err(ReplError::Command)?;
            match file {
                Some(path) => {
                    map.write_svg(Path::new(&path)).map_err(ReplError::Command)?;
                    println!("wrote {path}");
                }
                None => write!(stdout, "{}", map.render_text(72)).map_err(io)?,
            }
        }
        Command::Quit => return Ok(false),
    }
    Ok(true)
}

/// The last result, for `.chart` and `.map`.
fn last_result<'r>(
    repl: &'r Repl,
    what: &str,
) -> Result<(&'r datafusion::arrow::datatypes::SchemaRef, &'r [datafusion::arrow::array::RecordBatch]), ReplError> {
    let last =
        repl.last.as_ref().ok_or_else(|| ReplError::Command(format!("no result to {what} yet: run a query first")))?;
    if last.cut {
        return Err(ReplError::Command(format!(
            "the last result is too large to {what}; {what} a query with fewer rows"
        )));
    }
    let schema = last.schema.as_ref().ok_or_else(|| ReplError::Command(format!("no result to {what} yet")))?;
    Ok((schema, &last.batches))
}

/// `'file name.csv'` → `file name.csv`.
fn unquote(text: String) -> String {
    let t = text.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = t.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    t.to_string()
}

/// The command whose name is closest to `name` by edit distance, if any is close.
fn suggest(name: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .map(|(n, ..)| (edit_distance(name, n), *n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 3))
        .min()
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_aliases() {
        assert_eq!(Command::parse(".tables"), Ok(Command::Tables));
        assert_eq!(Command::parse("\\dt"), Ok(Command::Tables));
        assert_eq!(Command::parse(".schema regions"), Ok(Command::Schema(Some("regions".into()))));
        assert_eq!(Command::parse(".mode csv"), Ok(Command::Mode(Some(PrintFormat::Csv))));
        assert_eq!(Command::parse(".timer on;"), Ok(Command::Timer(Some(true))));
        assert_eq!(Command::parse("\\q"), Ok(Command::Quit));
    }

    #[test]
    fn suggests_the_nearest_command() {
        assert_eq!(
            Command::parse(".tabels").unwrap_err(),
            "unknown command .tabels; did you mean .tables? (.help lists them)"
        );
        assert!(Command::parse(".mode xml").unwrap_err().contains("table, csv, tsv, json"));
        assert_eq!(Command::parse(".once 'my out.csv'"), Ok(Command::Once("my out.csv".into())));
        assert_eq!(Command::parse(".maxrows 20"), Ok(Command::MaxRows(Some(20))));
        assert_eq!(Command::parse(".nullvalue"), Ok(Command::NullValue(None)));
        assert!(Command::parse(".once").unwrap_err().contains("needs a file name"));
        assert!(Command::parse(".zzzzzzzz").unwrap_err().starts_with("unknown command .zzzzzzzz ("));
    }
}
