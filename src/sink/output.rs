//! Alert sinks of the live service: where alert documents go.
//!
//! # Push contract
//! [`AlertSink::deliver`] returns `Ok` only once the sink has taken responsibility for
//! every document (written and flushed, or acknowledged by the receiver). `Err` means
//! nothing can be assumed delivered: the service then fails the request that produced
//! the alerts (no 200), so Vector retries and nothing is lost. A sink is called from one
//! thread; it may block (that is the back-pressure).

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// Alerts of one batch, in the forms sinks need.
#[derive(Debug, Default, Clone)]
pub struct AlertBatch {
    /// Elastic alert documents.
    pub docs: Vec<Map<String, Value>>,
    /// One line per detection, for people.
    pub compact: Vec<String>,
}

impl AlertBatch {
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty() && self.compact.is_empty()
    }

    fn ndjson(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for d in &self.docs {
            if serde_json::to_writer(&mut out, d).is_ok() {
                out.push(b'\n');
            }
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
#[error("alert sink {sink}: {message}")]
pub struct SinkError {
    pub sink: String,
    pub message: String,
}

pub trait AlertSink: Send {
    fn name(&self) -> &str;
    /// Deliver the batch (see the module's push contract).
    fn deliver(&mut self, batch: &AlertBatch) -> Result<(), SinkError>;
}

/// How a console or file sink writes alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Elastic alert documents, one JSON object per line.
    Json,
    /// One line per detection, for people.
    Text,
}

/// Writes to stdout.
pub struct ConsoleSink {
    pub name: String,
    pub encoding: Encoding,
}

impl AlertSink for ConsoleSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn deliver(&mut self, batch: &AlertBatch) -> Result<(), SinkError> {
        let mut out = std::io::stdout().lock();
        let res = match self.encoding {
            Encoding::Json => out.write_all(&batch.ndjson()),
            Encoding::Text => batch.compact.iter().try_for_each(|l| writeln!(out, "{l}")),
        };
        res.and_then(|_| out.flush()).map_err(|e| SinkError { sink: self.name.clone(), message: e.to_string() })
    }
}

/// Appends to a file.
pub struct FileSink {
    pub name: String,
    pub encoding: Encoding,
    file: std::fs::File,
}

impl FileSink {
    pub fn open(name: &str, path: &str, encoding: Encoding) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(FileSink { name: name.to_string(), encoding, file })
    }
}

impl AlertSink for FileSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn deliver(&mut self, batch: &AlertBatch) -> Result<(), SinkError> {
        let bytes = match self.encoding {
            Encoding::Json => batch.ndjson(),
            Encoding::Text => batch.compact.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect(),
        };
        self.file.write_all(&bytes).and_then(|_| self.file.flush()).map_err(|e| SinkError { sink: self.name.clone(), message: e.to_string() })
    }
}

/// Body compression of the `http` sink, with Vector's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    /// zlib, sent as `content-encoding: deflate`.
    Zlib,
    Zstd,
    Snappy,
}

impl Compression {
    /// # Errors
    /// A name Vector's `http` sink does not know.
    pub fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "zlib" => Compression::Zlib,
            "zstd" => Compression::Zstd,
            "snappy" => Compression::Snappy,
            other => return Err(format!("{other:?} is not one of none, gzip, zlib, zstd, snappy")),
        })
    }

    fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Zlib => Some("deflate"),
            Compression::Zstd => Some("zstd"),
            Compression::Snappy => Some("snappy"),
        }
    }

    fn apply(self, body: Vec<u8>) -> std::io::Result<Vec<u8>> {
        match self {
            Compression::None => Ok(body),
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&body)?;
                e.finish()
            }
            Compression::Zlib => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&body)?;
                e.finish()
            }
            Compression::Zstd => zstd::encode_all(&body[..], 3),
            Compression::Snappy => snap::raw::Encoder::new().compress_vec(&body).map_err(std::io::Error::other),
        }
    }
}

/// POSTs NDJSON to an HTTP endpoint: Vector's `http_server` source, or Elasticsearch's
/// `_bulk` API with `create` actions and the deterministic alert ids (a 409 conflict means
/// "already written").
pub struct HttpSink {
    pub name: String,
    uri: String,
    bulk_index: Option<String>,
    /// The `authorization` header value.
    authorization: Option<String>,
    compression: Compression,
    /// Alert documents per request.
    max_events: usize,
    agent: ureq::Agent,
    /// Give up retrying after this long (the request then fails and Vector retries it).
    retry_budget: Duration,
}

impl HttpSink {
    pub fn new(name: &str, uri: &str, bulk_index: Option<String>, authorization: Option<String>, timeout: Duration, retry_budget: Duration) -> Self {
        let config = ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build();
        HttpSink {
            name: name.to_string(),
            uri: uri.to_string(),
            bulk_index,
            authorization,
            compression: Compression::None,
            max_events: usize::MAX,
            agent: config.into(),
            retry_budget,
        }
    }

    #[must_use]
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    #[must_use]
    pub fn with_max_events(mut self, max_events: Option<usize>) -> Self {
        self.max_events = max_events.unwrap_or(usize::MAX).max(1);
        self
    }

    fn body(&self, docs: &[Map<String, Value>]) -> Vec<u8> {
        let mut out = Vec::new();
        let Some(index) = &self.bulk_index else {
            for d in docs {
                if serde_json::to_writer(&mut out, d).is_ok() {
                    out.push(b'\n');
                }
            }
            return out;
        };
        for d in docs {
            let id = d.get("kibana.alert.uuid").and_then(Value::as_str).unwrap_or_default();
            let action = serde_json::json!({"create": {"_index": index, "_id": id}});
            let _ = serde_json::to_writer(&mut out, &action);
            out.push(b'\n');
            let _ = serde_json::to_writer(&mut out, d);
            out.push(b'\n');
        }
        out
    }
}

/// Vector's retry rule, which we follow as a sender too: 408, 429 and 5xx except 501
/// are worth retrying; other 4xx and 501 never succeed.
fn retriable(status: u16) -> bool {
    status == 408 || status == 429 || (status >= 500 && status != 501)
}

/// The outcome of one delivery attempt.
pub(crate) enum Attempt {
    Delivered,
    /// Worth trying again (overload, connection trouble).
    Retry(String),
    /// Will never succeed as sent.
    GiveUp(String),
}

/// Try until delivered, refused for good, or `budget` is spent, with jittered exponential
/// backoff. Giving up is an `Err`: the alerts are kept and the request that made them fails.
pub(crate) fn with_retries(sink: &str, budget: Duration, mut attempt: impl FnMut() -> Attempt) -> Result<(), SinkError> {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(100);
    let err = |m: String| SinkError { sink: sink.to_string(), message: m };
    loop {
        let message = match attempt() {
            Attempt::Delivered => return Ok(()),
            Attempt::GiveUp(m) => {
                tracing::warn!(sink, reason = %m, "giving up: the receiver refuses these alerts");
                return Err(err(m));
            }
            Attempt::Retry(m) => m,
        };
        if started.elapsed() + backoff > budget {
            return Err(err(format!("{message}; gave up after {:?}", started.elapsed())));
        }
        let jitter = rand::random::<f64>() * 0.5 + 0.75;
        std::thread::sleep(backoff.mul_f64(jitter));
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

impl AlertSink for HttpSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn deliver(&mut self, batch: &AlertBatch) -> Result<(), SinkError> {
        for docs in batch.docs.chunks(self.max_events) {
            self.deliver_docs(docs)?;
        }
        Ok(())
    }
}

impl HttpSink {
    fn deliver_docs(&self, docs: &[Map<String, Value>]) -> Result<(), SinkError> {
        let body = self.compression.apply(self.body(docs)).map_err(|e| SinkError { sink: self.name.clone(), message: format!("compression: {e}") })?;
        with_retries(&self.name, self.retry_budget, || {
            let mut req = self.agent.post(&self.uri).header("content-type", "application/x-ndjson");
            if let Some(a) = &self.authorization {
                req = req.header("authorization", a);
            }
            if let Some(ce) = self.compression.content_encoding() {
                req = req.header("content-encoding", ce);
            }
            match req.send(&body[..]) {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    if (200..300).contains(&status) {
                        if self.bulk_index.is_none() {
                            return Attempt::Delivered;
                        }
                        // _bulk answers 200 with per-item results: 201 created, 409 exists.
                        let text = resp.body_mut().read_to_string().unwrap_or_default();
                        match bulk_failures(&text) {
                            0 => Attempt::Delivered,
                            n => Attempt::Retry(format!("{n} bulk items failed")),
                        }
                    } else if retriable(status) {
                        Attempt::Retry(format!("HTTP {status}"))
                    } else {
                        Attempt::GiveUp(format!("HTTP {status} (not retriable)"))
                    }
                }
                Err(e) => Attempt::Retry(e.to_string()),
            }
        })
    }
}

/// Writes NDJSON to a TCP peer (Vector's `socket` source). Like Vector's `socket` sink this
/// is best effort: written to the kernel is delivered. A broken connection is reopened
/// once per batch; if that fails the batch fails (and its request is refused).
pub struct SocketSink {
    pub name: String,
    address: String,
    conn: Option<std::net::TcpStream>,
}

impl SocketSink {
    pub fn new(name: &str, address: &str) -> Self {
        SocketSink { name: name.to_string(), address: address.to_string(), conn: None }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.conn.is_none() {
            let c = std::net::TcpStream::connect(&self.address)?;
            c.set_nodelay(true)?;
            c.set_write_timeout(Some(Duration::from_secs(30)))?;
            self.conn = Some(c);
        }
        let res = match self.conn.as_mut() {
            Some(c) => c.write_all(bytes).and_then(|_| c.flush()),
            None => Ok(()),
        };
        if res.is_err() {
            self.conn = None;
        }
        res
    }
}

impl AlertSink for SocketSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn deliver(&mut self, batch: &AlertBatch) -> Result<(), SinkError> {
        if batch.docs.is_empty() {
            return Ok(());
        }
        let bytes = batch.ndjson();
        // A peer that closed its end is only noticed on the next write: try once more.
        self.write(&bytes).or_else(|_| self.write(&bytes)).map_err(|e| SinkError { sink: self.name.clone(), message: format!("{}: {e}", self.address) })
    }
}

fn bulk_failures(text: &str) -> usize {
    let Ok(v) = serde_json::from_str::<Value>(text) else { return 1 };
    if v.get("errors") != Some(&Value::Bool(true)) {
        return 0;
    }
    v.get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|it| {
                    let st = it.get("create").and_then(|c| c.get("status")).and_then(Value::as_u64).unwrap_or(0);
                    !(200..300).contains(&st) && st != 409
                })
                .count()
        })
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_rules_and_bulk_results() {
        assert!(retriable(503) && retriable(429) && retriable(408) && !retriable(501) && !retriable(400));
        assert_eq!(bulk_failures(r#"{"errors":false,"items":[]}"#), 0);
        assert_eq!(bulk_failures(r#"{"errors":true,"items":[{"create":{"status":409}},{"create":{"status":201}}]}"#), 0);
        assert_eq!(bulk_failures(r#"{"errors":true,"items":[{"create":{"status":400}}]}"#), 1);
    }

    #[test]
    fn compression_round_trips() {
        use std::io::Read;
        let body = b"{\"a\":1}\n".repeat(100);
        let gz = Compression::Gzip.apply(body.clone()).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, body);
        let z = Compression::Zlib.apply(body.clone()).unwrap();
        out.clear();
        flate2::read::ZlibDecoder::new(&z[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, body);
        assert_eq!(zstd::decode_all(&Compression::Zstd.apply(body.clone()).unwrap()[..]).unwrap(), body);
        assert_eq!(snap::raw::Decoder::new().decompress_vec(&Compression::Snappy.apply(body.clone()).unwrap()).unwrap(), body);
        assert!(Compression::parse("brotli").is_err());
    }
}
