//! Elastic Security alert documents for seqhound detections.
//!
//! seqhound's alerts are written to `.alerts-security.alerts-<space>` next to the ones
//! Kibana's detection engine writes, so they must look the same: the source event's
//! `_source`, flat dotted `kibana.*` keys, `"event.kind": "signal"` and
//! `kibana.alert.original_event.*` (see `docs/ALERTS.md`). An event query gives one
//! alert per event; a sequence gives one *building-block* alert per event plus a
//! *shell* alert that ties them together, exactly as Kibana's
//! `build_alert_group_from_sequence.ts` does.
//!
//! # Identity
//! Alert ids are Kibana's deterministic SHA-256 formulas (ALERTS.md §5), computed from
//! each event's id and index as [`event_identity`] derives them, so writing the same
//! detection twice yields the same `_id` and a bulk `create` rejects the copy with 409.
//! * Event id: the event's `event.id` (nested or dotted key; Endpoint always sets it,
//!   and the pipeline indexes events with `_id = event.id`). Without one, seqhound
//!   uses a content id, [`content_event_id`]: `"sha256-"` followed by the first 32 hex
//!   digits (128 bits) of SHA-256 over the raw JSON line with leading and trailing
//!   ASCII whitespace removed. It is stable for the same bytes, but nothing in
//!   Elasticsearch carries it unless the pipeline also sets it as `_id`.
//! * Event index: the destination data stream
//!   `<data_stream.type>-<data_stream.dataset>-<data_stream.namespace>`; a missing part
//!   defaults to `logs`, then `event.dataset` (or `generic`, Elasticsearch's default
//!   dataset), then `default`.
//! * Rule uuid: [`AlertContext::rule_uuid`] when configured (Kibana's saved-object id of
//!   the installed rule); otherwise [`fallback_rule_uuid`], a name-based UUID: the first
//!   16 bytes of SHA-256(`rule_id`) with the RFC 9562 version 8 ("custom") and variant
//!   bits set, formatted 8-4-4-4-12.
//!
//! # Where seqhound differs from Kibana on purpose
//! * `kibana.alert.reason` renders numeric ports (`destination 93.184.216.34:443,`) as
//!   ALERTS.md §2 describes; Kibana's formatter drops values without a `length`, so
//!   ports read from a `_source` number are left out there.
//! * The shell merge compares array elements by value; Kibana's `lodash.intersection`
//!   compares objects by reference, so two equal objects inside arrays of different
//!   events never survive there.
//! * Kibana drops source fields whose type clashes with the alerts mapping; seqhound
//!   copies the source as it is.
//! * `kibana.alert.rule.created_at`/`updated_at` are the write time and
//!   `created_by`/`updated_by` are `seqhound`: there is no Kibana rule object to read.
//!
//! The builder is stateless: the same inputs and `now` always give the same documents.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::rule::meta::RuleMeta;

/// A JSON object as written to Elasticsearch (key order preserved).
pub type Document = Map<String, Value>;

/// Where and for whom alerts are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertContext {
    /// Kibana space, `default` unless configured; part of the index name and of ids.
    pub space: String,
    /// Kibana's saved-object id of the installed rule. `None`: [`fallback_rule_uuid`].
    pub rule_uuid: Option<String>,
    /// Value of `kibana.version`, e.g. `9.0.1`.
    pub kibana_version: String,
    /// `kibana.alert.rule.execution.uuid`: one id per seqhound run.
    pub execution_uuid: String,
    /// Kibana's public base URL; `kibana.alert.url` is only written when set.
    pub public_base_url: Option<String>,
}

impl AlertContext {
    /// Space `default`, Kibana `9.0.1`, no rule uuid override, no base URL.
    pub fn new(execution_uuid: impl Into<String>) -> Self {
        AlertContext {
            space: "default".to_owned(),
            rule_uuid: None,
            kibana_version: "9.0.1".to_owned(),
            execution_uuid: execution_uuid.into(),
            public_base_url: None,
        }
    }

    /// The rule uuid used in alerts and ids: the configured one, else
    /// [`fallback_rule_uuid`] of the rule's `rule_id`.
    pub fn rule_uuid_for(&self, meta: &RuleMeta) -> String {
        match &self.rule_uuid {
            Some(uuid) => uuid.clone(),
            None => fallback_rule_uuid(&meta.rule_id),
        }
    }
}

/// A stable UUID for a rule that has no Kibana saved-object id: the first 16 bytes of
/// SHA-256(`rule_id`), version nibble 8 and variant bits `10` (RFC 9562 UUIDv8),
/// lowercase 8-4-4-4-12.
///
/// # Example
/// ```
/// let uuid = seqhound::sink::alert::fallback_rule_uuid("99239e7d-b0d4-46e3-8609-acafcf99f68c");
/// assert_eq!(uuid.len(), 36);
/// assert_eq!(&uuid[14..15], "8");
/// ```
pub fn fallback_rule_uuid(rule_id: &str) -> String {
    let digest = Sha256::digest(rule_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// One event of a detection, as the pipeline received it.
#[derive(Debug, Clone, Copy)]
pub struct SourceEvent<'a> {
    /// The event's JSON line.
    pub raw: &'a [u8],
    /// Sequence stage (0-based) the event matched; 0 for event queries.
    pub stage: usize,
}

/// Why alerts could not be built for a detection. All are data faults: the detection
/// is dropped and counted, the stream goes on.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("a detection without events has no alert")]
    NoEvents,
    #[error("an event-query detection carries exactly one event, this one carries {0}")]
    NotSingleEvent(usize),
    #[error("event {position} of the detection is not valid JSON: {source}")]
    InvalidJson {
        position: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("event {position} of the detection is not a JSON object")]
    NotAnObject { position: usize },
}

/// Builds the alert documents for one detection.
///
/// For a sequence (`is_sequence`): one building-block alert per event, in sequence
/// order, followed by the shell alert. For an event query: one alert. Each document's
/// `kibana.alert.uuid` is its Elasticsearch `_id`. `now` is the alert time
/// (`@timestamp`, `kibana.alert.start`, ...).
///
/// # Errors
/// [`AlertError::NoEvents`] for an empty detection, [`AlertError::NotSingleEvent`] for
/// an event query with more than one event, [`AlertError::InvalidJson`] /
/// [`AlertError::NotAnObject`] when an event line is not a JSON object.
pub fn build_alerts(meta: &RuleMeta, is_sequence: bool, events: &[SourceEvent], ctx: &AlertContext, now: DateTime<Utc>) -> Result<Vec<Document>, AlertError> {
    if events.is_empty() {
        return Err(AlertError::NoEvents);
    }
    if !is_sequence && events.len() != 1 {
        return Err(AlertError::NotSingleEvent(events.len()));
    }
    let mut sources = Vec::with_capacity(events.len());
    let mut identities = Vec::with_capacity(events.len());
    for (position, event) in events.iter().enumerate() {
        let doc: Value = serde_json::from_slice(event.raw).map_err(|source| AlertError::InvalidJson { position, source })?;
        identities.push(event_identity(&doc, event.raw));
        match doc {
            Value::Object(map) => sources.push(map),
            _ => return Err(AlertError::NotAnObject { position }),
        }
    }

    let shared = Shared::new(meta, ctx, now);

    if !is_sequence {
        let (id, index) = &identities[0];
        let alert_id = single_alert_id(index, id, &ctx.space, &shared.rule_uuid);
        let ancestors = vec![event_ancestor(id, index)];
        return Ok(vec![shared.event_alert(&sources[0], ancestors, &alert_id)]);
    }

    let bb_ids = building_block_ids(&identities, &shared.rule_uuid);
    let shell_id = shell_alert_id(&identities, &bb_ids, &shared.rule_uuid);

    let mut blocks: Vec<Document> = sources
        .iter()
        .zip(&identities)
        .zip(&bb_ids)
        .map(|((source, (id, index)), bb_id)| shared.event_alert(source, vec![event_ancestor(id, index)], bb_id))
        .collect();

    // The shell's body is what all building blocks agree on, taken before the
    // group fields are added (Kibana merges the blocks before it knows the group id).
    let merged = merge_documents(&blocks);
    let mut ancestors = Vec::with_capacity(2 * blocks.len());
    for ((id, index), bb_id) in identities.iter().zip(&bb_ids) {
        ancestors.push(event_ancestor(id, index));
        ancestors.push(json!({
            "id": bb_id, "type": "signal", "index": "", "depth": 1, "rule": shared.rule_uuid,
        }));
    }
    let shell = shared.shell_alert(merged, ancestors, &shell_id);

    for (group_index, block) in blocks.iter_mut().enumerate() {
        block.insert("kibana.alert.building_block_type".into(), json!("default"));
        block.insert("kibana.alert.group.id".into(), json!(shell_id));
        block.insert("kibana.alert.group.index".into(), json!(group_index));
    }
    blocks.push(shell);
    Ok(blocks)
}

/// The alert ids [`build_alerts`] gives a detection, without building the documents:
/// the alert id (the shell alert of a sequence, the alert of an event query) and, per
/// event, its building-block alert id (sequences only).
///
/// # Errors
/// As [`build_alerts`].
pub fn alert_ids(meta: &RuleMeta, is_sequence: bool, events: &[SourceEvent], ctx: &AlertContext) -> Result<(String, Vec<Option<String>>), AlertError> {
    if events.is_empty() {
        return Err(AlertError::NoEvents);
    }
    if !is_sequence && events.len() != 1 {
        return Err(AlertError::NotSingleEvent(events.len()));
    }
    let mut identities = Vec::with_capacity(events.len());
    for (position, event) in events.iter().enumerate() {
        let doc: Value = serde_json::from_slice(event.raw).map_err(|source| AlertError::InvalidJson { position, source })?;
        if !doc.is_object() {
            return Err(AlertError::NotAnObject { position });
        }
        identities.push(event_identity(&doc, event.raw));
    }
    let rule_uuid = ctx.rule_uuid_for(meta);
    if !is_sequence {
        let (id, index) = &identities[0];
        return Ok((single_alert_id(index, id, &ctx.space, &rule_uuid), vec![None]));
    }
    let bb_ids = building_block_ids(&identities, &rule_uuid);
    let shell = shell_alert_id(&identities, &bb_ids, &rule_uuid);
    Ok((shell, bb_ids.into_iter().map(Some).collect()))
}

/// The id and index an event is known by in ancestors and alert ids (module docs).
///
/// # Example
/// ```
/// use serde_json::json;
/// use seqhound::sink::alert::event_identity;
/// let doc = json!({"event": {"id": "MYfZG00oEwD2/fqT+++++CLz", "dataset": "endpoint.events.process"}});
/// let (id, index) = event_identity(&doc, b"");
/// assert_eq!(id, "MYfZG00oEwD2/fqT+++++CLz");
/// assert_eq!(index, "logs-endpoint.events.process-default");
/// ```
pub fn event_identity(doc: &Value, raw: &[u8]) -> (String, String) {
    let map = doc.as_object();
    let text = |path: &str| -> Option<String> {
        match map.and_then(|map| lookup(map, path))? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let id = text("event.id").unwrap_or_else(|| content_event_id(raw));
    let kind = text("data_stream.type").unwrap_or_else(|| "logs".to_owned());
    let dataset = text("data_stream.dataset").or_else(|| text("event.dataset")).unwrap_or_else(|| "generic".to_owned());
    let namespace = text("data_stream.namespace").unwrap_or_else(|| "default".to_owned());
    (id, format!("{kind}-{dataset}-{namespace}"))
}

/// The id of an event without `event.id`: `sha256-` + the first 32 hex digits of
/// SHA-256 over the line with surrounding ASCII whitespace removed.
pub fn content_event_id(raw: &[u8]) -> String {
    let digest = Sha256::digest(raw.trim_ascii());
    let hex = hex::encode(digest);
    format!("sha256-{}", &hex[..32])
}

/// `_id` of an event-query alert: `sha256(index + id + "undefined" + space + ":" +
/// rule_uuid)` (EQL hits carry no `_version`; Kibana stringifies the missing value).
pub fn single_alert_id(event_index: &str, event_id: &str, space: &str, rule_uuid: &str) -> String {
    sha256_hex([event_index, event_id, "undefined", space, ":", rule_uuid])
}

/// `_id`s of the building blocks of a sequence whose events are `(id, index)`:
/// `sha256(base + i)` with `base = Σ (id + index + rule_uuid)`.
pub fn building_block_ids(events: &[(String, String)], rule_uuid: &str) -> Vec<String> {
    let mut base = Sha256::new();
    for (id, index) in events {
        base.update(id.as_bytes());
        base.update(index.as_bytes());
        base.update(rule_uuid.as_bytes());
    }
    (0..events.len())
        .map(|i| {
            let mut hasher = base.clone();
            hasher.update(i.to_string().as_bytes());
            hex::encode(hasher.finalize())
        })
        .collect()
}

/// `_id` of the shell alert: SHA-256 over its ancestors `[event 0, bb 0, event 1, bb 1,
/// ...]`, each as `id + index` (a building block's index is empty), then `rule_uuid`.
pub fn shell_alert_id(events: &[(String, String)], bb_ids: &[String], rule_uuid: &str) -> String {
    let mut hasher = Sha256::new();
    for ((id, index), bb_id) in events.iter().zip(bb_ids) {
        hasher.update(id.as_bytes());
        hasher.update(index.as_bytes());
        hasher.update(bb_id.as_bytes());
    }
    hasher.update(rule_uuid.as_bytes());
    hex::encode(hasher.finalize())
}

/// `kibana.alert.reason` for a document, in Kibana's wording:
/// `<category> event with process <p>, parent process <pp>, file <f>, source
/// <ip>:<port>, destination <ip>:<port>, by <user> on <host> created <severity> alert
/// <rule>.` Absent parts are left out (with Kibana's punctuation quirks: an address
/// without port gets no comma); arrays are joined with `, `; `-` counts as absent.
pub fn alert_reason(doc: &Document, severity: &str, rule_name: &str) -> String {
    let field = |path: &str| lookup(doc, path).and_then(reason_value);
    let category = field("event.category");
    let process = field("process.name");
    let parent = field("process.parent.name");
    let file = field("file.name");
    let source_ip = field("source.ip");
    let source_port = field("source.port");
    let destination_ip = field("destination.ip");
    let destination_port = field("destination.port");
    let user = field("user.name");
    let host = field("host.name");
    let of_interest = [&process, &parent, &file, &source_ip, &source_port, &destination_ip, &destination_port].iter().any(|value| value.is_some());

    let mut out = String::new();
    if let Some(category) = category {
        out.push_str(&category);
        out.push(' ');
    }
    out.push_str("event");
    if of_interest {
        out.push_str(" with");
    }
    if let Some(process) = process {
        out.push_str(&format!(" process {process},"));
    }
    if let Some(parent) = parent {
        out.push_str(&format!(" parent process {parent},"));
    }
    if let Some(file) = file {
        out.push_str(&format!(" file {file},"));
    }
    for (label, address, port) in [("source", source_ip, source_port), ("destination", destination_ip, destination_port)] {
        if let Some(address) = address {
            out.push_str(&format!(" {label} {address}"));
        }
        if let Some(port) = port {
            out.push_str(&format!(":{port},"));
        }
    }
    if let Some(user) = user {
        out.push_str(&format!(" by {user}"));
    }
    if let Some(host) = host {
        out.push_str(&format!(" on {host}"));
    }
    out.push_str(&format!(" created {severity} alert {rule_name}."));
    out
}

/// A reason value as Kibana's template shows it; `None` = left out.
fn reason_value(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if s.is_empty() || s == "-" => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) if items.len() == 1 && items[0] == "-" => None,
        Value::Array(items) => Some(
            items
                .iter()
                .map(|item| match item {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    Value::Object(_) => "[object Object]".to_owned(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    }
}

/// Reads a field by dotted path from a document that may mix nested objects and
/// dotted keys (`{"event.kind": ..}`, `{"event": {"id": ..}}`,
/// `{"process": {"parent.name": ..}}`). A literal dotted key wins over nesting.
pub fn lookup<'a>(map: &'a Document, path: &str) -> Option<&'a Value> {
    if let Some(value) = map.get(path) {
        return Some(value);
    }
    for (dot, _) in path.match_indices('.') {
        if let Some(Value::Object(inner)) = map.get(&path[..dot]) {
            if let Some(value) = lookup(inner, &path[dot + 1..]) {
                return Some(value);
            }
        }
    }
    None
}

/// Removes a field in every form it may take (dotted key, nested, mixed).
fn remove_path(map: &mut Document, path: &str) {
    map.shift_remove(path);
    for (dot, _) in path.match_indices('.') {
        if let Some(Value::Object(inner)) = map.get_mut(&path[..dot]) {
            remove_path(inner, &path[dot + 1..]);
        }
    }
}

/// `kibana.alert.original_event.<f>` for every `event.<f>` of the source, nested
/// objects flattened to dotted names, arrays kept.
fn original_event_fields(source: &Document) -> Vec<(String, Value)> {
    const PREFIX: &str = "kibana.alert.original_event";
    let mut out = Vec::new();
    if let Some(Value::Object(event)) = source.get("event") {
        flatten_into(&mut out, PREFIX, event);
    }
    for (key, value) in source {
        if let Some(rest) = key.strip_prefix("event.") {
            let name = format!("{PREFIX}.{rest}");
            match value {
                Value::Object(inner) => flatten_into(&mut out, &name, inner),
                other => out.push((name, other.clone())),
            }
        }
    }
    out
}

fn flatten_into(out: &mut Vec<(String, Value)>, prefix: &str, object: &Document) {
    for (key, value) in object {
        let name = format!("{prefix}.{key}");
        match value {
            Value::Object(inner) => flatten_into(out, &name, inner),
            other => out.push((name, other.clone())),
        }
    }
}

/// The shell body: the keys whose values all building blocks share (Kibana's
/// `objectArrayIntersection`).
fn merge_documents(blocks: &[Document]) -> Document {
    let Some((first, rest)) = blocks.split_first() else {
        return Document::new();
    };
    let mut acc = Some(first.clone());
    for block in rest {
        acc = acc.and_then(|merged| intersect_objects(&merged, block));
    }
    acc.unwrap_or_default()
}

/// Keys of `a` also in `b` whose values agree: objects recursively, arrays (or an
/// array and a scalar) intersected, scalars equal. `None` when nothing is left.
fn intersect_objects(a: &Document, b: &Document) -> Option<Document> {
    let mut out = Document::new();
    for (key, a_value) in a {
        let Some(b_value) = b.get(key) else { continue };
        let merged = match (a_value, b_value) {
            (Value::Object(a_inner), Value::Object(b_inner)) => intersect_objects(a_inner, b_inner).map(Value::Object),
            (Value::Array(a_items), Value::Array(b_items)) => Some(Value::Array(intersect_arrays(a_items, b_items))),
            (Value::Array(a_items), scalar) => Some(Value::Array(intersect_arrays(a_items, std::slice::from_ref(scalar)))),
            (scalar, Value::Array(b_items)) => Some(Value::Array(intersect_arrays(std::slice::from_ref(scalar), b_items))),
            _ if json_eq(a_value, b_value) => Some(a_value.clone()),
            _ => None,
        };
        if let Some(merged) = merged {
            out.insert(key.clone(), merged);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Distinct elements of `a`, in order, that also occur in `b`.
fn intersect_arrays(a: &[Value], b: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for item in a {
        if b.iter().any(|other| json_eq(item, other)) && !out.iter().any(|kept| json_eq(kept, item)) {
            out.push(item.clone());
        }
    }
    out
}

/// JSON equality with JavaScript's number semantics (`1` equals `1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || matches!((x.as_f64(), y.as_f64()), (Some(x), Some(y)) if x == y),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(key, value)| y.get(key).is_some_and(|other| json_eq(value, other))),
        _ => a == b,
    }
}

fn event_ancestor(id: &str, index: &str) -> Value {
    json!({"id": id, "type": "event", "index": index, "depth": 0})
}

/// `@timestamp` of a document as Kibana normalizes it (`Date.toISOString()`:
/// UTC, milliseconds); RFC 3339 strings or epoch milliseconds.
pub(crate) fn normalized_time(doc: &Document, field: &str) -> Option<String> {
    let millis = match lookup(doc, field)? {
        Value::String(text) => return normalized_time_text(text),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        _ => return None,
    };
    DateTime::<Utc>::from_timestamp_millis(millis).map(iso_millis)
}

/// [`normalized_time`] of a string value: RFC 3339, or epoch milliseconds as text.
pub(crate) fn normalized_time_text(text: &str) -> Option<String> {
    let millis = match DateTime::parse_from_rfc3339(text) {
        Ok(time) => return Some(iso_millis(time.with_timezone(&Utc))),
        Err(_) => text.trim().parse::<i64>().ok()?,
    };
    DateTime::<Utc>::from_timestamp_millis(millis).map(iso_millis)
}

fn iso_millis(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn sha256_hex<const N: usize>(parts: [&str; N]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// What every alert of one detection shares.
struct Shared<'a> {
    meta: &'a RuleMeta,
    ctx: &'a AlertContext,
    rule_uuid: String,
    now: String,
    parameters: Value,
}

impl<'a> Shared<'a> {
    fn new(meta: &'a RuleMeta, ctx: &'a AlertContext, now: DateTime<Utc>) -> Self {
        Shared { meta, ctx, rule_uuid: ctx.rule_uuid_for(meta), now: iso_millis(now), parameters: rule_parameters(meta) }
    }

    /// A single-event or building-block alert (without group fields).
    fn event_alert(&self, source: &Document, ancestors: Vec<Value>, alert_id: &str) -> Document {
        let mut body = source.clone();
        remove_path(&mut body, "event.kind");
        let reason = alert_reason(source, &self.meta.severity, &self.meta.name);
        let original_time = normalized_time(source, "@timestamp");
        self.alert_fields(&mut body, ancestors, 1, original_time, reason, alert_id);
        for (key, value) in original_event_fields(source) {
            body.insert(key, value);
        }
        self.framework_fields(&mut body);
        body
    }

    /// The shell alert of a sequence, over the merged building-block body.
    fn shell_alert(&self, mut body: Document, ancestors: Vec<Value>, alert_id: &str) -> Document {
        let reason = alert_reason(&body, &self.meta.severity, &self.meta.name);
        // Kibana takes the original time from the first parent, building block 0,
        // whose `@timestamp` is the alert time.
        let original_time = Some(self.now.clone());
        self.alert_fields(&mut body, ancestors, 2, original_time, reason, alert_id);
        self.framework_fields(&mut body);
        body.insert("kibana.alert.group.id".into(), json!(alert_id));
        body
    }

    /// Kibana's `buildAlertFields`, in its key order.
    fn alert_fields(&self, body: &mut Document, ancestors: Vec<Value>, depth: u32, original_time: Option<String>, reason: String, alert_id: &str) {
        let meta = self.meta;
        let mut put = |key: &str, value: Value| {
            body.insert(key.to_owned(), value);
        };
        put("@timestamp", json!(self.now));
        put("kibana.space_ids", json!([self.ctx.space]));
        put("event.kind", json!("signal"));
        if let Some(original_time) = original_time {
            put("kibana.alert.original_time", json!(original_time));
        }
        put("kibana.alert.rule.consumer", json!("siem"));
        put("kibana.alert.ancestors", Value::Array(ancestors));
        put("kibana.alert.status", json!("active"));
        put("kibana.alert.workflow_status", json!("open"));
        put("kibana.alert.depth", json!(depth));
        put("kibana.alert.reason", json!(reason));
        if let Some(kind) = &meta.building_block_type {
            put("kibana.alert.building_block_type", json!(kind));
        }
        put("kibana.alert.severity", json!(meta.severity));
        put("kibana.alert.risk_score", json!(meta.risk_score));
        put("kibana.alert.rule.parameters", self.parameters.clone());
        put("kibana.alert.rule.actions", json!([]));
        put("kibana.alert.rule.author", json!(meta.author));
        put("kibana.alert.rule.created_at", json!(self.now));
        put("kibana.alert.rule.created_by", json!("seqhound"));
        put("kibana.alert.rule.description", json!(meta.description));
        put("kibana.alert.rule.enabled", json!(true));
        put("kibana.alert.rule.exceptions_list", json!([]));
        put("kibana.alert.rule.false_positives", json!(meta.false_positives));
        put("kibana.alert.rule.from", json!(meta.from));
        put("kibana.alert.rule.immutable", json!(true));
        put("kibana.alert.rule.interval", json!(meta.interval));
        put("kibana.alert.rule.indices", json!(meta.index));
        if let Some(license) = &meta.license {
            put("kibana.alert.rule.license", json!(license));
        }
        put("kibana.alert.rule.max_signals", json!(meta.max_signals));
        put("kibana.alert.rule.name", json!(meta.name));
        put("kibana.alert.rule.note", json!(meta.note.as_deref().unwrap_or("")));
        put("kibana.alert.rule.references", json!(meta.references));
        put("kibana.alert.rule.risk_score_mapping", json!([]));
        put("kibana.alert.rule.rule_id", json!(meta.rule_id));
        put("kibana.alert.rule.severity_mapping", json!([]));
        put("kibana.alert.rule.tags", json!(meta.tags));
        put("kibana.alert.rule.threat", threat(meta));
        if let Some(field) = &meta.timestamp_override {
            put("kibana.alert.rule.timestamp_override", json!(field));
        }
        put("kibana.alert.rule.to", json!("now"));
        put("kibana.alert.rule.type", json!("eql"));
        put("kibana.alert.rule.updated_at", json!(self.now));
        put("kibana.alert.rule.updated_by", json!("seqhound"));
        put("kibana.alert.rule.uuid", json!(self.rule_uuid));
        put("kibana.alert.rule.version", json!(rule_version(meta)));
        if let Some(url) = self.alert_url(alert_id) {
            put("kibana.alert.url", json!(url));
        }
        put("kibana.alert.uuid", json!(alert_id));
        put("kibana.alert.workflow_tags", json!([]));
        put("kibana.alert.workflow_assignee_ids", json!([]));
        put("kibana.alert.rule.risk_score", json!(meta.risk_score));
        put("kibana.alert.rule.severity", json!(meta.severity));
        if let Some(kind) = &meta.building_block_type {
            put("kibana.alert.rule.building_block_type", json!(kind));
        }
        put("kibana.alert.intended_timestamp", json!(self.now));
        put("kibana.alert.rule.execution.type", json!("scheduled"));
    }

    /// Fields the alerting framework adds to every alert of a rule run.
    fn framework_fields(&self, body: &mut Document) {
        let fields = [
            ("kibana.alert.rule.category", json!("Event Correlation Rule")),
            ("kibana.alert.rule.execution.uuid", json!(self.ctx.execution_uuid)),
            ("kibana.alert.rule.execution.timestamp", json!(self.now)),
            ("kibana.alert.rule.producer", json!("siem")),
            ("kibana.alert.rule.revision", json!(0)),
            ("kibana.alert.rule.rule_type_id", json!("siem.eqlRule")),
            ("kibana.alert.start", json!(self.now)),
            ("kibana.alert.last_detected", json!(self.now)),
            ("kibana.version", json!(self.ctx.kibana_version)),
        ];
        for (key, value) in fields {
            body.insert(key.to_owned(), value);
        }
    }

    /// `<base>[/s/<space>]/app/security/alerts/redirect/<id>?index=.alerts-security.alerts-<space>&timestamp=<@timestamp>`.
    fn alert_url(&self, alert_id: &str) -> Option<String> {
        let base = self.ctx.public_base_url.as_deref()?.trim_end_matches('/');
        let space = &self.ctx.space;
        let space_path = if space.is_empty() || space == "default" { String::new() } else { format!("/s/{space}") };
        Some(format!("{base}{space_path}/app/security/alerts/redirect/{alert_id}?index=.alerts-security.alerts-{space}&timestamp={}", self.now))
    }
}

/// Kibana's default version for a rule that does not carry one is 1.
fn rule_version(meta: &RuleMeta) -> i64 {
    meta.version.unwrap_or(1)
}

fn threat(meta: &RuleMeta) -> Value {
    match &meta.threat {
        Value::Null => json!([]),
        other => other.clone(),
    }
}

/// `kibana.alert.rule.parameters`: every rule parameter in snake_case, in the order of
/// Kibana's `commonParamsCamelToSnake` + `typeSpecificCamelToSnake` (EQL); absent
/// optional parameters are left out as Kibana's `undefined` values are.
fn rule_parameters(meta: &RuleMeta) -> Value {
    let mut p = Document::new();
    let mut put = |key: &str, value: Value| {
        p.insert(key.to_owned(), value);
    };
    put("description", json!(meta.description));
    put("risk_score", json!(meta.risk_score));
    put("severity", json!(meta.severity));
    if let Some(kind) = &meta.building_block_type {
        put("building_block_type", json!(kind));
    }
    put("note", json!(meta.note.as_deref().unwrap_or("")));
    if let Some(license) = &meta.license {
        put("license", json!(license));
    }
    if let Some(field) = &meta.timestamp_override {
        put("timestamp_override", json!(field));
    }
    put("author", json!(meta.author));
    put("false_positives", json!(meta.false_positives));
    put("from", json!(meta.from));
    put("rule_id", json!(meta.rule_id));
    put("max_signals", json!(meta.max_signals));
    put("risk_score_mapping", json!([]));
    put("severity_mapping", json!([]));
    put("threat", threat(meta));
    put("to", json!("now"));
    put("references", json!(meta.references));
    put("version", json!(rule_version(meta)));
    put("exceptions_list", json!([]));
    put("immutable", json!(true));
    put("rule_source", json!({"type": "external", "is_customized": false}));
    put("related_integrations", json!([]));
    put("required_fields", json!([]));
    put("setup", json!(meta.setup.as_deref().unwrap_or("")));
    put("type", json!("eql"));
    put("language", json!(meta.language));
    put("index", json!(meta.index));
    put("query", json!(meta.query));
    if let Some(field) = &meta.timestamp_field {
        put("timestamp_field", json!(field));
    }
    if let Some(field) = &meta.event_category_override {
        put("event_category_override", json!(field));
    }
    if let Some(field) = &meta.tiebreaker_field {
        put("tiebreaker_field", json!(field));
    }
    Value::Object(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const RULE_UUID: &str = "3f5c2a8e-1b7d-4c1e-9a57-2d8e6b0f4c11";
    const E1_ID: &str = "Nq3kP0xYzL5tR8uW+++++A7f";
    const E2_ID: &str = "Nq3kP0xYzL5tR8uW+++++A8c";
    const PROCESS_INDEX: &str = "logs-endpoint.events.process-default";
    const NETWORK_INDEX: &str = "logs-endpoint.events.network-default";
    const SINGLE: &str = "0a832005ff9cb798e863a10aa7e7a528d02e4d6b13feb8c6feda29e81974d7e6";
    const BB0: &str = "6fc49c496bf4d2f545f94ba173be124911c2b3459ebe249df23dec65e5542fb4";
    const BB1: &str = "79db6c0b04fb7eec680bc3a6cda363fc1887bc76571bc74ccb000cfe50fbed88";
    const SHELL: &str = "b40b3e6fa208d760056dfd5a814c6e7c4c65df809ae1850374db2456e0b7650d";

    fn meta() -> RuleMeta {
        RuleMeta {
            path: "seed.toml".into(),
            name: "MacOS Installer Package Spawns Network Event".into(),
            rule_id: "99239e7d-b0d4-46e3-8609-acafcf99f68c".into(),
            description: "d".into(),
            author: vec!["Elastic".into()],
            license: Some("Elastic License v2".into()),
            severity: "medium".into(),
            risk_score: 47,
            index: vec!["logs-endpoint.events.*".into()],
            from: "now-9m".into(),
            interval: "5m".into(),
            max_signals: 100,
            version: Some(108),
            threat: json!([{"framework": "MITRE ATT&CK",
                            "tactic": {"id": "TA0002", "name": "Execution", "reference": "r"}}]),
            timestamp_override: Some("event.ingested".into()),
            rule_type: "eql".into(),
            language: "eql".into(),
            query: "sequence ...".into(),
            query_line: 1,
            query_column: 1,
            ..RuleMeta::default()
        }
    }

    fn ctx() -> AlertContext {
        AlertContext { rule_uuid: Some(RULE_UUID.into()), ..AlertContext::new("exec-1") }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 14, 10).unwrap()
    }

    const E1: &str = r#"{"@timestamp":"2026-11-02T09:14:03.1204567Z","event":{"id":"Nq3kP0xYzL5tR8uW+++++A7f","kind":"event","category":["process"],"type":["start"],"action":"exec","dataset":"endpoint.events.process","module":"endpoint"},"data_stream":{"type":"logs","dataset":"endpoint.events.process","namespace":"default"},"host":{"id":"4C4C4544-0042","name":"mac-17","os":{"type":"macos"},"ip":["10.0.0.5","fe80::1"]},"process":{"name":"bash","entity_id":"P1","command_line":"bash -c curl https://x","parent":{"name":"installer","entity_id":"P0"}},"user":{"name":"root"}}"#;
    const E2: &str = r#"{"@timestamp":"2026-11-02T09:14:04.5Z","event":{"id":"Nq3kP0xYzL5tR8uW+++++A8c","kind":"event","category":["network"],"type":["start"],"action":"connection_attempted","dataset":"endpoint.events.network","module":"endpoint"},"data_stream":{"type":"logs","dataset":"endpoint.events.network","namespace":"default"},"host":{"id":"4C4C4544-0042","name":"mac-17","os":{"type":"macos"},"ip":["10.0.0.5","192.168.1.2"]},"process":{"name":"curl","entity_id":"P2","parent":{"entity_id":"P1"}},"source":{"ip":"10.0.0.5","port":50123},"destination":{"ip":"93.184.216.34","port":443},"user":{"name":"root"}}"#;

    fn events() -> Vec<SourceEvent<'static>> {
        vec![SourceEvent { raw: E1.as_bytes(), stage: 0 }, SourceEvent { raw: E2.as_bytes(), stage: 1 }]
    }

    fn pairs() -> Vec<(String, String)> {
        vec![(E1_ID.into(), PROCESS_INDEX.into()), (E2_ID.into(), NETWORK_INDEX.into())]
    }

    #[test]
    fn worked_example_ids() {
        assert_eq!(single_alert_id(PROCESS_INDEX, E1_ID, "default", RULE_UUID), SINGLE);
        let bbs = building_block_ids(&pairs(), RULE_UUID);
        assert_eq!(bbs, [BB0, BB1]);
        assert_eq!(shell_alert_id(&pairs(), &bbs, RULE_UUID), SHELL);
    }

    #[test]
    fn worked_example_through_build_alerts() {
        let single = build_alerts(&meta(), false, &events()[..1], &ctx(), now()).unwrap();
        assert_eq!(single.len(), 1);
        assert_eq!(single[0]["kibana.alert.uuid"], SINGLE);

        let alerts = build_alerts(&meta(), true, &events(), &ctx(), now()).unwrap();
        let ids: Vec<&str> = alerts.iter().map(|a| a["kibana.alert.uuid"].as_str().unwrap()).collect();
        assert_eq!(ids, [BB0, BB1, SHELL]);
        for (i, bb) in alerts[..2].iter().enumerate() {
            assert_eq!(bb["kibana.alert.group.id"], SHELL);
            assert_eq!(bb["kibana.alert.group.index"], i);
            assert_eq!(bb["kibana.alert.building_block_type"], "default");
            assert_eq!(bb["kibana.alert.depth"], 1);
        }
        assert_eq!(alerts[2]["kibana.alert.group.id"], SHELL);
        assert!(alerts[2].get("kibana.alert.group.index").is_none());
        assert!(alerts[2].get("kibana.alert.building_block_type").is_none());
        assert_eq!(alerts[2]["kibana.alert.depth"], 2);
    }

    #[test]
    fn single_event_alert_body() {
        let alert = &build_alerts(&meta(), false, &events()[..1], &ctx(), now()).unwrap()[0];
        assert_eq!(alert["@timestamp"], "2026-11-02T09:14:10.000Z");
        assert_eq!(alert["kibana.alert.original_time"], "2026-11-02T09:14:03.120Z");
        assert_eq!(alert["event.kind"], "signal");
        assert!(alert["event"].get("kind").is_none());
        assert_eq!(alert["event"]["id"], E1_ID);
        assert_eq!(alert["kibana.alert.original_event.kind"], "event");
        assert_eq!(alert["kibana.alert.original_event.action"], "exec");
        assert_eq!(alert["kibana.alert.original_event.category"], json!(["process"]));
        assert_eq!(alert["kibana.alert.ancestors"], json!([{"id": E1_ID, "type": "event", "index": PROCESS_INDEX, "depth": 0}]));
        assert_eq!(alert["kibana.alert.depth"], 1);
        assert_eq!(alert["kibana.alert.rule.uuid"], RULE_UUID);
        assert_eq!(alert["kibana.alert.rule.version"], 108);
        assert_eq!(alert["kibana.alert.rule.parameters"]["version"], 108);
        assert_eq!(alert["kibana.alert.rule.parameters"]["query"], "sequence ...");
        assert_eq!(alert["kibana.alert.rule.parameters"]["index"], json!(["logs-endpoint.events.*"]));
        assert_eq!(alert["kibana.alert.rule.indices"], json!(["logs-endpoint.events.*"]));
        assert_eq!(alert["kibana.alert.rule.threat"][0]["tactic"]["id"], "TA0002");
        assert_eq!(alert["kibana.alert.rule.rule_type_id"], "siem.eqlRule");
        assert_eq!(alert["kibana.alert.rule.category"], "Event Correlation Rule");
        assert_eq!(alert["kibana.alert.rule.execution.uuid"], "exec-1");
        assert_eq!(alert["kibana.alert.status"], "active");
        assert_eq!(alert["kibana.alert.workflow_status"], "open");
        assert_eq!(alert["kibana.space_ids"], json!(["default"]));
        assert_eq!(alert["kibana.version"], "9.0.1");
        assert_eq!(alert["kibana.alert.severity"], "medium");
        assert_eq!(alert["kibana.alert.risk_score"], 47);
        assert!(alert.get("kibana.alert.url").is_none());
        assert!(alert.get("kibana.alert.building_block_type").is_none());
        assert!(alert.get("kibana.alert.group.id").is_none());
        // The source keeps its key order; `@timestamp` is replaced in place.
        assert_eq!(alert.keys().next().map(String::as_str), Some("@timestamp"));
        assert_eq!(alert.keys().nth(1).map(String::as_str), Some("event"));
    }

    #[test]
    fn alert_url_with_base() {
        let ctx = AlertContext { public_base_url: Some("https://kibana.example/".into()), ..ctx() };
        let alert = &build_alerts(&meta(), false, &events()[..1], &ctx, now()).unwrap()[0];
        assert_eq!(
            alert["kibana.alert.url"],
            format!("https://kibana.example/app/security/alerts/redirect/{SINGLE}?index=.alerts-security.alerts-default&timestamp=2026-11-02T09:14:10.000Z")
        );
        let ctx = AlertContext { space: "soc".into(), ..ctx };
        let alert = &build_alerts(&meta(), false, &events()[..1], &ctx, now()).unwrap()[0];
        let url = alert["kibana.alert.url"].as_str().unwrap();
        assert!(url.starts_with("https://kibana.example/s/soc/app/security/alerts/redirect/"), "{url}");
        assert!(url.contains("index=.alerts-security.alerts-soc&"), "{url}");
    }

    #[test]
    fn ancestors_layout() {
        let alerts = build_alerts(&meta(), true, &events(), &ctx(), now()).unwrap();
        assert_eq!(alerts[0]["kibana.alert.ancestors"], json!([{"id": E1_ID, "type": "event", "index": PROCESS_INDEX, "depth": 0}]));
        assert_eq!(alerts[1]["kibana.alert.ancestors"], json!([{"id": E2_ID, "type": "event", "index": NETWORK_INDEX, "depth": 0}]));
        assert_eq!(
            alerts[2]["kibana.alert.ancestors"],
            json!([
                {"id": E1_ID, "type": "event", "index": PROCESS_INDEX, "depth": 0},
                {"id": BB0, "type": "signal", "index": "", "depth": 1, "rule": RULE_UUID},
                {"id": E2_ID, "type": "event", "index": NETWORK_INDEX, "depth": 0},
                {"id": BB1, "type": "signal", "index": "", "depth": 1, "rule": RULE_UUID},
            ])
        );
        assert_eq!(alerts[0]["kibana.alert.original_time"], "2026-11-02T09:14:03.120Z");
        assert_eq!(alerts[1]["kibana.alert.original_time"], "2026-11-02T09:14:04.500Z");
        assert_eq!(alerts[2]["kibana.alert.original_time"], alerts[0]["@timestamp"]);
    }

    #[test]
    fn shell_merge_keeps_only_shared_values() {
        let alerts = build_alerts(&meta(), true, &events(), &ctx(), now()).unwrap();
        let shell = &alerts[2];
        // Equal in both events.
        assert_eq!(shell["host"]["name"], "mac-17");
        assert_eq!(shell["host"]["os"]["type"], "macos");
        assert_eq!(shell["user"]["name"], "root");
        assert_eq!(shell["event"]["module"], "endpoint");
        assert_eq!(shell["kibana.alert.original_event.module"], "endpoint");
        assert_eq!(shell["kibana.alert.original_event.type"], json!(["start"]));
        // Arrays intersected; differing arrays become empty.
        assert_eq!(shell["host"]["ip"], json!(["10.0.0.5"]));
        assert_eq!(shell["event"]["category"], json!([]));
        // Differing keys and keys of one event only are dropped.
        assert!(shell["event"].get("id").is_none());
        assert!(shell["event"].get("action").is_none());
        // Nothing of `process` agrees (names and entity ids differ): the object goes.
        assert!(shell.get("process").is_none());
        assert!(shell.get("destination").is_none());
        assert!(shell.get("kibana.alert.original_event.action").is_none());
        // Rule fields are the shell's own.
        assert_eq!(shell["kibana.alert.uuid"], SHELL);
        assert_eq!(shell["event.kind"], "signal");
        assert_eq!(shell["kibana.alert.reason"], "event by root on mac-17 created medium alert MacOS Installer Package Spawns Network Event.");
    }

    #[test]
    fn merge_semantics() {
        let a = json!({"k": 1, "o": {"x": 1, "y": 2}, "arr": ["a", "b", "b"], "s": "v",
                       "mix": ["p", "q"], "only_a": 1, "gone": {"x": 1}, "f": 1, "n": null});
        let b = json!({"k": 1, "o": {"x": 1, "y": 3}, "arr": ["b", "c", "a"], "s": "w",
                       "mix": "q", "gone": {"x": 2}, "f": 1.0, "n": null});
        let merged = merge_documents(&[a.as_object().unwrap().clone(), b.as_object().unwrap().clone()]);
        assert_eq!(Value::Object(merged), json!({"k": 1, "o": {"x": 1}, "arr": ["a", "b"], "mix": ["q"], "f": 1, "n": null}));
        assert!(merge_documents(&[json!({"a": 1}).as_object().unwrap().clone(), json!({"a": 2}).as_object().unwrap().clone()]).is_empty());
    }

    #[test]
    fn reason_for_process_and_network_events() {
        let alerts = build_alerts(&meta(), true, &events(), &ctx(), now()).unwrap();
        assert_eq!(
            alerts[0]["kibana.alert.reason"],
            "process event with process bash, parent process installer, by root on mac-17 \
             created medium alert MacOS Installer Package Spawns Network Event."
        );
        assert_eq!(
            alerts[1]["kibana.alert.reason"],
            "network event with process curl, source 10.0.0.5:50123, destination 93.184.216.34:443, \
             by root on mac-17 created medium alert MacOS Installer Package Spawns Network Event."
        );
        let doc = json!({"event": {"category": ["file", "process"]}, "file.name": "x.pkg",
                         "destination": {"ip": "1.2.3.4"}, "user": {"name": "-"}});
        assert_eq!(alert_reason(doc.as_object().unwrap(), "low", "R"), "file, process event with file x.pkg, destination 1.2.3.4 created low alert R.");
        assert_eq!(alert_reason(&Document::new(), "high", "R"), "event created high alert R.");
    }

    #[test]
    fn event_id_dotted_and_nested() {
        let dotted = json!({"event.id": "A1", "event.dataset": "endpoint.events.file"});
        assert_eq!(event_identity(&dotted, b"{}"), ("A1".into(), "logs-endpoint.events.file-default".into()));
        let mixed = json!({"event": {"id": "A2"}, "data_stream.type": "logs",
                           "data_stream": {"dataset": "endpoint.events.network", "namespace": "prod"}});
        assert_eq!(event_identity(&mixed, b"{}"), ("A2".into(), "logs-endpoint.events.network-prod".into()));
        let bare = json!({});
        assert_eq!(event_identity(&bare, b"{}").1, "logs-generic-default");
    }

    #[test]
    fn missing_event_id_falls_back_to_a_stable_content_id() {
        let raw = br#"{"event":{"dataset":"endpoint.events.process"},"process":{"name":"sh"}}"#;
        let doc: Value = serde_json::from_slice(raw).unwrap();
        let (id, index) = event_identity(&doc, raw);
        assert_eq!(index, "logs-endpoint.events.process-default");
        assert!(id.starts_with("sha256-") && id.len() == 7 + 32, "{id}");
        assert_eq!(id, format!("sha256-{}", &hex::encode(Sha256::digest(raw))[..32]));
        // Same bytes (framing whitespace aside) → same id; other bytes → other id.
        let mut framed = raw.to_vec();
        framed.extend_from_slice(b"\r\n");
        assert_eq!(event_identity(&doc, &framed).0, id);
        assert_ne!(event_identity(&doc, br#"{"process":{"name":"zsh"}}"#).0, id);
        // And the alert ids built on it are stable too.
        let event = [SourceEvent { raw, stage: 0 }];
        let a = build_alerts(&meta(), false, &event, &ctx(), now()).unwrap();
        let b = build_alerts(&meta(), false, &event, &ctx(), now()).unwrap();
        assert_eq!(a[0]["kibana.alert.uuid"], b[0]["kibana.alert.uuid"]);
        assert_eq!(a[0]["kibana.alert.ancestors"][0]["id"], id);
    }

    #[test]
    fn dotted_event_kind_is_replaced() {
        let raw = br#"{"@timestamp":"2026-01-01T00:00:00Z","event.kind":"event","event.id":"X","event.action":"exec"}"#;
        let alert = &build_alerts(&meta(), false, &[SourceEvent { raw, stage: 0 }], &ctx(), now()).unwrap()[0];
        assert_eq!(alert["event.kind"], "signal");
        assert_eq!(alert.keys().filter(|k| k.as_str() == "event.kind").count(), 1);
        assert_eq!(alert["kibana.alert.original_event.kind"], "event");
        assert_eq!(alert["kibana.alert.original_event.action"], "exec");
        assert_eq!(alert["kibana.alert.ancestors"][0]["id"], "X");
    }

    #[test]
    fn fallback_rule_uuid_is_a_stable_v8_uuid() {
        let a = fallback_rule_uuid("99239e7d-b0d4-46e3-8609-acafcf99f68c");
        assert_eq!(a, fallback_rule_uuid("99239e7d-b0d4-46e3-8609-acafcf99f68c"));
        assert_ne!(a, fallback_rule_uuid("other"));
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(parts[2].starts_with('8'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
        let hex = hex::encode(Sha256::digest(b"99239e7d-b0d4-46e3-8609-acafcf99f68c"));
        assert_eq!(parts[0], &hex[..8]);
        let ctx = AlertContext::new("e");
        assert_eq!(ctx.rule_uuid_for(&meta()), a);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(build_alerts(&meta(), true, &[], &ctx(), now()), Err(AlertError::NoEvents)));
        assert!(matches!(build_alerts(&meta(), false, &events(), &ctx(), now()), Err(AlertError::NotSingleEvent(2))));
        let bad = [SourceEvent { raw: b"{not json", stage: 0 }];
        assert!(matches!(build_alerts(&meta(), false, &bad, &ctx(), now()), Err(AlertError::InvalidJson { position: 0, .. })));
        let bad = [SourceEvent { raw: b"[1]", stage: 0 }];
        assert!(matches!(build_alerts(&meta(), false, &bad, &ctx(), now()), Err(AlertError::NotAnObject { position: 0 })));
    }

    #[test]
    fn building_block_rule_marks_every_alert() {
        let meta = RuleMeta { building_block_type: Some("default".into()), ..meta() };
        let alerts = build_alerts(&meta, true, &events(), &ctx(), now()).unwrap();
        for alert in &alerts {
            assert_eq!(alert["kibana.alert.building_block_type"], "default");
            assert_eq!(alert["kibana.alert.rule.building_block_type"], "default");
        }
        assert_eq!(alerts[2]["kibana.alert.rule.parameters"]["building_block_type"], "default");
    }
}
