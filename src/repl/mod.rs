//! The interactive prompt and the non-interactive runners (`-c`, `-f`, stdin).

pub mod command;
pub mod exec;
pub mod print_format;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use rustyline::error::ReadlineError;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Completer, Editor, Helper, Highlighter, Hinter, history::DefaultHistory};
use tokio::sync::Notify;

use command::Command;
pub use exec::{PrintOptions, run_sql};

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

#[derive(Completer, Helper, Highlighter, Hinter)]
struct SqlHelper;

impl Validator for SqlHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if is_complete(ctx.input()) { ValidationResult::Valid(None) } else { ValidationResult::Incomplete })
    }
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
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The REPL state a meta command can change.
pub struct Session {
    pub ctx: SessionContext,
    pub options: PrintOptions,
}

impl Session {
    /// Runs one entry (SQL or a meta command). Returns false when the user asked to quit.
    pub async fn run_entry(&mut self, entry: &str, out: &mut dyn Write) -> Result<bool, ReplError> {
        let trimmed = entry.trim();
        if !(trimmed.starts_with('.') || trimmed.starts_with('\\')) {
            run_sql(&self.ctx, entry, &self.options, out).await?;
            return Ok(true);
        }
        let command = Command::parse(trimmed).map_err(ReplError::Command)?;
        match command {
            Command::Help => write!(out, "{}", Command::help())?,
            Command::Tables => {
                let sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name";
                run_sql(&self.ctx, sql, &self.options, out).await?;
            }
            Command::Schema(table) => {
                let filter = table.map(|t| format!("AND table_name = '{}'", t.replace('\'', "''"))).unwrap_or_default();
                let sql = format!(
                    "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns \
                     WHERE table_schema = 'public' {filter} ORDER BY table_name, ordinal_position"
                );
                run_sql(&self.ctx, &sql, &self.options, out).await?;
            }
            Command::Mode(None) => writeln!(out, "mode: {:?}", self.options.format)?,
            Command::Mode(Some(format)) => self.options.format = format,
            Command::Timer(None) => writeln!(out, "timer: {}", if self.options.timer { "on" } else { "off" })?,
            Command::Timer(Some(on)) => self.options.timer = on,
            Command::Read(file) => {
                let sql = exec::read_script(std::path::Path::new(&file))?;
                run_sql(&self.ctx, &sql, &self.options, out).await?;
            }
            Command::Quit => return Ok(false),
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
    let mut editor: Editor<SqlHelper, DefaultHistory> =
        Editor::new().map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
    editor.set_helper(Some(SqlHelper));
    let interrupts = interrupt_listener().map_err(datafusion::error::DataFusionError::IoError)?;
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
                let mut stdout = std::io::stdout();
                let result = tokio::select! {
                    result = session.run_entry(&line, &mut stdout) => result,
                    _ = interrupts.notified() => {
                        eprintln!("query cancelled");
                        Ok(true)
                    }
                };
                match result {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => eprintln!("Error: {e}"),
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
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = editor.save_history(path) {
            eprintln!("cannot save history to {}: {e}", path.display());
        }
    }
    Ok(())
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
