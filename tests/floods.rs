//! Floods against `seqhound run` (a separate process, as in production): 10 000 idle
//! connections, slow-loris clients, a stream of malformed lines, a socket line that never
//! ends — each gets a bounded, clear outcome, and a well-behaved client keeps being
//! served. And a flood of distinct stage-1 keys stays within the state cap.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use seqhound::engine::{Engine, EngineOptions};
use seqhound::rule::RuleSet;
use seqhound::source::{Chunk, Origin};

struct Service {
    child: Child,
    http: SocketAddr,
    socket: SocketAddr,
    alerts: std::path::PathBuf,
    dir: std::path::PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

impl Service {
    fn start(tag: &str) -> Service {
        Self::start_with(tag, "")
    }

    /// `socket_options`: more lines for the `socket` source's table.
    fn start_with(tag: &str, socket_options: &str) -> Service {
        let dir = std::env::temp_dir().join(format!("seqhound-flood-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (http, socket) = (free_addr(), free_addr());
        let alerts = dir.join("alerts.txt");
        let config = dir.join("seqhound.toml");
        std::fs::write(
            &config,
            format!(
                "[sources.http]\ntype = \"http_server\"\naddress = \"{http}\"\n\n[sources.tcp]\ntype = \"socket\"\nmode = \"tcp\"\naddress = \"{socket}\"\n{socket_options}\n\n[transforms.detect]\ntype = \"detection\"\ninputs = [\"http\", \"tcp\"]\nlateness = \"100ms\"\n\n[sinks.file]\ntype = \"file\"\ninputs = [\"detect\"]\npath = \"{}\"\nencoding.codec = \"text\"\n",
                alerts.display()
            ),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_seqhound"))
            .args(["run", "--config", config.to_str().unwrap()])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let svc = Service { child, http, socket, alerts, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(svc.http, "/health").is_none() {
            assert!(Instant::now() < deadline, "service did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        svc
    }

    fn detections(&self) -> usize {
        std::fs::read_to_string(&self.alerts).unwrap_or_default().lines().filter(|l| l.contains(" events=")).count()
    }

    fn wait_detections(&self, n: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.detections() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.detections()
    }

    fn metric(&self, name: &str) -> u64 {
        let text = get(self.http, "/metrics").unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("seqhound_{name} ")).or_else(|| l.strip_prefix(&format!("{name} "))))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    }
}

/// One request on a fresh connection: (status, body), or `None` on an I/O error.
fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let head = format!("{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let status = resp.split(' ').nth(1)?.parse().ok()?;
    Some((status, resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()))
}

fn get(addr: SocketAddr, path: &str) -> Option<String> {
    request(addr, "GET", path, b"").filter(|(s, _)| *s == 200).map(|(_, b)| b)
}

/// One true positive of the seed rule on host `h`.
fn pair(h: &str) -> String {
    format!(
        "{{\"@timestamp\":\"2026-11-02T09:00:00.000Z\",\"event\":{{\"id\":\"{h}-1\",\"category\":[\"process\"],\"type\":[\"start\"],\"action\":\"exec\"}},\"host\":{{\"id\":\"{h}\",\"os\":{{\"type\":\"macos\"}}}},\"process\":{{\"name\":\"bash\",\"entity_id\":\"E-{h}\",\"parent\":{{\"name\":\"installer\",\"entity_id\":\"P-{h}\"}}}}}}\n{{\"@timestamp\":\"2026-11-02T09:00:03.000Z\",\"event\":{{\"id\":\"{h}-2\",\"category\":[\"network\"],\"type\":[\"start\"],\"action\":\"connection_attempted\"}},\"host\":{{\"id\":\"{h}\",\"os\":{{\"type\":\"macos\"}}}},\"process\":{{\"name\":\"curl\",\"entity_id\":\"C-{h}\",\"parent\":{{\"entity_id\":\"E-{h}\"}}}}}}"
    )
}

/// The soft limit on open files, which bounds how many connections this test can hold.
fn open_file_limit() -> usize {
    let out = Command::new("sh").args(["-c", "ulimit -n"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(1024)
}

#[test]
fn idle_connections_and_slow_loris_do_not_starve_good_clients() {
    let svc = Service::start("idle");
    // Idle connections: as many as 10 000, within this process's open-file limit (the
    // service process has the same limit and needs one descriptor per connection too).
    let n = 10_000.min(open_file_limit().saturating_sub(500));
    let mut idle = Vec::with_capacity(n);
    for _ in 0..n {
        match TcpStream::connect_timeout(&svc.http, Duration::from_secs(5)) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connection {} refused: {e}", idle.len()),
        }
    }
    // Slow loris: headers that never end, a byte at a time.
    let mut loris: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(svc.http).unwrap()).collect();
    for s in &mut loris {
        s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\n").unwrap();
    }
    // A well-behaved client is served promptly meanwhile.
    let t = Instant::now();
    assert_eq!(request(svc.http, "POST", "/", pair("h-idle").as_bytes()).map(|r| r.0), Some(200));
    let served_in = t.elapsed();
    assert!(served_in < Duration::from_secs(5), "served in {served_in:?}");
    assert_eq!(svc.wait_detections(1), 1);
    // The slow clients are cut off by the header timeout (10 s), not served forever.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut closed = 0;
    for s in &mut loris {
        s.set_read_timeout(Some(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)))).unwrap();
        let _ = s.write_all(b"x");
        // The server ends it: EOF (perhaps after a 408 answer) or a reset. A read
        // timeout means it is still open.
        let mut buf = [0u8; 256];
        loop {
            match s.read(&mut buf) {
                Ok(0) => {
                    closed += 1;
                    break;
                }
                Ok(_) => continue,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
                Err(_) => {
                    closed += 1;
                    break;
                }
            }
        }
    }
    assert_eq!(closed, loris.len(), "slow-loris connections left open");
    // Idle connections are ended by the same timeout: they cannot pin descriptors forever.
    let mut idle_closed = 0;
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        let mut buf = [0u8; 64];
        if matches!(s.read(&mut buf), Ok(0)) || matches!(s.read(&mut buf), Ok(0)) {
            idle_closed += 1;
        }
    }
    assert_eq!(idle_closed, idle.len(), "idle connections left open past the timeout");
    eprintln!("idle connections held: {n}; good request served in {served_in:?}; slow-loris connections closed: {closed}");
    assert_eq!(request(svc.http, "POST", "/", pair("h-after").as_bytes()).map(|r| r.0), Some(200));
    assert_eq!(svc.wait_detections(2), 2);
    drop(idle);
}

#[test]
fn malformed_flood_is_counted_and_good_events_still_detected() {
    let svc = Service::start("malformed");
    // Broken variants of a stage-1 event: they carry the rule's literals, so the
    // pre-check passes them on and the strict parser must refuse them.
    let good = pair("h-bad");
    let exec = good.lines().next().unwrap().as_bytes();
    let kinds: Vec<Vec<u8>> = vec![
        exec[..exec.len() - 1].to_vec(),
        [b"[", exec, b"]"].concat(),
        [&exec[..exec.len() - 1], b",\"host\":{}}"].concat(),
        [&exec[..10], b"\xff\xfe", &exec[10..]].concat(),
        [exec, b" trailing"].concat(),
        String::from_utf8_lossy(exec).replace("2026-11-02T09:00:00.000Z", "never").into_bytes(),
    ];
    let mut body = Vec::new();
    for i in 0..20_000 {
        body.extend_from_slice(&kinds[i % kinds.len()]);
        body.push(b'\n');
    }
    for _ in 0..5 {
        let r = request(svc.http, "POST", "/", &body).map(|r| r.0);
        assert!(matches!(r, Some(200) | Some(400)), "malformed batch answered {r:?}");
    }
    // Good events mixed with garbage in one request: still found.
    let mixed = format!("garbage\n{}\n{{\"x\":\n", pair("h-mixed"));
    assert_eq!(request(svc.http, "POST", "/", mixed.as_bytes()).map(|r| r.0), Some(200));
    assert_eq!(svc.wait_detections(1), 1);
    let errors = svc.metric("parse_errors_total");
    assert!(errors >= 100_000, "parse errors counted: {errors}");
}

#[test]
fn endless_socket_line_is_skipped_and_the_connection_keeps_working() {
    let svc = Service::start("socketline");
    let mut s = TcpStream::connect(svc.socket).unwrap();
    let pair1 = pair("h-before");
    s.write_all(pair1.as_bytes()).unwrap();
    s.write_all(b"\n").unwrap();
    // 40 MiB without a line end: over the 32 MiB line limit.
    let junk = vec![b'x'; 1 << 20];
    for _ in 0..40 {
        s.write_all(&junk).unwrap();
    }
    s.write_all(b"\n").unwrap();
    s.write_all(pair("h-after").as_bytes()).unwrap();
    s.write_all(b"\n").unwrap();
    drop(s);
    assert_eq!(svc.wait_detections(2), 2, "the lines around the oversized one are kept");
    assert_eq!(svc.metric("lines_oversized_total"), 1, "{:?}", get(svc.http, "/metrics"));
}

/// The child's resident memory, MiB.
fn rss_mib(svc: &Service) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", svc.child.id())).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()).unwrap_or(0) / 1024
}

/// 40 connections each send 8 MiB of a line that does not end (320 MiB in all, each
/// under the 32 MiB line limit) against a 16 MiB budget for the source: the unfinished
/// lines are dropped once the budget is spent, memory stays bounded, a good client is
/// served, and an attacking connection that ends its line is read normally again.
#[test]
fn socket_connections_share_a_memory_budget() {
    let svc = Service::start_with("budget", "max_buffered_bytes = 16777216");
    let junk = vec![b'x'; 1 << 20];
    let mut attackers: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(svc.socket).unwrap()).collect();
    for s in &mut attackers {
        for _ in 0..8 {
            s.write_all(&junk).unwrap();
        }
    }
    // Let the service read what was sent.
    let deadline = Instant::now() + Duration::from_secs(20);
    while svc.metric("lines_oversized_total") < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let dropped = svc.metric("lines_oversized_total");
    let rss = rss_mib(&svc);
    eprintln!("budget: {dropped} unfinished lines dropped, resident memory {rss} MiB");
    assert!(dropped >= 20, "unfinished lines dropped under the budget: {dropped}");
    assert!(rss < 200, "resident memory {rss} MiB with 320 MiB of unfinished lines sent");
    let mut good = TcpStream::connect(svc.socket).unwrap();
    good.write_all(format!("{}\n", pair("h-good")).as_bytes()).unwrap();
    drop(good);
    assert_eq!(svc.wait_detections(1), 1, "a good client is served");
    attackers[0].write_all(format!("\n{}\n", pair("h-attacker")).as_bytes()).unwrap();
    drop(attackers);
    assert_eq!(svc.wait_detections(2), 2, "a connection that ends its line is read again");
}

/// With `connection_limit = 3`, a fourth connection waits until one of the first three
/// closes, then is read in full.
#[test]
fn socket_connection_limit_holds_further_connections_back() {
    let svc = Service::start_with("connlimit", "connection_limit = 3");
    let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(svc.socket).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut fourth = TcpStream::connect(svc.socket).unwrap();
    fourth.write_all(format!("{}\n", pair("h-fourth")).as_bytes()).unwrap();
    fourth.shutdown(std::net::Shutdown::Write).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(svc.detections(), 0, "the fourth connection is not served while three are open");
    drop(idle);
    assert_eq!(svc.wait_detections(1), 1, "served once a slot is free");
}

/// 200 000 distinct stage-1 keys within the lateness, against a cap of 10 000: pending
/// sequences and the reorder buffer never exceed the cap, the oldest are evicted first
/// and counted, and the sequence of the newest key is still found. (The closing figures of the 10 000 000-key
/// flood come from the release binary; see the README.)
#[test]
fn key_flood_stays_within_the_state_cap() {
    let rules = Arc::new(RuleSet::embedded_default().unwrap());
    let cap = 10_000;
    // The default lateness: the whole flood sits inside it, so the reorder buffer must be
    // capped too, not only the pending sequences.
    let mut engine = Engine::new(rules, EngineOptions { lateness_ms: 5_000, pending_cap: cap, precheck: true });
    let keys = 200_000u64;
    let exec = |i: u64, ms: u64| {
        format!("{{\"@timestamp\":{ms},\"event\":{{\"id\":\"f-{i}\",\"category\":[\"process\"],\"type\":[\"start\"],\"action\":\"exec\"}},\"host\":{{\"id\":\"flood\",\"os\":{{\"type\":\"macos\"}}}},\"process\":{{\"name\":\"bash\",\"entity_id\":\"E-{i}\",\"parent\":{{\"name\":\"installer\"}}}}}}\n")
    };
    let curl = |i: u64, ms: u64| {
        format!("{{\"@timestamp\":{ms},\"event\":{{\"id\":\"c-{i}\",\"category\":[\"network\"],\"type\":[\"start\"]}},\"host\":{{\"id\":\"flood\",\"os\":{{\"type\":\"macos\"}}}},\"process\":{{\"name\":\"curl\",\"parent\":{{\"entity_id\":\"E-{i}\"}}}}}}\n")
    };
    let base = 1_790_000_000_000u64;
    let mut max_pending = 0;
    let mut detections = 0;
    for block in 0..(keys / 10_000) {
        let mut text = String::new();
        for i in block * 10_000..(block + 1) * 10_000 {
            // All within one second: maxspan never expires them, only the cap can.
            text.push_str(&exec(i, base + i / 1_000));
        }
        let chunk = Chunk { bytes: text.into(), origin: Origin::new("flood"), first_line: 1 };
        detections += engine.push(&chunk).len();
        max_pending = max_pending.max(engine.stats().sequence.pending);
    }
    // The oldest key was evicted; the newest is still pending and completes.
    let tail = format!("{}{}", curl(0, base + 400), curl(keys - 1, base + 400));
    detections += engine.push(&Chunk { bytes: tail.into(), origin: Origin::new("flood"), first_line: 1 }).len();
    detections += engine.finish().len();
    let stats = engine.stats();
    assert!(max_pending <= cap as u64, "pending {max_pending} over the cap {cap}");
    assert_eq!(stats.sequence.evicted, keys - cap as u64);
    assert!(stats.sequence.reorder_forced >= keys - cap as u64, "reorder releases forced by the cap: {}", stats.sequence.reorder_forced);
    assert_eq!(detections, 1, "only the newest key's sequence survives the flood");
}

/// The same flood against a rule partitioned by the flooded key itself (`sequence by
/// process.entity_id`, as many macOS rules are): every key is its own partition, so the
/// cap must hold across partitions too — the partition that went quiet first is released
/// first, counted — and the newest key's sequence is still found.
#[test]
fn key_flood_across_partitions_stays_within_the_state_cap() {
    let meta = seqhound::rule::RuleMeta {
        path: "flood".into(),
        name: "flood".into(),
        rule_type: "eql".into(),
        language: "eql".into(),
        query: "sequence by process.entity_id with maxspan=1h\n  [process where process.name == \"bash\"]\n  [network where process.name == \"curl\"]".into(),
        query_line: 1,
        query_column: 1,
        ..Default::default()
    };
    let mut reg = seqhound::rule::compile::ColumnRegistry::default();
    let rule = seqhound::rule::compile_rule(meta, &mut reg).expect("the flood rule compiles");
    let rules = Arc::new(RuleSet::new(vec![rule], reg));
    let cap = 10_000;
    let mut engine = Engine::new(rules, EngineOptions { lateness_ms: 5_000, pending_cap: cap, precheck: true });
    let keys = 200_000u64;
    let base = 1_790_000_000_000u64;
    let exec = |i: u64, ms: u64| {
        format!("{{\"@timestamp\":{ms},\"event\":{{\"category\":[\"process\"]}},\"process\":{{\"name\":\"bash\",\"entity_id\":\"E-{i}\"}}}}\n")
    };
    let curl = |i: u64, ms: u64| {
        format!("{{\"@timestamp\":{ms},\"event\":{{\"category\":[\"network\"]}},\"process\":{{\"name\":\"curl\",\"entity_id\":\"E-{i}\"}}}}\n")
    };
    let (mut max_pending, mut max_buffered, mut detections) = (0, 0, 0);
    for block in 0..(keys / 10_000) {
        // All within one second, inside the lateness: only the cap releases them.
        let text: String = (block * 10_000..(block + 1) * 10_000).map(|i| exec(i, base + i / 1_000)).collect();
        detections += engine.push(&Chunk { bytes: text.into(), origin: Origin::new("flood"), first_line: 1 }).len();
        let s = engine.stats().sequence;
        max_pending = max_pending.max(s.pending);
        max_buffered = max_buffered.max(s.buffered);
    }
    let tail = format!("{}{}", curl(0, base + 400), curl(keys - 1, base + 400));
    detections += engine.push(&Chunk { bytes: tail.into(), origin: Origin::new("flood"), first_line: 1 }).len();
    detections += engine.finish().len();
    let stats = engine.stats().sequence;
    assert!(max_buffered <= cap as u64, "buffered {max_buffered} over the cap {cap}");
    assert!(max_pending <= cap as u64, "pending {max_pending} over the cap {cap}");
    assert!(stats.reorder_forced >= keys - cap as u64, "reorder releases forced by the cap: {}", stats.reorder_forced);
    assert!(stats.evicted >= keys - 2 * cap as u64, "evicted: {}", stats.evicted);
    assert_eq!(detections, 1, "only the newest key's sequence survives the flood");
}

/// One forged far-future timestamp must not make every other host look quiet: a victim
/// host's out-of-order pair (its curl before its exec, within the lateness) arriving
/// while the partitions are garbage-collected is still put in order and detected.
#[test]
fn forged_future_timestamp_does_not_release_other_hosts_early() {
    let rules = Arc::new(RuleSet::embedded_default().unwrap());
    let mut engine = Engine::new(rules, EngineOptions { lateness_ms: 5_000, pending_cap: 1_000_000, precheck: true });
    let base = 1_790_000_000_000u64;
    let exec = |host: &str, id: u64, ms: u64| {
        format!("{{\"@timestamp\":{ms},\"event\":{{\"id\":\"x-{id}\",\"category\":[\"process\"],\"type\":[\"start\"],\"action\":\"exec\"}},\"host\":{{\"id\":\"{host}\",\"os\":{{\"type\":\"macos\"}}}},\"process\":{{\"name\":\"bash\",\"entity_id\":\"E-{id}\",\"parent\":{{\"name\":\"installer\"}}}}}}\n")
    };
    // Ten hosts, 10 events per millisecond: 14 000 events span 1.4 s, inside the lateness.
    let background = |from: u64, n: u64| -> String { (from..from + n).map(|i| exec(&format!("h{}", i % 10), i, base + i / 10)).collect() };
    let push = |engine: &mut Engine, text: String| engine.push(&Chunk { bytes: text.into(), origin: Origin::new("t"), first_line: 1 }).len();
    let mut found = 0;
    found += push(&mut engine, background(0, 5_000));
    // The forged event: a host a billion milliseconds ahead.
    found += push(&mut engine, exec("forged", 999_999, base + 1_000_000_000));
    // The victim's curl first, then enough traffic for several garbage collections, then
    // its exec (50 ms older than the curl: well inside the 5 s lateness).
    let curl = format!("{{\"@timestamp\":{},\"event\":{{\"id\":\"v-2\",\"category\":[\"network\"],\"type\":[\"start\"]}},\"host\":{{\"id\":\"victim\",\"os\":{{\"type\":\"macos\"}}}},\"process\":{{\"name\":\"curl\",\"parent\":{{\"entity_id\":\"E-victim\"}}}}}}\n", base + 600);
    found += push(&mut engine, curl);
    found += push(&mut engine, background(5_000, 9_000));
    let victim_exec = exec("victim", 0, base + 550).replace("\"E-0\"", "\"E-victim\"").replace("x-0", "v-1");
    found += push(&mut engine, victim_exec);
    found += engine.finish().len();
    assert_eq!(found, 1, "the victim's sequence was missed (late: {})", engine.stats().sequence.late);
    assert_eq!(engine.stats().sequence.late, 0);
}
