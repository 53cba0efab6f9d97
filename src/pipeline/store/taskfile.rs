//! Task result files (`tasks/NNNNNN-<id>.json`): one JSON object per task, written by a worker
//! and read back by `finalize`, `--resume`, `--fresh` and `pff merge`.
//!
//! A file proves what it is by its content, never by its name: it names the execution, the
//! rules' digest, its manifest position and its task. A file that does not parse whole, or
//! names anything else, is not this task's result: `--resume` moves it aside and runs the
//! task again, `pff merge` refuses and names it.

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

/// A task file as read back. `R` is the records: skipped (`IgnoredAny`) unless reports are
/// written.
#[derive(Debug, Deserialize)]
pub struct TaskDigest<R = IgnoredAny> {
    pub pff_task: u32,
    pub execution: String,
    pub rules_digest: String,
    pub index: usize,
    pub task: String,
    pub sequence: String,
    #[serde(default)]
    pub error: Option<String>,
    /// The failure may pass (a timeout, too many open files): `--resume` runs the task again.
    #[serde(default)]
    pub retryable: bool,
    pub violations: SeverityCounts,
    pub findings: SeverityCounts,
    /// `[rule index, predicted, correct]` for the rules that applied.
    #[serde(default)]
    pub rule_counts: Vec<(usize, u64, u64)>,
    /// Records the task held (read, checked or failed).
    #[serde(default)]
    pub record_count: u64,
    /// Records by the severity of their strongest finding (the unit of the fail policy).
    #[serde(default)]
    pub records_by_severity: SeverityCounts,
    /// Records whose rules were cut short.
    #[serde(default)]
    pub cut_short: CutShort,
    pub records: R,
}

impl<R> TaskDigest<R> {
    /// The same digest with its records dropped.
    pub fn without_records(self) -> TaskDigest {
        TaskDigest {
            pff_task: self.pff_task,
            execution: self.execution,
            rules_digest: self.rules_digest,
            index: self.index,
            task: self.task,
            sequence: self.sequence,
            error: self.error,
            retryable: self.retryable,
            violations: self.violations,
            findings: self.findings,
            rule_counts: self.rule_counts,
            record_count: self.record_count,
            records_by_severity: self.records_by_severity,
            cut_short: self.cut_short,
            records: IgnoredAny,
        }
    }

    /// Records the verdict counts for this task: a task that failed before any record was
    /// read counts as one (failed) record, as the reports show it.
    pub fn counted_records(&self) -> u64 {
        if self.error.is_some() {
            self.record_count.max(1)
        } else {
            self.record_count
        }
    }

    /// Why this is not the result `want` names, if it is not.
    pub fn mismatch(&self, want: &Expected<'_>) -> Option<String> {
        if self.pff_task != TASK_FORMAT {
            Some(format!(
                "task file format {}, not {TASK_FORMAT}",
                self.pff_task
            ))
        } else if self.execution != want.execution {
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

/// The first fields a task file is written with (the rest is streamed by the worker).
#[derive(Debug, Serialize)]
pub struct TaskHead<'a> {
    pub pff_task: u32,
    pub execution: &'a str,
    pub rules_digest: &'a str,
    pub index: usize,
    pub task: &'a str,
    pub sequence: &'a str,
    pub source: &'a str,
    /// The manifest's `payload:` of the task, as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<&'a serde_json::Value>,
}

impl TaskHead<'_> {
    /// `{"pff_task":1,...,"source":"..."` without the closing brace: the records follow.
    pub fn open_object(&self) -> io::Result<Vec<u8>> {
        let mut v = serde_json::to_vec(self).map_err(io::Error::other)?;
        v.pop(); // the closing `}`
        Ok(v)
    }
}

/// The fields a task file ends with, after its records.
#[derive(Debug, Default, Serialize)]
pub struct TaskTail {
    /// `ok` or `failed`.
    pub status: &'static str,
    /// The first reason, when failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The failure may pass: `--resume` runs the task again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retryable: bool,
    /// Counts by severity of the (rule, missing triple) violations and of the findings.
    pub violations: SeverityCounts,
    pub findings: SeverityCounts,
    /// `[rule index, predicted, correct]` for the rules that applied.
    pub rule_counts: Vec<(usize, u64, u64)>,
    /// Records the task held.
    pub record_count: u64,
    /// Records by the severity of their strongest finding.
    pub records_by_severity: SeverityCounts,
    /// Records whose rules were cut short.
    pub cut_short: CutShort,
}

impl TaskTail {
    /// Counts one record's report.
    pub fn add_record(&mut self, r: &crate::report::RecordReport) {
        self.record_count += 1;
        self.violations.merge(&r.violations);
        self.findings.merge(&r.finding_counts);
        self.cut_short.add_record(&r.rules);
        if let Some(s) = r.strongest() {
            self.records_by_severity.add(s, 1);
        }
    }

    /// `,"status":...}` and a newline: what follows the records' closing bracket.
    pub fn close_object(&self) -> io::Result<Vec<u8>> {
        let mut v = serde_json::to_vec(self).map_err(io::Error::other)?;
        v[0] = b',';
        v.push(b'\n');
        Ok(v)
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
    Retry(String),
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
    match serde_json::from_slice::<TaskDigest>(&bytes) {
        Err(e) => TaskState::Bad(format!("is not a whole task result ({e})")),
        Ok(d) => match d.mismatch(want) {
            Some(why) => TaskState::Bad(why),
            None if d.retryable => TaskState::Retry(d.error.unwrap_or_default()),
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
            .and_then(|b| serde_json::from_slice::<TaskDigest>(&b).ok())
            .is_some_and(|d| d.pff_task == TASK_FORMAT && d.execution == execution)
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
             \"findings\":{{\"error\":0,\"warning\":0,\"info\":0}},\"rule_counts\":[]}}\n"
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
        assert!(matches!(check(&retry, &want), TaskState::Retry(w) if w == "timeout"));
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
