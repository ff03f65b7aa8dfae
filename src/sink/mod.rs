//! Sinks: what seqhound does with a detection once the sequence stage reports it.
//!
//! * [`alert`] turns a detection into Elastic Security alert documents.
//! * [`compact`] renders a detection as one line for people.
//! * [`output`] delivers alert documents (console, file, HTTP, socket).
//! * [`vector`] delivers them over Vector's native gRPC protocol.
//! * [`audit`] writes the Parquet audit trail.
//! * [`metrics`] counts everything for `/metrics`.

pub mod alert;
pub mod audit;
pub mod compact;
pub mod metrics;
pub mod output;
pub mod vector;
