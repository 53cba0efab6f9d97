//! [`ExecutionSpec`]: every setting an execution's run, resume, shard and merge use, resolved
//! once from the flags, the manifest, the rule set and the defaults (`cli/settings.rs`), and
//! never changed after. Serialised, with the folder's ledger (`merged_from`, `outputs`), it is
//! `execution.json`: `pff merge` and `--resume` rebuild it from there.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::RunError;
use super::shard::{Shard, shard_name};
use crate::check;
use crate::report::{FailOn, FailPolicy, OutputFormat, Severity, SeverityCuts};
use crate::ruleset::Encoding;
use crate::triples::Mapping;

/// The version of [`ExecutionSpec`] this build writes. 2: the whole check settings, the
/// encoding, the reports and `fail_on_new` are recorded (a merge or a resume needs nothing
/// else); older records (0 or 1) can be a baseline, but are never resumed or merged.
pub const SPEC_VERSION: u32 = 2;

/// One execution's settings, and (as `execution.json`) which files of its folder it wrote.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExecutionSpec {
    /// [`SPEC_VERSION`] when written by this build.
    #[serde(default)]
    pub spec_version: u32,
    /// The execution's name: task files and baselines are matched by it.
    pub execution_id: String,
    /// The manifest as given, made absolute (symbolic links are not resolved: under a
    /// Kubernetes ConfigMap they point into a folder that differs from pod to pod).
    pub manifest: PathBuf,
    /// A digest of the manifest's text (its copy is `execution.manifest.yaml`).
    #[serde(default)]
    pub manifest_digest: String,
    /// The rule files, absolute (not resolved).
    pub rules: Vec<PathBuf>,
    /// A digest of the rule files' contents.
    pub rules_digest: String,
    /// Tasks in the manifest (or the tasks file).
    pub manifest_tasks: usize,
    /// The shard this folder runs (`None`: every task).
    #[serde(default)]
    pub shard: Option<Shard>,
    /// The JSON key that named nodes, for comparing with a baseline.
    #[serde(default = "default_id_key")]
    pub id_key: String,
    /// The mapping as [`Mapping::describe`] writes it: resuming, merging or comparing with a
    /// baseline needs the same one.
    #[serde(default = "default_mapping")]
    pub mapping: String,
    /// The whole encoding records were read under (the rule set's, or the settings given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// The tasks file given on the command line (`--tasks`, absolute) in place of the
    /// manifest's tasks: a resume and a merge read the same list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_file: Option<PathBuf>,
    /// What each record is checked with and what fails the run.
    #[serde(default)]
    pub checks: Checks,
    /// The reports written at the end (the manifest's and the command line's).
    #[serde(default)]
    pub reports: Vec<OutputFormat>,
    /// Fail (exit 1) on new findings only, with a baseline.
    #[serde(default)]
    pub fail_on_new: bool,
    /// What was noticed before the run (the encoding check), kept in `summary.json`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// This folder is a `pff merge` of this many shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<u32>,
    /// The files in the folder that an execution wrote (names in the folder): only these are
    /// ever replaced or removed.
    #[serde(default)]
    pub outputs: Vec<String>,
}

fn default_mapping() -> String {
    "plain".to_string()
}

fn default_id_key() -> String {
    crate::defaults::ID_KEY.to_string()
}

/// The check settings of an execution, as resolved from flags, manifest, rule set and
/// defaults: how each record is checked and when findings fail the run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Checks {
    /// The lowest severity that fails the run.
    pub fail_on: FailOn,
    /// Records at `fail_on` or above that a run tolerates.
    #[serde(default)]
    pub fail_on_count: u64,
    /// Share of records at `fail_on` or above that a run tolerates.
    #[serde(default)]
    pub fail_on_ratio: f64,
    /// Findings at or above this severity are kept with their evidence.
    pub keep: Severity,
    /// Cut points on a finding's score.
    pub severity: SeverityCuts,
    /// Rules below this confidence are not read.
    pub min_confidence: f64,
    /// Findings kept per record.
    pub max_violations: usize,
    /// Bindings one rule may try on one record before it is cut short.
    #[serde(default = "default_rule_work")]
    pub max_rule_work: u64,
    /// Seconds one task may take.
    #[serde(default = "default_budget")]
    pub task_time_budget_secs: f64,
}

fn default_rule_work() -> u64 {
    crate::defaults::RUN_MAX_RULE_WORK
}

fn default_budget() -> f64 {
    crate::defaults::RUN_TIME_BUDGET_SECS
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            fail_on: FailOn::default(),
            fail_on_count: 0,
            fail_on_ratio: 0.0,
            keep: crate::defaults::KEEP,
            severity: SeverityCuts::default(),
            min_confidence: 0.0,
            max_violations: crate::defaults::MAX_VIOLATIONS,
            max_rule_work: default_rule_work(),
            task_time_budget_secs: default_budget(),
        }
    }
}

impl Checks {
    /// When findings fail the run.
    pub fn fail_policy(&self) -> FailPolicy {
        FailPolicy {
            on: self.fail_on,
            count: self.fail_on_count,
            ratio: self.fail_on_ratio,
        }
    }

    /// How a worker checks one task's records (one record at a time per worker).
    pub fn options(&self) -> check::Options {
        check::Options {
            max_violations: self.max_violations,
            severity: self.severity,
            keep: self.keep,
            parallel_rules: false,
            max_rule_work: self.max_rule_work,
            time_budget: Some(Duration::from_secs_f64(self.task_time_budget_secs)),
            ..check::Options::default()
        }
    }
}

impl ExecutionSpec {
    /// How records become triples: the recorded encoding (records of an older pff hold only
    /// its description; they are never run again).
    pub fn mapping(&self) -> Mapping {
        self.encoding
            .as_ref()
            .map_or_else(Mapping::default, Encoding::mapping)
    }

    /// Whether an earlier run recorded as `self` can be resumed by `now`: the same shard,
    /// rules, encoding, task list and checks.
    pub fn resumable_by(&self, now: &ExecutionSpec, dir: &Path) -> Result<(), RunError> {
        let what = |i: &ExecutionSpec| {
            format!(
                "{}, rules {}, mapping `{}`, {} and checks {}",
                shard_name(i.shard),
                i.rules_digest,
                i.mapping,
                tasks_name(i.tasks_file.as_deref()),
                i.checks.describe()
            )
        };
        if self.spec_version < SPEC_VERSION {
            return Err(RunError::CannotResume {
                path: dir.display().to_string(),
                then: "an older pff".into(),
                now: format!("this one (record version {SPEC_VERSION})"),
            });
        }
        if self.shard != now.shard
            || self.rules_digest != now.rules_digest
            || self.mapping != now.mapping
            || self.encoding != now.encoding
            || self.tasks_file != now.tasks_file
            || self.checks != now.checks
        {
            return Err(RunError::CannotResume {
                path: dir.display().to_string(),
                then: what(self),
                now: what(now),
            });
        }
        Ok(())
    }
}

impl Checks {
    /// The settings as the flags that give them, for messages.
    pub fn describe(&self) -> String {
        format!(
            "--fail-on {:?} --fail-on-count {} --fail-on-ratio {} --keep {:?} \
             --error-confidence {} --warning-confidence {} --min-confidence {} \
             --max-violations {} --max-rule-work {} --time-budget {}",
            self.fail_on,
            self.fail_on_count,
            self.fail_on_ratio,
            self.keep,
            self.severity.error,
            self.severity.warning,
            self.min_confidence,
            self.max_violations,
            self.max_rule_work,
            self.task_time_budget_secs
        )
        .to_lowercase()
    }
}

/// Where an execution's tasks came from, for messages.
pub(super) fn tasks_name(given: Option<&Path>) -> String {
    given.map_or_else(
        || "the manifest's tasks".to_string(),
        |p| format!("--tasks {}", p.display()),
    )
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
    fn an_older_record_reads_with_defaults_and_is_not_resumed() {
        let old = r#"{"execution_id":"e","manifest":"/m.yaml","rules":["/r"],
            "rules_digest":"d","manifest_tasks":1,"outputs":[]}"#;
        let spec: ExecutionSpec = serde_json::from_str(old).unwrap();
        assert_eq!(spec.spec_version, 0);
        assert_eq!(spec.mapping, "plain");
        let now = ExecutionSpec {
            spec_version: SPEC_VERSION,
            ..spec.clone()
        };
        let e = spec.resumable_by(&now, Path::new("out")).unwrap_err();
        assert!(e.to_string().contains("an older pff"), "{e}");
        now.resumable_by(&now, Path::new("out")).unwrap();
        let stricter = ExecutionSpec {
            checks: Checks {
                max_violations: 3,
                ..now.checks
            },
            ..now.clone()
        };
        let e = now.resumable_by(&stricter, Path::new("out")).unwrap_err();
        assert!(e.to_string().contains("--max-violations 3"), "{e}");
    }
}
