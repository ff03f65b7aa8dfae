//! Checker: rejects queries Elasticsearch would reject (unknown function, wrong arity,
//! operand types that cannot work, sequence shapes EQL forbids), with the span of the
//! offending text.

use super::ast::*;
use super::QueryError;

/// Elasticsearch's EQL functions: name, min and max arity, whether `~` is allowed.
const FUNCTIONS: &[(&str, usize, usize, bool)] = &[
    ("add", 2, 2, false),
    ("between", 3, 4, true),
    ("cidrMatch", 2, usize::MAX, false),
    ("concat", 1, usize::MAX, false),
    ("divide", 2, 2, false),
    ("endsWith", 2, 2, true),
    ("indexOf", 2, 3, true),
    ("length", 1, 1, false),
    ("modulo", 2, 2, false),
    ("multiply", 2, 2, false),
    ("number", 1, 2, false),
    ("startsWith", 2, 2, true),
    ("string", 1, 1, false),
    ("stringContains", 2, 2, true),
    ("substring", 2, 3, false),
    ("subtract", 2, 2, false),
];

/// Check a parsed query.
///
/// # Errors
/// The first problem found, with its span.
pub fn check_query(q: &Query) -> Result<(), QueryError> {
    match &q.body {
        QueryBody::Event(e) => check_event(e),
        QueryBody::Sequence(s) => {
            let positive = s.stages.iter().filter(|st| !st.missing).count();
            if positive == 0 {
                return Err(QueryError::new("a sequence needs at least one stage that is not a missing event", s.span));
            }
            let expanded: u32 = s.stages.iter().map(|st| st.runs.unwrap_or(1)).sum();
            if expanded < 2 {
                return Err(QueryError::new("a sequence needs at least two stages (or a stage with runs)", s.span));
            }
            if let Some(st) = s.stages.iter().find(|st| st.missing) {
                if s.maxspan.is_none() {
                    return Err(QueryError::new("a missing event stage ![...] needs the sequence to have a maxspan", st.span));
                }
            }
            if let Some(m) = s.maxspan {
                if m.millis <= 0 {
                    return Err(QueryError::new("maxspan must be positive", m.span));
                }
            }
            let stages: Vec<&Stage> = s.stages.iter().chain(s.until.iter()).collect();
            check_keys(&s.by, &stages)?;
            for st in stages {
                check_event(&st.query)?;
            }
            Ok(())
        }
        QueryBody::Sample(s) => {
            if s.stages.len() < 2 {
                return Err(QueryError::new("a sample needs at least two stages", s.span));
            }
            let stages: Vec<&Stage> = s.stages.iter().collect();
            check_keys(&s.by, &stages)?;
            for st in stages {
                check_event(&st.query)?;
            }
            Ok(())
        }
    }
}

fn check_keys(header: &[Expr], stages: &[&Stage]) -> Result<(), QueryError> {
    for k in header {
        check_expr(k)?;
    }
    let Some(first) = stages.first() else { return Ok(()) };
    for st in stages {
        for k in &st.by {
            check_expr(k)?;
        }
        if st.by.len() != first.by.len() {
            return Err(QueryError::new(
                format!("every stage needs the same number of join keys: this stage has {}, the first has {}", st.by.len(), first.by.len()),
                st.span,
            ));
        }
    }
    Ok(())
}

fn check_event(e: &EventQuery) -> Result<(), QueryError> {
    check_expr(&e.condition)?;
    if let ExprKind::Literal(l) = &e.condition.kind {
        if !matches!(l, Literal::Boolean(_)) {
            return Err(QueryError::new(format!("condition must be a boolean, found {l}"), e.condition.span));
        }
    }
    Ok(())
}

fn check_expr(e: &Expr) -> Result<(), QueryError> {
    match &e.kind {
        ExprKind::Literal(_) | ExprKind::Field(_) => Ok(()),
        ExprKind::Not(a) | ExprKind::Negate(a) => check_expr(a),
        ExprKind::And(a, b) | ExprKind::Or(a, b) => {
            check_expr(a)?;
            check_expr(b)
        }
        ExprKind::Compare { left, right, .. } => {
            check_expr(left)?;
            check_expr(right)
        }
        ExprKind::Arith { left, right, .. } => {
            check_expr(left)?;
            check_expr(right)?;
            for side in [left, right] {
                if let ExprKind::Literal(l @ (Literal::String(_) | Literal::Boolean(_))) = &side.kind {
                    return Err(QueryError::new(format!("arithmetic needs numbers, found {l}"), side.span));
                }
            }
            Ok(())
        }
        ExprKind::Match { op, value, patterns } => {
            check_expr(value)?;
            for p in patterns {
                match &p.kind {
                    ExprKind::Literal(Literal::String(_)) => {}
                    _ => return Err(QueryError::new(format!("the {op} operator takes string patterns"), p.span)),
                }
            }
            Ok(())
        }
        ExprKind::In { value, list, .. } => {
            check_expr(value)?;
            for x in list {
                check_expr(x)?;
            }
            Ok(())
        }
        ExprKind::Call { name, insensitive, args } => {
            // Elasticsearch resolves function names case-insensitively.
            let Some(&(_, min, max, tilde)) = FUNCTIONS.iter().find(|f| f.0.eq_ignore_ascii_case(name)) else {
                return Err(QueryError::new(format!("unknown function {name}"), e.span));
            };
            if *insensitive && !tilde {
                return Err(QueryError::new(format!("function {name} has no case-insensitive form {name}~"), e.span));
            }
            if args.len() < min || args.len() > max {
                let expected = if min == max {
                    format!("{min}")
                } else if max == usize::MAX {
                    format!("at least {min}")
                } else {
                    format!("{min} to {max}")
                };
                return Err(QueryError::new(format!("function {name} takes {expected} arguments, found {}", args.len()), e.span));
            }
            for a in args {
                check_expr(a)?;
            }
            check_argument_types(&name.to_ascii_lowercase(), args)
        }
    }
}

/// Literal arguments of the wrong type (Elasticsearch's verifier rejects them).
fn check_argument_types(name: &str, args: &[Expr]) -> Result<(), QueryError> {
    let is = |e: &Expr, want: &str| -> bool {
        match &e.kind {
            ExprKind::Literal(Literal::String(_)) => want == "string",
            ExprKind::Literal(Literal::Integer(_) | Literal::Float(_)) => want == "number",
            ExprKind::Literal(Literal::Boolean(_)) => want == "boolean",
            // Fields, nulls and computed values are checked at run time.
            _ => true,
        }
    };
    let want = |i: usize, ty: &str| -> Result<(), QueryError> {
        match args.get(i) {
            Some(a) if !is(a, ty) => Err(QueryError::new(format!("argument {} of {name} must be a {ty}", i + 1), a.span)),
            _ => Ok(()),
        }
    };
    match name {
        "add" | "subtract" | "multiply" | "divide" | "modulo" => {
            want(0, "number")?;
            want(1, "number")
        }
        "startswith" | "endswith" | "stringcontains" => {
            want(0, "string")?;
            want(1, "string")
        }
        "indexof" => {
            want(0, "string")?;
            want(1, "string")?;
            want(2, "number")
        }
        "between" => {
            want(0, "string")?;
            want(1, "string")?;
            want(2, "string")?;
            want(3, "boolean")
        }
        "length" => want(0, "string"),
        "substring" => {
            want(0, "string")?;
            want(1, "number")?;
            want(2, "number")
        }
        "number" => {
            want(0, "string")?;
            want(1, "number")
        }
        "cidrmatch" => (1..args.len()).try_for_each(|i| want(i, "string")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_query;
    use super::*;

    fn err(q: &str) -> String {
        check_query(&parse_query(q).unwrap()).unwrap_err().message
    }

    #[test]
    fn rejects() {
        assert!(err("process where foo(a)").contains("unknown function foo"));
        assert!(check_query(&parse_query("process where startswith(a, \"b\")").unwrap()).is_ok());
        assert!(err("process where length(a, b)").contains("takes 1 arguments"));
        assert!(err("process where length~(a)").contains("no case-insensitive"));
        assert!(err("process where length(5) > 1").contains("argument 1 of length must be a string"));
        assert!(err("process where startsWith(a, 5)").contains("must be a string"));
        assert!(err("process where cidrMatch(ip, 10)").contains("must be a string"));
        assert!(err("process where add(a, \"x\") > 1").contains("must be a number"));
        assert!(err("process where a : 1").contains("string patterns"));
        assert!(err("sequence [a where true] ![b where true]").contains("maxspan"));
        assert!(err("sequence [a where true] by x [b where true]").contains("same number of join keys"));
        assert!(err("sequence [a where true]").contains("at least two"));
        assert!(check_query(&parse_query("sequence [a where true] with runs=2").unwrap()).is_ok());
    }
}
