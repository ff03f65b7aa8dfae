//! The sequence state machine against a small model of Elasticsearch's, written from
//! `../shared/docs/EQL-SEMANTICS.md` §6 and sharing no code with the engine: random
//! events (ties in time, events matching several stages and `until` at once), delivered
//! in random order and random chunks, with `maxspan` boundaries and `until`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use proptest::prelude::*;
use seqhound::engine::{Engine, EngineOptions};
use seqhound::rule::compile::ColumnRegistry;
use seqhound::rule::{compile_rule, RuleMeta, RuleSet};
use seqhound::source::{Chunk, Origin};

const QUERY: &str = r#"sequence by host.id with maxspan=10s
  [process where process.name : ("a", "x")]
  [process where process.name : ("b", "x")]
until [process where process.name : ("u", "x")]"#;
const MAXSPAN_MS: i64 = 10_000;

#[derive(Debug, Clone)]
struct Ev {
    ts_ms: i64,
    /// `event.sequence`: the tie-breaker, unique.
    seq: i64,
    host: &'static str,
    name: &'static str,
}

/// The model: events in (time, tie-breaker) order; per key at most one pending sequence
/// (a newer stage-1 match replaces it); a stage-2 match completes it when within maxspan
/// of its first event (inclusive); an `until` match of the key drops its pending sequence,
/// also one this very event started, but not one it completed.
fn model(events: &[Ev]) -> BTreeSet<(i64, i64)> {
    let mut sorted = events.to_vec();
    sorted.sort_by_key(|e| (e.ts_ms, e.seq));
    let mut pending: HashMap<&str, (i64, i64)> = HashMap::new();
    let mut out = BTreeSet::new();
    for e in &sorted {
        let (s1, s2, until) = (matches!(e.name, "a" | "x"), matches!(e.name, "b" | "x"), matches!(e.name, "u" | "x"));
        // Later stages first: one event may complete a sequence and start another.
        if s2 {
            if let Some(&(first_ts, first_seq)) = pending.get(e.host) {
                if e.ts_ms - first_ts <= MAXSPAN_MS {
                    out.insert((first_seq, e.seq));
                    pending.remove(e.host);
                }
            }
        }
        if s1 {
            pending.insert(e.host, (e.ts_ms, e.seq));
        }
        if until {
            pending.remove(e.host);
        }
    }
    out
}

fn engine_run(events: &[Ev], order: &[usize], chunk: usize, lateness_ms: i64) -> BTreeSet<(i64, i64)> {
    let meta = RuleMeta {
        path: "model".into(),
        name: "model".into(),
        rule_type: "eql".into(),
        language: "eql".into(),
        query: QUERY.into(),
        query_line: 1,
        query_column: 1,
        ..RuleMeta::default()
    };
    let mut reg = ColumnRegistry::default();
    let rule = compile_rule(meta, &mut reg).expect("the model's rule compiles");
    let set = Arc::new(RuleSet::new(vec![rule], reg));
    let mut engine = Engine::new(set, EngineOptions { lateness_ms, ..Default::default() });
    let lines: Vec<String> = order
        .iter()
        .map(|&i| {
            let e = &events[i];
            format!(
                r#"{{"@timestamp":{},"event":{{"category":["process"],"sequence":{}}},"host":{{"id":"{}","os":{{"type":"macos"}}}},"process":{{"name":"{}"}}}}"#,
                1_790_000_000_000 + e.ts_ms,
                e.seq,
                e.host,
                e.name
            )
        })
        .collect();
    let mut dets = Vec::new();
    for part in lines.chunks(chunk.max(1)) {
        dets.extend(engine.push(&Chunk { bytes: part.join("\n").into(), origin: Origin::new("model"), first_line: 1 }));
    }
    dets.extend(engine.finish());
    let seq_of = |raw: &[u8]| -> i64 {
        let v: serde_json::Value = serde_json::from_slice(raw).unwrap();
        v["event"]["sequence"].as_i64().unwrap()
    };
    dets.iter().map(|d| (seq_of(&d.events[0].raw), seq_of(&d.events[1].raw))).collect()
}

fn events() -> impl Strategy<Value = Vec<Ev>> {
    let one = (0i64..25, prop::sample::select(vec!["h1", "h2"]), prop::sample::select(vec!["a", "b", "u", "x", "c"]));
    prop::collection::vec(one, 0..60)
        .prop_map(|v| v.into_iter().enumerate().map(|(i, (sec, host, name))| Ev { ts_ms: sec * 1_000, seq: i as i64, host, name }).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Arrival in any order within the lateness, any chunking: the model's sequences.
    #[test]
    fn shuffled_arrivals_match_the_model(evs in events(), keys in prop::collection::vec(any::<u32>(), 60), chunk in 1usize..20) {
        let mut order: Vec<usize> = (0..evs.len()).collect();
        order.sort_by_key(|&i| keys[i]);
        let want = model(&evs);
        // The whole stream spans 25 s: a 60 s lateness orders all of it.
        prop_assert_eq!(engine_run(&evs, &order, chunk, 60_000), want);
    }

    /// In order, with no lateness at all: the same.
    #[test]
    fn in_order_arrivals_match_the_model(evs in events(), chunk in 1usize..20) {
        let mut order: Vec<usize> = (0..evs.len()).collect();
        order.sort_by_key(|&i| (evs[i].ts_ms, evs[i].seq));
        prop_assert_eq!(engine_run(&evs, &order, chunk, 0), model(&evs));
    }
}
