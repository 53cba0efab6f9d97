//! pff: validate data against mined AnyBURL rules.
//!
//! Layers, lowest first (a layer never imports one above it):
//! [`severity`], [`defaults`], `files`, [`intern`], `lines`, `scratch` → [`rules`],
//! [`triples`] → [`engine`] → [`report`] → [`check`], `stats` → `validate`, `calibrate`,
//! `learn`, `ruleset`, `encoding` → `hardware`, [`manifest`] → `pipeline` → `cli`.
//!
//! The public API is the checking itself: rules, triples, the engine, a record's check and
//! its report, and the manifest. The commands (`pipeline`, `learn`, `calibrate`, ...) are
//! this crate's own, driven by the `pff` binary through `cli`.

#![warn(missing_docs)]

pub(crate) mod calibrate;
pub mod check;
pub mod defaults;
pub(crate) mod encoding;
pub mod engine;
pub(crate) mod files;
pub(crate) mod generate;
pub(crate) mod hardware;
pub mod intern;
pub(crate) mod learn;
pub(crate) mod lines;
pub mod manifest;
pub(crate) mod pipeline;
pub mod report;
pub mod rules;
pub(crate) mod ruleset;
pub(crate) mod scratch;
pub mod severity;
pub(crate) mod stats;
pub mod triples;
pub(crate) mod validate;

/// Process exit codes.
pub mod exit {
    /// No violation at or above the chosen level.
    pub const CLEAN: u8 = 0;
    /// Violations at or above the chosen level.
    pub const VIOLATIONS: u8 = 1;
    /// Bad usage, bad manifest, unreadable or malformed input.
    pub const ERROR: u8 = 2;
    /// `pff run`: some tasks failed.
    pub const TASKS_FAILED: u8 = 3;
    /// Everything was read, but some record's rules were cut short by the work bound
    /// (`--max-rule-work`) or a time budget: what was found stands, absence proves nothing.
    pub const INCOMPLETE: u8 = 4;
    /// Stopped by SIGINT (Ctrl-C): 128 + 2.
    pub const SIGINT: u8 = 130;
    /// Stopped by SIGTERM: 128 + 15.
    pub const SIGTERM: u8 = 143;

    /// How a command ended, for [`code`].
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Ending {
        /// The signal that stopped it (2 or 15).
        pub signal: Option<i32>,
        /// Tasks of a run that failed.
        pub failed_tasks: usize,
        /// Records of `pff validate` that could not be checked.
        pub failed_records: usize,
        /// Tasks of a run left without a result (their file missing or another's).
        pub unchecked: usize,
        /// Some record's rules were cut short.
        pub incomplete: bool,
        /// Findings at or above `--fail-on`.
        pub fails: bool,
    }

    /// The exit code, decided here only: a signal, then tasks left without a result (2),
    /// then failed tasks (3), then unreadable records (2), then rules cut short (4), then
    /// findings at or above `--fail-on` (1).
    pub fn code(e: Ending) -> u8 {
        match e {
            Ending {
                signal: Some(15), ..
            } => SIGTERM,
            Ending {
                signal: Some(_), ..
            } => SIGINT,
            Ending { unchecked, .. } if unchecked > 0 => ERROR,
            Ending { failed_tasks, .. } if failed_tasks > 0 => TASKS_FAILED,
            Ending { failed_records, .. } if failed_records > 0 => ERROR,
            Ending {
                incomplete: true, ..
            } => INCOMPLETE,
            Ending { fails: true, .. } => VIOLATIONS,
            _ => CLEAN,
        }
    }
}

/// Panics that are expected and handled where they happen (a library that reports a resource
/// failure only by panicking): the panic hook stays quiet for them.
pub mod panics {
    use std::cell::Cell;

    thread_local! {
        static QUIET: Cell<bool> = const { Cell::new(false) };
    }

    /// Runs `f`, catching a panic without the hook printing it.
    pub fn quietly<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
        QUIET.with(|q| q.set(true));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        QUIET.with(|q| q.set(false));
        r
    }

    /// Whether the current thread is inside [`quietly`].
    pub fn is_quiet() -> bool {
        QUIET.with(Cell::get)
    }
}

#[doc(hidden)]
pub mod cli;
