//! The output folder as a passive store beneath a run (no threads, no runtime): its lock and
//! temporary names ([`folder`]), its ledger `execution.json` and the one way a final output
//! enters it ([`ledger`]: recorded, written under a temporary name, renamed), and the task
//! files with the one function that names them ([`taskfile`]). The run's stages sit above it.

use std::io;
use std::path::Path;

pub mod folder;
pub mod ledger;
pub mod taskfile;

pub use folder::OutputFolder;
pub use ledger::{Marker, Staged, write_atomic};
pub use taskfile::TaskRef;

/// What went wrong with the output folder.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or folder of the output folder could not be written.
    #[error("cannot write to the output folder {path}")]
    Write {
        /// The file or folder.
        path: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A file pff must read could not be.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another live pff holds the folder.
    #[error("output folder {path} is in use by another pff ({holder}); wait for it or stop it")]
    Locked {
        /// The folder.
        path: String,
        /// What the lock file says of its holder.
        holder: String,
    },
    /// Something in the folder pff must not touch or trust.
    #[error("{path} {reason}")]
    Unsafe {
        /// The file or folder.
        path: String,
        /// Why, and what to do.
        reason: String,
    },
    /// A task file could be read but not understood: never silently left out.
    #[error(
        "task file {path} cannot be read back ({source}); move it away and run with --resume \
         to check its task again"
    )]
    TaskFile {
        /// The task file.
        path: String,
        /// Why.
        source: taskfile::TaskFileError,
    },
}

impl StoreError {
    /// The error of writing `path`, as a value for `map_err`.
    pub fn from_io(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
        write_err(path)
    }
}

/// The error of writing `path` in the output folder.
pub fn write_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Write {
        path: path.display().to_string(),
        source,
    }
}
