//! Decode: a [`Chunk`] of NDJSON lines → an [`EventBatch`] (Arrow) holding only the
//! fields the loaded rules reference.
//!
//! Stateless per chunk, so chunks may decode in parallel. Each projected field becomes a
//! `List<Utf8View>` column: multi-valued fields are natural (Elasticsearch indexes arrays
//! as multiple values of one field, and a document may spell a field both nested and
//! dotted), and the strings are views into the chunk buffer itself when the JSON string
//! has no escapes — zero-copy. Escaped strings are unescaped into one side buffer per
//! batch. Numbers and booleans are kept as their JSON text, which is how Elasticsearch
//! coerces them into keyword fields (`host.id: 12345` joins `"12345"`).
//!
//! Lines go through the byte-level [`precheck`] first: a line that cannot match any stage
//! of any loaded rule is dropped before parsing. Lines that survive are validated strictly
//! ([`json`]); a line Elasticsearch would refuse is reported with its line number and
//! skipped, and the rest of the chunk is unaffected.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::builder::make_view;
use arrow::array::{ArrayRef, ListArray, RecordBatch, StringViewArray};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;

use crate::source::Chunk;

pub mod caseless;
pub mod json;
pub mod precheck;

use json::{JsonError, PathSet, Scanner, ValueRef, ValueSink};
use precheck::{AnchorFilter, Precheck};

/// Keyword fields ignore values longer than this many characters (ECS's `ignore_above`):
/// Elasticsearch keeps them in `_source` but no query sees them.
pub const KEYWORD_IGNORE_ABOVE: usize = 1024;

/// The fields to extract, in column order.
#[derive(Debug, Clone)]
pub struct Projection {
    fields: Vec<String>,
    paths: PathSet,
    ignore_above: Vec<Option<usize>>,
    schema: SchemaRef,
}

impl Projection {
    pub fn new(fields: Vec<String>) -> Self {
        let paths = PathSet::new(&fields);
        let ignore_above = fields.iter().map(|f| ecs_ignore_above(f)).collect();
        let schema = Arc::new(Schema::new(
            fields.iter().map(|f| Field::new(f, DataType::List(Arc::new(Field::new("item", DataType::Utf8View, false))), true)).collect::<Vec<_>>(),
        ));
        Projection { fields, paths, ignore_above, schema }
    }

    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    pub fn column(&self, field: &str) -> Option<usize> {
        self.fields.iter().position(|f| f == field)
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// ECS string fields that are not `keyword` (so have no `ignore_above`): `wildcard` and
/// text fields. Everything else is treated as `keyword` with `ignore_above: 1024`.
///
/// This is a deliberately short list of the ECS fields Elastic's rules query; a field
/// missing here is treated as a keyword, so an over-long value would be hidden.
fn ecs_ignore_above(field: &str) -> Option<usize> {
    const NOT_KEYWORD: &[&str] = &[
        "message",
        "error.message",
        "error.stack_trace",
        "url.full",
        "url.original",
        "registry.data.strings",
        "powershell.file.script_block_text",
        "file.Ext.header_bytes",
    ];
    if field.ends_with("command_line") || NOT_KEYWORD.contains(&field) {
        None
    } else {
        Some(KEYWORD_IGNORE_ABOVE)
    }
}

/// Decode → filter boundary: decoded rows of one chunk.
#[derive(Debug, Clone)]
pub struct EventBatch {
    /// One `List<Utf8View>` column per projected field.
    pub batch: RecordBatch,
    /// The chunk the rows came from; string views point into it.
    pub raw: Bytes,
    /// Byte range of each row's line in `raw` (without the line end).
    pub rows: Vec<Range<u32>>,
    /// 1-based line number of each row in its source.
    pub lines: Vec<u64>,
    /// Position of each row among the chunk's non-blank lines (0-based): the order in
    /// which the events arrived.
    pub arrivals: Vec<u64>,
    /// Source name.
    pub origin: Arc<str>,
}

impl EventBatch {
    pub fn num_rows(&self) -> usize {
        self.rows.len()
    }

    /// The raw JSON of row `i` (a view of the chunk, no copy).
    pub fn raw_row(&self, i: usize) -> Bytes {
        let r = &self.rows[i];
        self.raw.slice(r.start as usize..r.end as usize)
    }
}

/// A line that Elasticsearch would refuse, or that lacks a usable timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    pub origin: Arc<str>,
    pub line: u64,
    pub reason: String,
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.origin, self.line, self.reason)
    }
}

/// What decoding one chunk produced.
#[derive(Debug)]
pub struct Decoded {
    pub batch: EventBatch,
    pub errors: Vec<DataError>,
    /// Non-blank lines seen.
    pub events: u64,
    /// Lines dropped by the pre-check without parsing.
    pub precheck_dropped: u64,
    /// Lines in the chunk, blank ones included.
    pub line_count: u64,
    /// Lines accepted on a known shape (values read, keys not): how well the shape
    /// cache fits the stream.
    pub read_by_shape: u64,
}

/// Per-thread decoder: owns the scanner and builders, reused between chunks.
pub struct Decoder {
    projection: Arc<Projection>,
    precheck: Option<Arc<Precheck>>,
    scanner: Scanner,
    columns: Vec<ColumnBuilder>,
    gate: PrecheckGate,
    /// The chunk-wide first pass, planned on the first chunk (`Some(None)`: no plan).
    anchors: Option<Option<AnchorFilter>>,
    /// Line ends of the chunk when the anchor pass did not find them.
    newlines: Vec<usize>,
}

/// The pre-check only pays when it drops most lines. With many rules loaded it can pass
/// most of them (all 88 macOS rules on the generated corpus: 66 % pass, and replay was
/// 2x faster without it: 30.7k vs 61.6k events/s on one core). So the decoder samples
/// the pass rate and, while it is high, skips the pre-check for a stretch of lines.
/// Skipping it never changes a result: the pre-check only ever drops lines that cannot
/// match, and full evaluation decides the same without it.
///
/// "High" is above half, or above 1/16 when each line is checked with the many-literal
/// automaton ([`Precheck::checks_all_at_once`]), which costs more than the decoding it
/// saves. (All macOS rules pass 49 % of the generated lines. Replaying 20 000 events:
/// 1 115 M instructions with the threshold at half, 1 061 M at 1/16 — the first sample
/// and the anchor planning — and 1 014 M with no pre-check at all.)
#[derive(Debug)]
struct PrecheckGate {
    sampled: u32,
    passed: u32,
    skip_remaining: u32,
    /// The pre-check is skipped when more than `1 / max_pass_inverse` of a sample passes.
    max_pass_inverse: u32,
}

/// Lines per pass-rate sample, and lines to skip after a sample above half passing.
/// (With all macOS rules, the sampled lines' pre-check was 9 % of a 20 000-line replay's
/// instructions at 1 024 lines per 64 Ki; sampling costs little only when it is rare.)
const GATE_SAMPLE: u32 = 256;
const GATE_SKIP: u32 = 256 * 1024;

impl PrecheckGate {
    /// Should this line be pre-checked?
    fn check_next(&mut self) -> bool {
        if self.skip_remaining > 0 {
            self.skip_remaining -= 1;
            return false;
        }
        true
    }

    fn new(precheck: Option<&Precheck>) -> Self {
        let max_pass_inverse = if precheck.is_some_and(Precheck::checks_all_at_once) { 16 } else { 2 };
        PrecheckGate { sampled: 0, passed: 0, skip_remaining: 0, max_pass_inverse }
    }

    fn record(&mut self, passed: bool) {
        self.sampled += 1;
        self.passed += passed as u32;
        if self.sampled == GATE_SAMPLE {
            if self.passed * self.max_pass_inverse > self.sampled {
                self.skip_remaining = GATE_SKIP;
            }
            self.sampled = 0;
            self.passed = 0;
        }
    }
}

#[derive(Default)]
struct ColumnBuilder {
    views: Vec<u128>,
    offsets: Vec<i32>,
}

struct RowSink<'a> {
    columns: &'a mut [ColumnBuilder],
    chunk: &'a [u8],
    line_start: u32,
    ignore_above: &'a [Option<usize>],
}

impl ValueSink for RowSink<'_> {
    #[inline(always)]
    fn value(&mut self, column: u32, value: ValueRef, side: &[u8]) {
        let (data, block, offset) = match value {
            ValueRef::Line(a, b) => {
                let (a, b) = (self.line_start + a, self.line_start + b);
                (&self.chunk[a as usize..b as usize], 0u32, a)
            }
            ValueRef::Side(a, b) => (&side[a as usize..b as usize], 1u32, a),
        };
        if let Some(limit) = self.ignore_above[column as usize] {
            if data.len() > limit && utf16_len(data) > limit {
                return;
            }
        }
        self.columns[column as usize].views.push(make_view(data, block, offset));
    }
}

/// Length in UTF-16 code units, as Java (and so `ignore_above`) counts characters.
fn utf16_len(s: &[u8]) -> usize {
    std::str::from_utf8(s).map(|s| s.encode_utf16().count()).unwrap_or(s.len())
}

impl Decoder {
    pub fn new(projection: Arc<Projection>, precheck: Option<Arc<Precheck>>) -> Self {
        let n = projection.fields.len();
        Decoder {
            gate: PrecheckGate::new(precheck.as_deref()),
            projection,
            precheck,
            scanner: Scanner::new(),
            columns: (0..n).map(|_| ColumnBuilder::default()).collect(),
            anchors: None,
            newlines: Vec::new(),
        }
    }

    /// Decode all lines of `chunk`.
    pub fn decode(&mut self, chunk: &Chunk) -> Decoded {
        let bytes = &chunk.bytes[..];
        self.scanner.side.clear();
        for c in &mut self.columns {
            c.views.clear();
            c.offsets.clear();
            c.offsets.push(0);
        }
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        let mut arrivals = Vec::new();
        let mut errors = Vec::new();
        let mut events = 0u64;
        let mut dropped = 0u64;
        let shape_hits_before = self.scanner.lines_read_by_shape();
        // Offsets of anchor hits: a line with none cannot pass the pre-check.
        let hits: Option<Vec<usize>> = match &self.precheck {
            Some(pc) if self.gate.skip_remaining == 0 => {
                let plan = self.anchors.get_or_insert_with(|| pc.anchor_filter(bytes));
                plan.as_mut().map(|a| a.hits(bytes))
            }
            _ => None,
        };
        // Line ends: found by the anchor pass when it ran, else searched here.
        let newlines: &[usize] = match (&hits, &self.anchors) {
            (Some(_), Some(Some(a))) => a.newlines(),
            _ => {
                self.newlines.clear();
                self.newlines.extend(memchr::memchr_iter(b'\n', bytes));
                &self.newlines
            }
        };
        let mut next_newline = 0usize;
        let mut next_hit = 0usize;
        let mut pos = 0usize;
        // Unnumbered chunks (`first_line` 0) are numbered from 1 within the chunk; only
        // the real first line of an input may start with a byte order mark.
        let numbered_from = chunk.first_line.max(1);
        let mut line_no = numbered_from;
        while pos < bytes.len() {
            let end = newlines.get(next_newline).copied().unwrap_or(bytes.len());
            next_newline += 1;
            let mut start = pos;
            let mut stop = end;
            pos = end + 1;
            let this_line = line_no;
            line_no += 1;
            if this_line == 1 && chunk.first_line == 1 && bytes[start..stop].starts_with(b"\xEF\xBB\xBF") {
                start += 3;
            }
            if stop > start && bytes[stop - 1] == b'\r' {
                stop -= 1;
            }
            let line = &bytes[start..stop];
            if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
                continue;
            }
            events += 1;
            if let Some(pc) = &self.precheck {
                if self.gate.check_next() {
                    // The hits inside this line.
                    let mut in_line = 0..0;
                    if let Some(h) = &hits {
                        while next_hit < h.len() && h[next_hit] < start {
                            next_hit += 1;
                        }
                        if next_hit == h.len() || h[next_hit] >= stop {
                            self.gate.record(false);
                            dropped += 1;
                            continue;
                        }
                        let end = h[next_hit..].iter().position(|&o| o >= stop).map_or(h.len(), |k| next_hit + k);
                        in_line = next_hit..end;
                    }
                    let pass = match (&hits, &self.anchors) {
                        (Some(_), Some(Some(a))) => {
                            let present = a.anchors_at(in_line);
                            match a.lowered().and_then(|l| l.get(start..stop)) {
                                Some(l) => pc.may_match_anchored(l, true, a, present),
                                None => pc.may_match_anchored(line, false, a, present),
                            }
                        }
                        _ => pc.may_match(line),
                    };
                    self.gate.record(pass);
                    if !pass {
                        dropped += 1;
                        continue;
                    }
                }
            }
            let mut sink = RowSink { columns: &mut self.columns, chunk: bytes, line_start: start as u32, ignore_above: &self.projection.ignore_above };
            match self.scanner.scan(line, &self.projection.paths, &mut sink) {
                Ok(()) => {
                    for c in &mut self.columns {
                        c.offsets.push(c.views.len() as i32);
                    }
                    rows.push(start as u32..stop as u32);
                    lines.push(this_line);
                    arrivals.push(events - 1);
                }
                Err(e) => {
                    for c in &mut self.columns {
                        let keep = *c.offsets.last().unwrap_or(&0) as usize;
                        c.views.truncate(keep);
                    }
                    errors.push(DataError { origin: chunk.origin.name.clone(), line: this_line, reason: describe(&e) });
                }
            }
        }
        let batch = self.finish_batch(&chunk.bytes, rows.len());
        Decoded {
            batch: EventBatch { batch, raw: chunk.bytes.clone(), rows, lines, arrivals, origin: chunk.origin.name.clone() },
            errors,
            events,
            precheck_dropped: dropped,
            line_count: line_no - numbered_from,
            read_by_shape: self.scanner.lines_read_by_shape() - shape_hits_before,
        }
    }

    fn finish_batch(&mut self, chunk: &Bytes, num_rows: usize) -> RecordBatch {
        let buffers: Arc<[Buffer]> = Arc::from(vec![Buffer::from(chunk.clone()), Buffer::from(std::mem::take(&mut self.scanner.side))]);
        let item = Arc::new(Field::new("item", DataType::Utf8View, false));
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for c in &mut self.columns {
            // The buffers go to Arrow; the next batch starts with room for as many values,
            // so a column grows by one allocation per batch instead of a doubling series
            // (with all macOS rules: 828 445 vector growths in 198 129 lines, callgrind).
            let (n_views, n_offsets) = (c.views.len(), c.offsets.len());
            let views = ScalarBuffer::from(std::mem::replace(&mut c.views, Vec::with_capacity(n_views)));
            // SAFETY: every view was made by `make_view` from a UTF-8 slice (the whole line
            // was validated as UTF-8; side-buffer strings are produced by unescaping into
            // UTF-8) lying inside buffer 0 (the chunk) or buffer 1 (the side buffer).
            let values = unsafe { StringViewArray::new_unchecked(views, buffers.clone(), None) };
            let offsets = OffsetBuffer::new(ScalarBuffer::from(std::mem::replace(&mut c.offsets, Vec::with_capacity(n_offsets))));
            let list = ListArray::new(item.clone(), offsets, Arc::new(values), None);
            arrays.push(Arc::new(list));
        }
        let opts = arrow::array::RecordBatchOptions::new().with_row_count(Some(num_rows));
        match RecordBatch::try_new_with_options(self.projection.schema(), arrays, &opts) {
            Ok(b) => b,
            // The schema and arrays are built together above; a mismatch is a bug.
            Err(e) => panic!("internal error: decoded columns do not match the projection schema: {e}"),
        }
    }
}

fn describe(e: &JsonError) -> String {
    format!("malformed event: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Origin;
    use arrow::array::{Array, AsArray};

    fn chunk(s: &[u8]) -> Chunk {
        Chunk { bytes: Bytes::copy_from_slice(s), origin: Origin::new("t"), first_line: 1 }
    }

    fn col_values(b: &EventBatch, col: usize, row: usize) -> Vec<String> {
        let list = b.batch.column(col).as_list::<i32>();
        let v = list.value(row);
        let s = v.as_string_view();
        (0..s.len()).map(|i| s.value(i).to_string()).collect()
    }

    #[test]
    fn decodes_rows_and_reports_errors() {
        let proj = Arc::new(Projection::new(vec!["process.name".into(), "host.id".into()]));
        let mut d = Decoder::new(proj, None);
        let input = b"\xEF\xBB\xBF{\"process\":{\"name\":\"bash\"},\"host.id\":7}\r\n\n{bad\n{\"process.name\":[\"a\",\"a very long value beyond twelve\"]}\n{\"process\":{\"name\":\"c\\u0075rl\"}}";
        let out = d.decode(&chunk(input));
        assert_eq!(out.events, 4);
        assert_eq!(out.batch.num_rows(), 3);
        assert_eq!(out.errors.len(), 1);
        assert_eq!(out.errors[0].line, 3);
        assert_eq!(out.batch.lines, vec![1, 4, 5]);
        assert_eq!(col_values(&out.batch, 0, 0), vec!["bash"]);
        assert_eq!(col_values(&out.batch, 1, 0), vec!["7"]);
        assert_eq!(col_values(&out.batch, 0, 1), vec!["a", "a very long value beyond twelve"]);
        assert_eq!(col_values(&out.batch, 1, 1), Vec::<String>::new());
        assert_eq!(col_values(&out.batch, 0, 2), vec!["curl"]);
        assert!(out.batch.raw_row(0).starts_with(b"{\"process\""));
        // Decoder is reusable.
        let again = d.decode(&chunk(b"{\"host\":{\"id\":\"h\"}}"));
        assert_eq!(col_values(&again.batch, 1, 0), vec!["h"]);
    }

    #[test]
    fn ignore_above_hides_long_keywords() {
        let long = "x".repeat(1025);
        let proj = Arc::new(Projection::new(vec!["process.name".into(), "process.command_line".into()]));
        let mut d = Decoder::new(proj, None);
        let line = format!("{{\"process\":{{\"name\":\"{long}\",\"command_line\":\"{long}\"}}}}");
        let out = d.decode(&chunk(line.as_bytes()));
        assert_eq!(col_values(&out.batch, 0, 0).len(), 0);
        assert_eq!(col_values(&out.batch, 1, 0).len(), 1);
    }
}
