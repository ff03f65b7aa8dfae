//! Newline framing of a byte stream (a socket connection) into chunks of whole lines.
//!
//! Pure and synchronous, so the framing can be tested and fuzzed apart from the network:
//! the socket source feeds it whatever each read returned, in pieces of any size.
//!
//! A line longer than `max_line` bytes is dropped whole (counted, with its line number),
//! whether it arrives in one piece or over many reads: a sender that never ends its line
//! cannot grow the buffer beyond `max_line` plus one read. Line numbers of the lines
//! around it stay exact.

use bytes::{Bytes, BytesMut};

/// Flush a chunk once this many bytes of whole lines are buffered.
const CHUNK_BYTES: usize = 64 * 1024;

/// Room made before each read: reads stay large, and an idle connection holds no more.
const READ_BYTES: usize = 64 * 1024;

/// Whole lines ready to process, and where they start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed {
    /// Whole lines, each ending in `\n` (the last may lack it only at end of stream).
    pub bytes: Bytes,
    /// 1-based number of the first line.
    pub first_line: u64,
}

#[derive(Debug)]
pub struct LineFramer {
    buf: BytesMut,
    max_line: usize,
    /// Number of the line `buf` starts with.
    line: u64,
    /// Inside an oversized line: drop bytes until its end.
    skipping: bool,
    /// Numbers of the oversized lines dropped so far (taken by [`Self::take_oversized`]).
    oversized: Vec<u64>,
}

impl LineFramer {
    pub fn new(max_line: usize) -> Self {
        LineFramer { buf: BytesMut::new(), max_line, line: 1, skipping: false, oversized: Vec::new() }
    }

    /// The buffer to read into (append only), with room for a large read.
    pub fn buffer(&mut self) -> &mut BytesMut {
        self.buf.reserve(READ_BYTES);
        &mut self.buf
    }

    /// Memory the framer holds for its connection (the buffer's capacity).
    pub fn held_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Numbers of the lines dropped for their length since the last call.
    pub fn take_oversized(&mut self) -> Vec<u64> {
        let mut lines = std::mem::take(&mut self.oversized);
        // One call can find a line cut off at the end before longer lines before it.
        lines.sort_unstable();
        lines
    }

    /// After bytes were appended to [`Self::buffer`]: the whole lines ready, if enough
    /// are buffered (or `eof`, which also flushes a last line without `\n`).
    pub fn next_chunk(&mut self, eof: bool) -> Option<Framed> {
        self.next_chunk_within(eof, self.max_line)
    }

    /// [`Self::next_chunk`], with a lower limit for the line still open at the end of
    /// the buffer: when the connections together hold too much memory, a connection's
    /// unfinished line over `open_line_limit` is dropped like an oversized one.
    pub fn next_chunk_within(&mut self, eof: bool, open_line_limit: usize) -> Option<Framed> {
        let open_line_limit = open_line_limit.min(self.max_line);
        if self.skipping {
            match memchr::memchr(b'\n', &self.buf) {
                Some(i) => {
                    let _ = self.buf.split_to(i + 1);
                    self.skipping = false;
                    self.line += 1;
                }
                None => self.buf.clear(),
            }
        }
        let open_line = memchr::memrchr(b'\n', &self.buf).map_or(self.buf.len(), |i| self.buf.len() - i - 1);
        if !self.skipping && open_line > open_line_limit {
            let complete = self.buf.len() - open_line;
            self.oversized.push(self.line + memchr::memchr_iter(b'\n', &self.buf[..complete]).count() as u64);
            self.buf.truncate(complete);
            self.skipping = true;
            // Give the long line's memory back rather than keep its capacity.
            if self.buf.capacity() > 4 * READ_BYTES {
                self.buf = BytesMut::from(&self.buf[..]);
            }
        }
        let cut = if eof && !self.skipping { self.buf.len() } else { memchr::memrchr(b'\n', &self.buf).map_or(0, |i| i + 1) };
        if cut == 0 || !(eof || self.buf.len() >= CHUNK_BYTES || cut == self.buf.len()) {
            return None;
        }
        let first_line = self.line;
        let lines = self.buf.split_to(cut);
        let bytes = self.drop_oversized(lines).freeze();
        self.line += memchr::memchr_iter(b'\n', &bytes).count() as u64;
        Some(Framed { bytes, first_line })
    }

    /// Empty every complete line of `chunk` over the limit (a single read can bring a
    /// whole oversized line); its `\n` stays, so line numbers do not move.
    fn drop_oversized(&mut self, chunk: BytesMut) -> BytesMut {
        let mut start = 0;
        let mut spans = Vec::new();
        for (n, end) in memchr::memchr_iter(b'\n', &chunk).chain(std::iter::once(chunk.len())).enumerate() {
            if end > start && end - start > self.max_line {
                spans.push((start, end));
                self.oversized.push(self.line + n as u64);
            }
            start = end + 1;
        }
        if spans.is_empty() {
            return chunk;
        }
        let mut kept = BytesMut::with_capacity(chunk.len());
        let mut from = 0;
        for (a, b) in spans {
            kept.extend_from_slice(&chunk[from..a]);
            from = b;
        }
        kept.extend_from_slice(&chunk[from..]);
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::LineFramer;

    #[test]
    fn open_line_over_the_lower_limit_is_dropped_and_the_rest_kept() {
        let mut f = LineFramer::new(100);
        f.buffer().extend_from_slice(b"ok 1\nwhole line of forty bytes, kept....\nunfinished line, longer than 10");
        // Under memory pressure: only the unfinished line goes; whole lines stay.
        let framed = f.next_chunk_within(false, 10).expect("the whole lines");
        assert_eq!((&framed.bytes[..], framed.first_line), (&b"ok 1\nwhole line of forty bytes, kept....\n"[..], 1));
        assert_eq!(f.take_oversized(), vec![3]);
        // The rest of line 3 is skipped; the next line is line 4.
        f.buffer().extend_from_slice(b" and its end\nnext\n");
        let framed = f.next_chunk(true).expect("lines");
        assert_eq!((&framed.bytes[..], framed.first_line), (&b"next\n"[..], 4));
        assert!(f.take_oversized().is_empty());
    }

    #[test]
    fn oversized_lines_dropped_in_any_cut() {
        let input = b"a\nbb\n0123456789\nccc\n0123456789abcdef\nd";
        for sizes in [&[1][..], &[3, 7], &[100], &[5, 1, 13]] {
            let (lines, over) = crate::fuzzing::frame_lines(input, sizes, 5);
            let kept: Vec<(u64, &[u8])> = lines.iter().filter(|(_, l)| !l.is_empty()).map(|(n, l)| (*n, &l[..])).collect();
            assert_eq!(kept, vec![(1, &b"a"[..]), (2, b"bb"), (4, b"ccc"), (6, b"d")], "{sizes:?}");
            assert_eq!(over, vec![3, 5], "{sizes:?}");
        }
    }
}
