//! The `http_server` source: what Vector's `http` sink sends (NDJSON or a JSON array,
//! optionally compressed), answered by Vector's delivery rules (see the module above).

use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use super::{submit, InFlight, Shared};
use crate::source::{Chunk, Origin};

pub(super) struct HttpSource {
    pub name: String,
    pub token: Option<String>,
    pub max_body: usize,
    pub native: bool,
    pub shared: Arc<Shared>,
    pub tls: Option<TlsAcceptor>,
}

pub(super) async fn serve_http(listener: tokio::net::TcpListener, st: Arc<HttpSource>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let st = st.clone();
        tokio::spawn(async move {
            match st.tls.clone() {
                Some(acceptor) => {
                    // A failed handshake concerns that client only.
                    if let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                        serve_connection(tls, st).await;
                    }
                }
                None => serve_connection(stream, st).await,
            }
        });
    }
}

async fn serve_connection<S>(stream: S, st: Arc<HttpSource>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
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
    let in_flight = InFlight::new(&st.shared);
    let resp = handle_events(req, &st).await;
    drop(in_flight);
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
            snap::raw::Decoder::new().decompress_vec(&body).map(Bytes::from).map_err(|e| (StatusCode::BAD_REQUEST, format!("body is not valid snappy: {e}\n")))
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
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_slice(&body).map_err(|e| format!("body is not a JSON array of events: {e}\n"))?;
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
pub(super) fn unwrap_native(lines: &[u8]) -> Vec<u8> {
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

/// What the `http_server` source makes of a request body: undo `content-encoding`
/// (bounded by `limit`), then JSON array or NDJSON (and `native_json`) to NDJSON. The
/// same path a request takes, for fuzzing and tests.
///
/// # Errors
/// The reason the request would be refused.
pub fn body_to_ndjson(encoding: &str, json_type: bool, native: bool, body: Bytes, limit: usize) -> Result<Bytes, String> {
    let body = decompress(encoding, body, limit).map_err(|(_, m)| m)?;
    to_ndjson(body, json_type, native)
}
