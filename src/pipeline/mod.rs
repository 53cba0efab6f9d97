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
use serde::Serialize;

use crate::exit;
use crate::hardware::{Plan, current_rss, system_available};
use crate::manifest::{Manifest, Source, Task};
use crate::report::{OutputFormat, RecordReport, SeverityCounts};
use crate::rules::{RuleSource, RulesError};
use crate::triples::Format;
use crate::validate::{self, RecordChecker, RuleStats, SourceChecker, prepare_records};

mod fetch;
mod outputs;
mod shard;

pub use fetch::{FetchLimits, Fetcher};
pub use outputs::{RunSummary, finalize};
use shard::shard_name;
pub use shard::{
    ExecutionInfo, MergeError, Shard, check_shards, fnv1a, merge, read_execution, rules_digest,
};

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
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let value = {
        let mut w = io::BufWriter::with_capacity(1 << 16, File::create(&tmp)?);
        let value = fill(&mut w)?;
        let f = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        f.sync_all()?;
        value
    };
    fs::rename(&tmp, path)?;
    Ok(value)
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

/// How a run ended.
pub struct RunOutcome {
    pub summary: RunSummary,
    /// The exit code.
    pub code: u8,
    /// The most tasks admitted and not yet written at any time.
    pub max_in_flight: usize,
    /// The most chunks of rules read from the store held at any time (0 when the rules are
    /// in memory).
    pub max_rule_batches: usize,
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

/// Runs the manifest's tasks against `rules`, checked with `opts`.
pub fn run(
    rules: &RuleSource,
    opts: &validate::Options,
    cfg: &RunConfig<'_>,
) -> Result<RunOutcome, RunError> {
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
    // Temporary files a killed run left behind (never read: results and reports are renamed
    // into place).
    for dir in [&tasks_dir, out] {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_file()
                && p.extension()
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
    let in_flight = Arc::new(AtomicUsize::new(0));
    // Why the run cannot go on: (reason for events.jsonl, message).
    let fatal: Arc<Mutex<Option<(&'static str, String)>>> = Arc::new(Mutex::new(None));
    let (in_tx, in_rx) = tokio::sync::mpsc::channel::<(usize, Task, Result<Vec<u8>, String>)>(
        cfg.plan.input_queue.max(1),
    );
    let in_rx = Mutex::new(in_rx);
    let (res_tx, res_rx) = mpsc::sync_channel::<Output>(cfg.plan.result_queue.max(1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    let mut max_in_flight = 0usize;
    // Rules in memory: one validator shared by every worker; on disk: read per record.
    let source_checker = SourceChecker::new(rules, opts.clone()).ok_or_else(|| {
        RunError::Stopped("the rules do not fit in a batch and were not filed on disk".into())
    })?;
    let checker = source_checker.get();

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
                            *fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(("http", e));
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
                            *fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(("memory", e));
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
                let tasks_dir = &tasks_dir;
                let (stop, in_flight, fatal) = (&stop, &in_flight, &fatal);
                scope.spawn(move || {
                    loop {
                        let next = in_rx
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .blocking_recv();
                        let Some((i, task, bytes)) = next else { break };
                        let tmp = task_file(tasks_dir, i, &task)
                            .with_extension(format!("tmp{}", std::process::id()));
                        let out = match check_task(checker, &task, bytes, &tmp) {
                            Ok(lite) => Ok((tmp, lite)),
                            Err(TaskError::Write(e)) => Err(e),
                            Err(TaskError::Rules(e)) => {
                                // The rules could not be read back: no task can be checked.
                                fatal
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .get_or_insert(("rules", format!("{e}")));
                                stop.store(true, Ordering::SeqCst);
                                // Dropped, not written: the task stays pending for --resume.
                                let _ = fs::remove_file(&tmp);
                                in_flight.fetch_sub(1, Ordering::SeqCst);
                                continue;
                            }
                        };
                        if res_tx.send((i, task, out)).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
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

    let max_batches = source_checker.max_chunks();
    if let Some((reason, e)) = fatal.lock().unwrap_or_else(|p| p.into_inner()).take() {
        events.log(
            "stop",
            serde_json::json!({ "reason": reason, "message": e }),
        );
        return Err(RunError::Stopped(e));
    }

    let summary = finalize(rules, m, &selected, out, &m.report_formats(&cfg.reports))?;
    let failed = summary.tasks_failed;

    let sig = signal.load(Ordering::SeqCst);
    let code = if sig != 0 {
        events.log(
            "stop",
            serde_json::json!({
                "reason": "signal", "signal": sig,
                "max_in_flight": max_in_flight, "max_rule_batches": max_batches,
            }),
        );
        if sig == 15 {
            exit::SIGTERM
        } else {
            exit::SIGINT
        }
    } else {
        events.log(
            "stop",
            serde_json::json!({
                "reason": "done",
                "max_in_flight": max_in_flight, "max_rule_batches": max_batches,
            }),
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
        max_rule_batches: max_batches,
    })
}

/// What the writer needs of a checked task besides its JSON.
struct TaskDigestLite {
    failed: bool,
    error: Option<String>,
    findings: SeverityCounts,
}

/// A checked task: its manifest position, the task, and its result file under a temporary
/// name (the writer renames it into place) or why it could not be written.
type Output = (usize, Task, io::Result<(PathBuf, TaskDigestLite)>);

/// The name a task's data goes by in reports, and its format (from the file name or URL path;
/// JSON when it says nothing).
fn task_input(task: &Task) -> (String, Format) {
    let format = match &task.source {
        Source::File(p) => Format::from_path(p),
        Source::Url(u) => Format::from_path(Path::new(u.split(['?', '#']).next().unwrap_or(u))),
    }
    .unwrap_or(Format::Json);
    (task.source.to_string(), format)
}

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
/// thousands of findings is never held whole. The file is one JSON object: `task`,
/// `sequence`, `source`, `records` (the record reports), `status` (`ok` or `failed`), `error`
/// (the first reason, when failed), `violations` and `findings` (counts by severity) and
/// `rule_counts` (`[rule index, predicted, correct]` for the rules that applied).
fn check_task(
    checker: &dyn RecordChecker,
    task: &Task,
    bytes: Result<Vec<u8>, String>,
    tmp: &Path,
) -> Result<TaskDigestLite, TaskError> {
    fn json(w: &mut impl Write, v: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(w, v).map_err(io::Error::other)
    }
    let (label, format) = task_input(task);
    let (header, total, opts) = (checker.header(), checker.total(), checker.options());
    let mut w = io::BufWriter::with_capacity(1 << 16, File::create(tmp)?);
    w.write_all(b"{\"task\":")?;
    json(&mut w, &task.id)?;
    w.write_all(b",\"sequence\":")?;
    json(&mut w, &task.sequence)?;
    w.write_all(b",\"source\":")?;
    json(&mut w, &label)?;
    w.write_all(b",\"records\":[")?;
    let mut error: Option<String> = None;
    let mut violations = SeverityCounts::default();
    let mut findings = SeverityCounts::default();
    let mut stats = RuleStats::new(total);
    let prepared = bytes.and_then(|b| {
        prepare_records(&header.symbols, &opts.mapping, &label, format, &b)
            .map_err(|e| e.to_string())
    });
    match prepared {
        Err(e) => error = Some(e),
        Ok(records) => {
            for (n, rec) in records.into_iter().enumerate() {
                if n > 0 {
                    w.write_all(b",")?;
                }
                match rec.graph {
                    Err(e) => {
                        // A record that failed inside a multi-record file fails the task.
                        json(
                            &mut w,
                            &RecordReport::failed(rec.index, rec.line, e.clone()),
                        )?;
                        error.get_or_insert(e);
                    }
                    Ok((g, name)) => {
                        let check = checker.check(&g)?;
                        let (report, kept, tallies) =
                            check.into_parts(total, opts, &g, rec.index, rec.line, name);
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
        error,
        findings,
    })
}

async fn read_source(source: &Source, http: &Fetcher) -> Result<Vec<u8>, String> {
    match source {
        Source::File(p) => tokio::fs::read(p)
            .await
            .map_err(|e| format!("cannot read {}: {e}", p.display())),
        Source::Url(u) => http.fetch(u).await,
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
