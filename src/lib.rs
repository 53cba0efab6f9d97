//! pff: validate data against mined AnyBURL rules.
//!
//! Layers, lowest first (a layer never imports one above it):
//! [`intern`] → [`rules`], [`triples`] → [`engine`] → [`report`] → [`validate`] → `cli`.

pub mod engine;
pub mod intern;
pub mod report;
pub mod rules;
pub mod triples;
pub mod validate;

#[doc(hidden)]
pub mod cli;
