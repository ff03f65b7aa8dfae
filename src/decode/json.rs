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

mod plain;
mod shape;

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

/// One edge of the projection tree: the segment `arena[key_start..][..key_len]` below
/// node `parent` leads to node `child`.
#[derive(Debug, Clone, Copy, Default)]
struct Edge {
    /// [`fingerprint`] of the segment: most probes fail on it without touching the bytes.
    fingerprint: u64,
    parent: u32,
    /// 0 marks an empty slot (the root is nobody's child).
    child: u32,
    key_start: u32,
    key_len: u32,
}

/// The set of field paths to extract, as a tree of dotted segments.
///
/// Why a tree: a key is looked up by its own bytes under its parent's node, so the cost
/// of a lookup does not grow with the depth of the path, and a subtree no projected field
/// lies in is scanned without any lookup at all. Its edges live in one open-addressing
/// table keyed by (parent, segment fingerprint): a lookup is one probe of one cache line
/// in the common case, where nested vectors cost a chain of dependent loads per key.
#[derive(Debug, Clone)]
pub struct PathSet {
    /// Per node: the column its values are recorded into.
    columns_of: Vec<Option<u32>>,
    edges: Vec<Edge>,
    arena: Vec<u8>,
    columns: usize,
    /// Tells projections apart: the scanner's shape cache holds the columns of one.
    id: u64,
}

/// Source of [`PathSet::id`]s.
static PATH_SET_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_path_set_id() -> u64 {
    PATH_SET_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Keys of an object checked for duplicates as they are read; an object with more is
/// checked once more, sorted, at its end (a flood of keys must not cost n²).
const SMALL_OBJECT: usize = 16;

/// The root object's node.
const ROOT: u32 = 0;

impl Default for PathSet {
    fn default() -> Self {
        PathSet { columns_of: vec![None], edges: vec![Edge::default(); 16], arena: Vec::new(), columns: 0, id: next_path_set_id() }
    }
}

impl PathSet {
    /// `fields[i]` is recorded as column `i`.
    pub fn new<S: AsRef<str>>(fields: &[S]) -> Self {
        let mut segments: Vec<(u32, &[u8], u32)> = Vec::new();
        let mut columns_of = vec![None];
        for (i, f) in fields.iter().enumerate() {
            let mut node = ROOT;
            for seg in f.as_ref().as_bytes().split(|&b| b == b'.') {
                node = match segments.iter().find(|(p, k, _)| *p == node && *k == seg) {
                    Some(&(_, _, n)) => n,
                    None => {
                        let n = columns_of.len() as u32;
                        columns_of.push(None);
                        segments.push((node, seg, n));
                        n
                    }
                };
            }
            columns_of[node as usize] = Some(i as u32);
        }
        // At most a quarter full, so probe runs stay short (half full cost a second
        // probe on most lookups of an all-rules projection).
        let size = (segments.len() * 4).next_power_of_two().max(16);
        let mut set = PathSet { columns_of, edges: vec![Edge::default(); size], arena: Vec::new(), columns: fields.len(), id: next_path_set_id() };
        for (parent, seg, child) in segments {
            let edge = Edge { fingerprint: fingerprint(seg), parent, child, key_start: set.arena.len() as u32, key_len: seg.len() as u32 };
            set.arena.extend_from_slice(seg);
            let mut i = set.slot(parent, edge.fingerprint);
            while set.edges[i].child != 0 {
                i = (i + 1) & (set.edges.len() - 1);
            }
            set.edges[i] = edge;
        }
        set
    }

    pub fn columns(&self) -> usize {
        self.columns
    }

    #[inline]
    fn slot(&self, parent: u32, fingerprint: u64) -> usize {
        let h = (fingerprint ^ u64::from(parent).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 32) as usize & (self.edges.len() - 1)
    }

    /// The node of `key` (a valid field name, possibly dotted) below `node`, if some
    /// projected field lies there.
    #[inline]
    fn child(&self, node: u32, key: &[u8]) -> Option<u32> {
        let mut n = node;
        for seg in key.split(|&b| b == b'.') {
            n = self.segment(n, seg, fingerprint(seg))?;
        }
        Some(n)
    }

    /// [`Self::child`] for a key without dots, whose [`fingerprint`] is `fp`.
    #[inline(always)]
    fn segment(&self, node: u32, key: &[u8], fp: u64) -> Option<u32> {
        let mask = self.edges.len() - 1;
        let mut i = self.slot(node, fp);
        loop {
            let e = &self.edges[i];
            if e.child == 0 {
                return None;
            }
            // Byte loop, not `==`: segments are short, and a `memcmp` call costs more than
            // the comparison. Equal fingerprints mean equal lengths.
            if e.fingerprint == fp && e.parent == node {
                let known = self.arena.get(e.key_start as usize..(e.key_start + e.key_len) as usize).unwrap_or_default();
                if known.len() == key.len() && known.iter().zip(key).all(|(a, b)| a == b) {
                    return Some(e.child);
                }
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn column(&self, node: Option<u32>) -> Option<u32> {
        node.and_then(|n| self.columns_of[n as usize])
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
    /// Unescaped keys that had escapes (most keys are compared in the line itself).
    keys: Vec<u8>,
    /// Keys of the objects being parsed, for duplicate detection.
    key_refs: Vec<KeyRef>,
    plain: plain::PlainState,
}

/// Where a key's text is: the line, or (escaped keys) the scanner's key buffer.
#[derive(Debug, Clone, Copy)]
struct KeyRef {
    start: u32,
    end: u32,
    unescaped: bool,
    /// Length and first bytes: unequal fingerprints mean unequal keys, so duplicate
    /// detection compares bytes only for the rare look-alikes.
    fingerprint: u64,
}

/// See [`KeyRef::fingerprint`]: length, first, middle and last byte.
#[inline]
fn fingerprint(key: &[u8]) -> u64 {
    match key {
        [] => 0,
        [first, .., last] | [first @ last] => key.len() as u64 | (*first as u64) << 32 | (key[key.len() / 2] as u64) << 40 | (*last as u64) << 48,
    }
}

impl KeyRef {
    #[inline]
    fn text<'a>(&self, line: &'a [u8], keys: &'a [u8]) -> &'a [u8] {
        let src = if self.unescaped { keys } else { line };
        &src[self.start as usize..self.end as usize]
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

/// Boxed inside the scanner: errors are rare, and a one-word error keeps every `Result`
/// of the hot path in registers.
type R<T> = Result<T, Box<JsonError>>;

fn syntax(offset: usize, what: &'static str) -> Box<JsonError> {
    Box::new(JsonError::Syntax { offset, what })
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
    pub fn scan<S: ValueSink + ?Sized>(&mut self, line: &[u8], paths: &PathSet, sink: &mut S) -> Result<(), JsonError> {
        self.scan_line(line, paths, sink).map_err(|e| *e)
    }

    /// Lines accepted so far on their shape alone (the fast path's shape cache).
    pub fn lines_read_by_shape(&self) -> u64 {
        self.plain.shapes.hits
    }

    /// [`Self::scan`] without the fast path ([`plain`]): the reference it is tested
    /// against.
    ///
    /// # Errors
    /// As [`Self::scan`].
    pub fn scan_general<S: ValueSink + ?Sized>(&mut self, line: &[u8], paths: &PathSet, sink: &mut S) -> Result<(), JsonError> {
        if simdutf8::basic::from_utf8(line).is_err() {
            return Err(JsonError::NotUtf8);
        }
        self.scan_general_utf8(line, paths, sink).map_err(|e| *e)
    }

    fn scan_line<S: ValueSink + ?Sized>(&mut self, line: &[u8], paths: &PathSet, sink: &mut S) -> R<()> {
        if simdutf8::basic::from_utf8(line).is_err() {
            return Err(JsonError::NotUtf8.into());
        }
        if self.scan_plain(line, paths, sink) {
            return Ok(());
        }
        self.scan_general_utf8(line, paths, sink)
    }

    fn scan_general_utf8<S: ValueSink + ?Sized>(&mut self, line: &[u8], paths: &PathSet, sink: &mut S) -> R<()> {
        self.keys.clear();
        self.key_refs.clear();
        let mut c = Cursor { b: line, i: 0 };
        c.ws();
        if c.peek() != Some(b'{') {
            return Err(JsonError::NotAnObject.into());
        }
        self.value(&mut c, paths, Some(ROOT), sink, 0)?;
        c.ws();
        if c.i != line.len() {
            return Err(syntax(c.i, "trailing characters after the object"));
        }
        Ok(())
    }

    fn value<S: ValueSink + ?Sized>(&mut self, c: &mut Cursor, paths: &PathSet, at: Option<u32>, sink: &mut S, depth: usize) -> R<()> {
        c.ws();
        match c.peek() {
            Some(b'{') => {
                if depth >= MAX_DEPTH {
                    return Err(JsonError::TooDeep.into());
                }
                self.object(c, paths, at, sink, depth + 1)
            }
            Some(b'[') => {
                if depth >= MAX_DEPTH {
                    return Err(JsonError::TooDeep.into());
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
                let column = paths.column(at);
                let v = self.string(c, column.is_some())?;
                if let (Some(col), Some(v)) = (column, v) {
                    sink.value(col, v, &self.side);
                }
                Ok(())
            }
            Some(b't') => c.literal(b"true").map(|(s, e)| record(paths.column(at), sink, s, e, &self.side)),
            Some(b'f') => c.literal(b"false").map(|(s, e)| record(paths.column(at), sink, s, e, &self.side)),
            Some(b'n') => c.literal(b"null").map(|_| ()),
            Some(b'-' | b'0'..=b'9') => c.number().map(|(s, e)| record(paths.column(at), sink, s, e, &self.side)),
            Some(_) => Err(syntax(c.i, "expected a JSON value")),
            None => Err(syntax(c.i, "unexpected end of line")),
        }
    }

    fn object<S: ValueSink + ?Sized>(&mut self, c: &mut Cursor, paths: &PathSet, at: Option<u32>, sink: &mut S, depth: usize) -> R<()> {
        c.i += 1; // '{'
        let keys_base = self.key_refs.len();
        // Fingerprints of this object's first keys, one bit each: a new key is compared
        // with the earlier ones only when its bit is already set.
        let mut seen: u64 = 0;
        let keys_bytes_base = self.keys.len();
        let line = c.b;
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
            let quote = c.i;
            let (end, escaped, dot_seen) = scan_key(c)?;
            let key = if escaped {
                // Keys are compared unescaped (`"\u0061"` duplicates `"a"`).
                let start = self.keys.len();
                read_string_into(&mut Cursor { b: line, i: quote }, &mut self.keys)?;
                KeyRef { start: start as u32, end: self.keys.len() as u32, unescaped: true, fingerprint: 0 }
            } else {
                KeyRef { start: quote as u32 + 1, end: end as u32, unescaped: false, fingerprint: 0 }
            };
            let text = key.text(line, &self.keys);
            let fp = fingerprint(text);
            if self.repeats_early_key(line, keys_base, &mut seen, text, fp) {
                return Err(duplicate_key(text));
            }
            self.key_refs.push(KeyRef { fingerprint: fp, ..key });
            // Most keys of nested JSON are one segment: no dot, so no splitting. An escaped
            // key may spell a dot as `\u002e`: its unescaped text is searched.
            let dotted = if escaped { text.contains(&b'.') } else { dot_seen };
            if text.is_empty() || (dotted && !valid_field_name(text)) {
                return Err(JsonError::BadFieldName { key: String::from_utf8_lossy(text).into_owned() }.into());
            }
            let child = at.and_then(|n| if dotted { paths.child(n, text) } else { paths.segment(n, text, fp) });
            c.ws();
            if c.next() != Some(b':') {
                return Err(syntax(c.i.saturating_sub(1), "expected ':' after key"));
            }
            c.ws();
            // Most values are strings: read them here, without a call into `value`.
            if c.peek() == Some(b'"') {
                let column = paths.column(child);
                if let (Some(col), Some(v)) = (column, self.string(c, column.is_some())?) {
                    sink.value(col, v, &self.side);
                }
            } else {
                self.value(c, paths, child, sink, depth)?;
            }
            c.ws();
            match c.next() {
                Some(b',') => continue,
                Some(b'}') => break,
                _ => return Err(syntax(c.i.saturating_sub(1), "expected ',' or '}' in object")),
            }
        }
        self.check_duplicates(line, keys_base)?;
        self.key_refs.truncate(keys_base);
        self.keys.truncate(keys_bytes_base);
        Ok(())
    }

    /// Whether `key` (fingerprint `fp`) repeats one of the first [`SMALL_OBJECT`] keys of
    /// the object whose keys start at `base`; `seen` holds their fingerprint bits, and
    /// gets this key's. Later keys are checked at the object's end
    /// ([`Self::check_duplicates`]).
    #[inline(always)]
    fn repeats_early_key(&self, line: &[u8], base: usize, seen: &mut u64, key: &[u8], fp: u64) -> bool {
        if self.key_refs.len() - base >= SMALL_OBJECT {
            return false;
        }
        let bit = 1u64 << (fp.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58);
        let repeated = *seen & bit != 0 && self.key_refs[base..].iter().any(|k| k.fingerprint == fp && k.text(line, &self.keys) == key);
        *seen |= bit;
        repeated
    }

    /// Duplicate keys of an object with more than [`SMALL_OBJECT`] keys (its first keys
    /// were already checked one by one): sorted, so any number of keys costs n log n.
    #[inline(always)]
    fn check_duplicates(&mut self, line: &[u8], base: usize) -> R<()> {
        if self.key_refs.len() - base <= SMALL_OBJECT {
            return Ok(());
        }
        self.sort_and_check_duplicates(line, base)
    }

    #[inline(never)]
    fn sort_and_check_duplicates(&mut self, line: &[u8], base: usize) -> R<()> {
        let refs = &mut self.key_refs[base..];
        let keys = &self.keys;
        let get = |k: &KeyRef| k.text(line, keys);
        refs.sort_unstable_by(|a, b| get(a).cmp(get(b)));
        for w in refs.windows(2) {
            if get(&w[0]) == get(&w[1]) {
                return Err(duplicate_key(get(&w[0])));
            }
        }
        Ok(())
    }

    /// Parse a string value; return where its text is when `want`.
    #[inline(always)]
    fn string(&mut self, c: &mut Cursor, want: bool) -> R<Option<ValueRef>> {
        // Most strings have no escape: they end on their first special byte, a quote.
        let start = c.i + 1;
        if let Some(end) = find_string_special(c.b, start).filter(|&p| c.b[p] == b'"') {
            c.i = end + 1;
            return Ok(want.then_some(ValueRef::Line(start as u32, end as u32)));
        }
        self.string_with_escapes(c, want)
    }

    /// [`Self::string`] beyond its first run: escapes, or an error to report.
    #[inline(never)]
    fn string_with_escapes(&mut self, c: &mut Cursor, want: bool) -> R<Option<ValueRef>> {
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

fn duplicate_key(key: &[u8]) -> Box<JsonError> {
    Box::new(JsonError::DuplicateKey { key: String::from_utf8_lossy(key).into_owned() })
}

fn record<S: ValueSink + ?Sized>(column: Option<u32>, sink: &mut S, s: usize, e: usize, side: &[u8]) {
    if let Some(col) = column {
        sink.value(col, ValueRef::Line(s as u32, e as u32), side);
    }
}

/// Elasticsearch refuses empty field names and names with an empty dotted segment.
fn valid_field_name(k: &[u8]) -> bool {
    !k.is_empty() && k[0] != b'.' && k[k.len() - 1] != b'.' && !k.windows(2).any(|w| w == b"..")
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
        let Some(pos) = find_string_special(c.b, c.i) else {
            return Err(syntax(start, "unterminated string"));
        };
        c.i = pos;
        match c.b[pos] {
            b'"' => {
                c.i += 1;
                return Ok((pos, escaped));
            }
            b'\\' => {}
            _ => return Err(syntax(pos, "control character inside a string")),
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

/// [`scan_string`] for a key, also telling whether it contains a `.` (meaningful only
/// when it has no escapes). Plain keys end on their first quote, found in the same pass
/// as the dots; others go through [`scan_string`] from the start, so errors are the same.
#[inline]
fn scan_key(c: &mut Cursor) -> R<(usize, bool, bool)> {
    let mut dotted = false;
    if let Some(pos) = find_key_end(c.b, c.i + 1, &mut dotted) {
        if c.b[pos] == b'"' {
            c.i = pos + 1;
            return Ok((pos, false, dotted));
        }
    }
    let (end, escaped) = scan_string(c)?;
    Ok((end, escaped, false))
}

/// [`find_string_special`], also setting `dotted` when a `.` lies before the byte found.
#[inline]
fn find_key_end(b: &[u8], from: usize, dotted: &mut bool) -> Option<usize> {
    let mut i = from;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: as in `find_string_special`.
        unsafe {
            let dot = _mm_set1_epi8(b'.' as i8);
            while i + 16 <= b.len() {
                let x = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
                let mask = special_bits(x);
                let dots = _mm_movemask_epi8(_mm_cmpeq_epi8(x, dot)) as u32;
                if mask != 0 {
                    let at = mask.trailing_zeros();
                    *dotted |= dots & ((1u32 << at) - 1) != 0;
                    return Some(i + at as usize);
                }
                *dotted |= dots != 0;
                i += 16;
            }
        }
    }
    for (j, &x) in b.iter().enumerate().skip(i) {
        if is_special(x) {
            return Some(j);
        }
        *dotted |= x == b'.';
    }
    None
}

/// The first byte at or after `from` that ends a plain run inside a JSON string: a quote,
/// a backslash or a control character (which JSON forbids unescaped).
///
/// Why hand-written: most strings in an event are short, where one 16-byte compare beats
/// a `memchr2` call plus a second pass for control characters (see the decode bench).
#[inline(always)]
fn find_string_special(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline, and every load reads the 16 bytes
        // `b[i..i + 16]`, which the loop condition keeps in bounds.
        unsafe {
            while i + 16 <= b.len() {
                let x = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
                let mask = special_bits(x);
                if mask != 0 {
                    return Some(i + mask.trailing_zeros() as usize);
                }
                i += 16;
            }
        }
    }
    b[i.min(b.len())..].iter().position(|&x| is_special(x)).map(|p| i + p)
}

/// A byte that ends a plain run inside a JSON string.
#[inline(always)]
fn is_special(x: u8) -> bool {
    x == b'"' || x == b'\\' || x < 0x20
}

/// One bit per byte of `x` that [`is_special`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn special_bits(x: std::arch::x86_64::__m128i) -> u32 {
    use std::arch::x86_64::*;
    let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
    let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
    // x <= 0x1F (unsigned) exactly when min(x, 0x1F) == x.
    let control = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1F)), x);
    _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
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
        assert_eq!(v, vec![(0, "info".into()), (0, "start".into()), (1, "12345".into()), (2, "true".into()), (4, "bash/x".into())]);
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

    /// Duplicate keys are found in objects of any size, among keys that look alike
    /// (same length, first, middle and last byte), written escaped or not; distinct keys
    /// and equal keys in different objects are accepted. Reference: a set of the keys.
    #[test]
    fn duplicates_found_at_any_object_size() {
        // Same fingerprint, different text: "a0b0c", "a1b1c", …
        let key = |i: usize| format!("a{}b{}c", i % 10, i / 10);
        let mut s = Scanner::new();
        let paths = PathSet::new(&["a0b0c", "x.a1b1c"]);
        for n in 1..40 {
            let keys: Vec<String> = (0..n).map(key).collect();
            let object = |ks: &[String]| format!("{{{}}}", ks.iter().map(|k| format!("\"{k}\":{{\"in\":1}}")).collect::<Vec<_>>().join(","));
            assert!(s.scan(object(&keys).as_bytes(), &paths, &mut Collect::default()).is_ok(), "{n} distinct keys refused");
            let nested = format!("{{\"x\":{},\"y\":{}}}", object(&keys), object(&keys));
            assert!(s.scan(nested.as_bytes(), &paths, &mut Collect::default()).is_ok(), "{n} keys in two objects refused");
            for (i, j) in [(0, n), (n / 2, n), (n - 1, n)] {
                let mut with_dup = keys.clone();
                with_dup.insert(j, keys[i].clone());
                let got = s.scan(object(&with_dup).as_bytes(), &paths, &mut Collect::default());
                assert_eq!(got, Err(JsonError::DuplicateKey { key: keys[i].clone() }), "{n} keys, key {i} again at {j}");
                // The same duplicate, escaped.
                with_dup[j] = with_dup[j].replacen('a', "\\u0061", 1);
                assert!(
                    matches!(s.scan(object(&with_dup).as_bytes(), &paths, &mut Collect::default()), Err(JsonError::DuplicateKey { .. })),
                    "{n} keys, escaped"
                );
            }
        }
    }

    /// A dot in a key is found at every position and key length (the first 16 bytes are
    /// searched in one vector, later ones in the next), also when written `\u002e`: a
    /// dotted key resolves as its path, and a dot at either end is refused.
    #[test]
    fn dotted_keys_found_at_any_length() {
        let mut s = Scanner::new();
        for len in 1..=40usize {
            for dot in (0..len).map(Some).chain([None]) {
                let key: String = (0..len).map(|i| if Some(i) == dot { '.' } else { char::from(b'a' + (i % 26) as u8) }).collect();
                let paths = PathSet::new(&[key.as_str()]);
                for spelled in [key.clone(), key.replace('.', "\\u002e")] {
                    let line = format!("{{\"{spelled}\":\"v\"}}");
                    let mut got = Collect::default();
                    let r = s.scan(line.as_bytes(), &paths, &mut got);
                    if dot == Some(0) || dot == Some(len - 1) {
                        assert_eq!(r, Err(JsonError::BadFieldName { key: key.clone() }), "{line}");
                    } else {
                        assert_eq!(r, Ok(()), "{line}");
                        assert_eq!(got.0.len(), 1, "{line}: value not projected");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// Projected values are those of a straightforward reference: serde_json's tree,
        /// walked with every dotted path joined, arrays flattened and nulls dropped.
        #[test]
        fn projection_matches_a_tree_walk(
            doc in proptest::collection::btree_map("[ab]{1,2}(\\.[ab]{1,2})?", proptest::collection::btree_map("[ab.]{1,3}", "[xyz]{0,2}|\\{\"[ab]\":\"v\"\\}|\\[\"[xy]\",null\\]", 0..4), 0..5),
            top in proptest::collection::btree_map("[ab]{1,2}", "[xyz]{0,2}", 0..3),
            fields in proptest::collection::vec("[ab]{1,2}(\\.[ab]{1,2}){0,2}", 1..6),
        ) {
            let scalar = |v: &String| if v.starts_with('{') || v.starts_with('[') { v.clone() } else { format!("\"{v}\"") };
            let nested = doc.iter().map(|(k, inner)| format!("\"{k}\":{{{}}}", inner.iter().map(|(ik, v)| format!("\"{ik}\":{}", scalar(v))).collect::<Vec<_>>().join(",")));
            let flat = top.iter().filter(|(k, _)| !doc.contains_key(*k)).map(|(k, v)| format!("\"{k}\":{}", scalar(v)));
            let line = format!("{{{}}}", nested.chain(flat).collect::<Vec<_>>().join(","));
            let mut fields = fields;
            fields.sort();
            fields.dedup();
            let field_refs: Vec<&str> = fields.iter().map(String::as_str).collect();
            let got = values(&line, &field_refs);
            let Ok(tree) = serde_json::from_str::<serde_json::Value>(&line) else { unreachable!("generated JSON parses") };
            // Elasticsearch refuses empty and doubled dots, and the flattened duplicates
            // are the scanner's to refuse; compare only documents both accept.
            let mut flat: Vec<(String, String)> = Vec::new();
            fn walk(path: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
                match v {
                    serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| walk(&if path.is_empty() { k.clone() } else { format!("{path}.{k}") }, v, out)),
                    serde_json::Value::Array(a) => a.iter().for_each(|v| walk(path, v, out)),
                    serde_json::Value::Null => {}
                    serde_json::Value::String(s) => out.push((path.to_string(), s.clone())),
                    other => out.push((path.to_string(), other.to_string())),
                }
            }
            walk("", &tree, &mut flat);
            let bad_name = |p: &str| p.split('.').any(str::is_empty);
            if let Ok(mut got) = got {
                let mut want: Vec<(u32, String)> = flat.iter().filter_map(|(p, v)| fields.iter().position(|f| f == p).map(|i| (i as u32, v.clone()))).collect();
                got.sort();
                want.sort();
                proptest::prop_assert_eq!(got, want, "line {}", line);
            } else {
                proptest::prop_assert!(doc.keys().chain(doc.values().flat_map(|m| m.keys())).any(|k| bad_name(k)), "refused {}", line);
            }
        }
    }

    /// A member name: mostly short and valid (so duplicates and projected paths are
    /// common), sometimes dotted, sometimes one Elasticsearch refuses.
    fn json_key() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![6 => "[ab]{1,2}", 1 => "[ab]\\.[ab]", 1 => "[ab.]{0,3}"]
    }

    /// A JSON value as text: small keys, every scalar kind, nesting.
    fn json_value() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            "[a-c.]{0,3}".prop_map(|s| format!("\"{s}\"")),
            "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,2})?([eE][+-]?[0-9])?",
            Just("true".to_owned()),
            Just("false".to_owned()),
            Just("null".to_owned()),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                proptest::collection::vec((json_key(), inner.clone()), 0..5)
                    .prop_map(|members| format!("{{{}}}", members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(","))),
                proptest::collection::vec(inner, 0..4).prop_map(|items| format!("[{}]", items.join(","))),
            ]
        })
    }

    proptest::proptest! {
        /// The fast path (`plain`) answers exactly as the general scanner does alone: the
        /// same values in the same order, or the same error. Documents are generated, then
        /// up to three bytes are inserted, replaced or removed (spaces, tabs, backslashes,
        /// quotes, structural bytes), so lines of both kinds and every error are reached.
        #[test]
        fn fast_path_answers_as_the_general_scanner(
            members in proptest::collection::vec((json_key(), json_value()), 0..6),
            edits in proptest::collection::vec((0usize..400, 0usize..3, proptest::sample::select(b" \t\\\"{}[]:,.a0".to_vec())), 0..4),
        ) {
            let mut line: Vec<u8> = format!("{{{}}}", members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(",")).into_bytes();
            for (at, op, byte) in edits {
                let at = at % (line.len() + 1);
                match op {
                    0 => line.insert(at, byte),
                    1 if at < line.len() => line[at] = byte,
                    _ if at < line.len() => { line.remove(at); }
                    _ => {}
                }
            }
            let paths = PathSet::new(&["a", "b", "a.b", "b.a", "ab", "a.a.b"]);
            let (mut fast, mut general) = (Collect::default(), Collect::default());
            let got = Scanner::new().scan(&line, &paths, &mut fast);
            let want = Scanner::new().scan_general(&line, &paths, &mut general);
            proptest::prop_assert_eq!(&got, &want, "line {}", String::from_utf8_lossy(&line));
            proptest::prop_assert_eq!(fast.0, general.0, "line {}", String::from_utf8_lossy(&line));
        }
    }

    /// A JSON value as text whose scalars are all `\u{1}`: a shape to fill in.
    fn json_template() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let leaf = prop_oneof![4 => Just("\u{1}".to_owned()), 1 => Just("null".to_owned()), 1 => Just("true".to_owned())];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                proptest::collection::vec((json_key(), inner.clone()), 0..5)
                    .prop_map(|members| format!("{{{}}}", members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(","))),
                proptest::collection::vec(inner, 0..4).prop_map(|items| format!("[{}]", items.join(","))),
            ]
        })
    }

    /// A scalar to put in a template: mostly valid strings and numbers, sometimes a value
    /// of another kind, or one that is not JSON or not plain.
    fn template_scalar() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            6 => "[a-c.:,{}\\[\\] é]{0,4}".prop_map(|s| format!("\"{s}\"")),
            4 => "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,2})?([eE][+-]?[0-9])?",
            1 => proptest::sample::select(vec!["true", "false", "null", "{}", "[]", "[1]", "01", "1.", "-", "1e", "\"a\"b\"", "\"a\\\\b\"", "\"a", "tru", "1 ", " 1", "\"\\u0041\""]).prop_map(str::to_owned),
        ]
    }

    proptest::proptest! {
        /// Lines of one shape with other values, read by one scanner (so all but the
        /// first may be answered from its shape cache), answer exactly as the general
        /// scanner does alone: the same values in the same order, or the same error.
        #[test]
        fn shape_cache_answers_as_the_general_scanner(
            templates in proptest::collection::vec(proptest::collection::vec((json_key(), json_template()), 0..6), 1..3),
            fills in proptest::collection::vec((0usize..2, proptest::collection::vec(template_scalar(), 1..12)), 1..12),
        ) {
            let templates: Vec<String> = templates.iter().map(|members| format!("{{{}}}", members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(","))).collect();
            let paths = PathSet::new(&["a", "b", "a.b", "b.a", "ab", "a.a.b"]);
            let mut scanner = Scanner::new();
            for (which, scalars) in fills {
                let mut next = scalars.iter().cycle();
                let line: String = templates[which % templates.len()].split('\u{1}').enumerate().fold(String::new(), |mut line, (i, piece)| {
                    if i > 0 {
                        line.push_str(next.next().map_or("0", String::as_str));
                    }
                    line.push_str(piece);
                    line
                });
                let (mut fast, mut general) = (Collect::default(), Collect::default());
                // As between batches: side-buffer offsets then compare equal.
                scanner.side.clear();
                let got = scanner.scan(line.as_bytes(), &paths, &mut fast);
                let want = Scanner::new().scan_general(line.as_bytes(), &paths, &mut general);
                proptest::prop_assert_eq!(&got, &want, "line {}", line);
                proptest::prop_assert_eq!(fast.0, general.0, "line {}", line);
            }
        }
    }

    /// The shape cache answers lines of a known shape, and only those; a line of another
    /// projection's shape is not answered from it.
    #[test]
    fn known_shapes_are_read_from_the_cache() {
        let paths = PathSet::new(&["process.name", "process.pid", "b"]);
        let base = r#"{"process":{"name":"bash","pid":107,"args":["-c","id"]},"b":true,"n":null}"#;
        let mut s = Scanner::new();
        let read = |s: &mut Scanner, line: &str, paths: &PathSet| {
            let mut got = Collect::default();
            let hits = s.plain.shapes.hits;
            let r = s.scan(line.as_bytes(), paths, &mut got);
            (r, got.0, s.plain.shapes.hits > hits)
        };
        assert_eq!(read(&mut s, base, &paths).2, false, "first line of a shape");
        let line = base.replace("bash", "zsh -x").replace("107", "-1.5e3");
        let (r, got, hit) = read(&mut s, &line, &paths);
        assert_eq!((r, hit), (Ok(()), true));
        let at = |text: &str| line.find(text).map(|p| (p as u32, (p + text.len()) as u32)).unwrap();
        let [(a, b), (c, d), (e, f)] = [at("zsh -x"), at("-1.5e3"), at("true")];
        assert_eq!(got, vec![(0, ValueRef::Line(a, b)), (1, ValueRef::Line(c, d)), (2, ValueRef::Line(e, f))]);
        for other in [base.replace("true", "false"), base.replace("\"id\"", "\"id\",\"x\""), base.replace("null", "1"), base.replace("107", "\"107\"")] {
            assert_eq!(read(&mut s, &other, &paths), (Ok(()), read(&mut Scanner::new(), &other, &paths).1, false), "{other}");
        }
        let (r, _, hit) = read(&mut s, &base.replace("107", "0107"), &paths);
        assert!(r.is_err() && !hit);
        let other_paths = PathSet::new(&["process.name"]);
        let (_, got, hit) = read(&mut s, base, &other_paths);
        assert_eq!((got.len(), hit), (1, false));
    }

    /// Shapes parting at one node are kept up to a bound; more are read the slow way
    /// (same answers) and, once many were refused, the cache starts over and learns the
    /// stream's current shapes.
    #[test]
    fn shape_cache_is_bounded_and_starts_over() {
        let paths = PathSet::new(&["v"]);
        let mut s = Scanner::new();
        let line = |k: usize| format!("{{\"k{k}\":1,\"v\":\"x\"}}");
        let read = |s: &mut Scanner, k: usize| {
            let hits = s.plain.shapes.hits;
            let mut got = Collect::default();
            assert_eq!(s.scan(line(k).as_bytes(), &paths, &mut got), Ok(()));
            assert_eq!(got.0.len(), 1);
            s.plain.shapes.hits > hits
        };
        let mut k = 0;
        // Learn shapes until one is refused: the bound.
        while {
            read(&mut s, k);
            read(&mut s, k)
        } {
            k += 1;
        }
        assert!((8..=64).contains(&k), "{k} shapes kept at one node");
        assert!(read(&mut s, 0), "a kept shape is still read from the cache");
        // A stream of ever-new shapes: the cache keeps starting over, so it learns more
        // of them than fit at once.
        let learned = (0..10_000).filter(|j| {
            read(&mut s, 1_000_000 + j);
            read(&mut s, 1_000_000 + j)
        });
        assert!(learned.count() > k, "no new shape learned after the first {k}");
    }

    /// Which lines the fast path takes: plain ones (an Endpoint event, spaces around
    /// structure); not lines with a backslash, a tab or deep nesting, nor broken ones.
    #[test]
    fn plain_lines_take_the_fast_path() {
        let paths = PathSet::new(&["process.name", "event.type", "host.id"]);
        let event = r#"{"@timestamp":"2026-11-02T10:36:35.088Z","event":{"category":["process"],"type":["start"],"sequence":136870},"host":{"id":"E922","os":{"type":"macos"}},"process":{"name":"bash","args":["-c","id"],"pid":107,"exists":true,"parent":null}}"#;
        let spaced = r#" { "process" : { "name" : "bash" } , "x" : [ 1 , 2 ] } "#;
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
        let mut s = Scanner::new();
        for (line, fast) in [
            (event.to_owned(), true),
            (spaced.to_owned(), true),
            (event.replace("bash", "ba\\u0073h"), false),
            (event.replace(':', ":\t"), false),
            (deep, false),
            (event.replace("107", "0107"), false),
            (event.replacen("\"host\"", "\"event\"", 1), false),
        ] {
            let mut got = Collect::default();
            assert_eq!(s.scan_plain(line.as_bytes(), &paths, &mut got), fast, "{line}");
            if fast {
                let mut general = Collect::default();
                assert_eq!(s.scan_general(line.as_bytes(), &paths, &mut general), Ok(()));
                assert_eq!(got.0, general.0, "{line}");
            } else {
                assert!(got.0.is_empty(), "{line}: values reported by a refused fast path");
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
