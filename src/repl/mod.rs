//! The interactive prompt and the non-interactive runners (`-c`, `-f`, stdin).

pub mod chart;
pub mod command;
pub mod exec;
pub mod functions;
mod helper;
pub mod print_format;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use rustyline::error::ReadlineError;
use rustyline::{Editor, history::DefaultHistory};
use tokio::sync::Notify;

use command::Command;
use datafusion::error::DataFusionError;
pub use exec::{QueryResult, run_sql};
use print_format::{Display, PrintFormat};

/// Whether `input` is a complete entry: a meta command, or SQL whose last significant character,
/// outside strings, identifiers and comments, is `;`.
pub fn is_complete(input: &str) -> bool {
    let trimmed = input.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('.') || trimmed.starts_with('\\') {
        return true;
    }
    let mut chars = input.chars().peekable();
    let mut last = None;
    let mut open: Option<char> = None;
    while let Some(c) = chars.next() {
        match open {
            Some(q) if c == q => open = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => {
                open = Some(c);
                last = Some(c);
            }
            None if c == '-' && chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            None if !c.is_whitespace() => last = Some(c),
            None => {}
        }
    }
    open.is_none() && last == Some(';')
}

/// Where history is kept: `$VTSQL_HISTORY`, else `$XDG_DATA_HOME/vtsql/history`, else
/// `~/.local/share/vtsql/history`.
pub fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VTSQL_HISTORY") {
        return Some(PathBuf::from(path));
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("vtsql").join("history"))
}

/// Why an entry failed: a meta command that could not be understood, or a query error.
#[derive(Debug, thiserror::Error)]
pub enum ReplError {
    #[error("{0}")]
    Command(String),
    #[error(transparent)]
    Query(#[from] datafusion::error::DataFusionError),
    #[error("{path}: {source}")]
    File { path: String, source: std::io::Error },
}

/// Where results go: the terminal (standard output) or a file chosen with `.output`.
enum Sink {
    Stdout,
    File(std::fs::File),
}

/// The REPL state that meta commands change.
pub struct Session {
    pub ctx: SessionContext,
    pub data_dir: PathBuf,
    pub format: PrintFormat,
    pub display: Display,
    pub timer: bool,
    /// Show a progress line for long queries (interactive use on a terminal).
    pub progress: bool,
    /// Where queries run; `.open` keeps it.
    pub placement: crate::catalog::Placement,
    output: Sink,
    once: Option<std::fs::File>,
    last: Option<QueryResult>,
}

fn create(path: &str) -> Result<std::fs::File, ReplError> {
    std::fs::File::create(path).map_err(|source| ReplError::File { path: path.to_string(), source })
}

impl Session {
    pub fn new(ctx: SessionContext, data_dir: PathBuf, format: PrintFormat, display: Display) -> Self {
        Session {
            ctx,
            data_dir,
            format,
            display,
            timer: false,
            progress: false,
            placement: crate::catalog::Placement::Local,
            output: Sink::Stdout,
            once: None,
            last: None,
        }
    }

    /// Runs SQL, printing each result where `.output`/`.once` say; remembers the last for `.chart`.
    async fn run_query(&mut self, sql: &str) -> Result<(), ReplError> {
        let (format, display, timer) = (self.format, self.display.clone(), self.timer);
        let mut once = self.once.take();
        let output = &mut self.output;
        let mut last = None;
        run_sql(&self.ctx, &self.data_dir, sql, self.progress, &mut |result| {
            let mut stdout = std::io::stdout().lock();
            let out: &mut dyn Write = match (&mut once, &mut *output) {
                (Some(file), _) => file,
                (None, Sink::File(file)) => file,
                (None, Sink::Stdout) => &mut stdout,
            };
            format.print(out, &result.schema, &result.batches, &display)?;
            once = None;
            if timer {
                eprintln!("{} rows in {:.3} s", exec::group_digits(result.rows()), result.elapsed.as_secs_f64());
            }
            last = Some(result);
            Ok(())
        })
        .await?;
        if last.is_some() {
            self.last = last;
        }
        Ok(())
    }

    /// Runs one entry (SQL or a meta command). Returns false when the user asked to quit.
    pub async fn run_entry(&mut self, entry: &str) -> Result<bool, ReplError> {
        let trimmed = entry.trim();
        if !(trimmed.starts_with('.') || trimmed.starts_with('\\')) {
            self.run_query(entry).await?;
            return Ok(true);
        }
        let mut stdout = std::io::stdout();
        match Command::parse(trimmed).map_err(ReplError::Command)? {
            Command::Help => write!(stdout, "{}", Command::help()).map_err(DataFusionError::IoError)?,
            Command::Tables => {
                self.run_query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name").await?
            }
            Command::Schema(table) => {
                let filter = table.map(|t| format!("AND table_name = '{}'", t.replace('\'', "''"))).unwrap_or_default();
                let sql = format!(
                    "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns \
                     WHERE table_schema = 'public' {filter} ORDER BY table_name, ordinal_position"
                );
                self.run_query(&sql).await?
            }
            Command::Functions(pattern) => {
                write!(stdout, "{}", functions::describe(&self.ctx, pattern.as_deref())).map_err(DataFusionError::IoError)?
            }
            Command::Mode(None) => println!("mode: {}", self.format.name()),
            Command::Mode(Some(format)) => self.format = format,
            Command::Output(None) => self.output = Sink::Stdout,
            Command::Output(Some(path)) => self.output = Sink::File(create(&path)?),
            Command::Once(path) => self.once = Some(create(&path)?),
            Command::Timer(None) => println!("timer: {}", if self.timer { "on" } else { "off" }),
            Command::Timer(Some(on)) => self.timer = on,
            Command::MaxRows(None) => match self.display.max_rows {
                Some(n) => println!("maxrows: {n}"),
                None => println!("maxrows: all"),
            },
            Command::MaxRows(Some(n)) => self.display.max_rows = (n > 0).then_some(n),
            Command::NullValue(None) => println!("nullvalue: {:?}", self.display.null),
            Command::NullValue(Some(text)) => self.display.null = text,
            Command::Read(file) => {
                let script = exec::read_script(std::path::Path::new(&file))?;
                self.run_script(&script).await?;
            }
            Command::Open(dir) => {
                let dir = PathBuf::from(dir);
                crate::catalog::build_if_missing(&dir, &mut |line| eprintln!("{line}"))
                    .map_err(|e| ReplError::Command(e.to_string()))?;
                self.ctx = crate::catalog::open_at(&dir, &self.placement).await?;
                println!("opened {}", dir.display());
                self.data_dir = dir;
            }
            Command::Chart(file) => {
                let last = self.last.as_ref().ok_or_else(|| ReplError::Command("no result to chart yet: run a query first".into()))?;
                let chart = chart::Chart::from_result(&last.schema, &last.batches).map_err(ReplError::Command)?;
                match file {
                    Some(path) => {
                        chart.write_svg(std::path::Path::new(&path)).map_err(ReplError::Command)?;
                        println!("wrote {path}");
                    }
                    None => write!(stdout, "{}", chart.render_text(100)).map_err(DataFusionError::IoError)?,
                }
            }
            Command::Quit => return Ok(false),
        }
        Ok(true)
    }

    /// Runs a script: SQL statements and meta commands (a meta command is one line).
    pub async fn run_script(&mut self, script: &str) -> Result<bool, ReplError> {
        let mut sql = String::new();
        for line in script.lines() {
            let trimmed = line.trim_start();
            if sql.trim().is_empty() && (trimmed.starts_with('.') || trimmed.starts_with('\\')) {
                if !Box::pin(self.run_entry(trimmed)).await? {
                    return Ok(false);
                }
                continue;
            }
            sql.push_str(line);
            sql.push('\n');
            if is_complete(&sql) {
                self.run_query(&sql).await?;
                sql.clear();
            }
        }
        if !sql.trim().is_empty() {
            self.run_query(&sql).await?;
        }
        Ok(true)
    }
}

/// Ctrl-C as a notification. A thread with its own small runtime listens for SIGINT: a query
/// that keeps every worker of the main runtime busy would otherwise delay noticing the signal.
/// The handler is installed here, before the first prompt, because rustyline saves and restores
/// the SIGINT handler around each line it reads.
fn interrupt_listener() -> std::io::Result<Arc<Notify>> {
    let notify = Arc::new(Notify::new());
    let waiters = notify.clone();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut sigint = {
        let _context = runtime.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?
    };
    std::thread::spawn(move || {
        runtime.block_on(async {
            while sigint.recv().await.is_some() {
                waiters.notify_waiters();
            }
        });
    });
    Ok(notify)
}

/// The interactive loop. Errors are printed and the session goes on; Ctrl-C cancels a running
/// query or clears the line; Ctrl-D or `.quit` ends it.
pub async fn run_interactive(mut session: Session) -> Result<()> {
    let mut editor: Editor<helper::SqlHelper, DefaultHistory> =
        Editor::new().map_err(|e| DataFusionError::External(Box::new(e)))?;
    editor.set_helper(Some(helper::SqlHelper::new(&session.ctx).await));
    let interrupts = interrupt_listener().map_err(DataFusionError::IoError)?;
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    println!(
        "vtsql {} — SQL over CBS Veilig Thuis statistics. End statements with ';', .help for help.",
        env!("CARGO_PKG_VERSION")
    );
    loop {
        match editor.readline("vtsql> ") {
            Ok(line) => {
                if line.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(line.as_str());
                if let Some(path) = &history {
                    save_history(&mut editor, path);
                }
                let result = tokio::select! {
                    result = session.run_entry(&line) => result,
                    _ = interrupts.notified() => {
                        eprintln!("\rquery cancelled");
                        Ok(true)
                    }
                };
                match result {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => eprintln!("Error: {e}"),
                }
                if line.trim_start().starts_with(".open") || line.trim_start().starts_with("\\c") {
                    editor.set_helper(Some(helper::SqlHelper::new(&session.ctx).await));
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("Error: {e}");
                break;
            }
        }
    }
    Ok(())
}

/// Saves after every entry, so history survives a crash or a killed terminal.
fn save_history(editor: &mut Editor<helper::SqlHelper, DefaultHistory>, path: &std::path::Path) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = editor.save_history(path) {
        eprintln!("cannot save history to {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::is_complete;

    #[test]
    fn statements_end_with_a_semicolon_outside_strings_and_comments() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1;  -- done"));
        assert!(is_complete(".tables"));
        assert!(is_complete(""));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1 -- ;"));
        assert!(is_complete("SELECT 'a;b';"));
        assert!(!is_complete("SELECT 1;\nSELECT 2"));
    }
}
