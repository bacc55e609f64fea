//! rustyline glue: completion of SQL keywords, tables, columns, functions, meta commands and
//! file paths; validation that waits for the `;` that ends a statement.

use std::collections::BTreeMap;

use datafusion::prelude::SessionContext;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::command::COMMANDS;
use super::print_format::PrintFormat;

/// Names known when the session opened (`.open` makes a new helper).
pub struct SqlHelper {
    tables: Vec<String>,
    columns: BTreeMap<String, Vec<String>>,
    functions: Vec<String>,
    files: FilenameCompleter,
}

impl SqlHelper {
    pub async fn new(ctx: &SessionContext) -> Self {
        let mut columns = BTreeMap::new();
        if let Some(schema) = ctx.catalog("vtsql").and_then(|c| c.schema("public")) {
            for table in schema.table_names() {
                if let Ok(Some(provider)) = schema.table(&table).await {
                    columns.insert(table, provider.schema().fields().iter().map(|f| f.name().clone()).collect());
                }
            }
        }
        SqlHelper {
            tables: columns.keys().cloned().collect(),
            columns,
            functions: super::functions::names(ctx),
            files: FilenameCompleter::new(),
        }
    }

    /// Columns of the tables the statement names, or of all tables when it names none.
    fn columns_for(&self, line: &str) -> Vec<&String> {
        let words: Vec<String> =
            line.split(|c: char| !(c.is_alphanumeric() || c == '_')).map(|w| w.to_lowercase()).collect();
        let named: Vec<&String> = self.tables.iter().filter(|t| words.contains(t)).collect();
        let tables: Vec<&String> = if named.is_empty() { self.tables.iter().collect() } else { named };
        let mut out: Vec<&String> = tables.iter().flat_map(|t| self.columns.get(*t).into_iter().flatten()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// The completions of `word` (a prefix) in `line`, without duplicates.
    pub fn candidates(&self, line: &str, word: &str) -> Vec<String> {
        let lower = word.to_lowercase();
        let matches = |name: &str| name.to_lowercase().starts_with(&lower);
        let mut out: Vec<String> = Vec::new();
        let columns = self.columns_for(line);
        for name in self.tables.iter().chain(columns).chain(self.functions.iter()) {
            if matches(name) {
                out.push(name.clone());
            }
        }
        let upper = word.chars().next().is_some_and(|c| c.is_uppercase());
        for kw in datafusion::sql::sqlparser::keywords::ALL_KEYWORDS {
            if matches(kw) && !word.is_empty() {
                out.push(if upper { kw.to_string() } else { kw.to_lowercase() });
            }
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|c| seen.insert(c.clone()));
        out
    }

    fn meta_arguments(&self, command: &str) -> Option<Vec<String>> {
        let canonical = COMMANDS.iter().find(|(n, a, ..)| *n == command || a.contains(&command))?.0;
        Some(match canonical {
            "mode" => PrintFormat::NAMES.iter().map(|s| s.to_string()).collect(),
            "schema" => self.tables.clone(),
            "timer" => vec!["on".into(), "off".into()],
            "functions" => self.functions.clone(),
            _ => return None,
        })
    }
}

fn pairs(words: Vec<String>) -> Vec<Pair> {
    words.into_iter().map(|w| Pair { display: w.clone(), replacement: w }).collect()
}

impl Completer for SqlHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        // Inside a quoted string: a file path.
        if before.matches('\'').count() % 2 == 1 || before.matches('"').count() % 2 == 1 {
            return self.files.complete(line, pos, ctx);
        }
        let start = before.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map(|i| i + 1).unwrap_or(0);
        let word = &before[start..];
        let trimmed = before.trim_start();
        if let Some(meta) = trimmed.strip_prefix('.').or_else(|| trimmed.strip_prefix('\\')) {
            match meta.split_once(char::is_whitespace) {
                None => {
                    let names = COMMANDS.iter().map(|(n, ..)| n.to_string()).filter(|n| n.starts_with(word)).collect();
                    return Ok((start, pairs(names)));
                }
                Some((command, _)) => {
                    if let Some(args) = self.meta_arguments(command) {
                        return Ok((start, pairs(args.into_iter().filter(|a| a.starts_with(word)).collect())));
                    }
                    return self.files.complete(line, pos, ctx);
                }
            }
        }
        if word.is_empty() {
            return Ok((pos, vec![]));
        }
        Ok((start, pairs(self.candidates(line, word))))
    }
}

impl Hinter for SqlHelper {
    type Hint = String;
}

impl Highlighter for SqlHelper {}

impl Validator for SqlHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if super::is_complete(ctx.input()) { ValidationResult::Valid(None) } else { ValidationResult::Incomplete })
    }
}

impl Helper for SqlHelper {}
