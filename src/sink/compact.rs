//! One line per detection, for people reading a terminal or a log.
//!
//! Alert documents (see [`super::alert`]) are made for Kibana and run to hundreds of
//! fields. An analyst tailing seqhound wants the gist: when, how bad, which rule, which
//! host, what each matched event did, and the event ids to look the events up:
//!
//! ```text
//! 2026-11-02T09:14:03.120Z medium "MacOS Installer Package Spawns Network Event" host=mac-17 (4C4C4544-0042) | bash[exec] "bash -c curl https://x" → curl[connection_attempted] 93.184.216.34:443 | events=Nq3k…A7f,Nq3k…A8c
//! ```
//!
//! * time: the first event's `@timestamp` (UTC, milliseconds), `-` when absent;
//! * host: `host.name` and `host.id` of the first event that has them;
//! * one step per event, joined by `→`: `process.name[event.action]` (or the category
//!   when there is no action), then what the event is about: `destination.ip:port` (or
//!   the DNS question) for network events, `file.path` for file events, the quoted and
//!   shortened `process.command_line` otherwise;
//! * event ids as the alert documents' ancestors carry them ([`event_identity`]).
//!
//! Strings from events are escaped so a detection always stays on one line. The
//! function never fails: an event that is not JSON shows as `<unparsable event>`.
//!
//! A field shows every value Elasticsearch indexes for it — all of its spellings (nested,
//! dotted, mixed keys) and array elements, in document order, joined with `,`; numbers
//! and booleans as their JSON text. The values come from the engine's own scanner
//! ([`shown_fields`]); lines it refuses, and event ids that are not one plain string,
//! take the `serde_json` path, so ids always equal the alert documents' ones.

use std::sync::OnceLock;

use serde_json::Value;

use super::alert::{content_event_id, event_identity, lookup, normalized_time, normalized_time_text, Document, SourceEvent};
use crate::decode::json::{PathSet, Scanner, ValueRef, ValueSink};
use crate::rule::meta::RuleMeta;

/// Longest command line shown, in characters; longer ones end in `…`.
const MAX_COMMAND_LINE: usize = 160;

/// Renders a detection as one line (no trailing newline).
///
/// # Example
/// ```
/// use seqhound::rule::meta::RuleMeta;
/// use seqhound::sink::{alert::SourceEvent, compact::compact_line};
/// let meta = RuleMeta { name: "R".into(), severity: "low".into(), ..RuleMeta::default() };
/// let raw = br#"{"@timestamp":"2026-01-01T00:00:00Z","event":{"id":"E1","action":"exec"},"process":{"name":"sh","command_line":"sh -c id"}}"#;
/// let line = compact_line(&meta, &[SourceEvent { raw, stage: 0 }]);
/// assert_eq!(line, r#"2026-01-01T00:00:00.000Z low "R" host=- | sh[exec] "sh -c id" | events=E1"#);
/// ```
pub fn compact_line(meta: &RuleMeta, events: &[SourceEvent]) -> String {
    let scanned: Option<Vec<(Fields, String)>> = events.iter().map(|event| shown_fields(event.raw)).collect();
    match scanned {
        Some(scanned) => render(meta, &scanned),
        None => compact_line_parsed(meta, events),
    }
}

/// [`compact_line`] from the values the scanner found: `(fields, event id)` per event.
fn render(meta: &RuleMeta, events: &[(Fields, String)]) -> String {
    let first = events.first().map(|(f, _)| f);
    let time = first.and_then(|f| f.time().or_else(|| f.text(TIMESTAMP).map(|raw| plain(&raw)))).unwrap_or_else(|| "-".to_owned());
    let host_name = events.iter().find_map(|(f, _)| f.text(HOST_NAME));
    let host_id = events.iter().find_map(|(f, _)| f.text(HOST_ID));
    let steps: Vec<String> = events.iter().map(|(f, _)| step_of(|field| f.text(field))).collect();
    let ids: Vec<String> = events.iter().map(|(_, id)| plain(id)).collect();
    header_and_steps(meta, time, host_name, host_id, &steps, &ids)
}

fn header_and_steps(meta: &RuleMeta, time: String, host_name: Option<String>, host_id: Option<String>, steps: &[String], ids: &[String]) -> String {
    let mut host = format!("host={}", host_name.as_deref().map_or_else(|| "-".to_owned(), plain));
    if let Some(id) = host_id {
        host.push_str(&format!(" ({})", plain(&id)));
    }
    format!("{time} {} {} {host} | {} | events={}", plain(&meta.severity), quoted(&meta.name), steps.join(" → "), ids.join(","))
}

/// The shown fields' values of one event, indexed like [`SHOWN_FIELDS`].
struct Fields(Vec<Vec<String>>);

impl Fields {
    /// A field's values joined with `,`; `None` when it has no non-empty value.
    fn text(&self, field: &str) -> Option<String> {
        let parts: Vec<&str> = self.0.get(field_index(field))?.iter().map(String::as_str).filter(|v| !v.is_empty()).collect();
        (!parts.is_empty()).then(|| parts.join(","))
    }

    /// `@timestamp` in UTC with milliseconds, when it is one RFC 3339 time or integer
    /// number of epoch milliseconds.
    fn time(&self) -> Option<String> {
        let [value] = &self.0.get(field_index(TIMESTAMP))?[..] else { return None };
        normalized_time_text(value)
    }
}

/// Position of a field in [`SHOWN_FIELDS`] (every name used here is one of them).
fn field_index(field: &str) -> usize {
    SHOWN_FIELDS.iter().position(|f| *f == field).unwrap_or(usize::MAX)
}

const TIMESTAMP: &str = "@timestamp";
const HOST_NAME: &str = "host.name";
const HOST_ID: &str = "host.id";
const EVENT_ID: &str = "event.id";

/// Collects scanned values per shown field, and whether each is a plain string scalar.
struct Collect<'a> {
    raw: &'a [u8],
    values: Vec<Vec<String>>,
    /// Per field: every value so far was a string with no escapes given as `"key":"…"`.
    plain_scalar: Vec<bool>,
}

impl ValueSink for Collect<'_> {
    fn value(&mut self, column: u32, value: ValueRef, side: &[u8]) {
        let column = column as usize;
        let (text, plain_scalar) = match value {
            ValueRef::Line(a, b) => {
                let (a, b) = (a as usize, b as usize);
                // A string's range excludes its quotes; a member's own value follows `:`
                // (an array element follows `[` or `,`).
                let string = a > 0 && self.raw[a - 1] == b'"';
                (&self.raw[a..b], string && self.raw[..a - 1].trim_ascii_end().ends_with(b":"))
            }
            ValueRef::Side(a, b) => (&side[a as usize..b as usize], false),
        };
        // The scanner reports only valid UTF-8.
        self.values[column].push(String::from_utf8_lossy(text).into_owned());
        self.plain_scalar[column] &= plain_scalar;
    }
}

/// The shown fields of `raw` and its event id, from the engine's scanner; `None` sends
/// the event to the `serde_json` path: a line the scanner refuses (the engine never
/// matches those), or an `event.id` other than absent or one plain string.
fn shown_fields(raw: &[u8]) -> Option<(Fields, String)> {
    static PATHS: OnceLock<PathSet> = OnceLock::new();
    thread_local! {
        static SCANNER: std::cell::RefCell<Scanner> = std::cell::RefCell::new(Scanner::new());
    }
    let paths = PATHS.get_or_init(|| PathSet::new(SHOWN_FIELDS));
    let mut sink = Collect { raw, values: vec![Vec::new(); SHOWN_FIELDS.len()], plain_scalar: vec![true; SHOWN_FIELDS.len()] };
    SCANNER
        .with(|scanner| {
            let mut scanner = scanner.borrow_mut();
            scanner.side.clear();
            scanner.scan(raw, paths, &mut sink)
        })
        .ok()?;
    let event_id = field_index(EVENT_ID);
    let id = match &sink.values.get(event_id)?[..] {
        [] => content_event_id(raw),
        [id] if sink.plain_scalar.get(event_id) == Some(&true) => {
            if id.is_empty() {
                content_event_id(raw)
            } else {
                id.clone()
            }
        }
        _ => return None,
    };
    Some((Fields(sink.values), id))
}

/// [`compact_line`] from `serde_json` documents.
fn compact_line_parsed(meta: &RuleMeta, events: &[SourceEvent]) -> String {
    let parsed: Vec<(Option<Document>, String)> = events
        .iter()
        .map(|event| {
            let doc: Option<Value> = parse_shown_fields(event.raw);
            let id = event_identity(doc.as_ref().unwrap_or(&Value::Null), event.raw).0;
            let doc = match doc {
                Some(Value::Object(map)) => Some(map),
                _ => None,
            };
            (doc, id)
        })
        .collect();
    let docs: Vec<&Document> = parsed.iter().filter_map(|(doc, _)| doc.as_ref()).collect();

    let time =
        docs.first().and_then(|doc| normalized_time(doc, TIMESTAMP).or_else(|| text(doc, TIMESTAMP).map(|raw| plain(&raw)))).unwrap_or_else(|| "-".to_owned());
    let host_name = docs.iter().find_map(|doc| text(doc, HOST_NAME));
    let host_id = docs.iter().find_map(|doc| text(doc, HOST_ID));
    let steps: Vec<String> = parsed
        .iter()
        .map(|(doc, _)| match doc {
            Some(doc) => step_of(|field| text(doc, field)),
            None => "<unparsable event>".to_owned(),
        })
        .collect();
    let ids: Vec<String> = parsed.iter().map(|(_, id)| plain(id)).collect();
    header_and_steps(meta, time, host_name, host_id, &steps, &ids)
}

/// Every field the line may show or identify an event by ([`step`], [`destination`],
/// [`event_identity`], the header).
const SHOWN_FIELDS: &[&str] = &[
    "@timestamp",
    "host.name",
    "host.id",
    "process.name",
    "process.command_line",
    "event.action",
    "event.category",
    "event.id",
    "event.dataset",
    "data_stream.type",
    "data_stream.dataset",
    "data_stream.namespace",
    "destination.ip",
    "destination.address",
    "destination.domain",
    "destination.port",
    "dns.question.name",
    "file.path",
];

/// The event as JSON with only the branches leading to [`SHOWN_FIELDS`] kept, in any of
/// their spellings (nested, dotted or mixed keys); `None` when the line is not JSON.
///
/// Why: a full `Value` of a 2 KB Endpoint event costs hundreds of allocations, and one
/// line per detection made the compact output the most expensive part of a replay with
/// many detections. Everything else is skipped while parsing (still validated), so
/// [`lookup`] finds exactly what it would find in the full document.
fn parse_shown_fields(raw: &[u8]) -> Option<Value> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    let value = serde::de::DeserializeSeed::deserialize(Pruned { below: SHOWN_FIELDS.to_vec() }, &mut de).ok()?;
    de.end().ok()?;
    Some(value)
}

/// Deserializes a value at some path, keeping members whose path is a shown field
/// (whole) or leads to one (pruned in turn). `below` holds what follows `path.` in each
/// shown field under the path (all of them at the top), so a key costs a few prefix
/// tests against the fields still in reach, not a walk over every field.
struct Pruned {
    below: Vec<&'static str>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Pruned {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Pruned {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Document::new();
        while let Some(key) = map.next_key_seed(Key)? {
            // What follows `key` in each field still in reach: "" for the field itself.
            let rests = self.below.iter().filter_map(|field| field.strip_prefix(key.as_ref()));
            let (mut whole, mut leads) = (false, false);
            for rest in rests.clone() {
                whole |= rest.is_empty();
                leads |= rest.starts_with('.');
            }
            if whole {
                kept.insert(key.into_owned(), map.next_value()?);
            } else if leads {
                let below = rests.filter_map(|rest| rest.strip_prefix('.')).collect();
                let value = map.next_value_seed(Pruned { below })?;
                kept.insert(key.into_owned(), value);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(Value::Object(kept))
    }

    // Anything but an object: checked for syntax and dropped. Only objects are looked into.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_str<E>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// A member name, borrowed from the line unless it has escapes (serde's own `Cow`
/// always copies, one allocation per key of every kept object).
struct Key;

impl<'de> serde::de::DeserializeSeed<'de> for Key {
    type Value = std::borrow::Cow<'de, str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Key {
    type Value = std::borrow::Cow<'de, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Borrowed(key))
    }
    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(key.to_owned()))
    }
}

/// `name[action] detail` for one event, whose fields `text` gives.
fn step_of(text: impl Fn(&str) -> Option<String>) -> String {
    let name = text("process.name").unwrap_or_else(|| "-".to_owned());
    let action = text("event.action").or_else(|| text("event.category"));
    let mut out = plain(&name);
    if let Some(action) = action {
        out.push_str(&format!("[{}]", plain(&action)));
    }
    let categories = text("event.category").unwrap_or_default();
    let detail = if categories.contains("network") {
        destination(&text).or_else(|| text("dns.question.name").map(|name| plain(&name)))
    } else if categories.contains("file") {
        text("file.path").map(|path| plain(&path))
    } else {
        None
    };
    let detail = detail.or_else(|| text("process.command_line").map(|line| quoted(&shorten(&line))));
    if let Some(detail) = detail {
        out.push(' ');
        out.push_str(&detail);
    }
    out
}

/// `ip:port` (`[ip]:port` for IPv6), the address alone without a port.
fn destination(text: &impl Fn(&str) -> Option<String>) -> Option<String> {
    let address = text("destination.ip").or_else(|| text("destination.address")).or_else(|| text("destination.domain"))?;
    let address = plain(&address);
    Some(match text("destination.port") {
        Some(port) if address.contains(':') => format!("[{address}]:{}", plain(&port)),
        Some(port) => format!("{address}:{}", plain(&port)),
        None => address,
    })
}

/// A field as text: strings as they are, numbers and booleans printed, arrays
/// joined with `,` (Endpoint ships `event.category` and, from 8.18, `event.action`
/// as arrays). `None` for absent, null, empty or structured values.
fn text(doc: &Document, path: &str) -> Option<String> {
    let scalar = |value: &Value| match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match lookup(doc, path)? {
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(scalar).collect();
            (!parts.is_empty()).then(|| parts.join(","))
        }
        other => scalar(other),
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_COMMAND_LINE {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX_COMMAND_LINE - 1).collect();
    short.push('…');
    short
}

/// A JSON string literal: quotes, backslashes and control characters escaped.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{}\"", plain(text)))
}

/// Unquoted text with control characters escaped, so it cannot break the line.
fn plain(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> RuleMeta {
        RuleMeta { name: "MacOS Installer Package Spawns Network Event".into(), severity: "medium".into(), ..RuleMeta::default() }
    }

    const SHELL: &str = r#"{"@timestamp":"2026-11-02T09:14:03.1204567Z","event":{"id":"Nq3kP0xYzL5tR8uW+++++A7f","category":["process"],"type":["start"],"action":"exec"},"host":{"id":"4C4C4544-0042","name":"mac-17"},"process":{"name":"bash","command_line":"bash -c curl -fsSL https://example.com/x -o /tmp/.x"}}"#;
    const CURL: &str = r#"{"@timestamp":"2026-11-02T09:14:04.5Z","event":{"id":"Nq3kP0xYzL5tR8uW+++++A8c","category":["network"],"type":["start"],"action":"connection_attempted"},"host":{"id":"4C4C4544-0042","name":"mac-17"},"process":{"name":"curl","command_line":"curl -fsSL https://example.com/x"},"destination":{"ip":"93.184.216.34","port":443}}"#;

    #[test]
    fn sequence_line() {
        let events = [SourceEvent { raw: SHELL.as_bytes(), stage: 0 }, SourceEvent { raw: CURL.as_bytes(), stage: 1 }];
        assert_eq!(
            compact_line(&meta(), &events),
            "2026-11-02T09:14:03.120Z medium \"MacOS Installer Package Spawns Network Event\" \
             host=mac-17 (4C4C4544-0042) | bash[exec] \"bash -c curl -fsSL https://example.com/x -o /tmp/.x\" \
             → curl[connection_attempted] 93.184.216.34:443 \
             | events=Nq3kP0xYzL5tR8uW+++++A7f,Nq3kP0xYzL5tR8uW+++++A8c"
        );
    }

    #[test]
    fn dotted_keys_arrays_and_other_categories() {
        let file = br#"{"@timestamp":"2026-11-02T09:14:05Z","event.id":"F1","event.category":"file","event.action":["creation"],"process.name":"curl","file.path":"/tmp/.x"}"#;
        let dns = br#"{"event":{"id":"D1","category":"network","action":["lookup_requested","lookup_result"]},"process":{"name":"curl"},"dns":{"question":{"name":"example.com"}}}"#;
        let v6 = br#"{"event":{"id":"N6","category":"network"},"destination":{"ip":"2606:2800::1","port":443}}"#;
        let events = [SourceEvent { raw: file, stage: 0 }, SourceEvent { raw: dns, stage: 1 }, SourceEvent { raw: v6, stage: 2 }];
        assert_eq!(
            compact_line(&meta(), &events),
            "2026-11-02T09:14:05.000Z medium \"MacOS Installer Package Spawns Network Event\" host=- \
             | curl[creation] /tmp/.x → curl[lookup_requested,lookup_result] example.com \
             → -[network] [2606:2800::1]:443 | events=F1,D1,N6"
        );
    }

    #[test]
    fn hostile_strings_stay_on_one_line() {
        let long = "x".repeat(500);
        let raw = format!(r#"{{"event":{{"id":"E\nX"}},"host":{{"name":"evil\nhost"}},"process":{{"name":"a\tb","command_line":"echo \"hi\"\n{long}"}}}}"#);
        let line = compact_line(&meta(), &[SourceEvent { raw: raw.as_bytes(), stage: 0 }]);
        assert!(!line.contains('\n') && !line.contains('\t'), "{line}");
        assert!(line.contains(r"host=evil\nhost"), "{line}");
        assert!(line.contains(r#"a\tb "echo \"hi\"\nxxx"#), "{line}");
        assert!(line.contains("x…\" | events=E\\nX"), "{line}");
        assert!(line.starts_with("- medium"), "{line}");
    }

    /// The pruned parse finds every shown field exactly as the full document does.
    fn assert_same_shown_fields(raw: &[u8]) {
        let full: Option<Value> = serde_json::from_slice(raw).ok();
        let pruned = parse_shown_fields(raw);
        assert_eq!(full.is_some(), pruned.is_some(), "{}", String::from_utf8_lossy(raw));
        let (Some(Value::Object(full)), Some(pruned)) = (full, pruned) else { return };
        let Value::Object(pruned) = pruned else { panic!("object pruned to {pruned}") };
        for field in SHOWN_FIELDS {
            assert_eq!(lookup(&full, field), lookup(&pruned, field), "{field} in {}", String::from_utf8_lossy(raw));
        }
        assert_eq!(event_identity(&Value::Object(full), raw), event_identity(&Value::Object(pruned), raw));
    }

    #[test]
    fn pruned_parse_finds_what_the_full_parse_finds() {
        for line in generated(3000) {
            assert_same_shown_fields(&line);
        }
        for raw in TRICKY {
            assert_same_shown_fields(raw);
        }
    }

    fn generated(events: u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        crate::generate::generate(&crate::generate::GenerateConfig { seed: 7, hosts: 3, events }, &mut out).unwrap();
        out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
    }

    const TRICKY: &[&[u8]] = &[
        SHELL.as_bytes(),
        CURL.as_bytes(),
        br#"{"process.name":"a","process":{"name":"b"}}"#,
        br#"{"process":{"name":"b"},"process.name":"a"}"#,
        br#"{"process":{"name":"a"},"process":{"name":"b","command_line":"x"}}"#,
        br#"{"process":"flat","process.command_line":"c","event":{"id":7,"category":["network","x"]}}"#,
        br#"{"dns":{"question.name":"q"},"dns.question":{"name":"r"},"destination":{"ip":"::1","port":"53"}}"#,
        br#"{"host":{"id":null,"name":{"deep":1}},"file":{"path":["/a","/b"]},"event":[1]}"#,
        br#"{"hos":{"id":"no"},"host_":{"id":"no"},"hostx.id":"no","host":{"idx":"no"}}"#,
        br#"{"@timestamp":1700000000000,"data_stream":{"type":"logs","dataset":"d","namespace":"n"}}"#,
        br#"{"e\u0076ent":{"\u0069d":"escaped"}}"#,
        br#"[{"event":{"id":"E"}}]"#,
        br#""text""#,
        br#"{"event":{"id":"E"}} trailing"#,
        br#"{"event":{"id":"E"},"other":[1,2,{"x":tru}]}"#,
        br#"{"event":{"id":"E"}"#,
        br#"{"event":{"id":["E"]},"process":{"name":"p"}}"#,
        br#"{"event":{"id":""},"process":{"name":"p"}}"#,
        br#"{"event":{"id":true}}"#,
        br#"{"event":{"id" : "spaced"}, "process" : {"name" : "p"}}"#,
        br#"{"event.id":"A","event":{"id":"B"}}"#,
    ];

    /// The scanner's path renders what the `serde_json` path renders wherever a field
    /// has one spelling (real events), and always gives the same event ids.
    #[test]
    fn scanner_path_renders_like_the_parsed_path() {
        let lines = generated(3000);
        let mut scanned = 0;
        for pair in lines.windows(2) {
            let events = [SourceEvent { raw: &pair[0], stage: 0 }, SourceEvent { raw: &pair[1], stage: 1 }];
            scanned += usize::from(events.iter().all(|e| shown_fields(e.raw).is_some()));
            assert_eq!(compact_line(&meta(), &events), compact_line_parsed(&meta(), &events), "{}", String::from_utf8_lossy(&pair[0]));
        }
        // Generated events all take the scanner's path.
        assert_eq!(scanned, lines.len() - 1);
        for raw in TRICKY {
            let events = [SourceEvent { raw, stage: 0 }];
            let ids = |line: String| line.rsplit_once("events=").map(|(_, ids)| ids.to_owned());
            assert_eq!(ids(compact_line(&meta(), &events)), ids(compact_line_parsed(&meta(), &events)), "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn every_spelling_of_a_field_shows() {
        let raw = br#"{"process.name":"a","process":{"name":["b","c"]},"event":{"id":"E"}}"#;
        let line = compact_line(&meta(), &[SourceEvent { raw, stage: 0 }]);
        assert!(line.contains("| a,b,c |"), "{line}");
        // Duplicate keys: the scanner refuses the line, the parsed path shows it.
        let dup = br#"{"process":{"name":"a"},"process":{"name":"b"},"event":{"id":"E"}}"#;
        assert!(shown_fields(dup).is_none());
        assert!(compact_line(&meta(), &[SourceEvent { raw: dup, stage: 0 }]).contains("| b |"));
        // An id in an array or of another type is not a plain id: the parsed path decides.
        assert!(shown_fields(br#"{"event":{"id":["E"]}}"#).is_none());
        assert!(shown_fields(br#"{"event":{"id":7}}"#).is_none());
        assert_eq!(shown_fields(br#"{"event":{"id" : "E"}}"#).map(|(_, id)| id).as_deref(), Some("E"));
    }

    #[test]
    fn unparsable_event_keeps_its_content_id() {
        let raw = b"{broken";
        let line = compact_line(&meta(), &[SourceEvent { raw, stage: 0 }]);
        let id = event_identity(&Value::Null, raw).0;
        assert!(id.starts_with("sha256-"));
        assert_eq!(line, format!("- medium \"MacOS Installer Package Spawns Network Event\" host=- | <unparsable event> | events={id}"));
    }
}
