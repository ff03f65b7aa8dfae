//! `seqhound run` configuration: TOML in Vector's style — `[sources.NAME]`,
//! `[transforms.NAME]`, `[sinks.NAME]`, each with a `type` and `inputs` — using Vector's
//! option names where the concept is the same. Unknown keys are errors.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The configuration used when `seqhound run` gets no `--config`.
pub const DEFAULT_CONFIG: &str = r#"
# Events in: Vector's `http` sink (NDJSON or JSON array) and `socket` sink (NDJSON).
[sources.vector_http]
type = "http_server"
address = "127.0.0.1:9000"

[sources.vector_socket]
type = "socket"
mode = "tcp"
address = "127.0.0.1:9001"

# The embedded seed rule.
[transforms.detect]
type = "detection"
inputs = ["vector_http", "vector_socket"]

# Alerts out: Elastic alert documents on stdout, one per line.
[sinks.alerts]
type = "console"
inputs = ["detect"]
encoding.codec = "json"
"#;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where state is kept between runs.
    pub data_dir: Option<String>,
    /// Flush the crash journal to disk (`fdatasync`) before a batch is sequenced and
    /// answered, so a power cut of the machine loses nothing the sender was told was
    /// delivered. `false` keeps journal writes in the page cache: they survive the death
    /// of the process, not of the machine, and cost no disk round trip per batch.
    #[serde(default = "default_true")]
    pub journal_fsync: bool,
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    #[serde(default)]
    pub transforms: BTreeMap<String, TransformConfig>,
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkConfig>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct Decoding {
    /// `json` (a JSON object per event) or `native_json` (Vector's `{"log": {…}}`).
    pub codec: String,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct Framing {
    /// `newline_delimited` (the only framing seqhound reads).
    pub method: String,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// `bearer` (sources and sinks) or `basic` (sinks).
    pub strategy: String,
    pub token: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl Auth {
    /// The bearer token a source requires.
    ///
    /// # Errors
    /// Another strategy, or no token.
    pub fn bearer_token(&self) -> Result<String, String> {
        match (self.strategy.as_str(), &self.token) {
            ("bearer", Some(t)) if !t.is_empty() => Ok(t.clone()),
            ("bearer", _) => Err("auth.token is required with strategy \"bearer\"".into()),
            (other, _) => Err(format!("auth.strategy {other:?}: sources support \"bearer\"")),
        }
    }

    /// The `authorization` header a sink sends.
    ///
    /// # Errors
    /// An unknown strategy or missing credentials.
    pub fn header_value(&self) -> Result<String, String> {
        use base64::Engine as _;
        match (self.strategy.as_str(), &self.token, &self.user, &self.password) {
            ("bearer", Some(t), None, None) => Ok(format!("Bearer {t}")),
            ("basic", None, Some(u), p) => {
                let creds = format!("{u}:{}", p.as_deref().unwrap_or(""));
                Ok(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(creds)))
            }
            ("bearer", ..) => Err("auth: strategy \"bearer\" takes token only".into()),
            ("basic", ..) => Err("auth: strategy \"basic\" takes user and password".into()),
            (other, ..) => Err(format!("auth.strategy {other:?}: use \"bearer\" or \"basic\"")),
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub enabled: Option<bool>,
    /// PEM certificate chain.
    pub crt_file: Option<String>,
    /// PEM private key.
    pub key_file: Option<String>,
    /// Client certificate verification (mutual TLS): refused, not supported.
    pub ca_file: Option<String>,
    pub verify_certificate: Option<bool>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    HttpServer {
        address: String,
        decoding: Option<Decoding>,
        framing: Option<Framing>,
        auth: Option<Auth>,
        /// Largest accepted request body (compressed and decompressed), bytes.
        max_body_bytes: Option<usize>,
        tls: Option<Tls>,
    },
    Socket {
        address: String,
        mode: Option<String>,
        decoding: Option<Decoding>,
        framing: Option<Framing>,
        tls: Option<Tls>,
        /// Most connections open at once (Vector's option); more wait to be accepted.
        connection_limit: Option<u32>,
        /// Memory all connections of this source may hold for unfinished lines, bytes
        /// (a seqhound option). Past it, an unfinished line over 1 MiB is dropped.
        max_buffered_bytes: Option<usize>,
    },
    /// Vector's native gRPC protocol (what Vector's `vector` sink sends).
    Vector {
        address: String,
        /// Protocol version: only "2" exists.
        version: Option<String>,
        tls: Option<Tls>,
    },
    Stdin {
        decoding: Option<Decoding>,
    },
    File {
        include: Vec<String>,
        decoding: Option<Decoding>,
    },
}

#[derive(Debug, Deserialize, Clone)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransformConfig {
    /// The detection transform.
    Detection {
        inputs: Vec<String>,
        /// Rule files or folders (default: the embedded seed rule).
        #[serde(default)]
        rules: Vec<String>,
        /// How long events wait for earlier ones (e.g. "5s").
        lateness: Option<String>,
        /// Maximum pending sequences per rule.
        state_cap: Option<usize>,
    },
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct Encoding {
    /// `json` (alert documents) or `text` (one line per detection).
    pub codec: String,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub timeout_secs: Option<u64>,
    pub retry_max_duration_secs: Option<u64>,
}

/// Alerts are sent as soon as a batch of events produced them (latency first); `batch`
/// only caps how many go in one request.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub max_events: Option<usize>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    Console {
        inputs: Vec<String>,
        encoding: Option<Encoding>,
    },
    File {
        inputs: Vec<String>,
        path: String,
        encoding: Option<Encoding>,
    },
    /// POST NDJSON (e.g. to Vector's `http_server` source).
    Http {
        inputs: Vec<String>,
        uri: String,
        auth: Option<Auth>,
        request: Option<Request>,
        batch: Option<Batch>,
        encoding: Option<Encoding>,
        compression: Option<String>,
    },
    /// NDJSON over TCP (e.g. to Vector's `socket` source); best effort, like Vector's.
    Socket {
        inputs: Vec<String>,
        address: String,
        mode: Option<String>,
        encoding: Option<Encoding>,
    },
    /// Vector's native gRPC protocol (to Vector's `vector` source).
    Vector {
        inputs: Vec<String>,
        address: String,
        version: Option<String>,
        /// gzip the requests.
        compression: Option<bool>,
        request: Option<Request>,
        batch: Option<Batch>,
    },
    /// The Parquet audit trail (see README, "Audit trail").
    ParquetAudit {
        inputs: Vec<String>,
        /// Directory of the three tables.
        path: String,
        /// `detections` (default), `candidates` or `all`.
        scope: Option<crate::sink::audit::AuditScope>,
        /// Rotate a file at this size (default 256 MiB).
        max_file_bytes: Option<u64>,
        /// Rotate a file at this age (default 60 s): at most this much is lost to a crash.
        max_file_age_secs: Option<u64>,
    },
    /// Elasticsearch `_bulk` with `create` and the deterministic alert ids.
    Elasticsearch {
        inputs: Vec<String>,
        endpoints: Vec<String>,
        /// Target index or alias (default `.alerts-security.alerts-default`).
        index: Option<String>,
        auth: Option<Auth>,
        request: Option<Request>,
        batch: Option<Batch>,
    },
}

impl Config {
    /// Parse and check the wiring.
    ///
    /// # Errors
    /// A message naming the offending key or component.
    pub fn parse(text: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), String> {
        if self.transforms.len() != 1 {
            return Err(format!("exactly one detection transform is supported, found {}", self.transforms.len()));
        }
        let (tname, TransformConfig::Detection { inputs, .. }) = self.transforms.iter().next().ok_or("no transform")?;
        for i in inputs {
            if !self.sources.contains_key(i) {
                return Err(format!("transforms.{tname}: input {i:?} is not a source"));
            }
        }
        if self.sinks.is_empty() {
            return Err("at least one sink is needed for alerts".into());
        }
        if self.sinks.values().filter(|s| matches!(s, SinkConfig::ParquetAudit { .. })).count() > 1 {
            return Err("at most one parquet_audit sink is supported".into());
        }
        for (name, s) in &self.sinks {
            let inputs = match s {
                SinkConfig::Console { inputs, .. }
                | SinkConfig::File { inputs, .. }
                | SinkConfig::Http { inputs, .. }
                | SinkConfig::Socket { inputs, .. }
                | SinkConfig::Vector { inputs, .. }
                | SinkConfig::ParquetAudit { inputs, .. }
                | SinkConfig::Elasticsearch { inputs, .. } => inputs,
            };
            match s {
                SinkConfig::Http { auth: Some(a), .. } | SinkConfig::Elasticsearch { auth: Some(a), .. } => {
                    a.header_value().map_err(|e| format!("sinks.{name}.{e}"))?;
                }
                SinkConfig::Socket { mode, .. } if mode.as_deref().unwrap_or("tcp") != "tcp" => {
                    return Err(format!("sinks.{name}.mode: only \"tcp\" is supported"));
                }
                SinkConfig::Vector { version, .. } if version.as_deref().unwrap_or("2") != "2" => {
                    return Err(format!("sinks.{name}.version: only \"2\" exists"));
                }
                _ => {}
            }
            if inputs.iter().any(|i| i != tname) || inputs.is_empty() {
                return Err(format!("sinks.{name}: inputs must be [{tname:?}]"));
            }
        }
        for (name, s) in &self.sources {
            let (decoding, framing, tls) = match s {
                SourceConfig::HttpServer { decoding, framing, tls, auth, .. } => {
                    if let Some(a) = auth {
                        a.bearer_token().map_err(|e| format!("sources.{name}.{e}"))?;
                    }
                    (decoding, framing, tls)
                }
                SourceConfig::Socket { decoding, framing, tls, mode, .. } => {
                    if mode.as_deref().unwrap_or("tcp") != "tcp" {
                        return Err(format!("sources.{name}.mode: only \"tcp\" is supported"));
                    }
                    (decoding, framing, tls)
                }
                SourceConfig::Vector { version, tls, .. } => {
                    if version.as_deref().unwrap_or("2") != "2" {
                        return Err(format!("sources.{name}.version: only \"2\" exists"));
                    }
                    (&None, &None, tls)
                }
                SourceConfig::Stdin { decoding } | SourceConfig::File { decoding, .. } => (decoding, &None, &None),
            };
            if let Some(d) = decoding {
                if d.codec != "json" && d.codec != "native_json" {
                    return Err(format!("sources.{name}.decoding.codec: {:?} is not supported (json, native_json)", d.codec));
                }
            }
            if let Some(f) = framing {
                if f.method != "newline_delimited" {
                    return Err(format!("sources.{name}.framing.method: only \"newline_delimited\" is supported"));
                }
            }
            if let Some(t) = tls.as_ref().filter(|t| t.enabled == Some(true)) {
                if t.crt_file.is_none() || t.key_file.is_none() {
                    return Err(format!("sources.{name}.tls: enabled = true needs crt_file and key_file"));
                }
                if t.ca_file.is_some() || t.verify_certificate == Some(true) {
                    return Err(format!("sources.{name}.tls: client certificate verification (ca_file, verify_certificate) is not supported"));
                }
            }
        }
        Ok(())
    }
}

/// `5s`, `500ms`, `1m`.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| format!("invalid duration {s:?} (e.g. 5s, 500ms)"))?;
    let f = match unit {
        "ms" => 1,
        "s" | "" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("invalid duration unit in {s:?} (ms, s, m, h)")),
    };
    n.checked_mul(f).ok_or_else(|| format!("duration {s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_parses() {
        let c = Config::parse(DEFAULT_CONFIG).unwrap();
        assert_eq!(c.sources.len(), 2);
        assert!(c.journal_fsync, "the crash journal is flushed to disk unless told otherwise");
        let relaxed = Config::parse(&format!("journal_fsync = false\n{DEFAULT_CONFIG}")).unwrap();
        assert!(!relaxed.journal_fsync);
    }

    #[test]
    fn unknown_keys_and_bad_wiring_are_errors() {
        let bad = DEFAULT_CONFIG.replace("address = \"127.0.0.1:9000\"", "address = \"127.0.0.1:9000\"\nadress = 1");
        assert!(Config::parse(&bad).unwrap_err().contains("adress"));
        let bad = DEFAULT_CONFIG.replace("inputs = [\"detect\"]", "inputs = [\"nope\"]");
        assert!(Config::parse(&bad).unwrap_err().contains("inputs"));
        let bad = DEFAULT_CONFIG.replace("type = \"console\"", "type = \"kafka\"");
        assert!(Config::parse(&bad).is_err());
        let tls = DEFAULT_CONFIG.replace("address = \"127.0.0.1:9000\"", "address = \"127.0.0.1:9000\"\ntls.enabled = true");
        assert!(Config::parse(&tls).unwrap_err().contains("crt_file"));
        let mtls = DEFAULT_CONFIG.replace(
            "address = \"127.0.0.1:9000\"",
            "address = \"127.0.0.1:9000\"\ntls.enabled = true\ntls.crt_file = \"a\"\ntls.key_file = \"b\"\ntls.ca_file = \"c\"",
        );
        assert!(Config::parse(&mtls).unwrap_err().contains("client certificate"));
        let basic_source = DEFAULT_CONFIG.replace("address = \"127.0.0.1:9000\"", "address = \"127.0.0.1:9000\"\nauth.strategy = \"basic\"\nauth.user = \"u\"");
        assert!(Config::parse(&basic_source).unwrap_err().contains("bearer"));
    }

    #[test]
    fn sink_auth_headers() {
        let basic = Auth { strategy: "basic".into(), token: None, user: Some("elastic".into()), password: Some("changeme".into()) };
        assert_eq!(basic.header_value().unwrap(), "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==");
        let bearer = Auth { strategy: "bearer".into(), token: Some("t".into()), user: None, password: None };
        assert_eq!(bearer.header_value().unwrap(), "Bearer t");
        let mixed = Auth { strategy: "bearer".into(), token: Some("t".into()), user: Some("u".into()), password: None };
        assert!(mixed.header_value().is_err());
    }
}
