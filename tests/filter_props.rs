//! Property tests of the fast paths against naive references:
//! * vectorized predicate evaluation over decoded Arrow columns equals a row-at-a-time
//!   evaluation over values extracted independently with serde_json;
//! * the byte-level pre-check never drops a line the full filter accepts.

use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use seqhound::decode::precheck::Precheck;
use seqhound::decode::{Decoder, Projection};
use seqhound::filter::pattern::Pattern;
use seqhound::filter::predicate::{list_columns, share_repeated_leaves, LeafMemo, NumOp, Predicate, ValueTest};
use seqhound::filter::script::{Cidr, Cmp, Func, Script, Val};
use seqhound::source::{Chunk, Origin};
use serde_json::Value;

const FIELDS: [&str; 4] = ["process.name", "event.type", "host.id", "process.parent.name"];
const WORDS: [&str; 13] = ["bash", "BASH", "curl", "start", "info", "tclsh8.6", "b\u{e9}sh", "42", "x/y", "sh", "TRUE", "false", "-12"];

/// A JSON value for one field: absent, null, a string (maybe escaped), a number, or an array.
fn field_value() -> impl Strategy<Value = Option<String>> {
    let word = (0..WORDS.len(), any::<bool>()).prop_map(|(i, escape)| {
        let w = WORDS[i];
        if escape {
            // Escape the first character as \uXXXX, as a hostile sender might.
            let mut cs = w.chars();
            let first = cs.next().unwrap_or('a');
            format!("\"\\u{:04x}{}\"", first as u32, cs.as_str())
        } else {
            serde_json::to_string(w).unwrap()
        }
    });
    prop_oneof![
        Just(None),
        Just(Some("null".to_string())),
        word.clone().prop_map(Some),
        (0i64..100).prop_map(|n| Some(n.to_string())),
        // Numbers and booleans are compared as their JSON text, without quotes (no
        // exponents: the reference reads numbers with serde_json, which rewrites them).
        prop_oneof![Just("true"), Just("false"), Just("-12"), Just("4.25")].prop_map(|v| Some(v.to_string())),
        proptest::collection::vec(word, 0..3).prop_map(|v| Some(format!("[{}]", v.join(",")))),
    ]
}

/// A document spelling each present field nested or dotted.
fn line() -> impl Strategy<Value = String> {
    (proptest::collection::vec(field_value(), 4), proptest::collection::vec(any::<bool>(), 4)).prop_map(|(vals, dotted)| {
        let mut parts = Vec::new();
        let mut process = Vec::new();
        let mut parent = Vec::new();
        for (i, v) in vals.iter().enumerate() {
            let Some(v) = v else { continue };
            let path = FIELDS[i];
            if dotted[i] {
                parts.push(format!("\"{path}\":{v}"));
            } else {
                match path {
                    "process.name" => process.push(format!("\"name\":{v}")),
                    "process.parent.name" => parent.push(format!("\"name\":{v}")),
                    "event.type" => parts.push(format!("\"event\":{{\"type\":{v}}}")),
                    _ => parts.push(format!("\"host\":{{\"id\":{v}}}")),
                }
            }
        }
        if !parent.is_empty() {
            process.push(format!("\"parent\":{{{}}}", parent.join(",")));
        }
        if !process.is_empty() {
            parts.push(format!("\"process\":{{{}}}", process.join(",")));
        }
        format!("{{{}}}", parts.join(","))
    })
}

fn leaf() -> impl Strategy<Value = Predicate> {
    let pat = prop_oneof![
        (0..WORDS.len(), any::<bool>()).prop_map(|(i, ci)| Pattern::equals(WORDS[i], ci)),
        (0..WORDS.len(), any::<bool>(), 0usize..3).prop_map(|(i, ci, shape)| {
            let w: Vec<char> = WORDS[i].chars().collect();
            let s = |a: usize, b: usize| w[a.min(w.len())..b.min(w.len())].iter().collect::<String>();
            let p = match shape {
                0 => format!("{}*", s(0, 2)),
                1 => format!("*{}", s(w.len().saturating_sub(2), w.len())),
                _ => format!("?{}", s(1, w.len())),
            };
            Pattern::wildcard(&p, ci)
        }),
    ];
    prop_oneof![
        (0usize..4, proptest::collection::vec(pat, 1..3)).prop_map(|(column, ps)| Predicate::Leaf { column, test: ValueTest::AnyOf(ps) }),
        (0usize..4).prop_map(|column| Predicate::Exists { column }),
        (0usize..4, 0i64..100).prop_map(|(column, n)| Predicate::Leaf { column, test: ValueTest::Number { op: NumOp::Gt, rhs: n as f64 } }),
    ]
}

/// Computed (script) values: fields, literals and functions over them.
fn script_value() -> impl Strategy<Value = Script> {
    let lit = prop_oneof![
        (0..WORDS.len()).prop_map(|i| Script::Lit(Val::Str(WORDS[i].to_string().into()))),
        (-3i64..50).prop_map(|n| Script::Lit(Val::Int(n))),
        Just(Script::Lit(Val::Null)),
    ];
    let base = prop_oneof![(0usize..4).prop_map(|column| Script::Field { column }), lit];
    base.prop_recursive(2, 8, 3, |inner| {
        let func = prop_oneof![
            Just(Func::Length),
            Just(Func::Concat),
            Just(Func::Substring),
            Just(Func::Add),
            Just(Func::Divide),
            Just(Func::String),
            Just(Func::Number),
            Just(Func::IndexOf { ci: true }),
            Just(Func::Between { ci: false }),
        ];
        (func, proptest::collection::vec(inner, 1..4)).prop_map(|(func, args)| Script::Call { func, args })
    })
}

/// A computed condition (Elasticsearch's script leaf).
fn script_cond() -> impl Strategy<Value = Predicate> {
    let cmp = prop_oneof![Just(Cmp::Eq), Just(Cmp::NotEq), Just(Cmp::Lt), Just(Cmp::GtEq)];
    let atom = prop_oneof![
        (cmp, script_value(), script_value()).prop_map(|(op, l, r)| Script::Compare { op, left: Box::new(l), right: Box::new(r) }),
        (script_value(), any::<bool>()).prop_map(|(v, negated)| Script::IsNull { value: Box::new(v), negated }),
        (script_value(), 0..WORDS.len())
            .prop_map(|(v, i)| Script::Matches { value: Box::new(v), patterns: vec![Pattern::wildcard(&format!("*{}", WORDS[i]), true)] }),
        (script_value(), proptest::collection::vec(script_value(), 1..3), any::<bool>()).prop_map(|(v, list, insensitive)| Script::In {
            value: Box::new(v),
            list,
            insensitive
        }),
        (0usize..4).prop_map(|c| Script::Call { func: Func::CidrMatch, args: vec![Script::Field { column: c }, Script::Lit(Val::Str("10.0.0.0/8".into()))] }),
    ];
    atom.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|s| Script::Not(Box::new(s))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Script::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Script::Or(Box::new(a), Box::new(b))),
        ]
    })
    .prop_map(Predicate::Script)
}

fn predicate() -> impl Strategy<Value = Predicate> {
    prop_oneof![3 => leaf(), 1 => script_cond(), 1 => (0usize..4).prop_map(|column| Predicate::Leaf { column, test: ValueTest::Cidr(vec![Cidr::parse("10.0.0.0/8").unwrap()]) })]
        .prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..3).prop_map(Predicate::And),
            proptest::collection::vec(inner.clone(), 1..3).prop_map(Predicate::Or),
            inner.prop_map(|p| Predicate::Not(Box::new(p))),
        ]
    })
}

/// Independent extraction: serde_json tree, nested and dotted paths, arrays flattened,
/// nulls dropped, numbers as their text, keyword values over 1024 characters hidden.
fn naive_values(doc: &Value, path: &str) -> Vec<Vec<u8>> {
    fn walk(v: &Value, rest: &str, out: &mut Vec<Vec<u8>>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, rest, out)),
            Value::Object(m) if !rest.is_empty() => {
                for (k, child) in m {
                    if k == rest {
                        walk(child, "", out);
                    } else if let Some(r) = rest.strip_prefix(k.as_str()).and_then(|r| r.strip_prefix('.')) {
                        walk(child, r, out);
                    }
                }
            }
            Value::String(s) if rest.is_empty() => out.push(s.as_bytes().to_vec()),
            Value::Number(n) if rest.is_empty() => out.push(n.to_string().into_bytes()),
            Value::Bool(b) if rest.is_empty() => out.push(b.to_string().into_bytes()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, path, &mut out);
    out
}

fn decode(lines: &[String], precheck: Option<Arc<Precheck>>) -> (seqhound::decode::EventBatch, u64) {
    let proj = Arc::new(Projection::new(FIELDS.iter().map(|s| s.to_string()).collect()));
    let mut d = Decoder::new(proj, precheck);
    let text = lines.join("\n");
    let out = d.decode(&Chunk { bytes: Bytes::from(text), origin: Origin::new("p"), first_line: 1 });
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    (out.batch, out.precheck_dropped)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn vectorized_equals_row_at_a_time(lines in proptest::collection::vec(line(), 1..40), preds in proptest::collection::vec(predicate(), 1..4)) {
        let (batch, _) = decode(&lines, None);
        prop_assert_eq!(batch.num_rows(), lines.len());
        let cols = list_columns(&batch.batch);
        // The same predicates as a rule set runs them: cheapest operand first, repeated
        // leaves shared through one memo for the batch.
        let mut optimized: Vec<Predicate> = preds.iter().cloned().chain(preds.iter().cloned()).map(Predicate::cheapest_first).collect();
        let shared = share_repeated_leaves(&mut optimized.iter_mut().collect::<Vec<_>>());
        let mut memo = LeafMemo::new(shared);
        for (k, p) in preds.iter().chain(preds.iter()).enumerate() {
            let mask = p.evaluate(&cols, batch.num_rows(), &mut LeafMemo::default());
            let mask_optimized = optimized[k].evaluate(&cols, batch.num_rows(), &mut memo);
            for (i, l) in lines.iter().enumerate() {
                let doc: Value = serde_json::from_str(l).unwrap();
                let row: Vec<Vec<Vec<u8>>> = FIELDS.iter().map(|f| naive_values(&doc, f)).collect();
                let expected = p.evaluate_row(&row);
                prop_assert_eq!(mask.value(i), expected, "line {} pred {:?}", l, p);
                prop_assert_eq!(mask_optimized.value(i), expected, "line {} optimized pred {:?}", l, optimized[k]);
            }
        }
    }

    #[test]
    fn precheck_never_drops_a_match(lines in proptest::collection::vec(line(), 1..40), preds in proptest::collection::vec(predicate(), 1..4)) {
        let refs: Vec<&Predicate> = preds.iter().collect();
        let pc = Arc::new(Precheck::for_predicates(&refs));
        let pc_one_pass = Precheck::for_predicates_one_pass(&refs);
        let (full, _) = decode(&lines, None);
        let cols = list_columns(&full.batch);
        for (i, l) in lines.iter().enumerate() {
            let accepted = preds.iter().any(|p| p.evaluate(&cols, full.num_rows(), &mut LeafMemo::default()).value(i));
            if accepted {
                prop_assert!(pc.may_match(l.as_bytes()), "pre-check dropped a matching line: {} for {:?}", l, preds);
                prop_assert!(pc_one_pass.may_match(l.as_bytes()), "one-pass pre-check dropped a matching line: {} for {:?}", l, preds);
            }
        }
    }

    /// The chunk-wide anchor pass, planned on any sample, finds an anchor (or an escape)
    /// on every line the full filter accepts; and the decoder with the pre-check keeps
    /// every accepted line.
    #[test]
    fn anchor_pass_never_drops_a_match(
        lines in proptest::collection::vec(line(), 1..40),
        sample in proptest::collection::vec(line(), 0..20),
        preds in proptest::collection::vec(predicate(), 1..4),
    ) {
        let refs: Vec<&Predicate> = preds.iter().collect();
        let pc = Arc::new(Precheck::for_predicates(&refs));
        let (full, _) = decode(&lines, None);
        let cols = list_columns(&full.batch);
        let text = lines.join("\n");
        let accepted: Vec<bool> = (0..lines.len()).map(|i| preds.iter().any(|p| p.evaluate(&cols, full.num_rows(), &mut LeafMemo::default()).value(i))).collect();
        for mut filter in [true, false].into_iter().filter_map(|caseless| pc.anchor_filter_always(sample.join("\n").as_bytes(), caseless)) {
            let hits = filter.hits(text.as_bytes());
            let mut start = 0;
            for (i, l) in lines.iter().enumerate() {
                let end = start + l.len();
                if accepted[i] {
                    prop_assert!(hits.iter().any(|&h| h >= start && h < end), "anchor pass dropped a matching line: {} for {:?}", l, preds);
                }
                // Knowing the anchors changes how much is searched, never the answer.
                let in_line = hits.partition_point(|&h| h < start)..hits.partition_point(|&h| h < end);
                let present = filter.anchors_at(in_line);
                prop_assert_eq!(pc.may_match_anchored(l.as_bytes(), false, &filter, present), pc.may_match(l.as_bytes()), "{} for {:?}", l, preds);
                if let Some(lowered) = filter.lowered().map(|t| t[start..end].to_vec()) {
                    prop_assert_eq!(pc.may_match_anchored(&lowered, true, &filter, present), pc.may_match_lowered(&lowered), "{} for {:?}", l, preds);
                }
                start = end + 1;
            }
        }
        let (checked, _) = decode(&lines, Some(pc));
        let kept: std::collections::HashSet<u64> = checked.lines.iter().copied().collect();
        for (i, a) in accepted.iter().enumerate() {
            if *a {
                prop_assert!(kept.contains(&(i as u64 + 1)), "decoder dropped matching line {}", lines[i]);
            }
        }
    }
}
