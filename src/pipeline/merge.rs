//! `pff merge`: shard folders of one execution into one folder equal to an unsharded run.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::RunError;
use super::baseline::Baseline;
use super::outputs::{Finish, RunSummary, finalize};
use super::shard::Shard;
use super::spec::{ExecutionSpec, SPEC_VERSION};
use super::store::taskfile::{self, TaskRef, TaskState};
use super::store::{Marker, OutputFolder, StoreError, folder, write_atomic, write_err};
use crate::manifest::TaskList;
use crate::rules::RuleCatalog;

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
        if let Some(other) = seen.insert(shard.index, dir) {
            return Err(MergeError::Mismatch(format!(
                "shard {}/{n} given twice: {} and {d}",
                shard.index,
                other.display()
            )));
        }
    }
    missing_shards(n, &seen)?;
    Ok(ExecutionSpec {
        shard: None,
        merged_from: Some(n),
        outputs: Vec::new(),
        ..first.clone()
    })
}

/// Refuses a merge that lacks some of the `n` shards (`seen`: the shards given, by index).
fn missing_shards(n: u32, seen: &std::collections::BTreeMap<u32, &Path>) -> Result<(), MergeError> {
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
    Ok(())
}

/// Whether two shards ran the same execution: its id, rules, mapping, task list, manifest and
/// settings, by a pff that recorded them all.
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
    if info.spec_version < SPEC_VERSION {
        return mismatch(format!(
            "{d} was run by an older pff, which did not record all its settings; run the \
             shards again with this one"
        ));
    }
    if info.checks != first.checks || info.encoding != first.encoding {
        return mismatch(format!(
            "{d} was run with other check settings ({}, mapping `{}`) than {} ({}, mapping \
             `{}`)",
            info.checks.describe(),
            info.mapping,
            first_dir,
            first.checks.describe(),
            first.mapping
        ));
    }
    if info.manifest_digest != first.manifest_digest {
        return mismatch(format!(
            "{d} was run from another manifest than {}",
            first_dir
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

/// A shard's tasks, in manifest order (a tasks file is read again, never held).
fn owned(
    tasks: &TaskList,
    shard: Shard,
) -> Result<
    impl Iterator<Item = Result<(usize, std::borrow::Cow<'_, str>), crate::manifest::TasksError>>,
    RunError,
> {
    Ok(tasks
        .keys()?
        .filter(move |t| t.as_ref().map_or(true, |(_, key)| shard.owns(key))))
}

/// Checks every task file of every shard against `info`'s execution: all bad ones are named
/// at once, with the command that finishes or reruns their shard.
fn check_task_files(
    tasks: &TaskList,
    shards: &[(PathBuf, ExecutionSpec)],
    info: &ExecutionSpec,
) -> Result<(), RunError> {
    let mut bad = Vec::new();
    for (dir, sinfo) in shards {
        let Some(shard) = sinfo.shard else { continue };
        let tasks_dir = dir.join("tasks");
        if !fs::symlink_metadata(&tasks_dir).is_ok_and(|m| m.is_dir()) {
            bad.push(format!(
                "{}: not a folder (links are not followed)",
                tasks_dir.display()
            ));
            continue;
        }
        let (k, n) = (shard.index, shard.count);
        for task in owned(tasks, shard)? {
            let (i, t) = task?;
            let task = TaskRef { index: i, key: &t };
            let from = task.path(&tasks_dir);
            match taskfile::check(&from, &task.expected(info)) {
                TaskState::Done | TaskState::Retry => {}
                TaskState::Missing => bad.push(format!(
                    "{}: no result for task `{t}`; finish it with `pff run --shard {k}/{n} \
                     --resume`",
                    from.display(),
                )),
                TaskState::Bad(why) => bad.push(format!(
                    "{}: {why}; rerun the shard with `pff run --shard {k}/{n} --resume`",
                    from.display(),
                )),
            }
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
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
    Err(MergeError::Incomplete(msg).into())
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
    check_task_files(tasks, shards, &marker.info)?;
    for (dir, sinfo) in shards {
        let Some(shard) = sinfo.shard else { continue };
        for task in owned(tasks, shard)? {
            if stop.load(Ordering::SeqCst) {
                return Err(RunError::Interrupted);
            }
            let (i, t) = task?;
            let task = TaskRef { index: i, key: &t };
            let (from, to) = (task.path(&dir.join("tasks")), task.path(folder.tasks()));
            let bytes = folder::read_nofollow(&from).map_err(|e| StoreError::Read {
                path: from.display().to_string(),
                source: e,
            })?;
            write_atomic(&to, &bytes).map_err(write_err(&to))?;
        }
    }
    let fin = Finish {
        marker: &mut marker,
        stop,
        baseline,
    };
    finalize(rules, tasks, fin)
}
