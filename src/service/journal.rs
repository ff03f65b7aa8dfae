//! The candidate journal: what `seqhound run` needs to rebuild its pending sequences after
//! a crash.
//!
//! A request is answered 200 only after its events were sequenced, so the sender forgets
//! them. If the process then dies (SIGKILL, OOM kill, power cut of the container), the
//! pending sequences those events started would be lost, and so would every detection
//! they were about to complete. So before a chunk is sequenced, the raw lines of its
//! candidates for stateful rules (sequences and samples: event rules keep no state) are
//! appended to the journal. On start, the snapshot of the last graceful stop is restored
//! and the journal is replayed through the engine, which rebuilds the same state:
//! decoding, filtering and sequencing are deterministic, and candidates keep their order.
//! Detections delivered to every sink are marked in the journal (`D\t<key>`), and the
//! replay emits only the detections not marked: those completed but not delivered when
//! the process died. A crash between delivery and marking emits a detection twice
//! (at least once; its alert ids are the same).
//!
//! Records are `<event time ms>\t<bounded: 0|1>\t<raw JSON line>\n`. A record is
//! *bounded* when every stateful rule it is a candidate of has a `maxspan`: such an event
//! cannot take part in any detection once the stream's clock has passed its time by more
//! than twice the largest `maxspan` plus the lateness, so compaction drops it. Events of
//! unbounded rules stay until the next graceful stop.
//!
//! Appends are flushed to disk (`fdatasync`, [`Journal::sync`]) before the batch is
//! sequenced, and so before its request is answered: a power cut of the machine then
//! loses nothing either. The engine appends every batch already waiting in its queue and
//! then flushes once for all of them (group commit), so concurrent requests share one
//! flush. With `journal_fsync = false` they stay in the page cache, which survives the
//! death of the process only. Compaction and snapshots are always fsynced and renamed.
//!
//! Snapshots and journals are paired by a generation number: a snapshot taken at a
//! graceful stop records the generation of the journal that starts after it, so a crash
//! between writing the snapshot and removing the old journal never replays old events on
//! top of a snapshot that already holds them.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::engine::Filtered;
use crate::rule::{RuleSet, RuleShape};

/// Compact once the journal passes this size (and then twice its compacted size).
const COMPACT_AT_BYTES: u64 = 64 << 20;

pub struct Journal {
    dir: PathBuf,
    generation: u64,
    file: File,
    bytes: u64,
    compact_at: u64,
    /// Per rule: journal its candidates (stateful rules only).
    stateful: Vec<bool>,
    /// Per rule: its candidates may be dropped once older than the horizon.
    bounded: Vec<bool>,
    /// How far behind the newest event time a bounded record stays useful.
    horizon_ms: i64,
    /// Newest event time journaled.
    max_ts: i64,
    /// `fdatasync` in [`Self::sync`] (see the module documentation).
    fsync: bool,
    /// Records were appended since the last [`Self::sync`].
    unsynced: bool,
    /// Appends flushed to disk.
    pub syncs: u64,
    pub compactions: u64,
}

impl Journal {
    /// The journal file of `generation` in `dir`.
    pub fn path(dir: &Path, generation: u64) -> PathBuf {
        dir.join(format!("journal-{generation}.ndjson"))
    }

    /// Open (or create) the journal of `generation`, remove journals of older
    /// generations, and return the raw NDJSON lines to replay and the keys of the
    /// detections already delivered.
    ///
    /// # Errors
    /// I/O errors on the data directory.
    pub fn open(dir: &Path, generation: u64, rules: &RuleSet, lateness_ms: i64, fsync: bool) -> std::io::Result<(Journal, Vec<u8>, HashSet<String>)> {
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(g) = name.strip_prefix("journal-").and_then(|n| n.strip_suffix(".ndjson")).and_then(|g| g.parse::<u64>().ok()) {
                if g < generation {
                    std::fs::remove_file(dir.join(name.as_ref()))?;
                }
            }
        }
        let path = Self::path(dir, generation);
        let mut replay = Vec::new();
        let mut delivered = HashSet::new();
        let mut max_ts = i64::MIN;
        // Whether the journal file is new: its directory entry then needs a sync too.
        let existed = match File::open(&path) {
            Ok(f) => {
                for line in BufReader::new(f).split(b'\n') {
                    let line = line?;
                    if let Some(key) = line.strip_prefix(b"D\t") {
                        delivered.insert(String::from_utf8_lossy(key).into_owned());
                        continue;
                    }
                    // A record cut short by the crash has no line end and may be partial:
                    // `split` still yields it, and the decoder reports it as malformed.
                    if let Some((ts, _, raw)) = parse_record(&line) {
                        max_ts = max_ts.max(ts);
                        replay.extend_from_slice(raw);
                        replay.push(b'\n');
                    }
                }
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        if fsync && !existed {
            // The new file's directory entry must survive a power cut too.
            File::open(dir)?.sync_all()?;
        }
        // A torn last record must not glue onto the next one.
        let bytes = file.metadata()?.len();
        let mut j = Journal {
            dir: dir.to_path_buf(),
            generation,
            file,
            bytes,
            compact_at: COMPACT_AT_BYTES,
            stateful: rules.rules.iter().map(|r| r.shape != RuleShape::Event).collect(),
            bounded: rules.rules.iter().map(|r| r.shape == RuleShape::Sequence && r.maxspan_ms.is_some()).collect(),
            horizon_ms: rules.rules.iter().filter_map(|r| r.maxspan_ms).max().unwrap_or(0).saturating_mul(2).saturating_add(lateness_ms.max(0)),
            max_ts,
            fsync,
            unsynced: false,
            syncs: 0,
            compactions: 0,
        };
        if bytes > 0 {
            j.file.write_all(b"\n")?;
            j.bytes += 1;
        }
        Ok((j, replay, delivered))
    }

    /// Record that these detections reached every sink.
    ///
    /// # Errors
    /// I/O errors writing the journal (the detections may then be emitted again after a
    /// crash).
    pub fn mark_delivered(&mut self, keys: impl Iterator<Item = String>) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for k in keys {
            buf.extend_from_slice(b"D\t");
            buf.extend_from_slice(k.as_bytes());
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.bytes += buf.len() as u64;
        Ok(())
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Rules whose candidates are journaled until the next graceful stop.
    pub fn unbounded_rules<'a>(&self, rules: &'a RuleSet) -> Vec<&'a str> {
        rules.rules.iter().enumerate().filter(|(i, _)| self.stateful[*i] && !self.bounded[*i]).map(|(_, r)| r.meta.name.as_str()).collect()
    }

    /// Append the candidates of stateful rules in `f`, in arrival order. They are on disk
    /// only after the next [`Self::sync`].
    ///
    /// # Errors
    /// I/O errors writing the journal: the chunk must then not be sequenced.
    pub fn append(&mut self, f: &Filtered) -> std::io::Result<()> {
        // One record per event, even when several rules want it.
        let mut events: Vec<(u64, i64, bool, &[u8])> = Vec::new();
        for (rule, cands) in f.candidates.per_rule.iter().enumerate() {
            if !self.stateful.get(rule).copied().unwrap_or(true) {
                continue;
            }
            let bounded = self.bounded.get(rule).copied().unwrap_or(false);
            for c in cands {
                events.push((c.ordinal.arrival, c.ordinal.timestamp_ms, bounded, &c.event.raw));
            }
        }
        if events.is_empty() {
            return Ok(());
        }
        events.sort_by_key(|e| e.0);
        let mut buf = Vec::new();
        let mut i = 0;
        while i < events.len() {
            let (arrival, mut ts, mut bounded, raw) = events[i];
            let mut j = i + 1;
            while j < events.len() && events[j].0 == arrival {
                ts = ts.min(events[j].1);
                bounded &= events[j].2;
                j += 1;
            }
            self.max_ts = self.max_ts.max(ts);
            buf.extend_from_slice(format!("{ts}\t{}\t", u8::from(bounded)).as_bytes());
            buf.extend_from_slice(raw);
            buf.push(b'\n');
            i = j;
        }
        self.file.write_all(&buf)?;
        self.unsynced = true;
        self.bytes += buf.len() as u64;
        if self.bytes >= self.compact_at {
            self.compact()?;
        }
        Ok(())
    }

    /// Flush every append since the last call to disk, with one `fdatasync` (none when
    /// nothing was appended or `journal_fsync = false`).
    ///
    /// # Errors
    /// I/O errors flushing: the chunks appended since the last sync must then not be
    /// sequenced.
    pub fn sync(&mut self) -> std::io::Result<()> {
        if self.fsync && self.unsynced {
            self.file.sync_data()?;
            self.syncs += 1;
        }
        self.unsynced = false;
        Ok(())
    }

    /// Rewrite the journal without bounded records older than the horizon.
    fn compact(&mut self) -> std::io::Result<()> {
        let cutoff = self.max_ts.saturating_sub(self.horizon_ms);
        let path = Self::path(&self.dir, self.generation);
        let tmp = path.with_extension("compacting");
        let mut out = std::io::BufWriter::new(File::create(&tmp)?);
        let mut kept = 0u64;
        for line in BufReader::new(File::open(&path)?).split(b'\n') {
            let line = line?;
            let keep = match parse_record(&line) {
                Some((ts, bounded, _)) => !bounded || ts >= cutoff,
                // Delivery marks are tiny; they stay until the next graceful stop.
                None => line.starts_with(b"D\t"),
            };
            if keep {
                out.write_all(&line)?;
                out.write_all(b"\n")?;
                kept += line.len() as u64 + 1;
            }
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        File::open(&self.dir)?.sync_all()?;
        self.file = std::fs::OpenOptions::new().append(true).open(&path)?;
        self.bytes = kept;
        self.compact_at = COMPACT_AT_BYTES.max(kept.saturating_mul(2));
        self.compactions += 1;
        Ok(())
    }

    /// After a snapshot recorded `generation + 1`: start that journal, drop this one.
    ///
    /// # Errors
    /// I/O errors removing the old journal (the next start removes it).
    pub fn retire(self) -> std::io::Result<()> {
        let path = Self::path(&self.dir, self.generation);
        drop(self.file);
        std::fs::remove_file(path)
    }
}

/// The key a delivered detection is marked by: its rule and the exact bytes of its events.
pub fn detection_key(rule_id: &str, events: &[crate::sequence::EventRef]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(rule_id.as_bytes());
    for e in events {
        h.update((e.raw.len() as u64).to_le_bytes());
        h.update(&e.raw);
    }
    hex::encode(&h.finalize()[..16])
}

/// `(event time, bounded, raw line)` of a well-formed record.
fn parse_record(line: &[u8]) -> Option<(i64, bool, &[u8])> {
    let mut parts = line.splitn(3, |&b| b == b'\t');
    let ts = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let bounded = match parts.next()? {
        b"0" => false,
        b"1" => true,
        _ => return None,
    };
    Some((ts, bounded, parts.next()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, EngineOptions};
    use crate::source::{Chunk, Origin};
    use std::sync::Arc;

    /// Journal a generated stream with a tiny compaction threshold: compaction runs, keeps
    /// only records inside the horizon, and a fresh engine fed the compacted journal then
    /// the rest of the stream finds every detection the uninterrupted run finds there.
    #[test]
    fn compaction_keeps_what_later_detections_need() {
        let dir = std::env::temp_dir().join(format!("seqhound-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let rules = Arc::new(RuleSet::embedded_default().unwrap());
        let mut data = Vec::new();
        crate::generate::generate(&crate::generate::GenerateConfig { seed: 11, hosts: 5, events: 4_000 }, &mut data).unwrap();
        let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        let (head, tail) = lines.split_at(3_000);
        let chunk = |ls: &[&[u8]]| Chunk { bytes: bytes::Bytes::from(ls.join(&b'\n')), origin: Origin::new("t"), first_line: 1 };
        let key = |d: &crate::sequence::Detection| detection_key(&rules.rules[d.rule].meta.rule_id, &d.events);

        // Uninterrupted: the detections completed by the tail.
        let opts = EngineOptions { lateness_ms: 0, ..Default::default() };
        let mut whole = Engine::new(rules.clone(), opts.clone());
        let mut before: HashSet<String> = HashSet::new();
        for ls in head.chunks(100) {
            before.extend(whole.push(&chunk(ls)).iter().map(key));
        }
        let mut after: HashSet<String> = HashSet::new();
        for ls in tail.chunks(100) {
            after.extend(whole.push(&chunk(ls)).iter().map(key));
        }
        after.extend(whole.finish().iter().map(key));
        let after: HashSet<String> = after.difference(&before).cloned().collect();
        assert!(!after.is_empty());

        // Journaled head, compacted many times.
        let (mut j, replay, _) = Journal::open(&dir, 0, &rules, 0, true).unwrap();
        assert!(replay.is_empty());
        j.compact_at = 4_096;
        let mut decoder = Engine::new_decoder(&rules, &opts);
        let mut with_candidates = 0;
        for ls in head.chunks(100) {
            let f = crate::engine::decode_and_filter(&rules, &mut decoder, &chunk(ls));
            with_candidates += u64::from(f.candidates.per_rule.iter().any(|c| !c.is_empty()));
            j.append(&f).unwrap();
            j.sync().unwrap();
        }
        assert!(j.compactions > 0);
        assert!(with_candidates > 0);
        assert_eq!(j.syncs, with_candidates, "every append with records reaches the disk before the batch is sequenced");
        drop(j);
        let (_, replay, _) = Journal::open(&dir, 0, &rules, 0, true).unwrap();
        let kept = replay.iter().filter(|&&b| b == b'\n').count();
        let candidates = head.iter().filter(|l| rules.precheck.may_match(l)).count();
        assert!(kept < candidates, "compaction kept {kept} of at most {candidates} records");

        // Rebuilt from the compacted journal, then the tail.
        let mut rebuilt = Engine::new(rules.clone(), opts);
        let replayed: Vec<String> = rebuilt.push(&Chunk { bytes: replay.into(), origin: Origin::new("journal"), first_line: 1 }).iter().map(key).collect();
        assert!(replayed.iter().all(|k| before.contains(k)), "the replay found a detection the stream did not have");
        let mut found: HashSet<String> = HashSet::new();
        for ls in tail.chunks(100) {
            found.extend(rebuilt.push(&chunk(ls)).iter().map(key));
        }
        found.extend(rebuilt.finish().iter().map(key));
        let found: HashSet<String> = found.difference(&before).cloned().collect();
        assert_eq!(found, after);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Group commit: batches appended one after another reach the disk with one flush,
    /// and a journal reopened after it holds every one of them, in order.
    #[test]
    fn one_sync_covers_every_append_before_it() {
        let dir = std::env::temp_dir().join(format!("seqhound-journal-group-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let rules = Arc::new(RuleSet::embedded_default().unwrap());
        let mut data = Vec::new();
        crate::generate::generate(&crate::generate::GenerateConfig { seed: 3, hosts: 5, events: 2_000 }, &mut data).unwrap();
        let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        let opts = EngineOptions { lateness_ms: 0, ..Default::default() };
        let mut decoder = Engine::new_decoder(&rules, &opts);
        let (mut j, _, _) = Journal::open(&dir, 0, &rules, 0, true).unwrap();
        j.sync().unwrap();
        assert_eq!(j.syncs, 0, "nothing appended, nothing flushed");
        let mut expected = Vec::new();
        for ls in lines.chunks(200) {
            let f = crate::engine::decode_and_filter(
                &rules,
                &mut decoder,
                &Chunk { bytes: bytes::Bytes::from(ls.join(&b'\n')), origin: Origin::new("t"), first_line: 1 },
            );
            let mut chunk: Vec<(u64, Vec<u8>)> = f.candidates.per_rule.iter().flatten().map(|c| (c.ordinal.arrival, c.event.raw.to_vec())).collect();
            chunk.sort();
            chunk.dedup_by_key(|c| c.0);
            expected.extend(chunk.into_iter().map(|c| c.1));
            j.append(&f).unwrap();
        }
        assert!(expected.len() > 10);
        j.sync().unwrap();
        assert_eq!(j.syncs, 1);
        drop(j);
        let (_, replay, _) = Journal::open(&dir, 0, &rules, 0, true).unwrap();
        let journaled: Vec<&[u8]> = replay.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        assert_eq!(journaled, expected.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn records_round_trip_and_torn_lines_are_skipped() {
        assert_eq!(parse_record(b"12\t1\t{\"a\":1}"), Some((12, true, &b"{\"a\":1}"[..])));
        assert_eq!(parse_record(b"-5\t0\t{}"), Some((-5, false, &b"{}"[..])));
        assert_eq!(parse_record(b"12\t1"), None);
        assert_eq!(parse_record(b"1x\t1\t{}"), None);
        assert_eq!(parse_record(b""), None);
    }

    /// What one restart does: the snapshot of a graceful stop (`graceful`) or nothing
    /// (SIGKILL), then a new engine restores the snapshot and replays the journal.
    fn run_with_restarts(dir: &Path, rules: &Arc<RuleSet>, lines: &[&[u8]], chunk: usize, restarts: &[(usize, bool)]) -> Vec<String> {
        let opts = EngineOptions { lateness_ms: 2_000, ..Default::default() };
        let snapshot = dir.join("pending.json");
        let key = |d: &crate::sequence::Detection| detection_key(&rules.rules[d.rule].meta.rule_id, &d.events);
        let mut emitted = Vec::new();
        let mut pos = 0;
        let mut stops = restarts.iter().copied().chain(std::iter::once((lines.len(), true))).peekable();
        while let Some((stop, graceful)) = stops.next() {
            let stop = stop.clamp(pos, lines.len());
            let mut engine = Engine::new(rules.clone(), opts.clone());
            let (_, generation) = engine.restore_state(&snapshot).unwrap();
            let (mut journal, replay, delivered) = Journal::open(dir, generation, rules, opts.lateness_ms, generation % 2 == 0).unwrap();
            let deliver = |dets: Vec<crate::sequence::Detection>, journal: &mut Journal, emitted: &mut Vec<String>| {
                let fresh: Vec<String> = dets.iter().map(key).filter(|k| !delivered.contains(k)).collect();
                journal.mark_delivered(fresh.iter().cloned()).unwrap();
                emitted.extend(fresh);
            };
            if !replay.is_empty() {
                let dets = engine.push(&Chunk { bytes: replay.into(), origin: Origin::new("journal"), first_line: 1 });
                deliver(dets, &mut journal, &mut emitted);
            }
            while pos < stop {
                let end = (pos + chunk).min(stop);
                let c = Chunk { bytes: bytes::Bytes::from(lines[pos..end].join(&b'\n')), origin: Origin::new("t"), first_line: 1 };
                let dets = engine
                    .push_observed(&c, false, |f| {
                        journal.append(f)?;
                        journal.sync()
                    })
                    .unwrap();
                deliver(dets, &mut journal, &mut emitted);
                pos = end;
            }
            if graceful {
                let dets = engine.finish();
                deliver(dets, &mut journal, &mut emitted);
                engine.save_state(&snapshot, journal.generation() + 1).unwrap();
                journal.retire().unwrap();
            }
            // SIGKILL: nothing more happens; the next start sees what is on disk.
        }
        emitted
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// Crashes and graceful stops anywhere, with events out of order inside the
        /// lateness: every detection of the uninterrupted run is emitted exactly once.
        #[test]
        fn restarts_anywhere_emit_every_detection_once(
            seed in 0u64..1_000,
            chunk in 1usize..400,
            restarts in proptest::collection::vec((0usize..3_000, proptest::bool::ANY), 0..5),
            swaps in proptest::collection::vec(0usize..2_999, 0..200),
        ) {
            let rules = Arc::new(RuleSet::embedded_default().unwrap());
            let mut data = Vec::new();
            crate::generate::generate(&crate::generate::GenerateConfig { seed, hosts: 4, events: 3_000 }, &mut data).unwrap();
            let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
            // Neighbours swapped: out of order by a few events, well inside the lateness.
            for i in swaps {
                lines.swap(i, i + 1);
            }
            let dir = std::env::temp_dir().join(format!("seqhound-journal-prop-{}-{seed}-{chunk}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let mut whole = run_with_restarts(&dir, &rules, &lines, chunk, &[]);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let mut restarts = restarts;
            restarts.sort();
            let mut interrupted = run_with_restarts(&dir, &rules, &lines, chunk, &restarts);
            let _ = std::fs::remove_dir_all(&dir);
            whole.sort();
            interrupted.sort();
            proptest::prop_assert_eq!(interrupted, whole);
        }
    }
}
