//! `seqhound run` over loopback: what Vector's `http`, `socket` and `vector` sinks send,
//! byte for byte (NDJSON without a trailing newline, JSON arrays, every content-encoding,
//! `native_json`, protobuf over gRPC), the status codes Vector acts on, and every alert
//! sink against a receiver of the test's own.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use seqhound::config::Config;

struct Running {
    addrs: Vec<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    alerts: std::path::PathBuf,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Running {
    fn start(extra_http: &str, extra_sinks: &str) -> Running {
        Self::start_with(extra_http, extra_sinks, "100ms")
    }

    fn start_with(extra_http: &str, extra_sinks: &str, lateness: &str) -> Running {
        Self::start_full(Self::new_dir(), extra_http, "", extra_sinks, lateness)
    }

    fn new_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("seqhound-svc-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn start_in(dir: std::path::PathBuf, extra_http: &str, extra_sinks: &str, lateness: &str) -> Running {
        Self::start_full(dir, extra_http, "", extra_sinks, lateness)
    }

    /// `extra_sources`: more `[sources.NAME]` tables; names sorting after `tcp` keep the
    /// http and socket listeners at `addrs[0]` and `addrs[1]`.
    fn start_full(dir: std::path::PathBuf, extra_http: &str, extra_sources: &str, extra_sinks: &str, lateness: &str) -> Running {
        std::fs::create_dir_all(&dir).unwrap();
        let alerts = dir.join("alerts.ndjson");
        let mut inputs = vec!["\"http\"".to_string(), "\"tcp\"".to_string()];
        for l in extra_sources.lines() {
            if let Some(n) = l.strip_prefix("[sources.").and_then(|r| r.strip_suffix(']')) {
                inputs.push(format!("{n:?}"));
            }
        }
        let inputs = inputs.join(", ");
        let cfg = format!(
            r#"
data_dir = "{}"

[sources.http]
type = "http_server"
address = "127.0.0.1:0"
max_body_bytes = 1000000
{extra_http}

[sources.tcp]
type = "socket"
mode = "tcp"
address = "127.0.0.1:0"
decoding.codec = "native_json"
{extra_sources}

[transforms.detect]
type = "detection"
inputs = [{inputs}]
lateness = "{lateness}"

[sinks.file]
type = "file"
inputs = ["detect"]
path = "{}"
{extra_sinks}
"#,
            dir.join("state").display(),
            alerts.display()
        );
        let config = Config::parse(&cfg).unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || seqhound::service::run(config, Some(stop_rx), Some(ready_tx)));
        let addrs = ready_rx.recv_timeout(Duration::from_secs(20)).expect("service did not start");
        Running { addrs, stop: Some(stop_tx), thread: Some(thread), alerts, _dir: TempDir(dir) }
    }

    fn http(&self) -> String {
        format!("http://{}/", self.addrs[0])
    }

    /// Shell alerts (one per detection) written so far.
    fn detections(&self) -> usize {
        let text = std::fs::read_to_string(&self.alerts).unwrap_or_default();
        text.lines().filter(|l| l.contains("\"kibana.alert.depth\":2")).count()
    }

    fn wait_detections(&self, n: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.detections() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.detections()
    }

    fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap().unwrap();
        }
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// One true positive of the seed rule on host `h`: a shell exec and its curl child.
fn pair(h: &str) -> (String, String) {
    let exec = format!(
        r#"{{"@timestamp":"2026-11-02T09:00:00.000Z","event":{{"id":"{h}-1","category":["process"],"type":["start"],"action":"exec"}},"host":{{"id":"{h}","os":{{"type":"macos"}}}},"process":{{"name":"bash","entity_id":"E-{h}","parent":{{"name":"installer","entity_id":"P-{h}"}}}}}}"#
    );
    let curl = format!(
        r#"{{"@timestamp":"2026-11-02T09:00:03.000Z","event":{{"id":"{h}-2","category":["network"],"type":["start"],"action":"connection_attempted"}},"host":{{"id":"{h}","os":{{"type":"macos"}}}},"process":{{"name":"curl","entity_id":"C-{h}","parent":{{"entity_id":"E-{h}"}}}}}}"#
    );
    (exec, curl)
}

fn post(url: &str, body: &[u8], headers: &[(&str, &str)]) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut req = agent.post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send(body).unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn vector_http_bodies_and_codecs() {
    let svc = Running::start("", "");
    let url = svc.http();
    let mut expected = 0;
    // NDJSON, no trailing newline, as Vector's http sink sends it.
    let (e, c) = pair("h-ndjson");
    assert_eq!(post(&url, format!("{e}\n{c}").as_bytes(), &[("content-type", "application/x-ndjson")]).0, 200);
    expected += 1;
    // JSON array (Vector's default framing for the json codec).
    let (e, c) = pair("h-array");
    assert_eq!(post(&url, format!("[{e},{c}]").as_bytes(), &[("content-type", "application/json")]).0, 200);
    expected += 1;
    // Every content-encoding Vector's http sink offers.
    type Encoder = Box<dyn Fn(&[u8]) -> Vec<u8>>;
    let encodings: Vec<(&str, Encoder)> = vec![
        (
            "gzip",
            Box::new(|b: &[u8]| {
                let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                w.write_all(b).unwrap();
                w.finish().unwrap()
            }),
        ),
        (
            "deflate",
            Box::new(|b: &[u8]| {
                let mut w = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                w.write_all(b).unwrap();
                w.finish().unwrap()
            }),
        ),
        ("zstd", Box::new(|b: &[u8]| zstd::encode_all(b, 3).unwrap())),
        ("snappy", Box::new(|b: &[u8]| snap::raw::Encoder::new().compress_vec(b).unwrap())),
    ];
    for (name, enc) in &encodings {
        let (e, c) = pair(&format!("h-{name}"));
        let body = enc(format!("{e}\n{c}").as_bytes());
        assert_eq!(post(&url, &body, &[("content-encoding", name)]).0, 200, "{name}");
        expected += 1;
    }
    // Malformed lines are skipped; the good events around them still count.
    let (e, c) = pair("h-mixed");
    let broken = &c[..c.len() - 5];
    assert_eq!(post(&url, format!("{e}\n{broken}\n{c}").as_bytes(), &[]).0, 200);
    expected += 1;
    assert_eq!(svc.wait_detections(expected), expected);

    // Requests that can never succeed: 4xx with the reason.
    let (s, body) = post(&url, b"[1,", &[("content-type", "application/json")]);
    assert_eq!(s, 400);
    assert!(body.contains("JSON array"), "{body}");
    assert_eq!(post(&url, b"x", &[("content-encoding", "br")]).0, 415);
    assert_eq!(post(&url, &vec![b' '; 1_000_001], &[]).0, 413);
    let bomb = {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        w.write_all(&vec![b'{'; 5_000_000]).unwrap();
        w.finish().unwrap()
    };
    assert!(bomb.len() < 1_000_000);
    assert_eq!(post(&url, &bomb, &[("content-encoding", "gzip")]).0, 413, "decompression bomb");
    assert_eq!(post(&url, b"", &[("content-encoding", "gzip")]).0, 400);

    // Health and metrics.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let metrics = agent.get(&format!("{url}metrics")).call().unwrap().body_mut().read_to_string().unwrap();
    assert!(metrics.contains(&format!("seqhound_detections_total {expected}")), "{metrics}");
    assert!(metrics.contains("seqhound_parse_errors_total 1"), "{metrics}");
    assert_eq!(agent.get(&format!("{url}health")).call().unwrap().status().as_u16(), 200);
    svc.stop();
}

#[test]
fn socket_json_and_native_json() {
    let plain = "\n[sources.zsock]\ntype = \"socket\"\nmode = \"tcp\"\naddress = \"127.0.0.1:0\"\ndecoding.codec = \"json\"\n";
    let svc = Running::start_full(Running::new_dir(), "", plain, "", "100ms");
    let (e, c) = pair("h-socket-native");
    let mut s = std::net::TcpStream::connect(svc.addrs[1]).unwrap();
    writeln!(s, "{{\"log\":{e}}}").unwrap();
    writeln!(s, "{{\"log\":{c}}}").unwrap();
    drop(s);
    assert_eq!(svc.wait_detections(1), 1);
    // Vector's socket sink: a healthcheck connection opened and closed first, then lines.
    drop(std::net::TcpStream::connect(svc.addrs[2]).unwrap());
    let (e, c) = pair("h-socket-json");
    let mut s = std::net::TcpStream::connect(svc.addrs[2]).unwrap();
    write!(s, "{e}\n{c}\n").unwrap();
    drop(s);
    assert_eq!(svc.wait_detections(2), 2);
    svc.stop();
}

#[test]
fn bearer_token_is_required_when_configured() {
    let svc = Running::start("auth.strategy = \"bearer\"\nauth.token = \"s3cret\"", "");
    let (e, c) = pair("h-auth");
    let body = format!("{e}\n{c}");
    assert_eq!(post(&svc.http(), body.as_bytes(), &[]).0, 401);
    assert_eq!(post(&svc.http(), body.as_bytes(), &[("authorization", "Bearer wrong")]).0, 401);
    assert_eq!(svc.detections(), 0);
    assert_eq!(post(&svc.http(), body.as_bytes(), &[("authorization", "Bearer s3cret")]).0, 200);
    assert_eq!(svc.wait_detections(1), 1);
    svc.stop();
}

#[test]
fn alert_sink_failure_fails_the_request() {
    // An http alert sink pointing at a port nobody listens on, with a short retry budget.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let sink = format!(
        "\n[sinks.down]\ntype = \"http\"\ninputs = [\"detect\"]\nuri = \"http://{closed}/\"\nrequest.timeout_secs = 1\nrequest.retry_max_duration_secs = 1\n"
    );
    // Zero lateness: the detection completes while its request is processed.
    let svc = Running::start_with("", &sink, "0ms");
    let (e, c) = pair("h-sinkdown");
    let (status, body) = post(&svc.http(), format!("{e}\n{c}").as_bytes(), &[]);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("alerts could not be delivered"), "{body}");
    // While alerts wait for their sink, new requests are refused (Vector keeps them).
    let (status, body) = post(&svc.http(), b"{\"@timestamp\":\"2026-11-02T09:00:00Z\"}", &[]);
    assert_eq!(status, 503, "{body}");
    svc.stop();
}

#[test]
fn default_listeners_are_loopback() {
    let cfg = Config::parse(seqhound::config::DEFAULT_CONFIG).unwrap();
    for (name, s) in &cfg.sources {
        let addr = match s {
            seqhound::config::SourceConfig::HttpServer { address, .. } | seqhound::config::SourceConfig::Socket { address, .. } => address,
            _ => continue,
        };
        assert!(addr.starts_with("127.0.0.1:"), "{name} listens on {addr}");
    }
}

#[test]
fn shipped_seqhound_toml_parses() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/seqhound.toml")).unwrap();
    Config::parse(&text).unwrap();
}

#[test]
fn pending_sequences_survive_a_graceful_restart() {
    let dir = std::env::temp_dir().join(format!("seqhound-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (e, c) = pair("h-restart");
    let mut first = Running::start_in(dir.clone(), "", "", "100ms");
    assert_eq!(post(&first.http(), e.as_bytes(), &[]).0, 200);
    // Let the wall-clock release move the exec into the state machine, then stop.
    std::thread::sleep(Duration::from_millis(400));
    first.shutdown();
    assert_eq!(first.detections(), 0);
    assert!(dir.join("state/pending.json").exists());
    let alerts = first.alerts.clone();
    std::mem::forget(first._dir);
    let second = Running::start_in(dir.clone(), "", "", "100ms");
    assert_eq!(post(&second.http(), c.as_bytes(), &[]).0, 200);
    assert_eq!(second.wait_detections(1), 1, "the sequence spanning the restart was found");
    assert_eq!(second.alerts, alerts);
    second.stop();
}

impl Running {
    /// Ask for a graceful stop without waiting for it.
    fn signal_stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A plain HTTP/1.1 receiver (keep-alive) that records each request's headers and body and
/// answers 200 after `delay_ms`: the test's stand-in for Vector's `http_server` source.
type Recorded = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

struct Receiver {
    addr: SocketAddr,
    requests: Recorded,
    delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Receiver {
    fn start(delay_ms: u64) -> Receiver {
        use std::io::{BufRead, BufReader, Read};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Recorded = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let delay = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(delay_ms));
        let (reqs, d) = (requests.clone(), delay.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (reqs, d) = (reqs.clone(), d.clone());
                std::thread::spawn(move || {
                    let mut w = conn.try_clone().unwrap();
                    let mut r = BufReader::new(conn);
                    loop {
                        let mut head = String::new();
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            head.push_str(&line.to_ascii_lowercase());
                        }
                        let len = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0);
                        let mut body = vec![0; len];
                        if r.read_exact(&mut body).is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(d.load(Ordering::SeqCst)));
                        reqs.lock().unwrap().push((head, body));
                        if w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Receiver { addr, requests, delay_ms: delay }
    }

    fn sink(&self, extra: &str) -> String {
        format!("\n[sinks.receiver]\ntype = \"http\"\ninputs = [\"detect\"]\nuri = \"http://{}/\"\n{extra}\n", self.addr)
    }
}

#[test]
fn http_alert_sink_compresses_authenticates_and_batches() {
    let rx = Receiver::start(0);
    let extra = "compression = \"gzip\"\nbatch.max_events = 2\nauth.strategy = \"basic\"\nauth.user = \"elastic\"\nauth.password = \"pw\"";
    let svc = Running::start_with("", &rx.sink(extra), "0ms");
    let (e, c) = pair("h-gzip-out");
    assert_eq!(post(&svc.http(), format!("{e}\n{c}").as_bytes(), &[]).0, 200);
    let reqs = rx.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 2, "three alert documents, at most two per request");
    let mut text = String::new();
    for (head, body) in &reqs {
        assert!(head.contains("content-encoding: gzip"), "{head}");
        assert!(head.contains("authorization: basic zwxhc3rpyzpwdw=="), "{head}"); // lower-cased by the receiver
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text).unwrap();
    }
    assert_eq!(text.lines().count(), 3, "shell alert and two building-block alerts");
    assert!(text.contains("MacOS Installer Package Spawns Network Event"));
    svc.stop();
}

#[test]
fn back_pressure_answers_503_busy() {
    // The alert receiver takes 3 s to answer the first delivery: the engine waits on it,
    // the queue fills, and further requests are refused (Vector retries them).
    let rx = Receiver::start(3000);
    let svc = Running::start_with("", &rx.sink(""), "0ms");
    let url = svc.http();
    let (e, c) = pair("h-slow");
    let first = {
        let url = url.clone();
        std::thread::spawn(move || post(&url, format!("{e}\n{c}").as_bytes(), &[]).0)
    };
    std::thread::sleep(Duration::from_millis(300));
    rx.delay_ms.store(0, std::sync::atomic::Ordering::SeqCst);
    let senders: Vec<_> = (0..100)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let line = format!("{{\"@timestamp\":\"2026-11-02T09:00:00Z\",\"host\":{{\"id\":\"bp-{i}\"}}}}");
                post(&url, line.as_bytes(), &[])
            })
        })
        .collect();
    let answers: Vec<(u16, String)> = senders.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(first.join().unwrap(), 200, "the slow request still succeeds");
    let busy = answers.iter().filter(|(s, b)| *s == 503 && b.contains("busy")).count();
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    assert!(busy >= 1, "queue of 64 with 100 concurrent requests: some must be refused");
    assert_eq!(busy + ok, 100, "every request is either processed or refused as busy: {answers:?}");
    let metrics = ureq::get(&format!("{url}metrics")).call().unwrap().body_mut().read_to_string().unwrap();
    assert!(metrics.contains(&format!("seqhound_requests_rejected_busy_total {busy}")), "{metrics}");
    svc.stop();
}

/// Group commit: requests that wait while the engine is busy are journaled together and
/// flushed to disk with one `fdatasync`, and every one of them is still answered 200 only
/// after that flush, with every detection delivered.
#[test]
fn waiting_requests_share_one_journal_flush() {
    // The first delivery takes 1.5 s; the next requests queue up meanwhile.
    let rx = Receiver::start(1500);
    let svc = Running::start_with("", &rx.sink(""), "0ms");
    let url = svc.http();
    let first = {
        let url = url.clone();
        let (e, c) = pair("gc-first");
        std::thread::spawn(move || post(&url, format!("{e}\n{c}").as_bytes(), &[]).0)
    };
    std::thread::sleep(Duration::from_millis(300));
    rx.delay_ms.store(0, std::sync::atomic::Ordering::SeqCst);
    let senders: Vec<_> = (0..20)
        .map(|i| {
            let url = url.clone();
            let (e, c) = pair(&format!("gc-{i}"));
            std::thread::spawn(move || post(&url, format!("{e}\n{c}").as_bytes(), &[]).0)
        })
        .collect();
    let answers: Vec<u16> = senders.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(first.join().unwrap(), 200);
    assert!(answers.iter().all(|&s| s == 200), "{answers:?}");
    assert_eq!(svc.wait_detections(21), 21);
    let metrics = ureq::get(&format!("{url}metrics")).call().unwrap().body_mut().read_to_string().unwrap();
    let syncs: u64 = metrics.lines().find_map(|l| l.strip_prefix("seqhound_journal_syncs_total ")).and_then(|v| v.parse().ok()).expect("journal_syncs_total");
    assert!((2..=4).contains(&syncs), "21 requests with candidates, {syncs} flushes: the 20 waiting ones should share one or a few");
    svc.stop();
}

#[test]
fn shutdown_finishes_in_flight_requests_and_refuses_new_ones() {
    let rx = Receiver::start(1500);
    let mut svc = Running::start_with("", &rx.sink(""), "0ms");
    let url = svc.http();
    // A kept-alive connection, opened before the stop.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut health = agent.get(&format!("{url}health")).call().unwrap();
    assert_eq!(health.status().as_u16(), 200);
    health.body_mut().read_to_string().unwrap(); // returns the connection to the pool
    let (e, c) = pair("h-inflight");
    let in_flight = {
        let url = url.clone();
        std::thread::spawn(move || post(&url, format!("{e}\n{c}").as_bytes(), &[]))
    };
    std::thread::sleep(Duration::from_millis(300));
    svc.signal_stop();
    std::thread::sleep(Duration::from_millis(200));
    let mut resp = agent.post(&url).send(&b"{\"@timestamp\":\"2026-11-02T09:00:00Z\"}"[..]).unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.body_mut().read_to_string().unwrap().contains("shutting down"));
    assert_eq!(in_flight.join().unwrap().0, 200, "the request in flight at the stop completes");
    assert_eq!(rx.requests.lock().unwrap().len(), 1, "its alerts were delivered");
    svc.shutdown();
}

#[test]
fn socket_alert_sink_writes_ndjson() {
    use std::io::BufRead;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sink = format!(
        "\n[sinks.tcp_out]\ntype = \"socket\"\ninputs = [\"detect\"]\nmode = \"tcp\"\naddress = \"{}\"\nencoding.codec = \"json\"\n",
        listener.local_addr().unwrap()
    );
    let svc = Running::start_with("", &sink, "0ms");
    let (e, c) = pair("h-socket-out");
    assert_eq!(post(&svc.http(), format!("{e}\n{c}").as_bytes(), &[]).0, 200);
    let (conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let lines: Vec<serde_json::Value> = std::io::BufReader::new(conn).lines().take(3).map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|d| d["kibana.alert.rule.rule_id"] == "99239e7d-b0d4-46e3-8609-acafcf99f68c"));
    svc.stop();
}

#[test]
fn file_source_reads_local_ndjson() {
    let dir = Running::new_dir();
    let input = dir.join("events.ndjson");
    let (e, c) = pair("h-file");
    std::fs::write(&input, format!("{e}\n{c}\n")).unwrap();
    let source = format!("\n[sources.zfile]\ntype = \"file\"\ninclude = [\"{}\"]\n", input.display());
    let svc = Running::start_full(dir, "", &source, "", "100ms");
    assert_eq!(svc.wait_detections(1), 1);
    svc.stop();
}

/// The real binary: the `stdin` source, alerts on stdout, SIGTERM → exit 0.
#[cfg(unix)]
#[test]
fn binary_reads_stdin_and_exits_cleanly_on_sigterm() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let dir = Running::new_dir();
    let cfg = dir.join("seqhound.toml");
    std::fs::write(
        &cfg,
        "[sources.in]\ntype = \"stdin\"\n\n[transforms.detect]\ntype = \"detection\"\ninputs = [\"in\"]\nlateness = \"100ms\"\n\n[sinks.out]\ntype = \"console\"\ninputs = [\"detect\"]\nencoding.codec = \"json\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_seqhound"))
        .args(["run", "--config", cfg.to_str().unwrap(), "--log-format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (e, c) = pair("h-stdin");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{e}\n{c}").unwrap();
    drop(stdin);
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(doc["kibana.alert.rule.name"], "MacOS Installer Package Spawns Network Event");
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    let last: serde_json::Value = serde_json::from_str(logs.lines().last().unwrap()).unwrap();
    assert_eq!(last["fields"]["message"], "stopped", "structured logs: {logs}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A self-signed certificate for `localhost`, written as PEM files.
fn self_signed(dir: &std::path::Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (crt, key) = (dir.join("crt.pem"), dir.join("key.pem"));
    std::fs::write(&crt, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (ck.cert.pem(), crt, key)
}

#[test]
fn tls_listeners() {
    let dir = Running::new_dir();
    let (pem, crt, key) = self_signed(&dir);
    let tls = format!("tls.enabled = true\ntls.crt_file = \"{}\"\ntls.key_file = \"{}\"", crt.display(), key.display());
    let grpc = format!("\n[sources.vec]\ntype = \"vector\"\naddress = \"127.0.0.1:0\"\n{tls}\n");
    let svc = Running::start_full(dir, &tls, &grpc, "", "100ms");
    let port = svc.addrs[0].port();
    let roots = ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![ureq::tls::Certificate::from_pem(pem.as_bytes()).unwrap().to_owned()]));
    let agent: ureq::Agent =
        ureq::Agent::config_builder().tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build()).http_status_as_error(false).build().into();
    let (e, c) = pair("h-tls");
    let resp = agent.post(&format!("https://localhost:{port}/")).send(format!("{e}\n{c}").as_bytes()).unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(svc.wait_detections(1), 1);
    // Plain HTTP to the TLS port gets nowhere.
    assert!(ureq::post(&format!("http://localhost:{port}/")).send(&b"{}"[..]).is_err());

    // gRPC over TLS.
    let grpc_port = svc.addrs[2].port();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use seqhound::source::vector::proto::vector::{vector_client::VectorClient, HealthCheckRequest};
        let tls = tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(pem)).domain_name("localhost");
        let channel =
            tonic::transport::Endpoint::from_shared(format!("https://localhost:{grpc_port}")).unwrap().tls_config(tls).unwrap().connect().await.unwrap();
        let mut client = VectorClient::new(channel);
        client.health_check(HealthCheckRequest {}).await.unwrap();
        let plain = tonic::transport::Endpoint::from_shared(format!("http://localhost:{grpc_port}")).unwrap().connect().await;
        let refused = match plain {
            Err(_) => true,
            Ok(ch) => VectorClient::new(ch).health_check(HealthCheckRequest {}).await.is_err(),
        };
        assert!(refused, "plain gRPC to the TLS port gets nowhere");
    });
    drop(rt);
    svc.stop();
}

mod grpc {
    use super::*;
    use seqhound::source::vector::doc_to_event;
    use seqhound::source::vector::proto::event::{event_wrapper, value, EventWrapper, Log, Metric, Value, ValueMap};
    use seqhound::source::vector::proto::vector::vector_client::VectorClient;
    use seqhound::source::vector::proto::vector::vector_server::{Vector, VectorServer};
    use seqhound::source::vector::proto::vector::{HealthCheckRequest, HealthCheckResponse, PushEventsRequest, PushEventsResponse, ServingStatus};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
    use tonic::{Code, Status};

    fn events(lines: &[&str]) -> Vec<EventWrapper> {
        lines.iter().map(|l| doc_to_event(&serde_json::from_str(l).unwrap())).collect()
    }

    /// The newer form: the event as `value` instead of `fields`.
    fn as_value(e: EventWrapper) -> EventWrapper {
        let Some(event_wrapper::Event::Log(log)) = e.event else { panic!("not a log") };
        let value = Value { kind: Some(value::Kind::Map(ValueMap { fields: log.fields })) };
        EventWrapper { event: Some(event_wrapper::Event::Log(Log { value: Some(value), ..Log::default() })) }
    }

    /// Sends raw bytes as the request message: for requests that cannot decode.
    struct RawCodec;
    struct RawEncoder;
    struct RawDecoder;
    impl Codec for RawCodec {
        type Encode = Vec<u8>;
        type Decode = ();
        type Encoder = RawEncoder;
        type Decoder = RawDecoder;
        fn encoder(&mut self) -> RawEncoder {
            RawEncoder
        }
        fn decoder(&mut self) -> RawDecoder {
            RawDecoder
        }
    }
    impl Encoder for RawEncoder {
        type Item = Vec<u8>;
        type Error = Status;
        fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
            bytes::BufMut::put_slice(buf, &item);
            Ok(())
        }
    }
    impl Decoder for RawDecoder {
        type Item = ();
        type Error = Status;
        fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
            let n = bytes::Buf::remaining(buf);
            bytes::Buf::advance(buf, n);
            Ok(Some(()))
        }
    }

    #[test]
    fn vector_source_push_events() {
        let source = "\n[sources.vec]\ntype = \"vector\"\naddress = \"127.0.0.1:0\"\nversion = \"2\"\n";
        let svc = Running::start_full(Running::new_dir(), "", source, "", "100ms");
        let addr = svc.addrs[2];
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut client = VectorClient::connect(format!("http://{addr}")).await.unwrap();
            let health = client.health_check(HealthCheckRequest {}).await.unwrap().into_inner();
            assert_eq!(health.status, ServingStatus::Serving as i32);
            // What Vector 0.57 sends: object events in `fields`.
            let (e, c) = pair("h-grpc-fields");
            client.push_events(PushEventsRequest { events: events(&[&e, &c]) }).await.unwrap();
            // The `value` form, gzip-compressed, with a metric that is skipped.
            let (e, c) = pair("h-grpc-value");
            let mut evs: Vec<EventWrapper> = events(&[&e, &c]).into_iter().map(as_value).collect();
            evs.push(EventWrapper { event: Some(event_wrapper::Event::Metric(Metric {})) });
            let mut gz = client.clone().send_compressed(CompressionEncoding::Gzip);
            gz.push_events(PushEventsRequest { events: evs }).await.unwrap();
            let (e, c) = pair("h-grpc-zstd");
            let mut zs = client.clone().send_compressed(CompressionEncoding::Zstd);
            zs.push_events(PushEventsRequest { events: events(&[&e, &c]) }).await.unwrap();
            // A request that cannot decode can never succeed: INVALID_ARGUMENT, not retried.
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
            let mut raw = tonic::client::Grpc::new(channel);
            raw.ready().await.unwrap();
            let path = tonic::codegen::http::uri::PathAndQuery::from_static("/vector.Vector/PushEvents");
            let err = raw.unary(tonic::Request::new(vec![0xff, 0xff, 0xff]), path, RawCodec).await.unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
            // The standard health service is registered too.
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
            let mut std_health = tonic_health::pb::health_client::HealthClient::new(channel);
            let st = std_health.check(tonic_health::pb::HealthCheckRequest { service: "vector.Vector".into() }).await.unwrap().into_inner();
            assert_eq!(st.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
        });
        // Each push was answered only after processing: its detection is already written
        // once the wall-clock release passes (lateness 100 ms).
        assert_eq!(svc.wait_detections(3), 3);
        let metrics = ureq::get(&format!("{}metrics", svc.http())).call().unwrap().body_mut().read_to_string().unwrap();
        assert!(metrics.contains("seqhound_events_not_logs_total 1"), "{metrics}");
        svc.stop();
    }

    /// Stand-in for Vector's `vector` source: records events, refuses the first push.
    struct Collector {
        events: Arc<Mutex<Vec<EventWrapper>>>,
        refuse_first: AtomicBool,
    }

    #[tonic::async_trait]
    impl Vector for Collector {
        async fn push_events(&self, request: tonic::Request<PushEventsRequest>) -> Result<tonic::Response<PushEventsResponse>, Status> {
            if self.refuse_first.swap(false, Ordering::SeqCst) {
                return Err(Status::unavailable("warming up"));
            }
            self.events.lock().unwrap().extend(request.into_inner().events);
            Ok(tonic::Response::new(PushEventsResponse {}))
        }
        async fn health_check(&self, _: tonic::Request<HealthCheckRequest>) -> Result<tonic::Response<HealthCheckResponse>, Status> {
            Ok(tonic::Response::new(HealthCheckResponse { status: ServingStatus::Serving as i32 }))
        }
    }

    #[test]
    fn vector_sink_pushes_alerts_and_retries_unavailable() {
        let received = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let collector = Collector { events: received.clone(), refuse_first: AtomicBool::new(true) };
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(l.local_addr().unwrap()).unwrap();
                tonic::transport::Server::builder()
                    .add_service(VectorServer::new(collector).accept_compressed(CompressionEncoding::Gzip))
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l))
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        let sink = format!(
            "\n[sinks.to_vector]\ntype = \"vector\"\ninputs = [\"detect\"]\naddress = \"{addr}\"\ncompression = true\nrequest.retry_max_duration_secs = 10\n"
        );
        let svc = Running::start_with("", &sink, "0ms");
        let (e, c) = pair("h-grpc-out");
        assert_eq!(post(&svc.http(), format!("{e}\n{c}").as_bytes(), &[]).0, 200);
        let got = received.lock().unwrap().clone();
        assert_eq!(got.len(), 3, "shell alert and two building-block alerts, after one retry");
        let rendered = seqhound::source::vector::events_to_ndjson(&got);
        let docs: Vec<serde_json::Value> =
            rendered.ndjson.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
        assert!(docs.iter().all(|d| d["kibana.alert.rule.rule_id"] == "99239e7d-b0d4-46e3-8609-acafcf99f68c"));
        assert_eq!(docs.iter().filter(|d| d["kibana.alert.depth"] == 2).count(), 1);
        svc.stop();
    }
}

/// Rows of every `.parquet` file under `dir`, read with the parquet crate.
fn parquet_rows(dir: &std::path::Path) -> Vec<arrow::array::RecordBatch> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let f = std::fs::File::open(&p).unwrap();
                let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap();
                out.extend(reader.map(Result::unwrap));
            }
        }
    }
    out
}

#[test]
fn parquet_audit_sink_in_run_mode() {
    let dir = Running::new_dir();
    let audit = dir.join("audit");
    let sink = format!("\n[sinks.audit]\ntype = \"parquet_audit\"\ninputs = [\"detect\"]\npath = \"{}\"\nscope = \"candidates\"\n", audit.display());
    let mut svc = Running::start_full(dir, "", "", &sink, "0ms");
    let (e, c) = pair("h-audit");
    assert_eq!(post(&svc.http(), format!("{e}\n{c}").as_bytes(), &[]).0, 200);
    svc.shutdown(); // graceful: open files are closed and renamed
    let count = |t: &str| parquet_rows(&audit.join(t)).iter().map(|b| b.num_rows()).sum::<usize>();
    assert_eq!(count("detections"), 2, "one row per event of the detection");
    assert_eq!(count("candidates"), 2, "each event matched one stage");
    let det = parquet_rows(&audit.join("detections"));
    let rule_ids = det[0].column_by_name("rule_id").unwrap();
    let rule_ids = rule_ids.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
    assert!(rule_ids.iter().all(|r| r == Some("99239e7d-b0d4-46e3-8609-acafcf99f68c")));
}

#[test]
fn audit_write_failure_refuses_the_request() {
    let dir = Running::new_dir();
    let audit = dir.join("audit");
    std::fs::create_dir_all(&audit).unwrap();
    // A file where the detections table's directory must go: every write there fails.
    std::fs::write(audit.join("detections"), b"not a directory").unwrap();
    let sink = format!("\n[sinks.audit]\ntype = \"parquet_audit\"\ninputs = [\"detect\"]\npath = \"{}\"\n", audit.display());
    let svc = Running::start_full(dir, "", "", &sink, "0ms");
    let (e, c) = pair("h-audit-fail");
    let (status, body) = post(&svc.http(), format!("{e}\n{c}").as_bytes(), &[]);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("audit trail"), "{body}");
    assert_eq!(svc.detections(), 0, "no alert leaves without its audit rows");
    let metrics = ureq::get(&format!("{}metrics", svc.http())).call().unwrap().body_mut().read_to_string().unwrap();
    assert!(metrics.contains("seqhound_audit_errors_total 1"), "{metrics}");
    svc.stop();
}
