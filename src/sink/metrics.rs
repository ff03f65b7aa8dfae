//! Prometheus metrics of the live service (`GET /metrics`).
//!
//! Counters are plain atomics updated per request or per batch, never per row; the
//! engine's own counters are copied in after each batch.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use crate::engine::Stats;

#[derive(Debug, Default)]
pub struct Metrics {
    pub requests_total: AtomicU64,
    pub requests_rejected_busy_total: AtomicU64,
    pub requests_rejected_bad_total: AtomicU64,
    pub requests_unauthorized_total: AtomicU64,
    pub connections_total: AtomicU64,
    pub alerts_total: AtomicU64,
    pub sink_errors_total: AtomicU64,
    /// Metric and trace events received over gRPC (not security events; skipped).
    pub events_not_logs_total: AtomicU64,
    /// Audit trail writes that failed (their requests were refused).
    pub audit_errors_total: AtomicU64,
    /// Flushes (`fdatasync`) of the crash journal; one covers every batch waiting.
    pub journal_syncs_total: AtomicU64,
    /// Socket lines longer than the line limit, skipped.
    pub lines_oversized_total: AtomicU64,
    pub latency_count: AtomicU64,
    pub latency_sum_micros: AtomicU64,
    /// Cumulative buckets of end-to-end processing latency (request in → alerts accepted).
    pub latency_buckets: [AtomicU64; LATENCY_BOUNDS_MS.len()],
    engine: Mutex<Stats>,
}

/// Histogram bucket upper bounds, milliseconds.
pub const LATENCY_BOUNDS_MS: [f64; 10] = [1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 5000.0];

impl Metrics {
    pub fn observe_latency(&self, d: std::time::Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_micros.fetch_add(d.as_micros() as u64, Relaxed);
        for (i, b) in LATENCY_BOUNDS_MS.iter().enumerate() {
            if ms <= *b {
                self.latency_buckets[i].fetch_add(1, Relaxed);
            }
        }
    }

    pub fn set_engine(&self, s: Stats) {
        if let Ok(mut g) = self.engine.lock() {
            *g = s;
        }
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP seqhound_{name} {help}\n# TYPE seqhound_{name} counter\nseqhound_{name} {v}");
        };
        counter("requests_total", "Requests and socket batches received.", self.requests_total.load(Relaxed));
        counter("lines_oversized_total", "Socket lines over the line limit, skipped.", self.lines_oversized_total.load(Relaxed));
        counter("requests_rejected_busy_total", "Requests answered 503 (back-pressure or shutdown).", self.requests_rejected_busy_total.load(Relaxed));
        counter("requests_rejected_bad_total", "Requests refused as invalid (4xx).", self.requests_rejected_bad_total.load(Relaxed));
        counter("requests_unauthorized_total", "Requests without a valid bearer token.", self.requests_unauthorized_total.load(Relaxed));
        counter("connections_total", "Socket connections accepted.", self.connections_total.load(Relaxed));
        counter("alerts_total", "Alert documents accepted by every alert sink.", self.alerts_total.load(Relaxed));
        counter("sink_errors_total", "Alert deliveries that failed.", self.sink_errors_total.load(Relaxed));
        counter("audit_errors_total", "Audit trail writes that failed (requests refused).", self.audit_errors_total.load(Relaxed));
        counter("journal_syncs_total", "Flushes of the crash journal to disk (one per group of waiting batches).", self.journal_syncs_total.load(Relaxed));
        counter("events_not_logs_total", "Metric and trace events received over gRPC and skipped.", self.events_not_logs_total.load(Relaxed));
        if let Ok(s) = self.engine.lock() {
            counter("events_total", "Events (non-blank lines) received.", s.events);
            counter("bytes_total", "Bytes of events received.", s.bytes);
            counter("parse_errors_total", "Lines refused as malformed.", s.malformed);
            counter("precheck_dropped_total", "Lines dropped by the byte-level pre-check.", s.precheck_dropped);
            counter("lines_read_by_shape_total", "Lines accepted on the shape of an earlier line (only their values read).", s.read_by_shape);
            counter("stage_matches_total", "Stage matches over all rules.", s.candidates.iter().sum());
            counter("detections_total", "Detections.", s.detections);
            counter("late_events_total", "Candidates that arrived after their partition's watermark.", s.sequence.late);
            counter("evictions_total", "Pending sequences evicted by the state cap.", s.sequence.evicted);
            counter(
                "reorder_forced_total",
                "Candidates released before the lateness because a reorder buffer reached the state cap.",
                s.sequence.reorder_forced,
            );
            let _ = writeln!(
                o,
                "# HELP seqhound_pending_sequences Pending sequences.\n# TYPE seqhound_pending_sequences gauge\nseqhound_pending_sequences {}",
                s.sequence.pending
            );
            let _ = writeln!(
                o,
                "# HELP seqhound_buffered_candidates Candidates waiting in reorder buffers for the lateness.\n# TYPE seqhound_buffered_candidates gauge\nseqhound_buffered_candidates {}",
                s.sequence.buffered
            );
        }
        let _ = writeln!(
            o,
            "# HELP seqhound_latency_seconds Time from receiving a request to its alerts being accepted.\n# TYPE seqhound_latency_seconds histogram"
        );
        for (i, b) in LATENCY_BOUNDS_MS.iter().enumerate() {
            let _ = writeln!(o, "seqhound_latency_seconds_bucket{{le=\"{}\"}} {}", b / 1000.0, self.latency_buckets[i].load(Relaxed));
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(o, "seqhound_latency_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(o, "seqhound_latency_seconds_sum {}", self.latency_sum_micros.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(o, "seqhound_latency_seconds_count {count}");
        o
    }
}
