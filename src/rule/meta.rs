//! Rule metadata from Elastic detection-rules TOML files (`[metadata]`, `[rule]`,
//! `[[rule.threat]]`). The alert sink copies these into `kibana.alert.rule.*`.

use serde_json::Value as Json;

/// What a rule file says about a rule, apart from how its query executes.
#[derive(Debug, Clone, Default)]
pub struct RuleMeta {
    /// File the rule came from (`<embedded>` for the built-in default).
    pub path: String,
    pub name: String,
    pub rule_id: String,
    pub description: String,
    pub author: Vec<String>,
    pub license: Option<String>,
    pub severity: String,
    pub risk_score: i64,
    pub index: Vec<String>,
    /// `from`, default `now-6m` (Kibana's default).
    pub from: String,
    /// `interval`, default `5m`.
    pub interval: String,
    /// `max_signals`, default 100.
    pub max_signals: i64,
    /// Rule version: `[rule] version` when the file carries it.
    pub version: Option<i64>,
    pub tags: Vec<String>,
    pub references: Vec<String>,
    pub false_positives: Vec<String>,
    pub note: Option<String>,
    pub setup: Option<String>,
    /// `[[rule.threat]]`, converted to JSON with Kibana's nesting.
    pub threat: Json,
    pub building_block_type: Option<String>,
    /// Field holding the event category (`event.category` unless overridden).
    pub event_category_override: Option<String>,
    /// Field ordering events (`@timestamp` unless set).
    pub timestamp_field: Option<String>,
    /// Tie-breaker field for equal timestamps.
    pub tiebreaker_field: Option<String>,
    /// Moves only Kibana's search time-range filter, never the sequence order.
    pub timestamp_override: Option<String>,
    /// `[metadata] maturity` (`production`, `deprecated`, ...).
    pub maturity: Option<String>,
    /// `[rule] type` (`eql` for the rules seqhound runs).
    pub rule_type: String,
    /// `[rule] language`.
    pub language: String,
    /// The EQL query text, verbatim.
    pub query: String,
    /// Line in the file where the query text starts (1-based), for error positions.
    pub query_line: usize,
    /// Column in the file where the query text starts (1-based).
    pub query_column: usize,
}
