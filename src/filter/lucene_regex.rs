//! Elasticsearch's `regex`/`regex~` use Lucene's `RegExp` syntax (with all optional
//! features enabled), matched against the **whole** value. We compile it with the `regex`
//! crate after translating the dialect:
//!
//! | Lucene | meaning | Rust `regex` |
//! |---|---|---|
//! | whole-value match | implicit anchors | wrapped in `^(?:…)$` |
//! | `.` | any character, newline included | `(?s)` flag |
//! | `\c` | the character `c` literally (so `\d` is `d`, `\s` is `s`) | `c` escaped |
//! | `"…"` | a literal string | escaped text |
//! | `^`, `$` | ordinary characters | `\^`, `\$` |
//! | `@` | any string | `(?s:.*)` |
//! | `#` | the empty language | `[^\s\S]` |
//! | `[…]` | class; `^` negates, `-` ranges, `\` escapes | rebuilt with Rust-special characters escaped |
//! | `~` (complement), `&` (intersection), `<n-m>` (numeric interval) | automaton operations | **refused as unsupported** |
//!
//! `regex~` matches case-insensitively. Lucene adds, per pattern character, its one
//! alternate case; the translation uses Rust's `(?i)` (simple case folding of both
//! sides). The two agree on ASCII and on ordinary letters; they can differ on rare
//! characters whose folding is not one-to-one (such as the Kelvin sign).

/// Translate a Lucene regular expression into an anchored Rust one.
///
/// # Errors
/// The Lucene features with no equivalent (complement, intersection, numeric intervals),
/// or a malformed pattern.
pub fn translate(pattern: &str, case_insensitive: bool) -> Result<String, String> {
    let cs: Vec<char> = pattern.chars().collect();
    let mut out = String::from(if case_insensitive { "(?si)^(?:" } else { "(?s)^(?:" });
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        match c {
            '\\' => {
                let Some(&n) = cs.get(i + 1) else { return Err("pattern ends with a lone backslash".into()) };
                push_literal(&mut out, n);
                i += 2;
                continue;
            }
            '"' => {
                let Some(end) = cs[i + 1..].iter().position(|&x| x == '"') else {
                    return Err("unterminated \"…\" literal in regex".into());
                };
                for &l in &cs[i + 1..i + 1 + end] {
                    push_literal(&mut out, l);
                }
                i += end + 2;
                continue;
            }
            '[' => {
                i = class(&cs, i, &mut out)?;
                continue;
            }
            '@' => out.push_str("(?s:.*)"),
            '#' => out.push_str("[^\\s\\S]"),
            '~' => return Err("the complement operator ~ in regex".into()),
            '&' => return Err("the intersection operator & in regex".into()),
            '<' => return Err("numeric intervals <n-m> in regex".into()),
            '.' | '*' | '+' | '?' | '|' | '(' | ')' => out.push(c),
            '{' => {
                // Repetition {n}, {n,}, {n,m}: copy digits and comma.
                let Some(end) = cs[i..].iter().position(|&x| x == '}') else {
                    return Err("unterminated {…} repetition".into());
                };
                let body: String = cs[i + 1..i + end].iter().collect();
                if body.is_empty() || !body.chars().all(|x| x.is_ascii_digit() || x == ',') {
                    return Err(format!("invalid repetition {{{body}}}"));
                }
                out.push('{');
                out.push_str(&body);
                out.push('}');
                i += end + 1;
                continue;
            }
            _ => push_literal(&mut out, c),
        }
        i += 1;
    }
    out.push_str(")$");
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    out.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}

/// Translate `[…]` starting at `cs[start] == '['`; returns the index after `]`.
fn class(cs: &[char], start: usize, out: &mut String) -> Result<usize, String> {
    let mut i = start + 1;
    out.push('[');
    if cs.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    let mut first = true;
    loop {
        let Some(&c) = cs.get(i) else { return Err("unterminated [ class in regex".into()) };
        if c == ']' && !first {
            out.push(']');
            return Ok(i + 1);
        }
        first = false;
        let (lo, next) = class_char(cs, i)?;
        i = next;
        if cs.get(i) == Some(&'-') && cs.get(i + 1).is_some_and(|&x| x != ']') {
            let (hi, next) = class_char(cs, i + 1)?;
            if hi < lo {
                return Err(format!("invalid range {lo}-{hi} in regex class"));
            }
            push_class_char(out, lo);
            out.push('-');
            push_class_char(out, hi);
            i = next;
        } else {
            push_class_char(out, lo);
        }
    }
}

fn class_char(cs: &[char], i: usize) -> Result<(char, usize), String> {
    match cs.get(i) {
        Some('\\') => cs.get(i + 1).map(|&c| (c, i + 2)).ok_or_else(|| "lone backslash in regex class".to_string()),
        Some(&c) => Ok((c, i + 1)),
        None => Err("unterminated [ class in regex".into()),
    }
}

fn push_class_char(out: &mut String, c: char) {
    // Characters with a meaning inside Rust classes (set operations, nesting, escapes).
    if matches!(c, '[' | ']' | '\\' | '^' | '-' | '&' | '~') {
        out.push('\\');
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, ci: bool, v: &str) -> bool {
        regex::Regex::new(&translate(p, ci).unwrap()).unwrap().is_match(v)
    }

    #[test]
    fn lucene_dialect() {
        assert!(m("[24][0-9]{3}", false, "4624"));
        assert!(!m("[24][0-9]{3}", false, "46245"), "whole value");
        assert!(m(".*[0-9]{1,3}\\.[0-9]{1,3}.*", false, "x 10.1 y"));
        assert!(m("\\d", false, "d"), "\\d is a literal d in Lucene");
        assert!(!m("\\d", false, "1"));
        assert!(m("a^b$", false, "a^b$"));
        assert!(m("\"a.b\"", false, "a.b"));
        assert!(!m("\"a.b\"", false, "axb"));
        assert!(m("a@", false, "a\nanything"));
        assert!(m("a.b", false, "a\nb"));
        assert!(m("[^-]*[uz]", true, "ABZ"));
        assert!(m("[a\\-z]", false, "-"));
        assert!(m("[&~]", false, "&"));
        assert!(m("(azure|sharp)(hound)/.*", true, "SharpHound/x"));
        assert!(!m("#", false, ""));
        assert!(m("", false, ""));
        assert!(translate("~a", false).is_err());
        assert!(translate("a&b", false).is_err());
        assert!(translate("<1-5>", false).is_err());
    }
}
