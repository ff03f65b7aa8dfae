//! The scanner's fast path for the common line: no backslash and no byte below 0x20
//! anywhere, so every `"` delimits a string, no string needs unescaping or a byte-by-byte
//! check (only for its closing quote), and the only whitespace is the space.
//!
//! Why: the general scanner spends most of its time per key, not per byte, in a
//! recursive descent whose state does not fit in registers. Here one vector pass checks
//! the line, and a loop with its own stack walks the structure.
//!
//! Anything unusual (an error of any kind, deep nesting, an odd byte) makes the line go
//! to the general scanner, which then reports exactly what it always reports. Values are
//! held back until the whole line is known good, so a retried line reports nothing twice.

use super::shape::{Kind, Read, Scalar, Shapes, NONE};
use super::{fingerprint, valid_field_name, Cursor, KeyRef, PathSet, Scanner, ValueRef, ValueSink, ROOT};

/// Deeper lines go to the general scanner (which enforces [`super::MAX_DEPTH`]).
const MAX_PLAIN_DEPTH: usize = 64;

/// An object or array being walked.
#[derive(Debug, Clone, Copy)]
pub(super) struct Frame {
    object: bool,
    /// Projection node of the container (arrays: of each element).
    node: Option<u32>,
    /// Where this object's keys start in the scanner's `key_refs`.
    keys_base: usize,
    /// Fingerprint bits of the object's first keys, as in the general scanner.
    seen: u64,
}

/// The fast path's buffers, kept between lines.
#[derive(Debug, Default)]
pub(super) struct PlainState {
    /// (column, start, end) of each projected value of the line, in order.
    held: Vec<(u32, u32, u32)>,
    frames: Vec<Frame>,
    /// The strings, numbers and projected booleans the walk met, for [`Shapes::add`].
    scalars: Vec<Scalar>,
    pub(super) shapes: Shapes,
}

impl Scanner {
    /// Scan `line` (valid UTF-8) on the fast path. `true`: it is a document and its
    /// values went to `sink`; `false`: nothing was reported, scan it the general way.
    pub(super) fn scan_plain<S: ValueSink + ?Sized>(&mut self, line: &[u8], paths: &PathSet, sink: &mut S) -> bool {
        let mut st = std::mem::take(&mut self.plain);
        st.held.clear();
        st.frames.clear();
        self.key_refs.clear();
        st.shapes.use_paths(paths.id);
        let ok = is_plain(line)
            && match st.shapes.read(line, &mut st.held) {
                Read::Known => true,
                Read::New => self.walk_new_shape::<true>(line, paths, &mut st),
                Read::NoRoom => self.walk_new_shape::<false>(line, paths, &mut st),
            };
        if ok {
            for &(column, start, end) in &st.held {
                sink.value(column, ValueRef::Line(start, end), &self.side);
            }
        }
        self.key_refs.clear();
        self.plain = st;
        ok
    }

    /// [`Self::walk`] for a line of no known shape: with `LEARN` (there is room for it)
    /// its shape is known afterwards; without, the refusal is counted. (Inlined: as a
    /// call it cost lines of ever-new shapes 3.8 % more instructions, callgrind.)
    #[inline(always)]
    fn walk_new_shape<const LEARN: bool>(&mut self, line: &[u8], paths: &PathSet, st: &mut PlainState) -> bool {
        st.held.clear();
        st.scalars.clear();
        let ok = self.walk::<LEARN>(line, paths, st);
        match (ok, LEARN) {
            (true, true) => st.shapes.add(line, &st.scalars),
            (true, false) => st.shapes.refused(),
            (false, _) => {}
        }
        ok
    }

    /// Walk the line's structure; with `LEARN`, also note its scalars for the shape
    /// cache (a second copy of the loop without it: a stream of ever-new shapes must not
    /// pay for what cannot be kept).
    fn walk<const LEARN: bool>(&mut self, b: &[u8], paths: &PathSet, st: &mut PlainState) -> bool {
        let mut i = skip_spaces(b, 0);
        if b.get(i) != Some(&b'{') {
            return false;
        }
        let mut at = Some(ROOT);
        let mut want_key = false;
        loop {
            if want_key {
                // A key: a string, then ':'.
                i = skip_spaces(b, i);
                if b.get(i) != Some(&b'"') {
                    return false;
                }
                let Some((close, dotted)) = find_quote(b, i + 1) else { return false };
                let open = i as u32;
                let key = &b[i + 1..close];
                let close = close as u32;
                let fp = fingerprint(key);
                let Some(top) = st.frames.last_mut() else { return false };
                if self.repeats_early_key(b, top.keys_base, &mut top.seen, key, fp) {
                    return false;
                }
                self.key_refs.push(KeyRef { start: open + 1, end: close, unescaped: false, fingerprint: fp });
                if key.is_empty() || (dotted && !valid_field_name(key)) {
                    return false;
                }
                at = top.node.and_then(|n| if dotted { paths.child(n, key) } else { paths.segment(n, key, fp) });
                i = close as usize + 1;
                if b.get(i) != Some(&b':') {
                    i = skip_spaces(b, i);
                    if b.get(i) != Some(&b':') {
                        return false;
                    }
                }
                i = skip_spaces(b, i + 1);
            }
            // A value at `at`.
            let Some(&c) = b.get(i) else { return false };
            let column = paths.column(at);
            match c {
                b'"' => {
                    let Some((close, _)) = find_quote(b, i + 1) else { return false };
                    if let Some(col) = column {
                        st.held.push((col, i as u32 + 1, close as u32));
                    }
                    if LEARN {
                        st.scalars.push(Scalar { kind: Kind::Str, column: column.unwrap_or(NONE), start: i as u32 + 1, end: close as u32 });
                    }
                    i = close + 1;
                }
                b'{' | b'[' => {
                    if st.frames.len() >= MAX_PLAIN_DEPTH {
                        return false;
                    }
                    let object = c == b'{';
                    st.frames.push(Frame { object, node: at, keys_base: self.key_refs.len(), seen: 0 });
                    i = skip_spaces(b, i + 1);
                    if b.get(i) != Some(if object { &b'}' } else { &b']' }) {
                        // Arrays flatten: every element sits at the array's own path.
                        want_key = object;
                        continue;
                    }
                    i += 1;
                    st.frames.pop();
                }
                _ => {
                    let mut cursor = Cursor { b, i };
                    let scalar = match c {
                        b't' => cursor.literal(b"true"),
                        b'f' => cursor.literal(b"false"),
                        b'n' => cursor.literal(b"null").map(|_| (0, 0)),
                        b'-' | b'0'..=b'9' => cursor.number(),
                        _ => return false,
                    };
                    let Ok((start, end)) = scalar else { return false };
                    if let (Some(col), false) = (column, c == b'n') {
                        st.held.push((col, start as u32, end as u32));
                    }
                    // Unprojected `true`, `false` and `null` are part of the shape's text.
                    let kind = match c {
                        b'n' => None,
                        b't' | b'f' => column.map(|_| Kind::Bool((end - start) as u8)),
                        _ => Some(Kind::Num),
                    };
                    if let (true, Some(kind)) = (LEARN, kind) {
                        st.scalars.push(Scalar { kind, column: column.unwrap_or(NONE), start: start as u32, end: end as u32 });
                    }
                    i = cursor.i;
                }
            }
            // After a value: separators and the ends of containers.
            loop {
                let Some(top) = st.frames.last().copied() else {
                    // The root object is closed: only spaces may follow.
                    return skip_spaces(b, i) == b.len();
                };
                if b.get(i) == Some(&b' ') {
                    i = skip_spaces(b, i);
                }
                match (b.get(i), top.object) {
                    (Some(b','), _) => {
                        i = skip_spaces(b, i + 1);
                        want_key = top.object;
                        at = top.node;
                        break;
                    }
                    (Some(b'}'), true) => {
                        if self.check_duplicates(b, top.keys_base).is_err() {
                            return false;
                        }
                        self.key_refs.truncate(top.keys_base);
                        st.frames.pop();
                        i += 1;
                    }
                    (Some(b']'), false) => {
                        st.frames.pop();
                        i += 1;
                    }
                    _ => return false,
                }
            }
        }
    }
}

/// The first `"` at or after `from` (in a plain line, the end of the string that
/// started before `from`), and whether a `.` comes before it (for keys).
///
/// [`super::find_key_end`] also stops at backslashes and control bytes, which a plain
/// line has none of; testing for them anyway cost 3 % more instructions in an all-rules
/// replay (callgrind, 20 000 events).
#[inline(always)]
pub(super) fn find_quote(b: &[u8], from: usize) -> Option<(usize, bool)> {
    let mut i = from;
    let mut dotted = false;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline, and every load reads the 16 bytes
        // `b[i..i + 16]`, which the loop condition keeps in bounds.
        unsafe {
            while i + 16 <= b.len() {
                let x = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
                let quotes = _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8))) as u32;
                let dots = _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(b'.' as i8))) as u32;
                if quotes != 0 {
                    let at = quotes.trailing_zeros();
                    return Some((i + at as usize, dotted || dots & ((1u32 << at) - 1) != 0));
                }
                dotted |= dots != 0;
                i += 16;
            }
        }
    }
    for (j, &x) in b.iter().enumerate().skip(i) {
        match x {
            b'"' => return Some((j, dotted)),
            b'.' => dotted = true,
            _ => {}
        }
    }
    None
}

#[inline(always)]
fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// Whether `line` has no backslash and no byte below 0x20: the lines this path takes.
fn is_plain(line: &[u8]) -> bool {
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline; every load reads `line[i..i + 16]`
        // (up to `i + 64` per step), which the loop condition keeps in bounds.
        unsafe {
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let below_space = _mm_set1_epi8(0x1F);
            while i + 64 <= line.len() {
                let mut odd = _mm_setzero_si128();
                for k in 0..4 {
                    let x = _mm_loadu_si128(line.as_ptr().add(i + 16 * k).cast::<__m128i>());
                    // x <= 0x1F (unsigned) exactly when min(x, 0x1F) == x.
                    let control = _mm_cmpeq_epi8(_mm_min_epu8(x, below_space), x);
                    odd = _mm_or_si128(odd, _mm_or_si128(control, _mm_cmpeq_epi8(x, backslash)));
                }
                if _mm_movemask_epi8(odd) != 0 {
                    return false;
                }
                i += 64;
            }
        }
    }
    line[i..].iter().all(|&x| x != b'\\' && x >= 0x20)
}
