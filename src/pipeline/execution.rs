//! `execution.json`: what an output folder holds and which of its files pff wrote; and the
//! preparation of a folder for a run or a merge (resume, `--fresh`, files that are not pff's).

use std::fs;
use std::io::Write;
use std::path::Path;

use super::RunError;
use super::spec::ExecutionSpec;
use super::store::folder::{self, OutputFolder};
use super::store::ledger::{
    EVENTS_FILE, EXECUTION_FILE, FINAL_OUTPUTS, MANIFEST_COPY, read_marker,
};
use super::store::taskfile::{self, TaskRef, TaskState, is_task_file_name};
use super::store::{Marker, StoreError, write_err};
use fixedbitset::FixedBitSet;

use crate::manifest::TaskList;
use crate::report::OutputFormat;

/// The names of the files a run or merge writing `formats` puts in the folder.
fn planned_outputs(formats: &[OutputFormat]) -> Vec<String> {
    FINAL_OUTPUTS
        .iter()
        .copied()
        .chain([EVENTS_FILE, MANIFEST_COPY])
        .map(String::from)
        .chain(formats.iter().map(|f| f.file_name().to_string()))
        .collect()
}

/// Refuses a folder holding a file at a name pff is about to write that no execution recorded
/// as its own.
fn refuse_foreign(dir: &Path, owned: &[String], formats: &[OutputFormat]) -> Result<(), RunError> {
    let foreign: Vec<String> = planned_outputs(formats)
        .into_iter()
        .filter(|n| folder::exists_nofollow(&dir.join(n)) && !owned.contains(n))
        .collect();
    if foreign.is_empty() {
        Ok(())
    } else {
        Err(RunError::Foreign {
            path: dir.display().to_string(),
            files: foreign.join(", "),
        })
    }
}

/// `--fresh`: removes what the earlier execution recorded as written and its task files (those
/// whose content names it), nothing else.
fn discard(folder: &OutputFolder, earlier: &ExecutionSpec) -> Result<(), RunError> {
    let dir = folder.path();
    for name in &earlier.outputs {
        // A recorded name is a plain name in the folder, never a path.
        if name.contains('/') || name == ".." || name == "." {
            continue;
        }
        let p = dir.join(name);
        if folder::is_plain_file(&p) {
            fs::remove_file(&p).map_err(write_err(&p))?;
        }
    }
    let tasks = folder.tasks();
    if let Ok(entries) = fs::read_dir(tasks) {
        for e in entries.flatten() {
            let p = e.path();
            if is_task_file_name(&e.file_name().to_string_lossy())
                && taskfile::belongs_to(&p, &earlier.execution_id)
            {
                fs::remove_file(&p).map_err(write_err(&p))?;
            }
        }
    }
    let marker = dir.join(EXECUTION_FILE);
    fs::remove_file(&marker).map_err(write_err(&marker))?;
    Ok(())
}

/// A task file that was not its task's result, and where it was moved.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub file: String,
    pub why: String,
    pub moved_to: String,
}

/// A folder ready for a run: its marker written, the tasks still to run known.
pub struct Prepared {
    pub marker: Marker,
    /// The tasks this run owns (all, or its shard's).
    pub selected: usize,
    /// Manifest positions of the tasks to run now (one bit a task).
    pub pending: FixedBitSet,
    /// Task files that were not their task's result, moved aside.
    pub rejected: Vec<Rejected>,
    /// Tasks whose earlier failure may pass, run again.
    pub retried: usize,
}

impl Prepared {
    /// How many tasks are pending.
    pub fn pending_count(&self) -> usize {
        self.pending.count_ones(..)
    }
}

/// What a run asks of its folder.
pub struct RunRequest<'a> {
    /// The execution (its shard, its reports).
    pub info: &'a ExecutionSpec,
    pub manifest_text: &'a str,
    pub tasks: &'a TaskList,
    pub resume: bool,
    pub fresh: bool,
}

/// Prepares a locked folder for a run: refuses another execution's folder, a merge's, files
/// pff did not write; applies `--fresh`; records the execution; checks every task file there.
pub fn prepare_run(folder: &OutputFolder, req: &RunRequest<'_>) -> Result<Prepared, RunError> {
    let dir = folder.path();
    let owned = earlier_outputs(folder, req)?;
    refuse_foreign(dir, &owned, &req.info.reports)?;
    let mut marker = Marker::new(
        dir,
        ExecutionSpec {
            outputs: owned,
            ..req.info.clone()
        },
    );
    marker.claim(EVENTS_FILE)?;
    marker.put(MANIFEST_COPY, |w| {
        w.write_all(req.manifest_text.as_bytes())
            .map_err(StoreError::from_io(dir))
    })?;
    let mut prepared = Prepared {
        marker,
        selected: 0,
        pending: FixedBitSet::with_capacity(req.tasks.len()),
        rejected: Vec::new(),
        retried: 0,
    };
    for task in req.tasks.keys()? {
        let (index, key) = task?;
        let task = TaskRef { index, key: &key };
        if task.owned_by(req.info.shard) {
            prepared.selected += 1;
            prepared.check(folder, task, req.info)?;
        }
    }
    Ok(prepared)
}

/// What an earlier execution in the folder wrote (nothing when there is none, or `--fresh`
/// discarded it): refuses a merge's folder, another execution's, one that is not resumed, and
/// one that cannot be resumed by this run.
fn earlier_outputs(folder: &OutputFolder, req: &RunRequest<'_>) -> Result<Vec<String>, RunError> {
    let dir = folder.path();
    let mut earlier = read_marker(dir)?;
    if let Some(e) = &earlier
        && let Some(n) = e.merged_from
    {
        return Err(StoreError::Unsafe {
            path: dir.display().to_string(),
            reason: format!(
                "holds the merge of {n} shards of execution `{}`; pff run does not write into \
                 a merge's folder: choose another --output",
                e.execution_id
            ),
        }
        .into());
    }
    if req.fresh
        && let Some(e) = earlier.take()
    {
        discard(folder, &e)?;
    }
    if let Some(e) = &earlier {
        if e.execution_id != req.info.execution_id {
            return Err(RunError::OtherExecution {
                path: dir.display().to_string(),
                found: e.execution_id.clone(),
                expected: req.info.execution_id.clone(),
            });
        }
        if !req.resume {
            return Err(RunError::NotEmpty(dir.display().to_string()));
        }
        e.resumable_by(req.info, dir)?;
    }
    Ok(earlier.map(|e| e.outputs).unwrap_or_default())
}

impl Prepared {
    /// Checks `task`'s file: done, to run, to run again, or not its result (moved aside, and
    /// run again).
    fn check(
        &mut self,
        folder: &OutputFolder,
        task: TaskRef<'_>,
        spec: &ExecutionSpec,
    ) -> Result<(), RunError> {
        let path = task.path(folder.tasks());
        match taskfile::check(&path, &task.expected(spec)) {
            TaskState::Done => return Ok(()),
            TaskState::Missing => {}
            TaskState::Retry => self.retried += 1,
            TaskState::Bad(why) => {
                let to = taskfile::set_aside(&path).map_err(write_err(&path))?;
                self.rejected.push(Rejected {
                    file: path.display().to_string(),
                    why,
                    moved_to: to.display().to_string(),
                });
            }
        }
        self.pending.grow_and_insert(task.index);
        Ok(())
    }
}

/// Prepares a locked folder for `pff merge`: empty, or an earlier merge of the same shards
/// (same execution, rules and manifest). Never a run's or a shard's folder.
pub fn prepare_merge(folder: &OutputFolder, merged: &ExecutionSpec) -> Result<Marker, RunError> {
    let dir = folder.path();
    let owned = match read_marker(dir)? {
        Some(e)
            if e.merged_from == merged.merged_from
                && e.execution_id == merged.execution_id
                && e.rules_digest == merged.rules_digest
                && e.manifest_digest == merged.manifest_digest =>
        {
            e.outputs
        }
        Some(e) => {
            let what = match (e.merged_from, e.shard) {
                (Some(n), _) => format!("a merge of {n} shards of execution `{}`", e.execution_id),
                (None, Some(s)) => format!(
                    "shard {}/{} of execution `{}`",
                    s.index, s.count, e.execution_id
                ),
                (None, None) => format!("a run of execution `{}`", e.execution_id),
            };
            return Err(StoreError::Unsafe {
                path: dir.display().to_string(),
                reason: format!(
                    "holds {what}, not an earlier merge of these shards; merge into an empty \
                     folder"
                ),
            }
            .into());
        }
        None => {
            let others: Vec<String> = fs::read_dir(dir)
                .map_err(write_err(dir))?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != folder::LOCK_FILE && !n.starts_with(folder::TMP_PREFIX))
                .filter(|n| {
                    n != "tasks"
                        || fs::read_dir(folder.tasks()).is_ok_and(|mut d| d.next().is_some())
                })
                .collect();
            if !others.is_empty() {
                return Err(StoreError::Unsafe {
                    path: dir.display().to_string(),
                    reason: format!(
                        "is not empty ({}) and is not an earlier merge of these shards; merge \
                         into an empty folder",
                        others.join(", ")
                    ),
                }
                .into());
            }
            Vec::new()
        }
    };
    refuse_foreign(dir, &owned, &merged.reports)?;
    let mut marker = Marker::new(
        dir,
        ExecutionSpec {
            outputs: owned,
            ..merged.clone()
        },
    );
    marker.claim(MANIFEST_COPY)?;
    Ok(marker)
}
