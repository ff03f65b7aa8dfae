//! Compiler: checked AST → [`CompiledRule`] (column projection, vectorized stage
//! predicates, join keys, maxspan).
//!
//! Anything the engine cannot execute with Elasticsearch's exact semantics is refused with
//! an "unsupported" error naming the construct — never approximated silently.

use super::ast::*;
use super::meta::RuleMeta;
use super::QueryError;
use crate::filter::lucene_regex;
use crate::filter::pattern::Pattern;
use crate::filter::predicate::{NumOp, Predicate, ValueTest};
use crate::filter::script::{Cidr, Cmp, Func, Script, Val};

/// How a rule produces detections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleShape {
    /// One detection per matching event.
    Event,
    /// An EQL sequence.
    Sequence,
    /// A `sample by` query (emitted at end of input).
    Sample,
}

/// A join key field of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub path: String,
    pub column: usize,
    /// `?field`: a null key is a valid key.
    pub optional: bool,
}

#[derive(Debug, Clone)]
pub struct CompiledStage {
    /// Category test and condition together.
    pub predicate: Predicate,
    /// Header keys followed by the stage's own keys.
    pub keys: Vec<KeySpec>,
    /// `![…]`: a missing-event stage (the sequence holds only if no such event is found).
    pub missing: bool,
}

/// A rule ready to run: read-only and shared between threads.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub meta: RuleMeta,
    pub shape: RuleShape,
    pub stages: Vec<CompiledStage>,
    /// Number of sequence-level (`sequence by`) keys at the front of every stage's keys.
    pub header_keys: usize,
    pub maxspan_ms: Option<i64>,
    /// Column of the event time field.
    pub timestamp_column: usize,
    /// Column of the tie-breaker field.
    pub tiebreaker_column: Option<usize>,
    /// `until [..]`: a same-key match ends the key's pending sequences. Its index in
    /// candidates is `stages.len()`.
    pub until: Option<CompiledStage>,
    /// `| head N` / `| tail N`, applied to the whole result in replay
    /// ([`crate::engine::apply_pipes`]).
    pub pipes: Vec<(PipeKind, u64)>,
}

/// Assigns columns to field paths, shared by all rules of a set so they decode once.
#[derive(Debug, Default, Clone)]
pub struct ColumnRegistry {
    fields: Vec<String>,
    /// The index mapping, when known: an optional field (`?f`) absent from it is a
    /// constant null, as Elasticsearch resolves unmapped optional fields. Without a
    /// mapping (streams of ECS events) every field counts as mapped.
    mapping: Option<std::collections::HashSet<String>>,
}

impl ColumnRegistry {
    /// A registry that knows the index mapping (see [`ColumnRegistry::mapping`]).
    pub fn with_mapping(fields: impl IntoIterator<Item = String>) -> Self {
        ColumnRegistry { fields: Vec::new(), mapping: Some(fields.into_iter().collect()) }
    }

    fn unmapped(&self, path: &str) -> bool {
        self.mapping.as_ref().is_some_and(|m| !m.contains(path))
    }

    pub fn column(&mut self, path: &str) -> usize {
        if let Some(i) = self.fields.iter().position(|f| f == path) {
            return i;
        }
        self.fields.push(path.to_string());
        self.fields.len() - 1
    }
    pub fn into_fields(self) -> Vec<String> {
        self.fields
    }
    pub fn fields(&self) -> &[String] {
        &self.fields
    }
}

/// Why a rule cannot run.
#[derive(Debug, Clone, PartialEq)]
pub enum CompileError {
    /// Valid EQL the engine does not execute yet.
    Unsupported { what: String, span: Span },
    /// Invalid EQL.
    Invalid(QueryError),
}

fn unsupported<T>(what: impl Into<String>, span: Span) -> Result<T, CompileError> {
    Err(CompileError::Unsupported { what: what.into(), span })
}

fn invalid<T>(msg: impl Into<String>, span: Span) -> Result<T, CompileError> {
    Err(CompileError::Invalid(QueryError::new(msg, span)))
}

/// Compile a checked query of a rule.
pub fn compile(meta: RuleMeta, q: &Query, reg: &mut ColumnRegistry) -> Result<CompiledRule, CompileError> {
    let pipes: Vec<(PipeKind, u64)> = q.pipes.iter().map(|p| (p.kind, p.count)).collect();
    let category_field = meta.event_category_override.clone().unwrap_or_else(|| "event.category".to_string());
    let timestamp_column = reg.column(meta.timestamp_field.as_deref().unwrap_or("@timestamp"));
    // Elasticsearch orders equal timestamps by the rule's tiebreaker; without one, seqhound
    // uses Endpoint's per-agent `event.sequence`, then arrival order.
    let tiebreaker_column = Some(reg.column(meta.tiebreaker_field.as_deref().unwrap_or("event.sequence")));
    reg.column("event.id");
    let timestamp_field = meta.timestamp_field.clone().unwrap_or_else(|| "@timestamp".to_string());
    let mut cx = Cx { reg, category_field, timestamp_field };
    match &q.body {
        QueryBody::Event(e) => {
            let predicate = cx.event_query(e)?;
            Ok(CompiledRule {
                meta,
                shape: RuleShape::Event,
                stages: vec![CompiledStage { predicate, keys: vec![], missing: false }],
                header_keys: 0,
                maxspan_ms: None,
                timestamp_column,
                tiebreaker_column,
                pipes: pipes.clone(),
                until: None,
            })
        }
        QueryBody::Sample(s) => {
            let header: Vec<KeySpec> = s.by.iter().map(|k| cx.key(k)).collect::<Result<_, _>>()?;
            let mut stages = Vec::new();
            for st in &s.stages {
                let predicate = cx.event_query(&st.query)?;
                let mut keys = header.clone();
                for k in &st.by {
                    keys.push(cx.key(k)?);
                }
                stages.push(CompiledStage { predicate, keys, missing: false });
            }
            Ok(CompiledRule {
                meta,
                shape: RuleShape::Sample,
                stages,
                header_keys: header.len(),
                maxspan_ms: None,
                timestamp_column,
                tiebreaker_column,
                pipes: pipes.clone(),
                until: None,
            })
        }
        QueryBody::Sequence(s) => {
            let header: Vec<KeySpec> = s.by.iter().map(|k| cx.key(k)).collect::<Result<_, _>>()?;
            let mut stages = Vec::new();
            for st in &s.stages {
                let predicate = cx.event_query(&st.query)?;
                let mut keys = header.clone();
                for k in &st.by {
                    keys.push(cx.key(k)?);
                }
                for _ in 0..st.runs.unwrap_or(1) {
                    stages.push(CompiledStage { predicate: predicate.clone(), keys: keys.clone(), missing: st.missing });
                }
            }
            let until = match &s.until {
                Some(u) => {
                    let predicate = cx.event_query(&u.query)?;
                    let mut keys = header.clone();
                    for k in &u.by {
                        keys.push(cx.key(k)?);
                    }
                    Some(CompiledStage { predicate, keys, missing: false })
                }
                None => None,
            };
            Ok(CompiledRule {
                meta,
                shape: RuleShape::Sequence,
                stages,
                header_keys: header.len(),
                maxspan_ms: s.maxspan.map(|m| m.millis),
                timestamp_column,
                tiebreaker_column,
                pipes: pipes.clone(),
                until,
            })
        }
    }
}

impl CompiledRule {
    /// The stages, then the `until` stage if any (at index `stages.len()`).
    pub fn all_stages(&self) -> impl Iterator<Item = &CompiledStage> {
        self.stages.iter().chain(self.until.iter())
    }
}

struct Cx<'a> {
    reg: &'a mut ColumnRegistry,
    category_field: String,
    timestamp_field: String,
}

enum Operand<'a> {
    Field(&'a FieldRef),
    Lit(&'a Literal),
    Other,
}

fn operand(e: &Expr) -> Operand<'_> {
    match &e.kind {
        ExprKind::Field(f) => Operand::Field(f),
        ExprKind::Literal(l) => Operand::Lit(l),
        _ => Operand::Other,
    }
}

fn flip(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::LtEq => CompareOp::GtEq,
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::GtEq => CompareOp::LtEq,
        o => o,
    }
}

fn num_op(op: CompareOp) -> NumOp {
    match op {
        CompareOp::Eq | CompareOp::NotEq => NumOp::Eq,
        CompareOp::Lt => NumOp::Lt,
        CompareOp::LtEq => NumOp::LtEq,
        CompareOp::Gt => NumOp::Gt,
        CompareOp::GtEq => NumOp::GtEq,
    }
}

impl Cx<'_> {
    /// Replace unmapped optional fields by `null` literals.
    fn fold_unmapped(&self, e: &Expr) -> Expr {
        let f = |x: &Expr| Box::new(self.fold_unmapped(x));
        let kind = match &e.kind {
            ExprKind::Field(fr) if fr.optional && self.reg.unmapped(&fr.path) => ExprKind::Literal(Literal::Null),
            ExprKind::Not(a) => ExprKind::Not(f(a)),
            ExprKind::Negate(a) => ExprKind::Negate(f(a)),
            ExprKind::And(a, b) => ExprKind::And(f(a), f(b)),
            ExprKind::Or(a, b) => ExprKind::Or(f(a), f(b)),
            ExprKind::Compare { op, left, right } => ExprKind::Compare { op: *op, left: f(left), right: f(right) },
            ExprKind::Arith { op, left, right } => ExprKind::Arith { op: *op, left: f(left), right: f(right) },
            ExprKind::Match { op, value, patterns } => ExprKind::Match { op: *op, value: f(value), patterns: patterns.clone() },
            ExprKind::In { value, list, negated, insensitive } => {
                ExprKind::In { value: f(value), list: list.iter().map(|x| self.fold_unmapped(x)).collect(), negated: *negated, insensitive: *insensitive }
            }
            ExprKind::Call { name, insensitive, args } => {
                ExprKind::Call { name: name.clone(), insensitive: *insensitive, args: args.iter().map(|x| self.fold_unmapped(x)).collect() }
            }
            k => k.clone(),
        };
        Expr::new(kind, e.span)
    }

    /// ECS `date` fields (and the rule's time field) compare as dates, not text.
    fn is_date_field(&self, path: &str) -> bool {
        const DATE_SUFFIXES: &[&str] = &[".created", ".ingested", ".start", ".end", ".mtime", ".ctime", ".accessed"];
        path == self.timestamp_field || path == "@timestamp" || DATE_SUFFIXES.iter().any(|s| path.ends_with(s))
    }

    fn event_query(&mut self, e: &EventQuery) -> Result<Predicate, CompileError> {
        let cond = self.cond(&self.fold_unmapped(&e.condition))?;
        let predicate = match &e.category {
            Category::Any => cond,
            Category::Named(c) => {
                let column = self.reg.column(&self.category_field.clone());
                let cat = Predicate::Leaf { column, test: ValueTest::AnyOf(vec![Pattern::equals(c, false)]) };
                and(vec![cat, cond])
            }
        };
        Ok(predicate.cheapest_first())
    }

    fn key(&mut self, e: &Expr) -> Result<KeySpec, CompileError> {
        match &e.kind {
            ExprKind::Field(f) => Ok(KeySpec { path: f.path.clone(), column: self.reg.column(&f.path), optional: f.optional }),
            _ => unsupported("join keys that are not plain fields", e.span),
        }
    }

    fn cond(&mut self, e: &Expr) -> Result<Predicate, CompileError> {
        match &e.kind {
            ExprKind::Literal(Literal::Boolean(true)) => Ok(Predicate::True),
            ExprKind::Literal(Literal::Boolean(false)) => Ok(Predicate::False),
            // A null condition (an unmapped optional field) drops every event.
            ExprKind::Literal(Literal::Null) => Ok(Predicate::False),
            ExprKind::Literal(l) => invalid(format!("condition must be a boolean, found {l}"), e.span),
            ExprKind::And(a, b) => Ok(and(vec![self.cond(a)?, self.cond(b)?])),
            ExprKind::Or(a, b) => Ok(or(vec![self.cond(a)?, self.cond(b)?])),
            // Elasticsearch negates a script leaf inside the script (three-valued: not
            // null is null, the row is dropped) and any other query with must_not.
            ExprKind::Not(a) => Ok(match self.cond(a)? {
                Predicate::Script(s) => Predicate::Script(Script::Not(Box::new(s))),
                p => not(p),
            }),
            ExprKind::Compare { op, left, right } => self.compare(*op, left, right, e.span),
            ExprKind::Match { op, value, patterns } => {
                let test = self.match_test(*op, patterns)?;
                match &value.kind {
                    ExprKind::Field(f) => Ok(Predicate::Leaf { column: self.reg.column(&f.path), test }),
                    _ => {
                        let value = Box::new(self.script(value)?);
                        Ok(Predicate::Script(match test {
                            ValueTest::Regex(regexes) => Script::Regex { value, regexes },
                            ValueTest::AnyOf(patterns) => Script::Matches { value, patterns },
                            _ => return invalid("unexpected pattern test", e.span),
                        }))
                    }
                }
            }
            ExprKind::In { value, list, negated, insensitive } => {
                let all_literal = list.iter().all(|x| matches!(x.kind, ExprKind::Literal(_)));
                let ExprKind::Field(f) = (match &value.kind {
                    ExprKind::Field(_) if all_literal => &value.kind,
                    _ => {
                        let s = Script::In {
                            value: Box::new(self.script(value)?),
                            list: list.iter().map(|x| self.script(x)).collect::<Result<_, _>>()?,
                            insensitive: *insensitive,
                        };
                        return Ok(Predicate::Script(if *negated { Script::Not(Box::new(s)) } else { s }));
                    }
                }) else {
                    return invalid("internal: in", e.span);
                };
                let column = self.reg.column(&f.path);
                let mut strings = Vec::new();
                let mut others = Vec::new();
                for x in list {
                    match &x.kind {
                        ExprKind::Literal(Literal::String(s)) => strings.push(Pattern::equals(s, *insensitive)),
                        ExprKind::Literal(Literal::Boolean(b)) => strings.push(Pattern::equals(&b.to_string(), false)),
                        ExprKind::Literal(Literal::Integer(n)) => {
                            others.push(Predicate::Leaf { column, test: ValueTest::Number { op: NumOp::Eq, rhs: *n as f64 } })
                        }
                        ExprKind::Literal(Literal::Float(n)) => others.push(Predicate::Leaf { column, test: ValueTest::Number { op: NumOp::Eq, rhs: *n } }),
                        ExprKind::Literal(Literal::Null) => others.push(not(Predicate::Exists { column })),
                        _ => return unsupported("in lists with non-constant values", x.span),
                    }
                }
                if !strings.is_empty() {
                    others.push(Predicate::Leaf { column, test: ValueTest::AnyOf(strings) });
                }
                let p = or(others);
                Ok(if *negated { not(p) } else { p })
            }
            // A boolean field as the whole condition: `where process.Ext.trusted`.
            ExprKind::Field(f) => Ok(Predicate::Leaf { column: self.reg.column(&f.path), test: ValueTest::AnyOf(vec![Pattern::equals("true", false)]) }),
            ExprKind::Call { name, insensitive, args } => self.call_cond(name, *insensitive, args, e.span),
            ExprKind::Arith { .. } | ExprKind::Negate(_) => invalid("condition must be a boolean, found a number", e.span),
        }
    }

    /// Functions Elasticsearch turns into Query DSL when applied to a field and literals
    /// (`startsWith`, `endsWith`, `stringContains`, `cidrMatch`); anything else is a script.
    fn call_cond(&mut self, name: &str, ci: bool, args: &[Expr], span: Span) -> Result<Predicate, CompileError> {
        let lname = name.to_ascii_lowercase();
        let field = match args.first().map(|a| &a.kind) {
            Some(ExprKind::Field(f)) => Some(f),
            _ => None,
        };
        let lits: Option<Vec<&str>> = args[1..]
            .iter()
            .map(|a| match &a.kind {
                ExprKind::Literal(Literal::String(s)) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        if let (Some(f), Some(lits)) = (field, lits) {
            let column = self.reg.column(&f.path);
            let test = match (lname.as_str(), lits.as_slice()) {
                ("startswith", [l]) => Some(ValueTest::AnyOf(vec![Pattern::starts_with(l, ci)])),
                ("endswith", [l]) => Some(ValueTest::AnyOf(vec![Pattern::ends_with(l, ci)])),
                // An empty needle matches nothing in Elasticsearch.
                ("stringcontains", [""]) => return Ok(Predicate::False),
                ("stringcontains", [l]) => Some(ValueTest::AnyOf(vec![Pattern::contains(l, ci)])),
                ("cidrmatch", cidrs) => {
                    let mut nets = Vec::new();
                    for (c, a) in cidrs.iter().zip(&args[1..]) {
                        match Cidr::parse(c) {
                            Some(n) => nets.push(n),
                            None => return invalid(format!("{c:?} is not a CIDR block"), a.span),
                        }
                    }
                    Some(ValueTest::Cidr(nets))
                }
                _ => None,
            };
            if let Some(test) = test {
                return Ok(Predicate::Leaf { column, test });
            }
        }
        let s = self.script(&Expr::new(ExprKind::Call { name: name.to_string(), insensitive: ci, args: args.to_vec() }, span))?;
        match &s {
            Script::Call { func, .. } if !matches!(func, Func::StartsWith { .. } | Func::EndsWith { .. } | Func::StringContains { .. } | Func::CidrMatch) => {
                invalid(format!("condition must be a boolean, but {name} does not return one"), span)
            }
            _ => Ok(Predicate::Script(s)),
        }
    }

    fn match_test(&mut self, op: MatchOp, patterns: &[Expr]) -> Result<ValueTest, CompileError> {
        let ci = op.case_insensitive();
        let mut pats = Vec::new();
        let mut regexes = Vec::new();
        for p in patterns {
            let ExprKind::Literal(Literal::String(s)) = &p.kind else {
                return invalid(format!("the {op} operator takes string patterns"), p.span);
            };
            match op {
                MatchOp::Colon | MatchOp::Like | MatchOp::LikeInsensitive => pats.push(Pattern::wildcard(s, ci)),
                MatchOp::Regex | MatchOp::RegexInsensitive => {
                    let translated = match lucene_regex::translate(s, ci) {
                        Ok(t) => t,
                        Err(what) => return unsupported(what, p.span),
                    };
                    match regex::Regex::new(&translated) {
                        Ok(r) => regexes.push(r),
                        Err(err) => return invalid(format!("invalid regular expression: {err}"), p.span),
                    }
                }
            }
        }
        Ok(if regexes.is_empty() { ValueTest::AnyOf(pats) } else { ValueTest::Regex(regexes) })
    }

    /// Compile a computed (script) expression.
    fn script(&mut self, e: &Expr) -> Result<Script, CompileError> {
        Ok(match &e.kind {
            ExprKind::Literal(l) => Script::Lit(match l {
                Literal::String(s) => Val::Str(std::borrow::Cow::Owned(s.clone())),
                Literal::Integer(i) => Val::Int(*i),
                Literal::Float(f) => Val::Float(*f),
                Literal::Boolean(b) => Val::Bool(*b),
                Literal::Null => Val::Null,
            }),
            ExprKind::Field(f) => Script::Field { column: self.reg.column(&f.path) },
            ExprKind::Not(a) => Script::Not(Box::new(self.script(a)?)),
            ExprKind::And(a, b) => Script::And(Box::new(self.script(a)?), Box::new(self.script(b)?)),
            ExprKind::Or(a, b) => Script::Or(Box::new(self.script(a)?), Box::new(self.script(b)?)),
            ExprKind::Negate(a) => Script::Negate(Box::new(self.script(a)?)),
            ExprKind::Compare { op: op @ (CompareOp::Eq | CompareOp::NotEq), left, right }
                if matches!(left.kind, ExprKind::Literal(Literal::Null)) || matches!(right.kind, ExprKind::Literal(Literal::Null)) =>
            {
                let other = if matches!(left.kind, ExprKind::Literal(Literal::Null)) { right } else { left };
                Script::IsNull { value: Box::new(self.script(other)?), negated: *op == CompareOp::NotEq }
            }
            ExprKind::Compare { op, left, right } => Script::Compare {
                op: match op {
                    CompareOp::Eq => Cmp::Eq,
                    CompareOp::NotEq => Cmp::NotEq,
                    CompareOp::Lt => Cmp::Lt,
                    CompareOp::LtEq => Cmp::LtEq,
                    CompareOp::Gt => Cmp::Gt,
                    CompareOp::GtEq => Cmp::GtEq,
                },
                left: Box::new(self.script(left)?),
                right: Box::new(self.script(right)?),
            },
            ExprKind::Match { op, value, patterns } => {
                let value = Box::new(self.script(value)?);
                match self.match_test(*op, patterns)? {
                    ValueTest::Regex(regexes) => Script::Regex { value, regexes },
                    ValueTest::AnyOf(patterns) => Script::Matches { value, patterns },
                    _ => return invalid("unexpected pattern test", e.span),
                }
            }
            ExprKind::In { value, list, negated, insensitive } => {
                let s = Script::In {
                    value: Box::new(self.script(value)?),
                    list: list.iter().map(|x| self.script(x)).collect::<Result<_, _>>()?,
                    insensitive: *insensitive,
                };
                if *negated {
                    Script::Not(Box::new(s))
                } else {
                    s
                }
            }
            ExprKind::Arith { op, left, right } => Script::Call {
                func: match op {
                    ArithOp::Add => Func::Add,
                    ArithOp::Sub => Func::Subtract,
                    ArithOp::Mul => Func::Multiply,
                    ArithOp::Div => Func::Divide,
                    ArithOp::Mod => Func::Modulo,
                },
                args: vec![self.script(left)?, self.script(right)?],
            },
            ExprKind::Call { name, insensitive, args } => {
                let ci = *insensitive;
                let func = match name.to_ascii_lowercase().as_str() {
                    "add" => Func::Add,
                    "subtract" => Func::Subtract,
                    "multiply" => Func::Multiply,
                    "divide" => Func::Divide,
                    "modulo" => Func::Modulo,
                    "between" => Func::Between { ci },
                    "concat" => Func::Concat,
                    "endswith" => Func::EndsWith { ci },
                    "startswith" => Func::StartsWith { ci },
                    "stringcontains" => Func::StringContains { ci },
                    "indexof" => Func::IndexOf { ci },
                    "length" => Func::Length,
                    "number" => Func::Number,
                    "string" => Func::String,
                    "substring" => Func::Substring,
                    "cidrmatch" => Func::CidrMatch,
                    _ => return invalid(format!("unknown function {name}"), e.span),
                };
                Script::Call { func, args: args.iter().map(|a| self.script(a)).collect::<Result<_, _>>()? }
            }
        })
    }

    fn compare(&mut self, op: CompareOp, left: &Expr, right: &Expr, span: Span) -> Result<Predicate, CompileError> {
        let (f, lit, op) = match (operand(left), operand(right)) {
            (Operand::Field(f), Operand::Lit(l)) => (f, l, op),
            (Operand::Lit(l), Operand::Field(f)) => (f, l, flip(op)),
            _ => {
                let s = self.script(&Expr::new(ExprKind::Compare { op, left: Box::new(left.clone()), right: Box::new(right.clone()) }, span))?;
                return Ok(Predicate::Script(s));
            }
        };
        let column = self.reg.column(&f.path);
        if self.is_date_field(&f.path) {
            let rhs_ms = match lit {
                Literal::String(s) => crate::engine::parse_timestamp(s),
                Literal::Integer(n) => Some(*n),
                _ => None,
            };
            let Some(rhs_ms) = rhs_ms else {
                return invalid(format!("{lit} is not a date (RFC 3339 or epoch milliseconds)"), span);
            };
            let p = Predicate::Leaf { column, test: ValueTest::Date { op: num_op(op), rhs_ms } };
            return Ok(if op == CompareOp::NotEq { not(p) } else { p });
        }
        let leaf = match lit {
            Literal::Null => {
                return match op {
                    CompareOp::Eq => Ok(not(Predicate::Exists { column })),
                    CompareOp::NotEq => Ok(Predicate::Exists { column }),
                    _ => invalid(format!("{op} cannot compare with null"), span),
                }
            }
            Literal::String(s) => match op {
                CompareOp::Eq | CompareOp::NotEq => ValueTest::AnyOf(vec![Pattern::equals(s, false)]),
                _ => ValueTest::Text { op: num_op(op), rhs: s.as_bytes().into() },
            },
            Literal::Boolean(b) => match op {
                CompareOp::Eq | CompareOp::NotEq => ValueTest::AnyOf(vec![Pattern::equals(&b.to_string(), false)]),
                _ => return invalid(format!("{op} cannot compare booleans"), span),
            },
            Literal::Integer(n) => ValueTest::Number { op: num_op(op), rhs: *n as f64 },
            Literal::Float(x) => ValueTest::Number { op: num_op(op), rhs: *x },
        };
        let p = Predicate::Leaf { column, test: leaf };
        Ok(if op == CompareOp::NotEq { not(p) } else { p })
    }
}

fn and(ps: Vec<Predicate>) -> Predicate {
    let mut out = Vec::new();
    for p in ps {
        match p {
            Predicate::True => {}
            Predicate::False => return Predicate::False,
            Predicate::And(inner) => out.extend(inner),
            p => out.push(p),
        }
    }
    match out.len() {
        0 => Predicate::True,
        1 => out.pop().unwrap_or(Predicate::True),
        _ => Predicate::And(out),
    }
}

fn or(ps: Vec<Predicate>) -> Predicate {
    let mut out = Vec::new();
    for p in ps {
        match p {
            Predicate::False => {}
            Predicate::True => return Predicate::True,
            Predicate::Or(inner) => out.extend(inner),
            p => out.push(p),
        }
    }
    match out.len() {
        0 => Predicate::False,
        1 => out.pop().unwrap_or(Predicate::False),
        _ => Predicate::Or(out),
    }
}

fn not(p: Predicate) -> Predicate {
    match p {
        Predicate::True => Predicate::False,
        Predicate::False => Predicate::True,
        Predicate::Not(inner) => *inner,
        p => Predicate::Not(Box::new(p)),
    }
}
