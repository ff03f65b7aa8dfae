//! `seqhound run`: the long-running sidecar.
//!
//! ```text
//!  http_server ─┐  (tokio)                       engine thread (owns the Engine)
//!  socket ──────┼─► Work { chunk, reply } ─► bounded queue ─► decode → filter → sequence
//!  stdin/file ──┘                                              → alerts → every sink
//!                                                              → reply Ok / Err
//! ```
//!
//! Delivery rules (Vector's, see the team's VECTOR.md): an HTTP request is answered 200
//! only after its events were processed and the resulting alerts accepted by every alert
//! sink; 503 when the queue is full, when shutting down, or when a sink failed (Vector
//! retries); 4xx only for a request that can never succeed, with the reason in the body.
//! Socket connections are never written to.
//!
//! Time: the engine thread wakes every [`TICK`] and releases partitions that have been
//! quiet for the lateness in wall-clock time, so the last events of a quiet host are
//! evaluated within the lateness.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use crossbeam_channel::{bounded, RecvTimeoutError, Sender, TrySendError};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

use crate::config::{Config, SinkConfig, SourceConfig, TransformConfig};
use crate::engine::{Engine, EngineOptions};
use crate::rule::{RuleSet, RuleShape};
use crate::sequence::Detection;
use crate::sink::alert::{build_alerts, AlertContext, SourceEvent};
use crate::sink::compact::compact_line;
use crate::sink::metrics::Metrics;
use crate::sink::output::{AlertBatch, AlertSink, ConsoleSink, Encoding, FileSink, HttpSink};
use crate::source::file::{open, LineChunker};
use crate::source::{Chunk, Origin};

/// How often the engine thread releases quiet partitions by wall-clock time.
pub const TICK: Duration = Duration::from_millis(100);
/// Queued batches before sources get back-pressure (HTTP: 503).
pub const QUEUE_DEPTH: usize = 64;
/// Default largest request body, compressed and decompressed (Vector batches ≤ 10 MB).
pub const DEFAULT_MAX_BODY: usize = 32 * 1024 * 1024;

enum Work {
    Events { chunk: Chunk, reply: Option<oneshot::Sender<Result<(), String>>>, received: Instant },
    Shutdown,
}

/// Shared by every source task.
struct Shared {
    work: Sender<Work>,
    metrics: Arc<Metrics>,
    shutting_down: AtomicBool,
    in_flight: AtomicUsize,
}

/// Start everything and run until SIGINT/SIGTERM (or `stop` resolves, for tests).
///
/// # Errors
/// Configuration, rule or listener errors at start-up.
pub fn run(config: Config, stop: Option<oneshot::Receiver<()>>, ready: Option<std::sync::mpsc::Sender<Vec<SocketAddr>>>) -> anyhow::Result<()> {
    let (tname, TransformConfig::Detection { rules, lateness, state_cap, .. }) =
        config.transforms.iter().next().ok_or_else(|| anyhow::anyhow!("no detection transform"))?;
    let set = if rules.is_empty() {
        RuleSet::embedded_default()?
    } else {
        RuleSet::load_strict(&rules.iter().map(PathBuf::from).collect::<Vec<_>>())?
    };
    for r in &set.rules {
        if r.shape == RuleShape::Sample || !r.pipes.is_empty() {
            anyhow::bail!(
                "rule {} ({}) uses `sample` or pipes, which need the whole input: run it with `seqhound replay`",
                r.meta.name,
                r.meta.path
            );
        }
    }
    let set = Arc::new(set);
    let lateness_ms = match lateness {
        Some(l) => crate::config::parse_duration_ms(l).map_err(|e| anyhow::anyhow!("transforms.{tname}.lateness: {e}"))?,
        None => 5_000,
    };
    let options = EngineOptions { lateness_ms, pending_cap: state_cap.unwrap_or(1_000_000), precheck: true };
    let sinks = build_sinks(&config)?;
    let metrics = Arc::new(Metrics::default());
    let (tx, rx) = bounded::<Work>(QUEUE_DEPTH);
    let shared = Arc::new(Shared { work: tx, metrics: metrics.clone(), shutting_down: AtomicBool::new(false), in_flight: AtomicUsize::new(0) });

    let engine_thread = {
        let set = set.clone();
        let metrics = metrics.clone();
        let state_path = match &config.data_dir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|e| anyhow::anyhow!("data_dir {d}: {e}"))?;
                Some(PathBuf::from(d).join("pending.json"))
            }
            None => None,
        };
        let mut engine = Engine::new(set.clone(), options);
        if let Some(p) = &state_path {
            let n = engine.restore_state(p).map_err(|e| anyhow::anyhow!("cannot restore pending sequences: {e}"))?;
            if n > 0 {
                eprintln!("seqhound: restored {n} pending sequences from {}", p.display());
            }
        }
        std::thread::Builder::new().name("engine".into()).spawn(move || engine_loop(set, engine, state_path, rx, sinks, metrics))?
    };

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = rt.block_on(async {
        let mut addrs = Vec::new();
        let mut tasks = Vec::new();
        for (name, src) in &config.sources {
            match src {
                SourceConfig::HttpServer { address, auth, max_body_bytes, decoding, .. } => {
                    let l = tokio::net::TcpListener::bind(address).await.map_err(|e| anyhow::anyhow!("sources.{name}: cannot listen on {address}: {e}"))?;
                    addrs.push(l.local_addr()?);
                    let st = Arc::new(HttpSource {
                        name: name.clone(),
                        token: auth.as_ref().map(|a| a.token.clone()),
                        max_body: max_body_bytes.unwrap_or(DEFAULT_MAX_BODY),
                        native: decoding.as_ref().is_some_and(|d| d.codec == "native_json"),
                        shared: shared.clone(),
                    });
                    tasks.push(tokio::spawn(serve_http(l, st)));
                }
                SourceConfig::Socket { address, decoding, .. } => {
                    let l = tokio::net::TcpListener::bind(address).await.map_err(|e| anyhow::anyhow!("sources.{name}: cannot listen on {address}: {e}"))?;
                    addrs.push(l.local_addr()?);
                    let native = decoding.as_ref().is_some_and(|d| d.codec == "native_json");
                    tasks.push(tokio::spawn(serve_socket(l, name.clone(), native, shared.clone())));
                }
                SourceConfig::Stdin { decoding } => {
                    let native = decoding.as_ref().is_some_and(|d| d.codec == "native_json");
                    spawn_reader(vec!["-".into()], name.clone(), native, shared.clone());
                }
                SourceConfig::File { include, decoding } => {
                    let native = decoding.as_ref().is_some_and(|d| d.codec == "native_json");
                    spawn_reader(include.clone(), name.clone(), native, shared.clone());
                }
            }
        }
        eprintln!("seqhound: listening on {}", addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "));
        if let Some(r) = ready {
            let _ = r.send(addrs);
        }
        wait_for_stop(stop).await;
        eprintln!("seqhound: shutting down: no new requests, finishing those in flight");
        shared.shutting_down.store(true, Ordering::SeqCst);
        for t in &tasks {
            t.abort();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while shared.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::Ok(())
    });
    let _ = shared.work.send(Work::Shutdown);
    let engine_result = engine_thread.join().map_err(|_| anyhow::anyhow!("engine thread panicked"))?;
    result?;
    engine_result?;
    eprintln!("seqhound: stopped");
    Ok(())
}

async fn wait_for_stop(stop: Option<oneshot::Receiver<()>>) {
    let term = async {
        #[cfg(unix)]
        {
            if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                s.recv().await;
                return;
            }
        }
        std::future::pending::<()>().await
    };
    let test_stop = async {
        match stop {
            Some(r) => {
                let _ = r.await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
        _ = test_stop => {}
    }
}

fn build_sinks(config: &Config) -> anyhow::Result<Vec<Box<dyn AlertSink>>> {
    let enc = |e: &Option<crate::config::Encoding>| -> anyhow::Result<Encoding> {
        match e.as_ref().map(|e| e.codec.as_str()) {
            None | Some("json") => Ok(Encoding::Json),
            Some("text") => Ok(Encoding::Text),
            Some(other) => anyhow::bail!("encoding.codec {other:?} is not supported (json, text)"),
        }
    };
    let mut out: Vec<Box<dyn AlertSink>> = Vec::new();
    for (name, s) in &config.sinks {
        match s {
            SinkConfig::Console { encoding, .. } => out.push(Box::new(ConsoleSink { name: name.clone(), encoding: enc(encoding)? })),
            SinkConfig::File { path, encoding, .. } => out.push(Box::new(FileSink::open(name, path, enc(encoding)?)?)),
            SinkConfig::Http { uri, auth, request, encoding, compression, .. } => {
                if enc(encoding)? != Encoding::Json {
                    anyhow::bail!("sinks.{name}: the http sink sends alert documents (encoding.codec = \"json\")");
                }
                if compression.as_deref().is_some_and(|c| c != "none") {
                    anyhow::bail!("sinks.{name}.compression: only \"none\" is supported yet");
                }
                let r = request.clone().unwrap_or_default();
                out.push(Box::new(HttpSink::new(
                    name,
                    uri,
                    None,
                    auth.as_ref().map(|a| a.token.clone()),
                    Duration::from_secs(r.timeout_secs.unwrap_or(30)),
                    Duration::from_secs(r.retry_max_duration_secs.unwrap_or(30)),
                )));
            }
            SinkConfig::Elasticsearch { endpoints, index, auth, request, .. } => {
                let [endpoint] = endpoints.as_slice() else {
                    anyhow::bail!("sinks.{name}.endpoints: exactly one endpoint is supported");
                };
                let r = request.clone().unwrap_or_default();
                out.push(Box::new(HttpSink::new(
                    name,
                    &format!("{}/_bulk", endpoint.trim_end_matches('/')),
                    Some(index.clone().unwrap_or_else(|| ".alerts-security.alerts-default".into())),
                    auth.as_ref().map(|a| a.token.clone()),
                    Duration::from_secs(r.timeout_secs.unwrap_or(30)),
                    Duration::from_secs(r.retry_max_duration_secs.unwrap_or(30)),
                )));
            }
        }
    }
    Ok(out)
}

fn engine_loop(
    set: Arc<RuleSet>,
    mut engine: Engine,
    state_path: Option<PathBuf>,
    rx: crossbeam_channel::Receiver<Work>,
    mut sinks: Vec<Box<dyn AlertSink>>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {

    let execution = format!("{:032x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    let ctx = AlertContext::new(execution);
    let mut deliver = |dets: Vec<Detection>| -> Result<(), String> {
        if dets.is_empty() {
            return Ok(());
        }
        let mut batch = AlertBatch::default();
        for d in &dets {
            let rule = &set.rules[d.rule];
            let events: Vec<SourceEvent> = d.events.iter().map(|e| SourceEvent { raw: &e.raw, stage: e.stage }).collect();
            batch.compact.push(compact_line(&rule.meta, &events));
            match build_alerts(&rule.meta, rule.shape != RuleShape::Event, &events, &ctx, chrono::Utc::now()) {
                Ok(docs) => batch.docs.extend(docs),
                Err(e) => eprintln!("warning: could not build the alert of rule {}: {e}", rule.meta.name),
            }
        }
        for s in sinks.iter_mut() {
            if let Err(e) = s.deliver(&batch) {
                metrics.sink_errors_total.fetch_add(1, Ordering::Relaxed);
                eprintln!("error: {e}");
                return Err(e.to_string());
            }
        }
        metrics.alerts_total.fetch_add(batch.docs.len() as u64, Ordering::Relaxed);
        Ok(())
    };
    // Detections whose alerts a sink refused: kept and retried, never dropped. While any
    // wait, requests are refused (503) without being processed, so Vector keeps them.
    let mut undelivered: Vec<Detection> = Vec::new();
    let retry = |undelivered: &mut Vec<Detection>, deliver: &mut dyn FnMut(Vec<Detection>) -> Result<(), String>| -> Result<(), String> {
        if undelivered.is_empty() {
            return Ok(());
        }
        let dets = std::mem::take(undelivered);
        let res = deliver(dets.clone());
        if res.is_err() {
            *undelivered = dets;
        }
        res
    };
    loop {
        match rx.recv_timeout(TICK) {
            Ok(Work::Events { chunk, reply, received }) => {
                if let Err(e) = retry(&mut undelivered, &mut deliver) {
                    match reply {
                        Some(r) => {
                            let _ = r.send(Err(format!("earlier alerts wait for a sink: {e}")));
                            continue;
                        }
                        // Sources without replies (socket, file) wait: back-pressure.
                        None => {
                            while retry(&mut undelivered, &mut deliver).is_err() {
                                std::thread::sleep(Duration::from_millis(500));
                            }
                        }
                    }
                }
                let dets = engine.push(&chunk);
                for e in engine.take_errors().iter().take(5) {
                    eprintln!("skipped {e}");
                }
                let res = deliver(dets.clone());
                if res.is_err() {
                    undelivered = dets;
                }
                metrics.set_engine(engine.stats());
                metrics.observe_latency(received.elapsed());
                if let Some(r) = reply {
                    let _ = r.send(res);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = retry(&mut undelivered, &mut deliver);
                if undelivered.is_empty() {
                    let dets = engine.tick(Instant::now());
                    if deliver(dets.clone()).is_err() {
                        undelivered = dets;
                    }
                }
                metrics.set_engine(engine.stats());
            }
            Ok(Work::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    // Release what waits in reorder buffers, keep pending sequences for the next start,
    // and make a last attempt at undelivered alerts.
    let mut last = std::mem::take(&mut undelivered);
    match &state_path {
        Some(p) => match engine.save_state(p) {
            Ok(dets) => last.extend(dets),
            Err(e) => eprintln!("error: could not save pending sequences to {}: {e}", p.display()),
        },
        None => last.extend(engine.finish()),
    }
    if let Err(e) = deliver(last) {
        eprintln!("error: alerts lost at shutdown: {e}");
    }
    Ok(())
}

/// Hand a batch to the engine; wait for its outcome when `wait`.
fn submit(shared: &Shared, chunk: Chunk, reply: Option<oneshot::Sender<Result<(), String>>>) -> Result<(), &'static str> {
    if shared.shutting_down.load(Ordering::SeqCst) {
        return Err("shutting down");
    }
    match shared.work.try_send(Work::Events { chunk, reply, received: Instant::now() }) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(_)) => Err("busy"),
        Err(TrySendError::Disconnected(_)) => Err("shutting down"),
    }
}

struct HttpSource {
    name: String,
    token: Option<String>,
    max_body: usize,
    native: bool,
    shared: Arc<Shared>,
}

async fn serve_http(listener: tokio::net::TcpListener, st: Arc<HttpSource>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let st = st.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc = hyper::service::service_fn(move |req| {
                let st = st.clone();
                async move { Ok::<_, std::convert::Infallible>(handle_http(req, st).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(io, svc)
                .await;
        });
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.into())));
    *r.status_mut() = status;
    r
}

async fn handle_http(req: Request<Incoming>, st: Arc<HttpSource>) -> Response<Full<Bytes>> {
    let m = &st.shared.metrics;
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/health") => return text(StatusCode::OK, "{\"ok\":true}\n"),
        ("GET", "/metrics") => return text(StatusCode::OK, m.render()),
        ("POST" | "PUT", _) => {}
        _ => return text(StatusCode::METHOD_NOT_ALLOWED, "send events with POST\n"),
    }
    m.requests_total.fetch_add(1, Ordering::Relaxed);
    if let Some(t) = &st.token {
        let ok = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|v| constant_time_eq(v.as_bytes(), t.as_bytes()));
        if !ok {
            m.requests_unauthorized_total.fetch_add(1, Ordering::Relaxed);
            return text(StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n");
        }
    }
    if st.shared.shutting_down.load(Ordering::SeqCst) {
        m.requests_rejected_busy_total.fetch_add(1, Ordering::Relaxed);
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    }
    st.shared.in_flight.fetch_add(1, Ordering::SeqCst);
    let resp = handle_events(req, &st).await;
    st.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    if resp.status().is_client_error() {
        m.requests_rejected_bad_total.fetch_add(1, Ordering::Relaxed);
    } else if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
        m.requests_rejected_busy_total.fetch_add(1, Ordering::Relaxed);
    }
    resp
}

async fn handle_events(req: Request<Incoming>, st: &HttpSource) -> Response<Full<Bytes>> {
    let encoding = req.headers().get("content-encoding").and_then(|v| v.to_str().ok()).unwrap_or("identity").to_ascii_lowercase();
    let is_json_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    let body = match Limited::new(req.into_body(), st.max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                return text(StatusCode::PAYLOAD_TOO_LARGE, format!("request body over the {} byte limit\n", st.max_body));
            }
            return text(StatusCode::BAD_REQUEST, format!("could not read the request body: {e}\n"));
        }
    };
    let body = match decompress(&encoding, body, st.max_body) {
        Ok(b) => b,
        Err((status, msg)) => return text(status, msg),
    };
    let lines = match to_ndjson(body, is_json_type, st.native) {
        Ok(b) => b,
        Err(msg) => return text(StatusCode::BAD_REQUEST, msg),
    };
    let (tx, rx) = oneshot::channel();
    let chunk = Chunk { bytes: lines, origin: Origin::new(&st.name), first_line: 1 };
    if let Err(why) = submit(&st.shared, chunk, Some(tx)) {
        return text(StatusCode::SERVICE_UNAVAILABLE, format!("{why}, retry later\n"));
    }
    match rx.await {
        Ok(Ok(())) => text(StatusCode::OK, ""),
        Ok(Err(e)) => text(StatusCode::SERVICE_UNAVAILABLE, format!("alerts could not be delivered: {e}\n")),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Undo `content-encoding`, refusing output beyond `limit` (decompression bombs).
fn decompress(encoding: &str, body: Bytes, limit: usize) -> Result<Bytes, (StatusCode, String)> {
    let too_big = || (StatusCode::PAYLOAD_TOO_LARGE, format!("decompressed body over the {limit} byte limit\n"));
    let bad = |e: std::io::Error| (StatusCode::BAD_REQUEST, format!("body is not valid {encoding}: {e}\n"));
    let read_limited = |r: &mut dyn Read| -> Result<Bytes, (StatusCode, String)> {
        let mut out = Vec::new();
        r.take(limit as u64 + 1).read_to_end(&mut out).map_err(bad)?;
        if out.len() > limit {
            return Err(too_big());
        }
        Ok(Bytes::from(out))
    };
    match encoding {
        "" | "identity" => Ok(body),
        "gzip" | "x-gzip" => read_limited(&mut flate2::read::MultiGzDecoder::new(&body[..])),
        "deflate" => read_limited(&mut flate2::read::ZlibDecoder::new(&body[..])),
        "zstd" => {
            let mut d = zstd::stream::read::Decoder::new(&body[..]).map_err(bad)?;
            read_limited(&mut d)
        }
        "snappy" => {
            let n = snap::raw::decompress_len(&body).map_err(|e| (StatusCode::BAD_REQUEST, format!("body is not valid snappy: {e}\n")))?;
            if n > limit {
                return Err(too_big());
            }
            snap::raw::Decoder::new()
                .decompress_vec(&body)
                .map(Bytes::from)
                .map_err(|e| (StatusCode::BAD_REQUEST, format!("body is not valid snappy: {e}\n")))
        }
        other => Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("content-encoding {other:?} is not supported (gzip, deflate, zstd, snappy)\n"))),
    }
}

/// Vector's `http` sink sends NDJSON, or a JSON array with its default framing; its
/// `native_json` codec wraps each event as `{"log": {…}}`. Produce NDJSON of the events'
/// own JSON text (array elements are taken verbatim, not re-serialized).
fn to_ndjson(body: Bytes, json_type: bool, native: bool) -> Result<Bytes, String> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let lines: Bytes = if first == Some(b'[') || (json_type && first != Some(b'{')) {
        let items: Vec<&serde_json::value::RawValue> =
            serde_json::from_slice(&body).map_err(|e| format!("body is not a JSON array of events: {e}\n"))?;
        let mut out = Vec::with_capacity(body.len());
        for it in items {
            out.extend_from_slice(it.get().as_bytes());
            out.push(b'\n');
        }
        Bytes::from(out)
    } else {
        body
    };
    if !native {
        return Ok(lines);
    }
    Ok(Bytes::from(unwrap_native(&lines)))
}

/// `{"log": {…}}` → `{…}` per line; other lines are kept (they fail decoding, counted).
fn unwrap_native(lines: &[u8]) -> Vec<u8> {
    #[derive(serde::Deserialize)]
    struct Native<'a> {
        #[serde(borrow)]
        log: Option<&'a serde_json::value::RawValue>,
    }
    let mut out = Vec::with_capacity(lines.len());
    for line in lines.split(|&b| b == b'\n') {
        match serde_json::from_slice::<Native>(line) {
            Ok(Native { log: Some(l) }) => out.extend_from_slice(l.get().as_bytes()),
            _ => out.extend_from_slice(line),
        }
        out.push(b'\n');
    }
    out
}

/// Newline-delimited JSON over TCP, as Vector's `socket` sink sends it. Nothing is ever
/// written back (the sink reads from the connection only to detect disconnects).
async fn serve_socket(listener: tokio::net::TcpListener, name: String, native: bool, shared: Arc<Shared>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        shared.metrics.connections_total.fetch_add(1, Ordering::Relaxed);
        let shared = shared.clone();
        let name = name.clone();
        tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(256 * 1024);
            let mut line = 1u64;
            loop {
                let n = stream.read_buf(&mut buf).await.unwrap_or_default();
                let eof = n == 0;
                let cut = if eof { buf.len() } else { memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1) };
                if cut > 0 && (eof || buf.len() >= 64 * 1024 || cut == buf.len()) {
                    let bytes = buf.split_to(cut).freeze();
                    let lines = if native { Bytes::from(unwrap_native(&bytes)) } else { bytes };
                    let count = memchr::memchr_iter(b'\n', &lines).count() as u64;
                    let mut chunk = Chunk { bytes: lines, origin: Origin::new(&name), first_line: line };
                    line += count;
                    shared.metrics.requests_total.fetch_add(1, Ordering::Relaxed);
                    // Back-pressure: wait for room instead of dropping.
                    loop {
                        match shared.work.try_send(Work::Events { chunk, reply: None, received: Instant::now() }) {
                            Ok(()) => break,
                            Err(TrySendError::Full(Work::Events { chunk: c, .. })) => {
                                chunk = c;
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            Err(_) => return,
                        }
                    }
                }
                if eof {
                    return;
                }
            }
        });
    }
}

/// `stdin` and `file` sources: read in a thread, blocking on back-pressure.
fn spawn_reader(paths: Vec<String>, name: String, native: bool, shared: Arc<Shared>) {
    std::thread::spawn(move || {
        for p in paths {
            let r = match open(&p) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: sources.{name}: {e}");
                    continue;
                }
            };
            let mut chunker = LineChunker::new(r, Origin::new(&name));
            while let Ok(Some(mut chunk)) = chunker.next_chunk() {
                if native {
                    chunk.bytes = Bytes::from(unwrap_native(&chunk.bytes));
                }
                if shared.work.send(Work::Events { chunk, reply: None, received: Instant::now() }).is_err() {
                    return;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let arr = Bytes::from_static(br#" [{"a":1}, {"b":[1,2]}] "#);
        assert_eq!(&to_ndjson(arr, true, false).unwrap()[..], b"{\"a\":1}\n{\"b\":[1,2]}\n");
        let nd = Bytes::from_static(b"{\"a\":1}\n{\"b\":2}");
        assert_eq!(&to_ndjson(nd.clone(), false, false).unwrap()[..], &nd[..]);
        let native = Bytes::from_static(b"{\"log\":{\"a\":1}}\n{\"metric\":{}}");
        assert_eq!(&to_ndjson(native, false, true).unwrap()[..], b"{\"a\":1}\n{\"metric\":{}}\n");
        assert!(to_ndjson(Bytes::from_static(b"[1,"), false, false).is_err());
    }

    #[test]
    fn decompression_is_bounded() {
        use std::io::Write;
        let data = vec![b'a'; 1_000_000];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&data).unwrap();
        let gz = Bytes::from(gz.finish().unwrap());
        assert_eq!(decompress("gzip", gz.clone(), 2_000_000).unwrap().len(), 1_000_000);
        assert_eq!(decompress("gzip", gz, 1000).unwrap_err().0, StatusCode::PAYLOAD_TOO_LARGE);
        let sn = Bytes::from(snap::raw::Encoder::new().compress_vec(&data).unwrap());
        assert_eq!(decompress("snappy", sn, 2_000_000).unwrap().len(), 1_000_000);
        assert_eq!(decompress("br", Bytes::new(), 10).unwrap_err().0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
