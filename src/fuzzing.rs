//! Entry points of the fuzz targets (`fuzz/`), kept in the library so that their
//! regression inputs also run as ordinary tests (`tests/fuzz_regressions.rs`). Each takes
//! arbitrary bytes and must never panic; [`decode`] also checks a differential oracle.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::source::framing::LineFramer;

use crate::engine::{decode_and_filter, Engine, EngineOptions};
use crate::rule::RuleSet;
use crate::source::{Chunk, Origin};

fn seed_rules() -> &'static Arc<RuleSet> {
    static RULES: OnceLock<Arc<RuleSet>> = OnceLock::new();
    RULES.get_or_init(|| Arc::new(RuleSet::embedded_default().expect("the embedded rule compiles")))
}

/// Decode and filter `data` as NDJSON with the seed rule, with and without the byte
/// pre-check (and its chunk-wide anchor pass): the candidates must be identical.
///
/// # Panics
/// When the pre-check changed a result.
pub fn decode(data: &[u8]) {
    let rules = seed_rules();
    let chunk = Chunk { bytes: Bytes::copy_from_slice(data), origin: Origin::new("fuzz"), first_line: 1 };
    let on = EngineOptions { precheck: true, ..EngineOptions::default() };
    let off = EngineOptions { precheck: false, ..EngineOptions::default() };
    let with = decode_and_filter(rules, &mut Engine::new_decoder(rules, &on), &chunk);
    let without = decode_and_filter(rules, &mut Engine::new_decoder(rules, &off), &chunk);
    let summary = |f: &crate::engine::Filtered| -> Vec<(u64, Vec<usize>)> {
        f.candidates.per_rule.iter().flatten().map(|c| (c.event.line, c.stage_keys.iter().map(|(s, _)| *s).collect())).collect()
    };
    assert_eq!(summary(&with), summary(&without), "the pre-check changed the candidates");
    scanner_paths_agree(data);
}

/// Every line of `data` gets the same answer from the scanner with its fast path as from
/// the general scanner alone.
///
/// # Panics
/// When they differ.
fn scanner_paths_agree(data: &[u8]) {
    use crate::decode::json::{PathSet, Scanner, ValueRef, ValueSink};
    #[derive(Default)]
    struct Collect(Vec<(u32, ValueRef)>);
    impl ValueSink for Collect {
        fn value(&mut self, column: u32, value: ValueRef, _side: &[u8]) {
            self.0.push((column, value));
        }
    }
    static PATHS: OnceLock<PathSet> = OnceLock::new();
    let paths = PATHS.get_or_init(|| PathSet::new(&["process.name", "process.parent.name", "event.type", "host.id", "a", "a.b"]));
    // One scanner for all lines, each line twice: the second reading, and later lines of
    // the same shape, are answered from the shape cache.
    let mut scanner = Scanner::new();
    for line in data.split(|&b| b == b'\n') {
        let mut general = Collect::default();
        let want = Scanner::new().scan_general(line, paths, &mut general);
        for _ in 0..2 {
            let mut fast = Collect::default();
            scanner.side.clear();
            let got = scanner.scan(line, paths, &mut fast);
            assert_eq!((&got, &fast.0), (&want, &general.0), "the scanner's fast path answered differently");
        }
    }
}

/// Parse, check and compile `data` as an EQL query (inside a rule file), then run the
/// compiled rule over a few events.
pub fn eql(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else { return };
    if query.contains("'''") {
        return;
    }
    let text = format!(
        "[metadata]\ncreation_date = \"2024/01/01\"\n\n[rule]\nname = \"fuzz\"\nrule_id = \"fuzz\"\ndescription = \"fuzz\"\nrisk_score = 1\nseverity = \"low\"\ntype = \"eql\"\nlanguage = \"eql\"\nquery = '''\n{query}\n'''\n"
    );
    rule_toml(text.as_bytes());
}

/// Load `data` as a detection-rules TOML file; if it compiles, run it over a few events.
pub fn rule_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut reg = crate::rule::compile::ColumnRegistry::default();
    let Ok(rule) = crate::rule::load_rule_text("fuzz.toml", text, &mut reg) else { return };
    let set = Arc::new(RuleSet::new(vec![rule], reg));
    let mut engine = Engine::new(set, EngineOptions { lateness_ms: 0, ..EngineOptions::default() });
    let events = concat!(
        r#"{"@timestamp":"2024-01-01T00:00:00Z","event":{"category":["process"],"type":["start"],"action":"exec","sequence":1},"host":{"id":"h","os":{"type":"macos"}},"process":{"name":"bash","entity_id":"e","args":["-c","curl"],"parent":{"name":"installer","entity_id":"p"}}}"#,
        "\n",
        r#"{"@timestamp":"2024-01-01T00:00:01Z","event":{"category":["network"],"type":["start"],"sequence":2},"host":{"id":"h","os":{"type":"macos"}},"process":{"name":"curl","entity_id":"c","parent":{"entity_id":"e"}},"destination":{"ip":"10.0.0.1","port":443}}"#,
        "\n",
        r#"{"@timestamp":1704067202000,"event":{"category":"file","type":"creation"},"file":{"path":"/tmp/x","name":"x"},"user":{"name":"root"}}"#,
        "\n"
    );
    let chunk = Chunk { bytes: Bytes::from_static(events.as_bytes()), origin: Origin::new("fuzz"), first_line: 1 };
    let _ = engine.push(&chunk);
    let _ = engine.finish();
}

/// Parse `data` as a `seqhound run` configuration.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::config::Config::parse(text);
    }
}

/// An HTTP request body as the `http_server` source reads it: the first byte picks the
/// content-encoding and flags, the rest is the body; what comes out is decoded.
pub fn http_body(data: &[u8]) {
    let Some((&flags, body)) = data.split_first() else { return };
    let encoding = ["identity", "gzip", "deflate", "zstd", "snappy"][usize::from(flags % 5)];
    let json_type = flags & 0x10 != 0;
    let native = flags & 0x20 != 0;
    if let Ok(lines) = crate::service::body_to_ndjson(encoding, json_type, native, Bytes::copy_from_slice(body), 1 << 20) {
        decode(&lines);
    }
}

/// Frame `input` fed to a [`LineFramer`] in pieces of `sizes` (cycled): every line seen
/// with its number (blank lines included), and the numbers of the oversized lines.
pub fn frame_lines(input: &[u8], sizes: &[usize], max_line: usize) -> (Vec<(u64, Vec<u8>)>, Vec<u64>) {
    let mut f = LineFramer::new(max_line);
    let mut out = Vec::new();
    let mut collect = |fr: crate::source::framing::Framed| {
        let mut lines: Vec<&[u8]> = fr.bytes.split(|&b| b == b'\n').collect();
        // A trailing `\n` yields one empty piece past the end: not a line.
        if fr.bytes.ends_with(b"\n") {
            lines.pop();
        }
        for (i, l) in lines.into_iter().enumerate() {
            out.push((fr.first_line + i as u64, l.to_vec()));
        }
    };
    let mut pos = 0;
    let mut k = 0;
    while pos < input.len() {
        let n = sizes.get(k % sizes.len().max(1)).copied().unwrap_or(1).clamp(1, input.len() - pos);
        k += 1;
        f.buffer().extend_from_slice(&input[pos..pos + n]);
        pos += n;
        if let Some(fr) = f.next_chunk(false) {
            collect(fr);
        }
    }
    if let Some(fr) = f.next_chunk(true) {
        collect(fr);
    }
    (out, f.take_oversized())
}

/// Socket framing against a line split of the whole input: the first byte sets the line
/// limit, the next ones the read sizes, the rest is the stream. Every line within the
/// limit comes out once, with its number and bytes; every longer line is reported and
/// none of its bytes come out.
pub fn socket_framing(data: &[u8]) {
    let Some((&limit, rest)) = data.split_first() else { return };
    let Some((&reads, rest)) = rest.split_first() else { return };
    let max_line = usize::from(limit % 64) + 1;
    let sizes: Vec<usize> = (0..4).map(|i| usize::from(reads.rotate_left(i * 2) % 17) + 1).collect();
    let (framed, oversized) = frame_lines(rest, &sizes, max_line);
    let mut lines: Vec<&[u8]> = rest.split(|&b| b == b'\n').collect();
    if rest.ends_with(b"\n") || rest.is_empty() {
        lines.pop();
    }
    let expected: Vec<(u64, Vec<u8>)> =
        lines.iter().enumerate().filter(|(_, l)| !l.is_empty() && l.len() <= max_line).map(|(i, l)| (i as u64 + 1, l.to_vec())).collect();
    let expected_over: Vec<u64> = lines.iter().enumerate().filter(|(_, l)| l.len() > max_line).map(|(i, _)| i as u64 + 1).collect();
    let got: Vec<(u64, Vec<u8>)> = framed.into_iter().filter(|(_, l)| !l.is_empty()).collect();
    assert_eq!(got, expected, "framed lines differ (limit {max_line}, reads {sizes:?})");
    assert_eq!(oversized, expected_over, "oversized lines differ (limit {max_line}, reads {sizes:?})");
}
