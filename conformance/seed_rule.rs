//! Conformance of the engine with the reference model on the seed rule.
//!
//! Each test generates a synthetic corpus in memory (`seqhound::generate`), runs the whole
//! engine pipeline over it (`replay_slices`, which flushes at the end) and the reference
//! model (`reference.rs`, which shares no code with the crate), and requires the same
//! sequences, as lists of `event.id`s: none missed, none extra, and within each
//! partition (`host.id`, the `sequence by` key) in the same order – by their last event,
//! as Elasticsearch returns them. Across partitions the engine's order follows each
//! partition's watermark, so it is not compared.
//!
//! The generator shuffles arrival by at most 3 s, inside the engine's default lateness
//! of 5 s, so the engine's windowed reordering must reach the order the reference gets
//! by sorting the whole input.
//!
//! A second, denser corpus comes from `random_corpus.rs`, written for these tests alone:
//! few hosts and entity ids, follow-ups at the maxspan edge, equal milliseconds, mixed
//! key forms, escapes, near misses and broken lines.
//!
//! Run with `cargo test --test conformance_seed_rule -- --nocapture` to see the counts.

#[path = "random_corpus.rs"]
mod random_corpus;
#[path = "reference.rs"]
mod reference;
#[path = "support.rs"]
mod support;

use seqhound::generate::{generate, GenerateConfig};

use support::{assert_same_sequences, byte_cuts, line_cuts, options, random_cuts, run_engine, seed_rules};

/// Hosts in every generated corpus.
const HOSTS: u64 = 50;
/// Events per seed in the agreement tests (3 seeds: 210 000 events in all).
const EVENTS_PER_SEED: u64 = 70_000;
/// Events in the batch-boundary corpus.
const BOUNDARY_EVENTS: u64 = 20_000;

/// Generates `events` events over `hosts` hosts into memory.
// The conversions adapt to whatever integer types `GenerateConfig` uses.
#[allow(clippy::useless_conversion)]
fn corpus(seed: u64, hosts: u64, events: u64) -> Vec<u8> {
    corpus_with_stats(seed, hosts, events).0
}

/// Like [`corpus`], with the generator's own account of what it planted.
#[allow(clippy::useless_conversion)]
fn corpus_with_stats(seed: u64, hosts: u64, events: u64) -> (Vec<u8>, seqhound::generate::GenerateStats) {
    let config = GenerateConfig {
        seed: seed.try_into().expect("seed fits the generator's type"),
        hosts: hosts.try_into().expect("host count fits the generator's type"),
        events: events.try_into().expect("event count fits the generator's type"),
    };
    let mut out = Vec::new();
    match generate(&config, &mut out) {
        Ok(stats) => (out, stats),
        Err(e) => panic!("generating {events} events (seed {seed}) failed: {e}"),
    }
}

/// Engine (one chunking, pre-check on) vs reference on one generated corpus.
fn agree_on_seed(seed: u64) {
    let (data, planted) = corpus_with_stats(seed, HOSTS, EVENTS_PER_SEED);
    // Every scenario of ECS-MACOS.md §8 (and the edge cases) is in the corpus.
    let absent: Vec<&str> = planted.scenarios.iter().filter(|(_, n)| *n == 0).map(|(s, _)| *s).collect();
    assert!(planted.scenarios.len() >= 30 && absent.is_empty(), "scenarios missing from seed {seed}: {absent:?}");
    let model = reference::run(&data);
    // Three independent accounts must agree: what the generator planted, the reference
    // model, and (below) the engine.
    assert_eq!(model.sequences.len() as u64, planted.planted_true_positives, "reference model and generator disagree on seed {seed}");
    let rules = seed_rules();
    let engine = run_engine(&rules, options(true), &data, &byte_cuts(&data, 256 * 1024));
    println!(
        "seed {seed}: {} bytes, {} lines valid, {} invalid, {} blank; reference stage matches {:?}, \
         {} sequences; engine {} sequences, stats events {} bytes {} malformed {} detections {} candidates {:?}",
        data.len(),
        model.valid_lines.len(),
        model.invalid_lines.len(),
        model.blank_lines,
        model.stage_matches,
        model.sequences.len(),
        engine.sequences.len(),
        engine.stats.events,
        engine.stats.bytes,
        engine.stats.malformed,
        engine.stats.detections,
        engine.stats.candidates,
    );
    assert!(model.valid_lines.len() as u64 >= EVENTS_PER_SEED * 9 / 10, "seed {seed}: the generator produced only {} valid events", model.valid_lines.len());
    assert!(!model.sequences.is_empty(), "seed {seed}: the reference found no sequence, so agreement would prove nothing");
    if model.stage_matches[0] <= model.sequences.len() as u64 && model.stage_matches[1] <= model.sequences.len() as u64 {
        println!("seed {seed}: warning: no near misses, every stage match completes a sequence");
    }
    assert_same_sequences(&format!("seed {seed}"), &engine, &model.sequences);
    assert_eq!(engine.stats.detections, engine.sequences.len() as u64, "seed {seed}: stats.detections counts the detections returned");
}

#[test]
fn seed_1_engine_matches_reference() {
    agree_on_seed(1);
}

#[test]
fn seed_2_engine_matches_reference() {
    agree_on_seed(2);
}

#[test]
fn seed_3_engine_matches_reference() {
    agree_on_seed(3);
}

/// Re-slicing the same input never changes the detections (nor their order), with the
/// pre-check on or off.
#[test]
fn batch_boundaries_do_not_change_detections() {
    let data = corpus(4, HOSTS, BOUNDARY_EVENTS);
    let model = reference::run(&data);
    assert!(!model.sequences.is_empty(), "the reference found no sequence in the boundary corpus");
    let rules = seed_rules();
    let baseline = run_engine(&rules, options(true), &data, &[]);
    assert_same_sequences("one chunk", &baseline, &model.sequences);

    let mut slicings: Vec<(String, Vec<usize>)> = vec![
        ("every line".into(), line_cuts(&data, 1)),
        ("every 2 lines".into(), line_cuts(&data, 2)),
        ("every 7 lines".into(), line_cuts(&data, 7)),
        ("every 49 lines".into(), line_cuts(&data, 49)),
        ("every 50 lines".into(), line_cuts(&data, 50)),
        ("every 51 lines".into(), line_cuts(&data, 51)),
        ("every 1000 lines".into(), line_cuts(&data, 1000)),
        ("every 4096 bytes".into(), byte_cuts(&data, 4096)),
        ("every 1000003 bytes".into(), byte_cuts(&data, 1_000_003)),
    ];
    for (seed, count) in [(11, 10), (12, 500), (13, 5_000), (14, 50_000)] {
        slicings.push((format!("{count} random cuts (seed {seed})"), random_cuts(&data, seed, count)));
    }
    for (label, cuts) in &slicings {
        let run = run_engine(&rules, options(true), &data, cuts);
        println!("{label}: {} chunks, {} sequences", cuts.len() + 1, run.sequences.len());
        assert_same_sequences(label, &run, &baseline.sequences);
        assert_eq!(run.stats.malformed, baseline.stats.malformed, "{label}: malformed count");
    }
    for (label, cuts) in [("no pre-check, one chunk", Vec::new()), ("no pre-check, every 7 lines", line_cuts(&data, 7))] {
        let run = run_engine(&rules, options(false), &data, &cuts);
        assert_same_sequences(label, &run, &model.sequences);
    }
}

/// Dense random corpora (`random_corpus.rs`): every edge of the rule, often. Several
/// chunkings, pre-check on and off.
#[test]
fn dense_random_corpora_engine_matches_reference() {
    let rules = seed_rules();
    let mut total = 0;
    for seed in 1..=12u64 {
        let data = random_corpus::random_corpus(seed, 3, 4_000);
        let model = reference::run(&data);
        total += model.sequences.len();
        let runs = [("one chunk", Vec::new(), true), ("every 7 lines", line_cuts(&data, 7), true), ("300 random cuts", random_cuts(&data, seed, 300), false)];
        for (label, cuts, precheck) in runs {
            let run = run_engine(&rules, options(precheck), &data, &cuts);
            let label = format!("dense seed {seed}, {label}, pre-check {precheck}");
            assert_same_sequences(&label, &run, &model.sequences);
        }
    }
    println!("dense random corpora: {total} sequences in 12 corpora");
    assert!(total > 1_000, "the dense corpora hold only {total} sequences");
}
