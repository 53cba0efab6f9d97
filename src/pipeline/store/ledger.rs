//! `execution.json`, the folder's ledger: the execution's settings and the files it wrote.
//! Every final output enters the folder one way: recorded in the ledger, written under a
//! temporary name, synced, renamed ([`Marker::put`], [`Marker::stage`] and
//! [`Marker::commit`]); what the ledger lists is what pff may later replace or remove.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::folder;
use super::{StoreError, write_err};
use crate::pipeline::spec::ExecutionSpec;

/// The execution record's name.
pub const EXECUTION_FILE: &str = "execution.json";
/// The manifest as the execution read it (what `pff merge` reads: the original may be gone or
/// moved, as a Kubernetes ConfigMap's files are).
pub const MANIFEST_COPY: &str = "execution.manifest.yaml";
/// The run's event log.
pub const EVENTS_FILE: &str = "events.jsonl";
/// Final outputs written by every complete run, besides the reports.
pub const FINAL_OUTPUTS: &[&str] = &[
    "summary.json",
    "results.csv",
    "rule-stats.txt",
    "rule-health.tsv",
];

/// `execution.json` of a folder being written: every output is recorded here before it is
/// put in place.
pub struct Marker {
    path: PathBuf,
    pub info: ExecutionSpec,
}

impl Marker {
    /// A new ledger for the folder `dir`, holding `info` (written at the first record).
    pub fn new(dir: &Path, info: ExecutionSpec) -> Self {
        Marker {
            path: dir.join(EXECUTION_FILE),
            info,
        }
    }

    /// Puts the output `name` into the folder: recorded, then written by `fill` under a
    /// temporary name, synced and renamed into place.
    /// `fill`'s own error is returned as it is; a failure to create, sync or rename the file
    /// is a [`StoreError`] naming it.
    pub fn put<T, E: From<StoreError>>(
        &mut self,
        name: &str,
        fill: impl FnOnce(&mut io::BufWriter<File>) -> Result<T, E>,
    ) -> Result<T, E> {
        /// The file's own failure, or `fill`'s.
        enum Failed<E> {
            File(io::Error),
            Fill(E),
        }
        impl<E> From<io::Error> for Failed<E> {
            fn from(e: io::Error) -> Self {
                Failed::File(e)
            }
        }
        let path = self.dir().join(name);
        self.record(name).map_err(write_err(&path))?;
        write_atomic_with(&path, |w| fill(w).map_err(Failed::Fill)).map_err(|f| match f {
            Failed::File(e) => write_err(&path)(e).into(),
            Failed::Fill(e) => e,
        })
    }

    /// Records `name` as this execution's output before it is created another way (the
    /// event log, appended to; the manifest copy a merge writes with its lock held).
    pub fn claim(&mut self, name: &str) -> Result<(), StoreError> {
        self.record(name).map_err(write_err(&self.dir().join(name)))
    }

    /// Starts the output `name` under a temporary name, to be filled over time and put in
    /// place by [`Marker::commit`] (dropped before, it is removed).
    pub fn stage(&self, name: &str) -> Result<Staged, StoreError> {
        let path = self.dir().join(name);
        Staged::create(&path).map_err(write_err(&path))
    }

    /// Puts a staged output in place: recorded, synced, renamed.
    pub fn commit(&mut self, staged: Staged) -> Result<(), StoreError> {
        let path = self.dir().join(&staged.name);
        self.record(&staged.name).map_err(write_err(&path))?;
        staged.commit().map_err(write_err(&path))
    }

    /// The folder the marker describes.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    fn write(&self) -> io::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(&self.info).map_err(io::Error::other)?;
        bytes.push(b'\n');
        write_atomic(&self.path, &bytes)
    }

    /// Records `name` as written by this execution (before it is written).
    fn record(&mut self, name: &str) -> io::Result<()> {
        if self.info.outputs.iter().any(|o| o == name) {
            return Ok(());
        }
        self.info.outputs.push(name.to_string());
        self.write()
    }
}

/// Reads a folder's `execution.json`: `None` when there is none; an error when there is one
/// that pff cannot have written (a link, or not an execution record).
pub fn read_marker(dir: &Path) -> Result<Option<ExecutionSpec>, StoreError> {
    let path = dir.join(EXECUTION_FILE);
    if !folder::exists_nofollow(&path) {
        return Ok(None);
    }
    let unsafe_err = |reason: String| StoreError::Unsafe {
        path: path.display().to_string(),
        reason,
    };
    let bytes = folder::read_nofollow(&path)
        .map_err(|e| unsafe_err(format!("cannot be read as a file ({e})")))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| unsafe_err(format!("is not a pff execution record: {e}")))
}

/// Writes `bytes` to `path` through a temporary file and a rename: readers (and a crash) see
/// the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], the contents streamed by `fill` (a file of any size in little memory).
pub fn write_atomic_with<T, E: From<io::Error>>(
    path: &Path,
    fill: impl FnOnce(&mut io::BufWriter<File>) -> Result<T, E>,
) -> Result<T, E> {
    let tmp = folder::temp_path(path);
    let written: Result<T, E> = (|| {
        let mut w = io::BufWriter::with_capacity(1 << 16, folder::create_new(&tmp)?);
        let value = fill(&mut w)?;
        let f = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        Ok(value)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// A file being written under a temporary name beside its final one (`folder::temp_path`,
/// created exclusively): [`Staged::commit`] syncs it and renames it into place; dropped
/// before, it is removed. The output folder's outputs go through [`Marker::commit`]; a
/// command's `-o FILE` uses it directly.
pub struct Staged {
    name: String,
    path: PathBuf,
    tmp: PathBuf,
    w: Option<io::BufWriter<fs::File>>,
}

impl Staged {
    /// Starts `path` under a temporary name.
    pub fn create(path: &Path) -> io::Result<Self> {
        let tmp = folder::temp_path(path);
        let file = folder::create_new(&tmp)?;
        Ok(Staged {
            name: path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            path: path.to_path_buf(),
            tmp,
            w: Some(io::BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// The final name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the content goes (an error once it is in place).
    pub fn writer(&mut self) -> io::Result<&mut io::BufWriter<fs::File>> {
        self.w
            .as_mut()
            .ok_or_else(|| io::Error::other("written after it was put in place"))
    }

    /// Syncs the file and renames it into place (its temporary name removed on failure).
    pub fn commit(mut self) -> io::Result<()> {
        let Some(w) = self.w.take() else {
            return Ok(());
        };
        let done = w
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .and_then(|h| h.sync_all())
            .and_then(|()| fs::rename(&self.tmp, &self.path));
        if done.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        done
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Left only when the run did not finish the file.
        if self.w.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}
