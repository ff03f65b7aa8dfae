//! Elasticsearch's own EQL conformance tests, run through seqhound.
//!
//! Loads every query of `../shared/corpora/es-eql-qa/*.toml` with its data set, runs it
//! through the real rule compiler and engine, orders the results as Elasticsearch returns
//! them (events by time then tie-breaker, sequences by their last event), applies the
//! query's pipes and the runner's `size` of 50, and compares the tie-breaker ids with
//! `expected_event_ids` (and the sequences' `join_keys` when given).
//!
//! What the runner does on Elasticsearch's side of the table — the index mappings — it
//! does to the data before the engine sees it, as Elasticsearch would at index time:
//! the `event.category` and `event.sequence` aliases, the FILETIME → `@timestamp`
//! conversion of the Endgame data, and `null_value: "NULL"` of
//! `optional_field_default_null`.
//!
//! A query may fail only by being refused as unsupported by seqhound (its reason is
//! printed); at most 5 % of the queries may be. Without the corpus the test says it did
//! not run, unless `SEQHOUND_REQUIRE_SHARED` is set.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use seqhound::engine::{apply_pipes, Engine, EngineOptions};
use seqhound::rule::compile::ColumnRegistry;
use seqhound::rule::{compile_rule, RuleErrorKind, RuleMeta, RuleSet, RuleShape};
use seqhound::source::{Chunk, Origin};
use serde_json::{Map, Value};

/// Elasticsearch's QA runner asks for at most this many results.
const SIZE: usize = 50;

#[derive(Debug)]
struct Case {
    file: String,
    name: String,
    query: String,
    /// Acceptable answers (usually one).
    expected: Vec<Vec<i64>>,
    join_keys: Option<Vec<String>>,
}

struct Dataset {
    ndjson: Vec<u8>,
    tiebreaker: &'static str,
    /// Field paths of the index mapping: every path in the data, plus mapped-only fields.
    mapping: HashSet<String>,
}

fn paths_of(v: &Value, prefix: &str, out: &mut HashSet<String>) {
    if let Value::Object(m) = v {
        for (k, child) in m {
            let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            out.insert(p.clone());
            paths_of(child, &p, out);
        }
    }
}

fn mapping_of(ndjson: &[u8], extra_fields: &[&str]) -> HashSet<String> {
    let mut out: HashSet<String> = extra_fields.iter().map(|s| s.to_string()).collect();
    for line in ndjson.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(line).unwrap();
        paths_of(&v, "", &mut out);
    }
    out
}

fn corpus_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora/es-eql-qa");
    if d.is_dir() {
        Some(d)
    } else {
        assert!(std::env::var_os("SEQHOUND_REQUIRE_SHARED").is_none(), "{} is missing", d.display());
        None
    }
}

/// `test_extra.toml` writes bare `null` in `join_keys`, which TOML does not allow.
fn quote_bare_nulls(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with("join_keys") {
                let mut out = String::new();
                let mut in_str = false;
                let b = l.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    let c = b[i] as char;
                    if c == '"' {
                        in_str = !in_str;
                    }
                    if !in_str && l[i..].starts_with("null") {
                        out.push_str("\"null\"");
                        i += 4;
                        continue;
                    }
                    out.push(c);
                    i += 1;
                }
                out
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn load_cases(dir: &Path, file: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let doc: toml::Table = toml::from_str(&quote_bare_nulls(&text)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut out = Vec::new();
    for (i, q) in doc["queries"].as_array().unwrap().iter().enumerate() {
        let name = q.get("name").and_then(|v| v.as_str()).map_or_else(|| format!("{file}#{i}"), str::to_string);
        let query = q["query"].as_str().unwrap().to_string();
        let ids = q["expected_event_ids"].as_array().unwrap();
        let expected = if ids.first().is_some_and(|v| v.is_array()) {
            ids.iter().map(|a| a.as_array().unwrap().iter().map(|x| x.as_integer().unwrap()).collect()).collect()
        } else {
            vec![ids.iter().map(|x| x.as_integer().unwrap()).collect()]
        };
        let join_keys = q.get("join_keys").and_then(|v| v.as_array()).map(|a| {
            a.iter()
                .map(|x| match x {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        });
        out.push(Case { file: file.to_string(), name, query, expected, join_keys });
    }
    out
}

fn endgame(dir: &Path, nanos: bool) -> Dataset {
    let text = std::fs::read_to_string(dir.join("test_data.json")).unwrap();
    let events: Vec<Map<String, Value>> = serde_json::from_str(&text).unwrap();
    let mut ndjson = Vec::new();
    for mut e in events {
        let ft = e["timestamp"].as_i64().unwrap();
        // `timestamp` is a FILETIME (100 ns ticks since 1601); the nanos index reads the
        // same digits as nanoseconds since 1970.
        let ms = if nanos { ft / 1_000_000 } else { ft / 10_000 - 11_644_473_600_000 };
        e.insert("@timestamp".into(), Value::from(ms));
        let mut ev = Map::new();
        ev.insert("category".into(), e["event_type"].clone());
        ev.insert("sequence".into(), e["serial_event_id"].clone());
        e.insert("event".into(), Value::Object(ev));
        serde_json::to_writer(&mut ndjson, &e).unwrap();
        ndjson.push(b'\n');
    }
    let mapping = mapping_of(&ndjson, &[]);
    Dataset { ndjson, tiebreaker: "serial_event_id", mapping }
}

fn extra(dir: &Path) -> Dataset {
    let text = std::fs::read_to_string(dir.join("data/extra.data")).unwrap();
    let events: Vec<Map<String, Value>> = serde_json::from_str(&text).unwrap();
    let mut ndjson = Vec::new();
    for mut e in events {
        let mut ev = Map::new();
        if let Some(t) = e.get("event_type") {
            ev.insert("category".into(), t.clone());
        }
        if let Some(s) = e.get("sequence") {
            ev.insert("sequence".into(), s.clone());
        }
        e.insert("event".into(), Value::Object(ev));
        // Mapping: optional_field_default_null has null_value "NULL".
        if e.get("optional_field_default_null") == Some(&Value::Null) {
            e.insert("optional_field_default_null".into(), Value::from("NULL"));
        }
        serde_json::to_writer(&mut ndjson, &e).unwrap();
        ndjson.push(b'\n');
    }
    // Fields that data/extra.mapping maps but no document carries.
    let mapping = mapping_of(&ndjson, &["optional_field_mapping_only", "optional_field_default_null"]);
    Dataset { ndjson, tiebreaker: "sequence", mapping }
}

enum Outcome {
    Pass,
    Unsupported(String),
    Fail(String),
}

/// Features of the test indices that seqhound does not model; queries that need them are
/// reported as unsupported with the reason.
fn mapping_unsupported(case: &Case) -> Option<&'static str> {
    if case.file == "test_queries_date_nanos.toml" {
        return Some("date_nanos fields: seqhound keeps millisecond precision, as for `date`");
    }
    if case.name.starts_with("sequenceWithVersion") {
        return Some("the `version` field type (semantic-version ordering)");
    }
    None
}

fn run_case(case: &Case, data: &Dataset) -> Outcome {
    if let Some(why) = mapping_unsupported(case) {
        return Outcome::Unsupported(why.to_string());
    }
    let meta = RuleMeta {
        path: format!("{}:{}", case.file, case.name),
        name: case.name.clone(),
        rule_type: "eql".into(),
        language: "eql".into(),
        query: case.query.clone(),
        query_line: 1,
        query_column: 1,
        tiebreaker_field: Some(data.tiebreaker.to_string()),
        ..RuleMeta::default()
    };
    let mut reg = ColumnRegistry::with_mapping(data.mapping.iter().cloned());
    let rule = match compile_rule(meta, &mut reg) {
        Ok(r) => r,
        Err(e) if e.kind == RuleErrorKind::Unsupported => return Outcome::Unsupported(e.message),
        Err(e) => return Outcome::Fail(format!("refused: {}", e.render())),
    };
    let shape = rule.shape;
    let set = Arc::new(RuleSet::new(vec![rule], reg));
    // The whole data set is one batch and stays buffered until the end (no lateness
    // limit), so the engine orders it completely, like Elasticsearch's sort.
    let opts = EngineOptions { lateness_ms: i64::MAX / 4, ..EngineOptions::default() };
    let mut engine = Engine::new(set.clone(), opts);
    let chunk = Chunk { bytes: Bytes::from(data.ndjson.clone()), origin: Origin::new("qa"), first_line: 1 };
    let mut dets = engine.push(&chunk);
    dets.extend(engine.finish());
    apply_pipes(&set.rules[0], &mut dets);
    dets.truncate(SIZE);
    let id_of = |raw: &[u8]| -> i64 {
        let v: Value = serde_json::from_slice(raw).unwrap();
        v[data.tiebreaker].as_i64().unwrap_or(i64::MIN)
    };
    let got: Vec<i64> = dets.iter().flat_map(|d| d.events.iter().map(|e| id_of(&e.raw))).collect();
    if !case.expected.contains(&got) {
        return Outcome::Fail(format!("expected {:?}, got {got:?}", case.expected));
    }
    if let (Some(keys), RuleShape::Sequence) = (&case.join_keys, shape) {
        let got_keys: Vec<String> = dets.iter().flat_map(|d| d.join_keys.iter().map(|k| k.clone().unwrap_or_else(|| "null".into()))).collect();
        if *keys != got_keys {
            return Outcome::Fail(format!("join keys: expected {keys:?}, got {got_keys:?}"));
        }
    }
    Outcome::Pass
}

#[test]
fn elasticsearch_eql_qa_suite() {
    let Some(dir) = corpus_dir() else {
        println!("did not run: the Elasticsearch QA corpus (../shared/corpora/es-eql-qa) is absent");
        return;
    };
    let endgame_ms = endgame(&dir, false);
    let endgame_ns = endgame(&dir, true);
    let extra = extra(&dir);
    let files = [
        "test_queries.toml",
        "additional_test_queries.toml",
        "test_queries_date.toml",
        "test_queries_date_nanos.toml",
        "test_between_queries.toml",
        "test_extra.toml",
    ];
    let (mut pass, mut unsupported, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for f in files {
        let data = match f {
            "test_extra.toml" => &extra,
            "test_queries_date_nanos.toml" => &endgame_ns,
            _ => &endgame_ms,
        };
        for case in load_cases(&dir, f) {
            match run_case(&case, data) {
                Outcome::Pass => pass.push(case.name),
                Outcome::Unsupported(why) => unsupported.push(format!("{f} {}: {why}", case.name)),
                Outcome::Fail(why) => failed.push(format!("{f} {}: {why}\n    {}", case.name, case.query.trim().replace('\n', "\n    "))),
            }
        }
    }
    let total = pass.len() + unsupported.len() + failed.len();
    println!("Elasticsearch EQL QA: {total} queries: {} pass, {} unsupported, {} fail", pass.len(), unsupported.len(), failed.len());
    for u in &unsupported {
        println!("unsupported {u}");
    }
    for f in &failed {
        println!("FAIL {f}");
    }
    assert!(total >= 240, "only {total} queries loaded");
    assert!(failed.is_empty(), "{} queries fail (see above)", failed.len());
    assert!(unsupported.len() * 20 <= total, "{} of {total} queries unsupported (> 5%)", unsupported.len());
}
