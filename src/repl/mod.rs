//! The interactive prompt and the non-interactive runners (`-c`, `-f`, stdin).

pub mod chart;
pub mod command;
pub mod exec;
pub mod functions;
mod helper;
pub mod map;
pub mod print_format;

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::error::Result;
use rustyline::error::ReadlineError;
use rustyline::{Editor, history::DefaultHistory};
use tokio::sync::Notify;

use command::Command;
use datafusion::error::DataFusionError;
use exec::Kept;
use print_format::{PrintFormat, PrintOptions};

use crate::session::Session;

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

/// Where results go: standard output, or a file chosen with `.output`; `.once` sends one result elsewhere.
#[derive(Default)]
pub struct Output {
    file: Option<std::fs::File>,
    once: Option<std::fs::File>,
}

impl Output {
    /// Where the next result goes.
    pub fn for_next_result(&mut self) -> Box<dyn Write + '_> {
        if let Some(file) = self.once.take() {
            return Box::new(file);
        }
        match &mut self.file {
            Some(file) => Box::new(file),
            None => Box::new(std::io::stdout().lock()),
        }
    }
}

/// The prompt's state: the session, how results print and where they go, and the last result.
pub struct Repl {
    pub session: Session,
    pub print: PrintOptions,
    /// Show a progress line for long queries (interactive use on a terminal).
    pub progress: bool,
    output: Output,
    last: Option<Kept>,
}

fn create(path: &str) -> Result<std::fs::File, ReplError> {
    std::fs::File::create(path).map_err(|source| ReplError::File { path: path.to_string(), source })
}

impl Repl {
    pub fn new(session: Session, print: PrintOptions) -> Self {
        Repl { session, print, progress: false, output: Output::default(), last: None }
    }

    /// Runs SQL, printing each result where `.output`/`.once` say; remembers the last for `.chart`.
    async fn run_query(&mut self, sql: &str) -> Result<(), ReplError> {
        let last = exec::run_sql(&self.session, sql, &self.print, self.progress, &mut self.output).await?;
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
        let command = Command::parse(trimmed).map_err(ReplError::Command)?;
        command::run(self, command).await
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

/// What `vtsql` without a subcommand was told: statements to run, or none for the prompt.
pub struct Invocation {
    /// `-c SQL`, in order.
    pub commands: Vec<String>,
    /// `-f FILE`, after the commands.
    pub files: Vec<PathBuf>,
    pub format: PrintFormat,
    pub timer: bool,
    /// `--nullvalue`; the default depends on whether a person reads the output ([`PrintOptions::new`]).
    pub null: Option<String>,
    pub max_rows: Option<usize>,
}

/// Runs the `-c` commands and `-f` files, else SQL from standard input when it is not a terminal, else the
/// prompt.
pub async fn main(session: Session, invocation: Invocation) -> Result<(), ReplError> {
    let mut scripts = invocation.commands;
    for file in &invocation.files {
        scripts.push(exec::read_script(file)?);
    }
    if scripts.is_empty() && !std::io::stdin().is_terminal() {
        let mut sql = String::new();
        std::io::stdin()
            .read_to_string(&mut sql)
            .map_err(|source| ReplError::File { path: "standard input".into(), source })?;
        scripts.push(sql);
    }
    let interactive = scripts.is_empty();
    let mut print = PrintOptions::new(invocation.format, interactive);
    print.timer = invocation.timer;
    print.max_rows = invocation.max_rows.filter(|n| *n > 0);
    if let Some(null) = invocation.null {
        print.null = null;
    }
    let mut repl = Repl::new(session, print);
    if interactive {
        repl.progress = true;
        return Ok(run_interactive(repl).await?);
    }
    for script in scripts {
        if !repl.run_script(&script).await? {
            break;
        }
    }
    Ok(())
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
pub async fn run_interactive(mut repl: Repl) -> Result<()> {
    let mut editor: Editor<helper::SqlHelper, DefaultHistory> =
        Editor::new().map_err(|e| DataFusionError::External(Box::new(e)))?;
    editor.set_helper(Some(helper::SqlHelper::new(repl.session.context()).await));
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
                    result = repl.run_entry(&line) => result,
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
                    editor.set_helper(Some(helper::SqlHelper::new(repl.session.context()).await));
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
