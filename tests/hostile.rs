//! Hostile input: the engine must find exactly the reference model's sequences among the
//! valid lines of a corpus built to trip readers up (see `conformance/hostile_corpus.rs`),
//! never panic, and count the broken lines that reach its decoder as malformed – with the
//! pre-check on and off, at many chunkings (the 5 MiB line and the BOM cut anywhere).

#[path = "../conformance/hostile_corpus.rs"]
mod hostile_corpus;
#[path = "../conformance/reference.rs"]
mod reference;
#[path = "../conformance/support.rs"]
mod support;

use hostile_corpus::{degenerate_inputs, hostile_corpus, Kind, NOISE_OBJECT};
use support::{assert_same_sequences, byte_cuts, line_cuts, options, random_cuts, run_engine, seed_rules};

/// The chunkings every input is run at: (label, cut offsets).
fn chunkings(data: &[u8]) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<(String, Vec<usize>)> = vec![
        ("one chunk".into(), Vec::new()),
        ("every line".into(), line_cuts(data, 1)),
        ("every 3 lines".into(), line_cuts(data, 3)),
        ("every 64 KiB".into(), byte_cuts(data, 64 * 1024)),
        ("every 1 MiB".into(), byte_cuts(data, 1024 * 1024)),
        if data.len() <= 4096 { ("every byte".into(), byte_cuts(data, 1)) } else { ("every 997 bytes".into(), byte_cuts(data, 997)) },
    ];
    for (seed, count) in [(21, 3), (22, 200), (23, 20_000)] {
        out.push((format!("{count} random cuts (seed {seed})"), random_cuts(data, seed, count)));
    }
    out
}

/// The reference model agrees with what the corpus builder planted, line by line.
#[test]
fn reference_agrees_with_the_plan() {
    let corpus = hostile_corpus();
    let model = reference::run(&corpus.bytes);
    let mut invalid = corpus.lines_of(Kind::Broken);
    invalid.extend(corpus.lines_of(Kind::Noise));
    invalid.sort_unstable();
    assert_eq!(model.valid_lines, corpus.lines_of(Kind::Valid), "valid lines");
    assert_eq!(model.invalid_lines, invalid, "invalid lines");
    assert_eq!(model.blank_lines as usize, corpus.count(Kind::Blank), "blank lines");
    assert_eq!(model.sequences, corpus.expected(), "planted sequences");
}

#[test]
fn hostile_corpus_matches_reference() {
    let corpus = hostile_corpus();
    let model = reference::run(&corpus.bytes);
    let broken = corpus.count(Kind::Broken) as u64;
    let noise = corpus.count(Kind::Noise) as u64;
    // Noise lines a decoder must refuse whatever it matches: not JSON, not an object.
    let refused_noise = noise - corpus.labels.iter().filter(|l| *l == NOISE_OBJECT).count() as u64;
    println!(
        "hostile corpus: {} bytes, {} lines ({} valid, {} broken, {} noise, {} blank), {} sequences expected",
        corpus.bytes.len(),
        corpus.kinds.len(),
        corpus.count(Kind::Valid),
        broken,
        noise,
        corpus.count(Kind::Blank),
        model.sequences.len(),
    );
    assert!(model.sequences.len() > 50, "the corpus plants many sequences");
    let rules = seed_rules();
    for precheck in [true, false] {
        for (label, cuts) in chunkings(&corpus.bytes) {
            let label = format!("pre-check {precheck}, {label}");
            let run = run_engine(&rules, options(precheck), &corpus.bytes, &cuts);
            println!(
                "{label}: {} sequences, malformed {}, events {}, candidates {:?}",
                run.sequences.len(),
                run.stats.malformed,
                run.stats.events,
                run.stats.candidates,
            );
            assert_same_sequences(&label, &run, &model.sequences);
            assert!(run.stats.malformed >= broken, "{label}: {} malformed counted, but {broken} broken lines carry the rule's literals", run.stats.malformed,);
            if !precheck {
                assert!(
                    run.stats.malformed >= broken + refused_noise,
                    "{label}: without the pre-check every line is decoded: {} malformed counted, {} lines are not JSON objects or break the rule's events",
                    run.stats.malformed,
                    broken + refused_noise,
                );
            }
            assert_eq!(run.stats.detections, run.sequences.len() as u64, "{label}: stats.detections");
        }
    }
}

/// Tiny and pathological inputs (empty, BOM only, no final line end, 200 000 open
/// brackets) run without a panic and agree with the model.
#[test]
fn degenerate_inputs_match_reference() {
    let rules = seed_rules();
    for (name, data) in degenerate_inputs() {
        let expected = reference::reference_sequences(&data);
        for precheck in [true, false] {
            for (label, cuts) in chunkings(&data) {
                let label = format!("{name}, pre-check {precheck}, {label}");
                let run = run_engine(&rules, options(precheck), &data, &cuts);
                assert_same_sequences(&label, &run, &expected);
            }
        }
    }
}
