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
/// A process confined to one CPU (affinity or a cgroup quota) runs the whole pipeline in
/// the calling thread: there the reader, the worker and the sequencer could only take
/// turns, and every hand-over between them would cost a wake-up or a spinning wait.
///
/// # Errors
/// I/O errors of the inputs or of the sink.
pub fn replay_files(rules: Arc<RuleSet>, options: EngineOptions, inputs: &[String], threads: usize, sink: &mut dyn ReplaySink) -> crate::Result<Stats> {
    let one_cpu = thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    if threads <= 1 && one_cpu {
        replay_in_one_thread(rules, options, inputs, sink)
    } else {
        replay_in_threads(rules, options, inputs, threads, sink)
    }
}

/// The reader, decode workers and sequencer on threads of their own, joined by bounded
/// channels.
fn replay_in_threads(rules: Arc<RuleSet>, options: EngineOptions, inputs: &[String], threads: usize, sink: &mut dyn ReplaySink) -> crate::Result<Stats> {
    let threads = threads.max(1);
    let (chunk_tx, chunk_rx) = bounded::<(u64, crate::source::Chunk)>(threads * 4);
    let (out_tx, out_rx) = bounded::<(u64, Filtered)>(threads * 4);
    let mut in_order = InOrder::new(rules.clone(), options.clone(), sink);
    let keep_batches = in_order.sink.wants_batches();

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
        'receive: for (seq, f) in &out_rx {
            waiting.insert(seq, f);
            while let Some(f) = waiting.remove(&next) {
                next += 1;
                if let Err(e) = in_order.push(f) {
                    // Stop reading: dropping the receiver ends the workers and the reader.
                    sink_error = Some(e);
                    break 'receive;
                }
            }
        }
        drop(out_rx);
        let read_result = reader.join().map_err(|_| crate::Error::Internal("reader thread panicked".into()))?;
        if let Some(e) = sink_error {
            return Err(crate::Error::Io(e));
        }
        read_result?;
        in_order.finish()
    })
}

/// Read, decode, filter and sequence one chunk after another in the calling thread.
fn replay_in_one_thread(rules: Arc<RuleSet>, options: EngineOptions, inputs: &[String], sink: &mut dyn ReplaySink) -> crate::Result<Stats> {
    let mut decoder = Engine::new_decoder(&rules, &options);
    let mut in_order = InOrder::new(rules.clone(), options, sink);
    let keep_batches = in_order.sink.wants_batches();
    for path in inputs {
        let mut chunker = LineChunker::new(open(path)?, Origin::new(path)).without_line_numbers();
        while let Some(chunk) = chunker.next_chunk()? {
            in_order.push(decode_and_filter_keeping(&rules, &mut decoder, &chunk, keep_batches))?;
        }
    }
    in_order.finish()
}

/// The stateful end of the pipeline: takes filtered chunks in input order, numbers their
/// lines, sequences them and hands detections and errors to the sink.
struct InOrder<'s> {
    rules: Arc<RuleSet>,
    engine: Engine,
    sink: &'s mut dyn ReplaySink,
    /// Rules with `| head` / `| tail` need the whole result before anything is emitted.
    piped: Vec<Vec<Detection>>,
    next_line: u64,
}

impl<'s> InOrder<'s> {
    fn new(rules: Arc<RuleSet>, options: EngineOptions, sink: &'s mut dyn ReplaySink) -> Self {
        let engine = Engine::new(rules.clone(), options);
        let piped = rules.rules.iter().map(|_| Vec::new()).collect();
        InOrder { rules, engine, sink, piped, next_line: 1 }
    }

    /// The next chunk in input order.
    fn push(&mut self, mut f: Filtered) -> std::io::Result<()> {
        self.next_line = f.number_lines(self.next_line);
        self.sink.filtered(&f)?;
        let dets = self.engine.sequence(f);
        for e in self.engine.take_errors() {
            self.sink.data_error(&e);
        }
        for d in dets {
            self.deliver(d)?;
        }
        let st = self.engine.stats();
        self.sink.progress(st.bytes, st.events);
        Ok(())
    }

    /// A detection to the sink, or held back when its rule has pipes.
    fn deliver(&mut self, d: Detection) -> std::io::Result<()> {
        if self.rules.rules[d.rule].pipes.is_empty() {
            self.sink.detection(&self.rules, d)
        } else {
            self.piped[d.rule].push(d);
            Ok(())
        }
    }

    /// End of input: the sequences still open, then the piped rules' results.
    fn finish(mut self) -> crate::Result<Stats> {
        for d in self.engine.finish() {
            self.deliver(d)?;
        }
        for (i, mut dets) in std::mem::take(&mut self.piped).into_iter().enumerate() {
            crate::engine::apply_pipes(&self.rules.rules[i], &mut dets);
            for d in dets {
                self.sink.detection(&self.rules, d)?;
            }
        }
        Ok(self.engine.stats())
    }
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
        let inputs = [path.display().to_string()];
        let mut results = Vec::new();
        // 0 threads: the pipeline of a process confined to one CPU, all in this thread.
        for threads in [0, 1, 2] {
            let mut sink = Collect::default();
            if threads == 0 {
                replay_in_one_thread(rules.clone(), EngineOptions::default(), &inputs, &mut sink).expect("replay");
            } else {
                replay_in_threads(rules.clone(), EngineOptions::default(), &inputs, threads, &mut sink).expect("replay");
            }
            assert!(sink.events.len() >= 20, "the corpus has detections");
            for (line, raw) in &sink.events {
                assert!(lines[*line as usize - 1][..] == raw[..], "the event reported at line {line} ({threads} threads) is not that line of the file");
            }
            sink.errors.sort_unstable();
            assert_eq!(sink.errors, expected_errors);
            results.push(sink.events);
        }
        assert!(results.iter().all(|r| *r == results[0]), "the same detections, in the same order, however the pipeline runs");
        let _ = std::fs::remove_file(&path);
    }
}
