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
    Leaf { column: usize, test: ValueTest },
    /// The field has at least one (indexed) value: `field != null`.
    Exists { column: usize },
    /// A computed condition (Elasticsearch's script leaf): true only when it evaluates to
    /// true; null and false drop the row.
    Script(Script),
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
    #[inline]
    pub fn test(&self, v: &[u8]) -> bool {
        match self {
            ValueTest::AnyOf(ps) => ps.iter().any(|p| p.matches(v)),
            ValueTest::Number { op, rhs } => match std::str::from_utf8(v).ok().and_then(|s| s.parse::<f64>().ok()) {
                Some(x) => x.partial_cmp(rhs).is_some_and(|o| op.holds(o)),
                None => false,
            },
            ValueTest::Text { op, rhs } => op.holds(v.cmp(rhs)),
            ValueTest::Regex(rs) => std::str::from_utf8(v).is_ok_and(|s| rs.iter().any(|r| r.is_match(s))),
            ValueTest::Cidr(cs) => std::str::from_utf8(v).is_ok_and(|s| cs.iter().any(|c| c.contains(s))),
            ValueTest::Date { op, rhs_ms } => std::str::from_utf8(v)
                .ok()
                .and_then(crate::engine::parse_timestamp)
                .is_some_and(|t| op.holds(t.cmp(rhs_ms))),
        }
    }
}

impl Predicate {
    /// Evaluate for every row of `columns` (the batch's columns, `num_rows` rows).
    pub fn evaluate(&self, columns: &[&ListArray], num_rows: usize) -> BooleanBuffer {
        match self {
            Predicate::True => BooleanBuffer::new_set(num_rows),
            Predicate::False => BooleanBuffer::new_unset(num_rows),
            Predicate::And(ps) => {
                let mut acc = BooleanBuffer::new_set(num_rows);
                for p in ps {
                    if acc.count_set_bits() == 0 {
                        break;
                    }
                    acc = &acc & &p.evaluate(columns, num_rows);
                }
                acc
            }
            Predicate::Or(ps) => {
                let mut acc = BooleanBuffer::new_unset(num_rows);
                for p in ps {
                    acc = &acc | &p.evaluate(columns, num_rows);
                }
                acc
            }
            Predicate::Not(p) => !&p.evaluate(columns, num_rows),
            Predicate::Exists { column } => {
                let list = columns[*column];
                let offs = list.value_offsets();
                BooleanBuffer::collect_bool(num_rows, |r| offs[r + 1] > offs[r])
            }
            Predicate::Leaf { column, test } => eval_leaf(columns[*column], test, num_rows),
            Predicate::Script(s) => {
                let vals = s.eval(columns, num_rows);
                BooleanBuffer::collect_bool(num_rows, |r| vals[r] == Val::Bool(true))
            }
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
        }
    }
}

/// Test each value of the column once, then fold per row: a row passes if any of its
/// values passes.
fn eval_leaf(list: &ListArray, test: &ValueTest, num_rows: usize) -> BooleanBuffer {
    let values: &StringViewArray = list.values().as_string_view();
    let offs = list.value_offsets();
    let first = offs[0] as usize;
    let last = offs[num_rows] as usize;
    let hits = BooleanBuffer::collect_bool(last - first, |i| {
        // Values are never null (nulls are dropped at decode).
        test.test(values.value(first + i).as_bytes())
    });
    if hits.count_set_bits() == 0 {
        return BooleanBuffer::new_unset(num_rows);
    }
    BooleanBuffer::collect_bool(num_rows, |r| {
        let (a, b) = (offs[r] as usize - first, offs[r + 1] as usize - first);
        (a..b).any(|i| hits.value(i))
    })
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
