//! Error types, grouped by who is at fault.
//!
//! * **Rule/Config** — the user's rule files or configuration (with file positions).
//! * **Data** — a bad event: counted and reported, the row is skipped, the batch survives
//!   (see [`crate::decode::DataError`]; data errors never become an [`Error`]).
//! * **Io** — the environment.
//! * **Internal** — a bug: a broken invariant, reported instead of panicking.

use crate::rule::RuleError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Rule(RuleError),
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
