//! EQL parser: tokens → [`ast::Query`]. Recursive descent following Elasticsearch's
//! `EqlBase.g4` precedence: `or` < `and` < `not` < comparison/predicates < `+ -` < `* / %`
//! < unary minus < primary.

use super::ast::*;
use super::lexer::{tokenize, Tok, Token};
use super::QueryError;

/// Parse a whole EQL query.
///
/// # Errors
/// A [`QueryError`] with the span of the offending text.
pub fn parse_query(src: &str) -> Result<Query, QueryError> {
    let tokens = tokenize(src)?;
    let mut p = Parser { t: tokens, i: 0 };
    let q = p.query()?;
    if !matches!(p.peek(), Tok::Eof) {
        return Err(p.unexpected("end of query"));
    }
    Ok(q)
}

/// Parse a standalone condition (used by tests and tools).
pub fn parse_expr(src: &str) -> Result<Expr, QueryError> {
    let tokens = tokenize(src)?;
    let mut p = Parser { t: tokens, i: 0 };
    let e = p.expr()?;
    if !matches!(p.peek(), Tok::Eof) {
        return Err(p.unexpected("end of expression"));
    }
    Ok(e)
}

const KEYWORDS: &[&str] =
    &["and", "or", "not", "in", "like", "regex", "where", "sequence", "sample", "by", "with", "until", "maxspan", "runs", "any", "true", "false", "null"];

struct Parser {
    t: Vec<Token>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.t[self.i].tok
    }
    fn peek_at(&self, k: usize) -> &Tok {
        &self.t[(self.i + k).min(self.t.len() - 1)].tok
    }
    fn tok(&self) -> &Token {
        &self.t[self.i]
    }
    fn span(&self) -> Span {
        self.t[self.i].span
    }
    fn prev_end(&self) -> usize {
        if self.i == 0 {
            0
        } else {
            self.t[self.i - 1].span.end
        }
    }
    fn bump(&mut self) -> Token {
        let t = self.t[self.i].clone();
        if self.i + 1 < self.t.len() {
            self.i += 1;
        }
        t
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expect_kw(&mut self, kw: &str) -> Result<Span, QueryError> {
        if self.is_kw(kw) {
            Ok(self.bump().span)
        } else {
            Err(self.unexpected(&format!("'{kw}'")))
        }
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, t: &Tok, what: &str) -> Result<Span, QueryError> {
        if self.peek() == t {
            Ok(self.bump().span)
        } else {
            Err(self.unexpected(what))
        }
    }
    fn unexpected(&self, expected: &str) -> QueryError {
        let found = match self.peek() {
            Tok::Eof => "end of query".to_string(),
            _ => format!("'{}'", describe(self.peek())),
        };
        QueryError::new(format!("expected {expected}, found {found}"), self.span())
    }

    fn query(&mut self) -> Result<Query, QueryError> {
        let start = self.span().start;
        let body = if self.is_kw("sequence") {
            QueryBody::Sequence(self.sequence()?)
        } else if self.is_kw("sample") {
            QueryBody::Sample(self.sample()?)
        } else {
            QueryBody::Event(self.event_query()?)
        };
        let mut pipes = Vec::new();
        while self.peek() == &Tok::Pipe {
            let pstart = self.bump().span.start;
            let kind = if self.eat_kw("head") {
                PipeKind::Head
            } else if self.eat_kw("tail") {
                PipeKind::Tail
            } else {
                return Err(self.unexpected("a pipe: 'head' or 'tail'"));
            };
            let count = match self.peek().clone() {
                Tok::Int(n) if n >= 0 => {
                    self.bump();
                    n as u64
                }
                _ => return Err(self.unexpected("a non-negative integer")),
            };
            pipes.push(Pipe { kind, count, span: Span::new(pstart, self.prev_end()) });
        }
        Ok(Query { body, pipes, span: Span::new(start, self.prev_end()) })
    }

    fn join_keys(&mut self) -> Result<Vec<Expr>, QueryError> {
        let mut keys = vec![self.expr()?];
        while self.eat(&Tok::Comma) {
            keys.push(self.expr()?);
        }
        Ok(keys)
    }

    fn sequence(&mut self) -> Result<Sequence, QueryError> {
        let start = self.expect_kw("sequence")?.start;
        let mut by = Vec::new();
        let mut maxspan = None;
        if self.eat_kw("by") {
            by = self.join_keys()?;
        }
        if self.eat_kw("with") {
            self.expect_kw("maxspan")?;
            self.expect(&Tok::Eq, "'='")?;
            maxspan = Some(self.time_span()?);
            if self.is_kw("by") {
                return Err(QueryError::new("the sequence's 'by' keys must come before 'with maxspan'", self.span()));
            }
        }
        let mut stages = Vec::new();
        while matches!(self.peek(), Tok::LBracket | Tok::Bang) {
            stages.push(self.stage(true)?);
        }
        if stages.is_empty() {
            return Err(self.unexpected("a sequence stage '['"));
        }
        let until = if self.eat_kw("until") {
            let st = self.stage(false)?;
            Some(st)
        } else {
            None
        };
        Ok(Sequence { by, maxspan, stages, until, span: Span::new(start, self.prev_end()) })
    }

    fn sample(&mut self) -> Result<Sample, QueryError> {
        let start = self.expect_kw("sample")?.start;
        let mut by = Vec::new();
        if self.eat_kw("by") {
            by = self.join_keys()?;
        }
        if self.is_kw("with") {
            return Err(QueryError::new("sample queries take no 'with' parameters", self.span()));
        }
        let mut stages = Vec::new();
        while self.peek() == &Tok::LBracket {
            stages.push(self.stage(false)?);
        }
        if stages.is_empty() {
            return Err(self.unexpected("a sample stage '['"));
        }
        Ok(Sample { by, stages, span: Span::new(start, self.prev_end()) })
    }

    fn stage(&mut self, allow_runs: bool) -> Result<Stage, QueryError> {
        let start = self.span().start;
        let missing = self.eat(&Tok::Bang);
        self.expect(&Tok::LBracket, "'['")?;
        let query = self.event_query()?;
        self.expect(&Tok::RBracket, "']'")?;
        let mut by = Vec::new();
        let mut runs = None;
        if self.eat_kw("by") {
            by = self.join_keys()?;
        }
        if self.is_kw("with") && matches!(self.peek_at(1), Tok::Ident(s) if s.eq_ignore_ascii_case("runs")) {
            let wspan = self.bump().span;
            if !allow_runs {
                return Err(QueryError::new("'with runs' is only allowed on sequence stages", wspan));
            }
            self.bump();
            self.expect(&Tok::Eq, "'='")?;
            match self.peek().clone() {
                Tok::Int(n) => {
                    let sp = self.bump().span;
                    if !(1..=100).contains(&n) {
                        return Err(QueryError::new("runs must be between 1 and 100", sp));
                    }
                    runs = Some(n as u32);
                }
                _ => return Err(self.unexpected("an integer")),
            }
        }
        Ok(Stage { query, by, runs, missing, span: Span::new(start, self.prev_end()) })
    }

    fn time_span(&mut self) -> Result<TimeSpan, QueryError> {
        let start = self.span().start;
        let n = match self.peek().clone() {
            Tok::Int(n) => {
                self.bump();
                n
            }
            Tok::Float(_) => return Err(QueryError::new("maxspan must be an integer followed by a unit (ms, s, m, h, d)", self.span())),
            _ => return Err(self.unexpected("a duration such as 15s")),
        };
        let unit = match self.peek().clone() {
            Tok::Ident(u) if !self.tok().space_before || !KEYWORDS.contains(&u.as_str()) => u,
            _ => return Err(QueryError::new("maxspan needs a time unit (ms, s, m, h, d)", Span::new(start, self.prev_end()))),
        };
        let uspan = self.bump().span;
        let factor: i64 = match unit.as_str() {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(QueryError::new(format!("unknown time unit '{unit}' (expected ms, s, m, h or d)"), uspan)),
        };
        let millis = n.checked_mul(factor).ok_or_else(|| QueryError::new("maxspan is too large", Span::new(start, uspan.end)))?;
        Ok(TimeSpan { millis, span: Span::new(start, uspan.end) })
    }

    fn event_query(&mut self) -> Result<EventQuery, QueryError> {
        let start = self.span().start;
        let cat_span = self.span();
        let category = match self.peek().clone() {
            Tok::Ident(s) if s.eq_ignore_ascii_case("any") => {
                self.bump();
                Category::Any
            }
            Tok::Ident(s) if !KEYWORDS.contains(&s.to_ascii_lowercase().as_str()) => {
                self.bump();
                Category::Named(s)
            }
            Tok::Str(s) => {
                self.bump();
                Category::Named(s)
            }
            _ => return Err(self.unexpected("an event category (e.g. process) or 'any'")),
        };
        self.expect_kw("where")?;
        let condition = self.expr()?;
        Ok(EventQuery { category, category_span: cat_span, condition, span: Span::new(start, self.prev_end()) })
    }

    pub fn expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and_expr()?;
        while self.eat_kw("or") {
            let right = self.and_expr()?;
            let span = left.span.to(right.span);
            left = Expr::new(ExprKind::Or(Box::new(left), Box::new(right)), span);
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.not_expr()?;
        while self.eat_kw("and") {
            let right = self.not_expr()?;
            let span = left.span.to(right.span);
            left = Expr::new(ExprKind::And(Box::new(left), Box::new(right)), span);
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr, QueryError> {
        if self.is_kw("not") {
            let start = self.bump().span.start;
            let inner = self.not_expr()?;
            let span = Span::new(start, inner.span.end);
            return Ok(Expr::new(ExprKind::Not(Box::new(inner)), span));
        }
        self.predicate()
    }

    /// A `~` glued to the previous token (`in~`, `like~`, `startsWith~`).
    fn eat_glued_tilde(&mut self) -> bool {
        if self.peek() == &Tok::Tilde && !self.tok().space_before {
            self.bump();
            true
        } else {
            false
        }
    }

    fn predicate(&mut self) -> Result<Expr, QueryError> {
        let left = self.arith()?;
        let op = match self.peek() {
            Tok::EqEq => Some(CompareOp::Eq),
            Tok::NotEq => Some(CompareOp::NotEq),
            Tok::Lt => Some(CompareOp::Lt),
            Tok::LtEq => Some(CompareOp::LtEq),
            Tok::Gt => Some(CompareOp::Gt),
            Tok::GtEq => Some(CompareOp::GtEq),
            Tok::Eq => return Err(QueryError::new("use == to compare values (= is not an operator)", self.span())),
            _ => None,
        };
        if let Some(op) = op {
            self.bump();
            let right = self.arith()?;
            let span = left.span.to(right.span);
            return Ok(Expr::new(ExprKind::Compare { op, left: Box::new(left), right: Box::new(right) }, span));
        }
        // `not in` / `in` / `in~`
        let negated = self.is_kw("not") && matches!(self.peek_at(1), Tok::Ident(s) if s.eq_ignore_ascii_case("in"));
        if negated || self.is_kw("in") {
            if negated {
                self.bump();
            }
            self.bump();
            let insensitive = self.eat_glued_tilde();
            self.expect(&Tok::LParen, "'(' after in")?;
            let mut list = vec![self.expr()?];
            while self.eat(&Tok::Comma) {
                list.push(self.expr()?);
            }
            self.expect(&Tok::RParen, "')'")?;
            let span = Span::new(left.span.start, self.prev_end());
            return Ok(Expr::new(ExprKind::In { value: Box::new(left), list, negated, insensitive }, span));
        }
        let mop = if self.peek() == &Tok::Colon {
            self.bump();
            Some(MatchOp::Colon)
        } else if self.is_kw("like") {
            self.bump();
            Some(if self.eat_glued_tilde() { MatchOp::LikeInsensitive } else { MatchOp::Like })
        } else if self.is_kw("regex") {
            self.bump();
            Some(if self.eat_glued_tilde() { MatchOp::RegexInsensitive } else { MatchOp::Regex })
        } else {
            None
        };
        if let Some(op) = mop {
            let mut patterns = Vec::new();
            if self.eat(&Tok::LParen) {
                patterns.push(self.constant()?);
                while self.eat(&Tok::Comma) {
                    patterns.push(self.constant()?);
                }
                self.expect(&Tok::RParen, "')'")?;
            } else {
                patterns.push(self.constant()?);
            }
            let span = Span::new(left.span.start, self.prev_end());
            return Ok(Expr::new(ExprKind::Match { op, value: Box::new(left), patterns }, span));
        }
        Ok(left)
    }

    fn constant(&mut self) -> Result<Expr, QueryError> {
        let span = self.span();
        let lit = match self.peek().clone() {
            Tok::Str(s) => Literal::String(s),
            Tok::Int(n) => Literal::Integer(n),
            Tok::Float(x) => Literal::Float(x),
            Tok::Ident(s) if s.eq_ignore_ascii_case("true") => Literal::Boolean(true),
            Tok::Ident(s) if s.eq_ignore_ascii_case("false") => Literal::Boolean(false),
            Tok::Ident(s) if s.eq_ignore_ascii_case("null") => Literal::Null,
            Tok::Minus => {
                self.bump();
                return match self.peek().clone() {
                    Tok::Int(n) => {
                        let s2 = self.bump().span;
                        Ok(Expr::new(ExprKind::Literal(Literal::Integer(-n)), span.to(s2)))
                    }
                    Tok::Float(x) => {
                        let s2 = self.bump().span;
                        Ok(Expr::new(ExprKind::Literal(Literal::Float(-x)), span.to(s2)))
                    }
                    _ => Err(self.unexpected("a number")),
                };
            }
            _ => return Err(self.unexpected("a constant (string, number, boolean or null)")),
        };
        self.bump();
        Ok(Expr::new(ExprKind::Literal(lit), span))
    }

    fn arith(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.term()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => ArithOp::Add,
                Tok::Minus => ArithOp::Sub,
                _ => break,
            };
            self.bump();
            let right = self.term()?;
            let span = left.span.to(right.span);
            left = Expr::new(ExprKind::Arith { op, left: Box::new(left), right: Box::new(right) }, span);
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => ArithOp::Mul,
                Tok::Slash => ArithOp::Div,
                Tok::Percent => ArithOp::Mod,
                _ => break,
            };
            self.bump();
            let right = self.unary()?;
            let span = left.span.to(right.span);
            left = Expr::new(ExprKind::Arith { op, left: Box::new(left), right: Box::new(right) }, span);
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        match self.peek() {
            Tok::Minus => {
                let start = self.bump().span.start;
                let inner = self.unary()?;
                let span = Span::new(start, inner.span.end);
                // Fold literal negation so `-1` is a constant.
                Ok(match inner.kind {
                    ExprKind::Literal(Literal::Integer(n)) => Expr::new(ExprKind::Literal(Literal::Integer(-n)), span),
                    ExprKind::Literal(Literal::Float(x)) => Expr::new(ExprKind::Literal(Literal::Float(-x)), span),
                    kind => Expr::new(ExprKind::Negate(Box::new(Expr { kind, span: inner.span })), span),
                })
            }
            Tok::Plus => {
                self.bump();
                self.unary()
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        let span = self.span();
        match self.peek().clone() {
            Tok::LParen => {
                self.bump();
                let e = self.expr()?;
                self.expect(&Tok::RParen, "')'")?;
                Ok(Expr::new(e.kind, Span::new(span.start, self.prev_end())))
            }
            Tok::Str(_) | Tok::Int(_) | Tok::Float(_) => self.constant(),
            Tok::Ident(s) if ["true", "false", "null"].contains(&s.to_ascii_lowercase().as_str()) => self.constant(),
            Tok::Ident(name)
                if !KEYWORDS.contains(&name.to_ascii_lowercase().as_str())
                    && (matches!(self.peek_at(1), Tok::LParen) || (matches!(self.peek_at(1), Tok::Tilde) && matches!(self.peek_at(2), Tok::LParen))) =>
            {
                self.bump();
                let insensitive = self.eat(&Tok::Tilde);
                self.expect(&Tok::LParen, "'('")?;
                let mut args = Vec::new();
                if !self.eat(&Tok::RParen) {
                    args.push(self.expr()?);
                    while self.eat(&Tok::Comma) {
                        args.push(self.expr()?);
                    }
                    self.expect(&Tok::RParen, "')'")?;
                }
                Ok(Expr::new(ExprKind::Call { name, insensitive, args }, Span::new(span.start, self.prev_end())))
            }
            Tok::Question | Tok::Ident(_) | Tok::Quoted(_) => self.field(),
            _ => Err(self.unexpected("a field, constant, function or '('")),
        }
    }

    fn field(&mut self) -> Result<Expr, QueryError> {
        let start = self.span().start;
        let optional = self.eat(&Tok::Question);
        let mut path = String::new();
        let mut first = true;
        loop {
            match self.peek().clone() {
                Tok::Ident(s) => {
                    if first && KEYWORDS.contains(&s.to_ascii_lowercase().as_str()) {
                        return Err(self.unexpected("a field name (quote keywords with backticks)"));
                    }
                    self.bump();
                    path.push_str(&s);
                }
                Tok::Quoted(s) => {
                    self.bump();
                    path.push_str(&s);
                }
                _ => return Err(self.unexpected("a field name")),
            }
            first = false;
            if self.peek() == &Tok::Dot && !self.tok().space_before {
                self.bump();
                path.push('.');
                continue;
            }
            if self.peek() == &Tok::LBracket && !self.tok().space_before {
                return Err(QueryError::new("array index access on fields (field[0]) is not supported", self.span()));
            }
            break;
        }
        Ok(Expr::new(ExprKind::Field(FieldRef { path, optional }), Span::new(start, self.prev_end())))
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => s.clone(),
        Tok::Quoted(s) => format!("`{s}`"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Int(n) => n.to_string(),
        Tok::Float(x) => x.to_string(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::LBracket => "[".into(),
        Tok::RBracket => "]".into(),
        Tok::Comma => ",".into(),
        Tok::Dot => ".".into(),
        Tok::Pipe => "|".into(),
        Tok::Colon => ":".into(),
        Tok::Tilde => "~".into(),
        Tok::Question => "?".into(),
        Tok::Bang => "!".into(),
        Tok::Eq => "=".into(),
        Tok::EqEq => "==".into(),
        Tok::NotEq => "!=".into(),
        Tok::Lt => "<".into(),
        Tok::LtEq => "<=".into(),
        Tok::Gt => ">".into(),
        Tok::GtEq => ">=".into(),
        Tok::Plus => "+".into(),
        Tok::Minus => "-".into(),
        Tok::Star => "*".into(),
        Tok::Slash => "/".into(),
        Tok::Percent => "%".into(),
        Tok::Eof => "end of query".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"sequence by host.id with maxspan=15s
[process where host.os.type == "macos" and event.type == "start" and event.action == "exec" and
  process.parent.name : ("installer", "package_script_service") and
  process.name : ("bash", "sh", "zsh", "python", "osascript", "tclsh*")] by process.entity_id
[network where host.os.type == "macos" and event.type == "start" and
  process.name : ("curl", "osascript", "wget", "python", "java", "ruby", "node")] by process.parent.entity_id"#;

    #[test]
    fn parses_seed_rule() {
        let q = parse_query(SEED).unwrap();
        let QueryBody::Sequence(s) = q.body else { panic!("not a sequence") };
        assert_eq!(s.maxspan.map(|m| m.millis), Some(15_000));
        assert_eq!(s.stages.len(), 2);
        assert_eq!(s.by.len(), 1);
        assert_eq!(s.stages[0].query.category, Category::Named("process".into()));
        assert_eq!(s.stages[1].by.len(), 1);
    }

    #[test]
    fn precedence() {
        let e = parse_expr("not a == 1 and b == 2 or c == 3").unwrap();
        let ExprKind::Or(l, _) = e.kind else { panic!() };
        let ExprKind::And(nl, _) = l.kind else { panic!() };
        assert!(matches!(nl.kind, ExprKind::Not(_)));
        let e = parse_expr("a + 2 * 3 > 4").unwrap();
        let ExprKind::Compare { left, .. } = e.kind else { panic!() };
        assert!(matches!(left.kind, ExprKind::Arith { op: ArithOp::Add, .. }));
    }

    #[test]
    fn predicates_and_functions() {
        assert!(matches!(parse_expr("x not in (\"a\", \"b\")").unwrap().kind, ExprKind::In { negated: true, insensitive: false, .. }));
        assert!(matches!(parse_expr("x in~ (\"a\")").unwrap().kind, ExprKind::In { insensitive: true, .. }));
        assert!(matches!(parse_expr("x like~ \"a*\"").unwrap().kind, ExprKind::Match { op: MatchOp::LikeInsensitive, .. }));
        assert!(matches!(parse_expr("startsWith~(x, \"a\")").unwrap().kind, ExprKind::Call { insensitive: true, .. }));
        assert!(matches!(parse_expr("?x.y == null").unwrap().kind, ExprKind::Compare { .. }));
        let e = parse_expr("`my-field`.sub == 1").unwrap();
        let ExprKind::Compare { left, .. } = e.kind else { panic!() };
        assert_eq!(left.kind, ExprKind::Field(FieldRef { path: "my-field.sub".into(), optional: false }));
    }

    #[test]
    fn sequence_forms() {
        let q = parse_query("sequence with maxspan=1m [a where true] with runs=3 ![b where true] until [c where true] | head 5").unwrap();
        let QueryBody::Sequence(s) = q.body else { panic!() };
        assert_eq!(s.maxspan.unwrap().millis, 60_000);
        assert_eq!(s.stages[0].runs, Some(3));
        assert!(s.stages[1].missing);
        assert!(s.until.is_some());
        assert_eq!(q.pipes.len(), 1);
        assert!(parse_query("sample by a [x where true] [y where true]").is_ok());
    }

    proptest::proptest! {
        /// Arbitrary text never panics the front end; errors point inside the text.
        #[test]
        fn never_panics(s in "[a-z \\[\\]()\"`?!:~=<>.,|*/%+0-9-]{0,60}", t in "\\PC{0,40}") {
            for src in [s.as_str(), t.as_str()] {
                if let Err(e) = parse_query(src) {
                    proptest::prop_assert!(e.span.start <= src.len());
                }
                let _ = parse_expr(src);
            }
        }
    }

    #[test]
    fn errors_have_spans() {
        let e = parse_query("process where a == ").unwrap_err();
        assert_eq!(e.span.start, 19);
        let e = parse_query("sequence with maxspan=15 [a where true]").unwrap_err();
        assert!(e.message.contains("unit"), "{}", e.message);
        let e = parse_query("sequence with maxspan=15x [a where true]").unwrap_err();
        assert!(e.message.contains("unknown time unit"), "{}", e.message);
        let e = parse_query("sequence with maxspan=1.5s [a where true]").unwrap_err();
        assert!(e.message.contains("integer"), "{}", e.message);
    }
}
