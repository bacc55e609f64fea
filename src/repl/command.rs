//! Meta commands: lines starting with `.` (or `\` as in psql) that steer the REPL itself.

use super::print_format::PrintFormat;

/// One meta command, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Tables,
    Schema(Option<String>),
    Mode(Option<PrintFormat>),
    Timer(Option<bool>),
    Read(String),
    Quit,
}

/// Name, aliases, arguments and what it does: the source of `.help` and of suggestions.
pub const COMMANDS: &[(&str, &[&str], &str, &str)] = &[
    ("help", &["?", "h"], "", "show this help"),
    ("tables", &["d", "dt"], "", "list the tables"),
    ("schema", &["d+"], "[TABLE]", "show the columns of one table or of all"),
    ("mode", &["pset"], "[table|csv|json]", "set or show the output format"),
    ("timer", &["timing"], "[on|off]", "print how long each statement takes"),
    ("read", &["i"], "FILE", "run the SQL in FILE"),
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
        match canonical {
            "help" => Ok(Command::Help),
            "tables" => Ok(Command::Tables),
            "schema" => Ok(Command::Schema(arg)),
            "mode" => match arg {
                None => Ok(Command::Mode(None)),
                Some(a) => PrintFormat::parse(&a)
                    .map(|f| Command::Mode(Some(f)))
                    .ok_or_else(|| format!("unknown mode {a:?}; choose one of {}", PrintFormat::NAMES.join(", "))),
            },
            "timer" => match arg.as_deref() {
                None => Ok(Command::Timer(None)),
                Some("on") => Ok(Command::Timer(Some(true))),
                Some("off") => Ok(Command::Timer(Some(false))),
                Some(a) => Err(format!(".timer takes on or off, not {a:?}")),
            },
            "read" => arg.map(Command::Read).ok_or_else(|| ".read needs a file name".to_string()),
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
        assert!(Command::parse(".mode xml").unwrap_err().contains("table, csv, json"));
        assert!(Command::parse(".zzzzzzzz").unwrap_err().starts_with("unknown command .zzzzzzzz ("));
    }
}
