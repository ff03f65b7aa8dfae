//! Compiled stage conditions and their vectorized evaluation over a decoded batch.
//!
//! Elasticsearch turns a field compared with literals into a Query DSL leaf: it matches
//! when **any** value of the (possibly multi-valued) field matches, a missing field
//! matches nothing, and negation (`not`, `!=`, `not in`) is `must_not` — true when the
//! field is missing. So each leaf is two-valued and `Not` is plain boolean negation.
//!
//! Evaluation runs leaf by leaf over whole columns: a leaf tests every value of its
//! column once and folds the results per row through the list offsets; `And`/`Or`/`Not`
//! combine the per-row bitmaps with word-wide bit operations.

use arrow::array::{Array, AsArray, ListArray, StringViewArray};
use arrow::buffer::BooleanBuffer;

use super::pattern::Pattern;
use super::script::{Cidr, Script, Val};

/// A compiled condition over the columns of an [`crate::decode::EventBatch`].
#[derive(Debug, Clone)]
pub enum Predicate {
    True,
    False,
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
    Not(Box<Predicate>),
    /// Any value of `column` passes `test`.
    Leaf {
        column: usize,
        test: ValueTest,
    },
    /// The field has at least one (indexed) value: `field != null`.
    Exists {
        column: usize,
    },
    /// A computed condition (Elasticsearch's script leaf): true only when it evaluates to
    /// true; null and false drop the row.
    Script(Script),
    /// A leaf several stages test (the same field and test): evaluated once per batch and
    /// remembered in a [`LeafMemo`] under `id` (see [`share_repeated_leaves`]).
    Shared {
        id: u32,
        leaf: Box<Predicate>,
    },
}

/// Results of [`Predicate::Shared`] leaves for the batch being filtered, over all rows.
#[derive(Debug, Default)]
pub struct LeafMemo(Vec<Option<RowSet>>);

impl LeafMemo {
    /// A memo for a rule set with `shared` shared leaves.
    pub fn new(shared: usize) -> Self {
        LeafMemo(vec![None; shared])
    }
}

/// Wrap every leaf that occurs more than once among `predicates` (same field, same test)
/// in [`Predicate::Shared`]; returns how many distinct shared leaves there are.
///
/// Why: with many rules loaded, most stages begin by testing the same few fields
/// (`event.category`, `host.os.type`, `event.type`); each such test then runs once per
/// batch instead of once per stage.
pub fn share_repeated_leaves(predicates: &mut [&mut Predicate]) -> usize {
    fn identity(p: &Predicate) -> Option<String> {
        matches!(p, Predicate::Leaf { .. } | Predicate::Exists { .. }).then(|| format!("{p:?}"))
    }
    fn visit(p: &mut Predicate, f: &mut dyn FnMut(&mut Predicate)) {
        match p {
            Predicate::And(ps) | Predicate::Or(ps) => ps.iter_mut().for_each(|p| visit(p, f)),
            Predicate::Not(p) => visit(p, f),
            Predicate::Shared { .. } | Predicate::True | Predicate::False | Predicate::Script(_) => {}
            Predicate::Leaf { .. } | Predicate::Exists { .. } => f(p),
        }
    }
    let mut seen: std::collections::HashMap<String, (usize, Option<u32>)> = std::collections::HashMap::new();
    for p in predicates.iter_mut() {
        visit(p, &mut |leaf| {
            if let Some(k) = identity(leaf) {
                seen.entry(k).or_default().0 += 1;
            }
        });
    }
    let mut next = 0u32;
    for p in predicates.iter_mut() {
        visit(p, &mut |leaf| {
            let Some((count, id)) = identity(leaf).and_then(|k| seen.get_mut(&k)) else { return };
            if *count < 2 {
                return;
            }
            let id = *id.get_or_insert_with(|| {
                next += 1;
                next - 1
            });
            let inner = std::mem::replace(leaf, Predicate::True);
            *leaf = Predicate::Shared { id, leaf: Box::new(inner) };
        });
    }
    next as usize
}

/// A test on one value's text.
#[derive(Debug, Clone)]
pub enum ValueTest {
    /// Matches any of the patterns.
    AnyOf(Vec<Pattern>),
    /// Numeric comparison of the value parsed as a number; unparseable values fail.
    Number { op: NumOp, rhs: f64 },
    /// Byte-wise (UTF-8 code point order) comparison, as Elasticsearch compares keywords.
    Text { op: NumOp, rhs: Box<[u8]> },
    /// Lucene regular expression over the whole value (translated, see `lucene_regex`).
    Regex(Vec<regex::Regex>),
    /// The value is an IP address inside one of the networks (`cidrMatch`).
    Cidr(Vec<Cidr>),
    /// A `date` field compared with a date (RFC 3339 or epoch milliseconds), at
    /// millisecond precision as Elasticsearch's `date` type keeps.
    Date { op: NumOp, rhs_ms: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumOp {
    Eq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl NumOp {
    fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            NumOp::Eq => ord == Equal,
            NumOp::Lt => ord == Less,
            NumOp::LtEq => ord != Greater,
            NumOp::Gt => ord == Greater,
            NumOp::GtEq => ord != Less,
        }
    }
}

impl ValueTest {
    /// Relative per-value cost (see [`Predicate::cost`]).
    pub fn cost(&self) -> u32 {
        match self {
            ValueTest::AnyOf(ps) => ps.iter().map(Pattern::cost).sum::<u32>().max(1),
            ValueTest::Number { .. } | ValueTest::Text { .. } => 3,
            ValueTest::Date { .. } => 10,
            ValueTest::Cidr(cs) => 5 * cs.len() as u32,
            ValueTest::Regex(rs) => 50 * rs.len() as u32,
        }
    }

    /// Patterns, the common test, inline; the others in [`Self::test_other`] (as in
    /// [`Pattern::matches`]).
    #[inline(always)]
    pub fn test(&self, v: &[u8]) -> bool {
        match self {
            ValueTest::AnyOf(ps) => ps.iter().any(|p| p.matches(v)),
            _ => self.test_other(v),
        }
    }

    #[inline(never)]
    fn test_other(&self, v: &[u8]) -> bool {
        match self {
            ValueTest::AnyOf(ps) => ps.iter().any(|p| p.matches(v)),
            ValueTest::Number { op, rhs } => match std::str::from_utf8(v).ok().and_then(|s| s.parse::<f64>().ok()) {
                Some(x) => x.partial_cmp(rhs).is_some_and(|o| op.holds(o)),
                None => false,
            },
            ValueTest::Text { op, rhs } => op.holds(v.cmp(rhs)),
            ValueTest::Regex(rs) => std::str::from_utf8(v).is_ok_and(|s| rs.iter().any(|r| r.is_match(s))),
            ValueTest::Cidr(cs) => std::str::from_utf8(v).is_ok_and(|s| cs.iter().any(|c| c.contains(s))),
            ValueTest::Date { op, rhs_ms } => std::str::from_utf8(v).ok().and_then(crate::engine::parse_timestamp).is_some_and(|t| op.holds(t.cmp(rhs_ms))),
        }
    }
}

impl Predicate {
    /// Evaluate for every row of `columns` (the batch's columns, `num_rows` rows).
    pub fn evaluate(&self, columns: &[&ListArray], num_rows: usize, memo: &mut LeafMemo) -> BooleanBuffer {
        self.evaluate_selected(columns, num_rows, &RowSet::all(num_rows), memo).into_boolean_buffer()
    }

    /// Evaluate only the rows set in `selected`; the result is a subset of `selected`.
    ///
    /// Why: with many rules loaded, most rows fail a stage's first, cheap conjunct (its
    /// event category, say). Testing the expensive conjuncts only on the rows still alive
    /// makes a stage cost what its survivors cost, not what the batch costs.
    fn evaluate_selected(&self, columns: &[&ListArray], num_rows: usize, selected: &RowSet, memo: &mut LeafMemo) -> RowSet {
        match self {
            Predicate::True => selected.clone(),
            Predicate::False => RowSet::none(num_rows),
            Predicate::And(ps) => {
                let mut acc = selected.clone();
                for p in ps {
                    if acc.is_empty() {
                        break;
                    }
                    acc = p.evaluate_selected(columns, num_rows, &acc, memo);
                }
                acc
            }
            Predicate::Or(ps) => {
                let mut acc = RowSet::none(num_rows);
                let mut open = selected.clone();
                for p in ps {
                    if open.is_empty() {
                        break;
                    }
                    let hit = p.evaluate_selected(columns, num_rows, &open, memo);
                    open.remove_all(&hit);
                    acc.insert_all(&hit);
                }
                acc
            }
            Predicate::Not(p) => {
                let mut out = selected.clone();
                out.remove_all(&p.evaluate_selected(columns, num_rows, selected, memo));
                out
            }
            Predicate::Exists { column } => {
                let offs = columns[*column].value_offsets();
                selected.filter(|r| offs[r + 1] > offs[r])
            }
            Predicate::Leaf { column, test } => eval_leaf(columns[*column], test, selected),
            Predicate::Script(s) => {
                let vals = s.eval(columns, num_rows);
                selected.filter(|r| vals[r] == Val::Bool(true))
            }
            Predicate::Shared { id, leaf } => {
                let slot = *id as usize;
                if let Some(all) = memo.0.get(slot).and_then(Option::as_ref) {
                    return selected.intersection(all);
                }
                // Worth computing for every row only when many rows are still alive.
                if selected.count() * 4 < num_rows || slot >= memo.0.len() {
                    return leaf.evaluate_selected(columns, num_rows, selected, memo);
                }
                let all = leaf.evaluate_selected(columns, num_rows, &RowSet::all(num_rows), memo);
                let out = selected.intersection(&all);
                memo.0[slot] = Some(all);
                out
            }
        }
    }

    /// A relative cost of evaluating this condition on one row, for ordering conjuncts
    /// and disjuncts cheapest first. Conditions are pure, so order never changes results.
    pub fn cost(&self) -> u32 {
        match self {
            Predicate::True | Predicate::False => 0,
            Predicate::Exists { .. } => 1,
            Predicate::And(ps) | Predicate::Or(ps) => ps.iter().map(Predicate::cost).sum(),
            Predicate::Not(p) => p.cost(),
            Predicate::Leaf { test, .. } => test.cost(),
            Predicate::Script(_) => 200,
            // Usually already computed for the batch.
            Predicate::Shared { leaf, .. } => leaf.cost().min(1),
        }
    }

    /// Reorder every `and`/`or` cheapest operand first (stable: equal costs keep the
    /// rule's order).
    pub fn cheapest_first(self) -> Predicate {
        match self {
            Predicate::And(ps) => Predicate::And(sorted_by_cost(ps)),
            Predicate::Or(ps) => Predicate::Or(sorted_by_cost(ps)),
            Predicate::Not(p) => Predicate::Not(Box::new(p.cheapest_first())),
            p => p,
        }
    }

    /// Row-at-a-time evaluation over plain values, the reference for the vectorized path.
    pub fn evaluate_row(&self, row: &[Vec<Vec<u8>>]) -> bool {
        match self {
            Predicate::True => true,
            Predicate::False => false,
            Predicate::And(ps) => ps.iter().all(|p| p.evaluate_row(row)),
            Predicate::Or(ps) => ps.iter().any(|p| p.evaluate_row(row)),
            Predicate::Not(p) => !p.evaluate_row(row),
            Predicate::Exists { column } => !row[*column].is_empty(),
            Predicate::Leaf { column, test } => row[*column].iter().any(|v| test.test(v)),
            Predicate::Script(s) => s.eval_row(row) == Val::Bool(true),
            Predicate::Shared { leaf, .. } => leaf.evaluate_row(row),
        }
    }
}

fn sorted_by_cost(ps: Vec<Predicate>) -> Vec<Predicate> {
    let mut ps: Vec<Predicate> = ps.into_iter().map(Predicate::cheapest_first).collect();
    ps.sort_by_key(Predicate::cost);
    ps
}

/// A set of rows of a batch as a plain word bitmap.
///
/// Why not Arrow's `BooleanBuffer`: with many rules, evaluation combines small bitmaps for
/// every leaf of every stage of every batch, and each Arrow operation allocates a
/// 64-byte-aligned buffer and counts bits through a generic chunk iterator. All macOS
/// rules, 198 129 events: 3.8 M aligned allocations, and counting alone cost 1.9 % of
/// the replay's instructions (callgrind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSet {
    words: Vec<u64>,
    len: usize,
}

impl RowSet {
    /// Every row of `len`.
    pub fn all(len: usize) -> Self {
        let mut words = vec![u64::MAX; len.div_ceil(64)];
        if len % 64 != 0 {
            if let Some(last) = words.last_mut() {
                *last = (1u64 << (len % 64)) - 1;
            }
        }
        RowSet { words, len }
    }

    /// No row of `len`.
    pub fn none(len: usize) -> Self {
        RowSet { words: vec![0; len.div_ceil(64)], len }
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn contains(&self, row: usize) -> bool {
        self.words.get(row / 64).is_some_and(|w| w >> (row % 64) & 1 == 1)
    }

    /// The rows, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(k, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(k * 64 + bit)
            })
        })
    }

    /// The rows of `self` for which `keep` holds.
    pub fn filter(&self, mut keep: impl FnMut(usize) -> bool) -> RowSet {
        let mut out = RowSet::none(self.len);
        for r in self.iter() {
            if keep(r) {
                out.words[r / 64] |= 1 << (r % 64);
            }
        }
        out
    }

    pub fn intersection(&self, other: &RowSet) -> RowSet {
        RowSet { words: self.words.iter().zip(&other.words).map(|(a, b)| a & b).collect(), len: self.len }
    }

    pub fn insert_all(&mut self, other: &RowSet) {
        self.words.iter_mut().zip(&other.words).for_each(|(a, b)| *a |= b);
    }

    pub fn remove_all(&mut self, other: &RowSet) {
        self.words.iter_mut().zip(&other.words).for_each(|(a, b)| *a &= !b);
    }

    /// As Arrow's bitmap (the same words, no copy).
    pub fn into_boolean_buffer(self) -> BooleanBuffer {
        BooleanBuffer::new(arrow::buffer::Buffer::from_vec(self.words), 0, self.len)
    }
}

/// A row passes if any of its values passes; only selected rows are tested.
fn eval_leaf(list: &ListArray, test: &ValueTest, selected: &RowSet) -> RowSet {
    let values: &StringViewArray = list.values().as_string_view();
    let offs = list.value_offsets();
    // Values are never null (nulls are dropped at decode).
    selected.filter(|r| (offs[r] as usize..offs[r + 1] as usize).any(|i| test.test(values.value(i).as_bytes())))
}

/// All columns of a batch as list arrays (decode builds them so).
pub fn list_columns(batch: &arrow::array::RecordBatch) -> Vec<&ListArray> {
    batch.columns().iter().map(|c| c.as_list::<i32>()).collect()
}

/// Values of row `row` in column `col`, as strings (views into the batch).
pub fn row_values(list: &ListArray, row: usize) -> impl Iterator<Item = &str> {
    let values: &StringViewArray = list.values().as_string_view();
    let offs = list.value_offsets();
    let (a, b) = (offs[row] as usize, offs[row + 1] as usize);
    (a..b).map(move |i| values.value(i))
}

/// Is `list` null-free (decode never produces null lists)?
pub fn check_list(list: &ListArray) -> bool {
    list.null_count() == 0
}
