//! Rules: Elastic detection-rules TOML files → [`CompiledRule`]s.
//!
//! Loading = read the TOML ([`file`]), parse the EQL ([`parse`]), check it ([`check`]),
//! compile it ([`compile`]). Errors carry the file, line and column of the offending text
//! and render with a caret under it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod ast;
pub mod check;
pub mod compile;
pub mod file;
pub mod lexer;
pub mod meta;
pub mod parse;

pub use compile::{CompiledRule, CompiledStage, KeySpec, RuleShape};
pub use meta::RuleMeta;

use crate::decode::precheck::Precheck;
use crate::decode::Projection;
use crate::filter::predicate::{share_repeated_leaves, Predicate};
use ast::Span;
use compile::{ColumnRegistry, CompileError};

/// The seed rule, compiled into the binary as the default rule set.
pub const EMBEDDED_RULE_PATH: &str = "transforms/macos_installer_package_spawns_network_event.toml";
pub const EMBEDDED_RULE: &str = include_str!("../../transforms/macos_installer_package_spawns_network_event.toml");

/// A problem at a position in the query text.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryError {
    pub message: String,
    pub span: Span,
}

impl QueryError {
    pub fn new(message: impl Into<String>, span: Span) -> Self {
        QueryError { message: message.into(), span }
    }
}

/// What kind of problem a rule file has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleErrorKind {
    /// The file or its EQL is invalid.
    Invalid,
    /// Valid, but uses something the engine cannot execute yet.
    Unsupported,
}

/// A rule that cannot be loaded, located in its file.
#[derive(Debug, Clone)]
pub struct RuleError {
    pub kind: RuleErrorKind,
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The offending line of the file and a caret line under it.
    pub excerpt: Option<(String, String)>,
}

impl RuleError {
    /// `error PATH:LINE:COL: MESSAGE` (or `unsupported PATH: WHAT`) plus the excerpt.
    pub fn render(&self) -> String {
        let mut s = match self.kind {
            RuleErrorKind::Invalid => format!("error {}:{}:{}: {}", self.path, self.line, self.column, self.message),
            RuleErrorKind::Unsupported => {
                format!("unsupported {}: {} (at {}:{})", self.path, self.message, self.line, self.column)
            }
        };
        if let Some((line, caret)) = &self.excerpt {
            s.push_str(&format!("\n    {line}\n    {caret}"));
        }
        s
    }
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for RuleError {}

/// Map a span of the query to a file position and an excerpt with a caret.
fn locate(meta: &RuleMeta, file_text: Option<&str>, span: Span) -> (usize, usize, Option<(String, String)>) {
    let q = &meta.query;
    // Spans are byte offsets; one that ends inside a character (an error on a single
    // byte of a multi-byte character) is widened to whole characters.
    let floor = |i: usize| (0..=i.min(q.len())).rev().find(|&j| q.is_char_boundary(j)).unwrap_or(0);
    let ceil = |i: usize| (i.min(q.len())..=q.len()).find(|&j| q.is_char_boundary(j)).unwrap_or(q.len());
    let start = floor(span.start);
    let before = &q[..start];
    let qline = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let qcol = q[line_start..start].chars().count();
    let line_end = q[start..].find('\n').map_or(q.len(), |i| start + i);
    let text = q[line_start..line_end].trim_end_matches('\r').to_string();
    let width = q[start..ceil(span.end).clamp(start, line_end)].chars().count().max(1);
    let caret = format!("{}{}", " ".repeat(qcol), "^".repeat(width));
    let (line, column) = if qline == 0 { (meta.query_line.max(1), meta.query_column.max(1) + qcol) } else { (meta.query_line.max(1) + qline, qcol + 1) };
    let _ = file_text;
    (line, column, Some((text, caret)))
}

/// Parse, check and compile the query of `meta`, registering its columns.
pub fn compile_rule(meta: RuleMeta, reg: &mut ColumnRegistry) -> Result<CompiledRule, RuleError> {
    let fail = |meta: &RuleMeta, kind: RuleErrorKind, message: String, span: Span| {
        let (line, column, excerpt) = locate(meta, None, span);
        RuleError { kind, path: meta.path.clone(), line, column, message, excerpt }
    };
    if meta.rule_type != "eql" {
        return Err(RuleError {
            kind: RuleErrorKind::Unsupported,
            path: meta.path.clone(),
            line: 1,
            column: 1,
            message: format!("rule type {:?} (only eql rules run)", meta.rule_type),
            excerpt: None,
        });
    }
    let query = parse::parse_query(&meta.query).map_err(|e| fail(&meta, RuleErrorKind::Invalid, e.message, e.span))?;
    check::check_query(&query).map_err(|e| fail(&meta, RuleErrorKind::Invalid, e.message, e.span))?;
    // Compile against a scratch registry so a failing rule leaves no columns behind.
    let mut scratch = reg.clone();
    match compile::compile(meta.clone(), &query, &mut scratch) {
        Ok(rule) => {
            *reg = scratch;
            Ok(rule)
        }
        Err(CompileError::Unsupported { what, span }) => Err(fail(&meta, RuleErrorKind::Unsupported, what, span)),
        Err(CompileError::Invalid(e)) => Err(fail(&meta, RuleErrorKind::Invalid, e.message, e.span)),
    }
}

/// Load one rule file's text.
pub fn load_rule_text(path: &str, text: &str, reg: &mut ColumnRegistry) -> Result<CompiledRule, RuleError> {
    let meta = file::parse_rule_file(path, text).map_err(|e| RuleError {
        kind: RuleErrorKind::Invalid,
        path: path.to_string(),
        line: e.position().map_or(1, |p| p.0),
        column: e.position().map_or(1, |p| p.1),
        message: e.to_string(),
        excerpt: None,
    })?;
    compile_rule(meta, reg)
}

/// All `.toml` files under the given files or folders, sorted for a stable order.
pub fn rule_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
            entries.sort();
            for e in entries {
                if e.is_dir() || e.extension().is_some_and(|x| x == "toml") {
                    walk(&e, out)?;
                }
            }
        } else {
            out.push(p.to_path_buf());
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if !p.exists() {
            return Err(std::io::Error::new(std::io::ErrorKind::NotFound, format!("{}: no such file or folder", p.display())));
        }
        walk(p, &mut out)?;
    }
    Ok(out)
}

/// The loaded rules, their shared projection and pre-check.
#[derive(Debug)]
pub struct RuleSet {
    pub rules: Vec<Arc<CompiledRule>>,
    pub projection: Arc<Projection>,
    pub precheck: Arc<Precheck>,
    /// Column of `event.id` (alerts and reports name events by it).
    pub event_id_column: usize,
    /// How many leaves the stages share (see [`crate::filter::predicate::share_repeated_leaves`]).
    pub shared_leaves: usize,
}

impl RuleSet {
    /// Build from compiled rules and the registry they were compiled against.
    pub fn new(mut rules: Vec<CompiledRule>, mut reg: ColumnRegistry) -> Self {
        let event_id_column = reg.column("event.id");
        let projection = Arc::new(Projection::new(reg.into_fields()));
        let precheck = Arc::new(Precheck::for_rules(&rules));
        let mut predicates: Vec<&mut Predicate> =
            rules.iter_mut().flat_map(|r| r.stages.iter_mut().chain(r.until.iter_mut())).map(|s| &mut s.predicate).collect();
        let shared_leaves = share_repeated_leaves(&mut predicates);
        RuleSet { rules: rules.into_iter().map(Arc::new).collect(), projection, precheck, event_id_column, shared_leaves }
    }

    /// The seed rule compiled into the binary.
    pub fn embedded_default() -> crate::Result<RuleSet> {
        let mut reg = ColumnRegistry::default();
        let rule = load_rule_text(EMBEDDED_RULE_PATH, EMBEDDED_RULE, &mut reg).map_err(crate::Error::Rule)?;
        Ok(RuleSet::new(vec![rule], reg))
    }

    /// Load every rule under `paths`; returns the set and the rules that failed.
    pub fn load(paths: &[PathBuf]) -> crate::Result<(RuleSet, Vec<RuleError>)> {
        let files = rule_files(paths).map_err(crate::Error::Io)?;
        let mut reg = ColumnRegistry::default();
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for f in files {
            let path = f.display().to_string();
            let text = std::fs::read_to_string(&f).map_err(crate::Error::Io)?;
            match load_rule_text(&path, &text, &mut reg) {
                Ok(r) => rules.push(r),
                Err(e) => errors.push(e),
            }
        }
        Ok((RuleSet::new(rules, reg), errors))
    }

    /// Load exactly these rules; any failure is an error.
    pub fn load_strict(paths: &[PathBuf]) -> crate::Result<RuleSet> {
        let (set, errors) = Self::load(paths)?;
        if let Some(e) = errors.into_iter().next() {
            return Err(crate::Error::Rule(e));
        }
        if set.rules.is_empty() {
            return Err(crate::Error::Config(format!(
                "no rule files found in {}",
                paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_rule_compiles() {
        let set = RuleSet::embedded_default().unwrap();
        let r = &set.rules[0];
        assert_eq!(r.shape, RuleShape::Sequence);
        assert_eq!(r.stages.len(), 2);
        assert_eq!(r.maxspan_ms, Some(15_000));
        assert_eq!(r.header_keys, 1);
        assert_eq!(r.stages[0].keys.iter().map(|k| k.path.as_str()).collect::<Vec<_>>(), ["host.id", "process.entity_id"]);
        assert_eq!(r.stages[1].keys[1].path, "process.parent.entity_id");
        assert_eq!(r.meta.rule_id, "99239e7d-b0d4-46e3-8609-acafcf99f68c");
    }

    #[test]
    fn errors_point_into_the_file() {
        let text = "[rule]\nname = \"x\"\nrule_id = \"r\"\ntype = \"eql\"\nlanguage = \"eql\"\nseverity = \"low\"\nrisk_score = 1\ndescription = \"d\"\nquery = '''\nprocess where\n  foo(process.name)\n'''\n";
        let mut reg = ColumnRegistry::default();
        let e = load_rule_text("x.toml", text, &mut reg).unwrap_err();
        assert_eq!(e.kind, RuleErrorKind::Invalid);
        assert_eq!((e.line, e.column), (11, 3), "{}", e.render());
        assert!(e.render().contains("\n      foo(process.name)\n      ^^^^^^^^^^^^^^^^^"), "{}", e.render());
        let text2 = text.replace("foo(process.name)", "process.name regex \"~a\"");
        let e = load_rule_text("x.toml", &text2, &mut reg).unwrap_err();
        assert_eq!(e.kind, RuleErrorKind::Unsupported, "{}", e.render());
    }
}
