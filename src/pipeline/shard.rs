//! Sharded runs and their merge: a stable partition of the tasks, and the checks that make a
//! merge equal to one unsharded run.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use std::sync::atomic::{AtomicBool, Ordering};

use super::baseline::Baseline;
use super::execution::Marker;
use super::folder::{self, OutputFolder};
use super::outputs::{Finish, RunSummary, finalize};
use super::spec::{ExecutionSpec, SPEC_VERSION};
use super::taskfile::{self, Expected, TaskState};
use super::{RunError, out_err, task_file, write_atomic};
use crate::manifest::TaskList;
use crate::rules::RuleCatalog;

/// One of `count` disjoint parts of a manifest's tasks: a task belongs to shard
/// `fnv1a(task id) % count`, so the partition depends on the ids, not their order, and N
/// independent processes cover every task exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawShard")]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// A shard as written in `execution.json`, before the checks of the command line.
#[derive(Deserialize)]
struct RawShard {
    index: u32,
    count: u32,
}

/// A shard that does not exist, or an orchestrator index that is not one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ShardError(String);

impl TryFrom<RawShard> for Shard {
    type Error = ShardError;
    fn try_from(r: RawShard) -> Result<Shard, ShardError> {
        Shard::new(r.index, r.count)
    }
}

/// The most shards a run may be split into.
pub const MAX_SHARDS: u32 = 65_536;

impl Shard {
    /// Shard `index` of `count`, checked: 0 < count <= [`MAX_SHARDS`], index < count.
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 || count > MAX_SHARDS {
            return Err(ShardError(format!(
                "a run is split into 1 to {MAX_SHARDS} shards, not {count}"
            )));
        }
        if index >= count {
            return Err(ShardError(format!(
                "shard {index} of {count} does not exist: K runs from 0 to {} (Slurm: --array=0-{})",
                count - 1,
                count - 1
            )));
        }
        Ok(Shard { index, count })
    }

    /// Parses `K/N` (0 <= K < N), or `auto/N` with K from `JOB_COMPLETION_INDEX` (Kubernetes
    /// Indexed Job) or `SLURM_ARRAY_TASK_ID` (Slurm job array).
    pub fn parse(s: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard, ShardError> {
        let bad = |m: String| ShardError(m);
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| bad(format!("`{s}`: a shard is K/N, e.g. 0/4, or auto/N")))?;
        let count: u32 = n
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| bad(format!("`{s}`: N must be a positive whole number")))?;
        let index: u32 = if k == "auto" {
            let (var, value) =
                ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"]
                    .iter()
                    .find_map(|v| env(v).map(|x| (*v, x)))
                    .ok_or_else(|| {
                        bad("--shard auto/N needs JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or \
                         SLURM_ARRAY_TASK_ID (Slurm array) in the environment"
                        .into())
                    })?;
            value
                .trim()
                .parse()
                .map_err(|_| bad(format!("{var}={value} is not a whole number")))?
        } else {
            k.parse()
                .map_err(|_| bad(format!("`{s}`: K must be a whole number or `auto`")))?
        };
        Shard::new(index, count)
    }

    pub fn owns(&self, task_id: &str) -> bool {
        fnv1a(task_id.as_bytes()) % self.count as u64 == self.index as u64
    }
}

pub use crate::files::fnv1a;

/// A digest of the rule files' contents, so shards of different rules are never merged. The
/// files are streamed (a rules file may be larger than memory allows).
pub fn rules_digest(paths: &[PathBuf]) -> io::Result<String> {
    let mut h = crate::files::Fnv1a::default();
    for p in paths {
        h.file(p)?;
        h.separate();
    }
    Ok(format!("{:016x}", h.finish()))
}

pub(super) fn shard_name(s: Option<Shard>) -> String {
    s.map_or("no shard".into(), |s| {
        format!("shard {}/{}", s.index, s.count)
    })
}

/// Why shard folders cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{0} is not a pff output folder (no readable execution.json)")]
    NotAnOutput(String),
    #[error("{0}")]
    Mismatch(String),
    #[error("cannot merge: {0}")]
    Incomplete(String),
}

/// Checks that `shards` are the complete set of shards of one execution, with the same rules.
pub fn check_shards(shards: &[(PathBuf, ExecutionSpec)]) -> Result<ExecutionSpec, MergeError> {
    let Some((first_dir, first)) = shards.first() else {
        return Err(MergeError::Incomplete("no shard folders given".into()));
    };
    let Some(first_shard) = first.shard else {
        return Err(MergeError::Mismatch(format!(
            "{} is not a shard (it was run without --shard)",
            first_dir.display()
        )));
    };
    let n = first_shard.count;
    let mut seen: std::collections::BTreeMap<u32, &Path> = std::collections::BTreeMap::new();
    for (dir, info) in shards {
        let d = dir.display();
        same_execution(
            info,
            &d.to_string(),
            first,
            &first_dir.display().to_string(),
        )?;
        let Some(shard) = info.shard else {
            return Err(MergeError::Mismatch(format!("{d} is not a shard")));
        };
        if shard.count != n {
            return Err(MergeError::Mismatch(format!(
                "{d} is shard {}/{} but {} is one of {n}",
                shard.index,
                shard.count,
                first_dir.display()
            )));
        }
        if info.spec_version < SPEC_VERSION {
            return Err(MergeError::Mismatch(format!(
                "{d} was run by an older pff, which did not record all its settings; run the \
                 shards again with this one"
            )));
        }
        if info.checks != first.checks || info.encoding != first.encoding {
            return Err(MergeError::Mismatch(format!(
                "{d} was run with other check settings ({}, mapping `{}`) than {} ({}, mapping \
                 `{}`)",
                info.checks.describe(),
                info.mapping,
                first_dir.display(),
                first.checks.describe(),
                first.mapping
            )));
        }
        if info.manifest_digest != first.manifest_digest {
            return Err(MergeError::Mismatch(format!(
                "{d} was run from another manifest than {}",
                first_dir.display()
            )));
        }
        if let Some(other) = seen.insert(shard.index, dir) {
            return Err(MergeError::Mismatch(format!(
                "shard {}/{n} given twice: {} and {d}",
                shard.index,
                other.display()
            )));
        }
    }
    let missing: Vec<u32> = (0..n).filter(|i| !seen.contains_key(i)).collect();
    if !missing.is_empty() {
        let shown: Vec<String> = missing
            .iter()
            .take(20)
            .map(|i| format!("{i}/{n}"))
            .collect();
        return Err(MergeError::Incomplete(format!(
            "shard{} {}{} missing",
            if missing.len() == 1 { "" } else { "s" },
            shown.join(", "),
            if missing.len() > 20 {
                format!(" and {} more", missing.len() - 20)
            } else {
                String::new()
            }
        )));
    }
    Ok(ExecutionSpec {
        shard: None,
        merged_from: Some(n),
        outputs: Vec::new(),
        ..first.clone()
    })
}

/// Whether two shards ran the same execution: its id, rules, mapping and task list.
fn same_execution(
    info: &ExecutionSpec,
    d: &str,
    first: &ExecutionSpec,
    first_dir: &str,
) -> Result<(), MergeError> {
    let mismatch = |what: String| Err(MergeError::Mismatch(what));
    if info.execution_id != first.execution_id {
        return mismatch(format!(
            "{d} is execution `{}`, {first_dir} is `{}`",
            info.execution_id, first.execution_id
        ));
    }
    if info.rules_digest != first.rules_digest {
        return mismatch(format!(
            "{d} was checked with other rules (digest {}) than {first_dir} ({})",
            info.rules_digest, first.rules_digest
        ));
    }
    if info.mapping != first.mapping {
        return mismatch(format!(
            "{d} was read with mapping `{}`, {first_dir} with `{}`",
            info.mapping, first.mapping
        ));
    }
    if info.tasks_file != first.tasks_file {
        let name = |t: &Option<PathBuf>| {
            t.as_deref()
                .map_or("the manifest's".into(), |p| p.display().to_string())
        };
        return mismatch(format!(
            "{d} ran other tasks ({}) than {first_dir} ({})",
            name(&info.tasks_file),
            name(&first.tasks_file)
        ));
    }
    Ok(())
}

/// Where [`merge`] writes: the locked folder, its marker, the reports, and the findings are
/// marked against `baseline` when there is one.
pub struct MergeTo<'a> {
    /// The merge's folder, locked.
    pub folder: &'a OutputFolder,
    /// Its ledger, holding the merged execution's settings.
    pub marker: Marker,
    /// Findings are marked new or known against it.
    pub baseline: Option<&'a mut Baseline>,
}

/// Checks every task file of every shard (all bad ones are named at once), copies them into
/// `folder` and writes the final outputs, identical to those of one unsharded run.
pub fn merge(
    rules: &dyn RuleCatalog,
    tasks: &TaskList,
    shards: &[(PathBuf, ExecutionSpec)],
    to: MergeTo<'_>,
    stop: &AtomicBool,
) -> Result<RunSummary, RunError> {
    let MergeTo {
        folder,
        mut marker,
        baseline,
    } = to;
    let info = marker.info.clone();
    // A shard's tasks, in manifest order (a tasks file is read again, never held).
    let owned = |shard: Shard| -> Result<_, RunError> {
        Ok(tasks
            .keys()?
            .filter(move |t| t.as_ref().map_or(true, |(_, key)| shard.owns(key))))
    };
    let mut bad = Vec::new();
    for (dir, sinfo) in shards {
        let Some(shard) = sinfo.shard else { continue };
        let tasks = dir.join("tasks");
        if !fs::symlink_metadata(&tasks).is_ok_and(|m| m.is_dir()) {
            bad.push(format!(
                "{}: not a folder (links are not followed)",
                tasks.display()
            ));
            continue;
        }
        for task in owned(shard)? {
            let (i, t) = task?;
            let from = task_file(&tasks, i, &t);
            let want = Expected {
                execution: &info.execution_id,
                rules_digest: &info.rules_digest,
                index: i,
                task: &t,
            };
            match taskfile::check(&from, &want) {
                TaskState::Done | TaskState::Retry(_) => {}
                TaskState::Missing => bad.push(format!(
                    "{}: no result for task `{}`; finish it with `pff run --shard {}/{} --resume`",
                    from.display(),
                    t,
                    shard.index,
                    shard.count
                )),
                TaskState::Bad(why) => bad.push(format!(
                    "{}: {why}; rerun the shard with `pff run --shard {}/{} --resume`",
                    from.display(),
                    shard.index,
                    shard.count
                )),
            }
        }
    }
    if !bad.is_empty() {
        let mut msg = format!(
            "{} task file{} cannot be merged:",
            bad.len(),
            if bad.len() == 1 { "" } else { "s" }
        );
        for b in bad.iter().take(20) {
            msg.push_str("\n  ");
            msg.push_str(b);
        }
        if bad.len() > 20 {
            msg.push_str(&format!("\n  and {} more", bad.len() - 20));
        }
        return Err(MergeError::Incomplete(msg).into());
    }
    for (dir, sinfo) in shards {
        let Some(shard) = sinfo.shard else { continue };
        for task in owned(shard)? {
            if stop.load(Ordering::SeqCst) {
                return Err(RunError::Interrupted);
            }
            let (i, t) = task?;
            let from = task_file(&dir.join("tasks"), i, &t);
            let to = task_file(folder.tasks(), i, &t);
            let bytes = folder::read_nofollow(&from).map_err(|e| RunError::Input {
                path: from.display().to_string(),
                source: e,
            })?;
            write_atomic(&to, &bytes).map_err(out_err(&to))?;
        }
    }
    let fin = Finish {
        marker: &mut marker,
        stop,
        baseline,
    };
    finalize(rules, tasks, fin)
}
