//! Sharded runs: a stable partition of the tasks that N independent processes cover exactly
//! once (their merge is `merge.rs`).

use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
