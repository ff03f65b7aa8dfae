//! A small, dense, seeded random corpus for the seed rule, independent of the crate's
//! generator: few hosts and few entity ids, so keys collide and pending sequences get
//! replaced and consumed all the time; follow-up events at 0, 1, 14 999, 15 000 and
//! 15 001 ms; equal milliseconds with and without `event.sequence`; sub-millisecond
//! digits, offsets and epoch-millisecond numbers; nested, dotted and mixed keys; arrays;
//! case variants for `:`; JSON escapes; near misses of every condition; broken lines;
//! arrival shuffled by up to 3 s. Only `std` is used.

#![allow(dead_code)]

/// 2024-06-01T12:00:00Z in epoch milliseconds.
const BASE_MS: i64 = 1_717_243_200_000;

/// Largest arrival displacement, in event time (the engine's default lateness is 5 s).
pub const MAX_SHUFFLE_MS: i64 = 3_000;

/// SplitMix64, enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A JSON value, already serialized.
type Raw = String;

/// One field of an event: dotted path and serialized value.
type Field = (String, Raw);

/// An event before serialization.
struct Planned {
    ms: i64,
    host: u64,
    fields: Vec<Field>,
    /// Serialize as a broken line.
    broken: bool,
    /// A blank line instead of an event.
    blank: bool,
}

fn string(rng: &mut Rng, s: &str) -> Raw {
    // Now and then hide a letter behind a `\u00XX` escape.
    if rng.chance(5) {
        if let Some((i, c)) = s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
            return format!("\"{}\\u{:04x}{}\"", &s[..i], c as u32, &s[i + 1..]);
        }
    }
    format!("\"{s}\"")
}

/// One of `items`, as a string value.
fn pick_string(rng: &mut Rng, items: &[&str]) -> Raw {
    let s = *rng.pick(items);
    string(rng, s)
}

/// A string value, sometimes as a one-element array, sometimes with an extra element.
fn keyword(rng: &mut Rng, s: &str, extra: &[&str]) -> Raw {
    match rng.below(6) {
        0 => format!("[{}]", string(rng, s)),
        1 if !extra.is_empty() => {
            let other = *rng.pick(extra);
            if rng.chance(50) {
                format!("[{},{}]", string(rng, other), string(rng, s))
            } else {
                format!("[{},null,{}]", string(rng, s), string(rng, other))
            }
        }
        _ => string(rng, s),
    }
}

fn host_name(host: u64) -> String {
    format!("H-{host:02}")
}

fn entity(host: u64, n: u64) -> String {
    format!("h{host}-ent-{n}")
}

/// Fields of a stage-1 (installer shell exec) event; `miss` breaks one condition.
fn stage1_fields(rng: &mut Rng, entity_id: &str, miss: bool) -> Vec<Field> {
    let mut category = keyword(rng, "process", &["file"]);
    let mut os = string(rng, "macos");
    let mut kind = keyword(rng, "start", &["info"]);
    let mut action = keyword(rng, "exec", &["fork", "end"]);
    let parent = *rng.pick(&["installer", "Installer", "package_script_service", "PACKAGE_script_service"]);
    let mut parent = string(rng, parent);
    let name = *rng.pick(&["bash", "sh", "zsh", "python", "osascript", "tclsh", "tclsh8.6", "BASH", "Zsh", "TclSh8.5"]);
    let mut name = keyword(rng, name, &["launchd"]);
    let mut entity_value = if rng.chance(5) { format!("[{},{}]", string(rng, entity_id), string(rng, "shared-ent")) } else { string(rng, entity_id) };
    if miss {
        match rng.below(9) {
            0 => os = pick_string(rng, &["MacOS", "linux", "macOS"]),
            1 => action = pick_string(rng, &["fork", "Exec", "end"]),
            2 => kind = keyword(rng, "info", &["end"]),
            3 => parent = pick_string(rng, &["launchd", "installerd", "system_installd", "Terminal"]),
            4 => name = pick_string(rng, &["python3", "dash", "xtclsh", "bash2", "curl"]),
            5 => entity_value = String::from("null"),
            6 => category = pick_string(rng, &["Process", "network", "processes"]),
            7 => entity_value = String::from("[]"),
            _ => name = String::from("null"),
        }
    }
    vec![
        ("event.category".into(), category),
        ("host.os.type".into(), os),
        ("event.type".into(), kind),
        ("event.action".into(), action),
        ("process.parent.name".into(), parent),
        ("process.name".into(), name),
        ("process.entity_id".into(), entity_value),
        ("process.parent.entity_id".into(), string(rng, "launchd-1")),
    ]
}

/// Fields of a stage-2 (downloader network start) event; `miss` breaks one condition.
fn stage2_fields(rng: &mut Rng, parent_entity: &str, miss: bool) -> Vec<Field> {
    let mut category = keyword(rng, "network", &["host"]);
    let mut os = string(rng, "macos");
    let mut kind = keyword(rng, "start", &["connection"]);
    let name = *rng.pick(&["curl", "CURL", "osascript", "wget", "python", "java", "ruby", "node", "Node"]);
    let mut name = keyword(rng, name, &["nscurl"]);
    let mut parent_value = if rng.chance(5) { format!("[{},{}]", string(rng, "shared-ent"), string(rng, parent_entity)) } else { string(rng, parent_entity) };
    if miss {
        match rng.below(7) {
            0 => os = pick_string(rng, &["MacOS", "windows"]),
            1 => kind = keyword(rng, "end", &["info"]),
            2 => name = pick_string(rng, &["nscurl", "git", "python3", "perl", "curl7"]),
            3 => parent_value = String::from("null"),
            4 => category = pick_string(rng, &["Network", "process", "dns"]),
            5 => parent_value = String::from("[null]"),
            _ => kind = String::from("null"),
        }
    }
    vec![
        ("event.category".into(), category),
        ("host.os.type".into(), os),
        ("event.type".into(), kind),
        ("event.action".into(), string(rng, "connection_attempted")),
        ("process.name".into(), name),
        ("process.entity_id".into(), string(rng, "net-proc")),
        ("process.parent.entity_id".into(), parent_value),
    ]
}

/// An event matching both stages (its own parent id equals its entity id).
fn both_fields(rng: &mut Rng, entity_id: &str) -> Vec<Field> {
    vec![
        ("event.category".into(), String::from("[\"process\",\"network\"]")),
        ("host.os.type".into(), string(rng, "macos")),
        ("event.type".into(), string(rng, "start")),
        ("event.action".into(), string(rng, "exec")),
        ("process.parent.name".into(), string(rng, "installer")),
        ("process.name".into(), string(rng, "osascript")),
        ("process.entity_id".into(), string(rng, entity_id)),
        ("process.parent.entity_id".into(), string(rng, entity_id)),
    ]
}

/// A node of the key tree an event is written from.
enum Node {
    Leaf(Raw),
    Object(Vec<(String, Node)>),
}

fn insert(entries: &mut Vec<(String, Node)>, groups: &[String], value: Raw) {
    let (first, rest) = match groups.split_first() {
        Some(split) => split,
        None => return,
    };
    if rest.is_empty() {
        entries.push((first.clone(), Node::Leaf(value)));
        return;
    }
    let position = entries.iter().position(|(k, n)| k == first && matches!(n, Node::Object(_)));
    let index = match position {
        Some(i) => i,
        None => {
            entries.push((first.clone(), Node::Object(Vec::new())));
            entries.len() - 1
        }
    };
    if let Node::Object(children) = &mut entries[index].1 {
        insert(children, rest, value);
    }
}

fn write_node(entries: &[(String, Node)], out: &mut String) {
    out.push('{');
    for (i, (key, node)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(key);
        out.push_str("\":");
        match node {
            Node::Leaf(raw) => out.push_str(raw),
            Node::Object(children) => write_node(children, out),
        }
    }
    out.push('}');
}

/// Serializes fields, each path split into nested objects or kept dotted at random.
fn write_event(rng: &mut Rng, fields: &[Field]) -> String {
    let mut root = Vec::new();
    for (path, value) in fields {
        let parts: Vec<&str> = path.split('.').collect();
        let mut groups: Vec<String> = vec![parts[0].to_owned()];
        for part in &parts[1..] {
            if rng.chance(25) {
                let last = groups.len() - 1;
                groups[last].push('.');
                groups[last].push_str(part);
            } else {
                groups.push((*part).to_owned());
            }
        }
        insert(&mut root, &groups, value.clone());
    }
    let mut out = String::new();
    write_node(&root, &mut out);
    out
}

/// `ms` as RFC 3339, with random sub-millisecond digits and a random offset, or as an
/// epoch-millisecond number.
fn timestamp(rng: &mut Rng, ms: i64) -> Raw {
    if rng.chance(10) {
        return ms.to_string();
    }
    let offset_minutes: i64 = *rng.pick(&[0, 0, 0, 60, -300, 330, -30]);
    let local = ms + offset_minutes * 60_000;
    let days = local.div_euclid(86_400_000);
    let in_day = local.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    let fraction = match rng.below(4) {
        0 if milli == 0 => String::new(),
        0 | 1 => format!(".{milli:03}"),
        2 => format!(".{milli:03}{}", rng.below(1_000_000)),
        _ => format!(".{milli:03}{:03}", rng.below(1000)),
    };
    let zone = if offset_minutes == 0 && rng.chance(80) {
        String::from("Z")
    } else {
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let abs = offset_minutes.abs();
        format!("{sign}{:02}:{:02}", abs / 60, abs % 60)
    };
    format!("\"{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{fraction}{zone}\"")
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Breaks a serialized line in one of a few ways.
fn break_line(rng: &mut Rng, line: &str) -> Vec<u8> {
    match rng.below(5) {
        0 => line.as_bytes()[..line.len() / 2].to_vec(),
        1 => format!("{},\"@timestamp\":0}}", &line[..line.len() - 1]).into_bytes(),
        2 => {
            let mut out = line.as_bytes()[..line.len() - 1].to_vec();
            out.extend_from_slice(b",\"m\":\"\xFF\"}");
            out
        }
        3 => format!("[{line}]").into_bytes(),
        _ => format!("{},}}", &line[..line.len() - 1]).into_bytes(),
    }
}

/// Generates `events` lines for `hosts` hosts.
pub fn random_corpus(seed: u64, hosts: u64, events: usize) -> Vec<u8> {
    let mut rng = Rng(seed ^ 0x5EED_C0DE);
    let mut planned: Vec<Planned> = Vec::with_capacity(events);
    let mut ms = BASE_MS;
    while planned.len() < events {
        ms += rng.below(900) as i64;
        let host = rng.below(hosts);
        let entity_id = entity(host, rng.below(4));
        let roll = rng.below(100);
        let fields = match roll {
            0..=24 => stage1_fields(&mut rng, &entity_id, false),
            25..=36 => stage1_fields(&mut rng, &entity_id, true),
            37..=61 => stage2_fields(&mut rng, &entity_id, false),
            62..=73 => stage2_fields(&mut rng, &entity_id, true),
            74..=76 => both_fields(&mut rng, &entity_id),
            _ => vec![
                ("event.category".into(), string(&mut rng, "file")),
                ("event.type".into(), string(&mut rng, "change")),
                ("host.os.type".into(), string(&mut rng, "macos")),
                ("process.name".into(), string(&mut rng, "bash")),
                ("process.entity_id".into(), string(&mut rng, &entity_id)),
            ],
        };
        let broken = rng.chance(2);
        let blank = rng.chance(1);
        planned.push(Planned { ms, host, fields, broken, blank });
        // A follow-up downloader at a telling distance from a shell.
        if roll <= 24 && rng.chance(40) {
            let delta = *rng.pick(&[0, 1, 500, 14_999, 15_000, 15_000, 15_001, 15_001, 20_000]);
            let fields = stage2_fields(&mut rng, &entity_id, false);
            planned.push(Planned { ms: ms + delta, host, fields, broken: false, blank: false });
        }
    }
    planned.truncate(events);
    planned.sort_by_key(|p| p.ms);

    // Per-host `event.sequence` in time order; some events lack it.
    let mut counters = vec![0i64; hosts as usize];
    let mut lines: Vec<(i64, Vec<u8>)> = Vec::with_capacity(planned.len());
    for (i, p) in planned.into_iter().enumerate() {
        let arrival = p.ms + rng.below(MAX_SHUFFLE_MS as u64 + 1) as i64;
        if p.blank {
            lines.push((arrival, rng.pick(&[&b""[..], b"  ", b"\r", b"\t"]).to_vec()));
            continue;
        }
        counters[p.host as usize] += 1 + rng.below(3) as i64;
        let mut fields: Vec<Field> = vec![("@timestamp".into(), timestamp(&mut rng, p.ms))];
        fields.push(("event.id".into(), format!("\"r{seed}-{i}\"")));
        if rng.chance(80) {
            fields.push(("event.sequence".into(), counters[p.host as usize].to_string()));
        }
        fields.push(("host.id".into(), string(&mut rng, &host_name(p.host))));
        fields.extend(p.fields);
        // Shuffle field order a little: swap a few neighbours.
        for _ in 0..3 {
            let a = 1 + rng.below(fields.len() as u64 - 1) as usize;
            let b = 1 + rng.below(fields.len() as u64 - 1) as usize;
            fields.swap(a, b);
        }
        let line = write_event(&mut rng, &fields);
        let bytes = if p.broken { break_line(&mut rng, &line) } else { line.into_bytes() };
        lines.push((arrival, bytes));
    }
    // Arrival order: event time plus up to MAX_SHUFFLE_MS.
    lines.sort_by_key(|(arrival, _)| *arrival);
    let mut out = Vec::new();
    for (_, line) in lines {
        out.extend_from_slice(&line);
        out.extend_from_slice(if rng.chance(10) { b"\r\n" } else { b"\n" });
    }
    out
}
