//! The fast path's shape cache: lines built like an earlier line are read value by value.
//!
//! Why: a stream's events come from a few serializers, each writing the same keys in the
//! same order; from event to event mostly the values change. The walk spends most of its
//! time per key (hashing it, looking it up in the projection, checking it against its
//! siblings for duplicates), and all of that depends only on the line's *shape*: its
//! bytes outside the string and number values. A plain line whose shape equals that of an
//! earlier plain line the walk accepted, and whose values are valid strings and numbers
//! where that line had them, is accepted too, with the same keys, so the same values go
//! to the same columns: only the values need reading.
//!
//! Why this is exact: in a plain line (no backslash, no control byte; checked before)
//! every `"` delimits a string, so a string value ends at its next quote whatever it
//! holds; a number is read by the JSON grammar, greedily, and the shape byte after it was
//! a separator in the accepted line, which no number can swallow. Everything else —
//! keys, nesting, array lengths, `true`/`false`/`null`, spaces — is compared byte for
//! byte. Anything else goes to the walk.
//!
//! Shapes form a tree: a node is the text before one value (ending with the value's
//! opening quote, for strings), that value's kind and its column; a path from the root to
//! an end node is one accepted line's shape, so a match is always one whole earlier shape,
//! never pieces of two (which could repeat a key). Siblings never both match: their paths
//! to here read the same bytes, so the JSON parser is in the same state, and texts that
//! start alike stop at the same value.

use super::plain::find_quote;
use super::Cursor;

/// Nodes and literal bytes kept per scanner: about 100 typical event shapes. Beyond it
/// new shapes are not added; when they keep coming, the tree starts over (see
/// [`REFUSALS_BEFORE_RESET`]), so a stream whose shapes change is followed.
const MAX_NODES: usize = 1 << 14;
const MAX_LITERAL_BYTES: usize = 1 << 20;
/// Lines of a new shape refused for want of room, after which the tree is cleared.
const REFUSALS_BEFORE_RESET: u32 = 4096;
/// Shapes that part at one node: beyond them a new shape is not added there, so lines
/// built to part early (thousands of first keys) cost a bounded search, not one compare
/// per shape known.
const MAX_CHILDREN: u16 = 16;

/// What follows a node's literal text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A string's content, up to its closing quote (the literal ends with the opening one).
    Str,
    /// A number.
    Num,
    /// `true` or `false` of this length, the literal's last bytes: recorded, not read.
    Bool(u8),
    /// Nothing: the line ends with the literal.
    End,
}

pub(super) const NONE: u32 = u32::MAX;

/// What [`Shapes::read`] made of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Read {
    /// A known shape: the values are read.
    Known,
    /// Not a known shape, and there is room for it.
    New,
    /// Not a known shape, and no room where it parts from the known ones: not worth
    /// learning (see [`Shapes::refused`]).
    NoRoom,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    literal_start: u32,
    literal_len: u32,
    kind: Kind,
    /// The column the value goes to, or [`NONE`].
    column: u32,
    first_child: u32,
    next_sibling: u32,
    children: u16,
}

/// A scalar the walk met, as the shape tree needs it: where its text is, what it is and
/// which column (or [`NONE`]) it went to. Strings: the content, between the quotes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scalar {
    pub kind: Kind,
    pub column: u32,
    pub start: u32,
    pub end: u32,
}

/// The shape tree of one projection.
#[derive(Debug, Default)]
pub(super) struct Shapes {
    /// The projection ([`super::PathSet::id`]) the columns are of.
    paths_id: u64,
    /// `nodes[0]` is the root: no literal, its children start the lines.
    nodes: Vec<Node>,
    /// Literal texts, followed by 16 spare bytes so a vector compare may read past one.
    literals: Vec<u8>,
    /// New shapes not added for want of room since the tree last started over.
    refused_since_reset: u32,
    /// Lines read as a known shape.
    pub hits: u64,
}

const PAD: usize = 16;

impl Shapes {
    /// Start over when the projection is another one than the tree's.
    pub fn use_paths(&mut self, paths_id: u64) {
        if self.paths_id != paths_id || self.nodes.is_empty() {
            self.paths_id = paths_id;
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.nodes.clear();
        self.nodes.push(Node { literal_start: 0, literal_len: 0, kind: Kind::End, column: NONE, first_child: NONE, next_sibling: NONE, children: 0 });
        self.literals.clear();
        self.literals.resize(PAD, 0);
        self.refused_since_reset = 0;
    }

    /// Read `line` (plain: no backslash, no byte below 0x20) as a known shape: its
    /// projected values then are in `held` (column, start, end) in line order; otherwise
    /// `held` holds garbage for the caller to clear.
    pub fn read(&mut self, b: &[u8], held: &mut Vec<(u32, u32, u32)>) -> Read {
        let nodes = &self.nodes;
        let mut node = 0usize;
        let mut i = 0usize;
        loop {
            let mut child = nodes[node].first_child;
            let next = loop {
                let Some(n) = nodes.get(child as usize) else {
                    return self.miss(node);
                };
                let len = n.literal_len as usize;
                if self.literal_at(b, i, n) && (!matches!(n.kind, Kind::End) || i + len == b.len()) {
                    break n;
                }
                child = n.next_sibling;
            };
            i += next.literal_len as usize;
            match next.kind {
                Kind::End => {
                    self.hits += 1;
                    return Read::Known;
                }
                Kind::Str => {
                    let Some((close, _)) = find_quote(b, i) else {
                        return self.miss(node);
                    };
                    if next.column != NONE {
                        held.push((next.column, i as u32, close as u32));
                    }
                    i = close + 1;
                }
                Kind::Num => {
                    let mut cursor = Cursor { b, i };
                    let Ok((start, end)) = cursor.number() else {
                        return self.miss(node);
                    };
                    if next.column != NONE {
                        held.push((next.column, start as u32, end as u32));
                    }
                    i = end;
                }
                Kind::Bool(len) => {
                    if next.column != NONE {
                        held.push((next.column, (i - len as usize) as u32, i as u32));
                    }
                }
            }
            node = child as usize;
        }
    }

    /// A line parted from the known shapes below `node`.
    #[inline(never)]
    fn miss(&self, node: usize) -> Read {
        if self.nodes[node].children >= MAX_CHILDREN || self.nodes.len() >= MAX_NODES {
            Read::NoRoom
        } else {
            Read::New
        }
    }

    /// A line of a new shape was not added for want of room; after
    /// [`REFUSALS_BEFORE_RESET`] of them the tree starts over, so shapes that came first do
    /// not keep out the stream's later ones for good.
    pub fn refused(&mut self) {
        self.refused_since_reset += 1;
        if self.refused_since_reset >= REFUSALS_BEFORE_RESET {
            self.clear();
        }
    }

    /// Whether `b[i..]` starts with `n`'s literal.
    #[inline(always)]
    fn literal_at(&self, b: &[u8], i: usize, n: &Node) -> bool {
        let (start, len) = (n.literal_start as usize, n.literal_len as usize);
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::*;
            let blocks = len.div_ceil(16);
            if i + 16 * blocks <= b.len() {
                // SAFETY: SSE2 is part of the x86_64 baseline; the line has the bytes read
                // (checked), and so have the literals: each literal is followed by at
                // least PAD = 16 bytes (the spare ones or later literals), and the last
                // block read ends less than 16 bytes after the literal.
                unsafe {
                    debug_assert!(start + 16 * blocks <= self.literals.len());
                    for k in 0..blocks {
                        let x = _mm_loadu_si128(b.as_ptr().add(i + 16 * k).cast::<__m128i>());
                        let y = _mm_loadu_si128(self.literals.as_ptr().add(start + 16 * k).cast::<__m128i>());
                        let equal = _mm_movemask_epi8(_mm_cmpeq_epi8(x, y)) as u32;
                        let wanted = (1u32 << (len - 16 * k).min(16)) - 1;
                        if equal & wanted != wanted {
                            return false;
                        }
                    }
                    return true;
                }
            }
        }
        b.get(i..i + len).is_some_and(|text| *text == self.literals[start..start + len])
    }

    /// Add the shape of `b`, a line the walk accepted, whose strings, numbers and
    /// projected booleans are `scalars` (in line order).
    pub fn add(&mut self, b: &[u8], scalars: &[Scalar]) {
        if self.nodes.len() + scalars.len() + 1 > MAX_NODES || self.literals.len() + b.len() > MAX_LITERAL_BYTES {
            return self.refused();
        }
        // The literal before each scalar, and where the next literal starts.
        let split = |s: Scalar, from: usize| match s.kind {
            Kind::Str => (from..s.start as usize, s.end as usize + 1),
            Kind::Num | Kind::End => (from..s.start as usize, s.end as usize),
            Kind::Bool(_) => (from..s.end as usize, s.end as usize),
        };
        let end = Scalar { kind: Kind::End, column: NONE, start: b.len() as u32, end: b.len() as u32 };
        let mut ops = scalars.iter().copied().chain([end]);
        let (mut node, mut from) = (0usize, 0usize);
        // Down the known part of the shape, then what is new of it in one go: a path in
        // the tree is only ever a whole shape.
        while let Some(s) = ops.next() {
            let (literal, next) = split(s, from);
            from = next;
            match self.find_child(node, &b[literal.clone()], s.kind, s.column) {
                Some(child) => node = child,
                None if self.nodes[node].children >= MAX_CHILDREN => return self.refused(),
                None => {
                    node = self.push_child(node, &b[literal], s.kind, s.column);
                    for s in ops.by_ref() {
                        let (literal, next) = split(s, from);
                        from = next;
                        node = self.push_child(node, &b[literal], s.kind, s.column);
                    }
                }
            }
        }
    }

    /// The child of `parent` with this literal, kind and column.
    fn find_child(&self, parent: usize, literal: &[u8], kind: Kind, column: u32) -> Option<usize> {
        let mut c = self.nodes[parent].first_child;
        while let Some(n) = self.nodes.get(c as usize) {
            let text = &self.literals[n.literal_start as usize..][..n.literal_len as usize];
            if n.kind == kind && n.column == column && text == literal {
                return Some(c as usize);
            }
            c = n.next_sibling;
        }
        None
    }

    /// A new child of `parent`, first among its siblings: the newest shapes are the
    /// likeliest.
    fn push_child(&mut self, parent: usize, literal: &[u8], kind: Kind, column: u32) -> usize {
        // The spare bytes move behind the new literal.
        let literal_start = self.literals.len() - PAD;
        self.literals.truncate(literal_start);
        self.literals.extend_from_slice(literal);
        self.literals.resize(self.literals.len() + PAD, 0);
        let index = self.nodes.len();
        let first = self.nodes[parent].first_child;
        self.nodes.push(Node {
            literal_start: literal_start as u32,
            literal_len: literal.len() as u32,
            kind,
            column,
            first_child: NONE,
            next_sibling: first,
            children: 0,
        });
        self.nodes[parent].first_child = index as u32;
        self.nodes[parent].children += 1;
        index
    }
}
