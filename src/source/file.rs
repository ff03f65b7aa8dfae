//! File and stdin sources: plain, `.gz` or `.zst` files, or `-` for stdin, cut into
//! [`Chunk`]s of whole lines.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use bytes::Bytes;

use super::{Chunk, Origin};

/// Target chunk size. Large enough to amortize per-chunk work, small enough to stay in
/// cache-friendly batches and to bound memory per in-flight chunk. (All 89 macOS rules,
/// 20 000 events: 1 093.4 M instructions with 256 KiB chunks, 1 063.0 M with 512 KiB —
/// every batch costs each rule's filter a few allocations and bitmaps; the seed rule is
/// within 0.3 %.)
pub const CHUNK_BYTES: usize = 512 * 1024;

/// Open `path` (`-` = stdin), decompressing by extension.
pub fn open(path: &str) -> io::Result<Box<dyn Read + Send>> {
    if path == "-" {
        return Ok(Box::new(io::stdin()));
    }
    let f = File::open(Path::new(path)).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
    if path.ends_with(".gz") {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, f))))
    } else if path.ends_with(".zst") || path.ends_with(".zstd") {
        Ok(Box::new(zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(1 << 20, f))?))
    } else {
        // Chunks are read in large blocks straight into their own buffers: a BufReader
        // would only add a copy.
        Ok(Box::new(f))
    }
}

/// Cuts a byte stream into chunks that end on line boundaries. A line longer than the
/// chunk size makes its chunk larger: lines are never split.
pub struct LineChunker<R> {
    reader: R,
    origin: Origin,
    /// The incomplete last line of the previous read.
    carry: Vec<u8>,
    next_line: u64,
    count_lines: bool,
    eof: bool,
    chunk_bytes: usize,
    pool: BufferPool,
}

/// Buffers of chunks no longer referenced anywhere, for the next chunks.
///
/// Why: a fresh buffer per chunk meant fresh pages from the kernel, faulted in and
/// zeroed on first write — about 4 % of a seed-rule replay. A buffer comes back only
/// when the last view of its chunk is dropped (see [`Recycled`]), so reuse can never
/// touch data still in use.
struct BufferPool {
    free: crossbeam_channel::Receiver<Vec<u8>>,
    give_back: crossbeam_channel::Sender<Vec<u8>>,
}

/// Buffers kept for reuse; the rest are freed. Enough for the chunks in flight.
const POOLED_BUFFERS: usize = 32;

impl BufferPool {
    fn new() -> Self {
        let (give_back, free) = crossbeam_channel::bounded(POOLED_BUFFERS);
        BufferPool { free, give_back }
    }

    /// An empty buffer of at least `capacity` bytes.
    fn take(&self, capacity: usize) -> Vec<u8> {
        let mut buf = self.free.try_recv().unwrap_or_default();
        buf.clear();
        buf.reserve(capacity);
        buf
    }

    /// `buf` as chunk bytes; it returns to the pool when the last view is dropped, unless
    /// it grew far beyond the chunk size (one huge line must not pin its memory).
    fn share(&self, buf: Vec<u8>, chunk_bytes: usize) -> Bytes {
        if buf.capacity() > 4 * chunk_bytes.max(64 * 1024) {
            return Bytes::from(buf);
        }
        Bytes::from_owner(Recycled { buf, give_back: self.give_back.clone() })
    }
}

/// Owner of a pooled chunk buffer.
struct Recycled {
    buf: Vec<u8>,
    give_back: crossbeam_channel::Sender<Vec<u8>>,
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        // A full pool (or a finished reader) frees the buffer instead.
        let _ = self.give_back.try_send(std::mem::take(&mut self.buf));
    }
}

impl<R: Read> LineChunker<R> {
    pub fn new(reader: R, origin: Origin) -> Self {
        Self::with_chunk_size(reader, origin, CHUNK_BYTES)
    }

    pub fn with_chunk_size(reader: R, origin: Origin, chunk_bytes: usize) -> Self {
        LineChunker { reader, origin, carry: Vec::new(), next_line: 1, eof: false, chunk_bytes: chunk_bytes.max(1), pool: BufferPool::new(), count_lines: true }
    }

    /// Leave line numbers to the in-order stage: chunks after the first have
    /// `first_line` 0 (see [`Chunk::first_line`]). Saves a pass over every byte in the
    /// reader, which the decoder makes anyway.
    pub fn without_line_numbers(mut self) -> Self {
        self.count_lines = false;
        self
    }

    /// The next chunk, or `None` at end of input.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        if self.eof && self.carry.is_empty() {
            return Ok(None);
        }
        // Each chunk gets its own buffer (chunks are shared with other threads), filled by
        // `read_to_end`, which reads into spare capacity without zeroing it first.
        let step = self.chunk_bytes.max(64 * 1024);
        let mut buf = self.pool.take(self.carry.len() + step);
        buf.append(&mut self.carry);
        loop {
            // Always `step` bytes, whatever the capacity of the (recycled) buffer: chunk
            // boundaries depend on the input alone, so the order in which detections of
            // different rules come out is the same on every run.
            if !self.eof && read_up_to(&mut self.reader, &mut buf, step as u64)? == 0 {
                self.eof = true;
            }
            // Cut after the last newline; one long line makes its chunk larger.
            let cut = match memchr::memrchr(b'\n', &buf) {
                Some(i) => i + 1,
                None if self.eof => buf.len(),
                None => {
                    buf.reserve(step);
                    continue;
                }
            };
            if cut == 0 {
                return Ok(None);
            }
            self.carry = buf[cut..].to_vec();
            buf.truncate(cut);
            let bytes = self.pool.share(buf, self.chunk_bytes);
            let first_line = self.next_line;
            if !self.count_lines {
                self.next_line = 0;
            } else {
                self.next_line += memchr::memchr_iter(b'\n', &bytes).count() as u64;
                if !bytes.ends_with(b"\n") {
                    self.next_line += 1;
                }
            }
            return Ok(Some(Chunk { bytes, origin: self.origin.clone(), first_line }));
        }
    }
}

/// Append up to `limit` bytes (fewer only at end of input).
fn read_up_to<R: Read>(reader: &mut R, buf: &mut Vec<u8>, limit: u64) -> io::Result<usize> {
    loop {
        match reader.by_ref().take(limit).read_to_end(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Cut an in-memory buffer into chunks at (about) the given byte offsets, each moved
/// forward to the next line boundary. For tests and tools.
pub fn chunks_at(data: &[u8], cuts: &[usize], origin: &Origin) -> Vec<Chunk> {
    let bytes = Bytes::copy_from_slice(data);
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut line = 1u64;
    let mut points: Vec<usize> = cuts.iter().copied().filter(|&c| c < data.len()).collect();
    points.sort_unstable();
    points.push(data.len());
    for p in points {
        if p < start {
            continue;
        }
        let end = if p >= data.len() {
            data.len()
        } else {
            match memchr::memchr(b'\n', &data[p..]) {
                Some(i) => p + i + 1,
                None => data.len(),
            }
        };
        if end <= start {
            continue;
        }
        let b = bytes.slice(start..end);
        let lines = memchr::memchr_iter(b'\n', &b).count() as u64;
        out.push(Chunk { bytes: b, origin: origin.clone(), first_line: line });
        line += lines;
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_end_on_lines() {
        let data = b"aa\nbbbb\ncc\n\nlong-line-here\nz";
        let mut c = LineChunker::with_chunk_size(&data[..], Origin::new("t"), 4);
        let mut all = Vec::new();
        let mut lines = Vec::new();
        while let Some(ch) = c.next_chunk().unwrap() {
            assert!(ch.bytes.ends_with(b"\n") || ch.bytes.ends_with(b"z"));
            lines.push(ch.first_line);
            all.extend_from_slice(&ch.bytes);
        }
        assert_eq!(all, data);
        assert_eq!(lines[0], 1);

        let cs = chunks_at(data, &[1, 5, 9], &Origin::new("t"));
        assert_eq!(cs.iter().map(|c| c.first_line).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert_eq!(cs.iter().flat_map(|c| c.bytes.to_vec()).collect::<Vec<_>>(), data);
    }

    /// A recycled buffer that grew for a long line must not make later chunks larger:
    /// the chunks are the same whether buffers come back to the pool or not.
    #[test]
    fn chunk_boundaries_do_not_depend_on_recycled_buffers() {
        let mut data = Vec::new();
        for i in 0..40_000u32 {
            if i % 10_000 == 5 {
                data.extend(std::iter::repeat_n(b'x', 150_000));
            }
            data.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        let boundaries = |recycle: bool| {
            let mut c = LineChunker::with_chunk_size(&data[..], Origin::new("t"), 1000);
            let (mut lengths, mut kept) = (Vec::new(), Vec::new());
            while let Some(ch) = c.next_chunk().unwrap() {
                lengths.push(ch.bytes.len());
                if !recycle {
                    kept.push(ch);
                }
            }
            lengths
        };
        let fresh = boundaries(false);
        assert!(fresh.len() > 5);
        assert_eq!(boundaries(true), fresh);
    }

    #[test]
    fn pooled_buffers_are_reused_only_when_free() {
        // Every third chunk is kept alive while the rest are dropped and their buffers reused.
        let data: Vec<u8> = (0..500_000u32).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
        let mut c = LineChunker::with_chunk_size(&data[..], Origin::new("t"), 1000);
        let mut kept = Vec::new();
        let mut seen = Vec::new();
        let mut n = 0;
        let mut starts = std::collections::HashSet::new();
        while let Some(ch) = c.next_chunk().unwrap() {
            starts.insert(ch.bytes.as_ptr() as usize);
            seen.extend_from_slice(&ch.bytes);
            if n % 3 == 0 {
                kept.push((ch.bytes.slice(1..), ch.bytes[1..].to_vec()));
            }
            n += 1;
        }
        assert_eq!(seen, data);
        assert!(kept.len() > 20);
        assert!(starts.len() < n, "no buffer was reused");
        for (view, copy) in &kept {
            assert_eq!(&view[..], &copy[..], "a chunk still in use was overwritten");
        }
    }
}
