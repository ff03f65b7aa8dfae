//! # seqhound
//!
//! Streaming Elastic EQL detection over ECS events, with Elasticsearch's semantics.
//!
//! ```text
//!  source             decode               filter                sequence             sinks
//!  ──────             ──────               ──────                ────────             ─────
//!  files/stdin ─► Chunk (whole lines) ─► EventBatch (Arrow,  ─► Candidates (per   ─► Detection ─► alerts
//!                 + byte pre-check        projected columns,     stage selection,     (ordered by   (Elastic
//!                                          Utf8View into chunk)   vectorized)          event time)   documents)
//! ```
//!
//! Boundary types:
//! * source → decode: [`source::Chunk`]
//! * decode → filter: [`decode::EventBatch`]
//! * filter → sequence: [`filter::Candidates`]
//! * sequence → sinks: [`sequence::Detection`]
//! * rules → everything: [`rule::CompiledRule`]
//!
//! Decode and filter are stateless per chunk; sequence is stateful and ordered. The
//! [`engine::Engine`] ties the sans-IO stages together; threads live in [`pipeline`].

pub mod config;
pub mod decode;
pub mod engine;
pub mod error;
pub mod filter;
#[doc(hidden)]
pub mod fuzzing;
pub mod generate;
pub mod loadgen;
pub mod pipeline;
pub mod rule;
pub mod sequence;
pub mod service;
pub mod sink;
pub mod source;

pub use error::{Error, Result};
