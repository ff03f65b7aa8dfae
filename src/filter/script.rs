//! Computed conditions: what Elasticsearch runs as Painless *script* leaves (functions
//! other than the ones it turns into Query DSL, arithmetic, comparisons of computed
//! values).
//!
//! Semantics differ from DSL leaves ([`super::predicate`]): a multi-valued field yields
//! its **first doc value** — the smallest (keyword: byte order; numbers: numeric order);
//! values are three-valued — a null operand makes the result null, `not null` is null,
//! and a null condition drops the event.
//!
//! Evaluation is column-at-a-time: each node computes its value for every row of the
//! batch, then its parent combines whole columns (like DataFusion's `PhysicalExpr`).

use std::borrow::Cow;

use arrow::array::ListArray;

use super::pattern::Pattern;
use super::predicate::row_values;

/// A scalar value of a computed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Null,
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Val<'_> {
    fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            Val::Str(s) => s.parse().ok(),
            _ => None,
        }
    }
    fn as_i64(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            Val::Float(f) if f.fract() == 0.0 => Some(*f as i64),
            Val::Str(s) => s.parse().ok(),
            _ => None,
        }
    }
    /// Numeric view: integers stay integers (so `5 / 2` truncates, as Elasticsearch's).
    fn number(&self) -> Option<Val<'static>> {
        match self {
            Val::Int(i) => Some(Val::Int(*i)),
            Val::Float(f) => Some(Val::Float(*f)),
            Val::Str(s) => s.parse::<i64>().map(Val::Int).ok().or_else(|| s.parse::<f64>().ok().map(Val::Float)),
            _ => None,
        }
    }
    fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Val::Null => None,
            Val::Str(s) => Some(Cow::Borrowed(s)),
            Val::Int(i) => Some(Cow::Owned(i.to_string())),
            Val::Float(f) => Some(Cow::Owned(f.to_string())),
            Val::Bool(b) => Some(Cow::Owned(b.to_string())),
        }
    }
    fn into_owned(self) -> Val<'static> {
        match self {
            Val::Null => Val::Null,
            Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
            Val::Int(i) => Val::Int(i),
            Val::Float(f) => Val::Float(f),
            Val::Bool(b) => Val::Bool(b),
        }
    }
}

/// Functions Elasticsearch evaluates in scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
    Between { ci: bool },
    Concat,
    EndsWith { ci: bool },
    StartsWith { ci: bool },
    StringContains { ci: bool },
    IndexOf { ci: bool },
    Length,
    Number,
    String,
    Substring,
    CidrMatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

/// A compiled computed expression.
#[derive(Debug, Clone)]
pub enum Script {
    /// First doc value of a field (the smallest).
    Field {
        column: usize,
    },
    Lit(Val<'static>),
    Call {
        func: Func,
        args: Vec<Script>,
    },
    Compare {
        op: Cmp,
        left: Box<Script>,
        right: Box<Script>,
    },
    Not(Box<Script>),
    And(Box<Script>, Box<Script>),
    Or(Box<Script>, Box<Script>),
    /// `value : patterns` / `like` / `in` over a computed value.
    Matches {
        value: Box<Script>,
        patterns: Vec<Pattern>,
    },
    Regex {
        value: Box<Script>,
        regexes: Vec<regex::Regex>,
    },
    In {
        value: Box<Script>,
        list: Vec<Script>,
        insensitive: bool,
    },
    Negate(Box<Script>),
    /// `x == null` / `x != null`: two-valued (Elasticsearch rewrites them to IsNull /
    /// IsNotNull), true or false, never null.
    IsNull {
        value: Box<Script>,
        negated: bool,
    },
}

impl Script {
    /// Evaluate for every row.
    pub fn eval<'a>(&self, cols: &[&'a ListArray], n: usize) -> Vec<Val<'a>> {
        match self {
            Script::Field { column } => {
                let list = cols[*column];
                (0..n)
                    .map(|r| match row_values(list, r).min_by(|a, b| first_value_order(a, b)) {
                        Some(v) => Val::Str(Cow::Borrowed(v)),
                        None => Val::Null,
                    })
                    .collect()
            }
            Script::Lit(v) => vec![v.clone(); n],
            Script::IsNull { value, negated } => value.eval(cols, n).into_iter().map(|v| Val::Bool((v == Val::Null) != *negated)).collect(),
            Script::Negate(e) => e
                .eval(cols, n)
                .into_iter()
                .map(|v| match v.number() {
                    Some(Val::Int(i)) => i.checked_neg().map_or(Val::Null, Val::Int),
                    Some(Val::Float(f)) => Val::Float(-f),
                    _ => Val::Null,
                })
                .collect(),
            Script::Not(e) => e
                .eval(cols, n)
                .into_iter()
                .map(|v| match v {
                    Val::Bool(b) => Val::Bool(!b),
                    _ => Val::Null,
                })
                .collect(),
            Script::And(a, b) => {
                let (a, b) = (a.eval(cols, n), b.eval(cols, n));
                a.into_iter()
                    .zip(b)
                    .map(|(x, y)| match (x, y) {
                        (Val::Bool(false), _) | (_, Val::Bool(false)) => Val::Bool(false),
                        (Val::Bool(true), Val::Bool(true)) => Val::Bool(true),
                        _ => Val::Null,
                    })
                    .collect()
            }
            Script::Or(a, b) => {
                let (a, b) = (a.eval(cols, n), b.eval(cols, n));
                a.into_iter()
                    .zip(b)
                    .map(|(x, y)| match (x, y) {
                        (Val::Bool(true), _) | (_, Val::Bool(true)) => Val::Bool(true),
                        (Val::Bool(false), Val::Bool(false)) => Val::Bool(false),
                        _ => Val::Null,
                    })
                    .collect()
            }
            Script::Compare { op, left, right } => {
                let (l, r) = (left.eval(cols, n), right.eval(cols, n));
                l.iter().zip(&r).map(|(x, y)| compare(*op, x, y)).collect()
            }
            Script::Matches { value, patterns } => value
                .eval(cols, n)
                .into_iter()
                .map(|v| match v.text() {
                    Some(t) => Val::Bool(patterns.iter().any(|p| p.matches(t.as_bytes()))),
                    None => Val::Null,
                })
                .collect(),
            Script::Regex { value, regexes } => value
                .eval(cols, n)
                .into_iter()
                .map(|v| match v.text() {
                    Some(t) => Val::Bool(regexes.iter().any(|r| r.is_match(&t))),
                    None => Val::Null,
                })
                .collect(),
            Script::In { value, list, insensitive } => {
                let v = value.eval(cols, n);
                let items: Vec<Vec<Val>> = list.iter().map(|e| e.eval(cols, n)).collect();
                (0..n)
                    .map(|r| {
                        if v[r] == Val::Null {
                            return Val::Null;
                        }
                        let hit = items.iter().any(|col| {
                            let item = &col[r];
                            if *insensitive {
                                match (v[r].text(), item.text()) {
                                    (Some(a), Some(b)) => Pattern::equals(&b, true).matches(a.as_bytes()),
                                    _ => false,
                                }
                            } else {
                                compare(Cmp::Eq, &v[r], item) == Val::Bool(true)
                            }
                        });
                        Val::Bool(hit)
                    })
                    .collect()
            }
            Script::Call { func, args } => {
                let cols_vals: Vec<Vec<Val>> = args.iter().map(|a| a.eval(cols, n)).collect();
                (0..n)
                    .map(|r| {
                        let row: Vec<&Val> = cols_vals.iter().map(|c| &c[r]).collect();
                        call(*func, &row).into_owned()
                    })
                    .collect()
            }
        }
    }
}

impl Script {
    /// Row-at-a-time evaluation over plain values: the reference for [`Script::eval`].
    pub fn eval_row(&self, row: &[Vec<Vec<u8>>]) -> Val<'static> {
        match self {
            Script::Field { column } => row[*column]
                .iter()
                .filter_map(|v| std::str::from_utf8(v).ok())
                .min_by(|a, b| first_value_order(a, b))
                .map_or(Val::Null, |v| Val::Str(Cow::Owned(v.to_string()))),
            Script::Lit(v) => v.clone(),
            Script::IsNull { value, negated } => Val::Bool((value.eval_row(row) == Val::Null) != *negated),
            Script::Negate(e) => match e.eval_row(row).number() {
                Some(Val::Int(i)) => i.checked_neg().map_or(Val::Null, Val::Int),
                Some(Val::Float(f)) => Val::Float(-f),
                _ => Val::Null,
            },
            Script::Not(e) => match e.eval_row(row) {
                Val::Bool(b) => Val::Bool(!b),
                _ => Val::Null,
            },
            Script::And(a, b) => match (a.eval_row(row), b.eval_row(row)) {
                (Val::Bool(false), _) | (_, Val::Bool(false)) => Val::Bool(false),
                (Val::Bool(true), Val::Bool(true)) => Val::Bool(true),
                _ => Val::Null,
            },
            Script::Or(a, b) => match (a.eval_row(row), b.eval_row(row)) {
                (Val::Bool(true), _) | (_, Val::Bool(true)) => Val::Bool(true),
                (Val::Bool(false), Val::Bool(false)) => Val::Bool(false),
                _ => Val::Null,
            },
            Script::Compare { op, left, right } => compare(*op, &left.eval_row(row), &right.eval_row(row)),
            Script::Matches { value, patterns } => match value.eval_row(row).text() {
                Some(t) => Val::Bool(patterns.iter().any(|p| p.matches(t.as_bytes()))),
                None => Val::Null,
            },
            Script::Regex { value, regexes } => match value.eval_row(row).text() {
                Some(t) => Val::Bool(regexes.iter().any(|r| r.is_match(&t))),
                None => Val::Null,
            },
            Script::In { value, list, insensitive } => {
                let v = value.eval_row(row);
                if v == Val::Null {
                    return Val::Null;
                }
                Val::Bool(list.iter().any(|e| {
                    let item = e.eval_row(row);
                    if *insensitive {
                        match (v.text(), item.text()) {
                            (Some(a), Some(b)) => Pattern::equals(&b, true).matches(a.as_bytes()),
                            _ => false,
                        }
                    } else {
                        compare(Cmp::Eq, &v, &item) == Val::Bool(true)
                    }
                }))
            }
            Script::Call { func, args } => {
                let vals: Vec<Val> = args.iter().map(|a| a.eval_row(row)).collect();
                let refs: Vec<&Val> = vals.iter().collect();
                call(*func, &refs).into_owned()
            }
        }
    }
}

/// Keyword doc values are sorted by bytes; numeric ones numerically. A field whose values
/// all parse as numbers is taken as numeric.
fn first_value_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.as_bytes().cmp(b.as_bytes()),
    }
}

fn compare(op: Cmp, x: &Val, y: &Val) -> Val<'static> {
    use std::cmp::Ordering;
    if *x == Val::Null || *y == Val::Null {
        return Val::Null;
    }
    let ord: Option<Ordering> = match (x, y) {
        (Val::Bool(a), Val::Bool(b)) => Some(a.cmp(b)),
        (Val::Str(a), Val::Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Val::Int(a), Val::Int(b)) => Some(a.cmp(b)),
        _ => match (x.as_f64(), y.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            // Mixed kinds that are not numbers: compare as text.
            _ => match (x.text(), y.text()) {
                (Some(a), Some(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
                _ => None,
            },
        },
    };
    let Some(o) = ord else { return Val::Null };
    Val::Bool(match op {
        Cmp::Eq => o == Ordering::Equal,
        Cmp::NotEq => o != Ordering::Equal,
        Cmp::Lt => o == Ordering::Less,
        Cmp::LtEq => o != Ordering::Greater,
        Cmp::Gt => o == Ordering::Greater,
        Cmp::GtEq => o != Ordering::Less,
    })
}

fn arith(func: Func, a: &Val, b: &Val) -> Val<'static> {
    let (Some(x), Some(y)) = (a.number(), b.number()) else { return Val::Null };
    match (x, y) {
        (Val::Int(x), Val::Int(y)) => match func {
            Func::Add => x.checked_add(y).map_or(Val::Null, Val::Int),
            Func::Subtract => x.checked_sub(y).map_or(Val::Null, Val::Int),
            Func::Multiply => x.checked_mul(y).map_or(Val::Null, Val::Int),
            // Integer division truncates, as Java's.
            Func::Divide => x.checked_div(y).map_or(Val::Null, Val::Int),
            Func::Modulo => x.checked_rem(y).map_or(Val::Null, Val::Int),
            _ => Val::Null,
        },
        (x, y) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            let r = match func {
                Func::Add => x + y,
                Func::Subtract => x - y,
                Func::Multiply => x * y,
                Func::Divide => x / y,
                Func::Modulo => x % y,
                _ => f64::NAN,
            };
            if r.is_finite() {
                Val::Float(r)
            } else {
                Val::Null
            }
        }
    }
}

fn find(hay: &str, needle: &str, ci: bool, from: usize) -> Option<usize> {
    if from > hay.len() || !hay.is_char_boundary(from) {
        return None;
    }
    if ci {
        let h = hay.to_lowercase();
        let n = needle.to_lowercase();
        // Lower-casing may change byte lengths outside ASCII; map via char positions.
        if h.len() == hay.len() && n.len() == needle.len() {
            return h[from..].find(&n).map(|p| p + from);
        }
        let hc: Vec<char> = hay.chars().collect();
        let nc: Vec<char> = needle.chars().collect();
        let start = hay[..from].chars().count();
        return (start..=hc.len().saturating_sub(nc.len()))
            .find(|&i| hc[i..i + nc.len()].iter().zip(&nc).all(|(a, b)| a.to_lowercase().eq(b.to_lowercase())))
            .map(|i| hc[..i].iter().map(|c| c.len_utf8()).sum());
    }
    hay[from..].find(needle).map(|p| p + from)
}

/// Apply a script function to one row's arguments. A null argument gives null.
fn call<'a>(func: Func, args: &[&Val<'a>]) -> Val<'a> {
    // The checker enforces arity; a call built otherwise is null rather than a panic.
    let min_args = match func {
        Func::Concat | Func::Length | Func::Number | Func::String => 1,
        Func::Between { .. } => 3,
        _ => 2,
    };
    if args.len() < min_args {
        return Val::Null;
    }
    // A null argument gives null, except optional ones that have a default: number's base.
    let required = if func == Func::Number { &args[..1] } else { args };
    if required.iter().any(|a| **a == Val::Null) {
        return Val::Null;
    }
    let text = |i: usize| args[i].text().map(|c| c.into_owned()).unwrap_or_default();
    match func {
        Func::Add | Func::Subtract | Func::Multiply | Func::Divide | Func::Modulo => arith(func, args[0], args[1]),
        Func::Concat => Val::Str(Cow::Owned(args.iter().map(|a| a.text().unwrap_or_default().into_owned()).collect())),
        Func::Length => Val::Int(text(0).chars().count() as i64),
        Func::String => Val::Str(Cow::Owned(text(0))),
        Func::StartsWith { ci } => {
            let (s, p) = (text(0), text(1));
            Val::Bool(if ci { s.to_lowercase().starts_with(&p.to_lowercase()) } else { s.starts_with(&p) })
        }
        Func::EndsWith { ci } => {
            let (s, p) = (text(0), text(1));
            Val::Bool(if ci { s.to_lowercase().ends_with(&p.to_lowercase()) } else { s.ends_with(&p) })
        }
        Func::StringContains { ci } => {
            let (s, p) = (text(0), text(1));
            Val::Bool(!p.is_empty() && find(&s, &p, ci, 0).is_some())
        }
        Func::IndexOf { ci } => {
            let (s, p) = (text(0), text(1));
            let start_chars = if args.len() > 2 { args[2].as_i64().unwrap_or(0).max(0) as usize } else { 0 };
            let from: usize = s.chars().take(start_chars).map(char::len_utf8).sum();
            if start_chars > s.chars().count() {
                return Val::Null;
            }
            match find(&s, &p, ci, from) {
                Some(b) => Val::Int(s[..b].chars().count() as i64),
                None => Val::Null,
            }
        }
        Func::Substring => {
            let s: Vec<char> = text(0).chars().collect();
            let len = s.len() as i64;
            let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
            let start = norm(args[1].as_i64().unwrap_or(0));
            let end = if args.len() > 2 { norm(args[2].as_i64().unwrap_or(len)) } else { len };
            if start >= end {
                return Val::Str(Cow::Owned(String::new()));
            }
            Val::Str(Cow::Owned(s[start as usize..end as usize].iter().collect()))
        }
        Func::Between { ci } => {
            let (s, l, r) = (text(0), text(1), text(2));
            let greedy = args.get(3).is_some_and(|g| matches!(g, Val::Bool(true)));
            let Some(a) = find(&s, &l, ci, 0) else { return Val::Str(Cow::Owned(String::new())) };
            let from = a + l.len();
            let b = if greedy {
                if ci {
                    s.to_lowercase().rfind(&r.to_lowercase()).filter(|&x| x >= from)
                } else {
                    s.rfind(&r).filter(|&x| x >= from)
                }
            } else {
                find(&s, &r, ci, from)
            };
            match b {
                Some(b) => Val::Str(Cow::Owned(s[from..b].to_string())),
                None => Val::Str(Cow::Owned(String::new())),
            }
        }
        Func::Number => {
            let s = text(0);
            let base = match args.get(1) {
                Some(Val::Null) | None => 10,
                Some(b) => b.as_i64().unwrap_or(10),
            };
            let t = s.trim();
            if base == 16 {
                let h = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(t);
                return i64::from_str_radix(h, 16).map_or(Val::Null, Val::Int);
            }
            if base != 10 {
                return u32::try_from(base).ok().filter(|b| (2..=36).contains(b)).and_then(|b| i64::from_str_radix(t, b).ok()).map_or(Val::Null, Val::Int);
            }
            if let Ok(i) = t.parse::<i64>() {
                Val::Int(i)
            } else {
                t.parse::<f64>().map_or(Val::Null, Val::Float)
            }
        }
        Func::CidrMatch => {
            let ip = text(0);
            Val::Bool(args[1..].iter().any(|c| c.text().is_some_and(|c| Cidr::parse(&c).is_some_and(|c| c.contains(&ip)))))
        }
    }
}

/// An IPv4 or IPv6 network, for `cidrMatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: u128,
    bits: u32,
    v4: bool,
}

impl Cidr {
    /// `a.b.c.d/n`, `x::y/n`, or a bare address (a /32 or /128).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u32>().ok()?)),
            None => (s, None),
        };
        let ip: std::net::IpAddr = addr.parse().ok()?;
        let (v, v4, max) = match ip {
            std::net::IpAddr::V4(a) => (u32::from(a) as u128, true, 32),
            std::net::IpAddr::V6(a) => (u128::from(a), false, 128),
        };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return None;
        }
        let mask = mask(bits, max);
        Some(Cidr { net: v & mask, bits, v4 })
    }

    /// Is the address text inside this network? IPv4-mapped IPv6 addresses
    /// (`::ffff:a.b.c.d`) count as IPv4, as Elasticsearch's `ip` type stores them.
    pub fn contains(&self, ip: &str) -> bool {
        let Ok(ip) = ip.parse::<std::net::IpAddr>() else { return false };
        let (v, v4) = match ip {
            std::net::IpAddr::V4(a) => (u32::from(a) as u128, true),
            std::net::IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(m) => (u32::from(m) as u128, true),
                None => (u128::from(a), false),
            },
        };
        if v4 != self.v4 {
            return false;
        }
        let max = if v4 { 32 } else { 128 };
        v & mask(self.bits, max) == self.net
    }
}

fn mask(bits: u32, max: u32) -> u128 {
    if bits == 0 {
        0
    } else {
        let all: u128 = if max == 32 { u32::MAX as u128 } else { u128::MAX };
        all & !((1u128 << (max - bits)) - 1).min(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Val<'static> {
        Val::Str(Cow::Owned(x.to_string()))
    }

    #[test]
    fn functions() {
        assert_eq!(call(Func::Length, &[&s("héllo")]), Val::Int(5));
        assert_eq!(call(Func::Substring, &[&s("hello"), &Val::Int(-3)]), s("llo"));
        assert_eq!(call(Func::Substring, &[&s("hello"), &Val::Int(1), &Val::Int(-1)]), s("ell"));
        assert_eq!(call(Func::IndexOf { ci: false }, &[&s("abcb"), &s("b"), &Val::Int(2)]), Val::Int(3));
        assert_eq!(call(Func::IndexOf { ci: false }, &[&s("abc"), &s("z")]), Val::Null);
        assert_eq!(call(Func::Between { ci: false }, &[&s("a[b]c[d]"), &s("["), &s("]")]), s("b"));
        assert_eq!(call(Func::Between { ci: false }, &[&s("a[b]c[d]"), &s("["), &s("]"), &Val::Bool(true)]), s("b]c[d"));
        assert_eq!(call(Func::Number, &[&s("0x1F"), &Val::Int(16)]), Val::Int(31));
        assert_eq!(call(Func::Divide, &[&Val::Int(5), &Val::Int(2)]), Val::Int(2));
        assert_eq!(call(Func::Divide, &[&Val::Int(5), &Val::Int(0)]), Val::Null);
        assert_eq!(call(Func::Concat, &[&s("a"), &Val::Int(1)]), s("a1"));
        assert_eq!(call(Func::Concat, &[&s("a"), &Val::Null]), Val::Null);
        assert_eq!(call(Func::StringContains { ci: true }, &[&s("ABC"), &s("b")]), Val::Bool(true));
        assert_eq!(call(Func::StringContains { ci: false }, &[&s("ABC"), &s("")]), Val::Bool(false));
    }

    #[test]
    fn cidr() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.2.3.4"));
        assert!(c.contains("::ffff:10.2.3.4"));
        assert!(!c.contains("11.0.0.1"));
        assert!(!c.contains("not an ip"));
        let c6 = Cidr::parse("fe80::/10").unwrap();
        assert!(c6.contains("fe80::1"));
        assert!(!c6.contains("10.0.0.1"));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("1.2.3.4"));
        assert!(Cidr::parse("1.2.3.4").unwrap().contains("1.2.3.4"));
        assert!(Cidr::parse("1.2.3.4/33").is_none());
    }
}
