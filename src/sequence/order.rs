//! Event-time order for one partition of a rule's join keys.
//!
//! Endpoints' clocks disagree and hosts' batches arrive at different times, so a single
//! global watermark would make a lagging host's events "late". Order only matters among
//! events that can join, and events can only join when their sequence-level (`sequence
//! by`) keys are equal — so each distinct header-key tuple is a partition with its own
//! watermark: the largest event time seen there minus the allowed lateness. Candidates
//! wait in the partition's buffer until the watermark passes them.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{EventRef, Key, Ordinal};

/// A buffered candidate of one partition.
#[derive(Debug, Clone)]
pub struct Entry {
    pub event: Arc<EventRef>,
    /// Stages matched and their full join keys (all sharing this partition's header).
    pub stage_keys: Vec<(usize, Key)>,
}

/// The reorder buffer of one partition.
#[derive(Debug, Default)]
pub struct Partition {
    buffer: BTreeMap<Ordinal, Entry>,
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
        let (first, _) = self.buffer.first_key_value()?;
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
        let all = std::mem::take(&mut self.buffer);
        if let Some((o, _)) = all.last_key_value() {
            self.released = Some(*o);
        }
        all.into_iter().collect()
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
