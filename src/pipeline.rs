//! `pff run`: tasks flow reader → workers → writer through bounded queues.
//!
//! ```text
//!  tokio (I/O): admit task ─(memory guard, stop flag)─▶ read ≤ io_concurrency at once
//!        │ bounded queue (input_queue)
//!        ▼
//!  workers (plain threads, `plan.workers`): triples + rules, one task each
//!        │ bounded queue (result_queue)
//!        ▼
//!  writer (calling thread): tasks/NNNNNN-<id>.json atomically, events.jsonl, progress
//! ```
//!
//! A task whose result file exists is done: `--resume` skips it, and the final `results.csv` and
//! `summary.json` are built from the result files, so an interrupted and resumed execution ends
//! with the same outputs as an uninterrupted one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::exit;
use crate::hardware::{Plan, current_rss, system_available};
use crate::manifest::{Manifest, Source, Task};
use crate::report::{
    Exporter, FailOn, OutputFormat, RecordReport, RuleHealth, RunInfo, SeverityCounts,
    SeverityCuts, Summary,
};
use crate::triples::Format;
use crate::validate::{RuleStats, Validator};

/// Why a run stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot write to the output folder {path}")]
    Output {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "output folder {0} already holds results of an execution; pass --resume to continue it, \
         --fresh to discard them, or choose another --output"
    )]
    NotEmpty(String),
    #[error("output folder {path} belongs to execution `{found}`, not `{expected}`")]
    OtherExecution {
        path: String,
        found: String,
        expected: String,
    },
    /// The run could not go on (memory budget, HTTP set-up).
    #[error("{0}")]
    Stopped(String),
    #[error("cannot start the I/O runtime")]
    Runtime(#[source] io::Error),
}

fn out_err(path: &Path) -> impl FnOnce(io::Error) -> RunError + '_ {
    move |source| RunError::Output {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename: readers (and a crash) see
/// the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

/// What a run needs besides the validator.
pub struct RunConfig<'a> {
    pub manifest: &'a Manifest,
    /// Written to `execution.json`; checked on `--resume` and by `pff merge`.
    pub info: ExecutionInfo,
    pub plan: &'a Plan,
    pub output: PathBuf,
    pub resume: bool,
    /// Discard an earlier execution's results in the output folder and start afresh.
    pub fresh: bool,
    pub quiet: bool,
    /// Reports written at the end, besides the manifest's.
    pub reports: Vec<OutputFormat>,
    pub fetch: FetchLimits,
    /// Run only this shard of the tasks.
    pub shard: Option<Shard>,
}

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

/// A digest of the rule files' contents, so shards of different rules are never merged.
pub fn rules_digest(paths: &[PathBuf]) -> io::Result<String> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in paths {
        for &b in &fs::read(p)? {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
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

/// The result file of one task.
#[derive(Debug, Serialize)]
struct TaskResult<'a> {
    task: &'a str,
    sequence: &'a str,
    source: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    violations: SeverityCounts,
    findings: SeverityCounts,
    records: Vec<RecordReport>,
    /// `[rule index, predicted, correct]` for the rules that applied.
    rule_counts: Vec<(usize, u64, u64)>,
}

/// The part of a task result file the final outputs need.
#[derive(Debug, Deserialize)]
struct TaskDigest {
    task: String,
    sequence: String,
    status: String,
    #[serde(default)]
    error: Option<String>,
    violations: SeverityCounts,
    findings: SeverityCounts,
    /// `[rule index, predicted, correct]` for the rules that applied.
    #[serde(default)]
    rule_counts: Vec<(usize, u64, u64)>,
}

/// Adds a task's per-rule counts (`[rule, predicted, correct]`, rules that applied).
fn add_rule_counts(stats: &mut RuleStats, counts: &[(usize, u64, u64)]) {
    for &(rule, predicted, correct) in counts {
        if let Some(c) = stats.counts.get_mut(rule) {
            c.predicted += predicted;
            c.correct += correct;
            c.applied += 1;
            if predicted == correct {
                c.held += 1;
            } else {
                c.broken += 1;
            }
        }
    }
}

/// The execution's totals, written as `summary.json`.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub execution_id: String,
    pub complete: bool,
    pub tasks: usize,
    pub tasks_done: usize,
    pub tasks_failed: usize,
    /// (rule, missing triple) violations by the rule's severity.
    pub violations: SeverityCounts,
    /// Findings (distinct missing triples per record) by severity.
    pub findings: SeverityCounts,
    pub fail_on: FailOn,
    pub rules: usize,
    /// How the rules fared on this execution's records (complete runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_health: Option<RuleHealth>,
}

/// How a run ended.
pub struct RunOutcome {
    pub summary: RunSummary,
    /// The exit code.
    pub code: u8,
    /// The most tasks admitted and not yet written at any time.
    pub max_in_flight: usize,
}

struct Events {
    file: File,
}

impl Events {
    fn log(&mut self, kind: &str, fields: serde_json::Value) {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut line = serde_json::json!({ "t_ms": ms, "event": kind });
        if let (Some(obj), serde_json::Value::Object(extra)) = (line.as_object_mut(), fields) {
            obj.extend(extra);
        }
        // One write per line, so that a kill leaves whole lines. Events are a log: a failed
        // write must not stop the run, results are what matter.
        let _ = self.file.write_all(format!("{line}\n").as_bytes());
    }
}

fn task_file(dir: &Path, index: usize, task: &Task) -> PathBuf {
    let safe: String = task
        .id
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
    dir.join(format!("{index:06}-{safe}.json"))
}

/// Runs the manifest's tasks.
pub fn run(validator: &Validator<'_>, cfg: &RunConfig<'_>) -> Result<RunOutcome, RunError> {
    let m = cfg.manifest;
    let out = &cfg.output;
    let tasks_dir = out.join("tasks");
    let marker = out.join("execution.json");
    if cfg.fresh && marker.exists() {
        // Only pff's own files: the folder may hold other things.
        let reports = [
            OutputFormat::Human,
            OutputFormat::Json,
            OutputFormat::Jsonl,
            OutputFormat::Markdown,
            OutputFormat::Junit,
            OutputFormat::Sarif,
        ]
        .map(|f| f.file_name());
        let ours = [
            "summary.json",
            "results.csv",
            "events.jsonl",
            "execution.json",
            "rule-stats.txt",
            "rule-health.tsv",
        ];
        for f in ours.iter().chain(&reports) {
            let p = out.join(f);
            if p.exists() {
                fs::remove_file(&p).map_err(out_err(&p))?;
            }
        }
        if tasks_dir.exists() {
            fs::remove_dir_all(&tasks_dir).map_err(out_err(&tasks_dir))?;
        }
    }
    if marker.exists() {
        let found: Option<ExecutionInfo> = fs::read(&marker)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let found_id = found
            .as_ref()
            .map_or("?", |f| f.execution_id.as_str())
            .to_string();
        if found_id != m.execution_id {
            return Err(RunError::OtherExecution {
                path: out.display().to_string(),
                found: found_id,
                expected: m.execution_id.clone(),
            });
        }
        if !cfg.resume {
            return Err(RunError::NotEmpty(out.display().to_string()));
        }
        if let Some(f) = found
            && (f.shard != cfg.shard || f.rules_digest != cfg.info.rules_digest)
        {
            return Err(RunError::Stopped(format!(
                "cannot resume {}: it was run with {} and rules {}, now {} and rules {}",
                out.display(),
                shard_name(f.shard),
                f.rules_digest,
                shard_name(cfg.shard),
                cfg.info.rules_digest
            )));
        }
    }
    fs::create_dir_all(&tasks_dir).map_err(out_err(out))?;
    // Temporary files a killed run left behind (never read: results are renamed into place).
    if let Ok(entries) = fs::read_dir(&tasks_dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| x.starts_with("tmp"))
            {
                let _ = fs::remove_file(&p);
            }
        }
    }
    let mut info = serde_json::to_vec_pretty(&cfg.info).unwrap_or_default();
    info.push(b'\n');
    write_atomic(&marker, &info).map_err(out_err(out))?;
    let selected: Vec<usize> = (0..m.tasks.len())
        .filter(|&i| cfg.shard.is_none_or(|s| s.owns(&m.tasks[i].id)))
        .collect();
    let events_path = out.join("events.jsonl");
    let mut events = Events {
        file: OpenOptions::new()
            .create(true)
            .append(true)
            .open(&events_path)
            .map_err(out_err(&events_path))?,
    };

    let pending: Vec<(usize, &Task)> = selected
        .iter()
        .map(|&i| (i, &m.tasks[i]))
        .filter(|(i, t)| !task_file(&tasks_dir, *i, t).exists())
        .collect();
    events.log(
        "start",
        serde_json::json!({
            "tasks": selected.len(), "pending": pending.len(), "resume": cfg.resume,
            "shard": cfg.shard,
            "workers": cfg.plan.workers, "memory_budget": cfg.plan.memory_budget,
        }),
    );

    let progress = if cfg.quiet || !io::IsTerminal::is_terminal(&io::stderr()) {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::with_draw_target(
            Some(selected.len() as u64),
            ProgressDrawTarget::stderr(),
        );
        pb.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} tasks  {per_sec}  ETA {eta}  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    };
    progress.set_position((selected.len() - pending.len()) as u64);

    let stop = Arc::new(AtomicBool::new(false));
    let signal = Arc::new(AtomicI32::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let fatal: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let (in_tx, in_rx) = tokio::sync::mpsc::channel::<(usize, Task, Result<Vec<u8>, String>)>(
        cfg.plan.input_queue.max(1),
    );
    let in_rx = Mutex::new(in_rx);
    let (res_tx, res_rx) =
        mpsc::sync_channel::<(usize, Task, Vec<u8>, TaskDigestLite)>(cfg.plan.result_queue.max(1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    let mut max_in_flight = 0usize;

    std::thread::scope(|scope| -> Result<(), RunError> {
        // I/O side: signals, admission under the memory guard, concurrent bounded reads.
        let reader = {
            let (stop, signal, in_flight, fatal) = (
                stop.clone(),
                signal.clone(),
                in_flight.clone(),
                fatal.clone(),
            );
            let plan = cfg.plan;
            let fetch_limits = cfg.fetch;
            let pending = pending.clone();
            let events_path = events_path.clone();
            let runtime = &runtime;
            scope.spawn(move || {
                runtime.block_on(async move {
                    tokio::spawn(watch_signals(stop.clone(), signal.clone()));
                    let fetcher = match Fetcher::new(fetch_limits) {
                        Ok(f) => Arc::new(f),
                        Err(e) => {
                            *fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                            return;
                        }
                    };
                    let permits = Arc::new(tokio::sync::Semaphore::new(plan.io_concurrency));
                    let mut guard_log = OpenOptions::new().append(true).open(&events_path).ok();
                    for (i, task) in pending {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        if let Err(e) = admit(plan, &in_flight, &stop, &mut guard_log).await {
                            *fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                            stop.store(true, Ordering::SeqCst);
                            break;
                        }
                        let Ok(permit) = permits.clone().acquire_owned().await else {
                            break;
                        };
                        in_flight.fetch_add(1, Ordering::SeqCst);
                        let tx = in_tx.clone();
                        let task = task.clone();
                        let fetcher = fetcher.clone();
                        // The send happens inside the spawned read, so a full queue holds the
                        // permit and stops further reads: backpressure up to admission.
                        tokio::spawn(async move {
                            let bytes = read_source(&task.source, &fetcher).await;
                            let _ = tx.send((i, task, bytes)).await;
                            drop(permit);
                        });
                    }
                    drop(in_tx);
                });
            })
        };

        // CPU side: plain threads, one task at a time each.
        let workers: Vec<_> = (0..cfg.plan.workers)
            .map(|_| {
                let res_tx = res_tx.clone();
                let in_rx = &in_rx;
                scope.spawn(move || {
                    loop {
                        let next = in_rx
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .blocking_recv();
                        let Some((i, task, bytes)) = next else { break };
                        let (json, lite) = check_task(validator, &task, bytes);
                        if res_tx.send((i, task, json, lite)).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        drop(res_tx);

        // Writer: results as soon as they exist.
        let mut write_error = None;
        for (i, task, json, lite) in res_rx.iter() {
            max_in_flight = max_in_flight.max(in_flight.load(Ordering::SeqCst));
            let path = task_file(&tasks_dir, i, &task);
            if let Err(e) = write_atomic(&path, &json) {
                write_error = Some(RunError::Output {
                    path: path.display().to_string(),
                    source: e,
                });
                stop.store(true, Ordering::SeqCst);
                in_flight.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            in_flight.fetch_sub(1, Ordering::SeqCst);
            events.log(
                if lite.failed { "task_failed" } else { "task_done" },
                serde_json::json!({ "task": task.id, "findings": lite.findings, "error": lite.error }),
            );
            progress.inc(1);
            progress.set_message(format!("RSS {} MB", current_rss() >> 20));
        }
        for w in workers {
            let _ = w.join();
        }
        let _ = reader.join();
        match write_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })?;
    runtime.shutdown_timeout(Duration::from_millis(100));
    progress.finish_and_clear();

    if let Some(e) = fatal.lock().unwrap_or_else(|p| p.into_inner()).take() {
        events.log(
            "stop",
            serde_json::json!({ "reason": "memory", "message": e }),
        );
        return Err(RunError::Stopped(e));
    }

    let mut formats: Vec<OutputFormat> = Vec::new();
    for f in m.reports.iter().chain(&cfg.reports) {
        if !formats.contains(f) {
            formats.push(*f);
        }
    }
    let summary = finalize(validator, m, &selected, out, &formats)?;
    let failed = summary.tasks_failed;

    let sig = signal.load(Ordering::SeqCst);
    let code = if sig != 0 {
        events.log("stop", serde_json::json!({ "reason": "signal", "signal": sig, "max_in_flight": max_in_flight }));
        if sig == 15 {
            exit::SIGTERM
        } else {
            exit::SIGINT
        }
    } else {
        events.log(
            "stop",
            serde_json::json!({ "reason": "done", "max_in_flight": max_in_flight }),
        );
        if failed > 0 {
            exit::TASKS_FAILED
        } else if m.fail_on.fails(&summary.findings) {
            exit::VIOLATIONS
        } else {
            exit::CLEAN
        }
    };
    Ok(RunOutcome {
        summary,
        code,
        max_in_flight,
    })
}

/// Writes the final outputs of an execution from its task files (this run's and earlier
/// ones'), for the tasks `selected` (manifest indices, ascending): `results.csv`,
/// `summary.json`, and when every selected task is done, `rule-stats.txt` and the reports.
pub fn finalize(
    validator: &Validator<'_>,
    m: &Manifest,
    selected: &[usize],
    out: &Path,
    formats: &[OutputFormat],
) -> Result<RunSummary, RunError> {
    let tasks_dir = out.join("tasks");
    let rules = validator.rules();
    let mut stats = RuleStats::new(rules.rules.len());
    let mut violations = SeverityCounts::default();
    let mut findings = SeverityCounts::default();
    let mut digests = Vec::new();
    for &i in selected {
        let p = task_file(&tasks_dir, i, &m.tasks[i]);
        if let Some(mut d) = fs::read(&p)
            .ok()
            .and_then(|b| serde_json::from_slice::<TaskDigest>(&b).ok())
        {
            violations.merge(&d.violations);
            findings.merge(&d.findings);
            // Counted now and dropped: kept for every task they would grow with the run.
            add_rule_counts(&mut stats, &std::mem::take(&mut d.rule_counts));
            digests.push(d);
        }
    }
    let failed = digests.iter().filter(|d| d.status == "failed").count();
    let complete = digests.len() == selected.len();
    let summary = RunSummary {
        rule_health: complete.then(|| stats.health(rules, 20)),
        execution_id: m.execution_id.clone(),
        complete,
        tasks: selected.len(),
        tasks_done: digests.len(),
        tasks_failed: failed,
        violations,
        findings,
        fail_on: m.fail_on,
        rules: rules.rules.len(),
    };
    write_atomic(&out.join("results.csv"), results_csv(&digests).as_bytes())
        .map_err(out_err(out))?;
    let mut s = serde_json::to_vec_pretty(&summary).unwrap_or_default();
    s.push(b'\n');
    write_atomic(&out.join("summary.json"), &s).map_err(out_err(out))?;
    if complete {
        // The rules with predicted/correct/confidence recomputed on this execution's records.
        let mut buf = Vec::new();
        stats.write(rules, &mut buf).map_err(out_err(out))?;
        write_atomic(&out.join("rule-stats.txt"), &buf).map_err(out_err(out))?;
        let mut buf = Vec::new();
        stats.write_health(rules, &mut buf).map_err(out_err(out))?;
        write_atomic(&out.join("rule-health.tsv"), &buf).map_err(out_err(out))?;
        if !formats.is_empty() {
            write_reports(validator, m, selected, &tasks_dir, out, formats, &stats)?;
        }
    }
    Ok(summary)
}

fn shard_name(s: Option<Shard>) -> String {
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
    validator: &Validator<'_>,
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
    finalize(validator, m, &all, out, formats)
}

/// The records of a task result file.
#[derive(Deserialize)]
struct TaskRecords {
    records: Vec<RecordReport>,
}

/// Writes the run's reports from the task files (in manifest order), each atomically.
fn write_reports(
    validator: &Validator<'_>,
    m: &Manifest,
    selected: &[usize],
    tasks_dir: &Path,
    out: &Path,
    formats: &[OutputFormat],
    stats: &RuleStats,
) -> Result<(), RunError> {
    let rules = validator.rules();
    let info = RunInfo {
        // The execution, not the manifest's path: a merged run's reports equal an unsharded one's.
        data: format!("execution {}", m.execution_id),
        rules: rules.source.clone(),
        rule_count: rules.rules.len(),
        severity: SeverityCuts::default(),
        fail_on: Some(m.fail_on),
    };
    let mut exporters: Vec<(OutputFormat, Box<dyn Exporter>, Vec<u8>)> = formats
        .iter()
        .map(|&f| (f, f.exporter(10, false), Vec::new()))
        .collect();
    let io_err = out_err(out);
    let mut fail = None;
    for (_, e, buf) in &mut exporters {
        if let Err(err) = e.begin(buf, &info) {
            fail = Some(err);
        }
    }
    let mut summary = Summary {
        rules_total: rules.rules.len(),
        fail_on: Some(m.fail_on),
        ..Summary::default()
    };
    for &i in selected {
        let Some(task) = fs::read(task_file(tasks_dir, i, &m.tasks[i]))
            .ok()
            .and_then(|b| serde_json::from_slice::<TaskRecords>(&b).ok())
        else {
            continue;
        };
        for r in &task.records {
            summary.add(r);
            for (_, e, buf) in &mut exporters {
                if let Err(err) = e.record(buf, r) {
                    fail = Some(err);
                }
            }
        }
    }
    summary.rules_violated = stats.counts.iter().filter(|t| t.broken > 0).count();
    summary.rule_health = Some(stats.health(rules, 20));
    summary.failed = m.fail_on.fails(&summary.findings);
    for (f, e, buf) in &mut exporters {
        if let Err(err) = e.finish(buf, &summary) {
            fail = Some(err);
        }
        if fail.is_none()
            && let Err(err) = write_atomic(&out.join(f.file_name()), buf)
        {
            fail = Some(err);
        }
    }
    match fail {
        Some(e) => Err(io_err(e)),
        None => Ok(()),
    }
}

/// What the writer needs of a checked task besides its JSON.
struct TaskDigestLite {
    failed: bool,
    error: Option<String>,
    findings: SeverityCounts,
}

fn check_task(
    validator: &Validator<'_>,
    task: &Task,
    bytes: Result<Vec<u8>, String>,
) -> (Vec<u8>, TaskDigestLite) {
    let label = task.source.to_string();
    let format = match &task.source {
        Source::File(p) => Format::from_path(p),
        Source::Url(u) => Format::from_path(Path::new(u.split(['?', '#']).next().unwrap_or(u))),
    }
    .unwrap_or(Format::Json);
    let checked = bytes.and_then(|b| {
        validator
            .check_bytes(&label, format, &b)
            .map_err(|e| e.to_string())
    });
    let mut result = TaskResult {
        task: &task.id,
        sequence: &task.sequence,
        source: label,
        status: "ok",
        error: None,
        violations: SeverityCounts::default(),
        findings: SeverityCounts::default(),
        records: Vec::new(),
        rule_counts: Vec::new(),
    };
    match checked {
        Ok((records, stats)) => {
            for r in &records {
                result.violations.merge(&r.violations);
                result.findings.merge(&r.finding_counts);
            }
            // A record that failed inside a multi-record file fails the task, with its reason.
            if let Some(e) = records.iter().find_map(|r| r.error.clone()) {
                result.status = "failed";
                result.error = Some(e);
            }
            result.rule_counts = stats
                .counts
                .iter()
                .enumerate()
                .filter(|(_, t)| t.applied > 0)
                .map(|(i, t)| (i, t.predicted, t.correct))
                .collect();
            result.records = records;
        }
        Err(e) => {
            result.status = "failed";
            result.error = Some(e);
        }
    }
    let lite = TaskDigestLite {
        failed: result.status == "failed",
        error: result.error.clone(),
        findings: result.findings,
    };
    let mut json = serde_json::to_vec(&result).unwrap_or_default();
    json.push(b'\n');
    (json, lite)
}

async fn read_source(source: &Source, http: &Fetcher) -> Result<Vec<u8>, String> {
    match source {
        Source::File(p) => tokio::fs::read(p)
            .await
            .map_err(|e| format!("cannot read {}: {e}", p.display())),
        Source::Url(u) => http.fetch(u).await,
    }
}

/// How `http(s)` task sources are fetched.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Largest body accepted.
    pub max_bytes: u64,
    /// Further attempts after a timeout, connection error or 5xx answer.
    pub retries: u32,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_bytes: 64 << 20,
            retries: 2,
        }
    }
}

/// An HTTP client with timeouts, a size limit, retries, and redirects only within the
/// original scheme (never to another scheme, never more than 5).
pub struct Fetcher {
    client: reqwest::Client,
    limits: FetchLimits,
}

impl Fetcher {
    pub fn new(limits: FetchLimits) -> Result<Fetcher, String> {
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let same_scheme = attempt
                .previous()
                .first()
                .is_some_and(|first| first.scheme() == attempt.url().scheme());
            if attempt.previous().len() > 5 {
                attempt.error("more than 5 redirects")
            } else if !same_scheme {
                let msg = format!(
                    "redirect to another scheme ({}) refused",
                    attempt.url().scheme()
                );
                attempt.error(msg)
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .timeout(limits.timeout)
            .connect_timeout(limits.timeout.min(Duration::from_secs(10)))
            .redirect(policy)
            .user_agent(concat!("pff/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up HTTP: {e}"))?;
        Ok(Fetcher { client, limits })
    }

    /// The body of `url`, retrying transient failures with a growing pause.
    pub async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut attempt = 0;
        loop {
            match self.once(url).await {
                Ok(body) => return Ok(body),
                Err((msg, transient)) => {
                    if !transient || attempt >= self.limits.retries {
                        let tries = if attempt > 0 {
                            format!(" (after {} attempts)", attempt + 1)
                        } else {
                            String::new()
                        };
                        return Err(format!("cannot fetch {url}: {msg}{tries}"));
                    }
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
                }
            }
        }
    }

    /// One attempt; the error says whether trying again could help.
    async fn once(&self, url: &str) -> Result<Vec<u8>, (String, bool)> {
        let mut resp = self.client.get(url).send().await.map_err(|e| {
            let transient = e.is_timeout() || e.is_connect() || e.is_request() && !e.is_redirect();
            (error_chain(&e), transient && !e.is_redirect())
        })?;
        let status = resp.status();
        if !status.is_success() {
            return Err((format!("HTTP {status}"), status.is_server_error()));
        }
        let max = self.limits.max_bytes;
        if let Some(len) = resp.content_length()
            && len > max
        {
            return Err((
                format!("body of {len} bytes exceeds the {max}-byte limit"),
                false,
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| (error_chain(&e), e.is_timeout()))?
        {
            if body.len() as u64 + chunk.len() as u64 > max {
                return Err((format!("body exceeds the {max}-byte limit"), false));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Waits until this process is under its memory budget. Fails fast when it is over budget with
/// nothing in flight: waiting could never help.
async fn admit(
    plan: &Plan,
    in_flight: &AtomicUsize,
    stop: &AtomicBool,
    log: &mut Option<File>,
) -> Result<(), String> {
    let mut paused = false;
    let mut log_line = |line: serde_json::Value| {
        if let Some(f) = log {
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    };
    loop {
        let rss = current_rss();
        let system = system_available(&plan.machine);
        let own = rss > plan.memory_budget;
        let machine = system < plan.system_reserve;
        if !own && !machine {
            if paused {
                log_line(
                    serde_json::json!({"event": "memory_resume", "rss": rss, "system_available": system}),
                );
            }
            return Ok(());
        }
        if in_flight.load(Ordering::SeqCst) == 0 {
            return Err(if own {
                format!(
                    "pff uses {} MB, above its memory budget of {} MB, with no task in flight; \
                     raise --memory-limit (or the manifest's resource_usage)",
                    rss >> 20,
                    plan.memory_budget >> 20
                )
            } else {
                format!(
                    "the machine has only {} MB available (pff keeps {} MB free) and pff has no \
                     task in flight to finish; stop other jobs and resume with --resume",
                    system >> 20,
                    plan.system_reserve >> 20
                )
            });
        }
        if !paused {
            paused = true;
            log_line(serde_json::json!({
                "event": "memory_pause", "rss": rss, "budget": plan.memory_budget,
                "system_available": system, "system_reserve": plan.system_reserve,
            }));
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// First SIGINT/SIGTERM: stop admitting. Second: exit at once.
async fn watch_signals(stop: Arc<AtomicBool>, signal: Arc<AtomicI32>) {
    use tokio::signal::unix::{SignalKind, signal as unix_signal};
    let (Ok(mut int), Ok(mut term)) = (
        unix_signal(SignalKind::interrupt()),
        unix_signal(SignalKind::terminate()),
    ) else {
        return;
    };
    loop {
        let sig = tokio::select! {
            _ = int.recv() => 2,
            _ = term.recv() => 15,
        };
        if signal.swap(sig, Ordering::SeqCst) != 0 {
            std::process::exit(128 + sig);
        }
        stop.store(true, Ordering::SeqCst);
        eprintln!("pff: stopping: finishing tasks in flight (signal again to quit at once)");
    }
}

/// The predecessor's columns: MSISDN, request, result, observations.
fn results_csv(digests: &[TaskDigest]) -> String {
    fn field(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    }
    let mut out = String::from("MSISDN,request,result,observations\n");
    for d in digests {
        let v = &d.findings;
        let (result, obs) = match (&d.error, d.status.as_str()) {
            (Some(e), _) => ("FAILED", e.clone()),
            (None, _) if v.total() == 0 => ("OK", "no violations".to_string()),
            (None, _) => (
                "VIOLATIONS",
                format!(
                    "{} error, {} warning, {} info findings",
                    v.error, v.warning, v.info
                ),
            ),
        };
        out.push_str(&format!(
            "{},{},{},{}\n",
            field(&d.task),
            field(&d.sequence),
            result,
            field(&obs)
        ));
    }
    out
}
