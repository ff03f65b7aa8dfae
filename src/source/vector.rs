//! Vector's native protocol (`vector` source and sink): gRPC `vector.Vector/PushEvents`
//! carrying `event.EventWrapper`s. The messages come from `proto/` (our own copy of the
//! wire contract, field numbers as in Vector); this module turns log events into the
//! NDJSON the engine reads, and alert documents into log events.

use std::io::Write;
use std::marker::PhantomData;

use prost::Message;
use serde_json::{Map, Value as Json};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// Generated from `proto/event.proto` and `proto/vector.proto`.
pub mod proto {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod event {
        tonic::include_proto!("event");
    }
    pub mod vector {
        tonic::include_proto!("vector");
    }
}

use proto::event::{event_wrapper, value, EventWrapper, Log, Value, ValueArray, ValueMap};

/// What one `PushEvents` request held.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Converted {
    /// One JSON line per log event.
    pub ndjson: Vec<u8>,
    pub logs: usize,
    /// Metrics and traces: not security events, skipped and counted.
    pub skipped: usize,
}

/// Log events → NDJSON, each event's fields as Vector would serialize them to JSON
/// (keys sorted, strings from bytes, timestamps in RFC 3339).
pub fn events_to_ndjson(events: &[EventWrapper]) -> Converted {
    let mut out = Converted { ndjson: Vec::with_capacity(events.len() * 512), ..Converted::default() };
    for e in events {
        match &e.event {
            Some(event_wrapper::Event::Log(log)) => {
                write_log(&mut out.ndjson, log);
                out.ndjson.push(b'\n');
                out.logs += 1;
            }
            _ => out.skipped += 1,
        }
    }
    out
}

/// A receiver reads `value` when set, else the older `fields` map.
fn write_log(out: &mut Vec<u8>, log: &Log) {
    match &log.value {
        Some(v) => write_value(out, v),
        None => write_map(out, &log.fields),
    }
}

fn write_map(out: &mut Vec<u8>, fields: &std::collections::BTreeMap<String, Value>) {
    out.push(b'{');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write_value(out, v);
    }
    out.push(b'}');
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing JSON into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match &v.kind {
        // Vector keeps strings as bytes and writes them to JSON lossily as UTF-8.
        Some(value::Kind::RawBytes(b)) => write_str(out, &String::from_utf8_lossy(b)),
        Some(value::Kind::Timestamp(t)) => {
            let ts = chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)).unwrap_or_default();
            write_str(out, &ts.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
        }
        Some(value::Kind::Integer(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(value::Kind::Float(f)) => {
            let _ = serde_json::to_writer(&mut *out, f);
        }
        Some(value::Kind::Boolean(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Some(value::Kind::Map(m)) => write_map(out, &m.fields),
        Some(value::Kind::Array(a)) => {
            out.push(b'[');
            for (i, item) in a.items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Some(value::Kind::Null(_)) | None => out.extend_from_slice(b"null"),
    }
}

/// An alert document as a Vector log event (in `fields`, the form Vector 0.57 sends).
pub fn doc_to_event(doc: &Map<String, Json>) -> EventWrapper {
    let fields = doc.iter().map(|(k, v)| (k.clone(), json_to_value(v))).collect();
    EventWrapper { event: Some(event_wrapper::Event::Log(Log { fields, ..Log::default() })) }
}

fn json_to_value(v: &Json) -> Value {
    let kind = match v {
        Json::Null => value::Kind::Null(proto::event::ValueNull::NullValue as i32),
        Json::Bool(b) => value::Kind::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => value::Kind::Integer(i),
            None => value::Kind::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => value::Kind::RawBytes(s.clone().into_bytes()),
        Json::Array(a) => value::Kind::Array(ValueArray { items: a.iter().map(json_to_value).collect() }),
        Json::Object(m) => value::Kind::Map(ValueMap { fields: m.iter().map(|(k, v)| (k.clone(), json_to_value(v))).collect() }),
    };
    Value { kind: Some(kind) }
}

/// Prost encoding, but a request that does not decode is `INVALID_ARGUMENT` (it can never
/// succeed, so Vector must not retry it) rather than tonic's default `INTERNAL`.
#[derive(Debug, Clone)]
pub struct StrictCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for StrictCodec<T, U> {
    fn default() -> Self {
        StrictCodec(PhantomData)
    }
}

impl<T, U> Codec for StrictCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = StrictEncoder<T>;
    type Decoder = StrictDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        StrictEncoder(PhantomData)
    }
    fn decoder(&mut self) -> Self::Decoder {
        StrictDecoder(PhantomData)
    }
}

#[derive(Debug)]
pub struct StrictEncoder<T>(PhantomData<T>);

impl<T: Message> Encoder for StrictEncoder<T> {
    type Item = T;
    type Error = Status;
    fn encode(&mut self, item: T, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(buf).map_err(|e| Status::internal(format!("could not encode a message: {e}")))
    }
}

#[derive(Debug)]
pub struct StrictDecoder<U>(PhantomData<U>);

impl<U: Message + Default> Decoder for StrictDecoder<U> {
    type Item = U;
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(|e| Status::invalid_argument(format!("not a valid protobuf message: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_events_become_sorted_json_lines() {
        let doc: Map<String, Json> =
            serde_json::from_str(r#"{"host":{"id":"h1","ip":["10.0.0.1"]},"@timestamp":"2024-01-01T00:00:00Z","n":-3,"f":1.5,"b":true,"z":null}"#).unwrap();
        let metric = EventWrapper { event: Some(event_wrapper::Event::Metric(proto::event::Metric {})) };
        let c = events_to_ndjson(&[doc_to_event(&doc), metric]);
        assert_eq!((c.logs, c.skipped), (1, 1));
        assert_eq!(
            String::from_utf8(c.ndjson).unwrap(),
            "{\"@timestamp\":\"2024-01-01T00:00:00Z\",\"b\":true,\"f\":1.5,\"host\":{\"id\":\"h1\",\"ip\":[\"10.0.0.1\"]},\"n\":-3,\"z\":null}\n"
        );
    }

    #[test]
    fn value_is_preferred_over_fields_and_timestamps_are_rfc3339() {
        let ts = Value { kind: Some(value::Kind::Timestamp(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 120_000_000 })) };
        let bytes = Value { kind: Some(value::Kind::RawBytes(vec![b'a', 0xff])) };
        let map = ValueMap { fields: [("@timestamp".to_string(), ts), ("s".to_string(), bytes)].into_iter().collect() };
        let log = Log {
            value: Some(Value { kind: Some(value::Kind::Map(map)) }),
            fields: [("ignored".to_string(), Value::default())].into_iter().collect(),
            ..Log::default()
        };
        let c = events_to_ndjson(&[EventWrapper { event: Some(event_wrapper::Event::Log(log)) }]);
        assert_eq!(String::from_utf8(c.ndjson).unwrap(), "{\"@timestamp\":\"2023-11-14T22:13:20.120Z\",\"s\":\"a\u{fffd}\"}\n");
    }
}
