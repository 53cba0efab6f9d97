//! Sharded runs and their merge: a stable partition of the tasks, and the checks that make a
//! merge equal to one unsharded run.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::outputs::{RunSummary, finalize};
use super::{RunError, out_err, task_file, write_atomic};
use crate::manifest::Manifest;
use crate::report::OutputFormat;
use crate::rules::RuleCatalog;

/// One of `count` disjoint parts of a manifest's tasks: a task belongs to shard
/// `fnv1a(task id) % count`, so the partition depends on the ids, not their order, and N
/// independent processes cover every task exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `K/N` (0 <= K < N), or `auto/N` with K from `JOB_COMPLETION_INDEX` (Kubernetes
    /// Indexed Job) or `SLURM_ARRAY_TASK_ID` (Slurm job array).
    pub fn parse(s: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: a shard is K/N, e.g. 0/4, or auto/N"))?;
        let count: u32 = n
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("`{s}`: N must be a positive whole number"))?;
        let index: u32 = if k == "auto" {
            let (var, value) = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"]
                .iter()
                .find_map(|v| env(v).map(|x| (*v, x)))
                .ok_or(
                    "--shard auto/N needs JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or \
                        SLURM_ARRAY_TASK_ID (Slurm array) in the environment",
                )?;
            value
                .trim()
                .parse()
                .map_err(|_| format!("{var}={value} is not a whole number"))?
        } else {
            k.parse()
                .map_err(|_| format!("`{s}`: K must be a whole number or `auto`"))?
        };
        if index >= count {
            return Err(format!(
                "shard {index} of {count} does not exist: K runs from 0 to {} (Slurm: --array=0-{})",
                count - 1,
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    pub fn owns(&self, task_id: &str) -> bool {
        fnv1a(task_id.as_bytes()) % self.count as u64 == self.index as u64
    }
}

/// FNV-1a, 64 bits: a stable hash (the same on every machine and release).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A digest of the rule files' contents, so shards of different rules are never merged. The
/// files are streamed (a rules file may be larger than memory allows).
pub fn rules_digest(paths: &[PathBuf]) -> io::Result<String> {
    use std::io::Read;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut buf = vec![0u8; 1 << 16];
    for p in paths {
        let mut f = fs::File::open(p)?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                h ^= b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h ^= 0xff;
    }
    Ok(format!("{h:016x}"))
}

/// What `execution.json` records about an output folder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExecutionInfo {
    pub execution_id: String,
    /// The manifest, absolute.
    pub manifest: PathBuf,
    /// The rule files, absolute, and a digest of their contents.
    pub rules: Vec<PathBuf>,
    pub rules_digest: String,
    /// Tasks in the manifest.
    pub manifest_tasks: usize,
    #[serde(default)]
    pub shard: Option<Shard>,
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

/// What a merge needs from each shard folder: its execution record.
pub fn read_execution(dir: &Path) -> Result<ExecutionInfo, MergeError> {
    fs::read(dir.join("execution.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| MergeError::NotAnOutput(dir.display().to_string()))
}

/// Checks that `shards` are the complete set of shards of one execution, with the same rules.
pub fn check_shards(shards: &[(PathBuf, ExecutionInfo)]) -> Result<ExecutionInfo, MergeError> {
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
    let mut seen: Vec<Option<&Path>> = vec![None; n as usize];
    for (dir, info) in shards {
        let d = dir.display();
        if info.execution_id != first.execution_id {
            return Err(MergeError::Mismatch(format!(
                "{d} is execution `{}`, {} is `{}`",
                info.execution_id,
                first_dir.display(),
                first.execution_id
            )));
        }
        if info.rules_digest != first.rules_digest {
            return Err(MergeError::Mismatch(format!(
                "{d} was checked with other rules (digest {}) than {} ({})",
                info.rules_digest,
                first_dir.display(),
                first.rules_digest
            )));
        }
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
        if let Some(other) = seen[shard.index as usize].replace(dir) {
            return Err(MergeError::Mismatch(format!(
                "shard {}/{n} given twice: {} and {d}",
                shard.index,
                other.display()
            )));
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(i, _)| format!("{i}/{n}"))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Incomplete(format!(
            "shard{} {} missing",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        )));
    }
    Ok(ExecutionInfo {
        shard: None,
        ..first.clone()
    })
}

/// Copies the shards' task files into `out` and writes the final outputs, identical to those of
/// one unsharded run. Every shard must be complete.
pub fn merge(
    rules: &dyn RuleCatalog,
    m: &Manifest,
    info: &ExecutionInfo,
    shards: &[(PathBuf, ExecutionInfo)],
    out: &Path,
    formats: &[OutputFormat],
) -> Result<RunSummary, RunError> {
    let tasks_dir = out.join("tasks");
    fs::create_dir_all(&tasks_dir).map_err(out_err(out))?;
    for (dir, sinfo) in shards {
        let Some(shard) = sinfo.shard else { continue };
        for (i, t) in m
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| shard.owns(&t.id))
        {
            let from = task_file(&dir.join("tasks"), i, t);
            let to = task_file(&tasks_dir, i, t);
            let bytes = fs::read(&from).map_err(|_| {
                RunError::Stopped(format!(
                    "cannot merge: shard {}/{} in {} has no result for task `{}`; finish it \
                     with `pff run --shard {}/{} --resume`",
                    shard.index,
                    shard.count,
                    dir.display(),
                    t.id,
                    shard.index,
                    shard.count
                ))
            })?;
            write_atomic(&to, &bytes).map_err(out_err(&to))?;
        }
    }
    let mut marker = serde_json::to_vec_pretty(info).unwrap_or_default();
    marker.push(b'\n');
    write_atomic(&out.join("execution.json"), &marker).map_err(out_err(out))?;
    let all: Vec<usize> = (0..m.tasks.len()).collect();
    finalize(rules, m, &all, out, formats)
}
