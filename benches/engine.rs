//! Criterion benchmarks, one group per stage: pre-check, decode, filter, end-to-end.
//!
//! Every bench checks its expected count on the generated corpus (seed 42, 20 000 events,
//! 50 hosts), so a fast wrong answer fails instead of reporting a figure: the number of
//! detections comes from the conformance suite's independent reference model, and the
//! pre-check must not change any result.

#[path = "../conformance/reference.rs"]
mod reference;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use seqhound::decode::Decoder;
use seqhound::engine::{filter_batch, replay_slices, Engine, EngineOptions};
use seqhound::filter::predicate::list_columns;
use seqhound::generate::{generate, GenerateConfig};
use seqhound::rule::RuleSet;
use seqhound::source::file::chunks_at;
use seqhound::source::Origin;

const EVENTS: u64 = 20_000;

fn corpus() -> Vec<u8> {
    let mut out = Vec::new();
    generate(&GenerateConfig { seed: 42, hosts: 50, events: EVENTS }, &mut out).expect("generate");
    out
}

fn cuts(data: &[u8]) -> Vec<usize> {
    (1..).map(|i| i * 256 * 1024).take_while(|&c| c < data.len()).collect()
}

fn benches(c: &mut Criterion) {
    let data = corpus();
    let rules = Arc::new(RuleSet::embedded_default().expect("seed rule"));
    let chunks = chunks_at(&data, &cuts(&data), &Origin::new("bench"));

    // Reference counts for this corpus (see module doc).
    let (dets, stats) = replay_slices(rules.clone(), EngineOptions::default(), &data, &cuts(&data));
    let expected_detections = reference::reference_sequences(&data).len();
    assert!(expected_detections > 0, "corpus has no detections");
    assert_eq!(dets.len(), expected_detections, "engine disagrees with the reference model");
    let (dets_nopc, _) = replay_slices(rules.clone(), EngineOptions { precheck: false, ..Default::default() }, &data, &cuts(&data));
    assert_eq!(dets_nopc.len(), expected_detections, "pre-check changed the result");
    let survivors = stats.events - stats.precheck_dropped;

    let mut g = c.benchmark_group("seed-rule");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);

    g.bench_function(format!("precheck ({EVENTS} events)"), |b| {
        b.iter(|| {
            let mut kept = 0u64;
            for line in data.split(|&x| x == b'\n').filter(|l| !l.is_empty()) {
                kept += rules.precheck.may_match(black_box(line)) as u64;
            }
            assert_eq!(kept, survivors);
        })
    });

    // The chunk-wide anchor pass both ways: case-blind in one pass, and lower-case copy
    // then search. Both must leave the same lines with a hit.
    let lines_with_hits = |filter: &mut seqhound::decode::precheck::AnchorFilter| {
        let mut lines = 0usize;
        for ch in &chunks {
            let hits = filter.hits(black_box(&ch.bytes));
            let mut next = 0;
            let mut start = 0;
            for &end in filter.newlines() {
                while next < hits.len() && hits[next] < start {
                    next += 1;
                }
                lines += (next < hits.len() && hits[next] < end) as usize;
                start = end + 1;
            }
        }
        lines
    };
    let plan = |caseless| rules.precheck.anchor_filter_always(&chunks[0].bytes, caseless).expect("the seed rule has anchors");
    let expected_hit_lines = lines_with_hits(&mut plan(false));
    for (name, caseless) in [("case-blind, one pass", true), ("lower-case copy, then search", false)] {
        let mut filter = plan(caseless);
        g.bench_function(format!("anchor pass, {name} ({expected_hit_lines} lines with a hit)"), |b| {
            b.iter(|| assert_eq!(lines_with_hits(&mut filter), expected_hit_lines))
        });
    }

    g.bench_function(format!("decode after precheck ({survivors} of {EVENTS} kept)"), |b| {
        let mut d = Decoder::new(rules.projection.clone(), Some(rules.precheck.clone()));
        b.iter(|| {
            let mut rows = 0usize;
            for ch in &chunks {
                rows += d.decode(black_box(ch)).batch.num_rows();
            }
            assert_eq!(rows as u64, survivors);
        })
    });

    g.bench_function(format!("decode all ({EVENTS} events, no precheck)"), |b| {
        let mut d = Decoder::new(rules.projection.clone(), None);
        b.iter(|| {
            let mut rows = 0usize;
            for ch in &chunks {
                rows += d.decode(black_box(ch)).batch.num_rows();
            }
            assert_eq!(rows as u64, EVENTS);
        })
    });

    // The same lines, each made a shape of its own by a first key no other line has:
    // what a stream of ever-new shapes costs (the shape cache misses on every line).
    let unique: Vec<u8> = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .flat_map(|(i, l)| [format!("{{\"k{i}\":0,").as_bytes(), &l[1..], b"\n"].concat())
        .collect();
    let unique_chunks = chunks_at(&unique, &cuts(&unique), &Origin::new("bench"));
    g.bench_function(format!("decode all, no shape twice ({EVENTS} events, no precheck)"), |b| {
        b.iter(|| {
            let mut d = Decoder::new(rules.projection.clone(), None);
            let (mut rows, mut by_shape) = (0usize, 0u64);
            for ch in &unique_chunks {
                let decoded = d.decode(black_box(ch));
                rows += decoded.batch.num_rows();
                by_shape += decoded.read_by_shape;
            }
            assert_eq!((rows as u64, by_shape), (EVENTS, 0));
        })
    });

    // Filter alone, over batches decoded without pre-check (every row evaluated).
    let mut d = Decoder::new(rules.projection.clone(), None);
    let decoded: Vec<_> = chunks.iter().map(|ch| (d.decode(ch).batch, ch.clone())).collect();
    let expected_stage_matches: u64 = stats.candidates.iter().sum();
    g.throughput(Throughput::Elements(EVENTS));
    g.bench_function(format!("filter ({EVENTS} rows, {expected_stage_matches} stage matches)"), |b| {
        b.iter(|| {
            let mut matches = 0u64;
            for (batch, _chunk) in &decoded {
                let _cols = list_columns(&batch.batch);
                let cands = filter_batch(&rules, black_box(batch));
                matches += cands.stage_matches.iter().sum::<u64>();
            }
            assert_eq!(matches, expected_stage_matches);
        })
    });

    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function(format!("end-to-end replay ({EVENTS} events, {expected_detections} detections)"), |b| {
        b.iter(|| assert_eq!(replay_detections(&rules, &chunks), expected_detections))
    });
    g.finish();
    macos_rules(c, &data);
}

/// Every macOS rule of Elastic's detection-rules corpus that compiles, loaded together
/// (when `../shared/corpora` is present). The expected counts: the same run without the
/// pre-check and cut into other chunks must agree, detection for detection.
fn macos_rules(c: &mut Criterion, data: &[u8]) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora/detection-rules/rules/macos");
    if !dir.is_dir() {
        eprintln!("macos-rules: {} not found, skipped", dir.display());
        return;
    }
    let (set, _unsupported) = RuleSet::load(&[dir]).expect("rules");
    let rules = Arc::new(set);
    let (dets, _) = replay_slices(rules.clone(), EngineOptions::default(), data, &cuts(data));
    let other_cuts: Vec<usize> = (1..).map(|i| i * 7_001).take_while(|&c| c < data.len()).collect();
    let (dets_nopc, _) = replay_slices(rules.clone(), EngineOptions { precheck: false, ..Default::default() }, data, &other_cuts);
    assert_eq!(dets.len(), dets_nopc.len(), "pre-check or chunking changed the result");
    assert!(!dets.is_empty());
    let chunks = chunks_at(data, &cuts(data), &Origin::new("bench"));
    let mut g = c.benchmark_group("macos-rules");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function(format!("end-to-end replay ({} rules, {EVENTS} events, {} detections)", rules.rules.len(), dets.len()), |b| {
        b.iter(|| assert_eq!(replay_detections(&rules, &chunks), dets.len()))
    });
    g.finish();
}

/// Detections of a full replay of `chunks` (the end-to-end measurement).
fn replay_detections(rules: &Arc<RuleSet>, chunks: &[seqhound::source::Chunk]) -> usize {
    let mut engine = Engine::new(rules.clone(), EngineOptions::default());
    let mut n = 0usize;
    for ch in chunks {
        n += engine.push(black_box(ch)).len();
    }
    n + engine.finish().len()
}

criterion_group!(engine, benches);
criterion_main!(engine);
