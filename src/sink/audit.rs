//! The Parquet audit trail: what fired, on which events, and why — queryable long after
//! the alerts scrolled by, with DuckDB, pyarrow, Polars or Spark.
//!
//! Three tables under the audit directory, each Hive-partitioned by event time
//! (`<table>/dt=YYYY-MM-DD/hour=HH/part-….parquet`, zstd):
//!
//! * `detections` (every scope): one row per event of each detection.
//! * `candidates` (scopes `candidates`, `all`): one row per event, rule, stage and join
//!   key tuple that matched a stage, whether or not it completed a sequence.
//! * `events` (scope `all`): every decoded event with the projected columns and its raw
//!   JSON — a columnar archive of the stream. Its raw column is a view of the chunk the
//!   decoder already holds (no copy, no re-serialization).
//!
//! # Crash safety
//! A file is written as `.part-….parquet.tmp` (hidden: readers' globs and Spark skip dot
//! files), then closed (footer written), fsynced, renamed to `part-….parquet`, and its
//! directory fsynced. A kill at any moment therefore leaves complete files plus hidden
//! temporary files. The next start **removes** those: without its footer a Parquet file
//! cannot be read, and rebuilding one would mean trusting pages of unknown completeness.
//! The loss is bounded by the rotation age (`max_file_age`); rows of `candidates` and
//! `events` are derived data (replaying the input rebuilds them). Graceful shutdown
//! closes and renames every open file.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    Array, ArrayRef, Int32Builder, Int64Builder, ListBuilder, RecordBatch, StringBuilder, StringViewArray, TimestampMillisecondBuilder, UInt32Array,
    UInt64Builder,
};
use arrow::buffer::{Buffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::decode::EventBatch;
use crate::engine::Candidates;
use crate::rule::{RuleSet, RuleShape};
use crate::sequence::{Detection, Key};
use crate::sink::alert::{alert_ids, lookup, AlertContext, SourceEvent};

/// Which rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditScope {
    /// The events of each detection.
    Detections,
    /// Also every event that matched some stage.
    Candidates,
    /// Also every event of the stream.
    All,
}

/// Where and how the audit files are written.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub dir: PathBuf,
    pub scope: AuditScope,
    /// Rotate a file once this many bytes are written (footer excluded).
    pub max_file_bytes: u64,
    /// Rotate a file this long after it was opened (bounds what a crash can lose).
    pub max_file_age: Duration,
    /// Rows per row group: large enough for column-chunk reads, small enough for memory
    /// (a row group is also closed at [`ROW_GROUP_BYTES`]).
    pub row_group_rows: usize,
}

impl AuditOptions {
    pub fn new(dir: impl Into<PathBuf>, scope: AuditScope) -> Self {
        AuditOptions { dir: dir.into(), scope, max_file_bytes: 256 * 1024 * 1024, max_file_age: Duration::from_secs(60), row_group_rows: 65_536 }
    }
}

/// Counters of the audit sink.
#[derive(Debug, Default, Clone)]
pub struct AuditStats {
    pub detection_rows: u64,
    pub candidate_rows: u64,
    pub event_rows: u64,
    /// Complete files renamed into place.
    pub files: u64,
    /// Bytes of those files.
    pub bytes: u64,
    /// Temporary leftovers of an earlier crash removed at start.
    pub leftovers_removed: u64,
}

/// Uncompressed bytes at which a row group is closed (bounds the writer's memory).
pub const ROW_GROUP_BYTES: usize = 64 * 1024 * 1024;
/// Open files at once per table; the least recently written is closed beyond it.
const MAX_OPEN_PER_TABLE: usize = 4;
/// Partition of rows whose event time is unknown (Hive's own name for it).
const UNKNOWN_PARTITION: &str = "dt=__HIVE_DEFAULT_PARTITION__/hour=__HIVE_DEFAULT_PARTITION__";

pub struct AuditWriter {
    options: AuditOptions,
    rules: Arc<RuleSet>,
    ctx: AlertContext,
    detections: Table,
    candidates: Table,
    events: Table,
    stats: AuditStats,
}

impl AuditWriter {
    /// Create the directory and remove temporary leftovers of an earlier crash.
    ///
    /// # Errors
    /// The directory cannot be created or cleaned.
    pub fn new(options: AuditOptions, rules: Arc<RuleSet>, ctx: AlertContext) -> std::io::Result<Self> {
        std::fs::create_dir_all(&options.dir)?;
        let leftovers_removed = remove_leftovers(&options.dir)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(std::io::Error::other)?))
            .set_max_row_group_row_count(Some(options.row_group_rows.max(1)))
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
            // Raw events are all distinct: a dictionary would only be built to be dropped.
            .set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from("raw"), false)
            .build();
        let events_schema = events_schema(&rules);
        let dir = options.dir.clone();
        Ok(AuditWriter {
            detections: Table::new(dir.join("detections"), detections_schema(), props.clone()),
            candidates: Table::new(dir.join("candidates"), candidates_schema(), props.clone()),
            events: Table::new(dir.join("events"), events_schema, props),
            options,
            rules,
            ctx,
            stats: AuditStats { leftovers_removed, ..AuditStats::default() },
        })
    }

    pub fn scope(&self) -> AuditScope {
        self.options.scope
    }

    pub fn stats(&self) -> AuditStats {
        self.stats.clone()
    }

    /// One row per event of each detection.
    ///
    /// # Errors
    /// Writing failed; the rows must be considered not written.
    pub fn write_detections(&mut self, dets: &[Detection], detection_time_ms: i64) -> std::io::Result<()> {
        let mut rows: HashMap<String, DetectionRows> = HashMap::new();
        for d in dets {
            let rule = &self.rules.rules[d.rule];
            let events: Vec<SourceEvent> = d.events.iter().map(|e| SourceEvent { raw: &e.raw, stage: e.stage }).collect();
            let (alert_id, bb_ids) = match alert_ids(&rule.meta, rule.shape != RuleShape::Event, &events, &self.ctx) {
                Ok(ids) => ids,
                Err(e) => return Err(std::io::Error::other(format!("alert ids of rule {}: {e}", rule.meta.name))),
            };
            // A detection's rows stay together: partitioned by its last event's time.
            let last_ts = d.events.iter().map(|e| e.timestamp_ms).max().unwrap_or(0);
            let part = rows.entry(partition_of(Some(last_ts))).or_insert_with(|| DetectionRows::new(d.events.len()));
            for (i, e) in d.events.iter().enumerate() {
                let doc: Option<serde_json::Map<String, serde_json::Value>> = serde_json::from_slice(&e.raw).ok();
                let host = doc.as_ref().and_then(|m| lookup(m, "host.id")).map(json_text);
                part.alert_id.append_value(&alert_id);
                part.bb_id.append_option(bb_ids.get(i).cloned().flatten());
                part.rule_id.append_value(&rule.meta.rule_id);
                part.rule_name.append_value(&rule.meta.name);
                part.severity.append_value(&rule.meta.severity);
                part.risk_score.append_value(rule.meta.risk_score);
                part.detection_time.append_value(detection_time_ms);
                part.event_time.append_value(e.timestamp_ms);
                part.host_id.append_option(host);
                for k in &d.join_keys {
                    part.join_keys.values().append_option(k.as_deref());
                }
                part.join_keys.append(true);
                part.stage.append_value(i32::try_from(e.stage).unwrap_or(i32::MAX));
                part.event_id.append_option(e.event_id.as_deref());
                part.source.append_value(&*e.origin);
                part.line.append_value(e.line);
                part.raw.append_value(String::from_utf8_lossy(&e.raw));
                self.stats.detection_rows += 1;
            }
        }
        let max_bytes = self.options.max_file_bytes;
        for (partition, mut r) in rows {
            let batch = r.finish(self.detections.schema.clone()).map_err(std::io::Error::other)?;
            let closed = self.detections.write(&partition, &batch, max_bytes)?;
            self.stats_add(closed);
        }
        Ok(())
    }

    /// One row per (event, rule, stage, join key tuple) that matched a stage.
    ///
    /// # Errors
    /// Writing failed.
    pub fn write_candidates(&mut self, candidates: &Candidates) -> std::io::Result<()> {
        if self.options.scope < AuditScope::Candidates {
            return Ok(());
        }
        let mut rows: HashMap<String, CandidateRows> = HashMap::new();
        for (ri, cands) in candidates.per_rule.iter().enumerate() {
            let rule = &self.rules.rules[ri];
            for c in cands {
                let e = &c.event;
                let part = rows.entry(partition_of(Some(e.timestamp_ms))).or_insert_with(|| CandidateRows::new(16));
                let raw = String::from_utf8_lossy(&e.raw);
                for (stage, keys) in &c.stage_keys {
                    let no_key: [Key; 1] = [Box::new([])];
                    let keys: &[Key] = if keys.is_empty() { &no_key } else { keys };
                    for key in keys {
                        part.rule_id.append_value(&rule.meta.rule_id);
                        part.rule_name.append_value(&rule.meta.name);
                        part.stage.append_value(i32::try_from(*stage).unwrap_or(i32::MAX));
                        for k in key.iter() {
                            part.join_keys.values().append_option(k.as_deref());
                        }
                        part.join_keys.append(true);
                        part.event_time.append_value(e.timestamp_ms);
                        part.event_id.append_option(e.event_id.as_deref());
                        part.source.append_value(&*e.origin);
                        part.line.append_value(e.line);
                        part.raw.append_value(&raw);
                        self.stats.candidate_rows += 1;
                    }
                }
            }
        }
        let max_bytes = self.options.max_file_bytes;
        for (partition, mut r) in rows {
            let batch = r.finish(self.candidates.schema.clone()).map_err(std::io::Error::other)?;
            let closed = self.candidates.write(&partition, &batch, max_bytes)?;
            self.stats_add(closed);
        }
        Ok(())
    }

    /// Every decoded event: projected columns plus the raw JSON, a view of the chunk.
    ///
    /// # Errors
    /// Writing failed.
    pub fn write_events(&mut self, batch: &EventBatch) -> std::io::Result<()> {
        if self.options.scope < AuditScope::All || batch.num_rows() == 0 {
            return Ok(());
        }
        let n = batch.num_rows();
        let ts_col = batch.batch.schema().index_of("@timestamp").ok();
        let times: Vec<Option<i64>> = (0..n)
            .map(|row| {
                let col = ts_col.map(|c| batch.batch.column(c))?;
                let list = col.as_any().downcast_ref::<arrow::array::ListArray>()?;
                if list.is_null(row) || list.value_length(row) != 1 {
                    return None;
                }
                let v = list.value(row);
                let s = v.as_any().downcast_ref::<StringViewArray>()?;
                crate::engine::parse_timestamp(s.value(0))
            })
            .collect();
        let raw = raw_view_column(batch).map_err(std::io::Error::other)?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.batch.num_columns() + 4);
        columns.push(Arc::new(arrow::array::TimestampMillisecondArray::from(times.clone()).with_timezone("UTC")));
        columns.push(Arc::new(arrow::array::StringArray::from(vec![&*batch.origin; n])));
        columns.push(Arc::new(arrow::array::UInt64Array::from(batch.lines.clone())));
        columns.extend(batch.batch.columns().iter().cloned());
        columns.push(Arc::new(raw));
        let whole = RecordBatch::try_new(self.events.schema.clone(), columns).map_err(std::io::Error::other)?;
        // Group rows by hour partition; a stream is mostly in order, so usually one group.
        let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
        for (row, t) in times.iter().enumerate() {
            let p = partition_of(*t);
            match groups.iter_mut().find(|(g, _)| *g == p) {
                Some((_, rows)) => rows.push(row as u32),
                None => groups.push((p, vec![row as u32])),
            }
        }
        let max_bytes = self.options.max_file_bytes;
        for (partition, rows) in groups {
            let part = if rows.len() == n {
                whole.clone()
            } else {
                let idx = UInt32Array::from(rows);
                let cols = whole.columns().iter().map(|c| arrow::compute::take(c, &idx, None)).collect::<Result<Vec<_>, _>>().map_err(std::io::Error::other)?;
                RecordBatch::try_new(whole.schema(), cols).map_err(std::io::Error::other)?
            };
            self.stats.event_rows += part.num_rows() as u64;
            let closed = self.events.write(&partition, &part, max_bytes)?;
            self.stats_add(closed);
        }
        Ok(())
    }

    /// Rotate files older than the age limit (call now and then in a live stream).
    ///
    /// # Errors
    /// Closing a file failed.
    pub fn rotate_aged(&mut self) -> std::io::Result<()> {
        let age = self.options.max_file_age;
        let mut closed = Vec::new();
        for t in [&mut self.detections, &mut self.candidates, &mut self.events] {
            closed.extend(t.close_where(|f| f.opened.elapsed() >= age)?);
        }
        self.stats_add(closed);
        Ok(())
    }

    /// Close and rename every open file.
    ///
    /// # Errors
    /// Closing a file failed.
    pub fn close(&mut self) -> std::io::Result<()> {
        let mut closed = Vec::new();
        for t in [&mut self.detections, &mut self.candidates, &mut self.events] {
            closed.extend(t.close_where(|_| true)?);
        }
        self.stats_add(closed);
        Ok(())
    }

    fn stats_add(&mut self, closed: Vec<u64>) {
        for bytes in closed {
            self.stats.files += 1;
            self.stats.bytes += bytes;
        }
    }
}

/// The raw JSON of each row as a string view into the chunk buffer (no copy).
fn raw_view_column(batch: &EventBatch) -> Result<StringViewArray, arrow::error::ArrowError> {
    let buffer = Buffer::from(batch.raw.clone());
    let views: Vec<u128> = batch
        .rows
        .iter()
        .map(|r| {
            let len = r.end - r.start;
            let bytes = &batch.raw[r.start as usize..r.end as usize];
            if len <= 12 {
                let mut inline = [0u8; 16];
                inline[..4].copy_from_slice(&len.to_le_bytes());
                inline[4..4 + len as usize].copy_from_slice(bytes);
                u128::from_le_bytes(inline)
            } else {
                let mut prefix = [0u8; 4];
                prefix.copy_from_slice(&bytes[..4]);
                u128::from(len) | (u128::from(u32::from_le_bytes(prefix)) << 32) | (u128::from(r.start) << 96)
            }
        })
        .collect();
    // Validates that every view is in bounds and UTF-8.
    StringViewArray::try_new(ScalarBuffer::from(views), vec![buffer], None)
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `dt=YYYY-MM-DD/hour=HH` of an event time.
fn partition_of(ts_ms: Option<i64>) -> String {
    match ts_ms.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) => t.format("dt=%Y-%m-%d/hour=%H").to_string(),
        None => UNKNOWN_PARTITION.to_string(),
    }
}

/// Remove `*.parquet.tmp` files under `dir` (see the module docs for why).
fn remove_leftovers(dir: &Path) -> std::io::Result<u64> {
    let mut removed = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".parquet.tmp")) {
                std::fs::remove_file(&path)?;
                removed += 1;
            }
        }
    }
    if removed > 0 {
        tracing::warn!(removed, dir = %dir.display(), "removed incomplete audit files left by an earlier crash");
    }
    Ok(removed)
}

/// One table: its open files, one per partition.
struct Table {
    root: PathBuf,
    schema: SchemaRef,
    props: WriterProperties,
    open: Vec<OpenFile>,
    /// Distinguishes files created in the same millisecond.
    counter: u64,
}

struct OpenFile {
    partition: String,
    tmp: PathBuf,
    path: PathBuf,
    writer: ArrowWriter<File>,
    /// Small batches (a detection, a chunk's candidates) gathered before they reach the
    /// writer: each `ArrowWriter::write` call has a fixed cost.
    buffered: Vec<RecordBatch>,
    buffered_rows: usize,
    buffered_bytes: usize,
    opened: Instant,
    last_write: Instant,
}

/// Gathered rows are handed to the Parquet writer at this many rows or bytes.
const FLUSH_ROWS: usize = 8192;
const FLUSH_BYTES: usize = 16 * 1024 * 1024;

impl OpenFile {
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffered.is_empty() {
            return Ok(());
        }
        let batches = std::mem::take(&mut self.buffered);
        let merged = arrow::compute::concat_batches(&batches[0].schema(), &batches).map_err(std::io::Error::other)?;
        self.buffered_rows = 0;
        self.buffered_bytes = 0;
        self.writer.write(&merged).map_err(std::io::Error::other)
    }
}

impl Table {
    fn new(root: PathBuf, schema: SchemaRef, props: WriterProperties) -> Self {
        Table { root, schema, props, open: Vec::new(), counter: 0 }
    }

    /// Append rows to the partition's open file; returns the sizes of files it closed.
    fn write(&mut self, partition: &str, batch: &RecordBatch, max_bytes: u64) -> std::io::Result<Vec<u64>> {
        let mut closed = Vec::new();
        let i = match self.open.iter().position(|f| f.partition == partition) {
            Some(i) => i,
            None => {
                if self.open.len() >= MAX_OPEN_PER_TABLE {
                    let lru = self.open.iter().enumerate().min_by_key(|(_, f)| f.last_write).map_or(0, |(i, _)| i);
                    closed.push(finish(self.open.swap_remove(lru))?);
                }
                let f = self.create(partition)?;
                self.open.push(f);
                self.open.len() - 1
            }
        };
        let f = &mut self.open[i];
        f.buffered.push(batch.clone());
        f.buffered_rows += batch.num_rows();
        f.buffered_bytes += batch.get_array_memory_size();
        if f.buffered_rows >= FLUSH_ROWS || f.buffered_bytes >= FLUSH_BYTES {
            f.flush()?;
        }
        f.last_write = Instant::now();
        if (f.writer.bytes_written() + f.writer.in_progress_size()) as u64 >= max_bytes {
            closed.push(finish(self.open.swap_remove(i))?);
        }
        Ok(closed)
    }

    fn create(&mut self, partition: &str) -> std::io::Result<OpenFile> {
        let dir = self.root.join(partition);
        std::fs::create_dir_all(&dir)?;
        self.counter += 1;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let name = format!("part-{now}-{}-{:04}.parquet", std::process::id(), self.counter);
        let tmp = dir.join(format!(".{name}.tmp"));
        let file = File::create(&tmp)?;
        let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(self.props.clone())).map_err(std::io::Error::other)?;
        let now = Instant::now();
        Ok(OpenFile {
            partition: partition.to_string(),
            tmp,
            path: dir.join(name),
            writer,
            buffered: Vec::new(),
            buffered_rows: 0,
            buffered_bytes: 0,
            opened: now,
            last_write: now,
        })
    }

    fn close_where(&mut self, pred: impl Fn(&OpenFile) -> bool) -> std::io::Result<Vec<u64>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.open.len() {
            if pred(&self.open[i]) {
                out.push(finish(self.open.swap_remove(i))?);
            } else {
                i += 1;
            }
        }
        Ok(out)
    }
}

/// Footer, fsync, rename, fsync the directory: the file appears complete or not at all.
fn finish(mut f: OpenFile) -> std::io::Result<u64> {
    f.flush()?;
    let file = f.writer.into_inner().map_err(std::io::Error::other)?;
    file.sync_all()?;
    let size = file.metadata()?.len();
    drop(file);
    std::fs::rename(&f.tmp, &f.path)?;
    if let Some(dir) = f.path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(size)
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn time(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), nullable)
}

fn keys_field() -> Field {
    Field::new("join_keys", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), false)
}

fn detections_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("alert_id", false),
        utf8("building_block_alert_id", true),
        utf8("rule_id", false),
        utf8("rule_name", false),
        utf8("severity", false),
        Field::new("risk_score", DataType::Int64, false),
        time("detection_time", false),
        time("event_time", false),
        utf8("host_id", true),
        keys_field(),
        Field::new("stage", DataType::Int32, false),
        utf8("event_id", true),
        utf8("source", false),
        Field::new("line", DataType::UInt64, false),
        utf8("raw", false),
    ]))
}

fn candidates_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("rule_id", false),
        utf8("rule_name", false),
        Field::new("stage", DataType::Int32, false),
        keys_field(),
        time("event_time", false),
        utf8("event_id", true),
        utf8("source", false),
        Field::new("line", DataType::UInt64, false),
        utf8("raw", false),
    ]))
}

fn events_schema(rules: &RuleSet) -> SchemaRef {
    let projected = rules.projection.schema();
    let mut fields = vec![time("event_time", true), utf8("source", false), Field::new("line", DataType::UInt64, false)];
    fields.extend(projected.fields().iter().map(|f| f.as_ref().clone()));
    fields.push(Field::new("raw", DataType::Utf8View, false));
    Arc::new(Schema::new(fields))
}

struct DetectionRows {
    alert_id: StringBuilder,
    bb_id: StringBuilder,
    rule_id: StringBuilder,
    rule_name: StringBuilder,
    severity: StringBuilder,
    risk_score: Int64Builder,
    detection_time: TimestampMillisecondBuilder,
    event_time: TimestampMillisecondBuilder,
    host_id: StringBuilder,
    join_keys: ListBuilder<StringBuilder>,
    stage: Int32Builder,
    event_id: StringBuilder,
    source: StringBuilder,
    line: UInt64Builder,
    raw: StringBuilder,
}

impl DetectionRows {
    /// Builders sized for `n` rows (the defaults reserve 1024 rows each, costly per detection).
    fn new(n: usize) -> Self {
        DetectionRows {
            alert_id: StringBuilder::with_capacity(n, n * 16),
            bb_id: StringBuilder::with_capacity(n, n * 16),
            rule_id: StringBuilder::with_capacity(n, n * 16),
            rule_name: StringBuilder::with_capacity(n, n * 16),
            severity: StringBuilder::with_capacity(n, n * 16),
            risk_score: Int64Builder::with_capacity(n),
            detection_time: TimestampMillisecondBuilder::with_capacity(n),
            event_time: TimestampMillisecondBuilder::with_capacity(n),
            host_id: StringBuilder::with_capacity(n, n * 16),
            join_keys: ListBuilder::with_capacity(StringBuilder::with_capacity(2 * n, n * 64), n),
            stage: Int32Builder::with_capacity(n),
            event_id: StringBuilder::with_capacity(n, n * 16),
            source: StringBuilder::with_capacity(n, n * 16),
            line: UInt64Builder::with_capacity(n),
            raw: StringBuilder::with_capacity(n, n * 2048),
        }
    }
    fn finish(&mut self, schema: SchemaRef) -> Result<RecordBatch, arrow::error::ArrowError> {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.alert_id.finish()),
            Arc::new(self.bb_id.finish()),
            Arc::new(self.rule_id.finish()),
            Arc::new(self.rule_name.finish()),
            Arc::new(self.severity.finish()),
            Arc::new(self.risk_score.finish()),
            Arc::new(self.detection_time.finish().with_timezone("UTC")),
            Arc::new(self.event_time.finish().with_timezone("UTC")),
            Arc::new(self.host_id.finish()),
            Arc::new(self.join_keys.finish()),
            Arc::new(self.stage.finish()),
            Arc::new(self.event_id.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.raw.finish()),
        ];
        RecordBatch::try_new(schema, cols)
    }
}

struct CandidateRows {
    rule_id: StringBuilder,
    rule_name: StringBuilder,
    stage: Int32Builder,
    join_keys: ListBuilder<StringBuilder>,
    event_time: TimestampMillisecondBuilder,
    event_id: StringBuilder,
    source: StringBuilder,
    line: UInt64Builder,
    raw: StringBuilder,
}

impl CandidateRows {
    /// Builders sized for `n` rows (the defaults reserve 1024 rows each, costly per detection).
    fn new(n: usize) -> Self {
        CandidateRows {
            rule_id: StringBuilder::with_capacity(n, n * 16),
            rule_name: StringBuilder::with_capacity(n, n * 16),
            stage: Int32Builder::with_capacity(n),
            join_keys: ListBuilder::with_capacity(StringBuilder::with_capacity(2 * n, n * 64), n),
            event_time: TimestampMillisecondBuilder::with_capacity(n),
            event_id: StringBuilder::with_capacity(n, n * 16),
            source: StringBuilder::with_capacity(n, n * 16),
            line: UInt64Builder::with_capacity(n),
            raw: StringBuilder::with_capacity(n, n * 2048),
        }
    }
    fn finish(&mut self, schema: SchemaRef) -> Result<RecordBatch, arrow::error::ArrowError> {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.rule_id.finish()),
            Arc::new(self.rule_name.finish()),
            Arc::new(self.stage.finish()),
            Arc::new(self.join_keys.finish()),
            Arc::new(self.event_time.finish().with_timezone("UTC")),
            Arc::new(self.event_id.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.raw.finish()),
        ];
        RecordBatch::try_new(schema, cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_by_event_hour() {
        assert_eq!(partition_of(Some(1_793_610_000_000)), "dt=2026-11-02/hour=09");
        assert_eq!(partition_of(None), UNKNOWN_PARTITION);
    }
}
