//! Helpers shared by the conformance and hostile-input tests: run the engine over bytes
//! cut at chosen places, turn its detections into `event.id` lists, and compare them with
//! the reference model's, reporting what was missed and what was extra.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use seqhound::engine::{replay_slices, EngineOptions, Stats};
use seqhound::rule::RuleSet;
use seqhound::sequence::Detection;

/// `with maxspan=15s` of the seed rule.
pub const MAXSPAN_MS: i64 = 15_000;

/// The embedded default rule set (the seed rule).
pub fn seed_rules() -> Arc<RuleSet> {
    Arc::new(RuleSet::embedded_default().expect("the embedded default rule set loads"))
}

/// Engine options with the pre-check switched on or off, everything else default.
pub fn options(precheck: bool) -> EngineOptions {
    EngineOptions { precheck, ..EngineOptions::default() }
}

/// What one engine run produced.
pub struct EngineRun {
    /// Detections as `event.id` lists, in the engine's output order.
    pub sequences: Vec<Vec<String>>,
    /// The first join key (the `sequence by` key, `host.id`) of each detection.
    pub partitions: Vec<Option<String>>,
    pub stats: Stats,
}

/// Runs the engine over `data` cut at `cuts` and checks the shape of every detection.
pub fn run_engine(rules: &Arc<RuleSet>, options: EngineOptions, data: &[u8], cuts: &[usize]) -> EngineRun {
    let (detections, stats) = replay_slices(Arc::clone(rules), options, data, cuts);
    for detection in &detections {
        check_shape(detection);
    }
    let sequences = detections.iter().map(event_ids).collect();
    let partitions = detections.iter().map(|d| d.join_keys.first().cloned().flatten()).collect();
    EngineRun { sequences, partitions, stats }
}

/// The `event.id`s of a detection's events; an event without one is named by its line
/// (`#line:<n>`), as the reference model does.
pub fn event_ids(detection: &Detection) -> Vec<String> {
    detection.events.iter().map(|e| e.event_id.clone().unwrap_or_else(|| format!("#line:{}", e.line))).collect()
}

/// A seed-rule detection: rule 0, two events, stage 0 then stage 1, within maxspan.
fn check_shape(detection: &Detection) {
    let ids = event_ids(detection);
    assert_eq!(detection.rule, 0, "only the seed rule is loaded: {ids:?}");
    assert_eq!(detection.events.len(), 2, "a seed-rule sequence has two events: {ids:?}");
    let stages: Vec<usize> = detection.events.iter().map(|e| e.stage).collect();
    assert_eq!(stages, vec![0, 1], "stages of {ids:?}");
    let span = detection.events[1].timestamp_ms - detection.events[0].timestamp_ms;
    assert!((0..=MAXSPAN_MS).contains(&span), "span {span} ms of {ids:?}");
}

/// Asserts the engine found exactly the reference's sequences, first as multisets (with
/// the missed and extra ones listed), then in the same order within each partition.
///
/// Order across partitions is not compared: the engine keeps one watermark per
/// `sequence by` key (`host.id`), so a detection on one host may be released before an
/// earlier one on a host whose later events have not arrived yet. Within a partition the
/// order must be Elasticsearch's: by the last event.
pub fn assert_same_sequences(label: &str, run: &EngineRun, reference: &[Vec<String>]) {
    let engine = &run.sequences;
    let (missed, extra) = multiset_difference(engine, reference);
    if !missed.is_empty() || !extra.is_empty() {
        panic!(
            "{label}: engine {} sequences, reference {}; missed {} (first: {:?}), extra {} (first: {:?})",
            engine.len(),
            reference.len(),
            missed.len(),
            &missed[..missed.len().min(10)],
            extra.len(),
            &extra[..extra.len().min(10)],
        );
    }
    // Give each reference sequence the partition the engine reported for it.
    let mut partition_of: BTreeMap<&Vec<String>, VecDeque<&Option<String>>> = BTreeMap::new();
    for (sequence, partition) in engine.iter().zip(&run.partitions) {
        partition_of.entry(sequence).or_default().push_back(partition);
    }
    // Per partition: (engine order, reference order).
    type Orders<'a> = (Vec<&'a Vec<String>>, Vec<&'a Vec<String>>);
    let mut by_partition: BTreeMap<&Option<String>, Orders> = BTreeMap::new();
    for (sequence, partition) in engine.iter().zip(&run.partitions) {
        by_partition.entry(partition).or_default().0.push(sequence);
    }
    for sequence in reference {
        let partition = partition_of.get_mut(sequence).and_then(|q| q.pop_front()).expect("the multisets are equal");
        by_partition.entry(partition).or_default().1.push(sequence);
    }
    for (partition, (engine_order, reference_order)) in &by_partition {
        if let Some(at) = engine_order.iter().zip(reference_order).position(|(e, r)| e != r) {
            let from = at.saturating_sub(2);
            let to = (at + 3).min(engine_order.len());
            panic!(
                "{label}: same sequences, different order in partition {partition:?} from index {at}: \
                 engine {:?}, reference {:?}",
                &engine_order[from..to],
                &reference_order[from..to],
            );
        }
    }
}

/// (in `reference` but not in `engine`, in `engine` but not in `reference`), counting
/// repeats.
pub fn multiset_difference(engine: &[Vec<String>], reference: &[Vec<String>]) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let mut counts: BTreeMap<&Vec<String>, i64> = BTreeMap::new();
    for s in reference {
        *counts.entry(s).or_default() += 1;
    }
    for s in engine {
        *counts.entry(s).or_default() -= 1;
    }
    let mut missed = Vec::new();
    let mut extra = Vec::new();
    for (s, n) in counts {
        for _ in 0..n.max(0) {
            missed.push(s.clone());
        }
        for _ in 0..(-n).max(0) {
            extra.push(s.clone());
        }
    }
    (missed, extra)
}

/// Byte offsets just after every `every`-th line end.
pub fn line_cuts(data: &[u8], every: usize) -> Vec<usize> {
    data.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .enumerate()
        .filter(|(n, _)| (n + 1) % every == 0)
        .map(|(_, offset)| offset)
        .filter(|offset| *offset < data.len())
        .collect()
}

/// Byte offsets every `size` bytes, wherever they fall (the engine moves each to the
/// next line boundary).
pub fn byte_cuts(data: &[u8], size: usize) -> Vec<usize> {
    (1..).map(|k| k * size).take_while(|offset| *offset < data.len()).collect()
}

/// About `count` distinct random byte offsets, sorted, from a fixed seed.
pub fn random_cuts(data: &[u8], seed: u64, count: usize) -> Vec<usize> {
    if data.len() < 2 {
        return Vec::new();
    }
    let mut rng = SplitMix64(seed);
    let mut cuts: Vec<usize> = (0..count).map(|_| 1 + (rng.next() % (data.len() as u64 - 1)) as usize).collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator, enough for cut points.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
