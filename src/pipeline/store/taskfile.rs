//! Task result files (`tasks/NNNNNN-<id>.json`): one JSON object per task, written by a worker
//! and read back by `finalize`, `--resume`, `--fresh` and `pff merge`.
//!
//! A file proves what it is by its content, never by its name: it names the execution, the
//! rules' digest, its manifest position and its task. A file that does not parse whole, or
//! names anything else, is not this task's result: `--resume` moves it aside and runs the
//! task again, `pff merge` refuses and names it.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::folder;
use crate::pipeline::shard::Shard;
use crate::pipeline::spec::ExecutionSpec;
use crate::report::{CutShort, SeverityCounts};

/// The version of the task file layout (`pff_task`).
/// 2: the tail counts records, records by severity and rules cut short.
pub const TASK_FORMAT: u32 = 2;

/// `NNNNNN-<anything>.json`, the shape of a task file's name.
pub fn is_task_file_name(name: &str) -> bool {
    name.len() > 12
        && name.as_bytes()[..6].iter().all(u8::is_ascii_digit)
        && name.as_bytes()[6] == b'-'
        && name.ends_with(".json")
}

/// A task of an execution: its position in the manifest and its key. It knows its file's
/// name, what that file must say to be its result, and which shard owns it.
#[derive(Debug, Clone, Copy)]
pub struct TaskRef<'a> {
    /// The task's position in the manifest (or tasks file).
    pub index: usize,
    /// The task's key (its id).
    pub key: &'a str,
}

impl<'a> TaskRef<'a> {
    /// The task file's path in `tasks_dir`: `NNNNNN-<key>.json`, the key's characters other
    /// than ASCII letters, digits, `-`, `_` and `.` replaced by `_`, at most 80 of them. The
    /// one function that names a task file.
    pub fn path(&self, tasks_dir: &Path) -> PathBuf {
        let safe: String = self
            .key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        tasks_dir.join(format!("{:06}-{safe}.json", self.index))
    }

    /// What the task file must say to be this task's result in `spec`'s execution.
    pub fn expected(&self, spec: &'a ExecutionSpec) -> Expected<'a> {
        Expected {
            execution: &spec.execution_id,
            rules_digest: &spec.rules_digest,
            index: self.index,
            task: self.key,
        }
    }

    /// Whether the task is run by `shard` (every task when `None`).
    pub fn owned_by(&self, shard: Option<Shard>) -> bool {
        shard.is_none_or(|s| s.owns(self.key))
    }
}

/// What a task file must say to be a given task's result.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub execution: &'a str,
    pub rules_digest: &'a str,
    pub index: usize,
    pub task: &'a str,
}

/// Whether a task was checked or failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every record was read and checked.
    #[default]
    Ok,
    /// The task failed (its source, a record); `error` says why.
    Failed,
}

/// A task file: one JSON object, written by a worker and read back by `finalize`, `--resume`,
/// `--fresh`, baselines and `pff merge` — all through this one type. `R` is the records
/// (streamed as they are checked when written; skipped with `IgnoredAny`, or read whole, when
/// read back); `T` the [`TaskTail`], which follows them (counted while they are written).
/// Every field must be there and known: a file that lacks one, or holds one this pff does
/// not know, is an error naming it ([`TaskFile::parse`]), never a silent drop.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskFile<R = IgnoredAny, T = TaskTail> {
    /// [`TASK_FORMAT`].
    pub pff_task: u32,
    /// The execution's id.
    pub execution: String,
    /// The digest of the rules the task was checked with.
    pub rules_digest: String,
    /// The task's position in the manifest.
    pub index: usize,
    /// The task's key.
    pub task: String,
    /// The task's request (`sequence:`).
    pub sequence: String,
    /// Where its data came from (a file or a URL).
    pub source: String,
    /// The manifest's `payload:` of the task, as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
    /// The record reports.
    pub records: R,
    /// The counts, after the records.
    #[serde(flatten)]
    pub tail: T,
}

/// The fields a task file ends with, after its records.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TaskTail {
    /// `ok` or `failed`.
    pub status: Status,
    /// The first reason, when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The failure may pass (a timeout, too many open files): `--resume` runs the task again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retryable: bool,
    /// (rule, missing triple) violations by severity.
    pub violations: SeverityCounts,
    /// Findings by severity.
    pub findings: SeverityCounts,
    /// `[rule index, predicted, correct]` for the rules that applied.
    pub rule_counts: Vec<(usize, u64, u64)>,
    /// Records the task held (read, checked or failed).
    pub record_count: u64,
    /// Records by the severity of their strongest finding (the unit of the fail policy).
    pub records_by_severity: SeverityCounts,
    /// Records whose rules were cut short.
    pub cut_short: CutShort,
    /// Fields this pff does not know, read only to be refused ([`TaskFile::parse`]).
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, IgnoredAny>,
}

/// Why bytes are not a whole task file this pff can read.
#[derive(Debug, thiserror::Error)]
pub enum TaskFileError {
    /// Another layout version.
    #[error("task file format {0}, not {TASK_FORMAT}")]
    Format(u32),
    /// Not whole JSON of this layout (cut short, a field missing or of the wrong type).
    #[error("not a whole task result: {0}")]
    Parse(#[source] serde_json::Error),
    /// Fields this pff does not know.
    #[error("fields this pff does not know: {} (written by another version of pff?)", .0.join(", "))]
    Unknown(Vec<String>),
}

/// Only the format number, to say why a file of another format does not parse.
#[derive(Deserialize)]
struct Version {
    pff_task: u32,
}

impl<R: serde::de::DeserializeOwned> TaskFile<R> {
    /// Reads a task file's bytes: the file whole, of this format, with every field known, or
    /// why not (a file of another format says so by its number).
    pub fn parse(bytes: &[u8]) -> Result<Self, TaskFileError> {
        let file: Self =
            serde_json::from_slice(bytes).map_err(|e| {
                match serde_json::from_slice::<Version>(bytes) {
                    Ok(v) if v.pff_task != TASK_FORMAT => TaskFileError::Format(v.pff_task),
                    _ => TaskFileError::Parse(e),
                }
            })?;
        if file.pff_task != TASK_FORMAT {
            return Err(TaskFileError::Format(file.pff_task));
        }
        if !file.tail.unknown.is_empty() {
            let names = file.tail.unknown.keys().cloned().collect();
            return Err(TaskFileError::Unknown(names));
        }
        Ok(file)
    }
}

impl<R> TaskFile<R> {
    /// Records the verdict counts for this task: a task that failed before any record was
    /// read counts as one (failed) record, as the reports show it.
    pub fn counted_records(&self) -> u64 {
        if self.tail.error.is_some() {
            self.tail.record_count.max(1)
        } else {
            self.tail.record_count
        }
    }

    /// The same file with its records dropped.
    pub fn without_records(self) -> TaskFile {
        TaskFile {
            pff_task: self.pff_task,
            execution: self.execution,
            rules_digest: self.rules_digest,
            index: self.index,
            task: self.task,
            sequence: self.sequence,
            source: self.source,
            payload: self.payload,
            records: IgnoredAny,
            tail: self.tail,
        }
    }
}

impl<R, T> TaskFile<R, T> {
    /// Why this is not the result `want` names, if it is not.
    pub fn mismatch(&self, want: &Expected<'_>) -> Option<String> {
        if self.execution != want.execution {
            Some(format!("it belongs to execution `{}`", self.execution))
        } else if self.rules_digest != want.rules_digest {
            Some(format!(
                "it was checked with other rules (digest {})",
                self.rules_digest
            ))
        } else if self.index != want.index || self.task != want.task {
            Some(format!(
                "it is the result of task `{}` at position {}",
                self.task, self.index
            ))
        } else {
            None
        }
    }
}

impl TaskTail {
    /// Counts one record's report.
    pub fn add_record<F>(&mut self, r: &crate::report::RecordReport<F>) {
        self.record_count += 1;
        self.violations.merge(&r.violations);
        self.findings.merge(&r.finding_counts);
        self.cut_short.add_record(&r.rules);
        if let Some(s) = r.strongest() {
            self.records_by_severity.add(s, 1);
        }
    }
}

/// What a task's result file holds.
#[derive(Debug)]
pub enum TaskState {
    /// No file: the task has not run.
    Missing,
    /// This task's final result.
    Done,
    /// A failure that may pass: run the task again.
    Retry,
    /// Not this task's result (truncated, foreign, a link): never trusted.
    Bad(String),
}

/// Reads and checks the file at `path` against `want`.
pub fn check(path: &Path, want: &Expected<'_>) -> TaskState {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return TaskState::Missing,
        Err(e) => return TaskState::Bad(format!("cannot be inspected: {e}")),
        Ok(m) if !m.file_type().is_file() => {
            return TaskState::Bad("is not a regular file (links are not followed)".into());
        }
        Ok(_) => {}
    }
    let bytes = match folder::read_nofollow(path) {
        Ok(b) => b,
        Err(e) => return TaskState::Bad(format!("cannot be read: {e}")),
    };
    match TaskFile::<IgnoredAny>::parse(&bytes) {
        Err(why) => TaskState::Bad(why.to_string()),
        Ok(d) => match d.mismatch(want) {
            Some(why) => TaskState::Bad(why),
            None if d.tail.retryable => TaskState::Retry,
            None => TaskState::Done,
        },
    }
}

/// Moves a file that is not this task's result out of the way (`<name>.rejected`, numbered
/// when taken): pff never deletes a file it cannot prove it wrote.
pub fn set_aside(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    for n in 0..1000 {
        let to = path.with_file_name(if n == 0 {
            format!("{name}.rejected")
        } else {
            format!("{name}.rejected-{n}")
        });
        if !folder::exists_nofollow(&to) {
            fs::rename(path, &to)?;
            return Ok(to);
        }
    }
    Err(io::Error::other(format!(
        "{} could not be moved aside: 1000 earlier rejected copies are in the way",
        path.display()
    )))
}

/// Whether the file at `path` is a task result of `execution` (for `--fresh`: only those are
/// removed).
pub fn belongs_to(path: &Path, execution: &str) -> bool {
    folder::is_plain_file(path)
        && folder::read_nofollow(path)
            .ok()
            .and_then(|b| TaskFile::<IgnoredAny>::parse(&b).ok())
            .is_some_and(|d| d.execution == execution)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, body).unwrap();
        p
    }

    fn result(execution: &str, index: usize, task: &str, extra: &str) -> String {
        format!(
            "{{\"pff_task\":2,\"execution\":\"{execution}\",\"rules_digest\":\"d\",\"index\":{index},\
             \"task\":\"{task}\",\"sequence\":\"validate\",\"source\":\"s\",\"records\":[],\
             \"status\":\"ok\"{extra},\"violations\":{{\"error\":0,\"warning\":0,\"info\":0}},\
             \"findings\":{{\"error\":0,\"warning\":0,\"info\":0}},\"rule_counts\":[],\
             \"record_count\":0,\"records_by_severity\":{{\"error\":0,\"warning\":0,\"info\":0}},\
             \"cut_short\":{{\"records\":0,\"rules_skipped\":0,\"rules_truncated\":0}}}}\n"
        )
    }

    #[test]
    fn only_the_tasks_own_whole_result_is_done() {
        let dir = tempfile::TempDir::new().unwrap();
        let want = Expected {
            execution: "e",
            rules_digest: "d",
            index: 3,
            task: "t",
        };
        let good = file(dir.path(), "a", &result("e", 3, "t", ""));
        assert!(matches!(check(&good, &want), TaskState::Done));
        let whole = result("e", 3, "t", "");
        let cut = file(dir.path(), "b", &whole[..whole.len() / 2]);
        assert!(matches!(check(&cut, &want), TaskState::Bad(w) if w.contains("not a whole")));
        let other_task = file(dir.path(), "c", &result("e", 4, "u", ""));
        assert!(matches!(check(&other_task, &want), TaskState::Bad(w) if w.contains("task `u`")));
        let other_exec = file(dir.path(), "d", &result("f", 3, "t", ""));
        assert!(
            matches!(check(&other_exec, &want), TaskState::Bad(w) if w.contains("execution `f`"))
        );
        let retry = file(
            dir.path(),
            "e",
            &result("e", 3, "t", ",\"error\":\"timeout\",\"retryable\":true"),
        );
        assert!(matches!(check(&retry, &want), TaskState::Retry));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        assert!(matches!(check(&link, &want), TaskState::Bad(_)));
        assert!(matches!(
            check(&dir.path().join("none"), &want),
            TaskState::Missing
        ));
        assert!(belongs_to(&good, "e") && !belongs_to(&good, "f") && !belongs_to(&cut, "e"));
    }

    #[test]
    fn a_field_missing_unknown_or_of_another_format_is_named() {
        let whole = result("e", 3, "t", "");
        assert!(TaskFile::<IgnoredAny>::parse(whole.as_bytes()).is_ok());
        let missing = whole.replace(",\"record_count\":0", "");
        let e = TaskFile::<IgnoredAny>::parse(missing.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `record_count`"), "{e}");
        let unknown = whole.replace("\"status\"", "\"colour\":\"red\",\"status\"");
        let e = TaskFile::<IgnoredAny>::parse(unknown.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not know: colour"), "{e}");
        let old = whole.replace("\"pff_task\":2", "\"pff_task\":1");
        let e = TaskFile::<IgnoredAny>::parse(old.as_bytes())
            .unwrap_err()
            .to_string();
        assert_eq!(e, "task file format 1, not 2");
        let e = TaskFile::<IgnoredAny>::parse(
            missing
                .replace("\"pff_task\":2", "\"pff_task\":1")
                .as_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "task file format 1, not 2");
    }

    #[test]
    fn task_file_names() {
        assert!(is_task_file_name("000012-5511.json"));
        assert!(!is_task_file_name("notes.json"));
        assert!(!is_task_file_name("000012-5511.json.rejected"));
        assert!(!is_task_file_name("00001-x.json"));
        let t = TaskRef {
            index: 12,
            key: "+55 11/ä",
        };
        assert_eq!(
            t.path(Path::new("tasks")),
            Path::new("tasks/000012-_55_11__.json")
        );
        assert!(is_task_file_name("000012-_55_11__.json"));
    }

    #[test]
    fn set_aside_never_overwrites() {
        let dir = tempfile::TempDir::new().unwrap();
        let p = file(dir.path(), "x.json", "1");
        let first = set_aside(&p).unwrap();
        file(dir.path(), "x.json", "2");
        let second = set_aside(&p).unwrap();
        assert_ne!(first, second);
        assert_eq!(fs::read_to_string(first).unwrap(), "1");
        assert_eq!(fs::read_to_string(second).unwrap(), "2");
    }
}
