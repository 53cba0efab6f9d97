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

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::check::{self, RecordChecker, SourceChecker};
use crate::exit;
use crate::hardware::{Plan, current_rss, system_available};
use crate::manifest::{Manifest, Source, Task};
use crate::report::{OutputFormat, RecordReport, SeverityCounts};
use crate::rules::{RuleSource, RulesError};
use crate::stats::RuleStats;
use crate::triples::json::Mapping;
use crate::triples::{Format, RecordName, input};

mod execution;
mod fetch;
pub mod folder;
mod outputs;
mod shard;
pub mod taskfile;

pub use execution::{
    EVENTS_FILE, EXECUTION_FILE, ExecutionInfo, MANIFEST_COPY, absolute, prepare_merge, read_marker,
};
pub use fetch::{FetchLimits, Fetcher, SourceError};
pub use folder::OutputFolder;
pub use outputs::{RunSummary, finalize, spreadsheet_safe};
pub use shard::{MAX_SHARDS, MergeError, Shard, check_shards, fnv1a, merge, rules_digest};

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
    #[error(
        "cannot resume {path}: it was run with {then}, now {now}; resume with the same rules \
         and shard, or pass --fresh"
    )]
    CannotResume {
        path: String,
        then: String,
        now: String,
    },
    #[error("output folder {path} is in use by another pff ({holder}); wait for it or stop it")]
    Locked { path: String, holder: String },
    #[error("{path} {reason}")]
    Unsafe { path: String, reason: String },
    #[error(
        "output folder {path} holds {files}, which pff did not write; move them away or choose \
         another --output (pff never overwrites a file it did not write)"
    )]
    Foreign { path: String, files: String },
    #[error("cannot read {path}")]
    Input {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The run could not go on (memory budget, HTTP set-up).
    #[error("{0}")]
    Stopped(String),
    /// A bug: a worker or a read panicked. The run fails; what was written stays.
    #[error("internal error: {0}; this is a bug in pff, please report it")]
    Internal(String),
    /// A signal stopped the run while it wrote its final outputs.
    #[error("interrupted while writing the final outputs; run again with --resume to write them")]
    Interrupted,
    #[error("cannot start the run: {what}")]
    Resources {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Merge(#[from] MergeError),
    #[error(transparent)]
    Rules(#[from] RulesError),
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
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], the contents streamed by `fill` (a file of any size in little memory).
pub fn write_atomic_with<T, E: From<io::Error>>(
    path: &Path,
    fill: impl FnOnce(&mut io::BufWriter<File>) -> Result<T, E>,
) -> Result<T, E> {
    let tmp = folder::temp_path(path);
    let written: Result<T, E> = (|| {
        let mut w = io::BufWriter::with_capacity(1 << 16, folder::create_new(&tmp)?);
        let value = fill(&mut w)?;
        let f = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        Ok(value)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
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
    /// How records become triples.
    pub mapping: Mapping,
}

/// How a run ended.
pub struct RunOutcome {
    /// The totals; `None` when a signal stopped the run while it wrote them.
    pub summary: Option<RunSummary>,
    /// The exit code.
    pub code: u8,
    /// The most tasks admitted and not yet written at any time.
    pub max_in_flight: usize,
    /// The most chunks of rules read from the store held at any time (0 when the rules are
    /// in memory).
    pub max_rule_batches: usize,
    /// Task files found that were not their task's result: (file, why, moved to).
    pub rejected: Vec<(String, String, String)>,
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

/// Why the run cannot go on: (reason for events.jsonl, message), set once.
type Fatal = Arc<Mutex<Option<(&'static str, String)>>>;

fn set_fatal(fatal: &Fatal, stop: &AtomicBool, reason: &'static str, message: String) {
    fatal
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert((reason, message));
    stop.store(true, Ordering::SeqCst);
}

/// Marks the run failed if the code it guards panics (a bug): dropped while unwinding.
struct PanicGuard<'a> {
    fatal: &'a Fatal,
    stop: &'a AtomicBool,
    what: &'static str,
}

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            set_fatal(
                self.fatal,
                self.stop,
                "internal",
                format!("{} stopped unexpectedly", self.what),
            );
        }
    }
}

/// The message of a caught panic.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// A read task's result: its bytes, or why it failed; `None` when a stop cancelled it.
type ReadResult = Result<Vec<u8>, SourceError>;

/// Runs the manifest's tasks against `rules`, checked with `opts`.
pub fn run(
    rules: &RuleSource,
    opts: &check::Options,
    cfg: &RunConfig<'_>,
) -> Result<RunOutcome, RunError> {
    let m = cfg.manifest;
    let command: Vec<String> = std::env::args().collect();
    let folder = OutputFolder::lock(&cfg.output, &command.join(" "))?;
    let out = folder.path();
    let tasks_dir = folder.tasks().to_path_buf();
    let selected: Vec<usize> = (0..m.tasks.len())
        .filter(|&i| cfg.shard.is_none_or(|s| s.owns(&m.tasks[i].id)))
        .collect();
    let formats = m.report_formats(&cfg.reports);
    let prepared = execution::prepare_run(
        &folder,
        &execution::RunRequest {
            info: &cfg.info,
            manifest_text: &m.text,
            tasks: &m.tasks,
            selected: &selected,
            formats: &formats,
            resume: cfg.resume,
            fresh: cfg.fresh,
        },
    )?;
    let mut marker = prepared.marker;
    let events_path = out.join(EVENTS_FILE);
    let mut events = Events {
        file: folder::append_nofollow(&events_path).map_err(out_err(&events_path))?,
    };
    for (file, why, to) in &prepared.rejected {
        if !cfg.quiet {
            eprintln!(
                "pff: warning: {file} is not this task's result ({why}); moved to {to}, the task \
                 runs again"
            );
        }
        events.log(
            "task_file_rejected",
            serde_json::json!({ "file": file, "why": why, "moved_to": to }),
        );
    }

    let pending: Vec<(usize, &Task)> = prepared.pending.iter().map(|&i| (i, &m.tasks[i])).collect();
    events.log(
        "start",
        serde_json::json!({
            "tasks": selected.len(), "pending": pending.len(), "resume": cfg.resume,
            "retried": prepared.retried, "rejected": prepared.rejected.len(),
            "shard": cfg.shard,
            "workers": cfg.plan.workers, "memory_budget": cfg.plan.memory_budget,
            "rules": rules.len(), "rules_in_memory": rules.in_memory(),
            "rule_batch": rules.batch_size(),
            "rule_anchors": rules.store().map_or(0, |s| s.anchors()),
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
    // Set by every signal; cleared when the final outputs begin, so that only a signal during
    // them stops them (a run stopped mid-way still writes its partial summary).
    let interrupt = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let fatal: Fatal = Arc::new(Mutex::new(None));
    let (in_tx, in_rx) =
        tokio::sync::mpsc::channel::<(usize, Task, ReadResult)>(cfg.plan.input_queue.max(1));
    let in_rx = Mutex::new(in_rx);
    let (res_tx, res_rx) = mpsc::sync_channel::<Output>(cfg.plan.result_queue.max(1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(cfg.plan.io_concurrency.clamp(1, 64))
        // The thread started below stays for the run: file reads never depend on starting one.
        .thread_keep_alive(Duration::from_secs(24 * 3600))
        .enable_all()
        .build()
        .map_err(|source| RunError::Resources {
            what: "the I/O runtime",
            source,
        })?;
    // tokio reads files on its blocking threads and panics when it cannot start the first one
    // (tight `ulimit -v`): start it now, so that this is an error here and not a panic later.
    let started = crate::panics::quietly(|| {
        runtime.block_on(async { tokio::task::spawn_blocking(|| ()).await.is_ok() })
    });
    if !matches!(started, Ok(true)) {
        return Err(RunError::Resources {
            what: "the I/O runtime's file thread",
            source: io::Error::other(
                "the system refused to start a thread (memory or process limits)",
            ),
        });
    }
    // Signals are watched from here to the end, final outputs included.
    runtime.spawn(watch_signals(
        stop.clone(),
        signal.clone(),
        interrupt.clone(),
    ));
    let mut max_in_flight = 0usize;
    // Rules in memory: one validator shared by every worker; on disk: read per record.
    let source_checker = SourceChecker::new(rules, opts.clone()).ok_or_else(|| {
        RunError::Stopped("the rules do not fit in a batch and were not filed on disk".into())
    })?;
    let checker = source_checker.get();
    let ids = (
        cfg.info.execution_id.as_str(),
        cfg.info.rules_digest.as_str(),
    );

    std::thread::scope(|scope| -> Result<(), RunError> {
        // I/O side: admission under the memory guard, concurrent bounded reads.
        let reader = {
            let (stop, in_flight, fatal) = (stop.clone(), in_flight.clone(), fatal.clone());
            let plan = cfg.plan;
            let fetch_limits = cfg.fetch.clone();
            let pending = pending.clone();
            let events_path = events_path.clone();
            let runtime = &runtime;
            std::thread::Builder::new()
                .name("pff-reader".into())
                .spawn_scoped(scope, move || {
                    let _guard = PanicGuard {
                        fatal: &fatal,
                        stop: &stop,
                        what: "the reader",
                    };
                    runtime.block_on(read_all(
                        pending,
                        plan,
                        fetch_limits,
                        events_path,
                        in_tx,
                        &stop,
                        &in_flight,
                        &fatal,
                    ));
                })
                .map_err(|source| RunError::Resources {
                    what: "the reader thread",
                    source,
                })?
        };

        // CPU side: plain threads, one task at a time each.
        let mut workers = Vec::new();
        for n in 0..cfg.plan.workers {
            let tx = res_tx.clone();
            let in_rx = &in_rx;
            let tasks_dir = &tasks_dir;
            let (stop, in_flight, fatal) = (&stop, &in_flight, &fatal);
            let spawned = std::thread::Builder::new()
                .name(format!("pff-worker-{n}"))
                .spawn_scoped(scope, move || {
                    loop {
                        let next = in_rx
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .blocking_recv();
                        let Some((i, task, bytes)) = next else { break };
                        let tmp = folder::temp_path(&task_file(tasks_dir, i, &task));
                        let checked =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                check_task(checker, &cfg.mapping, ids, i, &task, bytes, &tmp)
                            }));
                        let out = match checked {
                            Ok(Ok(lite)) => Ok((tmp, lite)),
                            Ok(Err(TaskError::Write(e))) => Err(e),
                            Ok(Err(TaskError::Rules(e))) => {
                                // The rules could not be read back: no task can be checked.
                                set_fatal(fatal, stop, "rules", format!("{e}"));
                                // Dropped, not written: the task stays pending for --resume.
                                let _ = fs::remove_file(&tmp);
                                in_flight.fetch_sub(1, Ordering::SeqCst);
                                continue;
                            }
                            Err(panic) => {
                                set_fatal(
                                    fatal,
                                    stop,
                                    "internal",
                                    format!(
                                        "checking task `{}` panicked: {}",
                                        task.id,
                                        panic_message(panic.as_ref())
                                    ),
                                );
                                let _ = fs::remove_file(&tmp);
                                in_flight.fetch_sub(1, Ordering::SeqCst);
                                continue;
                            }
                        };
                        if tx.send((i, task, out)).is_err() {
                            break;
                        }
                    }
                });
            match spawned {
                Ok(w) => workers.push(w),
                Err(source) => {
                    // Fewer workers than planned would still finish; none cannot.
                    if workers.is_empty() {
                        stop.store(true, Ordering::SeqCst);
                        drop(res_tx);
                        in_rx.lock().unwrap_or_else(|p| p.into_inner()).close();
                        let _ = reader.join();
                        return Err(RunError::Resources {
                            what: "the worker threads",
                            source,
                        });
                    }
                    break;
                }
            }
        }
        drop(res_tx);

        // Writer: results as soon as they exist.
        let mut write_error = None;
        for (i, task, written) in res_rx.iter() {
            max_in_flight = max_in_flight.max(in_flight.load(Ordering::SeqCst));
            let path = task_file(&tasks_dir, i, &task);
            // The worker wrote and synced the file; the rename makes it the task's result.
            let placed = written.and_then(|(tmp, lite)| {
                fs::rename(&tmp, &path)?;
                Ok(lite)
            });
            let lite = match placed {
                Ok(lite) => lite,
                Err(e) => {
                    write_error = Some(RunError::Output {
                        path: path.display().to_string(),
                        source: e,
                    });
                    stop.store(true, Ordering::SeqCst);
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    continue;
                }
            };
            in_flight.fetch_sub(1, Ordering::SeqCst);
            events.log(
                if lite.failed {
                    "task_failed"
                } else {
                    "task_done"
                },
                serde_json::json!({
                    "task": task.id, "findings": lite.findings, "error": lite.error,
                    "retryable": lite.retryable,
                }),
            );
            progress.inc(1);
            progress.set_message(format!("RSS {} MB", current_rss() >> 20));
        }
        let joined = workers
            .into_iter()
            .map(|w| ("a worker", w.join()))
            .chain([("the reader", reader.join())]);
        for (what, result) in joined {
            if let Err(p) = result {
                let message = format!("{what} panicked: {}", panic_message(p.as_ref()));
                set_fatal(&fatal, &stop, "internal", message);
            }
        }
        match write_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })?;
    progress.finish_and_clear();

    let max_batches = source_checker.max_chunks();
    if let Some((reason, e)) = fatal.lock().unwrap_or_else(|p| p.into_inner()).take() {
        events.log(
            "stop",
            serde_json::json!({ "reason": reason, "message": e }),
        );
        runtime.shutdown_timeout(Duration::from_millis(100));
        return Err(if reason == "internal" {
            RunError::Internal(e)
        } else {
            RunError::Stopped(e)
        });
    }

    interrupt.store(false, Ordering::SeqCst);
    let finished = finalize(rules, m, &selected, out, &formats, &mut marker, &interrupt);
    runtime.shutdown_timeout(Duration::from_millis(100));
    let sig = signal.load(Ordering::SeqCst);
    let summary = match finished {
        Ok(s) => Some(s),
        Err(RunError::Interrupted) if sig != 0 => None,
        Err(e) => return Err(e),
    };
    let mut stop_event = serde_json::json!({
        "reason": if sig != 0 { "signal" } else { "done" },
        "max_in_flight": max_in_flight, "max_rule_batches": max_batches,
    });
    if sig != 0
        && let Some(f) = stop_event.as_object_mut()
    {
        f.insert("signal".into(), sig.into());
        f.insert("final_outputs".into(), summary.is_some().into());
    }
    events.log("stop", stop_event);
    let code = match &summary {
        _ if sig == 15 => exit::SIGTERM,
        _ if sig != 0 => exit::SIGINT,
        Some(s) if s.tasks_failed > 0 => exit::TASKS_FAILED,
        Some(s) if m.fail_on.fails(&s.findings) => exit::VIOLATIONS,
        _ => exit::CLEAN,
    };
    Ok(RunOutcome {
        summary,
        code,
        max_in_flight,
        max_rule_batches: max_batches,
        rejected: prepared.rejected,
    })
}

/// The reader: admits each pending task under the memory guard and reads it, at most
/// `io_concurrency` at once, into the workers' queue. A stop (signal, fatal error) ends
/// admission and cancels reads in flight: their tasks stay pending for `--resume`.
#[allow(clippy::too_many_arguments)]
async fn read_all(
    pending: Vec<(usize, &Task)>,
    plan: &Plan,
    fetch_limits: FetchLimits,
    events_path: PathBuf,
    in_tx: tokio::sync::mpsc::Sender<(usize, Task, ReadResult)>,
    stop: &Arc<AtomicBool>,
    in_flight: &Arc<AtomicUsize>,
    fatal: &Fatal,
) {
    let fetcher = match Fetcher::new(fetch_limits) {
        Ok(f) => Arc::new(f),
        Err(e) => {
            set_fatal(fatal, stop, "http", e);
            return;
        }
    };
    let permits = Arc::new(tokio::sync::Semaphore::new(plan.io_concurrency));
    let mut guard_log = folder::append_nofollow(&events_path).ok();
    for (i, task) in pending {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if let Err(e) = admit(plan, in_flight, stop, &mut guard_log).await {
            set_fatal(fatal, stop, "memory", e);
            break;
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        in_flight.fetch_add(1, Ordering::SeqCst);
        let tx = in_tx.clone();
        let task = task.clone();
        let fetcher = fetcher.clone();
        let (stop, in_flight, fatal) = (stop.clone(), in_flight.clone(), fatal.clone());
        // The send happens inside the spawned read, so a full queue holds the permit and
        // stops further reads: backpressure up to admission.
        tokio::spawn(async move {
            let _guard = PanicGuard {
                fatal: &fatal,
                stop: &stop,
                what: "a read",
            };
            match read_source(&task.source, &fetcher, &stop).await {
                Some(bytes) => {
                    let _ = tx.send((i, task, bytes)).await;
                }
                // Cancelled by a stop: not a result, the task stays pending.
                None => {
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                }
            }
            drop(permit);
        });
    }
}

/// What the writer needs of a checked task besides its JSON.
struct TaskDigestLite {
    failed: bool,
    error: Option<String>,
    retryable: bool,
    findings: SeverityCounts,
}

/// A checked task: its manifest position, the task, and its result file under a temporary
/// name (the writer renames it into place) or why it could not be written.
type Output = (usize, Task, io::Result<(PathBuf, TaskDigestLite)>);

/// Why a task's result could not be produced: the rules could not be read back (no task can
/// go on), or the result file could not be written.
enum TaskError {
    Rules(RulesError),
    Write(io::Error),
}

impl From<io::Error> for TaskError {
    fn from(e: io::Error) -> Self {
        TaskError::Write(e)
    }
}

impl From<RulesError> for TaskError {
    fn from(e: RulesError) -> Self {
        TaskError::Rules(e)
    }
}

/// Checks one task and writes its result file under the temporary name `tmp`: records are
/// written as they are checked, each record's findings one at a time, so a task with
/// thousands of findings is never held whole. The file is one JSON object: the
/// [`taskfile::TaskHead`] (`pff_task`, `execution`, `rules_digest`, `index`, `task`,
/// `sequence`, `source`), `records` (the record reports), `status` (`ok` or `failed`), `error`
/// (the first reason, when failed), `retryable` (the failure may pass: `--resume` runs the task
/// again), `violations` and `findings` (counts by severity) and `rule_counts`
/// (`[rule index, predicted, correct]` for the rules that applied).
fn check_task(
    checker: &dyn RecordChecker,
    mapping: &Mapping,
    (execution, rules_digest): (&str, &str),
    index: usize,
    task: &Task,
    bytes: ReadResult,
    tmp: &Path,
) -> Result<TaskDigestLite, TaskError> {
    fn json(w: &mut impl Write, v: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(w, v).map_err(io::Error::other)
    }
    // Fault injection for the tests of panic handling (debug builds only).
    #[cfg(debug_assertions)]
    if std::env::var("PFF_DEBUG_PANIC_TASK").is_ok_and(|t| t == task.id) {
        panic!("PFF_DEBUG_PANIC_TASK={}", task.id);
    }
    let label = task.source.to_string();
    let (header, total, opts) = (checker.header(), checker.total(), checker.options());
    let mut w = io::BufWriter::with_capacity(1 << 16, folder::create_new(tmp)?);
    let head = taskfile::TaskHead {
        pff_task: taskfile::TASK_FORMAT,
        execution,
        rules_digest,
        index,
        task: &task.id,
        sequence: &task.sequence,
        source: &label,
    };
    w.write_all(&head.open_object()?)?;
    w.write_all(b",\"records\":[")?;
    let mut error: Option<String> = None;
    let mut retryable = false;
    let mut violations = SeverityCounts::default();
    let mut findings = SeverityCounts::default();
    let mut stats = RuleStats::new(total);
    let prepared = bytes
        .map_err(|e| {
            retryable = e.retryable;
            e.message
        })
        .and_then(|b| {
            input::format_of(&label, None, Some(Format::Json))
                .and_then(|format| {
                    input::prepare_records(&header.symbols, mapping, &label, format, &b)
                })
                .map_err(|e| e.to_string())
        });
    match prepared {
        Err(e) => error = Some(e),
        Ok(records) => {
            for (n, rec) in records.into_iter().enumerate() {
                if n > 0 {
                    w.write_all(b",")?;
                }
                match rec.triples {
                    Err(e) => {
                        // A record that failed inside a multi-record file fails the task.
                        let e = e.to_string();
                        json(&mut w, &RecordReport::failed(rec.id, e.clone()))?;
                        error.get_or_insert(e);
                    }
                    Ok((b, name)) => {
                        let g = b.finish();
                        let record = RecordName { id: rec.id, name };
                        let (report, kept, tallies) =
                            checker.check(&g)?.into_parts(total, opts, &g, record);
                        violations.merge(&report.violations);
                        findings.merge(&report.finding_counts);
                        stats.add(&tallies);
                        report.write_json_with(&mut w, kept.iter(&g, header, opts))?;
                    }
                }
            }
        }
    }
    w.write_all(b"],\"status\":")?;
    json(&mut w, &if error.is_some() { "failed" } else { "ok" })?;
    if let Some(e) = &error {
        w.write_all(b",\"error\":")?;
        json(&mut w, e)?;
        if retryable {
            w.write_all(b",\"retryable\":true")?;
        }
    }
    w.write_all(b",\"violations\":")?;
    json(&mut w, &violations)?;
    w.write_all(b",\"findings\":")?;
    json(&mut w, &findings)?;
    w.write_all(b",\"rule_counts\":")?;
    json(&mut w, &stats.rule_counts())?;
    w.write_all(b"}\n")?;
    w.into_inner()
        .map_err(io::IntoInnerError::into_error)?
        .sync_all()?;
    Ok(TaskDigestLite {
        failed: error.is_some(),
        retryable: retryable && error.is_some(),
        error,
        findings,
    })
}

/// Reads a task's source: a file (under the same size limit as a fetch) or a URL. `None` when a
/// stop cancelled the read.
async fn read_source(source: &Source, http: &Fetcher, stop: &AtomicBool) -> Option<ReadResult> {
    let read = async {
        match source {
            Source::File(p) => fetch::read_file(p, http.limits().max_bytes).await,
            Source::Url(u) => http.fetch(u, stop).await,
        }
    };
    tokio::select! {
        r = read => Some(r),
        () = stopped(stop) => None,
    }
}

/// Resolves once `stop` is set.
async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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

/// First SIGINT/SIGTERM: stop admitting, cancel reads in flight, finish the tasks being
/// checked (or stop writing the final outputs). Second: exit at once.
async fn watch_signals(stop: Arc<AtomicBool>, signal: Arc<AtomicI32>, interrupt: Arc<AtomicBool>) {
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
        interrupt.store(true, Ordering::SeqCst);
        eprintln!(
            "pff: stopping: finishing tasks in flight (signal again to quit at once); \
             `--resume` continues the execution"
        );
    }
}
