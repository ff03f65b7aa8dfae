//! Loading Elastic detection-rules TOML files into [`RuleMeta`].
//!
//! seqhound runs the rules of elastic/detection-rules unchanged, so it reads their file
//! format: a `[metadata]` table, a `[rule]` table with the query and everything Kibana
//! copies into `kibana.alert.rule.*`, and `[[rule.threat]]` entries for the MITRE
//! mapping. Keys seqhound does not use (`[[transform.investigate]]`,
//! `[rule.investigation_fields]`, `min_stack_version`, ...) are ignored, so new upstream
//! keys never break loading.
//!
//! Besides the values, the loader records where the query text starts in the file
//! ([`RuleMeta::query_line`], [`RuleMeta::query_column`]), so a parse error at line `l`,
//! column `c` of the query can be reported at the right place in the file: file line =
//! `query_line + l - 1`; file column = `query_column + c - 1` on the query's first line,
//! `c` on later lines.
//!
//! Positions are 1-based; columns count characters (Unicode scalar values), not bytes.
//! For `'''` literal strings (all Elastic queries) the query text is the file text, so
//! the mapping is exact. In `"""`/`"` basic strings an escape (`\\`, `\"`, a
//! line-ending backslash) makes the query text shorter than its file text, and
//! positions after it drift by the difference; seqhound accepts that for hand-written
//! rules rather than carry a full offset map.
//!
//! Defaults for optional keys follow Kibana: `from` `now-6m`, `interval` `5m`,
//! `max_signals` 100, `language` `eql`. Files without `severity` get `low` and
//! files without `risk_score` get the score Elastic's rules pair with their
//! severity (low 21, medium 47, high 73, critical 99), so a hand-written test rule
//! does not have to carry alert metadata to load.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::meta::RuleMeta;

/// Why a rule file could not be loaded. Every variant names the file; positions are
/// 1-based line and column (characters) in that file.
#[derive(Debug, thiserror::Error)]
pub enum RuleFileError {
    /// The text is not TOML, or a known key has the wrong type (`risk_score = "47"`).
    #[error("{path}{}: {message}", at(.position))]
    Toml {
        path: String,
        /// Line and column, when the TOML parser reports a span.
        position: Option<(usize, usize)>,
        message: String,
    },
    /// A key every rule needs is absent (`[rule]`, `name`, `rule_id`, `query`, `type`).
    #[error("{path}: missing required key `{key}`")]
    MissingKey { path: String, key: &'static str },
    /// A key is present with a value seqhound cannot use (an unknown severity, a risk
    /// score outside 0..=100, an empty query).
    #[error("{path}{}: invalid `{key}`: {message}", at(.position))]
    InvalidValue { path: String, key: &'static str, position: Option<(usize, usize)>, message: String },
}

impl RuleFileError {
    /// The file the error is about.
    pub fn path(&self) -> &str {
        match self {
            RuleFileError::Toml { path, .. } | RuleFileError::MissingKey { path, .. } | RuleFileError::InvalidValue { path, .. } => path,
        }
    }

    /// Line and column (1-based) in the file, when known.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            RuleFileError::Toml { position, .. } | RuleFileError::InvalidValue { position, .. } => *position,
            RuleFileError::MissingKey { .. } => None,
        }
    }
}

fn at(position: &Option<(usize, usize)>) -> String {
    match position {
        Some((line, column)) => format!(":{line}:{column}"),
        None => String::new(),
    }
}

/// Parses the text of an Elastic detection-rules TOML file.
///
/// `path` is only used in error messages and copied into [`RuleMeta::path`].
///
/// # Example
/// ```
/// use seqhound::rule::file::parse_rule_file;
/// let text = "[rule]\nname = \"x\"\nrule_id = \"1\"\ntype = \"eql\"\nquery = '''\nprocess where true\n'''\n";
/// let meta = parse_rule_file("x.toml", text).unwrap();
/// assert_eq!(meta.query, "process where true\n");
/// assert_eq!((meta.query_line, meta.query_column), (6, 1));
/// ```
///
/// # Errors
/// [`RuleFileError::Toml`] for invalid TOML or a known key of the wrong type,
/// [`RuleFileError::MissingKey`] when `[rule]`, `name`, `rule_id`, `query` or `type` is
/// absent, [`RuleFileError::InvalidValue`] for an unknown severity, a risk score
/// outside 0..=100 or a blank query.
pub fn parse_rule_file(path: &str, text: &str) -> Result<RuleMeta, RuleFileError> {
    let file: RawFile = toml::from_str(text).map_err(|err| RuleFileError::Toml {
        path: path.to_owned(),
        position: err.span().map(|span| line_column(text, span.start)),
        message: err.message().trim_end().to_owned(),
    })?;
    let rule = file.rule.ok_or_else(|| missing(path, "[rule]"))?;
    let name = rule.name.ok_or_else(|| missing(path, "rule.name"))?;
    let rule_id = rule.rule_id.ok_or_else(|| missing(path, "rule.rule_id"))?;
    let rule_type = rule.rule_type.ok_or_else(|| missing(path, "rule.type"))?;
    let query = rule.query.ok_or_else(|| missing(path, "rule.query"))?;

    let query_start = query_content_start(text, query.span());
    let (query_line, query_column) = line_column(text, query_start);
    let query = query.into_inner();
    if query.trim().is_empty() {
        return Err(RuleFileError::InvalidValue {
            path: path.to_owned(),
            key: "rule.query",
            position: Some((query_line, query_column)),
            message: "the query is empty".to_owned(),
        });
    }

    let severity = match rule.severity {
        Some(severity) => {
            let span = severity.span();
            let value = severity.into_inner();
            if !SEVERITIES.iter().any(|(known, _)| *known == value) {
                return Err(RuleFileError::InvalidValue {
                    path: path.to_owned(),
                    key: "rule.severity",
                    position: Some(line_column(text, span.start)),
                    message: format!("`{value}` is not one of low, medium, high, critical"),
                });
            }
            value
        }
        None => "low".to_owned(),
    };
    let risk_score = match rule.risk_score {
        Some(score) => {
            let span = score.span();
            let value = score.into_inner();
            if !(0..=100).contains(&value) {
                return Err(RuleFileError::InvalidValue {
                    path: path.to_owned(),
                    key: "rule.risk_score",
                    position: Some(line_column(text, span.start)),
                    message: format!("{value} is outside 0..=100"),
                });
            }
            value
        }
        None => SEVERITIES.iter().find(|(known, _)| *known == severity).map_or(21, |(_, score)| *score),
    };

    // Serializing the typed threat entries gives Kibana's key order (framework,
    // tactic, technique; id, name, reference, subtechnique) whatever order the file
    // uses for its tables.
    let threat = serde_json::to_value(rule.threat.unwrap_or_default()).map_err(|err| RuleFileError::InvalidValue {
        path: path.to_owned(),
        key: "rule.threat",
        position: None,
        message: err.to_string(),
    })?;

    Ok(RuleMeta {
        path: path.to_owned(),
        name,
        rule_id,
        description: rule.description.unwrap_or_default(),
        author: rule.author.unwrap_or_default(),
        license: rule.license,
        severity,
        risk_score,
        index: rule.index.unwrap_or_default(),
        from: rule.from.unwrap_or_else(|| "now-6m".to_owned()),
        interval: rule.interval.unwrap_or_else(|| "5m".to_owned()),
        max_signals: rule.max_signals.unwrap_or(100),
        version: rule.version,
        tags: rule.tags.unwrap_or_default(),
        references: rule.references.unwrap_or_default(),
        false_positives: rule.false_positives.unwrap_or_default(),
        note: rule.note,
        setup: rule.setup,
        threat,
        building_block_type: rule.building_block_type,
        event_category_override: rule.event_category_override,
        timestamp_field: rule.timestamp_field,
        tiebreaker_field: rule.tiebreaker_field,
        timestamp_override: rule.timestamp_override,
        maturity: file.metadata.and_then(|metadata| metadata.maturity),
        rule_type,
        language: rule.language.unwrap_or_else(|| "eql".to_owned()),
        query,
        query_line,
        query_column,
    })
}

/// Severities Kibana accepts, with the risk score Elastic's rules pair with each.
const SEVERITIES: [(&str, i64); 4] = [("low", 21), ("medium", 47), ("high", 73), ("critical", 99)];

fn missing(path: &str, key: &'static str) -> RuleFileError {
    RuleFileError::MissingKey { path: path.to_owned(), key }
}

/// Byte offset where the string value at `span` starts its content: after the opening
/// delimiter and, for multi-line strings, after the newline TOML trims right after it.
fn query_content_start(text: &str, span: Range<usize>) -> usize {
    let start = span.start.min(text.len());
    let raw = text.get(start..span.end.min(text.len())).unwrap_or("");
    let content = if raw.starts_with("'''") || raw.starts_with("\"\"\"") {
        let after = &raw[3..];
        3 + if after.starts_with("\r\n") {
            2
        } else if after.starts_with('\n') {
            1
        } else {
            0
        }
    } else if raw.starts_with('\'') || raw.starts_with('"') {
        1
    } else {
        0
    };
    start + content
}

/// 1-based line and column (in characters) of byte offset `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The parts of a rule file seqhound reads; serde skips every other key.
#[derive(Deserialize)]
struct RawFile {
    metadata: Option<RawMetadata>,
    rule: Option<RawRule>,
}

#[derive(Deserialize)]
struct RawMetadata {
    maturity: Option<String>,
}

#[derive(Deserialize)]
struct RawRule {
    name: Option<String>,
    rule_id: Option<String>,
    description: Option<String>,
    author: Option<Vec<String>>,
    license: Option<String>,
    severity: Option<Spanned<String>>,
    risk_score: Option<Spanned<i64>>,
    index: Option<Vec<String>>,
    from: Option<String>,
    interval: Option<String>,
    max_signals: Option<i64>,
    version: Option<i64>,
    tags: Option<Vec<String>>,
    references: Option<Vec<String>>,
    false_positives: Option<Vec<String>>,
    note: Option<String>,
    setup: Option<String>,
    threat: Option<Vec<Threat>>,
    building_block_type: Option<String>,
    event_category_override: Option<String>,
    timestamp_field: Option<String>,
    tiebreaker_field: Option<String>,
    timestamp_override: Option<String>,
    #[serde(rename = "type")]
    rule_type: Option<String>,
    language: Option<String>,
    query: Option<Spanned<String>>,
}

/// One `[[rule.threat]]` entry, in the shape Kibana stores in `kibana.alert.rule.threat`.
#[derive(Deserialize, Serialize)]
struct Threat {
    framework: String,
    tactic: ThreatItem,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    technique: Option<Vec<Technique>>,
}

#[derive(Deserialize, Serialize)]
struct ThreatItem {
    id: String,
    name: String,
    reference: String,
}

#[derive(Deserialize, Serialize)]
struct Technique {
    id: String,
    name: String,
    reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subtechnique: Option<Vec<ThreatItem>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SEED: &str = include_str!("../../transforms/macos_installer_package_spawns_network_event.toml");

    const SEED_QUERY: &str = r#"sequence by host.id with maxspan=15s
[process where host.os.type == "macos" and event.type == "start" and event.action == "exec" and
  process.parent.name : ("installer", "package_script_service") and
  process.name : ("bash", "sh", "zsh", "python", "osascript", "tclsh*")] by process.entity_id
[network where host.os.type == "macos" and event.type == "start" and
  process.name : ("curl", "osascript", "wget", "python", "java", "ruby", "node")] by process.parent.entity_id
"#;

    fn minimal(query_part: &str) -> String {
        format!("[rule]\nname = \"n\"\nrule_id = \"r\"\ntype = \"eql\"\n{query_part}")
    }

    #[test]
    fn seed_rule_parses() {
        let meta = parse_rule_file("seed.toml", SEED).unwrap();
        assert_eq!(meta.query, SEED_QUERY);
        assert_eq!(meta.name, "MacOS Installer Package Spawns Network Event");
        assert_eq!(meta.rule_id, "99239e7d-b0d4-46e3-8609-acafcf99f68c");
        assert_eq!(meta.version, Some(108));
        assert_eq!(meta.severity, "medium");
        assert_eq!(meta.risk_score, 47);
        assert_eq!(meta.from, "now-9m");
        assert_eq!(meta.interval, "5m");
        assert_eq!(meta.max_signals, 100);
        assert_eq!(meta.index, ["logs-endpoint.events.*"]);
        assert_eq!(meta.timestamp_override.as_deref(), Some("event.ingested"));
        assert_eq!(meta.maturity.as_deref(), Some("production"));
        assert_eq!(meta.rule_type, "eql");
        assert_eq!(meta.language, "eql");
        assert_eq!(meta.author, ["Elastic"]);
        assert_eq!(meta.license.as_deref(), Some("Elastic License v2"));
        assert!(meta.note.as_deref().is_some_and(|note| note.contains("Jamf")));
        assert!(meta.tags.iter().any(|tag| tag == "OS: macOS"));
        assert_eq!(meta.references.len(), 2);
        assert_eq!(meta.building_block_type, None);

        // The query's first line sits on the line after `query = '''`.
        let opening = SEED.lines().position(|line| line.starts_with("query = '''")).unwrap();
        assert_eq!((meta.query_line, meta.query_column), (opening + 2, 1));
        let first_line = SEED.lines().nth(meta.query_line - 1).unwrap();
        assert_eq!(first_line, "sequence by host.id with maxspan=15s");

        assert_eq!(
            meta.threat,
            json!([
                {
                    "framework": "MITRE ATT&CK",
                    "tactic": {"id": "TA0002", "name": "Execution",
                               "reference": "https://attack.mitre.org/tactics/TA0002/"},
                    "technique": [{
                        "id": "T1059", "name": "Command and Scripting Interpreter",
                        "reference": "https://attack.mitre.org/techniques/T1059/",
                        "subtechnique": [{"id": "T1059.007", "name": "JavaScript",
                                          "reference": "https://attack.mitre.org/techniques/T1059/007/"}]
                    }]
                },
                {
                    "framework": "MITRE ATT&CK",
                    "tactic": {"id": "TA0011", "name": "Command and Control",
                               "reference": "https://attack.mitre.org/tactics/TA0011/"},
                    "technique": [{
                        "id": "T1071", "name": "Application Layer Protocol",
                        "reference": "https://attack.mitre.org/techniques/T1071/",
                        "subtechnique": [{"id": "T1071.001", "name": "Web Protocols",
                                          "reference": "https://attack.mitre.org/techniques/T1071/001/"}]
                    }]
                }
            ])
        );
        // Key order as Kibana stores it, whatever the table order in the file.
        let text = serde_json::to_string(&meta.threat[0]).unwrap();
        assert!(text.starts_with(r#"{"framework":"MITRE ATT&CK","tactic":{"id":"TA0002""#));
    }

    #[test]
    fn query_position_multiline_literal() {
        let text = minimal("query = '''\nprocess where true\n'''\n");
        let meta = parse_rule_file("m.toml", &text).unwrap();
        assert_eq!(meta.query, "process where true\n");
        assert_eq!((meta.query_line, meta.query_column), (6, 1));
    }

    #[test]
    fn query_position_multiline_crlf_and_same_line() {
        let text = minimal("query = '''\r\nprocess where true\r\n'''\r\n");
        let meta = parse_rule_file("m.toml", &text).unwrap();
        assert_eq!((meta.query_line, meta.query_column), (6, 1));

        let text = minimal("query = \"\"\"process where true\"\"\"\n");
        let meta = parse_rule_file("m.toml", &text).unwrap();
        assert_eq!(meta.query, "process where true");
        assert_eq!((meta.query_line, meta.query_column), (5, 12));
    }

    #[test]
    fn query_position_single_line_basic() {
        let text = minimal("query = \"process where true\"\n");
        let meta = parse_rule_file("s.toml", &text).unwrap();
        assert_eq!(meta.query, "process where true");
        assert_eq!((meta.query_line, meta.query_column), (5, 10));
        // Columns count characters, not bytes.
        let text = "rule = { description = \"üü\", name = \"n\", rule_id = \"r\", type = \"eql\", query = 'x' }\n";
        let meta = parse_rule_file("s.toml", text).unwrap();
        // Two 2-byte characters before the quote; content starts after it; 1-based.
        let expected = text.find("'x'").unwrap() - 2 + 1 + 1;
        assert_eq!((meta.query_line, meta.query_column), (1, expected));
    }

    #[test]
    fn defaults() {
        let meta = parse_rule_file("d.toml", &minimal("query = 'any where true'")).unwrap();
        assert_eq!(meta.path, "d.toml");
        assert_eq!(meta.from, "now-6m");
        assert_eq!(meta.interval, "5m");
        assert_eq!(meta.max_signals, 100);
        assert_eq!(meta.version, None);
        assert_eq!(meta.language, "eql");
        assert_eq!(meta.severity, "low");
        assert_eq!(meta.risk_score, 21);
        assert_eq!(meta.threat, json!([]));
        assert_eq!(meta.maturity, None);
    }

    #[test]
    fn optional_eql_keys() {
        let text = minimal(
            "query = 'any where true'\nbuilding_block_type = \"default\"\n\
             event_category_override = \"event.type\"\ntimestamp_field = \"event.created\"\n\
             tiebreaker_field = \"event.sequence\"\nseverity = \"high\"\nmax_signals = 5\n\
             interval = \"60m\"\n[metadata]\nmaturity = \"deprecated\"\n",
        );
        let meta = parse_rule_file("o.toml", &text).unwrap();
        assert_eq!(meta.building_block_type.as_deref(), Some("default"));
        assert_eq!(meta.event_category_override.as_deref(), Some("event.type"));
        assert_eq!(meta.timestamp_field.as_deref(), Some("event.created"));
        assert_eq!(meta.tiebreaker_field.as_deref(), Some("event.sequence"));
        assert_eq!(meta.risk_score, 73);
        assert_eq!(meta.max_signals, 5);
        assert_eq!(meta.interval, "60m");
        assert_eq!(meta.maturity.as_deref(), Some("deprecated"));
    }

    #[test]
    fn missing_keys_are_named() {
        let err = parse_rule_file("a.toml", "[metadata]\nmaturity = \"production\"\n").unwrap_err();
        assert!(matches!(err, RuleFileError::MissingKey { key: "[rule]", .. }), "{err}");
        assert_eq!(err.to_string(), "a.toml: missing required key `[rule]`");

        let text = "[rule]\nrule_id = \"r\"\ntype = \"eql\"\nquery = 'x'\n";
        let err = parse_rule_file("a.toml", text).unwrap_err();
        assert!(matches!(err, RuleFileError::MissingKey { key: "rule.name", .. }));
        let text = "[rule]\nname = \"n\"\ntype = \"eql\"\nquery = 'x'\n";
        let err = parse_rule_file("a.toml", text).unwrap_err();
        assert!(matches!(err, RuleFileError::MissingKey { key: "rule.rule_id", .. }));
        let text = "[rule]\nname = \"n\"\nrule_id = \"r\"\nquery = 'x'\n";
        let err = parse_rule_file("a.toml", text).unwrap_err();
        assert!(matches!(err, RuleFileError::MissingKey { key: "rule.type", .. }));
        let err = parse_rule_file("a.toml", &minimal("")).unwrap_err();
        assert!(matches!(err, RuleFileError::MissingKey { key: "rule.query", .. }));
        assert_eq!(err.path(), "a.toml");
    }

    #[test]
    fn syntax_and_type_errors_carry_positions() {
        let err = parse_rule_file("b.toml", "[rule]\nname = \"n\nrule_id = 1\n").unwrap_err();
        assert!(matches!(err, RuleFileError::Toml { .. }));
        assert_eq!(err.position().map(|(line, _)| line), Some(2), "{err}");
        assert!(err.to_string().starts_with("b.toml:2:"), "{err}");

        let err = parse_rule_file("c.toml", &minimal("query = 'x'\nrisk_score = \"47\"\n")).unwrap_err();
        assert!(matches!(err, RuleFileError::Toml { .. }));
        assert_eq!(err.position(), Some((6, 14)), "{err}");

        let err = parse_rule_file("c.toml", &minimal("query = 'x'\nrisk_score = 470\n")).unwrap_err();
        assert!(matches!(err, RuleFileError::InvalidValue { key: "rule.risk_score", .. }));
        assert_eq!(err.to_string(), "c.toml:6:14: invalid `rule.risk_score`: 470 is outside 0..=100");

        let err = parse_rule_file("c.toml", &minimal("query = 'x'\nseverity = \"urgent\"\n")).unwrap_err();
        assert!(matches!(err, RuleFileError::InvalidValue { key: "rule.severity", .. }));
        assert_eq!(err.position(), Some((6, 12)));

        let err = parse_rule_file("c.toml", &minimal("query = '''\n  \n'''\n")).unwrap_err();
        assert!(matches!(err, RuleFileError::InvalidValue { key: "rule.query", .. }));
    }

    #[test]
    fn threat_tables_in_any_order() {
        let text = minimal(
            "query = 'x'\n[[rule.threat]]\nframework = \"MITRE ATT&CK\"\n\
             [[rule.threat.technique]]\nid = \"T1\"\nname = \"t\"\nreference = \"u\"\n\
             [rule.threat.tactic]\nid = \"TA1\"\nname = \"a\"\nreference = \"v\"\n\
             [[rule.threat]]\nframework = \"MITRE ATT&CK\"\n\
             [rule.threat.tactic]\nid = \"TA2\"\nname = \"b\"\nreference = \"w\"\n",
        );
        let meta = parse_rule_file("t.toml", &text).unwrap();
        assert_eq!(
            serde_json::to_string(&meta.threat).unwrap(),
            r#"[{"framework":"MITRE ATT&CK","tactic":{"id":"TA1","name":"a","reference":"v"},"technique":[{"id":"T1","name":"t","reference":"u"}]},{"framework":"MITRE ATT&CK","tactic":{"id":"TA2","name":"b","reference":"w"}}]"#
        );
    }

    /// Every rule file of the elastic/detection-rules corpus loads, and its recorded
    /// query position points at the query text.
    #[test]
    fn detection_rules_corpus_parses() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora/detection-rules");
        if !root.is_dir() {
            assert!(std::env::var_os("SEQHOUND_REQUIRE_SHARED").is_none(), "SEQHOUND_REQUIRE_SHARED is set but {} is missing", root.display());
            println!("skipped: detection-rules corpus not found at {}", root.display());
            return;
        }
        let mut files = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|ext| ext == "toml") {
                    files.push(path);
                }
            }
        }
        assert!(files.len() >= 1000, "only {} rule files found", files.len());
        let mut failures = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let name = file.display().to_string();
            match parse_rule_file(&name, &text) {
                Ok(meta) => {
                    let line = text.lines().nth(meta.query_line - 1).unwrap_or("");
                    let start: String = line.chars().skip(meta.query_column - 1).collect();
                    let first = meta.query.lines().next().unwrap_or("");
                    if start != first || meta.name.is_empty() || meta.severity.is_empty() {
                        failures.push(format!("{name}: query position or fields wrong"));
                    }
                }
                Err(err) => failures.push(err.to_string()),
            }
        }
        assert!(failures.is_empty(), "{} of {} files failed:\n{}", failures.len(), files.len(), failures.join("\n"));
    }
}
