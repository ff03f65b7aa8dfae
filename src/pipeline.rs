//! Threads and bounded channels: the only place where stages meet concurrency.
//!
//! ```text
//!  reader ──chunks──► decode+filter workers (N) ──filtered──► sequencer (1, in order) ──► sink
//! ```
//!
//! Chunks are numbered as they are read; the sequencer re-establishes that order before
//! feeding the stateful stage, so detections do not depend on thread timing. All channels
//! are bounded: a slow sink slows the reader instead of growing memory.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread;

use crossbeam_channel::bounded;

use crate::engine::{decode_and_filter_keeping, Engine, EngineOptions, Filtered, Stats};
use crate::rule::RuleSet;
use crate::sequence::Detection;
use crate::source::file::{open, LineChunker};
use crate::source::Origin;

/// What the caller does with detections and progress.
pub trait ReplaySink {
    /// Called in order for every detection.
    ///
    /// # Errors
    /// An error stops the replay (e.g. the alert output is closed).
    fn detection(&mut self, rules: &RuleSet, d: Detection) -> std::io::Result<()>;
    /// Called after each chunk with the running totals.
    fn progress(&mut self, _bytes: u64, _events: u64) {}
    /// Keep each chunk's decoded batch for [`Self::filtered`] (the audit trail's `all`).
    fn wants_batches(&self) -> bool {
        false
    }
    /// Each chunk's filter result, in input order, before it is sequenced.
    ///
    /// # Errors
    /// Stops the replay.
    fn filtered(&mut self, _f: &Filtered) -> std::io::Result<()> {
        Ok(())
    }
    /// Data errors (malformed lines), reported as they are found.
    fn data_error(&mut self, _e: &crate::decode::DataError) {}
}

/// Replay files (`-` = stdin) through the engine with `threads` decode workers.
///
/// # Errors
/// I/O errors of the inputs or of the sink.
pub fn replay_files(rules: Arc<RuleSet>, options: EngineOptions, inputs: &[String], threads: usize, sink: &mut dyn ReplaySink) -> crate::Result<Stats> {
    let threads = threads.max(1);
    let (chunk_tx, chunk_rx) = bounded::<(u64, crate::source::Chunk)>(threads * 4);
    let (out_tx, out_rx) = bounded::<(u64, Filtered)>(threads * 4);
    let mut engine = Engine::new(rules.clone(), options.clone());
    let keep_batches = sink.wants_batches();

    thread::scope(|scope| -> crate::Result<Stats> {
        let inputs = inputs.to_vec();
        let reader = scope.spawn(move || -> std::io::Result<()> {
            let mut seq = 0u64;
            for path in inputs {
                let r = open(&path)?;
                let mut chunker = LineChunker::new(r, Origin::new(&path)).without_line_numbers();
                while let Some(chunk) = chunker.next_chunk()? {
                    if chunk_tx.send((seq, chunk)).is_err() {
                        return Ok(());
                    }
                    seq += 1;
                }
            }
            Ok(())
        });
        for _ in 0..threads {
            let rx = chunk_rx.clone();
            let tx = out_tx.clone();
            let rules = rules.clone();
            let options = options.clone();
            scope.spawn(move || {
                let mut decoder = Engine::new_decoder(&rules, &options);
                for (seq, chunk) in rx {
                    let f = decode_and_filter_keeping(&rules, &mut decoder, &chunk, keep_batches);
                    if tx.send((seq, f)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(chunk_rx);
        drop(out_tx);

        let mut waiting: BTreeMap<u64, Filtered> = BTreeMap::new();
        let mut next = 0u64;
        let mut sink_error: Option<std::io::Error> = None;
        // Rules with `| head` / `| tail` need the whole result before anything is emitted.
        let mut piped: Vec<Vec<Detection>> = rules.rules.iter().map(|_| Vec::new()).collect();
        let mut next_line = 1u64;
        for (seq, f) in &out_rx {
            waiting.insert(seq, f);
            while let Some(mut f) = waiting.remove(&next) {
                next += 1;
                next_line = f.number_lines(next_line);
                if sink_error.is_some() {
                    continue;
                }
                if let Err(e) = sink.filtered(&f) {
                    sink_error = Some(e);
                    continue;
                }
                let dets = engine.sequence(f);
                for e in engine.take_errors() {
                    sink.data_error(&e);
                }
                for d in dets {
                    if !rules.rules[d.rule].pipes.is_empty() {
                        piped[d.rule].push(d);
                        continue;
                    }
                    if let Err(e) = sink.detection(&rules, d) {
                        sink_error = Some(e);
                        break;
                    }
                }
                let st = engine.stats();
                sink.progress(st.bytes, st.events);
            }
            if sink_error.is_some() {
                // Stop reading: dropping the receiver ends the workers and the reader.
                break;
            }
        }
        drop(out_rx);
        let read_result = reader.join().map_err(|_| crate::Error::Internal("reader thread panicked".into()))?;
        if let Some(e) = sink_error {
            return Err(crate::Error::Io(e));
        }
        read_result?;
        for d in engine.finish() {
            if rules.rules[d.rule].pipes.is_empty() {
                sink.detection(&rules, d)?;
            } else {
                piped[d.rule].push(d);
            }
        }
        for (i, mut dets) in piped.into_iter().enumerate() {
            crate::engine::apply_pipes(&rules.rules[i], &mut dets);
            for d in dets {
                sink.detection(&rules, d)?;
            }
        }
        Ok(engine.stats())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{generate, GenerateConfig};

    #[derive(Default)]
    struct Collect {
        events: Vec<(u64, bytes::Bytes)>,
        errors: Vec<u64>,
    }

    impl ReplaySink for Collect {
        fn detection(&mut self, _rules: &RuleSet, d: Detection) -> std::io::Result<()> {
            self.events.extend(d.events.into_iter().map(|e| (e.line, e.raw)));
            Ok(())
        }
        fn data_error(&mut self, e: &crate::decode::DataError) {
            self.errors.push(e.line);
        }
    }

    /// The reader leaves line numbers to the in-order stage: every detected event and
    /// every malformed line must still carry its line number in the file, over many
    /// chunks, blank lines, a byte order mark at the start and one in the middle (which
    /// makes that line malformed), on one and on two threads.
    #[test]
    fn line_numbers_are_those_of_the_file() {
        let mut corpus = Vec::new();
        generate(&GenerateConfig { seed: 7, hosts: 20, events: 6_000 }, &mut corpus).expect("generate");
        let mut lines: Vec<Vec<u8>> = corpus.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
        lines[0].splice(0..0, *b"\xEF\xBB\xBF");
        let mut expected_errors = Vec::new();
        for (i, at) in [700usize, 2_500, 4_001, 5_999].into_iter().enumerate() {
            // Bad lines that look like a first stage, so the pre-check passes them on.
            let stage = br#"{"host":{"os":{"type":"macos"}},"event":{"category":"process","type":"start","action":"exec"},"process":{"name":"sh","parent":{"name":"installer"}}"#;
            if i == 1 {
                lines[at] = [&b"\xEF\xBB\xBF"[..], stage, b"}"].concat();
            } else {
                lines.insert(at, stage.to_vec());
            }
            expected_errors.push(at as u64 + 1);
        }
        lines.insert(3_000, Vec::new());
        lines.insert(3_001, b"  \r".to_vec());
        for e in expected_errors.iter_mut().filter(|l| **l > 3_000) {
            *e += 2;
        }
        let text = lines.join(&b'\n');
        assert!(text.len() > 8 * crate::source::file::CHUNK_BYTES, "the corpus spans many chunks");
        let path = std::env::temp_dir().join(format!("seqhound-lines-{}.ndjson", std::process::id()));
        std::fs::write(&path, &text).expect("write corpus");
        let rules = Arc::new(RuleSet::embedded_default().expect("seed rule"));
        for threads in [1, 2] {
            let mut sink = Collect::default();
            replay_files(rules.clone(), EngineOptions::default(), &[path.display().to_string()], threads, &mut sink).expect("replay");
            assert!(sink.events.len() >= 20, "the corpus has detections");
            for (line, raw) in &sink.events {
                assert!(lines[*line as usize - 1][..] == raw[..], "the event reported at line {line} ({threads} threads) is not that line of the file");
            }
            sink.errors.sort_unstable();
            assert_eq!(sink.errors, expected_errors);
        }
        let _ = std::fs::remove_file(&path);
    }
}
