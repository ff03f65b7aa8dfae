//! `seqhound loadgen`: send a generated stream to a running `seqhound run` over HTTP at a
//! fixed rate, receive its alerts on an `http_server`-like endpoint, and report the
//! detection latency: from sending the request that carried a detection's last event to
//! receiving its shell alert.
//!
//! The target must send alerts to `--listen` with an `http` sink, e.g.:
//!
//! ```toml
//! [sinks.back] type = "http", inputs = ["detect"], uri = "http://127.0.0.1:9010/"
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use crate::generate::{generate, GenerateConfig};

pub struct LoadgenOptions {
    pub target: String,
    pub listen: String,
    pub rate: u64,
    pub seconds: u64,
    pub seed: u64,
    pub hosts: usize,
    /// Requests per second (events are split evenly).
    pub requests_per_second: u64,
    /// Requests in flight at once, as Vector's `http` sink keeps several (`request.concurrency`).
    pub concurrency: usize,
}

#[derive(Debug, Default)]
pub struct LoadgenReport {
    pub sent_events: u64,
    pub failed_requests: u64,
    pub achieved_rate: f64,
    pub detections: usize,
    pub latencies_ms: Vec<f64>,
}

impl LoadgenReport {
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.latencies_ms.is_empty() {
            return None;
        }
        let mut v = self.latencies_ms.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v.get(i).copied()
    }
}

type Sent = Arc<Mutex<HashMap<String, Instant>>>;

/// Run the load and collect latencies.
///
/// # Errors
/// Listener or generator failures.
pub fn run(o: &LoadgenOptions) -> anyhow::Result<LoadgenReport> {
    let total = o.rate * o.seconds;
    let mut data = Vec::new();
    generate(&GenerateConfig { seed: o.seed, hosts: o.hosts, events: total }, &mut data)?;
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let ids: Vec<Option<String>> =
        lines.iter().map(|l| serde_json::from_slice::<serde_json::Value>(l).ok().and_then(|v| v["event"]["id"].as_str().map(str::to_string))).collect();

    let sent: Sent = Arc::new(Mutex::new(HashMap::new()));
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(&o.listen))?;
    {
        let sent = sent.clone();
        let latencies = latencies.clone();
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let sent = sent.clone();
                let latencies = latencies.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let sent = sent.clone();
                        let latencies = latencies.clone();
                        async move {
                            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let now = Instant::now();
                            record_alerts(&body, now, &sent, &latencies);
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), svc).await;
                });
            }
        });
    }

    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let per_request = (o.rate / o.requests_per_second.max(1)).max(1) as usize;
    let interval = Duration::from_secs_f64(per_request as f64 / o.rate as f64);
    let requests: Vec<(&[&[u8]], &[Option<String>])> = lines.chunks(per_request).zip(ids.chunks(per_request)).collect();
    let senders = o.concurrency.max(1);
    let (sent_events, failed) = (AtomicU64::new(0), AtomicU64::new(0));
    let started = Instant::now();
    // Sender `s` sends requests s, s + senders, …, each at its own slot of the schedule.
    std::thread::scope(|scope| {
        for first in 0..senders {
            let (agent, requests, sent, sent_events, failed) = (agent.clone(), &requests, &sent, &sent_events, &failed);
            scope.spawn(move || {
                for k in (first..requests.len()).step_by(senders) {
                    let (chunk_lines, chunk_ids) = requests[k];
                    let due = started + interval.mul_f64(k as f64);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let mut body = Vec::with_capacity(chunk_lines.iter().map(|l| l.len() + 1).sum());
                    for (i, l) in chunk_lines.iter().enumerate() {
                        if i > 0 {
                            body.push(b'\n');
                        }
                        body.extend_from_slice(l);
                    }
                    let t = Instant::now();
                    if let Ok(mut s) = sent.lock() {
                        for id in chunk_ids.iter().flatten() {
                            s.insert(id.clone(), t);
                        }
                    }
                    match agent.post(&o.target).header("content-type", "application/x-ndjson").send(&body[..]) {
                        Ok(r) if r.status().as_u16() == 200 => sent_events.fetch_add(chunk_lines.len() as u64, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            });
        }
    });
    let mut report = LoadgenReport { sent_events: sent_events.into_inner(), failed_requests: failed.into_inner(), ..LoadgenReport::default() };
    report.achieved_rate = report.sent_events as f64 / started.elapsed().as_secs_f64();
    // Give the last alerts time to arrive (quiet partitions are released by the lateness).
    std::thread::sleep(Duration::from_secs(2));
    report.latencies_ms = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    report.detections = report.latencies_ms.len();
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(report)
}

/// For each shell alert (one per detection), latency = now − send time of the last-sent
/// of its source events.
fn record_alerts(body: &[u8], now: Instant, sent: &Sent, latencies: &Mutex<Vec<f64>>) {
    for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(doc) = serde_json::from_slice::<serde_json::Value>(line) else { continue };
        if doc.get("kibana.alert.depth").and_then(|d| d.as_u64()) != Some(2) {
            continue;
        }
        let Some(ancestors) = doc.get("kibana.alert.ancestors").and_then(|a| a.as_array()) else { continue };
        let Ok(s) = sent.lock() else { return };
        let last_sent = ancestors
            .iter()
            .filter(|a| a.get("type").and_then(|t| t.as_str()) == Some("event"))
            .filter_map(|a| a.get("id").and_then(|i| i.as_str()).and_then(|id| s.get(id)))
            .max();
        if let (Some(t), Ok(mut l)) = (last_sent, latencies.lock()) {
            l.push(now.saturating_duration_since(*t).as_secs_f64() * 1000.0);
        }
    }
}
