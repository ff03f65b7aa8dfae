//! `seqhound run` over loopback: what Vector's `http` and `socket` sinks send, byte for
//! byte (NDJSON without a trailing newline, JSON arrays, every content-encoding,
//! `native_json`), and the status codes Vector acts on.

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
        let dir = std::env::temp_dir().join(format!("seqhound-svc-{}-{}", std::process::id(), rand_suffix()));
        Self::start_in(dir, extra_http, extra_sinks, lateness)
    }

    fn start_in(dir: std::path::PathBuf, extra_http: &str, extra_sinks: &str, lateness: &str) -> Running {
        std::fs::create_dir_all(&dir).unwrap();
        let alerts = dir.join("alerts.ndjson");
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

[transforms.detect]
type = "detection"
inputs = ["http", "tcp"]
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
        ("gzip", Box::new(|b: &[u8]| {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            w.write_all(b).unwrap();
            w.finish().unwrap()
        })),
        ("deflate", Box::new(|b: &[u8]| {
            let mut w = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            w.write_all(b).unwrap();
            w.finish().unwrap()
        })),
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
fn socket_native_json() {
    let svc = Running::start("", "");
    let (e, c) = pair("h-socket");
    let mut s = std::net::TcpStream::connect(svc.addrs[1]).unwrap();
    writeln!(s, "{{\"log\":{e}}}").unwrap();
    writeln!(s, "{{\"log\":{c}}}").unwrap();
    drop(s);
    assert_eq!(svc.wait_detections(1), 1);
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
