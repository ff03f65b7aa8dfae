//! String tests for one value, compiled once per pattern into the cheapest form.
//!
//! Case-insensitive matching follows Lucene's `AutomatonQueries.toCaseInsensitiveChar`,
//! which Elasticsearch uses for `:`, `like~`, `in~` and the `~` functions: each code point
//! `c` of the *pattern* also matches its single alternate case (`toUpperCase(c)` if `c`
//! is lower case, else `toLowerCase(c)`). The value is never folded, so `K` (Kelvin sign)
//! does not match a pattern `k`. For an ASCII pattern this is exactly ASCII
//! case-insensitive comparison, which is the fast path.
//!
//! Wildcards: `*` matches zero or more characters, `?` exactly one character (a code
//! point, not a byte).

use memchr::memmem;

/// One compiled pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// Exact bytes (case-sensitive).
    Exact(Box<[u8]>),
    /// ASCII pattern, ASCII case-insensitive equality.
    ExactAsciiCi(Box<[u8]>),
    Prefix {
        lit: Box<[u8]>,
        ci: bool,
    },
    Suffix {
        lit: Box<[u8]>,
        ci: bool,
    },
    /// `*lit*` case-sensitive.
    Contains(Box<memmem::Finder<'static>>),
    /// `*lit*` ASCII case-insensitive (lit stored lower-cased).
    ContainsAsciiCi(Box<[u8]>),
    /// `*` alone: any value.
    Any,
    /// General wildcard pattern, matched over code points.
    Glob {
        tokens: Vec<GlobTok>,
        ci: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobTok {
    Char(char),
    One,
    Star,
}

impl Pattern {
    /// Relative per-value cost: equality is cheap, searching inside a value is not.
    pub fn cost(&self) -> u32 {
        match self {
            Pattern::Any => 0,
            Pattern::Exact(_) | Pattern::ExactAsciiCi(_) | Pattern::Prefix { .. } | Pattern::Suffix { .. } => 1,
            Pattern::Contains(_) | Pattern::ContainsAsciiCi(_) => 4,
            Pattern::Glob { .. } => 8,
        }
    }

    /// Equality (no wildcards), case-sensitive or not.
    pub fn equals(lit: &str, ci: bool) -> Pattern {
        if !ci {
            Pattern::Exact(lit.as_bytes().into())
        } else if lit.is_ascii() {
            Pattern::ExactAsciiCi(lit.as_bytes().into())
        } else {
            Pattern::Glob { tokens: lit.chars().map(GlobTok::Char).collect(), ci: true }
        }
    }

    /// `value` starts with `lit` (literal: `*` and `?` are ordinary characters).
    pub fn starts_with(lit: &str, ci: bool) -> Pattern {
        Self::literal_shape(lit, ci, false, true)
    }

    /// `value` ends with `lit` (literal).
    pub fn ends_with(lit: &str, ci: bool) -> Pattern {
        Self::literal_shape(lit, ci, true, false)
    }

    /// `value` contains `lit` (literal).
    pub fn contains(lit: &str, ci: bool) -> Pattern {
        Self::literal_shape(lit, ci, true, true)
    }

    fn literal_shape(lit: &str, ci: bool, star_before: bool, star_after: bool) -> Pattern {
        if !ci || lit.is_ascii() {
            let b: Box<[u8]> = lit.as_bytes().into();
            return match (star_before, star_after) {
                (false, true) => Pattern::Prefix { lit: b, ci },
                (true, false) => Pattern::Suffix { lit: b, ci },
                (true, true) if ci => Pattern::ContainsAsciiCi(lit.to_ascii_lowercase().into_bytes().into()),
                (true, true) => Pattern::Contains(Box::new(memmem::Finder::new(lit.as_bytes()).into_owned())),
                (false, false) => Pattern::equals(lit, ci),
            };
        }
        let mut tokens = Vec::new();
        if star_before {
            tokens.push(GlobTok::Star);
        }
        tokens.extend(lit.chars().map(GlobTok::Char));
        if star_after {
            tokens.push(GlobTok::Star);
        }
        Pattern::Glob { tokens, ci }
    }

    /// A wildcard pattern (`*`, `?`).
    pub fn wildcard(pat: &str, ci: bool) -> Pattern {
        let tokens: Vec<GlobTok> = pat
            .chars()
            .map(|c| match c {
                '*' => GlobTok::Star,
                '?' => GlobTok::One,
                c => GlobTok::Char(c),
            })
            .collect();
        // Collapse runs of stars.
        let mut toks: Vec<GlobTok> = Vec::with_capacity(tokens.len());
        for t in tokens {
            if t == GlobTok::Star && toks.last() == Some(&GlobTok::Star) {
                continue;
            }
            toks.push(t);
        }
        let has_one = toks.contains(&GlobTok::One);
        let stars = toks.iter().filter(|t| **t == GlobTok::Star).count();
        let lit = |ts: &[GlobTok]| -> String {
            ts.iter()
                .map(|t| match t {
                    GlobTok::Char(c) => *c,
                    _ => '\0',
                })
                .collect()
        };
        let ascii_ok = |s: &str| !ci || s.is_ascii();
        if !has_one {
            let n = toks.len();
            if stars == 0 {
                return Pattern::equals(&lit(&toks), ci);
            }
            if n == 1 {
                return Pattern::Any;
            }
            if stars == 1 && toks[n - 1] == GlobTok::Star {
                let l = lit(&toks[..n - 1]);
                if ascii_ok(&l) {
                    return Pattern::Prefix { lit: l.into_bytes().into(), ci };
                }
            }
            if stars == 1 && toks[0] == GlobTok::Star {
                let l = lit(&toks[1..]);
                if ascii_ok(&l) {
                    return Pattern::Suffix { lit: l.into_bytes().into(), ci };
                }
            }
            if stars == 2 && toks[0] == GlobTok::Star && toks[n - 1] == GlobTok::Star {
                let l = lit(&toks[1..n - 1]);
                if !ci {
                    return Pattern::Contains(Box::new(memmem::Finder::new(l.as_bytes()).into_owned()));
                }
                if l.is_ascii() {
                    return Pattern::ContainsAsciiCi(l.to_ascii_lowercase().into_bytes().into());
                }
            }
        }
        Pattern::Glob { tokens: toks, ci }
    }

    /// Does `v` (UTF-8) match?
    ///
    /// Equality, the test of most leaves, is decided here inline; the other shapes are
    /// [`Self::matches_shape`]. Why: with all macOS rules, 11 M pattern tests in 198 129
    /// events spent about a quarter of their instructions entering and leaving the one
    /// function that held every shape (callgrind).
    #[inline(always)]
    pub fn matches(&self, v: &[u8]) -> bool {
        match self {
            Pattern::Exact(l) => v.len() == l.len() && v == &l[..],
            Pattern::ExactAsciiCi(l) => v.len() == l.len() && v.eq_ignore_ascii_case(l),
            _ => self.matches_shape(v),
        }
    }

    #[inline(never)]
    fn matches_shape(&self, v: &[u8]) -> bool {
        match self {
            Pattern::Exact(l) => v == &l[..],
            Pattern::ExactAsciiCi(l) => v.eq_ignore_ascii_case(l),
            Pattern::Prefix { lit, ci } => v.len() >= lit.len() && if *ci { v[..lit.len()].eq_ignore_ascii_case(lit) } else { v.starts_with(lit) },
            Pattern::Suffix { lit, ci } => v.len() >= lit.len() && if *ci { v[v.len() - lit.len()..].eq_ignore_ascii_case(lit) } else { v.ends_with(lit) },
            Pattern::Contains(f) => f.find(v).is_some(),
            Pattern::ContainsAsciiCi(l) => contains_ascii_ci(v, l),
            Pattern::Any => true,
            // ASCII values (nearly all) need no UTF-8 check before their bytes are matched.
            Pattern::Glob { tokens, ci } if v.is_ascii() => glob_units(tokens, *ci, v, |b| b as char),
            Pattern::Glob { tokens, ci } => match std::str::from_utf8(v) {
                Ok(s) => glob(tokens, *ci, s),
                Err(_) => false,
            },
        }
    }
}

fn contains_ascii_ci(hay: &[u8], lower_needle: &[u8]) -> bool {
    if lower_needle.is_empty() {
        return true;
    }
    if hay.len() < lower_needle.len() {
        return false;
    }
    let first = lower_needle[0];
    let upper = first.to_ascii_uppercase();
    let last_start = hay.len() - lower_needle.len();
    let mut i = 0;
    while i <= last_start {
        let Some(p) = memchr::memchr2(first, upper, &hay[i..=last_start]) else { return false };
        let s = i + p;
        if hay[s..s + lower_needle.len()].eq_ignore_ascii_case(lower_needle) {
            return true;
        }
        i = s + 1;
    }
    false
}

/// The one alternate case Lucene adds for a pattern code point.
pub fn alt_case(c: char) -> char {
    fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
        match (it.next(), it.next()) {
            (Some(a), None) => Some(a),
            _ => None,
        }
    }
    let alt = if c.is_lowercase() { single(c.to_uppercase()) } else { single(c.to_lowercase()) };
    alt.unwrap_or(c)
}

#[inline]
fn char_eq(p: char, v: char, ci: bool) -> bool {
    // An ASCII pattern character's one alternate case is its ASCII other case (or
    // itself), which a byte comparison finds without Unicode case tables.
    p == v || (ci && if p.is_ascii() { p.eq_ignore_ascii_case(&v) } else { alt_case(p) == v })
}

/// Iterative wildcard matching with single-star backtracking (linear for one star,
/// O(n·m) worst case).
fn glob(tokens: &[GlobTok], ci: bool, value: &str) -> bool {
    // ASCII values (nearly all) are matched on their bytes, without collecting chars:
    // the allocation was most of the cost of a wildcard test.
    if value.is_ascii() {
        glob_units(tokens, ci, value.as_bytes(), |b| b as char)
    } else {
        glob_units(tokens, ci, &value.chars().collect::<Vec<char>>(), |c| c)
    }
}

/// [`glob`] over a value given as units (bytes of an ASCII value, or chars).
#[inline]
fn glob_units<U: Copy>(tokens: &[GlobTok], ci: bool, v: &[U], as_char: impl Fn(U) -> char) -> bool {
    let (mut p, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while s < v.len() {
        match tokens.get(p) {
            Some(GlobTok::Star) => {
                star = Some((p, s));
                p += 1;
                continue;
            }
            Some(GlobTok::One) => {
                p += 1;
                s += 1;
                continue;
            }
            Some(GlobTok::Char(c)) if char_eq(*c, as_char(v[s]), ci) => {
                p += 1;
                s += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, ss)) => {
                p = sp + 1;
                s = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    tokens[p..].iter().all(|t| *t == GlobTok::Star)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Naive reference: recursive matching over code points.
    pub(crate) fn naive(pat: &str, ci: bool, v: &str) -> bool {
        fn rec(p: &[char], v: &[char], ci: bool) -> bool {
            match p.first() {
                None => v.is_empty(),
                Some('*') => (0..=v.len()).any(|k| rec(&p[1..], &v[k..], ci)),
                Some('?') => !v.is_empty() && rec(&p[1..], &v[1..], ci),
                Some(c) => !v.is_empty() && (v[0] == *c || (ci && alt_case(*c) == v[0])) && rec(&p[1..], &v[1..], ci),
            }
        }
        let p: Vec<char> = pat.chars().collect();
        let v: Vec<char> = v.chars().collect();
        rec(&p, &v, ci)
    }

    #[test]
    fn shapes() {
        assert!(matches!(Pattern::wildcard("tclsh*", true), Pattern::Prefix { .. }));
        assert!(matches!(Pattern::wildcard("*.exe", true), Pattern::Suffix { .. }));
        assert!(matches!(Pattern::wildcard("*curl*", true), Pattern::ContainsAsciiCi(_)));
        assert!(matches!(Pattern::wildcard("bash", true), Pattern::ExactAsciiCi(_)));
        assert!(matches!(Pattern::wildcard("**", true), Pattern::Any));
        assert!(Pattern::wildcard("tclsh*", true).matches(b"TCLSH8.6"));
        assert!(Pattern::wildcard("bas?", true).matches(b"BASH"));
        assert!(!Pattern::wildcard("bas?", true).matches(b"bas"));
        assert!(Pattern::wildcard("?", false).matches("é".as_bytes()));
        assert!(!Pattern::wildcard("k", true).matches("\u{212A}".as_bytes()));
        assert!(Pattern::wildcard("é", true).matches("É".as_bytes()));
        assert!(!Pattern::equals("Bash", false).matches(b"bash"));
        assert!(Pattern::equals("*", false).matches(b"*"));
    }

    proptest! {
        #[test]
        fn compiled_equals_naive(pat in "[abk*?É]{0,6}", v in "[abABkKéÉ\u{212A}]{0,8}", ci in any::<bool>()) {
            prop_assert_eq!(Pattern::wildcard(&pat, ci).matches(v.as_bytes()), naive(&pat, ci, &v), "pat={:?} v={:?}", pat, v);
        }
    }
}
