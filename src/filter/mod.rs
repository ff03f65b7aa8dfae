//! Filter: evaluates each rule stage's condition over whole columns of a decoded batch.
//!
//! Stateless per batch. [`predicate::Predicate`] is the compiled condition;
//! [`pattern::Pattern`] the per-value string tests chosen from each pattern's shape.
//! The per-rule candidate extraction (keys, timestamps) is in
//! [`crate::engine::filter_batch`], which produces the filter → sequence boundary type
//! [`Candidates`].

pub mod lucene_regex;
pub mod pattern;
pub mod predicate;
pub mod script;

pub use crate::engine::Candidates;
