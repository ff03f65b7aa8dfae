//! `seqhound run` killed with SIGKILL again and again while a sender that behaves like
//! Vector's `http` sink (it retries every request not answered 200, connection errors
//! included) keeps sending: every detection present in the stream is still emitted, and
//! every audit file left behind reads back.
//!
//! The expected detections come from the conformance suite's reference model, which
//! shares no code with the engine.

#[path = "../conformance/reference.rs"]
mod reference;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_seqhound"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// One HTTP/1.1 POST on a fresh connection; the status, or `None` on any I/O error.
fn post(addr: SocketAddr, body: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let head =
        format!("POST / HTTP/1.1\r\nhost: seqhound\r\ncontent-type: application/x-ndjson\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    resp.split(' ').nth(1)?.parse().ok()
}

/// Detections in the text alert file, as the `event.id`s of their events; a line torn
/// by a kill is skipped.
fn emitted(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.rsplit_once(" events=").map(|(_, ids)| ids.split(',').map(str::to_string).collect::<Vec<_>>()))
        .filter(|ids| ids.len() == 2)
        .collect()
}

fn parquet_files(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                parquet_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
}

#[test]
fn sigkill_mid_stream_loses_no_detection() {
    let dir = std::env::temp_dir().join(format!("seqhound-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut data = Vec::new();
    seqhound::generate::generate(&seqhound::generate::GenerateConfig { seed: 7, hosts: 20, events: 12_000 }, &mut data).unwrap();
    let expected: BTreeSet<Vec<String>> = reference::reference_sequences(&data).into_iter().collect();
    assert!(expected.len() >= 10, "the corpus should hold detections, has {}", expected.len());

    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let alerts = dir.join("alerts.txt");
    let config = dir.join("seqhound.toml");
    std::fs::write(
        &config,
        format!(
            r#"
data_dir = "{state}"

[sources.http]
type = "http_server"
address = "{addr}"

[transforms.detect]
type = "detection"
inputs = ["http"]
lateness = "200ms"

[sinks.file]
type = "file"
inputs = ["detect"]
path = "{alerts}"
encoding.codec = "text"

[sinks.audit]
type = "parquet_audit"
inputs = ["detect"]
path = "{audit}"
scope = "candidates"
max_file_bytes = 200000
"#,
            state = dir.join("state").display(),
            alerts = alerts.display(),
            audit = dir.join("audit").display(),
        ),
    )
    .unwrap();

    let child = Arc::new(Mutex::new(start(&config)));
    let done = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicU32::new(0));
    // The killer: SIGKILL at irregular moments, then start again at once.
    let killer = {
        let (child, done, kills, config) = (child.clone(), done.clone(), kills.clone(), config.clone());
        std::thread::spawn(move || {
            let mut rng = 0x2545_f491_4f6c_dd1du64;
            while !done.load(Ordering::SeqCst) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                std::thread::sleep(Duration::from_millis(150 + rng % 400));
                if done.load(Ordering::SeqCst) {
                    break;
                }
                let mut c = child.lock().unwrap();
                let _ = c.kill(); // SIGKILL
                let _ = c.wait();
                kills.fetch_add(1, Ordering::SeqCst);
                *c = start(&config);
            }
        })
    };

    // The sender: batches of lines, each retried until answered 200.
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let mut retries = 0u32;
    let deadline = Instant::now() + Duration::from_secs(240);
    for batch in lines.chunks(100) {
        // Paced like a shipper under steady load, so the kills land mid-stream.
        std::thread::sleep(Duration::from_millis(25));
        let body = batch.join(&b'\n');
        loop {
            assert!(Instant::now() < deadline, "the sender made no progress");
            if post(addr, &body) == Some(200) {
                break;
            }
            retries += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    done.store(true, Ordering::SeqCst);
    killer.join().unwrap();
    let kills = kills.load(Ordering::SeqCst);

    // Let the wall-clock release finish the last sequences, then stop gracefully.
    let want: BTreeSet<Vec<String>> = expected.clone();
    let wait = Instant::now() + Duration::from_secs(30);
    while !want.iter().all(|d| emitted(&alerts).contains(d)) && Instant::now() < wait {
        std::thread::sleep(Duration::from_millis(100));
    }
    {
        let mut c = child.lock().unwrap();
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let status = c.wait().unwrap();
        assert!(status.success(), "graceful stop failed: {status}");
    }

    let got = emitted(&alerts);
    let got_set: BTreeSet<Vec<String>> = got.iter().cloned().collect();
    let missing: Vec<_> = expected.difference(&got_set).collect();
    let unexpected: Vec<_> = got_set.difference(&expected).collect();
    eprintln!("kills: {kills}, retried requests: {retries}, detections expected: {}, emitted: {} ({} distinct)", expected.len(), got.len(), got_set.len());
    assert!(kills >= 3, "the run should have been killed several times, was {kills}");
    assert!(missing.is_empty(), "detections lost to the kills: {missing:?}");
    assert!(unexpected.is_empty(), "detections the reference does not have: {unexpected:?}");

    // Every audit file left behind reads back completely.
    let mut files = Vec::new();
    parquet_files(&dir.join("audit"), &mut files);
    assert!(!files.is_empty());
    for f in &files {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
            .build()
            .unwrap();
        let rows: usize = reader.map(|b| b.unwrap_or_else(|e| panic!("{}: {e}", f.display())).num_rows()).sum();
        assert!(rows > 0, "{} is empty", f.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
