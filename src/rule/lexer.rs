//! EQL tokens. Hand-written: the language is small and errors must point at the exact
//! character, which a generated lexer makes harder.

use super::ast::Span;
use super::QueryError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// Identifier or keyword, as written (`process`, `and`, `@timestamp`).
    Ident(String),
    /// `` `quoted field` `` (backticks removed, doubled backticks undone).
    Quoted(String),
    Str(String),
    Int(i64),
    Float(f64),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Pipe,
    Colon,
    Tilde,
    Question,
    Bang,
    Eq,
    EqEq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
    /// Whitespace or a comment came right before this token (`foo ~` is not `foo~`).
    pub space_before: bool,
}

pub fn tokenize(src: &str) -> Result<Vec<Token>, QueryError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut space_before = true;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            space_before = true;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            space_before = true;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let start = i;
            i += 2;
            loop {
                if i + 1 >= b.len() {
                    return Err(QueryError::new("unterminated comment", Span::new(start, start + 2)));
                }
                if b[i] == b'*' && b[i + 1] == b'/' {
                    i += 2;
                    break;
                }
                i += 1;
            }
            space_before = true;
            continue;
        }
        let start = i;
        let tok = match c {
            b'(' => one(&mut i, Tok::LParen),
            b')' => one(&mut i, Tok::RParen),
            b'[' => one(&mut i, Tok::LBracket),
            b']' => one(&mut i, Tok::RBracket),
            b',' => one(&mut i, Tok::Comma),
            b'.' if !b.get(i + 1).is_some_and(u8::is_ascii_digit) => one(&mut i, Tok::Dot),
            b'|' => one(&mut i, Tok::Pipe),
            b':' => one(&mut i, Tok::Colon),
            b'~' => one(&mut i, Tok::Tilde),
            b'?' if b.get(i + 1) == Some(&b'"') => {
                return Err(QueryError::new("?\"...\" strings are not supported; use \"\"\"...\"\"\" for raw strings", Span::new(i, i + 2)))
            }
            b'?' => one(&mut i, Tok::Question),
            b'+' => one(&mut i, Tok::Plus),
            b'-' => one(&mut i, Tok::Minus),
            b'*' => one(&mut i, Tok::Star),
            b'/' => one(&mut i, Tok::Slash),
            b'%' => one(&mut i, Tok::Percent),
            b'=' if b.get(i + 1) == Some(&b'=') => two(&mut i, Tok::EqEq),
            b'=' => one(&mut i, Tok::Eq),
            b'!' if b.get(i + 1) == Some(&b'=') => two(&mut i, Tok::NotEq),
            b'!' => one(&mut i, Tok::Bang),
            b'<' if b.get(i + 1) == Some(&b'=') => two(&mut i, Tok::LtEq),
            b'<' => one(&mut i, Tok::Lt),
            b'>' if b.get(i + 1) == Some(&b'=') => two(&mut i, Tok::GtEq),
            b'>' => one(&mut i, Tok::Gt),
            b'\'' => return Err(QueryError::new("single-quoted strings are not supported; use double quotes", Span::new(i, i + 1))),
            b'"' => string(src, &mut i)?,
            b'`' => quoted_ident(src, &mut i)?,
            b'0'..=b'9' | b'.' => number(src, &mut i)?,
            c if c == b'_' || c == b'@' || c.is_ascii_alphabetic() => {
                while i < b.len() && (b[i] == b'_' || b[i] == b'@' || b[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                Tok::Ident(src[start..i].to_string())
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(QueryError::new(format!("unexpected character {ch:?}"), Span::new(i, i + ch.len_utf8())));
            }
        };
        out.push(Token { tok, span: Span::new(start, i), space_before });
        space_before = false;
    }
    out.push(Token { tok: Tok::Eof, span: Span::new(b.len(), b.len()), space_before: true });
    Ok(out)
}

fn one(i: &mut usize, t: Tok) -> Tok {
    *i += 1;
    t
}

fn two(i: &mut usize, t: Tok) -> Tok {
    *i += 2;
    t
}

fn number(src: &str, i: &mut usize) -> Result<Tok, QueryError> {
    let b = src.as_bytes();
    let start = *i;
    let mut float = false;
    while *i < b.len() && b[*i].is_ascii_digit() {
        *i += 1;
    }
    if *i < b.len() && b[*i] == b'.' && b.get(*i + 1).is_some_and(u8::is_ascii_digit) {
        float = true;
        *i += 1;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
    }
    if *i < b.len() && (b[*i] == b'e' || b[*i] == b'E') {
        let mut j = *i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            float = true;
            *i = j;
            while *i < b.len() && b[*i].is_ascii_digit() {
                *i += 1;
            }
        }
    }
    let text = &src[start..*i];
    let span = Span::new(start, *i);
    if float {
        text.parse::<f64>().map(Tok::Float).map_err(|_| QueryError::new(format!("invalid number {text}"), span))
    } else {
        text.parse::<i64>().map(Tok::Int).map_err(|_| QueryError::new(format!("number {text} is out of range"), span))
    }
}

fn quoted_ident(src: &str, i: &mut usize) -> Result<Tok, QueryError> {
    let b = src.as_bytes();
    let start = *i;
    *i += 1;
    let mut out = String::new();
    loop {
        let Some(&c) = b.get(*i) else {
            return Err(QueryError::new("unterminated `quoted` field name", Span::new(start, start + 1)));
        };
        if c == b'`' {
            if b.get(*i + 1) == Some(&b'`') {
                out.push('`');
                *i += 2;
                continue;
            }
            *i += 1;
            break;
        }
        let ch = src[*i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        *i += ch.len_utf8();
    }
    if out.is_empty() {
        return Err(QueryError::new("empty `` field name", Span::new(start, *i)));
    }
    Ok(Tok::Quoted(out))
}

/// `"…"` with `\n \r \t \b \f \\ \" \' \u{X..}` escapes (Elasticsearch's unquoting), or `"""raw"""` where `\` is literal.
fn string(src: &str, i: &mut usize) -> Result<Tok, QueryError> {
    let b = src.as_bytes();
    let start = *i;
    if src[*i..].starts_with("\"\"\"") {
        let body_start = *i + 3;
        let Some(rel) = src[body_start..].find("\"\"\"") else {
            return Err(QueryError::new("unterminated raw string", Span::new(start, start + 3)));
        };
        let mut end = body_start + rel;
        // `""""a""""`-style: a quote right before the closing triple belongs to the body.
        while src[end + 3..].starts_with('"') {
            end += 1;
        }
        *i = end + 3;
        return Ok(Tok::Str(src[body_start..end].to_string()));
    }
    *i += 1;
    let mut out = String::new();
    loop {
        let Some(&c) = b.get(*i) else {
            return Err(QueryError::new("unterminated string", Span::new(start, start + 1)));
        };
        match c {
            b'"' => {
                *i += 1;
                break;
            }
            b'\n' | b'\r' => {
                return Err(QueryError::new("line break inside a string", Span::new(start, *i)));
            }
            b'\\' => {
                let esc_start = *i;
                let Some(&e) = b.get(*i + 1) else {
                    return Err(QueryError::new("unterminated string", Span::new(start, start + 1)));
                };
                *i += 2;
                match e {
                    b'n' => out.push('\n'),
                    b'r' => out.push('\r'),
                    b't' => out.push('\t'),
                    b'\\' => out.push('\\'),
                    b'"' => out.push('"'),
                    b'\'' => out.push('\''),
                    b'b' => out.push('\u{8}'),
                    b'f' => out.push('\u{c}'),
                    b'u' => {
                        if b.get(*i) != Some(&b'{') {
                            return Err(QueryError::new("unicode escapes are written \\u{XXXX} with 2 to 8 hex digits", Span::new(esc_start, *i)));
                        }
                        let hex_start = *i + 1;
                        let Some(rel) = src[hex_start..].find('}') else {
                            return Err(QueryError::new("unterminated \\u{…} escape", Span::new(esc_start, *i)));
                        };
                        let hex = &src[hex_start..hex_start + rel];
                        *i = hex_start + rel + 1;
                        let span = Span::new(esc_start, *i);
                        if !(2..=8).contains(&hex.len()) || !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                            return Err(QueryError::new("unicode escapes are written \\u{XXXX} with 2 to 8 hex digits", span));
                        }
                        let code = u32::from_str_radix(hex, 16).map_err(|_| QueryError::new("invalid unicode escape", span))?;
                        let ch = char::from_u32(code).ok_or_else(|| QueryError::new(format!("invalid unicode code point U+{code:X}"), span))?;
                        out.push(ch);
                    }
                    _ => return Err(QueryError::new(format!("unknown escape sequence \\{}", e as char), Span::new(esc_start, *i))),
                }
            }
            _ => {
                let ch = src[*i..].chars().next().unwrap_or('\u{fffd}');
                out.push(ch);
                *i += ch.len_utf8();
            }
        }
    }
    Ok(Tok::Str(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(toks(r#""a\"b\\c\n""#)[0], Tok::Str("a\"b\\c\n".into()));
        assert_eq!(toks(r#""\u{41}\u{1F600}""#)[0], Tok::Str("A😀".into()));
        assert_eq!(toks(r#""""C:\Windows\*""""#)[0], Tok::Str(r"C:\Windows\*".into()));
        assert!(tokenize(r#""\q""#).is_err());
        assert!(tokenize("'single'").is_err());
        assert!(tokenize(r#"?"raw""#).is_err());
        assert!(tokenize(r#""\u{1}""#).is_err());
    }

    #[test]
    fn operators_numbers_comments() {
        assert_eq!(
            toks("a.b == 1 // c\n /* d */ != 2.5 <= `x y`"),
            vec![
                Tok::Ident("a".into()),
                Tok::Dot,
                Tok::Ident("b".into()),
                Tok::EqEq,
                Tok::Int(1),
                Tok::NotEq,
                Tok::Float(2.5),
                Tok::LtEq,
                Tok::Quoted("x y".into()),
                Tok::Eof
            ]
        );
        assert_eq!(toks("15s")[..2], [Tok::Int(15), Tok::Ident("s".into())]);
    }
}
