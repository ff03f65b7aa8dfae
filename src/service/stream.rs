//! Stream sources: `socket` (NDJSON over TCP, optionally TLS, as Vector's `socket` sink
//! sends it) and `stdin`/`file` for local use. None of them can be answered, so they wait
//! for room in the queue instead of dropping (back-pressure).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::TrySendError;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_rustls::TlsAcceptor;

use super::http::unwrap_native;
use super::{Shared, Work};
use crate::source::file::{open, LineChunker};
use crate::source::framing::{Framed, LineFramer};
use crate::source::{Chunk, Origin};

/// Connections of one socket source open at once, unless `connection_limit` says otherwise.
pub(super) const DEFAULT_CONNECTION_LIMIT: usize = 4096;

/// Memory all connections of one socket source may hold, unless `max_buffered_bytes` says
/// otherwise.
pub(super) const DEFAULT_MAX_BUFFERED: usize = 256 * 1024 * 1024;

/// While a source is over its memory budget, a connection's unfinished line over this
/// many bytes is dropped (counted as oversized). Real events are far smaller.
const LINE_LIMIT_UNDER_PRESSURE: usize = 1024 * 1024;

/// What bounds a socket source's memory: connections × (a read + up to 1 MiB of
/// unfinished line) once the budget is spent, plus the budget itself.
#[derive(Debug, Clone, Copy)]
pub(super) struct SocketLimits {
    pub connections: usize,
    pub buffered_bytes: usize,
}

/// Memory held by one source's connections, against its budget.
struct Budget {
    held: std::sync::atomic::AtomicUsize,
    limit: usize,
}

/// One connection's share of [`Budget::held`], given back when the connection ends.
struct Holding<'a> {
    budget: &'a Budget,
    bytes: usize,
}

impl Holding<'_> {
    fn update(&mut self, bytes: usize) {
        if bytes > self.bytes {
            self.budget.held.fetch_add(bytes - self.bytes, Ordering::Relaxed);
        } else {
            self.budget.held.fetch_sub(self.bytes - bytes, Ordering::Relaxed);
        }
        self.bytes = bytes;
    }

    /// Would holding `bytes` instead of the current share exceed the budget?
    fn over_with(&self, bytes: usize) -> bool {
        self.budget.held.load(Ordering::Relaxed) - self.bytes + bytes > self.budget.limit
    }
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.update(0);
    }
}

/// Newline-delimited JSON over TCP, as Vector's `socket` sink sends it. Nothing is ever
/// written back (the sink reads from the connection only to detect disconnects).
///
/// At most `limits.connections` connections are served at once; further ones wait in
/// the listen backlog until one closes (as Vector's `connection_limit`).
pub(super) async fn serve_socket(
    listener: tokio::net::TcpListener,
    name: String,
    native: bool,
    tls: Option<TlsAcceptor>,
    limits: SocketLimits,
    shared: Arc<Shared>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.connections.max(1)));
    let budget = Arc::new(Budget { held: 0.into(), limit: limits.buffered_bytes });
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let Ok((stream, _)) = listener.accept().await else { continue };
        shared.metrics.connections_total.fetch_add(1, Ordering::Relaxed);
        let shared = shared.clone();
        let name = name.clone();
        let tls = tls.clone();
        let budget = budget.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                Some(acceptor) => {
                    if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                        read_lines(s, &name, native, &shared, MAX_LINE_BYTES, &budget).await;
                    }
                }
                None => read_lines(stream, &name, native, &shared, MAX_LINE_BYTES, &budget).await,
            }
        });
    }
}

/// Longest socket line kept (the HTTP body limit's counterpart): a sender that never
/// ends its line cannot make a connection's buffer grow without bound.
pub(super) const MAX_LINE_BYTES: usize = super::DEFAULT_MAX_BODY;

/// Cut a connection's bytes into chunks of whole lines and queue them. A line over
/// `max_line` is skipped whole, counted and logged; the lines around it are kept (see
/// [`LineFramer`]). While the source's connections together hold more than their budget,
/// an unfinished line over [`LINE_LIMIT_UNDER_PRESSURE`] is dropped the same way.
async fn read_lines<S: AsyncRead + Unpin>(mut stream: S, name: &str, native: bool, shared: &Shared, max_line: usize, budget: &Budget) {
    let mut framer = LineFramer::new(max_line);
    let mut holding = Holding { budget, bytes: 0 };
    loop {
        let n = stream.read_buf(framer.buffer()).await.unwrap_or_default();
        let eof = n == 0;
        let pressed = holding.over_with(framer.held_bytes());
        let framed = framer.next_chunk_within(eof, if pressed { LINE_LIMIT_UNDER_PRESSURE } else { max_line });
        holding.update(framer.held_bytes());
        for line in framer.take_oversized() {
            shared.metrics.lines_oversized_total.fetch_add(1, Ordering::Relaxed);
            if pressed {
                tracing::warn!(source = %name, line, budget = budget.limit, "dropped an unfinished line: the source's connections hold more than their memory budget");
            } else {
                tracing::warn!(source = %name, line, limit = max_line, "skipped a line over the line limit");
            }
        }
        if let Some(Framed { bytes, first_line }) = framed {
            let lines = if native { Bytes::from(unwrap_native(&bytes)) } else { bytes };
            let mut chunk = Chunk { bytes: lines, origin: Origin::new(name), first_line };
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
}

/// `stdin` and `file` sources: read in a thread, blocking on back-pressure.
pub(super) fn spawn_reader(paths: Vec<String>, name: String, native: bool, shared: Arc<Shared>) {
    std::thread::spawn(move || {
        for p in paths {
            let r = match open(&p) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(source = %name, error = %e, "cannot read input");
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
