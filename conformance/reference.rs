//! Reference model of the seed rule, Elastic's "MacOS Installer Package Spawns Network
//! Event" (default version, 2024-05-11 – 2025-02-05):
//!
//! ```text
//! sequence by host.id with maxspan=15s
//! [process where host.os.type == "macos" and event.type == "start" and event.action == "exec" and
//!   process.parent.name : ("installer", "package_script_service") and
//!   process.name : ("bash", "sh", "zsh", "python", "osascript", "tclsh*")] by process.entity_id
//! [network where host.os.type == "macos" and event.type == "start" and
//!   process.name : ("curl", "osascript", "wget", "python", "java", "ruby", "node")] by process.parent.entity_id
//! ```
//!
//! The model is deliberately naive and shares no code with the `seqhound` crate: it reads
//! the whole input, parses each line into a small JSON tree, evaluates the two stage
//! conditions row at a time, sorts the matching events by Elasticsearch's order and runs
//! the sequence state machine over them. Conformance tests compare the engine with it.
//!
//! Semantics follow Elasticsearch (see `EQL-SEMANTICS.md` §2, §4, §5, §6):
//!
//! * **Valid lines.** A line counts only if it is UTF-8, strict JSON, an object without
//!   duplicate keys in any object, with field names Elasticsearch accepts (not empty, no
//!   leading or trailing `.`, no `..`), no deeper than serde_json's default nesting limit,
//!   and carries exactly one parseable `@timestamp` (RFC 3339 with any number of fraction
//!   digits and `Z` or `±hh:mm`, or an integer JSON number of epoch milliseconds; an array
//!   is never a single timestamp). Blank lines are skipped silently. A UTF-8 BOM at the
//!   very start of the input and CRLF line ends are accepted.
//! * **Fields.** A dotted path reads nested objects and flat dotted keys alike, also
//!   mixed; every occurrence contributes values; arrays flatten; `null` is missing.
//!   Numbers and booleans compare as their JSON text. Keyword values longer than ECS's
//!   `ignore_above` (1024 UTF-16 code units) are invisible, as in Elasticsearch.
//! * **Operators.** `cat where` = `event.category` holds exactly `cat`; `==` is exact and
//!   case-sensitive; `:` is case-insensitive with `*` and `?` wildcards. Any array element
//!   may match; a missing field never matches.
//! * **Order.** `@timestamp` truncated to milliseconds, then `event.sequence` ascending
//!   (events without it last), then position in the input.
//! * **Sequences.** Join keys (`host.id`, stage key) expand to the cartesian product of
//!   their values; an event with a missing key leaves that stage. Per key at most one
//!   pending stage-1 sequence, the newest; a stage-2 event takes it (removing it) and
//!   completes it unless `t2 − t1 > 15 000 ms`. An event matching both stages advances
//!   before it starts, so it never completes a sequence it started itself.
//! * **Output.** Each sequence as the `event.id`s of its events (`#line:<n>` when an event
//!   has no `event.id`, `n` being the 1-based line number in the input), sequences sorted
//!   by the order of their last event, ties in join-key order.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// `with maxspan=15s`, inclusive: a sequence spanning exactly this many milliseconds passes.
pub const MAXSPAN_MS: i64 = 15_000;

/// ECS maps these fields as `keyword` with `ignore_above: 1024`: longer values are neither
/// indexed nor kept as doc values, so queries and join keys never see them.
pub const IGNORE_ABOVE: usize = 1024;

/// Stage-1 (`process`) `process.parent.name` patterns.
pub const STAGE1_PARENTS: &[&str] = &["installer", "package_script_service"];
/// Stage-1 (`process`) `process.name` patterns.
pub const STAGE1_NAMES: &[&str] = &["bash", "sh", "zsh", "python", "osascript", "tclsh*"];
/// Stage-2 (`network`) `process.name` patterns.
pub const STAGE2_NAMES: &[&str] = &["curl", "osascript", "wget", "python", "java", "ruby", "node"];

/// Detected sequences, each as the `event.id`s of its events in sequence order, sorted by
/// the order of their last event.
pub fn reference_sequences(ndjson: &[u8]) -> Vec<Vec<String>> {
    run(ndjson).sequences
}

/// Everything the model learned about an input.
#[derive(Debug, Default, Clone)]
pub struct Run {
    /// Detected sequences, as [`reference_sequences`] returns them.
    pub sequences: Vec<Vec<String>>,
    /// 1-based numbers of the lines that are valid events.
    pub valid_lines: Vec<u64>,
    /// 1-based numbers of the non-blank lines that are not valid events.
    pub invalid_lines: Vec<u64>,
    /// Number of blank lines (skipped silently).
    pub blank_lines: u64,
    /// Number of valid events matching stage 1 and stage 2 (with a usable join key).
    pub stage_matches: [u64; 2],
}

/// Runs the model over a whole NDJSON input.
pub fn run(ndjson: &[u8]) -> Run {
    let mut out = Run::default();
    let mut events: Vec<Candidate> = Vec::new();
    for (index, line) in lines(ndjson).enumerate() {
        let line_no = index as u64 + 1;
        let doc = match classify(line) {
            Line::Blank => {
                out.blank_lines += 1;
                continue;
            }
            Line::Invalid => {
                out.invalid_lines.push(line_no);
                continue;
            }
            Line::Event(doc) => doc,
        };
        out.valid_lines.push(line_no);
        let stage1 = if matches_stage1(&doc.root) { non_empty(join_keys(&doc.root, "process.entity_id")) } else { None };
        let stage2 = if matches_stage2(&doc.root) { non_empty(join_keys(&doc.root, "process.parent.entity_id")) } else { None };
        if stage1.is_some() {
            out.stage_matches[0] += 1;
        }
        if stage2.is_some() {
            out.stage_matches[1] += 1;
        }
        if stage1.is_none() && stage2.is_none() {
            continue;
        }
        let id = text_values(&doc.root, "event.id").into_iter().next().unwrap_or_else(|| format!("#line:{line_no}"));
        events.push(Candidate { timestamp_ms: doc.timestamp_ms, sequence: event_sequence(&doc.root), arrival: index, id, stage1, stage2 });
    }
    events.sort_by_key(|e| (e.timestamp_ms, e.sequence.is_none(), e.sequence.unwrap_or(0), e.arrival));
    out.sequences = run_machine(&events);
    out
}

/// One valid event that matched at least one stage.
#[derive(Debug)]
struct Candidate {
    timestamp_ms: i64,
    sequence: Option<i64>,
    arrival: usize,
    id: String,
    /// Join keys for stage 1, when the event matches it.
    stage1: Option<BTreeSet<JoinKey>>,
    /// Join keys for stage 2, when the event matches it.
    stage2: Option<BTreeSet<JoinKey>>,
}

/// (`host.id`, stage key).
type JoinKey = (String, String);

/// The sequence state machine over candidates already in Elasticsearch's order.
fn run_machine(events: &[Candidate]) -> Vec<Vec<String>> {
    // Per join key, the index of the stage-1 event of the one pending sequence.
    let mut pending: HashMap<&JoinKey, usize> = HashMap::new();
    let mut done = Vec::new();
    for (index, event) in events.iter().enumerate() {
        // Advance first, then start: an event never completes a sequence it started.
        if let Some(keys) = &event.stage2 {
            for key in keys {
                if let Some(first) = pending.remove(key) {
                    let first = &events[first];
                    if event.timestamp_ms - first.timestamp_ms <= MAXSPAN_MS {
                        done.push(vec![first.id.clone(), event.id.clone()]);
                    }
                }
            }
        }
        if let Some(keys) = &event.stage1 {
            for key in keys {
                pending.insert(key, index);
            }
        }
    }
    done
}

fn non_empty(keys: BTreeSet<JoinKey>) -> Option<BTreeSet<JoinKey>> {
    if keys.is_empty() {
        None
    } else {
        Some(keys)
    }
}

/// Cartesian product of `host.id` and the stage key's values; duplicates collapse.
fn join_keys(root: &Json, stage_key: &str) -> BTreeSet<JoinKey> {
    let hosts = keyword_values(root, "host.id");
    let stage = keyword_values(root, stage_key);
    let mut keys = BTreeSet::new();
    for host in &hosts {
        for value in &stage {
            keys.insert((host.clone(), value.clone()));
        }
    }
    keys
}

fn matches_stage1(root: &Json) -> bool {
    category_is(root, "process")
        && any_equals(root, "host.os.type", "macos")
        && any_equals(root, "event.type", "start")
        && any_equals(root, "event.action", "exec")
        && any_like(root, "process.parent.name", STAGE1_PARENTS)
        && any_like(root, "process.name", STAGE1_NAMES)
}

fn matches_stage2(root: &Json) -> bool {
    category_is(root, "network")
        && any_equals(root, "host.os.type", "macos")
        && any_equals(root, "event.type", "start")
        && any_like(root, "process.name", STAGE2_NAMES)
}

/// `cat where`: `event.category` holds exactly `category`.
fn category_is(root: &Json, category: &str) -> bool {
    any_equals(root, "event.category", category)
}

/// `field == literal`: exact, case-sensitive, any value.
fn any_equals(root: &Json, field: &str, literal: &str) -> bool {
    keyword_values(root, field).iter().any(|v| v == literal)
}

/// `field : (patterns…)`: case-insensitive wildcard match of any value against any pattern.
fn any_like(root: &Json, field: &str, patterns: &[&str]) -> bool {
    keyword_values(root, field).iter().any(|v| patterns.iter().any(|p| like_insensitive(v, p)))
}

/// `event.sequence` when the event carries exactly one integer value.
fn event_sequence(root: &Json) -> Option<i64> {
    let mut found = Vec::new();
    for value in lookup(root, "event.sequence") {
        flatten(value, &mut found);
    }
    match found.as_slice() {
        [Json::Num { int: Some(n), .. }] => Some(*n),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Lines

/// The input's lines: a leading UTF-8 BOM removed, split at `\n`, one trailing `\r` removed.
fn lines(ndjson: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = ndjson.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(ndjson);
    let mut parts: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
    // Text ending in `\n` has no line after it.
    if parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts.into_iter().map(|line| line.strip_suffix(b"\r".as_slice()).unwrap_or(line))
}

/// What one line is.
#[derive(Debug)]
enum Line {
    Blank,
    Invalid,
    Event(Doc),
}

/// A valid event.
#[derive(Debug)]
struct Doc {
    root: Json,
    timestamp_ms: i64,
}

fn classify(line: &[u8]) -> Line {
    if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
        return Line::Blank;
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return Line::Invalid;
    };
    let Some(root) = parse_json(text) else {
        return Line::Invalid;
    };
    if !matches!(root, Json::Obj(_)) {
        return Line::Invalid;
    }
    let Some(timestamp_ms) = single_timestamp(&root) else {
        return Line::Invalid;
    };
    Line::Event(Doc { root, timestamp_ms })
}

/// Whether a single line (without its line end) is a valid event for the model.
pub fn is_valid_event_line(line: &[u8]) -> bool {
    matches!(classify(line), Line::Event(_))
}

/// Whether a single line (without its line end) is blank.
pub fn is_blank_line(line: &[u8]) -> bool {
    matches!(classify(line), Line::Blank)
}

fn single_timestamp(root: &Json) -> Option<i64> {
    match lookup(root, "@timestamp").as_slice() {
        [Json::Str(s)] => parse_rfc3339_ms(s),
        [Json::Num { int: Some(ms), .. }] => Some(*ms),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// JSON tree

/// A JSON value that keeps object entries in order and numbers as text.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// `text` is the number as Elasticsearch would compare it with a keyword; `int` is set
    /// for integers that fit an `i64`.
    Num {
        text: String,
        int: Option<i64>,
    },
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

/// Parses one strict JSON text, rejecting duplicate keys and deep nesting.
pub fn parse_json(text: &str) -> Option<Json> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Json::deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(value)
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Num { text: v.to_string(), int: Some(v) })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Num { text: v.to_string(), int: i64::try_from(v).ok() })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        // The source text is gone at this point; Rust's shortest round-trip form is the
        // closest stand-in. No keyword the seed rule reads is ever a fraction.
        Ok(Json::Num { text: v.to_string(), int: None })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Json>()? {
            items.push(item);
        }
        Ok(Json::Arr(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries: Vec<(String, Json)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !valid_field_name(&key) {
                return Err(de::Error::custom(format_args!("invalid field name `{key}`")));
            }
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let value = map.next_value::<Json>()?;
            entries.push((key, value));
        }
        Ok(Json::Obj(entries))
    }
}

/// Elasticsearch refuses a document with an empty field name or a dotted name with an
/// empty part (`.a`, `a.`, `a..b`): object resolution would be ambiguous.
fn valid_field_name(key: &str) -> bool {
    !key.is_empty() && !key.starts_with('.') && !key.ends_with('.') && !key.contains("..")
}

/// Every raw value at a dotted `path`: a key may hold the whole rest of the path or a
/// dotted prefix of it; arrays on the way (arrays of objects) are entered.
pub fn lookup<'a>(root: &'a Json, path: &str) -> Vec<&'a Json> {
    let mut out = Vec::new();
    collect(root, path, &mut out);
    out
}

fn collect<'a>(value: &'a Json, path: &str, out: &mut Vec<&'a Json>) {
    match value {
        Json::Obj(entries) => {
            for (key, child) in entries {
                if key == path {
                    out.push(child);
                } else if let Some(rest) = path.strip_prefix(key.as_str()).and_then(|r| r.strip_prefix('.')) {
                    collect(child, rest, out);
                }
            }
        }
        Json::Arr(items) => {
            for item in items {
                collect(item, path, out);
            }
        }
        _ => {}
    }
}

/// Scalars of a value, arrays flattened, nulls and objects dropped.
fn flatten<'a>(value: &'a Json, out: &mut Vec<&'a Json>) {
    match value {
        Json::Null | Json::Obj(_) => {}
        Json::Arr(items) => {
            for item in items {
                flatten(item, out);
            }
        }
        scalar => out.push(scalar),
    }
}

/// Every value at `path` as text (numbers and booleans as their JSON text).
pub fn text_values(root: &Json, path: &str) -> Vec<String> {
    let mut scalars = Vec::new();
    for value in lookup(root, path) {
        flatten(value, &mut scalars);
    }
    scalars
        .into_iter()
        .filter_map(|s| match s {
            Json::Str(s) => Some(s.clone()),
            Json::Num { text, .. } => Some(text.clone()),
            Json::Bool(b) => Some(b.to_string()),
            _ => None,
        })
        .collect()
}

/// Values of a `keyword` field as Elasticsearch indexes them (over `ignore_above` dropped).
pub fn keyword_values(root: &Json, path: &str) -> Vec<String> {
    text_values(root, path).into_iter().filter(|v| v.encode_utf16().count() <= IGNORE_ABOVE).collect()
}

// ---------------------------------------------------------------------------------------
// Wildcards

/// `text : pattern`: case-insensitive; `*` matches any run of characters, `?` exactly one.
pub fn like_insensitive(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().map(fold).collect();
    let pattern: Vec<char> = pattern.chars().map(fold).collect();
    let (mut t, mut p) = (0usize, 0usize);
    // Position of the last `*` in the pattern and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// Simple lower-case mapping of one character (characters whose lower case is several
/// characters stay as they are).
fn fold(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

// ---------------------------------------------------------------------------------------
// Time

/// RFC 3339 `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` to epoch milliseconds, fraction
/// digits past the third dropped (Elasticsearch's `date` keeps milliseconds).
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        for k in 0..3 {
            let d = if start + k < i { i64::from(b[start + k] - b'0') } else { 0 };
            millis = millis * 10 + d;
        }
    }
    let offset_seconds = match &b[i..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = hours * 3600 + minutes * 60;
            if *sign == b'+' {
                total
            } else {
                -total
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1000 + millis)
}

fn digits(b: &[u8]) -> Option<i64> {
    let mut n = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(n)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const T0: &str = "2024-06-01T12:00:00.000Z";

    /// `2024-06-01T12:00:00Z` plus `ms` milliseconds, as RFC 3339 with millisecond digits.
    fn at(ms: i64) -> String {
        let total = 12 * 3_600_000 + ms;
        let (h, rest) = (total / 3_600_000, total % 3_600_000);
        let (m, rest) = (rest / 60_000, rest % 60_000);
        let (s, milli) = (rest / 1000, rest % 1000);
        format!("2024-06-01T{h:02}:{m:02}:{s:02}.{milli:03}Z")
    }

    /// A stage-1 event: `name` exec'd by `parent` on `host`, with entity id `entity`.
    fn exec(id: &str, host: &str, ts: &str, entity: &str) -> Value {
        json!({
            "@timestamp": ts,
            "event": {"id": id, "category": ["process"], "type": ["start"], "action": "exec", "kind": "event"},
            "host": {"id": host, "os": {"type": "macos"}},
            "process": {
                "name": "bash",
                "entity_id": entity,
                "parent": {"name": "installer", "entity_id": "installer-1"}
            }
        })
    }

    /// A stage-2 event: `curl` connecting, child of `parent_entity` on `host`.
    fn net(id: &str, host: &str, ts: &str, parent_entity: &str) -> Value {
        json!({
            "@timestamp": ts,
            "event": {"id": id, "category": ["network"], "type": ["start"], "action": "connection_attempted"},
            "host": {"id": host, "os": {"type": "macos"}},
            "process": {"name": "curl", "entity_id": format!("{id}-proc"), "parent": {"entity_id": parent_entity}}
        })
    }

    fn ndjson(events: &[Value]) -> Vec<u8> {
        let mut out = String::new();
        for e in events {
            out.push_str(&e.to_string());
            out.push('\n');
        }
        out.into_bytes()
    }

    fn seqs(events: &[Value]) -> Vec<Vec<String>> {
        reference_sequences(&ndjson(events))
    }

    fn ids(pairs: &[(&str, &str)]) -> Vec<Vec<String>> {
        pairs.iter().map(|(a, b)| vec![a.to_string(), b.to_string()]).collect()
    }

    /// Sets `value` at a dotted path of nested objects.
    fn set(event: &mut Value, path: &str, value: Value) {
        let mut cur = event;
        let parts: Vec<&str> = path.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            cur = cur.as_object_mut().expect("object on the path").entry(part.to_string()).or_insert_with(|| json!({}));
        }
        cur.as_object_mut().expect("object at the end of the path").insert(parts[parts.len() - 1].to_string(), value);
    }

    /// Removes a dotted path of nested objects.
    fn remove(event: &mut Value, path: &str) {
        let mut cur = event;
        let parts: Vec<&str> = path.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            cur = cur.get_mut(*part).expect("object on the path");
        }
        cur.as_object_mut().expect("object").remove(parts[parts.len() - 1]);
    }

    #[test]
    fn basic_pair_alerts() {
        let got = seqs(&[exec("s", "h", &at(0), "e"), net("c", "h", &at(1000), "e")]);
        assert_eq!(got, ids(&[("s", "c")]));
    }

    #[test]
    fn maxspan_is_inclusive() {
        let ok = seqs(&[exec("s", "h", &at(0), "e"), net("c", "h", &at(15_000), "e")]);
        assert_eq!(ok, ids(&[("s", "c")]));
        let late = seqs(&[exec("s", "h", &at(0), "e"), net("c", "h", &at(15_001), "e")]);
        assert!(late.is_empty(), "{late:?}");
    }

    #[test]
    fn sub_millisecond_digits_are_dropped() {
        // 15.000999 s after 0.000 s truncates to exactly 15 000 ms: inside maxspan.
        let got = seqs(&[exec("s", "h", "2024-06-01T12:00:00.000900Z", "e"), net("c", "h", "2024-06-01T12:00:15.000999Z", "e")]);
        assert_eq!(got, ids(&[("s", "c")]));
        // Sub-ms digits do not order events either: the same millisecond falls back to
        // arrival, so an exec at .0009 arriving first precedes a curl at .0001.
        let got = seqs(&[exec("s", "h", "2024-06-01T12:00:10.0009Z", "e"), net("c", "h", "2024-06-01T12:00:10.0001Z", "e")]);
        assert_eq!(got, ids(&[("s", "c")]));
        let got = seqs(&[net("c", "h", "2024-06-01T12:00:10.0001Z", "e"), exec("s", "h", "2024-06-01T12:00:10.0009Z", "e")]);
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn equal_milliseconds_order_by_event_sequence() {
        let mut s = exec("s", "h", &at(500), "e");
        let mut c = net("c", "h", &at(500), "e");
        // exec arrives first but carries the larger sequence number: curl comes first.
        set(&mut s, "event.sequence", json!(2));
        set(&mut c, "event.sequence", json!(1));
        assert!(seqs(&[s.clone(), c.clone()]).is_empty());
        // curl arrives first but exec carries the smaller sequence number.
        set(&mut s, "event.sequence", json!(1));
        set(&mut c, "event.sequence", json!(2));
        assert_eq!(seqs(&[c, s]), ids(&[("s", "c")]));
    }

    #[test]
    fn events_without_event_sequence_sort_last() {
        let s = exec("s", "h", &at(500), "e");
        let mut c = net("c", "h", &at(500), "e");
        set(&mut c, "event.sequence", json!(7));
        // exec arrives first, but only curl has a sequence number: curl comes first.
        assert!(seqs(&[s.clone(), c.clone()]).is_empty());
        // Neither has one: arrival decides.
        remove(&mut c, "event.sequence");
        assert_eq!(seqs(&[s, c]), ids(&[("s", "c")]));
    }

    #[test]
    fn equals_is_case_sensitive() {
        let mut s = exec("s", "h", &at(0), "e");
        set(&mut s, "host.os.type", json!("MacOS"));
        assert!(seqs(&[s, net("c", "h", &at(1), "e")]).is_empty());
        let mut s = exec("s", "h", &at(0), "e");
        set(&mut s, "event.action", json!("EXEC"));
        assert!(seqs(&[s, net("c", "h", &at(1), "e")]).is_empty());
        let mut c = net("c", "h", &at(1), "e");
        set(&mut c, "event.category", json!(["Network"]));
        assert!(seqs(&[exec("s", "h", &at(0), "e"), c]).is_empty());
        let mut c = net("c", "h", &at(1), "e");
        set(&mut c, "event.type", json!("Start"));
        assert!(seqs(&[exec("s", "h", &at(0), "e"), c]).is_empty());
    }

    #[test]
    fn colon_is_case_insensitive() {
        let mut s = exec("s", "h", &at(0), "e");
        set(&mut s, "process.parent.name", json!("Installer"));
        set(&mut s, "process.name", json!("Python"));
        let mut c = net("c", "h", &at(1), "e");
        set(&mut c, "process.name", json!("CURL"));
        assert_eq!(seqs(&[s, c]), ids(&[("s", "c")]));
    }

    #[test]
    fn star_wildcard_in_stage_one_names() {
        for (name, hit) in [("tclsh8.6", true), ("tclsh", true), ("TCLSH8.5", true), ("xtclsh", false), ("python3", false)] {
            let mut s = exec("s", "h", &at(0), "e");
            set(&mut s, "process.name", json!(name));
            let got = seqs(&[s, net("c", "h", &at(1), "e")]);
            assert_eq!(!got.is_empty(), hit, "{name}");
        }
        for (name, hit) in [("nscurl", false), ("curl2", false), ("node", true), ("Ruby", true), ("python3", false)] {
            let mut c = net("c", "h", &at(1), "e");
            set(&mut c, "process.name", json!(name));
            let got = seqs(&[exec("s", "h", &at(0), "e"), c]);
            assert_eq!(!got.is_empty(), hit, "{name}");
        }
    }

    #[test]
    fn wildcard_matcher() {
        assert!(like_insensitive("bash", "ba?h"));
        assert!(like_insensitive("BASH", "ba?h"));
        assert!(!like_insensitive("bah", "ba?h"));
        assert!(!like_insensitive("baash", "ba?h"));
        assert!(like_insensitive("tclsh", "tclsh*"));
        assert!(like_insensitive("a.b.c", "*.*"));
        assert!(like_insensitive("abcabd", "*abd"));
        assert!(like_insensitive("", "*"));
        assert!(!like_insensitive("", "?"));
        assert!(like_insensitive("Ünïcode", "ü?ïCODE"));
        assert!(like_insensitive("héllo", "h?llo"));
        assert!(!like_insensitive("ab", "a"));
        assert!(!like_insensitive("a", "ab"));
    }

    #[test]
    fn any_array_element_matches() {
        let mut s = exec("s", "h", &at(0), "e");
        set(&mut s, "event.type", json!(["info", "start"]));
        set(&mut s, "event.action", json!(["fork", "exec", "end"]));
        set(&mut s, "event.category", json!(["file", "process"]));
        let mut c = net("c", "h", &at(1), "e");
        set(&mut c, "process.name", json!(["nscurl", "wget"]));
        assert_eq!(seqs(&[s, c]), ids(&[("s", "c")]));
        let mut c = net("c", "h", &at(1), "e");
        set(&mut c, "event.type", json!(["end", "info"]));
        assert!(seqs(&[exec("s", "h", &at(0), "e"), c]).is_empty());
    }

    #[test]
    fn nested_and_dotted_keys_are_equivalent() {
        let s = format!(
            r#"{{"@timestamp":"{}","event.id":"s","event.category":"process","event.type":"start","event":{{"action":"exec"}},"host.id":"h","host.os.type":"macos","process.name":"zsh","process.entity_id":"e","process.parent":{{"name":"package_script_service"}}}}"#,
            at(0)
        );
        let c = format!(
            r#"{{"@timestamp":"{}","event":{{"id":"c","category":"network","type":"start"}},"host":{{"id":"h","os.type":"macos"}},"process.name":"osascript","process.parent.entity_id":"e"}}"#,
            at(1)
        );
        let input = format!("{s}\n{c}\n");
        assert_eq!(reference_sequences(input.as_bytes()), ids(&[("s", "c")]));
    }

    #[test]
    fn mixed_forms_give_every_value() {
        let doc = parse_json(r#"{"process":{"name":"a"},"process.name":"b","process.parent":{"name":["c",null,"d"]}}"#).expect("valid JSON");
        assert_eq!(text_values(&doc, "process.name"), vec!["a", "b"]);
        assert_eq!(text_values(&doc, "process.parent.name"), vec!["c", "d"]);
        let doc = parse_json(r#"{"a":[{"b":1},{"b":[true,null]}],"a.b":2.5}"#).expect("valid JSON");
        assert_eq!(text_values(&doc, "a.b"), vec!["1", "true", "2.5"]);
        assert!(text_values(&doc, "a").is_empty());
    }

    #[test]
    fn missing_or_null_keys_leave_the_stage() {
        let mut c = net("c", "h", &at(1), "e");
        remove(&mut c, "process.parent.entity_id");
        assert!(seqs(&[exec("s", "h", &at(0), "e"), c]).is_empty());
        let mut c = net("c", "h", &at(1), "e");
        set(&mut c, "process.parent.entity_id", Value::Null);
        assert!(seqs(&[exec("s", "h", &at(0), "e"), c]).is_empty());
        let mut s = exec("s", "h", &at(0), "e");
        set(&mut s, "host.id", Value::Null);
        assert!(seqs(&[s, net("c", "h", &at(1), "e")]).is_empty());
        let mut s = exec("s", "h", &at(0), "e");
        remove(&mut s, "host.os");
        assert!(seqs(&[s, net("c", "h", &at(1), "e")]).is_empty());
        // Two events both missing host.id never join on a "null" key.
        let mut s = exec("s", "h", &at(0), "e");
        let mut c = net("c", "h", &at(1), "e");
        remove(&mut s, "host.id");
        remove(&mut c, "host.id");
        assert!(seqs(&[s, c]).is_empty());
    }

    #[test]
    fn newer_pending_replaces_older() {
        let got = seqs(&[exec("s1", "h", &at(0), "e"), exec("s2", "h", &at(2000), "e"), net("c", "h", &at(3000), "e")]);
        assert_eq!(got, ids(&[("s2", "c")]));
        // The replacement restarts maxspan from the newer event.
        let got = seqs(&[exec("s1", "h", &at(0), "e"), exec("s2", "h", &at(10_000), "e"), net("c", "h", &at(20_000), "e")]);
        assert_eq!(got, ids(&[("s2", "c")]));
    }

    #[test]
    fn pending_is_consumed_by_the_first_stage_two_event() {
        let got = seqs(&[exec("s", "h", &at(0), "e"), net("c1", "h", &at(1000), "e"), net("c2", "h", &at(2000), "e")]);
        assert_eq!(got, ids(&[("s", "c1")]));
        // A rejected (too late) match still consumes the pending sequence.
        let got = seqs(&[exec("s", "h", &at(0), "e"), net("c1", "h", &at(16_000), "e"), exec("s2", "h", &at(17_000), "e"), net("c2", "h", &at(18_000), "e")]);
        assert_eq!(got, ids(&[("s2", "c2")]));
    }

    #[test]
    fn different_hosts_never_join() {
        let got = seqs(&[exec("s", "h1", &at(0), "e"), net("c", "h2", &at(1000), "e")]);
        assert!(got.is_empty());
        let got = seqs(&[exec("s1", "h1", &at(0), "e"), exec("s2", "h2", &at(100), "e"), net("c2", "h2", &at(200), "e"), net("c1", "h1", &at(300), "e")]);
        assert_eq!(got, ids(&[("s2", "c2"), ("s1", "c1")]));
    }

    #[test]
    fn join_keys_are_case_sensitive() {
        let got = seqs(&[exec("s", "h", &at(0), "E"), net("c", "h", &at(1000), "e")]);
        assert!(got.is_empty());
    }

    #[test]
    fn out_of_order_arrival_is_sorted_by_time() {
        let got = seqs(&[net("c", "h", &at(5000), "e"), exec("s", "h", &at(1000), "e")]);
        assert_eq!(got, ids(&[("s", "c")]));
        // Output is ordered by the last event's time, not by arrival.
        let got = seqs(&[net("c2", "h2", &at(9000), "e"), exec("s1", "h1", &at(1000), "e"), exec("s2", "h2", &at(2000), "e"), net("c1", "h1", &at(3000), "e")]);
        assert_eq!(got, ids(&[("s1", "c1"), ("s2", "c2")]));
    }

    #[test]
    fn same_event_cannot_complete_what_it_started() {
        // An osascript exec'd by the installer that is also a network start: it matches
        // both stages, its entity id equal to its parent id.
        let both = |id: &str, ms: i64| {
            let mut e = exec(id, "h", &at(ms), "x");
            set(&mut e, "event.category", json!(["process", "network"]));
            set(&mut e, "process.name", json!("osascript"));
            set(&mut e, "process.parent.entity_id", json!("x"));
            e
        };
        assert!(seqs(&[both("a", 0)]).is_empty());
        assert_eq!(seqs(&[both("a", 0), both("b", 1000)]), ids(&[("a", "b")]));
        assert_eq!(seqs(&[both("a", 0), both("b", 1000), both("c", 2000)]), ids(&[("a", "b"), ("b", "c")]));
    }

    #[test]
    fn array_keys_expand_to_the_cartesian_product() {
        let mut s = exec("s", "h", &at(0), "e");
        set(&mut s, "process.entity_id", json!(["e2", "e1", "e1"]));
        set(&mut s, "host.id", json!(["h", "h"]));
        let mut c = net("c", "h", &at(1000), "e");
        set(&mut c, "process.parent.entity_id", json!(["e1", "e2", "e3"]));
        assert_eq!(seqs(&[s, c]), ids(&[("s", "c"), ("s", "c")]));
    }

    #[test]
    fn event_without_id_is_named_by_line() {
        let mut s = exec("s", "h", &at(0), "e");
        remove(&mut s, "event.id");
        let input = format!("\n{}\n{}\n", s, net("c", "h", &at(1), "e"));
        assert_eq!(reference_sequences(input.as_bytes()), ids(&[("#line:2", "c")]));
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("2024-01-01T00:00:00Z"), Some(1_704_067_200_000));
        assert_eq!(parse_rfc3339_ms("2024-01-01T01:00:00+01:00"), Some(1_704_067_200_000));
        assert_eq!(parse_rfc3339_ms("2023-12-31T23:30:00-00:30"), Some(1_704_067_200_000));
        assert_eq!(parse_rfc3339_ms("2024-01-01T00:00:00.1Z"), Some(1_704_067_200_100));
        assert_eq!(parse_rfc3339_ms("2024-01-01T00:00:00.123456789012Z"), Some(1_704_067_200_123));
        assert_eq!(parse_rfc3339_ms("2022-04-04T18:53:08.6578986Z"), Some(1_649_098_388_657));
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(parse_rfc3339_ms("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00",
            "2024-01-01 00:00:00Z",
            "2024-01-01t00:00:00z",
            "2024-01-01T00:00:00+0100",
            "2024-01-01T00:00:00Zjunk",
            "2024-1-01T00:00:00Z",
            "not a date at all..",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn line_validity() {
        let valid = |s: &[u8]| is_valid_event_line(s);
        assert!(valid(br#"{"@timestamp":"2024-01-01T00:00:00Z"}"#));
        assert!(valid(br#"{"@timestamp":1704067200000}"#));
        assert!(valid(b"  {\"@timestamp\":-5}\t\r"));
        assert!(!valid(br#"{"@timestamp":1704067200000.5}"#));
        assert!(!valid(br#"{"@timestamp":["2024-01-01T00:00:00Z"]}"#));
        assert!(!valid(br#"{"@timestamp":null}"#));
        assert!(!valid(br#"{"@timestamp":{"x":1}}"#));
        assert!(!valid(br#"{"a":1}"#));
        assert!(!valid(br#"{"@timestamp":"2024-01-01T00:00:00Z","a":1,"a":2}"#));
        assert!(!valid(br#"{"@timestamp":"2024-01-01T00:00:00Z","p":{"a":1,"a":1}}"#));
        assert!(!valid(br#"{"@timestamp":"2024-01-01T00:00:00Z","pro\u0063ess":1,"process":2}"#));
        assert!(valid(br#"{"@timestamp":"2024-01-01T00:00:00Z","process":{"a":1},"process.a":2}"#));
        assert!(valid(br#"{"@timestamp":"2024-01-01T00:00:00Z","a.b.c":1," ":2}"#));
        for key in ["", ".a", "a.", "a..b", "."] {
            let line = format!(r#"{{"@timestamp":"2024-01-01T00:00:00Z","p":{{"{key}":1}}}}"#);
            assert!(!valid(line.as_bytes()), "{key:?}");
        }
        assert!(!valid(br#"[{"@timestamp":"2024-01-01T00:00:00Z"}]"#));
        assert!(!valid(b"42"));
        assert!(!valid(br#"{"@timestamp":"2024-01-01T00:00:00Z",}"#));
        assert!(!valid(br#"{"@timestamp":"2024-01-01T00:00:00Z"} x"#));
        assert!(!valid(br#"{"@timestamp":"2024-01-01T00:00:00Z""#));
        assert!(!valid(b"{\"@timestamp\":\"2024-01-01T00:00:00Z\",\"a\":\"\xff\"}"));
        assert!(!valid(b"{\"@timestamp\":\"2024-01-01T00:00:00Z\",\"a\":\"tab\there\"}"));
        assert!(!valid(b"\xEF\xBB\xBF{\"@timestamp\":\"2024-01-01T00:00:00Z\"}"));
        let deep = |n: usize| format!(r#"{{"@timestamp":"2024-01-01T00:00:00Z","x":{}{}}}"#, "[".repeat(n), "]".repeat(n)).into_bytes();
        assert!(valid(&deep(100)));
        assert!(!valid(&deep(10_000)));
        assert!(is_blank_line(b""));
        assert!(is_blank_line(b" \t\r"));
        assert!(!is_blank_line(b"x"));
    }

    #[test]
    fn bom_crlf_and_blank_lines() {
        let s = exec("s", "h", &at(0), "e").to_string();
        let c = net("c", "h", &at(1), "e").to_string();
        let input = format!("\u{feff}{s}\r\n\r\n   \n\t\r\n{c}\r\n");
        let result = run(input.as_bytes());
        assert_eq!(result.sequences, ids(&[("s", "c")]));
        assert_eq!(result.valid_lines, vec![1, 5]);
        assert!(result.invalid_lines.is_empty());
        assert_eq!(result.blank_lines, 3);
        // A final line without a line end counts too.
        let input = format!("{s}\n{c}");
        assert_eq!(reference_sequences(input.as_bytes()), ids(&[("s", "c")]));
    }

    #[test]
    fn invalid_lines_are_skipped_and_counted() {
        let s = exec("s", "h", &at(0), "e").to_string();
        let c = net("c", "h", &at(1), "e").to_string();
        let dup = c.replacen("{", r#"{"@timestamp":"2024-06-01T12:00:00.500Z","#, 1);
        let input = format!("{s}\n{}\n{dup}\nnot json\n[1]\n{c}\n", &c[..c.len() - 1]);
        let result = run(input.as_bytes());
        assert_eq!(result.sequences, ids(&[("s", "c")]));
        assert_eq!(result.invalid_lines, vec![2, 3, 4, 5]);
    }

    #[test]
    fn escapes_are_decoded_before_matching() {
        let s = exec("s", "h", &at(0), "e").to_string().replace("\"bash\"", r#""b\u0061sh""#);
        let c = net("c", "h", &at(1), "e").to_string().replace("\"curl\"", r#""c\u0075rl""#);
        let c = c.replacen("\"process\"", r#""pro\u0063ess""#, 1);
        assert!(s.contains("\\u0061") && c.contains("\\u0075") && c.contains("\\u0063"));
        let input = format!("{s}\n{c}\n");
        assert_eq!(reference_sequences(input.as_bytes()), ids(&[("s", "c")]));
    }

    #[test]
    fn numbers_and_booleans_compare_as_text() {
        let mut s = exec("s", "h", &at(0), "e");
        set(&mut s, "host.id", json!(42));
        set(&mut s, "process.entity_id", json!(true));
        let mut c = net("c", "h", &at(1), "e");
        set(&mut c, "host.id", json!("42"));
        set(&mut c, "process.parent.entity_id", json!("true"));
        assert_eq!(seqs(&[s, c]), ids(&[("s", "c")]));
    }

    #[test]
    fn epoch_millisecond_timestamps() {
        let mut s = exec("s", "h", T0, "e");
        let mut c = net("c", "h", T0, "e");
        set(&mut s, "@timestamp", json!(1_717_243_200_000_i64));
        set(&mut c, "@timestamp", json!(1_717_243_215_000_i64));
        assert_eq!(seqs(&[s.clone(), c.clone()]), ids(&[("s", "c")]));
        set(&mut c, "@timestamp", json!(1_717_243_215_001_i64));
        assert!(seqs(&[s, c]).is_empty());
        assert_eq!(parse_rfc3339_ms(T0), Some(1_717_243_200_000));
    }

    #[test]
    fn overlong_keyword_values_are_invisible() {
        let mut s = exec("s", "h", &at(0), "e");
        let long = "e".repeat(IGNORE_ABOVE + 1);
        set(&mut s, "process.entity_id", json!(long));
        let c = net("c", "h", &at(1), &long);
        assert!(seqs(&[s, c]).is_empty());
        let mut s = exec("s", "h", &at(0), "e");
        let exact = "e".repeat(IGNORE_ABOVE);
        set(&mut s, "process.entity_id", json!(exact));
        assert_eq!(seqs(&[s, net("c", "h", &at(1), &exact)]), ids(&[("s", "c")]));
    }
}
