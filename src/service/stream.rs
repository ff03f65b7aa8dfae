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

/// Newline-delimited JSON over TCP, as Vector's `socket` sink sends it. Nothing is ever
/// written back (the sink reads from the connection only to detect disconnects).
pub(super) async fn serve_socket(listener: tokio::net::TcpListener, name: String, native: bool, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        shared.metrics.connections_total.fetch_add(1, Ordering::Relaxed);
        let shared = shared.clone();
        let name = name.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                        read_lines(s, &name, native, &shared).await;
                    }
                }
                None => read_lines(stream, &name, native, &shared).await,
            }
        });
    }
}

/// Longest socket line kept (the HTTP body limit's counterpart): a sender that never
/// ends its line cannot make a connection's buffer grow without bound.
pub(super) const MAX_LINE_BYTES: usize = super::DEFAULT_MAX_BODY;

/// Cut a connection's bytes into chunks of whole lines and queue them.
async fn read_lines<S: AsyncRead + Unpin>(stream: S, name: &str, native: bool, shared: &Shared) {
    read_lines_limited(stream, name, native, shared, MAX_LINE_BYTES).await;
}

/// [`read_lines`] with the line limit as a parameter. A line over `max_line` is skipped
/// whole, counted and logged; the lines around it are kept (see [`LineFramer`]).
pub(super) async fn read_lines_limited<S: AsyncRead + Unpin>(mut stream: S, name: &str, native: bool, shared: &Shared, max_line: usize) {
    let mut framer = LineFramer::new(max_line);
    loop {
        let n = stream.read_buf(framer.buffer()).await.unwrap_or_default();
        let eof = n == 0;
        let framed = framer.next_chunk(eof);
        for line in framer.take_oversized() {
            shared.metrics.lines_oversized_total.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(source = %name, line, limit = max_line, "skipped a line over the line limit");
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
