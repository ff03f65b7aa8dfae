//! The engine: decode → filter → sequence for a rule set, sans-IO.
//!
//! [`Engine::push`] takes one [`Chunk`] and returns the detections it completed;
//! [`Engine::finish`] flushes at end of input. The stages are also usable separately:
//! [`Engine::decode_and_filter`] is stateless (it may run on worker threads) and
//! [`Engine::sequence`] is the ordered, stateful part.

use std::sync::Arc;

use arrow::array::{Array, ListArray};
use arrow::buffer::BooleanBuffer;
use bytes::Bytes;

use crate::decode::{DataError, Decoder, EventBatch};
use crate::filter::predicate::{list_columns, row_values, LeafMemo};
use crate::rule::{RuleSet, RuleShape};
use crate::sequence::{Candidate, Detection, EventRef, Key, Ordinal, SequenceStats, Sequencer};
use crate::source::{Chunk, Origin};

/// Tuning of the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How long (event time) candidates wait for earlier events to arrive.
    pub lateness_ms: i64,
    /// Maximum pending sequences per rule; beyond it the oldest is evicted.
    pub pending_cap: usize,
    /// Use the byte-level pre-check (off only for testing that it changes nothing).
    pub precheck: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { lateness_ms: 5_000, pending_cap: 1_000_000, precheck: true }
    }
}

/// Counters of a run.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Non-blank lines.
    pub events: u64,
    pub bytes: u64,
    /// Lines refused (bad JSON, duplicate keys, no usable timestamp for a matching event).
    pub malformed: u64,
    pub precheck_dropped: u64,
    /// Lines the scanner accepted on a known shape.
    pub read_by_shape: u64,
    /// Stage matches, flattened per rule then stage.
    pub candidates: Vec<u64>,
    pub detections: u64,
    pub sequence: SequenceStats,
}

/// Filter → sequence boundary: the candidates of one batch, per rule, in row order.
#[derive(Debug, Default)]
pub struct Candidates {
    pub per_rule: Vec<Vec<Candidate>>,
    /// Stage match counts, flattened per rule then stage.
    pub stage_matches: Vec<u64>,
    pub errors: Vec<DataError>,
}

/// What [`Engine::decode_and_filter`] produced for one chunk.
#[derive(Debug, Default)]
pub struct Filtered {
    pub candidates: Candidates,
    /// The decoded batch, kept only when asked for (the audit trail's `all` scope).
    pub batch: Option<EventBatch>,
    pub errors: Vec<DataError>,
    pub events: u64,
    pub bytes: u64,
    pub precheck_dropped: u64,
    pub read_by_shape: u64,
    /// The chunk's `first_line` (0: numbered within the chunk) and its number of lines.
    pub first_line: u64,
    pub line_count: u64,
}

impl Filtered {
    /// Make the line numbers of a chunk the reader did not number absolute, given its
    /// first line's number; returns the number of the line after the chunk. Numbered
    /// chunks are left as they are. Called in input order.
    pub fn number_lines(&mut self, first_line: u64) -> u64 {
        if self.first_line != 0 {
            return self.first_line + self.line_count;
        }
        let shift = first_line.saturating_sub(1);
        for e in self.errors.iter_mut().chain(self.candidates.errors.iter_mut()) {
            e.line += shift;
        }
        if let Some(b) = &mut self.batch {
            for l in &mut b.lines {
                *l += shift;
            }
        }
        // An event matching several rules is shared between their candidates: the first
        // `make_mut` gives that candidate its own copy, so each copy shifts exactly once.
        for c in self.candidates.per_rule.iter_mut().flatten() {
            Arc::make_mut(&mut c.event).line += shift;
        }
        self.first_line = first_line;
        first_line + self.line_count
    }
}

pub struct Engine {
    rules: Arc<RuleSet>,
    decoder: Decoder,
    sequencers: Vec<Sequencer>,
    stats: Stats,
    errors: Vec<DataError>,
    next_arrival: u64,
}

impl Engine {
    pub fn new(rules: Arc<RuleSet>, options: EngineOptions) -> Self {
        let precheck = if options.precheck { Some(rules.precheck.clone()) } else { None };
        let decoder = Decoder::new(rules.projection.clone(), precheck);
        let sequencers = rules.rules.iter().enumerate().map(|(i, r)| Sequencer::new(i, r, options.lateness_ms, options.pending_cap)).collect();
        let n_stages = rules.rules.iter().map(|r| r.stages.len()).sum();
        Engine { rules, decoder, sequencers, stats: Stats { candidates: vec![0; n_stages], ..Stats::default() }, errors: Vec::new(), next_arrival: 0 }
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Decode, filter and sequence one chunk.
    pub fn push(&mut self, chunk: &Chunk) -> Vec<Detection> {
        let filtered = decode_and_filter(&self.rules, &mut self.decoder, chunk);
        self.sequence(filtered)
    }

    /// [`Self::push`] with a look at the filtered chunk before it is sequenced (the audit
    /// trail). When `observe` fails the chunk is not sequenced: it can be sent again.
    ///
    /// # Errors
    /// What `observe` returned.
    pub fn push_observed<E>(&mut self, chunk: &Chunk, keep_batch: bool, observe: impl FnOnce(&Filtered) -> Result<(), E>) -> Result<Vec<Detection>, E> {
        let filtered = decode_and_filter_keeping(&self.rules, &mut self.decoder, chunk, keep_batch);
        observe(&filtered)?;
        Ok(self.sequence(filtered))
    }

    /// The unordered part of [`Self::push`]: decode and filter one chunk, to be recorded
    /// and then given to [`Self::sequence`] (chunks in input order).
    pub fn filter(&mut self, chunk: &Chunk, keep_batch: bool) -> Filtered {
        decode_and_filter_keeping(&self.rules, &mut self.decoder, chunk, keep_batch)
    }

    /// The ordered part: feed one chunk's candidates (chunks in input order).
    pub fn sequence(&mut self, f: Filtered) -> Vec<Detection> {
        self.stats.events += f.events;
        self.stats.bytes += f.bytes;
        self.stats.precheck_dropped += f.precheck_dropped;
        self.stats.read_by_shape += f.read_by_shape;
        self.stats.malformed += (f.errors.len() + f.candidates.errors.len()) as u64;
        for (a, b) in self.stats.candidates.iter_mut().zip(&f.candidates.stage_matches) {
            *a += b;
        }
        self.errors.extend(f.errors);
        self.errors.extend(f.candidates.errors);
        let mut out = Vec::new();
        // Arrival numbers are assigned here, in input order, so they do not depend on
        // which thread decoded the chunk or how the input was cut.
        let base = self.next_arrival;
        self.next_arrival += f.events;
        for (rule, cands) in f.candidates.per_rule.into_iter().enumerate() {
            for mut c in cands {
                c.ordinal.arrival += base;
                self.sequencers[rule].push(c, &mut out);
            }
        }
        self.stats.detections += out.len() as u64;
        out
    }

    /// Live streams: release quiet partitions by wall-clock time (see [`Sequencer::tick`]).
    pub fn tick(&mut self, now: std::time::Instant) -> Vec<Detection> {
        let mut out = Vec::new();
        for s in &mut self.sequencers {
            s.tick(now, &mut out);
        }
        self.stats.detections += out.len() as u64;
        out
    }

    /// Write pending sequences to `path` (JSON), keyed by rule id and query, after
    /// releasing the reorder buffers (their detections are returned). `generation` is
    /// the candidate journal that continues from this snapshot (see
    /// `service::journal`).
    ///
    /// # Errors
    /// I/O errors writing the file.
    pub fn save_state(&mut self, path: &std::path::Path, generation: u64) -> std::io::Result<Vec<Detection>> {
        let dets = self.finish();
        let mut state = serde_json::Map::new();
        state.insert(JOURNAL_GENERATION.into(), generation.into());
        for (rule, s) in self.rules.rules.iter().zip(&self.sequencers) {
            let saved = s.save();
            if !saved.is_empty() {
                let v = serde_json::to_value(saved).map_err(std::io::Error::other)?;
                state.insert(state_key(rule), v);
            }
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&state).map_err(std::io::Error::other)?)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(if dir.as_os_str().is_empty() { std::path::Path::new(".") } else { dir })?.sync_all()?;
        }
        Ok(dets)
    }

    /// Restore what [`Self::save_state`] wrote; rules whose id or query changed start
    /// empty. Returns the number of pending sequences restored and the journal
    /// generation the snapshot continues with (0 without a snapshot).
    ///
    /// # Errors
    /// I/O errors, or a state file that is not seqhound's.
    pub fn restore_state(&mut self, path: &std::path::Path) -> std::io::Result<(usize, u64)> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
            Err(e) => return Err(e),
        };
        let mut state: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
        let generation = state.remove(JOURNAL_GENERATION).and_then(|g| g.as_u64()).unwrap_or(0);
        let mut n = 0;
        for (rule, s) in self.rules.rules.iter().zip(self.sequencers.iter_mut()) {
            if let Some(v) = state.remove(&state_key(rule)) {
                let saved: Vec<crate::sequence::machine::SavedPending> =
                    serde_json::from_value(v).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                n += saved.len();
                s.restore(saved);
            }
        }
        Ok((n, generation))
    }

    /// End of input: flush every reorder buffer.
    pub fn finish(&mut self) -> Vec<Detection> {
        let mut out = Vec::new();
        for s in &mut self.sequencers {
            s.flush(&mut out);
        }
        self.stats.detections += out.len() as u64;
        out
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        let mut seq = SequenceStats::default();
        for q in &self.sequencers {
            let t = q.stats();
            seq.late += t.late;
            seq.evicted += t.evicted;
            seq.reorder_forced += t.reorder_forced;
            seq.expired += t.expired;
            seq.maxspan_rejected += t.maxspan_rejected;
            seq.pending += t.pending;
            seq.buffered += t.buffered;
        }
        s.sequence = seq;
        s
    }

    /// Data errors seen so far (taken: the engine forgets them).
    pub fn take_errors(&mut self) -> Vec<DataError> {
        std::mem::take(&mut self.errors)
    }

    /// A decoder for another thread.
    pub fn new_decoder(rules: &RuleSet, options: &EngineOptions) -> Decoder {
        let precheck = if options.precheck { Some(rules.precheck.clone()) } else { None };
        Decoder::new(rules.projection.clone(), precheck)
    }
}

/// The snapshot's entry naming the journal generation that follows it.
const JOURNAL_GENERATION: &str = "journal_generation";

/// Saved state belongs to a rule id *and* its exact query.
fn state_key(rule: &crate::rule::CompiledRule) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(rule.meta.query.as_bytes());
    format!("{}:{}", rule.meta.rule_id, hex::encode(&h[..8]))
}

/// The stateless part: decode a chunk and evaluate every stage of every rule.
/// Candidate arrival numbers are relative to the chunk (row order of non-blank lines);
/// [`Engine::sequence`] rebases them.
pub fn decode_and_filter(rules: &RuleSet, decoder: &mut Decoder, chunk: &Chunk) -> Filtered {
    decode_and_filter_keeping(rules, decoder, chunk, false)
}

/// [`decode_and_filter`], keeping the decoded batch in the result when `keep_batch`.
pub fn decode_and_filter_keeping(rules: &RuleSet, decoder: &mut Decoder, chunk: &Chunk, keep_batch: bool) -> Filtered {
    let decoded = decoder.decode(chunk);
    let candidates = filter_batch(rules, &decoded.batch);
    Filtered {
        candidates,
        batch: keep_batch.then_some(decoded.batch),
        errors: decoded.errors,
        events: decoded.events,
        bytes: chunk.bytes.len() as u64,
        precheck_dropped: decoded.precheck_dropped,
        read_by_shape: decoded.read_by_shape,
        first_line: chunk.first_line,
        line_count: decoded.line_count,
    }
}

/// Evaluate all stage predicates over a decoded batch and collect candidates.
pub fn filter_batch(rules: &RuleSet, batch: &EventBatch) -> Candidates {
    let n = batch.num_rows();
    let cols = list_columns(&batch.batch);
    let mut out = Candidates { per_rule: (0..rules.rules.len()).map(|_| Vec::new()).collect(), stage_matches: Vec::new(), errors: Vec::new() };
    if n == 0 {
        out.stage_matches = vec![0; rules.rules.iter().map(|r| r.stages.len()).sum()];
        return out;
    }
    let arrival = &batch.arrivals;
    let mut memo = LeafMemo::new(rules.shared_leaves);
    let masks: Vec<Vec<BooleanBuffer>> = rules.rules.iter().map(|r| r.all_stages().map(|s| s.predicate.evaluate(&cols, n, &mut memo)).collect()).collect();
    for (r, m) in rules.rules.iter().zip(&masks) {
        for s in &m[..r.stages.len()] {
            out.stage_matches.push(s.count_set_bits() as u64);
        }
    }
    // Rows with bad timestamps are reported once, even if several rules want them.
    let mut bad_rows: Vec<usize> = Vec::new();
    let mut events: Vec<Option<Arc<EventRef>>> = vec![None; 0];
    events.resize(n, None);
    let mut timestamps = RowTimestamps::default();
    for (ri, rule) in rules.rules.iter().enumerate() {
        let stage_masks = &masks[ri];
        let any = stage_masks.iter().skip(1).fold(stage_masks[0].clone(), |a, b| &a | b);
        if any.count_set_bits() == 0 {
            continue;
        }
        let ts_col = cols[rule.timestamp_column];
        for row in any.set_indices() {
            let ts = match timestamps.get(ts_col, rule.timestamp_column, row) {
                Ok(t) => t,
                Err(reason) => {
                    if !bad_rows.contains(&row) {
                        bad_rows.push(row);
                        out.errors.push(DataError { origin: batch.origin.clone(), line: batch.lines[row], reason });
                    }
                    continue;
                }
            };
            let tiebreaker = rule.tiebreaker_column.and_then(|c| {
                let mut it = row_values(cols[c], row);
                let v = it.next()?.parse::<i64>().ok();
                if it.next().is_some() {
                    None
                } else {
                    v
                }
            });
            let event = events[row]
                .get_or_insert_with(|| {
                    Arc::new(EventRef {
                        // Copied: candidates are few, and a view would pin the whole
                        // chunk in memory for as long as the sequence stays pending.
                        raw: Bytes::copy_from_slice(&batch.raw_row(row)),
                        origin: batch.origin.clone(),
                        line: batch.lines[row],
                        timestamp_ms: ts,
                        tiebreaker,
                        stage: 0,
                        event_id: row_values(cols[rules.event_id_column], row).next().map(str::to_string),
                    })
                })
                .clone();
            let event = if event.timestamp_ms == ts { event } else { Arc::new(EventRef { timestamp_ms: ts, ..(*event).clone() }) };
            let mut stage_keys = Vec::new();
            for (si, stage) in rule.all_stages().enumerate() {
                if !stage_masks[si].value(row) {
                    continue;
                }
                let keys = if rule.shape == RuleShape::Event { vec![Key::default()] } else { expand_keys(&cols, row, &stage.keys) };
                if !keys.is_empty() {
                    stage_keys.push((si, keys));
                }
            }
            if stage_keys.is_empty() {
                continue;
            }
            out.per_rule[ri].push(Candidate { ordinal: Ordinal { timestamp_ms: ts, tiebreaker, arrival: arrival[row] }, event, stage_keys });
        }
    }
    out
}

/// Join keys of a row for a stage: the cartesian product of each key field's values
/// (duplicates collapse, as Elasticsearch's terms do). A missing non-optional key
/// excludes the row from the stage; a missing optional key is the null key.
fn expand_keys(cols: &[&ListArray], row: usize, keys: &[crate::rule::KeySpec]) -> Vec<Key> {
    // The common case, every key field with at most one value: the product is one key,
    // built directly (a fifth of the allocations).
    let mut single: Vec<Option<Box<str>>> = Vec::with_capacity(keys.len());
    for k in keys {
        let mut vals = row_values(cols[k.column], row);
        match (vals.next(), vals.next()) {
            (None, _) if k.optional => single.push(None),
            (None, _) => return Vec::new(),
            (Some(v), None) => single.push(Some(v.into())),
            (Some(_), Some(_)) => return key_product(cols, row, keys),
        }
    }
    vec![single.into_boxed_slice()]
}

/// [`expand_keys`] when some key field has several values.
fn key_product(cols: &[&ListArray], row: usize, keys: &[crate::rule::KeySpec]) -> Vec<Key> {
    let mut acc: Vec<Vec<Option<Box<str>>>> = vec![Vec::with_capacity(keys.len())];
    for k in keys {
        let mut vals: Vec<&str> = row_values(cols[k.column], row).collect();
        vals.sort_unstable();
        vals.dedup();
        if vals.is_empty() {
            if !k.optional {
                return Vec::new();
            }
            for a in &mut acc {
                a.push(None);
            }
            continue;
        }
        let mut next = Vec::with_capacity(acc.len() * vals.len());
        for a in &acc {
            for v in &vals {
                let mut t = a.clone();
                t.push(Some((*v).into()));
                next.push(t);
            }
        }
        acc = next;
    }
    acc.into_iter().map(Vec::into_boxed_slice).collect()
}

/// The rows' timestamps, each parsed once per batch however many rules want it (most
/// rules share `@timestamp`).
#[derive(Default)]
struct RowTimestamps {
    /// Per timestamp column: each row's parsed time, once known.
    columns: Vec<(usize, Vec<Option<Result<i64, String>>>)>,
}

impl RowTimestamps {
    fn get(&mut self, col: &ListArray, column: usize, row: usize) -> Result<i64, String> {
        let slot = match self.columns.iter().position(|(c, _)| *c == column) {
            Some(i) => i,
            None => {
                self.columns.push((column, vec![None; Array::len(col)]));
                self.columns.len() - 1
            }
        };
        let times = &mut self.columns[slot].1;
        match times.get_mut(row) {
            Some(known) => known.get_or_insert_with(|| single_timestamp(col, row)).clone(),
            None => single_timestamp(col, row),
        }
    }
}

/// The event time of a row: exactly one value, RFC 3339 or epoch milliseconds.
fn single_timestamp(col: &ListArray, row: usize) -> Result<i64, String> {
    let mut it = row_values(col, row);
    let Some(v) = it.next() else {
        return Err("event has no @timestamp".to_string());
    };
    if it.next().is_some() {
        return Err("event has more than one @timestamp value".to_string());
    }
    parse_timestamp(v).ok_or_else(|| format!("unparseable @timestamp {v:?}"))
}

/// Parse `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±hh:mm)` (any number of fraction digits,
/// truncated to milliseconds as Elasticsearch's `date` type keeps) or an integer number of
/// epoch milliseconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if !b.is_empty() && b.iter().enumerate().all(|(i, c)| c.is_ascii_digit() || (i == 0 && *c == b'-' && b.len() > 1)) {
        return s.parse::<i64>().ok();
    }
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = b.get(r)?;
        if !t.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(t).ok()?.parse().ok()
    };
    if b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        for k in 0..3 {
            millis = millis * 10 + if start + k < i { (b[start + k] - b'0') as i64 } else { 0 };
        }
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if *sign == b'+' {
                m
            } else {
                -m
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60;
    Some(secs * 1000 + millis)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Order one rule's detections as Elasticsearch returns them — events by (time,
/// tie-breaker), sequences by their last event — and apply the rule's `| head N` /
/// `| tail N` pipes. Only meaningful over a whole input (replay).
pub fn apply_pipes(rule: &crate::rule::CompiledRule, dets: &mut Vec<Detection>) {
    let key = |d: &Detection| {
        let last = d.events.last();
        (last.map_or(i64::MIN, |e| e.timestamp_ms), last.and_then(|e| e.tiebreaker).map_or((1, 0), |t| (0, t)))
    };
    dets.sort_by_key(|d| key(d));
    for (kind, n) in &rule.pipes {
        let n = *n as usize;
        match kind {
            crate::rule::ast::PipeKind::Head => dets.truncate(n),
            crate::rule::ast::PipeKind::Tail => {
                let drop = dets.len().saturating_sub(n);
                dets.drain(..drop);
            }
        }
    }
}

/// Run a whole in-memory input through the engine, cut at the given byte offsets (each
/// moved to the next line end). For tests, benches and tools.
pub fn replay_slices(rules: Arc<RuleSet>, options: EngineOptions, data: &[u8], cuts: &[usize]) -> (Vec<Detection>, Stats) {
    let mut engine = Engine::new(rules, options);
    let mut out = Vec::new();
    for chunk in crate::source::file::chunks_at(data, cuts, &Origin::new("memory")) {
        out.extend(engine.push(&chunk));
    }
    out.extend(engine.finish());
    (out, engine.stats())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.9999999Z"), Some(1999));
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_timestamp("2023-09-22T09:20:47.526181Z"), Some(1_695_374_447_526));
        assert_eq!(parse_timestamp("1695374447526"), Some(1_695_374_447_526));
        assert_eq!(parse_timestamp("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2023-09-22 09:20:47Z"), None);
        assert_eq!(parse_timestamp("2023-09-22T09:20:47."), None);
        assert_eq!(parse_timestamp("2023-09-22T09:20:47"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[allow(clippy::too_many_arguments)]
    fn line(ts: &str, cat: &str, action: &str, name: &str, parent: &str, eid: &str, peid: &str, id: &str) -> String {
        format!(
            r#"{{"@timestamp":"{ts}","event":{{"category":["{cat}"],"type":["start"],"action":"{action}","id":"{id}"}},"host":{{"id":"H1","os":{{"type":"macos"}}}},"process":{{"name":"{name}","entity_id":"{eid}","parent":{{"name":"{parent}","entity_id":"{peid}"}}}}}}"#
        )
    }

    fn run(input: &str, lateness: i64) -> Vec<Vec<String>> {
        let rules = Arc::new(RuleSet::embedded_default().unwrap());
        let (d, _) = replay_slices(rules, EngineOptions { lateness_ms: lateness, ..Default::default() }, input.as_bytes(), &[]);
        d.into_iter().map(|d| d.events.into_iter().map(|e| e.event_id.unwrap_or_default()).collect()).collect()
    }

    fn rule_set(query: &str) -> Arc<RuleSet> {
        let text = format!("[rule]\nname = \"t\"\nrule_id = \"t\"\ntype = \"eql\"\nlanguage = \"eql\"\nseverity = \"low\"\nrisk_score = 21\ndescription = \"d\"\nquery = '''\n{query}\n'''\n");
        let mut reg = crate::rule::compile::ColumnRegistry::default();
        let rule = crate::rule::load_rule_text("t.toml", &text, &mut reg).unwrap();
        Arc::new(RuleSet::new(vec![rule], reg))
    }

    fn ids(rules: Arc<RuleSet>, input: &str) -> Vec<Vec<String>> {
        let (d, _) = replay_slices(rules, EngineOptions::default(), input.as_bytes(), &[]);
        d.into_iter().map(|d| d.events.into_iter().map(|e| e.event_id.unwrap_or_default()).collect()).collect()
    }

    fn ev(ts: u32, cat: &str, host: &str, pid: u32, id: &str) -> String {
        format!(
            r#"{{"@timestamp":"2026-01-01T00:{:02}:{:02}Z","event":{{"category":"{cat}","id":"{id}"}},"host":{{"id":"{host}"}},"process":{{"pid":{pid}}}}}"#,
            ts / 60,
            ts % 60
        )
    }

    #[test]
    fn sample_until_and_pipes() {
        // sample: any order, any distance, distinct events, one per key.
        let sample = rule_set("sample by host.id [network where true] [process where true]");
        let input =
            [ev(1, "process", "h1", 1, "p1"), ev(50, "network", "h1", 1, "n1"), ev(2, "network", "h2", 1, "n2"), ev(3, "process", "h1", 2, "p2")].join("\n");
        assert_eq!(ids(sample, &input), vec![vec!["n1", "p1"]]);
        // until: a same-key until event ends the pending sequence.
        let until = rule_set("sequence by host.id [process where true] [network where true] until [file where true]");
        let input = [
            ev(1, "process", "h1", 1, "p1"),
            ev(2, "file", "h1", 1, "f1"),
            ev(3, "network", "h1", 1, "n1"),
            ev(4, "process", "h2", 1, "p2"),
            ev(5, "file", "h9", 1, "f2"),
            ev(6, "network", "h2", 1, "n2"),
        ]
        .join("\n");
        assert_eq!(ids(until, &input), vec![vec!["p2", "n2"]]);
        // head/tail apply to the whole ordered result in replay.
        let tail = rule_set("process where true | tail 2");
        let input = [ev(3, "process", "h", 1, "c"), ev(1, "process", "h", 1, "a"), ev(2, "process", "h", 1, "b")].join("\n");
        let mut engine = Engine::new(tail.clone(), EngineOptions::default());
        let chunk = Chunk { bytes: Bytes::from(input), origin: Origin::new("t"), first_line: 1 };
        let mut d = engine.push(&chunk);
        d.extend(engine.finish());
        apply_pipes(&tail.rules[0], &mut d);
        let got: Vec<_> = d.iter().map(|d| d.events[0].event_id.clone().unwrap()).collect();
        assert_eq!(got, ["b", "c"]);
    }

    /// Missing-event stages, following Elasticsearch's `TumblingWindow` checks.
    #[test]
    fn missing_events() {
        let j = |evs: &[String]| evs.join("\n");
        // Middle: a same-key match strictly between the neighbours discards the sequence.
        let middle = rule_set("sequence by host.id with maxspan=1m [process where true] ![file where true] [network where true]");
        let (p, n) = (ev(1, "process", "h", 1, "p"), ev(3, "network", "h", 1, "n"));
        assert!(ids(middle.clone(), &j(&[p.clone(), ev(2, "file", "h", 1, "f"), n.clone()])).is_empty());
        assert_eq!(ids(middle.clone(), &j(&[p.clone(), ev(2, "file", "other", 1, "f"), n.clone()])), vec![vec!["p", "n"]]);
        assert_eq!(ids(middle.clone(), &j(&[p.clone(), n.clone(), ev(5, "file", "h", 1, "f")])), vec![vec!["p", "n"]]);
        assert_eq!(ids(middle, &j(&[p.clone(), ev(1, "file", "h", 1, "f"), n])), vec![vec!["p", "n"]], "same second is not strictly between");
        // Trailing: discarded when the first later match is within maxspan of the start.
        let trailing = rule_set("sequence by host.id with maxspan=10s [process where true] [network where true] ![file where true]");
        let (p0, n2) = (ev(0, "process", "h", 1, "p"), ev(2, "network", "h", 1, "n"));
        assert!(ids(trailing.clone(), &j(&[p0.clone(), n2.clone(), ev(10, "file", "h", 1, "f")])).is_empty());
        assert_eq!(ids(trailing.clone(), &j(&[p0.clone(), n2.clone(), ev(11, "file", "h", 1, "f")])), vec![vec!["p", "n"]]);
        assert_eq!(ids(trailing, &j(&[p0, n2])), vec![vec!["p", "n"]]);
        // Leading: discarded when the latest earlier match is within maxspan of the last event.
        let leading = rule_set("sequence by host.id with maxspan=10s ![file where true] [process where true]");
        assert!(ids(leading.clone(), &j(&[ev(0, "file", "h", 1, "f"), ev(5, "process", "h", 1, "p")])).is_empty());
        assert_eq!(ids(leading.clone(), &j(&[ev(0, "file", "h", 1, "f"), ev(20, "process", "h", 1, "p")])), vec![vec!["p"]]);
        assert_eq!(ids(leading, &j(&[ev(5, "process", "h", 1, "p")])), vec![vec!["p"]]);
    }

    #[test]
    fn seed_rule_basics() {
        let exec = line("2026-01-01T00:00:00.000Z", "process", "exec", "bash", "installer", "E1", "P0", "a");
        let curl = line("2026-01-01T00:00:15.000Z", "network", "connection_attempted", "curl", "bash", "E2", "E1", "b");
        let late_curl = line("2026-01-01T00:00:15.001Z", "network", "connection_attempted", "curl", "bash", "E3", "E1", "c");
        assert_eq!(run(&format!("{exec}\n{curl}\n"), 5000), vec![vec!["a", "b"]]);
        assert_eq!(run(&format!("{exec}\n{late_curl}\n"), 5000), Vec::<Vec<String>>::new());
        // Out of order arrival is sorted by time within the lateness.
        assert_eq!(run(&format!("{curl}\n{exec}\n"), 5000), vec![vec!["a", "b"]]);
        // The pending sequence is consumed by the first curl.
        let curl2 = line("2026-01-01T00:00:01.000Z", "network", "connection_attempted", "curl", "bash", "E2", "E1", "d");
        assert_eq!(run(&format!("{exec}\n{curl2}\n{curl}\n"), 5000), vec![vec!["a", "d"]]);
    }
}
