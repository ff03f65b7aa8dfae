//! Event-time order for one partition of a rule's join keys.
//!
//! Endpoints' clocks disagree and hosts' batches arrive at different times, so a single
//! global watermark would make a lagging host's events "late". Order only matters among
//! events that can join, and events can only join when their sequence-level (`sequence
//! by`) keys are equal — so each distinct header-key tuple is a partition with its own
//! watermark: the largest event time seen there minus the allowed lateness. Candidates
//! wait in the partition's buffer until the watermark passes them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::{EventRef, Key, Ordinal};

/// A buffered candidate of one partition.
#[derive(Debug, Clone)]
pub struct Entry {
    pub event: Arc<EventRef>,
    /// Stages matched and their full join keys (all sharing this partition's header).
    pub stage_keys: Vec<(usize, Key)>,
}

/// Candidates in ordinal order.
///
/// Why two shapes: most partitions hold one or two candidates at a time, and a tree
/// allocates a node of several hundred bytes for the first; a short sorted queue is one
/// small allocation. Past [`SMALL_BUFFER`] entries it becomes a tree, so a flood of
/// out-of-order candidates costs log n per candidate, never n.
#[derive(Debug)]
enum Buffer {
    Small(VecDeque<(Ordinal, Entry)>),
    Large(BTreeMap<Ordinal, Entry>),
}

const SMALL_BUFFER: usize = 16;

impl Default for Buffer {
    fn default() -> Self {
        Buffer::Small(VecDeque::new())
    }
}

impl Buffer {
    /// As `BTreeMap::insert`: an equal ordinal is replaced.
    fn insert(&mut self, ordinal: Ordinal, entry: Entry) {
        match self {
            Buffer::Small(q) => match q.binary_search_by_key(&ordinal, |(o, _)| *o) {
                Ok(i) => q[i].1 = entry,
                Err(i) if q.len() < SMALL_BUFFER => q.insert(i, (ordinal, entry)),
                Err(_) => {
                    let mut tree: BTreeMap<Ordinal, Entry> = std::mem::take(q).into_iter().collect();
                    tree.insert(ordinal, entry);
                    *self = Buffer::Large(tree);
                }
            },
            Buffer::Large(t) => {
                t.insert(ordinal, entry);
            }
        }
    }

    fn first(&self) -> Option<Ordinal> {
        match self {
            Buffer::Small(q) => q.front().map(|(o, _)| *o),
            Buffer::Large(t) => t.first_key_value().map(|(o, _)| *o),
        }
    }

    fn pop_first(&mut self) -> Option<(Ordinal, Entry)> {
        match self {
            Buffer::Small(q) => q.pop_front(),
            Buffer::Large(t) => t.pop_first(),
        }
    }

    /// Everything, in order; the buffer is left small and empty.
    fn take_all(&mut self) -> Vec<(Ordinal, Entry)> {
        match std::mem::take(self) {
            Buffer::Small(q) => q.into(),
            Buffer::Large(t) => t.into_iter().collect(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Buffer::Small(q) => q.len(),
            Buffer::Large(t) => t.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The reorder buffer of one partition.
#[derive(Debug, Default)]
pub struct Partition {
    buffer: Buffer,
    max_ts: Option<i64>,
    /// The last ordinal handed to the state machine.
    released: Option<Ordinal>,
    /// Wall-clock time of the latest arrival (live streams release quiet partitions by it).
    last_arrival: Option<std::time::Instant>,
    /// The rule's clock sample of this partition: (epoch, slot) in the sequencer's list
    /// of recently active partitions' times.
    pub(super) sampled: Option<(u64, usize)>,
    /// Has the sequencer's quiet-partition queue an entry for this partition?
    pub(super) queued: bool,
}

/// What [`Partition::push`] decided.
pub enum Pushed {
    /// Buffered; released later in order.
    Buffered,
    /// Older than what was already released: the caller evaluates it now, out of order.
    Late(Entry),
}

impl Partition {
    pub fn push(&mut self, ordinal: Ordinal, entry: Entry) -> Pushed {
        if self.released.is_some_and(|r| ordinal < r) {
            return Pushed::Late(entry);
        }
        self.max_ts = Some(self.max_ts.map_or(ordinal.timestamp_ms, |m| m.max(ordinal.timestamp_ms)));
        self.last_arrival = Some(std::time::Instant::now());
        self.buffer.insert(ordinal, entry);
        Pushed::Buffered
    }

    /// Pop the next entry whose time the watermark (max time − lateness) has passed.
    pub fn pop_ready(&mut self, lateness_ms: i64) -> Option<(Ordinal, Entry)> {
        let max = self.max_ts?;
        let first = self.buffer.first()?;
        if first.timestamp_ms <= max.saturating_sub(lateness_ms) {
            let (o, e) = self.buffer.pop_first()?;
            self.released = Some(o);
            Some((o, e))
        } else {
            None
        }
    }

    /// Pop the oldest entry whatever the watermark says (the buffer is over its cap).
    pub fn pop_oldest(&mut self) -> Option<(Ordinal, Entry)> {
        let (o, e) = self.buffer.pop_first()?;
        self.released = Some(o);
        Some((o, e))
    }

    /// Pop everything (end of input), in order.
    pub fn drain(&mut self) -> Vec<(Ordinal, Entry)> {
        let all = self.buffer.take_all();
        if let Some((o, _)) = all.last() {
            self.released = Some(*o);
        }
        all
    }

    /// Has nothing arrived for at least `quiet` of wall-clock time?
    pub fn quiet_since(&self, now: std::time::Instant, quiet: std::time::Duration) -> bool {
        self.last_arrival.is_some_and(|t| now.saturating_duration_since(t) >= quiet)
    }

    /// Largest event time seen in this partition.
    pub fn max_ts(&self) -> Option<i64> {
        self.max_ts
    }

    /// Time of the last released candidate.
    pub fn released_ts(&self) -> Option<i64> {
        self.released.map(|o| o.timestamp_ms)
    }

    pub fn note_released(&mut self, o: Ordinal) {
        if self.released.is_none_or(|r| o > r) {
            self.released = Some(o);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    pub fn len(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn entry(line: u64) -> Entry {
        let event = EventRef { raw: bytes::Bytes::new(), origin: Arc::from("t"), line, timestamp_ms: 0, tiebreaker: None, stage: 0, event_id: None };
        Entry { event: Arc::new(event), stage_keys: Vec::new() }
    }

    /// The two-shape buffer against a tree, under random inserts (out of order, equal
    /// ordinals, past the small size) and pops: the same entries come out in the same
    /// order.
    #[test]
    fn buffer_behaves_as_a_tree() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for round in 0..300 {
            let mut buffer = Buffer::default();
            let mut model: BTreeMap<Ordinal, u64> = BTreeMap::new();
            let spread = 1 + round % 40;
            for step in 0..200u64 {
                if rng.random_bool(0.6) {
                    let o = Ordinal {
                        timestamp_ms: rng.random_range(0..spread),
                        tiebreaker: rng.random_bool(0.5).then(|| rng.random_range(0..3)),
                        arrival: rng.random_range(0..spread as u64),
                    };
                    buffer.insert(o, entry(step));
                    model.insert(o, step);
                } else if rng.random_bool(0.1) {
                    let all: Vec<(Ordinal, u64)> = buffer.take_all().into_iter().map(|(o, e)| (o, e.event.line)).collect();
                    assert_eq!(all, std::mem::take(&mut model).into_iter().collect::<Vec<_>>());
                } else {
                    assert_eq!(buffer.first(), model.first_key_value().map(|(o, _)| *o));
                    assert_eq!(buffer.pop_first().map(|(o, e)| (o, e.event.line)), model.pop_first());
                }
                assert_eq!(buffer.len(), model.len());
            }
        }
    }
}
