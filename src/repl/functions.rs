//! `.functions [PATTERN]`: the functions of the session with their documentation.

use std::fmt::Write;

use datafusion::logical_expr::Documentation;
use datafusion::prelude::SessionContext;

struct Entry {
    name: String,
    kind: &'static str,
    doc: Option<Documentation>,
}

fn entries(ctx: &SessionContext) -> Vec<Entry> {
    let state = ctx.state();
    let mut out = Vec::new();
    for (name, f) in state.scalar_functions() {
        out.push(Entry { name: name.clone(), kind: "scalar", doc: f.documentation().cloned() });
    }
    for (name, f) in state.aggregate_functions() {
        out.push(Entry { name: name.clone(), kind: "aggregate", doc: f.documentation().cloned() });
    }
    for (name, f) in state.window_functions() {
        out.push(Entry { name: name.clone(), kind: "window", doc: f.documentation().cloned() });
    }
    for name in state.table_functions().keys() {
        let doc = (name == "halfyears").then(|| {
            let (syntax, description, example) = vtsql_udfs::table::HALFYEARS_DOC;
            Documentation::builder(vtsql_udfs::DOC_SECTION, description, syntax).with_sql_example(example).build()
        });
        out.push(Entry { name: name.clone(), kind: "table", doc });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn is_vtsql(e: &Entry) -> bool {
    e.doc.as_ref().is_some_and(|d| d.doc_section.label == vtsql_udfs::DOC_SECTION.label)
}

/// All function names, for completion.
pub fn names(ctx: &SessionContext) -> Vec<String> {
    entries(ctx).into_iter().map(|e| e.name).collect()
}

fn first_sentence(text: &str) -> &str {
    text.split_inclusive(". ").next().unwrap_or(text).trim()
}

/// Without a pattern: vtsql's functions, one line each, and how to see the others. With one:
/// every function whose name contains it (`*` and `%` are wildcards), documented in full.
pub fn describe(ctx: &SessionContext, pattern: Option<&str>) -> String {
    let all = entries(ctx);
    let mut out = String::new();
    let Some(pattern) = pattern else {
        let _ = writeln!(out, "Veilig Thuis functions:");
        for e in all.iter().filter(|e| is_vtsql(e)) {
            let doc = e.doc.as_ref().expect("vtsql functions are documented");
            let _ = writeln!(out, "  {:<36} {}", doc.syntax_example, first_sentence(&doc.description));
        }
        let others = all.iter().filter(|e| !is_vtsql(e)).count();
        let _ = writeln!(out, "and {others} DataFusion functions. `.functions PATTERN` documents the matching ones.");
        return out;
    };
    let needle: String = pattern.to_lowercase().chars().filter(|c| !matches!(c, '*' | '%')).collect();
    let found: Vec<&Entry> = all.iter().filter(|e| e.name.to_lowercase().contains(&needle)).collect();
    if found.is_empty() {
        let _ = writeln!(out, "no function matches {pattern:?}");
    }
    for e in found {
        let _ = writeln!(out, "{} ({} function)", e.name, e.kind);
        match &e.doc {
            None => {
                let _ = writeln!(out, "  (no documentation)\n");
            }
            Some(doc) => {
                let _ = writeln!(out, "  syntax:  {}", doc.syntax_example);
                let _ = writeln!(out, "  {}", doc.description.replace('\n', "\n  "));
                for (arg, text) in doc.arguments.iter().flatten() {
                    let _ = writeln!(out, "    {arg}: {text}");
                }
                if let Some(example) = &doc.sql_example {
                    let example = example.trim_start_matches("```sql").trim_end_matches("```").trim();
                    let _ = writeln!(out, "  example:\n    {}", example.replace('\n', "\n    "));
                }
                let _ = writeln!(out);
            }
        }
    }
    out
}
