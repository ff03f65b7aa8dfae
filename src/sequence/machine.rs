//! Elasticsearch's EQL sequence state machine, streaming.
//!
//! ```text
//!             event matches stage 0            event matches stage k (0<k<n-1)
//!   (none) ───────────────────────────► P0[key] ────────────────────────────► Pk[key] ─┐
//!              newer start replaces          takes P(k-1)[key] if it is strictly       │
//!              the older pending             earlier and within maxspan of its start   │
//!                                                                                      │
//!                                 event matches the last stage n-1 ◄───────────────────┘
//!                                 ─► Detection (P(n-2)[key] consumed)
//! ```
//!
//! Per rule and join key, each stage holds at most one pending sequence: Elasticsearch's
//! `SequenceGroup.trimBefore` takes the latest pending sequence strictly before the event
//! and discards every older one, which in time order is "the newest replaces the older".
//! A pending sequence taken by a later stage is consumed even when maxspan then rejects
//! it (`SequenceMatcher.match`). An event is applied to its stages from the last to the
//! first, so it can complete or advance a sequence and start a new one in the same step,
//! but never advance a sequence it started itself.
//!
//! maxspan is measured from the first event and is inclusive: rejected only when
//! `t_n − t_1 > maxspan` (milliseconds).
//!
//! Memory: a pending sequence whose maxspan has passed in its partition is dropped
//! (counted as expired); beyond the state cap the oldest pending sequence is evicted
//! (counted). The same cap bounds the reorder buffers of all partitions together: over
//! it, the partition that went quiet first is released early (counted as forced).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use super::order::{Entry, Partition, Pushed};
use super::{Candidate, Detection, EventRef, Key, Ordinal, SequenceStats};
use crate::rule::{CompiledRule, RuleShape};

#[derive(Debug)]
struct Pending {
    events: Vec<Arc<EventRef>>,
    /// Stage index of each event.
    stages: Vec<usize>,
    start_ts: i64,
    last: Ordinal,
    id: u64,
}

/// A positive match of a sequence with missing-event stages, waiting until no trailing
/// missing event within maxspan can still arrive.
#[derive(Debug)]
struct Awaiting {
    pending: Pending,
    key: Key,
    last_leading: Option<i64>,
}

/// Saved form of a pending sequence (restart without losing partial matches).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SavedPending {
    pub stage: usize,
    pub key: Vec<Option<String>>,
    /// Raw JSON lines of the events so far, with their metadata.
    pub events: Vec<SavedEvent>,
    pub stages: Vec<usize>,
    pub start_ts: i64,
    pub last: Ordinal,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SavedEvent {
    pub raw: String,
    pub origin: String,
    pub line: u64,
    pub timestamp_ms: i64,
    pub tiebreaker: Option<i64>,
    pub event_id: Option<String>,
}

/// Maps keyed by join keys, which the watched side controls. aHash with keys drawn at
/// random per map resists hash floods as std's SipHash does, at a fraction of its cost
/// per key (the switch saved 3 % of an all-rules replay's instructions, callgrind).
type KeyMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// The sequence stage of one rule.
#[derive(Debug)]
pub struct Sequencer {
    rule: usize,
    shape: RuleShape,
    stages: usize,
    header: usize,
    maxspan_ms: Option<i64>,
    lateness_ms: i64,
    cap: usize,
    /// Keyed by header-key tuple. A hash map: a tree's lookup compares the key with a
    /// dozen others, each a cache miss once partitions number in the thousands. Every
    /// walk over it sorts what it releases ([`in_release_order`]), so results do not
    /// depend on its order.
    partitions: KeyMap<Key, Partition>,
    /// `pending[s]`: sequences whose last matched stage is `s` (for `s < stages − 1`).
    pending: Vec<KeyMap<Key, Pending>>,
    /// Creation/advance order of pending sequences: (id, stage, key); stale entries are
    /// skipped lazily.
    order: VecDeque<(u64, usize, Key)>,
    next_id: u64,
    pending_count: usize,
    stats: SequenceStats,
    /// Largest event time seen by this rule.
    max_ts: i64,
    /// The rule's clock for quiet and idle partitions: the lower median of the latest
    /// event times of the partitions active in the last clock epoch (at least
    /// [`CLOCK_EPOCH`] pushes and [`CLOCK_MIN_PARTITIONS`] partitions), each counted once.
    ///
    /// Why not `max_ts`: one host with a skewed clock, or one forged far-future timestamp,
    /// would make every other partition look quiet — released before its lateness and
    /// its pending sequences expired. A minority of partitions cannot move the median.
    /// Why only recently active partitions: with one partition per process (`sequence by
    /// process.entity_id`), idle partitions far outnumber active ones, and their old
    /// times would hold the clock back — and with it every quiet partition's candidates.
    clock: i64,
    /// Latest event time of each partition active in the current clock epoch.
    epoch_times: Vec<i64>,
    epoch: u64,
    /// Partitions with buffered candidates, by their latest event time when queued: the
    /// quiet ones are found at the front without scanning every partition.
    quiet: BinaryHeap<Reverse<(i64, Key)>>,
    /// Candidates in all reorder buffers (bounded by the state cap).
    buffered: usize,
    pushes: u64,
    /// Set for `sample` rules, which bypass the sequence machinery.
    sampler: Option<super::sample::Sampler>,
    /// `![…]` stages.
    missing: Vec<bool>,
    first_positive: usize,
    last_positive: usize,
    /// Times of missing-stage matches per (stage, key), ascending.
    history: KeyMap<(usize, Key), VecDeque<i64>>,
    awaiting: Vec<Awaiting>,
}

/// Sort candidates released from several partitions into event-time order; one event in
/// several partitions (a multi-valued key) goes to them in key order, so the result never
/// depends on the partition map's order.
fn in_release_order(ready: &mut [(Ordinal, Entry)], header: usize) {
    fn head(e: &Entry, header: usize) -> Option<&[Option<Box<str>>]> {
        e.stage_keys.first().map(|(_, k)| &k[..header.min(k.len())])
    }
    ready.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| head(&a.1, header).cmp(&head(&b.1, header))));
}

/// Idle partitions are looked for every this many candidates (amortizes the scan).
const PARTITION_GC_EVERY: u64 = 4096;
/// The clock is refreshed, and quiet partitions released, every this many candidates.
const CLOCK_EPOCH: u64 = 256;
/// A clock epoch ends only once this many distinct partitions were active in it, so a
/// lone partition (a forged one, say) cannot set the clock on its own.
const CLOCK_MIN_PARTITIONS: usize = 3;

impl Sequencer {
    pub fn new(rule_index: usize, rule: &CompiledRule, lateness_ms: i64, cap: usize) -> Self {
        let stages = rule.stages.len();
        Sequencer {
            rule: rule_index,
            shape: rule.shape,
            stages,
            header: rule.header_keys,
            maxspan_ms: rule.maxspan_ms,
            lateness_ms: lateness_ms.max(0),
            cap: cap.max(1),
            partitions: KeyMap::default(),
            pending: (0..stages).map(|_| KeyMap::default()).collect(),
            order: VecDeque::new(),
            next_id: 0,
            pending_count: 0,
            stats: SequenceStats::default(),
            max_ts: i64::MIN,
            clock: i64::MIN,
            epoch_times: Vec::new(),
            epoch: 0,
            quiet: BinaryHeap::new(),
            buffered: 0,
            pushes: 0,
            sampler: (rule.shape == RuleShape::Sample).then(|| super::sample::Sampler::new(rule_index, stages, cap)),
            missing: rule.stages.iter().map(|s| s.missing).collect(),
            first_positive: rule.stages.iter().position(|s| !s.missing).unwrap_or(0),
            last_positive: rule.stages.iter().rposition(|s| !s.missing).unwrap_or(0),
            history: KeyMap::default(),
            awaiting: Vec::new(),
        }
    }

    pub fn stats(&self) -> SequenceStats {
        let mut s = self.stats.clone();
        s.pending = self.pending_count as u64;
        s.buffered = self.buffered as u64;
        s
    }

    /// Feed one candidate (in arrival order); completed detections go to `out`.
    pub fn push(&mut self, c: Candidate, out: &mut Vec<Detection>) {
        self.max_ts = self.max_ts.max(c.ordinal.timestamp_ms);
        self.pushes += 1;
        if self.pushes.is_multiple_of(CLOCK_EPOCH) {
            self.release_quiet_partitions(out);
        }
        if let Some(s) = &mut self.sampler {
            for (stage, keys) in c.stage_keys {
                for key in keys {
                    s.add(stage, key, &c.event);
                }
            }
            return;
        }
        if self.shape == RuleShape::Event {
            out.push(Detection { rule: self.rule, events: vec![(*c.event).clone()], join_keys: vec![] });
            return;
        }
        // Split the candidate's (stage, key) pairs by partition (header-key tuple).
        let header = self.header;
        let mut by_part: Vec<Vec<(usize, Key)>> = Vec::new();
        for (stage, keys) in c.stage_keys {
            for key in keys {
                match by_part.iter_mut().find(|v| v[0].1[..header] == key[..header]) {
                    Some(v) => v.push((stage, key)),
                    None => by_part.push(vec![(stage, key)]),
                }
            }
        }
        for stage_keys in by_part {
            let head: &[Option<Box<str>>] = &stage_keys[0].1[..header];
            if !self.partitions.contains_key(head) {
                self.partitions.insert(head.into(), Partition::default());
            }
            let Some(part) = self.partitions.get_mut(head) else { continue };
            let queue_key: Option<Key> = (!part.queued).then(|| head.into());
            let entry = Entry { event: c.event.clone(), stage_keys };
            let pushed = part.push(c.ordinal, entry);
            // The partition's sample for the rule's clock: one slot per epoch.
            let latest = part.max_ts().unwrap_or(c.ordinal.timestamp_ms);
            match part.sampled {
                Some((epoch, slot)) if epoch == self.epoch => self.epoch_times[slot] = latest,
                _ => {
                    part.sampled = Some((self.epoch, self.epoch_times.len()));
                    self.epoch_times.push(latest);
                }
            }
            // What the partition releases now, in order. Applying it cannot change the
            // partition (the state machine never reads the reorder buffers), so it is
            // taken out first and applied after.
            let mut released: Vec<(Ordinal, Entry)> = Vec::new();
            match pushed {
                Pushed::Late(entry) => {
                    self.stats.late += 1;
                    released.push((c.ordinal, entry));
                }
                Pushed::Buffered => {
                    self.buffered += 1;
                    if let Some(key) = queue_key {
                        part.queued = true;
                        self.quiet.push(Reverse((latest, key)));
                    }
                    while let Some(ready) = part.pop_ready(self.lateness_ms) {
                        self.buffered -= 1;
                        released.push(ready);
                    }
                    // Memory stays bounded by the state cap also inside the lateness.
                    while part.len() > self.cap {
                        let Some(oldest) = part.pop_oldest() else { break };
                        self.buffered -= 1;
                        self.stats.reorder_forced += 1;
                        released.push(oldest);
                    }
                }
            }
            for (o, e) in released {
                self.apply(o, e, out);
            }
        }
        // The same across partitions (one per process, say): release the partition
        // that went quiet first, whole and in order.
        while self.buffered > self.cap {
            let Some(Reverse((_, head))) = self.quiet.pop() else { break };
            let drained = self.take_partition(&head);
            self.stats.reorder_forced += drained.len() as u64;
            for (o, e) in drained {
                self.apply(o, e, out);
            }
        }
        if !self.awaiting.is_empty() {
            self.decide_awaiting(false, out);
        }
        self.sweep();
    }

    /// Forget partitions with nothing buffered whose time is far behind this rule's clock:
    /// keys with a unique value per process (`sequence by process.entity_id`) would
    /// otherwise keep one partition per process forever. A forgotten partition that sees
    /// events again starts afresh; its pending sequences stay in the state machine.
    fn forget_idle_partitions(&mut self) {
        let horizon = self.clock.saturating_sub(self.lateness_ms.saturating_add(self.maxspan_ms.unwrap_or(0)));
        self.partitions.retain(|_, p| !p.is_empty() || p.max_ts().is_some_and(|t| t >= horizon));
    }

    /// A partition that has gone quiet — its latest event is older than the rule's
    /// clock minus the lateness — gets no later event to move its own watermark, so its
    /// last candidates would wait forever. Release them by the rule's clock (event time
    /// in replay), in order; every [`PARTITION_GC_EVERY`] candidates, forget idle ones.
    pub fn release_quiet_partitions(&mut self, out: &mut Vec<Detection>) {
        if self.epoch_times.len() >= CLOCK_MIN_PARTITIONS {
            let mid = (self.epoch_times.len() - 1) / 2;
            let (_, median, _) = self.epoch_times.select_nth_unstable(mid);
            self.clock = self.clock.max(*median);
            self.epoch_times.clear();
            self.epoch += 1;
        }
        let cutoff = self.clock.saturating_sub(self.lateness_ms);
        let mut ready: Vec<(Ordinal, Entry)> = Vec::new();
        while self.quiet.peek().is_some_and(|Reverse((t, _))| *t < cutoff) {
            let Some(Reverse((_, head))) = self.quiet.pop() else { break };
            let Some(p) = self.partitions.get(&head) else { continue };
            match p.max_ts() {
                // Active again since it was queued: look again when its time is passed.
                Some(t) if t >= cutoff && !p.is_empty() => self.quiet.push(Reverse((t, head))),
                _ => ready.extend(self.take_partition(&head)),
            }
        }
        ready.sort_by_key(|a| a.0);
        for (o, e) in ready {
            self.apply(o, e, out);
        }
        if self.pushes.is_multiple_of(PARTITION_GC_EVERY) {
            self.forget_idle_partitions();
            let horizon = self.clock.saturating_sub(self.lateness_ms.saturating_add(self.maxspan_ms.unwrap_or(0).saturating_mul(2)));
            self.history.retain(|_, h| h.back().is_some_and(|&t| t >= horizon));
        }
        if !self.awaiting.is_empty() {
            self.decide_awaiting(false, out);
        }
        self.sweep();
    }

    /// Everything buffered in one partition, whose queue entry the caller has taken.
    fn take_partition(&mut self, head: &[Option<Box<str>>]) -> Vec<(Ordinal, Entry)> {
        let Some(p) = self.partitions.get_mut(head) else { return Vec::new() };
        p.queued = false;
        let drained = p.drain();
        self.buffered -= drained.len();
        drained
    }

    /// Live streams: release partitions that received nothing for the lateness in
    /// wall-clock time, so the last events of a quiet host are evaluated within the
    /// lateness instead of waiting for traffic that may not come.
    pub fn tick(&mut self, now: std::time::Instant, out: &mut Vec<Detection>) {
        let quiet = std::time::Duration::from_millis(self.lateness_ms.max(0) as u64);
        let mut ready: Vec<(Ordinal, Entry)> = Vec::new();
        for p in self.partitions.values_mut() {
            if !p.is_empty() && p.quiet_since(now, quiet) {
                ready.extend(p.drain());
            }
        }
        self.buffered -= ready.len();
        in_release_order(&mut ready, self.header);
        for (o, e) in ready {
            self.apply(o, e, out);
        }
        if !self.awaiting.is_empty() {
            self.decide_awaiting(false, out);
        }
        self.sweep();
    }

    /// Pending sequences, for saving across a restart (call after [`Self::flush`]).
    pub fn save(&self) -> Vec<SavedPending> {
        let mut out = Vec::new();
        for (stage, map) in self.pending.iter().enumerate() {
            for (key, p) in map {
                out.push(SavedPending {
                    stage,
                    key: key.iter().map(|k| k.as_deref().map(str::to_string)).collect(),
                    events: p
                        .events
                        .iter()
                        .map(|e| SavedEvent {
                            raw: String::from_utf8_lossy(&e.raw).into_owned(),
                            origin: e.origin.to_string(),
                            line: e.line,
                            timestamp_ms: e.timestamp_ms,
                            tiebreaker: e.tiebreaker,
                            event_id: e.event_id.clone(),
                        })
                        .collect(),
                    stages: p.stages.clone(),
                    start_ts: p.start_ts,
                    last: p.last,
                });
            }
        }
        out
    }

    /// Restore pending sequences saved by [`Self::save`] (for the same rule).
    pub fn restore(&mut self, saved: Vec<SavedPending>) {
        for s in saved {
            if s.stage >= self.pending.len() {
                continue;
            }
            let key: Key = s.key.into_iter().map(|k| k.map(String::into_boxed_str)).collect::<Vec<_>>().into_boxed_slice();
            let events = s
                .events
                .into_iter()
                .map(|e| {
                    Arc::new(EventRef {
                        raw: bytes::Bytes::from(e.raw),
                        origin: Arc::from(e.origin.as_str()),
                        line: e.line,
                        timestamp_ms: e.timestamp_ms,
                        tiebreaker: e.tiebreaker,
                        stage: 0,
                        event_id: e.event_id,
                    })
                })
                .collect();
            self.max_ts = self.max_ts.max(s.last.timestamp_ms);
            let p = Pending { events, stages: s.stages, start_ts: s.start_ts, last: s.last, id: 0 };
            self.insert(s.stage, key, p);
        }
    }

    /// End of input: release every buffered candidate, in event-time order.
    pub fn flush(&mut self, out: &mut Vec<Detection>) {
        if let Some(s) = &mut self.sampler {
            s.flush(out);
            self.stats.evicted += std::mem::take(&mut s.evicted);
            return;
        }
        let mut all: Vec<(Ordinal, Entry)> = Vec::new();
        for p in self.partitions.values_mut() {
            p.queued = false;
            all.extend(p.drain());
        }
        self.quiet.clear();
        self.buffered = 0;
        in_release_order(&mut all, self.header);
        for (o, e) in all {
            self.apply(o, e, out);
        }
        self.decide_awaiting(true, out);
        self.sweep();
    }

    /// Run the transitions for one released event.
    fn apply(&mut self, ordinal: Ordinal, mut entry: Entry, out: &mut Vec<Detection>) {
        entry.stage_keys.sort_by_key(|a| std::cmp::Reverse(a.0));
        // `until` (index `stages`) applies after the event's own transitions: Elasticsearch
        // rejects a sequence when an until event lies between its last match and the next
        // one, both inclusive, so it also ends what this event just started or advanced.
        let until_keys: Vec<Key> = entry.stage_keys.iter().filter(|(s, _)| *s == self.stages).map(|(_, k)| k.clone()).collect();
        entry.stage_keys.retain(|(s, _)| *s < self.stages);
        for (stage, key) in entry.stage_keys {
            if self.missing[stage] {
                self.record_missing(stage, key, ordinal.timestamp_ms);
                continue;
            }
            if stage == self.first_positive {
                self.start(ordinal, &entry.event, stage, key, out);
                continue;
            }
            let Some(prev_stage) = (0..stage).rev().find(|&s| !self.missing[s]) else { continue };
            let prev = &mut self.pending[prev_stage];
            // Only a sequence strictly before this event can take it (a late event may
            // find a pending sequence that started after it: leave that one alone).
            let Some(p) = prev.get(&key) else { continue };
            if p.last >= ordinal {
                continue;
            }
            let Some(mut p) = prev.remove(&key) else { continue };
            self.pending_count -= 1;
            if self.maxspan_ms.is_some_and(|m| ordinal.timestamp_ms - p.start_ts > m) {
                self.stats.maxspan_rejected += 1;
                continue;
            }
            p.events.push(entry.event.clone());
            p.stages.push(stage);
            p.last = ordinal;
            if stage == self.last_positive {
                self.complete(p, key, out);
            } else {
                self.insert(stage, key, p);
            }
        }
        for key in until_keys {
            for stage in 0..self.pending.len() {
                if self.pending[stage].remove(&key).is_some() {
                    self.pending_count -= 1;
                    self.stats.until_dropped += 1;
                }
            }
        }
    }

    /// A positive match is complete: emit it, or check its missing-event stages.
    fn complete(&mut self, p: Pending, key: Key, out: &mut Vec<Detection>) {
        if !self.missing.contains(&true) {
            out.push(self.detection(p, &key));
            return;
        }
        // Middle stages: a same-key match strictly between the neighbouring positive
        // matches (milliseconds) discards the sequence.
        for (i, &miss) in self.missing.iter().enumerate() {
            if !miss || i < self.first_positive || i > self.last_positive {
                continue;
            }
            let before = p.stages.iter().zip(&p.events).rev().find(|(s, _)| **s < i).map(|(_, e)| e.timestamp_ms);
            let after = p.stages.iter().zip(&p.events).find(|(s, _)| **s > i).map(|(_, e)| e.timestamp_ms);
            if let (Some(a), Some(b)) = (before, after) {
                if self.history.get(&(i, key.clone())).is_some_and(|h| h.iter().any(|&t| t > a && t < b)) {
                    self.stats.missing_rejected += 1;
                    return;
                }
            }
        }
        // Leading stages: the latest same-key match strictly before the first event.
        let last_leading =
            (0..self.first_positive).filter_map(|i| self.history.get(&(i, key.clone())).and_then(|h| h.iter().rev().find(|&&t| t < p.start_ts).copied())).max();
        if self.last_positive + 1 < self.stages {
            // Trailing stages need events up to maxspan after the start: wait for them.
            self.awaiting.push(Awaiting { pending: p, key, last_leading });
            return;
        }
        if self.missing_keep(&p, last_leading, None) {
            out.push(self.detection(p, &key));
        } else {
            self.stats.missing_rejected += 1;
        }
    }

    /// Elasticsearch's rule (`TumblingWindow.doCheckMissingEvents`) for leading and
    /// trailing missing stages, given the latest leading and earliest trailing match.
    fn missing_keep(&self, p: &Pending, last_leading: Option<i64>, first_trailing: Option<i64>) -> bool {
        let m = self.maxspan_ms.unwrap_or(i64::MAX);
        let bigger = |from: Option<i64>, to: Option<i64>| match (from, to) {
            (Some(f), Some(t)) => t.saturating_sub(f) > m,
            _ => true,
        };
        let lead = self.missing[0];
        let trail = self.missing[self.stages - 1];
        let last_ts = p.last.timestamp_ms;
        (first_trailing.is_none() && last_leading.is_none())
            || (last_leading.is_none() && lead)
            || (first_trailing.is_none() && trail)
            || (lead && trail && bigger(last_leading, first_trailing))
            || (lead && !trail && bigger(last_leading, Some(last_ts)))
            || (!lead && trail && bigger(Some(p.start_ts), first_trailing))
    }

    /// Decide sequences waiting for trailing missing events: once their partition has
    /// released everything up to start + maxspan (or at end of input, `all`).
    fn decide_awaiting(&mut self, all: bool, out: &mut Vec<Detection>) {
        let m = self.maxspan_ms.unwrap_or(i64::MAX);
        let mut i = 0;
        while i < self.awaiting.len() {
            let a = &self.awaiting[i];
            let head: &[Option<Box<str>>] = &a.key[..self.header];
            let released = self.partitions.get(head).and_then(Partition::released_ts).unwrap_or(self.clock);
            if !all && released <= a.pending.start_ts.saturating_add(m) {
                i += 1;
                continue;
            }
            let a = self.awaiting.swap_remove(i);
            let last_ts = a.pending.last.timestamp_ms;
            let first_trailing = (self.last_positive + 1..self.stages)
                .filter_map(|s| self.history.get(&(s, a.key.clone())).and_then(|h| h.iter().find(|&&t| t > last_ts).copied()))
                .min();
            if self.missing_keep(&a.pending, a.last_leading, first_trailing) {
                let d = self.detection(a.pending, &a.key);
                out.push(d);
            } else {
                self.stats.missing_rejected += 1;
            }
        }
    }

    fn record_missing(&mut self, stage: usize, key: Key, ts: i64) {
        let h = self.history.entry((stage, key)).or_default();
        let pos = h.partition_point(|&t| t <= ts);
        h.insert(pos, ts);
        // Matches older than lateness + 2 × maxspan cannot change a decision any more.
        let horizon = self.clock.saturating_sub(self.lateness_ms.saturating_add(self.maxspan_ms.unwrap_or(0).saturating_mul(2)));
        while h.front().is_some_and(|&t| t < horizon) {
            h.pop_front();
        }
    }

    fn detection(&self, p: Pending, key: &Key) -> Detection {
        Detection {
            rule: self.rule,
            events: p.events.iter().zip(&p.stages).map(|(e, &s)| EventRef { stage: s, ..(**e).clone() }).collect(),
            join_keys: key.iter().map(|k| k.as_deref().map(str::to_string)).collect(),
        }
    }

    fn start(&mut self, ordinal: Ordinal, event: &Arc<EventRef>, stage: usize, key: Key, out: &mut Vec<Detection>) {
        if let Some(existing) = self.pending[stage].get(&key) {
            // A late event does not replace a newer pending start.
            if existing.last > ordinal {
                return;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let p = Pending { events: vec![event.clone()], stages: vec![stage], start_ts: ordinal.timestamp_ms, last: ordinal, id };
        if stage == self.last_positive {
            // One positive stage (the others missing): complete at once.
            self.complete(p, key, out);
            return;
        }
        self.insert(stage, key, p);
    }

    fn insert(&mut self, stage: usize, key: Key, mut p: Pending) {
        p.id = self.next_id;
        self.next_id += 1;
        self.order.push_back((p.id, stage, key.clone()));
        if self.pending[stage].insert(key, p).is_none() {
            self.pending_count += 1;
        }
        while self.pending_count > self.cap {
            let Some((id, st, k)) = self.order.pop_front() else { break };
            if self.pending[st].get(&k).is_some_and(|p| p.id == id) {
                self.pending[st].remove(&k);
                self.pending_count -= 1;
                self.stats.evicted += 1;
            }
        }
    }

    /// Drop stale order entries and pending sequences whose maxspan has passed in their
    /// partition, from the front of the order queue.
    fn sweep(&mut self) {
        // A pending sequence that never expires (no maxspan) at the front would keep the
        // stale entries behind it forever: compact once they dominate, so the queue stays
        // proportional to the live state (amortized O(1) per insert).
        if self.order.len() > 2 * self.pending_count + 1024 {
            let pending = &self.pending;
            self.order.retain(|(id, st, k)| pending[*st].get(k).is_some_and(|p| p.id == *id));
        }
        while let Some((id, st, k)) = self.order.front() {
            let Some(p) = self.pending[*st].get(k) else {
                self.order.pop_front();
                continue;
            };
            if p.id != *id {
                self.order.pop_front();
                continue;
            }
            let expired = match self.maxspan_ms {
                Some(m) => {
                    let head: &[Option<Box<str>>] = &k[..self.header];
                    let clock = match self.partitions.get(head) {
                        Some(part) => part.released_ts(),
                        // Forgotten (idle) partition: everything in it was released long ago.
                        None => Some(self.clock.saturating_sub(self.lateness_ms)),
                    };
                    clock.is_some_and(|t| t.saturating_sub(p.start_ts) > m)
                }
                None => false,
            };
            if !expired {
                break;
            }
            let (_, st, k) = self.order.pop_front().unwrap_or((0, 0, Box::new([])));
            if self.pending[st].remove(&k).is_some() {
                self.pending_count -= 1;
                self.stats.expired += 1;
            }
        }
    }
}
