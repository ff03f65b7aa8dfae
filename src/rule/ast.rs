//! The EQL syntax tree, for the whole language Elasticsearch accepts.
//!
//! The parser builds it for every query; the checker and the compiler decide what of it
//! the engine can execute. Every node keeps the byte span of its text in the query so
//! errors can point at it with a caret.

use std::fmt;

/// Byte range `[start, end)` in the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// A whole query: a query body and its pipes.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub body: QueryBody,
    pub pipes: Vec<Pipe>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum QueryBody {
    /// `cat where cond`
    Event(EventQuery),
    /// `sequence [by k] [with maxspan=N] [..] [..] [until [..]]`
    Sequence(Sequence),
    /// `sample by k [..] [..]`
    Sample(Sample),
}

/// `| head N` or `| tail N`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipe {
    pub kind: PipeKind,
    pub count: u64,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeKind {
    Head,
    Tail,
}

/// The event category a query selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Category {
    /// `any where …`: every event, also those without a category.
    Any,
    /// `process where …` or `"my-cat" where …`.
    Named(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventQuery {
    pub category: Category,
    pub category_span: Span,
    pub condition: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// Sequence-level join keys (`sequence by …`).
    pub by: Vec<Expr>,
    pub maxspan: Option<TimeSpan>,
    pub stages: Vec<Stage>,
    pub until: Option<Stage>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub by: Vec<Expr>,
    pub stages: Vec<Stage>,
    pub span: Span,
}

/// One bracketed stage of a sequence or sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub query: EventQuery,
    /// Stage-level join keys (`[…] by …`).
    pub by: Vec<Expr>,
    /// `with runs=N`.
    pub runs: Option<u32>,
    /// `![…]`: a missing-event stage.
    pub missing: bool,
    pub span: Span,
}

/// A duration with its unit, as written (`15s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSpan {
    pub millis: i64,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Null,
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write!(f, "{s:?}"),
            Literal::Integer(i) => write!(f, "{i}"),
            Literal::Float(x) => write!(f, "{x}"),
            Literal::Boolean(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
        }
    }
}

/// A field reference: `process.name`, `` `my-field` ``, `?optional.field`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    /// Dotted path, as Elasticsearch names the field.
    pub path: String,
    /// `?field`: an unmapped field reads as null instead of failing; as a join key, null is allowed.
    pub optional: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompareOp::Eq => "==",
            CompareOp::NotEq => "!=",
            CompareOp::Lt => "<",
            CompareOp::LtEq => "<=",
            CompareOp::Gt => ">",
            CompareOp::GtEq => ">=",
        })
    }
}

/// Pattern operators: all take one pattern or a parenthesised list of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `:` — case-insensitive, `*` and `?` wildcards (same as `like~`).
    Colon,
    /// `like` — case-sensitive wildcards.
    Like,
    /// `like~`
    LikeInsensitive,
    /// `regex` — Lucene regular expression over the whole value.
    Regex,
    /// `regex~`
    RegexInsensitive,
}

impl MatchOp {
    pub fn case_insensitive(self) -> bool {
        matches!(self, MatchOp::Colon | MatchOp::LikeInsensitive | MatchOp::RegexInsensitive)
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Colon => ":",
            MatchOp::Like => "like",
            MatchOp::LikeInsensitive => "like~",
            MatchOp::Regex => "regex",
            MatchOp::RegexInsensitive => "regex~",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    Field(FieldRef),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare {
        op: CompareOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Match {
        op: MatchOp,
        value: Box<Expr>,
        patterns: Vec<Expr>,
    },
    /// `in`, `in~`, `not in`, `not in~`.
    In {
        value: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
        insensitive: bool,
    },
    Arith {
        op: ArithOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Negate(Box<Expr>),
    /// `name(args)` or `name~(args)`.
    Call {
        name: String,
        insensitive: bool,
        args: Vec<Expr>,
    },
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Self {
        Expr { kind, span }
    }
}
