//! `execution.json`: what an output folder holds and which of its files pff wrote; and the
//! preparation of a folder for a run or a merge (resume, `--fresh`, files that are not pff's).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::folder::{self, OutputFolder};
use super::shard::{Shard, shard_name};
use super::taskfile::{self, Expected, TaskState};
use super::{RunError, out_err, task_file, write_atomic};
use fixedbitset::FixedBitSet;

use crate::manifest::TaskList;
use crate::report::OutputFormat;

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

/// What `execution.json` records about an output folder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExecutionInfo {
    pub execution_id: String,
    /// The manifest as given, made absolute (symbolic links are not resolved: under a
    /// Kubernetes ConfigMap they point into a folder that differs from pod to pod).
    pub manifest: PathBuf,
    /// A digest of the manifest's text (its copy is `execution.manifest.yaml`).
    #[serde(default)]
    pub manifest_digest: String,
    /// The rule files, absolute (not resolved), and a digest of their contents.
    pub rules: Vec<PathBuf>,
    pub rules_digest: String,
    /// Tasks in the manifest.
    pub manifest_tasks: usize,
    #[serde(default)]
    pub shard: Option<Shard>,
    /// The JSON key that named nodes (the mapping), for comparing with a baseline.
    #[serde(default = "default_id_key")]
    pub id_key: String,
    /// The mapping as [`Mapping::describe`](crate::triples::json::Mapping::describe) writes
    /// it: resuming, merging or comparing with a baseline needs the same one.
    #[serde(default = "default_mapping")]
    pub mapping: String,
    /// The tasks file given on the command line (`--tasks`, absolute) in place of the
    /// manifest's tasks: a resume and a merge read the same list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_file: Option<PathBuf>,
    /// What the run checked and kept, after the command line's overrides (a merge reports
    /// with these).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<RecordedChecks>,
    /// This folder is a `pff merge` of this many shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<u32>,
    /// The files in the folder that an execution wrote (names in the folder): only these are
    /// ever replaced or removed.
    #[serde(default)]
    pub outputs: Vec<String>,
}

/// Whether an earlier run of the same execution can be resumed by this one: the same shard,
/// rules, mapping and task list.
fn resumable(e: &ExecutionInfo, now: &ExecutionInfo, dir: &Path) -> Result<(), RunError> {
    let what = |i: &ExecutionInfo| {
        format!(
            "{}, rules {}, mapping `{}` and {}",
            shard_name(i.shard),
            i.rules_digest,
            i.mapping,
            tasks_name(i.tasks_file.as_deref())
        )
    };
    if e.shard != now.shard
        || e.rules_digest != now.rules_digest
        || e.mapping != now.mapping
        || e.tasks_file != now.tasks_file
    {
        return Err(RunError::CannotResume {
            path: dir.display().to_string(),
            then: what(e),
            now: what(now),
        });
    }
    Ok(())
}

/// Where an execution's tasks came from, for messages.
fn tasks_name(given: Option<&Path>) -> String {
    given.map_or_else(
        || "the manifest's tasks".to_string(),
        |p| format!("--tasks {}", p.display()),
    )
}

fn default_mapping() -> String {
    "plain".to_string()
}

fn default_id_key() -> String {
    crate::defaults::ID_KEY.to_string()
}

/// The check settings of an execution, as resolved from flags, manifest and defaults.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct RecordedChecks {
    pub fail_on: crate::report::FailOn,
    #[serde(default)]
    pub fail_on_count: u64,
    #[serde(default)]
    pub fail_on_ratio: f64,
    pub keep: crate::report::Severity,
    pub severity: crate::report::SeverityCuts,
    pub min_confidence: f64,
    pub max_violations: usize,
}

impl RecordedChecks {
    pub fn of(c: &crate::manifest::Checks) -> Self {
        Self {
            fail_on: c.fail_on,
            fail_on_count: c.fail_on_count,
            fail_on_ratio: c.fail_on_ratio,
            keep: c.keep,
            severity: c.severity,
            min_confidence: c.min_confidence,
            max_violations: c.max_violations,
        }
    }

    /// Lays these settings over a manifest's.
    pub fn apply(&self, c: &mut crate::manifest::Checks) {
        c.fail_on = self.fail_on;
        c.fail_on_count = self.fail_on_count;
        c.fail_on_ratio = self.fail_on_ratio;
        c.keep = self.keep;
        c.severity = self.severity;
        c.min_confidence = self.min_confidence;
        c.max_violations = self.max_violations;
    }
}

/// `p` made absolute against the working directory, with `.` and `..` removed lexically and
/// symbolic links left as they are: the name an execution records for a file, the same from
/// any working directory, and valid in every pod that mounts the same volume at the same path.
pub fn absolute(p: &Path) -> PathBuf {
    use std::path::Component;
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `execution.json` of a folder being written: every output is recorded here before it is
/// put in place.
pub struct Marker {
    path: PathBuf,
    pub info: ExecutionInfo,
}

impl Marker {
    fn write(&self) -> io::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(&self.info).map_err(io::Error::other)?;
        bytes.push(b'\n');
        write_atomic(&self.path, &bytes)
    }

    /// Records `name` as written by this execution (before it is written).
    pub fn record(&mut self, name: &str) -> io::Result<()> {
        if self.info.outputs.iter().any(|o| o == name) {
            return Ok(());
        }
        self.info.outputs.push(name.to_string());
        self.write()
    }
}

/// Reads a folder's `execution.json`: `None` when there is none; an error when there is one
/// that pff cannot have written (a link, or not an execution record).
pub fn read_marker(dir: &Path) -> Result<Option<ExecutionInfo>, RunError> {
    let path = dir.join(EXECUTION_FILE);
    if !folder::exists_nofollow(&path) {
        return Ok(None);
    }
    let unsafe_err = |reason: String| RunError::Unsafe {
        path: path.display().to_string(),
        reason,
    };
    let bytes = folder::read_nofollow(&path)
        .map_err(|e| unsafe_err(format!("cannot be read as a file ({e})")))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| unsafe_err(format!("is not a pff execution record: {e}")))
}

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
fn discard(folder: &OutputFolder, earlier: &ExecutionInfo) -> Result<(), RunError> {
    let dir = folder.path();
    for name in &earlier.outputs {
        // A recorded name is a plain name in the folder, never a path.
        if name.contains('/') || name == ".." || name == "." {
            continue;
        }
        let p = dir.join(name);
        if folder::is_plain_file(&p) {
            fs::remove_file(&p).map_err(out_err(&p))?;
        }
    }
    let tasks = folder.tasks();
    if let Ok(entries) = fs::read_dir(tasks) {
        for e in entries.flatten() {
            let p = e.path();
            if is_task_file_name(&e.file_name().to_string_lossy())
                && taskfile::belongs_to(&p, &earlier.execution_id)
            {
                fs::remove_file(&p).map_err(out_err(&p))?;
            }
        }
    }
    let marker = dir.join(EXECUTION_FILE);
    fs::remove_file(&marker).map_err(out_err(&marker))
}

/// `NNNNNN-<anything>.json`, the shape of a task file's name.
pub(super) fn is_task_file_name(name: &str) -> bool {
    name.len() > 12
        && name.as_bytes()[..6].iter().all(u8::is_ascii_digit)
        && name.as_bytes()[6] == b'-'
        && name.ends_with(".json")
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
    pub info: &'a ExecutionInfo,
    pub manifest_text: &'a str,
    pub tasks: &'a TaskList,
    /// The shard run (`None`: every task).
    pub shard: Option<Shard>,
    pub formats: &'a [OutputFormat],
    pub resume: bool,
    pub fresh: bool,
}

/// Prepares a locked folder for a run: refuses another execution's folder, a merge's, files
/// pff did not write; applies `--fresh`; records the execution; checks every task file there.
pub fn prepare_run(folder: &OutputFolder, req: &RunRequest<'_>) -> Result<Prepared, RunError> {
    let dir = folder.path();
    let mut earlier = read_marker(dir)?;
    if let Some(e) = &earlier
        && let Some(n) = e.merged_from
    {
        return Err(RunError::Unsafe {
            path: dir.display().to_string(),
            reason: format!(
                "holds the merge of {n} shards of execution `{}`; pff run does not write into \
                 a merge's folder: choose another --output",
                e.execution_id
            ),
        });
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
        resumable(e, req.info, dir)?;
    }
    let owned = earlier.map(|e| e.outputs).unwrap_or_default();
    refuse_foreign(dir, &owned, req.formats)?;
    let mut marker = Marker {
        path: dir.join(EXECUTION_FILE),
        info: ExecutionInfo {
            outputs: owned,
            ..req.info.clone()
        },
    };
    marker.record(EVENTS_FILE).map_err(out_err(dir))?;
    marker.record(MANIFEST_COPY).map_err(out_err(dir))?;
    let copy = dir.join(MANIFEST_COPY);
    write_atomic(&copy, req.manifest_text.as_bytes()).map_err(out_err(&copy))?;

    let mut prepared = Prepared {
        marker,
        selected: 0,
        pending: FixedBitSet::with_capacity(req.tasks.len()),
        rejected: Vec::new(),
        retried: 0,
    };
    for task in req.tasks.keys()? {
        let (i, key) = task?;
        if !req.shard.is_none_or(|s| s.owns(&key)) {
            continue;
        }
        prepared.selected += 1;
        let path = task_file(folder.tasks(), i, &key);
        let want = Expected {
            execution: &req.info.execution_id,
            rules_digest: &req.info.rules_digest,
            index: i,
            task: &key,
        };
        match taskfile::check(&path, &want) {
            TaskState::Done => continue,
            TaskState::Missing => {}
            TaskState::Retry(_) => prepared.retried += 1,
            TaskState::Bad(why) => {
                let to = taskfile::set_aside(&path).map_err(out_err(&path))?;
                prepared.rejected.push(Rejected {
                    file: path.display().to_string(),
                    why,
                    moved_to: to.display().to_string(),
                });
            }
        }
        prepared.pending.grow_and_insert(i);
    }
    Ok(prepared)
}

/// Prepares a locked folder for `pff merge`: empty, or an earlier merge of the same shards
/// (same execution, rules and manifest). Never a run's or a shard's folder.
pub fn prepare_merge(
    folder: &OutputFolder,
    merged: &ExecutionInfo,
    formats: &[OutputFormat],
) -> Result<Marker, RunError> {
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
            return Err(RunError::Unsafe {
                path: dir.display().to_string(),
                reason: format!(
                    "holds {what}, not an earlier merge of these shards; merge into an empty \
                     folder"
                ),
            });
        }
        None => {
            let others: Vec<String> = fs::read_dir(dir)
                .map_err(out_err(dir))?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != folder::LOCK_FILE && !n.starts_with(folder::TMP_PREFIX))
                .filter(|n| {
                    n != "tasks"
                        || fs::read_dir(folder.tasks()).is_ok_and(|mut d| d.next().is_some())
                })
                .collect();
            if !others.is_empty() {
                return Err(RunError::Unsafe {
                    path: dir.display().to_string(),
                    reason: format!(
                        "is not empty ({}) and is not an earlier merge of these shards; merge \
                         into an empty folder",
                        others.join(", ")
                    ),
                });
            }
            Vec::new()
        }
    };
    refuse_foreign(dir, &owned, formats)?;
    let mut marker = Marker {
        path: dir.join(EXECUTION_FILE),
        info: ExecutionInfo {
            outputs: owned,
            ..merged.clone()
        },
    };
    marker.record(MANIFEST_COPY).map_err(out_err(dir))?;
    Ok(marker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_names_do_not_depend_on_the_working_directory() {
        assert_eq!(
            absolute(Path::new("/a/manifests/../data/./rules.txt")),
            Path::new("/a/data/rules.txt")
        );
        let here = std::env::current_dir().unwrap();
        assert_eq!(absolute(Path::new("x/../y")), here.join("y"));
    }

    #[test]
    fn task_file_names() {
        assert!(is_task_file_name("000012-5511.json"));
        assert!(!is_task_file_name("notes.json"));
        assert!(!is_task_file_name("000012-5511.json.rejected"));
        assert!(!is_task_file_name("00001-x.json"));
    }
}
