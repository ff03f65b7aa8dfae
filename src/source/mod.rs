//! Sources: read bytes and cut them into [`Chunk`]s that end on a line boundary.
//!
//! A chunk is a few hundred KiB of whole NDJSON lines; nothing is allocated per event.

use std::sync::Arc;

use bytes::Bytes;

pub mod file;
pub mod framing;
pub mod vector;

/// Whole lines of NDJSON plus where they came from.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Whole lines; the last line may lack its `\n` only at end of input.
    pub bytes: Bytes,
    /// Where the bytes came from.
    pub origin: Origin,
    /// 1-based line number of the first line in `bytes`, for error reports; 0 when the
    /// reader did not count lines (that is a pass over every byte): the chunk's lines are
    /// then numbered from 1 within it, and made absolute in input order by
    /// [`crate::engine::Filtered::number_lines`].
    pub first_line: u64,
}

/// Where a chunk came from (a file name, `-` for stdin, a listener).
#[derive(Debug, Clone)]
pub struct Origin {
    pub name: Arc<str>,
}

impl Origin {
    pub fn new(name: &str) -> Self {
        Origin { name: Arc::from(name) }
    }
}
