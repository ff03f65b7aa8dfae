//! Sequence: orders candidates by event time and runs Elasticsearch's EQL sequence state
//! machine per rule. Stateful and ordered: one [`Sequencer`] per rule, fed candidates in
//! arrival order, which makes its output independent of how the input was cut into
//! chunks.
//!
//! * [`order`] — per-partition reorder buffers released by a watermark.
//! * [`machine`] — pending sequences per join key, maxspan, the transitions.

use std::sync::Arc;

use bytes::Bytes;

pub mod machine;
pub mod order;
pub mod sample;

pub use machine::Sequencer;

/// One event of a detection, with enough context to build alerts without re-reading input.
#[derive(Debug, Clone)]
pub struct EventRef {
    /// The raw JSON line (a view of the chunk it arrived in).
    pub raw: Bytes,
    /// Source name and 1-based line number.
    pub origin: Arc<str>,
    pub line: u64,
    /// Event time in epoch milliseconds (Elasticsearch keeps milliseconds).
    pub timestamp_ms: i64,
    /// The tie-breaker value (`event.sequence` unless the rule names another field).
    pub tiebreaker: Option<i64>,
    /// Index of the stage this event matched.
    pub stage: usize,
    /// `event.id` of the event, when present.
    pub event_id: Option<String>,
}

/// A completed sequence (or a single-event match) of one rule.
#[derive(Debug, Clone)]
pub struct Detection {
    /// Index of the rule in the loaded [`crate::rule::RuleSet`].
    pub rule: usize,
    /// The events in sequence order.
    pub events: Vec<EventRef>,
    /// The join key values of the sequence (header keys, then stage keys), as text.
    pub join_keys: Vec<Option<String>>,
}

/// Position of an event in Elasticsearch's sort order: `@timestamp` (ms), then the
/// tie-breaker (events without one sort last, as Elasticsearch sorts nulls), then arrival.
///
/// Elasticsearch's last resort is `_shard_doc`, an index order; arrival order is its
/// streaming counterpart. Equal-millisecond events of Endpoint carry `event.sequence`,
/// the per-agent counter, which settles their order the way the agent saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Ordinal {
    pub timestamp_ms: i64,
    pub tiebreaker: Option<i64>,
    pub arrival: u64,
}

impl Ord for Ordinal {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.timestamp_ms
            .cmp(&o.timestamp_ms)
            .then_with(|| match (self.tiebreaker, o.tiebreaker) {
                (Some(a), Some(b)) => a.cmp(&b),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| self.arrival.cmp(&o.arrival))
    }
}

impl PartialOrd for Ordinal {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// Join key values: header keys then stage keys. `None` is a null key (only `?field`).
pub type Key = Box<[Option<Box<str>>]>;

/// A filter → sequence boundary item: one event that matched at least one stage of a rule.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub ordinal: Ordinal,
    pub event: Arc<EventRef>,
    /// Each stage it matched with every join key it has there (array keys expand).
    pub stage_keys: Vec<(usize, Vec<Key>)>,
}

/// Counters of the sequence stage.
#[derive(Debug, Default, Clone)]
pub struct SequenceStats {
    /// Candidates that arrived after their partition's watermark had passed them.
    pub late: u64,
    /// Pending sequences evicted by the state cap (oldest first).
    pub evicted: u64,
    /// Candidates released from a reorder buffer before the lateness had passed, because
    /// the buffer reached the state cap (a flood inside the lateness window). A later
    /// candidate older than them is then evaluated out of order (counted as late).
    pub reorder_forced: u64,
    /// Pending sequences dropped because maxspan had certainly passed.
    pub expired: u64,
    /// Sequences discarded because a missing-event stage `![…]` found its event.
    pub missing_rejected: u64,
    /// Pending sequences ended by an `until` event.
    pub until_dropped: u64,
    /// Stage matches refused because maxspan was exceeded.
    pub maxspan_rejected: u64,
    /// Current number of pending sequences.
    pub pending: u64,
    /// Current number of candidates waiting in reorder buffers.
    pub buffered: u64,
}
