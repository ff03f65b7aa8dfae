//! `seqhound run`: the long-running sidecar.
//!
//! ```text
//!  http_server ─┐  (tokio)                       engine thread (owns the Engine)
//!  vector gRPC ─┤
//!  socket ──────┼─► Work { chunk, reply } ─► bounded queue ─► decode → filter → sequence
//!  stdin/file ──┘                                              → alerts → every sink
//!                                                              → reply Ok / Err
//! ```
//!
//! Delivery rules (Vector's): an HTTP request (gRPC push) is answered 200 (OK) only after
//! its events were processed and the resulting alerts accepted by every alert sink; 503
//! (UNAVAILABLE) when the queue is full, when shutting down, or when a sink failed (Vector
//! retries); 4xx (INVALID_ARGUMENT) only for a request that can never succeed, with the
//! reason. Socket connections are never written to.
//!
//! Crashes: with a `data_dir`, the candidates of every batch are journaled before the
//! batch is sequenced (see [`journal`]), and a start replays the journal on top of the
//! snapshot of the last graceful stop, so a request answered 200 is never lost to a
//! crash.
//!
//! Time: the engine thread wakes every [`TICK`] and releases partitions that have been
//! quiet for the lateness in wall-clock time, so the last events of a quiet host are
//! evaluated within the lateness.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender, TrySendError};
use tokio::sync::oneshot;

use crate::config::{Config, SinkConfig, SourceConfig, TransformConfig};
use crate::engine::{Engine, EngineOptions};
use crate::rule::{RuleSet, RuleShape};
use crate::sequence::Detection;
use crate::sink::alert::{build_alerts, AlertContext, SourceEvent};
use crate::sink::audit::{AuditOptions, AuditScope, AuditWriter};
use crate::sink::compact::compact_line;
use crate::sink::metrics::Metrics;
use crate::sink::output::{AlertBatch, AlertSink, Compression, ConsoleSink, Encoding, FileSink, HttpSink, SocketSink};
use crate::sink::vector::VectorSink;
use crate::source::Chunk;

mod grpc;
mod http;
mod journal;
pub use http::body_to_ndjson;
mod stream;
mod tls;

/// How often the engine thread releases quiet partitions by wall-clock time.
pub const TICK: Duration = Duration::from_millis(20);
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

/// Counts a request as in flight until dropped; shutdown waits for the count to reach 0.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Start everything and run until SIGINT/SIGTERM (or `stop` resolves, for tests).
///
/// # Errors
/// Configuration, rule or listener errors at start-up.
pub fn run(config: Config, stop: Option<oneshot::Receiver<()>>, ready: Option<std::sync::mpsc::Sender<Vec<SocketAddr>>>) -> anyhow::Result<()> {
    let (tname, TransformConfig::Detection { rules, lateness, state_cap, .. }) =
        config.transforms.iter().next().ok_or_else(|| anyhow::anyhow!("no detection transform"))?;
    let set = if rules.is_empty() { RuleSet::embedded_default()? } else { RuleSet::load_strict(&rules.iter().map(PathBuf::from).collect::<Vec<_>>())? };
    for r in &set.rules {
        if r.shape == RuleShape::Sample || !r.pipes.is_empty() {
            anyhow::bail!("rule {} ({}) uses `sample` or pipes, which need the whole input: run it with `seqhound replay`", r.meta.name, r.meta.path);
        }
    }
    let set = Arc::new(set);
    let lateness_ms = match lateness {
        Some(l) => crate::config::parse_duration_ms(l).map_err(|e| anyhow::anyhow!("transforms.{tname}.lateness: {e}"))?,
        None => 5_000,
    };
    let execution = format!("{:032x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    let ctx = AlertContext::new(execution);
    let audit = build_audit(&config, &set, &ctx)?;
    // Scope `all` archives every event: the pre-check must not skip any.
    let precheck = audit.as_ref().is_none_or(|a| a.scope() != AuditScope::All);
    let options = EngineOptions { lateness_ms, pending_cap: state_cap.unwrap_or(1_000_000), precheck };
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
        let mut journal = None;
        let mut replay = (Vec::new(), std::collections::HashSet::new());
        if let (Some(p), Some(dir)) = (&state_path, &config.data_dir) {
            let (n, generation) = engine.restore_state(p).map_err(|e| anyhow::anyhow!("cannot restore pending sequences: {e}"))?;
            if n > 0 {
                tracing::info!(sequences = n, path = %p.display(), "restored pending sequences");
            }
            let (j, lines, delivered) = journal::Journal::open(std::path::Path::new(dir), generation, &set, lateness_ms, config.journal_fsync)
                .map_err(|e| anyhow::anyhow!("data_dir {dir}: cannot open the candidate journal: {e}"))?;
            let unbounded = j.unbounded_rules(&set);
            if !unbounded.is_empty() {
                tracing::warn!(
                    rules = %unbounded.join("; "),
                    "these rules have no maxspan: their candidates stay in the crash journal until the next graceful stop"
                );
            }
            journal = Some(j);
            replay = (lines, delivered);
        } else {
            tracing::warn!("no data_dir: pending sequences are lost when the process stops or crashes");
        }
        let io = EngineIo { state_path, rx, sinks, audit, metrics, ctx, journal, replay };
        std::thread::Builder::new().name("engine".into()).spawn(move || engine_loop(set, engine, io))?
    };

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = rt.block_on(async {
        let mut addrs = Vec::new();
        let mut tasks = Vec::new();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut grpc_servers = Vec::new();
        for (name, src) in &config.sources {
            let bind = |address: &String| {
                let name = name.clone();
                let address = address.clone();
                async move { tokio::net::TcpListener::bind(&address).await.map_err(|e| anyhow::anyhow!("sources.{name}: cannot listen on {address}: {e}")) }
            };
            let native = |d: &Option<crate::config::Decoding>| d.as_ref().is_some_and(|d| d.codec == "native_json");
            let tls_files = |t: &Option<crate::config::Tls>| tls::load(t.as_ref()).map_err(|e| anyhow::anyhow!("sources.{name}.{e}"));
            match src {
                SourceConfig::HttpServer { address, auth, max_body_bytes, decoding, tls, .. } => {
                    let l = bind(address).await?;
                    addrs.push(l.local_addr()?);
                    let st = Arc::new(http::HttpSource {
                        name: name.clone(),
                        token: auth.as_ref().map(crate::config::Auth::bearer_token).transpose().map_err(|e| anyhow::anyhow!("sources.{name}.{e}"))?,
                        max_body: max_body_bytes.unwrap_or(DEFAULT_MAX_BODY),
                        native: native(decoding),
                        shared: shared.clone(),
                        tls: tls_files(tls)?.as_ref().map(tls::acceptor).transpose()?,
                    });
                    tasks.push(tokio::spawn(http::serve_http(l, st)));
                }
                SourceConfig::Socket { address, decoding, tls, connection_limit, max_buffered_bytes, .. } => {
                    let l = bind(address).await?;
                    addrs.push(l.local_addr()?);
                    let acceptor = tls_files(tls)?.as_ref().map(tls::acceptor).transpose()?;
                    let limits = stream::SocketLimits {
                        connections: connection_limit.map_or(stream::DEFAULT_CONNECTION_LIMIT, |n| n as usize),
                        buffered_bytes: max_buffered_bytes.unwrap_or(stream::DEFAULT_MAX_BUFFERED),
                    };
                    tasks.push(tokio::spawn(stream::serve_socket(l, name.clone(), native(decoding), acceptor, limits, shared.clone())));
                }
                SourceConfig::Vector { address, tls, .. } => {
                    let l = bind(address).await?;
                    addrs.push(l.local_addr()?);
                    let source = grpc::GrpcSource { name: name.clone(), shared: shared.clone() };
                    let mut stop = stop_rx.clone();
                    let stopped = async move {
                        let _ = stop.wait_for(|s| *s).await;
                    };
                    let files = tls_files(tls)?;
                    let name = name.clone();
                    grpc_servers.push(tokio::spawn(async move {
                        if let Err(e) = grpc::serve_grpc(l, source, DEFAULT_MAX_BODY, files, stopped).await {
                            tracing::error!(source = %name, error = %e, "gRPC server failed");
                        }
                    }));
                }
                SourceConfig::Stdin { decoding } => stream::spawn_reader(vec!["-".into()], name.clone(), native(decoding), shared.clone()),
                SourceConfig::File { include, decoding } => stream::spawn_reader(include.clone(), name.clone(), native(decoding), shared.clone()),
            }
        }
        tracing::info!(addresses = %addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "), "listening");
        if let Some(r) = ready {
            let _ = r.send(addrs);
        }
        wait_for_stop(stop).await;
        tracing::info!("shutting down: no new requests, finishing those in flight");
        shared.shutting_down.store(true, Ordering::SeqCst);
        for t in &tasks {
            t.abort();
        }
        let _ = stop_tx.send(true);
        let deadline = Instant::now() + Duration::from_secs(30);
        while shared.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The gRPC servers have sent GOAWAY; give them a moment to write the last answers,
        // but do not wait for idle clients to hang up.
        for mut g in grpc_servers {
            if tokio::time::timeout(Duration::from_secs(1), &mut g).await.is_err() {
                g.abort();
            }
        }
        anyhow::Ok(())
    });
    let _ = shared.work.send(Work::Shutdown);
    let engine_result = engine_thread.join().map_err(|_| anyhow::anyhow!("engine thread panicked"))?;
    result?;
    engine_result?;
    tracing::info!("stopped");
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

/// The `parquet_audit` sink, if configured (it is fed by the engine loop directly: it
/// also sees candidates and events, not only alerts).
fn build_audit(config: &Config, set: &Arc<RuleSet>, ctx: &AlertContext) -> anyhow::Result<Option<AuditWriter>> {
    for (name, s) in &config.sinks {
        if let SinkConfig::ParquetAudit { path, scope, max_file_bytes, max_file_age_secs, .. } = s {
            let mut o = AuditOptions::new(path, scope.unwrap_or(AuditScope::Detections));
            if let Some(b) = max_file_bytes {
                o.max_file_bytes = *b;
            }
            if let Some(a) = max_file_age_secs {
                o.max_file_age = Duration::from_secs(*a);
            }
            return Ok(Some(AuditWriter::new(o, set.clone(), ctx.clone()).map_err(|e| anyhow::anyhow!("sinks.{name}: {path}: {e}"))?));
        }
    }
    Ok(None)
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
            SinkConfig::Http { uri, auth, request, batch, encoding, compression, .. } => {
                if enc(encoding)? != Encoding::Json {
                    anyhow::bail!("sinks.{name}: the http sink sends alert documents (encoding.codec = \"json\")");
                }
                let compression = Compression::parse(compression.as_deref().unwrap_or("none")).map_err(|e| anyhow::anyhow!("sinks.{name}.compression: {e}"))?;
                let r = request.clone().unwrap_or_default();
                out.push(Box::new(
                    HttpSink::new(
                        name,
                        uri,
                        None,
                        auth.as_ref().map(crate::config::Auth::header_value).transpose().map_err(|e| anyhow::anyhow!("sinks.{name}.{e}"))?,
                        Duration::from_secs(r.timeout_secs.unwrap_or(30)),
                        Duration::from_secs(r.retry_max_duration_secs.unwrap_or(30)),
                    )
                    .with_compression(compression)
                    .with_max_events(batch.as_ref().and_then(|b| b.max_events)),
                ));
            }
            SinkConfig::Socket { address, encoding, .. } => {
                if enc(encoding)? != Encoding::Json {
                    anyhow::bail!("sinks.{name}: the socket sink sends alert documents (encoding.codec = \"json\")");
                }
                out.push(Box::new(SocketSink::new(name, address)));
            }
            SinkConfig::Vector { address, compression, request, batch, .. } => {
                let r = request.clone().unwrap_or_default();
                out.push(Box::new(VectorSink::new(
                    name,
                    address,
                    compression.unwrap_or(false),
                    batch.as_ref().and_then(|b| b.max_events).unwrap_or(crate::sink::vector::DEFAULT_MAX_EVENTS),
                    Duration::from_secs(r.timeout_secs.unwrap_or(30)),
                    Duration::from_secs(r.retry_max_duration_secs.unwrap_or(30)),
                )?));
            }
            SinkConfig::ParquetAudit { .. } => {}
            SinkConfig::Elasticsearch { endpoints, index, auth, request, batch, .. } => {
                let [endpoint] = endpoints.as_slice() else {
                    anyhow::bail!("sinks.{name}.endpoints: exactly one endpoint is supported");
                };
                let r = request.clone().unwrap_or_default();
                out.push(Box::new(
                    HttpSink::new(
                        name,
                        &format!("{}/_bulk", endpoint.trim_end_matches('/')),
                        Some(index.clone().unwrap_or_else(|| ".alerts-security.alerts-default".into())),
                        auth.as_ref().map(crate::config::Auth::header_value).transpose().map_err(|e| anyhow::anyhow!("sinks.{name}.{e}"))?,
                        Duration::from_secs(r.timeout_secs.unwrap_or(30)),
                        Duration::from_secs(r.retry_max_duration_secs.unwrap_or(30)),
                    )
                    .with_max_events(batch.as_ref().and_then(|b| b.max_events)),
                ));
            }
        }
    }
    Ok(out)
}

/// What the engine thread talks to.
struct EngineIo {
    state_path: Option<PathBuf>,
    rx: crossbeam_channel::Receiver<Work>,
    sinks: Vec<Box<dyn AlertSink>>,
    audit: Option<AuditWriter>,
    metrics: Arc<Metrics>,
    ctx: AlertContext,
    journal: Option<journal::Journal>,
    /// Journaled candidates to sequence again before anything else (after a crash), and
    /// the keys of the detections already delivered.
    replay: (Vec<u8>, std::collections::HashSet<String>),
}

fn engine_loop(set: Arc<RuleSet>, mut engine: Engine, io: EngineIo) -> anyhow::Result<()> {
    let EngineIo { state_path, rx, mut sinks, audit, metrics, ctx, journal, replay } = io;
    let journal = std::cell::RefCell::new(journal);
    let audit = std::cell::RefCell::new(audit);
    let audit_scope = audit.borrow().as_ref().map(AuditWriter::scope);
    // Detections a crashed run had already delivered: the journal replay and the
    // reorder buffers it refills find them again, and they are not sent twice.
    let (replay, delivered_before_crash) = replay;
    let mut deliver = |mut dets: Vec<Detection>| -> Result<(), String> {
        if !delivered_before_crash.is_empty() {
            dets.retain(|d| !delivered_before_crash.contains(&journal::detection_key(&set.rules[d.rule].meta.rule_id, &d.events)));
        }
        if dets.is_empty() {
            return Ok(());
        }
        // The audit rows first: no alert leaves without its evidence on disk.
        if let Some(a) = audit.borrow_mut().as_mut() {
            if let Err(e) = a.write_detections(&dets, chrono::Utc::now().timestamp_millis()) {
                metrics.audit_errors_total.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "audit write failed; the request is refused and its alerts kept");
                return Err(format!("audit trail: {e}"));
            }
        }
        let mut batch = AlertBatch::default();
        for d in &dets {
            let rule = &set.rules[d.rule];
            let events: Vec<SourceEvent> = d.events.iter().map(|e| SourceEvent { raw: &e.raw, stage: e.stage }).collect();
            batch.compact.push(compact_line(&rule.meta, &events));
            match build_alerts(&rule.meta, rule.shape != RuleShape::Event, &events, &ctx, chrono::Utc::now()) {
                Ok(docs) => batch.docs.extend(docs),
                Err(e) => tracing::warn!(rule = %rule.meta.name, error = %e, "could not build the alert document"),
            }
        }
        for s in sinks.iter_mut() {
            if let Err(e) = s.deliver(&batch) {
                metrics.sink_errors_total.fetch_add(1, Ordering::Relaxed);
                tracing::error!(sink = %e.sink, error = %e.message, "alert sink failed; the request is refused and its alerts kept");
                return Err(e.to_string());
            }
        }
        metrics.alerts_total.fetch_add(batch.docs.len() as u64, Ordering::Relaxed);
        if let Some(j) = journal.borrow_mut().as_mut() {
            let keys = dets.iter().map(|d| journal::detection_key(&set.rules[d.rule].meta.rule_id, &d.events));
            if let Err(e) = j.mark_delivered(keys) {
                tracing::warn!(error = %e, "could not mark alerts delivered in the journal; a crash may send them again");
            }
        }
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
    // A batch may go on once earlier undelivered alerts are out: its request is refused
    // while they wait (`None`: answered), a stream batch (no reply) waits for them.
    type Reply = Option<oneshot::Sender<Result<(), String>>>;
    let admit = |reply: Reply, undelivered: &mut Vec<Detection>, deliver: &mut dyn FnMut(Vec<Detection>) -> Result<(), String>| -> Option<Reply> {
        let Err(e) = retry(undelivered, deliver) else { return Some(reply) };
        match reply {
            Some(r) => {
                let _ = r.send(Err(format!("earlier alerts wait for a sink: {e}")));
                None
            }
            None => {
                while retry(undelivered, deliver).is_err() {
                    std::thread::sleep(Duration::from_millis(500));
                }
                Some(None)
            }
        }
    };
    if !replay.is_empty() {
        let lines = replay.iter().filter(|&&b| b == b'\n').count();
        let chunk = Chunk { bytes: bytes::Bytes::from(replay), origin: crate::source::Origin::new("journal"), first_line: 1 };
        let dets = engine.push(&chunk);
        let _ = engine.take_errors();
        tracing::info!(events = lines, detections = dets.len(), "replayed the candidate journal");
        if deliver(dets.clone()).is_err() {
            undelivered = dets;
        }
        metrics.set_engine(engine.stats());
    }
    let mut last_tick = Instant::now();
    loop {
        match rx.recv_timeout(TICK.saturating_sub(last_tick.elapsed())) {
            Ok(Work::Events { chunk, reply, received }) => {
                // Group commit: the batches already waiting are taken too, so one flush
                // of the journal covers them all.
                let mut group = vec![(chunk, reply, received)];
                let mut shutdown = false;
                while group.len() < QUEUE_DEPTH {
                    match rx.try_recv() {
                        Ok(Work::Events { chunk, reply, received }) => group.push((chunk, reply, received)),
                        Ok(Work::Shutdown) => {
                            shutdown = true;
                            break;
                        }
                        Err(_) => break,
                    }
                }
                // 1. Record: candidates and events go to the audit trail and the crash
                //    journal before anything is sequenced; a batch whose record fails is
                //    not sequenced and can come again.
                let keep = audit_scope == Some(AuditScope::All);
                let mut recorded = Vec::with_capacity(group.len());
                for (chunk, reply, received) in group {
                    let Some(reply) = admit(reply, &mut undelivered, &mut deliver) else { continue };
                    let filtered = engine.filter(&chunk, keep);
                    if let Err(e) = record(&audit, &journal)(&filtered) {
                        metrics.audit_errors_total.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(error = %e, "could not record the batch (audit trail or journal); the batch is refused");
                        match reply {
                            Some(r) => {
                                let _ = r.send(Err(format!("recording the batch: {e}")));
                                continue;
                            }
                            // No one to refuse: a stream source waits and the batch is retried.
                            None => {
                                while record(&audit, &journal)(&filtered).is_err() {
                                    std::thread::sleep(Duration::from_millis(500));
                                }
                            }
                        }
                    }
                    recorded.push((filtered, reply, received));
                }
                // 2. One flush for the group. If it fails, the requests are refused and
                //    not sequenced (Vector sends them again); stream batches wait for it.
                let flush = || journal.borrow_mut().as_mut().map_or(Ok(()), journal::Journal::sync);
                if let Err(e) = flush() {
                    metrics.audit_errors_total.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, "could not flush the journal; the batches are refused");
                    recorded.retain_mut(|(_, reply, _)| match reply.take() {
                        Some(r) => {
                            let _ = r.send(Err(format!("flushing the journal: {e}")));
                            false
                        }
                        None => true,
                    });
                    while !recorded.is_empty() && flush().is_err() {
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
                metrics.journal_syncs_total.store(journal.borrow().as_ref().map_or(0, |j| j.syncs), Ordering::Relaxed);
                // 3. Sequence in arrival order, deliver, answer.
                for (filtered, reply, received) in recorded {
                    let Some(reply) = admit(reply, &mut undelivered, &mut deliver) else { continue };
                    let dets = engine.sequence(filtered);
                    for e in engine.take_errors().iter().take(5) {
                        tracing::warn!(error = %e, "skipped a line");
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
                if shutdown {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Ok(Work::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
        }
        // Wall-clock release, also under steady load (not only when the queue is idle).
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            let _ = retry(&mut undelivered, &mut deliver);
            if undelivered.is_empty() {
                let dets = engine.tick(last_tick);
                if deliver(dets.clone()).is_err() {
                    undelivered = dets;
                }
            }
            if let Some(a) = audit.borrow_mut().as_mut() {
                if let Err(e) = a.rotate_aged() {
                    metrics.audit_errors_total.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, "could not close an audit file");
                }
            }
            metrics.set_engine(engine.stats());
        }
    }
    // Release what waits in reorder buffers and deliver it with anything undelivered;
    // then keep pending sequences for the next start. If the last delivery fails, no
    // snapshot is taken: the next start replays the journal and finds those alerts again.
    let mut last = std::mem::take(&mut undelivered);
    last.extend(engine.finish());
    let delivered = match deliver(last) {
        Ok(()) => true,
        Err(e) => {
            let kept = if journal.borrow().is_some() { "kept in the journal for the next start" } else { "lost" };
            tracing::error!(error = %e, "alerts undelivered at shutdown: {kept}");
            false
        }
    };
    let journal = journal.borrow_mut().take();
    match (&state_path, delivered) {
        (Some(p), true) => {
            let next = journal.as_ref().map_or(0, |j| j.generation() + 1);
            match engine.save_state(p, next) {
                // The snapshot holds everything the journal did.
                Ok(_) => {
                    if let Some(Err(e)) = journal.map(journal::Journal::retire) {
                        tracing::warn!(error = %e, "could not remove the old journal; the next start removes it");
                    }
                }
                // The journal stays: the next start replays it.
                Err(e) => tracing::error!(path = %p.display(), error = %e, "could not save pending sequences"),
            }
        }
        _ => {}
    }
    if let Some(a) = audit.borrow_mut().as_mut() {
        if let Err(e) = a.close() {
            tracing::error!(error = %e, "could not close the audit files");
        }
    }
    Ok(())
}

/// Writes a filtered chunk's candidate and event rows (per the audit scope), then its
/// stateful candidates to the crash journal.
fn record<'a>(
    audit: &'a std::cell::RefCell<Option<AuditWriter>>,
    journal: &'a std::cell::RefCell<Option<journal::Journal>>,
) -> impl FnOnce(&crate::engine::Filtered) -> std::io::Result<()> + 'a {
    move |f| {
        if let Some(a) = audit.borrow_mut().as_mut() {
            if let Some(b) = &f.batch {
                a.write_events(b)?;
            }
            a.write_candidates(&f.candidates)?;
        }
        match journal.borrow_mut().as_mut() {
            Some(j) => j.append(f),
            None => Ok(()),
        }
    }
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
