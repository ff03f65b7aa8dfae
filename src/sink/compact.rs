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

use serde_json::Value;

use super::alert::{event_identity, lookup, normalized_time, Document, SourceEvent};
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

    let time = docs
        .first()
        .and_then(|doc| normalized_time(doc, "@timestamp").or_else(|| text(doc, "@timestamp").map(|raw| plain(&raw))))
        .unwrap_or_else(|| "-".to_owned());
    let host_name = docs.iter().find_map(|doc| text(doc, "host.name"));
    let host_id = docs.iter().find_map(|doc| text(doc, "host.id"));
    let mut host = format!("host={}", host_name.as_deref().map_or_else(|| "-".to_owned(), plain));
    if let Some(id) = host_id {
        host.push_str(&format!(" ({})", plain(&id)));
    }

    let steps: Vec<String> = parsed
        .iter()
        .map(|(doc, _)| match doc {
            Some(doc) => step(doc),
            None => "<unparsable event>".to_owned(),
        })
        .collect();
    let ids: Vec<String> = parsed.iter().map(|(_, id)| plain(id)).collect();

    format!("{time} {} {} {host} | {} | events={}", plain(&meta.severity), quoted(&meta.name), steps.join(" → "), ids.join(","))
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

/// `name[action] detail` for one event.
fn step(doc: &Document) -> String {
    let name = text(doc, "process.name").unwrap_or_else(|| "-".to_owned());
    let action = text(doc, "event.action").or_else(|| text(doc, "event.category"));
    let mut out = plain(&name);
    if let Some(action) = action {
        out.push_str(&format!("[{}]", plain(&action)));
    }
    let categories = text(doc, "event.category").unwrap_or_default();
    let detail = if categories.contains("network") {
        destination(doc).or_else(|| text(doc, "dns.question.name").map(|name| plain(&name)))
    } else if categories.contains("file") {
        text(doc, "file.path").map(|path| plain(&path))
    } else {
        None
    };
    let detail = detail.or_else(|| text(doc, "process.command_line").map(|line| quoted(&shorten(&line))));
    if let Some(detail) = detail {
        out.push(' ');
        out.push_str(&detail);
    }
    out
}

/// `ip:port` (`[ip]:port` for IPv6), the address alone without a port.
fn destination(doc: &Document) -> Option<String> {
    let address = text(doc, "destination.ip").or_else(|| text(doc, "destination.address")).or_else(|| text(doc, "destination.domain"))?;
    let address = plain(&address);
    Some(match text(doc, "destination.port") {
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
        let mut generated = Vec::new();
        crate::generate::generate(&crate::generate::GenerateConfig { seed: 7, hosts: 3, events: 3000 }, &mut generated).unwrap();
        for line in generated.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            assert_same_shown_fields(line);
        }
        let tricky: &[&[u8]] = &[
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
        ];
        for raw in tricky {
            assert_same_shown_fields(raw);
        }
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
