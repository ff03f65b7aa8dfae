//! A strict, projecting JSON line scanner.
//!
//! Elasticsearch refuses a document that is not strict RFC 8259 JSON, not an object, or
//! has a duplicate key in any object (it parses with strict duplicate detection). This
//! scanner validates exactly that for every line it is given, and on the way records the
//! values of the projected fields only — without building a tree. Nested objects and flat
//! dotted keys resolve to the same field path (`{"process":{"name":…}}` and
//! `{"process.name":…}`); arrays (also arrays of objects) flatten to multiple values, as
//! Elasticsearch indexes them; `null` values are dropped, as Elasticsearch does not index
//! them.
//!
//! Values are reported as [`ValueRef`]s: a byte range of the line when the JSON text needs
//! no unescaping (strings without `\`, numbers, booleans — numbers and booleans compare as
//! their JSON text, like Elasticsearch's keyword coercion), or a range of the scanner's
//! side buffer holding the unescaped string.

use foldhash::HashMap;
use foldhash::HashMapExt;

/// Maximum nesting of objects and arrays. Elasticsearch's JSON parser (Jackson) refuses
/// documents nested deeper than 1000 levels by default.
pub const MAX_DEPTH: usize = 1000;

/// Why a line is not a document Elasticsearch would index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    NotUtf8,
    NotAnObject,
    Syntax { offset: usize, what: &'static str },
    DuplicateKey { key: String },
    BadFieldName { key: String },
    TooDeep,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonError::NotUtf8 => f.write_str("line is not valid UTF-8"),
            JsonError::NotAnObject => f.write_str("line is not a JSON object"),
            JsonError::Syntax { offset, what } => write!(f, "invalid JSON at byte {offset}: {what}"),
            JsonError::DuplicateKey { key } => write!(f, "duplicate key {key:?}"),
            JsonError::BadFieldName { key } => write!(f, "field name {key:?} is not a valid Elasticsearch field name"),
            JsonError::TooDeep => write!(f, "nesting deeper than {MAX_DEPTH} levels"),
        }
    }
}

/// Where a projected value's text lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRef {
    /// `[start, end)` of the line: the JSON text itself (no escapes).
    Line(u32, u32),
    /// `[start, end)` of the side buffer: an unescaped string.
    Side(u32, u32),
}

/// What the projection says about one dotted path.
#[derive(Debug, Clone, Copy, Default)]
struct PathInfo {
    /// Values at this path are recorded into this column.
    column: Option<u32>,
    /// Some projected path continues below this one.
    prefix: bool,
}

/// The set of field paths to extract, and every dotted prefix of them.
#[derive(Debug, Clone, Default)]
pub struct PathSet {
    paths: HashMap<Box<[u8]>, PathInfo>,
    columns: usize,
}

impl PathSet {
    /// `fields[i]` is recorded as column `i`.
    pub fn new<S: AsRef<str>>(fields: &[S]) -> Self {
        let mut paths: HashMap<Box<[u8]>, PathInfo> = HashMap::new();
        for (i, f) in fields.iter().enumerate() {
            let f = f.as_ref();
            paths.entry(f.as_bytes().into()).or_default().column = Some(i as u32);
            for (pos, _) in f.match_indices('.') {
                paths.entry(f.as_bytes()[..pos].into()).or_default().prefix = true;
            }
        }
        PathSet { paths, columns: fields.len() }
    }

    pub fn columns(&self) -> usize {
        self.columns
    }

    fn get(&self, path: &[u8]) -> PathInfo {
        self.paths.get(path).copied().unwrap_or_default()
    }
}

/// Receives projected values while a line is scanned.
pub trait ValueSink {
    /// `side` is the scanner's side buffer, which [`ValueRef::Side`] ranges index.
    fn value(&mut self, column: u32, value: ValueRef, side: &[u8]);
}

/// Reusable scanner state; one per thread.
#[derive(Debug, Default)]
pub struct Scanner {
    /// Unescaped strings of the current batch.
    pub side: Vec<u8>,
    path: Vec<u8>,
    /// Keys of the objects being parsed (unescaped), for duplicate detection.
    keys: Vec<u8>,
    key_ranges: Vec<(u32, u32)>,
    key_scratch: Vec<u8>,
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

type R<T> = Result<T, JsonError>;

fn syntax(offset: usize, what: &'static str) -> JsonError {
    JsonError::Syntax { offset, what }
}

impl Scanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Validate `line` (no trailing newline) and report projected values to `sink`.
    ///
    /// Values already given to `sink` before an error are the caller's to discard. The
    /// side buffer is only appended to; clear it between batches.
    ///
    /// # Errors
    /// [`JsonError`] when Elasticsearch would refuse the line.
    pub fn scan(&mut self, line: &[u8], paths: &PathSet, sink: &mut dyn ValueSink) -> R<()> {
        if simdutf8::basic::from_utf8(line).is_err() {
            return Err(JsonError::NotUtf8);
        }
        self.path.clear();
        self.keys.clear();
        self.key_ranges.clear();
        let mut c = Cursor { b: line, i: 0 };
        c.ws();
        if c.peek() != Some(b'{') {
            return Err(JsonError::NotAnObject);
        }
        let root = PathInfo { column: None, prefix: true };
        self.value(&mut c, paths, root, sink, 0)?;
        c.ws();
        if c.i != line.len() {
            return Err(syntax(c.i, "trailing characters after the object"));
        }
        Ok(())
    }

    fn value(&mut self, c: &mut Cursor, paths: &PathSet, at: PathInfo, sink: &mut dyn ValueSink, depth: usize) -> R<()> {
        c.ws();
        match c.peek() {
            Some(b'{') => {
                if depth >= MAX_DEPTH {
                    return Err(JsonError::TooDeep);
                }
                self.object(c, paths, at, sink, depth + 1)
            }
            Some(b'[') => {
                if depth >= MAX_DEPTH {
                    return Err(JsonError::TooDeep);
                }
                c.i += 1;
                c.ws();
                if c.peek() == Some(b']') {
                    c.i += 1;
                    return Ok(());
                }
                loop {
                    // Arrays flatten: every element sits at the array's own path.
                    self.value(c, paths, at, sink, depth + 1)?;
                    c.ws();
                    match c.next() {
                        Some(b',') => continue,
                        Some(b']') => return Ok(()),
                        _ => return Err(syntax(c.i.saturating_sub(1), "expected ',' or ']' in array")),
                    }
                }
            }
            Some(b'"') => {
                let v = self.string(c, at.column.is_some())?;
                if let (Some(col), Some(v)) = (at.column, v) {
                    sink.value(col, v, &self.side);
                }
                Ok(())
            }
            Some(b't') => c.literal(b"true").map(|(s, e)| record(at, sink, s, e, &self.side)),
            Some(b'f') => c.literal(b"false").map(|(s, e)| record(at, sink, s, e, &self.side)),
            Some(b'n') => c.literal(b"null").map(|_| ()),
            Some(b'-' | b'0'..=b'9') => c.number().map(|(s, e)| record(at, sink, s, e, &self.side)),
            Some(_) => Err(syntax(c.i, "expected a JSON value")),
            None => Err(syntax(c.i, "unexpected end of line")),
        }
    }

    fn object(&mut self, c: &mut Cursor, paths: &PathSet, at: PathInfo, sink: &mut dyn ValueSink, depth: usize) -> R<()> {
        c.i += 1; // '{'
        let keys_base = self.key_ranges.len();
        let keys_bytes_base = self.keys.len();
        let path_base = self.path.len();
        c.ws();
        if c.peek() == Some(b'}') {
            c.i += 1;
            return Ok(());
        }
        loop {
            c.ws();
            if c.peek() != Some(b'"') {
                return Err(syntax(c.i, "expected a string key"));
            }
            // Keys are always unescaped (needed for duplicate detection).
            self.key_scratch.clear();
            let mut scratch = std::mem::take(&mut self.key_scratch);
            let res = read_string_into(c, &mut scratch);
            if let Err(e) = res {
                self.key_scratch = scratch;
                return Err(e);
            }
            let key_start = self.keys.len() as u32;
            self.keys.extend_from_slice(&scratch);
            self.key_ranges.push((key_start, self.keys.len() as u32));
            if !valid_field_name(&scratch) {
                let key = String::from_utf8_lossy(&scratch).into_owned();
                self.key_scratch = scratch;
                return Err(JsonError::BadFieldName { key });
            }
            let child = if at.prefix {
                if !self.path.is_empty() {
                    self.path.push(b'.');
                }
                self.path.extend_from_slice(&scratch);
                paths.get(&self.path)
            } else {
                PathInfo::default()
            };
            self.key_scratch = scratch;
            c.ws();
            if c.next() != Some(b':') {
                return Err(syntax(c.i.saturating_sub(1), "expected ':' after key"));
            }
            self.value(c, paths, child, sink, depth)?;
            self.path.truncate(path_base);
            c.ws();
            match c.next() {
                Some(b',') => continue,
                Some(b'}') => break,
                _ => return Err(syntax(c.i.saturating_sub(1), "expected ',' or '}' in object")),
            }
        }
        self.check_duplicates(keys_base)?;
        self.key_ranges.truncate(keys_base);
        self.keys.truncate(keys_bytes_base);
        Ok(())
    }

    fn check_duplicates(&mut self, base: usize) -> R<()> {
        let ranges = &mut self.key_ranges[base..];
        let keys = &self.keys;
        let get = |r: &(u32, u32)| &keys[r.0 as usize..r.1 as usize];
        if ranges.len() <= 16 {
            for i in 1..ranges.len() {
                for j in 0..i {
                    if get(&ranges[i]) == get(&ranges[j]) {
                        return Err(JsonError::DuplicateKey { key: String::from_utf8_lossy(get(&ranges[i])).into_owned() });
                    }
                }
            }
        } else {
            ranges.sort_unstable_by(|a, b| get(a).cmp(get(b)));
            for w in ranges.windows(2) {
                if get(&w[0]) == get(&w[1]) {
                    return Err(JsonError::DuplicateKey { key: String::from_utf8_lossy(get(&w[0])).into_owned() });
                }
            }
        }
        Ok(())
    }

    /// Parse a string value; return where its text is when `want`.
    fn string(&mut self, c: &mut Cursor, want: bool) -> R<Option<ValueRef>> {
        let start = c.i + 1;
        let (end, escaped) = scan_string(c)?;
        if !want {
            return Ok(None);
        }
        if !escaped {
            return Ok(Some(ValueRef::Line(start as u32, end as u32)));
        }
        let side_start = self.side.len();
        let mut tmp = Cursor { b: c.b, i: start - 1 };
        read_string_into(&mut tmp, &mut self.side)?;
        Ok(Some(ValueRef::Side(side_start as u32, self.side.len() as u32)))
    }
}

fn record(at: PathInfo, sink: &mut dyn ValueSink, s: usize, e: usize, side: &[u8]) {
    if let Some(col) = at.column {
        sink.value(col, ValueRef::Line(s as u32, e as u32), side);
    }
}

/// Elasticsearch refuses empty field names and names with an empty dotted segment.
fn valid_field_name(k: &[u8]) -> bool {
    !k.is_empty() && k[0] != b'.' && k[k.len() - 1] != b'.' && memchr::memmem::find(k, b"..").is_none()
}

impl Cursor<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    #[inline]
    fn next(&mut self) -> Option<u8> {
        let c = self.b.get(self.i).copied();
        self.i += 1;
        c
    }
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }
    fn literal(&mut self, lit: &'static [u8]) -> R<(usize, usize)> {
        if self.b[self.i..].starts_with(lit) {
            let s = self.i;
            self.i += lit.len();
            Ok((s, self.i))
        } else {
            Err(syntax(self.i, "invalid literal"))
        }
    }
    /// RFC 8259 number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> R<(usize, usize)> {
        let s = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            _ => return Err(syntax(self.i, "invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(syntax(self.i, "invalid number: digit expected after '.'"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(syntax(self.i, "invalid number: digit expected in exponent"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
        }
        Ok((s, self.i))
    }
}

/// Skip a string starting at `"`, validating it. Returns the offset of the closing quote
/// and whether it contains escapes.
fn scan_string(c: &mut Cursor) -> R<(usize, bool)> {
    let start = c.i;
    c.i += 1;
    let mut escaped = false;
    loop {
        let rest = &c.b[c.i..];
        let Some(pos) = memchr::memchr2(b'"', b'\\', rest) else {
            return Err(syntax(start, "unterminated string"));
        };
        if rest[..pos].iter().any(|&x| x < 0x20) {
            return Err(syntax(c.i, "control character inside a string"));
        }
        c.i += pos;
        if c.b[c.i] == b'"' {
            let end = c.i;
            c.i += 1;
            return Ok((end, escaped));
        }
        escaped = true;
        match c.b.get(c.i + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => c.i += 2,
            Some(b'u') => {
                let hex = c.b.get(c.i + 2..c.i + 6).ok_or_else(|| syntax(c.i, "truncated \\u escape"))?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(syntax(c.i, "invalid \\u escape"));
                }
                c.i += 6;
            }
            _ => return Err(syntax(c.i, "invalid escape")),
        }
    }
}

fn hex4(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |acc, &h| acc * 16 + (h as char).to_digit(16).unwrap_or(0))
}

/// Read the string at `c` (at its opening quote), unescaped, into `out`.
fn read_string_into(c: &mut Cursor, out: &mut Vec<u8>) -> R<()> {
    let start = c.i;
    let (end, escaped) = scan_string(c)?;
    let body = &c.b[start + 1..end];
    if !escaped {
        out.extend_from_slice(body);
        return Ok(());
    }
    let mut i = 0;
    while i < body.len() {
        let Some(pos) = memchr::memchr(b'\\', &body[i..]) else {
            out.extend_from_slice(&body[i..]);
            break;
        };
        out.extend_from_slice(&body[i..i + pos]);
        i += pos;
        let e = body[i + 1];
        i += 2;
        let ch = match e {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            _ => {
                // b'u', validated by scan_string.
                let hi = hex4(&body[i..i + 4]);
                i += 4;
                if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    if body.get(i..i + 2) == Some(b"\\u") && i + 6 <= body.len() {
                        let lo = hex4(&body[i + 2..i + 6]);
                        if (0xDC00..0xE000).contains(&lo) {
                            i += 6;
                            let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            char::from_u32(code).unwrap_or('\u{fffd}')
                        } else {
                            '\u{fffd}'
                        }
                    } else {
                        '\u{fffd}'
                    }
                } else {
                    // A lone low surrogate becomes U+FFFD, as Jackson does when it
                    // transcodes to UTF-8 for indexing.
                    char::from_u32(hi).unwrap_or('\u{fffd}')
                }
            }
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Vec<(u32, ValueRef)>);
    impl ValueSink for Collect {
        fn value(&mut self, column: u32, value: ValueRef, _side: &[u8]) {
            self.0.push((column, value));
        }
    }

    fn values(line: &str, fields: &[&str]) -> Result<Vec<(u32, String)>, JsonError> {
        let paths = PathSet::new(fields);
        let mut s = Scanner::new();
        let mut c = Collect::default();
        s.scan(line.as_bytes(), &paths, &mut c)?;
        Ok(c.0
            .into_iter()
            .map(|(col, v)| {
                let text = match v {
                    ValueRef::Line(a, b) => line[a as usize..b as usize].to_string(),
                    ValueRef::Side(a, b) => String::from_utf8(s.side[a as usize..b as usize].to_vec()).unwrap(),
                };
                (col, text)
            })
            .collect())
    }

    #[test]
    fn nested_dotted_and_mixed() {
        let line = r#"{"process":{"name":"a","parent":{"name":"p"}},"process.name":"b","process.parent":{"name":"q"},"x":1}"#;
        let v = values(line, &["process.name", "process.parent.name"]).unwrap();
        assert_eq!(v, vec![(0, "a".into()), (1, "p".into()), (0, "b".into()), (1, "q".into())]);
    }

    #[test]
    fn arrays_numbers_nulls_escapes() {
        let line = r#"{"event":{"type":["info","start",null]},"host":{"id":12345},"b":true,"n":null,"s":"b\u0061sh\/x"}"#;
        let v = values(line, &["event.type", "host.id", "b", "n", "s"]).unwrap();
        assert_eq!(
            v,
            vec![(0, "info".into()), (0, "start".into()), (1, "12345".into()), (2, "true".into()), (4, "bash/x".into())]
        );
        let v = values(r#"{"a":[{"b":1},{"b":[2,3]}]}"#, &["a.b"]).unwrap();
        assert_eq!(v, vec![(0, "1".into()), (0, "2".into()), (0, "3".into())]);
        let v = values(r#"{"k":"\ud83d\ude00"}"#, &["k"]).unwrap();
        assert_eq!(v, vec![(0, "😀".into())]);
    }

    proptest::proptest! {
        /// Arbitrary bytes never panic the scanner, and accepted lines are valid JSON
        /// objects to serde_json too.
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), s in "[{}\\[\\]\":,a-c0-9.eE+\\\\u -]{0,80}") {
            let paths = PathSet::new(&["a", "a.b", "c"]);
            let mut sc = Scanner::new();
            for line in [&b[..], s.as_bytes()] {
                if sc.scan(line, &paths, &mut Collect::default()).is_ok() {
                    let v: Result<serde_json::Value, _> = serde_json::from_slice(line);
                    proptest::prop_assert!(v.is_ok_and(|v| v.is_object()), "accepted {:?}", String::from_utf8_lossy(line));
                }
            }
        }
    }

    #[test]
    fn strictness() {
        let bad = [
            r#"{"a":1,"a":2}"#,
            r#"{"a":{"b":1,"b":1}}"#,
            r#"{"a":1,"\u0061":2}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":+1}"#,
            r#"{"a":'x'}"#,
            r#"{"a":"x\q"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":1} x"#,
            r#"[1]"#,
            r#""s""#,
            r#"{"a":NaN}"#,
            r#"{"a":tru}"#,
            r#"{"":1}"#,
            r#"{"a..b":1}"#,
            r#"{"a.":1}"#,
            r#"{a:1}"#,
            "",
        ];
        for b in bad {
            assert!(values(b, &["a"]).is_err(), "accepted {b:?}");
        }
        assert!(values(r#" { "a" : [ 1 , -2.5e+3 , {} , [] ] } "#, &["a"]).is_ok());
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(values(&deep, &["a"]), Err(JsonError::TooDeep));
        let ok_deep = format!("{{\"a\":{}{}}}", "[".repeat(900), "]".repeat(900));
        assert!(values(&ok_deep, &["a"]).is_ok());
        let mut s = Scanner::new();
        let r = s.scan(b"{\"a\":\"\xff\"}", &PathSet::new(&["a"]), &mut Collect::default());
        assert_eq!(r, Err(JsonError::NotUtf8));
    }
}
